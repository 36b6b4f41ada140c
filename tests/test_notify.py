"""E-mail notifications end to end (PRODUCT.md section 4): what is rendered into the outbox,
what a real SMTP server (aiosmtpd on a loopback port, see ``smtp_peer.py``) receives, and
the delivery guarantees under faults, leases and killed sender processes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import shutil
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from conftest import (CHAIR, COORD, COORD_HUKUM, ROOT, SECR, SIGNING, db, hold_write_lock, rows_as_dicts,
                      run_ikuflow, utc)
from smtp_peer import DROP, Peer, free_port, self_signed, server_tls_context
from test_multinode import waiting_on_lock  # a process blocked on a write lock, on either backend

KEY = "pacitan-sdmo-2026"
MAIL_FROM = "ikuflow@bawaslu.example.id"
USER, SECRET = "operator", "s3cret-Kata-Sandi-9"
EKO = "eko@pacitan.example.id"  # coordinator pacitan/penanganan
STEPS = [("submit", COORD, "2026-01-19T10:00+07:00"), ("synchronize", SECR, "2026-01-21T14:00+07:00"),
         ("approve", CHAIR, "2026-01-26T11:00+07:00"), ("sign", CHAIR, "2026-01-28T10:00+07:00")]
SUBJECTS = {"submit": "[IKU] {} diajukan untuk ditelaah",
            "send_back": "[IKU] {} dikembalikan untuk diperbaiki",
            "synchronize": "[IKU] {} telah disinkronkan dan menunggu persetujuan",
            "approve": "[IKU] {} disetujui ketua",
            "sign": "[IKU] {} telah ditandatangani"}
NAMES = {COORD: "Sri Wahyuni", SECR: "Budi Santoso", CHAIR: "Ahmad Fauzi"}
SEPARATOR = "\n\n" + "-" * 60 + "\n\n"


# --- fixtures and helpers -------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _shipped_templates_and_no_smtp_settings_from_the_shell(monkeypatch):
    for name in ("IKUFLOW_NOTIFICATIONS", "IKUFLOW_MAIL_LANGS", "IKUFLOW_SMTP_USER",
                 "IKUFLOW_SMTP_PASSWORD", "IKUFLOW_SMTP_CONNECTIONS", "IKUFLOW_SMTP_MAX_ATTEMPTS",
                 "IKUFLOW_SMTP_LEASE", "IKUFLOW_SMTP_RETRY_MAX", "SSL_CERT_FILE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def smtp_port(monkeypatch) -> int:
    """SMTP settings for a server on a reserved loopback port, with quick retries."""
    port = free_port()
    monkeypatch.setenv("IKUFLOW_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("IKUFLOW_SMTP_PORT", str(port))
    monkeypatch.setenv("IKUFLOW_SMTP_TLS", "off")
    monkeypatch.setenv("IKUFLOW_SMTP_RETRY_BASE", "0.05")
    monkeypatch.setenv("IKUFLOW_SMTP_TIMEOUT", "10")
    monkeypatch.setenv("IKUFLOW_MAIL_FROM", MAIL_FROM)
    return port


@pytest.fixture
def peer(smtp_port):
    p = Peer(smtp_port).start()
    yield p
    p.stop()


@pytest.fixture
def down_peer(smtp_port):
    """The server of ``smtp_port``, not started yet: it is down until the test starts it."""
    p = Peer(smtp_port)
    yield p
    p.stop()


@pytest.fixture
def templates(tmp_path, monkeypatch) -> Path:
    """A copy of the shipped templates, used through IKUFLOW_NOTIFICATIONS (free to break)."""
    folder = tmp_path / "tpl"
    shutil.copytree(ROOT / "notifications", folder)
    monkeypatch.setenv("IKUFLOW_NOTIFICATIONS", str(folder))
    return folder


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    return self_signed(tmp_path_factory.mktemp("tls"))


def outbox(where: str = "1 = 1", args=()) -> list[dict]:
    con = db()
    try:
        return rows_as_dicts(con.execute(f"SELECT * FROM outbox WHERE {where} ORDER BY id", args))
    finally:
        con.close()


def counts(key: str = KEY) -> tuple:
    """(state, version, history rows, outbox rows) of a document."""
    con = db()
    try:
        doc_id, state, version = con.execute("SELECT id, state, version FROM document WHERE key = ?",
                                             (key,)).fetchone()
        return (state, version,
                con.execute("SELECT count(*) FROM history WHERE document_id = ?", (doc_id,)).fetchone()[0],
                con.execute("SELECT count(*) FROM outbox WHERE document_id = ?", (doc_id,)).fetchone()[0])
    finally:
        con.close()


def walk(svc, steps: int, key: str = KEY) -> None:
    for event, actor, at in STEPS[:steps]:
        svc.advance(key, event, actor, at=utc(at))


def deliver(limit: float = 20.0) -> dict:
    """Run the sender until no row is pending (all sent or dead); the summed counts."""
    from ikuflow.notify.sender import send_once

    total: Counter = Counter()
    end = time.monotonic() + limit
    while True:
        res = send_once()
        total.update({k: res[k] for k in ("sent", "retried", "dead", "claimed")})
        if not outbox("status = 'pending'"):
            return dict(total)
        assert time.monotonic() < end, f"still pending after {limit} s: {outbox()}"
        time.sleep(0.05)


def flush(peer) -> None:
    """Deliver what is queued already (creating a document may tell its coordinator), then
    start the peer's records afresh: the test looks at its own e-mails only."""
    deliver()
    peer.reset()


def utc_text(moment: datetime) -> str:
    """A naive UTC datetime (as the outbox stores them) as an ``--at`` value."""
    return moment.isoformat() + "+00:00"


