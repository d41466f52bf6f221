"""The database: SQLAlchemy 2 models, the engine (SQLite in WAL mode or PostgreSQL) and the migrations.

Every table is created by the Alembic migrations under ``migrations/`` (run by :func:`migrate` at
start), never by ``create_all``, so an existing database is upgraded in place. Times are stored in
UTC and come back timezone-aware on every backend (:class:`UtcDateTime`).
"""

from __future__ import annotations

import datetime as dt
import zlib
from pathlib import Path

from sqlalchemy import (JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, LargeBinary, String, Text,
                        TypeDecorator, UniqueConstraint, create_engine, event)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"
#: How long a SQLite writer waits for another's lock before failing [ms].
SQLITE_BUSY_MS = 30_000
#: Connections kept and allowed beyond them: the API's thread pool (40), the CSMS's authentication
#: threads (32), the job worker and the writer may all want one at once; SQLAlchemy's 5 + 10 made
#: 500 connecting stations wait out the pool's 30 s timeout.
POOL_SIZE, MAX_OVERFLOW = 20, 60
#: Plan files larger than this are stored compressed [bytes].
COMPRESS_ABOVE_BYTES = 64 * 1024


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class UtcDateTime(TypeDecorator):
    """A timezone-aware datetime stored as UTC (SQLite keeps no offset: it is put back on reading)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: the service stores timezone-aware times only")
        return value.astimezone(dt.timezone.utc)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {dt.datetime: UtcDateTime, dict: JSON, list: JSON}


class ApiToken(Base):
    """An API token: its public id and the scrypt hash of its secret (the token itself is never stored)."""

    __tablename__ = "api_tokens"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    scope: Mapped[str] = mapped_column(String(16))
    secret_hash: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class ScenarioRow(Base):
    __tablename__ = "scenarios"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))
    summary: Mapped[dict] = mapped_column(default=dict)


class ScenarioFile(Base):
    """One file of a scenario folder as uploaded (``scenario.yaml``, the CSV tables)."""

    __tablename__ = "scenario_files"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scenario_id: Mapped[int] = mapped_column(ForeignKey("scenarios.id"), index=True)
    name: Mapped[str] = mapped_column(String(300))
    content: Mapped[bytes] = mapped_column(LargeBinary)


class PlanJob(Base):
    """A plan job and, once it succeeded, the plan: status, KPIs, warnings, the plan it replaced."""

    __tablename__ = "plans"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scenario_id: Mapped[int] = mapped_column(ForeignKey("scenarios.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)      # queued | running | succeeded | failed
    trigger: Mapped[str] = mapped_column(String(32))                  # request | session | dr-event | meter
    as_of: Mapped[dt.datetime | None] = mapped_column(nullable=True)  # re-plan of the rest of the day from here
    requested_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str] = mapped_column(Text, default="")
    kpis: Mapped[dict] = mapped_column(default=dict)
    warnings: Mapped[list] = mapped_column(default=list)
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("plans.id"), nullable=True)


class PlanFile(Base):
    """One file of a plan folder (``ev_schedule.csv``, ``kpis.json``, ``ocpp/E1.json``, ...)."""

    __tablename__ = "plan_files"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"), index=True)
    name: Mapped[str] = mapped_column(String(300))
    content: Mapped[bytes] = mapped_column(LargeBinary)     # as stored: see ``encoding``
    encoding: Mapped[str] = mapped_column(String(8), default="")   # "" (as is) | "zlib"
    __table_args__ = (UniqueConstraint("plan_id", "name"),)

    @classmethod
    def of(cls, plan_id: int, name: str, data: bytes) -> "PlanFile":
        """A file as stored: one above ``COMPRESS_ABOVE_BYTES`` zlib-compressed (the demo's 28 MB
        ``grid_buses.csv`` takes 4.8 MB; a county re-planning every few minutes keeps every plan)."""
        return cls(**cls.row(plan_id, name, data))

    @staticmethod
    def row(plan_id: int, name: str, data: bytes) -> dict:
        """:meth:`of`'s columns, for a bulk insert."""
        if len(data) > COMPRESS_ABOVE_BYTES:
            return {"plan_id": plan_id, "name": name, "content": zlib.compress(data, 1), "encoding": "zlib"}
        return {"plan_id": plan_id, "name": name, "content": data, "encoding": ""}

    @property
    def data(self) -> bytes:
        """The file's bytes as the plan wrote them."""
        return zlib.decompress(self.content) if self.encoding == "zlib" else self.content


