"""Read and check the scenario's CSV tables.

Outside data enters here, once. Every problem becomes one line naming the file, the row (1-based
data row, the header not counted) with its id, and the field, e.g.
``evs.csv row 17 (ev_id=E0017): departure 2026-11-27T07:00:00+08:00 is not after arrival ...``.
All problems of a table are collected before anything is raised, so one run lists them all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from vpp_sched.scenario import table_file
from vpp_sched.scenario.config import (EARLIEST_YEAR, LATEST_YEAR, MAX_EV_ENERGY_KWH, MAX_EV_POWER_KW, MAX_POWER_KW,
                              MAX_RATED_KVA, id_problem)
from vpp_sched.errors import echo, quoted
from vpp_sched.scenario.timeutil import parse_times, time_problem

MAX_LINES_PER_FIELD = 20  # a broken export should not print 100,000 lines


@dataclass
class Problems:
    """Collects one message per problem; caps repeats of the same file and field."""

    lines: list[str] = field(default_factory=list)
    _counts: dict[tuple[str, str], int] = field(default_factory=dict)

    def add(self, message: str, key: tuple[str, str] | None = None) -> None:
        if key is not None:
            self._counts[key] = self._counts.get(key, 0) + 1
            if self._counts[key] > MAX_LINES_PER_FIELD:
                return
        self.lines.append(message)

    def full(self, key: tuple[str, str]) -> bool:
        """True when ``key`` has shown all its lines: more problems of it are only counted."""
        return self._counts.get(key, 0) >= MAX_LINES_PER_FIELD

    def close(self) -> list[str]:
        extra = [f"{file}: {n - MAX_LINES_PER_FIELD} more problems with field {col} not listed"
                 for (file, col), n in self._counts.items() if n > MAX_LINES_PER_FIELD]
        return self.lines + extra

    def __bool__(self) -> bool:
        return bool(self.lines)


class Table:
    """One CSV file being checked: raw text cells, typed columns, and where each row came from."""

    def __init__(self, path: Path, label: str, id_col: str | None, problems: Problems):
        self.path, self.label, self.id_col, self.problems = Path(path), label, id_col, problems
        self.ok = False
        self.invalid: dict[str, np.ndarray] = {}   # id column -> rows whose id is empty or refused
        problem = table_file.file_problem(self.path)
        try:
            problem = problem or table_file.header_problem(self.path)
            if problem is None:
                self.raw = pd.read_csv(self.path, dtype=str, keep_default_na=False, skipinitialspace=True,
                                       comment=None, encoding="utf-8-sig")
        except PermissionError:
            problem = "cannot be read (permission denied)"
        except UnicodeDecodeError:
            problem = table_file.not_utf8(self.path)
        except pd.errors.EmptyDataError:
            problem = "is empty; it needs a header line and rows"
        except (pd.errors.ParserError, OSError, ValueError) as exc:
            problem = f"not a readable CSV table ({echo(str(exc).strip(), 200)})"
        if problem is not None:
            problems.add(f"{label}: {problem}")
            return
        self.raw.columns = [str(c).strip() for c in self.raw.columns]
        self.raw = self.raw.apply(_stripped)
        self.ok = True

    @classmethod
    def from_frame(cls, raw: pd.DataFrame, label: str, id_col: str | None, problems: Problems) -> "Table":
        """A table read elsewhere, every cell text as ``read_csv(dtype=str, keep_default_na=False)`` gives
        it (e.g. a plan table from partitioned Parquet, :mod:`vpp_sched.plan.read_plan`), checked as a CSV is."""
        table = cls.__new__(cls)
        table.path, table.label, table.id_col, table.problems = Path(label), label, id_col, problems
        table.invalid = {}
        table.raw = raw.copy()
        table.raw.columns = [str(c).strip() for c in table.raw.columns]
        table.raw = table.raw.apply(_stripped)
        table.ok = True
        return table

    def where(self, i: int) -> str:
        """``file row N (id_col=value)`` for positional row ``i``."""
        ident = ""
        if self.id_col and self.id_col in self.raw.columns:
            ident = f" ({self.id_col}={echo(self.raw[self.id_col].iat[i])})"
        return f"{self.label} row {i + 1}{ident}"

    def report(self, mask: np.ndarray, column: str, message) -> None:
        """Add one problem per row where ``mask``; ``message(i)`` says what is wrong.

        Messages past the cap of :class:`Problems` are counted, not built (100,000 bad rows
        must not cost 100,000 formatted lines).
        """
        key = (self.label, column)
        for i in np.flatnonzero(mask):
            if self.problems.full(key):
                self.problems.add("", key)          # counted only
                continue
            self.problems.add(f"{self.where(int(i))}: {column} {message(int(i))}", key)

    def require(self, columns: list[str]) -> bool:
        missing = [c for c in columns if c not in self.raw.columns]
        # Only names that look like column names are echoed: a header is still the file's content,
        # and a wrong file's first line (a password file, a key) is not ours to print.
        names = [c for c in self.raw.columns if _COLUMN_NAME.match(c)]
        found = ", ".join(names[:20]) or "none named like columns"
        others = len(self.raw.columns) - min(len(names), 20)
        found += f" and {others} other{'s' if others != 1 else ''}" if others and names else ""
        if len(missing) == len(columns) > 1:    # a wrong file, not a few wrong names: one line
            self.problems.add(f"{self.label}: has none of the columns {', '.join(columns)} (columns found: "
                              f"{found}); is it the right file?")
            return False
        for c in missing:
            self.problems.add(f"{self.label}: missing column {c} (columns found: {found})")
        return not missing

    def text(self, column: str, allow_empty: bool = False) -> pd.Series:
        values = self.raw[column]
        if not allow_empty:
            self.report((values == "").to_numpy(), column, lambda i: "is empty")
        return values

    def ids(self, column: str) -> pd.Series:
        """An id column: not empty, printable, no formula, not over-long (:func:`~vpp_sched.scenario.config.id_problem`)."""
        values = self.text(column)
        odd = (values.str.len().gt(64).to_numpy() | ~values.map(str.isprintable).to_numpy(dtype=bool)
               | values.str[:1].isin(list("=+-@")).to_numpy())
        reasons = {int(i): id_problem(values.iat[int(i)]) for i in np.flatnonzero(odd)}
        refused = np.zeros(len(values), dtype=bool)
        refused[[i for i, r in reasons.items() if r is not None]] = True
        self.report(refused, column, lambda i: f"{quoted(values.iat[i])} {reasons[i]}")
        self.invalid = {**getattr(self, "invalid", {}), column: refused | (values == "").to_numpy()}
        return values

    def ids_complete(self, column: str) -> bool:
        """Whether every row of id column ``column`` has a valid id, so other tables may be checked against them."""
        return not getattr(self, "invalid", {}).get(column, np.zeros(0, dtype=bool)).any()

    def number(self, column: str, minimum: float | None = None, strict: bool = False,
               maximum: float | None = None, default: float | None = None, unit: str | None = None) -> pd.Series:
        """A numeric column; empty, non-numeric, NaN or out-of-range cells are problems.

        With ``unit``, an out-of-range cell is reported with the whole range (``energy_kwh 1e+308 is
        outside 0..2000 kWh``); without it, with the bound it breaks.
        """
        if column not in self.raw.columns and default is not None:
            return pd.Series(default, index=self.raw.index, dtype=float)
        raw = self.raw[column]
        values = pd.to_numeric(raw, errors="coerce").astype(float)
        bad = ~np.isfinite(values.to_numpy())
        self.report(bad, column, lambda i: (f"{quoted(raw.iat[i])} is not a "
                                            f"{'finite ' if raw.iat[i].lower().lstrip('+-') in _INF else ''}number"
                                            if raw.iat[i] else "is empty"))
        v = values.to_numpy()
        low = ~bad & ((v <= minimum) if strict else (v < minimum)) if minimum is not None else np.zeros(len(v), bool)
        high = ~bad & (v > maximum) if maximum is not None else np.zeros(len(v), bool)
        if unit is not None:
            span = f"{_g(minimum) if minimum is not None else '-inf'}..{_g(maximum) if maximum is not None else 'inf'}"
            span += f" {unit}" if unit else ""
            span += f" ({_g(minimum)} excluded)" if strict and minimum is not None else ""
            self.report(low | high, column, lambda i: f"{_g(v[i])} is outside {span}")
            return values
        word = "greater than" if strict else "at least"
        self.report(low, column, lambda i: f"{echo(raw.iat[i])} must be {word} {minimum:g}")
        self.report(high, column, lambda i: f"{echo(raw.iat[i])} must be at most {maximum:g}")
        return values

    def time(self, column: str, tz: str) -> pd.Series:
        raw = self.raw[column]
        times, bad = parse_times(raw, tz)
        years = times.dt.year.to_numpy(dtype=float, na_value=np.nan)
        # A well-formed time beyond pandas' nanosecond range (pandas 2: year 2262 on) does not parse;
        # its year, read off the text, says what is wrong with it better than "not ISO 8601".
        if bad.any():     # only the texts that did not parse are read for their year
            text_years = np.full(len(raw), np.nan)
            text_years[bad] = pd.to_numeric(raw[bad].astype(str).str.extract(r"^\s*(\d{4})-\d\d-\d\d", expand=False),
                                            errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            years = np.where(bad, text_years, years)
        far = (years < EARLIEST_YEAR) | (years > LATEST_YEAR)
        bad = bad & ~far
        self.report(bad, column, lambda i: time_problem(raw.iat[i], tz))
        self.report(far, column, lambda i: f"{echo(raw.iat[i])} is outside the years {EARLIEST_YEAR}..{LATEST_YEAR}")
        return times.where(~far)

    def unique(self, column: str) -> None:
        values = self.raw[column]
        dup = values.duplicated(keep="first").to_numpy() & (values != "").to_numpy()
        self.report(dup, column, lambda i: f"{echo(values.iat[i])} is a duplicate "
                                           f"(first at row {int(np.flatnonzero((values == values.iat[i]).to_numpy())[0]) + 1})")

    def known(self, column: str, known: set[str], of_what: str) -> None:
        values = self.raw[column]
        bad = (~values.isin(known) & (values != "")).to_numpy()
        self.report(bad, column, lambda i: f"{echo(values.iat[i])} is not a known {of_what}")


_INF = {"inf", "infinity"}
#: Whitespace at the start or end of a cell of a column joined with NUL: the cells ``str.strip`` changes.
_EDGE_SPACE = re.compile(r"^\s|\s$|\s\x00|\x00\s")


#: ``str.isspace()`` of each byte (what ``\s`` matches among ASCII characters), for :func:`_has_edge_space`.
_ASCII_SPACE = np.array([chr(b).isspace() for b in range(128)] + [False] * 128)


def _has_edge_space(joined: str) -> bool:
    """Whether a cell of the ``\x00``-joined column starts or ends with whitespace: ``_EDGE_SPACE``'s
    search, on ASCII text as byte arrays (4-5x faster; a 1M-EV day's columns are ~150 MB of text)."""
    if not joined:
        return False
    if not joined.isascii():
        return _EDGE_SPACE.search(joined) is not None
    b = np.frombuffer(joined.encode("ascii"), dtype=np.uint8)
    space, sep = _ASCII_SPACE[b], b == 0
    return bool(space[0] or space[-1] or (space[:-1] & sep[1:]).any() or (sep[:-1] & space[1:]).any())


def _stripped(column: pd.Series) -> pd.Series:
    """``column.str.strip()``, skipped when no cell starts or ends with whitespace (one scan of
    the joined column instead of a Python call per cell: most columns need no stripping)."""
    try:
        joined = "\x00".join(column)
    except TypeError:             # a cell that is not text (read_csv with dtype=str gives none)
        return column.str.strip()
    return column.str.strip() if _has_edge_space(joined) else column
_COLUMN_NAME = re.compile(r"^[\w .()\[\]-]{1,40}$")


def _g(x: float) -> str:
    """A bound or value for a message: 2000, 0.95, 1e+308 (no 1e+03 for round thousands)."""
    return f"{x:.0f}" if float(x).is_integer() and abs(x) < 1e9 else f"{x:g}"


def read_transformers(path: Path, label: str, problems: Problems) -> pd.DataFrame | None:
    """``transformer_id, rated_kva, power_factor, max_loading_pu[, feeder_id]``; adds ``limit_kw``."""
    t = Table(path, label, "transformer_id", problems)
    if not t.ok or not t.require(["transformer_id", "rated_kva", "power_factor", "max_loading_pu"]):
        return None
    df = pd.DataFrame({
        "transformer_id": t.ids("transformer_id"),
        "rated_kva": t.number("rated_kva", minimum=0, strict=True, maximum=MAX_RATED_KVA, unit="kVA"),
        "power_factor": t.number("power_factor", minimum=0, strict=True, maximum=1, unit=""),
        "max_loading_pu": t.number("max_loading_pu", minimum=0, strict=True, maximum=5, unit="pu"),
        "feeder_id": t.raw["feeder_id"] if "feeder_id" in t.raw.columns else "",
        "grid": t.raw["grid"] if "grid" in t.raw.columns else "",     # an LV grid folder (scenario/grid.py)
        "mv_vm_pu": t.raw["mv_vm_pu"] if "mv_vm_pu" in t.raw.columns else "",   # checked there too
    })
    t.unique("transformer_id")
    if len(df) == 0:
        problems.add(f"{label}: has no rows; a scenario needs at least one transformer")
    df["limit_kw"] = df.rated_kva * df.power_factor * df.max_loading_pu
    df["rating_kw"] = df.rated_kva * df.power_factor
    df.attrs["source"] = t
    return df


def read_feeders(path: Path, label: str, problems: Problems) -> pd.DataFrame | None:
    """``feeder_id, capacity_kw``."""
    t = Table(path, label, "feeder_id", problems)
    if not t.ok or not t.require(["feeder_id", "capacity_kw"]):
        return None
    df = pd.DataFrame({"feeder_id": t.ids("feeder_id"),
                       "capacity_kw": t.number("capacity_kw", minimum=0, strict=True, maximum=MAX_POWER_KW,
                                               unit="kW")})
    t.unique("feeder_id")
    df.attrs["source"] = t
    return df


def read_evs(path: Path, label: str, tz: str, transformer_ids: set[str] | None,
             problems: Problems, transformers_label: str = "transformers.csv",
             charge_efficiency: float = 1.0) -> pd.DataFrame | None:
    """``ev_id, transformer_id, arrival, departure, energy_kwh, max_power_kw, min_power_kw``
    ``[, v2g, max_discharge_kw, battery_kwh, soc_arrival]``.

    ``min_power_kw`` may be omitted (0: the charger can modulate down to zero); the V2G columns
    are read only when ``v2g`` is there (:func:`_read_v2g`).
    """
    t = Table(path, label, "ev_id", problems)
    cols = ["ev_id", "transformer_id", "arrival", "departure", "energy_kwh", "max_power_kw"]
    if not t.ok or not t.require(cols):
        return None
    df = pd.DataFrame({
        "ev_id": t.ids("ev_id"),
        "transformer_id": t.text("transformer_id"),
        "arrival": t.time("arrival", tz),
        "departure": t.time("departure", tz),
        "energy_kwh": t.number("energy_kwh", minimum=0, maximum=MAX_EV_ENERGY_KWH, unit="kWh"),
        "max_power_kw": t.number("max_power_kw", minimum=0, maximum=MAX_EV_POWER_KW, unit="kW"),
        "min_power_kw": t.number("min_power_kw", minimum=0, maximum=MAX_EV_POWER_KW, default=0.0, unit="kW"),
    })
    t.unique("ev_id")
    for optional_text in ("bus_id", "phase"):   # the EV's bus and phase in its transformer's LV grid
        df[optional_text] = t.raw[optional_text] if optional_text in t.raw.columns else ""
    if transformer_ids is not None:
        t.known("transformer_id", transformer_ids, f"transformer_id in {transformers_label}")
    order = (df.departure <= df.arrival).fillna(False).to_numpy()
    t.report(order, "departure", lambda i: f"{df.departure.iat[i].isoformat()} is not after arrival "
                                           f"{df.arrival.iat[i].isoformat()}")
    # only between powers that are valid on their own (a negative max_power_kw is reported above)
    valid = df.max_power_kw.between(0, MAX_EV_POWER_KW) & df.min_power_kw.between(0, MAX_EV_POWER_KW)
    over = ((df.min_power_kw > df.max_power_kw) & valid).to_numpy()
    t.report(over, "min_power_kw", lambda i: f"{df.min_power_kw.iat[i]:g} exceeds max_power_kw "
                                             f"{df.max_power_kw.iat[i]:g}")
    if "v2g" in t.raw.columns:
        _read_v2g(t, df, charge_efficiency)
    return df


_TRUE, _FALSE = {"true", "1", "yes", "y"}, {"false", "0", "no", "n", ""}


def _read_v2g(t: Table, df: pd.DataFrame, charge_efficiency: float) -> None:
    """Optional V2G columns ``v2g, max_discharge_kw, battery_kwh, soc_arrival`` (read only with ``v2g``).

    ``max_discharge_kw`` defaults to ``max_power_kw``; ``battery_kwh`` and ``soc_arrival`` (0..1)
    are required where ``v2g`` is true, and the requested energy must fit in the battery.
    """
    flag = t.raw["v2g"].str.lower()
    t.report((~flag.isin(_TRUE | _FALSE)).to_numpy(), "v2g", lambda i: f"{quoted(t.raw['v2g'].iat[i])} is not true/false")
    v2g = flag.isin(_TRUE).to_numpy()
    df["v2g"] = v2g

    def optional(column: str, maximum: float, unit: str) -> pd.Series:
        raw = t.raw[column] if column in t.raw.columns else pd.Series("", index=t.raw.index)
        values = pd.to_numeric(raw, errors="coerce").astype(float)
        v = values.to_numpy()
        bad = v2g & ~np.isfinite(v) & (raw != "").to_numpy()
        t.report(bad, column, lambda i: f"{quoted(raw.iat[i])} is not a number")
        out_of_range = v2g & np.isfinite(v) & ((v < 0) | (v > maximum))
        t.report(out_of_range, column, lambda i: f"{echo(raw.iat[i])} must be at least 0 and at most {_g(maximum)}"
                 + (f" {unit}" if unit else ""))
        return values

    discharge = optional("max_discharge_kw", MAX_EV_POWER_KW, "kW")
    df["max_discharge_kw"] = np.where(v2g & discharge.isna().to_numpy(), df.max_power_kw, discharge.fillna(0.0))
    battery, soc = optional("battery_kwh", MAX_EV_ENERGY_KWH, "kWh"), optional("soc_arrival", 1.0, "")
    for column, values in (("battery_kwh", battery), ("soc_arrival", soc)):
        missing = v2g & (t.raw[column] == "").to_numpy() if column in t.raw.columns else v2g
        t.report(missing, column, lambda i: "is required where v2g is true")
    df["battery_kwh"], df["soc_arrival"] = battery.fillna(0.0), soc.fillna(0.0)
    room = df.battery_kwh * (1.0 - df.soc_arrival) / charge_efficiency
    checkable = (battery > 0).to_numpy() & soc.between(0.0, 1.0).to_numpy()   # else reported above
    too_much = v2g & checkable & (df.energy_kwh > room + 1e-9).to_numpy()
    t.report(too_much, "energy_kwh", lambda i: f"{df.energy_kwh.iat[i]:g} does not fit in the battery: "
             f"battery_kwh {df.battery_kwh.iat[i]:g} at soc_arrival {df.soc_arrival.iat[i]:g} takes at most "
             f"{room.iat[i]:.2f} kWh at the charger (charge efficiency {charge_efficiency:g})")


def read_slot_table(path: Path, label: str, tz: str, slots: pd.DatetimeIndex, key: str | None,
                    value: str, keys: list[str] | None, problems: Problems,
                    keys_label: str = "transformers.csv", minimum: float | None = None,
                    maximum: float | None = None, unit: str | None = None) -> pd.DataFrame | None:
    """A per-slot table ``slot_start[, key], value`` -> wide frame [slots x keys] (one column when no key).

    Rows outside the horizon are ignored; every slot of the horizon must be there for every key.
    ``keys`` ``None`` with a ``key`` means the table that lists the keys could not be read: the
    rows are then checked on their own (each key found needs every slot), not against it.
    """
    t = Table(path, label, key, problems)
    need = ["slot_start", value] + ([key] if key else [])
    if not t.ok or not t.require(need):
        return None
    times = t.time("slot_start", tz)
    values = t.number(value, minimum=minimum, maximum=maximum, unit=unit)
    ids = t.text(key) if key else pd.Series("value", index=t.raw.index)
    if keys is not None and key:
        t.known(key, set(keys), f"{key} in {keys_label}")
    long = pd.DataFrame({"slot_start": times, "key": ids, "v": values})
    dup = long.duplicated(["slot_start", "key"], keep="first").to_numpy() & long.slot_start.notna().to_numpy()
    t.report(dup, "slot_start", lambda i: f"{times.iat[i].isoformat()} appears twice"
                                          + (f" for {key}={echo(ids.iat[i])}" if key else ""))
    long = long[long.slot_start.isin(slots) & ~dup]
    wide = long.pivot(index="slot_start", columns="key", values="v").reindex(slots)
    expected = ["value"] if not key else keys if keys is not None else sorted(set(ids) - {""})
    # [slots x keys] which rows are there. A row whose value is bad was reported already; only
    # rows that are absent are missing.
    column = {k: j for j, k in enumerate(dict.fromkeys(expected))}
    s_at = slots.get_indexer(long.slot_start)
    k_at = pd.Index(list(column), dtype=object).get_indexer(long.key.astype(object))
    present = np.zeros((len(slots), len(column)), dtype=bool)
    ok = (s_at >= 0) & (k_at >= 0)
    present[s_at[ok], k_at[ok]] = True
    for k in expected:
        missing = slots[~present[:, column[k]]]
        if len(missing):
            first = ", ".join(s.isoformat() for s in missing[:3])
            more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
            who = f" for {key}={echo(k)}" if key else ""
            problems.add(f"{label}: slot_start missing{who}: {len(missing)} slot(s) of the horizon "
                         f"have no row ({first}{more})", (label, "slot_start missing"))
    return wide.reindex(columns=expected)



def read_load_history(path: Path, label: str, tz: str, problems: Problems) -> pd.DataFrame | None:
    """``slot_start, scope_id, load_kw[, dr_event]``: metered load per transformer (or ``all``) for DR
    baselines. ``dr_event`` (true/false, optional) marks rows of days that had a DR event themselves."""
    t = Table(path, label, "scope_id", problems)
    if not t.ok or not t.require(["slot_start", "scope_id", "load_kw"]):
        return None
    df = pd.DataFrame({"slot_start": t.time("slot_start", tz), "scope_id": t.ids("scope_id"),
                       "load_kw": t.number("load_kw", minimum=-MAX_POWER_KW, maximum=MAX_POWER_KW, unit="kW")})
    if "dr_event" in t.raw.columns:
        flag = t.raw["dr_event"].str.lower()
        t.report((~flag.isin(_TRUE | _FALSE)).to_numpy(), "dr_event",
                 lambda i: f"{quoted(t.raw['dr_event'].iat[i])} is not true/false")
        df["dr_event"] = flag.isin(_TRUE).to_numpy()
    dup = df.duplicated(["slot_start", "scope_id"], keep="first").to_numpy() & df.slot_start.notna().to_numpy()
    t.report(dup, "slot_start", lambda i: f"{df.slot_start.iat[i].isoformat()} appears twice for "
                                          f"scope_id={echo(df.scope_id.iat[i])}")
    return df
