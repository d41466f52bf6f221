"""JSON Schema of a plan folder (README "Plan output"), for the tools that read plans.

A CSV table is described as an array of rows, each row an object whose properties are the
columns with their JSON type and unit (CSV cells read as: numbers as numbers, ``True``/``False``
as booleans, times as ISO 8601 text with offset). ``kpis.json`` is described as it is. Tables
and ``kpis.json`` may gain columns and keys in later versions, so extra ones are allowed;
the listed ones are required. :func:`vpp_sched.plan.read_plan.plan_document` reads a folder into the
shape the schema describes, so ``jsonschema.validate(plan_document(folder), plan_json_schema())`` checks a plan.
"""

from __future__ import annotations

from vpp_sched.outfolder import MANIFEST
from vpp_sched.plan.sites_schema import SITE_COLUMNS, SITE_KPIS, SITE_TABLES
from vpp_sched.solve.solution import SolveStatus

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

_TIME = {"type": "string", "format": "date-time"}


def _str(text: str) -> dict:
    return {"type": "string", "description": text}


def _num(text: str, minimum: float | None = None) -> dict:
    out = {"type": "number", "description": text}
    if minimum is not None:
        out["minimum"] = minimum
    return out


def _time(text: str) -> dict:
    return {**_TIME, "description": text}


def _count(text: str) -> dict:
    return {"type": "integer", "minimum": 0, "description": text}


_SLOT = _time("Start of the slot, ISO 8601 with UTC offset")

