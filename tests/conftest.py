"""Shared fixtures: a fresh database per test with a small real directory, the CLI runner,
and a controlled clock (every write takes an explicit ``at``).

Every test runs on each backend of ``--backends`` (default: IKUFLOW_TEST_BACKENDS, else
``sqlite,postgresql``): on SQLite a file in the test's folder, on PostgreSQL a database of its
own in a throw-away cluster this session starts (``tests/pgcluster.py``) and stops. Tests that
are about one backend say so with ``@pytest.mark.backends("sqlite")``; modules that never open
a database with ``pytestmark = pytest.mark.no_database`` (they run once). With CI=true a
PostgreSQL that cannot be started fails the PostgreSQL tests; elsewhere it skips them, saying why.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))  # pgcluster, smtp_peer
WORKFLOWS = ROOT / "workflows"
SIGNING = date(2026, 1, 28)

COORD = "sri@pacitan.example.id"          # coordinator pacitan/sdmo
COORD_HUKUM = "dewi@pacitan.example.id"   # coordinator pacitan/hukum
SECR = "budi@pacitan.example.id"          # secretariat pacitan
CHAIR = "ahmad@pacitan.example.id"        # chair pacitan
OTHER_CHAIR = "rudi@badung.example.id"    # chair of another office (badung, WITA)
NOBODY = "tanpa.peran@example.id"         # a person with no role
ADMIN = "admin@ri.example.id"


BACKENDS = ("sqlite", "postgresql")
#: IKUFLOW_SECRET_KEY of every test (see _isolated_env)
TEST_SECRET = "conftest-secret-key-0123456789abcdefghijkl"


def on_ci() -> bool:
    """Whether this run is CI's (CI=true), where a missing service is a failure, not a skip."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def cannot(reason: str) -> None:
    """A test that cannot set up its real peer here: a failure on CI, a skip elsewhere."""
    if on_ci():
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def pytest_addoption(parser):
    parser.addoption("--backends", default=os.environ.get("IKUFLOW_TEST_BACKENDS", ",".join(BACKENDS)),
                     help="comma-separated database backends to run the tests on "
                          "(default: sqlite,postgresql)")


def pytest_configure(config):
    config.addinivalue_line("markers", "backends(*names): run this test only on these backends")
    config.addinivalue_line("markers", "no_database: the test never opens a database (runs once)")
    wanted = [b.strip() for b in config.getoption("backends").split(",") if b.strip()]
    unknown = set(wanted) - set(BACKENDS)
    if unknown:
        raise pytest.UsageError(f"unknown backend(s) {sorted(unknown)}; use {', '.join(BACKENDS)}")
    config.ikuflow_backends = wanted


def pytest_generate_tests(metafunc):
    if "backend" not in metafunc.fixturenames:
        return
    wanted = metafunc.config.ikuflow_backends
    if metafunc.definition.get_closest_marker("no_database"):
        metafunc.parametrize("backend", ["sqlite"], scope="function")
        return
    marker = metafunc.definition.get_closest_marker("backends")
    allowed = marker.args if marker else BACKENDS
    metafunc.parametrize("backend", [b for b in wanted if b in allowed], scope="function")


@pytest.fixture
def backend(request):
    return request.param


@pytest.fixture(scope="session")
def pg_cluster():
    """One throw-away PostgreSQL cluster for the whole session."""
    from pgcluster import Cluster, Unavailable

    try:
        cluster = Cluster().start()
    except Unavailable as exc:
        cannot(f"PostgreSQL is required on CI, and not available here: {exc}")
    yield cluster
    cluster.stop()


_DB_COUNTER = iter(range(1, 10**9))


@pytest.fixture
def database_url(backend, tmp_path, request):
    """A fresh, empty database on ``backend`` (dropped after the test)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'ikuflow.db'}"
        return
    pg = request.getfixturevalue("pg_cluster")
    name = f"t{os.getpid()}_{next(_DB_COUNTER)}"
    url = pg.create_db(name)
    yield url
    pg.drop_db(name)


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path, monkeypatch, database_url):
    """Every test gets its own database URL and no actor from the caller's shell."""
    monkeypatch.setenv("IKUFLOW_DATABASE_URL", database_url)
    monkeypatch.setenv("IKUFLOW_WORKFLOWS", str(WORKFLOWS))
    monkeypatch.delenv("IKUFLOW_USER", raising=False)
    monkeypatch.delenv("IKUFLOW_TZ", raising=False)
    # the secret key (links, sessions, the history chain): the same for every copy of the
    # seeded template; tests of the key itself unset it
    monkeypatch.setenv("IKUFLOW_SECRET_KEY", TEST_SECRET)
    monkeypatch.chdir(tmp_path)


def db():
    """A raw connection to the test's database, whichever the backend (``store.db.connect``)."""
    from ikuflow.store.db import connect

    return connect()


def rows(query: str, *args) -> list[tuple]:
    """The rows of one query on the test's database, as tuples."""
    con = db()
    try:
        return [tuple(r) for r in con.execute(query, args).fetchall()]
    finally:
        con.close()


def misqueued(con=None) -> list[tuple]:
    """Documents whose queue (queue_id) is not the queue of their own office, division,
    workflow version and state, or whose tick slot is not their key's: must always be empty."""
    from ikuflow.store.documents import tick_slot

    c = con or db()
    try:
        bad = c.execute(
            "SELECT d.key, d.state, q.state FROM document d JOIN queue q ON q.id = d.queue_id"
            " JOIN workflow_version w ON w.id = q.workflow_id WHERE q.office_code <> d.office_code"
            " OR q.division_code <> d.division_code OR w.name <> d.workflow_name"
            " OR w.version <> d.workflow_version OR q.state <> d.state").fetchall()
        return bad + [(key, "tick_slot", slot) for key, slot in c.execute("SELECT key, tick_slot FROM document")
                      if slot != tick_slot(key)]
    finally:
        if con is None:
            c.close()


