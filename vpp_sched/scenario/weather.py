"""The weather table of a PV station (``stations/<id>/weather.csv`` or as ``scenario.yaml`` names it).

Read and checked like the other input tables (:mod:`vpp_sched.scenario.tables`): one line per
problem; the PV forecast (:mod:`vpp_sched.forecast.pv`) turns it into power.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from vpp_sched.errors import InputError
from vpp_sched.scenario import tables

WEATHER_COLUMNS = ("ghi", "dni", "dhi", "temp_air")
IRRADIANCE_COLUMNS = ("ghi", "dni", "dhi")


def read_weather_csv(path: str | Path, tz: str, slots: pd.DatetimeIndex,
                     label: str | None = None) -> pd.DataFrame:
    """Read ``slot_start, ghi, dni, dhi, temp_air[, wind_speed]`` for the horizon ``slots``.

    Parameters
    ----------
    path : str or Path
        The CSV file.
    tz : str
        IANA zone; a ``slot_start`` without offset is local time there.
    slots : pandas.DatetimeIndex
        Timezone-aware slot starts of the horizon; each needs exactly one row. Rows outside
        the horizon are checked like the others, then dropped.
    label : str, optional
        How messages name the file, e.g. the path as written in ``scenario.yaml``;
        default ``str(path)``.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``slots``: ``ghi, dni, dhi`` [W/m^2] in ``[0, 1500]``, ``temp_air`` [C] in
        ``[-90, 70]`` (catches Kelvin), ``wind_speed`` [m/s] when the file has it (else the forecast takes ``pv.wind_speed_m_s``,
        1 m/s by default).

    Raises
    ------
    InputError
        One line per problem, in the format of :mod:`vpp_sched.scenario.tables`:
        ``<file> row N: <field> <what is wrong>``, where ``row N`` is the 1-based data row (the
        header is not counted, so it is spreadsheet line N + 1); missing columns and missing
        slots name the file and the field.
    """
    label = str(path) if label is None else label
    problems = tables.Problems()
    t = tables.Table(Path(path), label, None, problems)
    if t.ok and t.require(["slot_start", *WEATHER_COLUMNS]):
        times = t.time("slot_start", tz)
        columns = {f: t.number(f, minimum=0.0, maximum=1500.0) for f in IRRADIANCE_COLUMNS}
        columns["temp_air"] = t.number("temp_air", minimum=-90.0, maximum=70.0)
        if "wind_speed" in t.raw.columns:   # else the forecast uses the station's pv.wind_speed_m_s
            columns["wind_speed"] = t.number("wind_speed", minimum=0.0, maximum=75.0)
        dup = (times.duplicated(keep="first") & times.notna()).to_numpy()
        t.report(dup, "slot_start", lambda i: f"{times.iat[i].isoformat()} appears twice")
        # A row with a bad value was reported already; only slots without any row are missing.
        missing = slots[~slots.isin(times)]
        if len(missing):
            first = ", ".join(m.isoformat() for m in missing[:3])
            more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
            problems.add(f"{label}: slot_start missing: {len(missing)} slot(s) of the horizon "
                         f"have no row ({first}{more})")
    if problems:
        raise InputError(problems.close())
    frame = pd.DataFrame(columns).set_axis(pd.DatetimeIndex(times))
    return frame[~frame.index.duplicated()].reindex(slots).astype(float)
