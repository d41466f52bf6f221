"""Hostile and malformed input at the edges: numbers out of range, YAML bombs, daylight-saving
times, paths outside the scenario, unreadable tables, odd ids. Every case: exit 1, one line
naming the file (and row and field where there is one), no plan folder, and never a hang."""

from __future__ import annotations

import os
import time

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from scenario_factory import EVS, MINIMAL_YAML, START, TRANSFORMERS, base_load_frame, write_scenario
from vpp_sched.scenario import safe_yaml, table_file, tables
from vpp_sched.cli import app
from vpp_sched.scenario.config import MAX_EV_ENERGY_KWH, scenario_json_schema
from vpp_sched.errors import MAX_ECHO_CHARS, InputError, echo
from vpp_sched.scenario.load import ALLOW_OUTSIDE_ENV, load_scenario

runner = CliRunner()


def _plan_fails(folder, tmp_path, expected: str, lines: int | None = 1) -> list[str]:
    """Run ``plan``; assert exit 1, no plan folder, and ``expected`` in one problem line. Returns the lines."""
    out = tmp_path / "plan_out"
    started = time.monotonic()
    result = runner.invoke(app, ["plan", str(folder), "--out", str(out)])
    assert time.monotonic() - started < 20, "bad input must fail fast"
    assert result.exit_code == 1, result.output
    assert not out.exists(), "no plan folder may be left behind"
    problems = [line.strip() for line in result.stderr.splitlines()[1:]]
    assert result.stderr.startswith("error: invalid input"), result.stderr
    assert any(expected in line for line in problems), result.stderr
    if lines is not None:
        assert len(problems) == lines, result.stderr
    assert all(len(line) < 600 for line in problems), "echoed values are cut short"
    return problems


def _evs(**cells) -> pd.DataFrame:
    """EVS with ``{column: (row, value)}`` changed."""
    df = EVS.copy().astype(object)
    for column, (row, value) in cells.items():
        df.loc[row, column] = value
    return df


def _yaml(folder, text: str) -> None:
    (folder / "scenario.yaml").write_text(text, encoding="utf-8")


def _good_yaml_without(key: str) -> str:
    return yaml.safe_dump({k: v for k, v in MINIMAL_YAML.items() if k != key}, sort_keys=False)


# ------------------------------------------------------------------------------------------
# numbers: a plausible range, said in the message

@pytest.mark.parametrize("cells, expected", [
    ({"energy_kwh": (0, "1e308")}, "evs.csv row 1 (ev_id=E1): energy_kwh 1e+308 is outside 0..2000 kWh"),
    ({"max_power_kw": (2, "5e6")}, "evs.csv row 3 (ev_id=E3): max_power_kw 5000000 is outside 0..4000 kW"),
    ({"min_power_kw": (1, "-0.5")}, "evs.csv row 2 (ev_id=E2): min_power_kw -0.5 is outside 0..4000 kW"),
    ({"energy_kwh": (3, "inf")}, "evs.csv row 4 (ev_id=E4): energy_kwh 'inf' is not a finite number"),
    ({"energy_kwh": (3, "-Infinity")}, "evs.csv row 4 (ev_id=E4): energy_kwh '-Infinity' is not a finite number"),
    ({"energy_kwh": (0, "20,5")}, "evs.csv row 1 (ev_id=E1): energy_kwh '20,5' is not a number"),
])
def test_ev_numbers_out_of_range(tmp_path, cells, expected):
    _plan_fails(write_scenario(tmp_path / "sc", evs=_evs(**cells)), tmp_path, expected)


def test_a_truck_is_in_range(tmp_path):
    # the ranges are generous: a heavy truck on a megawatt charger is a real EV
    evs = _evs(energy_kwh=(3, 900.0), max_power_kw=(3, 1200.0), min_power_kw=(3, 0.0))
    trafos = TRANSFORMERS.assign(rated_kva=[100.0, 2500.0])
    sc = load_scenario(write_scenario(tmp_path / "sc", evs=evs, transformers=trafos))
    assert sc.evs.energy_kwh.max() == 900.0 < MAX_EV_ENERGY_KWH


