"""Writing the study folders of ``vpp-sched whatif`` and ``vpp-sched hosting``.

Each folder is written to a temporary folder beside the target and moved into place only when
complete (:func:`vpp_sched.plan.output.atomic_folder`):

* what-if: ``cases.csv``, ``transformer_peaks.csv``, ``summary.md`` and ``report.html``;
* hosting: ``hosting.csv``, ``bisection.csv`` (every population the search judged),
  ``summary.md`` and ``report.html``.

The ``summary.md`` texts come from :mod:`vpp_sched.studies.summary`; the reports are drawn by
:mod:`vpp_sched.studies.report` (imported only when one is written, so the
study modules stay light on Dask workers).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from vpp_sched.plan.output import atomic_folder, target_path
from vpp_sched.studies.summary import hosting_summary, whatif_summary

if TYPE_CHECKING:
    from vpp_sched.studies.hosting import HostingResult
    from vpp_sched.studies.whatif import WhatIfResult

REPORT_FILE = "report.html"


def write_csv(df: pd.DataFrame, path: Path) -> None:
    """CSV with 6 significant digits; solver round-off below 1e-9 is written as 0."""
    df = df.copy()
    for col in df.columns:
        if pd.api.types.is_float_dtype(df[col]):
            df[col] = df[col].mask(df[col].abs() < 1e-9, 0.0)
    df.to_csv(path, index=False, float_format="%.6g", lineterminator="\n")



def write_whatif(result: WhatIfResult, out_dir, report: bool = True, inputs=(), force: bool = False) -> Path:
    """``cases.csv``, ``transformer_peaks.csv``, ``summary.md`` and ``report.html`` in ``out_dir`` (atomic)."""
    with atomic_folder(out_dir, "whatif", inputs, force) as tmp:
        write_csv(result.cases, tmp / "cases.csv")
        write_csv(result.peaks, tmp / "transformer_peaks.csv")
        (tmp / "summary.md").write_text(whatif_summary(result), encoding="utf-8")
        if report:
            from vpp_sched.studies.report import render_whatif_report  # matplotlib: only when a report is written

            (tmp / REPORT_FILE).write_text(render_whatif_report(result), encoding="utf-8", newline="\n")
    return target_path(out_dir)


def write_hosting(result: HostingResult, out_dir, report: bool = True, inputs=(), force: bool = False) -> Path:
    """``hosting.csv``, ``bisection.csv``, ``summary.md`` and ``report.html`` in ``out_dir`` (atomic)."""
    with atomic_folder(out_dir, "hosting", inputs, force) as tmp:
        write_csv(result.table, tmp / "hosting.csv")
        if result.evaluations is not None:
            write_csv(result.evaluations, tmp / "bisection.csv")
        for name, frame in (("grid_limits.csv", result.grid_limits), ("grid_levels.csv", result.grid_levels)):
            if frame is not None:   # transformers with an LV grid (studies/hosting_grid.py)
                write_csv(frame, tmp / name)
        (tmp / "summary.md").write_text(hosting_summary(result), encoding="utf-8")
        if report:
            from vpp_sched.studies.report import render_hosting_report  # matplotlib: only when a report is written

            (tmp / REPORT_FILE).write_text(render_hosting_report(result), encoding="utf-8", newline="\n")
    return target_path(out_dir)

