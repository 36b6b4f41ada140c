"""Deadlines toward the signing date, reminders, escalations and the scheduler pass, with a
controlled clock (every call takes ``at``), plus real processes for the guarantees."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from conftest import CHAIR, COORD, COORD_HUKUM, SECR, SIGNING, hold_write_lock, run_ikuflow, utc

PROV = "rina@jatim.example.id"  # secretariat of the parent office (jawa-timur)


@pytest.fixture
def parent_secretariat(directory):
    from ikuflow import admin

    admin.add_person(PROV, "Rina Jatim", "secretariat", "jawa-timur")


def outbox(svc, key=None, kinds=("reminder", "escalation")):
    sql = ("SELECT o.kind, o.payload, o.recipient, o.cause, o.message_id"
           " FROM outbox o JOIN document d ON d.id = o.document_id WHERE o.kind IN (%s)"
           % ",".join("?" * len(kinds)))
    args = list(kinds)
    if key:
        sql += " AND d.key = ?"
        args.append(key)
    return [(kind, json.loads(payload)["at"], *rest)
            for kind, payload, *rest in svc.con.execute(sql + " ORDER BY o.id", args).fetchall()]


def grouped(rows):
    """{(kind, at): sorted recipients}"""
    out: dict = {}
    for kind, at, recipient, _, _ in rows:
        out.setdefault((kind, at[:16]), []).append(recipient)
    return {k: sorted(v) for k, v in out.items()}


def test_a_whole_season_reminders_before_escalations_after_nothing_after_signing(svc, parent_secretariat):
    svc.new("pacitan", "sdmo", 2026, SIGNING, COORD, at=utc("2026-01-12T09:00+07:00"))
    svc.new("pacitan", "hukum", 2026, SIGNING, COORD_HUKUM, at=utc("2026-01-12T09:00+07:00"))
    steps = {  # pacitan-sdmo-2026 moves on time except division_review, one hour past a reminder
        datetime(2026, 1, 19, 3): ("submit", COORD),
        datetime(2026, 1, 22, 10): ("synchronize", SECR),
        datetime(2026, 1, 26, 4): ("approve", CHAIR),
        datetime(2026, 1, 28, 3): ("sign", CHAIR),
    }
    clock = datetime(2026, 1, 12, 0)
    while clock <= datetime(2026, 1, 31, 0):
        if clock in steps:
            event, actor = steps[clock]
            svc.advance("pacitan-sdmo-2026", event, actor, at=clock)
        svc.tick(at=clock)
        clock += timedelta(hours=1)

    # sdmo: a single reminder, to the secretariat, 1 day before division_review was due (23 Jan 16:00 WIB)
    assert grouped(outbox(svc, "pacitan-sdmo-2026")) == {("reminder", "2026-01-22 09:00"): [SECR]}
    # hukum never left draft (due 21 Jan 16:00 WIB = 09:00 UTC)
    got = grouped(outbox(svc, "pacitan-hukum-2026"))
    expected = {("reminder", "2026-01-19 09:00"): [COORD_HUKUM],      # 2 days before
                ("reminder", "2026-01-20 09:00"): [COORD_HUKUM],      # 1 day before
                ("escalation", "2026-01-21 09:00"): sorted([COORD_HUKUM, SECR]),
                ("escalation", "2026-01-22 09:00"): sorted([COORD_HUKUM, SECR]),
                ("escalation", "2026-01-23 09:00"): sorted([COORD_HUKUM, SECR, CHAIR])}  # chair after 2d
    for day in range(24, 31):  # the parent office's secretariat after 3 days, daily until the end
        expected[("escalation", f"2026-01-{day} 09:00")] = sorted([COORD_HUKUM, SECR, CHAIR, PROV])
    assert got == expected
    # nothing is ever doubled
    causes = [r[3] for r in outbox(svc)] + [r[4] for r in outbox(svc)]
    assert len(causes) == len(set(causes))
    st = svc.status("pacitan-sdmo-2026", at=utc("2026-01-30T00:00+07:00"))
    assert st["state"] == "signed" and st["due_at"] is None
    assert svc.con.execute("SELECT next_action_at FROM document WHERE key = 'pacitan-sdmo-2026'").fetchone() == (None,)


def test_after_three_days_down_one_pass_sends_each_missed_reminder_once(svc, parent_secretariat):
    svc.new("pacitan", "sdmo", 2026, SIGNING, COORD, at=utc("2026-01-12T09:00+07:00"))
    svc.new("pacitan", "hukum", 2026, SIGNING, COORD_HUKUM, at=utc("2026-01-12T09:00+07:00"))
    assert svc.tick(at=datetime(2026, 1, 18))["emails"] == 0
    # down from 18 January to 25 January: two reminders and four escalations were missed
    res = svc.tick(at=datetime(2026, 1, 25, 12))
    assert res["documents"] == 2 and res["escalations"] == 2 and res["reminders"] == 0
    for key, coord in (("pacitan-sdmo-2026", COORD), ("pacitan-hukum-2026", COORD_HUKUM)):
        assert grouped(outbox(svc, key)) == {
            ("escalation", "2026-01-25 09:00"): sorted([coord, SECR, CHAIR, PROV])}
    # the secretariat, the chair and the province are told about both documents in one digest each
    assert res["emails"] == 5
    digests = svc.con.execute("SELECT recipient, payload, template FROM outbox WHERE kind = 'digest'"
                              " AND status = 'pending' ORDER BY recipient").fetchall()
    assert [r[0] for r in digests] == sorted([SECR, CHAIR, PROV])
    from ikuflow.notify.render import Renderer

    for _, payload, template in digests:  # intents: the sender renders them as here
        assert sorted(json.loads(payload)["keys"]) == ["pacitan-hukum-2026", "pacitan-sdmo-2026"]
        assert Renderer().render(template, json.loads(payload)["context"]).subject == \
            "[IKU] 2 dokumen menunggu tindakan Anda"
    assert svc.con.execute("SELECT count(*) FROM outbox WHERE status = 'merged'").fetchone()[0] == 6
    assert svc.tick(at=datetime(2026, 1, 25, 13))["emails"] == 0
    assert svc.tick(at=datetime(2026, 1, 26, 9, 0))["emails"] == 5  # the next daily escalation


def test_a_document_created_late_is_simply_overdue(svc):
    svc.new("pacitan", "sdmo", 2026, SIGNING, COORD, at=utc("2026-01-26T09:00+07:00"))
    st = svc.status("pacitan-sdmo-2026", at=utc("2026-01-26T09:00+07:00"))
    assert st["overdue"] is True and st["time_left"].startswith("-")
    # no burst of past reminders: the next action is the next daily escalation
    assert svc.tick(at=utc("2026-01-26T09:00+07:00"))["emails"] == 0
    assert svc.tick(at=utc("2026-01-26T16:00+07:00"))["escalations"] == 1


def test_overdue_lists_most_overdue_first_with_who_must_act(svc, cli):
    from ikuflow import admin

    admin.add_person("coord@badung.example.id", "Made", "coordinator", "badung", "sdmo")
    svc.new("pacitan", "sdmo", 2026, SIGNING, COORD, at=utc("2026-01-12T09:00+07:00"))
    svc.new("pacitan", "hukum", 2026, SIGNING, COORD_HUKUM, at=utc("2026-01-12T09:00+07:00"))
    svc.new("badung", "sdmo", 2026, SIGNING, "coord@badung.example.id", at=utc("2026-01-12T09:00+07:00"))
    svc.advance("pacitan-sdmo-2026", "submit", COORD, at=utc("2026-01-19T10:00+07:00"))
    at = "2026-01-27T10:00+07:00"
    rows = json.loads(cli("overdue", "--json", "--at", at).stdout)
    # badung is WITA: its draft fell due at 16:00 WITA, an hour before pacitan's 16:00 WIB
    assert [r["key"] for r in rows] == ["badung-sdmo-2026", "pacitan-hukum-2026", "pacitan-sdmo-2026"]
    assert rows[0]["due_at"] == "2026-01-21T16:00:00+08:00" and rows[0]["overdue_by"] == "5d 19h"
    assert [p["email"] for p in rows[1]["must_act"]] == [COORD_HUKUM]
    assert [p["email"] for p in rows[2]["must_act"]] == [SECR] and rows[2]["state"] == "division_review"
    # an office sees itself and the offices below it
    assert {r["key"] for r in json.loads(cli("overdue", "--json", "--office", "jawa-timur", "--at", at).stdout)} \
        == {"pacitan-hukum-2026", "pacitan-sdmo-2026"}
    assert json.loads(cli("overdue", "--json", "--office", "bali", "--at", "2026-01-20T10:00+07:00").stdout) == []
    assert cli("overdue", "--office", "atlantis").exit_code == 3
    text = cli("overdue", "--at", at).stdout
    assert "pacitan-hukum-2026" in text and "5d 18h" in text and "Dewi Lestari" in text
    assert svc.overdue_count(at=utc(at)) == 3


def test_due_times_after_a_long_weekend_and_across_time_zones(svc):
    """Signing on Wednesday 25 March 2026, just after Nyepi (19 March) and the Idul Fitri
    collective leave (20-24 March): 5 working days back is 11 March."""
    from ikuflow import admin

    admin.add_office("papua", "Bawaslu Provinsi Papua", "WIT", parent="ri", level="province")
    admin.add_office("jayapura", "Bawaslu Kabupaten Jayapura", "WIT", parent="papua")
    admin.add_person("coord@jayapura.example.id", "Yohanes", "coordinator", "jayapura", "sdmo")
    svc.new("pacitan", "sdmo", 2026, date(2026, 3, 25), COORD, at=utc("2026-03-02T09:00+07:00"))
    svc.new("jayapura", "sdmo", 2026, date(2026, 3, 25), "coord@jayapura.example.id",
            at=utc("2026-03-02T09:00+09:00"))
    wib, wit = svc.status("pacitan-sdmo-2026"), svc.status("jayapura-sdmo-2026")
    assert wib["due_at"] == "2026-03-11T16:00:00+07:00" and wib["due_local"] == "2026-03-11 16:00 WIB"
    assert wit["due_at"] == "2026-03-11T16:00:00+09:00" and wit["due_local"] == "2026-03-11 16:00 WIT"
    # the same signing date falls due two hours earlier in absolute time in Jayapura
    at = utc("2026-03-11T15:00+07:00")  # 17:00 WIT, 15:00 WIB
    assert [r["key"] for r in svc.overdue(at=at)] == ["jayapura-sdmo-2026"]
    svc.advance("pacitan-sdmo-2026", "submit", COORD, at=utc("2026-03-11T10:00+07:00"))
    # division_review: 3 working days back from 25 March is 13 March (16-17 March are working days)
    assert svc.status("pacitan-sdmo-2026")["due_at"] == "2026-03-13T16:00:00+07:00"


def test_the_calendar_file_adds_decreed_days_off(tmp_path, monkeypatch):
    import shutil

    from conftest import WORKFLOWS, seed_directory

    wf = tmp_path / "wf"
    shutil.copytree(WORKFLOWS, wf)
    (wf / "calendar.yaml").write_text("non_working:\n  2026-01-21: Cuti bersama (keputusan baru)\n"
                                      "working: {}\n")
    monkeypatch.setenv("IKUFLOW_WORKFLOWS", str(wf))
    seed_directory()
    from ikuflow.app.service import Service

    svc = Service()
    svc.new("pacitan", "sdmo", 2026, SIGNING, COORD, at=utc("2026-01-12T09:00+07:00"))
    # 21 January is now a day off: 5 working days before 28 January is 20 January
    assert svc.status("pacitan-sdmo-2026")["due_at"] == "2026-01-20T16:00:00+07:00"
    svc.close()
    (wf / "calendar.yaml").write_text("non_working:\n  2026-02-30: typo\n")
    r = run_ikuflow("init")
    assert r.returncode == 1 and "'2026-02-30' is not a real date" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("signing,tick_from", [
    (date(2026, 3, 13), datetime(2026, 3, 3)),    # US clocks spring forward on 8 March 2026
    (date(2026, 11, 6), datetime(2026, 10, 27)),  # and fall back on 1 November 2026
])
def test_a_dst_edge_never_fires_twice(svc, signing, tick_from):
    from ikuflow import admin

    admin.add_office("nyc", "Test office with daylight saving", "America/New_York", parent="ri")
    admin.add_person("c@nyc.example.id", "C", "coordinator", "nyc", "sdmo")
    svc.new("nyc", "sdmo", 2026, signing, "c@nyc.example.id", at=tick_from)
    clock = tick_from
    while clock < tick_from + timedelta(days=10):
        svc.tick(at=clock)
        clock += timedelta(minutes=10)
    rows = outbox(svc)
    ats = [datetime.fromisoformat(r[1]) for r in rows]
    assert len(ats) == len(set(ats)) >= 6
    escalations = [datetime.fromisoformat(r[1]) for r in rows if r[0] == "escalation"]
    assert all(b - a == timedelta(days=1) for a, b in zip(escalations, escalations[1:]))


def _offices(n: int) -> list[str]:
    return [f"pacitan-{i:03d}" for i in range(n)]


def _many_documents(svc, n: int) -> int:
    """2 * n documents signed on SIGNING: sdmo and hukum of ``n`` offices like pacitan, with the
    same people in the same roles (a signing date fits its IKU year, so the year cannot vary)."""
    import yaml

    from ikuflow.app.directory import import_file

    who = ((COORD, "Sri Wahyuni", "coordinator", "sdmo"), (COORD_HUKUM, "Dewi Lestari", "coordinator", "hukum"),
           (SECR, "Budi Santoso", "secretariat", None), (CHAIR, "Ahmad Fauzi", "chair", None))
    directory = {
        "offices": [{"code": o, "name": f"Bawaslu {o}", "parent": "jawa-timur"} for o in _offices(n)],
        "people": [{"email": e, "name": name, "roles": [{"role": r, "office": o, **({"division": d} if d else {})}
                                                        for o in _offices(n)]} for e, name, r, d in who]}
    path = Path.cwd() / "many-offices.yaml"  # (the test's own folder)
    path.write_text(yaml.safe_dump(directory), encoding="utf-8")
    import_file(path)
    for office in _offices(n):
        svc.new(office, "sdmo", 2026, SIGNING, COORD, at=utc("2026-01-12T09:00+07:00"))
        svc.new(office, "hukum", 2026, SIGNING, COORD_HUKUM, at=utc("2026-01-12T09:00+07:00"))
    return 2 * n


def ticks(at: str, count: int) -> list[dict]:
    """``count`` real ``ikuflow tick --batch 7 --at AT`` processes started at once: their totals."""
    exe = Path(sys.executable).with_name("ikuflow")
    procs = [subprocess.Popen([str(exe), "tick", "--json", "--batch", "7", "--at", at],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              stdin=subprocess.DEVNULL) for _ in range(count)]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * count, results
    return [json.loads(out) for out, _ in results]


def test_two_tick_processes_at_once_never_write_a_reminder_twice(svc, tmp_path):
    n = _many_documents(svc, 80)
    for at in ("2026-01-19T17:00+07:00", "2026-01-20T17:00+07:00", "2026-01-22T17:00+07:00"):
        totals = ticks(at, 2)
        assert sum(t["documents"] for t in totals) == n  # each document claimed by one of them
    rows = outbox(svc)
    # two reminders to the coordinator, then one escalation (coordinator + secretariat) per document
    assert len(rows) == n * 4
    assert len({r[3] for r in rows}) == len(rows) and len({r[4] for r in rows}) == len(rows)


def test_after_three_days_down_two_tick_processes_send_each_missed_action_once(svc):
    """Downtime and concurrency together, with real processes: the first passes after a week
    without a scheduler are two ``ikuflow tick`` at once; each document's latest missed action
    reaches each recipient once, not once per missed interval and not once per process."""
    n = _many_documents(svc, 40)
    assert sum(t["emails"] for t in ticks("2026-01-18T07:00+07:00", 1)) == 0
    # down until 25 January 19:00 WIB: two reminders and several daily escalations were missed
    totals = ticks("2026-01-25T19:00+07:00", 2)
    assert sum(t["documents"] for t in totals) == n  # each document claimed by one of them
    assert sum(t["reminders"] for t in totals) == 0 and sum(t["escalations"] for t in totals) == n
    for office in _offices(40):
        for division, coord in (("sdmo", COORD), ("hukum", COORD_HUKUM)):
            assert grouped(outbox(svc, f"{office}-{division}-2026")) == {
                ("escalation", "2026-01-25 09:00"): sorted([coord, SECR, CHAIR])}
    rows = outbox(svc)
    assert len({r[3] for r in rows}) == len(rows) == n * 3  # one cause per recipient and document
    assert sum(t["documents"] for t in ticks("2026-01-25T19:00+07:00", 2)) == 0  # nothing due again


def test_sigterm_as_a_pass_starts_never_leaves_a_traceback(directory):
    """The multi-node test caught it: a pass the executor started just as SIGTERM arrived ran
    on the closed database. Signals at many moments across a fast interval: always a clean stop."""
    exe = str(Path(sys.executable).with_name("ikuflow"))
    for i in range(8):
        p = subprocess.Popen([exe, "serve", "--interval", "0.1", "--no-send"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL, env=dict(os.environ))
        try:
            deadline = time.monotonic() + 30
            while "a pass every" not in (p.stdout.readline() or "") and time.monotonic() < deadline:
                pass
            time.sleep(0.3 + 0.013 * i)  # land at a different point of the 0.1 s cycle each time
            p.send_signal(signal.SIGTERM)
            out, err = p.communicate(timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
                p.communicate()  # reaped, its pipes closed: nothing leaks into the next test
        assert p.returncode == 0 and "Traceback" not in err, err[-800:]


def test_serve_runs_passes_and_stops_cleanly_on_sigterm(svc):
    n = _many_documents(svc, 30)  # signing date long past: every document is overdue now
    p = subprocess.Popen([str(Path(sys.executable).with_name("ikuflow")), "serve", "--interval", "0.3",
                          "--batch", "16"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         stdin=subprocess.DEVNULL, env=dict(os.environ))
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(outbox(svc)) < 3 * n:
            time.sleep(0.2)
        time.sleep(1.0)  # a few more passes: none may add anything
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()  # reaped, its pipes closed: nothing leaks into the next test
    assert p.returncode == 0, err
    assert "stopped after" in out
    rows = outbox(svc)
    # months late: coordinator, secretariat and chair (jawa-timur has no secretariat to add)
    assert len(rows) == 3 * n and {r[0] for r in rows} == {"escalation"}
    assert len({r[3] for r in rows}) == len(rows)
    from ikuflow.calendar import now_utc

    stuck = svc.con.execute("SELECT count(*) FROM document WHERE next_action_at <= ?",
                            (now_utc().isoformat(sep=" "),)).fetchone()[0]
    assert stuck == 0


def test_serve_killed_mid_pass_then_restarted_loses_and_doubles_nothing(svc):
    n = _many_documents(svc, 100)
    exe = str(Path(sys.executable).with_name("ikuflow"))
    first = subprocess.Popen([exe, "serve", "--interval", "0.2", "--batch", "1"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not outbox(svc):
        time.sleep(0.002)
    first.kill()  # SIGKILL in the middle of the pass: batches after the last commit are not done
    first.wait(timeout=30)
    done_before = len(outbox(svc))
    assert 0 < done_before < 3 * n
    second = subprocess.Popen([exe, "serve", "--interval", "0.2", "--batch", "8"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        while time.monotonic() < deadline and len(outbox(svc)) < 3 * n:
            time.sleep(0.2)
        time.sleep(0.6)
        second.send_signal(signal.SIGINT)
        second.communicate(timeout=30)
    finally:
        if second.poll() is None:
            second.kill()
    assert second.returncode == 0
    rows = outbox(svc)
    assert len(rows) == 3 * n and len({r[3] for r in rows}) == 3 * n


def test_serve_without_a_database_fails_fast(tmp_path):
    r = run_ikuflow("serve", "--interval", "1", timeout=30)
    assert r.returncode == 1 and "ikuflow init" in r.stderr


def test_tick_cli(svc, cli, parent_secretariat):
    svc.new("pacitan", "hukum", 2026, SIGNING, COORD_HUKUM, at=utc("2026-01-12T09:00+07:00"))
    r = cli("tick", "--at", "2026-01-19T17:00+07:00")
    assert r.exit_code == 0 and "1 reminder(s)" in r.stdout and "1 e-mail(s)" in r.stdout
    assert json.loads(cli("tick", "--json", "--at", "2026-01-19T18:00+07:00").stdout)["emails"] == 0
    assert cli("tick", "--at", "nope").exit_code == 2
    assert cli("tick", "--batch", "0").exit_code == 2


@pytest.mark.backends("sqlite")
class Recording:
    """A connection that records the statements sent through it."""

    def __init__(self, con) -> None:
        self.con, self.seen = con, []

    def execute(self, sql, params=()):
        self.seen.append((sql, tuple(params)))
        return self.con.execute(sql, params)

    def __getattr__(self, name):
        return getattr(self.con, name)


def test_the_scans_read_their_covering_indexes_only(svc, doc, backend):
    """The statements Service really sends for the overdue list, the count and the scheduler's
    claim are each served by their partial index alone, never by a table scan."""
    from ikuflow.app.service import Service
    from ikuflow.store.documents import tick_slot

    rec = Recording(svc.con)
    watched = Service(con=rec)
    at = utc("2026-01-27T10:00+07:00")
    assert len(watched.overdue(at=at)) == 1 and watched.overdue_count(at=at) == 1
    watched.tick(at=at)
    sent = {"list": [q for q in rec.seen if "ORDER BY due_at" in q[0]],
            "count": [q for q in rec.seen if "count(*)" in q[0] and "due_at" in q[0]],
            "claim": [q for q in rec.seen if q[0].startswith("SELECT") and "next_action_at <=" in q[0]
                      and "FROM tick_slot" not in q[0]],
            "probe": [q for q in rec.seen if "FROM tick_slot s WHERE (SELECT min(" in q[0]]}
    slots = [q for q in rec.seen if "FROM tick_slot WHERE slot >=" in q[0]]
    # one probe finds the slots with anything due; the pass takes the one slot of the one overdue
    # document, claims it once, and asks for no other slot
    assert [params for _, params in slots] == [(tick_slot(doc),)], rec.seen
    assert all(len(v) == 1 for v in sent.values()), sent
    if backend == "postgresql":  # the tables are tiny: ask whether the index can serve, alone
        svc.con.execute("VACUUM ANALYZE document")  # statistics and the visibility map, as autovacuum keeps them
        for knob in ("enable_seqscan", "enable_bitmapscan"):
            svc.con.execute(f"SET {knob} = off")
        explain, want = "EXPLAIN ", {"list": "Index Only Scan using ix_document_due",
                                     "count": "Index Only Scan using ix_document_due_count",
                                     "claim": "Index Only Scan using ix_document_next_action",
                                     "probe": "Index Only Scan using ix_document_next_action"}
    else:
        explain, want = "EXPLAIN QUERY PLAN ", {"list": "USING COVERING INDEX ix_document_due",
                                                "count": "USING COVERING INDEX ix_document_due (",
                                                "claim": "USING COVERING INDEX ix_document_next_action",
                                                "probe": "USING COVERING INDEX ix_document_next_action"}
    for name, [(sql, params)] in sent.items():
        plan = " / ".join(str(r[-1]) for r in svc.con.execute(explain + sql, params))
        assert want[name] in plan, (name, plan)
    if backend == "postgresql":  # the slot is locked, skipped if another pass holds it; the documents are not
        assert slots[0][0].endswith("FOR UPDATE SKIP LOCKED") and "FOR" not in sent["claim"][0][0]


@pytest.mark.backends("postgresql")
def test_a_pass_skips_a_tick_slot_another_pass_holds_and_never_holds_up_a_transition(svc, doc):
    """On PostgreSQL a batch locks its tick slot's row (FOR UPDATE SKIP LOCKED), not its
    documents: a second pass skips the held slot and does the others, the slot's documents wait
    for the next pass, and a coordinator's step on a claimed document goes through at once."""
    from conftest import db
    from ikuflow.store import schedule
    from ikuflow.store.documents import tick_slot

    hukum = "pacitan-hukum-2026"
    svc.new("pacitan", "hukum", 2026, SIGNING, COORD_HUKUM, at=utc("2026-01-12T09:00+07:00"))
    assert tick_slot(doc) != tick_slot(hukum)
    doc_id = svc.con.execute("SELECT id FROM document WHERE key = ?", (doc,)).fetchone()[0]
    at = utc("2026-01-19T17:00+07:00")  # both have a reminder due

    def other_node_in_a_batch(until):  # another pass, in the middle of a batch of doc's slot
        other = db()
        other.execute("BEGIN")
        assert schedule.next_slot(other, tick_slot(doc)) == tick_slot(doc)
        assert [r.id for r in schedule.claim(other, tick_slot(doc), until, 500)] == [doc_id]
        return other

    other = other_node_in_a_batch(at)
    try:
        assert svc.tick(at=at)["documents"] == 1
        assert outbox(svc, doc) == [] and [r[0] for r in outbox(svc, hukum)] == ["reminder"]
    finally:
        other.execute("ROLLBACK")
        other.close()
    hukum_mails = outbox(svc, hukum)
    assert svc.tick(at=at)["documents"] == 1  # the slot is free: the next pass does it
    assert [r[0] for r in outbox(svc, doc)] == ["reminder"] and outbox(svc, hukum) == hukum_mails

    other = other_node_in_a_batch(at + timedelta(days=30))
    try:
        svc.con.execute("SET lock_timeout = 2000")  # a lock on the document would end this in a Conflict
        svc.advance(doc, "submit", COORD, at=at)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert svc.status(doc)["state"] == "division_review"


