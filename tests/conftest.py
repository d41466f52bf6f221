import sys
from pathlib import Path

# Test helpers (scenario_factory, problem_factory) sit beside the tests.
sys.path.insert(0, str(Path(__file__).parent))

# The tests sit in tests/<subpackage>/ as the package does, with unique basenames; some reuse
# another test's scenario builders (``from test_planner import run``), so every test folder is
# importable by basename, as pytest itself imports the test modules (rootdir-less, no __init__).
sys.path[1:1] = [str(p) for p in sorted(Path(__file__).parent.iterdir()) if p.is_dir() and any(p.glob("test_*.py"))]
