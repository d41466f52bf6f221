"""``vpp-sched whatif``: the cross product of input variations, each planned under each policy."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vpp_sched.cli.errors import EXIT_SOLVER, EXIT_USAGE, err, exit_codes
from vpp_sched.cli.out import Force, scenario_files, scenario_folder
from vpp_sched.solve.dispatch import METHODS

#: Per-plan time limit of a study unless --time-limit says otherwise [s] (the scenario's when lower).
STUDY_TIME_LIMIT_S = 10.0

SCHEDULER_HELP = ("Where runs go: threads (default) | serial | local (a Dask LocalCluster of --workers processes) | "
                  "a Dask scheduler address tcp://host:8786")


def study_options(solver, time_limit: float | None, mip_gap: float | None, threads: int | None,
                  default_time_limit: float = STUDY_TIME_LIMIT_S):
    """The scenario's solver options with the study's time limit (the scenario's when lower) and the
    command line's overrides."""
    limit = time_limit if time_limit is not None else min(solver.time_limit_s, default_time_limit)
    update = {"time_limit_s": limit}
    if mip_gap is not None:
        update["mip_rel_gap"] = mip_gap
    if threads is not None:
        update["threads"] = threads
    return solver.model_copy(update=update)


def whatif(
    scenario: Annotated[Optional[Path], typer.Argument(help="Scenario folder or scenario.yaml; default: the bundled Zezhou demo")] = None,
    vary: Annotated[Optional[list[str]], typer.Option("--vary", help="KEY=V1,V2,... (repeatable; the cases are the cross product). "
                    "Keys: transformers.<ID>.rated_kva|power_factor|max_loading_pu|feeder_id, evs.scale, "
                    "stations.<ID>.battery.<field> (capacity_kwh=0 removes it), stations.<ID>.pv.<field>, tariff.scale")] = None,
    policy: Annotated[str, typer.Option(help="Policies, comma-separated: uncontrolled (no solve), orderly (the plan)")] = "uncontrolled,orderly",
    out: Annotated[Path, typer.Option("--out", "-o", help="Study folder to write: new, empty or an earlier what-if folder (replaced when complete)")] = Path("whatif"),
    scheduler: Annotated[Optional[str], typer.Option(help=SCHEDULER_HELP)] = None,
    workers: Annotated[Optional[int], typer.Option(min=1, help="Runs at once (default: the cores; 1 = serial)")] = None,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the EV resampling of evs.scale")] = 0,
    method: Annotated[str, typer.Option(help=f"Model build: {' | '.join(METHODS)}")] = "lean",
    time_limit: Annotated[Optional[float], typer.Option("--time-limit", min=0.001, help=f"Solver time limit per plan [s]; default the scenario's, at most {STUDY_TIME_LIMIT_S:g}")] = None,
    mip_gap: Annotated[Optional[float], typer.Option("--mip-gap", min=0.0, max=1.0, help="Relative MIP gap; overrides scenario.yaml")] = None,
    threads: Annotated[Optional[int], typer.Option(min=1, help="Solver threads per plan; overrides scenario.yaml")] = None,
    no_report: Annotated[bool, typer.Option("--no-report", help="Do not write report.html")] = False,
    force: Force = False,
    debug: Annotated[bool, typer.Option(help="Show tracebacks")] = False,
) -> None:
    """What-if study: plan every combination of --vary values; write cases.csv, summary.md and report.html."""
    # Imported on use, so that `vpp-sched --help` and the other commands start without them.
    from vpp_sched.outfolder import OutFolder
    from vpp_sched.scenario.load import load_scenario
    from vpp_sched.studies import whatif as study
    from vpp_sched.studies.cases import check_varies
    from vpp_sched.studies.output import write_whatif
    from vpp_sched.studies.vary import VaryError, cross_product, parse_policies, parse_varies

    if method not in METHODS:
        err(f"error: --method must be one of {', '.join(METHODS)}, not {method!r}")
        raise typer.Exit(EXIT_USAGE)
    try:
        varies = parse_varies(vary or [])
        policies = parse_policies(policy)
    except VaryError as exc:
        err(f"error: {exc}")
        raise typer.Exit(EXIT_USAGE) from None
    with exit_codes(debug):
        sc = load_scenario(scenario)  # bad input first (exit 1), then --out (exit 2), both before the study
        check_varies(sc, varies)
        with OutFolder(out, "whatif", inputs=[scenario_folder(scenario), *scenario_files(sc)], force=force) as folder:
            options = study_options(sc.config.solver, time_limit, mip_gap, threads)
            n_cases = len(cross_product(varies))
            typer.echo(f"{n_cases} case(s) x {len(policies)} polic{'y' if len(policies) == 1 else 'ies'}, "
                       f"time limit {options.time_limit_s:g} s per plan", err=True)
            with study.executor_for(scheduler, workers, tasks=n_cases) as ex:
                result = study.run_whatif(sc, varies, policies, seed=seed, method=method, options=options,
                                          executor=ex)
            write_whatif(result, folder, report=not no_report)
        _summary(result, folder.path)
        for line in result.warnings:
            err(f"warning: {line}")
        if len(result.cases) and len(result.failed) == len(result.cases):
            err("error: every case failed (see cases.csv)")
            raise typer.Exit(EXIT_SOLVER)


def _summary(result, folder: Path) -> None:
    df = result.cases
    typer.echo(f"what-if study written to {folder}")
    typer.echo(f"  {df.case.nunique() if len(df) else 0} case(s), {len(df)} run(s) in {result.wall_seconds:.1f} s "
               f"({result.executor}, {result.workers} worker(s))")
    for t in result.policy_totals():
        typer.echo(f"  {t['policy']}: {t['overloading']} case(s) overload, {t['short']} with EVs short of energy "
                   f"their stay allows, max loading {t['max_loading_pu']:.2f} pu")
