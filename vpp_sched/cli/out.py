"""What every folder-writing command shares: the --force option and the inputs --out may not hold."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

Force = Annotated[bool, typer.Option("--force", help="Also replace a folder vpp-sched wrote for another "
                                                    "command (never a folder it did not write)")]


def scenario_folder(scenario: Optional[Path]) -> Path:
    """The folder of a scenario argument (folder or scenario.yaml; ``None``: the bundled demo)."""
    from vpp_sched.scenario import default_scenario_path

    path = Path(scenario) if scenario is not None else default_scenario_path()
    return path.parent if path.suffix in (".yaml", ".yml") and not path.is_dir() else path
