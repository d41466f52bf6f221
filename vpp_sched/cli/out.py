"""What every folder-writing command shares: the --force option and the inputs --out may not hold."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

Force = Annotated[bool, typer.Option("--force", help="Also replace a folder vpp-sched wrote for another "
                                                    "command (never a folder it did not write)")]


def scenario_folder(scenario: Optional[Path]) -> Path:
    """The folder of a scenario argument (folder or scenario.yaml; ``None``: the bundled demo)."""
    from vpp_sched.scenario.load import default_scenario_path

    path = Path(scenario) if scenario is not None else default_scenario_path()
    return path.parent if path.suffix in (".yaml", ".yml") and not path.is_dir() else path


def scenario_files(sc) -> list[Path]:
    """The files a loaded scenario was read from (a table may live outside its folder): --out may not hold them."""
    c = sc.config
    names = [getattr(c, key, None) for key in ("transformers", "feeders", "base_load", "evs", "load_history")]
    names.append(getattr(c.tariff, "table", None))
    names += [getattr(st.pv, "weather", None) for st in c.stations if getattr(st, "pv", None) is not None]
    sites = getattr(c, "sites", lambda: [])()      # swap and fast-charging stations: demand tables, PV weather
    names += [st.demand for st in sites] + [st.pv.weather for st in sites if st.pv is not None]
    return [sc.folder / name for name in names if isinstance(name, (str, Path)) and name]
