import sys
from pathlib import Path

# Test helpers (scenario_factory, problem_factory) sit beside the tests.
sys.path.insert(0, str(Path(__file__).parent))
