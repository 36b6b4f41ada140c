#!/usr/bin/env python
"""ikuflow core benchmark, measured side by side with the anchors in ONE run.

Three measurements, each interleaved round by round (A B C, A B C, ...) so that drift of
the shared machine hits every variant alike; ratios are taken within a round (or a run) and
reported as median [min..max]:

1. Persisted transition: ``Service.advance`` (SQLite, WAL + synchronous=NORMAL as the Service
   sets it up, 10,000 untouched documents present) against the anchor's raw sqlite3
   read-check-write (``wal_normal_rcw_txn``) and blind (``wal_normal_txn``) variants, which
   are imported from /work/shared/anchors/b1_sqlite_raw.py and run here.
   Budget (issue 15): ikuflow <= 3x raw_rcw. Where the rest goes: one extra untimed pass of
   each (ikuflow, raw_rcw) counts the WAL frames (pages) written per transition, by table and
   index, with SQLite's autocheckpoint off for that pass, and every SQL statement SQLite ran
   (sqlite3's trace callback), listed by statement with counts per transition.
2. Rehydrate-and-fire in memory: ``Engine.fire`` on a fresh ``Doc`` per call, keys drawn from
   10 vs 100,000 distinct documents, next to ``transitions`` yardsticks (bare shared Machine
   ``events[name].trigger``; b3's shared Machine add_model/fire/remove_model) and b3's dict
   table. Budget: <= 20 us, not growing with the number of documents, machine.models empty.
3. CLI cold start, whole processes, interleaved run by run like b6: ``python -c pass``,
   ``python -c "import sqlmodel"``, ``ikuflow --help``, ``ikuflow status KEY`` and a plain
   Typer app's ``--help`` (rich_markup_mode=None) for context.
   Budgets: ``ikuflow --help`` <= 8x pass; ``ikuflow status KEY`` <= 1.15x import sqlmodel.

Usage (from /work/main, with the project's virtualenv):
    .venv/bin/python bench/bench_core.py [--rounds 5] [--quick] [--markdown FILE]
        [--only persist,fire,cli] [--anchors /work/shared/anchors]

Scratch databases go to a fresh temporary directory that is removed at the end.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import re
import shutil
import sqlite3
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORKFLOWS = ROOT / "workflows"
DEFAULT_ANCHORS = Path(os.environ.get("IKU_ANCHORS", "/work/shared/anchors"))

# ---------------------------------------------------------------- arguments and scratch space
ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                             formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--rounds", type=int, default=None,
                help="timed rounds per measurement after 1 warm-up round (default 5; 2 with --quick)")
ap.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
ap.add_argument("--markdown", metavar="FILE", help="also write the tables to FILE")
ap.add_argument("--only", default="persist,fire,cli",
                help="comma-separated subset of: persist, fire, cli (default: all)")
ap.add_argument("--anchors", default=str(DEFAULT_ANCHORS), help="folder of the anchor scripts")
ap.add_argument("--keep", action="store_true", help="keep the scratch directory (debugging)")
ap.add_argument("--profile", action="store_true",
                help="instead of the benchmark: run the Service.advance workload once under cProfile "
                     "and once split into its steps, and print where the time goes")
ARGS = ap.parse_args()
ROUNDS = ARGS.rounds if ARGS.rounds is not None else (2 if ARGS.quick else 5)
ONLY = {s.strip() for s in ARGS.only.split(",") if s.strip()}

SCRATCH = Path(tempfile.mkdtemp(prefix="ikuflow-bench-"))
# the anchors' common.py reads IKU_BENCH_DIR at import time: put its databases in our scratch dir
os.environ["IKU_BENCH_DIR"] = str(SCRATCH / "anchors")
os.environ["IKUFLOW_WORKFLOWS"] = str(WORKFLOWS)
os.environ.pop("IKUFLOW_USER", None)
os.environ.pop("IKUFLOW_TZ", None)
sys.path.insert(0, str(Path(ARGS.anchors)))

import common  # noqa: E402  (anchors' harness: run_interleaved, summarize, header, env_line, ...)
from b1_sqlite_raw import make_variant  # noqa: E402
from season import ACTOR_ROLE, DIVISIONS, EVENT_MAP, actor_for, people_of  # noqa: E402
from common import (env_line, header, plan_for_transitions, remove_db, run_interleaved,  # noqa: E402
                    summarize)

try:  # b3 imports python-statemachine at module level; the project venv does not ship it
    import b3_statemachines as b3  # noqa: E402
    B3_NOTE = "imported from b3_statemachines.py"
except ImportError as exc:
    b3 = None
    B3_NOTE = (f"b3_statemachines.py not importable here ({exc}); the same code is "
               "re-implemented below (b3's T_TRANSITIONS, rehydrate loop and dict table)")

# ---------------------------------------------------------------- sizes
if ARGS.quick:
    P_TRANSITIONS = 1000        # persisted transitions per variant per round
    F_CALLS = 2000              # in-memory fires per variant per round
    F_CALLS_ADD_MODEL = 500
    CLI_RUNS = 3
else:
    P_TRANSITIONS = 20000       # same as b1's wal_normal(_rcw)_txn
    F_CALLS = 20000
    F_CALLS_ADD_MODEL = 5000    # b3 uses 5,000 rehydrate items
    CLI_RUNS = 20               # same as b6
EXTRA_DOCS = 10000              # untouched documents (b1's create_and_seed default, fixed there)
DOCS_PER_OFFICE = 50            # 5 divisions x 10 years
FIRE_KEYS = (10, 100_000)

# how many outbox rows each event must write: the directory built below has exactly one person
# per role and document (one coordinator per division), so one row per role in the event's
# notify list (workflows/iku.yaml); filled in by expected_outbox_rows()
OUTBOX_ROWS: dict[str, int] = {}


def expected_outbox_rows() -> dict[str, int]:
    if not OUTBOX_ROWS:
        from ikuflow.definition import load_file

        wf = load_file(WORKFLOWS / "iku.yaml")
        OUTBOX_ROWS.update({name: len(set(ev.notify)) for name, ev in wf.events.items()})
        assert set(EVENT_MAP.values()) <= set(OUTBOX_ROWS), OUTBOX_ROWS
    return OUTBOX_ROWS


def service_class():
    """ikuflow's Service wherever the package keeps it (ikuflow.app, else ikuflow.service, else
    ikuflow.app.service): the layout is being refactored."""
    try:
        from ikuflow.app import Service
    except ImportError:
        try:
            from ikuflow.service import Service
        except ImportError:
            from ikuflow.app.service import Service
    return Service


def tick_slot_of():
    """The package's tick_slot(key) if it is importable (ikuflow.store.documents, else
    ikuflow.service), else crc32(key) % 16; build_ikuflow_db checks it against the probes."""
    try:
        from ikuflow.store.documents import tick_slot
    except ImportError:
        try:
            from ikuflow.service import tick_slot
        except ImportError:
            def tick_slot(key: str) -> int:
                return zlib.crc32(key.encode()) % 16
    return tick_slot


OUT: list[str] = []   # markdown lines, printed and optionally written to --markdown
BUDGETS: list[tuple[str, str, str, bool]] = []


def emit(line: str = "") -> None:
    print(line, flush=True)
    OUT.append(line)


def med(xs):
    return statistics.median(xs)


def fmt(x: float, digits: int = 1) -> str:
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.{digits}f}"


def span(xs, digits: int = 1, suffix: str = "") -> str:
    s = summarize(xs)
    return (f"{fmt(s['median'], digits)}{suffix} [{fmt(s['min'], digits)}..{fmt(s['max'], digits)}]")


def ratio_span(xs) -> str:
    s = summarize(xs)
    return f"{s['median']:.2f}x [{s['min']:.2f}..{s['max']:.2f}]"


def budget(name: str, values, limit: float, unit: str = "x") -> str:
    ok = med(values) <= limit
    measured = ratio_span(values) if unit == "x" else span(values, 2, " us")
    BUDGETS.append((name, measured, f"<= {limit:g}{'x' if unit == 'x' else ' us'}", ok))
    return "PASS" if ok else "FAIL"


def table(cols, rows) -> None:
    emit("| " + " | ".join(cols) + " |")
    emit("|" + "|".join("---" for _ in cols) + "|")
    for r in rows:
        emit("| " + " | ".join(str(c) for c in r) + " |")
    emit()


# =============================================================================================
# 1. persisted transition
# =============================================================================================
def office_code(prefix: str, i: int) -> str:
    return f"{prefix}-{i:03d}"


def doc_slot(d: int, prefix: str):
    """(office, division, year) of document number d (1-based) in a family of offices."""
    i, j = divmod(d - 1, DOCS_PER_OFFICE)
    return office_code(prefix, i), DIVISIONS[j % len(DIVISIONS)], 2016 + j // len(DIVISIONS)


SIGNING_OF_YEAR = {y: date(y, 1, 28) for y in range(2000, 2101)}
CREATED_AT = datetime(2015, 12, 1, 2, 0)          # naive UTC, before any due time
FIRST_AT = datetime(2026, 2, 2, 2, 0)              # after every walked document's signing date

TZS = ("Asia/Jakarta", "Asia/Jakarta", "Asia/Makassar", "Asia/Jayapura")


def build_ikuflow_db(path: Path, n_walk: int, n_extra: int):
    """A fresh ikuflow database: init, offices and people through ikuflow.admin, then
    n_walk + n_extra draft documents inserted with executemany on the Service connection.

    So that the bulk rows are exactly what ``Service.new`` writes, whatever it computes
    (due_at, next_action_at, ...), one probe document per (signing date, time zone) is created
    through ``Service.new``; every bulk document copies all columns of the probe of its
    (year, zone) except the identity columns, and its 'create' history row likewise.
    The probes are deleted afterwards. Returns the walked keys (index d-1 = anchor document d)."""
    from ikuflow import admin

    Service = service_class()
    tick_slot = tick_slot_of()
    url = f"sqlite:///{path}"
    remove_db(str(path))
    admin.init(url, WORKFLOWS)
    n_walk_off = -(-n_walk // DOCS_PER_OFFICE)
    n_extra_off = -(-n_extra // DOCS_PER_OFFICE)
    for i in range(n_walk_off):
        code = office_code("walk", i)
        admin.add_office(code, f"Bawaslu Kabupaten Walk {i}", TZS[i % len(TZS)], url=url)
        for email, name, role, div in people_of(code):
            admin.add_person(email, name, role, code, div, url=url)
    for i in range(n_extra_off):
        admin.add_office(office_code("bulk", i), f"Bawaslu Kabupaten Bulk {i}",
                         TZS[i % len(TZS)], url=url)
    zones = sorted(set(TZS))
    for z, tz in enumerate(zones):
        admin.add_office(f"probe-{z}", f"Probe {tz}", tz, url=url)
        admin.add_person(f"probe-{z}@example.id", "Probe", "coordinator", f"probe-{z}", "sdmo", url=url)
    gc.collect()  # drop the admin paths' SQLAlchemy engines (and their pooled connections)

    svc = Service(url)
    con = svc.con
    tz_of = dict(con.execute("SELECT code, tz FROM office"))
    name_of = dict(con.execute("SELECT code, name FROM office"))
    years = sorted({doc_slot(d, "walk")[2] for d in range(1, max(n_walk, n_extra) + 1)})
    for z, tz in enumerate(zones):
        for year in years:
            svc.new(f"probe-{z}", "sdmo", year, SIGNING_OF_YEAR[year], f"probe-{z}@example.id",
                    at=CREATED_AT)
    doc_cols = [r[1] for r in con.execute("PRAGMA table_info(document)") if r[1] != "id"]
    hist_cols = [r[1] for r in con.execute("PRAGMA table_info(history)") if r[1] != "id"]
    probe_doc, probe_hist = {}, {}
    for z, tz in enumerate(zones):
        for year in years:
            row = con.execute(f"SELECT id, {', '.join(doc_cols)} FROM document WHERE key = ?",
                              (f"probe-{z}-sdmo-{year}",)).fetchone()
            probe_doc[(tz, year)] = dict(zip(doc_cols, row[1:]))
            hist = con.execute(f"SELECT {', '.join(hist_cols)} FROM history WHERE document_id = ?",
                               (row[0],)).fetchall()
            assert len(hist) == 1 and dict(zip(hist_cols, hist[0]))["event"] == "create", hist
            probe_hist[(tz, year)] = dict(zip(hist_cols, hist[0]))
            if "tick_slot" in probe_doc[(tz, year)]:  # the bulk rows' slots computed as the package does
                assert probe_doc[(tz, year)]["tick_slot"] == tick_slot(f"probe-{z}-sdmo-{year}"), \
                    "tick_slot(key) differs from what Service.new stores"
    p = probe_doc[(zones[0], years[0])]
    assert p["state"] == "draft" and p["version"] == 0 and p["signing_date"] == \
        SIGNING_OF_YEAR[years[0]].isoformat(), p
    probe_queue = con.execute("SELECT workflow_id, state FROM queue WHERE id = ?", (p["queue_id"],)).fetchone()
    con.execute("DELETE FROM history")
    con.execute("DELETE FROM outbox")  # the probes' "created" e-mails
    con.execute("DELETE FROM document")

    def doc_row(office, div, year):
        r = dict(probe_doc[(tz_of[office], year)])
        key = f"{office}-{div}-{year}"
        r.update(key=key, office_code=office, division_code=div, year=year, tick_slot=tick_slot(key),
                 title=f"IKU {div.upper()} {name_of[office]} {year}", queue_id=queues[office, div])
        return tuple(r[c] for c in doc_cols)

    slots = [doc_slot(d, "walk") for d in range(1, n_walk + 1)] + \
        [doc_slot(d, "bulk") for d in range(1, n_extra + 1)]
    con.execute("BEGIN IMMEDIATE")
    # each document waits in its own office's draft queue (the probes' queue is another office's);
    # as Service.new does, its office and division get the queues of every state of the workflow
    wf_id, state = probe_queue
    states = [r[0] for r in con.execute("SELECT DISTINCT state FROM queue WHERE workflow_id = ?", (wf_id,))]
    assert state in states and len(states) > 1, states
    con.executemany("INSERT OR IGNORE INTO queue (office_code, division_code, workflow_id, state)"
                    " VALUES (?, ?, ?, ?)", sorted({(o, d, wf_id, st) for o, d, _ in slots for st in states}))
    queues = {(o, d): i for i, o, d in con.execute(
        "SELECT id, office_code, division_code FROM queue WHERE workflow_id = ? AND state = ?", (wf_id, state))}
    con.executemany(f"INSERT INTO document ({', '.join(doc_cols)}) VALUES ({', '.join('?' * len(doc_cols))})",
                    (doc_row(*s_) for s_ in slots))
    ids = dict(con.execute("SELECT key, id FROM document"))

    def hist_row(office, div, year):
        r = dict(probe_hist[(tz_of[office], year)])
        r.update(document_id=ids[f"{office}-{div}-{year}"], actor=f"coord-{div}@{office}.example.id")
        return tuple(r[c] for c in hist_cols)

    con.executemany(f"INSERT INTO history ({', '.join(hist_cols)}) VALUES ({', '.join('?' * len(hist_cols))})",
                    (hist_row(*s_) for s_ in slots))
    con.execute("COMMIT")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    n = con.execute("SELECT count(*) FROM document").fetchone()[0]
    assert n == n_walk + n_extra, n
    svc.close()
    return [f"{o}-{d}-{y}" for o, d, y in slots[:n_walk]]


def ikuflow_persist_variant(n_trans: int, stats: dict):
    plan, n_docs = plan_for_transitions(n_trans)
    path = SCRATCH / "ikuflow_core.db"

    def run():
        Service = service_class()
        keys = build_ikuflow_db(path, n_docs, EXTRA_DOCS)
        steps = []
        for i, (d, ev, _frm, _to) in enumerate(plan):
            office, div, _year = doc_slot(d, "walk")
            event = EVENT_MAP[ev]
            comment = f"please revise the targets of document {d} (step {i})" \
                if event == "send_back" else None
            steps.append((keys[d - 1], event, actor_for(event, office, div), comment,
                          FIRST_AT + timedelta(milliseconds=i)))
        svc = Service(f"sqlite:///{path}")
        svc.engine("iku", svc.latest_version("iku"))  # a running server has its Engine cached
        advance = svc.advance
        gc.collect()
        t0 = time.perf_counter()
        for key, event, actor, comment, at in steps:
            advance(key, event, actor, comment, at)
        secs = time.perf_counter() - t0
        stats.update(verify_ikuflow(svc, plan, keys, n_docs))
        svc.close()
        remove_db(str(path))
        return len(plan), secs

    return run, plan, n_docs


def verify_ikuflow(svc, plan, keys, n_docs) -> dict:
    """Every walked document signed, at the right version, with exactly the expected history
    (create + the plan's events, in order) and outbox rows; untouched documents untouched."""
    con = svc.con
    expected_events = {k: ["create"] for k in keys}
    for d, ev, _, _ in plan:
        expected_events[keys[d - 1]].append(EVENT_MAP[ev])
    id_of = dict(con.execute("SELECT key, id FROM document"))
    got_events: dict[int, list[str]] = {}
    for doc_id, event in con.execute("SELECT document_id, event FROM history ORDER BY id"):
        got_events.setdefault(doc_id, []).append(event)
    outbox = dict(con.execute("SELECT document_id, count(*) FROM outbox GROUP BY document_id"))
    rows_per_event = expected_outbox_rows()
    bad = []
    for key in keys:
        doc_id = id_of[key]
        state, version = con.execute("SELECT state, version FROM document WHERE id=?", (doc_id,)).fetchone()
        exp = expected_events[key]
        if state != "signed" or version != len(exp) - 1 or got_events.get(doc_id) != exp \
                or outbox.get(doc_id, 0) != sum(rows_per_event[e] for e in exp[1:]):
            bad.append((key, state, version, got_events.get(doc_id), outbox.get(doc_id)))
    assert not bad, f"{len(bad)} walked documents wrong, e.g. {bad[:3]}"
    walked_ids = {id_of[k] for k in keys}
    untouched = [i for i in id_of.values() if i not in walked_ids]
    assert len(untouched) == EXTRA_DOCS, len(untouched)
    n_drafts = con.execute("SELECT count(*) FROM document WHERE state='draft' AND version=0"
                           ).fetchone()[0]
    assert n_drafts == EXTRA_DOCS, f"{n_drafts} untouched drafts, expected {EXTRA_DOCS}"
    assert all(got_events.get(i) == ["create"] and i not in outbox for i in untouched)
    n_hist = con.execute("SELECT count(*) FROM history").fetchone()[0]
    n_out = con.execute("SELECT count(*) FROM outbox").fetchone()[0]
    assert n_hist == n_docs + EXTRA_DOCS + len(plan), n_hist
    return {"history": n_hist, "outbox": n_out, "outbox_per_transition": n_out / len(plan),
            "documents": len(id_of)}


# ---------------------------------------------------------------- where the time goes
_SQL_BLOB = re.compile(r"\b[xX]'[0-9a-fA-F]*'")
_SQL_STR = re.compile(r"'(?:[^']|'')*'")
_SQL_NUM = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?![\w.])")
_SQL_NULL = re.compile(r"(?<!IS )(?<!NOT )\bNULL\b", re.I)


