"""OCPP SetChargingProfile export: schema-valid payloads (the ocpp package's own JSON schemas)
whose schedules deliver the plan's energy."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import jsonschema
import numpy as np
import ocpp
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from scenario_factory import EVS, write_scenario
from vpp_sched.cli.export_ocpp import export_ocpp as export_command
from vpp_sched.errors import InputError
from vpp_sched.interop.ocpp import MIN_CURRENT_A, ProfileOptions, export_ocpp, file_names, ocpp_writer, schedule_periods
from vpp_sched.plan.output import write_plan
from vpp_sched.plan.planner import plan_day

SCHEMAS = {"1.6": "v16/schemas/SetChargingProfile.json", "2.0.1": "v201/schemas/SetChargingProfileRequest.json"}
SLOT_S = 15 * 60


def _validator(version: str):
    # Decimal floats, as the ocpp package does: multipleOf 0.1 fails on binary floats such as 21.4.
    text = (Path(ocpp.__file__).parent / SCHEMAS[version]).read_text(encoding="utf-8-sig")
    schema = json.loads(text, parse_float=Decimal)
    return jsonschema.validators.validator_for(schema)(schema)


@pytest.fixture(scope="module")
def plan_dir(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("ocpp")
    run = plan_day(write_scenario(base / "sc"))
    assert run.plan.kpis["unmet_energy_kwh"] == 0
    return write_plan(run.plan, base / "plan", parquet=False, extra={"ocpp": ocpp_writer("2.0.1")})


def _schedule(payload: dict, version: str) -> tuple[dict, dict]:
    if version == "1.6":
        profile = payload["csChargingProfiles"]
        return profile, profile["chargingSchedule"]
    profile = payload["chargingProfile"]
    return profile, profile["chargingSchedule"][0]


def _energy_kwh(periods: list[dict], end_s: int, kw_per_unit: float) -> float:
    starts = [int(p["startPeriod"]) for p in periods] + [end_s]
    return sum(float(p["limit"]) * kw_per_unit * max(min(b, end_s) - a, 0) / 3600
               for p, a, b in zip(periods, starts, starts[1:]))


CASES = [("1.6", {}), ("2.0.1", {}), ("1.6", {"unit": "A", "phases": 3}),
         ("2.0.1", {"unit": "A", "phases": 1, "voltage_v": 220.0})]


@pytest.mark.parametrize("version,options", CASES)
def test_profiles_are_valid_and_deliver_the_plan(plan_dir, tmp_path, version, options):
    out = export_ocpp(plan_dir, version, tmp_path / "ocpp", **options)
    validator = _validator(version)
    schedule = pd.read_csv(plan_dir / "ev_schedule.csv")
    evs = pd.read_csv(plan_dir / "evs.csv").set_index("ev_id")
    index = pd.read_csv(out / "index.csv").set_index("ev_id")
    assert set(index.index) == set(EVS.ev_id)
    unit = options.get("unit", "W")
    kw_per_unit = 1e-3 if unit == "W" else options.get("voltage_v", 230.0) * options["phases"] / 1000
    for ev_id, rows in schedule.groupby("ev_id"):
        payload = json.loads((out / index.file[ev_id]).read_text(), parse_float=Decimal)
        validator.validate(payload)
        profile, sched = _schedule(payload, version)
        assert (profile["chargingProfilePurpose"], profile["chargingProfileKind"]) == ("TxProfile", "Absolute")
        assert sched["chargingRateUnit"] == unit
        first = pd.Timestamp(rows.slot_start.min())
        assert pd.Timestamp(sched["startSchedule"]) == first
        assert pd.Timestamp(profile["validFrom"]) == max(pd.Timestamp(evs.arrival[ev_id]), first)
        periods = sched["chargingSchedulePeriod"]
        starts = [p["startPeriod"] for p in periods]
        assert starts[0] == 0 and all(b > a for a, b in zip(starts, starts[1:])), "strictly increasing"
        assert all((p["limit"] * 10) % 1 == 0 for p in periods), "multiples of 0.1"
        assert periods[-1]["limit"] == 0, "the last period stops charging"
        assert all(a["limit"] != b["limit"] for a, b in zip(periods, periods[1:])), "one period per change"
        if unit == "A":
            assert all(p["numberPhases"] == options["phases"] for p in periods)
        # no non-zero limit below the charger minimum: 6 A per phase (W: on one phase) and the EV's own
        volts = options.get("voltage_v", 230.0)
        least = max(MIN_CURRENT_A * (volts if unit == "W" else 1.0),
                    evs.min_power_kw[ev_id] / kw_per_unit)
        assert all(p["limit"] == 0 or p["limit"] >= least - 1e-9 for p in periods), (ev_id, least)
        assert index.min_limit[ev_id] == pytest.approx(np.ceil(least * 10 - 1e-6) / 10)
        end_s = int((pd.Timestamp(rows.slot_start.max()) - first).total_seconds()) + SLOT_S
        energy = _energy_kwh(periods, end_s, kw_per_unit)
        hours = end_s / 3600
        # what the plan asks, plus what raising slots to the charger minimum adds (index.csv says so)
        planned = energy - index.raised_kwh[ev_id]
        assert (index.raised_slots[ev_id] > 0) == (index.raised_kwh[ev_id] > 0)
        if unit == "W":  # nearest 0.1 W: at most 0.05 W off in every period
            assert planned == pytest.approx(evs.delivered_kwh[ev_id], abs=0.05e-3 * hours + 1e-5)
        else:  # floored to 0.1 A: never above the plan, at most one step below
            assert evs.delivered_kwh[ev_id] - 0.1 * kw_per_unit * hours - 1e-5 <= planned
            assert planned <= evs.delivered_kwh[ev_id] + 1e-5
        assert index.profile_kwh[ev_id] == pytest.approx(energy, abs=1e-5)


def test_schemas_are_strict():
    bad = {"connectorId": 1, "csChargingProfiles": {
        "chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxProfile", "chargingProfileKind": "Absolute",
        "chargingSchedule": {"chargingRateUnit": "W", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": Decimal("7000.05")}]}}}
    with pytest.raises(jsonschema.ValidationError, match="multiple of"):
        _validator("1.6").validate(bad)
    with pytest.raises(jsonschema.ValidationError, match="is a required property"):
        _validator("2.0.1").validate({"chargingProfile": {}})


def test_plan_folder_carries_ocpp_written_in_the_same_step(plan_dir):
    index = pd.read_csv(plan_dir / "ocpp" / "index.csv")
    assert len(index) == len(EVS) and index.charging_profile_id.tolist() == list(range(1, len(EVS) + 1))
    payload = json.loads((plan_dir / "ocpp" / "E1.json").read_text())
    assert payload["evseId"] == 1 and "transactionId" not in payload["chargingProfile"]
    assert not [p for p in plan_dir.parent.iterdir() if p.name.startswith(".")], "no temporary folder left"


def test_ids_from_evs_columns(plan_dir, tmp_path):
    plan = tmp_path / "plan"
    for name in ("ev_schedule.csv", "kpis.json", "transformer_load.csv"):   # the last: room for raises
        (plan / name).parent.mkdir(exist_ok=True)
        (plan / name).write_bytes((plan_dir / name).read_bytes())
    evs = pd.read_csv(plan_dir / "evs.csv")
    evs["evse_id"] = np.arange(len(evs)) + 2
    evs["transaction_id"] = [f"{100 + i}" for i in range(len(evs))]
    evs.to_csv(plan / "evs.csv", index=False)
    out = export_ocpp(plan, "2.0.1", stack_level=2, first_profile_id=10)
    payload = json.loads((out / "E2.json").read_text())
    assert payload["evseId"] == 3 and payload["chargingProfile"]["transactionId"] == "101"
    assert payload["chargingProfile"]["id"] == 11 and payload["chargingProfile"]["stackLevel"] == 2
    _validator("2.0.1").validate(json.loads((out / "E2.json").read_text(), parse_float=Decimal))
    evs.loc[3, "transaction_id"] = "tx-4"  # OCPP 1.6 transaction ids are integers
    evs.to_csv(plan / "evs.csv", index=False)
    with pytest.raises(InputError) as exc:
        export_ocpp(plan, "1.6")
    assert exc.value.problems == ["evs.csv row 4 (ev_id=E4): transaction_id 'tx-4' is not an integer (OCPP 1.6)"]


def test_missing_file_and_column(plan_dir, tmp_path):
    plan = tmp_path / "plan"
    plan.mkdir()
    (plan / "kpis.json").write_bytes((plan_dir / "kpis.json").read_bytes())
    (plan / "evs.csv").write_bytes((plan_dir / "evs.csv").read_bytes())
    with pytest.raises(InputError, match="ev_schedule.csv: file not found"):
        export_ocpp(plan, "1.6")
    pd.read_csv(plan_dir / "ev_schedule.csv").drop(columns="power_kw").to_csv(plan / "ev_schedule.csv", index=False)
    with pytest.raises(InputError, match="ev_schedule.csv: missing column power_kw"):
        export_ocpp(plan, "1.6")
    assert not (plan / "ocpp").exists()


def test_schedule_periods_edges():
    t = np.arange(4) * SLOT_S
    assert schedule_periods(t, np.zeros(4), SLOT_S) == [(0, 0.0)]
    assert schedule_periods(t, np.array([0, 7000.0, 7000.0, 3500.0]), SLOT_S) == [
        (0, 0.0), (900, 7000.0), (2700, 3500.0), (3600, 0.0)]
    gap = np.array([0, SLOT_S, 3 * SLOT_S])  # a missing slot gets a 0 period, never the old set-point
    assert schedule_periods(gap, np.array([7000.0, 7000.0, 7000.0]), SLOT_S) == [
        (0, 7000.0), (1800, 0.0), (2700, 7000.0), (3600, 0.0)]


def test_cli(plan_dir, tmp_path):
    app = typer.Typer()
    app.command()(export_command)
    runner = CliRunner()
    res = runner.invoke(app, [str(plan_dir), "--version", "1.6", "--out", str(tmp_path / "o"), "--unit", "A",
                              "--phases", "1", "--connector-id", "2"])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "o" / "E5.json").read_text())["connectorId"] == 2
    assert runner.invoke(app, [str(plan_dir), "--version", "2.1"]).exit_code == 2
    assert runner.invoke(app, [str(plan_dir), "--phases", "2"]).exit_code == 2
    assert runner.invoke(app, [str(tmp_path / "none")]).exit_code == 1


# --- the charger minimum ---------------------------------------------------------------------

def test_charger_minimum_in_both_units():
    three = ProfileOptions(unit="A", phases=3)
    assert three.min_limit(0.0) == 6.0 and three.min_limit(1.4) == 6.0      # 1.4 kW on 3 phases is 2.03 A
    assert three.min_limit(4.2) == 6.1                                       # 4200 / 690 = 6.09 A, rounded up
    one = ProfileOptions(unit="A", phases=1, voltage_v=230.0)
    assert one.min_limit(1.4) == 6.1 and one.min_limit(0.0) == 6.0           # 1400 / 230 = 6.09 A
    watts = ProfileOptions(unit="W")
    assert watts.min_limit(0.0) == 1380.0 and watts.min_limit(4.2) == 4200.0  # 6 A x 230 V on one phase
    # the case: 1.4 kW on 3 phases was written as 2.0 A (1.38 kW); now 6 A, and said so
    limits, raised = three.charger_limits(np.array([0.0, 1.4, 0.01, 7.0]), 1.4)
    assert limits.tolist() == [0.0, 6.0, 0.0, 10.1] and raised.tolist() == [False, True, False, False]


def test_export_never_goes_below_the_charger_minimum(plan_dir, tmp_path):
    app = typer.Typer()
    app.command()(export_command)
    res = CliRunner().invoke(app, [str(plan_dir), "--version", "2.0.1", "--out", str(tmp_path / "o"),
                                   "--unit", "A", "--phases", "3"])
    assert res.exit_code == 0, res.output + res.stderr
    index = pd.read_csv(tmp_path / "o" / "index.csv", keep_default_na=False).set_index("ev_id")
    schedule = pd.read_csv(plan_dir / "ev_schedule.csv")
    raised = 0
    for ev_id, row in index.iterrows():
        limits = [p["limit"] for p in json.loads((tmp_path / "o" / row.file).read_text())
                  ["chargingProfile"]["chargingSchedule"][0]["chargingSchedulePeriod"]]
        assert all(x == 0 or x >= MIN_CURRENT_A for x in limits), (ev_id, limits)
        power = schedule[schedule.ev_id == ev_id].power_kw
        # the plan's slots whose current, floored to 0.1 A, is under the charger minimum: 6 A or the
        # EV's own min_power_kw per phase, rounded up to 0.1 A (an EV planned exactly at a minimum
        # that is not a whole step, 4.2 kW = 6.09 A, is raised by the round-off to 6.1 A)
        min_kw = float(pd.read_csv(plan_dir / "evs.csv").set_index("ev_id").min_power_kw[ev_id])
        least = np.ceil(max(MIN_CURRENT_A, min_kw * 1000 / (230 * 3)) * 10 - 1e-6) / 10
        floored = np.floor(power * 1000 / (230 * 3) * 10 + 1e-6) / 10
        below = ((floored > 0) & (floored < least)).sum()
        assert row.raised_slots == below and (below == 0) == ("charger minimum" not in row.note)
        raised += below
    assert raised > 0, "the small plan has set-points under 4.14 kW (EV E3 charges at 3.5 kW at most)"
    assert f"raise {raised} slot(s) below the charger minimum" in res.stderr
    assert res.stderr.count("\n") == 1, "one warning line"


# --- file names --------------------------------------------------------------------------------

HOSTILE_IDS = ["E1", "e1", "x" * 300, "../../etc/passwd", "a/b", "a_b", "..", ".hidden", "-rf", "CON", "nul.txt",
               "Ünïcødé 充电桩 1", "ev.", "E1.json", "e1.JSON", " ", "tab\tid", "a" * 64, "a" * 65]


def test_file_names_are_safe_and_unique_whatever_the_id():
    names = file_names(HOSTILE_IDS)
    assert len({n.lower() for n in names}) == len(names), "unique on case-insensitive file systems too"
    for ev, name in zip(HOSTILE_IDS, names):
        stem = name[:-len(".json")]
        assert name.endswith(".json") and len(name.encode()) <= 80, name
        assert re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9._-]*[A-Za-z0-9_-]|[A-Za-z0-9_]", stem), name
        assert stem.split(".")[0].upper() not in {"CON", "NUL"}
    plain = dict(zip(HOSTILE_IDS, names))
    assert plain["E1"] == "E1.json" and plain["a_b"] == "a_b.json" and plain["a" * 64] == "a" * 64 + ".json"
    assert plain["e1"] != "e1.json" and plain["a/b"].startswith("a_b-") and plain["a" * 65] != plain["a" * 64]
    assert file_names(HOSTILE_IDS) == names, "the same ids give the same names"


def test_plan_with_hostile_ids_keeps_the_plan_and_maps_every_id(tmp_path):
    from vpp_sched.cli import app

    evs = EVS.copy()
    evs["ev_id"] = ["x" * 300, "../../etc/passwd", ".hidden", "Ünïcødé 充电桩 1", "e1"]
    folder = write_scenario(tmp_path / "sc", evs=evs)
    out = tmp_path / "plan"
    res = CliRunner().invoke(app, ["plan", str(folder), "--out", str(out), "--ocpp", "2.0.1", "--no-report",
                                   "--no-parquet"])
    assert res.exit_code == 0, res.output + res.stderr
    assert json.loads((out / "kpis.json").read_text())["valid"] is True
    index = pd.read_csv(out / "ocpp" / "index.csv", keep_default_na=False)
    assert index.ev_id.tolist() == evs.ev_id.tolist()
    assert sorted(p.name for p in (out / "ocpp").iterdir()) == sorted([*index.file, "index.csv"])
    assert not (tmp_path / "etc").exists() and not list(tmp_path.glob("**/passwd*"))
    validator = _validator("2.0.1")
    for row in index.itertuples():
        validator.validate(json.loads((out / "ocpp" / row.file).read_text(encoding="utf-8"), parse_float=Decimal))
