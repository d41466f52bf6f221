"""The typer application; each command lives in its own module.

The command modules are imported when their command runs, not to list them: ``vpp-sched --help``
reads each command's one-line help from its module's source (:mod:`ast`, no import), so it does not
load pandas, Pyomo, HiGHS and the pipeline behind them (0.5 s target; 2-3 s with every module
imported). A command registered the usual way (``app.command("x")(x.x)``) works too, imported eagerly.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util

import click
import typer
from typer.core import TyperGroup

#: Command name -> ``module:function``, in the order ``--help`` lists them.
LAZY_COMMANDS = {
    "plan": "vpp_sched.cli.plan:plan",
    "validate": "vpp_sched.cli.validate:validate",
    "schema": "vpp_sched.cli.schema:schema",
    "generate": "vpp_sched.cli.generate:generate",
    "flex": "vpp_sched.cli.flex:flex",
    "replay": "vpp_sched.cli.replay:replay",
    "whatif": "vpp_sched.cli.whatif:whatif",
    "hosting": "vpp_sched.cli.hosting:hosting",
    "export-ocpp": "vpp_sched.cli.export_ocpp:export_ocpp",
    "import-simbench": "vpp_sched.cli.import_simbench:import_simbench",
    "ven": "vpp_sched.cli.ven:ven",
    "import-openadr": "vpp_sched.cli.import_openadr:import_openadr",
    "gridcheck": "vpp_sched.cli.gridcheck:gridcheck",
    "phases": "vpp_sched.cli.phases:phases",
    "evaluate": "vpp_sched.cli.evaluate:evaluate",
    "serve": "vpp_sched.cli.serve:serve",
}


def _docstring(target: str) -> str:
    """The docstring of ``module:function``, read from the module's source without importing it."""
    module, _, function = target.partition(":")
    spec = importlib.util.find_spec(module)
    with open(spec.origin, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == function:
            return ast.get_docstring(node) or ""
    return ""


class LazyGroup(TyperGroup):
    """A typer group whose :data:`LAZY_COMMANDS` are placeholders (name and help) until one runs."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        eager = dict(self.commands)
        self.commands = {name: click.Command(name, help=_docstring(target))
                         for name, target in LAZY_COMMANDS.items()}
        self.commands.update(eager)

    def resolve_command(self, ctx: click.Context, args: list[str]):
        if args and args[0] in LAZY_COMMANDS and type(self.commands.get(args[0])) is click.Command:
            self.commands[args[0]] = _load(args[0], self.rich_markup_mode)
        return super().resolve_command(ctx, args)


def _load(name: str, rich_markup_mode) -> click.Command:
    """The real click command of a lazy one: its module imported, built by typer as a one-command app."""
    module, _, function = LAZY_COMMANDS[name].partition(":")
    single = typer.Typer(add_completion=False, rich_markup_mode=rich_markup_mode)
    single.command(name)(getattr(importlib.import_module(module), function))
    command = typer.main.get_command(single)
    command.name = name
    return command


app = typer.Typer(name="vpp-sched", no_args_is_help=True, add_completion=False, cls=LazyGroup,
                  help="Day-ahead scheduling of EV charging, PV-storage stations and demand response "
                       "on distribution transformers.")


@app.callback()
def _group() -> None:
    # A callback makes typer build a group even before any command is registered eagerly.
    pass


# `vpp-sched token create`: a sub-app, registered eagerly (its module imports only typer).
from vpp_sched.cli import token  # noqa: E402

app.add_typer(token.app, name="token")


def main() -> None:
    """Run the commands without the signal handling of :func:`vpp_sched.cli.main` (embedding, tests)."""
    app()
