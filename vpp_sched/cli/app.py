"""The typer application; each command lives in its own module."""

from __future__ import annotations

import typer

from vpp_sched.cli import export_ocpp, flex, generate, hosting, import_simbench, plan, replay, schema, validate, whatif
from vpp_sched.cli import import_openadr, ven
from vpp_sched.cli import serve, token

app = typer.Typer(name="vpp-sched", no_args_is_help=True, add_completion=False,
                  help="Day-ahead scheduling of EV charging, PV-storage stations and demand response "
                       "on distribution transformers.")
app.command("plan")(plan.plan)
app.command("validate")(validate.validate)
app.command("schema")(schema.schema)
app.command("generate")(generate.generate)
app.command("flex")(flex.flex)
app.command("replay")(replay.replay)
app.command("whatif")(whatif.whatif)
app.command("hosting")(hosting.hosting)
app.command("export-ocpp")(export_ocpp.export_ocpp)
app.command("import-simbench")(import_simbench.import_simbench)
app.command("ven")(ven.ven)
app.command("import-openadr")(import_openadr.import_openadr)
app.command("serve")(serve.serve)
app.add_typer(token.app, name="token")


def main() -> None:
    """Run the commands without the signal handling of :func:`vpp_sched.cli.main` (embedding, tests)."""
    app()
