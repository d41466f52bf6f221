"""Write a plan folder atomically: everything goes to a temporary folder beside the target,
which replaces the target only when complete. A failure leaves no half-written plan, and only a
folder vpp-sched wrote itself is ever replaced (:mod:`vpp_sched.outfolder`)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from vpp_sched.outfolder import OutFolder, target_path, writing
from vpp_sched.plan.results import Plan
from vpp_sched.plan.runs import factorize_runs

# Timings differ run to run; everything else in a plan is reproducible byte for byte.
TIMING_KEYS = ("build_seconds", "solve_seconds", "total_seconds", "timing")


def _iso(df: pd.DataFrame) -> pd.DataFrame:
    """Timezone-aware columns as ISO 8601 text with offset (formatted once per distinct time)."""
    out = df.copy()
    for col in out.columns:
        if isinstance(out[col].dtype, pd.DatetimeTZDtype):
            codes, uniques = pd.factorize(out[col])
            text = np.array([t.isoformat() for t in uniques] + [""], dtype=object)
            out[col] = text[codes]  # code -1 (NaT) picks the trailing ""
    return out


FLOAT_FORMAT = "%.6f"  # every float in the plan's CSV files
CSV_CHUNK_ROWS = 100_000  # rows joined and written at a time (bounds the memory of a 100,000-EV plan)


def write_csv(table: pd.DataFrame, path: Path) -> None:
    """Write ``table`` as ``pandas.DataFrame.to_csv(index=False, float_format="%.6f", lineterminator="\\n")``
    does after :func:`_iso`, byte for byte, 5-10x faster.

    pandas formats every float cell in Python (most of the time of a plan's write at 10,000 EVs);
    here each column is turned into text once per distinct value (ids and powers repeat a lot)
    and the rows are joined. A column of any other kind falls back to pandas for the whole table.
    """
    columns = _csv_columns(table)
    if columns is None:
        _iso(table).to_csv(path, index=False, float_format=FLOAT_FORMAT, lineterminator="\n")
        return
    header, cells = columns
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(",".join(header) + "\n")
        for start in range(0, len(table), CSV_CHUNK_ROWS):
            part = [c[start:start + CSV_CHUNK_ROWS] for c in cells]
            f.write("\n".join(map(",".join, zip(*part))) + "\n")


def _csv_columns(df: pd.DataFrame) -> tuple[list[str], list[np.ndarray]] | None:
    """The header cells and each column's cells as text, or ``None`` when a column needs pandas."""
    if df.shape[1] < 2 or not df.columns.is_unique or not all(isinstance(c, str) for c in df.columns):
        return None  # one-column rows have their own quoting rules
    header = [_quoted(c) for c in df.columns]
    if any(h is None for h in header):
        return None
    cells = []
    for name in df.columns:
        text = _column_text(df[name])
        if text is None:
            return None
        cells.append(text)
    return header, cells


def _column_text(col: pd.Series) -> np.ndarray | None:
    """Cells of one column as pandas writes them (``None``: not a kind handled here)."""
    dtype = col.dtype
    if isinstance(dtype, np.dtype) and dtype == np.float64:
        # Distinct bit patterns, so -0.0 keeps its sign; NaN is written empty (pandas' na_rep).
        codes, uniques = pd.factorize(np.ascontiguousarray(col.to_numpy()).view(np.int64))
        values = np.asarray(uniques, dtype=np.int64).view(np.float64)
        text = np.array([FLOAT_FORMAT % v if v == v else "" for v in values.tolist()], dtype=object)
        return text[codes]
    if isinstance(dtype, np.dtype) and dtype == np.bool_:
        return np.array(["False", "True"], dtype=object)[col.to_numpy().astype(np.intp)]
    if isinstance(dtype, np.dtype) and dtype.kind in "iu":
        return col.to_numpy().astype(str).astype(object)
    if isinstance(dtype, pd.DatetimeTZDtype):  # as _iso
        codes, uniques = pd.factorize(col)
        return np.array([t.isoformat() for t in uniques] + [""], dtype=object)[codes]
    if isinstance(dtype, pd.StringDtype) or (isinstance(dtype, np.dtype) and dtype == object):
        if pd.api.types.infer_dtype(col, skipna=True) not in ("string", "empty"):
            return None
        codes, uniques = factorize_runs(col.to_numpy())  # missing values get code -1
        text = [_quoted(v) for v in uniques.tolist()] + [""]
        if any(t is None for t in text):
            return None
        return np.array(text, dtype=object)[codes]
    return None


def _quoted(value: str) -> str | None:
    """A text cell as the csv module writes it (quoted when it holds a comma, quote or newline);
    ``None`` for a carriage return, whose quoting differs between Python versions."""
    if "\r" in value:
        return None
    if "," in value or '"' in value or "\n" in value:
        return '"' + value.replace('"', '""') + '"'
    return value


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
    tables.update(getattr(plan, "sites", {}))      # swap_stations, fast_charging (plan.sites_output)
    if len(plan.grid_buses):
        tables["grid_buses"], tables["grid_lines"] = plan.grid_buses, plan.grid_lines
        tables["grid_phases"] = plan.grid_phases
    return tables


def write_plan(plan: Plan, out_dir: Path | str | OutFolder, parquet: bool = True, extra: dict | None = None,
               inputs: Iterable[Path | str | None] = (), force: bool = False) -> Path:
    """Write CSV (+ Parquet when pyarrow is installed) tables and kpis.json to ``out_dir``.

    ``extra`` maps a relative file name to a callable ``f(folder: Path)`` writing more files
    (report, OCPP profiles) inside the same atomic step. ``out_dir`` may be an :class:`OutFolder`
    opened before the solve (then its owner moves it into place); ``inputs`` and ``force`` are as
    for :class:`OutFolder`.
    """
    with writing(out_dir, "plan", inputs, force) as tmp:
        with ThreadPoolExecutor(max_workers=1) as beside:    # waits for the Parquet files, also on an error
            parquet_files = []
            for stem, table in plan_tables(plan).items():
                if parquet and _has_pyarrow():
                    # a shallow copy: its own column cache, so the threads share only the (read) arrays
                    parquet_files.append(beside.submit(_to_parquet, table.copy(deep=False), tmp / f"{stem}.parquet"))
                write_csv(table, tmp / f"{stem}.csv")
            for done in parquet_files:
                done.result()          # an error writing one is raised here
        kpis = dict(plan.kpis, warnings=plan.warnings)
        (tmp / "kpis.json").write_text(json.dumps(_json_safe(kpis), indent=2, sort_keys=False) + "\n")
        for _, writer in (extra or {}).items():
            writer(tmp)
    return target_path(out_dir)


def _to_parquet(table: pd.DataFrame, path: Path) -> None:
    """``table`` as Parquet, in a thread beside the CSV formatting: pyarrow encodes and compresses
    without the GIL, so the two overlap (the same file as written alone)."""
    table.to_parquet(path, index=False)


def atomic_folder(out_dir: Path | str | OutFolder, kind: str, inputs: Iterable[Path | str | None] = (),
                  force: bool = False):
    """Yield a temporary folder beside ``out_dir``; it replaces ``out_dir`` only if the block succeeds
    and only under the rules of :mod:`vpp_sched.outfolder` (``kind`` goes into the manifest)."""
    return writing(out_dir, kind, inputs, force)


def _has_pyarrow() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


# ------------------------------------------------------------------------------------------
# large plans: partitioned Parquet (a province: 1,000,000 EVs make ~43 M schedule rows)
# ------------------------------------------------------------------------------------------
#: A table with more rows is written as a partitioned Parquet folder ``<stem>/`` (not ``<stem>.parquet``)
#: and, by default, without its CSV (a 43 M-row CSV is ~2.5 GB and minutes of formatting). The 100,000-EV
#: day (4.3 M schedule rows) stays below it, so every plan up to that size keeps its files.
PARTITION_ROWS = 5_000_000
#: Transformers per partition of a partitioned table (20,000 transformers: 200 partitions).
TRANSFORMERS_PER_PARTITION = 100
#: The partition column (hive style, ``ev_schedule/transformer_group=7/part-0.parquet``): the
#: transformer's position in ``transformers.csv`` // :data:`TRANSFORMERS_PER_PARTITION`.
PARTITION_COLUMN = "transformer_group"


def row_transformer_group(plan: Plan, stem: str, table: pd.DataFrame) -> np.ndarray:
    """[rows] partition number of each row of ``table`` (``plan_tables(plan)[stem]``): its transformer's
    (or, for ``ev_schedule``, its EV's transformer's) position in the plan's transformer order //
    :data:`TRANSFORMERS_PER_PARTITION`."""
    order = pd.Index(pd.unique(plan.transformer_load.transformer_id))
    if "transformer_id" in table.columns:
        position = order.get_indexer(table.transformer_id)
    elif stem == "ev_schedule":
        ev_position = order.get_indexer(plan.evs.transformer_id)
        position = ev_position[pd.Index(plan.evs.ev_id).get_indexer(table.ev_id)]
    else:
        raise ValueError(f"{stem}: no transformer to partition by")
    return (position // TRANSFORMERS_PER_PARTITION).astype(np.int32)


def _partitionable(stem: str, table: pd.DataFrame) -> bool:
    """:func:`row_transformer_group` can place the rows of ``table``."""
    return "transformer_id" in table.columns or stem == "ev_schedule"


def write_partitioned(table: pd.DataFrame, group: np.ndarray, folder: Path, batch_rows: int = 1_000_000) -> int:
    """Write ``table`` as a hive-partitioned Parquet dataset in ``folder`` (new), partitioned by
    :data:`PARTITION_COLUMN` = ``group`` [rows], one file per partition; ``pandas.read_parquet(folder)``
    reads it back (the partition column last). Rows go in batches of at most ``batch_rows`` in the
    table's order within a partition, so no second copy of the table is held. Returns the partitions."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    order = np.argsort(group, kind="stable")
    cuts = np.flatnonzero(np.diff(group[order])) + 1
    runs = np.split(order, cuts) if len(order) else []
    # the column types as pandas -> arrow gives them (text columns need rows to be seen as strings)
    schema = pa.Schema.from_pandas(table.head(10_000), preserve_index=False).append(pa.field(PARTITION_COLUMN, pa.int32()))

    def batches():
        for run in runs:
            for start in range(0, len(run), batch_rows):
                rows = run[start:start + batch_rows]
                part = table.take(rows).assign(**{PARTITION_COLUMN: group[rows]})
                yield from pa.Table.from_pandas(part, schema=schema, preserve_index=False).to_batches()

    ds.write_dataset(batches(), folder, schema=schema, format="parquet",
                     partitioning=ds.partitioning(pa.schema([schema.field(PARTITION_COLUMN)]), flavor="hive"),
                     basename_template="part-{i}.parquet", existing_data_behavior="error",
                     max_partitions=max(len(runs), 1), max_rows_per_group=batch_rows,
                     use_threads=False)   # rows in the table's order: the same files run to run
    return len(runs)


def write_plan_large(plan: Plan, out_dir: Path | str | OutFolder, partition_rows: int = PARTITION_ROWS,
                     csv_max_rows: int | None = None, extra: dict | None = None,
                     inputs: Iterable[Path | str | None] = (), force: bool = False) -> Path:
    """:func:`write_plan` for any size: tables up to ``partition_rows`` rows as CSV + Parquet files
    (as :func:`write_plan` writes them), larger ones as a partitioned Parquet folder ``<stem>/``
    (:func:`write_partitioned`) plus their CSV only when they have at most ``csv_max_rows`` rows
    (default ``partition_rows``). ``kpis.json`` lists the partitioned tables under ``partitioned``."""
    csv_max_rows = partition_rows if csv_max_rows is None else csv_max_rows
    tables = plan_tables(plan)
    if not _has_pyarrow() or all(len(t) <= partition_rows for t in tables.values()):
        return write_plan(plan, out_dir, parquet=True, extra=extra, inputs=inputs, force=force)   # the same files
    with writing(out_dir, "plan", inputs, force) as tmp:
        partitioned = {}
        for stem, table in tables.items():
            # a site's table (batteries, swap and fast stations, feeders, events) has no transformer to
            # partition by and is one row per site and slot: written whole, as a small table is
            if len(table) <= partition_rows or not _partitionable(stem, table):
                write_csv(table, tmp / f"{stem}.csv")
                table.to_parquet(tmp / f"{stem}.parquet", index=False)
                continue
            if len(table) <= csv_max_rows:
                write_csv(table, tmp / f"{stem}.csv")
            n = write_partitioned(table, row_transformer_group(plan, stem, table), tmp / stem)
            partitioned[stem] = {"rows": len(table), "partitions": n, "partition_column": PARTITION_COLUMN,
                                 "transformers_per_partition": TRANSFORMERS_PER_PARTITION,
                                 "csv": len(table) <= csv_max_rows}
        kpis = dict(plan.kpis, warnings=plan.warnings)
        if partitioned:
            kpis["partitioned"] = partitioned
        (tmp / "kpis.json").write_text(json.dumps(_json_safe(kpis), indent=2, sort_keys=False) + "\n")
        for _, writer in (extra or {}).items():
            writer(tmp)
    return target_path(out_dir)
