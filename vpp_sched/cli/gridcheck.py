"""``vpp-sched gridcheck``: the LV grids' AC power flow of a written plan, and how it compares."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vpp_sched.cli.errors import exit_codes
from vpp_sched.cli.out import Force, scenario_files, scenario_folder


def gridcheck(
    plan_dir: Annotated[Path, typer.Argument(help="A plan folder written by vpp-sched plan")],
    scenario: Annotated[Optional[Path], typer.Option(help="The plan's scenario; default: the bundled Zezhou demo")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Also write grid_buses.csv and grid_lines.csv here")] = None,
    force: Force = False,
    debug: Annotated[bool, typer.Option(help="Show tracebacks")] = False,
) -> None:
    """Run the AC power flow of a plan's LV grids; print the weakest buses and lines and any breach."""
    from vpp_sched.plan.gridcheck import check_written_plan
    from vpp_sched.plan.output import atomic_folder, write_csv
    from vpp_sched.scenario.load import load_scenario

    with exit_codes(debug):
        sc = load_scenario(scenario)
        result = check_written_plan(plan_dir, sc)
        if out is not None:
            with atomic_folder(out, "gridcheck", inputs=[plan_dir, scenario_folder(scenario), *scenario_files(sc)],
                               force=force) as tmp:
                write_csv(result.buses, tmp / "grid_buses.csv")
                write_csv(result.lines, tmp / "grid_lines.csv")
    _print(result, sc.config.grid)


def _print(result, limits) -> None:
    k = result.kpis
    typer.echo(f"lowest voltage {k['lowest_vm_pu']:.4f} pu, highest {k['highest_vm_pu']:.4f} pu "
               f"(band {limits.voltage_min_pu:g}..{limits.voltage_max_pu:g}); highest line loading "
               f"{k['highest_line_loading_pct']:.1f} % (limit {limits.line_loading_max_pct:g} %)")
    breaches = k["undervoltage_bus_slots"] + k["overvoltage_bus_slots"] + k["overloaded_line_slots"]
    typer.echo(f"{breaches} breach(es): {k['undervoltage_bus_slots']} bus-slots below, {k['overvoltage_bus_slots']} "
               f"above the band, {k['overloaded_line_slots']} line-slots overloaded"
               + (f" on {', '.join(k['transformers_beyond_grid_limits'])}" if breaches else ""))
    if "lowest_phase_vm_pu" in k:
        typer.echo(f"three-phase flow: lowest phase voltage {k['lowest_phase_vm_pu']:.4f} pu, highest "
                   f"{k['highest_phase_vm_pu']:.4f} pu (phase band {limits.phase_voltage_min_pu:g}.."
                   f"{limits.phase_voltage_max_pu:g}; {k['phase_undervoltage_bus_slots']} bus-slots below, "
                   f"{k['phase_overvoltage_bus_slots']} above); worst voltage unbalance "
                   f"{k['worst_voltage_unbalance_pct']:.2f} % (limit {limits.voltage_unbalance_max_pct:g} %, "
                   f"{k['voltage_unbalance_bus_slots']} bus-slots above), transformer current unbalance "
                   f"{k['worst_transformer_current_unbalance_pct']:.1f} %")
    typer.echo("weakest buses:")
    for r in result.weakest_buses.itertuples():
        typer.echo(f"  {r.transformer_id} {r.bus_id} at {r.slot_start}: {r.vm_pu:.4f} pu")
    typer.echo("most loaded lines:")
    for r in result.weakest_lines.itertuples():
        typer.echo(f"  {r.transformer_id} {r.line_id} at {r.slot_start}: {r.loading_pct:.1f} %")
    if result.weakest_phases is not None and len(result.weakest_phases):
        typer.echo("weakest phases:")
        for r in result.weakest_phases.itertuples():
            typer.echo(f"  {r.transformer_id} {r.bus_id} phase {r.phase} at {r.slot_start}: {r.vm_phase_pu:.4f} pu")
    if result.max_phase_vm_difference_pu is not None:
        typer.echo(f"against the plan's phase voltages: largest difference {result.max_phase_vm_difference_pu:.2e} pu")
    if result.max_vm_difference_pu is not None:
        typer.echo(f"against the plan's grid tables: largest difference {result.max_vm_difference_pu:.2e} pu, "
                   f"{result.max_loading_difference_pct:.2e} % loading")
