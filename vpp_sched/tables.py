"""Read and check the scenario's CSV tables.

Outside data enters here, once. Every problem becomes one line naming the file, the row (1-based
data row, the header not counted) with its id, and the field, e.g.
``evs.csv row 17 (ev_id=E0017): departure 2026-11-27T07:00:00+08:00 is not after arrival ...``.
All problems of a table are collected before anything is raised, so one run lists them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from vpp_sched.timeutil import parse_times

MAX_LINES_PER_FIELD = 20  # a broken export should not print 100,000 lines


@dataclass
class Problems:
    """Collects one message per problem; caps repeats of the same file and field."""

    lines: list[str] = field(default_factory=list)
    _counts: dict[tuple[str, str], int] = field(default_factory=dict)

    def add(self, message: str, key: tuple[str, str] | None = None) -> None:
        if key is not None:
            n = self._counts.get(key, 0) + 1
            self._counts[key] = n
            if n > MAX_LINES_PER_FIELD:
                return
        self.lines.append(message)

    def close(self) -> list[str]:
        extra = [f"{file}: {n - MAX_LINES_PER_FIELD} more problems with field {col} not listed"
                 for (file, col), n in self._counts.items() if n > MAX_LINES_PER_FIELD]
        return self.lines + extra

    def __bool__(self) -> bool:
        return bool(self.lines)


class Table:
    """One CSV file being checked: raw text cells, typed columns, and where each row came from."""

    def __init__(self, path: Path, label: str, id_col: str | None, problems: Problems):
        self.path, self.label, self.id_col, self.problems = path, label, id_col, problems
        self.ok = False
        try:
            self.raw = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True,
                                   comment=None)
        except FileNotFoundError:
            problems.add(f"{label}: file not found at {path}")
            return
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            problems.add(f"{label}: not a readable CSV table ({str(exc).strip()})")
            return
        self.raw.columns = [str(c).strip() for c in self.raw.columns]
        self.raw = self.raw.apply(lambda c: c.str.strip())
        self.ok = True

    def where(self, i: int) -> str:
        """``file row N (id_col=value)`` for positional row ``i``."""
        ident = ""
        if self.id_col and self.id_col in self.raw.columns:
            ident = f" ({self.id_col}={self.raw[self.id_col].iat[i]})"
        return f"{self.label} row {i + 1}{ident}"

    def report(self, mask: np.ndarray, column: str, message) -> None:
        """Add one problem per row where ``mask``; ``message(i)`` says what is wrong."""
        for i in np.flatnonzero(mask):
            self.problems.add(f"{self.where(int(i))}: {column} {message(int(i))}", (self.label, column))

    def require(self, columns: list[str]) -> bool:
        missing = [c for c in columns if c not in self.raw.columns]
        for c in missing:
            self.problems.add(f"{self.label}: missing column {c} (columns found: {', '.join(self.raw.columns)})")
        return not missing

    def text(self, column: str, allow_empty: bool = False) -> pd.Series:
        values = self.raw[column]
        if not allow_empty:
            self.report((values == "").to_numpy(), column, lambda i: "is empty")
        return values

    def number(self, column: str, minimum: float | None = None, strict: bool = False,
               maximum: float | None = None, default: float | None = None) -> pd.Series:
        """A numeric column; empty, non-numeric, NaN or out-of-range cells are problems."""
        if column not in self.raw.columns and default is not None:
            return pd.Series(default, index=self.raw.index, dtype=float)
        raw = self.raw[column]
        values = pd.to_numeric(raw, errors="coerce").astype(float)
        bad = ~np.isfinite(values.to_numpy())
        self.report(bad, column, lambda i: f"{raw.iat[i]!r} is not a number" if raw.iat[i] else "is empty")
        v = values.to_numpy()
        if minimum is not None:
            low = ~bad & ((v <= minimum) if strict else (v < minimum))
            word = "greater than" if strict else "at least"
            self.report(low, column, lambda i: f"{raw.iat[i]} must be {word} {minimum:g}")
        if maximum is not None:
            high = ~bad & (v > maximum)
            self.report(high, column, lambda i: f"{raw.iat[i]} must be at most {maximum:g}")
        return values

    def time(self, column: str, tz: str) -> pd.Series:
        times, bad = parse_times(self.raw[column], tz)
        self.report(bad, column, lambda i: f"{self.raw[column].iat[i]!r} is not an ISO 8601 time "
                                           "(e.g. 2026-11-27T19:15:00+08:00)")
        return times

    def unique(self, column: str) -> None:
        values = self.raw[column]
        dup = values.duplicated(keep="first").to_numpy() & (values != "").to_numpy()
        self.report(dup, column, lambda i: f"{values.iat[i]} is a duplicate "
                                           f"(first at row {int(np.flatnonzero((values == values.iat[i]).to_numpy())[0]) + 1})")

    def known(self, column: str, known: set[str], of_what: str) -> None:
        values = self.raw[column]
        bad = (~values.isin(known) & (values != "")).to_numpy()
        self.report(bad, column, lambda i: f"{values.iat[i]} is not a known {of_what}")


def read_transformers(path: Path, label: str, problems: Problems) -> pd.DataFrame | None:
    """``transformer_id, rated_kva, power_factor, max_loading_pu[, feeder_id]``; adds ``limit_kw``."""
    t = Table(path, label, "transformer_id", problems)
    if not t.ok or not t.require(["transformer_id", "rated_kva", "power_factor", "max_loading_pu"]):
        return None
    df = pd.DataFrame({
        "transformer_id": t.text("transformer_id"),
        "rated_kva": t.number("rated_kva", minimum=0, strict=True),
        "power_factor": t.number("power_factor", minimum=0, strict=True, maximum=1),
        "max_loading_pu": t.number("max_loading_pu", minimum=0, strict=True, maximum=5),
        "feeder_id": t.raw["feeder_id"] if "feeder_id" in t.raw.columns else "",
    })
    t.unique("transformer_id")
    df["limit_kw"] = df.rated_kva * df.power_factor * df.max_loading_pu
    df["rating_kw"] = df.rated_kva * df.power_factor
    df.attrs["source"] = t
    return df


def read_feeders(path: Path, label: str, problems: Problems) -> pd.DataFrame | None:
    """``feeder_id, capacity_kw``."""
    t = Table(path, label, "feeder_id", problems)
    if not t.ok or not t.require(["feeder_id", "capacity_kw"]):
        return None
    df = pd.DataFrame({"feeder_id": t.text("feeder_id"),
                       "capacity_kw": t.number("capacity_kw", minimum=0, strict=True)})
    t.unique("feeder_id")
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
        "ev_id": t.text("ev_id"),
        "transformer_id": t.text("transformer_id"),
        "arrival": t.time("arrival", tz),
        "departure": t.time("departure", tz),
        "energy_kwh": t.number("energy_kwh", minimum=0),
        "max_power_kw": t.number("max_power_kw", minimum=0),
        "min_power_kw": t.number("min_power_kw", minimum=0, default=0.0),
    })
    t.unique("ev_id")
    if transformer_ids is not None:
        t.known("transformer_id", transformer_ids, f"transformer_id in {transformers_label}")
    order = (df.departure <= df.arrival).fillna(False).to_numpy()
    t.report(order, "departure", lambda i: f"{df.departure.iat[i].isoformat()} is not after arrival "
                                           f"{df.arrival.iat[i].isoformat()}")
    # only between powers that are valid on their own (a negative max_power_kw is reported above)
    over = ((df.min_power_kw > df.max_power_kw) & (df.max_power_kw >= 0) & (df.min_power_kw >= 0)).to_numpy()
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
    t.report((~flag.isin(_TRUE | _FALSE)).to_numpy(), "v2g", lambda i: f"{t.raw['v2g'].iat[i]!r} is not true/false")
    v2g = flag.isin(_TRUE).to_numpy()
    df["v2g"] = v2g

    def optional(column: str, maximum: float | None = None) -> pd.Series:
        raw = t.raw[column] if column in t.raw.columns else pd.Series("", index=t.raw.index)
        values = pd.to_numeric(raw, errors="coerce").astype(float)
        v = values.to_numpy()
        bad = v2g & ~np.isfinite(v) & (raw != "").to_numpy()
        t.report(bad, column, lambda i: f"{raw.iat[i]!r} is not a number")
        out_of_range = v2g & np.isfinite(v) & ((v < 0) | ((v > maximum) if maximum is not None else False))
        t.report(out_of_range, column, lambda i: f"{raw.iat[i]} must be at least 0"
                 + (f" and at most {maximum:g}" if maximum is not None else ""))
        return values

    discharge = optional("max_discharge_kw")
    df["max_discharge_kw"] = np.where(v2g & discharge.isna().to_numpy(), df.max_power_kw, discharge.fillna(0.0))
    battery, soc = optional("battery_kwh"), optional("soc_arrival", maximum=1.0)
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
                    keys_label: str = "transformers.csv", minimum: float | None = None) -> pd.DataFrame | None:
    """A per-slot table ``slot_start[, key], value`` -> wide frame [slots x keys] (one column when no key).

    Rows outside the horizon are ignored; every slot of the horizon must be there for every key.
    """
    t = Table(path, label, key, problems)
    need = ["slot_start", value] + ([key] if key else [])
    if not t.ok or not t.require(need):
        return None
    times = t.time("slot_start", tz)
    values = t.number(value, minimum=minimum)
    ids = t.text(key) if key else pd.Series("value", index=t.raw.index)
    if keys is not None and key:
        t.known(key, set(keys), f"{key} in {keys_label}")
    long = pd.DataFrame({"slot_start": times, "key": ids, "v": values})
    dup = long.duplicated(["slot_start", "key"], keep="first").to_numpy() & long.slot_start.notna().to_numpy()
    t.report(dup, "slot_start", lambda i: f"{times.iat[i].isoformat()} appears twice"
                                          + (f" for {key}={ids.iat[i]}" if key else ""))
    long = long[long.slot_start.isin(slots) & ~dup]
    wide = long.pivot(index="slot_start", columns="key", values="v").reindex(slots)
    expected = keys if (keys is not None and key) else ["value"]
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
            who = f" for {key}={k}" if key else ""
            problems.add(f"{label}: slot_start missing{who}: {len(missing)} slot(s) of the horizon "
                         f"have no row ({first}{more})")
    return wide.reindex(columns=expected)



def read_load_history(path: Path, label: str, tz: str, problems: Problems) -> pd.DataFrame | None:
    """``slot_start, scope_id, load_kw[, dr_event]``: metered load per transformer (or ``all``) for DR
    baselines. ``dr_event`` (true/false, optional) marks rows of days that had a DR event themselves."""
    t = Table(path, label, "scope_id", problems)
    if not t.ok or not t.require(["slot_start", "scope_id", "load_kw"]):
        return None
    df = pd.DataFrame({"slot_start": t.time("slot_start", tz), "scope_id": t.text("scope_id"),
                       "load_kw": t.number("load_kw")})
    if "dr_event" in t.raw.columns:
        flag = t.raw["dr_event"].str.lower()
        t.report((~flag.isin(_TRUE | _FALSE)).to_numpy(), "dr_event",
                 lambda i: f"{t.raw['dr_event'].iat[i]!r} is not true/false")
        df["dr_event"] = flag.isin(_TRUE).to_numpy()
    dup = df.duplicated(["slot_start", "scope_id"], keep="first").to_numpy() & df.slot_start.notna().to_numpy()
    t.report(dup, "slot_start", lambda i: f"{df.slot_start.iat[i].isoformat()} appears twice for scope_id={df.scope_id.iat[i]}")
    return df
