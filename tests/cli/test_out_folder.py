"""The write rules of every --out (vpp_sched/outfolder.py): only a folder vpp-sched wrote is replaced,
checked before the solve; nothing else is ever deleted; SIGTERM and Ctrl-C leave no temporary folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scenario_factory import write_scenario
from vpp_sched import outfolder
from vpp_sched.cli import app
from vpp_sched.outfolder import MANIFEST, TMP_MARKER, OutFolder, OutFolderError
from vpp_sched.plan.output import write_plan
from vpp_sched.plan.planner import plan_day

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parents[1] / "data"


@pytest.fixture(scope="module")
def scenario(tmp_path_factory) -> Path:
    return write_scenario(tmp_path_factory.mktemp("out") / "sc")


@pytest.fixture(scope="module")
def earlier_plan(scenario, tmp_path_factory) -> Path:
    """A plan folder as `vpp-sched plan` writes it (kept read-only by the tests: they copy it)."""
    return write_plan(plan_day(scenario).plan, tmp_path_factory.mktemp("plans") / "plan", parquet=False)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def _refused(result, *words: str) -> None:
    """Exit 2 with one line on stderr that says why (``words``), no traceback."""
    assert result.exit_code == 2, result.output + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def _plan(scenario, out, *args):
    return runner.invoke(app, ["plan", str(scenario), "--out", str(out), "--no-report", "--no-parquet", *args])


@pytest.fixture
def no_solve(monkeypatch):
    """Fail the test if a command gets as far as planning: every refusal must come before the solve."""
    from vpp_sched.cli import plan as plan_cli

    def boom(*args, **kwargs):
        raise AssertionError("planned although --out was refused")

    monkeypatch.setattr(plan_cli, "plan_day", boom)


# --- what is refused -------------------------------------------------------------------------
def test_out_dot_keeps_the_current_folders_files(scenario, tmp_path, monkeypatch, no_solve):
    here = tmp_path / "work"
    here.mkdir()
    (here / "notes.txt").write_text("mine")
    (here / "data.csv").write_text("a,b\n1,2\n")
    monkeypatch.chdir(here)
    before = _snapshot(here)
    _refused(_plan(scenario, "."), "current folder")
    _refused(_plan(scenario, tmp_path), "ancestor of the current folder")
    assert _snapshot(here) == before and _hidden(here) == [] and _hidden(tmp_path) == []


def test_out_the_scenario_folder_or_one_holding_it(scenario, tmp_path, no_solve):
    before = _snapshot(scenario)
    _refused(_plan(scenario, scenario), "input folder")
    _refused(_plan(scenario, scenario.parent), "an input of this run")
    _refused(_plan(scenario / "scenario.yaml", scenario), "input folder")
    assert _snapshot(scenario) == before and _hidden(scenario.parent) == []


def test_out_a_regular_file_or_a_symlink(scenario, tmp_path, no_solve):
    file = tmp_path / "report.txt"
    file.write_text("keep me")
    _refused(_plan(scenario, file), "is a file")
    assert file.read_text() == "keep me"
    (tmp_path / "p").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "p", target_is_directory=True)
    _refused(_plan(scenario, tmp_path / "link"), "symbolic link")
    assert (tmp_path / "link").is_symlink() and _hidden(tmp_path) == []


def test_out_a_foreign_folder_even_with_force(scenario, tmp_path, no_solve):
    out = tmp_path / "photos"
    out.mkdir()
    (out / "a.jpg").write_bytes(b"\xff\xd8")
    _refused(_plan(scenario, out), "did not write", "a.jpg")
    _refused(_plan(scenario, out, "--force"), "did not write")
    (out / MANIFEST).write_text("{not json")  # a damaged or forged manifest is not ours either
    _refused(_plan(scenario, out, "--force"), "did not write")
    assert (out / "a.jpg").read_bytes() == b"\xff\xd8" and _hidden(tmp_path) == []


def test_a_plan_folder_with_a_users_file(scenario, earlier_plan, tmp_path, no_solve):
    import shutil

    out = Path(shutil.copytree(earlier_plan, tmp_path / "plan"))
    (out / "my_notes.md").write_text("mine")
    (out / "sub").mkdir()
    _refused(_plan(scenario, out), "my_notes.md", "did not write")
    (out / "my_notes.md").unlink()
    _refused(_plan(scenario, out), "sub/")
    assert (out / "sub").is_dir() and (out / "kpis.json").exists()


def _read_only_parent(tmp_path: Path) -> tuple[Path, callable]:
    """A folder nobody can write in, root included: ``chattr +i`` where the file system has it, else
    /proc (procfs makes no new entries for anyone). Returns the folder and its undo."""
    folder = tmp_path / "locked"
    folder.mkdir()
    done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True)
    if done.returncode == 0:
        return folder, lambda: subprocess.run(["chattr", "-i", str(folder)], check=True)
    return Path("/proc/vpp-sched-test"), lambda: None


def test_read_only_parent_fails_before_the_solve(scenario, tmp_path, no_solve):
    locked, undo = _read_only_parent(tmp_path)
    try:
        _refused(_plan(scenario, locked / "plan"), "cannot", "writable output folder")
    finally:
        undo()
    assert not (locked / "plan").exists()
    _refused(_plan(scenario, "/proc/vpp-sched-test/plan"), "cannot")  # procfs: nobody may make folders there
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    _refused(_plan(scenario, not_a_folder / "plan"), "cannot")  # ENOTDIR: the parent is a file
    assert not_a_folder.read_text() == "x"


# --- what is replaced ------------------------------------------------------------------------
def test_replacing_an_earlier_plan_and_the_manifest(scenario, tmp_path):
    out = tmp_path / "plan"
    out.mkdir()  # an empty folder may be used
    assert _plan(scenario, out).exit_code == 0
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["written_by"] == "vpp-sched" and manifest["kind"] == "plan"
    assert manifest["files"] == sorted(p.name for p in out.iterdir() if p.name != MANIFEST)
    first = (out / MANIFEST).read_bytes()
    (out / "kpis.json").write_text("{}")  # the earlier plan's files go, ours come
    result = _plan(scenario, out)
    assert result.exit_code == 0, result.stderr
    assert (out / MANIFEST).read_bytes() == first, "no timestamps: the manifest is the same run to run"
    assert json.loads((out / "kpis.json").read_text())["status"]
    assert _hidden(tmp_path) == []


def test_another_kind_needs_force(scenario, earlier_plan, tmp_path):
    import shutil

    out = Path(shutil.copytree(earlier_plan, tmp_path / "plan"))
    result = runner.invoke(app, ["flex", str(scenario), "--out", str(out)])
    _refused(result, "plan folder, not a flex folder", "--force")
    result = runner.invoke(app, ["flex", str(scenario), "--out", str(out), "--force"])
    assert result.exit_code == 0, result.stderr
    assert json.loads((out / MANIFEST).read_text()) == {"written_by": "vpp-sched", "kind": "flex",
                                                        "files": ["flex.csv"]}


def test_ocpp_export_inside_a_plan_folder(scenario, earlier_plan, tmp_path):
    """`export-ocpp PLAN` writes PLAN/ocpp with its own manifest; the plan can still be replaced, and an
    export can replace the ocpp/ a `plan --ocpp` wrote."""
    import shutil

    out = Path(shutil.copytree(earlier_plan, tmp_path / "plan"))
    assert runner.invoke(app, ["export-ocpp", str(out)]).exit_code == 0
    assert json.loads((out / "ocpp" / MANIFEST).read_text())["kind"] == "ocpp"
    assert _plan(scenario, out, "--ocpp", "1.6").exit_code == 0
    assert not (out / "ocpp" / MANIFEST).exists() and any((out / "ocpp").glob("*.json"))
    result = runner.invoke(app, ["export-ocpp", str(out), "--version", "2.0.1"])
    assert result.exit_code == 0, result.stderr
    _refused(runner.invoke(app, ["export-ocpp", str(out), "--out", str(out)]), "input")
    assert _plan(scenario, out).exit_code == 0


def test_target_changed_during_the_run_is_not_replaced(tmp_path):
    out = tmp_path / "plan"
    with pytest.raises(OutFolderError, match="did not write"):
        with OutFolder(out, "plan") as folder:
            (folder.tmp / "a.csv").write_text("x")
            out.mkdir()
            (out / "theirs.txt").write_text("made meanwhile")
    assert (out / "theirs.txt").read_text() == "made meanwhile" and _hidden(tmp_path) == []


def test_failed_swap_puts_the_old_folder_back(earlier_plan, tmp_path, monkeypatch):
    import shutil

    out = Path(shutil.copytree(earlier_plan, tmp_path / "plan"))
    before = _snapshot(out)
    real = os.rename

    def rename(src, dst):
        if Path(src).name.startswith(".plan.vpp-sched-tmp"):
            raise OSError(28, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(outfolder.os, "rename", rename)
    with pytest.raises(OutFolderError, match="No space left"):
        with OutFolder(out, "plan") as folder:
            (folder.tmp / "kpis.json").write_text("{}")
    assert _snapshot(out) == before and _hidden(tmp_path) == []


def test_stale_temporary_folders_of_dead_runs_are_removed(scenario, tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    dead_pid = int(dead.stdout)

    def sibling(name: str, pid: int | None) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        (folder / "ev_schedule.csv").write_text("half")
        if pid is not None:
            import socket

            (folder / TMP_MARKER).write_text(json.dumps({"written_by": "vpp-sched", "host": socket.gethostname(),
                                                         "pid": pid}))
        return folder

    stale = sibling(".plan.vpp-sched-tmp.dead0001", dead_pid)
    running = sibling(".plan.vpp-sched-tmp.live0001", os.getppid())  # a run still going: left alone
    users = sibling(".plan.vpp-sched-tmp.user0001", None)  # no marker: not ours, never touched
    assert _plan(scenario, tmp_path / "plan").exit_code == 0
    assert not stale.exists() and running.exists() and users.exists()
    assert _hidden(tmp_path) == sorted([running.name, users.name])


# --- signals, in a real process --------------------------------------------------------------
HOOK = """
import os, sys, time
from pathlib import Path
flag = Path(sys.argv.pop(1))
stage = sys.argv.pop(1)
from vpp_sched.cli import main
if stage == "solve":
    import vpp_sched.plan.planner as planner
    real = planner.solve
    def solve(*args, **kwargs):  # a long solve: the signal arrives in the middle of it
        flag.write_text("solving")
        time.sleep(60)
        return real(*args, **kwargs)
    planner.solve = solve