@pytest.mark.backends("postgresql")
def test_a_step_taken_while_a_batch_runs_gets_no_stale_reminder(svc, doc):
    """A pass on PostgreSQL does not lock the documents it claims, so a coordinator can move one
    while the batch runs. The batch then writes no reminder for the step already taken, and the
    document keeps the schedule of its new state."""
    from ikuflow.app.service import Service

    at = utc("2026-01-19T17:00+07:00")  # the draft's reminder is due
    mover = Service()  # the coordinator, on a connection of their own

    class StepTakenMidBatch:
        """The pass's connection: the coordinator submits just before the batch writes."""

        def __init__(self, con) -> None:
            self.con, self.stepped = con, False

        def executemany(self, sql, rows):
            if sql.startswith("UPDATE document SET next_action_at") and rows and not self.stepped:
                mover.advance(doc, "submit", COORD, at=at)
                self.stepped = mover.con.execute(SCHEDULE, (doc,)).fetchone()
            return self.con.executemany(sql, rows)

        def __getattr__(self, name):
            return getattr(self.con, name)

    SCHEDULE = "SELECT state, version, due_at, next_action_at FROM document WHERE key = ?"
    con = StepTakenMidBatch(svc.con)
    try:
        res = Service(con=con).tick(at=at)
    finally:
        mover.close()
    assert con.stepped and con.stepped[:2] == ("division_review", 1), con.stepped
    assert res["documents"] == 1 and res["reminders"] == res["escalations"] == 0
    assert outbox(svc, doc) == []
    assert svc.con.execute(SCHEDULE, (doc,)).fetchone() == con.stepped  # the pass left it as the step set it


@pytest.mark.backends("postgresql")
def test_a_lock_held_too_long_is_reported_as_a_conflict_on_postgresql(svc, doc):
    from ikuflow.errors import Conflict

    holder = hold_write_lock("document")
    svc.con.execute("SET lock_timeout = 200")
    try:
        with pytest.raises(Conflict, match="busy"):
            svc.advance(doc, "submit", COORD, at=utc("2026-01-19T10:00+07:00"))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert svc.status(doc)["state"] == "draft"


@pytest.mark.backends("sqlite")
def test_sqlite_file_busy_is_reported_as_a_conflict(svc, doc, tmp_path):
    from ikuflow.errors import Conflict
    from ikuflow.store import db

    holder = sqlite3.connect(tmp_path / "ikuflow.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    svc.con.execute("PRAGMA busy_timeout=100")
    try:
        with pytest.raises(Conflict, match="busy"):
            with db.write(svc.con):
                pass
    finally:
        holder.execute("ROLLBACK")
        holder.close()
