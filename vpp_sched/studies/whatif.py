"""Feeder-capacity what-if studies: the cross product of input variations, each a full plan.

``vpp-sched whatif SCENARIO --vary KEY=V1,V2 [--vary ...]`` plans every combination of the
varied inputs under each policy and tabulates what it does to the transformers:

* ``uncontrolled``: every EV at full power from arrival (the reference of every plan, no solve);
* ``orderly``: the day-ahead plan of :func:`~vpp_sched.plan.planner.plan_day`.

Keys (``--vary``)
-----------------
``transformers.<ID>.<column>``
    a ``transformers.csv`` column of one transformer: ``rated_kva``, ``power_factor``,
    ``max_loading_pu`` (numbers) or ``feeder_id`` (a feeder of ``feeders.csv``, empty for none).
``evs.scale``
    the EV population as a multiple of today's, per transformer (each keeps its own mix), see
    :func:`resample_evs`.
``stations.<ID>.battery.<field>`` / ``stations.<ID>.pv.<field>``
    a numeric field of the station's battery or PV (``capacity_kwh``, ``max_charge_kw``,
    ``capacity_kwp``, ``tilt_deg``, ...). ``capacity_kwh=0`` removes the battery and
    ``capacity_kwp=0`` the PV; other values resize an existing one (its power ratings stay).
``tariff.scale``
    multiplies every energy price.

A case is applied to the loaded :class:`~vpp_sched.scenario.load.Scenario` in memory
(:func:`apply_case`); no scenario files are written. Syntax errors and out-of-range values
raise :class:`VaryError` (a usage error); ids that are not in the scenario raise
:class:`~vpp_sched.errors.InputError`.

The cases run through an executor of :mod:`vpp_sched.solve.parallel` (in-process, threads, a local
Dask cluster or a remote scheduler); a case that fails becomes a row with status ``failed`` and
its error message.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import math
import time
import traceback
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pydantic

from vpp_sched.scenario.config import BatteryConfig, PVConfig, SolverOptions
from vpp_sched.errors import InputError
from vpp_sched.solve.least_laxity import deliverable_kwh
from vpp_sched.solve.parallel import SerialExecutor, cpu_count, get_executor
from vpp_sched.problem.arrays import Problem
from vpp_sched.plan.results import TOL_KW, grid_kpis, uncontrolled_reference
from vpp_sched.scenario.load import Scenario

POLICIES = ("uncontrolled", "orderly")

#: Transformer columns a case may set, with their allowed range (as ``tables.read_transformers``).
TRANSFORMER_NUMBERS = {"rated_kva": (0.0, None), "power_factor": (0.0, 1.0), "max_loading_pu": (0.0, 5.0)}
TRANSFORMER_TEXT = ("feeder_id",)
DERIVED_COLUMNS = ("limit_kw", "rating_kw")

#: Largest EV multiple accepted by ``evs.scale`` (the hosting search stops at 64 too).
MAX_EV_SCALE = 64.0
#: Arrival jitter of the extra EVs drawn for multiples above 1 [min], uniform in +-JITTER_MIN.
JITTER_MIN = 15
#: A slot counts as overloaded when its net load exceeds the limit by more than this [kW].
OVERLOAD_TOL_KW = 1e-3


class VaryError(ValueError):
    """A ``--vary`` argument that cannot be understood (unknown key, malformed or out-of-range value)."""


# ------------------------------------------------------------------------------------------
# --vary: parse and check
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Vary:
    """One varied input: ``key`` (e.g. ``transformers.T01.rated_kva``) and its values in order."""

    key: str
    values: tuple

    @property
    def kind(self) -> str:
        return self.key.split(".", 1)[0]


def _numeric_fields(model: type[pydantic.BaseModel]) -> list[str]:
    out = []
    for name, info in model.model_fields.items():
        text = str(info.annotation)
        if info.annotation in (float, int) or text in ("float | None", "int | None", "typing.Optional[float]"):
            out.append(name)
    return out


BATTERY_FIELDS = _numeric_fields(BatteryConfig)
PV_FIELDS = _numeric_fields(PVConfig)

KEY_HELP = ("transformers.<ID>.<rated_kva|power_factor|max_loading_pu|feeder_id>, evs.scale, "
            "stations.<ID>.battery.<field>, stations.<ID>.pv.<field>, tariff.scale")


def parse_vary(spec: str) -> Vary:
    """``KEY=V1,V2,...`` -> :class:`Vary` (syntax and value ranges only; ids are checked later).

    Raises
    ------
    VaryError
        Unknown key, no ``=``, an empty or non-numeric value, a value out of range, a repeated value.
    """
    if "=" not in spec:
        raise VaryError(f"--vary {spec!r}: expected KEY=V1,V2,... (keys: {KEY_HELP})")
    key, _, text = spec.partition("=")
    key = key.strip()
    raw = [v.strip() for v in text.split(",")]
    parts = key.split(".")
    if parts[0] == "transformers" and len(parts) >= 3 and all(parts[1:-1]):
        column = parts[-1]
        if column in TRANSFORMER_TEXT:
            values = tuple(raw)
        elif column in TRANSFORMER_NUMBERS:
            low, high = TRANSFORMER_NUMBERS[column]
            values = tuple(_number(key, v, low=low, high=high, strict_low=True) for v in raw)
        elif column in DERIVED_COLUMNS:
            raise VaryError(f"--vary {key}: {column} is derived (rated_kva x power_factor [x max_loading_pu]); "
                            "vary rated_kva, power_factor or max_loading_pu")
        else:
            raise VaryError(f"--vary {key}: unknown transformer column {column!r}; use one of "
                            f"{', '.join([*TRANSFORMER_NUMBERS, *TRANSFORMER_TEXT])}")
    elif key == "evs.scale":
        values = tuple(_number(key, v, low=0.0, high=MAX_EV_SCALE) for v in raw)
    elif key == "tariff.scale":
        values = tuple(_number(key, v, low=0.0) for v in raw)
    elif parts[0] == "stations" and len(parts) >= 4 and parts[-2] in ("battery", "pv") and all(parts[1:-2]):
        device, name = parts[-2], parts[-1]
        allowed = BATTERY_FIELDS if device == "battery" else PV_FIELDS
        if name not in allowed:
            raise VaryError(f"--vary {key}: unknown {device} field {name!r}; numeric fields: {', '.join(allowed)}")
        values = tuple(_number(key, v, low=0.0) for v in raw)
    else:
        raise VaryError(f"--vary {key}: unknown key; use one of {KEY_HELP}")
    if len(set(values)) != len(values):
        raise VaryError(f"--vary {key}: a value is repeated ({text})")
    return Vary(key, values)


def _number(key: str, text: str, low: float | None = None, high: float | None = None,
            strict_low: bool = False) -> float:
    try:
        value = float(text)
    except ValueError:
        raise VaryError(f"--vary {key}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise VaryError(f"--vary {key}: {text!r} is not a finite number")
    if low is not None and (value < low or (strict_low and value == low)):
        raise VaryError(f"--vary {key}: {text} must be {'greater than' if strict_low else 'at least'} {low:g}")
    if high is not None and value > high:
        raise VaryError(f"--vary {key}: {text} must be at most {high:g}")
    return value


def parse_varies(specs: Sequence[str]) -> list[Vary]:
    """Parse every ``--vary``; a key given twice is a :class:`VaryError`."""
    varies = [parse_vary(s) for s in specs]
    keys = [v.key for v in varies]
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise VaryError(f"--vary {dup[0]} is given more than once; list all its values in one --vary")
    return varies


def parse_policies(text: str | Sequence[str]) -> list[str]:
    """``"uncontrolled,orderly"`` -> list; an unknown policy is a :class:`VaryError`."""
    items = text.split(",") if isinstance(text, str) else list(text)
    out = [p.strip() for p in items if p.strip()]
    bad = [p for p in out if p not in POLICIES]
    if bad or not out:
        raise VaryError(f"--policy: {', '.join(bad) or '(empty)'} is not a policy; use "
                        f"{' and/or '.join(POLICIES)}, comma-separated")
    return list(dict.fromkeys(out))


def check_varies(scenario: Scenario, varies: Sequence[Vary]) -> None:
    """Check ids and values against the scenario by applying every single value once.

    Raises
    ------
    InputError
        One line per unknown transformer/station/feeder id or value the scenario cannot take
        (e.g. resizing a battery the station does not have).
    """
    problems: list[str] = []
    for v in varies:
        for value in v.values:
            try:
                apply_case(scenario, {v.key: value})
            except InputError as exc:
                problems += [p for p in exc.problems if p not in problems]
    if problems:
        raise InputError(problems)


def cross_product(varies: Sequence[Vary]) -> list[dict]:
    """Every combination of the values, the first ``--vary`` varying slowest; ``[{}]`` without any."""
    keys = [v.key for v in varies]
    return [dict(zip(keys, combo)) for combo in itertools.product(*(v.values for v in varies))]


# ------------------------------------------------------------------------------------------
# applying a case to a scenario
# ------------------------------------------------------------------------------------------
def apply_case(scenario: Scenario, case: dict, seed: int = 0) -> Scenario:
    """The scenario with the case's values set (a new object; ``scenario`` is unchanged).

    ``evs.scale`` is applied last, so it resamples the EVs of the case's transformers.
    """
    sc = scenario
    for key, value in case.items():
        if key != "evs.scale":
            sc = _apply_one(sc, key, value)
    if "evs.scale" in case:
        sc = scale_evs(sc, case["evs.scale"], seed=seed)
    return sc


def _apply_one(sc: Scenario, key: str, value) -> Scenario:
    parts = key.split(".")
    if parts[0] == "transformers":
        return _set_transformer(sc, ".".join(parts[1:-1]), parts[-1], value)
    if key == "tariff.scale":
        return dataclasses.replace(sc, price_cny_per_kwh=sc.price_cny_per_kwh * float(value))
    if parts[0] == "stations":
        return _set_station(sc, ".".join(parts[1:-2]), parts[-2], parts[-1], float(value))
    raise VaryError(f"--vary {key}: unknown key; use one of {KEY_HELP}")


def _set_transformer(sc: Scenario, tid: str, column: str, value) -> Scenario:
    trafos = sc.transformers.copy()
    trafos.attrs = {}
    rows = trafos.transformer_id == tid
    if not rows.any():
        raise InputError([f"--vary transformers.{tid}.{column}: transformer {tid} is not in "
                          f"{sc.config.transformers} (known: {_some(trafos.transformer_id)})"])
    if column == "feeder_id":
        known = set(sc.feeders.feeder_id)
        if value and value not in known:
            raise InputError([f"--vary transformers.{tid}.feeder_id: {value} is not a feeder of "
                              f"{sc.config.feeders or 'the scenario (it has no feeders)'}"])
        trafos.loc[rows, "feeder_id"] = value
    else:
        trafos.loc[rows, column] = float(value)
    trafos["rating_kw"] = trafos.rated_kva * trafos.power_factor
    trafos["limit_kw"] = trafos.rating_kw * trafos.max_loading_pu
    return dataclasses.replace(sc, transformers=trafos)


def _set_station(sc: Scenario, sid: str, device: str, name: str, value: float) -> Scenario:
    where = f"--vary stations.{sid}.{device}.{name}"
    stations = list(sc.config.stations)
    idx = [i for i, st in enumerate(stations) if st.station_id == sid]
    if not idx:
        known = ", ".join(st.station_id for st in stations) or "none"
        raise InputError([f"{where}: station {sid} is not in scenario.yaml (stations: {known})"])
    st = stations[idx[0]]
    current = getattr(st, device)
    removes = value == 0 and name == ("capacity_kwh" if device == "battery" else "capacity_kwp")
    if removes:
        new = None
    elif current is None:
        raise InputError([f"{where}: station {sid} has no {device} in scenario.yaml; only an existing "
                          f"{device} can be changed (capacity 0 removes it)"])
    else:
        try:
            new = type(current).model_validate({**current.model_dump(), name: value})
        except pydantic.ValidationError as exc:
            msgs = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
            raise InputError([f"{where}={value:g}: {msgs}"]) from None
    stations[idx[0]] = st.model_copy(update={device: new})
    config = sc.config.model_copy(update={"stations": stations})
    return dataclasses.replace(sc, config=config)


def _some(ids) -> str:
    ids = list(ids)
    return ", ".join(map(str, ids[:8])) + (f", ... ({len(ids)} in all)" if len(ids) > 8 else "")


# ------------------------------------------------------------------------------------------
# EV population resampling
# ------------------------------------------------------------------------------------------
def ev_count(multiple: float, n: int) -> int:
    """EVs of a population of ``n`` at ``multiple``: ``multiple x n`` rounded, halves down.

    Halves round down so that a hosting threshold reported as ``(c + 0.5) / n`` still gives ``c``.
    """
    return max(int(math.ceil(multiple * n - 0.5 - 1e-9)), 0)


def _rng(seed: int, transformer_id: str) -> np.random.Generator:
    """A generator per (seed, transformer): stable across runs and platforms (crc32, not hash())."""
    return np.random.default_rng([int(seed), zlib.crc32(str(transformer_id).encode("utf-8"))])


def resample_evs(evs: pd.DataFrame, multiple: float, seed: int = 0,
                 transformer_ids: Sequence[str] | None = None, slots: pd.DatetimeIndex | None = None,
                 dt_h: float | None = None) -> pd.DataFrame:
    """The EV table at ``multiple`` times today's population, per transformer, seeded.

    Per transformer with ``n`` EVs, the new population has ``ev_count(multiple, n)`` EVs:

    * below ``n``: the first of a seeded random order of its EVs (a subset);
    * above ``n``: all of them, plus copies drawn round by round (each round a seeded random
      order of all ``n``) until the count is reached: copy ``k`` of ``E0001`` is ``E0001~k``,
      with the same energy, chargers and departure and the arrival moved by a seeded
      ``-15..+15`` min; a later arrival that would leave no stay, or (given the horizon's
      ``slots`` and ``dt_h``) fewer whole slots than the EV needs, moves earlier instead.

    The populations are nested: a larger multiple keeps every EV of a smaller one, so hosting
    is monotone in the multiple. Transformers outside ``transformer_ids`` (default: all) keep
    their EVs. The result is the same whatever other transformers the table holds.
    """
    if multiple == 1 or len(evs) == 0:
        return evs
    wanted = None if transformer_ids is None else set(transformer_ids)
    keep = np.ones(len(evs), dtype=bool)
    src, copy_no, jitter = [], [], []             # the extra EVs: source row, copy number, jitter [min]
    for tid, pos in evs.groupby("transformer_id", sort=False).indices.items():
        if wanted is not None and tid not in wanted:
            continue
        n = len(pos)
        target = ev_count(multiple, n)
        rng = _rng(seed, tid)
        order = rng.permutation(n)
        if target <= n:
            keep[pos[order[target:]]] = False
            continue
        need, copy = target - n, 1
        while need > 0:
            copy += 1
            perm = rng.permutation(n)                  # drawn whatever the count, so populations nest
            jit = rng.integers(-JITTER_MIN, JITTER_MIN + 1, size=n)
            take = perm[:need]
            src.append(pos[take])
            copy_no.append(np.full(len(take), copy))
            jitter.append(jit[take])
            need -= len(take)
    out = evs[keep]
    if src:
        out = pd.concat([out, _copies(evs, np.concatenate(src), np.concatenate(copy_no),
                                      np.concatenate(jitter), slots, dt_h)], ignore_index=True)
    out = out.reset_index(drop=True)
    if out.ev_id.duplicated().any():
        dup = out.ev_id[out.ev_id.duplicated()].iat[0]
        raise InputError([f"evs.scale: the copy id {dup} is already an ev_id of the scenario"])
    return out


def _copies(evs: pd.DataFrame, src: np.ndarray, copy: np.ndarray, jitter_min: np.ndarray,
            slots: pd.DatetimeIndex | None, dt_h: float | None) -> pd.DataFrame:
    """Rows ``src`` of ``evs`` as copies ``copy`` with their arrival moved by ``jitter_min`` (see above)."""
    out = evs.iloc[src].reset_index(drop=True)
    arr = out.arrival.dt.as_unit("s").astype("int64").to_numpy()
    dep = out.departure.dt.as_unit("s").astype("int64").to_numpy()
    later = arr + jitter_min * 60
    earlier = arr - np.abs(jitter_min) * 60
    bad = later >= dep
    if slots is not None and dt_h is not None:
        # A copy must be able to get what its original can: never fewer whole slots than it needs.
        start = slots.as_unit("s").asi8
        end = start + int(round(dt_h * 3600))
        pmax_kwh = out.max_power_kw.to_numpy(float) * dt_h

        def reach(a):
            whole = np.searchsorted(end, dep, side="right") - np.searchsorted(start, a, side="left")
            return np.maximum(whole, 0) * pmax_kwh

        bad |= reach(later) < np.minimum(out.energy_kwh.to_numpy(float), reach(arr)) - 1e-9
    moved = np.where(bad, earlier, later)
    out["arrival"] = pd.to_datetime(moved, unit="s", utc=True).tz_convert(evs.arrival.dt.tz).as_unit("s")
    out["ev_id"] = out.ev_id.astype(str) + "~" + pd.Series(copy).astype(str)
    return out


def scale_evs(scenario: Scenario, multiple: float, transformer_ids: Sequence[str] | None = None,
              seed: int = 0) -> Scenario:
    """The scenario with its EVs resampled to ``multiple`` (see :func:`resample_evs`)."""
    return dataclasses.replace(scenario, evs=resample_evs(scenario.evs, multiple, seed, transformer_ids,
                                                         scenario.slots, scenario.dt_h))


# ------------------------------------------------------------------------------------------
# evaluating a policy
# ------------------------------------------------------------------------------------------
@dataclass
class Outcome:
    """What one policy does to one scenario: transformer net loads and EV deliveries."""

    policy: str
    problem: Problem
    net_load_kw: np.ndarray          # [N, T]
    pv_used_kw: np.ndarray           # [N, T] PV fed in after curtailment
    delivered_kwh: np.ndarray        # [E]
    status: str
    valid: bool | None = None
    mip_gap: float = float("nan")
    wall_seconds: float = 0.0
    run: object | None = None        # the PlanRun of ``orderly``

    @property
    def unmet_kwh(self) -> np.ndarray:
        short = np.maximum(self.problem.ev_energy_kwh - self.delivered_kwh, 0.0)
        return np.where(short < 1e-3, 0.0, short)

    @property
    def unmet_by_grid_kwh(self) -> np.ndarray:
        """[E] energy an EV could physically get in its stay but does not (the grid's doing) [kWh]."""
        short = np.maximum(deliverable_kwh(self.problem) - self.delivered_kwh, 0.0)
        return np.where(short < 1e-3, 0.0, short)

    @property
    def overload_kw(self) -> np.ndarray:
        """[N, T] net load above the limit (or below minus the limit) [kW]."""
        limit = self.problem.limit_kw[:, None]
        over = np.maximum(self.net_load_kw - limit, 0.0) + np.maximum(-limit - self.net_load_kw, 0.0)
        return np.where(over > OVERLOAD_TOL_KW, over, 0.0)


def uncontrolled_outcome(problem: Problem) -> Outcome:
    t0 = time.perf_counter()
    ev, net, _ = uncontrolled_reference(problem)
    return Outcome("uncontrolled", problem, net, problem.pv_at_transformer_kw(), ev.sum(axis=1) * problem.dt_h,
                   status="reference", wall_seconds=time.perf_counter() - t0)


def orderly_outcome(scenario: Scenario, method: str = "lean", options: SolverOptions | None = None) -> Outcome:
    """Plan the day (:func:`~vpp_sched.plan.planner.plan_day`); raises ``NoPlanError`` without a plan."""
    from vpp_sched.plan.planner import plan_day

    t0 = time.perf_counter()
    run = plan_day(scenario, method=method, options=options)
    p, load = run.problem, run.plan.transformer_load
    shape = (p.n_transformers, p.n_slots)
    return Outcome("orderly", p, load.net_load_kw.to_numpy(float).reshape(shape),
                   load.pv_kw.to_numpy(float).reshape(shape), run.plan.evs.delivered_kwh.to_numpy(float),
                   status=str(run.plan.kpis["status"]), valid=bool(run.plan.kpis.get("valid")),
                   mip_gap=float(run.plan.kpis.get("mip_gap", float("nan"))),
                   wall_seconds=time.perf_counter() - t0, run=run)


def outcome_row(o: Outcome) -> tuple[dict, list[dict]]:
    """The case-table KPIs of an outcome and its per-transformer rows."""
    p = o.problem
    net, over = o.net_load_kw, o.overload_kw
    unmet, by_grid = o.unmet_kwh, o.unmet_by_grid_kwh
    k = grid_kpis(p, net, unmet)
    over_slots = over > 0
    pv_fc = p.pv_at_transformer_kw()
    pv_total = float(pv_fc.sum() * p.dt_h)
    export = np.minimum(np.maximum(-net, 0.0), o.pv_used_kw)
    pv_share = float((o.pv_used_kw - export).sum() * p.dt_h / pv_total) if pv_total > TOL_KW else float("nan")
    row = {
        "status": o.status, "n_evs": p.n_evs,
        "max_loading_pu": k["max_loading_pu"],
        "overloaded_transformers": int(over_slots.any(axis=1).sum()),
        "overload_hours": float(over_slots.sum() * p.dt_h),
        "overload_kwh": float(over.sum() * p.dt_h),
        "unmet_energy_kwh": float(unmet.sum()), "evs_short": int((unmet > 0).sum()),
        "unmet_by_grid_kwh": float(by_grid.sum()), "evs_short_by_grid": int((by_grid > 0).sum()),
        "grid_energy_cost_cny": k["grid_energy_cost_cny"], "peak_net_load_kw": k["peak_net_load_kw"],
        "pv_self_consumption": pv_share, "valid": o.valid, "mip_gap": o.mip_gap,
    }
    peaks = []
    for n, tid in enumerate(p.transformer_ids):
        peaks.append({"transformer_id": tid, "limit_kw": float(p.limit_kw[n]),
                      "peak_kw": float(net[n].max()) if p.n_slots else 0.0,
                      "max_loading_pu": float(np.abs(net[n]).max() / p.rating_kw[n]) if p.n_slots else 0.0,
                      "overload_hours": float(over_slots[n].sum() * p.dt_h),
                      "overload_kwh": float(over[n].sum() * p.dt_h)})
    return row, peaks


# ------------------------------------------------------------------------------------------
# running the study
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CaseTask:
    """One case to run on an executor (pickled to Dask workers as it is)."""

    number: int
    case: dict
    scenario: Scenario
    policies: tuple[str, ...]
    seed: int = 0
    method: str = "lean"
    options: SolverOptions | None = None


def run_case(task: CaseTask) -> list[dict]:
    """Rows (one per policy) of one case; errors become rows with status ``failed``, never raise."""
    from vpp_sched.problem.build import build_problem

    rows = []
    base = {"case": task.number, **task.case}
    t0 = time.perf_counter()
    try:
        sc = apply_case(task.scenario, task.case, seed=task.seed)
        problem = build_problem(sc) if "uncontrolled" in task.policies else None
        prep = time.perf_counter() - t0
    except Exception as exc:  # noqa: BLE001 - a failed case is reported, not fatal
        return [{**base, "policy": pol, "status": "failed", "error": _message(exc),
                 "wall_seconds": time.perf_counter() - t0} for pol in task.policies]
    for policy in task.policies:
        t1 = time.perf_counter()
        try:
            o = uncontrolled_outcome(problem) if policy == "uncontrolled" else \
                orderly_outcome(sc, task.method, task.options)
            row, peaks = outcome_row(o)
            wall = time.perf_counter() - t1 + (prep if policy == "uncontrolled" else 0.0)
            rows.append({**base, "policy": policy, **row, "error": "", "wall_seconds": wall, "_peaks": peaks})
        except Exception as exc:  # noqa: BLE001
            rows.append({**base, "policy": policy, "status": "failed", "error": _message(exc),
                         "wall_seconds": time.perf_counter() - t1})
    return rows


def _message(exc: BaseException) -> str:
    from vpp_sched.errors import NoPlanError

    if isinstance(exc, InputError):
        return "invalid input: " + "; ".join(exc.problems)
    if isinstance(exc, NoPlanError):
        return f"no plan ({exc.status.value}): {exc}"
    where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    at = f" (at {Path(where.filename).name}:{where.lineno})" if where else ""
    return f"{type(exc).__name__}: {exc}{at}"


@dataclass
class WhatIfResult:
    """The study's tables: ``cases`` one row per case x policy, ``peaks`` one per case x policy x transformer."""

    scenario_name: str
    varies: list[Vary]
    policies: list[str]
    cases: pd.DataFrame
    peaks: pd.DataFrame
    wall_seconds: float = 0.0
    executor: str = "serial"
    workers: int = 1
    seed: int = 0
    warnings: list[str] = field(default_factory=list)
    scenario_folder: str = ""
    method: str = "lean"
    time_limit_s: float | None = None   # solver time limit per plan [s]

    @property
    def failed(self) -> pd.DataFrame:
        return self.cases[self.cases.status == "failed"]

    def policy_totals(self) -> list[dict]:
        """Per policy with runs that did not fail: runs, runs with an overloaded transformer, runs
        with EVs short of energy their stay allows, highest loading [pu] (the study's headline)."""
        done = self.cases[self.cases.status != "failed"]
        out = []
        for pol in self.policies:
            sub = done[done.policy == pol]
            if len(sub):
                out.append({"policy": pol, "runs": len(sub), "overloading": int((sub.overload_hours > 0).sum()),
                            "short": int((sub.unmet_by_grid_kwh > 0).sum()),
                            "max_loading_pu": float(sub.max_loading_pu.max())})
        return out


@contextlib.contextmanager
def executor_for(scheduler: str | None = None, workers: int | None = None, tasks: int | None = None) -> Iterator:
    """An executor of :mod:`vpp_sched.solve.parallel` for a study of ``tasks`` independent runs.

    Defaults for studies: ``workers`` = the cores (at most ``tasks``); ``scheduler`` = ``threads``
    when more than one worker (HiGHS releases the GIL, no process start-up), else ``serial``.
    ``local`` (Dask processes) and a scheduler address are passed on to ``get_executor``.
    """
    if workers is None and scheduler in (None, "threads", "local"):
        workers = max(min(cpu_count(), tasks or cpu_count()), 1)
    if scheduler is None:
        scheduler = "serial" if workers in (None, 1) else "threads"
    with get_executor(scheduler, workers) as ex:
        yield ex


#: Branch-and-bound nodes of each MILP run of a case's plan: a case's numbers are bounded by work,
#: the same on a busy or an idle machine; the time limit only stops a plan that then says so
#: (status ``time_limit`` in cases.csv and a warning).
WHATIF_MAX_NODES = 1000


def work_bounded(options: SolverOptions, max_nodes: int) -> SolverOptions:
    """``options`` with at most ``max_nodes`` branch-and-bound nodes per MILP run (a tighter own limit kept)."""
    nodes = max_nodes if options.mip_max_nodes is None else min(options.mip_max_nodes, max_nodes)
    return options.model_copy(update={"mip_max_nodes": nodes})


def run_whatif(scenario: Scenario, varies: Sequence[Vary], policies: Sequence[str] = POLICIES, *,
               seed: int = 0, method: str = "lean", options: SolverOptions | None = None,
               executor=None) -> WhatIfResult:
    """Run every case of the cross product under each policy.

    ``executor`` has ``map(fn, items) -> list`` (see :mod:`vpp_sched.solve.parallel`); default in-process.
    Checks ids and values first (:func:`check_varies`, raises ``InputError``); a case that fails
    later is a ``failed`` row.
    """
    t0 = time.perf_counter()
    check_varies(scenario, varies)
    policies = tuple(parse_policies(list(policies)))
    options = work_bounded(options or scenario.config.solver, WHATIF_MAX_NODES)
    tasks = [CaseTask(i + 1, case, scenario, policies, seed, method, options)
             for i, case in enumerate(cross_product(varies))]
    # Largest populations first: the slowest cases start early and the workers finish together.
    order = sorted(range(len(tasks)), key=lambda i: -float(tasks[i].case.get("evs.scale", 1.0)))
    ex = executor or SerialExecutor()
    done = ex.map(run_case, [tasks[i] for i in order])
    results = [None] * len(tasks)
    for i, rows in zip(order, done):
        results[i] = rows
    rows = [r for case_rows in results for r in case_rows]
    keys = [v.key for v in varies]
    peaks = []
    for r in rows:
        for pk in r.pop("_peaks", []):
            peaks.append({"case": r["case"], **{k: r[k] for k in keys}, "policy": r["policy"], **pk})
    cases = _case_table(rows, keys, peaks)
    peak_cols = ["case", *keys, "policy", "transformer_id", "limit_kw", "peak_kw", "max_loading_pu",
                 "overload_hours", "overload_kwh"]
    result = WhatIfResult(scenario.config.name, list(varies), list(policies), cases,
                          pd.DataFrame(peaks, columns=peak_cols), time.perf_counter() - t0,
                          getattr(ex, "name", type(ex).__name__), int(getattr(ex, "workers", 1)), seed,
                          scenario_folder=str(getattr(scenario, "folder", "") or ""), method=method,
                          time_limit_s=(options or scenario.config.solver).time_limit_s)
    stopped = cases[cases.status == "time_limit"]
    if len(stopped):
        result.warnings.append(f"{len(stopped)} of {len(cases)} case runs were stopped by the wall-clock limit of "
                               f"{options.time_limit_s:g} s (status 'time_limit' in cases.csv): their numbers may "
                               "differ on a busier or faster machine; raise --time-limit")
    failed = result.failed
    if len(failed):
        result.warnings.append(f"{len(failed)} of {len(cases)} case runs failed (status 'failed' in cases.csv), "
                               f"e.g. case {failed.case.iat[0]} {failed.policy.iat[0]}: {failed.error.iat[0]}")
    return result


CASE_COLUMNS = ["policy", "status", "n_evs", "max_loading_pu", "overloaded_transformers", "overload_hours",
                "overload_kwh", "unmet_energy_kwh", "evs_short", "unmet_by_grid_kwh", "evs_short_by_grid",
                "grid_energy_cost_cny", "peak_net_load_kw", "pv_self_consumption", "valid", "mip_gap",
                "wall_seconds", "error"]


def _case_table(rows: list[dict], keys: list[str], peaks: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["case", *keys, *CASE_COLUMNS])
    if peaks:
        pk = pd.DataFrame(peaks)
        tids = list(dict.fromkeys(pk.transformer_id))
        wide = pk.pivot_table(index=["case", "policy"], columns="transformer_id",
                              values=["peak_kw", "max_loading_pu"], aggfunc="first")
        cols = {}
        for name, label in (("peak_kw", "peak_kw"), ("max_loading_pu", "loading_pu")):
            for tid in tids:
                cols[f"{label}.{tid}"] = wide[(name, tid)] if (name, tid) in wide.columns else np.nan
        wide = pd.DataFrame(cols).reset_index()
        df = df.merge(wide, on=["case", "policy"], how="left")
    return df