@pytest.mark.parametrize("column, value, expected", [
    ("rated_kva", "1e300", "transformers.csv row 1 (transformer_id=T1): rated_kva 1e+300 is outside 0..1000000 kVA (0 excluded)"),
    ("rated_kva", "0", "transformers.csv row 1 (transformer_id=T1): rated_kva 0 is outside 0..1000000 kVA (0 excluded)"),
    ("max_loading_pu", "nan", "transformers.csv row 1 (transformer_id=T1): max_loading_pu 'nan' is not a number"),
])
def test_transformer_numbers_out_of_range(tmp_path, column, value, expected):
    trafos = TRANSFORMERS.astype(object)
    trafos.loc[0, column] = value
    folder = write_scenario(tmp_path / "sc", transformers=trafos, base_load=base_load_frame(TRANSFORMERS))
    _plan_fails(folder, tmp_path, expected)


def test_base_load_out_of_range(tmp_path):
    base = base_load_frame(TRANSFORMERS).astype({"load_kw": object})
    base.loc[4, "load_kw"] = "1e300"
    _plan_fails(write_scenario(tmp_path / "sc", base_load=base), tmp_path,
                "base_load.csv row 5 (transformer_id=T1): load_kw 1e+300 is outside -10000000..10000000 kW")


@pytest.mark.parametrize("overrides, expected", [
    ({"penalties": {"overload_cny_per_kwh": 1e308}}, "scenario.yaml: penalties.overload_cny_per_kwh: Input should be less than or equal to 1000000"),
    ({"solver": {"time_limit_s": 1e12}}, "scenario.yaml: solver.time_limit_s: Input should be less than or equal to 604800"),
    ({"site": {**MINIMAL_YAML["site"], "latitude": float("nan")}}, "scenario.yaml: site.latitude: Input should be a finite number"),
    ({"stations": [{"station_id": "S1", "transformer_id": "T1",
                    "battery": {"capacity_kwh": 1e30, "max_charge_kw": 50, "max_discharge_kw": 50}}]},
     "scenario.yaml: stations.0.battery.capacity_kwh: Input should be less than or equal to 10000000"),
])
def test_yaml_numbers_out_of_range(tmp_path, overrides, expected):
    _plan_fails(write_scenario(tmp_path / "sc", yaml_overrides=overrides), tmp_path, expected)


def test_schema_shows_the_ranges():
    defs = scenario_json_schema()["$defs"]
    assert defs["Penalties"]["properties"]["overload_cny_per_kwh"]["maximum"] == 1e6
    assert defs["BatteryConfig"]["properties"]["capacity_kwh"]["maximum"] == 1e7
    assert defs["SolverOptions"]["properties"]["time_limit_s"]["maximum"] == 7 * 24 * 3600


@pytest.mark.parametrize("horizon, expected", [
    ({"start": START, "slots": 10 ** 9, "slot_minutes": 15}, "scenario.yaml: horizon.slots: Input should be less than or equal to 100000"),
    ({"start": START, "slots": 1000, "slot_minutes": 1440}, "scenario.yaml: horizon: 1000 slots of 1440 min are 1,000 days, more than the 366"),
    ({"start": START, "slots": 96, "slot_minutes": 7}, "scenario.yaml: horizon.slot_minutes: slot_minutes=7 must divide a day"),
    ({"start": "9999-01-01T00:00:00+08:00", "slots": 96, "slot_minutes": 15}, "scenario.yaml: horizon.start: 9999-01-01T00:00:00+08:00 is outside the years 1970..2099"),
])
def test_horizon_out_of_range(tmp_path, horizon, expected):
    folder = write_scenario(tmp_path / "sc", yaml_overrides={"horizon": horizon}, base_load=base_load_frame(TRANSFORMERS))
    _plan_fails(folder, tmp_path, expected)


def test_a_time_far_in_the_future(tmp_path):
    evs = _evs(departure=(0, "9999-12-31T23:00:00+08:00"))
    _plan_fails(write_scenario(tmp_path / "sc", evs=evs), tmp_path,
                "evs.csv row 1 (ev_id=E1): departure 9999-12-31T23:00:00+08:00 is outside the years 1970..2099")


def test_many_bad_rows_are_capped_and_fast(tmp_path):
    evs = pd.concat([EVS] * 4000, ignore_index=True)
    evs["ev_id"] = [f"E{i}" for i in range(len(evs))]
    evs["energy_kwh"] = -1.0
    lines = _plan_fails(write_scenario(tmp_path / "sc", evs=evs), tmp_path, "energy_kwh -1 is outside", lines=None)
    assert len(lines) == tables.MAX_LINES_PER_FIELD + 1
    assert lines[-1] == f"evs.csv: {len(evs) - tables.MAX_LINES_PER_FIELD} more problems with field energy_kwh not listed"


