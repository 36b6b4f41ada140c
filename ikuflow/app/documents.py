"""The document use cases: create (one, or a year for many offices), advance (one, or many),
and move live documents to a newer workflow version.

A step reads the document, asks :meth:`ikuflow.engine.Engine.fire` for the outcome (every
effect: state, times, history entry, e-mail intents), then writes it in one transaction
guarded by the version it read (:func:`ikuflow.store.documents.save_step`): a document changed
meanwhile is a Conflict, never a lost update.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Callable

from ikuflow.app import notices
from ikuflow.app.session import CREATE_ROLES, Session, check_channel, who
from ikuflow.calendar import iso_local, now_utc
from ikuflow.engine import Doc, Outcome
from ikuflow.evidence import chained
from ikuflow.errors import BulkRefused, Busy, Conflict, Duplicate, IkuflowError, NotFound, RoleMissing, \
    StoreError, UsageError
from ikuflow.store import directory as people_store
from ikuflow.store import documents as store
from ikuflow.store.db import BUSY_TIMEOUT_MS, savepoint, write

#: The longest title and comment accepted, in characters: a title is one line of a list and
#: of an e-mail's subject, a comment (the reason of a send_back) is quoted in an e-mail.
MAX_TITLE = 200
MAX_COMMENT = 4000
#: failures of the database, not refusals of one item: a bulk run stops on them
STORE_FAILURES = (Busy, Duplicate, StoreError)


def check_year(year: int, now: datetime) -> None:
    """The IKU year is a real planning year (2000-2100); UsageError (exit 2) otherwise."""
    if not 2000 <= year <= 2100:
        raise UsageError(f"year {year} is out of range; use a year like {now.year}")


def check_signing_date(signing_date: date, year: int | None = None) -> None:
    """The signing date lies in 1970-2999 and, given the IKU ``year``, in that year or the year
    before (an IKU is signed early in its year, or late in the year before); UsageError (exit 2)."""
    from ikuflow.calendar import CLOCK_YEARS

    if not CLOCK_YEARS[0] <= signing_date.year <= CLOCK_YEARS[1]:
        raise UsageError(f"signing date {signing_date} is out of range; use a date between "
                         f"{CLOCK_YEARS[0]} and {CLOCK_YEARS[1]}, like 2026-01-28")
    if year is not None and signing_date.year not in (year, year - 1):
        raise UsageError(f"signing date {signing_date} does not fit IKU year {year}: the documents of "
                         f"{year} are signed in {year} or in {year - 1}; check the year and the signing date")


def check_title(title: str | None) -> str | None:
    """A given title, trimmed; None (the default title) stays None. UsageError (exit 2) for a
    blank title or one longer than MAX_TITLE characters."""
    if title is None:
        return None
    title = title.strip()
    if not title:
        raise UsageError("the title is blank; give a title, or leave it out for the default "
                         "'IKU <DIVISION> <office name> <year>'")
    if len(title) > MAX_TITLE:
        raise UsageError(f"the title has {len(title):,} characters; the limit is {MAX_TITLE}: shorten it")
    return title


def check_comment(comment: str | None) -> None:
    """UsageError (exit 2) for a comment longer than MAX_COMMENT characters."""
    if comment is not None and len(comment.strip()) > MAX_COMMENT:
        raise UsageError(f"the comment has {len(comment.strip()):,} characters; the limit is "
                         f"{MAX_COMMENT:,}: shorten it")


# --- creating documents -----------------------------------------------------------------------
def _plan(eng, version: int, office: str, office_name: str, tz: str, division: str, year: int,
          signing_date: date, title: str | None, actor: str, now: datetime) -> tuple[store.NewDocument, Outcome]:
    """A new document in its workflow's initial state, and the outcome of creating it."""
    wf = eng.workflow
    key = f"{office}-{division}-{year}" + ("" if wf.name == "iku" else f"-{wf.name}")
    out = eng.start(Doc(key, wf.initial, signing_date, tz, None, now), actor)
    doc = store.NewDocument(key, office, division, year, title or f"IKU {division.upper()} {office_name} {year}",
                            signing_date.isoformat(), wf.name, version, out.dest, out.due_at,
                            out.next_action_at, now)
    return doc, out


