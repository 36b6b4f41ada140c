"""The document use cases through the API: every event, every refusal, one transaction each."""

from __future__ import annotations

import json
import sqlite3

import pytest

from conftest import ADMIN, CHAIR, COORD, COORD_HUKUM, NOBODY, OTHER_CHAIR, SECR, SIGNING, utc
from ikuflow.errors import Conflict, GuardFailed, NotAllowed, NotFound, RoleMissing, UsageError

WALK = [("submit", COORD, "division_review"), ("synchronize", SECR, "synchronized"),
        ("approve", CHAIR, "chair_approved"), ("sign", CHAIR, "signed")]
AT = {"submit": "2026-01-19T10:00+07:00", "synchronize": "2026-01-21T14:00+07:00",
      "approve": "2026-01-26T11:00+07:00", "sign": "2026-01-28T10:00+07:00"}


def counts(svc, key):
    doc_id = svc.con.execute("SELECT id FROM document WHERE key = ?", (key,)).fetchone()[0]
    h = svc.con.execute("SELECT count(*) FROM history WHERE document_id = ?", (doc_id,)).fetchone()[0]
    o = svc.con.execute("SELECT count(*) FROM outbox WHERE document_id = ? AND template <> 'create'",
                        (doc_id,)).fetchone()[0]
    return h, o


def test_walk_draft_to_signed_records_everything(svc, doc):
    for event, actor, state in WALK:
        res = svc.advance(doc, event, actor, at=utc(AT[event]))
        assert res["state"] == state
    st = svc.status(doc, at=utc("2026-01-28T11:00+07:00"))
    assert st["state"] == "signed" and st["final"] and st["version"] == 4
    assert st["overdue"] is False and st["must_act"] == [] and st["due_at"] is None
    hist = svc.history(doc)
    assert [h["event"] for h in hist] == ["create", "submit", "synchronize", "approve", "sign"]
    assert [h["to"] for h in hist] == ["draft", "division_review", "synchronized", "chair_approved", "signed"]
    assert [h["actor"] for h in hist[1:]] == [COORD, SECR, CHAIR, CHAIR]
    assert hist[1]["at"] == "2026-01-19T10:00:00+07:00"


def test_each_event_writes_the_outbox_rows_of_its_recipients(svc, doc):
    expected = {"submit": [SECR], "synchronize": [CHAIR], "approve": [CHAIR, COORD],
                "sign": [COORD, SECR]}
    for event, actor, _ in WALK:
        res = svc.advance(doc, event, actor, at=utc(AT[event]))
        assert res["notified"] == expected[event]
        rows = svc.con.execute("SELECT recipient, template, payload, message_id, status FROM outbox"
                               " WHERE template = ? ORDER BY id", (event,)).fetchall()
        assert [r[0] for r in rows] == expected[event]
        for recipient, template, payload, mid, status in rows:
            body = json.loads(payload)
            assert body["event"] == event and body["key"] == doc and body["actor"] == actor
            assert status == "pending" and mid.startswith("<") and mid.endswith(">")
    mids = [r[0] for r in svc.con.execute("SELECT message_id FROM outbox")]
    assert len(mids) == len(set(mids)) == 6 + 1  # and the coordinator's "created" e-mail


def test_creating_a_document_tells_the_coordinator(svc, doc):
    from ikuflow.notify.render import Renderer

    row = svc.con.execute("SELECT recipient, template, payload, body_text, status FROM outbox").fetchall()
    assert len(row) == 1
    recipient, template, payload, body, status = row[0]
    assert (recipient, template, status, body) == (COORD, "create", "pending", None)  # an intent
    mail = Renderer().render(template, json.loads(payload)["context"])  # as the sender will
    assert mail.subject == "[IKU] Dokumen IKU pacitan-sdmo-2026 dibuat: mohon disusun"
    assert "paling lambat 2026-01-21 16:00 WIB" in mail.text and "submit it by 2026-01-21 16:00 WIB" in mail.text


def test_send_back_needs_a_comment_and_records_it(svc, doc):
    svc.advance(doc, "submit", COORD, at=utc(AT["submit"]))
    for comment in (None, "", "   "):
        with pytest.raises(GuardFailed) as exc:
            svc.advance(doc, "send_back", SECR, comment=comment, at=utc("2026-01-20T09:00+07:00"))
        assert exc.value.exit_code == 4 and "comment" in str(exc.value)
    assert svc.status(doc)["state"] == "division_review"
    assert counts(svc, doc) == (2, 1)
    reason = "Indikator 2.3 belum sesuai Renstra"
    res = svc.advance(doc, "send_back", SECR, comment=f"  {reason} ", at=utc("2026-01-20T09:05+07:00"))
    assert res["state"] == "draft" and res["notified"] == [COORD]
    assert svc.history(doc)[-1]["comment"] == reason
    payload = json.loads(svc.con.execute("SELECT payload FROM outbox WHERE template = 'send_back'").fetchone()[0])
    assert payload["comment"] == reason


