"""Outbox intents rendered at send time (issue 15, "Rendering leaves the transaction").

A writer stores an intent: the template's name and, in the JSON payload, the render context
(``payload["context"]``), with subject and bodies NULL. The sender renders it right before it
builds the message and keeps the subject it sent; a row the previous release rendered goes out
exactly as stored; a row that cannot be rendered goes to ``dead`` naming the template and the
fix, and ``outbox retry`` after the fix sends it. ``outbox show`` previews an intent with the
current templates, ``outbox list`` shows its subject.

The rows are inserted here with SQL, so these tests do not depend on how the writers build them.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from datetime import timedelta
from itertools import count
from pathlib import Path

import pytest

from conftest import ROOT, db, rows_as_dicts
from smtp_peer import Peer, free_port

MAIL_FROM = "ikuflow@bawaslu.example.id"
RINA = "rina.render@pacitan.example.id"
KEY = "uji-render-2026"
_CAUSES = count(1)


# --- fixtures and helpers -------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _shipped_templates_and_quick_smtp(monkeypatch):
    for name in ("IKUFLOW_NOTIFICATIONS", "IKUFLOW_MAIL_LANGS", "IKUFLOW_SMTP_USER", "IKUFLOW_SMTP_PASSWORD",
                 "IKUFLOW_SMTP_CONNECTIONS", "IKUFLOW_SMTP_MAX_ATTEMPTS", "IKUFLOW_SMTP_LEASE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IKUFLOW_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("IKUFLOW_SMTP_PORT", str(free_port()))
    monkeypatch.setenv("IKUFLOW_SMTP_TLS", "off")
    monkeypatch.setenv("IKUFLOW_SMTP_TIMEOUT", "10")
    monkeypatch.setenv("IKUFLOW_MAIL_FROM", MAIL_FROM)


@pytest.fixture
def peer(monkeypatch, _shipped_templates_and_quick_smtp):
    import os

    p = Peer(int(os.environ["IKUFLOW_SMTP_PORT"])).start()
    yield p
    p.stop()


@pytest.fixture
def database(directory):
    """An initialised database (schema, a small directory) whose outbox holds nothing yet."""
    con = db()
    try:
        con.execute("DELETE FROM outbox")
    finally:
        con.close()


@pytest.fixture
def templates(tmp_path, monkeypatch) -> Path:
    """A copy of the shipped templates, used through IKUFLOW_NOTIFICATIONS (free to break)."""
    folder = tmp_path / "tpl"
    shutil.copytree(ROOT / "notifications", folder)
    monkeypatch.setenv("IKUFLOW_NOTIFICATIONS", str(folder))
    return folder


def context(template: str, title: str = "Judul Uji Render", name: str = "Rina Render") -> dict:
    """A complete render context for ``template``, with values no other row carries."""
    from ikuflow.notify.render import sample_context

    ctx = sample_context(template)
    ctx["document"] = {**ctx["document"], "key": KEY, "title": title}
    ctx["recipient"] = {"name": name, "email": RINA, "role": "secretariat"}
    ctx["comment"] = None
    return ctx


def insert(template: str, payload: str, *, status: str = "pending", subject: str | None = None,
           body_text: str | None = None, body_html: str | None = None, recipient: str = RINA) -> int:
    """One outbox row, due a minute ago; its id."""
    from ikuflow.calendar import now_utc
    from ikuflow.store.db import fmt_ts

    n = next(_CAUSES)
    cause = f"render-test:{n}"
    ts = fmt_ts(now_utc() - timedelta(minutes=1))
    con = db()
    try:
        con.execute("INSERT INTO outbox (document_id, kind, cause, recipient, template, payload, message_id,"
                    " subject, body_text, body_html, status, attempts, next_attempt_at, created_at)"
                    " VALUES (NULL, 'event', ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
                    (cause, recipient, template, payload, f"<render-{n}@bawaslu.example.id>", subject,
                     body_text, body_html, status, ts, ts))
        return con.execute("SELECT id FROM outbox WHERE cause = ?", (cause,)).fetchone()[0]
    finally:
        con.close()


def intent(template: str, ctx: dict, **kw) -> int:
    """An intent as the writers store it: other keys beside the context, no subject, no body."""
    return insert(template, json.dumps({"key": KEY, "event": template, "from": "draft", "to": "x",
                                        "context": ctx}), **kw)


def row(row_id: int) -> dict:
    con = db()
    try:
        [r] = rows_as_dicts(con.execute("SELECT * FROM outbox WHERE id = ?", (row_id,)))
        return r
    finally:
        con.close()


def send() -> dict:
    from ikuflow.notify.sender import send_once

    return send_once()


def received(peer) -> dict:
    got = {m.mid: m for m in peer.received}
    assert len(got) == len(peer.received)
    return got


# --- delivery ---------------------------------------------------------------------------------
def test_an_intent_is_rendered_when_sent_and_its_subject_kept(database, peer):
    from ikuflow.notify.render import Renderer

    ctx = context("submit")
    rid = intent("submit", ctx)
    assert row(rid)["subject"] is None and row(rid)["body_text"] is None
    res = send()
    assert (res["sent"], res["dead"], res["claimed"]) == (1, 0, 1)
    [mail] = peer.received
    assert mail.mid == row(rid)["message_id"] and mail.rcpt_tos == [RINA]
    assert mail.msg["Subject"] == f"[IKU] {KEY} diajukan untuk ditelaah"
    assert mail.text.startswith("Yth. Rina Render,") and "Dear Rina Render," in mail.text
    assert "Judul Uji Render" in mail.text and "Judul Uji Render" in mail.html
    want = Renderer().render("submit", ctx)  # exactly what the templates make of the context
    assert (mail.text, mail.html) == (want.text, want.html)
    done = row(rid)
    assert done["status"] == "sent" and done["attempts"] == 1 and done["last_error"] is None
    assert done["subject"] == want.subject  # kept for 'outbox list'
    assert done["body_text"] is None and done["body_html"] is None  # bodies are not stored


def test_a_row_the_previous_release_rendered_goes_out_as_stored(database, peer, templates):
    subject = "[IKU] Subjek lama — disimpan, bukan dirender"
    text = "Isi lama yang sudah dirender.\n\nOld text, rendered by the previous release.\n"
    html = "<p>Isi <b>lama</b></p>\n<hr>\n<p>Old</p>"
    # the templates would fail: the stored row must not be rendered at all
    (templates / "id" / "submit.subject").write_text("{{ tidak_ada }}\n")
    (templates / "id" / "submit.txt").write_text("{{ tidak_ada }}\n")
    rid = insert("submit", json.dumps({"key": KEY, "event": "submit"}), subject=subject, body_text=text,
                 body_html=html)
    assert send()["sent"] == 1
    [mail] = peer.received
    assert mail.mid == row(rid)["message_id"]
    assert mail.msg["Subject"] == subject and mail.text == text and mail.html == html
    done = row(rid)
    assert (done["status"], done["subject"], done["body_text"], done["body_html"]) == ("sent", subject, text, html)


def test_a_broken_template_sends_its_rows_dead_the_others_go_and_retry_sends_it(database, peer, templates,
                                                                                 cli):
    original = (templates / "id" / "submit.txt").read_text()
    (templates / "id" / "submit.txt").write_text("Yth. {{ recipient.name }}, {{ foo }}\n")
    broken = intent("submit", context("submit"))
    fine = intent("approve", context("approve", name="Ahmad Approve"))
    old = insert("submit", "{}", subject="[IKU] lama", body_text="lama\n")
    res = send()
    assert (res["sent"], res["dead"], res["retried"]) == (2, 1, 0)
    assert sorted(received(peer)) == sorted(row(i)["message_id"] for i in (fine, old))
    dead = row(broken)
    assert dead["status"] == "dead" and dead["attempts"] == 1
    error = dead["last_error"]
    assert "cannot render e-mail template 'submit'" in error and "'foo' is undefined" in error, error
    assert "id/submit.txt" in error and "ikuflow workflow check" in error
    assert error.endswith(f"then 'ikuflow outbox retry {broken}'"), error
    # the listing names it too, with the error
    listed = {r["id"]: r for r in json.loads(cli("outbox", "list", "--json").stdout)}
    assert listed[broken]["status"] == "dead" and listed[broken]["last_error"] == error
    # after the fix: retry, send
    (templates / "id" / "submit.txt").write_text(original)
    r = cli("outbox", "retry", str(broken))
    assert r.exit_code == 0 and "1 e-mail(s) queued again" in r.stdout
    peer.reset()
    assert send()["sent"] == 1
    [mail] = peer.received
    assert mail.mid == dead["message_id"] and mail.text.startswith("Yth. Rina Render,")
    assert row(broken)["status"] == "sent" and row(broken)["last_error"] is None


def test_a_running_sender_reads_a_fixed_template_again(database, peer, templates):
    """``serve`` keeps its sender: after a failed render it loads the templates afresh, so
    the retry after a fix does not meet the broken template it had cached."""
    from ikuflow.app import outbox
    from ikuflow.notify.sender import Sender

    original = (templates / "en" / "approve.html").read_text()
    (templates / "en" / "approve.html").write_text("<p>{{ document.nomor }}</p>\n")
    rid = intent("approve", context("approve"))
    sender = Sender()
    try:
        stats = asyncio.run(sender.run(once=True))
        assert (stats.sent, stats.dead) == (0, 1)
        assert "en/approve.html" in row(rid)["last_error"]
        (templates / "en" / "approve.html").write_text(original)
        assert outbox.retry([rid]) == 1
        stats = asyncio.run(sender.run(once=True))
        assert (stats.sent, stats.dead) == (1, 0)
    finally:
        sender.con.close()
    assert row(rid)["status"] == "sent" and len(peer.received) == 1


@pytest.mark.parametrize("payload, words", [
    ("not JSON {", "the stored payload is not JSON"),
    ('{"key": "x"}', "holds no 'context' object"),
    ('{"context": ["not", "a", "dict"]}', "holds no 'context' object"),
    ('{"context": {"document": {"key": "x"}}}', "is undefined"),  # an incomplete context
])
def test_a_row_without_a_usable_context_goes_dead_not_a_traceback(database, peer, cli, payload, words):
    bad = insert("submit", payload)
    fine = intent("submit", context("submit"))
    res = send()
    assert (res["sent"], res["dead"]) == (1, 1)
    assert [m.mid for m in peer.received] == [row(fine)["message_id"]]
    dead = row(bad)
    assert dead["status"] == "dead"
    assert "cannot render e-mail template 'submit'" in dead["last_error"] and words in dead["last_error"]
    # show says the same in one line, exit 1; list shows the row without failing
    r = cli("outbox", "show", str(bad))
    assert r.exit_code == 1 and "Traceback" not in r.stderr
    [line] = r.stderr.strip().splitlines()
    assert "cannot render e-mail template 'submit'" in line and words in line
    listed = {x["id"]: x for x in json.loads(cli("outbox", "list", "--json").stdout)}
    assert listed[bad]["subject"] == ("[IKU] x diajukan untuk ditelaah" if words == "is undefined"
                                      else "(cannot render 'submit')")


# --- show and list ----------------------------------------------------------------------------
def test_show_previews_an_intent_and_list_shows_its_subject(database, cli):
    from ikuflow.notify.render import Renderer

    ctx = context("submit")
    rid = intent("submit", ctx)
    want = Renderer().render("submit", ctx)
    r = cli("outbox", "show", str(rid))
    assert r.exit_code == 0, r.stderr
    assert f"Subject: {want.subject}\n" in r.stdout and "Status: pending\n" in r.stdout
    assert "Preview: rendered now with the current templates; this is what will be sent" in r.stdout
    assert want.text.strip() in r.stdout and "Rina Render" in r.stdout
    r = cli("outbox", "show", str(rid), "--html")
    assert r.exit_code == 0 and want.html.strip() in r.stdout
    shown = json.loads(cli("outbox", "show", str(rid), "--json").stdout)
    assert shown == {"id": rid, "to": RINA, "subject": want.subject, "text": want.text, "html": want.html,
                     "status": "pending", "message_id": row(rid)["message_id"], "template": "submit",
                     "preview": True}
    listed = json.loads(cli("outbox", "list", "--json").stdout)
    assert [(x["id"], x["subject"], x["template"]) for x in listed] == [(rid, want.subject, "submit")]
    assert "payload" not in listed[0]
    r = cli("outbox", "list")
    assert r.exit_code == 0 and want.subject in r.stdout
    assert row(rid)["subject"] is None  # showing and listing change nothing


def test_show_of_a_stored_row_is_no_preview(database, cli):
    rid = insert("submit", "{}", subject="[IKU] lama", body_text="isi lama\n", body_html="<p>lama</p>")
    shown = json.loads(cli("outbox", "show", str(rid), "--json").stdout)
    assert (shown["subject"], shown["text"], shown["html"], shown["preview"]) == (
        "[IKU] lama", "isi lama\n", "<p>lama</p>", False)
    assert "Preview:" not in cli("outbox", "show", str(rid)).stdout


def test_a_broken_template_makes_show_a_one_line_error_and_list_says_so(database, templates, cli):
    rid = intent("submit", context("submit"))
    (templates / "id" / "submit.subject").write_text("[IKU] {{ dokumen.key }}\n")
    r = cli("outbox", "show", str(rid))
    assert r.exit_code == 1 and r.stdout == ""
    [line] = r.stderr.strip().splitlines()
    assert "cannot render e-mail template 'submit'" in line and "'dokumen' is undefined" in line, line
    assert "ikuflow workflow check" in line
    listed = json.loads(cli("outbox", "list", "--json").stdout)
    assert [x["subject"] for x in listed] == ["(cannot render 'submit')"]
    assert "(cannot render 'submit')" in cli("outbox", "list").stdout


def test_merged_and_held_rows_are_never_claimed_and_show_says_why(database, peer, cli):
    merged = intent("reminder", context("reminder"), status="merged")
    held = intent("reminder", context("reminder"), status="held")
    assert send()["claimed"] == 0 and peer.received == []
    assert row(merged)["status"] == "merged" and row(held)["status"] == "held"
    r = cli("outbox", "show", str(merged))
    assert r.exit_code == 0 and "merged into a digest" in r.stdout and "Preview:" not in r.stdout
    r = cli("outbox", "show", str(held))
    assert r.exit_code == 0 and "held for the next digest" in r.stdout


# --- a database of the previous release ----------------------------------------------------------
def test_a_database_of_the_previous_release_upgrades_and_its_queued_mail_goes_out(database_url, peer):
    """Schema 0005 rendered e-mails in the transaction and kept a pass's reminders as 'held' rows
    in its own payload form. After `ikuflow init` (0005 -> 0009): the pending rendered e-mail goes
    out exactly as stored, and the held reminders are merged and rendered by the new code (two
    for one person: one digest; one for another: that reminder), nothing lost or doubled."""
    from conftest import run_ikuflow
    from ikuflow import migrations
    from ikuflow.notify.render import sample_context

    migrations.upgrade(database_url, "0005")
    ts = "2026-01-19 03:00:00.000000"
    sample = sample_context("escalation")

    def old_held(n: int, email: str, name: str, key: str) -> tuple:
        item = {"document": {**sample["document"], "key": key}, "kind": "escalation", "due": "2026-01-21 16:00 WIB",
                "overdue_by": "1d 2h", "time_left": "", "must_act": [name], "at": ts}
        payload = {"key": key, "kind": "escalation", "state": "draft", "at": ts, "recipient_role": "coordinator",
                   "item": item, "recipient": {"email": email, "name": name, "role": "coordinator"}}
        return (f"escalation:{n}:0:{ts}:{email}", email, "escalation", json.dumps(payload), f"<held-{n}@x.example.id>",
                None, None, None, "held")

    rows = [("event:1:1:lama@x.example.id", "lama@x.example.id", "submit", json.dumps({"key": "lama-2026"}),
             "<lama@x.example.id>", "Surel lama yang sudah dirender", "Isi teks lama, persis.\n", "<p>lama</p>",
             "pending"),
            old_held(1, RINA, "Rina Render", "satu-2026"), old_held(2, RINA, "Rina Render", "dua-2026"),
            old_held(3, "budi@x.example.id", "Budi", "tiga-2026")]
    con = db()
    try:
        con.executemany("INSERT INTO outbox (document_id, kind, cause, recipient, template, payload, message_id,"
                        " subject, body_text, body_html, status, attempts, next_attempt_at, created_at)"
                        " VALUES (NULL, 'event', ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)", [r + (ts, ts) for r in rows])
    finally:
        con.close()

    p = run_ikuflow("init")
    assert p.returncode == 0 and "0005 -> 0009" in p.stdout, p.stdout + p.stderr
    p = run_ikuflow("tick", "--at", "2026-01-22T09:00+07:00")  # nothing is due: it merges what was held
    assert p.returncode == 0, p.stderr
    res = send()
    assert res["sent"] == 3 and res["dead"] == 0, res
    got = received(peer)
    old = got["<lama@x.example.id>"]
    assert old.msg["Subject"] == "Surel lama yang sudah dirender" and old.text.strip() == "Isi teks lama, persis."
    by_rcpt = {m.msg["To"]: m for mid, m in got.items() if mid != "<lama@x.example.id>"}
    assert set(by_rcpt) == {RINA, "budi@x.example.id"}
    assert by_rcpt[RINA].msg["Subject"] == "[IKU] 2 dokumen menunggu tindakan Anda"
    assert "satu-2026" in by_rcpt[RINA].text and "dua-2026" in by_rcpt[RINA].text
    assert "tiga-2026" in by_rcpt["budi@x.example.id"].msg["Subject"] + by_rcpt["budi@x.example.id"].text
    con = db()
    try:
        statuses = sorted(r[0] for r in con.execute("SELECT status FROM outbox"))
    finally:
        con.close()
    assert statuses == ["merged", "merged", "sent", "sent", "sent"]


@pytest.mark.parametrize("source, words", [
    ("{{ document.year + 'x' }}\n", "en/submit.txt: TypeError"),  # not a Jinja error: still the template's
    ("{% if comment %}\n", "en/submit.txt, line 1"),  # does not parse
])
def test_any_failure_of_a_template_sends_its_row_dead(database, peer, templates, source, words):
    (templates / "en" / "submit.txt").write_text(source)
    rid = intent("submit", context("submit"))
    res = send()
    assert (res["sent"], res["dead"]) == (0, 1)
    error = row(rid)["last_error"]
    assert error.startswith("cannot render e-mail template 'submit': ") and words in error, error
    assert error.endswith(f"then 'ikuflow outbox retry {rid}'")