def _created(svc: Session, eng, doc: store.NewDocument, doc_id: int, out: Outcome, office_name: str,
             division_name: str, tz: str, people: Callable) -> list[store.Intent]:
    """The history row is written by the caller; these are the e-mails of a creation."""
    st = eng.workflow.states[doc.state]
    view = notices.document_view(doc.key, doc.title, office_name, division_name, doc.year, doc.signing_date,
                                 doc.state, st.title or doc.state)
    return notices.for_step(view, out, doc_id, 0, tz, doc.at, svc.name_of(out.actor), None,
                            lambda roles: people(doc.office, doc.division, roles), svc.mail_domain(),
                            eng.actions(doc.state))


def new(svc: Session, office: str, division: str, year: int, signing_date: date, actor: str,
        title: str | None = None, workflow: str = "iku", at: datetime | None = None,
        channel: str = "cli") -> dict:
    """Create a document in its workflow's initial state, with its first history row
    (``channel``: how the request came in, one of store.CHANNELS)."""
    check_channel(channel)
    now = at or now_utc()
    check_year(year, now)
    check_signing_date(signing_date, year)
    title = check_title(title)
    svc.mail_domain()
    actor = who(actor)
    place = people_store.office(svc.con, office)
    if place is None:
        raise NotFound("office", office, "see 'ikuflow office list' or add it with 'ikuflow office add'")
    div = people_store.division(svc.con, division)
    if div is None:
        raise NotFound("division", division, "the standard ones are sdmo, hukum, penanganan, "
                       "pencegahan, sengketa; add others with 'ikuflow division add'")
    version = svc.latest_version(workflow)
    eng = svc.engine(workflow, version)
    svc.seen_directory(read=True)
    roles = svc.roles(actor, office, division)
    if not ("admin" in roles or roles & CREATE_ROLES):
        raise RoleMissing(f"{actor} may not create documents for {office}/{division}: it needs "
                          "the coordinator role of that division, or the office's secretariat")
    doc, out = _plan(eng, version, office, place.name, place.tz, division, year, signing_date, title, actor, now)
    first = chained(svc.chain_key(), doc.key, None,
                    store.Step(0, 0, now, actor, None, "create", None, doc.state, None, channel))
    doc = doc._replace(chain=first.chain)
    try:
        with write(svc.con) as c:
            queue = store.queue_ids(c, [(office, division)], svc.workflow_id(workflow, version), doc.state,
                                    eng.workflow.states)
            doc_id = store.insert_document(c, doc, queue[office, division])
            store.insert_history(c, [first._replace(document_id=doc_id)])
            store.insert_intents(c, _created(svc, eng, doc, doc_id, out, place.name, div.name, place.tz,
                                             svc.people))
    except Duplicate:
        raise Conflict(f"document {doc.key} already exists; see 'ikuflow status {doc.key}'") from None
    return {"key": doc.key, "state": doc.state, "workflow": f"{workflow} v{version}",
            "due_at": iso_local(doc.due_at, place.tz)}