# File stem -> (description, columns); every listed column is required.
TABLES: dict[str, tuple[str, dict[str, dict]]] = {
    "ev_schedule": ("Charging power of every EV in every slot of its stay", {
        "ev_id": _str("EV id of the scenario's evs.csv"),
        "slot_start": _SLOT,
        "power_kw": _num("Charging power at the charger, mean over the slot [kW]", 0),
        "plugged_in_whole_slot": {"type": "boolean", "description": "True when the EV is plugged in for the "
                                  "whole slot (it may charge only then) [-]"}}),
    "transformer_load": ("Load of every transformer in every slot; net = base + ev + battery - pv", {
        "transformer_id": _str("Transformer id of transformers.csv"),
        "slot_start": _SLOT,
        "base_load_kw": _num("Forecast load that is not scheduled [kW]"),
        "ev_kw": _num("EV charging behind the transformer, minus V2G discharge [kW]"),
        "pv_kw": _num("PV feed-in after curtailment, positive when producing [kW]", 0),
        "battery_kw": _num("Station batteries, positive when charging [kW]"),
        "net_load_kw": _num("Power drawn from the grid through the transformer [kW]"),
        "limit_kw": _num("Usable limit rated_kva x power_factor x max_loading_pu [kW]"),
        "overload_kw": _num("|net_load_kw| above limit_kw (import or reverse flow) the plan could not avoid [kW]", 0),
        "pv_curtailed_kw": _num("PV power curtailed [kW]", 0),
        "loading_pu": _num("net_load_kw / (rated_kva x power_factor), negative for reverse flow [-]")}),
    "evs": ("Energy of every EV: requested, delivered, short and why", {
        "ev_id": _str("EV id"),
        "transformer_id": _str("Transformer the EV charges behind"),
        "requested_kwh": _num("Energy requested at the charger [kWh]", 0),
        "delivered_kwh": _num("Energy the plan delivers [kWh]", 0),
        "unmet_kwh": _num("requested_kwh - delivered_kwh when positive [kWh]", 0),
        "reason": _str("Why the EV falls short; empty when it does not"),
        "arrival": _time("Arrival, ISO 8601 with UTC offset"),
        "departure": _time("Departure, ISO 8601 with UTC offset")}),
    "batteries": ("Station batteries in every slot", {
        "station_id": _str("Station id of scenario.yaml"),
        "slot_start": _SLOT,
        "charge_kw": _num("Charging power at the terminals [kW]", 0),
        "discharge_kw": _num("Discharging power at the terminals [kW]", 0),
        "soc_kwh": _num("Energy stored at the end of the slot [kWh]", 0)}),
    "feeders": ("Feeder loads in every slot (only when the scenario has feeders)", {
        "feeder_id": _str("Feeder id of feeders.csv"),
        "slot_start": _SLOT,
        "net_load_kw": _num("Sum of the net loads of the feeder's transformers [kW]"),
        "capacity_kw": _num("Feeder capacity [kW]"),
        "overload_kw": _num("Net load above capacity_kw [kW]", 0)}),
    "dr_events": ("Demand-response events in every slot wholly inside their window (only when there are "
                  "events); see models/dr_events.md", {
        "event_id": _str("Event id of scenario.yaml"),
        "kind": {"type": "string", "enum": ["peak_shaving", "valley_filling"],
                 "description": "peak_shaving (load kept target_kw below the baseline) or valley_filling "
                                "(target_kw above it)"},
        "slot_start": _SLOT,
        "baseline_kw": _num("Scope's load the event is measured against, by the event's baseline method "
                            "(uncontrolled, plan, jiangsu_5d, beijing_5of10, pre_event_15min) [kW]"),
        "target_kw": _num("Requested change against the baseline: a reduction for peak_shaving, a rise "
                          "for valley_filling [kW]", 0),
        "cap_kw": _num("The bound the target sets on the scope's net load: baseline_kw - target_kw "
                       "(an upper bound) for peak_shaving, baseline_kw + target_kw (a lower bound) for "
                       "valley_filling [kW]"),
        "net_load_kw": _num("Scope's net load in the plan [kW]"),
        "delivered_kw": _num("Response: baseline_kw - net_load_kw for peak_shaving, net_load_kw - "
                             "baseline_kw for valley_filling [kW]"),
        "shortfall_kw": _num("target_kw - delivered_kw when positive [kW]", 0)}),
    "events": ("One row per demand-response event (only when there are events); T_k = the slots "
               "wholly inside [start, end)", {
        "event_id": _str("Event id of scenario.yaml"),
        "kind": _str("peak_shaving or valley_filling"),
        "target_kw": _num("Requested change against the baseline [kW]", 0),
        "delivered_kw_mean": _num("Sum of delivered_kw over the event's slots / the number of slots wholly "
                                  "inside [start, end) (a slot cut by start or end counts neither in "
                                  "the sum nor in the divisor) [kW]"),
        "delivered_kwh": _num("delivered_kw x slot hours, summed over the same slots [kWh]"),
        "compliance_pct": _num("100 x delivered_kw_mean / target_kw (100 for a zero target) [%]"),
        "slots_met": _count("Slots with shortfall_kw at most 1e-4 kW [-]"),
        "slots": _count("Slots wholly inside [start, end) [-]"),
        "revenue_cny": _num("price_cny_per_kwh x min(max(delivered_kw, 0), target_kw) x slot hours, "
                            "summed [CNY]", 0),
        "penalty_cny": _num("shortfall_penalty_cny_per_kwh x shortfall_kw x slot hours, summed [CNY]", 0)}),
}
TABLES.update(SITE_TABLES)          # swap and fast-charging stations (plan/sites_schema.py)
OPTIONAL_TABLES = ("feeders", "dr_events", "events", *SITE_TABLES)

# Columns written only when the scenario has V2G EVs (``evs.csv`` column ``v2g``).
OPTIONAL_COLUMNS: dict[str, dict[str, dict]] = {
    "ev_schedule": {
        "discharge_kw": _num("V2G discharge to the grid, mean over the slot [kW]", 0),
        "soc_kwh": {"type": ["number", "null"], "description": "V2G EV battery energy at the end of the slot; "
                    "empty for EVs that are not V2G or not plugged in for the whole slot [kWh]"}},
    "evs": {
        "v2g": {"type": "boolean", "description": "The EV may discharge to the grid [-]"},
        "charged_kwh": _num("Energy charged at the charger [kWh]", 0),
        "discharged_kwh": _num("Energy discharged to the grid; delivered_kwh = charged_kwh - "
                               "discharged_kwh / (eta_c x eta_d) [kWh]", 0),
        "soc_departure_kwh": {"type": ["number", "null"], "description": "V2G EV battery energy at departure; "
                              "empty for EVs that are not V2G [kWh]"}},
}


for _stem, _cols in SITE_COLUMNS.items():
    OPTIONAL_COLUMNS.setdefault(_stem, {}).update(_cols)
