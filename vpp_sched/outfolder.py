"""The one way vpp-sched writes a folder: checked up front, built in a temporary folder beside the
target, moved into place only when complete, and never at the cost of a file the tool did not write.

The rules (README, "Plan output"):

* Every folder written here carries ``.vpp-sched-manifest.json``: ``written_by``, ``kind`` (plan,
  replay, flex, whatif, hosting, ocpp, scenario) and the list of files written (no timestamps, so
  outputs stay byte-identical run to run).
* A target is replaced only when it is missing, an empty folder, or a folder with our manifest that
  holds nothing beyond the files it lists (a sub-folder with its own manifest, such as an
  ``export-ocpp`` into ``PLAN/ocpp``, counts as ours). Anything else is refused with
  :class:`OutFolderError` (exit 2) before any work: a regular file, a symlink, a foreign non-empty
  folder, the current folder or one of its ancestors, a folder holding an input of the run.
* ``force`` allows only what loses nothing the user made: replacing a vpp-sched folder of another
  kind, or an earlier scenario folder (scenarios are meant to be edited, so replacing one always
  needs ``force``). It never allows a foreign folder.
* The temporary folder is made at once (so an unwritable parent fails before any solve) and holds
  a marker with the host and pid that made it; markers of dead processes on this host are removed
  at the next start. Nothing without our marker is ever deleted.
* The swap is ``os.rename(old, hidden)``, ``os.rename(tmp, target)``, then the hidden old folder
  is removed; if the second rename fails the old folder is put back. A stop signal during the
  swap takes effect after it (:func:`signals_held`), so it is never left half done.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import shutil
import socket
import threading
from collections.abc import Iterable
from pathlib import Path

from vpp_sched.errors import VppSchedError

MANIFEST = ".vpp-sched-manifest.json"
TMP_MARKER = ".vpp-sched-tmp.json"  # inside a temporary or retired folder: who made it
TMP_TAG = ".vpp-sched-"  # in the names of our temporary and retired siblings
WRITTEN_BY = "vpp-sched"
#: Kinds whose folders are edited by hand after we write them: replacing one needs ``force``.
EDITABLE_KINDS = frozenset({"scenario"})


class OutFolderError(VppSchedError):
    """The output folder cannot be used; the message is one line saying why and what to do (exit 2)."""


def _short(name: str, limit: int = 60) -> str:
    """A name for a message, cut short (a hostile folder may hold very long names)."""
    return name if len(name) <= limit else name[:limit - 3] + "..."


def _target(out: Path | str) -> Path:
    """The absolute target: parents resolved, the last part kept (a symlink there is refused, not followed)."""
    raw = Path(out)
    if raw.name in ("", ".", ".."):
        return raw.resolve()
    return raw.absolute().parent.resolve() / raw.name


def read_manifest(folder: Path) -> dict | None:
    """Our manifest of ``folder``, or ``None`` when it has none or it is not ours."""
    path = folder / MANIFEST
    if path.is_symlink() or not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("written_by") != WRITTEN_BY or not isinstance(data.get("files"), list):
        return None
    return data


def _foreign_entry(folder: Path, manifest: dict) -> str | None:
    """The first entry of ``folder`` (relative) that its manifest does not account for, else ``None``.

    A sub-folder with its own manifest (``export-ocpp`` into ``PLAN/ocpp``) or our temporary marker
    is accounted for by that, not by the outer list."""
    listed = {str(f) for f in manifest["files"]}
    parents = {p.as_posix() for f in listed for p in Path(f).parents if p != Path(".")}
    for root, dirs, files in os.walk(folder):
        rel_root = Path(root).relative_to(folder)
        for name in sorted(files):
            rel = (rel_root / name).as_posix()
            if rel not in (MANIFEST, TMP_MARKER) and rel not in listed:
                return rel
        for name in sorted(dirs):
            rel, sub = (rel_root / name).as_posix(), Path(root) / name
            inner = None if sub.is_symlink() else read_manifest(sub)
            if sub.is_symlink():  # os.walk lists a link to a folder as a folder; to us it is an entry
                dirs.remove(name)
                if rel not in listed:
                    return rel
            elif inner is not None or (sub / TMP_MARKER).is_file():
                dirs.remove(name)
                found = _foreign_entry(sub, inner) if inner is not None else None
                if found is not None:
                    return f"{rel}/{found}"
            elif rel not in parents:
                return rel + "/"
    return None


def _manifest_of(target: Path) -> dict | None:
    """``target``'s manifest, or the part of its parent's manifest below it (``plan --ocpp`` writes
    ``PLAN/ocpp`` inside the plan's own manifest)."""
    own = read_manifest(target)
    if own is not None:
        return own
    outer = read_manifest(target.parent)
    if outer is None:
        return None
    prefix = target.name + "/"
    files = [f[len(prefix):] for f in outer["files"] if str(f).startswith(prefix)]
    return {"written_by": WRITTEN_BY, "kind": None, "files": files} if files else None


def check_target(out: Path | str, kind: str, inputs: Iterable[Path | str | None] = (), force: bool = False) -> Path:
    """The absolute target if vpp-sched may write ``kind`` there; else :class:`OutFolderError`."""
    try:
        return _check(out, kind, inputs, force)
    except OSError as exc:  # e.g. a folder we may not list: say so in one line
        raise _os_error("inspect", _target(out), exc) from None


def _check(out: Path | str, kind: str, inputs: Iterable[Path | str | None], force: bool) -> Path:
    target = _target(out)
    hint = "give a new or empty output folder"
    cwd = Path.cwd().resolve()
    if target == cwd or cwd.is_relative_to(target):
        where = "the current folder" if target == cwd else "an ancestor of the current folder"
        raise OutFolderError(f"{out} is {where}; {hint}, e.g. ./{kind}")
    for item in inputs:
        if item is None:
            continue
        path = Path(item).resolve()
        if path.is_relative_to(target):
            what = "is an input folder of this run" if path == target else f"holds {path}, an input of this run"
            raise OutFolderError(f"{target} {what}; give a new or empty output folder outside it")
    if target.is_symlink():
        raise OutFolderError(f"{target} is a symbolic link; vpp-sched does not replace links: {hint}")
    if not target.exists():
        return target
    if not target.is_dir():
        raise OutFolderError(f"{target} is a file, not a folder vpp-sched wrote; {hint}")
    entries = sorted(p.name for p in target.iterdir())
    if not entries:
        return target
    manifest = _manifest_of(target)
    if manifest is None:
        shown = ", ".join(map(_short, entries[:3])) + (", ..." if len(entries) > 3 else "")
        raise OutFolderError(f"{target} is a folder vpp-sched did not write (it holds {shown}); {hint}")
    foreign = _foreign_entry(target, manifest)
    if foreign is not None:
        raise OutFolderError(f"{target} holds {_short(foreign)}, which vpp-sched did not write; "
                             f"move it away or {hint}")
    if not force and manifest["kind"] not in (None, kind):
        raise OutFolderError(f"{target} is a vpp-sched {manifest.get('kind')} folder, "
                             f"not {_article(kind)} {kind} folder; pass --force to replace it or {hint}")
    if not force and kind in EDITABLE_KINDS:
        raise OutFolderError(f"{target} is an earlier {kind} folder and may hold your edits; "
                             f"pass --force to replace it or {hint}")
    return target


def _article(word: str) -> str:
    """'a' or 'an' before a folder kind (an evaluate folder, an ocpp folder)."""
    return "an" if word[:1].lower() in "aeiou" else "a"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stale(folder: Path) -> bool:
    """``folder`` is one of our temporary or retired folders whose process (on this host) is gone."""
    marker = folder / TMP_MARKER
    if folder.is_symlink() or marker.is_symlink() or not marker.is_file():
        return False
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
        pid, host = int(data["pid"]), str(data["host"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return data.get("written_by") == WRITTEN_BY and host == socket.gethostname() and pid != os.getpid() \
        and not _alive(pid)


def remove_stale(parent: Path) -> list[Path]:
    """Remove our temporary folders in ``parent`` left by killed runs; returns those removed."""
    removed = []
    with contextlib.suppress(OSError):
        for entry in parent.iterdir():
            if entry.name.startswith(".") and TMP_TAG in entry.name and entry.is_dir() and _stale(entry):
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry)
    return removed


def _mark(folder: Path) -> None:
    (folder / TMP_MARKER).write_text(json.dumps({"written_by": WRITTEN_BY, "host": socket.gethostname(),
                                                 "pid": os.getpid()}) + "\n", encoding="utf-8")


def _listing(folder: Path) -> list[str]:
    """Every file below ``folder`` (relative, sorted), nested manifests included, ours excluded."""
    files = []
    for root, _dirs, names in os.walk(folder):
        for name in names:
            rel = (Path(root) / name).relative_to(folder).as_posix()
            if rel not in (MANIFEST, TMP_MARKER):
                files.append(rel)
    return sorted(files)


_held = 0  # depth of signals_held() blocks (main thread)
_pending: list[type[BaseException]] = []  # the stop a signal asked for while held


@contextlib.contextmanager
def signals_held():
    """A block that a stop signal does not cut in two (the swap, the clean-up of a temporary folder).

    The CLI's signal handlers ask :func:`defer_stop` first: inside the block the stop is remembered
    and raised when the block ends. (Blocking the signal with ``pthread_sigmask`` would not do: the
    kernel then hands it to another thread, and Python still runs the handler in the main thread.)
    """
    global _held
    if threading.current_thread() is not threading.main_thread():  # handlers run in the main thread only
        yield
        return
    _held += 1
    try:
        yield
    finally:
        _held -= 1
        if not _held and _pending:
            stop = _pending.pop()
            _pending.clear()
            raise stop()


def defer_stop(stop: type[BaseException]) -> bool:
    """Called by a signal handler: ``True`` if ``stop`` is kept for the end of a :func:`signals_held` block."""
    if _held:
        _pending.append(stop)
        return True
    return False


def _os_error(what: str, path: Path, exc: OSError) -> OutFolderError:
    reason = exc.strerror or errno.errorcode.get(exc.errno or 0, str(exc))
    return OutFolderError(f"cannot {what} {path}: {reason}; give a writable output folder")


class OutFolder:
    """A folder being written: ``with OutFolder(out, "plan", inputs=[scenario]) as f: write into f.tmp``.

    Constructing it checks the target (:func:`check_target`), removes our stale temporary
    folders beside it and makes the temporary folder, so every refusal comes before any work.
    The block's success moves ``tmp`` into place; any exception (SIGTERM and Ctrl-C included)
    removes ``tmp`` and leaves the target as it was, and is recorded in ``exc.vpp_unchanged``.
    """

    def __init__(self, out: Path | str, kind: str, inputs: Iterable[Path | str | None] = (), force: bool = False):
        self.kind, self.force, self.inputs = kind, force, [i for i in inputs if i is not None]
        self.path = check_target(out, kind, self.inputs, force)
        parent = self.path.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _os_error("create the folder", parent, exc) from None
        remove_stale(parent)
        self.tmp = parent / f".{self.path.name[:80]}{TMP_TAG}tmp.{secrets.token_hex(4)}"
        with signals_held():  # never a temporary folder without its marker
            try:
                self.tmp.mkdir(mode=0o755)  # plans and exports are read by other users and services
                _mark(self.tmp)
            except OSError as exc:
                shutil.rmtree(self.tmp, ignore_errors=True)
                raise _os_error("write in", parent, exc) from None

    def __enter__(self) -> OutFolder:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc is None:
            self.commit()
            return
        self.discard()
        if not isinstance(exc, Exception):  # Ctrl-C, SIGTERM: the CLI says what was left unchanged
            with contextlib.suppress(AttributeError, TypeError):
                exc.vpp_unchanged = [*getattr(exc, "vpp_unchanged", []), self.path]

    def discard(self) -> None:
        with signals_held():
            shutil.rmtree(self.tmp, ignore_errors=True)

    def commit(self) -> Path:
        """Write the manifest and move ``tmp`` into place (the target is checked again: it may have changed)."""
        try:
            manifest = {"written_by": WRITTEN_BY, "kind": self.kind, "files": _listing(self.tmp)}
            (self.tmp / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
            check_target(self.path, self.kind, self.inputs, self.force)
            with signals_held():
                self._swap()
        except BaseException:
            self.discard()
            raise
        return self.path

    def _still_ours(self, old: Path, manifest: dict | None) -> None:
        """Put the old folder back and refuse if a file was added to it after the last check (renamed
        aside, it is ours alone: nothing can be added to it any more)."""
        foreign = (_foreign_entry(old, manifest) if manifest is not None
                   else next((p.name for p in old.iterdir()), None))
        if foreign is not None:
            os.rename(old, self.path)
            raise OutFolderError(f"{self.path} holds {_short(foreign)}, which vpp-sched did not write; move it away or "
                                 "give a new or empty output folder")

    def _swap(self) -> None:
        old = None
        if self.path.exists():
            manifest = _manifest_of(self.path)  # from its place: PLAN/ocpp's may be PLAN's
            old = self.path.with_name(f".{self.path.name[:80]}{TMP_TAG}old.{secrets.token_hex(4)}")
            try:
                os.rename(self.path, old)
            except OSError as exc:
                raise _os_error("replace", self.path, exc) from None
            self._still_ours(old, manifest)
        try:
            os.rename(self.tmp, self.path)
        except OSError as exc:
            if old is not None:
                os.rename(old, self.path)
            raise _os_error("move the new folder to", self.path, exc) from None
        with contextlib.suppress(OSError):  # it came along, so a kill -9 at any point left nothing unmarked
            (self.path / TMP_MARKER).unlink()
        if old is not None:
            with contextlib.suppress(OSError):
                _mark(old)  # if we die while removing it, the next run finishes the job
            shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def writing(out: Path | str | OutFolder, kind: str, inputs: Iterable[Path | str | None] = (), force: bool = False):
    """Yield the temporary folder to write ``out`` into.

    ``out`` may be an :class:`OutFolder` a command opened before its solve: its owner moves it into
    place. A path opens (and on success commits) an :class:`OutFolder` of ``kind`` here.
    """
    if isinstance(out, OutFolder):
        yield out.tmp
        return
    with OutFolder(out, kind, inputs, force) as folder:
        yield folder.tmp


def target_path(out: Path | str | OutFolder) -> Path:
    """Where ``out`` ends up."""
    return out.path if isinstance(out, OutFolder) else _target(out)