def new_many(svc: Session, year: int, signing_date: date, actor: str, offices: list[str] | None = None,
             divisions: list[str] | None = None, levels: list[str] | None = None,
             workflow: str = "iku", at: datetime | None = None, all_or_nothing: bool = False,
             progress=None) -> dict:
    """Create the documents of many offices and divisions for a year in one transaction.

    Documents that exist already, or that ``actor`` may not create, are refused with their
    reason; with ``all_or_nothing`` any refusal means nothing is created (Conflict).
    ``progress(done, total)`` is called as rows are written.
    """
    now = at or now_utc()
    check_year(year, now)
    check_signing_date(signing_date, year)
    svc.mail_domain()
    actor = who(actor)
    version = svc.latest_version(workflow)
    eng = svc.engine(workflow, version)
    d = svc.directory(fresh=True)
    for code in offices or []:
        if code not in d.offices:
            raise NotFound("office", code, "see 'ikuflow office list'")
    targets = [o for o in (offices or sorted(d.offices)) if not levels or d.offices[o][3] in levels]
    for code in divisions or []:
        if code not in d.divisions:
            raise NotFound("division", code, "see 'ikuflow division list'")
    divs = divisions or sorted(d.divisions)
    svc.roles(actor, "", "")  # no actor, or an unknown one, fails before anything else
    existing = store.existing_keys(svc.con, year, workflow)
    secret = svc.chain_key()
    planned: list[tuple[store.NewDocument, Outcome]] = []
    refused = []
    for office in targets:
        tz, _, name, _ = d.offices[office]
        for division in divs:
            doc, out = _plan(eng, version, office, name, tz, division, year, signing_date, None, actor, now)
            roles = svc.roles(actor, office, division)
            if doc.key in existing:
                refused.append({"key": doc.key, "reason": "already exists"})
            elif not ("admin" in roles or roles & CREATE_ROLES):
                refused.append({"key": doc.key, "reason": f"{actor} has no coordinator, "
                                "secretariat or admin role for it"})
            else:
                first = chained(secret, doc.key, None, store.Step(0, 0, now, actor, None, "create", None,
                                                                  doc.state, None))
                planned.append((doc._replace(chain=first.chain), out))
    if all_or_nothing and refused:
        raise Conflict(f"{len(refused)} of {len(planned) + len(refused)} documents would be refused "
                       f"(first: {refused[0]['key']}: {refused[0]['reason']}); nothing was created")
    docs = [doc for doc, _ in planned]
    with write(svc.con) as c:
        queues = store.queue_ids(c, {(r.office, r.division) for r in docs}, svc.workflow_id(workflow, version),
                                 eng.workflow.initial, eng.workflow.states)
        for i in range(0, len(docs), 500):
            store.insert_documents(c, docs[i:i + 500], queues)
            if progress:
                progress(min(i + 500, len(docs)), len(docs))
        ids = store.ids_of(c, year, workflow)
        store.insert_history(c, [store.Step(ids[r.key], 0, now, actor, None, "create", None, r.state, None,
                                            chain=r.chain) for r in docs])
        intents = []
        for doc, out in planned:
            tz, _, office_name, _ = d.offices[doc.office]
            intents += _created(svc, eng, doc, ids[doc.key], out, office_name, d.divisions[doc.division], tz,
                                d.people)
        store.insert_intents(c, intents)
    return {"created": len(docs), "refused": refused, "keys": [r.key for r in docs],
            "workflow": f"{workflow} v{version}"}


# --- steps ------------------------------------------------------------------------------------
def advance(svc: Session, key: str, event: str, actor: str, comment: str | None = None,
            at: datetime | None = None, expected_version: int | None = None, channel: str = "cli") -> dict:
    """Fire ``event`` on document ``key`` as ``actor``; persist state, history and e-mails.

    The document is read, the engine decides, then one transaction writes the new state
    (guarded by the version read), the history row and the e-mail intents. If the document
    changed in between (or is not at ``expected_version``), it is a Conflict.

    ``channel`` (one of store.CHANNELS) is how the request came in, kept in the history row.
    Raises NotFound (3), NotAllowed/GuardFailed (4), RoleMissing (5), Conflict (6).
    """
    check_channel(channel)
    actor = who(actor)
    now = at or now_utc()
    svc.mail_domain()
    cur, out, queue, intents = _decide(svc, key, event, actor, comment, now, expected_version)
    try:
        if store.runs_alone(svc.con):
            saved = _save(svc, svc.con, cur, out, queue, intents, now, channel)
        else:
            with write(svc.con) as c:
                saved = _save(svc, c, cur, out, queue, intents, now, channel)
    except Busy:
        raise Conflict(f"the database stayed busy for {BUSY_TIMEOUT_MS // 1000} s; retry "
                       f"'ikuflow advance {key} {event}'") from None
    if not saved:
        raise Conflict(f"document {key} changed while you were acting on it; check "
                       f"'ikuflow status {key}' and retry if '{event}' still applies")
    return _result(cur, out, intents, svc.place(cur.office)[0])