elif stage == "write":
    import vpp_sched.plan.output as output
    real = output.write_csv
    def write_csv(table, path):  # a slow disk: the signal arrives after the first file
        real(table, path)
        flag.write_text(str(path))
        time.sleep(60)
    output.write_csv = write_csv
sys.argv[0] = "vpp-sched"
main()
"""


def _signalled_plan(scenario: Path, out: Path, flag: Path, stage: str, signum: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", HOOK, str(flag), stage, "plan", str(scenario), "--out", str(out),
                             "--no-parquet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 60
    while not flag.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert flag.exists(), "the run never reached its stage"
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=30)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


@pytest.mark.parametrize("stage, signum, code, word", [("solve", signal.SIGTERM, 143, "terminated"),
                                                      ("write", signal.SIGTERM, 143, "terminated"),
                                                      ("solve", signal.SIGINT, 130, "interrupted")])
def test_signal_leaves_no_temporary_folder_and_the_earlier_plan(scenario, earlier_plan, tmp_path, stage, signum,
                                                               code, word):
    import shutil

    out = Path(shutil.copytree(earlier_plan, tmp_path / "plan"))
    before = _snapshot(out)
    done = _signalled_plan(scenario, out, tmp_path / "flag", stage, signum)
    assert done.returncode == code, done.stderr
    assert done.stderr.strip().splitlines() == [f"error: {word}; nothing written, {out} unchanged"], done.stderr
    assert _snapshot(out) == before
    assert _hidden(tmp_path) == [], "no temporary folder left beside --out"


@pytest.mark.slow
def test_ctrl_c_during_the_imports(tmp_path):
    """Ctrl-C in the imports of typer, pandas, Pyomo: one line, exit 130. An import hook presses it
    when the first of them starts loading, so it lands there on a busy or an idle machine (a timer
    50 ms after start raced the imports under load)."""
    code = ("import os, signal, sys\n"
            "class CtrlC:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.partition('.')[0] in ('typer', 'pandas', 'pyomo'):\n"
            "            sys.meta_path.remove(self)\n"
            "            os.kill(os.getpid(), signal.SIGINT)\n"
            "        return None\n"
            "from vpp_sched.cli import main\n"
            "sys.meta_path.insert(0, CtrlC())\n"
            "main()\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code, "plan", "--out", str(tmp_path / "plan")],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 130, done.stderr
    assert done.stderr.strip().splitlines() in (["error: interrupted"],
                                                [f"error: interrupted; nothing written, {tmp_path / 'plan'} unchanged"])
    assert not (tmp_path / "plan").exists() and _hidden(tmp_path) == []


def test_console_entry_point_is_light():
    """The console script's module loads no heavy package: the signal handlers come first."""
    code = "import sys\nfrom vpp_sched.cli import main\nprint(sorted({'pandas', 'pyomo', 'typer', 'numpy'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.stdout.strip() == "[]"


