"""An OpenADR 2.0b VEN (openleadr's client) that re-plans the day for every event it receives.

For each event the VEN converts the signals (:mod:`~vpp_sched.interop.openadr.mapping`), plans with the
events it already took plus the new one, opts in when the target is met and out (with the reason)
when not, and writes the plan of the events it took to the plan folder, with
``openadr_events.csv``: one row per decision. An update of an event replaces what was taken for
it; a cancellation removes it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from vpp_sched.scenario.config import DREvent, SolverOptions
from vpp_sched.errors import VppSchedError
from vpp_sched.interop.openadr.decide import OPT_IN, OPT_OUT, evaluate
from vpp_sched.interop.openadr.mapping import SignalMapping, convert_event
from vpp_sched.interop.openadr.scenario_edit import with_events
from vpp_sched.plan.output import write_plan
from vpp_sched.plan.planner import PlanRun, plan_day
from vpp_sched.scenario.load import Scenario

LOG_FILE = "openadr_events.csv"
STOP_GRACE_S = 3.0  # how long a stopping VEN waits for a request in flight [s]
LOG_COLUMNS = ["received_at", "oadr_event_id", "modification_number", "status", "signal", "opt", "reason",
               "dr_event_ids", "target_kw", "notes"]


class VtnError(VppSchedError):
    """The VTN could not be reached or did not register the VEN."""


class VenSession:
    """What the VEN keeps between events: the scenario, the OpenADR events taken, the plan of them."""

    def __init__(self, scenario: Scenario, out: Path | str, mapping: SignalMapping = SignalMapping(),
                 options: SolverOptions | None = None, min_compliance_pct: float = 99.0, method: str = "auto",
                 parquet: bool = True, inputs: list[Path] = (), force: bool = False):
        self.base, self.out, self.mapping, self.options = scenario, Path(out), mapping, options
        self.inputs, self.force = list(inputs), force  # the write rules of vpp_sched.outfolder, every write
        self.min_compliance_pct, self.method, self.parquet = min_compliance_pct, method, parquet
        self.taken: dict[str, list[DREvent]] = {}   # OpenADR event id -> our DR events
        self.log: list[dict] = []
        self.run: PlanRun | None = None             # the plan of the scenario's and the taken events

    def scenario(self, without: str | None = None) -> Scenario:
        """The scenario with its own DR events and those taken (but ``without`` that OpenADR event)."""
        taken = [ev for key, evs in self.taken.items() if key != without for ev in evs]
        return with_events(self.base, [*self.base.config.dr_events, *taken])

    def handle(self, event: dict) -> tuple[str, str]:
        """Decide on one event, re-plan, write the plan; returns ``(optIn | optOut, reason)``.

        Blocking (it solves): the VEN runs it in a worker thread."""
        received = dt.datetime.now(dt.timezone.utc)
        event_id = str((event.get("event_descriptor") or {}).get("event_id", "?"))
        try:
            conv = convert_event(event, self.scenario(without=event_id), self.mapping, self.options)
        except VppSchedError as exc:
            return self._record(received, event, None, OPT_OUT, f"cannot convert: {exc}")
        had = self.taken.pop(event_id, None)  # an update or cancellation replaces what was taken
        if had is not None:
            self.run = None
        if conv.cancelled:
            return self._record(received, event, conv, OPT_IN, "cancelled by the VTN"
                                + ("; its DR events are removed from the plan" if had else ""))
        if conv.problems:
            return self._record(received, event, conv, OPT_OUT, "; ".join(conv.problems))
        if not conv.events:
            return self._record(received, event, conv, OPT_IN, "nothing asked (no interval requests a change)")
        try:
            decision = evaluate(self.scenario(), conv.events, self.options, self.min_compliance_pct, self.method)
        except VppSchedError as exc:
            return self._record(received, event, conv, OPT_OUT, f"no plan with the event: {exc}")
        if decision.opt == OPT_IN:
            self.taken[event_id] = conv.events
            self.run = decision.run
        return self._record(received, event, conv, decision.opt, decision.reason)

    def _record(self, received, event: dict, conv, opt: str, reason: str) -> tuple[str, str]:
        """Log the decision, re-plan when needed, and write the plan with the log (one atomic step)."""
        desc = event.get("event_descriptor") or {}
        self.log.append({
            "received_at": received.isoformat(timespec="seconds"), "oadr_event_id": desc.get("event_id", ""),
            "modification_number": desc.get("modification_number", 0), "status": desc.get("event_status", ""),
            "signal": conv.signal if conv else "", "opt": opt, "reason": reason,
            "dr_event_ids": " ".join(ev.event_id for ev in conv.events) if conv else "",
            "target_kw": " ".join(f"{ev.target:.3f}" for ev in conv.events) if conv else "",
            "notes": "; ".join(conv.notes) if conv else ""})
        if self.run is None:
            self.run = plan_day(self.scenario(), method=self.method, options=self.options)
        write_plan(self.run.plan, self.out, parquet=self.parquet, extra={LOG_FILE: self._write_log},
                   inputs=self.inputs, force=self.force)
        self.force = False  # from now on self.out is our own plan folder
        return opt, reason

    def _write_log(self, folder: Path) -> None:
        pd.DataFrame(self.log, columns=LOG_COLUMNS).to_csv(folder / LOG_FILE, index=False, lineterminator="\n")


async def run_ven(session: VenSession, vtn_url: str, ven_name: str, ven_id: str | None = None,
                  max_events: int | None = None, timeout_s: float | None = None,
                  on_decision: Callable[[dict, str, str], None] | None = None) -> int:
    """Run the VEN until ``max_events`` decisions were made and acknowledged, or ``timeout_s`` passed
    (both ``None``: until cancelled). Returns the number of decisions.

    Raises
    ------
    VtnError
        The VTN did not register the VEN (unreachable, or it refused).
    """
    from openleadr import OpenADRClient

    client = OpenADRClient(ven_name=ven_name, vtn_url=vtn_url, ven_id=ven_id, show_fingerprint=False)
    loop = asyncio.get_running_loop()
    lock, finished = asyncio.Lock(), asyncio.Event()
    # After the last decision, stop only once the VTN has our answer (oadrCreatedEvent) in hand.
    ack = {"awaiting": False, "sent": False}

    async def on_event(event: dict) -> str:
        async with lock:  # one decision at a time: each builds on the events taken before
            opt, reason = await loop.run_in_executor(None, session.handle, event)
        if on_decision is not None:
            on_decision(event, opt, reason)
        if max_events is not None and len(session.log) >= max_events:
            if event.get("response_required") == "never":
                finished.set()
            ack["awaiting"] = True
        return opt

    def before_send(xml: str) -> None:
        if ack["awaiting"] and "oadrCreatedEvent" in xml:
            ack["sent"] = True

    def after_receive(xml: str) -> None:
        if ack["sent"]:
            finished.set()

    client.add_handler("on_event", on_event)
    client.add_handler("on_update_event", on_event)
    client.add_hook("before_send_xml", before_send)
    client.add_hook("after_receive_xml", after_receive)
    try:
        await client.run()
        if client.registration_id is None:
            raise VtnError(f"the VTN at {vtn_url} did not register VEN {ven_name!r} (unreachable, or it refused; "
                           "check --vtn-url, e.g. http://host:8080/OpenADR2/Simple/2.0b)")
        try:
            await asyncio.wait_for(finished.wait(), timeout_s)
        except TimeoutError:
            pass
    finally:
        await _stop(client)
    return len(session.log)


async def _stop(client) -> None:
    """Stop the client's polling and close its HTTP session, whatever state it got to."""
    if client.scheduler.running:
        client.scheduler.shutdown(wait=False)
    if client.report_queue_task:
        client.report_queue_task.cancel()
    # Let a poll already on the wire finish: cancelled mid-request, the scheduler logs a traceback.
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    if others:
        await asyncio.wait(others, timeout=STOP_GRACE_S)
    if client.client_session is not None and not client.client_session.closed:
        await client.client_session.close()
