"""Replay with swap and fast-charging stations: re-plans start from the packs' state, the sites' load (on
the sampled day's swaps and drivers) is on their transformers."""

from __future__ import annotations

import numpy as np
import pytest

from sites_factory import site_scenario
from vpp_sched.scenario.load import load_scenario
from vpp_sched.studies.actuals_sites import uncontrolled_play
from vpp_sched.studies.replay import replay_day, replay_warnings


def test_replay_carries_the_packs_through_the_replans(tmp_path):
    sc = load_scenario(site_scenario(tmp_path))
    r = replay_day(sc, seed=1, replan_every=16)
    assert not [w for w in replay_warnings(r) if "infeasible" in w]
    solved = [d for d in r.runs["replanned"].decisions if d["solved"]]
    assert solved and all(d["status"] == "optimal" for d in solved)
    p = r.context.problem
    t2 = list(p.transformer_ids).index("T2")             # the swap station's transformer
    base = r.context.base_actual_kw[t2]
    # packs are charged for the day's actual swaps (sampled, not the forecast's): the load on T2 above its
    # base load and EVs is the racks' draw, and it stored the energy of the swaps served and the packs gained
    on_t2 = r.context.fleet.transformer == t2
    st = p.sites
    for name, run in r.runs.items():
        extra = run.net_load_kw[t2] - base - run.ev_kw[on_t2].sum(axis=0)
        assert np.allclose(extra, run.sites.swap_kw[0], atol=1e-9), name
        stored = st.swap_efficiency[0] * run.sites.swap_kw[0].sum() * p.dt_h
        gained = run.sites.swap_served[0].sum() + run.sites.full[0] - st.swap_initial_full[0]
        assert stored == pytest.approx(gained * st.swap_pack_charge_kwh[0], rel=1e-9), name
        assert not np.array_equal(run.sites.swaps, st.swap_demand)        # the sampled day's swaps
    unc = r.runs["uncontrolled"].net_load_kw[t2] - base - r.runs["uncontrolled"].ev_kw[on_t2].sum(axis=0)
    played = uncontrolled_play(st, r.context.actuals.site_demand, p.dt_h)
    assert np.allclose(unc, played.load_kw(p.n_transformers)[t2])
