"""Read ``scenario.yaml`` safely: PyYAML's safe loader, plus limits a hostile file cannot get round.

``yaml.safe_load`` already refuses Python tags, but it happily composes a "billion laughs"
document: nine aliases of nine aliases ... of a short list are a few hundred bytes that expand
to 10^9 values, and any code that walks or prints the value (pydantic, an error message)
never returns. Before anything is built, one pass over the parser's events counts how many
values the aliases expand to and refuses the file beyond :data:`MAX_ALIAS_VALUES`, or when an
alias is used inside its own anchor (a recursive structure), or when the file holds more than
:data:`MAX_YAML_VALUES` values. The loader then refuses a key given twice in one mapping (PyYAML
silently keeps the last one), an integer too long for Python to read and a date that does not
exist (both ValueErrors, not YAML errors, in PyYAML). Files over :data:`MAX_YAML_BYTES` are not
read. Every refusal names the file and, where the parser knows it, the line.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from yaml.constructor import ConstructorError
from yaml.error import MarkedYAMLError

from vpp_sched.errors import InputError, echo

#: Values (scalars, lists and mappings) that all aliases of one document may expand to [-].
#: Reusing a block of settings for a few stations costs tens; a bomb costs billions.
MAX_ALIAS_VALUES = 100_000
#: Largest scenario.yaml read [bytes]: a year of per-slot cloud factors for a few stations is ~1 MB.
MAX_YAML_BYTES = 5 * 1024 * 1024
#: Most values (scalars and collections) written in one scenario.yaml [-]: the same few stations'
#: year of cloud factors is ~200,000; 5 MB of "1," would be 2.5 million and take a minute to load.
MAX_YAML_VALUES = 500_000
#: Longest number written in scenario.yaml [characters].
MAX_NUMBER_CHARS = 100

_MERGE_TAG = "tag:yaml.org,2002:merge"
# libyaml parses ~10x faster than PyYAML's pure-Python parser: a 5 MB file loads in seconds.
_BASE = getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader


class RefusedYAML(MarkedYAMLError):
    """Well-formed YAML this loader will not take (an alias bomb, a recursive alias, a repeated key)."""


class BoundedSafeLoader(_BASE):
    """The safe loader (libyaml's where available) that refuses a key given twice in one mapping,
    over-long integers and impossible dates, each with its line."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != _MERGE_TAG:
                if key_node.value in seen:
                    raise RefusedYAML(None, None, f"key {echo(key_node.value)} appears twice in one mapping "
                                      f"(first at line {seen[key_node.value] + 1})", key_node.start_mark)
                seen[key_node.value] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node):
        # Python refuses to read an integer of over 4,300 digits (a ValueError, not a YAML error)
        if len(node.value) > MAX_NUMBER_CHARS:
            raise RefusedYAML(None, None, f"a number of {len(node.value):,} characters", node.start_mark)
        return super().construct_yaml_int(node)


    def construct_yaml_timestamp(self, node):
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError as exc:    # 2026-02-30 looks like a date to YAML's resolver but is none
            raise ConstructorError(None, None, f"{echo(node.value)} is not a date or time ({exc})",
                                   node.start_mark) from None


BoundedSafeLoader.add_constructor("tag:yaml.org,2002:int", BoundedSafeLoader.construct_yaml_int)
BoundedSafeLoader.add_constructor("tag:yaml.org,2002:timestamp", BoundedSafeLoader.construct_yaml_timestamp)


def check_aliases(text: str) -> None:
    """Raise :class:`RefusedYAML` when the aliases of ``text`` expand beyond :data:`MAX_ALIAS_VALUES`
    values, an alias is used inside its own anchor, or the file holds more than :data:`MAX_YAML_VALUES`
    values; one pass over the parser's events, nothing built."""
    sizes: dict[str, int | None] = {}    # anchor -> values it stands for (None while still open)
    stack: list[list] = []               # open collections: [anchor, values so far]
    expanded = 0

    def add(n: int) -> None:
        if stack:
            stack[-1][1] += n

    written = 0
    for event in yaml.parse(text, Loader=_BASE):
        if isinstance(event, (yaml.ScalarEvent, yaml.CollectionStartEvent)):
            written += 1
            if written > MAX_YAML_VALUES:
                raise RefusedYAML(None, None, f"more than {MAX_YAML_VALUES:,} values; put per-slot data in "
                                  "CSV tables", event.start_mark)
        if isinstance(event, yaml.ScalarEvent):
            add(1)
            if event.anchor:
                sizes[event.anchor] = 1
        elif isinstance(event, yaml.CollectionStartEvent):
            stack.append([event.anchor, 1])
            if event.anchor:
                sizes[event.anchor] = None
        elif isinstance(event, yaml.CollectionEndEvent):
            anchor, n = stack.pop()
            if anchor:
                sizes[anchor] = n
            add(n)
        elif isinstance(event, yaml.AliasEvent) and event.anchor in sizes:   # else PyYAML's own error
            n = sizes[event.anchor]
            if n is None:
                raise RefusedYAML(None, None, f"alias *{echo(event.anchor)} is used inside its own anchor "
                                  "(a recursive structure)", event.start_mark)
            expanded += n
            if expanded > MAX_ALIAS_VALUES:
                raise RefusedYAML(None, None, f"aliases expand to more than {MAX_ALIAS_VALUES:,} values; "
                                  "write the values out or use fewer aliases", event.start_mark)
            add(n)


def load_yaml(file: Path, label: str):
    """The document of ``file``, or :class:`InputError` with one line naming ``label`` and the line."""
    try:
        if file.exists() and not file.is_file() and not file.is_dir():   # a FIFO or a device never ends
            raise InputError([f"{label}: is not a regular file"])
        size = file.stat().st_size
        if size > MAX_YAML_BYTES:
            raise InputError([f"{label}: {size / 1e6:.1f} MB is larger than the {MAX_YAML_BYTES / 1e6:.0f} MB "
                              "vpp-sched reads (put per-slot data in CSV tables)"])
        text = file.read_text(encoding="utf-8-sig")
    except IsADirectoryError:
        raise InputError([f"{label}: is a folder, not a YAML file"]) from None
    except PermissionError:
        raise InputError([f"{label}: cannot be read (permission denied)"]) from None
    except UnicodeDecodeError as exc:
        raise InputError([f"{label}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at position "
                          f"{exc.start}); save it as UTF-8"]) from None
    try:
        check_aliases(text)
        return yaml.load(text, Loader=BoundedSafeLoader)  # noqa: S506 - a safe loader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        reason = echo(getattr(exc, "problem", None) or str(exc), 200)
        kind = "refused YAML" if isinstance(exc, RefusedYAML) else "malformed YAML"
        raise InputError([f"{label}: {kind}{where}: {reason}"]) from None
    except ValueError as exc:     # a constructor's own check, e.g. a timestamp out of range
        raise InputError([f"{label}: a value cannot be read ({echo(str(exc), 200)})"]) from None
    except RecursionError:
        raise InputError([f"{label}: malformed YAML: lists or mappings nested too deeply"]) from None