# LV grids (only when a transformer names a grid; models/lv_grid.md)
_GRID_TABLES: dict[str, tuple[str, dict[str, dict]]] = {
    "grid_buses": ("Bus voltages of the LV grids' AC power flow in every slot", {
        "transformer_id": _str("Transformer id of transformers.csv"),
        "bus_id": _str("Node id of the grid's Node.csv"),
        "slot_start": _SLOT,
        "vm_pu": _num("Voltage magnitude on the bus's nominal voltage [pu]", 0),
        "vm_a_pu": {"type": ["number", "null"],
                    "description": "Phase a to neutral voltage of the three-phase flow, EVs on their phases [pu]"},
        "vm_b_pu": {"type": ["number", "null"],
                    "description": "Phase b to neutral voltage of the three-phase flow, EVs on their phases [pu]"},
        "vm_c_pu": {"type": ["number", "null"],
                    "description": "Phase c to neutral voltage of the three-phase flow, EVs on their phases [pu]"}}),
    "grid_lines": ("Line loading of the LV grids' AC power flow in every slot", {
        "transformer_id": _str("Transformer id of transformers.csv"),
        "line_id": _str("Line id of the grid's Line.csv"),
        "slot_start": _SLOT,
        "loading_pct": _num("Larger end current over the line type's iMax [%]", 0)}),
    "grid_phases": ("Per-phase load and current unbalance of each gridded transformer in every slot", {
        "transformer_id": _str("Transformer id of transformers.csv"),
        "slot_start": _SLOT,
        "p_a_kw": _num("Phase a: EVs on it + a third of base load and station [kW]"),
        "p_b_kw": _num("Phase b [kW]"),
        "p_c_kw": _num("Phase c [kW]"),
        "unbalance_pct": _num("(max - min) / max of the three phases [%]", 0)}),
}
TABLES.update(_GRID_TABLES)
OPTIONAL_TABLES = OPTIONAL_TABLES + tuple(_GRID_TABLES)
# grid_phases of transformers with phase rows in the model (models/lv_grid.md, "Phases")
OPTIONAL_COLUMNS["grid_phases"] = {
    **{f"loading_{x}_pu": _num(f"Phase {x} power over a third of rating_kw [pu]") for x in "abc"},
    "phase_limit_bound": {"type": "boolean", "description": "Some phase is at a third of limit_kw (phase_limit binds) [-]"},
    "phase_overload_kw": _num("Power above a third of limit_kw, summed over the phases (phase_overload_kw) [kW]", 0),
    "unbalance_limited": {"type": "boolean", "description": "The slot has the unbalance rows: base load and every "
                          "plugged-in EV at full power reach 30 % of rating_kw [-]"},
    "unbalance_slack_kw": _num("(1 - unbalance_max_pct/100) x strongest - weakest phase, where positive and "
                               "unbalance_limited (unbalance_slack_kw) [kW]", 0)}


def table_row_schema(stem: str) -> dict:
    """Object schema of one row of ``<stem>.csv`` (``ev_schedule``, ``evs``, ...)."""
    description, columns = TABLES[stem]
    return {"title": f"{stem}.csv row", "description": description, "type": "object",
            "properties": {**columns, **OPTIONAL_COLUMNS.get(stem, {})}, "required": list(columns)}


def _num_or_null(text: str) -> dict:
    # NaN and infinity are written as null (JSON has neither), e.g. the gap before any bound.
    return {"type": ["number", "null"], "description": text}


GRID_KPIS = {
    "grid_energy_cost_cny": _num("Tariff x positive net load x slot hours, summed over transformers [CNY]"),
    "grid_energy_kwh": _num("Positive net load x slot hours, summed over transformers [kWh]"),
    "peak_net_load_kw": _num("Peak of the portfolio's summed net load [kW]"),
    "max_transformer_load_kw": _num("Highest net load of any transformer and slot [kW]"),
    "max_loading_pu": _num("Highest |net_load_kw| / (rated_kva x power_factor) [-]", 0),
    "overloaded_transformers": _count("Transformers whose |net_load_kw| (import or reverse flow) exceeds "
                                      "limit_kw in at least one slot [-]"),
    "overload_energy_kwh": _num("Energy of |net_load_kw| above limit_kw, import and reverse flow, summed over "
                                "transformers and slots [kWh]", 0),
    "unmet_energy_kwh": _num("Energy EVs do not get by their departure [kWh]", 0),
    "evs_short": _count("EVs that fall short [-]"),
}
#: Plan and uncontrolled reference only (replay and what-if KPIs do not report it).
RAMP_KPI = {"max_ramp_kw": _num("Largest slot-to-slot rise of the portfolio's EV power (charging minus V2G "
                                "discharge), the step the upstream feeders see when chargers switch on together [kW]", 0)}
