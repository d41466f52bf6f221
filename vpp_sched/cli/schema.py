"""``vpp-sched schema``: print the JSON Schema of scenario.yaml."""

from __future__ import annotations

import json

import typer

from vpp_sched.config import scenario_json_schema


def schema() -> None:
    """Print the JSON Schema of scenario.yaml."""
    typer.echo(json.dumps(scenario_json_schema(), indent=2))