class EvSession(Base):
    """A live EV session (from the API or an OCPP transaction); ``session_id`` is its ``ev_id`` in plans."""

    __tablename__ = "sessions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scenario_id: Mapped[int] = mapped_column(ForeignKey("scenarios.id"), index=True)
    session_id: Mapped[str] = mapped_column(String(200))
    transformer_id: Mapped[str] = mapped_column(String(200))
    station_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    evse_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    transaction_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    arrival: Mapped[dt.datetime]
    departure: Mapped[dt.datetime]
    energy_kwh: Mapped[float] = mapped_column(Float)
    delivered_kwh: Mapped[float] = mapped_column(Float, default=0.0)
    max_power_kw: Mapped[float] = mapped_column(Float)
    min_power_kw: Mapped[float] = mapped_column(Float, default=0.0)
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | ended | outside (horizon.py)
    ended_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    __table_args__ = (UniqueConstraint("scenario_id", "session_id"),
                      Index("ix_sessions_station_status", "station_id", "status"))


class MeterValue(Base):
    """A metered value: a transformer's load (API) or a station's power/energy register (OCPP)."""

    __tablename__ = "meter_values"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scenario_id: Mapped[int] = mapped_column(ForeignKey("scenarios.id"), index=True)
    measured_at: Mapped[dt.datetime]
    transformer_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    station_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    transaction_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    power_kw: Mapped[float | None] = mapped_column(Float, nullable=True)
    energy_kwh: Mapped[float | None] = mapped_column(Float, nullable=True)
    source: Mapped[str] = mapped_column(String(16))
    # a re-plan reads the metered load of one slot: without it, a scan of the day's every meter value
    __table_args__ = (Index("ix_meter_values_scenario_measured", "scenario_id", "measured_at"),)


class DrEventRow(Base):
    """A DR event received live, in the scenario schema's ``dr_events`` form."""

    __tablename__ = "dr_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scenario_id: Mapped[int] = mapped_column(ForeignKey("scenarios.id"), index=True)
    event_id: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    __table_args__ = (UniqueConstraint("scenario_id", "event_id"),)


class Station(Base):
    """A charging station allowed to connect: its password hash, scenario, transformer and defaults."""

    __tablename__ = "stations"
    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    scenario_id: Mapped[int] = mapped_column(ForeignKey("scenarios.id"))
    transformer_id: Mapped[str] = mapped_column(String(200))
    default_energy_kwh: Mapped[float] = mapped_column(Float)
    default_stay_h: Mapped[float] = mapped_column(Float)
    max_power_kw: Mapped[float] = mapped_column(Float)
    min_power_kw: Mapped[float] = mapped_column(Float)
    connected: Mapped[bool] = mapped_column(Boolean, default=False)
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    boot: Mapped[dict] = mapped_column(default=dict)
    status: Mapped[dict] = mapped_column(default=dict)   # evse_id -> connector status


class ProfileSent(Base):
    """A SetChargingProfile / ClearChargingProfile sent to a station: which plan, when, the answer, what it replaced."""

    __tablename__ = "profiles_sent"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(String(100), index=True)
    session_pk: Mapped[int] = mapped_column(ForeignKey("sessions.id"))
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("plans.id"), nullable=True)
    action: Mapped[str] = mapped_column(String(32))     # SetChargingProfile | ClearChargingProfile
    payload: Mapped[dict]
    sent_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    answer: Mapped[str] = mapped_column(String(64), default="")
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("profiles_sent.id"), nullable=True)
    # the last profile sent for a session is looked up before every send and every record
    __table_args__ = (Index("ix_profiles_sent_session_pk", "session_pk"),)


class AuditEntry(Base):
    """Who asked for what, and what the service did about it."""

    __tablename__ = "audit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(300), default="")
    detail: Mapped[dict] = mapped_column(default=dict)


def make_engine(url: str) -> Engine:
    """An engine for ``url``: SQLite in WAL mode with a busy timeout, or a pre-pinged PostgreSQL pool
    (a connection dropped by a database restart is replaced, not handed out)."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_MS / 1000},
                               pool_size=POOL_SIZE, max_overflow=MAX_OVERFLOW)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=POOL_SIZE, max_overflow=MAX_OVERFLOW)


def make_sessions(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)


def migrate(engine: Engine) -> None:
    """Bring the database to the newest schema with the packaged Alembic migrations."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
