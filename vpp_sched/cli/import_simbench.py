"""``vpp-sched import-simbench``: a starter scenario from a SimBench CSV grid."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Optional

import typer

from vpp_sched.cli.errors import EXIT_USAGE, err, exit_codes


def import_simbench(
    dir: Annotated[Path, typer.Argument(help="Folder with the SimBench CSV tables (Transformer.csv, Load.csv, LoadProfile.csv, ...)")],
    out: Annotated[Path, typer.Argument(help="Scenario folder to write")],
    day: Annotated[datetime, typer.Option("--day", formats=["%Y-%m-%d"], help="Scenario day YYYY-MM-DD: the horizon runs from its 12:00 local to the next day's 12:00 "
                                                                               "(noon to noon, as the rest of vpp-sched plans; see --start-hour, --slots); "
                                                                               "its base load is the 2016 day with the same weekday nearest its day of year")],
    timezone: Annotated[str, typer.Option(help="IANA time zone of the scenario; the profiles' clock time is kept")] = "Asia/Shanghai",
    start_hour: Annotated[int, typer.Option("--start-hour", min=0, max=23, help="Local hour of the first slot; default 12 (noon to noon), 0 for midnight to midnight")] = 12,
    slots: Annotated[int, typer.Option(min=1, help="Number of 15-minute slots")] = 96,
    power_factor: Annotated[float, typer.Option("--power-factor", help="Power factor of every transformer [-]")] = 0.95,
    max_loading_pu: Annotated[float, typer.Option("--max-loading-pu", help="Loading limit of every transformer [-]")] = 1.0,
    name: Annotated[Optional[str], typer.Option(help="Scenario name; default the grid folder's name")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace a scenario folder vpp-sched wrote earlier at OUT "
                                                        "(a folder it did not write is never replaced)")] = False,
    debug: Annotated[bool, typer.Option(help="Show tracebacks")] = False,
) -> None:
    """Write transformers, base load, an empty evs.csv and scenario.yaml from a SimBench grid."""
    from vpp_sched.interop.simbench import import_simbench as _import

    with exit_codes(debug):
        try:
            result = _import(dir, out, day.date(), timezone, start_hour=start_hour, slots=slots,
                             power_factor=power_factor, max_loading_pu=max_loading_pu, name=name, overwrite=force)
        except ValueError as exc:
            err(f"error: {exc}")
            raise typer.Exit(EXIT_USAGE) from None
        days = ", ".join(d.isoformat() for d in result.profile_days)
        typer.echo(f"scenario written to {result.folder}: {len(result.transformers)} transformer(s), "
                   f"{sum(result.loads_per_transformer.values())} loads, profiles of {days}")
        if result.unassigned_loads:
            err(f"warning: {len(result.unassigned_loads)} load(s) below no MV/LV transformer left out "
                f"(e.g. {result.unassigned_loads[0]})")