def wait_for(condition, what: str, limit: float = 20.0) -> None:
    end = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.02)


def sender_process() -> subprocess.Popen:
    """``ikuflow outbox send`` as a real process, with this test's environment."""
    exe = Path(sys.executable).with_name("ikuflow")
    return subprocess.Popen([str(exe), "outbox", "send", "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ),
                            stdin=subprocess.DEVNULL)


def by_mid(peer) -> dict:
    got = {r.mid: r for r in peer.received}
    assert len(got) == len(peer.received), Counter(peer.mids)
    return got


# --- content --------------------------------------------------------------------------------
def test_each_event_mails_its_recipients_in_bahasa_then_english(svc, doc, peer, cli):
    from ikuflow.notify.render import Renderer

    reason = "Indikator 2.3 belum sesuai Renstra"
    svc.advance(doc, "submit", COORD, at=utc("2026-01-19T10:00+07:00"))
    svc.advance(doc, "send_back", SECR, comment=reason, at=utc("2026-01-20T09:00+07:00"))
    svc.advance(doc, "submit", COORD, at=utc("2026-01-20T10:00+07:00"))
    for event, actor, at in STEPS[1:]:
        svc.advance(doc, event, actor, at=utc(at))
    rows = outbox("template <> 'create'")  # creating the document may tell its coordinator too
    assert [(r["template"], r["recipient"]) for r in rows] == [
        ("submit", SECR), ("send_back", COORD), ("submit", SECR), ("synchronize", CHAIR),
        ("approve", CHAIR), ("approve", COORD), ("sign", COORD), ("sign", SECR)]
    assert deliver()["sent"] == len(outbox())
    got = by_mid(peer)
    assert set(got) == {r["message_id"] for r in outbox()}
    for row in outbox():
        mail = got[row["message_id"]]
        assert row["status"] == "sent" and row["attempts"] == 1
        assert mail.rcpt_tos == [row["recipient"]] and mail.msg["To"] == row["recipient"]
        assert mail.msg["From"] == MAIL_FROM and mail.msg["Message-ID"] == row["message_id"]
        assert mail.msg["Subject"] == row["subject"]
        if row["template"] in SUBJECTS:
            assert row["subject"] == SUBJECTS[row["template"]].format(KEY)
        sent = Renderer().render(row["template"], json.loads(row["payload"])["context"])  # the intent
        assert row["body_text"] is None and mail.text == sent.text and mail.html == sent.html
        name = NAMES[row["recipient"]]
        # Bahasa Indonesia first, then English, in both parts
        assert mail.text.startswith(f"Yth. {name},")
        assert mail.text.index(SEPARATOR) < mail.text.index(f"Dear {name},")
        assert mail.html.index(f"Yth. {name}") < mail.html.index(f"Dear {name}")
        assert KEY in mail.text and KEY in mail.html
    submit, send_back = got[rows[0]["message_id"]], got[rows[1]["message_id"]]
    assert "Batas waktu langkah ini: 2026-01-23 16:00 WIB." in submit.text
    assert "This step is due by 2026-01-23 16:00 WIB." in submit.text
    assert f"ikuflow advance {KEY} synchronize" in submit.text  # the secretariat must act
    # the reason is quoted, in both languages
    assert f"Alasan:\n> {reason}" in send_back.text and f"Reason:\n> {reason}" in send_back.text
    assert send_back.html.count(f">{reason}</blockquote>") == 2
    assert "2026-01-21 16:00 WIB" in send_back.text
    shown = json.loads(cli("outbox", "show", str(rows[1]["id"]), "--json").stdout)
    assert (shown["to"], shown["status"], shown["message_id"]) == (COORD, "sent", rows[1]["message_id"])
    assert shown["text"] == send_back.text and shown["html"] == send_back.html


def test_the_due_time_is_in_the_office_zone(svc, peer):
    from ikuflow import admin

    coord, secr = "komang@badung.example.id", "wayan@badung.example.id"
    admin.add_person(coord, "Komang Ayu", "coordinator", "badung", "sdmo")
    admin.add_person(secr, "Wayan Sudarta", "secretariat", "badung")
    svc.new("badung", "sdmo", 2026, SIGNING, coord, at=utc("2026-01-12T09:00+08:00"))
    svc.advance("badung-sdmo-2026", "submit", coord, at=utc("2026-01-19T10:00+08:00"))
    deliver()
    [mail] = [m for m in peer.received if m.rcpt_tos == [secr]]
    for part in (mail.text, mail.html):
        assert "2026-01-23 16:00 WITA" in part
    for m in peer.received:  # the coordinator's e-mails too, if any: never Java's zone
        assert "WIB" not in m.text + m.html


def test_the_html_part_escapes_titles_and_comments(svc, peer):
    title = "IKU <script>alert('judul')</script> & Renstra"
    comment = "<script>alert('alasan')</script> lihat <b>tabel 2</b>"
    svc.new("pacitan", "sdmo", 2026, SIGNING, COORD, title=title, at=utc("2026-01-12T09:00+07:00"))
    svc.advance(KEY, "submit", COORD, at=utc("2026-01-19T10:00+07:00"))
    svc.advance(KEY, "send_back", SECR, comment=comment, at=utc("2026-01-20T09:00+07:00"))
    deliver()
    got = by_mid(peer)
    assert len(got) == len(outbox()) >= 2
    for mail in got.values():
        assert "<script>" not in mail.html and "<b>tabel" not in mail.html
        assert "IKU &lt;script&gt;alert(&#39;judul&#39;)&lt;/script&gt; &amp; Renstra" in mail.html
        assert title in mail.text  # plain text is shown as text, nothing to escape
    [back_row] = outbox("template = 'send_back'")
    back = got[back_row["message_id"]]
    assert "&lt;script&gt;alert(&#39;alasan&#39;)&lt;/script&gt; lihat &lt;b&gt;tabel 2&lt;/b&gt;" in back.html
    assert f"> {comment}" in back.text


def test_line_breaks_in_a_title_or_comment_cannot_inject_a_header(templates, svc, peer):
    # subjects that carry user text (the shipped ones carry only the key)
    (templates / "id" / "submit.subject").write_text("[IKU] {{ document.title }} diajukan\n")
    (templates / "id" / "send_back.subject").write_text("[IKU] {{ document.title }} — {{ comment }}\n")
    title = "IKU SDMO\r\nBcc: mallory@evil.example\r\nX-Injected: judul"
    comment = "Perbaiki\r\nBcc: mallory@evil.example\n\nX-Injected: alasan\r\n.\r\nMAIL FROM:<x@evil.example>"
    svc.new("pacitan", "sdmo", 2026, SIGNING, COORD, title=title, at=utc("2026-01-12T09:00+07:00"))
    svc.advance(KEY, "submit", COORD, at=utc("2026-01-19T10:00+07:00"))
    svc.advance(KEY, "send_back", SECR, comment=comment, at=utc("2026-01-20T09:00+07:00"))
    assert deliver()["sent"] == len(outbox()) >= 2
    rows = outbox()  # (the subject each was sent with is kept)
    got = by_mid(peer)
    for row in rows:
        mail = got[row["message_id"]]
        assert "\n" not in row["subject"] and "\r" not in row["subject"]
        if row["template"] in ("submit", "send_back"):  # kept as text, on the one line
            assert "Bcc: mallory@evil.example" in row["subject"]
        names = [n.lower() for n in mail.header_names]
        assert names.count("subject") == 1 and names.count("to") == 1
        assert not {"bcc", "x-injected", "mail from"} & set(names), names
        assert mail.msg["Subject"] == row["subject"]
        assert mail.rcpt_tos == [row["recipient"]]
    assert len(peer.received) == peer.rcpt_calls == len(rows)


# --- digests ---------------------------------------------------------------------------------
def test_several_overdue_documents_one_digest_per_person(svc, peer):
    from ikuflow import admin

    admin.add_person(EKO, "Eko Prasetyo", "coordinator", "pacitan", "penanganan")
    keys = []
    for division, coord in (("sdmo", COORD), ("hukum", COORD_HUKUM), ("penanganan", EKO)):
        keys.append(svc.new("pacitan", division, 2026, SIGNING, coord, at=utc("2026-01-12T09:00+07:00"))["key"])
    flush(peer)
    res = svc.tick(at=datetime(2026, 1, 25, 12))
    assert res["escalations"] == 3
    deliver()
    # the secretariat and the chair: one digest each; each coordinator: their own escalation
    assert sorted(r for m in peer.received for r in m.rcpt_tos) == sorted([SECR, CHAIR, COORD, COORD_HUKUM, EKO])
    [digest] = [m for m in peer.received if m.rcpt_tos == [SECR]]
    assert digest.msg["Subject"] == "[IKU] 3 dokumen menunggu tindakan Anda"
    for key in keys:
        assert key in digest.text and key in digest.html
    assert digest.text.index("TERLAMBAT") < digest.text.index("OVERDUE by")
    assert {r["message_id"] for r in outbox("status = 'sent' AND kind <> 'event'")} == set(by_mid(peer))
    assert {r["status"] for r in outbox("kind <> 'digest' AND recipient IN (?, ?)", (SECR, CHAIR))} == {"merged"}
    # the next pass at the same time adds nothing, so nothing more is sent
    assert svc.tick(at=datetime(2026, 1, 25, 12, 30))["emails"] == 0
    assert deliver()["sent"] == 0 and len(peer.received) == 5


def three_overdue_documents(svc) -> list[str]:
    from ikuflow import admin

    admin.add_person(EKO, "Eko Prasetyo", "coordinator", "pacitan", "penanganan")
    return [svc.new("pacitan", division, 2026, SIGNING, coord, at=utc("2026-01-12T09:00+07:00"))["key"]
            for division, coord in (("sdmo", COORD), ("hukum", COORD_HUKUM), ("penanganan", EKO))]


def test_one_digest_per_person_per_pass_even_across_batches(svc, peer):
    """PRODUCT.md: one digest per person per tick, whatever the batch size."""
    keys = three_overdue_documents(svc)
    flush(peer)
    res = svc.tick(at=datetime(2026, 1, 25, 12), batch=1)
    assert res["batches"] >= 3 and res["escalations"] == 3
    deliver()
    assert sorted(r for m in peer.received for r in m.rcpt_tos) == sorted([SECR, CHAIR, COORD, COORD_HUKUM, EKO])
    [digest] = [m for m in peer.received if m.rcpt_tos == [SECR]]
    assert all(key in digest.text for key in keys)
    assert outbox("status = 'held'") == []


def test_reminders_held_by_a_pass_that_died_go_out_with_the_next_pass(svc, peer, monkeypatch):
    from ikuflow.app import scheduling

    keys = three_overdue_documents(svc)
    flush(peer)

    def die(svc, now):
        raise KeyboardInterrupt("killed after its batches, before merging")

    with monkeypatch.context() as m:
        m.setattr(scheduling, "send_held", die)
        with pytest.raises(KeyboardInterrupt):
            svc.tick(at=datetime(2026, 1, 25, 12))
    held = outbox("status = 'held'")
    assert len(held) == 3 * 3 and deliver()["sent"] == 0  # committed, not sendable yet
    res = svc.tick(at=datetime(2026, 1, 25, 12, 5))  # nothing new is due: only the held rows
    assert res["escalations"] == 0 and res["emails"] == 5
    deliver()
    assert sorted(r for m in peer.received for r in m.rcpt_tos) == sorted([SECR, CHAIR, COORD, COORD_HUKUM, EKO])
    [digest] = [m for m in peer.received if m.rcpt_tos == [SECR]]
    assert all(key in digest.text for key in keys)


# --- faults ----------------------------------------------------------------------------------
@pytest.mark.parametrize("stage", ["RCPT", "DATA"])
def test_a_4xx_reply_is_retried_and_delivered_once(svc, doc, peer, stage):
    flush(peer)
    walk(svc, 1)
    if stage == "RCPT":
        peer.on_rcpt = lambda n, address: "451 4.3.0 mailbox busy, try later" if n == 1 else None
    else:
        peer.on_data = lambda n, server, envelope: "451 4.3.0 queue full, try later" if n == 1 else None
    res = deliver()
    assert res["sent"] == 1 and res["retried"] == 1 and res["dead"] == 0
    [row] = outbox("template = 'submit'")
    assert (row["status"], row["attempts"], row["last_error"]) == ("sent", 2, None)
    assert peer.mids == [row["message_id"]]
    assert peer.rcpt_calls == 2


@pytest.mark.parametrize("stage", ["RCPT", "DATA"])
def test_a_5xx_reply_is_dead_until_an_operator_retries_it(svc, doc, peer, cli, stage):
    flush(peer)
    walk(svc, 1)
    refuse = [True]
    if stage == "RCPT":
        peer.on_rcpt = lambda n, address: "550 5.1.1 mailbox unavailable" if refuse[0] else None
    else:
        peer.on_data = lambda n, server, envelope: "550 5.7.1 message refused by policy" if refuse[0] else None
    res = deliver()
    assert res["dead"] == 1 and res["sent"] == 0 and res["retried"] == 0
    [row] = outbox("template = 'submit'")
    assert row["status"] == "dead" and row["attempts"] == 1
    assert "550" in row["last_error"]
    assert peer.received == []

    r = cli("outbox", "list", "--status", "dead", "--json")
    assert r.exit_code == 0
    [listed] = json.loads(r.stdout)
    assert listed["id"] == row["id"] and listed["recipient"] == SECR and listed["status"] == "dead"
    assert listed["last_error"] == row["last_error"] and listed["message_id"] == row["message_id"]
    assert json.loads(cli("outbox", "list", "--status", "pending", "--json").stdout) == []

    refuse[0] = False  # the operator fixed the mailbox
    r = cli("outbox", "retry", "--dead")
    assert r.exit_code == 0 and r.stdout.strip() == "1 e-mail(s) queued again"
    [row] = outbox("template = 'submit'")
    assert row["status"] == "pending" and row["attempts"] == 0
    r = cli("outbox", "send", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["sent"] == 1
    [row] = outbox("template = 'submit'")
    assert row["status"] == "sent" and row["attempts"] == 1
    assert peer.mids == [row["message_id"]]


def test_server_down_for_the_first_attempts_then_everything_delivered_once(svc, doc, down_peer):
    from ikuflow.notify.sender import send_once

    walk(svc, 3)  # four e-mails, and the creation's if any
    end = time.monotonic() + 20
    while min(r["attempts"] for r in outbox()) < 2:  # two failed attempts each at least
        assert send_once()["sent"] == 0
        assert time.monotonic() < end
        time.sleep(0.05)
    rows = outbox()
    assert len(rows) >= 4 and {r["status"] for r in rows} == {"pending"}
    assert all(r["last_error"] for r in rows)
    down_peer.start()
    assert deliver()["sent"] == len(rows)
    rows = outbox()
    assert {r["status"] for r in rows} == {"sent"} and min(r["attempts"] for r in rows) >= 3
    assert sorted(down_peer.mids) == sorted(r["message_id"] for r in rows)  # each exactly once


def test_a_connection_dropped_in_the_middle_of_data_is_retried(svc, doc, peer):
    flush(peer)
    walk(svc, 3)
    peer.on_data = lambda n, server, envelope: DROP if n == 1 else None
    res = deliver()
    assert res["sent"] == 4 and res["retried"] == 1
    rows = outbox("template <> 'create'")
    assert sorted(peer.mids) == sorted(r["message_id"] for r in rows)  # the dropped one was not accepted
    assert Counter(peer.mids).most_common(1)[0][1] == 1
    assert sorted(r["attempts"] for r in rows) == [1, 1, 1, 2] and peer.data_calls == 5
    assert {r["status"] for r in rows} == {"sent"}


def test_too_many_attempts_go_dead(svc, doc, peer, monkeypatch):
    monkeypatch.setenv("IKUFLOW_SMTP_MAX_ATTEMPTS", "3")
    flush(peer)
    walk(svc, 1)
    peer.on_rcpt = lambda n, address: "452 4.2.2 mailbox full"
    res = deliver()
    assert res["dead"] == 1 and res["retried"] == 2 and res["sent"] == 0
    [row] = outbox("template = 'submit'")
    assert row["status"] == "dead" and row["attempts"] == 3 and "452" in row["last_error"]
    assert peer.rcpt_calls == 3 and peer.received == []


def test_a_refused_recipient_does_not_hold_up_the_others_on_one_connection(svc, doc, peer, monkeypatch):
    monkeypatch.setenv("IKUFLOW_SMTP_CONNECTIONS", "1")
    flush(peer)
    walk(svc, 3)  # secretariat, chair, chair, coordinator
    peer.on_rcpt = lambda n, address: "550 5.1.1 no such user" if address == CHAIR else None
    deliver()
    status = {(r["recipient"], r["template"]): r["status"] for r in outbox("template <> 'create'")}
    assert status == {(SECR, "submit"): "sent", (CHAIR, "synchronize"): "dead",
                      (CHAIR, "approve"): "dead", (COORD, "approve"): "sent"}
    assert sorted(r for m in peer.received for r in m.rcpt_tos) == sorted([SECR, COORD])


def test_a_server_that_does_not_answer_in_time_is_retried(svc, doc, peer, monkeypatch):
    """The first attempt's RCPT is never answered (the peer holds it until the client hangs up),
    so that attempt runs out of its envelope time limit however fast the machine is; the retry,
    sent when it is due and with time enough, delivers the e-mail once."""
    from ikuflow.notify.sender import send_once
    from ikuflow.store.db import parse_ts

    flush(peer)
    walk(svc, 1)
    monkeypatch.setenv("IKUFLOW_SMTP_TIMEOUT", "1")
    monkeypatch.setenv("IKUFLOW_SMTP_RETRY_BASE", "3600")  # the retry is not due again in this pass
    peer.on_rcpt = lambda n, address: peer.hold()
    first = send_once()
    assert (first["claimed"], first["sent"], first["retried"], first["dead"]) == (1, 0, 1, 0)
    [row] = outbox("template = 'submit'")
    assert (row["status"], row["attempts"], row["last_error"]) == ("pending", 1, "no answer within 1 s")
    assert peer.received == []

    peer.on_rcpt = None
    monkeypatch.setenv("IKUFLOW_SMTP_TIMEOUT", "30")
    retry = send_once(at=parse_ts(row["next_attempt_at"]))  # the clock at the retry's due time
    assert (retry["claimed"], retry["sent"], retry["retried"], retry["dead"]) == (1, 1, 0, 0)
    [row] = outbox("template = 'submit'")
    assert (row["status"], row["attempts"], row["last_error"]) == ("sent", 2, None)
    assert peer.mids == [row["message_id"]]
    assert (peer.rcpt_calls, peer.hung_up) == (2, 1)  # the first RCPT was held until the client gave up


def test_a_final_reply_that_comes_late_is_a_delivery_not_a_retry(svc, doc, peer, monkeypatch):
    """The soak found it: a server that has queued the message but sends its 250 after the
    envelope time limit got the message twice. The final reply now has its own, RFC 5321
    length limit; only a reply later than that is retried."""
    monkeypatch.setenv("IKUFLOW_SMTP_TIMEOUT", "0.5")
    monkeypatch.setenv("IKUFLOW_SMTP_REPLY_TIMEOUT", "60")
    flush(peer)
    walk(svc, 1)

    async def queue_then_answer_late(n, server, envelope):
        # the server's slowness under test, not a wait for anything: at least three times the
        # envelope limit (a sender that applied that limit here would send the message again)
        await asyncio.sleep(1.5)
        return None

    peer.on_data = queue_then_answer_late
    res = deliver()
    [row] = outbox("template = 'submit'")
    assert row["status"] == "sent" and res["sent"] == 1 and res["dead"] == 0
    # one DATA, answered late and taken as the delivery; a retry can only come from an envelope
    # that a busy machine did not finish within 0.5 s, before any DATA
    assert peer.data_calls == 1 and peer.mids == [row["message_id"]]
    assert row["attempts"] == res["retried"] + 1


def test_a_final_reply_later_than_its_limit_is_retried(svc, doc, peer, monkeypatch):
    """The server queues the first copy but never sends its final reply (the peer holds it until
    the client hangs up): the sender gives up after the reply limit, however fast the machine,
    and the retry sends the message again, under the same Message-ID (README, E-mail)."""
    from ikuflow.notify.sender import send_once
    from ikuflow.store.db import parse_ts

    flush(peer)
    walk(svc, 1)
    monkeypatch.setenv("IKUFLOW_SMTP_TIMEOUT", "30")  # the envelope limit never runs out here
    monkeypatch.setenv("IKUFLOW_SMTP_REPLY_TIMEOUT", "1")
    monkeypatch.setenv("IKUFLOW_SMTP_RETRY_BASE", "3600")  # the retry is not due again in this pass
    peer.on_data = lambda n, server, envelope: peer.hold(envelope)
    first = send_once()
    assert (first["claimed"], first["sent"], first["retried"], first["dead"]) == (1, 0, 1, 0)
    [row] = outbox("template = 'submit'")
    assert (row["status"], row["attempts"]) == ("pending", 1) and "Timeout" in row["last_error"]

    peer.on_data = None
    monkeypatch.setenv("IKUFLOW_SMTP_REPLY_TIMEOUT", "30")
    retry = send_once(at=parse_ts(row["next_attempt_at"]))  # the clock at the retry's due time
    assert (retry["claimed"], retry["sent"], retry["retried"], retry["dead"]) == (1, 1, 0, 0)
    [row] = outbox("template = 'submit'")
    assert (row["status"], row["attempts"], row["last_error"]) == ("sent", 2, None)
    # the copy the server queued without answering, then the retry's: one message, twice
    assert (peer.data_calls, peer.hung_up) == (2, 1)
    assert peer.mids == [row["message_id"]] * 2
    first_copy, second_copy = peer.received
    assert (first_copy.msg["Subject"], first_copy.text, first_copy.rcpt_tos) == (
        second_copy.msg["Subject"], second_copy.text, second_copy.rcpt_tos)


def test_an_address_the_sender_cannot_encode_does_not_poison_the_outbox(svc, doc, peer, monkeypatch):
    """'person add' refuses an address SMTP cannot carry; one that got into the database anyway
    must end dead, and every other e-mail must still go out exactly once."""
    import pytest

    from ikuflow import admin
    from ikuflow.errors import UsageError

    odd = "wayan.sudarsá@pacitan.example.id"
    with pytest.raises(UsageError):
        admin.add_person(odd, "Wayan Sudarsa", "secretariat", "pacitan")
    pid = svc.con.execute("INSERT INTO person (email, name) VALUES (?, ?) RETURNING id",
                          (odd, "Wayan Sudarsa")).fetchone()[0]
    svc.con.execute("INSERT INTO role_assignment (person_id, role, office_code) VALUES (?, 'secretariat', 'pacitan')",
                    (pid,))
    svc.con.execute("UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)"
                    " WHERE key = 'directory_version'")  # as admin does
    monkeypatch.setenv("IKUFLOW_SMTP_CONNECTIONS", "1")  # one connection: Budi's e-mail goes first
    flush(peer)
    walk(svc, 1)
    assert [r["recipient"] for r in outbox("status = 'pending'")] == [SECR, odd]
    runs = [run_ikuflow("outbox", "send") for _ in range(2)]
    [budi] = outbox("recipient = ?", (SECR,))
    assert Counter(peer.mids)[budi["message_id"]] == 1, "Budi's e-mail was sent more than once"
    assert budi["status"] == "sent"
    assert outbox("recipient = ?", (odd,))[0]["status"] == "dead"
    for p in runs:
        assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr[-300:]


def test_a_mail_from_with_a_non_ascii_name_is_sent_with_the_name_encoded(svc, doc, peer, monkeypatch):
    """A display name with a non-ASCII character is legal as an RFC 2047 encoded word, and the
    address itself is ASCII: the e-mail goes out, ASCII on the wire, the name read back as typed."""
    flush(peer)
    monkeypatch.setenv("IKUFLOW_MAIL_FROM", "Bawaslu Pacitan – Notifikasi <ikuflow@bawaslu.example.id>")
    walk(svc, 1)
    [row] = outbox("status = 'pending'")
    p = run_ikuflow("outbox", "send", "--json")
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr[-300:]
    assert json.loads(p.stdout)["sent"] == 1
    [mail] = peer.received
    assert mail.mid == row["message_id"] and mail.mail_from == "ikuflow@bawaslu.example.id"
    [sender] = mail.msg["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("Bawaslu Pacitan – Notifikasi", "ikuflow@bawaslu.example.id")
    [raw_from] = [line for line in mail.raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n") if line.startswith(b"From:")]
    assert raw_from.isascii() and b"=?utf-8?" in raw_from.lower(), raw_from
    assert outbox("id = ?", (row["id"],))[0]["status"] == "sent"


# --- leases ----------------------------------------------------------------------------------
def test_rows_of_a_sender_that_died_wait_for_its_lease_then_go_once(svc, doc, peer, monkeypatch):
    from ikuflow.calendar import now_utc
    from ikuflow.notify.sender import Sender, send_once
    from ikuflow.store.db import parse_ts

    monkeypatch.setenv("IKUFLOW_SMTP_LEASE", "1.5")
    walk(svc, 3)
    dead = Sender()
    taken_at = now_utc()
    claimed = dead.claim(taken_at)
    dead.con.close()  # it "died": never sends, never records
    rows = outbox()
    assert len(claimed) == len(rows) >= 4
    assert {r["lease_owner"] for r in rows} == {dead.owner}
    until = parse_ts(rows[0]["lease_until"])
    assert {parse_ts(r["lease_until"]) for r in rows} == {until} and until - taken_at == timedelta(seconds=1.5)
    # another sender, its clock pinned: while the lease holds, nothing; once it has run out, all
    assert send_once(at=until - timedelta(seconds=0.1))["claimed"] == 0
    assert peer.received == []
    late = send_once(at=until + timedelta(seconds=0.1))
    assert late["claimed"] == late["sent"] == len(rows)
    assert sorted(peer.mids) == sorted(r["message_id"] for r in rows)
    assert all(r["status"] == "sent" and r["lease_owner"] is None for r in outbox())


# --- crashes (real processes) ----------------------------------------------------------------
def test_sender_killed_before_the_server_accepted_delivers_each_mail_once(directory, doc, peer, monkeypatch):
    from ikuflow.notify.sender import send_once
    from ikuflow.store.db import parse_ts

    monkeypatch.setenv("IKUFLOW_SMTP_LEASE", "2")
    for event, actor, at in STEPS[:3]:
        p = run_ikuflow("advance", KEY, event, "--as", actor, "--at", at)
        assert p.returncode == 0, p.stderr
    rows = outbox()
    assert len(rows) >= 4
    peer.on_rcpt = lambda n, address: peer.hold()  # the first sender's recipients: never answered
    with sender_process() as proc:
        wait_for(lambda: peer.rcpt_calls >= 1, "the sender to reach RCPT")  # so it holds its leases
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
        assert proc.returncode == -signal.SIGKILL
    peer.on_rcpt = None
    assert peer.received == []
    rows = outbox()
    assert {r["status"] for r in rows} == {"pending"} and {r["attempts"] for r in rows} == {0}
    leased = [parse_ts(r["lease_until"]) for r in rows if r["lease_owner"]]
    assert leased, "the killed sender held no lease"
    # until its lease expires, nobody else takes the rows; then a sender takes them all (clocks pinned)
    assert send_once(at=min(leased) - timedelta(seconds=0.1))["claimed"] == 0
    p = run_ikuflow("outbox", "send", "--json", "--at", utc_text(max(leased) + timedelta(seconds=0.1)))
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["sent"] == len(rows)
    assert sorted(peer.mids) == sorted(r["message_id"] for r in rows)  # each exactly once
    assert all(r["status"] == "sent" and r["attempts"] == 1 for r in outbox())


def test_sender_killed_after_the_server_accepted_sends_at_most_twice_with_one_message_id(
        directory, doc, peer, monkeypatch, backend):
    from ikuflow.store.db import parse_ts

    monkeypatch.setenv("IKUFLOW_SMTP_LEASE", "2")
    for event, actor, at in STEPS[:3]:
        p = run_ikuflow("advance", KEY, event, "--as", actor, "--at", at)
        assert p.returncode == 0, p.stderr
    rows = outbox()
    lock: dict = {}

    def take_the_write_lock(n, server, envelope):
        """Accept, but first lock the outbox against writers: the sender cannot mark anything sent."""
        if n == 1:
            lock["con"] = hold_write_lock("outbox")
        return None

    peer.on_data = take_the_write_lock
    try:
        with sender_process() as proc:
            wait_for(lambda: len(peer.received) == len(rows), "the server to accept every e-mail")
            # the sender has its 250s and waits for the lock to record them: kill it there
            wait_for(lambda: proc.poll() is None and waiting_on_lock([proc.pid], backend),
                     "the sender to wait for the outbox lock")
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=10)
            assert proc.returncode == -signal.SIGKILL
    finally:
        if "con" in lock:
            lock["con"].execute("ROLLBACK")
            lock["con"].close()
    after_kill = outbox()
    assert {r["status"] for r in after_kill} == {"pending"}  # accepted, never marked sent
    leased = [parse_ts(r["lease_until"]) for r in after_kill]
    p = run_ikuflow("outbox", "send", "--json", "--at", utc_text(max(leased) + timedelta(seconds=0.1)))
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["sent"] == len(rows)
    seen = Counter(peer.mids)
    assert set(seen) == {r["message_id"] for r in rows}
    # each accepted before the kill, then sent again: twice, the copy under the original's Message-ID
    assert set(seen.values()) == {2}
    for mid in seen:
        copies = [m for m in peer.received if m.mid == mid]
        assert len({(m.msg["Subject"], m.text, tuple(m.rcpt_tos)) for m in copies}) == 1
    assert all(r["status"] == "sent" and r["lease_owner"] is None for r in outbox())


# --- settings --------------------------------------------------------------------------------
@pytest.mark.parametrize("value, tls, port", [
    (None, "starttls", 587), ("starttls", "starttls", 587), ("tls", "tls", 465), (" TLS ", "tls", 465),
    ("off", "off", 587), ("false", "off", 587), ("0", "off", 587), ("no", "off", 587)])
def test_tls_modes_map_as_documented(value, tls, port):
    from ikuflow.notify.sender import Settings

    env = {} if value is None else {"IKUFLOW_SMTP_TLS": value}
    s = Settings.from_env(env)
    assert (s.tls, s.port) == (tls, port)
    assert Settings.from_env({**env, "IKUFLOW_SMTP_PORT": "2525"}).port == 2525


@pytest.mark.parametrize("env, words", [
    ({"IKUFLOW_SMTP_TLS": "bogus"}, "IKUFLOW_SMTP_TLS"),
    ({"IKUFLOW_SMTP_PORT": "smtp"}, "IKUFLOW_SMTP_PORT"),
    ({"IKUFLOW_SMTP_RETRY_BASE": "0"}, "IKUFLOW_SMTP_RETRY_BASE"),
    ({"IKUFLOW_SMTP_LEASE": "-5"}, "IKUFLOW_SMTP_LEASE")])
def test_bad_settings_are_usage_errors(env, words):
    from ikuflow.errors import UsageError
    from ikuflow.notify.sender import Settings

    with pytest.raises(UsageError, match=words):
        Settings.from_env(env)


def test_outbox_send_with_a_bogus_tls_mode_exits_2_with_one_line(directory, smtp_port):
    p = run_ikuflow("outbox", "send", env={"IKUFLOW_SMTP_TLS": "bogus"})
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "IKUFLOW_SMTP_TLS" in lines[0]
    assert "starttls, tls or off" in lines[0] and "Traceback" not in p.stderr and p.stdout == ""


def test_the_password_never_appears_in_settings_or_output(svc, doc, down_peer, monkeypatch):
    from ikuflow.notify.sender import Settings

    monkeypatch.setenv("IKUFLOW_SMTP_USER", USER)
    monkeypatch.setenv("IKUFLOW_SMTP_PASSWORD", SECRET)
    s = Settings.from_env()
    assert s.password == SECRET
    assert SECRET not in repr(s) and SECRET not in str(s)
    assert s.describe() == f"smtp://{USER}:***@127.0.0.1:{down_peer.port} (off)"
    walk(svc, 1)
    # the server is down: the attempt fails and is retried, with the server named, not the password
    for args in (("outbox", "send"), ("outbox", "send", "--json"), ("outbox", "list", "--json")):
        p = run_ikuflow(*args)
        assert p.returncode in ((0,) if args[1] == "list" else (0, 1)), p.stderr  # 1: server unreachable
        assert SECRET not in p.stdout + p.stderr, args
    assert f"{USER}:***@127.0.0.1" in run_ikuflow("outbox", "send", "--json").stdout
    for row in outbox():
        assert row["status"] == "pending" and row["last_error"] and SECRET not in row["last_error"]


def test_a_refused_login_is_one_line_without_the_password_and_keeps_the_mail(svc, doc, smtp_port, monkeypatch):
    from aiosmtpd.smtp import AuthResult

    tried = []

    def refuse(server, session, envelope, mechanism, auth_data):
        tried.append((auth_data.login, auth_data.password))
        return AuthResult(success=False, handled=False)

    peer = Peer(smtp_port, authenticator=refuse, auth_require_tls=False).start()
    try:
        monkeypatch.setenv("IKUFLOW_SMTP_USER", USER)
        monkeypatch.setenv("IKUFLOW_SMTP_PASSWORD", SECRET)
        walk(svc, 1)
        p = run_ikuflow("outbox", "send")
        assert p.returncode == 1
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: SMTP login to ") and "refused" in lines[0]
        assert "IKUFLOW_SMTP_PASSWORD" in lines[0] and f"{USER}:***@" in lines[0]
        assert SECRET not in p.stdout + p.stderr
        assert tried and tried[0] == (USER.encode(), SECRET.encode())  # it really tried that password
        for row in outbox():  # given back at once: still pending, no attempt counted, no lease
            assert (row["status"], row["attempts"], row["lease_owner"]) == ("pending", 0, None)
        assert peer.received == []
    finally:
        peer.stop()


@pytest.mark.parametrize("mode", ["starttls", "tls"])
def test_real_tls_modes_with_a_login(svc, doc, smtp_port, certificate, monkeypatch, mode):
    from aiosmtpd.smtp import AuthResult

    cert, key = certificate
    logins = []

    def check(server, session, envelope, mechanism, auth_data):
        encrypted = server.transport.get_extra_info("ssl_object") is not None
        logins.append((auth_data.login, auth_data.password, encrypted))
        return AuthResult(success=auth_data.password == SECRET.encode())

    if mode == "starttls":  # the server refuses mail before STARTTLS
        kw = {"tls_context": server_tls_context(cert, key), "require_starttls": True}
    else:  # implicit TLS: a plain connection would not even get a greeting
        kw = {"ssl_context": server_tls_context(cert, key), "auth_require_tls": False}
    peer = Peer(smtp_port, authenticator=check, **kw).start()
    try:
        monkeypatch.setenv("IKUFLOW_SMTP_TLS", mode)
        monkeypatch.setenv("IKUFLOW_SMTP_USER", USER)
        monkeypatch.setenv("IKUFLOW_SMTP_PASSWORD", SECRET)
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # trust the test's own certificate
        walk(svc, 1)
        rows = outbox()
        p = run_ikuflow("outbox", "send", "--json")  # a real process, as cron runs it
        assert p.returncode == 0, p.stderr
        res = json.loads(p.stdout)
        assert res["sent"] == len(rows), (res, p.stderr)
        assert res["server"] == f"smtp://{USER}:***@127.0.0.1:{smtp_port} ({mode})"
        assert SECRET not in p.stdout + p.stderr
        assert logins and set(logins) == {(USER.encode(), SECRET.encode(), True)}
        assert sorted(peer.mids) == sorted(r["message_id"] for r in rows)
    finally:
        peer.stop()


# --- templates -------------------------------------------------------------------------------
def _write(path: Path, text: str) -> None:
    path.write_text(text)


BREAKS = {
    "missing": (lambda d: (d / "en" / "submit.html").unlink(), "en/submit.html", "is missing"),
    "syntax": (lambda d: _write(d / "id" / "submit.txt", "Yth. {{ recipient.name }},\n{% if comment %}\n"),
               "id/submit.txt", "does not parse"),
    "unknown variable": (lambda d: _write(d / "id" / "submit.subject", "[IKU] {{ dokumen.key }} diajukan\n"),
                         "id/submit.subject", "unknown variable 'dokumen'; did you mean 'document'?"),
    "undefined attribute": (lambda d: _write(d / "en" / "submit.txt", "Number {{ document.nomor }}\n"),
                            "en/submit.txt", "fails on sample data"),
}


@pytest.mark.parametrize("case", list(BREAKS))
def test_workflow_check_reports_a_broken_template(cli, templates, case):
    breaker, rel, words = BREAKS[case]
    assert cli("workflow", "check").exit_code == 0
    breaker(templates)
    r = cli("workflow", "check")
    assert r.exit_code == 1
    assert str(templates / rel) in r.stderr and words in r.stderr, r.stderr
    assert "1 problem" in r.stderr
    r = cli("workflow", "check", "--json")
    out = json.loads(r.stdout)
    assert r.exit_code == 1 and out["ok"] is False
    [problem] = out["problems"]
    assert problem["file"] == str(templates / rel) and problem["location"] == "events.submit.template"


@pytest.mark.parametrize("case", list(BREAKS))
def test_a_broken_template_holds_up_no_step_its_mail_goes_dead_and_retry_sends_it(templates, svc, doc, cli,
                                                                                   peer, case):
    """Rendering is the sender's: a step goes through whatever the templates on disk are; an
    e-mail whose template cannot render goes dead naming the template and the fix ('workflow
    check' catches it beforehand, see above), and after the fix 'outbox retry' sends it."""
    breaker, rel, _ = BREAKS[case]
    breaker(templates)
    r = cli("advance", doc, "submit", "--as", COORD, "--at", STEPS[0][2])
    assert r.exit_code == 0 and counts()[:2] == ("division_review", 1)
    [row] = outbox("template = 'submit'")
    flush(peer)
    deliver()
    row = outbox("id = ?", (row["id"],))[0]
    assert row["status"] == "dead" and peer.received == []
    assert "cannot render e-mail template 'submit'" in row["last_error"]
    assert "workflow check" in row["last_error"] and f"ikuflow outbox retry {row['id']}" in row["last_error"]
    shutil.copy(ROOT / "notifications" / rel, templates / rel)  # the fix
    assert cli("outbox", "retry", str(row["id"])).exit_code == 0
    assert deliver()["sent"] == 1
    assert outbox("id = ?", (row["id"],))[0]["status"] == "sent" and peer.mids == [row["message_id"]]