@pytest.mark.parametrize("source_steps", [1, 2, 3])
def test_send_back_from_every_allowed_state(svc, doc, source_steps):
    for event, actor, _ in WALK[:source_steps]:
        svc.advance(doc, event, actor, at=utc(AT[event]))
    res = svc.advance(doc, "send_back", CHAIR, comment="perbaiki", at=utc("2026-01-27T09:00+07:00"))
    assert res["from"] == WALK[source_steps - 1][2] and res["state"] == "draft"


def test_refusals_leave_the_document_untouched(svc, doc):
    before = (svc.status(doc)["version"], counts(svc, doc))
    cases = [
        (lambda: svc.advance("nope-sdmo-2026", "submit", COORD), NotFound, 3),
        (lambda: svc.advance(doc, "sumbit", COORD), NotFound, 3),
        (lambda: svc.advance(doc, "submit", "unknown@example.id"), NotFound, 3),
        (lambda: svc.advance(doc, "approve", CHAIR), NotAllowed, 4),
        (lambda: svc.advance(doc, "submit", COORD_HUKUM), RoleMissing, 5),   # other division
        (lambda: svc.advance(doc, "submit", NOBODY), RoleMissing, 5),        # no role at all
        (lambda: svc.advance(doc, "submit", OTHER_CHAIR), RoleMissing, 5),   # another office
        (lambda: svc.advance(doc, "submit", SECR), RoleMissing, 5),          # wrong role
        (lambda: svc.advance(doc, "submit", ""), UsageError, 2),
    ]
    for call, exc_type, code in cases:
        with pytest.raises(exc_type) as exc:
            call()
        assert exc.value.exit_code == code
    assert (svc.status(doc)["version"], counts(svc, doc)) == before
    assert svc.status(doc)["state"] == "draft"


def test_sign_is_refused_before_the_signing_date(svc, doc):
    for event, actor, _ in WALK[:3]:
        svc.advance(doc, event, actor, at=utc(AT[event]))
    with pytest.raises(GuardFailed, match="signing date"):
        svc.advance(doc, "sign", CHAIR, at=utc("2026-01-27T23:59+07:00"))
    assert svc.advance(doc, "sign", CHAIR, at=utc("2026-01-28T00:00+07:00"))["state"] == "signed"


def test_admin_may_fire_any_event(svc, doc):
    assert svc.advance(doc, "submit", ADMIN, at=utc(AT["submit"]))["state"] == "division_review"


def test_stale_version_is_a_conflict(svc, doc):
    with pytest.raises(Conflict) as exc:
        svc.advance(doc, "submit", COORD, expected_version=3)
    assert exc.value.exit_code == 6
    assert svc.advance(doc, "submit", COORD, expected_version=0, at=utc(AT["submit"]))["version"] == 1


def test_two_writers_racing_on_one_document_one_wins(svc, doc, monkeypatch):
    """Both read version 0; the rival commits while we decide; we get Conflict and write nothing."""
    from ikuflow.engine import Engine
    from ikuflow.app.service import Service

    other = Service()
    real_fire = Engine.fire
    fired = []

    def fire_while_rival_commits(self, *args, **kwargs):
        if not fired:
            fired.append(None)  # the rival's own fire must not recurse into this
            fired[0] = other.advance(doc, "submit", COORD, at=utc(AT["submit"]))
        return real_fire(self, *args, **kwargs)

    monkeypatch.setattr(Engine, "fire", fire_while_rival_commits)
    try:
        with pytest.raises(Conflict, match="changed while you were acting"):
            svc.advance(doc, "submit", COORD, at=utc(AT["submit"]))
    finally:
        other.close()
    assert fired[0]["state"] == "division_review"
    assert svc.status(doc)["version"] == 1
    assert counts(svc, doc) == (2, 1)


