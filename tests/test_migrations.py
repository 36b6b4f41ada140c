"""Alembic migrations on both backends: a new database gets exactly the models' schema, and a
database made by the previous schema, with data in it, is upgraded in place by ``ikuflow init``
and loses nothing."""

from __future__ import annotations

import pytest

from conftest import COORD, SIGNING, db, run_ikuflow, utc

TABLES = ("office", "division", "person", "role_assignment", "delegation", "workflow_version",
          "document", "history", "outbox", "calendar_day", "meta")


def schema_diff(url: str) -> list:
    """What Alembic's autogenerate would still change between the database and the models."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlmodel import SQLModel

    import ikuflow.store.schema  # noqa: F401
    from ikuflow.store.db import sa_engine

    engine = sa_engine(url)

    def include(obj, name, type_, reflected, compare_to) -> bool:
        # autogenerate ignores ddl_if(): an index made on one dialect only is not missing on the other
        cond = getattr(obj, "_ddl_if", None)
        return cond is None or cond.dialect in (None, engine.dialect.name)

    try:
        with engine.connect() as con:
            ctx = MigrationContext.configure(con, opts={"include_object": include})
            return compare_metadata(ctx, SQLModel.metadata)
    finally:
        engine.dispose()


def dump(con, table: str, skip: tuple = ()) -> list[tuple]:
    cur = con.execute(f"SELECT * FROM {table} ORDER BY 1")
    names = [d[0] for d in cur.description]
    keep = [i for i, n in enumerate(names) if n not in skip]
    return [tuple(r[i] for i in keep) for r in cur.fetchall()]


def test_a_new_database_has_exactly_the_models_schema(database_url):
    from ikuflow import admin, migrations

    res = admin.init()
    assert res["created"] and res["schema"] == migrations.head() == "0009"
    assert schema_diff(database_url) == []
    assert migrations.current(database_url) == "0009"
    again = admin.init()  # idempotent
    assert not again["created"] and again["schema_before"] == again["schema"] == "0009"


def fill_previous_schema(con) -> None:
    """Realistic rows as ikuflow 0.1 (revision 0001) wrote them: a directory, two documents with
    several history rows each (one sent back once), outbox rows in every status."""
    ts = "2026-01-19 03:00:00.000000"
    con.execute("BEGIN")
    for code, parent in (("ri", None), ("jawa-timur", "ri"), ("pacitan", "jawa-timur")):
        con.execute("INSERT INTO office (code, name, tz, parent, level) VALUES (?, ?, 'Asia/Jakarta', ?, 'regency')",
                    (code, f"Bawaslu {code}", parent))
    for code in ("sdmo", "hukum"):
        con.execute("INSERT INTO division (code, name) VALUES (?, ?)", (code, code.upper()))
    con.execute("INSERT INTO person (id, email, name) VALUES (1, ?, 'Sri Wahyuni')", (COORD,))
    con.execute("INSERT INTO role_assignment (person_id, role, office_code, division_code)"
                " VALUES (1, 'coordinator', 'pacitan', 'sdmo')")
    con.execute("INSERT INTO delegation (delegator_id, delegate_id, starts, ends, created_at)"
                " VALUES (1, 1, '2026-01-20', '2026-01-22', ?)", (ts,))
    con.execute("INSERT INTO workflow_version (name, version, sha256, source, path, loaded_at)"
                " VALUES ('iku', 1, 'abc', 'name: iku', 'iku.yaml', ?)", (ts,))
    steps = {1: ["create", "submit", "send_back", "submit", "synchronize"], 2: ["create", "submit"]}
    for doc_id, events in steps.items():
        div = ("sdmo", "hukum")[doc_id - 1]
        con.execute("INSERT INTO document (id, key, office_code, division_code, year, title, signing_date,"
                    " workflow_name, workflow_version, state, version, due_at, next_action_at, created_at,"
                    " updated_at) VALUES (?, ?, 'pacitan', ?, 2026, 'IKU', '2026-01-28', 'iku', 1, ?, ?,"
                    " ?, ?, ?, ?)", (doc_id, f"pacitan-{div}-2026", div, "synchronized", len(events) - 1,
                                     ts, ts, ts, ts))
        for i, ev in enumerate(events):
            con.execute("INSERT INTO history (document_id, at, actor, acting_for, event, from_state, to_state,"
                        " comment) VALUES (?, ?, ?, NULL, ?, NULL, 'x', ?)",
                        (doc_id, f"2026-01-{10 + i:02d} 03:00:00.000000", COORD, ev,
                         "Mohon diperbaiki" if ev == "send_back" else None))
    for i, status in enumerate(("pending", "sent", "dead", "merged")):
        con.execute("INSERT INTO outbox (document_id, kind, cause, recipient, template, payload, message_id,"
                    " subject, body_text, body_html, status, attempts, next_attempt_at, created_at)"
                    " VALUES (1, 'reminder', ?, ?, 'reminder', '{}', ?, 'Pengingat', 'teks', '<p>x</p>', ?, 0, ?, ?)",
                    (f"reminder:1:{i}", COORD, f"<{i}@ikuflow>", status, ts, ts))
    con.execute("INSERT INTO calendar_day (day, working, note) VALUES ('2026-01-02', ?, 'cuti')", (False,))
    con.execute("INSERT INTO meta (key, value) VALUES ('directory_version', '7')")
    con.execute("COMMIT")


@pytest.mark.parametrize("made_by", ["alembic 0001", "ikuflow 0.1 (no alembic_version)"])
def test_init_upgrades_a_database_of_the_previous_schema_and_loses_nothing(database_url, made_by, tmp_path):
    from ikuflow import migrations

    migrations.upgrade(database_url, "0001")
    con = db()
    fill_previous_schema(con)
    if made_by.startswith("ikuflow 0.1"):  # what 0.1's create_all left: the tables, no revision
        con.execute("DROP TABLE alembic_version")
    before = {t: dump(con, t) for t in TABLES}
    con.close()

    p = run_ikuflow("init")
    assert p.returncode == 0, p.stderr
    assert "upgraded" in p.stdout and "0001 -> 0009" in p.stdout

    con = db()
    added = {"history": ("version", "channel", "content_sha256", "chain"),  # by 0002, 0004, 0005, 0007, 0009
             "document": ("queue_id", "tick_slot", "content_sha256", "chain")}
    after = {t: dump(con, t, skip=added.get(t, ())) for t in TABLES}
    # the steps of earlier releases came through the command line or the Python API
    assert {r[0] for r in con.execute("SELECT channel FROM history").fetchall()} == {"cli"}
    # everything kept; init adds only what it always adds (the standard divisions, the workflow
    # files as a new version), and calendar_day is, by design, replaced by workflows/calendar.yaml
    for t in TABLES:
        if t == "calendar_day":
            continue
        missing = set(before[t]) - set(after[t])
        assert not missing, (t, missing)
    assert after["history"] == before["history"]
    assert after["outbox"] == before["outbox"] and after["document"] == before["document"]
    # each history row got the document version it produced, in the order it was written
    versions = con.execute("SELECT document_id, version FROM history ORDER BY id").fetchall()
    assert versions == [(1, 0), (1, 1), (1, 2), (1, 3), (1, 4), (2, 0), (2, 1)]
    docs = dict(con.execute("SELECT id, version FROM document").fetchall())
    assert all(docs[d] == max(v for i, v in versions if i == d) for d in docs)
    # each document got the queue of its office, division, workflow version and state
    queues = con.execute("SELECT d.key, q.office_code, q.division_code, w.name, w.version, q.state"
                         " FROM document d JOIN queue q ON q.id = d.queue_id"
                         " JOIN workflow_version w ON w.id = q.workflow_id ORDER BY d.id").fetchall()
    assert queues == [("pacitan-sdmo-2026", "pacitan", "sdmo", "iku", 1, "synchronized"),
                      ("pacitan-hukum-2026", "pacitan", "hukum", "iku", 1, "synchronized")]
    assert con.execute("SELECT count(*) FROM queue").fetchone()[0] == 2
    # and its scheduler slot, the one a new document with its key gets; every slot has its row
    from ikuflow.store.documents import TICK_SLOTS, tick_slot
    slots = con.execute("SELECT key, tick_slot FROM document ORDER BY id").fetchall()
    assert slots == [(k, tick_slot(k)) for k in ("pacitan-sdmo-2026", "pacitan-hukum-2026")]
    assert [r[0] for r in con.execute("SELECT slot FROM tick_slot ORDER BY slot")] == list(range(TICK_SLOTS))
    # 0009 chained every row there was, under the secret key: the audit finds every chain intact,
    # each document's head is its last row's chain, and a row changed since is caught
    heads = con.execute("SELECT d.chain = (SELECT h.chain FROM history h WHERE h.document_id = d.id"
                        " ORDER BY h.version DESC LIMIT 1) FROM document d").fetchall()
    assert [bool(h) for (h,) in heads] == [True, True]
    con.close()
    p = run_ikuflow("audit", "verify")
    assert p.returncode == 0 and "2 document(s), 7 row(s)" in p.stdout, p.stdout + p.stderr
    con = db()
    con.execute("UPDATE history SET comment = 'Sudah sesuai' WHERE comment = 'Mohon diperbaiki'")
    con.close()
    p = run_ikuflow("audit", "verify")
    assert p.returncode == 1 and "pacitan-sdmo-2026: version 2" in p.stderr, p.stderr
    assert schema_diff(database_url) == []


def test_the_version_index_refuses_a_second_step_from_the_same_version(svc, doc):
    """The database itself refuses a lost update: two history rows for one document version."""
    from ikuflow.errors import Duplicate

    svc.advance(doc, "submit", COORD, at=utc("2026-01-19T10:00+07:00"))
    con = db()
    doc_id = con.execute("SELECT id FROM document WHERE key = ?", (doc,)).fetchone()[0]
    with pytest.raises(Duplicate):  # the store's own error on both backends
        con.execute("INSERT INTO history (document_id, version, at, actor, event, from_state, to_state)"
                    " VALUES (?, 1, '2026-01-19 03:00:00.000000', 'x', 'submit', 'draft', 'division_review')",
                    (doc_id,))
    con.close()
    assert [h["event"] for h in svc.history(doc)] == ["create", "submit"]


def test_init_on_a_database_it_cannot_reach_is_one_line(tmp_path, backend):
    (tmp_path / "a-file").write_text("not a folder")
    url = ("postgresql+psycopg://ikuflow:s3cret@127.0.0.1:1/none" if backend == "postgresql"
           else f"sqlite:///{tmp_path}/a-file/x.db")
    p = run_ikuflow("init", env={"IKUFLOW_DATABASE_URL": url})
    assert p.returncode != 0 and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and "s3cret" not in p.stderr


def test_signing_date_is_kept_as_a_date(svc, doc):
    assert svc.status(doc)["signing_date"] == SIGNING.isoformat()