def sql_shape(sql: str) -> str:
    """A statement as sqlite3's trace callback reports it (parameters expanded into literals)
    with its literals back to ``?``, whitespace collapsed: one name per statement text."""
    s = _SQL_BLOB.sub("?", sql)
    s = _SQL_STR.sub("?", s)
    s = _SQL_NUM.sub("?", s)
    s = _SQL_NULL.sub("?", s)
    return " ".join(s.split())


def sqlite3_of(con) -> sqlite3.Connection:
    """The sqlite3 connection under ``con`` (ikuflow's is a thin subclass of it; a wrapper is
    searched one level down)."""
    if isinstance(con, sqlite3.Connection):
        return con
    for v in vars(con).values():
        if isinstance(v, sqlite3.Connection):
            return v
    raise TypeError(f"no sqlite3 connection under {type(con).__name__}")


def write_pass(con, path: Path, run_one, items, chunk: int = 500) -> dict:
    """Run ``run_one(item)`` for every item once, untimed, counting (a) the WAL frames written
    (``PRAGMA wal_autocheckpoint=0`` for the pass; the WAL is truncated before every chunk of
    ``chunk`` items and its growth read after it: frames = (bytes - 32-byte header) /
    (page_size + 24), each frame header parsed for its page number and commit mark; the pages
    mapped to their table or index through dbstat right after their chunk: over a whole pass
    a page freed from an index is reused by a growing table) and (b) every statement SQLite
    ran (sqlite3's trace callback on the connection; executemany's rows each count), by shape.
    ``con`` is the connection the items write through (its ``execute`` is used for the pragmas,
    with tracing off)."""
    raw = sqlite3_of(con)
    ps = con.execute("PRAGMA page_size").fetchone()[0]
    wal = Path(str(path) + "-wal")
    stmts: Counter = Counter()
    by_btree: Counter = Counter()
    distinct: set = set()

    def owners():
        out = {pg: (name, kind) for name, pg, kind in con.execute("SELECT name, pageno, pagetype FROM dbstat")}
        out[1] = ("page 1 (file header + sqlite_schema root; rewritten when the file grows)", "leaf")
        return out

    def trace(sql):
        stmts[sql_shape(sql)] += 1

    con.execute("PRAGMA wal_autocheckpoint=0")
    frames = commits = wal_bytes = 0
    try:
        for i in range(0, len(items), chunk):
            busy, log, done = con.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            assert busy == 0 and log == done, (busy, log, done)
            before = wal.stat().st_size if wal.exists() else 0
            assert before == 0, f"WAL not truncated ({before} bytes)"
            raw.set_trace_callback(trace)
            try:
                for it in items[i:i + chunk]:
                    run_one(it)
            finally:
                raw.set_trace_callback(None)
            after = wal.stat().st_size if wal.exists() else 0
            if after == before:
                continue
            grown = after - before - (32 if before == 0 else 0)
            assert grown % (ps + 24) == 0, (after, before, ps)
            n = grown // (ps + 24)
            with open(wal, "rb") as f:
                f.seek(32)
                data = f.read(n * (ps + 24))
            owner = owners()
            for k in range(n):
                pgno, size = struct.unpack_from(">II", data, k * (ps + 24))
                by_btree[owner.get(pgno, ("free or unknown page", "leaf"))] += 1
                distinct.add(pgno)
                commits += size != 0
            frames += n
            wal_bytes += after - before
            # cross-check with SQLite's own count of the frames in the WAL
            log = con.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1]
            assert log == n, (log, n)
    finally:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.execute("PRAGMA wal_autocheckpoint=1000")
    return {"n": len(items), "page_size": ps, "frames": frames, "commits": commits,
            "wal_bytes": wal_bytes, "distinct_pages": len(distinct), "by_btree": by_btree,
            "statements": stmts}


