"""The report's LV-grid section: the plan's AC power flow against uncontrolled charging, the weakest
buses and the most loaded lines (tables only: no figure, so the report stays as fast)."""

from __future__ import annotations

from html import escape

from vpp_sched.plan.grid_output import weakest, weakest_phases
from vpp_sched.report.html import info_table, num, table

WEAKEST = 8


def grid_section(run):
    """``(id, title, html)`` of the section, or ``None`` when no transformer names a grid."""
    g = run.plan.kpis.get("grid")
    if not g or not len(run.plan.grid_buses):
        return None
    plan, unc, lim = g["plan"], g.get("uncontrolled", {}), g["limits"]

    def pair(key, digits):
        if key not in plan:
            return "-"
        return f"{num(plan[key], digits)} (uncontrolled {num(unc[key], digits)})" if key in unc else num(plan[key], digits)

    beyond = ", ".join(plan["transformers_beyond_grid_limits"]) or "none"
    unc_beyond = ", ".join(unc.get("transformers_beyond_grid_limits", [])) or "none"
    info = info_table([
        ("lowest bus voltage, pu", pair("lowest_vm_pu", 4)),
        ("highest bus voltage, pu", pair("highest_vm_pu", 4)),
        ("highest line loading, %", pair("highest_line_loading_pct", 1)),
        ("worst phase unbalance, % (EVs on their phase)", pair("worst_unbalance_pct", 1)),
        ("slots above the unbalance limit (its slack, kWh)",
         f"{pair('unbalance_slots_above_limit', 0)}; {pair('unbalance_slack_kwh', 1)}"),
        ("highest phase loading, pu (phase slots above the limit)",
         f"{pair('highest_phase_loading_pu', 3)}; {pair('phase_overload_slots', 0)}"),
        ("voltage band, pu", f"{lim['voltage_min_pu']:g} .. {lim['voltage_max_pu']:g}"),
        ("lowest phase voltage, pu (three-phase flow)", pair("lowest_phase_vm_pu", 4)),
        ("worst voltage unbalance |V2|/|V1|, %", pair("worst_voltage_unbalance_pct", 2)),
        ("worst transformer current unbalance, %", pair("worst_transformer_current_unbalance_pct", 1)),
        ("phase band, pu", f"{lim.get('phase_voltage_min_pu', 0):g} .. {lim.get('phase_voltage_max_pu', 0):g}"),
        ("transformers beyond a grid limit", f"{escape(beyond)} (uncontrolled {escape(unc_beyond)})"),
        ("re-solves with grid rows", f"{g.get('iterations', 0)} ({g.get('model_rows', 0)} rows), extra energy cost "
                                     f"{num(g.get('extra_energy_cost_cny', 0.0), 2)} CNY"),
    ])
    buses, lines = weakest(run.plan.grid_buses, run.plan.grid_lines, WEAKEST)
    bus_rows = [[escape(r.transformer_id), escape(r.bus_id), escape(r.slot_start), num(r.vm_pu, 4)]
                for r in buses.itertuples()]
    line_rows = [[escape(r.transformer_id), escape(r.line_id), escape(r.slot_start), num(r.loading_pct, 1)]
                 for r in lines.itertuples()]
    body = (info + "<h3>Weakest buses (lowest voltage, at its worst slot)</h3>"
            + table(("transformer", "bus", "slot", "voltage pu"), bus_rows, text=(0, 1, 2),
                    marked={i for i, r in enumerate(buses.itertuples()) if r.vm_pu < lim["voltage_min_pu"]})
            + "<h3>Most loaded lines</h3>"
            + table(("transformer", "line", "slot", "loading %"), line_rows, text=(0, 1, 2),
                    marked={i for i, r in enumerate(lines.itertuples())
                            if r.loading_pct > lim["line_loading_max_pct"]}))
    phases = weakest_phases(run.plan.grid_buses, WEAKEST)
    if len(phases):
        phase_rows = [[escape(r.transformer_id), escape(r.bus_id), escape(r.phase), escape(r.slot_start),
                       num(r.vm_phase_pu, 4)] for r in phases.itertuples()]
        body += ("<h3>Weakest phase voltages (three-phase flow, EVs on their phases)</h3>"
                 + table(("transformer", "bus", "phase", "slot", "voltage pu"), phase_rows, text=(0, 1, 2, 3),
                         marked={i for i, r in enumerate(phases.itertuples())
                                 if r.vm_phase_pu < lim.get("phase_voltage_min_pu", 0)}))
    return "grids", "LV grids (AC power flow)", body
