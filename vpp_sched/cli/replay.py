"""``vpp-sched replay``: replay the day slot by slot on actuals, re-planning as news arrives."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vpp_sched.studies.actuals import load_actuals
from vpp_sched.cli.errors import err, exit_codes
from vpp_sched.cli.out import Force, scenario_files, scenario_folder
from vpp_sched.outfolder import OutFolder
from vpp_sched.cli.progress import progress_status
from vpp_sched.studies.replay import REPLAN_TIME_LIMIT_S, RUNS, replay_day, replay_kpis, write_replay
from vpp_sched.scenario.load import load_scenario
from vpp_sched.solve.dispatch import METHODS


def replay(
    scenario: Annotated[Optional[Path], typer.Argument(help="Scenario folder or scenario.yaml; default: the bundled Zezhou demo")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Replay folder to write: new, empty or an earlier replay folder (replaced when complete)")] = Path("replay"),
    actuals: Annotated[Optional[Path], typer.Option("--actuals", help="Folder with the actual evs.csv [, base_load.csv, pv.csv, swap_demand.csv, fast_demand.csv]; default: the forecast perturbed with --seed")] = None,
    replan_every: Annotated[int, typer.Option("--replan-every", min=0, help="Re-plan every N slots (0: only at DR notices and unforeseen arrivals)")] = 4,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of the perturbation when --actuals is not given")] = 0,
    method: Annotated[str, typer.Option(help=f"Model build: {' | '.join(METHODS)}")] = "lean",
    time_limit: Annotated[Optional[float], typer.Option("--time-limit", min=0.001, help="Solver time limit of the day-ahead plan [s]; overrides scenario.yaml")] = None,
    replan_time_limit: Annotated[float, typer.Option("--replan-time-limit", min=0.001, help="Controller deadline of a re-plan [s]: counted when missed (kpis replans_over_deadline), never cuts a re-plan, so replays repeat on any machine")] = REPLAN_TIME_LIMIT_S,
    force: Force = False,
    debug: Annotated[bool, typer.Option(help="Show tracebacks")] = False,
) -> None:
    """Simulate the day as it happens: the day-ahead plan, re-planned from the actual state, against
    the day-ahead set-points alone and uncontrolled charging."""
    if method not in METHODS:
        err(f"error: --method must be one of {', '.join(METHODS)}, not {method!r}")
        raise typer.Exit(2)
    with exit_codes(debug), progress_status() as say:
        say("reading the scenario")
        sc = load_scenario(scenario)  # bad input first (exit 1), then --out (exit 2), both before the replay
        with OutFolder(out, "replay", inputs=[scenario_folder(scenario), actuals, *scenario_files(sc)],
                       force=force) as folder:
            real = load_actuals(actuals, sc) if actuals is not None else None
            options = sc.config.solver
            if time_limit is not None:
                options = options.model_copy(update={"time_limit_s": time_limit})
            result = replay_day(sc, real, seed=seed, replan_every=replan_every, options=options, method=method,
                                replan_time_limit_s=replan_time_limit, progress=say)
            say("writing the replay")
            write_replay(result, folder)
        _summary(replay_kpis(result), folder.path)


def _summary(k: dict, folder: Path) -> None:
    typer.echo(f"replay written to {folder} (actuals: {k['actuals']})")
    r = k["replanned"]
    typer.echo(f"  {r['replans']} re-plan(s) at {r['decision_points']} decision point(s), "
               f"solving {r['solve_seconds']:.1f} s in all")
    for name in RUNS:
        run = k[name]
        events = ", ".join(f"{e['event_id']} {e['compliance_pct']:.0f}%" for e in run.get("dr_events", []))
        typer.echo(f"  {name:<15} cost {run['grid_energy_cost_cny']:,.0f} CNY, peak {run['peak_net_load_kw']:,.0f} kW, "
                   f"max loading {run['max_loading_pu']:.2f} pu, {run['overload_slots']} overloaded slot(s), "
                   f"unmet {run['unmet_energy_kwh']:.1f} kWh" + (f", DR {events}" if events else ""))
    for line in k["warnings"]:
        err(f"warning: {line}")
