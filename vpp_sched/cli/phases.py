"""``vpp-sched phases``: suggested phases for the home chargers, lowering the worst unbalance."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vpp_sched.cli.errors import exit_codes
from vpp_sched.cli.out import Force, scenario_files, scenario_folder


def phases(
    scenario: Annotated[Optional[Path], typer.Argument(help="Scenario folder or scenario.yaml; default: the bundled Zezhou demo")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write phases.csv and phases_summary.csv here")] = None,
    force: Force = False,
    debug: Annotated[bool, typer.Option(help="Show tracebacks")] = False,
) -> None:
    """Suggest phases (a, b, c) for single-phase chargers without one; print the worst unbalance, lowest phase
    voltage and voltage unbalance (three-phase flow) before and after."""
    from vpp_sched.plan.output import atomic_folder, write_csv
    from vpp_sched.scenario.load import load_scenario
    from vpp_sched.studies.phases import suggest_phases

    with exit_codes(debug):
        sc = load_scenario(scenario)
        assignments, summary = suggest_phases(sc)
        if out is not None:
            with atomic_folder(out, "phases", inputs=[scenario_folder(scenario), *scenario_files(sc)],
                               force=force) as tmp:
                write_csv(assignments, tmp / "phases.csv")
                write_csv(summary, tmp / "phases_summary.csv")
    for r in summary.itertuples():
        typer.echo(f"{r.transformer_id}: worst unbalance {r.worst_unbalance_rule_pct:.1f} % by the rule, "
                   f"{r.worst_unbalance_suggested_pct:.1f} % suggested ({r.evs_moved} EVs moved, {r.chosen}); "
                   f"lowest phase voltage {r.lowest_phase_vm_rule_pu:.4f} -> {r.lowest_phase_vm_suggested_pu:.4f} pu, "
                   f"voltage unbalance {r.worst_voltage_unbalance_rule_pct:.2f} -> "
                   f"{r.worst_voltage_unbalance_suggested_pct:.2f} %")
