"""``vpp-sched whatif``: cases, in-memory variations, EV resampling, failures, exit codes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from scenario_factory import base_load_frame, write_scenario
from vpp_sched.studies import whatif
from vpp_sched.errors import InputError
from vpp_sched.scenario.load import load_scenario
from vpp_sched.studies.cases import apply_case, check_varies
from vpp_sched.studies.resample import JITTER_MIN, ev_count, scale_evs
from vpp_sched.studies.vary import VaryError, parse_varies, parse_vary

runner = CliRunner()

STUDY_TRANSFORMERS = pd.DataFrame({"transformer_id": ["T1", "T2"], "rated_kva": [100.0, 160.0],
                                   "power_factor": [0.95, 0.95], "max_loading_pu": [1.0, 1.0]})
BATTERY = {"capacity_kwh": 100.0, "max_charge_kw": 30.0, "max_discharge_kw": 30.0, "soc_min": 0.1,
           "soc_max": 0.95, "soc_initial": 0.5, "soc_final_min": 0.6}


def study_evs(per_transformer: int = 10, min_power_kw: float = 0.0, seed: int = 7) -> pd.DataFrame:
    """Home EVs arriving 17:00-21:00 and leaving 06:00-08:00, seeded."""
    rng = np.random.default_rng(seed)
    rows = []
    for tid in ("T1", "T2"):
        for k in range(per_transformer):
            arrive = pd.Timestamp("2026-11-27T17:00:00+08:00") + pd.Timedelta(minutes=int(rng.integers(0, 240)))
            leave = pd.Timestamp("2026-11-28T06:00:00+08:00") + pd.Timedelta(minutes=int(rng.integers(0, 120)))
            rows.append({"ev_id": f"{tid}E{k:02d}", "transformer_id": tid, "arrival": arrive.isoformat(),
                         "departure": leave.isoformat(), "energy_kwh": float(rng.integers(8, 30)),
                         "max_power_kw": 7.0, "min_power_kw": min_power_kw})
    return pd.DataFrame(rows)


def write_study_scenario(folder, per_transformer: int = 10, min_power_kw: float = 0.0, battery: dict | None = None):
    """2 transformers, 2 x ``per_transformer`` EVs, 24 one-hour slots; a station with a battery on T2."""
    horizon = {"start": "2026-11-27T12:00:00+08:00", "slots": 24, "slot_minutes": 60}
    stations = [{"station_id": "S1", "transformer_id": "T2", "battery": battery or BATTERY}]
    return write_scenario(folder, yaml_overrides={"horizon": horizon, "stations": stations},
                          transformers=STUDY_TRANSFORMERS, evs=study_evs(per_transformer, min_power_kw),
                          base_load=base_load_frame(STUDY_TRANSFORMERS, horizon["start"], 24, 60))


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    return load_scenario(write_study_scenario(tmp_path_factory.mktemp("whatif") / "sc"))


def cli_app() -> typer.Typer:
    """The study commands on their own app (the lead registers them in vpp_sched/cli/app.py)."""
    from vpp_sched.cli.hosting import hosting
    from vpp_sched.cli.whatif import whatif as whatif_command

    app = typer.Typer(add_completion=False)
    app.command("whatif")(whatif_command)
    app.command("hosting")(hosting)
    return app


# ---- the cross product -------------------------------------------------------------------
def test_cross_product_has_a_row_per_case_and_policy(scenario):
    varies = parse_varies(["transformers.T1.rated_kva=100,160,250", "evs.scale=1,2", "tariff.scale=1,1.5"])
    result = whatif.run_whatif(scenario, varies, ["uncontrolled", "orderly"])
    assert len(result.cases) == 3 * 2 * 2 * 2
    assert result.cases.groupby(["case", "policy"]).size().eq(1).all()
    assert (result.cases.status != "failed").all(), result.cases.error.tolist()
    for column in ("transformers.T1.rated_kva", "evs.scale", "peak_kw.T1", "loading_pu.T2", "overload_hours",
                   "unmet_energy_kwh", "grid_energy_cost_cny", "pv_self_consumption", "wall_seconds"):
        assert column in result.cases.columns
    # the first --vary varies slowest
    assert result.cases.drop_duplicates("case")["transformers.T1.rated_kva"].tolist() == [100.0] * 4 + [160.0] * 4 + [250.0] * 4
    assert len(result.peaks) == len(result.cases) * 2
    orderly = result.cases[result.cases.policy == "orderly"]
    assert orderly.valid.astype(bool).all(), "every orderly plan passes the plan-validity check"
    assert (orderly.status.isin(["optimal", "time_limit"])).all()


def test_tariff_scale_scales_the_cost(scenario):
    result = whatif.run_whatif(scenario, parse_varies(["tariff.scale=1,2"]), ["uncontrolled"])
    cost = result.cases.set_index("tariff.scale").grid_energy_cost_cny
    assert cost[2.0] == pytest.approx(2 * cost[1.0])


def test_more_kva_lowers_the_loading(scenario):
    result = whatif.run_whatif(scenario, parse_varies(["transformers.T1.rated_kva=100,160,250"]),
                               ["uncontrolled", "orderly"])
    for policy, df in result.cases.groupby("policy"):
        loading = df.sort_values("transformers.T1.rated_kva")["loading_pu.T1"].to_numpy()
        assert (np.diff(loading) < 0).all(), (policy, loading)
        assert df.sort_values("transformers.T1.rated_kva").overload_hours.is_monotonic_decreasing
    unc = result.cases[result.cases.policy == "uncontrolled"].set_index("transformers.T1.rated_kva")
    assert unc.overload_hours[100.0] > 0, "the small transformer overloads uncontrolled"
    assert unc.overload_hours[250.0] == 0


def test_apply_case_leaves_the_scenario_alone(scenario):
    before = scenario.transformers.copy()
    changed = apply_case(scenario, {"transformers.T1.rated_kva": 200.0, "tariff.scale": 2.0,
                                           "stations.S1.battery.capacity_kwh": 0.0})
    assert changed.transformers.set_index("transformer_id").limit_kw["T1"] == pytest.approx(200 * 0.95)
    assert changed.config.stations[0].battery is None
    assert changed.price_cny_per_kwh.iloc[0] == pytest.approx(2 * scenario.price_cny_per_kwh.iloc[0])
    pd.testing.assert_frame_equal(scenario.transformers, before)
    assert scenario.config.stations[0].battery is not None
    bigger = apply_case(scenario, {"stations.S1.battery.capacity_kwh": 400.0})
    assert bigger.config.stations[0].battery.capacity_kwh == 400
    assert bigger.config.stations[0].battery.max_charge_kw == BATTERY["max_charge_kw"]


# ---- EV resampling -----------------------------------------------------------------------
def test_ev_scale_two_doubles_each_transformer_deterministically(scenario):
    a = scale_evs(scenario, 2.0).evs
    b = scale_evs(scenario, 2.0).evs
    pd.testing.assert_frame_equal(a, b)
    before = scenario.evs.groupby("transformer_id").size()
    after = a.groupby("transformer_id").size()
    assert (after == 2 * before).all()
    assert a.ev_id.is_unique
    copies = a[a.ev_id.str.contains("~")]
    assert len(copies) == len(scenario.evs) and copies.ev_id.str.endswith("~2").all()
    src = scenario.evs.set_index("ev_id")
    orig = src.loc[copies.ev_id.str.replace("~2", "", regex=False)]
    shift = (copies.arrival.to_numpy() - orig.arrival.to_numpy()) / pd.Timedelta(minutes=1)
    assert np.abs(shift).max() <= JITTER_MIN and np.abs(shift).max() > 0
    assert (copies.departure.to_numpy() > copies.arrival.to_numpy()).all()
    assert (copies.transformer_id.to_numpy() == orig.transformer_id.to_numpy()).all()
    assert (copies.energy_kwh.to_numpy() == orig.energy_kwh.to_numpy()).all()
    other = scale_evs(scenario, 2.0, seed=1).evs
    assert not other.arrival.equals(a.arrival), "the seed matters"


def test_ev_scale_populations_nest_and_round(scenario):
    ids = {m: set(scale_evs(scenario, m).evs.ev_id) for m in (0.3, 0.5, 1.0, 1.55, 2.0, 3.0)}
    assert ids[0.3] <= ids[0.5] <= ids[1.0] <= ids[1.55] <= ids[2.0] <= ids[3.0]
    assert len(ids[0.5]) == 10 and len(ids[0.3]) == 6 and len(ids[1.55]) == 30  # 15.5 -> 15 per transformer
    assert ev_count(1.55, 10) == 15 and ev_count(1.56, 10) == 16 and ev_count(0, 10) == 0
    half = scale_evs(scenario, 0.5).evs
    assert (half.groupby("transformer_id").size() == 5).all(), "each transformer keeps its share"
    only_t1 = scale_evs(scenario, 2.0, ["T1"]).evs
    assert only_t1.groupby("transformer_id").size().to_dict() == {"T1": 20, "T2": 10}


# ---- errors ------------------------------------------------------------------------------
@pytest.mark.parametrize("spec", ["transformers.T1.rated_kva", "transformers.T1.colour=1", "evs.scale=-1",
                                  "evs.scale=a", "transformers.T1.limit_kw=100", "tariff.scale=1,1",
                                  "stations.S1.battery.chemistry=1", "foo=1", "transformers.T1.power_factor=1.2"])
def test_bad_vary_is_a_usage_error(spec):
    with pytest.raises(VaryError):
        parse_vary(spec)


def test_unknown_ids_are_input_errors(scenario):
    varies = parse_varies(["transformers.T9.rated_kva=100", "stations.S9.pv.capacity_kwp=10",
                                  "stations.S1.pv.capacity_kwp=50"])
    with pytest.raises(InputError) as info:
        check_varies(scenario, varies)
    text = "\n".join(info.value.problems)
    assert "T9" in text and "S9" in text and "has no pv" in text


def test_cli_exit_codes(tmp_path):
    folder = write_study_scenario(tmp_path / "sc", per_transformer=4)
    app = cli_app()
    for args, code in ((["--vary", "transformers.T1.colour=1"], 2), (["--vary", "evs.scale=x"], 2),
                       (["--policy", "smart"], 2), (["--vary", "transformers.T9.rated_kva=100"], 1)):
        result = runner.invoke(app, ["whatif", str(folder), "--out", str(tmp_path / "out"), *args])
        assert result.exit_code == code, (args, result.output, result.stderr)
        assert "error" in result.stderr
    assert not (tmp_path / "out").exists()


# ---- a failing case ----------------------------------------------------------------------
def test_a_failing_case_is_a_row_not_the_end(tmp_path):
    # A battery that must end fuller than it starts but cannot charge: no plan (infeasible).
    folder = write_study_scenario(tmp_path / "sc", per_transformer=4)
    out = tmp_path / "study"
    result = runner.invoke(cli_app(), ["whatif", str(folder), "--vary", "stations.S1.battery.max_charge_kw=0,30",
                                       "--out", str(out), "--workers", "1"])
    assert result.exit_code == 0, result.output + result.stderr
    assert "warning" in result.stderr and "failed" in result.stderr
    cases = pd.read_csv(out / "cases.csv")
    assert len(cases) == 4
    failed = cases[cases.status == "failed"]
    assert len(failed) == 1 and failed["stations.S1.battery.max_charge_kw"].iat[0] == 0
    assert failed.policy.iat[0] == "orderly" and "infeasible" in failed.error.iat[0]
    assert set(cases[cases.status != "failed"].status) == {"reference", "optimal"}
    summary = (out / "summary.md").read_text()
    assert "failed" in summary and "| case |" in summary
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sc", "study"], "no temporary folder left"


def test_all_failed_exits_nonzero(tmp_path):
    folder = write_study_scenario(tmp_path / "sc", per_transformer=4)
    result = runner.invoke(cli_app(), ["whatif", str(folder), "--vary", "stations.S1.battery.max_charge_kw=0",
                                       "--policy", "orderly", "--out", str(tmp_path / "study"), "--workers", "1"])
    assert result.exit_code == 5, result.output + result.stderr
    assert (tmp_path / "study" / "cases.csv").exists()


@pytest.mark.slow
def test_cli_writes_the_study_through_threads(tmp_path):
    folder = write_study_scenario(tmp_path / "sc", per_transformer=4)
    out = tmp_path / "study"
    result = runner.invoke(cli_app(), ["whatif", str(folder), "--vary", "transformers.T1.rated_kva=100,160",
                                       "--vary", "evs.scale=1,2", "--out", str(out), "--scheduler", "threads",
                                       "--workers", "2"])
    assert result.exit_code == 0, result.output + result.stderr
    cases = pd.read_csv(out / "cases.csv")
    assert len(cases) == 8 and (cases.status != "failed").all()
    peaks = pd.read_csv(out / "transformer_peaks.csv")
    assert set(peaks.transformer_id) == {"T1", "T2"} and len(peaks) == 16
    assert "threads" in (out / "summary.md").read_text()
