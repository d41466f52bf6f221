"""Reading a written plan folder's tables, however the plan wrote them.

A table is ``<stem>.csv`` (:func:`~vpp_sched.plan.output.write_plan`) or, in a plan too large for CSV,
the hive-partitioned Parquet folder ``<stem>/`` (:func:`~vpp_sched.plan.output.write_plan_large`,
``kpis.json`` ``partitioned``). Every reader of a plan folder (``gridcheck``, ``export-ocpp``, the
plan's JSON Schema document, :func:`plan_document`) goes through :func:`read_plan_table`, so each reads both layouts alike.
The CSV is read when both are there: it is the file a person may have looked at or edited.

Two shapes are offered:

- typed (default): text columns of the schema (ids, ISO 8601 times) as text, numbers as numbers,
  empty cells of nullable numbers as NaN; from Parquet the same, times as the CSV's ISO text;
- ``text=True``: every cell as the text the CSV holds (for :class:`~vpp_sched.scenario.tables.Table`,
  which checks cell by cell); from Parquet each value formatted as :func:`~vpp_sched.plan.output.write_csv`
  writes it, so a check reads the same cells from either layout.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from vpp_sched.errors import InputError, echo, quoted
from vpp_sched.outfolder import MANIFEST
from vpp_sched.plan.output import FLOAT_FORMAT, PARTITION_COLUMN
from vpp_sched.plan.schema import OPTIONAL_COLUMNS, TABLES
from vpp_sched.scenario import table_file


@dataclass(frozen=True)
class TableSource:
    """Where a plan table is: ``path`` the CSV file or the partitioned Parquet folder."""

    path: Path
    partitioned: bool

    @property
    def label(self) -> str:
        """The name in messages: ``ev_schedule.csv`` or ``ev_schedule/ (partitioned Parquet)``."""
        return f"{self.path.name}/ (partitioned Parquet)" if self.partitioned else self.path.name


def find_plan_table(folder: Path | str, stem: str) -> TableSource | None:
    """``<stem>.csv`` in ``folder`` if it is there, else the Parquet folder ``<stem>/``, else ``None``."""
    folder = Path(folder)
    csv = folder / f"{stem}.csv"
    if csv.exists():
        return TableSource(csv, partitioned=False)
    parts = folder / stem
    if parts.is_dir():
        return TableSource(parts, partitioned=True)
    return None


def plan_table_source(folder: Path | str, stem: str) -> TableSource:
    """:func:`find_plan_table`, or an :class:`InputError` naming both places looked at."""
    source = find_plan_table(folder, stem)
    if source is None:
        folder = Path(folder)
        raise InputError([f"{stem}.csv: file not found at {folder / f'{stem}.csv'}, nor a partitioned Parquet "
                          f"folder {stem}/ (is {folder} a plan folder, written by vpp-sched plan --out?)"])
    return source


def read_plan_table(folder: Path | str, stem: str, columns: list[str] | tuple[str, ...] = (),
                    text: bool = False) -> pd.DataFrame:
    """The plan table ``stem`` of ``folder`` (module docstring: typed, or every cell as text with ``text``).

    Raises
    ------
    InputError
        Neither ``<stem>.csv`` nor ``<stem>/`` is there, the file is not a readable table, or one of
        ``columns`` is missing (file and column named).
    """
    source = plan_table_source(folder, stem)
    if source.partitioned:
        frame = _read_parquet(source)
        frame = _as_text(frame) if text else frame
    else:
        frame = _read_csv(source, stem, text)
        frame = frame if text else _typed(frame, stem)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError([f"{source.label}: missing column {c}" for c in missing])
    return frame


def plan_document(folder: Path | str) -> dict:
    """A plan folder read into the shape :func:`~vpp_sched.plan.schema.plan_json_schema` describes (for
    validation): ``<stem>.csv`` -> rows, ``kpis.json``, the manifest. A table written as partitioned
    Parquet (``kpis.json`` ``partitioned``) is read from its folder ``<stem>/`` and checked as its CSV
    would be."""
    folder = Path(folder)
    doc: dict = {}
    for stem in TABLES:
        if find_plan_table(folder, stem) is not None:
            doc[f"{stem}.csv"] = json.loads(read_plan_table(folder, stem).to_json(orient="records"))
    for name in ("kpis.json", MANIFEST):
        if (folder / name).exists():
            doc[name] = json.loads((folder / name).read_text(encoding="utf-8"))
    return doc


def numbers(frame: pd.DataFrame, column: str, label: str) -> np.ndarray:
    """[rows] ``frame[column]`` as floats; a cell that is not a number is an :class:`InputError`
    naming the row (1-based, as the CSV's data rows) and the field."""
    if pd.api.types.is_numeric_dtype(frame[column]):   # as read: nothing to check (a province's 43 M rows)
        return frame[column].to_numpy(float)
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(float)
    bad = np.flatnonzero(np.isnan(values) & frame[column].notna().to_numpy()
                         & (frame[column].astype(str) != "").to_numpy())
    if len(bad):
        raise InputError([f"{label} row {i + 1}: {column} {quoted(str(frame[column].iat[i]))} is not a number"
                          for i in bad[:20]])
    return values


def _column_types(stem: str) -> dict[str, object]:
    """Column name -> JSON type of the plan schema (``{}`` for a table it does not describe)."""
    columns = {**TABLES.get(stem, ("", {}))[1], **OPTIONAL_COLUMNS.get(stem, {})}
    return {c: spec.get("type") for c, spec in columns.items()}


def _read_csv(source: TableSource, stem: str, text: bool) -> pd.DataFrame:
    """The CSV as :class:`~vpp_sched.scenario.tables.Table` reads it (``text``) or with the schema's
    text columns as text (otherwise); the file is judged first (:mod:`vpp_sched.scenario.table_file`)."""
    path = source.path
    problem = table_file.file_problem(path)
    try:
        problem = problem or table_file.header_problem(path)
        if problem is None:
            if text:
                return pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True,
                                   comment=None, encoding="utf-8-sig")
            text_cols = {c: str for c, kind in _column_types(stem).items() if kind == "string"}
            return pd.read_csv(path, dtype=text_cols, keep_default_na=False, encoding="utf-8-sig")
    except PermissionError:
        problem = "cannot be read (permission denied)"
    except UnicodeDecodeError:
        problem = table_file.not_utf8(path)
    except pd.errors.EmptyDataError:
        problem = "is empty; it needs a header line and rows"
    except (pd.errors.ParserError, OSError, ValueError) as exc:
        problem = f"not a readable CSV table ({echo(str(exc).strip(), 200)})"
    raise InputError([f"{source.label}: {problem}"])