def _decide(svc: Session, key: str, event: str, actor: str, comment: str | None, now: datetime,
            expected_version: int | None) -> tuple[store.Current, Outcome, int, list[store.Intent]]:
    """Read the document and ask the engine: the outcome, its queue and its e-mails."""
    check_comment(comment)
    cur = svc.document(key)
    if expected_version is not None and expected_version != cur.version:
        raise Conflict(f"document {key} changed while you were acting on it (version "
                       f"{expected_version} -> {cur.version}); check 'ikuflow status {key}' "
                       f"and retry if '{event}' still applies")
    svc.seen_directory(cur.directory_version)
    eng = svc.engine(cur.workflow_name, cur.workflow_version)
    comment = comment.strip() if comment and comment.strip() else None
    tz, office_name = svc.place(cur.office)
    doc = Doc(key, cur.state, date.fromisoformat(cur.signing_date), tz, comment, now, cur.content_sha256)
    out = eng.fire(doc, event, svc.roles(actor, cur.office, cur.division), actor,
                   svc.delegators(actor, cur.office, cur.division, now, tz))
    queue = svc.queue_id(cur.office, cur.division, svc.workflow_id(cur.workflow_name, cur.workflow_version),
                         out.dest)
    st = eng.workflow.states[out.dest]
    view = notices.document_view(key, cur.title, office_name, svc.division_name(cur.division), cur.year,
                                 cur.signing_date, out.dest, st.title or out.dest)
    intents = notices.for_step(view, out, cur.id, cur.version + 1, tz, now, svc.name_of(actor),
                               svc.name_of(out.acting_for) if out.acting_for else None,
                               lambda roles: svc.people(cur.office, cur.division, roles), svc.mail_domain(),
                               eng.actions(out.dest))
    return cur, out, queue, intents


def _save(svc: Session, con: Any, cur: store.Current, out: Outcome, queue: int, intents: list[store.Intent],
          now: datetime, channel: str = "cli") -> bool:
    step = chained(svc.chain_key(), cur.key, cur.chain, store.Step(
        cur.id, cur.version + 1, now, out.actor, out.acting_for, out.event, out.source, out.dest, out.comment,
        channel, cur.content_sha256))
    return store.save_step(con, cur.id, cur.version, step, queue, out.due_at, out.next_action_at, intents)


def _result(cur: store.Current, out: Outcome, intents: list[store.Intent], tz: str) -> dict:
    return {"key": cur.key, "event": out.event, "from": out.source, "state": out.dest,
            "acting_for": out.acting_for, "version": cur.version + 1, "due_at": iso_local(out.due_at, tz),
            "notified": [i.recipient for i in intents]}


def advance_many(svc: Session, items: list[tuple], actor: str, at: datetime | None = None,
                 all_or_nothing: bool = False, progress=None, channel: str = "cli") -> dict:
    """Fire many ``(key, event, comment)`` as ``actor``: each in its own transaction, or
    with ``all_or_nothing`` all in one, rolled back entirely if any is refused (BulkRefused)."""
    check_channel(channel)
    now = at or now_utc()
    actor = who(actor)
    svc.mail_domain()
    done, refused = [], []
    if not all_or_nothing:
        for i, (key, event, comment) in enumerate(items):
            try:
                done.append(advance(svc, key, event, actor, comment, now, channel=channel))
            except STORE_FAILURES:
                raise
            except IkuflowError as exc:
                refused.append({"key": key, "event": event, "reason": str(exc), "exit_code": exc.exit_code})
            if progress:
                progress(i + 1, len(items))
        return {"advanced": done, "refused": refused}
    with write(svc.con) as c:
        for i, (key, event, comment) in enumerate(items):
            try:
                with savepoint(c):
                    cur, out, queue, intents = _decide(svc, key, event, actor, comment, now, None)
                    if not _save(svc, c, cur, out, queue, intents, now, channel):
                        raise Conflict(f"document {key} changed while you were acting on it")
                    done.append(_result(cur, out, intents, svc.place(cur.office)[0]))
            except STORE_FAILURES:
                raise
            except IkuflowError as exc:
                refused.append({"key": key, "event": event, "reason": str(exc), "exit_code": exc.exit_code})
            if progress:
                progress(i + 1, len(items))
        if refused:
            raise BulkRefused(refused, len(items))
    return {"advanced": done, "refused": refused}