# ------------------------------------------------------------------------------------------
# YAML: short echoes, no bombs

def _bomb(levels: int, top: str) -> str:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    lines.append(f"{top}: [{', '.join([f'*a{levels - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_under_name_is_refused_fast(tmp_path):
    folder = write_scenario(tmp_path / "sc")
    _yaml(folder, _bomb(9, "name") + _good_yaml_without("name"))
    lines = _plan_fails(folder, tmp_path, "scenario.yaml: refused YAML at line ")
    assert "aliases expand to more than 100,000 values" in lines[0]


def test_small_aliases_are_fine(tmp_path):
    folder = write_scenario(tmp_path / "sc")
    text = yaml.safe_dump(MINIMAL_YAML, sort_keys=False).replace("site:\n", "site: &site\n", 1)
    _yaml(folder, text + "x_unused_site: *site\n")
    # the alias loads (the unknown key is then the one problem)
    _plan_fails(folder, tmp_path, "scenario.yaml: x_unused_site: unknown key")


def test_large_wrong_typed_value_is_echoed_short(tmp_path):
    folder = write_scenario(tmp_path / "sc", yaml_overrides={"name": list(range(20_000))})
    lines = _plan_fails(folder, tmp_path, "scenario.yaml: name: Input should be a valid string")
    assert len(lines[0]) < 200


@pytest.mark.parametrize("text, expected", [
    ("name: &n [*n]\n", "scenario.yaml: refused YAML at line 1, column 11: alias *n is used inside its own anchor"),
    ("name: " + "[" * 3000 + "]" * 3000 + "\n", "nest"),   # libyaml's "exceeded maximum nesting depth", or ours
    ("name: one\nname: two\n", "scenario.yaml: refused YAML at line 2, column 1: key name appears twice in one mapping (first at line 1)"),
    ("name: !!python/object/apply:os.system ['true']\n", "scenario.yaml: malformed YAML at line 1, column 7: could not determine a constructor"),
])
def test_hostile_yaml(tmp_path, text, expected):
    folder = write_scenario(tmp_path / "sc")
    _yaml(folder, text + (_good_yaml_without("name") if "name:" in text else ""))
    lines = _plan_fails(folder, tmp_path, expected)
    assert lines[0].startswith("scenario.yaml: ")


@pytest.mark.parametrize("content, expected", [
    ("- a\n- b\n", "scenario.yaml: expected a mapping of keys (name, site, horizon, ...), found a list"),
    ("", "scenario.yaml: expected a mapping of keys (name, site, horizon, ...), found an empty file"),
    (b"\xb3\xa1\xbe\xb0: x\n", "scenario.yaml: not UTF-8 text (byte 0xb3 at position 0); save it as UTF-8"),
])
def test_yaml_that_is_not_a_scenario(tmp_path, content, expected):
    folder = write_scenario(tmp_path / "sc")
    if isinstance(content, bytes):
        (folder / "scenario.yaml").write_bytes(content)
    else:
        _yaml(folder, content)
    _plan_fails(folder, tmp_path, expected)


def test_yaml_too_large(tmp_path, monkeypatch):
    monkeypatch.setattr(safe_yaml, "MAX_YAML_BYTES", 100)
    _plan_fails(write_scenario(tmp_path / "sc"), tmp_path, "scenario.yaml: 0.0 MB is larger than the 0 MB vpp-sched reads")


def test_echo_cuts_and_escapes():
    assert echo("x" * 500) == "x" * MAX_ECHO_CHARS + "..."
    assert echo("a\nb") == "a\\nb"
    nested = ["lol"]
    for _ in range(30):
        nested = [nested] * 9     # 9^30 values if expanded
    assert len(echo(nested)) <= MAX_ECHO_CHARS + 3


# ------------------------------------------------------------------------------------------
# times on daylight-saving days

BERLIN = {"site": {"latitude": 52.5, "longitude": 13.4, "altitude_m": 40, "timezone": "Europe/Berlin"},
          "horizon": {"start": "2026-10-24T12:00:00+02:00", "slots": 100, "slot_minutes": 15}}


def _berlin(tmp_path, arrival: str, horizon: dict | None = None):
    yaml_overrides = {**BERLIN, **({"horizon": horizon} if horizon else {})}
    evs = EVS.copy()
    for col in ("arrival", "departure"):
        evs[col] = ["2026-10-24T18:00:00+02:00"] * 4 + ["2026-10-25T08:10:00+01:00"] if col == "arrival" else \
                   ["2026-10-25T07:00:00+01:00"] * 4 + ["2026-10-25T11:00:00+01:00"]
    evs.loc[0, "arrival"] = arrival
    base = base_load_frame(TRANSFORMERS, start=yaml_overrides["horizon"]["start"], slots=100)
    return write_scenario(tmp_path / "sc", yaml_overrides=yaml_overrides, evs=evs, base_load=base)


def test_fall_back_hour_without_offset_is_ambiguous(tmp_path):
    _plan_fails(_berlin(tmp_path, "2026-10-25T02:30:00"), tmp_path,
                "evs.csv row 1 (ev_id=E1): arrival 2026-10-25T02:30:00 is ambiguous in Europe/Berlin (clocks go back, "
                "the hour happens twice): write 2026-10-25T02:30:00+02:00 or 2026-10-25T02:30:00+01:00")


def test_fall_back_hour_with_offset_loads(tmp_path):
    sc = load_scenario(_berlin(tmp_path, "2026-10-25T02:30:00+01:00"))
    assert sc.evs.arrival.iat[0] == pd.Timestamp("2026-10-25T01:30:00Z")
    assert len(sc.slots) == 100 and sc.slots.is_unique


def test_spring_forward_gap_does_not_exist(tmp_path):
    horizon = {"start": "2026-03-29T02:30:00", "slots": 96, "slot_minutes": 15}
    folder = write_scenario(tmp_path / "sc", yaml_overrides={**BERLIN, "horizon": horizon},
                            base_load=base_load_frame(TRANSFORMERS, start="2026-03-29T03:30:00+02:00"))
    _plan_fails(folder, tmp_path, "scenario.yaml: horizon.start: 2026-03-29T02:30:00 does not exist in Europe/Berlin "
                                  "(clocks go forward, the hour is skipped): write a time outside the gap, e.g. "
                                  "2026-03-29T03:30:00+02:00")


def test_ambiguous_dr_event_in_yaml(tmp_path):
    event = {"event_id": "DR1", "start": "2026-10-25T02:15:00", "end": "2026-10-25T04:00:00+01:00", "target_kw": 5}
    folder = _berlin(tmp_path, "2026-10-24T18:00:00+02:00")
    config = yaml.safe_load((folder / "scenario.yaml").read_text())
    _yaml(folder, yaml.safe_dump({**config, "dr_events": [event]}, sort_keys=False))
    _plan_fails(folder, tmp_path, "scenario.yaml: dr_events.0.start: 2026-10-25T02:15:00 is ambiguous in Europe/Berlin")


# ------------------------------------------------------------------------------------------
# paths: tables only from inside the scenario folder

SECRET = "SECRET-TOKEN-4711"


def _secret(tmp_path):
    outside = tmp_path / "private.csv"
    outside.write_text(f"{SECRET},b\n1,2\n")
    return outside


@pytest.mark.parametrize("how", ["absolute", "relative", "symlink"])
def test_table_outside_the_folder_is_not_read(tmp_path, how):
    outside = _secret(tmp_path)
    folder = write_scenario(tmp_path / "sc")
    if how == "symlink":
        (folder / "evs.csv").unlink()
        (folder / "evs.csv").symlink_to(outside)
        name = "evs.csv"
    else:
        name = str(outside) if how == "absolute" else "../private.csv"
        config = yaml.safe_load((folder / "scenario.yaml").read_text())
        _yaml(folder, yaml.safe_dump({**config, "evs": name}, sort_keys=False))
    lines = _plan_fails(folder, tmp_path, f"scenario.yaml: evs: {name} is outside the scenario folder")
    assert SECRET not in "".join(lines) and ALLOW_OUTSIDE_ENV in lines[0]


def test_outside_tables_allowed_explicitly(tmp_path, monkeypatch):
    folder = write_scenario(tmp_path / "sc")
    shared = tmp_path / "shared_evs.csv"
    (folder / "evs.csv").rename(shared)
    config = yaml.safe_load((folder / "scenario.yaml").read_text())
    _yaml(folder, yaml.safe_dump({**config, "evs": "../shared_evs.csv"}, sort_keys=False))
    with pytest.raises(InputError):
        load_scenario(folder)
    assert len(load_scenario(folder, allow_outside_tables=True).evs) == len(EVS)
    monkeypatch.setenv(ALLOW_OUTSIDE_ENV, "1")
    assert len(load_scenario(folder).evs) == len(EVS)


def test_wrong_file_header_is_not_echoed(tmp_path):
    folder = write_scenario(tmp_path / "sc")
    (folder / "evs.csv").write_text("root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1\n")
    lines = _plan_fails(folder, tmp_path, "evs.csv: has none of the columns ev_id, transformer_id")
    assert "root" not in lines[0]


# ------------------------------------------------------------------------------------------
# unreadable tables: one line, no follow-on lines in the tables that depend on them

@pytest.mark.parametrize("write, expected", [
    (lambda p: p.unlink(), "transformers.csv: file not found at"),
    (lambda p: p.write_bytes("transformer_id,rated_kva,power_factor,max_loading_pu\n台区1,100,0.95,1\n".encode("gbk")),
     "transformers.csv: not UTF-8 text (line 2 has byte 0xc7); save it as UTF-8 (e.g. not GBK)"),
    (lambda p: p.write_bytes(bytes(range(256)) * 20), "transformers.csv: is a binary file, not CSV text"),
    (lambda p: p.write_bytes(p.read_text().encode("utf-16")), "transformers.csv: is UTF-16 text; save it as UTF-8 CSV"),
    (lambda p: p.write_text(p.read_text().replace(",", ";")),
     "transformers.csv: columns are separated by ';'; vpp-sched reads comma-separated CSV"),
    (lambda p: p.write_text(p.read_text().replace(",", "\t")),
     "transformers.csv: columns are separated by tabs; vpp-sched reads comma-separated CSV"),
    (lambda p: p.write_text(""), "transformers.csv: the first line is empty"),
    (lambda p: p.write_text("transformer_id,rated_kva,power_factor,max_loading_pu\n"),
     "transformers.csv: has no rows; a scenario needs at least one transformer"),
    (lambda p: (p.unlink(), p.mkdir()), "transformers.csv is a folder, not a CSV file"),
    (lambda p: p.write_text(p.read_text().replace("max_loading_pu", "rated_kva")),
     "transformers.csv: column rated_kva appears twice in the header (columns 2 and 4)"),
    (lambda p: p.write_text(p.read_text() + '"T9,5\n'), "transformers.csv: not a readable CSV table"),
    (lambda p: p.write_text(p.read_text().replace("\nT2,", '\n"T\n2",')),
     "transformers.csv row 2 (transformer_id=T\\n2): transformer_id 'T\\n2' contains a control character"),
])
def test_unreadable_transformers_is_one_problem(tmp_path, write, expected):
    folder = write_scenario(tmp_path / "sc")
    write(folder / "transformers.csv")
    _plan_fails(folder, tmp_path, expected)


def test_fifo_table_does_not_hang(tmp_path):
    folder = write_scenario(tmp_path / "sc")
    (folder / "evs.csv").unlink()
    os.mkfifo(folder / "evs.csv")
    _plan_fails(folder, tmp_path, "evs.csv is not a regular file")


def test_table_too_large(tmp_path, monkeypatch):
    monkeypatch.setattr(table_file, "MAX_TABLE_BYTES", 1000)
    _plan_fails(write_scenario(tmp_path / "sc"), tmp_path, "base_load.csv: 0 MB is larger than the 0 MB vpp-sched reads")


@pytest.mark.parametrize("change", [lambda b: b"\xef\xbb\xbf" + b, lambda b: b.replace(b"\n", b"\r\n"),
                                    lambda b: b.replace(b"\n", b"\r")])
def test_bom_and_line_ends_are_fine(tmp_path, change):
    folder = write_scenario(tmp_path / "sc")
    path = folder / "evs.csv"
    path.write_bytes(change(path.read_bytes()))
    assert list(load_scenario(folder).evs.ev_id) == list(EVS.ev_id)


# ------------------------------------------------------------------------------------------
# ids

@pytest.mark.parametrize("ev_id, expected", [
    ("E\x07", "evs.csv row 1 (ev_id=E\\x07): ev_id 'E\\x07' contains a control character"),
    ("E" * 100_000, "ev_id 'EEEEEEEEEE"),
    ("=HYPERLINK(\"http://x\")", "evs.csv row 1 (ev_id==HYPERLINK(\"http://x\")): ev_id '=HYPERLINK(\"http://x\")' starts with '='"),
])
def test_bad_ids(tmp_path, ev_id, expected):
    lines = _plan_fails(write_scenario(tmp_path / "sc", evs=_evs(ev_id=(0, ev_id))), tmp_path, expected)
    assert len(lines[0]) < 400


def test_long_and_comma_ids_load(tmp_path):
    evs = _evs(ev_id=(0, "E" * 300))
    evs.loc[1, "ev_id"] = "E,2"
    sc = load_scenario(write_scenario(tmp_path / "sc", evs=evs))
    assert list(sc.evs.ev_id[:2]) == ["E" * 300, "E,2"]


def test_bad_station_id_in_yaml(tmp_path):
    stations = [{"station_id": "S\n1", "transformer_id": "T1"}]
    _plan_fails(write_scenario(tmp_path / "sc", yaml_overrides={"stations": stations}), tmp_path,
                "scenario.yaml: stations.0.station_id: id contains a control character")


# ------------------------------------------------------------------------------------------
# an earlier plan stays as it was

def test_bad_input_leaves_an_earlier_plan_intact(tmp_path):
    good = write_scenario(tmp_path / "good")
    out = tmp_path / "plan_out"
    assert runner.invoke(app, ["plan", str(good), "--out", str(out)]).exit_code == 0
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    bad = write_scenario(tmp_path / "bad", evs=_evs(energy_kwh=(0, "1e308")))
    result = runner.invoke(app, ["plan", str(bad), "--out", str(out)])
    assert result.exit_code == 1
    assert "evs.csv row 1 (ev_id=E1): energy_kwh 1e+308 is outside 0..2000 kWh" in result.stderr
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before


# ------------------------------------------------------------------------------------------
# scenario.yaml values of the wrong shape

@pytest.mark.parametrize("overrides, expected", [
    ({"site": {**MINIMAL_YAML["site"], "timezone": "x" * 5000}}, "scenario.yaml: site.timezone: unknown time zone 'xxxx"),
    ({"dr_events": [{"event_id": "D", "start": START, "end": "2026-11-27T14:00:00+08:00", "target_kw": 1,
                     "scope": {"a": 1}}]}, "scenario.yaml: dr_events.0.scope: Input should be 'all', or one of the other forms"),
    ({"dr_events": [{"event_id": "D", "start": "2026-11-27T15:00:00", "end": "2026-11-27T14:00:00+08:00",
                     "target_kw": 1}]}, "scenario.yaml: dr_events.0 (D): start..end (2026-11-27T15:00:00 to 2026-11-27T14:00:00+08:00) covers no whole slot"),
    ({"evs": "../x.csv\n"}, "scenario.yaml: evs: '../x.csv\\n' is not a file name"),
])
def test_yaml_values_of_the_wrong_shape(tmp_path, overrides, expected):
    _plan_fails(write_scenario(tmp_path / "sc", yaml_overrides=overrides), tmp_path, expected)


def test_many_bad_list_items_are_capped(tmp_path):
    stations = [{"station_id": "S", "transformer_id": "T1", "pv": {"capacity_kwp": 10, "cloud_factor": [float("nan")] * 96}}]
    lines = _plan_fails(write_scenario(tmp_path / "sc", yaml_overrides={"stations": stations}), tmp_path,
                        "scenario.yaml: stations.0.pv.cloud_factor.0: Input should be a finite number", lines=None)
    assert len(lines) == tables.MAX_LINES_PER_FIELD + 1
    assert lines[-1] == "scenario.yaml: 76 more problems with field stations.N.pv.cloud_factor.N not listed"


def test_yaml_with_too_many_values(tmp_path, monkeypatch):
    monkeypatch.setattr(safe_yaml, "MAX_YAML_VALUES", 10)
    lines = _plan_fails(write_scenario(tmp_path / "sc"), tmp_path, "scenario.yaml: refused YAML at line ")
    assert lines[0].endswith("more than 10 values; put per-slot data in CSV tables")


@pytest.mark.parametrize("old, new, expected", [
    ("slots: 96", "slots: " + "9" * 5000, "scenario.yaml: refused YAML at line 9, column 10: a number of 5,000 characters"),
    ("start: '2026-11-27T12:00:00+08:00'", "start: 2026-02-30",
     "scenario.yaml: malformed YAML at line 8, column 10: 2026-02-30 is not a date or time"),
])
def test_yaml_values_python_cannot_read(tmp_path, old, new, expected):
    folder = write_scenario(tmp_path / "sc")
    text = (folder / "scenario.yaml").read_text()
    assert old in text
    _yaml(folder, text.replace(old, new, 1))
    _plan_fails(folder, tmp_path, expected)
