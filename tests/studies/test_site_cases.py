"""What-if keys of the swap and fast-charging stations: parsed, applied, refused with one line."""

from __future__ import annotations

import pytest

from sites_factory import site_scenario
from vpp_sched.errors import InputError
from vpp_sched.problem.build import build_problem
from vpp_sched.scenario.load import load_scenario
from vpp_sched.studies.cases import apply_case, check_varies
from vpp_sched.studies.outcome import orderly_outcome, outcome_row, uncontrolled_outcome
from vpp_sched.studies.vary import VaryError, parse_vary


def test_keys_parse_and_apply(tmp_path):
    sc = load_scenario(site_scenario(tmp_path))
    v = parse_vary("swap_stations.mine-1.packs=8,10,12")
    assert v.values == (8.0, 10.0, 12.0)
    check_varies(sc, [v, parse_vary("fast_charging_stations.sa-1.dispensers=4,8")])
    case = apply_case(sc, {"swap_stations.mine-1.packs": 12.0, "fast_charging_stations.sa-1.dispensers": 4.0})
    p = build_problem(case)
    assert p.sites.swap_packs[0] == 12 and p.sites.fast_dispensers[0] == 4
    assert sc.config.swap_stations[0].packs == 10                  # the loaded scenario is unchanged


def test_bad_keys_and_values(tmp_path):
    sc = load_scenario(site_scenario(tmp_path))
    with pytest.raises(VaryError, match="unknown field 'colour'"):
        parse_vary("swap_stations.mine-1.colour=1")
    with pytest.raises(VaryError, match="must be greater than 0"):
        parse_vary("fast_charging_stations.sa-1.dispensers=0")
    with pytest.raises(InputError) as exc:
        check_varies(sc, [parse_vary("swap_stations.mine-9.packs=8"), parse_vary("swap_stations.mine-1.packs=5,8.5")])
    assert exc.value.problems == [
        "--vary swap_stations.mine-9.packs: mine-9 is not in scenario.yaml's swap_stations (known: mine-1)",
        "--vary swap_stations.mine-1.packs=5: initial_full_packs=6 exceeds packs=5",
        "--vary swap_stations.mine-1.packs=8.5: packs must be a whole number"]


def test_case_rows_have_the_site_columns(tmp_path):
    sc = load_scenario(site_scenario(tmp_path, swap_overrides={"bays": 2}))
    plan_row, _ = outcome_row(orderly_outcome(sc))
    ref_row, _ = outcome_row(uncontrolled_outcome(build_problem(sc)))
    assert plan_row["unserved_swaps"] > 0 and ref_row["unserved_swaps"] > 0     # 2 bays cannot keep up
    assert plan_row["fast_slots_over_target"] == 0


def test_hosting_keeps_a_transformers_sites(tmp_path):
    from vpp_sched.studies.hosting import restrict_to_transformer

    sc = load_scenario(site_scenario(tmp_path))
    t2 = restrict_to_transformer(sc, "T2")
    assert [s.station_id for s in t2.config.swap_stations] == ["mine-1"] and t2.config.fast_charging_stations == []
    p = build_problem(t2)
    assert list(p.sites.swap_ids) == ["mine-1"] and p.sites.n_fast == 0
    t1 = build_problem(restrict_to_transformer(sc, "T1"))
    assert list(t1.sites.fast_ids) == ["sa-1"] and list(t1.station_ids) == ["sa-1"]   # its battery too
