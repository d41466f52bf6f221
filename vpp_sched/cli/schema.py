"""``vpp-sched schema``: print the JSON Schema of scenario.yaml or of a plan folder."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from vpp_sched.cli.errors import EXIT_USAGE, err
from vpp_sched.scenario.config import scenario_json_schema

WHAT = ("scenario", "plan")


def schema(
    what: Annotated[str, typer.Option("--what", help="scenario: scenario.yaml | plan: the plan folder's tables and kpis.json")] = "scenario",
) -> None:
    """Print the JSON Schema of scenario.yaml (default) or of a plan folder (--what plan)."""
    if what not in WHAT:
        err(f"error: --what must be one of {', '.join(WHAT)}, not {what!r}")
        raise typer.Exit(EXIT_USAGE)
    if what == "plan":
        from vpp_sched.plan.schema import plan_json_schema

        typer.echo(json.dumps(plan_json_schema(), indent=2))
    else:
        typer.echo(json.dumps(scenario_json_schema(), indent=2))
