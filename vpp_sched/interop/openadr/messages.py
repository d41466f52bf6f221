"""Read a stored OpenADR 2.0b ``oadrDistributeEvent`` message (the XML a VTN sends a VEN).

The file is checked against the OpenADR 2.0b schema shipped with openleadr, then parsed with
openleadr's own parser, so a stored message gives the same event dicts as one received live.
"""

from __future__ import annotations

from pathlib import Path

from vpp_sched.errors import InputError


def read_distribute_event(path: Path | str) -> list[dict]:
    """The events of a stored ``oadrDistributeEvent`` (openleadr's parsed form, one dict per event).

    Raises
    ------
    InputError
        The file is missing, not XML, not valid OpenADR 2.0b, or another message type; the message
        names the file (and the line, for XML errors).
    """
    from lxml import etree
    from openleadr.messaging import parse_message, validate_xml_schema

    path = Path(path)
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise InputError([f"{path}: cannot read the file ({exc.strerror})"]) from None
    try:
        etree.fromstring(content, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as exc:
        raise InputError([f"{path}: malformed XML: {_text(exc.msg)}"]) from None
    try:
        validate_xml_schema(content)
    except etree.XMLSyntaxError as exc:
        last = exc.error_log.last_error  # the log is per thread: older errors may precede
        where = f" (line {last.line})" if last is not None and last.line else ""
        reason = last.message if last is not None else _text(exc.msg)
        raise InputError([f"{path}: not an OpenADR 2.0b message{where}: {reason}"]) from None
    try:
        message_type, payload = parse_message(content)
    except Exception as exc:  # openleadr's parser raises whatever its dict walk meets
        raise InputError([f"{path}: cannot parse the OpenADR message ({type(exc).__name__}: {exc})"]) from None
    if message_type != "oadrDistributeEvent":
        raise InputError([f"{path}: is an {message_type} message, expected oadrDistributeEvent"])
    events = payload.get("events") or []
    if not events:
        raise InputError([f"{path}: the oadrDistributeEvent holds no event"])
    return events


def _text(msg) -> str:
    """lxml's message without its ``line N: b"..."`` wrapping."""
    msg = str(msg)
    if msg.startswith("line ") and ": b" in msg:
        msg = msg.split(": b", 1)[1].strip("\"'")
    return msg
