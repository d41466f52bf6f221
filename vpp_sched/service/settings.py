"""The service's settings: one frozen object built by the CLI (or a test) and handed to the app."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_DB_URL = "sqlite:///vpp-sched.db"


@dataclass(frozen=True)
class Settings:
    """How the service runs.

    Attributes
    ----------
    db_url : SQLAlchemy URL: ``sqlite:///file.db`` (default) or ``postgresql+psycopg://user:pw@host/db``
    scheduler, workers : where a plan's decomposed blocks run (:func:`vpp_sched.solve.parallel.get_executor`)
    method : model build passed to :func:`vpp_sched.plan.planner.plan_day` (``auto`` decomposes large portfolios)
    max_upload_bytes : largest request body of a scenario upload (zip or JSON) [bytes]
    max_unpacked_bytes : largest total size of a zip's files once unpacked [bytes]
    max_zip_ratio : largest unpacked/packed size ratio of one zip member (zip-bomb guard) [-]
    max_zip_files : most files in an uploaded zip [-]
    scrypt_n : scrypt cost of stored token hashes (a power of 2) [-]
    station_scrypt_n : scrypt cost of stored station-password hashes [-]: lower than the tokens', because
        every station is checked on every connection and all of them reconnect at once after a restart
        (2**14 costs ~70 ms of CPU a check here: 500 stations, 35 s; 2**11, ~7 ms: 4 s), while an OCPP
        2.0.1 station password is 16-40 characters set by the operator, not a person's short password
    ocpp_response_timeout_s : how long the CSMS waits for a station's answer [s]
    max_job_attempts : starts of a plan job (a server stopped mid-job re-runs it) before it is failed [-]
    plan_process : plan in a worker process (``True``, for a server: a solve never slows the answers to
        the stations) or in the job thread (``False``: no process start-up, for small tests)
    plan_nice : how much lower the worker process's CPU priority is than the server's (``os.nice``; 0 to
        keep it equal) [-]: on a machine whose cores the planner fills, the answers to the stations
        still come first, and the plan takes only what they leave
    """

    db_url: str = DEFAULT_DB_URL
    scheduler: str | None = None
    workers: int | None = None
    method: str = "auto"
    max_upload_bytes: int = 20 * 2**20
    max_unpacked_bytes: int = 100 * 2**20
    max_zip_ratio: float = 100.0
    max_zip_files: int = 200
    scrypt_n: int = 2**14
    station_scrypt_n: int = 2**11
    ocpp_response_timeout_s: float = 10.0
    max_job_attempts: int = 2
    plan_process: bool = True
    plan_nice: int = 10
