"""Plan the bundled demo scenario, write its plan folder with report.html, and screenshot the report.

    python scripts/screenshot_report.py                    # -> docs/report-demo.png (top of the report)
    python scripts/screenshot_report.py --full --png /tmp/report-full.png --plan-dir /tmp/plan

Needs headless Chromium (Debian: ``apt-get install -y chromium``); ``--chromium`` names another binary.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from vpp_sched.plan.output import write_plan
from vpp_sched.plan.planner import plan_day
from vpp_sched.report.plan_report import REPORT_FILE, report_writer

ROOT = Path(__file__).resolve().parent.parent
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--force-device-scale-factor=1"]


def find_chromium(given: str | None) -> str:
    for path in (given, "/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser"),
                 shutil.which("google-chrome")):
        if path and Path(path).exists():
            return path
    sys.exit("error: headless Chromium not found; install it (Debian: apt-get install -y chromium) or pass --chromium")


def screenshot(chromium: str, html: Path, png: Path, width: int, height: int, timeout: float = 120.0) -> None:
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        cmd = [chromium, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
               f"--screenshot={png}", html.resolve().as_uri()]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0 or not png.exists():
        sys.exit(f"error: chromium failed ({done.returncode}):\n{done.stderr[-2000:]}")


def trim_bottom(png: Path, margin: int = 24) -> None:
    """Cut the empty page background below the content."""
    with Image.open(png) as im:
        rgb = np.asarray(im.convert("RGB"), dtype=np.int16)
    background = rgb[-1, -1]
    used = np.flatnonzero((np.abs(rgb - background).sum(axis=2) > 12).any(axis=1))
    bottom = min(rgb.shape[0], int(used.max()) + margin) if used.size else rgb.shape[0]
    Image.fromarray(rgb[:bottom].astype(np.uint8)).save(png, optimize=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", help="scenario folder (default: the bundled Zezhou demo)")
    ap.add_argument("--png", type=Path, default=ROOT / "docs" / "report-demo.png")
    ap.add_argument("--plan-dir", type=Path, help="keep the plan folder here (default: a temporary folder)")
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=2700, help="screenshot height [px] unless --full")
    ap.add_argument("--full", action="store_true", help="the whole page (trimmed), not only its top")
    ap.add_argument("--chromium", help="Chromium binary")
    args = ap.parse_args()
    chromium = find_chromium(args.chromium)

    t0 = time.perf_counter()
    run = plan_day(args.scenario)
    t1 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="vpp-report-") as tmp:
        plan_dir = args.plan_dir or Path(tmp) / "plan"
        write_plan(run.plan, plan_dir, parquet=False, extra={"report": report_writer(run)})
        t2 = time.perf_counter()
        args.png.parent.mkdir(parents=True, exist_ok=True)
        screenshot(chromium, plan_dir / REPORT_FILE, args.png, args.width, 16000 if args.full else args.height)
        if args.full:
            trim_bottom(args.png)
        t3 = time.perf_counter()
        size = (plan_dir / REPORT_FILE).stat().st_size
    print(f"plan {t1 - t0:.1f} s, plan folder with report ({size / 1e3:.0f} kB) {t2 - t1:.1f} s, "
          f"screenshot {t3 - t2:.1f} s -> {args.png}")


if __name__ == "__main__":
    main()