def ikuflow_write_pass(plan, n_docs) -> dict:
    """The persist workload through Service.advance once more on a fresh database, untimed,
    under :func:`write_pass`; verified like the timed rounds."""
    Service = service_class()
    path = SCRATCH / "ikuflow_where.db"
    keys = build_ikuflow_db(path, n_docs, EXTRA_DOCS)
    steps = _steps(plan, keys)
    svc = Service(f"sqlite:///{path}")
    svc.engine("iku", svc.latest_version("iku"))  # as in the timed rounds
    try:
        out = write_pass(svc.con, path, lambda st: svc.advance(*st), steps)
        verify_ikuflow(svc, plan, keys, n_docs)
    finally:
        svc.close()
    remove_db(str(path))
    return out


def raw_write_pass(plan, n_docs) -> dict:
    """b1's wal_normal_rcw_txn loop (BEGIN IMMEDIATE, apply_one(rcw=True), COMMIT), once,
    untimed, under :func:`write_pass`."""
    import b1_sqlite_raw as b1

    path = common.fresh_db_path("b1_where.db")
    common.create_and_seed(path, n_docs)
    rc = b1.open_con(path, "wal", "NORMAL")

    def one(t):
        d, ev, frm, to = t
        rc.execute("BEGIN IMMEDIATE")
        b1.apply_one(rc, d, ev, frm, to, True)
        rc.execute("COMMIT")
    try:
        out = write_pass(rc, Path(path), one, plan)
        common.verify_final_states(rc, n_docs, len(plan))
    finally:
        rc.close()
    remove_db(path)
    return out


