"""EV population resampling: the EV table at a multiple of today's population, nested and seeded."""

from __future__ import annotations

import dataclasses
import math
import zlib
from collections.abc import Sequence

import numpy as np
import pandas as pd

from vpp_sched.errors import InputError
from vpp_sched.scenario.load import Scenario

#: Largest EV multiple accepted by ``evs.scale`` (the hosting search stops at 64 too).
MAX_EV_SCALE = 64.0
#: Arrival jitter of the extra EVs drawn for multiples above 1 [min], uniform in +-JITTER_MIN.
JITTER_MIN = 15


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

