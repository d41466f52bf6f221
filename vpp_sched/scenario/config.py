"""The ``scenario.yaml`` data model (pydantic v2).

Every model forbids unknown keys, so a typo such as ``slot_minute`` is an error rather than
a silently ignored setting. Units are in the field names; descriptions end with the unit.
Tables (transformers, EVs, base load, ...) are referenced by path relative to the scenario
folder and are read and checked by :mod:`vpp_sched.scenario.tables`.

Over the ~400-line guide on purpose: it is the one place the whole ``scenario.yaml`` contract is
written (``vpp-sched schema`` prints it from here); split it only along the YAML's own sections.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from vpp_sched.errors import quoted
from vpp_sched.scenario.uncertainty import Uncertainty

_HHMM = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")

# Plausible ranges. A number outside them is a typo or a unit slip (W for kW), never a real
# setting, and left in it reaches HiGHS as 1e308 and fails there. Generous enough for trucks on
# megawatt chargers, 100,000-EV counties and 110 kV substations; tables.py uses the same limits.
#: Largest power of one EV or charger (MCS truck chargers reach 3.75 MW) [kW].
MAX_EV_POWER_KW = 4_000.0
#: Largest energy of one EV (a heavy truck's battery is about 1 MWh) [kWh].
MAX_EV_ENERGY_KWH = 2_000.0
#: Largest power of a site, station, PV array, feeder or DR request (10 GW) [kW].
MAX_POWER_KW = 1e7
#: Largest stationary battery (10 GWh) [kWh].
MAX_ENERGY_KWH = 1e7
#: Largest transformer rating (1,000 MVA) [kVA].
MAX_RATED_KVA = 1e6
#: Largest energy price or per-kWh payment [CNY/kWh].
MAX_PRICE_CNY_PER_KWH = 100.0
#: Largest demand charge [CNY/kW/month].
MAX_DEMAND_CNY_PER_KW_MONTH = 1000.0
#: Centralised charging and swapping facilities on the two-part tariff pay no demand charge up to this
#: date (the national measure of 2023, to our knowledge 国办发〔2023〕19号 "2030年前", not checked against
#: the document; read as through 2030, see models/tariff.md).
DEMAND_EXEMPT_UNTIL = dt.date(2030, 12, 31)
#: Largest slack penalty; far above it the LP loses precision [CNY/kWh].
MAX_PENALTY_CNY_PER_KWH = 1e6
#: Longest solver time limit (a week) [s].
MAX_TIME_LIMIT_S = 7 * 24 * 3600.0
#: Longest horizon [days]: a year of slots.
MAX_HORIZON_DAYS = 366
#: Times a scenario may name: from 1970 up to (not including) 2100 [year].
EARLIEST_YEAR, LATEST_YEAR = 1970, 2099
#: Longest id (ev_id, transformer_id, station_id, ...) [characters].
MAX_ID_CHARS = 1000


def id_problem(value: str) -> str | None:
    """Why ``value`` cannot be an id (ev_id, transformer_id, ...), or ``None`` when it can.

    Ids go into file names, CSV cells and one-line messages, so a control character (newline,
    tab, NUL), a leading ``= + - @`` (a formula to a spreadsheet) or an id longer than
    :data:`MAX_ID_CHARS` is refused.
    """
    if len(value) > MAX_ID_CHARS:
        return f"is {len(value):,} characters long, more than the {MAX_ID_CHARS:,} allowed"
    if any(not c.isprintable() and c != " " for c in value):
        return "contains a control character (newline, tab, ...); ids must be printable text"
    if value[:1] in _FORMULA_START:
        return (f"starts with {value[0]!r}: a spreadsheet opening the plan would run it as a formula; "
                "start ids with a letter or digit")
    return None


# OWASP's CSV-injection list: a cell starting with one of these is a formula to Excel and LibreOffice.
_FORMULA_START = frozenset("=+-@")


def _check_id(value: str) -> str:
    problem = id_problem(value)
    if problem:
        raise ValueError(f"id {problem}")
    return value


def _check_year(value):
    if value is not None and not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise ValueError(f"{value.isoformat()} is outside the years {EARLIEST_YEAR}..{LATEST_YEAR}")
    return value


#: An identifier: 1..MAX_ID_CHARS printable characters.
Id = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_CHARS), AfterValidator(_check_id)]
#: A table's path relative to the scenario folder.
TablePath = Annotated[str, StringConstraints(min_length=1, max_length=4096)]
#: A time a scenario names, between EARLIEST_YEAR and LATEST_YEAR.
Time = Annotated[dt.datetime, AfterValidator(_check_year)]
Day = Annotated[dt.date, AfterValidator(_check_year)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Site(_Strict):
    """Where the scenario is: used for solar position and local time."""

    latitude: float = Field(ge=-90, le=90, description="Latitude, north positive [deg]")
    longitude: float = Field(ge=-180, le=180, description="Longitude, east positive [deg]")
    altitude_m: float = Field(0.0, ge=-500, le=9000, description="Altitude above sea level [m]")
    timezone: str = Field(description="IANA time zone, e.g. Asia/Shanghai")

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            if len(value) > 100:        # IANA names are short; a long one is a file name too long
                raise ValueError(value)
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
            raise ValueError(f"unknown time zone {quoted(value)}; use an IANA name such as Asia/Shanghai") from exc
        return value


class Horizon(_Strict):
    """The planning horizon: ``slots`` slots of ``slot_minutes`` from ``start``."""

    start: Time = Field(description=f"First slot start; without an offset it is local time; years "
                              f"{EARLIEST_YEAR}..{LATEST_YEAR}")
    slots: int = Field(gt=0, le=100_000, description="Number of slots [-]")
    slot_minutes: int = Field(15, gt=0, le=1440, description="Slot length [min]")

    @field_validator("slot_minutes")
    @classmethod
    def _divides_day(cls, value: int) -> int:
        if 1440 % value:
            raise ValueError(f"slot_minutes={value} must divide a day (1440 min), e.g. 5, 15, 30, 60")
        return value

    @model_validator(mode="after")
    def _at_most_a_year(self) -> "Horizon":
        days = self.slots * self.slot_minutes / 1440
        if days > MAX_HORIZON_DAYS:
            raise ValueError(f"{self.slots} slots of {self.slot_minutes} min are {days:,.0f} days, more than "
                             f"the {MAX_HORIZON_DAYS} a horizon may span")
        return self


class TariffPeriod(_Strict):
    """A time-of-use period in local time; ``end`` may be ``24:00``."""

    start: str = Field(description="Local start time HH:MM")
    end: str = Field(description="Local end time HH:MM, exclusive; 24:00 for midnight")
    price_cny_per_kwh: float = Field(ge=0, le=MAX_PRICE_CNY_PER_KWH, description="Energy price, not negative (the cost of positive net load only) [CNY/kWh]")

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        m = _HHMM.match(str(value))
        if not m or (m.group(1) == "24" and m.group(2) != "00"):
            raise ValueError(f"{quoted(str(value))} is not a time of day HH:MM (00:00 to 24:00)")
        return value

    def minutes(self) -> tuple[int, int]:
        """Start and end as minutes after local midnight [min]."""
        to_min = lambda s: int(s[:2]) * 60 + int(s[3:])  # noqa: E731
        return to_min(self.start), to_min(self.end)


class DemandChargeSite(_Strict):
    """A transformer metered on the two-part tariff (its net load is the site's demand)."""

    transformer_id: Id
    demand_so_far_kw: float = Field(0.0, ge=0, le=MAX_POWER_KW, description="The site's highest demand so far "
                                    "in the horizon's first month (slot mean); only a peak above it costs [kW]")
    cny_per_kw_month: float | None = Field(None, ge=0, le=MAX_DEMAND_CNY_PER_KW_MONTH, description="This site's "
                                           "demand price; default the demand_charge's [CNY/kW/month]")
    charging_facility: bool = Field(False, description="A centralised charging or swapping facility (集中式充换电设施): "
                                    f"no demand charge in months up to {DEMAND_EXEMPT_UNTIL.isoformat()} "
                                    "(national measure of 2023)")


class DemandCharge(_Strict):
    """The capacity part of the two-part tariff: a price per kW of each site's monthly maximum demand."""

    cny_per_kw_month: float = Field(ge=0, le=MAX_DEMAND_CNY_PER_KW_MONTH, description="Demand price [CNY/kW/month]")
    sites: list[DemandChargeSite] = Field(min_length=1, description="The transformers billed on demand")

    @model_validator(mode="after")
    def _unique_sites(self) -> "DemandCharge":
        ids = [s.transformer_id for s in self.sites]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"duplicate transformer_id in sites: {', '.join(dup)}")
        return self