def emit_where(us: dict, passes: dict, names: dict) -> None:
    """The 'where the time goes' tables: per variant, then statements, then WAL pages by btree."""
    emit("#### Where the time goes (one extra untimed pass of each, same workload)")
    emit()
    emit("WAL frames = pages written to the -wal file (page size "
         f"{passes['raw_rcw']['page_size']} B + 24 B frame header), counted with "
         "`PRAGMA wal_autocheckpoint=0` for the pass from the file's growth and its frame headers "
         "(checked against `PRAGMA wal_checkpoint`'s count); statements = every statement SQLite "
         "ran (sqlite3 `set_trace_callback`, executemany rows counted one by one, literals shown "
         "as `?`).")
    emit()
    rows = []
    for k, p in passes.items():
        n = p["n"]
        rows.append((names[k], span(us[k], 1), f"{p['frames'] / n:.2f}", f"{p['commits'] / n:.2f}",
                     f"{p['wal_bytes'] / n / 1024:.1f}", f"{sum(p['statements'].values()) / n:.2f}",
                     f"{len(p['statements'])}"))
    ik, rw = passes["ikuflow_advance"], passes["raw_rcw"]
    rows.append(("difference ikuflow - raw_rcw", f"{med(us['ikuflow_advance']) - med(us['raw_rcw']):.1f}",
                 f"{ik['frames'] / ik['n'] - rw['frames'] / rw['n']:+.2f}",
                 f"{ik['commits'] / ik['n'] - rw['commits'] / rw['n']:+.2f}",
                 f"{(ik['wal_bytes'] / ik['n'] - rw['wal_bytes'] / rw['n']) / 1024:+.1f}",
                 f"{sum(ik['statements'].values()) / ik['n'] - sum(rw['statements'].values()) / rw['n']:+.2f}",
                 ""))
    table(["variant", "us/transition (timed rounds)", "WAL frames/transition", "commits/transition",
           "WAL KiB/transition", "statements/transition", "distinct statements"], rows)
    emit("Statements per transition (first 80 characters of each):")
    emit()
    rows = []
    for k, p in passes.items():
        for sql, c in sorted(p["statements"].items(), key=lambda kv: -kv[1]):
            short = sql[:80] + ("..." if len(sql) > 80 else "")
            rows.append((k, f"{c / p['n']:.3f}", "`" + short.replace("|", "\\|").replace("`", "'") + "`"))
    table(["variant", "per transition", "statement"], rows)
    emit("WAL frames per transition by table or index: the page each frame holds, mapped with dbstat "
         "after each chunk of 500 transitions; in brackets the part that are interior b-tree pages "
         "(the rest are leaves; overflow pages, rows too long for a page, would be named).")
    emit()

    def per_tr(p, name):
        kinds = {kind: c for (nm, kind), c in p["by_btree"].items() if nm == name}
        if not kinds:
            return "-"
        tot = sum(kinds.values()) / p["n"]
        inner = kinds.get("internal", 0) / p["n"]
        over = kinds.get("overflow", 0) / p["n"]
        return f"{tot:.2f}" + (f" [{inner:.2f}]" if inner else "") + (f" (overflow {over:.2f})" if over else "")

    totals: Counter = Counter()
    for p in (ik, rw):
        for (nm, _kind), c in p["by_btree"].items():
            totals[nm] += c / p["n"]
    table(["table or index", "ikuflow_advance frames/transition", "raw_rcw frames/transition"],
          [(f"`{nm}`", per_tr(ik, nm), per_tr(rw, nm)) for nm, _ in totals.most_common()])


def measure_persist():
    header("1. Persisted transition: Service.advance vs raw sqlite3 (b1)")
    stats: dict = {}
    ik_run, plan, n_docs = ikuflow_persist_variant(P_TRANSITIONS, stats)
    variants = {
        "ikuflow_advance": ik_run,
        "raw_rcw": make_variant("wal_normal_rcw_txn", "wal", "NORMAL", P_TRANSITIONS, rcw=True),
        "raw_blind": make_variant("wal_normal_txn", "wal", "NORMAL", P_TRANSITIONS),
    }
    print(f"{len(plan)} transitions on {n_docs} documents (+{EXTRA_DOCS} untouched) per variant "
          f"per round; {ROUNDS} rounds after 1 warm-up", flush=True)
    res = run_interleaved(variants, ROUNDS, baseline="raw_rcw")
    us = {k: v["us_per_op"] for k, v in res.items()}
    x_rcw = {k: [a / b for a, b in zip(us[k], us["raw_rcw"])] for k in us}
    x_blind = {k: [a / b for a, b in zip(us[k], us["raw_blind"])] for k in us}
    names = {"ikuflow_advance": "ikuflow `Service.advance` (WAL + NORMAL)",
             "raw_rcw": "raw sqlite3 read-check-write (b1 `wal_normal_rcw_txn`)",
             "raw_blind": "raw sqlite3 blind UPDATE (b1 `wal_normal_txn`)"}
    verdict = budget("1. persisted transition: ikuflow / raw_rcw", x_rcw["ikuflow_advance"], 3)
    print("where the time goes: one untimed pass of ikuflow and raw_rcw each (WAL frames, statements)",
          flush=True)
    passes = {"ikuflow_advance": ikuflow_write_pass(plan, n_docs),
              "raw_rcw": raw_write_pass(plan, n_docs)}
    emit(f"### 1. Persisted transition (SQLite WAL + NORMAL, 1 txn each), {ROUNDS} rounds")
    emit()
    emit(f"{len(plan):,} transitions per variant per round on {n_docs:,} walked documents "
         f"+ {EXTRA_DOCS:,} untouched ones (fresh database each round); every 10th document is "
         "sent back once from division_review with a comment and resubmitted (the anchors' "
         "workload). ikuflow writes "
         f"{stats['outbox_per_transition']:.2f} outbox rows per transition (one per notified "
         "person) vs 1 in the raw variants. Verified after every round: states, versions, "
         "history sequences and outbox counts of all documents.")
    emit()
    table(["variant", "us/transition", "transitions/s", "x raw_rcw", "x raw_blind"],
          [(names[k], span(us[k], 1), span(res[k]["ops_per_s"], 0), ratio_span(x_rcw[k]),
            ratio_span(x_blind[k])) for k in variants])
    emit(f"Budget (issue 15): one persisted transition through the use case <= 3x the raw "
         f"read-check-write (per-round ratio, median): "
         f"**{ratio_span(x_rcw['ikuflow_advance'])} -> {verdict}**")
    emit()
    emit_where(us, passes, names)


# =============================================================================================
# 2. rehydrate-and-fire in memory
# =============================================================================================
B3_STATES = common.STATES
if b3 is not None:
    B3_T_TRANSITIONS, B3Doc, b3_dict_fire = b3.T_TRANSITIONS, b3.Doc, b3.dict_fire
