"""``vpp-sched serve``: the planner as a service.

A FastAPI application (:func:`vpp_sched.service.app.create_app`) with a REST API (scenarios, plan jobs,
live sessions, DR events, meter values), an OCPP 2.0.1 CSMS on the same port
(``ws://HOST:PORT/ocpp/{charging_station_id}``), a database (SQLAlchemy 2 + Alembic; SQLite by default,
PostgreSQL by URL) with an audit trail, API tokens and a status page. The service calls the library's
public functions only: :func:`~vpp_sched.scenario.load.load_scenario`, :func:`~vpp_sched.plan.planner.plan_day`,
:func:`~vpp_sched.plan.output.write_plan`, :func:`~vpp_sched.interop.ocpp.ocpp_writer`,
:func:`~vpp_sched.solve.parallel.get_executor`.
"""
