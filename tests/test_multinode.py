"""Several nodes on one database, with real processes (issue 7, "Multi-node proofs"), on every
backend (on SQLite the processes share one file, which is the same proof for one machine):

- four ``ikuflow serve`` processes on a database holding 2,000 documents whose reminder is due
  now: each (document, reminder, recipient) cause is in the outbox once, each e-mail reaches a
  real SMTP server (aiosmtpd, ``smtp_peer.py``) once, nothing is left pending or dead, and every
  process stops cleanly on SIGTERM;
- eight processes firing the whole walk at the same 100 documents (``firer.py``, each with
  ``Service.advance`` in-process): every history is a valid path of ``workflows/iku.yaml``, no
  update is lost or doubled, every success a process was told of is in the history and every
  history step was told to exactly one process, every step has its e-mails, and every loser got
  Conflict (6) or NotAllowed (4);
- eight real ``ikuflow advance`` processes that all read a document before any of them may
  write: one wins, seven exit 6 with a one-line message.

``serve`` and the firers use the real clock, so the documents are planned around the time the
test runs (``plan_signing``), from the workflow file's own deadlines and reminders.
"""

from __future__ import annotations

import json
import os
import platform
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from conftest import WORKFLOWS, db, hold_write_lock, misqueued
from smtp_peer import Peer, free_port

EXE = Path(sys.executable).with_name("ikuflow")
FIRER = Path(__file__).with_name("firer.py")
ADMIN = "admin@ri.example.id"
ZONES = ("Asia/Jakarta", "Asia/Makassar", "Asia/Jayapura")
DIVISIONS = ("sdmo", "hukum", "penanganan", "pencegahan", "sengketa")
MAIL_FROM = "ikuflow@bawaslu.example.id"

# the oracle: read from the workflow file itself, not from ikuflow's parsed model
IKU = yaml.safe_load((WORKFLOWS / "iku.yaml").read_text(encoding="utf-8"))


def _as_list(v) -> list:
    return v if isinstance(v, list) else [v]


TRANSITIONS = {(src, ev, spec["to"]) for ev, spec in IKU["events"].items() for src in _as_list(spec["from"])}
NOTIFY = {ev: tuple(spec.get("notify", ())) for ev, spec in IKU["events"].items()}
CREATE_NOTIFY = tuple(IKU.get("on_create", {}).get("notify", ()))


# --- helpers ----------------------------------------------------------------------------------
def person(role: str, office: str) -> str:
    return f"{role}@{office}.example.id"


def build_directory(path: Path, offices: list[tuple[str, str]]) -> dict[str, dict[str, str]]:
    """Import (``ikuflow import``'s code path) the national office with an admin and a
    secretariat, and ``offices`` (code, zone) below it, each with three people: one
    coordinator leading all five divisions (few people, so few e-mails: reminders to one
    person in one pass become one digest), the secretariat and the chair.
    Returns office -> role -> e-mail."""
    from ikuflow.app.directory import import_file

    rows = {"offices": [{"code": "ri", "name": "Bawaslu Republik Indonesia", "tz": "Asia/Jakarta",
                         "level": "national"}],
            "people": [{"email": ADMIN, "name": "Admin RI", "role": "admin", "office": "ri"},
                       {"email": person("secretariat", "ri"), "name": "Sekretariat RI",
                        "role": "secretariat", "office": "ri"}]}
    holders = {"ri": {"secretariat": person("secretariat", "ri")}}
    for code, tz in offices:
        rows["offices"].append({"code": code, "name": f"Bawaslu Kabupaten {code.title()}", "tz": tz,
                                "parent": "ri", "level": "kabupaten"})
        rows["people"] += [
            {"email": person("coordinator", code), "name": f"Koordinator {code}",
             "roles": [{"role": "coordinator", "office": code, "division": d} for d in DIVISIONS]},
            {"email": person("secretariat", code), "name": f"Sekretariat {code}", "role": "secretariat",
             "office": code},
            {"email": person("chair", code), "name": f"Ketua {code}", "role": "chair", "office": code}]
        holders[code] = {r: person(r, code) for r in ("coordinator", "secretariat", "chair")}
    path.write_text(yaml.safe_dump(rows, sort_keys=False), encoding="utf-8")
    done = import_file(path)
    assert done["offices_created"] == len(offices) + 1, done
    return holders


