"""Write a plan folder atomically: everything goes to a temporary folder beside the target,
which replaces the target only when complete. A failure leaves no half-written plan."""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from vpp_sched.results import Plan

# Timings differ run to run; everything else in a plan is reproducible byte for byte.
TIMING_KEYS = ("build_seconds", "solve_seconds", "total_seconds")


def _iso(df: pd.DataFrame) -> pd.DataFrame:
    """Timezone-aware columns as ISO 8601 text with offset (formatted once per distinct time)."""
    out = df.copy()
    for col in out.columns:
        if isinstance(out[col].dtype, pd.DatetimeTZDtype):
            codes, uniques = pd.factorize(out[col])
            text = np.array([t.isoformat() for t in uniques] + [""], dtype=object)
            out[col] = text[codes]  # code -1 (NaT) picks the trailing ""
    return out


def _json_safe(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def plan_tables(plan: Plan) -> dict[str, pd.DataFrame]:
    """File stem -> table; feeders and DR events only when the scenario has them."""
    tables = {"ev_schedule": plan.ev_schedule, "transformer_load": plan.transformer_load, "evs": plan.evs,
              "batteries": plan.batteries}
    if len(plan.feeders):
        tables["feeders"] = plan.feeders
    if len(plan.dr_events):
        tables["dr_events"] = plan.dr_events
        tables["events"] = plan.events
    return tables


def write_plan(plan: Plan, out_dir: Path | str, parquet: bool = True, extra: dict | None = None) -> Path:
    """Write CSV (+ Parquet when pyarrow is installed) tables and kpis.json to ``out_dir``.

    ``extra`` maps a relative file name to a callable ``f(folder: Path)`` writing more files
    (report, OCPP profiles) inside the same atomic step.
    """
    with atomic_folder(out_dir) as tmp:
        for stem, table in plan_tables(plan).items():
            _iso(table).to_csv(tmp / f"{stem}.csv", index=False, float_format="%.6f", lineterminator="\n")
            if parquet and _has_pyarrow():
                table.to_parquet(tmp / f"{stem}.parquet", index=False)
        kpis = dict(plan.kpis, warnings=plan.warnings)
        (tmp / "kpis.json").write_text(json.dumps(_json_safe(kpis), indent=2, sort_keys=False) + "\n")
        for _, writer in (extra or {}).items():
            writer(tmp)
    return Path(out_dir).resolve()


@contextlib.contextmanager
def atomic_folder(out_dir: Path | str):
    """Yield a temporary folder beside ``out_dir``; it replaces ``out_dir`` only if the block succeeds."""
    out_dir = Path(out_dir).resolve()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        tmp.chmod(0o755)  # mkdtemp makes it private; plans and exports are read by other users and services
        yield tmp
        _replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _replace(tmp: Path, out_dir: Path) -> None:
    """Move ``tmp`` into place; an older plan at ``out_dir`` is removed only after the move succeeds."""
    old = None
    if out_dir.exists():
        old = out_dir.with_name(f".{out_dir.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        out_dir.rename(old)
    try:
        tmp.rename(out_dir)
    except BaseException:
        if old is not None:
            old.rename(out_dir)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _has_pyarrow() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True
