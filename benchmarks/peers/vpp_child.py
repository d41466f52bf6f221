"""vpp-sched's measured process for ``run_peers.py``: ``bench_child.measure`` (what ``vpp-sched plan``
runs), with the CPU time of the measured part added (``timed_cpu_seconds``, imports excluded: they
are done first and timed apart as ``import_seconds``), to compare with the peers' on a loaded machine.

    python vpp_child.py SPEC_JSON       # the spec of benchmarks/bench_child.py
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))      # benchmarks/


def main(spec: dict) -> int:
    t0 = time.perf_counter()
    from bench_child import json_default, measure
    import vpp_sched.plan.planner  # noqa: F401  (imported before the clock, as the peers' imports are)
    import vpp_sched.solve.lp_rounding  # noqa: F401
    import_s = time.perf_counter() - t0
    out: dict = {"method": spec["method"], "scenario": spec["scenario"]}
    c0 = time.process_time()
    measure(spec, out)
    out["timed_cpu_seconds"] = time.process_time() - c0
    out["import_seconds"] = import_s + out.get("import_seconds", 0.0)
    Path(spec["result"]).write_text(json.dumps(out, indent=1, default=json_default))
    return 0


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))
