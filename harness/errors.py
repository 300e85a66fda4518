"""Exit codes and the one error type the CLI turns into a clear message.

Every exit code the harness uses is named here once (as k6 does in `errext/exitcodes`), so the README
table, the CLI and the tests cannot drift apart.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0  # every gate passed (or the command did what it was asked)
    GATE_FAILED = 1  # at least one gate failed
    USAGE = 2  # bad command line or scenarios.yaml
    INVALID = 3  # a measurement could not be trusted
    INCONCLUSIVE = 4  # the data cannot tell pass from fail
    ENVIRONMENT = 5  # target unreachable, tool missing, stack failed to start
    INTERRUPTED = 130  # Ctrl-C; what was measured so far is kept


class HarnessError(Exception):
    """A failure the user can fix: says what is wrong and what to do, and carries the exit code."""

    def __init__(self, problem: str, fix: str = "", exit_code: ExitCode = ExitCode.USAGE) -> None:
        super().__init__(problem)
        self.problem = problem
        self.fix = fix
        self.exit_code = exit_code

    def __str__(self) -> str:
        return f"{self.problem}\n  fix: {self.fix}" if self.fix else self.problem


class ConfigError(HarnessError):
    """scenarios.yaml does not fit the model."""

    def __init__(self, problem: str, fix: str = "") -> None:
        super().__init__(problem, fix, ExitCode.USAGE)


class EnvironmentProblem(HarnessError):
    """Something outside the config is missing or down (a tool, the target, the local stack)."""

    def __init__(self, problem: str, fix: str = "") -> None:
        super().__init__(problem, fix, ExitCode.ENVIRONMENT)