def plan_signing(eng, tz: str, now: datetime, horizon: timedelta = timedelta(minutes=20)):
    """A signing date for documents in draft in zone ``tz`` such that, at ``now``, exactly one
    reminder (or, when no signing date gives one - a long weekend - one escalation) is due and
    the next one is more than ``horizon`` away: (signing date, draft due time, the Action).
    A document created a month before its due time has its first reminder as next action,
    which is in the past, so the first scheduler pass takes it."""
    best = None
    for offset in range(-12, 22):
        signing = now.date() + timedelta(days=offset)
        due = eng.due_for("draft", signing, tz)
        act = eng.latest_action("draft", due, now)
        nxt = eng.next_action_at("draft", due, now)
        if act is None or (nxt is not None and nxt <= now + horizon):
            continue
        rank = (act.kind != "reminder", len(act.roles) + act.parent, abs(offset))
        if best is None or rank < best[0]:
            best = (rank, signing, due, act)
    assert best is not None, f"no signing date gives a due reminder at {now} in {tz}"
    return best[1:]


def history_of(con) -> dict[int, list[tuple]]:
    out: dict[int, list[tuple]] = {}
    for row in con.execute("SELECT document_id, version, event, from_state, to_state, actor, comment"
                           " FROM history ORDER BY document_id, version"):
        out.setdefault(row[0], []).append(tuple(row[1:]))
    return out


def check_paths(con, holders) -> dict[int, list[tuple]]:
    """Every document's history is a valid path of the workflow file, its version and state
    agree with it, and every step has exactly the e-mails its event names (by cause)."""
    docs = {r[0]: r[1:] for r in con.execute("SELECT id, key, state, version, office_code FROM document")}
    hist = history_of(con)
    outbox = Counter((r[0], r[1], r[2]) for r in con.execute(
        "SELECT document_id, cause, recipient FROM outbox WHERE kind = 'event'"))
    assert set(hist) == set(docs)
    for doc_id, (key, state, version, office) in docs.items():
        steps = hist[doc_id]
        assert [s[0] for s in steps] == list(range(len(steps))), (key, steps)  # 0, 1, 2, ... no gap
        assert steps[0][1:4] == ("create", None, IKU["initial"]), (key, steps[0])
        for prev, step in zip(steps, steps[1:]):
            assert step[2] == prev[3], (key, "does not chain", prev, step)
            assert (step[2], step[1], step[3]) in TRANSITIONS, (key, "not a transition", step)
            if step[1] == "send_back":
                assert step[5] and step[5].strip(), (key, "send_back without its reason", step)
        assert version == len(steps) - 1 and state == steps[-1][3], (key, state, version, steps)
        want = Counter((doc_id, f"create:{doc_id}:{holders[office][r]}", holders[office][r])
                       for r in CREATE_NOTIFY)
        for v, event, *_ in steps[1:]:
            want.update((doc_id, f"event:{doc_id}:{v}:{holders[office][r]}", holders[office][r])
                        for r in dict.fromkeys(NOTIFY[event]))
        got = Counter({k: n for k, n in outbox.items() if k[0] == doc_id})
        assert got == want, (key, "outbox rows of its events", got - want, want - got)
    return hist


def cpu_line() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


# --- 1. four ``ikuflow serve`` processes, 2,000 due reminders ------------------------------------
N_OFFICES = 400  # x 5 divisions = 2,000 documents