#: Plan and uncontrolled reference, with a demand charge in the tariff only (models/tariff.md).
DEMAND_KPI = {"demand_charge_cny": _num("Two-part tariff: cny_per_kw_month x new_peak_kw, summed over the sites "
                                        "and months (the whole month's charge of a new peak) [CNY]", 0)}
DEMAND_SITE = {
    "transformer_id": _str("The site (a transformer metered on the two-part tariff)"),
    "month": _str("Calendar month YYYY-MM of the slots (local dates)"),
    "demand_so_far_kw": _num("The month's peak before the horizon (0 for a month the horizon enters) [kW]", 0),
    "peak_kw": _num("The site's largest net load in the month's slots of the horizon [kW]"),
    "new_peak_kw": _num("max(peak_kw - demand_so_far_kw, 0): how far the plan raises the month's peak [kW]", 0),
    "cny_per_kw_month": _num("Demand price charged (0 where exempt) [CNY/kW/month]", 0),
    "exempt": {"type": "boolean", "description": "A charging facility's month up to 2030-12-31: no demand charge"},
    "demand_charge_cny": _num("cny_per_kw_month x new_peak_kw [CNY]", 0)}
KPIS = {
    "status": {"type": "string", "enum": [s.value for s in SolveStatus], "description": "Solver outcome"},
    "objective_cny": _num_or_null("Objective: energy cost + penalties - DR compensation [CNY]"),
    "bound_cny": _num_or_null("Best lower bound of objective_cny (DR compensation subtracted, as there) [CNY]"),
    "mip_gap": _num_or_null("Gap of the reported objective: |objective_cny - bound_cny| / max(|objective_cny|, "
                            "1e-9), from these two numbers, not the solver's own gap (which leaves the DR "
                            "compensation out and reads smaller); null without a bound [-]"),
    **GRID_KPIS,
    **RAMP_KPI,
    "pv_curtailed_kwh": _num("PV energy curtailed [kWh]", 0),
    "dr_shortfall_kwh": _num("Demand-response energy short of the targets [kWh]", 0),
    "n_evs": _count("EVs [-]"), "n_transformers": _count("Transformers [-]"), "n_slots": _count("Slots [-]"),
    "slot_minutes": {"type": "integer", "minimum": 1, "description": "Slot length [min]"},
    "build_seconds": _num("Building the final model(s) and passing them to HiGHS [s]", 0),
    "solve_seconds": _num("The rest of the solve stage: timing.solve_s - build_seconds, the plan-baseline "
                          "solve included (HiGHS's own time is timing.highs_s) [s]", 0),
    "total_seconds": _num("Whole planning run [s]", 0),
    "timing": {"type": "object", "description": "Where the run's time went [s]: stages, HiGHS's own runs "
               "(overlapping runs once) and the modelling overhead (solve stage minus HiGHS)",
               "properties": {key: _num(text, 0) for key, text in (
                   ("read_s", "Reading the scenario (vpp-sched plan only)"),
                   ("prepare_s", "PV forecast and problem arrays"), ("solve_s", "The solve call(s)"),
                   ("results_s", "Plan tables and KPIs"), ("check_s", "Validity check of the plan tables"),
                   ("highs_s", "Wall time during which a HiGHS run was going"),
                   ("modelling_overhead_s", "solve_s - highs_s: model builds, handover, the method's own work"),
                   ("pipeline_overhead_s", "prepare_s + solve_s + results_s + check_s - highs_s"),
                   ("modelling_overhead_s_per_10k_evs", "modelling_overhead_s per 10,000 EVs"),
                   ("pipeline_overhead_s_per_10k_evs", "pipeline_overhead_s per 10,000 EVs"))}
               | {"highs_runs": _count("HiGHS runs [-]")}},
    "solver": {"type": "object", "description": "Solver name, version and options used",
               "properties": {"name": {"type": "string"}, "version": {"type": "string"}}},
    "uncontrolled": {"type": "object", "description": "The same grid KPIs when every EV charges at full power "
                     "from arrival", "properties": GRID_KPIS | RAMP_KPI | DEMAND_KPI,
                     "required": list(GRID_KPIS | RAMP_KPI)},
    "scenario": _str("Scenario name"),
    "valid": {"type": "boolean", "description": "The plan passed the check from its own tables"},
    "method": _str("Model build used (lean or pyomo)"),
    "warnings": {"type": "array", "items": {"type": "string"}, "description": "Warnings also printed on stderr"},
    "v2g_evs": _count("EVs that may discharge (only with V2G EVs) [-]"),
    "v2g_discharged_kwh": _num("Energy V2G EVs discharged to the grid [kWh]", 0),
    "v2g_losses_kwh": _num("Charger-battery-grid round-trip losses of V2G EVs [kWh]"),
    "v2g_degradation_cny": _num("Battery wear paid for V2G discharge [CNY]", 0),
    **DEMAND_KPI,
    "demand_charges": {"type": "array", "description": "One record per site and month on the two-part tariff "
                       "(only with tariff.demand_charge)",
                       "items": {"type": "object", "properties": DEMAND_SITE, "required": list(DEMAND_SITE)}},
}
KPIS.update(SITE_KPIS)
KPIS["partitioned"] = {    # plan/output.py write_plan_large: a province's schedule
    "type": "object", "description": "Tables written as a hive-partitioned Parquet folder <table>/ instead of "
    "<table>.csv/.parquet (more rows than plan --partition-rows; only in such plans)",
    "additionalProperties": {"type": "object", "properties": {
        "rows": {"type": "integer"}, "partitions": {"type": "integer"}, "partition_column": {"type": "string"},
        "transformers_per_partition": {"type": "integer"},
        "csv": {"type": "boolean", "description": "<table>.csv written too (--csv-max-rows)"}},
        "required": ["rows", "partitions", "partition_column", "transformers_per_partition", "csv"]}}
