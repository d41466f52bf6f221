"""``--vary`` and ``--policy`` of the what-if and hosting studies: parse and check the syntax.

See :mod:`vpp_sched.studies.whatif` for the keys. Ids are checked against the scenario later
(:func:`vpp_sched.studies.cases.check_varies`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import pydantic

from vpp_sched.errors import VppSchedError
from vpp_sched.scenario.config import BatteryConfig, PVConfig
from vpp_sched.studies.resample import MAX_EV_SCALE
from vpp_sched.studies.site_cases import SITE_KEY_HELP, is_site_key, site_field_problem

POLICIES = ("uncontrolled", "orderly")

#: Transformer columns a case may set, with their allowed range (as ``tables.read_transformers``).
TRANSFORMER_NUMBERS = {"rated_kva": (0.0, None), "power_factor": (0.0, 1.0), "max_loading_pu": (0.0, 5.0)}
TRANSFORMER_TEXT = ("feeder_id",)
DERIVED_COLUMNS = ("limit_kw", "rating_kw")


class VaryError(VppSchedError):
    """A ``--vary`` argument that cannot be understood (unknown key, malformed or out-of-range value)."""


@dataclass(frozen=True)
class Vary:
    """One varied input: ``key`` (e.g. ``transformers.T01.rated_kva``) and its values in order."""

    key: str
    values: tuple

    @property
    def kind(self) -> str:
        return self.key.split(".", 1)[0]


def _numeric_fields(model: type[pydantic.BaseModel]) -> list[str]:
    out = []
    for name, info in model.model_fields.items():
        text = str(info.annotation)
        if info.annotation in (float, int) or text in ("float | None", "int | None", "typing.Optional[float]"):
            out.append(name)
    return out


BATTERY_FIELDS = _numeric_fields(BatteryConfig)
PV_FIELDS = _numeric_fields(PVConfig)

KEY_HELP = ("transformers.<ID>.<rated_kva|power_factor|max_loading_pu|feeder_id>, evs.scale, "
            "stations.<ID>.battery.<field>, stations.<ID>.pv.<field>, tariff.scale, " + SITE_KEY_HELP)


def parse_vary(spec: str) -> Vary:
    """``KEY=V1,V2,...`` -> :class:`Vary` (syntax and value ranges only; ids are checked later).

    Raises
    ------
    VaryError
        Unknown key, no ``=``, an empty or non-numeric value, a value out of range, a repeated value.
    """
    if "=" not in spec:
        raise VaryError(f"--vary {spec!r}: expected KEY=V1,V2,... (keys: {KEY_HELP})")
    key, _, text = spec.partition("=")
    key = key.strip()
    raw = [v.strip() for v in text.split(",")]
    parts = key.split(".")
    if parts[0] == "transformers" and len(parts) >= 3 and all(parts[1:-1]):
        column = parts[-1]
        if column in TRANSFORMER_TEXT:
            values = tuple(raw)
        elif column in TRANSFORMER_NUMBERS:
            low, high = TRANSFORMER_NUMBERS[column]
            values = tuple(_number(key, v, low=low, high=high, strict_low=True) for v in raw)
        elif column in DERIVED_COLUMNS:
            raise VaryError(f"--vary {key}: {column} is derived (rated_kva x power_factor [x max_loading_pu]); "
                            "vary rated_kva, power_factor or max_loading_pu")
        else:
            raise VaryError(f"--vary {key}: unknown transformer column {column!r}; use one of "
                            f"{', '.join([*TRANSFORMER_NUMBERS, *TRANSFORMER_TEXT])}")
    elif key == "evs.scale":
        values = tuple(_number(key, v, low=0.0, high=MAX_EV_SCALE) for v in raw)
    elif key == "tariff.scale":
        values = tuple(_number(key, v, low=0.0) for v in raw)
    elif parts[0] == "stations" and len(parts) >= 4 and parts[-2] in ("battery", "pv") and all(parts[1:-2]):
        device, name = parts[-2], parts[-1]
        allowed = BATTERY_FIELDS if device == "battery" else PV_FIELDS
        if name not in allowed:
            raise VaryError(f"--vary {key}: unknown {device} field {name!r}; numeric fields: {', '.join(allowed)}")
        values = tuple(_number(key, v, low=0.0) for v in raw)
    elif is_site_key(parts):         # swap and fast-charging stations (studies/site_cases.py)
        if (problem := site_field_problem(parts)) is not None:
            raise VaryError(f"--vary {key}: {problem}")
        values = tuple(_number(key, v, low=0.0, strict_low=True) for v in raw)
    else:
        raise VaryError(f"--vary {key}: unknown key; use one of {KEY_HELP}")
    if len(set(values)) != len(values):
        raise VaryError(f"--vary {key}: a value is repeated ({text})")
    return Vary(key, values)


def _number(key: str, text: str, low: float | None = None, high: float | None = None,
            strict_low: bool = False) -> float:
    try:
        value = float(text)
    except ValueError:
        raise VaryError(f"--vary {key}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise VaryError(f"--vary {key}: {text!r} is not a finite number")
    if low is not None and (value < low or (strict_low and value == low)):
        raise VaryError(f"--vary {key}: {text} must be {'greater than' if strict_low else 'at least'} {low:g}")
    if high is not None and value > high:
        raise VaryError(f"--vary {key}: {text} must be at most {high:g}")
    return value


def parse_varies(specs: Sequence[str]) -> list[Vary]:
    """Parse every ``--vary``; a key given twice is a :class:`VaryError`."""
    varies = [parse_vary(s) for s in specs]
    keys = [v.key for v in varies]
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise VaryError(f"--vary {dup[0]} is given more than once; list all its values in one --vary")
    return varies


def parse_policies(text: str | Sequence[str]) -> list[str]:
    """``"uncontrolled,orderly"`` -> list; an unknown policy is a :class:`VaryError`."""
    items = text.split(",") if isinstance(text, str) else list(text)
    out = [p.strip() for p in items if p.strip()]
    bad = [p for p in out if p not in POLICIES]
    if bad or not out:
        raise VaryError(f"--policy: {', '.join(bad) or '(empty)'} is not a policy; use "
                        f"{' and/or '.join(POLICIES)}, comma-separated")
    return list(dict.fromkeys(out))


def cross_product(varies: Sequence[Vary]) -> list[dict]:
    """Every combination of the values, the first ``--vary`` varying slowest; ``[{}]`` without any."""
    keys = [v.key for v in varies]
    return [dict(zip(keys, combo)) for combo in itertools.product(*(v.values for v in varies))]
