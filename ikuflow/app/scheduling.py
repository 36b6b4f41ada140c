"""The scheduler's use case: one pass over the documents whose next reminder or escalation is
due (``tick``), then each person's reminders merged into one e-mail (digests)."""

from __future__ import annotations

from datetime import datetime

from ikuflow.app import notices
from ikuflow.app.session import Session
from ikuflow.calendar import now_utc, to_local
from ikuflow.store import documents as docs
from ikuflow.store import schedule as store
from ikuflow.store.db import write


def tick(svc: Session, at: datetime | None = None, batch: int = 500, stop=None) -> dict:
    """One scheduler pass: every document whose next action time has passed gets its latest
    reminder or escalation, and its next action time moved forward, one transaction per
    batch: up to ``batch`` documents of one tick slot (see ikuflow.store.schedule), the slot
    taken first.

    Each (document, version, action time, recipient) cause is one outbox row, unique, so two
    passes can never write the same reminder twice; a pass after downtime sends only each
    document's most recent action. The batches write their causes as 'held' rows; when the
    batches are done, each person's held rows become one e-mail: the reminder itself, or one
    digest listing them all (the causes kept as 'merged' rows). Held rows a crashed pass left
    behind go into the next pass's digests. ``stop()`` is checked between batches.
    """
    now = at or now_utc()
    domain = svc.mail_domain()
    totals = {"documents": 0, "reminders": 0, "escalations": 0, "emails": 0, "batches": 0}
    d = svc.directory(fresh=True)
    acting = svc.acting(now)
    due = store.due_slots(svc.con, now)  # the slots with anything to do (most passes: none)
    slot = 0  # the slots this pass has yet to do are slot and up (less those other passes hold)
    while not (stop and stop()):
        slot = next((s for s in due if s >= slot), -1)
        if slot < 0:
            break
        with write(svc.con) as c:
            taken = store.next_slot(c, slot)
            if taken is None:
                break
            slot = taken
            claimed = store.claim(c, slot, now, batch)
            details = store.details(c, [r.id for r in claimed])
            held: list[docs.Intent] = []
            moves, acts = [], {}
            for r in claimed:
                off, div, wf, wfv, state = svc.queue_of(r.queue_id)
                tz, parent, office_name, _ = d.offices[off]
                eng = svc.engine(wf, wfv)
                act = eng.latest_action(state, r.due_at, now)
                moves.append((eng.next_action_at(state, r.due_at, now), r.id, r.next_action_at))
                if act is None:
                    continue
                acts[r.id] = act.kind
                key, title, year, signing = details[r.id]
                st = eng.workflow.states[state]
                view = notices.document_view(key, title, office_name, d.divisions.get(div, div), year, signing,
                                             state, st.title or state)
                item = notices.reminder_item(view, act, r.due_at, tz,
                                             [m["name"] for m in d.people(off, div, st.must_act)])
                told = list(d.people(off, div, act.roles))
                if act.parent and parent:
                    told += d.people(parent, div, ("secretariat",))
                if acting:  # acting officials (Plt/Plh) receive the reminders of whom they stand for
                    today = to_local(now, tz).date().isoformat()
                    told += [{"email": e, "name": n, "role": f"{p['role']} (acting)"}
                             for p in list(told) for e, n, a, b in acting.get(p["email"], ())
                             if a <= today <= b]
                held += notices.for_reminder(item, r.id, r.version, state,
                                             list({p["email"]: p for p in told}.values()), now, domain,
                                             eng.actions(state))
            # compare-and-set: a document a step (or another pass) moved meanwhile is left alone
            store.move_next_actions(c, moves)
            if acts:  # no reminder for a step taken while the batch ran (PostgreSQL: the claim
                # does not lock the documents; on SQLite the batch is the only writer)
                version_read = {r.id: r.version for r in claimed}
                version_now = store.versions(c, list(acts))
                stale = {i for i in acts if version_now.get(i) != version_read[i]}
                held = [h for h in held if h.document_id not in stale]
                for i, kind in acts.items():
                    totals["reminders" if kind == "reminder" else "escalations"] += i not in stale
            docs.insert_intents(c, held, once=True)
        totals["documents"] += len(claimed)
        totals["batches"] += bool(claimed)
        if len(claimed) < batch:
            slot += 1
    totals["emails"] = send_held(svc, now)
    return totals


def send_held(svc: Session, now: datetime) -> int:
    """Turn every held reminder into e-mail, one per person: the single reminder itself, or one
    digest of all of them (their rows become 'merged'). Returns the e-mails queued."""
    domain = svc.mail_domain()
    with write(svc.con) as c:
        people: dict[str, list[store.Held]] = {}
        for row in store.held(c):
            people.setdefault(row.recipient, []).append(row)
        for email, rows in people.items():
            if len(rows) == 1:
                store.mark(c, [rows[0].id], "pending", now)
                continue
            docs.insert_intents(c, [notices.digest(email, [(r.cause, r.payload) for r in rows], now, domain)],
                                once=True)
            store.mark(c, [r.id for r in rows], "merged", now)
    return len(people)