def advance_where(svc: Session, event: str, actor: str, comment: str | None = None, state: str | None = None,
                  office: str | None = None, division: str | None = None, year: int | None = None,
                  at: datetime | None = None, all_or_nothing: bool = False, progress=None) -> dict:
    """Fire ``event`` as ``actor`` on every document the filters select (at least one is
    needed: UsageError), as :func:`advance_many`; its result has ``selected`` too."""
    if not any(x is not None for x in (state, office, division, year)):
        raise UsageError("--event needs at least one filter (--state, --office, --division, --year)")
    from ikuflow.app.queries import listing

    items = [(r["key"], event, comment) for r in listing(svc, state, office, division, year, at=at)]
    return {**advance_many(svc, items, actor, at, all_or_nothing, progress), "selected": len(items)}


# --- versioned workflows ----------------------------------------------------------------------
def migrate(svc: Session, name: str, dry_run: bool = True, actor: str = "operator",
            at: datetime | None = None) -> dict:
    """Move live documents of workflow ``name`` to its newest version.

    A document whose state still exists (and is not final) in the newest version moves, its
    due time recomputed, recorded in history as event 'migrate'. A document whose state no
    longer exists is reported and left alone: ikuflow does not guess where it belongs.
    """
    now = at or now_utc()
    latest = svc.latest_version(name)
    new_eng = svc.engine(name, latest)
    d = svc.directory(fresh=True)
    moves: list[dict] = []
    stuck: list[dict] = []
    for b in store.behind(svc.con, name, latest):
        if b.state in svc.engine(name, b.workflow_version).workflow.final:
            continue  # finished documents keep the version they finished on
        if b.state not in new_eng.workflow.states or b.state in new_eng.workflow.final:
            stuck.append({"key": b.key, "state": b.state, "from_version": b.workflow_version,
                          "reason": f"state '{b.state}' does not exist in {name} v{latest}"
                          if b.state not in new_eng.workflow.states else
                          f"state '{b.state}' is final in {name} v{latest}"})
            continue
        tz = d.offices[b.office][0]
        due = new_eng.due_for(b.state, date.fromisoformat(b.signing_date), tz)
        moves.append({"key": b.key, "state": b.state, "from_version": b.workflow_version, "to_version": latest,
                      "due_at": iso_local(due, tz), "_row": (b, due)})
    if not dry_run and moves:
        latest_id = svc.workflow_id(name, latest)
        with write(svc.con) as c:
            for m in moves:
                b, due = m["_row"]
                queue = store.queue_ids(c, [(b.office, b.division)], latest_id, b.state)[b.office, b.division]
                step = chained(svc.chain_key(), b.key, b.chain, store.Step(
                    b.id, b.version + 1, now, actor, None, "migrate", b.state, b.state,
                    f"workflow {name} v{b.workflow_version} -> v{latest}", "cli", b.content_sha256))
                if not store.move_version(c, b.id, b.version, latest, queue, due,
                                          new_eng.next_action_at(b.state, due, now), now, step.chain):
                    raise Conflict(f"document {b.key} changed during the migration; nothing "
                                   "was migrated, run it again")
                store.insert_history(c, [step])
    for m in moves:
        del m["_row"]
    return {"workflow": name, "to_version": latest, "dry_run": dry_run, "moved" if not dry_run
            else "would_move": moves, "not_moved": stuck}
