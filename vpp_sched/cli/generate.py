"""``vpp-sched generate``: a synthetic scenario of any size in the standard format."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vpp_sched.cli.errors import exit_codes


def generate(
    out: Annotated[Path, typer.Argument(help="Scenario folder to write: new or empty (an earlier generated one with --force)")],
    transformers: Annotated[int, typer.Option(min=1, help="Number of transformers")] = 20,
    evs: Annotated[int, typer.Option(min=0, help="Number of EVs")] = 600,
    stations: Annotated[int, typer.Option(min=0, help="PV-storage-charging stations")] = 0,
    dr_event: Annotated[bool, typer.Option("--dr-event", help="Add a binding portfolio peak-shaving event")] = False,
    min_power_kw: Annotated[Optional[float], typer.Option("--min-power-kw", min=0.0, help="Charger minimum power [kW]; default 0")] = None,
    v2g_share: Annotated[float, typer.Option("--v2g-share", min=0.0, max=1.0,
                                             help="Share of home EVs that may discharge (V2G)")] = 0.0,
    seed: Annotated[int, typer.Option(help="Random seed")] = 0,
    swap_stations: Annotated[int, typer.Option("--swap-stations", min=0, help="Battery-swap stations (heavy-truck and "
                                               "passenger-car in turn), each on its own transformer")] = 0,
    fast_stations: Annotated[int, typer.Option("--fast-stations", min=0, help="Fast-charging stations (expressway and "
                                               "tourist road in turn), each on its own transformer")] = 0,
    force: Annotated[bool, typer.Option("--force", help="Replace a scenario folder vpp-sched wrote earlier "
                                                        "(your edits in it are lost; a folder it did not write is never replaced)")] = False,
    debug: Annotated[bool, typer.Option(help="Show tracebacks")] = False,
) -> None:
    """Write a realistic synthetic scenario (SimBench base-load shapes, ElaadNL sessions)."""
    from vpp_sched.scenario.synthetic import generate_scenario

    with exit_codes(debug):
        folder = generate_scenario(out, transformers=transformers, evs=evs, stations=stations, dr_event=dr_event,
                                   min_power=min_power_kw, seed=seed, v2g_share=v2g_share, force=force,
                                   swap_stations=swap_stations, fast_stations=fast_stations)
        typer.echo(f"scenario written to {folder}")
        typer.echo(f"  {scenario_sizes(folder)}")


def scenario_sizes(folder: Path) -> str:
    """``T transformer(s), E EV session(s), S station(s), F file(s), B bytes``, read from the written files."""
    import yaml

    def rows(name: str) -> int:
        with open(folder / name, encoding="utf-8") as f:
            return max(sum(1 for _ in f) - 1, 0)  # minus the header

    config = yaml.safe_load((folder / "scenario.yaml").read_text(encoding="utf-8"))
    files = [p for p in folder.rglob("*") if p.is_file()]
    return (f"{rows(config['transformers'])} transformer(s), {rows(config['evs'])} EV session(s), "
            f"{len(config.get('stations') or [])} station(s); {len(files)} file(s), "
            f"{sum(p.stat().st_size for p in files):,} bytes")
