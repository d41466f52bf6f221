"""The README's example session works on the bundled demo as written (its times lie in the demo's day)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _demo_horizon() -> tuple[pd.Timestamp, pd.Timestamp]:
    h = yaml.safe_load((ROOT / "scenarios" / "zezhou-demo" / "scenario.yaml").read_text())["horizon"]
    start = pd.Timestamp(h["start"])
    return start, start + pd.Timedelta(minutes=h["slots"] * h["slot_minutes"])


def test_sim_station_example_starts_in_the_demo_day():
    # The demo moved to 4 December; the example kept 27 November, so its re-plans failed as outside
    # the horizon and the station never got a profile.
    starts = re.findall(r"sim_station .*?--start (\S+)", README, flags=re.S)
    assert starts, "the README's example session runs the simulated station"
    start, end = _demo_horizon()
    for text in starts:
        assert start <= pd.Timestamp(text) < end, f"--start {text} is outside the demo's day {start}..{end}"


def test_plans_as_of_example_is_in_the_demo_day():
    examples = re.findall(r'"as_of": "([^"]+)"', README)
    assert examples
    start, end = _demo_horizon()
    for text in examples:
        assert start <= pd.Timestamp(text) < end, f"as_of {text} is outside the demo's day {start}..{end}"
