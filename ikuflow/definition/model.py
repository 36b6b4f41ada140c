"""Frozen, typed models of a workflow definition (what a valid workflow file becomes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time, timedelta
from types import MappingProxyType
from typing import Mapping

#: Roles ikuflow knows. ``coordinator`` is scoped to an office and a division, ``secretariat``
#: and ``chair`` to an office, ``admin`` reaches everything.
ROLES = ("coordinator", "secretariat", "chair", "admin")
UNITS = ("working_days", "calendar_days")


@dataclass(frozen=True)
class Deadline:
    """When a state must be left, counted back from the signing date."""

    days_before: int
    unit: str = "working_days"
    at: time = time(16, 0)


@dataclass(frozen=True)
class Escalation:
    """What happens after the due time has passed."""

    every: timedelta = timedelta(days=1)
    copy: tuple[str, ...] = ()
    chair_after: timedelta | None = None
    parent_after: timedelta | None = None


@dataclass(frozen=True)
class StateDef:
    name: str
    title: str = ""
    must_act: tuple[str, ...] = ()
    due: Deadline | None = None
    reminders: tuple[timedelta, ...] = ()
    escalation: Escalation | None = None


@dataclass(frozen=True)
class EventDef:
    name: str
    sources: tuple[str, ...]
    dest: str
    roles: frozenset[str]
    guards: tuple[str, ...] = ()
    notify: tuple[str, ...] = ()
    template: str = ""
    title: str = ""


@dataclass(frozen=True)
class Workflow:
    name: str
    title: str
    initial: str
    final: frozenset[str]
    states: Mapping[str, StateDef]
    events: Mapping[str, EventDef]
    create_notify: tuple[str, ...] = ()  # roles told when a document is created
    create_template: str = "create"
    sha256: str = ""
    source: str = field(default="", repr=False, compare=False)
    path: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "states", MappingProxyType(dict(self.states)))
        object.__setattr__(self, "events", MappingProxyType(dict(self.events)))

    def events_from(self, state: str) -> list[str]:
        """Names of the events that may leave ``state``, in file order."""
        return [e.name for e in self.events.values() if state in e.sources]