def rows_as_dicts(cur) -> list[dict]:
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def hold_write_lock(table: str = "document"):
    """A transaction that blocks every writer of ``table`` (readers go on) until the caller
    commits or closes it: SQLite's BEGIN IMMEDIATE, PostgreSQL's LOCK TABLE ... EXCLUSIVE."""
    from ikuflow.store.db import dialect

    con = db()
    if dialect(con) == "postgresql":
        con.execute("BEGIN")
        con.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
    else:
        con.execute("BEGIN IMMEDIATE")
    return con


def utc(text: str) -> datetime:
    from ikuflow.calendar import parse_at

    return parse_at(text)


def seed_directory() -> None:
    """Offices in two time zones and one person per role."""
    from ikuflow import admin

    admin.init()
    admin.add_office("ri", "Bawaslu Republik Indonesia")
    admin.add_office("jawa-timur", "Bawaslu Provinsi Jawa Timur", parent="ri", level="province")
    admin.add_office("pacitan", "Bawaslu Kabupaten Pacitan", parent="jawa-timur")
    admin.add_office("bali", "Bawaslu Provinsi Bali", "Asia/Makassar", parent="ri", level="province")
    admin.add_office("badung", "Bawaslu Kabupaten Badung", "Asia/Makassar", parent="bali")
    admin.add_person(COORD, "Sri Wahyuni", "coordinator", "pacitan", "sdmo")
    admin.add_person(COORD_HUKUM, "Dewi Lestari", "coordinator", "pacitan", "hukum")
    admin.add_person(SECR, "Budi Santoso", "secretariat", "pacitan")
    admin.add_person(CHAIR, "Ahmad Fauzi", "chair", "pacitan")
    admin.add_person(OTHER_CHAIR, "Rudi Hartono", "chair", "badung")
    admin.add_person(ADMIN, "Admin RI", "admin", "ri")
    from ikuflow.store.db import connect

    con = connect()
    con.execute("INSERT INTO person (email, name) VALUES (?, ?)", (NOBODY, "Tanpa Peran"))
    con.close()


_TEMPLATES: dict[str, str] = {}


def copy_sqlite(src, dst) -> None:
    """A copy of the SQLite database ``src`` at ``dst`` (SQLite's backup API), owner-only as
    init makes a database."""
    import sqlite3

    os.close(os.open(dst, os.O_CREAT | os.O_WRONLY, 0o600))
    a, b = sqlite3.connect(src), sqlite3.connect(dst)
    try:
        a.backup(b)
    finally:
        a.close()
        b.close()


def template_db(backend: str, request) -> str:
    """A database seeded by :func:`seed_directory` once per session and backend, which each
    test's database copies: its file (SQLite) or its name (PostgreSQL). Seeding runs every
    migration and the directory writes, about half a second a test; a copy takes a few ms."""
    if backend not in _TEMPLATES:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("IKUFLOW_WORKFLOWS", str(WORKFLOWS))  # (a session fixture may ask first)
            if backend == "sqlite":
                path = request.getfixturevalue("tmp_path_factory").mktemp("template") / "ikuflow.db"
                mp.setenv("IKUFLOW_DATABASE_URL", f"sqlite:///{path}")
                seed_directory()
                _TEMPLATES[backend] = str(path)
            else:
                import gc

                pg = request.getfixturevalue("pg_cluster")
                name = f"template_{os.getpid()}"
                mp.setenv("IKUFLOW_DATABASE_URL", pg.create_db(name))
                seed_directory()
                gc.collect()  # the admin paths' SQLAlchemy engines and their pooled connections
                pg.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                           f" WHERE datname = '{name}' AND pid <> pg_backend_pid()")
                _TEMPLATES[backend] = name
    return _TEMPLATES[backend]


@pytest.fixture
def directory(backend, database_url, request):
    """The test's database holding conftest's small directory (a copy of a seeded template)."""
    if os.environ.get("IKUFLOW_WORKFLOWS") != str(WORKFLOWS):  # a test's own workflows: seed here
        seed_directory()
        return
    template = template_db(backend, request)
    if backend == "sqlite":
        from ikuflow.store.db import sqlite_path

        copy_sqlite(template, sqlite_path(database_url))
    else:
        pg = request.getfixturevalue("pg_cluster")
        name = database_url.rsplit("/", 1)[1]
        pg.drop_db(name)
        pg.create_db(name, template=template)


@pytest.fixture
def svc(directory):
    from ikuflow.app.service import Service

    s = Service()
    yield s
    s.close()


@pytest.fixture
def doc(svc):
    """pacitan-sdmo-2026 in draft, signing on 2026-01-28."""
    svc.new("pacitan", "sdmo", 2026, SIGNING, COORD, at=utc("2026-01-12T09:00+07:00"))
    return "pacitan-sdmo-2026"


class Cli:
    """The Typer app in-process (fast), with stdout and stderr apart."""

    def __call__(self, *args: str, env: dict | None = None):
        from typer.testing import CliRunner

        from ikuflow.cli import app

        return CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def cli():
    return Cli()


def run_ikuflow(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """The real console script in a subprocess."""
    exe = Path(sys.executable).with_name("ikuflow")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL)
