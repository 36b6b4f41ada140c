"""The exception tree of ikuflow, and the CLI exit code of each branch.

    IkuflowError                      exit 1  anything else
    +-- UsageError                    exit 2  a malformed value (date, time zone, option)
    +-- NotFound                      exit 3  unknown document, office, division, person, event
    +-- NotAllowed                    exit 4  event not allowed in the current state
    |   +-- GuardFailed               exit 4  a guard of the event said no
    +-- RoleMissing                   exit 5  the actor lacks the role
    +-- Conflict                      exit 6  the document changed under you; retry
    +-- DefinitionError               exit 1  an invalid workflow file, with all its problems

Every message says what was wrong and what to do; the CLI prints it on one line (two for a
definition error's list) and exits with ``exit_code``.
"""

from __future__ import annotations

from dataclasses import dataclass


class IkuflowError(Exception):
    exit_code = 1


class UsageError(IkuflowError):
    exit_code = 2


class NotFound(IkuflowError):
    exit_code = 3

    def __init__(self, kind: str, value: str, hint: str = "") -> None:
        self.kind, self.value = kind, value
        msg = f"unknown {kind} '{value}'"
        super().__init__(f"{msg}; {hint}" if hint else msg)


class NotAllowed(IkuflowError):
    exit_code = 4


class GuardFailed(NotAllowed):
    def __init__(self, guard: str, message: str) -> None:
        self.guard = guard
        super().__init__(message)


class RoleMissing(IkuflowError):
    exit_code = 5


class Conflict(IkuflowError):
    exit_code = 6


@dataclass(frozen=True)
class Problem:
    """One problem in a workflow file: where it is and how to fix it."""

    file: str
    location: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.location}: {self.message}"


class DefinitionError(IkuflowError):
    exit_code = 1

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        n = len(self.problems)
        head = f"{n} problem{'s' if n != 1 else ''} in workflow definition"
        super().__init__(head + ":\n" + "\n".join(f"  {p}" for p in self.problems))
