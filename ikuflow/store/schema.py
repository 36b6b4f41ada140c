"""The database schema, as SQLModel tables: the one place the schema is written down.

Times are naive UTC datetimes. History is append-only. The outbox holds every e-mail a
transition or a scheduler pass causes, written in the same transaction as its cause.
"""

from __future__ import annotations

from datetime import date
from typing import Optional

from pydantic import NaiveDatetime as datetime  # naive UTC, by convention (see the docstring)
from sqlalchemy import Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel


class Office(SQLModel, table=True):
    code: str = Field(primary_key=True)
    name: str
    tz: str = "Asia/Jakarta"
    parent: Optional[str] = Field(default=None, foreign_key="office.code", index=True)
    level: str = "regency"


class Division(SQLModel, table=True):
    code: str = Field(primary_key=True)
    name: str


class Person(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    email: str = Field(unique=True)
    name: str


class RoleAssignment(SQLModel, table=True):
    __tablename__ = "role_assignment"
    __table_args__ = (
        UniqueConstraint("person_id", "role", "office_code", "division_code"),
        Index("ix_role_office", "office_code", "role"),
    )
    id: Optional[int] = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    role: str
    office_code: str = Field(foreign_key="office.code")
    division_code: Optional[str] = Field(default=None, foreign_key="division.code")


class Delegation(SQLModel, table=True):
    """An acting official (Plt/Plh): ``delegate`` may act for ``delegator`` from ``starts`` to
    ``ends`` (inclusive, dates in the document's office zone)."""

    id: Optional[int] = Field(default=None, primary_key=True)
    delegator_id: int = Field(foreign_key="person.id", index=True)
    delegate_id: int = Field(foreign_key="person.id", index=True)
    starts: date
    ends: date
    created_at: datetime


class ApiToken(SQLModel, table=True):
    """A person's API token (``Authorization: Bearer``): only its SHA-256 digest is kept; the
    token itself is shown once, when it is created."""

    __tablename__ = "api_token"
    id: Optional[int] = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    digest: str = Field(unique=True)
    note: Optional[str] = None
    created_at: datetime
    last_used_at: Optional[datetime] = None
    revoked_at: Optional[datetime] = None


class WebLogin(SQLModel, table=True):
    """A sign-in by e-mail link, from its request to its sign-out: the link is kept as its
    SHA-256 digest only. Requests for unknown addresses are kept too (``person_id`` None), so
    the rate limits count them; the row of a used link is the web session (``used_at``)."""

    __tablename__ = "web_login"
    __table_args__ = (Index("ix_web_login_email_at", "email", "requested_at"),
                      Index("ix_web_login_client_at", "client", "requested_at"))
    id: Optional[int] = Field(default=None, primary_key=True)
    digest: str = Field(unique=True)
    email: str
    person_id: Optional[int] = Field(default=None, foreign_key="person.id")
    client: str
    requested_at: datetime
    used_at: Optional[datetime] = None
    used_client: Optional[str] = None
    ended_at: Optional[datetime] = None


class WorkflowVersion(SQLModel, table=True):
    __tablename__ = "workflow_version"
    __table_args__ = (UniqueConstraint("name", "version"), UniqueConstraint("name", "sha256"))
    id: Optional[int] = Field(default=None, primary_key=True)
    name: str
    version: int
    sha256: str
    source: str
    path: str = ""
    loaded_at: datetime


class Queue(SQLModel, table=True):
    """Where a document waits: one state of one workflow version in one division of one office.
    Every document in a queue waits for the same people, so the scans over many documents (the
    overdue list, the scheduler's claim) read one small integer per row, ``document.queue_id``,
    and work out the office, the state and who must act once per queue, not once per row. A
    queue is added the first time a document enters it; queues are never changed or removed."""

    __table_args__ = (UniqueConstraint("office_code", "division_code", "workflow_id", "state"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    office_code: str = Field(foreign_key="office.code")
    division_code: str = Field(foreign_key="division.code")
    workflow_id: int = Field(foreign_key="workflow_version.id")
    state: str


class TickSlot(SQLModel, table=True):
    """One row per scheduler slot (16, made by migration 0005): a scheduler pass takes a slot by
    locking its row (PostgreSQL: FOR UPDATE SKIP LOCKED) and claims that slot's due documents, so
    passes on several nodes work on disjoint documents without locking each of them."""

    __tablename__ = "tick_slot"
    slot: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})


class Document(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("office_code", "division_code", "year", "workflow_name"),
        # What is overdue, and what the scheduler must do next: partial indexes over live
        # documents only (due_at and next_action_at are NULL once a document is final), each
        # covering what its query reads, so neither touches the table. A bare (due_at) index
        # would be 15x slower than none (../shared/anchors, section 5). Office, division,
        # workflow and state are one integer here (queue_id): every column read costs each of
        # the 15,000 rows of a national overdue list.
        Index("ix_document_due", "due_at", "id", "key", "queue_id",
              sqlite_where=text("due_at IS NOT NULL"), postgresql_where=text("due_at IS NOT NULL")),
        # The count's own index, half the pages of the one above, on PostgreSQL only: there a
        # count over ix_document_due takes twice as long (6.5 ms at 1,000,000 documents, budget
        # 3 ms), while on SQLite it takes 1.1 ms and the extra index would cost every step two
        # page writes (schema 0006 dropped it there).
        Index("ix_document_due_count", "due_at",
              postgresql_where=text("due_at IS NOT NULL")).ddl_if(dialect="postgresql"),
        # My tasks (the web): an office's documents in the states where a role must act, the
        # earliest due first, one page of them and how many in all, each one range of this index
        # (without it, 500 waiting documents cost 430 us to count and page instead of 90).
        Index("ix_document_tasks", "office_code", "state", "due_at", "key"),
        # The scheduler claims one tick slot at a time: its due documents are one range here.
        Index("ix_document_next_action", "tick_slot", "next_action_at", "id", "version", "due_at", "queue_id",
              sqlite_where=text("next_action_at IS NOT NULL"),
              postgresql_where=text("next_action_at IS NOT NULL")),
    )
    id: Optional[int] = Field(default=None, primary_key=True)
    key: str = Field(unique=True)
    office_code: str = Field(foreign_key="office.code")
    division_code: str = Field(foreign_key="division.code")
    year: int
    title: str
    signing_date: date
    workflow_name: str
    workflow_version: int
    state: str
    version: int = 0
    due_at: Optional[datetime] = None
    next_action_at: Optional[datetime] = None
    created_at: datetime
    updated_at: datetime
    # the queue of (office_code, division_code, workflow_name/version, state): written with them
    queue_id: int = Field(foreign_key="queue.id")
    # which of the scheduler's slots the document falls in (service.tick_slot: from its key)
    tick_slot: int
    # the SHA-256 of its current content (None: none attached), and the chain hash of its last
    # history row (the head the next step's row is chained to; see ikuflow.evidence)
    content_sha256: Optional[str] = None
    chain: Optional[str] = None


class History(SQLModel, table=True):
    """One row per step of a document: ``version`` is the document version the step produced
    (0 for its creation), unique per document, so no two writers can both record a step from
    the same version: a lost update is impossible in the database itself, not only in the code."""

    __table_args__ = (Index("ux_history_version", "document_id", "version", unique=True),)
    id: Optional[int] = Field(default=None, primary_key=True)
    document_id: int = Field(foreign_key="document.id")
    version: int
    at: datetime
    actor: str
    acting_for: Optional[str] = None
    event: str
    from_state: Optional[str] = None
    to_state: str
    comment: Optional[str] = None
    # how the step came in: cli, web, link (a personal link in an e-mail) or api
    channel: str = Field(default="cli", sa_column_kwargs={"server_default": "cli"})
    # the SHA-256 of the content the step acted on (None: the document had none)
    content_sha256: Optional[str] = None  # (no index: verify reads a document's rows by its id)
    # HMAC-SHA256 under the secret key over the previous row's chain and this row (ikuflow.evidence)
    chain: Optional[str] = None


class Content(SQLModel, table=True):
    """A version of a document's file (PDF, DOCX, XLSX, ODT), by its SHA-256: who attached it,
    when, as what name. The bytes are in the content store (store/content.py)."""

    __table_args__ = (UniqueConstraint("document_id", "version"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    document_id: int = Field(foreign_key="document.id")
    version: int  # 1, 2, ... per document
    sha256: str = Field(index=True)
    name: str
    size: int
    kind: str  # pdf | docx | xlsx | odt
    attached_by: str
    attached_at: datetime


class ContentBlob(SQLModel, table=True):
    """The bytes of content, by SHA-256, where they are kept in the database (PostgreSQL, so
    every node sees them; SQLite keeps them as files beside the database)."""

    __tablename__ = "content_blob"
    sha256: str = Field(primary_key=True)
    data: bytes


class Outbox(SQLModel, table=True):
    __table_args__ = (
        Index("ix_outbox_pending", "next_attempt_at", "id", sqlite_where=text("status = 'pending'"),
              postgresql_where=text("status = 'pending'")),
        # reminders a scheduler pass has written and not yet rendered into e-mail (see tick)
        Index("ix_outbox_held", "id", sqlite_where=text("status = 'held'"),
              postgresql_where=text("status = 'held'")),
        # One e-mail per cause. An event's cause names the document version it created, which
        # the guarded UPDATE makes unique already; the scheduler's causes need the index.
        Index("ux_outbox_cause", "cause", unique=True, sqlite_where=text("kind <> 'event'"),
              postgresql_where=text("kind <> 'event'")),
    )
    id: Optional[int] = Field(default=None, primary_key=True)
    document_id: Optional[int] = Field(default=None, foreign_key="document.id")
    kind: str  # event | reminder | escalation | digest
    cause: str  # what caused it, per recipient (see ux_outbox_cause)
    recipient: str
    template: str
    payload: str  # JSON: what caused it, and "context": what the template is rendered with
    message_id: str
    subject: Optional[str] = None  # kept when sent (an intent is rendered by the sender)
    body_text: Optional[str] = None
    body_html: Optional[str] = None
    status: str = "pending"  # held (a pass's reminder not yet rendered) | pending | sent | dead |
    #                          merged (delivered inside a digest row)
    attempts: int = 0
    next_attempt_at: datetime
    lease_owner: Optional[str] = None
    lease_until: Optional[datetime] = None
    created_at: datetime
    sent_at: Optional[datetime] = None
    last_error: Optional[str] = None


class CalendarDay(SQLModel, table=True):
    """An override of the working-day calendar (from workflows/calendar.yaml)."""

    __tablename__ = "calendar_day"
    day: date = Field(primary_key=True)
    working: bool
    note: str = ""


class Meta(SQLModel, table=True):
    key: str = Field(primary_key=True)
    value: str
