"""The OCPP 2.0.1 JSON schemas of the ``ocpp`` package, compiled once with ``fastjsonschema``.

The ``ocpp`` package checks every message it sends or receives against its schema with
``jsonschema`` in the event loop's default thread pool. For a SetChargingProfile of 96 periods that
was 32 ms of CPU holding the GIL (0.97 ms compiled, measured side by side on the same payload): 500
stations' profiles after a re-plan queued ~16 s of checks ahead of the stations' MeterValues. So the
CSMS checks each plan's profiles once, compiled, when it parses them (:mod:`.profiles`), and sends
them with the package's per-call check skipped; the other messages keep the package's own check.
"""

from __future__ import annotations

import csv
import io
import json
import os
from functools import lru_cache

import fastjsonschema
import ocpp
from ocpp.exceptions import FormatViolationError, ProtocolError, TypeConstraintViolationError


class SchemaError(ValueError):
    """A payload that does not match its OCPP schema; the message names the field."""


@lru_cache(maxsize=None)
def _compiled(action: str, version: str, kind: str):
    folder = "v" + version.replace(".", "")
    path = os.path.join(os.path.dirname(ocpp.__file__), folder, "schemas", f"{action}{kind}.json")
    with open(path, encoding="utf-8-sig") as f:   # the 2.0.1 schema files start with a byte order mark
        return fastjsonschema.compile(json.load(f))


def check(action: str, payload: dict, version: str = "2.0.1", kind: str = "Request") -> None:
    """Raise :class:`SchemaError` unless ``payload`` (camelCase, as on the wire) matches the schema of
    ``action`` + ``kind`` (``Request`` or ``Response``)."""
    try:
        _compiled(action, version, kind)(payload)
    except fastjsonschema.JsonSchemaException as exc:
        raise SchemaError(f"{action}{kind}: {exc.message}") from None


def check_compiled(action: str, version: str = "2.0.1", kind: str = "Request") -> None:
    """Compile the schema of ``action`` + ``kind`` now (it is kept), so no check pays for it later."""
    _compiled(action, version, kind)


def check_call(action: str, payload: dict, version: str = "2.0.1") -> None:
    """Check a station's call as the ``ocpp`` package would, compiled and on the caller's thread: raise the
    package's error for the answer (a CallError) when ``payload`` breaks the request schema of ``action``.

    The package runs its ``jsonschema`` check of each incoming call and of its answer in the loop's
    default thread pool: two thread hops and ~0.3-1 ms of CPU holding the GIL per message, 50 messages
    a second from 500 stations. Compiled, the check is a few tens of microseconds, cheaper than a hop.
    The error classes follow the package's own mapping (``ocpp.messages._validate_payload``).
    """
    try:
        _compiled(action, version, "Request")(payload)
    except fastjsonschema.JsonSchemaValueException as exc:
        rule = getattr(exc, "rule", None)
        details = {"cause": f"{action}Request: {exc.message}"}
        if rule in ("type", "maxLength"):
            raise TypeConstraintViolationError(details=details) from None
        if rule == "required":
            raise ProtocolError(details=details) from None
        raise FormatViolationError(details=details) from None


#: The plan file holding :func:`check_plan_profiles`' result (written by the planning process).
PLAN_CHECK_FILE = "ocpp_schema_check.json"


def check_plan_profiles(files: dict[str, bytes]) -> bytes:
    """:data:`PLAN_CHECK_FILE` of a plan's files: each EV's profile (``ocpp/index.csv`` and its files)
    checked against SetChargingProfileRequest, ``{"schema", "checked", "invalid": {ev_id: message}}``.

    Run where the plan is made (the planning process), so the CSMS, which must not send a profile that
    breaks the schema, does not check 1,000 profiles (~1 ms each) on the server's threads after each
    plan: it reads this file and parses only the profiles its stations need.
    """
    index = files.get("ocpp/index.csv")
    rows = csv.DictReader(io.StringIO(index.decode("utf-8"))) if index is not None else []
    invalid, checked = {}, 0
    for r in rows:
        data = files.get(f"ocpp/{r['file']}") if r["file"] else None
        if data is None:
            continue
        checked += 1
        try:
            check("SetChargingProfile", json.loads(data))
        except SchemaError as exc:
            invalid[r["ev_id"]] = str(exc)
    return json.dumps({"schema": "OCPP 2.0.1 SetChargingProfileRequest", "checked": checked,
                       "invalid": invalid}, indent=1).encode() + b"\n"
