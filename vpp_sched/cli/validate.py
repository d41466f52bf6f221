"""``vpp-sched validate``: check a scenario's input without solving."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vpp_sched.cli.errors import exit_codes
from vpp_sched.scenario.load import load_scenario


def validate(
    scenario: Annotated[Optional[Path], typer.Argument(help="Scenario folder or scenario.yaml; default: the bundled demo")] = None,
    debug: Annotated[bool, typer.Option(help="Show tracebacks")] = False,
) -> None:
    """Check a scenario (YAML and every table) and report each problem with file, row and field."""
    with exit_codes(debug):
        sc = load_scenario(scenario)
        typer.echo(f"{sc.config.name}: valid ({len(sc.transformers)} transformers, {len(sc.evs)} EVs, "
                   f"{len(sc.config.stations)} stations, {len(sc.config.dr_events)} DR events, "
                   f"{len(sc.slots)} slots of {sc.config.horizon.slot_minutes} min from {sc.slots[0].isoformat()})")
