"""Issue 14, "bad input gets one clear line": each kind of bad input found in review, refused
with one line on stderr that says what was wrong and what to do, its documented exit code, no
traceback and nothing half-written.

- ``advance --from-file`` with a file that is not UTF-8, not CSV, a folder or a FIFO;
- workflow and calendar files that are devices, FIFOs or huge: a bounded read of regular files;
- SQLite failures of the file and the disk (a read-only file or folder, a full disk) name their
  cause; read-only commands work on a database this user may read but not write;
- ``new``: the year against the signing date, a blank or long title, a long comment;
- an unusable IKUFLOW_MAIL_FROM refused by the writes, not only by ``outbox send``;
- ``outbox send`` with the SMTP server unreachable: one line, exit 1, nothing lost.

Some tests need file permissions to hold for the ikuflow process: as root (CI) its subprocess
runs without the capabilities that ignore them (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH,
CAP_FOWNER, dropped from its bounding set). The full disk is a 1 MiB tmpfs, which needs root.
Where either cannot be had these tests fail under CI=true, and elsewhere skip saying why.
"""

from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import sys
import threading
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest

from conftest import ADMIN, COORD, SECR, SIGNING, WORKFLOWS, cannot, db, run_ikuflow, seed_directory, utc

KEY = "pacitan-sdmo-2026"
AT_NEW = "2026-01-12T09:00+07:00"
AT_SUBMIT = "2026-01-19T10:00+07:00"
EXE = str(Path(sys.executable).with_name("ikuflow"))
#: a subprocess that would read /dev/zero into memory fails at this size, not at the machine's
MEMORY_LIMIT = 1 << 30


def one_line(stderr: str, code: int, got: int, stdout: str = "") -> str:
    """The single ``error:`` line of a refused command, after checking the exit code."""
    assert got == code, (got, stdout, stderr)
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr + stdout
    return lines[0]


def snapshot() -> tuple:
    """Everything a refused command must leave as it was: documents, history, outbox."""
    con = db()
    try:
        return (con.execute("SELECT key, state, version, title FROM document ORDER BY key").fetchall(),
                con.execute("SELECT count(*) FROM history").fetchone()[0],
                con.execute("SELECT id, status, attempts, next_attempt_at FROM outbox ORDER BY id").fetchall())
    finally:
        con.close()


def _bounded_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def ikuflow_bounded(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    """The console script with 1 GiB of address space and a time limit: reading a device or a
    FIFO without bounds fails the test (MemoryError, TimeoutExpired) instead of the machine."""
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ), stdin=subprocess.DEVNULL, preexec_fn=_bounded_memory)


# --- 1. advance --from-file ----------------------------------------------------------------
LATIN1 = b"pacitan-sdmo-2026,submit,Lampiran \xe9\n"
AFTER_BOM = b"\xef\xbb\xbfkey,event\npacitan-sdmo-2026,submit,\xff\n"


@pytest.mark.parametrize("content, words", [
    (LATIN1, f"not UTF-8 text (byte {LATIN1.index(0xE9)}); save the file as UTF-8 CSV"),
    (AFTER_BOM, f"not UTF-8 text (byte {AFTER_BOM.index(0xFF)}); save the file as UTF-8 CSV"),
    (b"pacitan-sdmo-2026,submit,\"" + b"x" * (128 * 1024 + 1) + b"\"\n",
     "not a readable CSV file: field larger than field limit (131072)"),
], ids=["latin-1", "after a BOM", "field over 128 KiB"])
def test_advance_from_file_refuses_a_file_that_is_not_utf8_csv_like_import(cli, doc, tmp_path, content, words):
    """These were tracebacks (UnicodeDecodeError, _csv.Error); ``import`` already said so."""
    path = tmp_path / "steps.csv"
    path.write_bytes(content)
    before = snapshot()
    r = cli("advance", "--from-file", str(path), "--as", COORD, "--at", AT_SUBMIT)
    line = one_line(r.stderr, 1, r.exit_code, r.stdout)
    assert line == f"error: {path}: {words}; nothing was advanced"
    assert snapshot() == before


