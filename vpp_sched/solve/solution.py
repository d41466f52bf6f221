"""What a solve returns, whichever build produced it: our status enum and the variable arrays."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np


class SolveStatus(str, enum.Enum):
    """Solver outcome in our own terms (never a solver's string)."""

    OPTIMAL = "optimal"            # proven optimal within the requested MIP gap
    TIME_LIMIT = "time_limit"      # stopped by the time limit with a feasible plan; see mip_gap
    FEASIBLE = "feasible"          # a plan, not proven within the requested gap (no time limit hit); see mip_gap
    NO_SOLUTION = "no_solution"    # stopped by a limit before any feasible plan was found
    INFEASIBLE = "infeasible"      # no plan even with the slacks (should not happen: a bug or bad data)
    ERROR = "error"                # the solver failed

    @property
    def has_plan(self) -> bool:
        return self in (SolveStatus.OPTIMAL, SolveStatus.TIME_LIMIT, SolveStatus.FEASIBLE)


@dataclass
class Solution:
    """Variable values of a solved day-ahead model, indexed like :class:`~vpp_sched.problem.arrays.Problem`.

    Power arrays are [kW], energy [kWh]; ``battery_soc_kwh[b, t]`` is the energy at the end of slot t.
    """

    status: SolveStatus
    objective_cny: float = float("nan")      # solver objective (without constant compensation)
    bound_cny: float = float("nan")          # best lower bound
    mip_gap: float = float("nan")            # relative gap |obj - bound| / max(|obj|, 1e-9)
    build_seconds: float = 0.0
    solve_seconds: float = 0.0
    solver: dict = field(default_factory=dict)   # name, version, options used
    ev_power_kw: np.ndarray | None = None        # [E, T]
    ev_unmet_kwh: np.ndarray | None = None       # [E]
    ev_discharge_kw: np.ndarray | None = None    # [E, T] V2G discharge to the grid; None without V2G EVs
    ev_soc_kwh: np.ndarray | None = None         # [E, T] V2G EV battery energy at the end of slot t (0 elsewhere)
    pv_curtail_kw: np.ndarray | None = None      # [S, T]
    battery_charge_kw: np.ndarray | None = None  # [B, T]
    battery_discharge_kw: np.ndarray | None = None  # [B, T]
    battery_soc_kwh: np.ndarray | None = None    # [B, T]
    net_load_kw: np.ndarray | None = None        # [N, T]
    overload_kw: np.ndarray | None = None        # [N, T]
    feeder_overload_kw: np.ndarray | None = None  # [F, T]
    dr_shortfall_kw: np.ndarray | None = None    # [K, T]
    swap_charge_kw: np.ndarray | None = None     # [W, T] swap stations' pack charging, grid side
    swap_unserved: np.ndarray | None = None      # [W, T] swaps not served
    swap_full_packs: np.ndarray | None = None    # [W, T] full packs at the end of slot t
    swap_partial_kwh: np.ndarray | None = None   # [W, T] energy in the packs not full, above returned_soc
    fast_cap_kw: np.ndarray | None = None        # [G, T] fast-charging stations' power cap
    fast_cap_short_kw: np.ndarray | None = None  # [G, T] cap below the wait-keeping minimum
    col_values: np.ndarray | None = None         # lean build only: raw column vector, to warm-start a solve
    lp_start: object | None = None               # LP-guided rounding: its relaxation's basis (solve.warm_start.LpStart)


def relative_gap(objective: float, bound: float) -> float:
    """Relative MIP gap as HiGHS reports it [-]."""
    if not (np.isfinite(objective) and np.isfinite(bound)):
        return float("nan")
    return abs(objective - bound) / max(abs(objective), 1e-9)