else:
    B3_T_TRANSITIONS = [
        {"trigger": "submit", "source": "draft", "dest": "division_review"},
        {"trigger": "synchronize", "source": "division_review", "dest": "synchronized"},
        {"trigger": "chair_approve", "source": "synchronized", "dest": "chair_approved"},
        {"trigger": "sign", "source": "chair_approved", "dest": "signed"},
        {"trigger": "return_to_draft", "source": ["division_review", "synchronized", "chair_approved"],
         "dest": "draft"},
    ]

    class B3Doc:
        __slots__ = ("id", "state", "__dict__", "__weakref__")

        def __init__(self, i, state="draft"):
            self.id = i
            self.state = state

    B3_TABLE = {(s, ev): dst for ev, (srcs, dst) in common.EVENTS.items() for s in srcs}

    def b3_dict_fire(doc, ev):
        try:
            doc.state = B3_TABLE[(doc.state, ev)]
        except KeyError:
            raise ValueError(ev) from None


def fire_items(n_calls: int):
    """(anchor doc number, anchor event, from state) for n_calls transitions of the workload."""
    plan, _ = plan_for_transitions(n_calls)
    return [(d, ev, frm) for d, ev, frm, _ in plan[:n_calls]]


def ikuflow_fire_variant(eng, n_calls: int, n_keys: int, seen_models: list):
    from ikuflow.engine import Doc

    base = fire_items(n_calls)
    rng = random.Random(n_keys)
    keys = [f"office-{i // 5:05d}-{DIVISIONS[i % 5]}-2026" for i in range(n_keys)]
    roles = {ev: frozenset({ACTOR_ROLE[ev]}) for ev in ACTOR_ROLE}
    signing = [date(2026, 1, 28), date(2026, 1, 26), date(2026, 1, 30)]
    tzs = ["Asia/Jakarta", "Asia/Makassar", "Asia/Jayapura"]
    now = datetime(2026, 2, 2, 2, 0)
    items = []
    for d, ev, frm in base:
        event = EVENT_MAP[ev]
        items.append((keys[rng.randrange(n_keys)], frm, signing[d % 3], tzs[d % 3],
                      "revise section 2" if event == "send_back" else None, event, roles[event]))

    def run():
        fire = eng.fire
        gc.collect()
        t0 = time.perf_counter()
        for key, state, sd, tz, comment, event, r in items:
            fire(Doc(key, state, sd, tz, comment, now), event, r, "bench@example.id")
        secs = time.perf_counter() - t0
        seen_models.append(len(eng.machine.models))
        return len(items), secs

    return run


def bare_trigger_variant(n_calls: int):
    """README's yardstick: one shared Machine(model=None, auto_transitions=False), a plain object
    rehydrated at its stored state, machine.events[name].trigger(obj)."""
    from transitions import Machine

    m = Machine(model=None, states=B3_STATES, transitions=B3_T_TRANSITIONS, initial="draft",
                auto_transitions=False)
    items = fire_items(n_calls)

    def run():
        events = m.events
        gc.collect()
        t0 = time.perf_counter()
        for d, ev, frm in items:
            events[ev].trigger(B3Doc(d, frm))
        secs = time.perf_counter() - t0
        assert not m.models
        return len(items), secs

    return run


def add_model_variant(n_calls: int):
    """b3 'transitions_shared_noauto' rehydrate+fire: add_model at the stored state, fire, remove."""
    from transitions import Machine

    items = fire_items(n_calls)

    def run():
        docs = [(B3Doc(d, frm), ev) for d, ev, frm in items]
        gc.collect()
        if b3 is not None:
            secs = b3.v_transitions_shared(False)[2](docs)
        else:
            m = Machine(model=None, states=B3_STATES, transitions=B3_T_TRANSITIONS, initial="draft",
                        auto_transitions=False)
            t0 = time.perf_counter()
            for doc, ev in docs:
                m.add_model(doc, initial=doc.state)
                getattr(doc, ev)()
                m.remove_model(doc)
            secs = time.perf_counter() - t0
        assert all(doc.state != frm for (doc, _), (_, _, frm) in zip(docs, items))
        return len(docs), secs

    return run


def dict_variant(n_calls: int):
    items = fire_items(n_calls)

    def run():
        docs = [(B3Doc(d, frm), ev) for d, ev, frm in items]
        gc.collect()
        if b3 is not None:
            secs = b3.v_dict()[2](docs)
        else:
            t0 = time.perf_counter()
            for doc, ev in docs:
                b3_dict_fire(doc, ev)
            secs = time.perf_counter() - t0
        return len(docs), secs

    return run


def measure_fire():
    header("2. Rehydrate-and-fire in memory: Engine.fire vs transitions / dict table (b3)")
    import transitions

    from ikuflow.definition import load_file
    from ikuflow.engine import Engine

    eng = Engine(load_file(WORKFLOWS / "iku.yaml"))
    models = {n: [] for n in FIRE_KEYS}
    variants = {}
    for n in FIRE_KEYS:
        variants[f"ikuflow_fire_{n}_docs"] = ikuflow_fire_variant(eng, F_CALLS, n, models[n])
    variants["transitions_bare_trigger"] = bare_trigger_variant(F_CALLS)
    variants["transitions_add_model"] = add_model_variant(F_CALLS_ADD_MODEL)
    variants["dict_table"] = dict_variant(F_CALLS)
    base = f"ikuflow_fire_{FIRE_KEYS[0]}_docs"
    big = f"ikuflow_fire_{FIRE_KEYS[-1]}_docs"
    print(f"{F_CALLS} fires per variant per round ({F_CALLS_ADD_MODEL} for add_model); "
          f"transitions {transitions.__version__}; {B3_NOTE}", flush=True)
    res = run_interleaved(variants, ROUNDS, baseline=base)
    us = {k: v["us_per_op"] for k, v in res.items()}
    x_base = {k: [a / b for a, b in zip(us[k], us[base])] for k in us}
    x_bare = {k: [a / b for a, b in zip(us[k], us["transitions_bare_trigger"])] for k in us}
    names = {
        base: f"ikuflow `Engine.fire(Doc(...))`, keys from {FIRE_KEYS[0]:,} documents",
        big: f"ikuflow `Engine.fire(Doc(...))`, keys from {FIRE_KEYS[-1]:,} documents",
        "transitions_bare_trigger": "transitions: shared Machine(model=None, auto_transitions=False),"
                                    " `events[name].trigger(obj)` (README yardstick)",
        "transitions_add_model": "transitions: shared Machine, add_model + fire + remove_model (b3 noauto)",
        "dict_table": "dict table {(state, event): target} (b3 floor)",
    }
    v1 = budget(f"2. rehydrate+fire, {FIRE_KEYS[0]} documents", us[base], 20, unit="us")
    v2 = budget(f"2. rehydrate+fire, {FIRE_KEYS[-1]:,} documents", us[big], 20, unit="us")
    v3 = budget(f"2. O(1): fire at {FIRE_KEYS[-1]:,} / at {FIRE_KEYS[0]} documents", x_base[big], 1.3)
    empty = all(n == 0 for lst in models.values() for n in lst)
    BUDGETS.append(("2. machine.models after every round", str(sorted({n for l in models.values() for n in l})),
                    "== [0] (no per-document state)", empty))
    emit(f"### 2. Rehydrate-and-fire in memory, {ROUNDS} rounds")
    emit()
    emit(f"{F_CALLS:,} fires per variant per round ({F_CALLS_ADD_MODEL:,} for add_model), the "
         "workload's mix of events; each call builds a fresh document object at its stored state "
         "and fires one event (ikuflow: role check, guard, due time of the new state). "
         f"transitions {transitions.__version__}. Yardsticks: {B3_NOTE}.")
    emit()
    table(["variant", "us/fire", "fires/s", f"x ikuflow@{FIRE_KEYS[0]}", "x bare trigger"],
          [(names[k], span(us[k], 2), span(res[k]["ops_per_s"], 0), ratio_span(x_base[k]),
            ratio_span(x_bare[k])) for k in variants])
    emit(f"`len(engine.machine.models)` after each ikuflow round: "
         f"{FIRE_KEYS[0]} docs {models[FIRE_KEYS[0]]}, {FIRE_KEYS[-1]:,} docs {models[FIRE_KEYS[-1]]}.")
    emit()
    emit(f"Budget: <= 20 us per rehydrate+fire: {FIRE_KEYS[0]} docs **{span(us[base], 2)} us -> {v1}**, "
         f"{FIRE_KEYS[-1]:,} docs **{span(us[big], 2)} us -> {v2}**; "
         f"O(1) in documents ({FIRE_KEYS[-1]:,} / {FIRE_KEYS[0]}, limit 1.3x): "
         f"**{ratio_span(x_base[big])} -> {v3}**; machine holds no models: **{'PASS' if empty else 'FAIL'}**")
    emit()


