"""Add DR events to a scenario: in memory (for the VEN's re-plans) or as a new scenario folder."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pydantic
import yaml

from vpp_sched.scenario.config import DREvent, ScenarioConfig
from vpp_sched.errors import InputError
from vpp_sched.outfolder import check_target
from vpp_sched.plan.output import atomic_folder
from vpp_sched.scenario.load import Scenario, default_scenario_path, load_scenario

# Keys of scenario.yaml that name files, relative to the scenario folder.
_TABLE_KEYS = ("transformers", "feeders", "base_load", "evs", "load_history")


def with_events(scenario: Scenario, events: list[DREvent]) -> Scenario:
    """The scenario with ``dr_events`` replaced by ``events`` (checked like ``scenario.yaml``: unique ids)."""
    data = scenario.config.model_dump()
    data["dr_events"] = [ev.model_dump() for ev in events]
    try:
        config = ScenarioConfig.model_validate(data)
    except pydantic.ValidationError as exc:
        raise InputError([f"dr_events: {e['msg'].removeprefix('Value error, ')}" for e in exc.errors()]) from None
    return dataclasses.replace(scenario, config=config)


def write_scenario_with_events(source: Path | str | None, events: list[DREvent], out: Path | str,
                               overwrite: bool = False) -> Path:
    """Write a scenario folder ``out``: ``source``'s ``scenario.yaml`` with ``events`` appended to its
    ``dr_events``, and copies of the tables it names (a table outside the source folder is named by
    its absolute path instead). The new folder is loaded and checked before it is moved into place.

    ``out`` must be new or empty, or (with ``overwrite``) a scenario folder vpp-sched wrote; it
    may not hold the source scenario.

    Raises
    ------
    OutFolderError
        ``out`` may not be written (:func:`vpp_sched.outfolder.check_target`).
    InputError
        The new scenario does not load (e.g. an event id already in the scenario).
    """
    src = Path(source) if source is not None else default_scenario_path()
    file = src / "scenario.yaml" if src.is_dir() else src
    folder = file.parent.resolve()
    out = check_target(out, "scenario", [folder], force=overwrite)
    raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    with atomic_folder(out, "scenario", [folder], force=overwrite) as tmp:
        for key, get, put in _file_refs(raw):
            target = (folder / get()).resolve()
            if target.is_relative_to(folder):
                rel = target.relative_to(folder)
                (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(target, tmp / rel)
                put(rel.as_posix())
            else:  # keep a table that lives elsewhere where it is, by its absolute path
                put(str(target))
        raw["dr_events"] = [*(raw.get("dr_events") or []),
                            *(ev.model_dump(mode="json", exclude_none=True) for ev in events)]
        (tmp / "scenario.yaml").write_text(yaml.safe_dump(raw, sort_keys=False, allow_unicode=True),
                                           encoding="utf-8")
        load_scenario(tmp)  # nothing is moved into place unless it loads
    return out


def _file_refs(raw: dict):
    """(key, getter, setter) for every file name in a raw ``scenario.yaml`` mapping."""
    def ref(d: dict, k: str):
        return k, (lambda: d[k]), (lambda v: d.__setitem__(k, v))

    for key in _TABLE_KEYS:
        if raw.get(key):
            yield ref(raw, key)
    tariff = raw.get("tariff") or {}
    if tariff.get("table"):
        yield ref(tariff, "table")
    for st in raw.get("stations") or []:
        pv = st.get("pv") or {}
        if pv.get("weather"):
            yield ref(pv, "weather")