# --- every other folder-writing command ------------------------------------------------------
def _commands(scenario: Path, plan: Path, out: Path) -> dict[str, list[str]]:
    return {
        "replay": ["replay", str(scenario), "--out", str(out)],
        "flex": ["flex", str(scenario), "--out", str(out)],
        "whatif": ["whatif", str(scenario), "--out", str(out), "--vary", "evs.scale=1,2"],
        "hosting": ["hosting", str(scenario), "--out", str(out)],
        "generate": ["generate", str(out), "--transformers", "2", "--evs", "5"],
        "export-ocpp": ["export-ocpp", str(plan), "--out", str(out)],
        "import-simbench": ["import-simbench", str(DATA / "simbench"), str(out), "--day", "2026-01-05"],
        "import-openadr": ["import-openadr", str(DATA / "openadr_distribute_event.xml"), "--out", str(out),
                           "--scenario", str(scenario)],
        "ven": ["ven", "--vtn-url", "http://127.0.0.1:9/OpenADR2/Simple/2.0b", "--ven-name", "v", "--out", str(out),
                "--scenario", str(scenario)],
    }


@pytest.mark.parametrize("command", ["replay", "flex", "whatif", "hosting", "generate", "export-ocpp",
                                     "import-simbench", "import-openadr", "ven"])