@pytest.fixture
def smtp_env(monkeypatch):
    port = free_port()
    for name in ("IKUFLOW_SMTP_USER", "IKUFLOW_SMTP_PASSWORD", "IKUFLOW_SMTP_CONNECTIONS",
                 "IKUFLOW_SMTP_MAX_ATTEMPTS", "IKUFLOW_SMTP_LEASE", "IKUFLOW_SMTP_RETRY_MAX",
                 "IKUFLOW_NOTIFICATIONS", "IKUFLOW_MAIL_LANGS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in (("IKUFLOW_SMTP_HOST", "127.0.0.1"), ("IKUFLOW_SMTP_PORT", str(port)),
                        ("IKUFLOW_SMTP_TLS", "off"), ("IKUFLOW_SMTP_RETRY_BASE", "0.05"),
                        ("IKUFLOW_SMTP_TIMEOUT", "10"), ("IKUFLOW_MAIL_FROM", MAIL_FROM)):
        monkeypatch.setenv(name, value)
    return port


def test_four_serve_processes_send_each_due_reminder_once(tmp_path, smtp_env):
    from ikuflow import admin
    from ikuflow.calendar import now_utc
    from ikuflow.app.service import Service
    from ikuflow.store.db import fmt_ts, parse_ts

    started = time.monotonic()
    admin.init()
    offices = [(f"kab-{i:03d}", ZONES[i % len(ZONES)]) for i in range(N_OFFICES)]
    holders = build_directory(tmp_path / "directory.yaml", offices)
    svc = Service()
    eng = svc.engine("iku", svc.latest_version("iku"))
    now = now_utc()
    plans = {tz: plan_signing(eng, tz, now) for tz in ZONES}
    for tz, (signing, due, act) in plans.items():
        codes = [c for c, z in offices if z == tz]
        res = svc.new_many(signing.year, signing, ADMIN, offices=codes, at=due - timedelta(days=30))
        assert res["created"] == len(codes) * len(DIVISIONS) and not res["refused"], res["refused"][:3]
    docs = svc.con.execute("SELECT d.id, d.office_code, o.tz, d.next_action_at FROM document d"
                           " JOIN office o ON o.code = d.office_code").fetchall()
    svc.close()
    assert len(docs) == 2000
    assert all(parse_ts(nxt) <= now for *_, nxt in docs), "every document must be due at once"
    # (document, recipient) -> the one action the scheduler must send, as the workflow file says
    expected = {}
    for doc_id, office, tz, _ in docs:
        act = plans[tz][2]
        told = [holders[office][r] for r in act.roles]
        if act.parent:
            told.append(holders["ri"]["secretariat"])
        for email in told:
            expected[(doc_id, email)] = (act.kind, fmt_ts(act.at))
    setup_s = time.monotonic() - started

    peer = Peer(smtp_env).start()
    procs = []
    try:
        for i in range(4):
            with open(tmp_path / f"serve{i}.out", "w") as out, open(tmp_path / f"serve{i}.err", "w") as err:
                procs.append(subprocess.Popen([str(EXE), "serve", "--interval", "0.5"], stdout=out,
                                              stderr=err, stdin=subprocess.DEVNULL, env=dict(os.environ)))
        t_serve = time.monotonic()
        deadline = t_serve + 90
        while True:
            con = db()
            try:
                n_causes = con.execute("SELECT count(*) FROM outbox WHERE kind IN ('reminder', 'escalation')"
                                       ).fetchone()[0]
                n_pending, n_sent = con.execute(
                    "SELECT sum(CASE WHEN status = 'pending' THEN 1 ELSE 0 END),"
                    " sum(CASE WHEN status = 'sent' THEN 1 ELSE 0 END) FROM outbox").fetchone()
            finally:
                con.close()
            if n_causes >= len(expected) and n_pending == 0 and len(peer.received) >= n_sent:
                break
            dead = [p.returncode for p in procs if p.poll() is not None]
            assert not dead, f"a serve process exited early: {dead}; " + (tmp_path / "serve0.err").read_text()[-2000:]
            assert time.monotonic() < deadline, (f"after 90 s: {n_causes}/{len(expected)} causes, "
                                                 f"{n_pending} pending, {n_sent} sent, "
                                                 f"{len(peer.received)} received ({cpu_line()})")
            time.sleep(0.25)
        delivered_s = time.monotonic() - t_serve
        time.sleep(1.0)  # a doubled send or a late pass would land now
        for p in procs:
            p.send_signal(signal.SIGTERM)
        codes = [p.wait(timeout=30) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()  # reaped, its pipes closed: nothing leaks into the next test
                p.wait()
        peer.stop()
    errs = [(tmp_path / f"serve{i}.err").read_text() for i in range(4)]
    outs = [(tmp_path / f"serve{i}.out").read_text() for i in range(4)]
    assert codes == [0, 0, 0, 0], (codes, [e[-1500:] for e in errs])
    for err in errs:
        assert "Traceback" not in err and "will retry" not in err and "dead" not in err, err[-3000:]

    con = db()
    try:
        rows = con.execute("SELECT id, document_id, kind, cause, recipient, payload, message_id, status"
                           " FROM outbox").fetchall()
    finally:
        con.close()
    # nothing left behind: every row was sent, or merged into a digest that was sent
    assert Counter(r[7] for r in rows).keys() <= {"sent", "merged"}, Counter(r[7] for r in rows)
    # each (document, recipient) reminder cause is in the outbox exactly once, and it is the
    # one action the workflow file gives for now
    causes = [r for r in rows if r[2] in ("reminder", "escalation")]
    assert not [c for c, n in Counter(r[3] for r in causes).items() if n > 1]
    got = Counter((r[1], r[4]) for r in causes)
    assert got.keys() == expected.keys() and set(got.values()) == {1}, (
        len(got), len(expected), list(got.keys() - expected.keys())[:3], list(expected.keys() - got.keys())[:3])
    for r in causes:
        payload = json.loads(r[5])
        assert (r[2], payload["at"]) == expected[(r[1], r[4])], (r, expected[(r[1], r[4])])
    # a merged cause is inside exactly one digest, sent to the same person; a digest holds
    # merged causes only; a cause sent on its own is in no digest
    by_cause = {r[3]: r for r in rows}
    in_digest = Counter()
    for r in rows:
        if r[2] == "digest":
            for c in json.loads(r[5])["causes"]:
                in_digest[c] += 1
                assert by_cause[c][7] == "merged" and by_cause[c][4] == r[4], (r, by_cause[c])
    merged = {r[3] for r in causes if r[7] == "merged"}
    assert set(in_digest) == merged and set(in_digest.values()) <= {1}
    # every e-mail the outbox calls sent arrived exactly once, to its recipient, and nothing else did
    sent = {r[6]: r for r in rows if r[7] == "sent"}
    mids = Counter(m.mid for m in peer.received)
    assert [m for m, n in mids.items() if n > 1] == []
    assert set(mids) == set(sent), (len(mids), len(sent))
    for m in peer.received:
        assert m.rcpt_tos == [sent[m.mid][4]], (m.rcpt_tos, sent[m.mid])
    # the processes' own accounts agree: e-mails queued by the passes, e-mails sent by the senders
    totals = [re.search(r"(\d+) e-mail\(s\) queued, (\d+) sent, (\d+) dead", o) for o in outs]
    assert all(totals), outs
    assert sum(int(t[1]) for t in totals) == sum(1 for r in rows if r[2] != "event" and r[7] == "sent")
    assert sum(int(t[2]) for t in totals) == len(sent) and sum(int(t[3]) for t in totals) == 0
    kinds = Counter(r[2] for r in rows if r[7] == "sent")
    passes = [int(re.search(r"after (\d+) pass", o)[1]) for o in outs]
    ticked = [sum(int(n) for n in re.findall(r"pass: (\d+) documents", e)) for e in errs]
    assert sum(ticked) == len(docs), ticked  # each document taken by one pass of one process
    print(f"\n[serve x4] {len(docs)} documents, actions {sorted({(p[2].kind, len(p[2].roles)) for p in plans.values()})}; "
          f"{len(causes)} causes ({len(merged)} merged), {len(sent)} e-mails sent {dict(kinds)}; "
          f"per process: passes {passes}, documents {ticked}, e-mails sent {[int(t[2]) for t in totals]}; "
          f"setup {setup_s:.1f} s, delivered in {delivered_s:.1f} s; {cpu_line()}")


# --- 2. eight processes firing at the same 100 documents ---------------------------------------------
def test_eight_processes_firing_at_the_same_100_documents(tmp_path):
    from ikuflow import admin
    from ikuflow.app.service import Service

    admin.init()
    offices = [(f"kota-{i:02d}", ZONES[i % len(ZONES)]) for i in range(20)]
    holders = build_directory(tmp_path / "directory.yaml", offices)
    signing = date.today() - timedelta(days=2)  # passed in every zone: 'sign' is allowed now
    svc = Service()
    res = svc.new_many(signing.year, signing, ADMIN, offices=[c for c, _ in offices])
    svc.close()
    keys = sorted(res["keys"])
    assert len(keys) == 100
    rnd = random.Random(7)
    actors = {}
    for key in keys:
        office = key.rsplit("-", 2)[0]
        h = holders[office]
        actors[key] = {"submit": h["coordinator"], "synchronize": h["secretariat"], "approve": h["chair"],
                       "sign": h["chair"], "send_back": h[rnd.choice(("secretariat", "chair"))]}
    procs = []
    for i in range(8):
        cfg = {"keys": keys, "actors": actors, "seed": i, "passes": 2, "send_back": 0.15,
               "ready": str(tmp_path / f"ready{i}"), "go": str(tmp_path / "go"),
               "out": str(tmp_path / f"fired{i}.jsonl")}
        (tmp_path / f"firer{i}.json").write_text(json.dumps(cfg))
        procs.append(subprocess.Popen([sys.executable, str(FIRER), str(tmp_path / f"firer{i}.json")],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                      stdin=subprocess.DEVNULL, env=dict(os.environ)))
    try:
        deadline = time.monotonic() + 60
        while not all((tmp_path / f"ready{i}").exists() for i in range(8)):
            assert all(p.poll() is None for p in procs), [p.communicate() for p in procs if p.poll() is not None]
            assert time.monotonic() < deadline, "the firers did not get ready within 60 s"
            time.sleep(0.05)
        t0 = time.monotonic()
        (tmp_path / "go").touch()  # all eight start firing at once
        results = [p.communicate(timeout=180) for p in procs]
        fired_s = time.monotonic() - t0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()  # reaped, its pipes closed: nothing leaks into the next test
                p.wait()
    for p, (out, err) in zip(procs, results):
        assert p.returncode == 0 and "Traceback" not in err, err[-3000:]
    attempts = [json.loads(line) for i in range(8)
                for line in (tmp_path / f"fired{i}.jsonl").read_text().splitlines()]
    outcomes = Counter(a["outcome"] for a in attempts)
    errors = [a for a in attempts if a["outcome"] not in ("ok", 4, 6)]
    assert not errors, errors[:3]
    # a loser was told the document changed (6) or the state moved on (4), never anything else
    for a in attempts:
        if a["outcome"] == 6:
            assert a["error"] == "Conflict" and "changed while you were acting" in a["message"], a
        elif a["outcome"] == 4:
            assert a["error"] == "NotAllowed" and "allowed only from" in a["message"], a

    con = db()
    try:
        hist = check_paths(con, holders)
        key_of = dict(con.execute("SELECT id, key FROM document").fetchall())
        assert misqueued(con) == []  # every document waits in the queue of the state it reached
    finally:
        con.close()
    # no lost update, no doubled one: the successes the processes were told of are exactly the
    # steps in the histories, each told to one process
    told = Counter((a["key"], a["version"], a["event"], a["source"], a["to"]) for a in attempts
                   if a["outcome"] == "ok")
    recorded = Counter((key_of[d], v, ev, frm, to) for d, steps in hist.items()
                       for v, ev, frm, to, *_ in steps[1:])
    assert told == recorded, (told - recorded, recorded - told)
    states = Counter(steps[-1][3] for steps in hist.values())
    print(f"\n[firers x8] {len(attempts)} attempts in {fired_s:.1f} s: {dict(outcomes)}; "
          f"{sum(recorded.values())} steps, {sum(1 for k in recorded if k[2] == 'send_back')} send_back; "
          f"final states {dict(states)}; {cpu_line()}")


# --- 3. the same race through the real CLI: losers exit 6 --------------------------------------------
#: the system calls a process sleeps in while SQLite's busy handler waits for the write lock
SLEEP_SYSCALLS = {"x86_64": {"35", "230"}, "aarch64": {"101", "115"}}.get(platform.machine())


def waiting_on_lock(pids: list[int], backend: str) -> set[int]:
    """The processes among ``pids`` that are blocked on the write lock right now."""
    if backend == "postgresql":
        con = db()
        try:
            return set(r[0] for r in con.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock'"))  # server pids: counted, not matched
        finally:
            con.close()
    out = set()
    for pid in pids:
        try:
            if Path(f"/proc/{pid}/syscall").read_text().split()[0] in SLEEP_SYSCALLS:
                out.add(pid)
        except (OSError, IndexError):
            pass
    return out


@pytest.mark.parametrize("event,roles", [("submit", ("coordinator",)),
                                         ("send_back", ("secretariat", "chair"))])
def test_eight_cli_processes_that_all_read_first_one_wins_seven_exit_6(tmp_path, backend, event, roles):
    """Every ``ikuflow advance`` reads the document (version N) while the test holds the write
    lock; when it lets go, one commits and the seven others find the version moved: exit 6."""
    from ikuflow import admin
    from ikuflow.app.service import Service

    assert backend == "postgresql" or SLEEP_SYSCALLS, f"no sleep system calls known for {platform.machine()}"
    admin.init()
    holders = build_directory(tmp_path / "directory.yaml", [("pacitan", "Asia/Jakarta")])
    h = holders["pacitan"]
    svc = Service()
    signing = date.today() + timedelta(days=20)
    key = svc.new("pacitan", "sdmo", signing.year, signing, h["coordinator"])["key"]
    if event == "send_back":
        svc.advance(key, "submit", h["coordinator"])
    before = svc.status(key)["version"]
    svc.close()

    holder = hold_write_lock("document")
    procs = []
    try:
        for i in range(8):
            args = ["advance", key, event, "--as", h[roles[i % len(roles)]]]
            if event == "send_back":
                args += ["--comment", f"Indikator {i} belum sesuai Renstra"]
            procs.append(subprocess.Popen([str(EXE), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                          text=True, stdin=subprocess.DEVNULL, env=dict(os.environ)))
        pids = [p.pid for p in procs]
        seen: set[int] = set()
        deadline = time.monotonic() + 30
        while len(seen) < 8:
            assert all(p.poll() is None for p in procs), [p.communicate() for p in procs if p.poll() is not None]
            assert time.monotonic() < deadline, f"only {len(seen)} of 8 reached the lock in 30 s"
            now_waiting = waiting_on_lock(pids, backend)
            seen = now_waiting if backend == "postgresql" else seen | now_waiting
            time.sleep(0.02)
    finally:
        holder.execute("COMMIT")
        holder.close()
    results = [(p.wait(timeout=60), *p.communicate()) for p in procs]
    codes = sorted(r[0] for r in results)
    assert codes == [0] + [6] * 7, results
    for code, out, err in results:
        assert "Traceback" not in err
        if code == 6:
            assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
            assert "changed while you were acting" in err, err  # not "stayed busy"
    con = db()
    try:
        check_paths(con, holders)
        state, version = con.execute("SELECT state, version FROM document WHERE key = ?", (key,)).fetchone()
    finally:
        con.close()
    assert (state, version) == (IKU["events"][event]["to"], before + 1)