class Tariff(_Strict):
    """Time-of-use periods covering the day, a price table ``slot_start, price_cny_per_kwh``, or a
    preset (a published rule priced from ``flat_price_cny_per_kwh``; ``models/tariff.md``).

    A period whose end is before its start wraps past midnight (``22:00`` to ``06:00``).
    """

    periods: list[TariffPeriod] | None = None
    table: TablePath | None = Field(None, description="CSV with slot_start, price_cny_per_kwh")
    preset: Literal["shanxi-2026"] | None = Field(None, description="A published time-of-use rule: 'shanxi-2026' "
                                                  "(season and holiday from each slot's local date)")
    # at most half the largest price, so the critical peak (1.92 x flat) stays within it
    flat_price_cny_per_kwh: float | None = Field(None, ge=0, le=MAX_PRICE_CNY_PER_KWH / 2, description="The preset's "
                                                 "flat (平段) price; the other periods are multiples of it [CNY/kWh]")
    demand_charge: DemandCharge | None = Field(None, description="Two-part tariff: demand charge on sites' "
                                               "monthly maximum demand")

    @model_validator(mode="after")
    def _one_source(self) -> "Tariff":
        given = [k for k in ("periods", "table", "preset") if getattr(self, k) is not None]
        if len(given) != 1:
            found = " and ".join(repr(k) for k in given) if given else "none"
            raise ValueError(f"give exactly one of 'periods', 'table' or 'preset' (found {found})")
        if (self.preset is None) != (self.flat_price_cny_per_kwh is None):
            raise ValueError("'flat_price_cny_per_kwh' goes with 'preset' and only with it")
        if self.periods is not None:
            check_periods_cover_day(self.periods)
        return self


