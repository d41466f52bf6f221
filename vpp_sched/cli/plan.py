"""``vpp-sched plan``: the day-ahead plan of a scenario, written to a plan folder."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import pandas as pd
import typer

from vpp_sched.cli.errors import err, exit_codes
from vpp_sched.cli.out import Force, scenario_files, scenario_folder
from vpp_sched.cli.progress import progress_status
from vpp_sched.outfolder import OutFolder
from vpp_sched.plan.output import PARTITION_ROWS, write_plan, write_plan_large
from vpp_sched.solve.parallel import get_executor
from vpp_sched.plan.planner import plan_day
from vpp_sched.plan.results import kwh_text
from vpp_sched.scenario.load import load_scenario
from vpp_sched.solve.dispatch import METHODS


def plan(
    scenario: Annotated[Optional[Path], typer.Argument(help="Scenario folder or scenario.yaml; default: the bundled Zezhou demo")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Plan folder to write: new, empty or an earlier plan folder (replaced when complete)")] = Path("plan"),
    method: Annotated[str, typer.Option(help=f"auto | {' | '.join(METHODS)}: auto decomposes large portfolios")] = "auto",
    scheduler: Annotated[Optional[str], typer.Option(help="Where decomposed blocks run: serial | threads | local | tcp://host:8786; default threads on every core")] = None,
    workers: Annotated[Optional[int], typer.Option(min=1, help="Workers (threads or local processes) of the executor; default the cores")] = None,
    time_limit: Annotated[Optional[float], typer.Option("--time-limit", min=0.001, help="Solver time limit [s]; overrides scenario.yaml")] = None,
    mip_gap: Annotated[Optional[float], typer.Option("--mip-gap", min=0.0, max=1.0, help="Relative MIP gap; overrides scenario.yaml")] = None,
    threads: Annotated[Optional[int], typer.Option(min=1, help="Solver threads; overrides scenario.yaml")] = None,
    parquet: Annotated[bool, typer.Option(help="Also write Parquet copies of the tables")] = True,
    report: Annotated[bool, typer.Option(help="Write report.html (figures and KPIs, opens offline)")] = True,
    ocpp: Annotated[Optional[str], typer.Option("--ocpp", help="Also write ocpp/ SetChargingProfile requests: 1.6 | 2.0.1")] = None,
    robust: Annotated[bool, typer.Option("--robust", help="Keep margins below the limits for the scenario's uncertainty: (models/uncertainty.md); writes margins.csv")] = False,
    partition_rows: Annotated[int, typer.Option(min=1, help="A table with more rows (a province's schedule) is written as a partitioned Parquet folder <table>/ instead of <table>.parquet")] = PARTITION_ROWS,
    csv_max_rows: Annotated[Optional[int], typer.Option(min=0, help="Also write the CSV of a partitioned table up to this many rows; default --partition-rows (none)")] = None,
    force: Force = False,
    debug: Annotated[bool, typer.Option(help="Show tracebacks")] = False,
) -> None:
    """Plan tomorrow: orderly EV charging, station batteries and PV, DR events."""
    if method not in ("auto", *METHODS):
        err(f"error: --method must be one of auto, {', '.join(METHODS)}, not {method!r}")
        raise typer.Exit(2)
    extra = {}
    if ocpp is not None:
        from vpp_sched.interop.ocpp import OcppOptionError, ocpp_writer

        try:
            extra["ocpp"] = ocpp_writer(ocpp)  # checks the version now, before solving
        except OcppOptionError as exc:
            err(f"error: --ocpp: {exc}")
            raise typer.Exit(2) from None
    with exit_codes(debug), progress_status() as say:
        say("reading the scenario")
        t0 = time.perf_counter()
        sc = load_scenario(scenario)  # bad input first (exit 1), then --out (exit 2), both before the solve
        read_s = time.perf_counter() - t0
        with OutFolder(out, "plan", inputs=[scenario_folder(scenario), *scenario_files(sc)], force=force) as folder:
            overrides = {k: v for k, v in (("time_limit_s", time_limit), ("mip_rel_gap", mip_gap),
                                           ("threads", threads)) if v is not None}
            options = sc.config.solver.model_copy(update=overrides)
            with get_executor(scheduler, workers) as executor:
                run = plan_day(sc, method=method, options=options, progress=say, executor=executor, robust=robust)
            if run.margins is not None:
                extra["margins"] = _margins_writer(run)
            run.plan.kpis["timing"]["read_s"] = read_s
            t_write = time.perf_counter()
            if report:
                from vpp_sched.report.plan_report import report_writer  # matplotlib: imported only when a report is written

                extra["report"] = report_writer(run)
            say("writing the plan")
            if parquet:
                write_plan_large(run.plan, folder, partition_rows=partition_rows, csv_max_rows=csv_max_rows, extra=extra)
            else:
                write_plan(run.plan, folder, parquet=False, extra=extra)
        _summary(run.plan, folder.path, write_s=time.perf_counter() - t_write, dt_h=run.problem.dt_h)
        for line in run.plan.warnings:
            err(f"warning: {line}")
        if ocpp is not None:   # the export's own line, as `export-ocpp` prints it
            from vpp_sched.interop.ocpp import raised_warning

            raised = raised_warning(pd.read_csv(folder.path / "ocpp" / "index.csv", keep_default_na=False))
            if raised:
                err(f"warning: {raised}")


def _margins_writer(run):
    """A writer of ``margins.csv``: the margin kept and used per transformer and slot (``plan --robust``)."""
    from vpp_sched.studies.evaluate_output import margins_table
    from vpp_sched.studies.output import write_csv

    table = margins_table(run.margins, run.problem.slots, [str(t) for t in run.problem.transformer_ids],
                          run.problem.limit_kw, run.margin_used_kw)
    return lambda folder: write_csv(table, folder / "margins.csv")


def _summary(plan, folder: Path, write_s: float, dt_h: float) -> None:
    k = plan.kpis
    u, t = k["uncontrolled"], k["timing"]
    typer.echo(f"plan written to {folder}")
    typer.echo(f"  status {k['status']}, gap {k['mip_gap']:.3%}, build {k['build_seconds']:.2f} s, "
               f"solve {k['solve_seconds']:.2f} s")
    per = (f" ({t['modelling_overhead_s_per_10k_evs']:.2f} s per 10,000 EVs)" if k["n_evs"] >= 10_000 else "")
    typer.echo(f"  time: HiGHS {t['highs_s']:.2f} s; modelling overhead {t['modelling_overhead_s']:.2f} s"
               f"{per}; read {t['read_s']:.2f} s, "
               f"prepare {t['prepare_s']:.2f} s, tables and check {t['results_s'] + t['check_s']:.2f} s, "
               f"write{' and report' if (folder / 'report.html').exists() else ''} {write_s:.2f} s")
    typer.echo(f"  energy cost {k['grid_energy_cost_cny']:,.0f} CNY (uncontrolled {u['grid_energy_cost_cny']:,.0f})")
    typer.echo(f"  max loading {k['max_loading_pu']:.2f} pu, {k['overloaded_transformers']} transformer(s) "
               f"overloaded (uncontrolled {u['max_loading_pu']:.2f} pu, {u['overloaded_transformers']})")
    typer.echo(f"  unmet EV energy {kwh_text(k['unmet_energy_kwh'])} kWh in {k['evs_short']} EV(s)")
    if len(plan.events):
        typer.echo(f"  DR events: {dr_event_text(plan.events, plan.dr_events, dt_h)}")
    if "robust" in k:
        r = k["robust"]
        typer.echo(f"  robust: margins on {r['transformers_with_margin']} transformer(s), up to {r['max_margin_kw']:,.1f} kW "
                   f"(epsilon {r['epsilon']:g}), {r['margin_used_kwh']:,.1f} kWh of them used (margins.csv)")


def dr_event_text(events, slots, dt_h: float) -> str:
    """How each DR event did, e.g. ``DR1 100.0% of target, 0.0 kWh short`` (compliance, shortfall energy)."""
    short_kwh = slots.groupby("event_id").shortfall_kw.sum() * dt_h
    return "; ".join(f"{e.event_id} {e.compliance_pct:.1f}% of target, "
                     f"{kwh_text(float(short_kwh.get(e.event_id, 0.0)))} kWh short"
                     for e in events.itertuples())
