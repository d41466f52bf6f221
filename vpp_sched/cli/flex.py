"""``vpp-sched flex``: the flexibility envelope the VPP desk can offer, per window and scope."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer

from vpp_sched.cli.errors import err, exit_codes
from vpp_sched.cli.out import Force, scenario_files, scenario_folder
from vpp_sched.cli.progress import progress_status
from vpp_sched.errors import InputError
from vpp_sched.studies.flex import flexibility_envelope
from vpp_sched.studies.flex_sites import site_ids
from vpp_sched.outfolder import OutFolder
from vpp_sched.plan.planner import plan_day
from vpp_sched.scenario.load import load_scenario


def flex(
    scenario: Annotated[Optional[Path], typer.Argument(help="Scenario folder or scenario.yaml; default: the bundled demo")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for flex.csv: new, empty or an earlier flex folder (replaced when complete)")] = Path("flex"),
    duration_min: Annotated[int, typer.Option("--duration-min", min=1, help="Window length [min]")] = 60,
    step_min: Annotated[Optional[int], typer.Option("--step-min", min=1, help="Window start every ... [min]; default the slot length")] = None,
    scope: Annotated[Optional[list[str]], typer.Option("--scope", help="'all', a transformer_id, a swap or fast-charging station_id, or 'sites' (each such station); repeat for several; default 'all' and each station")] = None,
    force: Force = False,
    debug: Annotated[bool, typer.Option(help="Show tracebacks")] = False,
) -> None:
    """How far each scope's load can be raised and lowered, per window, keeping every EV's energy, every swap
    the plan serves and every limit; the swap and fast-charging stations are scopes of their own (column kind)."""
    with exit_codes(debug), progress_status() as say:
        sc = load_scenario(scenario)  # bad input first (exit 1), then --out (exit 2), both before the solve
        with OutFolder(out, "flex", inputs=[scenario_folder(scenario), *scenario_files(sc)], force=force) as folder:
            run = plan_day(sc, progress=say)
            p = run.problem
            slot_min = int(round(p.dt_h * 60))
            if duration_min % slot_min or (step_min or slot_min) % slot_min:
                err(f"error: --duration-min and --step-min must be multiples of the slot length ({slot_min} min)")
                raise typer.Exit(2)
            scopes, sites = _scopes(p, scope)
            say("computing the flexibility envelope")
            table = flexibility_envelope(p, run.solution, run.scenario.config.solver, duration_min // slot_min, scopes,
                                         step=(step_min or slot_min) // slot_min, sites=sites)
            if table.attrs.get("time_limited"):
                err(f"warning: {table.attrs['time_limited']} of {2 * len(table)} window LPs stopped at the "
                    f"time limit ({run.scenario.config.solver.time_limit_s:g} s each) before the optimum; "
                    "their max_kw/min_kw/up_kw/down_kw are empty")
            text = table.copy()
            text["slot_start"] = text.slot_start.map(lambda x: x.isoformat())
            text.to_csv(folder.tmp / "flex.csv", index=False, float_format="%.3f", lineterminator="\n")
        typer.echo(f"flexibility envelope written to {folder.path / 'flex.csv'} "
                   f"({len(table)} windows of {duration_min} min)")


def _scopes(p, names: list[str] | None) -> tuple[dict[str, np.ndarray], list[str]]:
    """The transformer scopes (name -> bool [N]) and the site scopes (station_ids) that ``--scope`` names."""
    ids, stations = list(p.transformer_ids), site_ids(p)
    scopes, sites, problems = {}, [], []
    for name in names or ["all", "sites"]:
        if name == "all":
            scopes[name] = np.ones(len(ids), dtype=bool)
        elif name == "sites":
            sites += [s for s in stations if s not in sites]
        elif name in ids:
            scopes[name] = np.array([t == name for t in ids])
        elif name in stations:
            sites += [] if name in sites else [name]
        else:
            problems.append(f"--scope {name}: not 'all', 'sites', a transformer_id nor a swap or fast-charging "
                            "station_id of the scenario")
    if problems:
        raise InputError(problems)
    return scopes, sites
