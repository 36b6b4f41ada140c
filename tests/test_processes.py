"""The real console script in real processes: cold imports, exit codes, concurrent writers,
and the README's demo."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import COORD, ROOT, db, hold_write_lock, run_ikuflow
from test_multinode import SLEEP_SYSCALLS, waiting_on_lock  # how test_multinode's CLI racers are watched

KEY = "pacitan-sdmo-2026"
HEAVY = ("sqlalchemy", "sqlmodel", "apscheduler", "jinja2", "aiosmtplib")


def imported_by(*argv: str) -> set[str]:
    """Top-level packages imported by running the CLI with ``argv`` in a fresh interpreter."""
    code = ("import sys\nsys.argv = ['ikuflow', *%r]\nfrom ikuflow.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "sys.stderr.write('\\nMODULES ' + ' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
            % (list(argv),))
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    line = [ln for ln in p.stderr.splitlines() if ln.startswith("MODULES ")][-1]
    return set(line.split()[1:])


def test_help_is_light():
    mods = imported_by("--help")
    assert not mods & set(HEAVY + ("rich", "transitions", "yaml")), mods & set(HEAVY)
    p = run_ikuflow("--help")
    assert p.returncode == 0 and "Exit codes" in p.stdout and "advance" in p.stdout


def test_status_path_loads_the_storage_layer_only(directory, doc):
    mods = imported_by("status", KEY)
    assert not mods & {"apscheduler", "jinja2", "aiosmtplib"}, mods


def test_exit_codes_and_stderr_of_the_real_script(directory, doc):
    cases = [(["status", KEY], 0), (["status", "nope-x-2026"], 3),
             (["advance", KEY, "approve", "--as", COORD], 4),
             (["advance", KEY, "submit", "--as", "dewi@pacitan.example.id"], 5),
             (["advance", KEY, "submit", "--as", COORD, "--at", "2026-13-01"], 2),
             (["advance"], 2)]
    for args, code in cases:
        p = run_ikuflow(*args)
        assert p.returncode == code, (args, p.stderr)
        assert "Traceback" not in p.stderr
        if code not in (0, 2):
            assert p.stderr.startswith("error: ") and len(p.stderr.strip().splitlines()) == 1


def test_two_processes_firing_at_once_one_wins_the_other_gets_6(directory, doc, backend):
    """Both processes read version 0 while the test holds the write lock; the test lets go only
    once it has seen each of them blocked on that lock, which they reach after their read
    (SQLite: the busy handler of the retry that queues for the lock; PostgreSQL: the lock wait
    of the UPDATE). Then exactly one commits and the other finds the version moved."""
    assert backend == "postgresql" or SLEEP_SYSCALLS, f"no sleep system calls known for {platform.machine()}"
    holder = hold_write_lock("document")
    exe = Path(sys.executable).with_name("ikuflow")
    args = ["advance", KEY, "submit", "--as", COORD, "--at", "2026-01-19T10:00+07:00"]
    procs = [subprocess.Popen([str(exe), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=dict(os.environ), stdin=subprocess.DEVNULL)
             for _ in range(2)]
    try:
        seen: set[int] = set()
        deadline = time.monotonic() + 60  # only to fail with a message instead of hanging
        while len(seen) < 2:
            assert all(p.poll() is None for p in procs), [p.communicate() for p in procs if p.poll() is not None]
            assert time.monotonic() < deadline, f"only {len(seen)} of 2 reached the write lock"
            waiting = waiting_on_lock([p.pid for p in procs], backend)
            seen = waiting if backend == "postgresql" else seen | waiting
            time.sleep(0.01)  # polling: the condition above is what the test waits for
    finally:
        holder.execute("COMMIT")
        holder.close()
    outputs = [p.communicate(timeout=30) for p in procs]
    results = sorted((p.returncode, out, err) for p, (out, err) in zip(procs, outputs))
    assert [r[0] for r in results] == [0, 6], results
    assert results[0][1].strip() == "division_review"
    assert "changed while you were acting" in results[1][2]
    con = db()
    assert con.execute("SELECT version, state FROM document WHERE key = ?", (KEY,)).fetchone() == (1, "division_review")
    assert con.execute("SELECT count(*) FROM history").fetchone()[0] == 2
    assert con.execute("SELECT count(*) FROM outbox WHERE template = 'submit'").fetchone()[0] == 1


def test_many_processes_racing_never_double_a_transition(directory, doc, tmp_path):
    exe = Path(sys.executable).with_name("ikuflow")
    args = ["advance", KEY, "submit", "--as", COORD, "--at", "2026-01-19T10:00+07:00"]
    procs = [subprocess.Popen([str(exe), *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              stdin=subprocess.DEVNULL) for _ in range(4)]
    codes = sorted(p.wait(timeout=60) for p in procs)
    assert codes[0] == 0 and codes.count(0) == 1 and set(codes[1:]) <= {4, 6}, codes
    con = db()
    assert con.execute("SELECT count(*) FROM history WHERE event = 'submit'").fetchone()[0] == 1
    con.close()


@pytest.mark.backends("sqlite")  # the demo is the embedded default, by design
def test_readme_demo_walks_a_document_to_signed(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("IKUFLOW_")}
    p = subprocess.run([str(Path(sys.executable).with_name("ikuflow")), "demo", "--dir", str(tmp_path / "d")],
                       capture_output=True, text=True, timeout=120, cwd=ROOT, env=env,
                       stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "$ ikuflow advance pacitan-sdmo-2026 sign" in p.stdout
    assert "3 overdue document(s)" in p.stdout and "5d 18h" in p.stdout
    con = sqlite3.connect(tmp_path / "d" / "ikuflow.db")
    state = con.execute("SELECT state, id FROM document WHERE key = ?", (KEY,)).fetchone()
    assert state[0] == "signed"
    events = [r[0] for r in con.execute("SELECT event FROM history WHERE document_id = ? ORDER BY id", (state[1],))]
    assert events == ["create", "attach", "submit", "synchronize", "approve", "sign"]
    q = run_ikuflow("history", KEY, "--json", env={"IKUFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'd' / 'ikuflow.db'}"})
    assert len(json.loads(q.stdout)) == 6
    # the evidence: the signed file's record, its download verified with its signers, every chain intact
    signed = tmp_path / "d" / "IKU-SDMO-Pacitan-2026-ditandatangani.pdf"
    assert signed.read_bytes().startswith(b"%PDF-") and (tmp_path / "d" / "lembar-pengesahan.html").exists()
    sha = hashlib.sha256(signed.read_bytes()).hexdigest()
    assert f"check with │ ikuflow verify FILE (sha256 {sha})" in p.stdout
    assert "history chain: intact" in p.stdout and "every history chain is intact: 1 document(s)" in p.stdout
    v = run_ikuflow("verify", str(signed), "--json",
                    env={"IKUFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'd' / 'ikuflow.db'}"})
    assert v.returncode == 0 and [(s["event"], s["actor"].split("@")[0]) for s in json.loads(v.stdout)["matches"][0]["steps"]] \
        == [("submit", "sri.wahyuni"), ("synchronize", "budi.santoso"), ("approve", "ahmad.fauzi"), ("sign", "ahmad.fauzi")]


@pytest.mark.backends("sqlite")
def test_database_file_is_owner_only(directory, tmp_path):
    assert (tmp_path / "ikuflow.db").stat().st_mode & 0o077 == 0
