"""``vpp-sched export-ocpp``: OCPP SetChargingProfile requests from a written plan folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import pandas as pd
import typer

from vpp_sched.cli.errors import EXIT_USAGE, err, exit_codes
from vpp_sched.cli.out import Force
from vpp_sched.interop.ocpp import UNITS, VERSIONS, OcppOptionError, ProfileOptions, export_ocpp as _export, raised_warning
from vpp_sched.outfolder import check_target


def export_ocpp(
    plan: Annotated[Path, typer.Argument(help="Plan folder written by `vpp-sched plan`")],
    version: Annotated[str, typer.Option("--version", help=f"OCPP version: {' | '.join(VERSIONS)}")] = "1.6",
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Folder to write: new, empty or an earlier OCPP export; default PLAN/ocpp (replaced when complete)")] = None,
    unit: Annotated[str, typer.Option(help=f"Limit unit: {' | '.join(UNITS)} (A: current per phase)")] = "W",
    voltage: Annotated[float, typer.Option(help="Phase-to-neutral voltage: I = P / (voltage x phases) per phase, unity power factor [V]")] = 230.0,
    phases: Annotated[int, typer.Option(help="Phases the chargers use for --unit A (1 or 3); a non-zero limit is at least 6 A per phase")] = 3,
    connector_id: Annotated[int, typer.Option("--connector-id", help="Connector (1.6) / EVSE (2.0.1) id when evs.csv has no connector_id/evse_id column")] = 1,
    stack_level: Annotated[int, typer.Option("--stack-level", help="Stack level of every profile")] = 0,
    first_profile_id: Annotated[int, typer.Option("--first-profile-id", help="Charging profile id of the first EV; ids count up in evs.csv order")] = 1,
    force: Force = False,
    debug: Annotated[bool, typer.Option(help="Show tracebacks")] = False,
) -> None:
    """Write one SetChargingProfile request (absolute TxProfile) per EV, plus index.csv."""
    options = dict(unit=unit, voltage_v=voltage, phases=phases, connector_id=connector_id,
                   stack_level=stack_level, first_profile_id=first_profile_id)
    try:
        if version not in VERSIONS:
            raise OcppOptionError(f"--version must be one of {', '.join(VERSIONS)}, not {version!r}")
        ProfileOptions(**options).check()
    except OcppOptionError as exc:
        err(f"error: {exc}")
        raise typer.Exit(EXIT_USAGE) from None
    with exit_codes(debug):
        check_target(out if out is not None else plan / "ocpp", "ocpp", [plan], force=force)  # before reading
        folder = _export(plan, version, out, force=force, **options)
        index = pd.read_csv(folder / "index.csv", keep_default_na=False)
        # one request per row of index.csv: a glob of *.json would also count the folder's .vpp-sched-manifest.json
        n = int((index["file"] != "").sum())
        typer.echo(f"{n} OCPP {version} SetChargingProfile request(s) written to {folder} (see index.csv)")
        raised = raised_warning(index)
        if raised:
            err(f"warning: {raised}")