def test_advance_from_file_and_import_word_a_latin1_file_alike(cli, doc, tmp_path):
    path = tmp_path / "divisions.csv"
    content = "code,name\nsdmo,Divisi SDM\xe9\n".encode("latin-1")
    path.write_bytes(content)
    imported = cli("import", str(path))
    advanced = cli("advance", "--from-file", str(path), "--as", COORD)
    assert imported.exit_code == advanced.exit_code == 1
    why = f"not UTF-8 text (byte {content.index(0xE9)}); save the file as UTF-8 CSV"
    assert why in imported.stderr and why in one_line(advanced.stderr, 1, advanced.exit_code)


@pytest.mark.parametrize("kind", ["folder", "fifo", "device"])
def test_advance_from_file_refuses_a_folder_a_fifo_or_a_device_without_waiting(doc, tmp_path, kind):
    """A FIFO was opened and waited on for ever; a folder was an OSError's wording."""
    path = {"folder": tmp_path / "steps", "fifo": tmp_path / "steps.csv", "device": Path("/dev/zero")}[kind]
    if kind == "folder":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    before = snapshot()
    p = ikuflow_bounded("advance", "--from-file", str(path), "--as", COORD)
    line = one_line(p.stderr, 1, p.returncode, p.stdout)
    what = {"folder": "a folder", "fifo": "a pipe (FIFO)", "device": "a device"}[kind]
    assert line.startswith(f"error: {path}: it is {what}, not a file; give a CSV file with key,event")
    assert line.endswith("nothing was advanced")
    assert snapshot() == before


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_import_refuses_a_fifo_or_a_device_without_waiting(doc, tmp_path, kind):
    """``ikuflow import`` on a FIFO waited for a writer for ever."""
    path = tmp_path / "directory.yaml" if kind == "fifo" else Path("/dev/zero")
    if kind == "fifo":
        os.mkfifo(path)
    before = snapshot()
    p = ikuflow_bounded("import", str(path))
    line = one_line(p.stderr, 1, p.returncode, p.stdout)
    what = {"fifo": "a pipe (FIFO)", "device": "a device"}[kind]
    assert line.startswith(f"error: {path}: it is {what}, not a file; give a .yaml or .csv directory file")
    assert line.endswith("nothing was imported")
    assert snapshot() == before


# --- 2. workflow and calendar files: regular files, bounded reads --------------------------
@pytest.fixture
def fifo(tmp_path) -> Path:
    path = tmp_path / "fifo.yaml"
    os.mkfifo(path)
    return path


@pytest.mark.no_database
def test_workflow_check_refuses_a_device_a_fifo_and_a_folder_as_problems_of_their_file(tmp_path, fifo):
    """``workflow check /dev/zero`` read without end (3.4 GB in 6 s); a FIFO blocked."""
    folder = tmp_path / "folder.yaml"
    folder.mkdir()
    p = ikuflow_bounded("workflow", "check", "/dev/zero", str(fifo), str(folder), str(WORKFLOWS / "iku.yaml"))
    assert p.returncode == 1 and "Traceback" not in p.stderr, p.stderr[-500:]
    assert p.stderr.splitlines() == [
        "/dev/zero: (file): it is a device, not a file; give a workflow file (YAML, a few KiB)",
        f"{fifo}: (file): it is a pipe (FIFO), not a file; give a workflow file (YAML, a few KiB)",
        f"{folder}: (file): it is a folder, not a file; give a workflow file (YAML, a few KiB)",
        "4 file(s) checked: 3 problems"]


@pytest.mark.no_database
def test_a_huge_workflow_file_is_a_problem_of_that_file(tmp_path):
    from ikuflow.definition.load import MAX_FILE_BYTES, check_files, load_file
    from ikuflow.errors import DefinitionError

    huge = tmp_path / "huge.yaml"
    huge.write_text((WORKFLOWS / "iku.yaml").read_text(encoding="utf-8")
                    + "#" * MAX_FILE_BYTES, encoding="utf-8")
    [problem] = check_files([huge, WORKFLOWS / "iku.yaml"])
    assert (problem.file, problem.location) == (str(huge), "(file)")
    assert problem.message == "it is larger than 1 MiB; give a workflow file (YAML, a few KiB)"
    with pytest.raises(DefinitionError):
        load_file(huge)
    p = ikuflow_bounded("workflow", "check", str(huge))
    assert p.returncode == 1 and f"{huge}: (file): it is larger than 1 MiB" in p.stderr
    assert "Traceback" not in p.stderr


