"""``vpp-sched import-openadr``: a stored oadrDistributeEvent as DR events of a new scenario folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vpp_sched.cli.errors import err, exit_codes
from vpp_sched.cli.out import scenario_folder
from vpp_sched.cli.ven import (Baseline, CapacityUnit, LevelFractions, LevelKw, Penalty, Price,
                               mapping_from_options)
from vpp_sched.errors import InputError


def import_openadr(
    event_xml: Annotated[Path, typer.Argument(help="A stored OpenADR 2.0b oadrDistributeEvent (XML)")],
    out: Annotated[Path, typer.Option("--out", "-o", help="New scenario folder: the scenario with the events added")],
    scenario: Annotated[Optional[Path], typer.Option("--scenario", help="Scenario folder or scenario.yaml; default: the bundled demo")] = None,
    level_fractions: LevelFractions = "0.25,0.5,0.75",
    level_kw: LevelKw = None,
    capacity_unit: CapacityUnit = "fraction",
    baseline: Baseline = "uncontrolled",
    price: Price = 0.0,
    penalty: Penalty = 5.0,
    force: Annotated[bool, typer.Option("--force", help="Replace a scenario folder vpp-sched wrote earlier at OUT "
                                                        "(a folder it did not write is never replaced)")] = False,
    debug: Annotated[bool, typer.Option(help="Show tracebacks")] = False,
) -> None:
    """Convert the events of a stored oadrDistributeEvent into DR events of a copy of the scenario.

    Every event must convert (an unknown target or a signal we do not map is an error); cancelled
    events are left out. `vpp-sched plan OUT` then plans with them and reports any shortfall."""
    mapping = mapping_from_options(level_fractions, level_kw, capacity_unit, baseline, price, penalty)
    from vpp_sched.interop.openadr import convert_event, write_scenario_with_events
    from vpp_sched.interop.openadr.messages import read_distribute_event
    from vpp_sched.outfolder import check_target
    from vpp_sched.scenario.load import load_scenario

    with exit_codes(debug):
        check_target(out, "scenario", [scenario_folder(scenario), event_xml], force=force)  # before any work
        oadr_events = read_distribute_event(event_xml)
        sc = load_scenario(scenario)
        events, problems = [], []
        for oadr in oadr_events:
            conv = convert_event(oadr, sc, mapping)
            problems += [f"{event_xml}: event {conv.oadr_event_id}: {p}" for p in conv.problems]
            for note in conv.notes:
                err(f"note: event {conv.oadr_event_id}: {note}")
            if conv.cancelled:
                err(f"note: event {conv.oadr_event_id} is cancelled; left out")
            events += conv.events
        if problems:
            raise InputError(problems)
        folder = write_scenario_with_events(scenario, events, out, overwrite=force)
        typer.echo(f"scenario written to {folder} with {len(events)} DR event(s) from {event_xml}:")
        for ev in events:
            scope = "all" if ev.scope == "all" else " ".join(ev.scope)
            typer.echo(f"  {ev.event_id}: {ev.kind} {ev.target:.1f} kW below the {ev.baseline} baseline, "
                       f"{ev.start.isoformat()} to {ev.end.isoformat()}, scope {scope}")
