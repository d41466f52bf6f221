"""Small hand-checkable LV grids in the SimBench CSV format, for tests.

``two_bus_grid``: MV node (20 kV, set at ``vm_pu``) - transformer (no losses to the core, no shift) -
LV busbar ``B0`` - one line of ``length_km`` - ``B1`` with one load. No shunts (line ``b = 0``,
``pFe = iNoLoad = 0``), so the receiving voltage of a load ``P + jQ`` behind ``R + jX`` is exact:
``V^4 + (2 (P R + Q X) - Vs^2) V^2 + (P^2 + Q^2)(R^2 + X^2) = 0`` (per unit).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

SN_MVA, VK_PCT, PCU_KW = 0.25, 4.0, 2.5          # transformer: 250 kVA, uk 4 %, 2.5 kW copper losses
R_OHM_KM, X_OHM_KM, IMAX_A = 0.206, 0.080, 270.0  # line type (NAYY 4x150-like)


def _write(folder: Path, name: str, rows: list[dict]) -> None:
    pd.DataFrame(rows).to_csv(folder / f"{name}.csv", sep=";", index=False)


def two_bus_grid(folder: Path, length_km: float = 0.3, vm_pu: float = 1.0, line_type: str = "cable",
                 extra_nodes: list[str] = (), switch_open_to: str | None = None) -> Path:
    """Write the grid (module docstring) to ``folder``; ``extra_nodes`` adds LV nodes with a load each,
    hung on ``B1`` by an open switch when ``switch_open_to`` names one of them (cut off)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    nodes = [{"id": "MV", "type": "busbar", "vmSetp": vm_pu, "vmR": 20.0},
             {"id": "B0", "type": "busbar", "vmSetp": "NULL", "vmR": 0.4},
             {"id": "B1", "type": "busbar", "vmSetp": "NULL", "vmR": 0.4}]
    nodes += [{"id": n, "type": "busbar", "vmSetp": "NULL", "vmR": 0.4} for n in extra_nodes]
    _write(folder, "Node", nodes)
    _write(folder, "ExternalNet", [{"id": "grid", "node": "MV", "calc_type": "vavm"}])
    _write(folder, "TransformerType", [{"id": "250kVA", "sR": SN_MVA, "vmHV": 20.0, "vmLV": 0.4, "va0": 0.0,
                                        "vmImp": VK_PCT, "pCu": PCU_KW, "pFe": 0.0, "iNoLoad": 0.0}])
    _write(folder, "Transformer", [{"id": "TR", "nodeHV": "MV", "nodeLV": "B0", "type": "250kVA"}])
    _write(folder, "LineType", [{"id": "cable", "r": R_OHM_KM, "x": X_OHM_KM, "b": 0.0, "iMax": IMAX_A}])
    _write(folder, "Line", [{"id": "L1", "nodeA": "B0", "nodeB": "B1", "type": line_type, "length": length_km}])
    loads = [{"id": "load1", "node": "B1", "profile": "H0", "pLoad": 0.01, "qLoad": 0.0}]
    loads += [{"id": f"load_{n}", "node": n, "profile": "H0", "pLoad": 0.01, "qLoad": 0.0} for n in extra_nodes]
    _write(folder, "Load", loads)
    switches = [{"id": f"S_{n}", "nodeA": "B1", "nodeB": n, "cond": 0 if n == switch_open_to else 1}
                for n in extra_nodes]
    _write(folder, "Switch", switches or [{"id": "none", "nodeA": "B0", "nodeB": "B0", "cond": 0}])
    times = pd.date_range("2016-01-01", "2016-12-31 23:45", freq="15min")
    pd.DataFrame({"time": times.strftime("%d.%m.%Y %H:%M"), "H0_pload": 1.0}).to_csv(
        folder / "LoadProfile.csv", sep=";", index=False)
    return folder


def receiving_voltage_pu(p_kw: float, q_kvar: float, length_km: float, vs_pu: float = 1.0,
                         rated_kva: float = SN_MVA * 1e3) -> float:
    """The exact load-end voltage of :func:`two_bus_grid` [pu], computed by hand (module docstring)."""
    z_base = 0.4 ** 2 / 1.0                                   # ohm, on 0.4 kV and 1 MVA
    zk = VK_PCT / 100 * 0.4 ** 2 / (rated_kva / 1e3)          # transformer short-circuit impedance [ohm]
    rk = PCU_KW / (SN_MVA * 1e3) * 0.4 ** 2 / (rated_kva / 1e3)
    xk = np.sqrt(zk ** 2 - rk ** 2)
    r = (rk + R_OHM_KM * length_km) / z_base
    x = (xk + X_OHM_KM * length_km) / z_base
    p, q = p_kw / 1e3, q_kvar / 1e3
    b = 2 * (p * r + q * x) - vs_pu ** 2
    c = (p ** 2 + q ** 2) * (r ** 2 + x ** 2)
    return float(np.sqrt((-b + np.sqrt(b * b - 4 * c)) / 2))