# =============================================================================================
# 3. CLI cold start
# =============================================================================================
TYPER_APP = '''import typer
app = typer.Typer(rich_markup_mode=None, add_completion=False)
@app.command()
def hello(name: str = "world"): print(f"hello {name}")
@app.command()
def bye(): print("bye")
app()
'''


def prepare_cli_db(path: Path) -> str:
    from ikuflow import admin

    Service = service_class()
    url = f"sqlite:///{path}"
    admin.init(url, WORKFLOWS)
    admin.add_office("pacitan", "Bawaslu Kabupaten Pacitan", url=url)
    admin.add_person("sri@pacitan.example.id", "Sri Wahyuni", "coordinator", "pacitan", "sdmo", url=url)
    admin.add_person("ahmad@pacitan.example.id", "Ahmad Fauzi", "chair", "pacitan", url=url)
    svc = Service(url)
    key = svc.new("pacitan", "sdmo", 2026, date(2026, 1, 28), "sri@pacitan.example.id",
                  at=datetime(2026, 1, 12, 2, 0))["key"]
    svc.close()
    gc.collect()
    return key


def measure_cli():
    header("3. CLI cold start, whole processes (b6 style)")
    py = sys.executable
    exe = str(Path(py).with_name("ikuflow"))
    workdir = SCRATCH / "cli"
    workdir.mkdir()
    app_file = workdir / "plain_typer_app.py"
    app_file.write_text(TYPER_APP)
    db = workdir / "ikuflow.db"
    key = prepare_cli_db(db)
    env = {**os.environ, "IKUFLOW_DATABASE_URL": f"sqlite:///{db}", "COLUMNS": "100"}
    cases = [
        ("pass", "`python -c pass`", [py, "-c", "pass"]),
        ("sqlmodel", "`python -c \"import sqlmodel\"`", [py, "-c", "import sqlmodel"]),
        ("typer_app", "plain Typer app `--help` (rich_markup_mode=None)", [py, str(app_file), "--help"]),
        ("help", "`ikuflow --help`", [exe, "--help"]),
        ("status", f"`ikuflow status {key}`", [exe, "status", key]),
    ]
    # correctness first: each command must succeed and say what it should
    for name, _, argv in cases:
        p = subprocess.run(argv, env=env, cwd=workdir, capture_output=True, text=True,
                           stdin=subprocess.DEVNULL)
        assert p.returncode == 0, (name, p.returncode, p.stderr[-2000:])
        if name == "status":
            assert key in p.stdout and "draft" in p.stdout, p.stdout
        if name == "help":
            assert "advance" in p.stdout and "status" in p.stdout, p.stdout
    # what the status command imports (one untimed run with -X importtime)
    p = subprocess.run([py, "-X", "importtime", exe, "status", key], env=env, cwd=workdir,
                       capture_output=True, text=True, stdin=subprocess.DEVNULL)
    heavy = [m for m in ("sqlalchemy", "sqlmodel", "pydantic", "rich", "apscheduler", "jinja2",
                         "aiosmtplib", "transitions", "yaml", "holidays")
             if f"| {m}\n" in p.stderr or f"|   {m}\n" in p.stderr
             or any(ln.rstrip().endswith(" " + m) for ln in p.stderr.splitlines())]

    def once(argv):
        t0 = time.perf_counter()
        subprocess.run(argv, check=True, env=env, cwd=workdir, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return (time.perf_counter() - t0) * 1e3

    for _ in range(2):  # warm-up: page cache, bytecode
        for _, _, argv in cases:
            once(argv)
    ms = {n: [] for n, _, _ in cases}
    for r in range(CLI_RUNS):
        for n, _, argv in cases:
            ms[n].append(once(argv))
        if r % 5 == 4 or r == CLI_RUNS - 1:
            print(f"  [run {r + 1}/{CLI_RUNS}] " + "  ".join(f"{n}={ms[n][-1]:.0f}ms" for n in ms),
                  flush=True)
    x_pass = {n: [a / b for a, b in zip(ms[n], ms["pass"])] for n in ms}
    x_sqlm = {n: [a / b for a, b in zip(ms[n], ms["sqlmodel"])] for n in ms}
    v_help = budget("3. `ikuflow --help` / `python -c pass`", x_pass["help"], 8)
    v_stat = budget("3. `ikuflow status KEY` / `python -c \"import sqlmodel\"`", x_sqlm["status"], 1.15)
    emit(f"### 3. CLI cold start, {CLI_RUNS} interleaved runs")
    emit()
    emit(f"Whole processes with `{py}` and its console script `{exe}`; warm page cache and "
         f"bytecode; the status command reads a small database with one document. Ratios are "
         f"taken within each run. Modules of note imported by `ikuflow status`: "
         f"{', '.join(heavy) or 'none of sqlalchemy/sqlmodel/pydantic/rich/...'}.")
    emit()
    table(["command", "wall ms", "minus pass ms", "x pass", "x import sqlmodel"],
          [(label, span(ms[n], 1), fmt(med(ms[n]) - med(ms["pass"]), 1), ratio_span(x_pass[n]),
            ratio_span(x_sqlm[n])) for n, label, _ in cases])
    emit(f"Budgets: `ikuflow --help` <= 8x pass: **{ratio_span(x_pass['help'])} -> {v_help}**; "
         f"`ikuflow status KEY` <= 1.15x import sqlmodel: **{ratio_span(x_sqlm['status'])} -> {v_stat}**")
    emit()


# =============================================================================================
# --profile: where the time of Service.advance goes
# =============================================================================================
def _steps(plan, keys):
    out = []
    for i, (d, ev, _frm, _to) in enumerate(plan):
        office, div, _year = doc_slot(d, "walk")
        event = EVENT_MAP[ev]
        comment = f"please revise the targets of document {d} (step {i})" if event == "send_back" else None
        out.append((keys[d - 1], event, actor_for(event, office, div), comment,
                    FIRST_AT + timedelta(milliseconds=i)))
    return out


def profile_advance() -> int:
    """1) the workload timed plainly, 2) under cProfile, 3) split by timing wrappers around the
    package's own functions and each statement (the real advance runs), 4) WAL pages per
    transition by schema variant; each on a fresh database."""
    import cProfile
    import pstats

    Service = service_class()

    plan, n_docs = plan_for_transitions(P_TRANSITIONS)
    path = SCRATCH / "ikuflow_profile.db"
    header("Profile of Service.advance")
    print(env_line())

    def fresh():
        keys = build_ikuflow_db(path, n_docs, EXTRA_DOCS)
        svc = Service(f"sqlite:///{path}")
        svc.engine("iku", svc.latest_version("iku"))
        gc.collect()
        return svc, keys

    # 1) plain
    svc, keys = fresh()
    steps = _steps(plan, keys)
    t0 = time.perf_counter()
    for st in steps:
        svc.advance(*st)
    plain = (time.perf_counter() - t0) / len(steps) * 1e6
    verify_ikuflow(svc, plan, keys, n_docs)
    svc.close()
    print(f"\nplain: {plain:.1f} us/transition over {len(steps)} transitions")

    # 2) cProfile
    svc, keys = fresh()
    steps = _steps(plan, keys)
    prof = cProfile.Profile()
    prof.enable()
    for st in steps:
        svc.advance(*st)
    prof.disable()
    verify_ikuflow(svc, plan, keys, n_docs)
    svc.close()
    n = len(steps)
    st_ = pstats.Stats(prof)
    total = st_.total_tt
    print(f"\ncProfile: {total / n * 1e6:.1f} us/transition with profiler overhead "
          f"(plain {plain:.1f}); top functions, us per transition (profiled):")
    rows = []
    for (file, line, fn), (cc, nc, tt, ct, _callers) in st_.stats.items():
        rows.append((tt, ct, nc, f"{Path(file).name}:{line}({fn})" if line else fn))
    print(f"  {'own us':>8} {'cum us':>8} {'calls/tr':>8}  function   (sorted by own time)")
    for tt, ct, nc, name in sorted(rows, reverse=True)[:25]:
        print(f"  {tt / n * 1e6:8.2f} {ct / n * 1e6:8.2f} {nc / n:8.2f}  {name}")
    print(f"\n  {'cum us':>8} {'own us':>8} {'calls/tr':>8}  function   (sorted by cumulative time)")
    for tt, ct, nc, name in sorted(rows, key=lambda r: -r[1])[:30]:
        print(f"  {ct / n * 1e6:8.2f} {tt / n * 1e6:8.2f} {nc / n:8.2f}  {name}")

    # 3) split by timing wrappers around the package's own functions and SQL statements
    #    (nothing is re-implemented: the real Service.advance runs, on a connection class that
    #    times each statement; wrappers cost ~0.3 us per call). The functions are looked up
    #    where the package keeps them (old layout: ikuflow.service; new: ikuflow.app.documents,
    #    ikuflow.app.notices, ikuflow.store.documents); those not found are skipped.
    import contextlib
    import importlib
    import json

    import ikuflow.engine as ik_engine
    from ikuflow.store.db import _tune

    try:
        from ikuflow.store.db import SQLiteConnection as BaseConnection
    except ImportError:
        BaseConnection = sqlite3.Connection
    adv_mod = sys.modules[Service.advance.__module__]  # where advance and its helpers live

    def module(name):
        try:
            return importlib.import_module(name)
        except ImportError:
            return None

    acc: dict[str, float] = {}
    cnt: dict[str, int] = {}
    pc = time.perf_counter

    def add(name, dt):
        acc[name] = acc.get(name, 0.0) + dt
        cnt[name] = cnt.get(name, 0) + 1

    def sql_name(sql):
        """'sql VERB table', the table of the outermost FROM (subqueries in parentheses skipped)."""
        flat, prev = sql, None
        while flat != prev:
            prev, flat = flat, re.sub(r"\([^()]*\)", " ", flat)
        w = flat.replace(",", " ").split()
        verb = w[0].upper()
        if verb in ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "PRAGMA"):
            return "sql " + verb
        up = [x.upper() for x in w]
        if verb == "INSERT":
            tbl = w[up.index("INTO") + 1]
        elif verb == "UPDATE":
            tbl = w[1]
        else:
            tbl = w[up.index("FROM") + 1] if "FROM" in up else w[1]
        return f"sql {verb} {tbl}"

    commits: list[float] = []
    selects: dict[str, list] = {}  # each SELECT's text -> up to 5,000 of its parameter tuples

    class TimedConnection(BaseConnection):
        def execute(self, sql, *a):
            if sql.lstrip()[:6].upper() == "SELECT":
                got = selects.setdefault(sql, [])
                if len(got) < 5000:
                    got.append(a[0] if a else ())
            t = pc()
            try:
                return super().execute(sql, *a)
            finally:
                dt = pc() - t
                add(sql_name(sql), dt)
                if sql == "COMMIT":
                    commits.append(dt)

        def executemany(self, sql, *a):
            t = pc()
            try:
                return super().executemany(sql, *a)
            finally:
                add(sql_name(sql) + " (executemany)", pc() - t)

    def timed(name, fn):
        def w(*a, **k):
            t = pc()
            try:
                return fn(*a, **k)
            finally:
                add(name, pc() - t)
        return w

    keys = build_ikuflow_db(path, n_docs, EXTRA_DOCS)
    steps = _steps(plan, keys)
    con = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False,
                          factory=TimedConnection)
    con.path = str(path)
    _tune(con)
    svc = Service(con=con)
    svc.engine("iku", svc.latest_version("iku"))
    saved = []

    def patch(obj, attr, name):
        if obj is None or not hasattr(obj, attr):
            return
        own = isinstance(obj, type) and attr in vars(obj) or not isinstance(obj, type)
        orig = getattr(obj, attr)
        saved.append((obj, attr, orig, own))
        setattr(obj, attr, timed(name, orig))

    notices = module("ikuflow.app.notices")
    store_docs = module("ikuflow.store.documents")
    for attr in ("_roles", "roles"):  # old name, new name
        patch(Service, attr, f"Service.{attr} (incl. its SELECT person)")
    patch(Service, "people", "Service.people (incl. its SELECT role_assignment)")
    patch(Service, "engine", "Service.engine (cached lookup)")
    patch(Service, "delegators", "Service.delegators (incl. its SELECT delegation)")
    patch(Service, "queue_id", "Service.queue_id (cached, or its queue SELECT/INSERT)")
    patch(adv_mod, "_decide", "_decide: read + engine + e-mail intents (new layout)")
    patch(adv_mod, "_save", "_save: the write statements, inside the write block (new layout)")
    patch(adv_mod, "_result", "_result (result dict)")
    patch(store_docs, "current", "  of which store.documents.current (its SELECT document)")
    patch(ik_engine.Engine, "fire", "Engine.fire")
    patch(ik_engine.Engine, "next_action_at", "  of which Engine.next_action_at")
    patch(ik_engine.Engine, "due_for", "  of which Engine.due_for")
    patch(ik_engine.Engine, "check_role", "  of which Engine.check_role")
    patch(notices, "for_step", "notices.for_step (e-mail intents)")
    patch(notices, "message_id", "  of which message_id (sha256)")
    patch(adv_mod, "message_id", "message_id (sha256 + env lookup)")
    patch(json, "dumps", "json.dumps (payloads)")
    patch(adv_mod, "iso_local", "iso_local (result dict)")
    write_mod = adv_mod if hasattr(adv_mod, "write") else None
    orig_write = write_mod.write if write_mod else None

    @contextlib.contextmanager
    def timed_write(c):
        t = pc()
        with orig_write(c) as cc:
            yield cc
        add("write block: BEGIN IMMEDIATE .. COMMIT", pc() - t)
    if write_mod:
        write_mod.write = timed_write
    try:
        acc.clear(), cnt.clear(), selects.clear(), commits.clear()  # (the setup's statements)
        gc.collect()
        t0 = pc()
        for st in steps:
            svc.advance(*st)
        t_all = pc() - t0
    finally:
        if write_mod:
            write_mod.write = orig_write
        for obj, attr, orig, own in reversed(saved):
            if own:
                setattr(obj, attr, orig)
            else:
                delattr(obj, attr)
    acc_run, cnt_run = dict(acc), dict(cnt)  # snapshot: the verification below runs statements too
    selects_run = {k_: list(v) for k_, v in selects.items()}
    commits = sorted(commits)
    verify_ikuflow(svc, plan, keys, n_docs)

    # the read queries alone (each SELECT advance sent, with the parameters it sent), for scale
    def sql_alone(sql, args_list):
        t = pc()
        for a_ in args_list:
            sqlite3.Connection.execute(con, sql, a_).fetchall()
        return (pc() - t) / len(args_list) * 1e6
    alone = [(sql_alone(sql, args), len(args), sql) for sql, args in selects_run.items()]
    svc.close()

    print(f"\nsplit (wrapped functions and statements, no profiler): {t_all / n * 1e6:.1f} us/transition "
          f"(plain run above: {plain:.1f})")
    print(f"  {'us/tr':>8} {'share':>6} {'calls/tr':>8}  part")
    for name, v in sorted(acc_run.items(), key=lambda kv: -kv[1]):
        if v / n * 1e6 >= 0.05:
            print(f"  {v / n * 1e6:8.1f} {v / t_all * 100:5.1f}% {cnt_run[name] / n:8.2f}  {name}")
    sql_write = sum(v for k_, v in acc_run.items() if k_.startswith(("sql BEGIN", "sql COMMIT", "sql UPDATE",
                                                                  "sql INSERT")))
    print(f"  (write statements BEGIN+UPDATE+INSERTs+COMMIT together: {sql_write / n * 1e6:.1f} us/transition)")
    if commits:
        nc = len(commits)
        top = commits[int(nc * 0.99):]
        print(f"  COMMIT per call: median {commits[nc // 2] * 1e6:.1f} us, p90 {commits[int(nc * 0.9)] * 1e6:.1f}, "
              f"p99 {commits[int(nc * 0.99)] * 1e6:.1f}, max {commits[-1] * 1e6:.0f}; the slowest 1% "
              f"(the commits that run SQLite's autocheckpoint) hold {sum(top) / sum(commits) * 100:.0f}% "
              f"of COMMIT time = {sum(top) / n * 1e6:.1f} us/transition")
    print("\nthe read queries alone (fetchall, same database, the parameters advance sent; "
          "us per execution, executions sampled):")
    for us_, k_, sql in sorted(alone, reverse=True):
        print(f"  {us_:8.1f} us  x{k_:<5}  {' '.join(sql.split())[:100]}")

    # 4) WAL pages written per transition, and what each secondary index adds: the shipped
    #    schema, then scratch copies without one index at a time (the package is not touched;
    #    this only says where the COMMIT's page writes come from), and the anchor's raw rcw
    print_frames_experiment()
    return 0


