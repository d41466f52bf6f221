"""``vpp-sched validate``: check a scenario's input without solving, or a written plan folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vpp_sched.cli.errors import exit_codes
from vpp_sched.scenario.load import load_scenario


def validate(
    scenario: Annotated[Optional[Path], typer.Argument(help="Scenario folder or scenario.yaml, or a plan folder; default: the bundled demo")] = None,
    plan_scenario: Annotated[Optional[Path], typer.Option("--scenario", help="A plan folder's scenario, for its physical check; default: the bundled Zezhou demo")] = None,
    debug: Annotated[bool, typer.Option(help="Show tracebacks")] = False,
) -> None:
    """Check a scenario (YAML and every table) or a plan folder; report each problem with file, row and field."""
    from vpp_sched.plan.check_folder import is_plan_folder

    if scenario is not None and is_plan_folder(scenario):
        _validate_plan(scenario, plan_scenario, debug)
        return
    with exit_codes(debug):
        _refuse_plan_file(scenario, is_plan_folder)
        sc = load_scenario(scenario)
        typer.echo(f"{sc.config.name}: valid ({len(sc.transformers)} transformers, {len(sc.evs)} EVs, "
                   f"{len(sc.config.stations)} stations, {len(sc.config.dr_events)} DR events, "
                   f"{len(sc.slots)} slots of {sc.config.horizon.slot_minutes} min from {sc.slots[0].isoformat()})")


def _refuse_plan_file(path: Optional[Path], is_plan_folder) -> None:
    """A plan's own file (its kpis.json, say) would be read as a scenario.yaml and give a line per KPI
    ("unknown key"): one line pointing at the plan folder instead."""
    from vpp_sched.errors import InputError

    if path is not None and path.is_file() and is_plan_folder(path.parent):
        raise InputError([f"{path}: a file of the plan folder {path.parent}, not a scenario; "
                          f"check the plan with `vpp-sched validate {path.parent}`"])


def _validate_plan(folder: Path, plan_scenario: Optional[Path], debug: bool) -> None:
    """The plan folder against the plan's JSON Schema, then its physical validity on its scenario."""
    from vpp_sched.errors import InputError
    from vpp_sched.plan.check_folder import check_plan_folder

    with exit_codes(debug):
        check = check_plan_folder(folder, load_scenario(plan_scenario))
        if check.problems:
            raise InputError(check.problems)
    rows = sum(check.tables.values())
    typer.echo(f"{folder}: a valid plan of {check.kpis.get('scenario', '?')} ({len(check.tables)} tables, "
               f"{rows:,} rows, kpis.json; JSON Schema and physical validity), status {check.kpis.get('status', '?')}")
