"""``ikuflow backup FILE``: SQLite's online backup, consistent while writers go on."""

from __future__ import annotations

import json
import sqlite3
import stat
import threading

import pytest

from conftest import COORD, SIGNING, run_ikuflow, utc


@pytest.mark.backends("sqlite")
def test_backup_copies_everything_owner_only_and_never_overwrites(svc, doc, tmp_path, cli):
    svc.advance(doc, "submit", COORD, at=utc("2026-01-19T10:00+07:00"))
    target = tmp_path / "copy.db"
    p = run_ikuflow("backup", str(target), "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["documents"] == 1
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    con = sqlite3.connect(target)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert con.execute("SELECT state, version FROM document").fetchall() == [("division_review", 1)]
    assert con.execute("SELECT count(*) FROM history").fetchone()[0] == 2
    con.close()
    # the copy is a working ikuflow database
    q = run_ikuflow("status", doc, "--json", env={"IKUFLOW_DATABASE_URL": f"sqlite:///{target}"})
    assert q.returncode == 0 and json.loads(q.stdout)["state"] == "division_review"

    again = cli("backup", str(target))
    assert again.exit_code == 2 and "exists" in again.stderr
    assert cli("backup", str(tmp_path)).exit_code == 2
    assert cli("backup", str(tmp_path / "no" / "such" / "x.db")).exit_code == 2
    assert not list(tmp_path.glob(".*.partial"))


@pytest.mark.backends("sqlite")
def test_backup_copies_the_documents_files_and_the_copy_downloads_and_verifies_them(svc, doc, tmp_path):
    """The content folder beside the database goes with the backup (FILE.files, owner-only):
    restored, the copy gives the same bytes back and verify names the same signers."""
    from ikuflow.app.evidence import attach

    pdf = b"%PDF-1.4\n% backup\n%%EOF\n"
    attach(svc, doc, pdf, "iku.pdf", COORD, at=utc("2026-01-18T10:00+07:00"))
    svc.advance(doc, "submit", COORD, at=utc("2026-01-19T10:00+07:00"))
    target = tmp_path / "copy.db"
    p = run_ikuflow("backup", str(target), "--json")
    assert p.returncode == 0 and json.loads(p.stdout)["content_files"] == 1, p.stdout + p.stderr
    [copied] = (tmp_path / "copy.db.files").glob("*/*")
    assert copied.read_bytes() == pdf and stat.S_IMODE(copied.stat().st_mode) == 0o600
    env = {"IKUFLOW_DATABASE_URL": f"sqlite:///{target}"}
    out = tmp_path / "back.pdf"
    q = run_ikuflow("download", doc, "-o", str(out), env=env)
    assert q.returncode == 0 and out.read_bytes() == pdf, q.stderr
    v = run_ikuflow("verify", str(out), "--json", env=env)
    assert v.returncode == 0 and [s["event"] for s in json.loads(v.stdout)["matches"][0]["steps"]] == ["submit"]


@pytest.mark.backends("postgresql")
def test_backup_of_postgresql_points_to_pg_dump_without_the_password(directory, tmp_path, cli, monkeypatch):
    import os

    url = os.environ["IKUFLOW_DATABASE_URL"].replace("postgres@", "postgres:s3cret@")
    r = cli("backup", str(tmp_path / "x.db"), env={"IKUFLOW_DATABASE_URL": url})
    assert r.exit_code == 2 and "pg_dump" in r.stderr and "s3cret" not in r.stderr
    assert not (tmp_path / "x.db").exists()


@pytest.mark.backends("sqlite")
def test_a_backup_taken_while_documents_move_is_consistent(svc, tmp_path):
    from ikuflow.app.service import Service
    from ikuflow.store.db import backup

    for div in ("sdmo", "hukum", "penanganan", "pencegahan", "sengketa"):
        from ikuflow import admin

        admin.add_person(f"k-{div}@pacitan.example.id", f"K {div}", "coordinator", "pacitan", div)
        svc.new("pacitan", div, 2026, SIGNING, f"k-{div}@pacitan.example.id", at=utc("2026-01-12T09:00+07:00"))
    stop = threading.Event()
    moved = []

    def writer():
        w = Service()
        try:
            for round_ in range(40):
                for div in ("sdmo", "hukum", "penanganan", "pencegahan", "sengketa"):
                    if stop.is_set():
                        return
                    key = f"pacitan-{div}-2026"
                    ev = "submit" if round_ % 2 == 0 else "send_back"
                    actor = f"k-{div}@pacitan.example.id" if ev == "submit" else "budi@pacitan.example.id"
                    w.advance(key, ev, actor, comment="Mohon diperbaiki",
                              at=utc("2026-01-19T10:00+07:00"))
                    moved.append(key)
        finally:
            w.close()

    t = threading.Thread(target=writer)
    t.start()
    steps = []
    try:  # one page per step: the copy restarts whenever a writer commits in between
        res = backup(tmp_path / "live.db", pages_per_step=1, progress=lambda *a: steps.append(a))
    finally:
        stop.set()
        t.join()
    assert moved and len(steps) > 1
    con = sqlite3.connect(tmp_path / "live.db")
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    # a snapshot of one moment: each document's version equals its steps, state its last step
    for key, version, state, n, last in con.execute(
            "SELECT d.key, d.version, d.state, count(h.id), (SELECT to_state FROM history"
            " WHERE document_id = d.id ORDER BY version DESC LIMIT 1) FROM document d"
            " JOIN history h ON h.document_id = d.id GROUP BY d.id"):
        assert version == n - 1 and state == last, key
    assert res["documents"] == 5
    con.close()
