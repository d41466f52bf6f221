"""vpp-sched: day-ahead scheduling of EV charging, PV-storage-charging stations and DR events.

The public API, imported on first use (PEP 562) so ``import vpp_sched`` (and the CLI's start)
stays light:

* :func:`load_scenario` - read and check a scenario folder (``vpp_sched.scenario.load``);
* :func:`plan_day` - plan the day: build, solve, check (``vpp_sched.plan.planner``);
* :func:`write_plan` - write a plan folder atomically (``vpp_sched.plan.output``);
* :func:`generate_scenario` - a synthetic scenario from the shipped data (``vpp_sched.scenario.synthetic``);
* studies: :func:`flexibility_envelope`, :func:`replay_day`, :func:`run_whatif`,
  :func:`run_hosting` (``vpp_sched.studies``).

The subpackages are layers, bottom to top: ``scenario``, ``forecast``, ``problem``, ``model``,
``solve``, ``plan``, ``report``, ``studies``, ``interop``, ``cli`` (README, "Layout of the package").
"""

from vpp_sched.lazy import lazy_exports

_API = {
    "load_scenario": "vpp_sched.scenario.load",
    "plan_day": "vpp_sched.plan.planner",
    "write_plan": "vpp_sched.plan.output",
    "generate_scenario": "vpp_sched.scenario.synthetic",
    "flexibility_envelope": "vpp_sched.studies.flex",
    "replay_day": "vpp_sched.studies.replay",
    "run_whatif": "vpp_sched.studies.whatif",
    "run_hosting": "vpp_sched.studies.hosting",
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _API)
