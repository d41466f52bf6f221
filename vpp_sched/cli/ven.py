"""``vpp-sched ven``: an OpenADR 2.0b VEN that takes DR events from a VTN and re-plans for each."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path
from typing import Annotated, Optional

import typer

from vpp_sched.errors import ArgumentError
from vpp_sched.cli.errors import EXIT_USAGE, err, exit_codes
from vpp_sched.cli.interrupt import Interrupted, Terminated
from vpp_sched.cli.out import Force, scenario_folder

LEVELS_HELP = "SIMPLE levels 1,2,3 as fractions of the scope's flexible (uncontrolled EV) load in the interval"
LEVEL_KW_HELP = "SIMPLE levels 1,2,3 as kW; overrides --level-fractions"
UNIT_HELP = ("x-loadControlCapacity payload: 'fraction' of the scope's transformer capacity (the OpenADR "
             "2.0b meaning) or 'kw' (the cap in kW)")

# The signal-mapping options, shared by `ven` and `import-openadr` (see mapping_from_options).
LevelFractions = Annotated[str, typer.Option("--level-fractions", help=LEVELS_HELP)]
LevelKw = Annotated[Optional[str], typer.Option("--level-kw", help=LEVEL_KW_HELP)]
CapacityUnit = Annotated[str, typer.Option("--capacity-unit", help=UNIT_HELP)]
Baseline = Annotated[str, typer.Option(help="Baseline of the events (models/dr_events.md)")]
Price = Annotated[float, typer.Option("--price", min=0.0, help="Compensation of the events [CNY/kWh]")]
Penalty = Annotated[float, typer.Option("--penalty", min=0.0, help="Shortfall penalty of the events [CNY/kWh]")]


def mapping_from_options(level_fractions: str, level_kw: Optional[str], capacity_unit: str, baseline: str,
                         price: float, penalty: float):
    """The :class:`SignalMapping` of the command-line options; bad values exit 2 with the reason."""
    from vpp_sched.interop.openadr.mapping import SignalMapping

    try:
        return SignalMapping(level_fractions=_three(level_fractions, "--level-fractions"),
                             level_kw=None if level_kw is None else _three(level_kw, "--level-kw"),
                             capacity_unit=capacity_unit, baseline=baseline, price_cny_per_kwh=price,
                             shortfall_penalty_cny_per_kwh=penalty)
    except ValueError as exc:
        err(f"error: {exc}")
        raise typer.Exit(EXIT_USAGE) from None


def _three(text: str, option: str) -> tuple[float, float, float]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise ArgumentError(f"{option}: {text!r} is not three comma-separated numbers (e.g. 0.25,0.5,0.75)") from None
    if len(values) != 3:
        raise ArgumentError(f"{option}: give three values, for levels 1, 2 and 3, not {len(values)}")
    return values


def ven(
    vtn_url: Annotated[str, typer.Option("--vtn-url", help="The VTN's OpenADR 2.0b endpoint, e.g. http://host:8080/OpenADR2/Simple/2.0b")],
    ven_name: Annotated[str, typer.Option("--ven-name", help="This VEN's name, as registered with the VTN")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Plan folder, rewritten after every event: new, empty or an earlier plan folder")],
    scenario: Annotated[Optional[Path], typer.Option("--scenario", help="Scenario folder or scenario.yaml; default: the bundled demo")] = None,
    ven_id: Annotated[Optional[str], typer.Option("--ven-id", help="A venID already assigned by the VTN")] = None,
    max_events: Annotated[Optional[int], typer.Option("--max-events", min=1, help="Stop after deciding on N events")] = None,
    timeout: Annotated[Optional[float], typer.Option("--timeout", min=0.0, help="Stop after S seconds [s]")] = None,
    level_fractions: LevelFractions = "0.25,0.5,0.75",
    level_kw: LevelKw = None,
    capacity_unit: CapacityUnit = "fraction",
    baseline: Baseline = "uncontrolled",
    price: Price = 0.0,
    penalty: Penalty = 5.0,
    min_compliance: Annotated[float, typer.Option("--min-compliance", min=0.0, max=100.0, help="Opt in when the plan delivers at least this share of the requested energy [%]")] = 99.0,
    method: Annotated[str, typer.Option(help="auto | lean | pyomo | decomposed, as for `plan`")] = "auto",
    time_limit: Annotated[Optional[float], typer.Option("--time-limit", min=0.001, help="Solver time limit per plan [s]")] = None,
    parquet: Annotated[bool, typer.Option(help="Also write Parquet copies of the tables")] = True,
    force: Force = False,
    debug: Annotated[bool, typer.Option(help="Show tracebacks and openleadr's log")] = False,
) -> None:
    """Run an OpenADR 2.0b VEN: take each event, opt in or out by what the plan can deliver, re-plan."""
    mapping = mapping_from_options(level_fractions, level_kw, capacity_unit, baseline, price, penalty)
    from vpp_sched.interop.openadr.ven import VenSession, VtnError, run_ven
    from vpp_sched.outfolder import check_target
    from vpp_sched.scenario.load import load_scenario
    from vpp_sched.solve.dispatch import METHODS

    if method not in ("auto", *METHODS):
        err(f"error: --method must be one of auto, {', '.join(METHODS)}, not {method!r}")
        raise typer.Exit(EXIT_USAGE)

    logging.getLogger("openleadr").setLevel(logging.INFO if debug else logging.ERROR)
    with exit_codes(debug):
        inputs = [scenario_folder(scenario)]
        check_target(out, "plan", inputs, force=force)  # before registering with the VTN
        sc = load_scenario(scenario)
        options = sc.config.solver.model_copy(update={"time_limit_s": time_limit}) if time_limit else None
        session = VenSession(sc, out, mapping, options=options, min_compliance_pct=min_compliance, method=method,
                             parquet=parquet, inputs=inputs, force=force)

        def say(event: dict, opt: str, reason: str) -> None:
            typer.echo(f"event {event['event_descriptor']['event_id']}: {opt}: {reason}; plan written to {out}")

        terminated = []
        try:
            with _asyncio_stops(terminated):
                decided = asyncio.run(run_ven(session, vtn_url, ven_name, ven_id=ven_id, max_events=max_events,
                                              timeout_s=timeout, on_decision=say))
        except VtnError as exc:
            err(f"error: {exc}")
            raise typer.Exit(EXIT_USAGE) from None
        except (KeyboardInterrupt, Interrupted):  # Ctrl-C is how an unbounded VEN ends; the plan written last stands
            decided = len(session.log)
        typer.echo(f"VEN stopped after {decided} event(s)")
        if terminated:
            raise Terminated()


@contextlib.contextmanager
def _asyncio_stops(terminated: list):
    """Ctrl-C and SIGTERM as asyncio expects them while the VEN runs.

    asyncio.run cancels its task cleanly on Ctrl-C only under Python's default SIGINT handler; an
    exception raised by our handler inside a task would be kept by that task instead of ending the
    VEN. SIGTERM is turned into the same clean stop and reported (exit 143) once the VEN is down.
    Plans are written between awaits, so a stop never cuts a write in two."""
    def term(signum, frame):
        terminated.append(signum)
        signal.raise_signal(signal.SIGINT)

    previous = signal.signal(signal.SIGINT, signal.default_int_handler), signal.signal(signal.SIGTERM, term)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGTERM, previous[1])
