"""JSON Schema parts of the swap and fast-charging stations' plan files (``swap_stations.csv``,
``fast_charging.csv``, ``transformer_load.csv`` ``site_kw``, ``kpis.json`` per station), merged into
:mod:`vpp_sched.plan.schema`."""

from __future__ import annotations


def _n(text: str, minimum: float | None = 0.0) -> dict:
    return {"type": "number", "description": text, **({"minimum": minimum} if minimum is not None else {})}


def _s(text: str) -> dict:
    return {"type": "string", "description": text}


_SLOT = {"type": "string", "format": "date-time", "description": "Start of the slot, ISO 8601 with UTC offset"}

SITE_TABLES: dict[str, tuple[str, dict[str, dict]]] = {
    "swap_stations": ("Battery-swap stations in every slot (models/swap_stations.md)", {
        "station_id": _s("Swap station id of scenario.yaml swap_stations"), "slot_start": _SLOT,
        "swaps_requested": _n("Expected swaps asked in the slot (swap_demand.csv) [-]"),
        "swaps_served": _n("Swaps served, at most the full packs on hand at the slot's start [-]"),
        "unserved_swaps": _n("swaps_requested - swaps_served [-]"),
        "full_packs": _n("Full packs at the slot's end (fluid: may be fractional) [-]"),
        "packs_charging": _n("Bays busy: ceil(charge_kw / bay_max_kw) [-]"),
        "charge_kw": _n("Pack charging at the grid side [kW]")}),
    "fast_charging": ("Fast-charging stations in every slot (models/fast_charging.md)", {
        "station_id": _s("Station id of scenario.yaml fast_charging_stations"), "slot_start": _SLOT,
        "arrivals": _n("Expected arrivals in the slot, arrivals_per_hour x slot hours [-]"),
        "energy_demand_kwh": _n("arrivals x mean_energy_kwh [kWh]"),
        "served_kwh": _n("min(demand, power cap) x slot hours [kWh]"),
        "power_cap_kw": _n("The station's power cap, its load at the transformer [kW]"),
        "battery_kw": _n("The station's battery, charge - discharge [kW]", None),
        "expected_wait_min": {"type": ["number", "null"], "description": "Erlang-C expected wait under the cap; "
                              "empty where the queue is unstable [min]"},
        "p_wait_over_target": _n("Erlang-C probability of waiting longer than target_wait_min [-]")}),
}
SITE_COLUMNS = {"transformer_load": {"site_kw": _n("Swap charging + fast-charging caps behind the transformer "
                                                   "(only with such stations) [kW]")}}
SITE_KPIS = {
    "swap_stations": {"type": "array", "description": "Per swap station: swaps_requested, swaps_served, "
                      "unserved_swaps, service_level (served / requested), charged_kwh", "items": {"type": "object",
                      "required": ["station_id", "swaps_requested", "swaps_served", "service_level"]}},
    "fast_charging_stations": {"type": "array", "description": "Per fast-charging station: energy served, mean "
                               "wait and P(wait > target) from Erlang C (model_*) and the seeded simulation (sim_*)",
                               "items": {"type": "object", "required": [
                                   "station_id", "energy_served_kwh", "model_mean_wait_min", "model_p_wait_over_target",
                                   "sim_mean_wait_min", "sim_p_wait_over_target", "slots_over_target"]}},
}