def _frames_loop(con, run_one, items):
    """Run items with SQLite's autocheckpoint off but the same policy done by hand: a PASSIVE
    checkpoint whenever about 1,000 WAL frames have been written (SQLite's default
    wal_autocheckpoint), so the frames of each chunk can be counted.
    Returns (frames, seconds including the checkpoints)."""
    con.execute("PRAGMA wal_autocheckpoint=0")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    frames, secs, i, chunk = 0, 0.0, 0, 20
    while i < len(items):
        t0 = time.perf_counter()
        for it in items[i:i + chunk]:
            run_one(it)
        f = con.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1]
        secs += time.perf_counter() - t0
        frames += f
        i += chunk
        chunk = max(1, round(1000 / max(f / chunk, 0.1)))
    return frames, secs


def print_frames_experiment():
    import b1_sqlite_raw as b1

    Service = service_class()
    plan, n_docs = plan_for_transitions(min(P_TRANSITIONS, 4000))
    n = len(plan)
    path = SCRATCH / "ikuflow_frames.db"
    reps = 1 if ARGS.quick else 3
    variants = [("ikuflow as shipped", []),
                ("ikuflow without ix_document_state", ["ix_document_state"]),
                ("ikuflow without ix_document_due", ["ix_document_due"]),
                ("ikuflow without ix_document_next_action", ["ix_document_next_action"]),
                ("ikuflow without ix_outbox_document_id", ["ix_outbox_document_id"]),
                ("ikuflow without ix_outbox_pending", ["ix_outbox_pending"]),
                ("ikuflow without all five above", ["ix_document_state", "ix_document_due",
                                                    "ix_document_next_action", "ix_outbox_document_id",
                                                    "ix_outbox_pending"]),
                ("raw sqlite3 read-check-write (b1 schema)", None)]
    res = {label: ([], [], []) for label, _ in variants}
    notes = {}

    def ik(label, drop):
        keys = build_ikuflow_db(path, n_docs, EXTRA_DOCS)
        steps = _steps(plan, keys)
        svc = Service(f"sqlite:///{path}")
        have = {r[0] for r in svc.con.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        missing = [x for x in drop if x not in have]
        if missing:
            notes[label] = f" (not in this schema: {', '.join(missing)})"
        for x in drop:
            if x in have:
                svc.con.execute(f"DROP INDEX {x}")
        svc.engine("iku", svc.latest_version("iku"))
        gc.collect()
        frames, secs = _frames_loop(svc.con, lambda st: svc.advance(*st), steps)
        verify_ikuflow(svc, plan, keys, n_docs)
        svc.close()
        remove_db(str(path))
        return frames, secs, 0.0

    def raw():
        raw_path = common.fresh_db_path("b1_frames.db")
        common.create_and_seed(raw_path, n_docs)
        rc = b1.open_con(raw_path, "wal", "NORMAL")
        commit = [0.0]

        def raw_one(t):
            d, ev, frm, to = t
            rc.execute("BEGIN IMMEDIATE")
            b1.apply_one(rc, d, ev, frm, to, True)
            t0 = time.perf_counter()
            rc.execute("COMMIT")
            commit[0] += time.perf_counter() - t0
        gc.collect()
        frames, secs = _frames_loop(rc, raw_one, plan)
        common.verify_final_states(rc, n_docs, n)
        rc.close()
        remove_db(raw_path)
        return frames, secs, commit[0]

    for r in range(reps):  # interleaved: every variant once per repetition
        for label, drop in variants:
            f, s_, c = raw() if drop is None else ik(label, drop)
            res[label][0].append(f / n)
            res[label][1].append(s_ / n * 1e6)
            res[label][2].append(c / n * 1e6)
    print(f"\nWAL pages (4 KiB frames) per transition and us/transition including a PASSIVE "
          f"checkpoint per ~1,000 frames (SQLite's default policy, done by hand to count frames); "
          f"{n} transitions on {n_docs} documents (+{EXTRA_DOCS} untouched); median of {reps} "
          "interleaved repetition(s); indexes dropped on scratch copies only:")
    print(f"  {'frames/tr':>9} {'us/tr':>24}  schema")
    for label, _ in variants:
        fr, us_, cm = res[label]
        extra = (f"; its COMMIT alone {med(cm):.1f} us" if label.startswith("raw") else "")
        print(f"  {med(fr):9.1f} {span(us_, 1):>24}  {label}{notes.get(label, '')}{extra}")


# =============================================================================================
def package_revision() -> str:
    """The commit of the package under test, and whether ikuflow/ has uncommitted changes."""
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "ikuflow",
                                "workflows"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head or 'unknown'}{' + uncommitted changes in ikuflow/ or workflows/' if dirty else ''}"


