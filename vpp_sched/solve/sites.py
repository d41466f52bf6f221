"""The swap and fast-charging stations' arrays of a :class:`~vpp_sched.solve.solution.Solution`: read
from either build, merged from the blocks of the decomposed solve, and priced in the plan objective."""

from __future__ import annotations

import numpy as np

from vpp_sched.problem.arrays import Problem
from vpp_sched.problem.sites import Sites

#: Solution attributes of the sites: (attribute = model family, swap (True) or fast (False) station).
SITE_FAMILIES = (("swap_charge_kw", True), ("swap_unserved", True), ("swap_full_packs", True),
                 ("swap_partial_kwh", True), ("fast_cap_kw", False), ("fast_cap_short_kw", False))


def _sites(p: Problem) -> Sites:
    return p.sites if p.sites is not None else Sites()


def _rows(st: Sites, swap: bool) -> int:
    return st.n_swap if swap else st.n_fast


def unpack_lean(col_families: dict, x: np.ndarray, p: Problem, out) -> None:
    """Fill the site arrays of ``out`` from the lean build's column vector ``x`` (already cleaned)."""
    st = _sites(p)
    for name, swap in SITE_FAMILIES:
        setattr(out, name, x[col_families[name]].reshape(_rows(st, swap), p.n_slots).copy())


def unpack_pyomo(m, p: Problem, out, clean) -> None:
    """Fill the site arrays of ``out`` from the solved Pyomo model ``m``."""
    st = _sites(p)
    for name, swap in SITE_FAMILIES:
        a = np.zeros((_rows(st, swap), p.n_slots))
        for (i, t), v in getattr(m, name).items():
            a[i, t] = v.value or 0.0
        setattr(out, name, clean(a))


def merge(p: Problem, out, inside: np.ndarray, sol) -> None:
    """Copy one block's site arrays (transformers ``inside``) into the full-size ``out``."""
    st = _sites(p)
    for name, swap in SITE_FAMILIES:
        if getattr(out, name, None) is None:
            setattr(out, name, np.zeros((_rows(st, swap), p.n_slots)))
        at = st.swap_transformer if swap else st.fast_transformer
        getattr(out, name)[np.flatnonzero(inside[at])] = getattr(sol, name)


def objective_cny(p: Problem, s) -> float:
    """The sites' penalties in the model objective of a plan [CNY]."""
    st = _sites(p)
    if s.swap_unserved is None:
        return 0.0
    return (st.unserved_swap_cny_per_swap * float(s.swap_unserved.sum())
            + st.fast_shortfall_cny_per_kwh * p.dt_h * float(s.fast_cap_short_kw.sum()))