def test_init_refuses_a_fifo_or_a_huge_file_in_the_workflow_folder_and_creates_nothing(tmp_path, monkeypatch):
    folder = tmp_path / "wf"
    folder.mkdir()
    (folder / "iku.yaml").write_text((WORKFLOWS / "iku.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    os.mkfifo(folder / "revisi.yaml")
    monkeypatch.setenv("IKUFLOW_WORKFLOWS", str(folder))
    p = ikuflow_bounded("init")
    assert p.returncode == 1 and "Traceback" not in p.stderr, p.stderr[-500:]
    assert f"{folder / 'revisi.yaml'}: (file): it is a pipe (FIFO), not a file" in p.stderr
    (folder / "revisi.yaml").unlink()
    with open(folder / "revisi.yaml", "wb") as fh:  # 2 MiB of zeros, written sparse
        fh.truncate(2 << 20)
    p = ikuflow_bounded("init")
    assert p.returncode == 1 and f"{folder / 'revisi.yaml'}: (file): it is larger than 1 MiB" in p.stderr
    if os.environ["IKUFLOW_DATABASE_URL"].startswith("sqlite"):
        assert not (tmp_path / "ikuflow.db").exists()
    else:  # PostgreSQL: the database exists (the test made it), but init created no table
        from ikuflow.store.db import connect

        con = connect(create=True)
        assert con.execute("SELECT to_regclass('document')").fetchone()[0] is None
        con.close()


@pytest.mark.parametrize("kind", ["fifo", "device", "huge"])
def test_the_calendar_file_is_read_bounded_and_only_if_it_is_a_file(tmp_path, monkeypatch, kind):
    from ikuflow.calendar import load_overrides
    from ikuflow.errors import IkuflowError

    folder = tmp_path / "wf"
    folder.mkdir()
    (folder / "iku.yaml").write_text((WORKFLOWS / "iku.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    calendar = folder / "calendar.yaml"
    if kind == "fifo":
        os.mkfifo(calendar)
    elif kind == "device":
        calendar.symlink_to("/dev/zero")
    else:
        calendar.write_text("non_working:\n" + "".join(f"  2026-12-{d:02d}: cuti\n" for d in range(1, 29))
                            + "#" * (1 << 20), encoding="utf-8")
    what = {"fifo": "it is a pipe (FIFO), not a file", "device": "it is a device, not a file",
            "huge": "it is larger than 1 MiB"}[kind]
    message = f"cannot read calendar file {calendar}: {what}; give a calendar file (YAML, a few KiB) or remove it"
    if kind == "huge":  # (a FIFO or a device only in a subprocess: unbounded, they would hang this one)
        with pytest.raises(IkuflowError) as refused:
            load_overrides(calendar)
        assert str(refused.value) == message
    monkeypatch.setenv("IKUFLOW_WORKFLOWS", str(folder))
    p = ikuflow_bounded("init")
    assert one_line(p.stderr, 1, p.returncode, p.stdout) == f"error: {message}"


# --- 3. SQLite: a read-only file or folder, a full disk ------------------------------------
PR_CAPBSET_DROP = 24
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER = 1, 2, 3


def _without_file_capabilities() -> None:
    """preexec: as root, drop the capabilities that let root ignore file permissions from the
    bounding set, so the ikuflow it runs is a user like any other for the files it touches."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) refused")


def as_user(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """``ikuflow ARGS`` as a process that file permissions hold for (see the module docstring)."""
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ), stdin=subprocess.DEVNULL,
                          preexec_fn=_without_file_capabilities if os.geteuid() == 0 else None)


@pytest.fixture
def permissions_hold(tmp_path):
    """Proof that a read-only file is read-only for :func:`as_user`'s processes."""
    probe = tmp_path / "probe"
    probe.write_text("")
    probe.chmod(0o444)
    try:
        p = subprocess.run([sys.executable, "-c", f"open({str(probe)!r}, 'a')"], capture_output=True,
                           text=True, timeout=60,
                           preexec_fn=_without_file_capabilities if os.geteuid() == 0 else None)
    except (OSError, subprocess.SubprocessError) as exc:
        cannot(f"cannot run a process that file permissions hold for: {exc}")
    finally:
        probe.unlink()
    if "PermissionError" not in p.stderr:
        cannot("a read-only file is writable for the test's subprocess (root with CAP_DAC_OVERRIDE "
               "that could not be dropped?)")


@pytest.fixture
def data(tmp_path, monkeypatch) -> Path:
    """The database in a folder of its own, data/ikuflow.db, with the directory and one document."""
    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setenv("IKUFLOW_DATABASE_URL", f"sqlite:///{folder / 'ikuflow.db'}")
    seed_directory()
    from ikuflow.app.service import Service

    svc = Service()
    svc.new("pacitan", "sdmo", 2026, SIGNING, COORD, at=utc(AT_NEW))
    svc.close()
    yield folder
    folder.chmod(0o755)  # (for pytest's clean-up as a user that is not root)


READ_ONLY_COMMANDS = [["status", KEY, "--json"], ["list", "--json"], ["history", KEY, "--json"],
                      ["overdue", "--json"], ["report", "--json"], ["office", "list", "--json"],
                      ["person", "list", "--json"], ["outbox", "list", "--json"], ["workflow", "show", "--json"]]


def check_read_only_database(data: Path, why: str, before: tuple) -> None:
    """Every read-only command answers; a write names the cause in one line and writes nothing."""
    for args in READ_ONLY_COMMANDS:
        p = as_user(*args)
        assert p.returncode == 0 and p.stderr == "", (args, p.stderr)
        json.loads(p.stdout)
    assert json.loads(as_user("status", KEY, "--json").stdout)["state"] == "draft"
    path = data / "ikuflow.db"
    for args in (["advance", KEY, "submit", "--as", COORD, "--at", AT_SUBMIT],
                 ["office", "add", "ngawi", "--name", "Bawaslu Kabupaten Ngawi", "--parent", "jawa-timur"],
                 ["tick", "--at", "2026-01-22T10:00+07:00"]):  # (a reminder is due: a write)
        p = as_user(*args)
        line = one_line(p.stderr, 1, p.returncode, p.stdout)
        assert line.startswith(f"error: cannot write {path}: permission denied ({why}); run as its owner"), line
        assert line.endswith("or fix its permissions")
    data.chmod(0o755)
    (data / "ikuflow.db").chmod(0o600)
    assert snapshot() == before


@pytest.mark.backends("sqlite")
def test_a_read_only_database_file_is_read_and_a_write_names_the_cause(data, permissions_hold):
    """Every SQLite failure suggested 'ikuflow init', a read-only file included."""
    before = snapshot()
    (data / "ikuflow.db").chmod(0o444)
    check_read_only_database(data, "the file is read-only for this user", before)


@pytest.mark.backends("sqlite")
def test_a_database_in_a_read_only_folder_is_read_and_a_write_names_the_cause(data, permissions_hold):
    """SQLite cannot create ikuflow.db-wal and -shm there: the reads failed as well ('attempt to
    write a readonly database'). Without a -wal holding changes the file is read as it is."""
    before = snapshot()
    assert not (data / "ikuflow.db-wal").exists()
    data.chmod(0o555)
    check_read_only_database(data, f"its folder {data} is read-only for this user, and SQLite writes "
                                   "ikuflow.db-wal and ikuflow.db-shm there", before)


@pytest.mark.backends("sqlite")
def test_a_read_only_folder_while_the_owner_writes_reads_through_the_owners_wal(data, permissions_hold):
    """The owner's open connection keeps a step in ikuflow.db-wal (not yet in ikuflow.db): a
    reader sees it, through the -shm it may only read."""
    from ikuflow.app.service import Service

    owner = Service()
    try:
        owner.advance(KEY, "submit", COORD, at=utc(AT_SUBMIT))
        assert (data / "ikuflow.db-wal").stat().st_size > 0
        data.chmod(0o555)
        (data / "ikuflow.db").chmod(0o444)
        p = as_user("status", KEY, "--json")
        assert p.returncode == 0, p.stderr
        assert json.loads(p.stdout)["state"] == "division_review"
        p = as_user("advance", KEY, "synchronize", "--as", SECR)
        assert "cannot write" in one_line(p.stderr, 1, p.returncode, p.stdout)
    finally:
        owner.close()
        data.chmod(0o755)


@contextmanager
def small_disk(path: Path, size: str = "1m"):
    """A tmpfs of ``size`` at ``path``: a disk that fills up for real (needs root)."""
    path.mkdir()
    try:
        p = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
                           capture_output=True, text=True, timeout=30)
    except OSError as exc:
        p = subprocess.CompletedProcess([], 1, "", str(exc))
    if p.returncode != 0:
        cannot(f"cannot mount a small tmpfs for a full disk (needs root): {p.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30)


def fill(disk: Path, leave: int) -> Path:
    """Fill ``disk`` up, then free ``leave`` bytes: what a write finds when the disk is full."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as fh:
        for chunk in (1 << 16, 1 << 12, 1):
            try:
                while True:
                    fh.write(b"\0" * chunk)
            except OSError as exc:
                assert exc.errno == 28, exc  # ENOSPC
    if leave:
        os.truncate(filler, filler.stat().st_size - leave)
    return filler


@pytest.mark.backends("sqlite")
@pytest.mark.parametrize("leave", [0, 36 * 1024], ids=["no byte free", "room for the -shm only"])
def test_a_full_disk_is_named_and_nothing_is_written(tmp_path, monkeypatch, leave):
    """A full disk suggested 'ikuflow init'. With no byte free SQLite fails to map its -shm (an
    I/O error); with a little it fails to grow the -wal (SQLITE_FULL): one message for both."""
    from ikuflow.errors import IkuflowError
    from ikuflow.app.service import Service

    with small_disk(tmp_path / "disk") as disk:
        monkeypatch.setenv("IKUFLOW_DATABASE_URL", f"sqlite:///{disk / 'ikuflow.db'}")
        seed_directory()
        svc = Service()
        svc.new("pacitan", "sdmo", 2026, SIGNING, COORD, at=utc(AT_NEW))
        svc.close()  # no -wal, no -shm left: the next process makes them, on the full disk
        before = snapshot()
        filler = fill(disk, leave)
        p = run_ikuflow("advance", KEY, "submit", "--as", COORD, "--at", AT_SUBMIT)
        assert one_line(p.stderr, 1, p.returncode, p.stdout) == (
            f"error: the disk holding {disk} is full; free space and retry (nothing was written)")
        p = run_ikuflow("new", "--office", "pacitan", "--division", "hukum", "--year", "2026",
                        "--signing-date", "2026-01-28", "--as", ADMIN)
        assert f"the disk holding {disk} is full" in one_line(p.stderr, 1, p.returncode, p.stdout)
        svc = None
        with pytest.raises(IkuflowError) as refused:  # translated where it arises, the driver's kept
            svc = Service()
            svc.advance(KEY, "submit", COORD, at=utc(AT_SUBMIT))
        assert str(refused.value).startswith(f"the disk holding {disk} is full")
        assert type(refused.value.__cause__).__module__ == "sqlite3"
        if svc is not None:
            svc.close()
        filler.unlink()
        assert snapshot() == before
        p = run_ikuflow("advance", KEY, "submit", "--as", COORD, "--at", AT_SUBMIT)
        assert p.returncode == 0 and p.stdout.strip() == "division_review", p.stderr


@pytest.mark.backends("sqlite")
def test_a_failure_that_is_not_the_file_or_the_disk_keeps_its_hint(cli, tmp_path):
    import sqlite3

    sqlite3.connect(tmp_path / "ikuflow.db").close()  # a SQLite file without ikuflow's tables
    r = cli("status", KEY)
    line = one_line(r.stderr, 1, r.exit_code, r.stdout)
    assert line.startswith("error: database error: no such table") and "ikuflow init" in line
    (tmp_path / "ikuflow.db").write_bytes(b"not a database at all, just text" * 100)
    r = cli("status", KEY)
    assert one_line(r.stderr, 1, r.exit_code, r.stdout) == (
        f"error: {tmp_path / 'ikuflow.db'} is not an ikuflow database (not a SQLite file); check "
        "IKUFLOW_DATABASE_URL")


# --- 4. new: year and signing date, title, comment -----------------------------------------
NEW = ["new", "--office", "pacitan", "--division", "hukum", "--as", ADMIN, "--at", AT_NEW]


@pytest.mark.parametrize("year, signing, ok", [
    ("2026", "2026-01-28", True), ("2026", "2025-12-30", True), ("2026", "2026-12-31", True),
    ("2026", "2027-01-28", False), ("2026", "2024-12-31", False), ("2030", "2026-01-28", False)])
def test_new_checks_the_year_against_the_signing_date(cli, directory, year, signing, ok):
    before = snapshot()
    r = cli(*NEW, "--year", year, "--signing-date", signing)
    if ok:
        assert r.exit_code == 0 and r.stdout.strip() == f"pacitan-hukum-{year}", r.stderr
        return
    line = one_line(r.stderr, 2, r.exit_code, r.stdout)
    assert line == (f"error: signing date {signing} does not fit IKU year {year}: the documents of {year} "
                    f"are signed in {year} or in {int(year) - 1}; check the year and the signing date")
    assert snapshot() == before
    r = cli("new", "--all-offices", "--year", year, "--signing-date", signing, "--as", ADMIN)
    assert one_line(r.stderr, 2, r.exit_code, r.stdout) == line
    assert snapshot() == before


def test_the_service_checks_the_signing_date_for_every_caller(cli, svc):
    """The CLI had its own copy of the range check, worded apart from the service's."""
    from ikuflow.errors import UsageError

    for signing, year in ((date(1, 1, 3), 2026), (date(2027, 1, 28), 2026)):
        with pytest.raises(UsageError) as refused:
            svc.new("pacitan", "hukum", year, signing, ADMIN, at=utc(AT_NEW))
        r = cli(*NEW, "--year", str(year), "--signing-date", signing.isoformat())
        assert one_line(r.stderr, 2, r.exit_code, r.stdout) == f"error: {refused.value}"
        with pytest.raises(UsageError):
            svc.new_many(year, signing, ADMIN, at=utc(AT_NEW))


@pytest.mark.parametrize("title, ok", [("", False), ("   ", False), ("\t \t", False), ("x" * 201, False),
                                       ("x" * 200, True), ("  IKU Hukum  ", True)],
                         ids=["empty", "spaces", "tabs", "201 characters", "200 characters", "padded"])
def test_new_refuses_a_blank_or_long_title(cli, directory, title, ok):
    before = snapshot()
    r = cli(*NEW, "--year", "2026", "--signing-date", "2026-01-28", "--title", title)
    if ok:
        assert r.exit_code == 0, r.stderr
        assert json.loads(cli("status", "pacitan-hukum-2026", "--json").stdout)["title"] == title.strip()
        return
    line = one_line(r.stderr, 2, r.exit_code, r.stdout)
    if title.strip():
        assert line == "error: the title has 201 characters; the limit is 200: shorten it"
    else:
        assert line == ("error: the title is blank; give a title, or leave it out for the default "
                        "'IKU <DIVISION> <office name> <year>'")
    assert snapshot() == before


def test_without_a_title_the_default_is_used(cli, directory):
    assert cli(*NEW, "--year", "2026", "--signing-date", "2026-01-28").exit_code == 0
    title = json.loads(cli("status", "pacitan-hukum-2026", "--json").stdout)["title"]
    assert title == "IKU HUKUM Bawaslu Kabupaten Pacitan 2026"
    assert "a blank title is refused" in " ".join(cli("new", "--help").stdout.split())


def test_a_comment_over_4000_characters_is_refused_everywhere(cli, svc, doc, tmp_path):
    from ikuflow.errors import UsageError

    svc.advance(KEY, "submit", COORD, at=utc(AT_SUBMIT))
    before = snapshot()
    long = "Lampiran II kurang. " * 200 + "x"  # 4,001 characters
    r = cli("advance", KEY, "send_back", "--as", SECR, "-m", long)
    assert one_line(r.stderr, 2, r.exit_code, r.stdout) == (
        "error: the comment has 4,001 characters; the limit is 4,000: shorten it")
    with pytest.raises(UsageError):
        svc.advance(KEY, "send_back", SECR, long)
    steps = tmp_path / "steps.csv"
    steps.write_text(f"{KEY},send_back,{long}\n", encoding="utf-8")
    for extra in ([], ["--all-or-nothing"]):
        r = cli("advance", "--from-file", str(steps), "--as", SECR, "--json", *extra)
        assert r.exit_code == 2
        [refused] = json.loads(r.stdout)["refused"]
        assert "the limit is 4,000" in refused["reason"] and refused["exit_code"] == 2
    assert snapshot() == before
    r = cli("advance", KEY, "send_back", "--as", SECR, "-m", long[:4000])
    assert r.exit_code == 0 and r.stdout.strip() == "draft", r.stderr


# --- 5. the sender address, checked by the writes ------------------------------------------
BAD_SENDERS = ["ikuflow", "ikuflow@bawaslü.example.id", "a@b.id, c@d.id", "ikuflow@", "Bawaslu <ikuflow at bawaslu>"]


@pytest.mark.parametrize("sender", BAD_SENDERS)
def test_new_advance_and_tick_refuse_a_sender_address_that_outbox_send_would_refuse(cli, doc, monkeypatch, sender):
    """advance wrote e-mails with Message-IDs '@<whatever followed the @>' that 'outbox send'
    then refused to send."""
    from ikuflow.errors import UsageError
    from ikuflow.notify.sender import Settings

    monkeypatch.setenv("IKUFLOW_MAIL_FROM", sender)
    with pytest.raises(UsageError) as send_refuses:
        Settings.from_env()
    before = snapshot()
    for args in (["advance", KEY, "submit", "--as", COORD, "--at", AT_SUBMIT],
                 [*NEW, "--year", "2026", "--signing-date", "2026-01-28"],
                 ["tick", "--at", "2026-01-27T10:00+07:00"]):
        r = cli(*args)
        line = one_line(r.stderr, 2, r.exit_code, r.stdout)
        assert line == f"error: {send_refuses.value}"
        assert f"IKUFLOW_MAIL_FROM='{sender}' is not a usable sender address; write it like" in line
    assert snapshot() == before
    assert cli("status", KEY).exit_code == 0  # reading needs no sender


@pytest.mark.no_database
@pytest.mark.parametrize("sender", BAD_SENDERS + [
    "ikuflow@localhost", "ikuflow@bawaslu.example.id", "Bawaslu Pacitan <ikuflow@pacitan.bawaslu.go.id>",
    "Bawaslu Pacitan – Notifikasi <ikuflow@bawaslu.example.id>", '"Doe, John" <j@x.id>'])
def test_the_service_and_the_sender_check_the_address_alike(monkeypatch, sender):
    from ikuflow.errors import UsageError
    from ikuflow.notify.sender import Settings
    from ikuflow.app.session import mail_domain

    monkeypatch.setenv("IKUFLOW_MAIL_FROM", sender)
    outcomes = []
    for check in (Settings.from_env, mail_domain):
        try:
            check()
            outcomes.append("ok")
        except UsageError as exc:
            outcomes.append(str(exc))
    assert outcomes[0] == outcomes[1]
    assert (outcomes[0] == "ok") == (sender not in BAD_SENDERS)
    if outcomes[0] == "ok":
        assert mail_domain() == Settings.from_env().mail_from.rsplit("@", 1)[1].rstrip(">")


# --- 6. outbox send with the SMTP server unreachable ---------------------------------------
def _closed_port() -> int:
    """A loopback port nobody listens on: bound, then closed."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def _hanging_up_server():
    """A loopback port that accepts each connection and closes it before any greeting."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        server.close()
        t.join(5)


@contextmanager
def _unreachable(kind: str):
    if kind == "closed port":
        yield _closed_port()
    else:
        with _hanging_up_server() as port:
            yield port


@pytest.mark.parametrize("kind", ["closed port", "hangs up at once"])
def test_outbox_send_with_the_server_unreachable_is_one_line_and_exit_1_and_loses_nothing(
        svc, doc, monkeypatch, kind):
    """It exited 0 with one warning per e-mail: cron never told the operator."""
    from ikuflow.calendar import fmt_local
    from ikuflow.store.db import parse_ts

    svc.advance(KEY, "submit", COORD, at=utc(AT_SUBMIT))
    svc.advance(KEY, "synchronize", SECR, at=utc("2026-01-20T10:00+07:00"))
    pending = [r for r in snapshot()[2] if r[1] == "pending"]
    assert len(pending) >= 2
    with _unreachable(kind) as port:
        for name, value in (("IKUFLOW_SMTP_HOST", "127.0.0.1"), ("IKUFLOW_SMTP_PORT", str(port)),
                            ("IKUFLOW_SMTP_TLS", "off"), ("IKUFLOW_SMTP_TIMEOUT", "10"),
                            ("IKUFLOW_MAIL_FROM", "ikuflow@bawaslu.example.id")):
            monkeypatch.setenv(name, value)
        p = run_ikuflow("outbox", "send", "--at", "2026-01-20T10:05+07:00")
        line = one_line(p.stderr, 1, p.returncode, p.stdout)
        assert p.stdout == ""
        rows = [r for r in snapshot()[2] if r[0] in {x[0] for x in pending}]
        # nothing lost: every e-mail still pending, this attempt counted, the next one scheduled
        assert {r[1] for r in rows} == {"pending"} and {r[2] for r in rows} == {1}
        first = min(parse_ts(r[3]) for r in rows)
        assert first > utc("2026-01-20T10:05+07:00")
        why = {"closed port": "Connection refused",
               "hangs up at once": "it closed the connection before its greeting"}[kind]
        assert line == (f"error: cannot connect to the SMTP server 127.0.0.1:{port}: {why}; "
                        f"{len(rows)} e-mail(s) wait in the outbox, the next attempt at "
                        f"{fmt_local(first, 'Asia/Jakarta')} (nothing is lost); check the server, or "
                        "IKUFLOW_SMTP_HOST and IKUFLOW_SMTP_PORT")
        con = db()
        errors = {e for (e,) in con.execute("SELECT last_error FROM outbox WHERE status = 'pending'")}
        con.close()
        assert errors == {line.removeprefix("error: ").split(";")[0]}
        # --json: the counts on stdout, the same line on stderr, the same exit code
        p = run_ikuflow("outbox", "send", "--json", "--at", "2026-01-21T10:05+07:00")
        res = json.loads(p.stdout)
        assert p.returncode == 1 and len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr
        assert res["sent"] == 0 and res["retried"] == len(rows)
        assert res["unreachable"]["server"] == f"127.0.0.1:{port}" and res["unreachable"]["waiting"] == len(rows)
    assert {r[2] for r in snapshot()[2] if r[0] in {x[0] for x in pending}} == {2}


def test_outbox_send_with_nothing_due_exits_0_even_with_the_server_down(svc, doc, monkeypatch):
    monkeypatch.setenv("IKUFLOW_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("IKUFLOW_SMTP_PORT", str(_closed_port()))
    monkeypatch.setenv("IKUFLOW_SMTP_TLS", "off")
    p = run_ikuflow("outbox", "send", "--at", "2020-01-01")  # before every e-mail's first attempt
    assert p.returncode == 0 and p.stdout.startswith("0 sent") and p.stderr == "", p.stderr
