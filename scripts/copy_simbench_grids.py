"""Copy the SimBench LV grids the package ships into ``vpp_sched/data/grids/<code>/`` (run once, by hand).

Needs the ``simbench`` package (``pip install simbench``), which the tool itself never imports: it
writes each grid in the SimBench CSV format (``simbench.pp2csv``) and keeps only what
:mod:`vpp_sched.scenario.grid` reads: the nodes, lines, line types in use, the MV/LV transformer and
its type, the switches, the external grid, the loads and the active-power load profiles they name
(four decimals, gzip; reactive power follows each load's qLoad/pLoad). Data: SimBench (simbench.de), ODbL 1.0 (see vpp_sched/data/README.md).

    python scripts/copy_simbench_grids.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd

CODES = ("1-LV-rural1--0-sw", "1-LV-rural2--0-sw", "1-LV-semiurb4--0-sw", "1-LV-urban6--0-sw")
OUT = Path(__file__).resolve().parents[1] / "vpp_sched" / "data" / "grids"
KEEP = ("Node", "Line", "Transformer", "Switch", "ExternalNet", "Load")


def _read(folder: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(folder / f"{name}.csv", sep=";", dtype=str, keep_default_na=False)


def copy_grid(code: str) -> None:
    import simbench as sb   # development only

    net = sb.get_simbench_net(code)
    with tempfile.TemporaryDirectory() as tmp:
        sb.pp2csv(net, tmp, export_pp_std_types=False)
        src, out = Path(tmp), OUT / code
        out.mkdir(parents=True, exist_ok=True)
        tables = {name: _read(src, name) for name in KEEP}
        line_types = _read(src, "LineType")
        tables["LineType"] = line_types[line_types["id"].isin(tables["Line"]["type"])]
        trafo_types = _read(src, "TransformerType")
        tables["TransformerType"] = trafo_types[trafo_types["id"].isin(tables["Transformer"]["type"])]
        for name, table in tables.items():
            table.to_csv(out / f"{name}.csv", sep=";", index=False)
        profiles = sorted(set(tables["Load"]["profile"]))
        cols = ["time"] + [f"{p}_{kind}" for p in profiles for kind in ("pload",)]
        prof = pd.read_csv(src / "LoadProfile.csv", sep=";", usecols=cols)[cols]
        prof.round(4).to_csv(out / "LoadProfile.csv.gz", sep=";", index=False)
    print(code, {k: len(v) for k, v in tables.items()})


if __name__ == "__main__":
    for code in CODES:
        copy_grid(code)