def test_every_command_refuses_a_foreign_folder(command, scenario, earlier_plan, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    args = _commands(scenario, earlier_plan, out)[command]
    _refused(runner.invoke(app, args), "did not write", "thesis.tex")
    _refused(runner.invoke(app, [*args, "--force"]), "did not write")
    assert sorted(p.name for p in out.iterdir()) == ["thesis.tex"] and _hidden(tmp_path) == []
    _refused(runner.invoke(app, [*[a if a != str(out) else str(Path.cwd()) for a in args]]), "current folder")


def test_generate_prints_where_and_how_big_and_keeps_edits(tmp_path):
    out = tmp_path / "gen"
    result = runner.invoke(app, ["generate", str(out), "--transformers", "3", "--evs", "7", "--stations", "1"])
    assert result.exit_code == 0, result.stderr
    assert f"scenario written to {out.resolve()}" in result.stdout
    files = [p for p in out.rglob("*") if p.is_file()]
    assert (f"4 transformer(s), {7 + 25} EV session(s), 1 station(s); {len(files)} file(s), "
            f"{sum(p.stat().st_size for p in files):,} bytes") in result.stdout
    _refused(runner.invoke(app, ["generate", str(out)]), "may hold your edits", "--force")
    result = runner.invoke(app, ["generate", str(out), "--transformers", "2", "--evs", "5", "--force"])
    assert result.exit_code == 0 and "2 transformer(s), 5 EV session(s)" in result.stdout


def test_a_file_added_just_before_the_swap_is_kept(earlier_plan, tmp_path, monkeypatch):
    """Between the last check and the rename a user may still add a file: the old folder is checked
    again once renamed aside (then nobody else can write there) and put back."""
    import shutil

    out = Path(shutil.copytree(earlier_plan, tmp_path / "plan"))
    folder = OutFolder(out, "plan")
    (folder.tmp / "kpis.json").write_text("{}")
    real = outfolder.check_target

    def check_then_add(*args, **kwargs):
        found = real(*args, **kwargs)
        (out / "late.txt").write_text("just saved")
        return found

    monkeypatch.setattr(outfolder, "check_target", check_then_add)
    with pytest.raises(OutFolderError, match="late.txt"):
        folder.commit()
    assert (out / "late.txt").read_text() == "just saved" and (out / "ev_schedule.csv").exists()
    assert _hidden(tmp_path) == []


def test_a_stop_during_the_swap_waits_for_its_end(earlier_plan, tmp_path):
    """A signal that arrives while the folder is moved into place takes effect after the move."""
    import shutil

    from vpp_sched.cli.interrupt import Terminated, stop_on_signal

    out = Path(shutil.copytree(earlier_plan, tmp_path / "plan"))
    folder = OutFolder(out, "plan")
    (folder.tmp / "kpis.json").write_text('{"new": true}')
    real = folder._swap

    def swap_with_signal():
        stop_on_signal(signal.SIGTERM, None)  # the handler, as the signal would run it mid-swap
        real()

    folder._swap = swap_with_signal
    with pytest.raises(Terminated):
        folder.commit()
    assert json.loads((out / "kpis.json").read_text()) == {"new": True} and _hidden(tmp_path) == []


#: Bounds of the VEN's start (to its first request) and of its stop (after the signal) on a loaded
#: machine [s]; on a quiet one it takes a few seconds and well under one.
VEN_START_S, VEN_STOP_S = 300, 120


@pytest.mark.parametrize("signum, code, last", [(signal.SIGTERM, 143, "error: terminated"),
                                                (signal.SIGINT, 0, "VEN stopped after 0 event(s)")])
def test_ven_stops_on_signals(scenario, tmp_path, signum, code, last):
    """SIGTERM ends a VEN waiting on its VTN with exit 143; Ctrl-C is its ordinary stop (exit 0).

    The signal goes only once the VEN is waiting on its VTN (its connection accepted). How long it
    takes to get there (Python, the packages, the scenario) and to stop depends on the machine's
    load, so those waits are bounded generously, and the VEN is killed if the test ends early."""
    import socket
    import threading

    server = socket.create_server(("127.0.0.1", 0))
    accepted, connections = threading.Event(), []
    threading.Thread(target=lambda: (connections.append(server.accept()[0]), accepted.set()),
                     daemon=True).start()  # and never answer
    url = f"http://127.0.0.1:{server.getsockname()[1]}/OpenADR2/Simple/2.0b"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", "from vpp_sched.cli import main; main()", "ven", "--vtn-url", url,
                             "--ven-name", "v", "--out", str(tmp_path / "plan"), "--scenario", str(scenario),
                             "--timeout", "60"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + VEN_START_S
        while not accepted.wait(0.05) and proc.poll() is None and time.monotonic() < deadline:
            pass
        if not accepted.is_set():
            proc.kill()
            _, stderr = proc.communicate(timeout=60)
            pytest.fail(f"the VEN never called its VTN within {VEN_START_S} s (exit {proc.returncode}): {stderr}")
        proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=VEN_STOP_S)
    finally:
        if proc.poll() is None:     # a wait that failed: no VEN is left running
            proc.kill()
            proc.communicate(timeout=60)
        for connection in connections:
            connection.close()
        server.close()
    assert proc.returncode == code, stderr
    assert (stdout + stderr).strip().splitlines()[-1] == last and "Traceback" not in stderr, (stdout, stderr)
    assert not (tmp_path / "plan").exists() and _hidden(tmp_path) == []
