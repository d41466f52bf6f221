"""Scenario uploads: a zip of the scenario folder, unpacked safely, or JSON in the scenario schema.

Both become a mapping of relative file name -> bytes, checked by :func:`vpp_sched.scenario.load.load_scenario`
in a temporary folder before anything is stored. A zip may not name a path outside itself (absolute,
``..``, a drive, a symlink), hold more than ``max_zip_files`` files, unpack to more than
``max_unpacked_bytes`` in all, or have a member whose unpacked/packed ratio exceeds ``max_zip_ratio``
(a zip bomb); sizes are checked on the bytes actually read, not only on the sizes the zip declares.
"""

from __future__ import annotations

import csv
import io
import json
import stat
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

import yaml

from vpp_sched.errors import InputError
from vpp_sched.scenario.load import Scenario, load_scenario
from vpp_sched.service.settings import Settings

_CHUNK = 1 << 16


def zip_files(data: bytes, settings: Settings) -> dict[str, bytes]:
    """The files of a zipped scenario folder (one top folder is stripped), checked as the module says."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise InputError(["upload: not a zip file"]) from None
    members = [m for m in archive.infolist() if not m.is_dir()]
    if len(members) > settings.max_zip_files:
        raise InputError([f"upload: {len(members)} files, more than the {settings.max_zip_files} allowed"])
    files, total = {}, 0
    for m in members:
        name = _safe_name(m)
        if m.file_size > settings.max_zip_ratio * max(m.compress_size, 1):
            raise InputError([f"upload: {name}: unpacks {m.file_size / max(m.compress_size, 1):.0f}x its packed "
                              f"size, more than {settings.max_zip_ratio:g}x (zip bomb?)"])
        budget = min(settings.max_unpacked_bytes - total, int(settings.max_zip_ratio * max(m.compress_size, 1)))
        content = _read_bounded(archive, m, budget)
        if content is None:
            raise InputError([f"upload: {name}: unpacks to more than allowed ({settings.max_unpacked_bytes:,} bytes "
                              f"in all, {settings.max_zip_ratio:g}x its packed size)"])
        total += len(content)
        files[name] = content
    return _strip_top_folder(files)


def _safe_name(m: zipfile.ZipInfo) -> str:
    path = PurePosixPath(m.filename.replace("\\", "/"))
    if (path.is_absolute() or ".." in path.parts or ":" in m.filename or not path.parts
            or stat.S_ISLNK(m.external_attr >> 16)):
        raise InputError([f"upload: {m.filename!r}: a path outside the upload (absolute, '..', drive or link)"])
    return str(path)


def _read_bounded(archive: zipfile.ZipFile, m: zipfile.ZipInfo, limit: int) -> bytes | None:
    """The member's bytes, or ``None`` when it unpacks to more than ``limit`` bytes (whatever it declares)."""
    out = io.BytesIO()
    try:
        with archive.open(m) as f:
            while chunk := f.read(_CHUNK):
                if out.tell() + len(chunk) > limit:
                    return None
                out.write(chunk)
    except (zipfile.BadZipFile, NotImplementedError, OSError, EOFError) as exc:
        raise InputError([f"upload: {m.filename!r}: cannot be unpacked ({exc})"]) from None
    return out.getvalue()


def _strip_top_folder(files: dict[str, bytes]) -> dict[str, bytes]:
    if "scenario.yaml" in files:
        return files
    tops = {PurePosixPath(n).parts[0] for n in files}
    if len(tops) == 1 and all(len(PurePosixPath(n).parts) > 1 for n in files):
        top = tops.pop()
        return {str(PurePosixPath(*PurePosixPath(n).parts[1:])): c for n, c in files.items()}
    return files


def json_files(body: dict) -> dict[str, bytes]:
    """Files of a JSON scenario: ``{"scenario": <scenario.yaml as JSON>, "tables": {"evs.csv": [rows] | "csv text"}}``."""
    problems = []
    if not isinstance(body.get("scenario"), dict):
        problems.append("body.scenario: the scenario.yaml mapping (name, site, horizon, ...) is required")
    tables = body.get("tables", {})
    if not isinstance(tables, dict):
        problems.append("body.tables: must map a file name (as scenario.yaml names it) to rows or CSV text")
        tables = {}
    unknown = sorted(set(body) - {"scenario", "tables"})
    problems += [f"body.{k}: unknown field (expected scenario, tables)" for k in unknown]
    files = {"scenario.yaml": yaml.safe_dump(body.get("scenario"), allow_unicode=True, sort_keys=False).encode()}
    for name, rows in tables.items():
        try:
            files[_safe_table_name(name)] = _csv_bytes(rows)
        except ValueError as exc:
            problems.append(f"body.tables.{name}: {exc}")
    if problems:
        raise InputError(problems)
    return files


def _safe_table_name(name: str) -> str:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or "\\" in name or ":" in name or not path.parts:
        raise ValueError("a file name inside the scenario folder is required")
    return str(path)


def _csv_bytes(rows) -> bytes:
    if isinstance(rows, str):
        return rows.encode()
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise ValueError("must be CSV text or a non-empty list of row objects")
    columns = list(dict.fromkeys(k for r in rows for k in r))
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def write_files(files: dict[str, bytes], folder: Path) -> None:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def check_scenario(files: dict[str, bytes]) -> Scenario:
    """Load the files as a scenario folder (tables outside it refused); raises :class:`InputError`."""
    if "scenario.yaml" not in files:
        raise InputError(["upload: no scenario.yaml at the top of the scenario folder"])
    with tempfile.TemporaryDirectory(prefix="vpp-sched-upload-") as tmp:
        write_files(files, Path(tmp))
        return load_scenario(Path(tmp), allow_outside_tables=False)


def scenario_summary(sc: Scenario) -> dict:
    return {"name": sc.config.name, "start": sc.slots[0].isoformat(), "slots": len(sc.slots),
            "slot_minutes": sc.config.horizon.slot_minutes, "timezone": sc.tz,
            "transformers": sc.transformers.transformer_id.astype(str).tolist(), "n_evs": int(len(sc.evs)),
            "stations": [s.station_id for s in sc.config.stations]}


def json_body(data: bytes) -> dict:
    try:
        body = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError([f"body: not valid JSON ({exc})"]) from None
    if not isinstance(body, dict):
        raise InputError(["body: a JSON object with scenario and tables is required"])
    return body