@pytest.mark.backends("sqlite")  # a stale WAL snapshot; PostgreSQL's row locks never see one
def test_a_busy_database_does_not_fail_an_unrelated_transition(svc, doc, monkeypatch):
    """Another writer commits a different document while we decide: we go through, deciding once
    (the read is not part of the write transaction; the write checks the version read)."""
    from ikuflow.engine import Engine
    from ikuflow.app.service import Service

    svc.new("pacitan", "hukum", 2026, SIGNING, COORD_HUKUM, at=utc("2026-01-12T09:00+07:00"))
    other = Service()
    real_fire = Engine.fire
    calls = []

    def fire_while_rival_commits(self, d, *args, **kwargs):
        calls.append(d.key)
        if len(calls) == 1:
            other.advance("pacitan-hukum-2026", "submit", COORD_HUKUM, at=utc(AT["submit"]))
        return real_fire(self, d, *args, **kwargs)

    monkeypatch.setattr(Engine, "fire", fire_while_rival_commits)
    try:
        assert svc.advance(doc, "submit", COORD, at=utc(AT["submit"]))["version"] == 1
    finally:
        other.close()
    assert calls.count(doc) == 1  # nothing to retry: the rival's commit does not touch this document
    assert counts(svc, doc) == (2, 1)


def test_a_failure_inside_the_transaction_rolls_everything_back(svc, doc):
    from ikuflow.store.db import dialect

    if dialect(svc.con) == "postgresql":  # the last write of the transition fails
        svc.con.execute("ALTER TABLE outbox ADD CONSTRAINT boom CHECK (recipient = 'nobody') NOT VALID")
    else:
        svc.con.execute("CREATE TRIGGER boom BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'boom'); END")
    from ikuflow.errors import StoreError

    with pytest.raises(StoreError):  # the store's own error on both backends, the driver's as its cause
        svc.advance(doc, "submit", COORD, at=utc(AT["submit"]))
    assert svc.status(doc)["state"] == "draft"
    assert counts(svc, doc) == (1, 0)


def test_new_validates_and_refuses_duplicates(svc, doc):
    with pytest.raises(Conflict, match="already exists"):
        svc.new("pacitan", "sdmo", 2026, SIGNING, COORD)
    with pytest.raises(NotFound):
        svc.new("atlantis", "sdmo", 2026, SIGNING, COORD)
    with pytest.raises(NotFound):
        svc.new("pacitan", "astrologi", 2026, SIGNING, COORD)
    with pytest.raises(NotFound):
        svc.new("pacitan", "sdmo", 2027, SIGNING, COORD, workflow="nope")
    with pytest.raises(RoleMissing):
        svc.new("pacitan", "sdmo", 2027, SIGNING, COORD_HUKUM)
    with pytest.raises(UsageError):
        svc.new("pacitan", "sdmo", 1900, SIGNING, COORD)
    assert svc.con.execute("SELECT count(*) FROM document").fetchone()[0] == 1


def test_status_due_and_who_must_act(svc, doc):
    st = svc.status(doc, at=utc("2026-01-20T08:00+07:00"))
    # draft is due 5 working days before 28 January 2026: Wednesday 21 January, 16:00 WIB
    assert st["due_at"] == "2026-01-21T16:00:00+07:00" and st["overdue"] is False
    assert [p["email"] for p in st["must_act"]] == [COORD]
    late = svc.status(doc, at=utc("2026-01-22T09:00+07:00"))
    assert late["overdue"] is True and late["time_left"].startswith("-")
    assert {r["key"] for r in svc.list(overdue=True, at=utc("2026-01-22T09:00+07:00"))} == {doc}
    assert svc.list(overdue=True, at=utc("2026-01-20T09:00+07:00")) == []


def test_due_times_are_local_to_the_office(svc):
    from ikuflow import admin

    admin.add_person(OTHER_CHAIR, None, "secretariat", "badung")
    svc.new("badung", "sdmo", 2026, SIGNING, OTHER_CHAIR, at=utc("2026-01-12T09:00+07:00"))
    svc.new("pacitan", "sdmo", 2026, SIGNING, COORD, at=utc("2026-01-12T09:00+07:00"))
    badung, pacitan = svc.status("badung-sdmo-2026"), svc.status("pacitan-sdmo-2026")
    assert badung["due_at"] == "2026-01-21T16:00:00+08:00"
    assert pacitan["due_at"] == "2026-01-21T16:00:00+07:00"


def test_list_filters(svc, doc):
    svc.new("pacitan", "hukum", 2026, SIGNING, COORD_HUKUM)
    svc.advance(doc, "submit", COORD, at=utc(AT["submit"]))
    assert [r["key"] for r in svc.list(state="division_review")] == [doc]
    assert [r["key"] for r in svc.list(division="hukum")] == ["pacitan-hukum-2026"]
    assert len(svc.list(office="pacitan", year=2026)) == 2
    assert svc.list(office="badung") == []
    with pytest.raises(NotFound):
        svc.list(office="atlantis")


def test_history_until(svc, doc):
    svc.advance(doc, "submit", COORD, at=utc(AT["submit"]))
    assert len(svc.history(doc, until=utc("2026-01-15T00:00+07:00"))) == 1
    assert len(svc.history(doc)) == 2