def _typed(frame: pd.DataFrame, stem: str) -> pd.DataFrame:
    """Empty cells of the schema's nullable number columns as NaN (``keep_default_na=False`` keeps "")."""
    for c, kind in _column_types(stem).items():
        if c in frame.columns and kind == ["number", "null"] and frame[c].dtype == object:
            cells = frame[c].to_numpy(dtype=object)
            cells[cells == ""] = np.nan
            frame[c] = pd.to_numeric(pd.Series(cells, index=frame.index))
    return frame


def _partition_files(folder: Path) -> list[Path]:
    """The Parquet files of a partitioned table, partitions in their number's order (then file name)."""
    def key(path: Path) -> tuple[int, str]:
        value = path.parent.name.partition("=")[2]
        return (int(value) if value.isdigit() else -1, str(path))
    return sorted(folder.glob(f"{PARTITION_COLUMN}=*/*.parquet"), key=key)


def _read_parquet(source: TableSource) -> pd.DataFrame:
    """The rows of every partition (in partition order), without the partition column; tz-aware
    times as the CSV's ISO 8601 text."""
    files = _partition_files(source.path)
    if not files:
        raise InputError([f"{source.label}: no {PARTITION_COLUMN}=*/*.parquet files in {source.path}"])
    try:
        import pyarrow.parquet as pq
        frame = pd.concat([pq.read_table(f).to_pandas() for f in files], ignore_index=True)
    except ImportError:
        raise InputError([f"{source.label}: reading it needs pyarrow (pip install pyarrow)"]) from None
    except (OSError, ValueError) as exc:      # pyarrow's ArrowInvalid is a ValueError
        raise InputError([f"{source.label}: not a readable Parquet table ({echo(str(exc).strip(), 200)})"]) from None
    frame = frame.drop(columns=[PARTITION_COLUMN], errors="ignore")
    for c in frame.columns:
        if isinstance(frame[c].dtype, pd.DatetimeTZDtype):
            frame[c] = _iso_text(frame[c])
    return frame


def _iso_text(column: pd.Series) -> np.ndarray:
    """tz-aware times as ISO 8601 text with offset, each distinct time formatted once; NaT as ""."""
    codes, uniques = pd.factorize(column)
    return np.array([t.isoformat() for t in uniques] + [""], dtype=object)[codes]


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Every cell as :func:`~vpp_sched.plan.output.write_csv` writes it (floats ``%.6f``, NaN and
    missing text empty, booleans ``True``/``False``), unquoted, as ``read_csv(dtype=str)`` gives it back."""
    out = {}
    for c in frame.columns:
        col = frame[c]
        if col.dtype == np.float64:
            # as write_csv: distinct bit patterns (so -0.0 keeps its sign), NaN empty
            codes, uniques = pd.factorize(np.ascontiguousarray(col.to_numpy()).view(np.int64))
            values = np.asarray(uniques, dtype=np.int64).view(np.float64)
            out[c] = np.array([FLOAT_FORMAT % v if v == v else "" for v in values.tolist()], dtype=object)[codes]
        elif col.dtype == np.bool_:
            out[c] = np.array(["False", "True"], dtype=object)[col.to_numpy().astype(np.intp)]
        else:
            cells = col.to_numpy(dtype=object)
            cells[pd.isna(cells)] = ""
            out[c] = cells.astype(str).astype(object)
    return pd.DataFrame(out, index=frame.index)