def check_periods_cover_day(periods: list[TariffPeriod]) -> None:
    """Raise ``ValueError`` when periods leave a gap in the day or overlap."""
    covered = [0] * 1440
    for p in periods:
        start, end = p.minutes()
        if start == end:
            raise ValueError(f"period {p.start}-{p.end} is empty")
        span = range(start, end) if start < end else [*range(start, 1440), *range(0, end)]
        for m in span:
            covered[m] += 1
    problems = []
    for label, bad in (("overlap", lambda c: c > 1), ("leave a gap", lambda c: c == 0)):
        runs = _runs([bad(c) for c in covered])
        if runs:
            where = ", ".join(f"{_hhmm(a)}-{_hhmm(b)}" for a, b in runs)
            problems.append(f"tariff periods {label} at {where}")
    if problems:
        raise ValueError("; ".join(problems) + " (periods must cover 00:00-24:00 exactly once)")


def _runs(flags: list[bool]) -> list[tuple[int, int]]:
    runs, start = [], None
    for i, flag in enumerate([*flags, False]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            runs.append((start, i))
            start = None
    return runs


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


class PVConfig(_Strict):
    """A PV array modelled with pvlib's PVWatts chain."""

    capacity_kwp: float = Field(gt=0, le=MAX_POWER_KW, description="DC nameplate at STC [kWp]")
    tilt_deg: float = Field(25.0, ge=0, le=90, description="Array tilt from horizontal [deg]")
    azimuth_deg: float = Field(180.0, ge=0, lt=360, description="Array azimuth, 180 = south [deg]")
    losses_pct: float = Field(14.0, ge=0, lt=100, description="PVWatts system losses [%]")
    inverter_kw: float | None = Field(None, gt=0, le=MAX_POWER_KW, description="Inverter AC rating; default capacity_kwp / 1.1 [kW]")
    inverter_efficiency: float = Field(0.96, gt=0, le=1, description="Nominal inverter efficiency [-]")
    gamma_pdc_per_c: float = Field(-0.0037, ge=-0.02, le=0, description="Power temperature coefficient [1/C]")
    weather: TablePath | None = Field(None, description="CSV slot_start, ghi, dni, dhi, temp_air [W/m^2, C]")
    cloud_factor: list[float] | None = Field(None, description="Per-slot multiplier of clear-sky irradiance (ghi, dni, dhi) [-]")
    # The forecast's assumptions (models/pv_forecast.md); the defaults are the values used before they were settings.
    temp_air_c: float = Field(10.0, ge=-50, le=60, description="Ambient temperature when no weather table is given [C]")
    wind_speed_m_s: float = Field(1.0, ge=0, le=75, description="Wind speed when no weather table, or one without wind_speed, is given [m/s]")
    racking_model: Literal["open_rack_glass_polymer", "open_rack_glass_glass", "close_mount_glass_glass",
                           "insulated_back_glass_polymer"] = Field(
        "open_rack_glass_polymer", description="Mounting and module build: pvlib's SAPM cell-temperature parameters")
    time_label: Literal["midpoint", "start", "end"] = Field(
        "midpoint", description="Instant of the slot at which sun and irradiance stand for the slot's mean power")

    @field_validator("cloud_factor")
    @classmethod
    def _unit_interval(cls, value: list[float] | None) -> list[float] | None:
        if value is not None and any(not (0.0 <= v <= 1.0) for v in value):
            raise ValueError("every cloud_factor must be between 0 and 1")
        return value


class BatteryConfig(_Strict):
    """A stationary battery. State of charge bounds are fractions of ``capacity_kwh``."""

    capacity_kwh: float = Field(gt=0, le=MAX_ENERGY_KWH, description="Usable energy capacity [kWh]")
    max_charge_kw: float = Field(ge=0, le=MAX_POWER_KW, description="Maximum charging power at the terminals [kW]")
    max_discharge_kw: float = Field(ge=0, le=MAX_POWER_KW, description="Maximum discharging power at the terminals [kW]")
    charge_efficiency: float = Field(0.95, gt=0, le=1, description="Grid-to-cell efficiency [-]")
    discharge_efficiency: float = Field(0.95, gt=0, le=1, description="Cell-to-grid efficiency [-]")
    soc_min: float = Field(0.1, ge=0, le=1, description="Lowest state of charge [-]")
    soc_max: float = Field(0.9, ge=0, le=1, description="Highest state of charge [-]")
    soc_initial: float = Field(0.5, ge=0, le=1, description="State of charge at horizon start [-]")
    soc_final_min: float | None = Field(None, ge=0, le=1, description="Lowest SOC at horizon end; default soc_initial [-]")

    @model_validator(mode="after")
    def _ordered(self) -> "BatteryConfig":
        final = self.final_soc_min
        if not self.soc_min <= self.soc_max:
            raise ValueError(f"soc_min={self.soc_min} must not exceed soc_max={self.soc_max}")
        for name, value in (("soc_initial", self.soc_initial), ("soc_final_min", final)):
            if not self.soc_min <= value <= self.soc_max:
                raise ValueError(f"{name}={value} must lie between soc_min={self.soc_min} and soc_max={self.soc_max}")
        return self

    @property
    def final_soc_min(self) -> float:
        return self.soc_initial if self.soc_final_min is None else self.soc_final_min


class Station(_Strict):
    """A PV-storage-charging station (光储充) behind one transformer.

    Its chargers are the EVs in ``evs.csv`` whose ``transformer_id`` is the station's.
    """

    station_id: Id
    transformer_id: Id
    pv: PVConfig | None = None
    battery: BatteryConfig | None = None


class SwapStation(_Strict):
    """A battery-swap station (换电站) behind one transformer (models/swap_stations.md).

    It holds ``packs`` packs; ``bays`` of them charge at once at up to ``bay_max_kw`` each; a
    vehicle swaps its pack returned at ``returned_soc`` for a full one (``full_soc``).
    """

    station_id: Id
    transformer_id: Id
    vehicle: str = Field("passenger_car", min_length=1, max_length=100, description="Vehicle type served (heavy_truck, passenger_car, ...), for the report")
    packs: int = Field(gt=0, le=10_000, description="Packs in the station, full or not [-]")
    pack_kwh: float = Field(gt=0, le=MAX_EV_ENERGY_KWH, description="Usable energy of one pack [kWh]")
    bays: int = Field(gt=0, le=10_000, description="Packs that can charge at once [-]")
    bay_max_kw: float = Field(gt=0, le=MAX_EV_POWER_KW, description="Largest charging power of one bay, grid side [kW]")
    grid_max_kw: float | None = Field(None, gt=0, le=MAX_POWER_KW, description="Grid connection of the bays; default bays x bay_max_kw [kW]")
    charge_efficiency: float = Field(0.95, gt=0, le=1, description="Grid-to-pack efficiency [-]")
    full_soc: float = Field(0.95, gt=0, le=1, description="State of charge of a full pack handed out [-]")
    returned_soc: float = Field(0.2, ge=0, lt=1, description="State of charge of a returned pack [-]")
    initial_full_packs: float = Field(ge=0, le=10_000, description="Full packs at the horizon's start [-]")
    final_full_packs_min: float = Field(0.0, ge=0, le=10_000, description="Full packs at least at the horizon's end [-]")
    demand: TablePath = Field(description="CSV slot_start, station_id, swaps (expected swaps in the slot)")
    pv: PVConfig | None = None
    battery: BatteryConfig | None = None

    @model_validator(mode="after")
    def _consistent(self) -> "SwapStation":
        if self.returned_soc >= self.full_soc:
            raise ValueError(f"returned_soc={self.returned_soc} must be below full_soc={self.full_soc}")
        for name in ("initial_full_packs", "final_full_packs_min"):
            if getattr(self, name) > self.packs:
                raise ValueError(f"{name}={getattr(self, name):g} exceeds packs={self.packs}")
        return self

    @property
    def pack_charge_kwh(self) -> float:
        """Energy a returned pack takes into its cells to be full: (full_soc - returned_soc) x pack_kwh [kWh]."""
        return (self.full_soc - self.returned_soc) * self.pack_kwh

    @property
    def charge_max_kw(self) -> float:
        """The bays' and the connection's limit: min(bays x bay_max_kw, grid_max_kw) [kW]."""
        bays_kw = self.bays * self.bay_max_kw
        return bays_kw if self.grid_max_kw is None else min(bays_kw, self.grid_max_kw)


class FastChargingStation(_Strict):
    """A public DC fast-charging station (expressway service area, tourist road) behind one transformer
    (models/fast_charging.md): drivers arrive at random and queue for ``dispensers``."""

    station_id: Id
    transformer_id: Id
    dispensers: int = Field(gt=0, le=1000, description="Charging points that serve one vehicle each [-]")
    dispenser_max_kw: float = Field(gt=0, le=MAX_EV_POWER_KW, description="Largest power of one dispenser [kW]")
    target_wait_min: float = Field(10.0, gt=0, le=24 * 60, description="Expected wait for a free dispenser to stay under [min]")
    demand: TablePath = Field(description="CSV slot_start, station_id, arrivals_per_hour, mean_energy_kwh")
    pv: PVConfig | None = None
    battery: BatteryConfig | None = None

    @property
    def max_kw(self) -> float:
        """All dispensers at full power [kW]."""
        return self.dispensers * self.dispenser_max_kw


BASELINES = ("uncontrolled", "plan", "jiangsu_5d", "beijing_5of10", "pre_event_15min")


class DREvent(_Strict):
    """A demand-response request for the scope's net load over ``[start, end)``.

    ``peak_shaving`` (削峰) keeps the load ``target_kw`` below the baseline; ``valley_filling``
    (填谷) raises it ``target_kw`` above. Baselines (``models/dr_events.md``):
    ``uncontrolled`` (EVs at full power from arrival, batteries idle), ``plan`` (the plan without
    this event), ``jiangsu_5d`` (mean of the same slots over the N most recent working days
    before the notice, N = ``baseline_days``, 5), ``beijing_5of10`` (mean of the highest-load 5
    of the last 10 working days), ``pre_event_15min`` (mean load in the 15 minutes before the
    start). The last three read ``load_history`` (``slot_start, scope_id, load_kw``).
    ``reduction_kw`` is the older name of ``target_kw``.
    """

    event_id: Id
    kind: Literal["peak_shaving", "valley_filling"] = "peak_shaving"
    start: Time
    end: Time
    notified_at: Time | None = None
    scope: Literal["all"] | list[Id] = Field("all", description="'all', or a list of transformer_id / station_id")
    target_kw: float | None = Field(None, ge=0, le=MAX_POWER_KW, description="Requested change against the baseline [kW]")
    reduction_kw: float | None = Field(None, ge=0, le=MAX_POWER_KW, description="Older name of target_kw for peak shaving [kW]")
    baseline: Literal["uncontrolled", "plan", "jiangsu_5d", "beijing_5of10", "pre_event_15min"] = "uncontrolled"
    baseline_days: int = Field(5, ge=1, le=60, description="Days averaged (jiangsu_5d), or kept of 2x as many (beijing_5of10) [-]")
    price_cny_per_kwh: float = Field(0.0, ge=0, le=MAX_PRICE_CNY_PER_KWH, description="Compensation per kWh delivered [CNY/kWh]")
    shortfall_penalty_cny_per_kwh: float = Field(5.0, ge=0, le=MAX_PENALTY_CNY_PER_KWH, description="Penalty per kWh not delivered [CNY/kWh]")

    @model_validator(mode="after")
    def _ordered(self) -> "DREvent":
        # a time without offset is local time of the site, known only to the scenario: compare
        # only times of one kind here (load_scenario checks the event against the horizon's slots)
        same_kind = (self.start.tzinfo is None) == (self.end.tzinfo is None)
        if same_kind and self.end <= self.start:
            raise ValueError(f"end {self.end.isoformat()} must be after start {self.start.isoformat()}")
        if (self.target_kw is None) == (self.reduction_kw is None):
            raise ValueError("give target_kw (or its older name reduction_kw), exactly one of them")
        if self.reduction_kw is not None and self.kind != "peak_shaving":
            raise ValueError("reduction_kw is for peak_shaving; use target_kw for valley_filling")
        return self

    @property
    def target(self) -> float:
        """Requested change against the baseline [kW]."""
        return self.target_kw if self.target_kw is not None else self.reduction_kw

    @property
    def sign(self) -> int:
        """+1 when the load must stay below the baseline (peak shaving), -1 above (valley filling)."""
        return 1 if self.kind == "peak_shaving" else -1


class WorkingCalendar(_Strict):
    """Which days are normal working days for the history baselines (``jiangsu_5d``, ``beijing_5of10``):
    Monday to Friday that is not a holiday, or an adjusted working weekend day (调休).
    The scenario's lists extend the built-in calendar and win where they disagree with it."""

    builtin: Literal["cn", "none"] = Field(
        "cn", description="'cn': China's public holidays and adjusted working days as published by the State "
                          "Council (2025-2026, vpp_sched/data/cn_holidays.csv); 'none': Monday to Friday only")
    holidays: list[Day] = Field(default_factory=list, description="More days that are not working days "
                                    "(local holidays, days to leave out of the baselines) [date]")
    working_days: list[Day] = Field(default_factory=list, description="More working days, e.g. an adjusted "
                                        "working Saturday [date]")

    @model_validator(mode="after")
    def _disjoint(self) -> "WorkingCalendar":
        both = sorted(set(self.holidays) & set(self.working_days))
        if both:
            raise ValueError(f"{', '.join(d.isoformat() for d in both)} listed both as holiday and as working day")
        return self


#: The relative gap of the decomposed route (county scale, from 5,000 EVs under ``auto``) when the
#: scenario and the command set none. At that size a day's forecast error moves the cost by more than
#: 1 % (``vpp-sched evaluate``: re-plans cost 1.4-1.6 % more than the day-ahead plan), so closing the
#: last 0.4 % of gap buys nothing a dispatcher can use, and it doubles the HiGHS runs (10,000 EVs: 153
#: runs at 0.1 %, 82 at 0.5 %). The plan reports its bound and gap either way.
DECOMPOSED_MIP_REL_GAP = 5e-3


class SolverOptions(_Strict):
    """HiGHS settings. Recorded in ``kpis.json`` so a plan can be reproduced."""

    time_limit_s: float = Field(60.0, gt=0, le=MAX_TIME_LIMIT_S, description="Wall-clock limit of the solve [s]")
    mip_rel_gap: float = Field(1e-3, ge=0, le=1, description="Relative MIP gap to stop at; when not set, 0.001 "
                               "and 0.005 on the decomposed route (county scale) [-]")
    threads: int = Field(1, ge=1, le=256, description="Solver threads; 1 keeps runs deterministic [-]")
    random_seed: int = Field(0, ge=0, le=2**31 - 1, description="HiGHS random seed [-]")
    mip_max_nodes: int | None = Field(None, ge=0, le=2**31 - 1, description="Branch-and-bound nodes of each MILP run: "
                                      "a work limit, which stops a run at the same plan on a busy or an idle machine "
                                      "(HiGHS mip_max_nodes; none: no limit) [-]")


class Penalties(_Strict):
    """Prices of the slacks that keep every day solvable. Overload costs more than unmet energy:
    when a transformer cannot carry both, drivers fall short before the transformer overloads."""

    unmet_energy_cny_per_kwh: float = Field(1000.0, gt=0, le=MAX_PENALTY_CNY_PER_KWH, description="Per kWh an EV does not get [CNY/kWh]")
    overload_cny_per_kwh: float = Field(5000.0, gt=0, le=MAX_PENALTY_CNY_PER_KWH, description="Per kWh above a transformer or feeder limit [CNY/kWh]")
    early_charging_cny_per_kwh: float = Field(0.0, ge=0, le=MAX_PRICE_CNY_PER_KWH, description="Tie-break: prefer earlier slots, scaled 0..1 over the horizon; off by default, its tiny costs slow HiGHS's LP 2-5x at county scale [CNY/kWh]")
    switch_on_cny: float = Field(1e-3, ge=0, le=MAX_PRICE_CNY_PER_KWH, description="Tie-break per charger start where min_power_kw > 0 [CNY]")
    ramp_cny_per_kw: float = Field(0.1, ge=0, le=MAX_PRICE_CNY_PER_KWH, description="Per kW of each transformer's largest slot-to-slot rise of EV power, "
                                   "so valley charging ramps up instead of jumping when the tariff drops; 0 = off [CNY/kW]")
    unserved_swap_cny_per_swap: float = Field(10_000.0, gt=0, le=MAX_PENALTY_CNY_PER_KWH, description="Per battery swap a swap station cannot serve "
                                              "(models/swap_stations.md); far above a pack's energy cost, so every swap that can be served is [CNY/swap]")
    fast_cap_shortfall_cny_per_kwh: float = Field(1000.0, gt=0, le=MAX_PENALTY_CNY_PER_KWH, description="Per kWh a fast-charging station's power cap "
                                                  "falls below the cap that keeps its expected wait under target (models/fast_charging.md) [CNY/kWh]")
    unbalance_cny_per_kwh: float = Field(3.0, gt=0, le=MAX_PENALTY_CNY_PER_KWH, description="Per kWh a gridded transformer's "
                                         "weakest phase falls short of the unbalance limit (models/lv_grid.md); above any "
                                         "tariff spread, below unmet energy: the plan balances before it saves, never strands an EV [CNY/kWh]")


class V2GSettings(_Strict):
    """Vehicle-to-grid: how EVs marked ``v2g`` in ``evs.csv`` discharge (one setting for the fleet)."""

    charge_efficiency: float = Field(0.95, gt=0, le=1, description="Charger-to-battery efficiency [-]")
    discharge_efficiency: float = Field(0.95, gt=0, le=1, description="Battery-to-grid efficiency [-]")
    degradation_cny_per_kwh: float = Field(0.05, ge=0, le=MAX_PRICE_CNY_PER_KWH, description="Battery wear per kWh discharged to the grid, "
                                           "paid to the driver [CNY/kWh]")


class GridLimits(_Strict):
    """Limits of the LV grids below the transformers (``transformers.csv`` column ``grid``).

    Defaults: GB/T 12325-2008, three-phase 380 V +-7 %, single-phase 220 V +7 %/-10 %, on each
    bus's nominal voltage; line current up to the line type's ``iMax``."""

    voltage_min_pu: float = Field(0.93, gt=0.5, lt=1.0, description="Lowest bus voltage, three-phase [pu]")
    voltage_max_pu: float = Field(1.07, gt=1.0, lt=1.5, description="Highest bus voltage, three-phase [pu]")
    phase_voltage_min_pu: float = Field(0.90, gt=0.5, lt=1.0, description="Lowest phase-to-neutral voltage [pu]")
    phase_voltage_max_pu: float = Field(1.07, gt=1.0, lt=1.5, description="Highest phase-to-neutral voltage [pu]")
    line_loading_max_pct: float = Field(100.0, gt=0, le=200, description="Highest line current, of iMax [%]")
    max_iterations: int = Field(5, ge=0, le=50, description="Re-solves with the grid rows at most (models/lv_grid.md)")
    voltage_unbalance_max_pct: float = Field(2.0, gt=0, le=100, description="Highest voltage unbalance |V2|/|V1| "
                                             "of the three-phase flow (GB/T 15543: 2 %), reported [%]")
    unbalance_max_pct: float = Field(15.0, gt=0, le=100, description="Largest current unbalance (max - min) / max of a "
                                     "gridded transformer's phases (State Grid, Yyn0 distribution transformers); "
                                     "100 = no limit (models/lv_grid.md) [%]")


class ScenarioConfig(_Strict):
    """The contents of ``scenario.yaml``."""

    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(None, max_length=20_000)
    site: Site
    horizon: Horizon
    tariff: Tariff
    transformers: TablePath = Field(description="CSV transformer_id, rated_kva, power_factor, max_loading_pu[, feeder_id]")
    feeders: TablePath | None = Field(None, description="CSV feeder_id, capacity_kw")
    base_load: TablePath = Field(description="CSV slot_start, transformer_id, load_kw")
    evs: TablePath = Field(description="CSV ev_id, transformer_id, arrival, departure, energy_kwh, max_power_kw, min_power_kw")
    stations: list[Station] = Field(default_factory=list)
    dr_events: list[DREvent] = Field(default_factory=list)
    load_history: TablePath | None = Field(None, description="CSV slot_start, scope_id, load_kw[, dr_event]: metered history for DR baselines")
    calendar: WorkingCalendar = Field(default_factory=WorkingCalendar)
    solver: SolverOptions = Field(default_factory=SolverOptions)
    penalties: Penalties = Field(default_factory=Penalties)
    v2g: V2GSettings = Field(default_factory=V2GSettings)
    swap_stations: list[SwapStation] = Field(default_factory=list)
    fast_charging_stations: list[FastChargingStation] = Field(default_factory=list)
    grid: GridLimits = Field(default_factory=GridLimits)
    uncertainty: Uncertainty = Field(default_factory=Uncertainty, description="How the day may differ from "
                                     "its forecast: sampled days of evaluate and replay (models/uncertainty.md)")

    @model_validator(mode="after")
    def _unique_ids(self) -> "ScenarioConfig":
        for label, ids in (("station_id", [s.station_id for s in self.stations] + [s.station_id for s in self.sites()]),
                           ("event_id", [e.event_id for e in self.dr_events])):
            dup = sorted({i for i in ids if ids.count(i) > 1})
            if dup:
                raise ValueError(f"duplicate {label}: {', '.join(dup)}")
        return self


    def sites(self) -> list:
        """The swap and fast-charging stations, swap stations first (their order in the Problem)."""
        return [*self.swap_stations, *self.fast_charging_stations]

    def pv_battery_stations(self) -> list:
        """Every site that may hold PV or a battery: the stations, then the swap and fast-charging stations
        that have either (the Problem's station order, ``station_ids``)."""
        return [*self.stations, *(s for s in self.sites() if s.pv is not None or s.battery is not None)]


def scenario_json_schema() -> dict:
    """JSON Schema of ``scenario.yaml``."""
    return ScenarioConfig.model_json_schema()
