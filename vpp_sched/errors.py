"""Typed errors. The library raises these; only the CLI prints them and picks an exit code."""


class VppSchedError(Exception):
    """Base of every error vpp-sched raises on purpose."""


class InputError(VppSchedError):
    """Invalid input. ``problems`` holds one message per problem, each naming file, row and field."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class NoPlanError(VppSchedError):
    """The solver ended without a usable plan; ``status`` is a :class:`~vpp_sched.solution.SolveStatus`."""

    def __init__(self, status, message: str):
        self.status = status
        super().__init__(message)
