"""The file under a CSV table: is it there, a regular file, not too large, UTF-8, comma-separated?

Judged before pandas reads it, so that a wrong file is one line saying what is wrong with it
(a folder, a FIFO that would never end, 5 GB, GBK, ';'-separated, a repeated column name)
instead of a parser error or a complaint about every column.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from vpp_sched.errors import echo

#: Largest table read [bytes]: a county's evs.csv of 100,000 EVs is ~10 MB, weeks of metered
#: history for thousands of transformers a few hundred MB.
MAX_TABLE_BYTES = 1024 ** 3
_HEADER_PEEK_BYTES = 1 << 20


def file_problem(path: Path) -> str | None:
    """Why ``path`` cannot be read as a table before opening it, or ``None``."""
    if not path.exists():
        return f"file not found at {path}"
    if path.is_dir():
        return f"{path} is a folder, not a CSV file"
    if not path.is_file():
        return f"{path} is not a regular file"
    size = path.stat().st_size
    if size > MAX_TABLE_BYTES:
        return f"{size / 1e6:,.0f} MB is larger than the {MAX_TABLE_BYTES / 1e6:,.0f} MB vpp-sched reads"
    return None


def header_problem(path: Path) -> str | None:
    """Why the file's first line is not the header of a comma-separated UTF-8 table, or ``None``.

    Judged on the first line alone, so that a wrong delimiter or encoding is one line, not a
    complaint about every column; the line itself is never echoed (it may not be ours to show).
    """
    with open(path, "rb") as f:
        head = f.read(_HEADER_PEEK_BYTES)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):     # Excel's "Unicode text"
        return "is UTF-16 text; save it as UTF-8 CSV (comma-separated)"
    if b"\0" in head:
        return "is a binary file, not CSV text"
    first = re.split(rb"\r\n|\r|\n", head, maxsplit=1)[0]
    try:
        line = first.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if exc.end < len(first) or exc.reason != "unexpected end of data":
            return not_utf8(path)
        line = first[:exc.start].decode("utf-8-sig")   # the peek cut a character short
    if not line.strip():
        return "the first line is empty; it must be the header (column names)"
    if "," not in line:
        for sep, name in ((";", "';'"), ("\t", "tabs")):
            if sep in line:
                return f"columns are separated by {name}; vpp-sched reads comma-separated CSV"
    try:
        names = [c.strip() for c in next(csv.reader([line]))]
    except csv.Error as exc:
        return f"the header is not a CSV line ({exc})"
    first_at: dict[str, int] = {}
    for j, name in enumerate(names):
        if name and name in first_at:
            return f"column {echo(name)} appears twice in the header (columns {first_at[name] + 1} and {j + 1})"
        first_at.setdefault(name, j)
    return None


def not_utf8(path: Path) -> str:
    """``not UTF-8 text (line N, byte 0x..)``: where the first byte that is not UTF-8 is."""
    with open(path, "rb") as f:
        for n, line in enumerate(f, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                return (f"not UTF-8 text (line {n} has byte 0x{line[exc.start]:02x}); save it as UTF-8 "
                        "(e.g. not GBK)")
    return "not UTF-8 text; save it as UTF-8"
