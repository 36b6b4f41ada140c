"""The exception tree of ikuflow, and the CLI exit code of each branch.

    IkuflowError                      exit 1  anything else
    +-- UsageError                    exit 2  a malformed value (date, time zone, option)
    +-- NotFound                      exit 3  unknown document, office, division, person, event
    +-- NotAllowed                    exit 4  event not allowed in the current state
    |   +-- GuardFailed               exit 4  a guard of the event said no
    +-- RoleMissing                   exit 5  the actor lacks the role
    +-- Conflict                      exit 6  the document changed under you; retry
    |   +-- Duplicate                 exit 6  the database already holds that key (unique index)
    |   +-- BulkRefused               exit 6  all or nothing: some were refused, nothing was done
    +-- Busy                          exit 1  the database stayed locked, or a read went stale
    +-- StoreError                    exit 1  any other failure of the database (its first line)
    +-- DefinitionError               exit 1  an invalid workflow file, with all its problems
    +-- RenderFailed                  exit 1  an e-mail template cannot render a stored context
    +-- RateLimited                   exit 1  too many sign-in requests for now (HTTP 429)

Every message says what was wrong and what to do; the CLI prints it on one line (two for a
definition error's list) and exits with ``exit_code``.

The store (``ikuflow/store/``) raises the database's failures as these, once, where the driver
raises them (``raise ... from`` the driver's error): a unique index refusing a row is
``Duplicate``, a lock wait that ran out, a deadlock, a serialization failure or a stale SQLite
snapshot is ``Busy`` (the use cases retry it or say "retry"), a value the database cannot store
(a NUL character on PostgreSQL) is a ``UsageError``, a failure of the file or the disk says its
cause, and anything else is a ``StoreError``. No caller above the store sees a driver's error.
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


class Duplicate(Conflict):
    """A row the database refused because a unique index already holds its key."""

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(f"already stored ({detail}); look it up instead of adding it again")


class BulkRefused(Conflict):
    """All or nothing: some of a bulk request were refused, so nothing was done."""

    def __init__(self, refused: list[dict], total: int | None = None) -> None:
        self.refused = refused
        self.total = len(refused) if total is None else total  # how many were asked for
        first = refused[0]
        super().__init__(f"{len(refused)} refused (first: {first['key']} {first['event']}: "
                         f"{first['reason']}); nothing was changed")


class Busy(IkuflowError):
    """The database stayed locked past the busy timeout, a deadlock or serialization failure,
    or a SQLite read snapshot too old to write from: the same request may succeed if retried."""

    exit_code = 1

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(f"the database is busy ({detail}); retry")


class StoreError(IkuflowError):
    """A failure of the database the store has no better name for: its first line, and the
    likeliest cause (a URL that is not an ikuflow database, or one not yet upgraded)."""

    exit_code = 1

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(f"database error: {detail}; is IKUFLOW_DATABASE_URL an ikuflow database "
                         "('ikuflow init' creates or upgrades one)?")


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


#: What to do about an e-mail template that fails: the operator's fix.
FIX_TEMPLATE = "fix the template (see 'ikuflow workflow check')"


class RenderFailed(IkuflowError):
    """An e-mail template cannot be rendered (missing, not parsing, a variable undefined), or a
    stored context cannot be read: the template, the reason in one line, and the fix (fix the
    template, see 'ikuflow workflow check'; or nothing renders this row as stored)."""

    exit_code = 1

    def __init__(self, template: str, reason: str, fix: str = FIX_TEMPLATE) -> None:
        self.template, self.reason, self.fix = template, reason, fix
        super().__init__(f"cannot render e-mail template '{template}': {reason}; {fix}")


class DefinitionError(IkuflowError):
    exit_code = 1

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        n = len(self.problems)
        head = f"{n} problem{'s' if n != 1 else ''} in workflow definition"
        super().__init__(head + ":\n" + "\n".join(f"  {p}" for p in self.problems))


class RateLimited(IkuflowError):
    """Too many sign-in requests for one address or from one client within the window."""

    exit_code = 1
