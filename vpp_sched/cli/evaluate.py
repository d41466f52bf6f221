"""``vpp-sched evaluate``: plans played on sampled days of the scenario's uncertainty model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vpp_sched.cli.errors import EXIT_USAGE, err, exit_codes
from vpp_sched.cli.out import Force, scenario_files, scenario_folder
from vpp_sched.cli.whatif import SCHEDULER_HELP
from vpp_sched.solve.dispatch import METHODS

#: Default of --replan-every; the study module's value, repeated here so `--help` imports no study.
DEFAULT_REPLAN_EVERY = 24


def evaluate(
    scenario: Annotated[Optional[Path], typer.Argument(help="Scenario folder or scenario.yaml; default: the bundled Zezhou demo")] = None,
    days: Annotated[int, typer.Option("--days", min=1, max=100_000, help="Sampled days")] = 100,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of the sampled days (day d of seed s is the same whatever else runs)")] = 0,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write: new, empty or an earlier evaluate folder (replaced when complete)")] = Path("evaluate"),
    policies: Annotated[str, typer.Option("--policies", help="Comma-separated: uncontrolled, day-ahead, replan, robust")] = "uncontrolled,day-ahead,replan,robust",
    replan_every: Annotated[int, typer.Option("--replan-every", min=1, help="Re-plan every N slots (replan, robust)")] = DEFAULT_REPLAN_EVERY,
    scheduler: Annotated[Optional[str], typer.Option(help=SCHEDULER_HELP)] = None,
    workers: Annotated[Optional[int], typer.Option(min=1, help="Days at once (default: the cores; 1 = serial)")] = None,
    method: Annotated[str, typer.Option(help=f"Model build: {' | '.join(METHODS)}")] = "lean",
    no_report: Annotated[bool, typer.Option("--no-report", help="Do not write report.html")] = False,
    force: Force = False,
    debug: Annotated[bool, typer.Option(help="Show tracebacks")] = False,
) -> None:
    """Monte-Carlo evaluation: N sampled days under each policy; days.csv, transformers.csv, summary.md, report.html."""
    from vpp_sched.errors import ArgumentError
    from vpp_sched.outfolder import OutFolder
    from vpp_sched.scenario.load import load_scenario
    from vpp_sched.studies import evaluate as study
    from vpp_sched.studies.evaluate_output import write_evaluate
    from vpp_sched.studies.whatif import executor_for

    if method not in METHODS:
        err(f"error: --method must be one of {', '.join(METHODS)}, not {method!r}")
        raise typer.Exit(EXIT_USAGE)
    try:
        chosen = study.parse_policies(policies)
    except ArgumentError as exc:
        err(f"error: --policies: {exc}")
        raise typer.Exit(EXIT_USAGE) from None
    with exit_codes(debug):
        sc = load_scenario(scenario)  # bad input first (exit 1), then --out (exit 2), both before the study
        with OutFolder(out, "evaluate", inputs=[scenario_folder(scenario), *scenario_files(sc)], force=force) as folder:
            typer.echo(f"{days} day(s) x {len(chosen)} polic{'y' if len(chosen) == 1 else 'ies'}, re-plans every "
                       f"{replan_every} slot(s)", err=True)
            with executor_for(scheduler, workers, tasks=days) as ex:
                result = study.run_evaluate(sc, days, seed, chosen, replan_every=replan_every, method=method,
                                            executor=ex)
            write_evaluate(result, folder, report=not no_report, limit_kw=sc.transformers.limit_kw.to_numpy(float))
        _summary(result, folder.path)
        for line in result.warnings:
            err(f"warning: {line}")


def _summary(result, folder: Path) -> None:
    from vpp_sched.studies.evaluate import policy_stats

    typer.echo(f"evaluation written to {folder}")
    typer.echo(f"  {result.n_days} day(s) in {result.wall_seconds:.1f} s wall, {result.cpu_seconds:.1f} s CPU "
               f"({result.executor}, {result.workers} worker(s))")
    for s in policy_stats(result).itertuples():
        typer.echo(f"  {s.policy:<13} cost {s.energy_cost_cny_mean:,.0f} CNY, overload on {s.days_with_overload:.0%} "
                   f"of days, {s.transformers_held_95} of {s.transformers} transformers held on >= 95 % of days, "
                   f"unmet {s.unmet_kwh_mean:,.1f} kWh a day")
