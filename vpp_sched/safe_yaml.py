"""Read ``scenario.yaml`` safely: PyYAML's safe loader, plus limits a hostile file cannot get round.

``yaml.safe_load`` already refuses Python tags, but it happily composes a "billion laughs"
document: nine aliases of nine aliases ... of a short list are a few hundred bytes that expand
to 10^9 values, and any code that walks or prints the value (pydantic, an error message)
never returns. This loader counts how many values the aliases of a document expand to and
refuses the file beyond :data:`MAX_ALIAS_VALUES`, refuses an alias used inside its own anchor
(a recursive structure), refuses a key given twice in one mapping (PyYAML silently keeps the
last one), and refuses files over :data:`MAX_YAML_BYTES`. Every refusal names the file and
the line.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from yaml.error import MarkedYAMLError

from vpp_sched.errors import InputError, echo

#: Values (scalars, lists and mappings) that all aliases of one document may expand to [-].
#: Reusing a block of settings for a few stations costs tens; a bomb costs billions.
MAX_ALIAS_VALUES = 100_000
#: Largest scenario.yaml read [bytes]: a year of per-slot cloud factors for a few stations is ~1 MB.
MAX_YAML_BYTES = 20 * 1024 * 1024

_MERGE_TAG = "tag:yaml.org,2002:merge"


class RefusedYAML(MarkedYAMLError):
    """Well-formed YAML this loader will not take (an alias bomb, a recursive alias, a repeated key)."""


class BoundedSafeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that limits alias expansion and refuses recursive aliases and repeated keys."""

    def __init__(self, stream):
        super().__init__(stream)
        self._expanded = 0
        self._complete: dict[int, tuple[yaml.Node, int]] = {}   # id(node) -> (node, expanded size)

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            node = self.anchors.get(event.anchor)
            if node is not None:        # an unknown alias is PyYAML's own error
                if id(node) not in self._complete:
                    raise RefusedYAML(None, None, f"alias *{echo(event.anchor)} is used inside its own "
                                        "anchor (a recursive structure)", event.start_mark)
                self._expanded += self._complete[id(node)][1]
                if self._expanded > MAX_ALIAS_VALUES:
                    raise RefusedYAML(None, None, f"aliases expand to more than {MAX_ALIAS_VALUES:,} values; "
                                        "write the values out or use fewer aliases", event.start_mark)
            return super().compose_node(parent, index)
        node = super().compose_node(parent, index)
        self._complete[id(node)] = (node, self._size(node))
        return node

    def _size(self, node: yaml.Node) -> int:
        """Values ``node`` stands for once its aliases are expanded; its children are complete already."""
        if isinstance(node, yaml.ScalarNode):
            return 1
        children = node.value if isinstance(node, yaml.SequenceNode) else [n for kv in node.value for n in kv]
        return 1 + sum(self._complete[id(c)][1] if id(c) in self._complete else self._size(c) for c in children)

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != _MERGE_TAG:
                if key_node.value in seen:
                    raise RefusedYAML(None, None, f"key {echo(key_node.value)} appears twice in one mapping "
                                           f"(first at line {seen[key_node.value] + 1})", key_node.start_mark)
                seen[key_node.value] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


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
        return yaml.load(text, Loader=BoundedSafeLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        reason = echo(getattr(exc, "problem", None) or str(exc), 200)
        kind = "refused YAML" if isinstance(exc, RefusedYAML) else "malformed YAML"
        raise InputError([f"{label}: {kind}{where}: {reason}"]) from None
    except RecursionError:
        raise InputError([f"{label}: malformed YAML: lists or mappings nested too deeply"]) from None
