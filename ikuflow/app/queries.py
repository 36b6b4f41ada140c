"""The read use cases: a document's status and history, lists, what is overdue. Times are
shown in the office's zone; the SQL is in :mod:`ikuflow.store.documents`."""

from __future__ import annotations

from datetime import datetime

from ikuflow.app.evidence import current_content
from ikuflow.app.session import Session
from ikuflow.calendar import fmt_local, fmt_span, iso_local, now_utc
from ikuflow.errors import NotFound
from ikuflow.store import directory as people_store
from ikuflow.store import documents as store


def _office(svc: Session, office: str | None) -> None:
    if office is not None and people_store.office(svc.con, office) is None:
        raise NotFound("office", office, "see 'ikuflow office list'")


def status(svc: Session, key: str, at: datetime | None = None) -> dict:
    """Where document ``key`` is: its state, due time, who must act and what may happen next."""
    now = at or now_utc()
    cur = svc.document(key)
    wf = svc.engine(cur.workflow_name, cur.workflow_version).workflow
    svc.seen_directory(cur.directory_version)
    tz, office_name = svc.place(cur.office)
    due, state = cur.due_at, cur.state
    final = state in wf.final
    overdue = bool(due is not None and not final and now > due)
    must_act = [] if final else svc.people(cur.office, cur.division, wf.states[state].must_act)
    return {
        "key": cur.key, "title": cur.title, "office": cur.office, "office_name": office_name, "tz": tz,
        "division": cur.division, "division_name": svc.division_name(cur.division), "year": cur.year,
        "signing_date": cur.signing_date, "workflow": cur.workflow_name,
        "workflow_version": cur.workflow_version, "state": state, "state_title": wf.states[state].title,
        "final": final, "version": cur.version, "due_at": iso_local(due, tz), "due_local": fmt_local(due, tz),
        "overdue": overdue,
        "time_left": None if due is None or final else (("-" if overdue else "") + fmt_span(due - now)),
        "must_act": must_act, "allowed_events": wf.events_from(state),
        "updated_at": iso_local(cur.updated_at, tz), "now": iso_local(now, tz),
        "content": None if cur.content_sha256 is None else current_content(svc, cur),
    }


def listing(svc: Session, state: str | None = None, office: str | None = None, division: str | None = None,
            year: int | None = None, overdue: bool = False, at: datetime | None = None,
            limit: int | None = None) -> list[dict]:
    """Documents matching every filter given, by office, division and year."""
    now = at or now_utc()
    _office(svc, office)
    return [{"key": r.key, "office": r.office, "division": r.division, "year": r.year, "state": r.state,
             "signing_date": r.signing_date, "due_at": iso_local(r.due_at, r.tz),
             "due_local": fmt_local(r.due_at, r.tz),
             "overdue": bool(r.due_at is not None and now > r.due_at), "version": r.version}
            for r in store.listing(svc.con, state, office, division, year, now if overdue else None, limit)]


def history(svc: Session, key: str, until: datetime | None = None) -> list[dict]:
    """The document's history, oldest first (up to ``until`` if given)."""
    found = store.document_zone(svc.con, key)
    if found is None:
        raise NotFound("document", key, "see 'ikuflow list'")
    doc_id, tz = found
    return [{"at": iso_local(s.at, tz), "at_local": fmt_local(s.at, tz), "actor": s.actor,
             "acting_for": s.acting_for, "event": s.event, "from": s.from_state, "to": s.to_state,
             "comment": s.comment, "channel": s.channel} for s in store.history(svc.con, doc_id, until)]


def overdue(svc: Session, office: str | None = None, at: datetime | None = None,
            limit: int | None = None) -> list[dict]:
    """Documents past their current step's due time, most overdue first, with who must act.

    ``office`` includes the offices below it (a province sees its regencies).
    """
    now = at or now_utc()
    _office(svc, office)
    rows = store.overdue(svc.con, now, office, limit)
    d = svc.directory(fresh=True)
    # documents share queues (place, state, who must act) and due times (one signing date,
    # a few zones): what follows from those is worked out once, not per row
    where: dict = {}
    shown: dict = {}
    out = []
    for key, due, queue_id in rows:
        w = where.get(queue_id)
        if w is None:
            off, div, wf, wfv, state = svc.queue_of(queue_id)
            must = svc.engine(wf, wfv).workflow.states[state].must_act
            w = where[queue_id] = (off, div, state, d.offices[off][0], d.people(off, div, must))
        tz = w[3]
        fmt = shown.get((due, tz))
        if fmt is None:
            late = now - due
            fmt = shown[(due, tz)] = (iso_local(due, tz), fmt_local(due, tz), fmt_span(late),
                                      int(late.total_seconds()))
        out.append({"key": key, "office": w[0], "division": w[1], "state": w[2],
                    "due_at": fmt[0], "due_local": fmt[1], "overdue_by": fmt[2],
                    "overdue_seconds": fmt[3], "must_act": w[4]})
    return out


def overdue_count(svc: Session, at: datetime | None = None) -> int:
    """How many documents are past their due time."""
    return store.overdue_count(svc.con, at or now_utc())
