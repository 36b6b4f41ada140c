"""What each e-mail says, as an intent: the template and the context it is rendered with when the
sender sends it (:mod:`ikuflow.notify.sender`). Nothing here renders; the context is what the
e-mail shows, as it was when the step was taken.

The context's variables are those of ``ikuflow.notify.render.CONTEXT_VARIABLES``; a Message-ID
is derived from the cause, so a retry of the same cause is the same message.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any, Callable, Iterable

from ikuflow.calendar import fmt_local, fmt_span
from ikuflow.engine import Action, Outcome
from ikuflow.store.db import fmt_ts
from ikuflow.store.documents import Intent

#: the keys of a reminder's context that make one item of a digest
ITEM_KEYS = ("document", "kind", "due", "overdue_by", "time_left", "must_act", "at")
#: role -> the (event, title) pairs it may fire in a state: :meth:`ikuflow.engine.Engine.actions`
Actions = dict[str, tuple[tuple[str, str], ...]]


def message_id(cause: str, domain: str) -> str:
    """A deterministic Message-ID: a retry of the same cause is the same message."""
    return f"<{hashlib.sha256(cause.encode()).hexdigest()[:32]}@{domain}>"


def document_view(key: str, title: str, office_name: str, division_name: str, year: int,
                  signing_date: str, state: str, state_title: str) -> dict[str, Any]:
    """The ``document`` variable of an e-mail."""
    return {"key": key, "title": title, "office_name": office_name, "division_name": division_name,
            "year": year, "signing_date": signing_date, "state": state, "state_title": state_title}


def _dumps(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _context_head(what: dict, ctx: dict) -> str:
    """The payload's JSON up to the recipient: ``what`` with ``"context": ctx`` left open."""
    return _dumps(what)[:-1] + ',"context":' + _dumps(ctx)[:-1]


def _actions_of(recipient: dict, actions: Actions, version: int) -> list[dict]:
    """What ``recipient`` may do now, under the role they are told as ('chair (acting)': chair):
    the e-mail's personal links are made of these when it is sent."""
    role = recipient["role"].split(" ", 1)[0]
    return [{"event": e, "title": t, "version": version} for e, t in actions.get(role, ())]


def _with_recipient(head: str, recipient: dict, must_act: bool, actions: list[dict]) -> str:
    """The payload of one recipient: the shared head, closed with who they are and what they
    may do (one JSON text, as ``_dumps({**what, "context": {**ctx, "recipient": ...,
    "you_must_act": ..., "actions": ...}})``)."""
    return (f'{head},"recipient":{_dumps(recipient)},"you_must_act":{"true" if must_act else "false"},'
            f'"actions":{json.dumps(actions, ensure_ascii=False, separators=(",", ":"))}}}}}')


def for_step(document: dict, out: Outcome, doc_id: int, version: int, tz: str, at: datetime,
             actor_name: str, acting_for_name: str | None,
             people: Callable[[Iterable[str]], list[dict]], domain: str, actions: Actions) -> list[Intent]:
    """One intent per person told of a step (or of a creation, ``version`` 0): who acted (for
    whom), the comment, the due time in the office's zone, who must act now, and what the
    recipient who must act may do (``actions``: by role, in the new state)."""
    if out.notice is None:
        return []
    told = people(out.notice.roles)
    if not told:
        return []
    must = people(out.notice.must_act)
    must_emails = {m["email"] for m in must}
    ts = fmt_ts(at)
    ctx = {"document": document,
           "actor": {"name": actor_name + (f" (a.n. / for {acting_for_name})" if out.acting_for else ""),
                     "email": out.actor},
           "event": {"name": out.event, "title": out.notice.event_title}, "comment": out.comment,
           "due": fmt_local(out.due_at, tz), "must_act": [m["name"] for m in must], "kind": "event",
           "overdue_by": "", "time_left": "", "items": []}
    what = {"key": document["key"], "event": out.event, "from": out.source, "to": out.dest,
            "actor": out.actor, "comment": out.comment, "at": ts}
    if out.event == "create":
        what = {"key": document["key"], "event": "create", "to": out.dest, "actor": out.actor, "at": ts}
    head = _context_head(what, ctx)
    intents = []
    for p in told:
        cause = f"create:{doc_id}:{p['email']}" if out.event == "create" else f"event:{doc_id}:{version}:{p['email']}"
        must_act = p["email"] in must_emails
        payload = _with_recipient(head, p, must_act, _actions_of(p, actions, version) if must_act else [])
        intents.append(Intent(doc_id, "event", cause, p["email"], out.notice.template, payload,
                              message_id(cause, domain), "pending", at))
    return intents


def reminder_item(document: dict, act: Action, due: datetime, tz: str, must_act: list[str]) -> dict[str, Any]:
    """What a reminder or escalation says of one document (one item of a digest)."""
    span = fmt_span(act.overdue_by)
    return {"document": document, "kind": act.kind, "due": fmt_local(due, tz),
            "overdue_by": span if act.kind == "escalation" else "",
            "time_left": span if act.kind == "reminder" else "", "must_act": must_act,
            "at": fmt_ts(act.at)}


def for_reminder(item: dict, doc_id: int, version: int, state: str, told: list[dict], at: datetime,
                 domain: str, actions: Actions) -> list[Intent]:
    """One held intent per person told of a reminder or escalation; the pass merges each
    person's held intents into one e-mail when its batches are done (:func:`digest`)."""
    kind = item["kind"]
    ctx = {**item, "actor": {"name": "", "email": ""}, "event": {"name": kind, "title": ""}, "comment": None,
           "items": []}
    intents = []
    for p in told:
        cause = f"{kind}:{doc_id}:{version}:{item['at']}:{p['email']}"
        head = _context_head({"key": item["document"]["key"], "kind": kind, "state": state, "at": item["at"],
                              "recipient_role": p["role"]}, ctx)
        must_act = p["name"] in item["must_act"] or p["role"].endswith("(acting)")
        payload = _with_recipient(head, p, must_act, _actions_of(p, actions, version) if must_act else [])
        intents.append(Intent(doc_id, kind, cause, p["email"], kind, payload, message_id(cause, domain),
                              "held", at))
    return intents


def digest(recipient: str, held: list[tuple[str, str]], at: datetime, domain: str) -> Intent:
    """One e-mail listing every held reminder and escalation (cause, payload) of one person."""
    contexts = [json.loads(payload)["context"] for _, payload in held]
    # most urgent first: by the action's time (UTC), then the document
    # (and what the recipient may do: none in a reminder held by a release before links)
    items = sorted(({**{k: c[k] for k in ITEM_KEYS}, "actions": c.get("actions", [])} for c in contexts), key=lambda it: (it["at"], it["document"]["key"]))
    causes = sorted(cause for cause, _ in held)
    cause = "digest:" + hashlib.sha256("|".join(causes).encode()).hexdigest()[:32]
    kind = "escalation" if any(it["kind"] == "escalation" for it in items) else "reminder"
    payload = _dumps({"kind": "digest", "causes": causes, "keys": [it["document"]["key"] for it in items],
                      "context": {"recipient": contexts[0]["recipient"], "items": items, "kind": kind}})
    return Intent(None, "digest", cause, recipient, "digest", payload, message_id(cause, domain), "pending", at)