REQUIRED_KPIS = ["status", "objective_cny", "grid_energy_cost_cny", "peak_net_load_kw", "max_loading_pu",
                 "unmet_energy_kwh", "mip_gap", "build_seconds", "solve_seconds", "solver", "slot_minutes",
                 "valid", "warnings", "uncontrolled", "max_ramp_kw"]


def kpis_schema() -> dict:
    """Object schema of ``kpis.json``."""
    return {"title": "kpis.json", "description": "Key figures of the plan and of the uncontrolled reference",
            "type": "object", "properties": KPIS, "required": REQUIRED_KPIS}


def plan_json_schema() -> dict:
    """JSON Schema of a whole plan folder: file name -> array of rows, and ``kpis.json``."""
    defs = {f"{stem}_row": table_row_schema(stem) for stem in TABLES}
    defs["kpis"] = kpis_schema()
    files = {f"{stem}.csv": {"type": "array", "items": {"$ref": f"#/$defs/{stem}_row"}} for stem in TABLES}
    files["kpis.json"] = {"$ref": "#/$defs/kpis"}
    files[MANIFEST] = manifest_schema()
    return {"$schema": SCHEMA_DIALECT, "title": "vpp-sched plan folder",
            "description": "Each CSV table as an array of row objects (columns with types and units); "
                           "kpis.json as written. Parquet copies hold the same tables; a table written as "
                           "partitioned Parquet (kpis.json partitioned) is checked as its CSV would be. "
                           f"{MANIFEST} marks the folder as vpp-sched's: only such a folder is ever "
                           "replaced by a later run.",
            "type": "object", "properties": files,
            "required": [f"{s}.csv" for s in TABLES if s not in OPTIONAL_TABLES] + ["kpis.json"],
            "$defs": defs}


def manifest_schema() -> dict:
    """Object schema of the manifest every folder vpp-sched writes carries (:mod:`vpp_sched.outfolder`)."""
    return {"title": MANIFEST, "type": "object", "required": ["written_by", "kind", "files"],
            "description": "Who wrote the folder and which files; no timestamps (outputs are byte-identical "
                           "run to run). A folder holding anything not listed here is never replaced.",
            "properties": {
                "written_by": {"const": "vpp-sched"},
                "kind": {"enum": ["plan", "replay", "flex", "whatif", "hosting", "ocpp", "scenario"],
                         "description": "The command that wrote it"},
                "files": {"type": "array", "items": {"type": "string"}, "uniqueItems": True,
                          "description": "Every file written, relative, '/'-separated, sorted"}}}
