"""The daily checkpoint e-mail (PRODUCT.md section 9): with IKUFLOW_CHECKPOINT_TO set, ``serve``
mails the history's checkpoint once a day, whichever node and however often it tries; the
checkpoint in the mail is one ``audit verify --checkpoint`` accepts; a broken history is
mailed as such instead. Off by default."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import COORD, SECR, utc
from smtp_peer import Peer, free_port

TO = "inspektorat@ri.example.id"


def checkpoint_rows(svc) -> list[tuple]:
    return svc.con.execute("SELECT cause, recipient, payload FROM outbox WHERE kind = 'checkpoint'"
                           " ORDER BY id").fetchall()


def test_one_checkpoint_a_day_that_audit_verify_accepts_and_a_broken_history_is_said(svc, doc, tmp_path, cli):
    from ikuflow.app.evidence import mail_checkpoint
    from ikuflow.notify.render import Renderer

    svc.advance(doc, "submit", COORD, at=utc("2026-01-19T10:00+07:00"))
    assert mail_checkpoint(svc, TO, at=utc("2026-01-20T01:00+07:00"))
    assert not mail_checkpoint(svc, TO, at=utc("2026-01-20T06:00+07:00"))  # the same UTC day: once
    [(cause, rcpt, payload)] = checkpoint_rows(svc)
    assert rcpt == TO and cause.startswith("checkpoint:2026-01-19:")
    ctx = json.loads(payload)["context"]
    assert ctx["problem"] == "" and json.loads(ctx["checkpoint"])["documents"][doc][0] == 2
    # the mailed checkpoint is one audit verify takes; a row cut from the end since is caught
    (tmp_path / "cp.json").write_text(ctx["checkpoint"])
    assert cli("audit", "verify", "--checkpoint", str(tmp_path / "cp.json")).exit_code == 0
    svc.advance(doc, "synchronize", SECR, at=utc("2026-01-21T10:00+07:00"))
    con = svc.con
    con.execute("DELETE FROM history WHERE version = 2")
    con.execute("DELETE FROM history WHERE version = 1")  # and the document row made to agree:
    con.execute("UPDATE document SET version = 0, chain = (SELECT chain FROM history WHERE version = 0)")
    assert cli("audit", "verify").exit_code == 0  # a cut the chain alone cannot see
    r = cli("audit", "verify", "--checkpoint", str(tmp_path / "cp.json"))
    assert r.exit_code == 1 and f"{doc}: version 1: 1 row(s) cut from the end" in r.stderr, r.stderr
    # the next day's mail says the history is broken, and carries no checkpoint
    con.execute("UPDATE history SET actor = 'someone@else.example' WHERE version = 0")
    assert mail_checkpoint(svc, TO, at=utc("2026-01-21T09:00+07:00"))
    ctx = json.loads(checkpoint_rows(svc)[1][2])["context"]
    assert ctx["checkpoint"] == "" and doc in ctx["problem"] and "broken" in ctx["problem"]
    mail = Renderer().render("checkpoint", ctx)
    assert "RUSAK" in mail.subject and "audit verify" in mail.text


def test_the_setting_is_off_by_default_and_a_bad_address_stops_serve_before_it_starts(svc, monkeypatch):
    from ikuflow.app.evidence import checkpoint_to
    from ikuflow.errors import UsageError

    monkeypatch.delenv("IKUFLOW_CHECKPOINT_TO", raising=False)
    assert checkpoint_to() is None
    for bad in ("not-an-address", "a@x.id, b@y.id", "a b@x.id"):
        monkeypatch.setenv("IKUFLOW_CHECKPOINT_TO", bad)
        with pytest.raises(UsageError):
            checkpoint_to()
    p = subprocess.run([str(Path(sys.executable).with_name("ikuflow")), "serve", "--no-send"], capture_output=True,
                       text=True, timeout=60, env={**os.environ, "IKUFLOW_CHECKPOINT_TO": "nobody"},
                       stdin=subprocess.DEVNULL)
    assert p.returncode == 2 and "IKUFLOW_CHECKPOINT_TO" in p.stderr and "Traceback" not in p.stderr


@pytest.mark.backends("sqlite")
def test_serve_mails_the_checkpoint_over_smtp(svc, doc):
    """A real ``ikuflow serve`` with a real SMTP peer: the checkpoint arrives once, to the address set."""
    peer = Peer(free_port()).start()
    env = {**os.environ, "IKUFLOW_CHECKPOINT_TO": TO, "IKUFLOW_SMTP_HOST": "127.0.0.1",
           "IKUFLOW_SMTP_PORT": str(peer.port), "IKUFLOW_SMTP_TLS": "off"}
    p = subprocess.Popen([str(Path(sys.executable).with_name("ikuflow")), "serve", "--interval", "0.5"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL, env=env)
    try:
        deadline = time.monotonic() + 60  # only to fail with a message instead of hanging
        while not [m for m in peer.received if m.rcpt_tos == [TO]]:
            assert p.poll() is None, p.communicate()
            assert time.monotonic() < deadline, "no checkpoint e-mail in 60 s"
            time.sleep(0.1)
        time.sleep(1.5)  # more passes: no second checkpoint today
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
        peer.stop()
    assert p.returncode == 0, err
    [mail] = [m for m in peer.received if m.rcpt_tos == [TO]]
    assert "Titik periksa" in mail.msg["Subject"]
    body = mail.text
    mark = json.loads(body[body.index("{"):body.rindex("}") + 1])
    assert mark["format"] == "ikuflow-checkpoint/1" and mark["documents"][doc][0] == 1
