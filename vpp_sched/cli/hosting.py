"""``vpp-sched hosting``: per transformer, the largest EV population it hosts, uncontrolled and orderly."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vpp_sched.cli.errors import EXIT_SOLVER, EXIT_USAGE, err, exit_codes
from vpp_sched.cli.out import Force, scenario_files, scenario_folder
from vpp_sched.cli.whatif import SCHEDULER_HELP, study_options
from vpp_sched.solve.dispatch import METHODS

#: Per-plan time limit of the hosting search unless --time-limit says otherwise [s] (the scenario's
#: when lower): a population the planner cannot host runs into it, and the search tries several.
HOSTING_TIME_LIMIT_S = 5.0


# Long only by its typer options (one per line, as every command here).
def hosting(
    scenario: Annotated[Optional[Path], typer.Argument(help="Scenario folder or scenario.yaml; default: the bundled Zezhou demo")] = None,
    transformer: Annotated[Optional[list[str]], typer.Option("--transformer", "-t", help="Transformer id (repeatable); default: every transformer without a station")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Study folder to write: new, empty or an earlier hosting folder (replaced when complete)")] = Path("hosting"),
    policy: Annotated[str, typer.Option(help="Policies, comma-separated: uncontrolled, orderly")] = "uncontrolled,orderly",
    tolerance: Annotated[float, typer.Option(min=0.001, max=0.5, help="Relative width of the final bisection bracket")] = 0.01,
    scheduler: Annotated[Optional[str], typer.Option(help=SCHEDULER_HELP)] = None,
    workers: Annotated[Optional[int], typer.Option(min=1, help="Transformers searched at once (default: the cores; 1 = serial)")] = None,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the EV resampling")] = 0,
    method: Annotated[str, typer.Option(help=f"Model build: {' | '.join(METHODS)}")] = "lean",
    time_limit: Annotated[Optional[float], typer.Option("--time-limit", min=0.001, help=f"Solver time limit per plan [s]; default the scenario's, at most {HOSTING_TIME_LIMIT_S:g}")] = None,
    mip_gap: Annotated[Optional[float], typer.Option("--mip-gap", min=0.0, max=1.0, help="Relative MIP gap; overrides scenario.yaml")] = None,
    threads: Annotated[Optional[int], typer.Option(min=1, help="Solver threads per plan; overrides scenario.yaml")] = None,
    grid: Annotated[bool, typer.Option("--grid/--no-grid", help="Also judge the LV grid's limits (line, voltage, unbalance) where a transformer names a grid")] = True,
    added_phase: Annotated[str, typer.Option("--added-phase", help="Phase of the added single-phase chargers: spread (round robin a, b, c) | a | b | c")] = "spread",
    max_plans: Annotated[int, typer.Option("--max-plans", min=1, help="Planner runs per transformer at most in the orderly grid search")] = 16,
    no_report: Annotated[bool, typer.Option("--no-report", help="Do not write report.html")] = False,
    force: Force = False,
    debug: Annotated[bool, typer.Option(help="Show tracebacks")] = False,
) -> None:
    """EV hosting capacity per transformer (bisection on the EV multiple); write hosting.csv, bisection.csv,
    summary.md and report.html; where a transformer names an LV grid, also which limit (transformer, line,
    voltage, unbalance) fails first and at how many EVs (grid_limits.csv, grid_levels.csv)."""
    # Imported on use, so that `vpp-sched --help` and the other commands start without them.
    from vpp_sched.studies import hosting as study
    from vpp_sched.outfolder import OutFolder
    from vpp_sched.scenario.load import load_scenario
    from vpp_sched.studies.output import write_hosting
    from vpp_sched.studies.hosting_grid_judge import ADDED_PHASES
    from vpp_sched.studies.vary import VaryError, parse_policies
    from vpp_sched.studies.whatif import executor_for

    if method not in METHODS:
        err(f"error: --method must be one of {', '.join(METHODS)}, not {method!r}")
        raise typer.Exit(EXIT_USAGE)
    if added_phase not in ADDED_PHASES:
        err(f"error: --added-phase must be one of {', '.join(ADDED_PHASES)}, not {added_phase!r}")
        raise typer.Exit(EXIT_USAGE)
    try:
        policies = parse_policies(policy)
    except VaryError as exc:
        err(f"error: {exc}")
        raise typer.Exit(EXIT_USAGE) from None
    with exit_codes(debug):
        sc = load_scenario(scenario)  # bad input first (exit 1), then --out (exit 2), both before the study
        with OutFolder(out, "hosting", inputs=[scenario_folder(scenario), *scenario_files(sc)],
                       force=force) as out_folder:
            options = study_options(sc.config.solver, time_limit, mip_gap, threads, HOSTING_TIME_LIMIT_S)
            n = len(transformer) if transformer else len(study.default_transformers(sc))
            with executor_for(scheduler, workers, tasks=n) as ex:
                result = study.run_hosting(sc, transformer, policies, seed=seed, method=method, options=options,
                                           tolerance=tolerance, executor=ex, grid=grid, added_phase=added_phase,
                                           max_plans=max_plans)
            write_hosting(result, out_folder, report=not no_report)
        folder = out_folder.path
        t = result.table
        typer.echo(f"hosting study written to {folder}")
        typer.echo(f"  {len(t)} transformer(s) in {result.wall_seconds:.1f} s ({result.executor}, "
                   f"{result.workers} worker(s)), tolerance {tolerance:.1%}")
        for pol in result.policies:
            col = f"{pol}_multiple"
            ok = t[t.status == "ok"]
            if len(ok):
                typer.echo(f"  {pol}: {int((ok[col] < 1).sum())} transformer(s) below today's EVs; "
                           f"lowest {ok[col].min():.2f}x ({ok.loc[ok[col].idxmin(), 'transformer_id']})")
        for line in grid_lines(result):
            typer.echo(line)
        for line in result.warnings:
            err(f"warning: {line}")
        if len(t) and (t.status == "failed").all():
            err("error: every transformer failed (see hosting.csv)")
            raise typer.Exit(EXIT_SOLVER)


def grid_lines(result) -> list[str]:
    """The CLI's lines of the grid search: per transformer with a grid and policy, the first limit to fail."""
    t = result.table
    if "grid" not in t.columns:
        return []
    out = []
    for row in t[(t.status == "ok") & t.grid.notna() & (t.grid != "")].itertuples():
        for pol in result.policies:
            first, at = getattr(row, f"{pol}_grid_first_limit"), getattr(row, f"{pol}_grid_first_fail_evs")
            where = f" at {int(at)} EVs" if at == at and at is not None else ""
            out.append(f"  {row.transformer_id} {pol}: first fails {first}{where} ({getattr(row, f'{pol}_grid_limits')})")
    return out
