"""A pandapower net of one LV grid (:class:`~vpp_sched.scenario.grid.LvGrid`), built from its SimBench tables.

The net holds the grid's nodes (``vn_kv`` = ``vmR``), lines (``r, x`` [ohm/km], ``b`` [uS/km] and
``iMax`` [A] of their ``LineType``, ``length`` [km]), the closed switches (bus-bus, fused by
pandapower), the MV/LV transformer and the external grid at its node's ``vmSetp`` (1.0 pu when
empty). The transformer keeps its type's impedance in percent (``vmImp``, ``pCu``, ``pFe``,
``iNoLoad``, vector group shift ``va0``) but is rated ``rated_kva`` of the scenario's transformer,
so a 400 kVA transformer on a 160 kVA SimBench feeder is not modelled as the smaller unit.
Loads are not in the net: each slot's injections are the power flow's input (:mod:`.powerflow`).
"""

from __future__ import annotations

import copy
import math
from functools import lru_cache

import numpy as np
import pandas as pd

from vpp_sched.scenario.grid import LvGrid


def _num(series: pd.Series, default: float = np.nan) -> np.ndarray:
    return pd.to_numeric(series.replace({"NULL": ""}), errors="coerce").fillna(default).to_numpy(float)


@lru_cache(maxsize=2)
def _empty_net(frequency_hz: float):
    """pandapower's empty net, made once: ``create_empty_network`` builds dozens of typed tables (~0.3 s)."""
    import pandapower as pp

    return pp.create_empty_network(f_hz=frequency_hz, sn_mva=1.0)


def build_net(grid: LvGrid, rated_kva: float | None = None, frequency_hz: float = 50.0):
    """The pandapower net of ``grid`` (no loads) and ``{node id: pandapower bus index}``.

    The external grid's voltage may be set afterwards (:func:`set_mv_voltage`)."""
    import pandapower as pp

    t = grid.tables
    net = copy.deepcopy(_empty_net(frequency_hz))
    nodes = t["Node"]
    vn = _num(nodes["vmR"])
    bus = dict(zip(nodes["id"], pp.create_buses(net, len(nodes), vn_kv=vn, name=nodes["id"].to_numpy())))
    ext = t["ExternalNet"]["node"].iat[0]
    setpoint = _num(nodes.loc[nodes["id"] == ext, "vmSetp"], 1.0)[0]
    pp.create_ext_grid(net, bus[ext], vm_pu=float(setpoint))
    _add_lines(net, t, bus, frequency_hz)
    _add_transformer(net, t, bus, rated_kva)
    sw = t.get("Switch")
    if sw is not None:
        closed = sw[sw["cond"].isin(["1", "1.0", "True", "true"])]
        if len(closed):
            pp.create_switches(net, [bus[a] for a in closed["nodeA"]], [bus[b] for b in closed["nodeB"]], et="b",
                               closed=True)
    return net, bus


def _add_lines(net, t: dict, bus: dict, frequency_hz: float) -> None:
    import pandapower as pp

    types = t["LineType"].set_index("id")
    line = t["Line"]
    lt = types.loc[line["type"]]
    r, x, b, imax = (_num(lt[c].reset_index(drop=True)) for c in ("r", "x", "b", "iMax"))
    length = _num(line["length"])
    pp.create_lines_from_parameters(
        net, [bus[n] for n in line["nodeA"]], [bus[n] for n in line["nodeB"]], length_km=length,
        r_ohm_per_km=r, x_ohm_per_km=x,
        c_nf_per_km=b * 1e3 / (2 * math.pi * frequency_hz),   # b [uS/km] -> C [nF/km]
        max_i_ka=imax / 1e3, name=line["id"].to_numpy())


def _add_transformer(net, t: dict, bus: dict, rated_kva: float | None) -> None:
    import pandapower as pp

    tr = t["Transformer"].iloc[0]
    ty = t["TransformerType"].set_index("id").loc[tr["type"]]
    type_mva = float(ty["sR"])
    sn_mva = rated_kva / 1e3 if rated_kva else type_mva
    p_cu_kw = float(ty["pCu"])
    pp.create_transformer_from_parameters(
        net, bus[tr["nodeHV"]], bus[tr["nodeLV"]], sn_mva=sn_mva, vn_hv_kv=float(ty["vmHV"]),
        vn_lv_kv=float(ty["vmLV"]), vk_percent=float(ty["vmImp"]),
        vkr_percent=p_cu_kw / (type_mva * 1e3) * 100.0,          # copper losses at rating, in percent
        pfe_kw=float(ty["pFe"]) * sn_mva / type_mva, i0_percent=float(ty["iNoLoad"]),
        shift_degree=float(ty["va0"]), vector_group="Dyn", name=tr["id"])


def rate_transformer(net, grid: LvGrid, rated_kva: float) -> None:
    """Rate the net's transformer ``rated_kva``, its type's impedance in percent kept (module docstring)."""
    ty = grid.tables["TransformerType"].set_index("id").loc[grid.tables["Transformer"]["type"].iat[0]]
    sn_mva = rated_kva / 1e3
    net.trafo.loc[:, "sn_mva"] = sn_mva
    net.trafo.loc[:, "pfe_kw"] = float(ty["pFe"]) * sn_mva / float(ty["sR"])


def set_mv_voltage(net, vm_pu: float) -> None:
    """The MV voltage at the transformer's HV side (the external grid's setpoint) [pu]."""
    net.ext_grid.loc[:, "vm_pu"] = float(vm_pu)


def load_bus_indices(bus: dict, node_ids) -> np.ndarray:
    """pandapower bus index of each node id."""
    return np.array([bus[n] for n in node_ids], dtype=np.int64)
