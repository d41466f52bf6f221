"""Replay with swap and fast-charging stations: re-plans start from the packs' state, the sites' load is
on their transformers."""

from __future__ import annotations

import numpy as np

from sites_factory import site_scenario
from vpp_sched.problem.sites import uncontrolled_site_kw
from vpp_sched.scenario.load import load_scenario
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
    # packs are charged: the replayed load on T2 is above its base load by at least the swaps' energy
    energy = p.sites.swap_demand.sum() * p.sites.swap_pack_charge_kwh[0] / p.sites.swap_efficiency[0]
    on_t2 = r.context.fleet.transformer == t2
    ev = {name: run.ev_kw[on_t2].sum(axis=0) for name, run in r.runs.items()}
    extra = (r.runs["replanned"].net_load_kw[t2] - base - ev["replanned"]).sum() * p.dt_h
    assert extra >= energy - (p.sites.swap_initial_full[0] - p.sites.swap_final_full_min[0]) * p.sites.swap_pack_charge_kwh[0] - 1e-3
    unc = r.runs["uncontrolled"].net_load_kw[t2] - base - ev["uncontrolled"]
    assert np.allclose(unc, uncontrolled_site_kw(p.sites, p.n_transformers, p.n_slots, p.dt_h)[t2])