def main() -> int:
    t_start = time.perf_counter()
    title = "ikuflow core benchmark (bench/bench_core.py)"
    header(title)
    env = env_line()
    rev = package_revision()
    print(env + f" | ikuflow {rev}", flush=True)
    OUT.extend([f"# {title}", "", f"`{env}`; ikuflow at `{rev}`", "",
                f"Run {datetime.now().isoformat(timespec='seconds')}; {ROUNDS} rounds"
                f"{' (--quick sizes)' if ARGS.quick else ''}; anchors from `{ARGS.anchors}`; "
                "medians with [min..max] across rounds; ratios taken within each round/run.", ""])
    try:
        if ARGS.profile:
            return profile_advance()
        if "persist" in ONLY:
            measure_persist()
        if "fire" in ONLY:
            measure_fire()
        if "cli" in ONLY:
            measure_cli()
    finally:
        if not ARGS.keep:
            shutil.rmtree(SCRATCH, ignore_errors=True)
    emit("### Budgets")
    emit()
    table(["budget", "measured (median [min..max])", "limit", "verdict"],
          [(n, m, lim, "PASS" if ok else "**FAIL**") for n, m, lim, ok in BUDGETS])
    emit(f"Total run time {time.perf_counter() - t_start:.0f} s; env at end: `{env_line()}`")
    if ARGS.markdown:
        Path(ARGS.markdown).write_text("\n".join(OUT) + "\n")
        print(f"\nwrote {ARGS.markdown}")
    return 0 if all(ok for *_, ok in BUDGETS) else 1


if __name__ == "__main__":
    sys.exit(main())
