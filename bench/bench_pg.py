#!/usr/bin/env python
"""ikuflow on PostgreSQL, measured side by side with its yardsticks in ONE run on ONE server.

Budgets (issue 7, "Budgets"; ../shared/anchors/README.md, item 4 and section 5):

1. Overdue scans at 1,000,000 documents (85% signed) on PostgreSQL, next to anchor
   ``b5_overdue.py pg`` (its 'partial_cover' index set), within the SQLite budgets:
     * the scheduler's claim of the 500 most overdue           <= 2 ms   (anchor Q2_batch500)
     * the full overdue list (about 15,000 rows)                <= 20 ms  (anchor Q1_not_terminal)
     * the overdue count                                        <= 3 ms   (anchor Q1_count)
   plus, for information, every document whose next action is due (anchor Q3) and a forced
   sequential scan of each table (the anchor's Q0, enable_*scan=off around it).
   The ikuflow queries are not copied from the package: ``Service.overdue``,
   ``Service.overdue_count`` and ``Service.tick`` run once on a recording connection and the
   exact SQL and parameters they send are measured (tick is stopped at its claim, before any
   write). A tick batch takes a slot (``SELECT slot FROM tick_slot ... FOR UPDATE SKIP LOCKED``,
   schema 0005) and claims that slot's 500 most overdue documents, inside its transaction, so the
   budget row is those two statements as tick runs them, timed inside a transaction (BEGIN
   before them and ROLLBACK after them are not timed: they belong to the batch's transaction, as
   the anchor's single autocommit SELECT has none). For information: the same with BEGIN and
   ROLLBACK timed, and the document SELECT alone (on ikuflow's connection and on a plain one).

2. Persisted transitions per second with 1, 2 and 4 client processes (``Service.advance``,
   each process on its own documents), next to ``pgbench -N -c N -j N -T 10`` (the built-in
   simple-update script: BEGIN, UPDATE, SELECT, INSERT, END) against ``pgbench -i`` tables on
   the same server. The ikuflow workload is the anchors' (common.transition_plan): documents
   interleaved, draft -> submit -> synchronize -> approve -> sign, every 10th sent back once
   from division_review with a reason and resubmitted; 500 documents (2,100 transitions) per
   process, created fresh for every run with ``Service.new_many`` (untimed). Each process walks
   5 other documents first (untimed warm-up: imports, templates), then all processes start
   together; throughput = all transitions / (last finish - first start). No budget is set by
   issue 7 for this one: the ratio to pgbench is the figure.

3. One ``Service.advance`` with the database 0.5 ms away in each direction (issue 15), as if on
   another host: bench/tcp_delay.py, a TCP proxy in a child process that delays every chunk by
   0.5 ms each way and counts round trips (client data, then the server's answer), sits between
   ikuflow and the server. About 400 transitions of the same walk as part 2, one at a time,
   interleaved with the same walk on a direct connection and with a ``SELECT 1`` through the link
   (the link's real round trip). Budgets: median advance <= 3.5 ms through the link, at most 3
   round trips per advance. Figures: median / p90 / p99 ms, round trips per advance (median,
   max, by event).

The server: a throw-away PostgreSQL cluster started here with tests/pgcluster.py
``Cluster(fast=False)`` (fsync, synchronous_commit and full_page_writes at their defaults: on),
with the anchor's pg_start.sh memory settings (shared_buffers=512MB, work_mem=64MB), stopped at
the end. Everything runs on the same 2-core machine, so variants are interleaved round by round
(A B, A B, ...) and ratios are taken within a round or run; figures are median [min..max].

Usage (from /work/main, with the project's virtualenv; about 8-10 minutes):
    .venv/bin/python bench/bench_pg.py [--rows 1000000] [--runs 9] [--rounds 3] [--quick]
        [--only overdue,tx,advance] [--link-n 400] [--delay-ms 0.5] [--markdown FILE]
        [--anchors /work/shared/anchors]
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORKFLOWS = ROOT / "workflows"
OFFICES_CSV = ROOT / "examples" / "offices-id.csv"
sys.path.insert(0, str(ROOT / "tests"))  # pgcluster

DIVISIONS = ("hukum", "penanganan", "pencegahan", "sdmo", "sengketa")
EVENT_OF = {"submit": "submit", "synchronize": "synchronize", "chair_approve": "approve",
            "sign": "sign", "return_to_draft": "send_back"}
ROLE_OF = {"submit": "coordinator", "synchronize": "secretariat", "approve": "chair", "sign": "chair",
           "send_back": "secretariat"}


def people_of(office: str) -> list[tuple]:
    """(email, name, role, division): a coordinator per division, the secretariat, the chair."""
    out = [(f"coord-{d}@{office}.example.id", f"Koordinator {d} {office}", "coordinator", d)
           for d in DIVISIONS]
    out.append((f"sekretariat@{office}.example.id", f"Sekretariat {office}", "secretariat", None))
    out.append((f"ketua@{office}.example.id", f"Ketua {office}", "chair", None))
    return out


def service_class():
    """``Service`` wherever the package keeps it (ikuflow.app, ikuflow.app.service, or the old
    ikuflow.service)."""
    try:
        from ikuflow.app import Service  # type: ignore[attr-defined]
    except ImportError:
        try:
            from ikuflow.app.service import Service
        except ImportError:
            from ikuflow.service import Service
    return Service


def tick_slots():
    """(TICK_SLOTS, tick_slot) from the store, or from the old ikuflow.service."""
    try:
        from ikuflow.store.documents import TICK_SLOTS, tick_slot
    except ImportError:
        from ikuflow.service import TICK_SLOTS, tick_slot
    return TICK_SLOTS, tick_slot


def actor(event: str, office: str, division: str) -> str:
    role = ROLE_OF[event]
    if role == "coordinator":
        return f"coord-{division}@{office}.example.id"
    return f"{'sekretariat' if role == 'secretariat' else 'ketua'}@{office}.example.id"


# ================================================================ worker (a client process)
def worker(config_path: str) -> None:
    """One client process of part 2: walk the warm-up documents, say ready, wait for go, walk
    its own documents with Service.advance, write what it did and when."""
    cfg = json.loads(Path(config_path).read_text())
    os.environ["IKUFLOW_DATABASE_URL"] = cfg["url"]
    svc = service_class()(cfg["url"])

    def walk(plan):
        done = 0
        for key, event, office, division, to in plan:
            res = svc.advance(key, event, actor(event, office, division),
                              comment="Indikator belum sesuai Renstra" if event == "send_back" else None)
            if res["state"] != to:
                raise SystemExit(f"{key} {event}: {res['state']} != {to}")
            done += 1
        return done

    walk(cfg["warm"])
    backend = svc.con.execute("SELECT pg_backend_pid()").fetchone()[0]
    Path(cfg["ready"]).touch()
    go = Path(cfg["go"])
    while not go.exists():
        time.sleep(0.001)
    s0, c0 = server_cpu(backend), time.process_time()
    t0 = time.monotonic()
    n = walk(cfg["plan"])
    t1 = time.monotonic()
    s1, c1 = server_cpu(backend), time.process_time()
    svc.close()
    Path(cfg["out"]).write_text(json.dumps({"n": n, "t0": t0, "t1": t1, "client_cpu": c1 - c0,
                                            "server_cpu": None if s0 is None else s1 - s0}))


def server_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) used so far by the server process ``pid`` (its backend)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if len(sys.argv) == 3 and sys.argv[1] == "--worker":
    worker(sys.argv[2])
    sys.exit(0)

# ================================================================ arguments
ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                             formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--rows", type=int, default=None, help="documents for part 1 (default 1,000,000; 100,000 with --quick)")
ap.add_argument("--runs", type=int, default=9, help="timed runs of part 1 after one warm-up run (default 9)")
ap.add_argument("--rounds", type=int, default=None, help="timed rounds of part 2 after one warm-up round (default 3; 1 with --quick)")
ap.add_argument("--docs", type=int, default=None, help="documents per client process in part 2 (default 500; 100 with --quick)")
ap.add_argument("--seconds", type=int, default=10, help="pgbench -T (default 10; 3 with --quick)")
ap.add_argument("--quick", action="store_true", help="a smoke run (the budgets are for 1,000,000 documents)")
ap.add_argument("--only", default="overdue,tx,advance", help="comma-separated subset of: overdue, tx, advance")
ap.add_argument("--link-n", type=int, default=None,
                help="timed transitions of part 3, each way (default about 420; about 100 with --quick)")
ap.add_argument("--delay-ms", type=float, default=0.5, help="part 3: the link's one-way delay (default 0.5)")
ap.add_argument("--markdown", metavar="FILE", help="also write the report to FILE")
ap.add_argument("--anchors", default=os.environ.get("IKU_ANCHORS", "/work/shared/anchors"),
                help="folder of the anchor scripts")
args = ap.parse_args()
N = args.rows or (100_000 if args.quick else 1_000_000)
ROUNDS = args.rounds or (1 if args.quick else 3)
DOCS = args.docs or (100 if args.quick else 500)
SECONDS = 3 if args.quick and args.seconds == 10 else args.seconds
CLIENTS = (1, 2, 4)
LINK_N = args.link_n or (100 if args.quick else 400)
DELAY_MS = args.delay_ms
LINK_BUDGET_MS, LINK_BUDGET_RT = 3.5, 3  # issue 15, with the database 0.5 ms away each way
ONLY = set(args.only.split(","))
SCRATCH = Path(tempfile.mkdtemp(prefix="ikuflow-bench-pg-"))
os.environ["IKUFLOW_WORKFLOWS"] = str(WORKFLOWS)
os.environ.setdefault("IKU_BENCH_DIR", str(SCRATCH))  # common.py reads it at import time

sys.path.insert(0, str(Path(args.anchors)))
import b5_overdue as b5  # noqa: E402  (the anchor itself: rows(), QUERIES, INDEX_SETS, NOW)
from common import env_line, summarize, transition_plan  # noqa: E402

EPOCH = datetime(1970, 1, 1)
NOW_DT = EPOCH + timedelta(seconds=b5.NOW)  # the anchor's 'now' as ikuflow's naive UTC
OUT: list[str] = []


def say(line: str = "") -> None:
    print(line, flush=True)
    OUT.append(line)


def med(xs) -> float:
    return statistics.median(xs)


def fmt(xs, unit_digits=None) -> str:
    s = summarize(xs)
    d = unit_digits if unit_digits is not None else (2 if s["median"] < 100 else 1 if s["median"] < 1000 else 0)
    return f"{s['median']:,.{d}f} [{s['min']:,.{d}f}..{s['max']:,.{d}f}]"


def ratio(xs, ys) -> str:
    s = summarize([x / y for x, y in zip(xs, ys)])
    return f"{s['median']:.2f}x [{s['min']:.2f}..{s['max']:.2f}]"


# ================================================================ part 1: overdue at 1M
def load_anchor(pg, dsn: str) -> None:
    """The anchor's table exactly as ``b5_overdue.py pg`` builds it (COPY, VACUUM ANALYZE),
    then its 'partial_cover' index set and ANALYZE, as its loop does."""
    import psycopg

    pg.execute("CREATE DATABASE anchor")
    with psycopg.connect(dsn, autocommit=True, prepare_threshold=None) as con:
        con.execute("""CREATE TABLE documents(id bigint PRIMARY KEY, title text NOT NULL, state text NOT NULL,
                       version int NOT NULL, due_at double precision, reminder_at double precision,
                       updated_at double precision NOT NULL)""")
        t0 = time.perf_counter()
        with con.cursor() as cur:
            with cur.copy("COPY documents FROM STDIN") as cp:
                for r in b5.rows(N):
                    cp.write_row(r)
        con.execute("VACUUM ANALYZE documents")
        for d in b5.INDEX_SETS["partial_cover"]:
            con.execute(d)
        con.execute("ANALYZE documents")
        print(f"anchor db: {N:,} rows + partial_cover indexes in {time.perf_counter() - t0:.1f} s", flush=True)


def load_ikuflow(pg, url: str) -> None:
    """ikuflow's own schema (``admin.init``: the Alembic migrations), the 553 offices of
    examples/offices-id.csv, 7 people per office, and N documents from the anchor's generator
    (as bench_overdue.py builds them for SQLite): signed ones with due_at and next_action_at
    NULL, active ones with due_at = due and next_action_at = due - 2d (the reminder). COPY,
    with the foreign-key triggers off while loading (session_replication_role = replica; the
    rows are valid), then VACUUM ANALYZE."""
    import psycopg

    from ikuflow import admin
    from ikuflow.store.pg import conninfo

    _, tick_slot = tick_slots()

    pg.execute("CREATE DATABASE ikuflow")
    t0 = time.perf_counter()
    admin.init(url=url, directory=WORKFLOWS)
    with open(OFFICES_CSV, newline="", encoding="utf-8") as f:
        offices = [(r["code"], r["name"], r["tz"] or "Asia/Jakarta", r["parent"] or None, r["level"] or "regency")
                   for r in csv.DictReader(f)]
    with psycopg.connect(conninfo(url), autocommit=True) as con:
        wf_version, wf_id = con.execute("SELECT version, id FROM workflow_version WHERE name = 'iku'"
                                        " ORDER BY version DESC LIMIT 1").fetchone()
        divisions = [r[0] for r in con.execute("SELECT code FROM division ORDER BY code")]
        assert tuple(divisions) == DIVISIONS, divisions
        with con.transaction():
            with con.cursor() as cur:
                cur.executemany("INSERT INTO office (code, name, tz, parent, level) VALUES (%s,%s,%s,%s,%s)",
                                [o for o in offices if o[3] is None])
                cur.executemany("INSERT INTO office (code, name, tz, parent, level) VALUES (%s,%s,%s,%s,%s)",
                                [o for o in offices if o[3] is not None and o[4] == "province"])
                cur.executemany("INSERT INTO office (code, name, tz, parent, level) VALUES (%s,%s,%s,%s,%s)",
                                [o for o in offices if o[3] is not None and o[4] != "province"])
                people, roles, pid = [], [], 0
                for code, *_ in offices:
                    for email, name, role, div in people_of(code):
                        pid += 1
                        people.append((pid, email, name))
                        roles.append((pid, role, code, div))
                cur.executemany("INSERT INTO person (id, email, name) VALUES (%s,%s,%s)", people)
                cur.executemany("INSERT INTO role_assignment (person_id, role, office_code, division_code)"
                                " VALUES (%s,%s,%s,%s)", roles)
                cur.execute("SELECT setval(pg_get_serial_sequence('person', 'id'), %s)", (pid,))
        t1 = time.perf_counter()
        combos = [(code, name, div) for code, name, *_ in offices for div in divisions]
        nc = len(combos)
        with con.cursor() as cur:  # a queue per office, division and state
            cur.executemany("INSERT INTO queue (office_code, division_code, workflow_id, state)"
                            " VALUES (%s, %s, %s, %s)",
                            [(code, div, wf_id, st) for code, _, div in combos for st in b5.ACTIVE + ("signed",)])
        queues = {(o, d, st): i for i, o, d, st in con.execute(
            "SELECT id, office_code, division_code, state FROM queue")}
        cols = ("id, key, office_code, division_code, year, title, signing_date, workflow_name,"
                " workflow_version, state, version, due_at, next_action_at, created_at, updated_at,"
                " queue_id, tick_slot")
        con.execute("SET session_replication_role = replica")
        with con.cursor() as cur:
            with cur.copy(f"COPY document ({cols}) FROM STDIN") as cp:
                for doc_id, _title, state, version, due, rem, upd in b5.rows(N):
                    code, oname, div = combos[(doc_id - 1) % nc]
                    year = 1000 + (doc_id - 1) // nc
                    due_dt = EPOCH + timedelta(seconds=due)
                    upd_dt = EPOCH + timedelta(seconds=upd)
                    if state == "signed":
                        due_v = nxt_v = None
                        signing = due_dt.date()
                    else:
                        due_v, nxt_v = due_dt, EPOCH + timedelta(seconds=rem)
                        signing = (due_dt + timedelta(days=7)).date()
                    cp.write_row((doc_id, f"{code}-{div}-{year}", code, div, year,
                                  f"IKU {div.upper()} {oname} {year}", signing, "iku", wf_version, state,
                                  version, due_v, nxt_v, upd_dt, upd_dt, queues[code, div, state],
                                  tick_slot(f"{code}-{div}-{year}")))
        con.execute("RESET session_replication_role")
        con.execute("SELECT setval(pg_get_serial_sequence('document', 'id'), %s)", (N,))
        t2 = time.perf_counter()
        con.execute("VACUUM ANALYZE")
    print(f"ikuflow db: init + {len(offices)} offices + {len(people)} people in {t1 - t0:.1f} s, "
          f"{N:,} documents (COPY) in {t2 - t1:.1f} s, VACUUM ANALYZE in {time.perf_counter() - t2:.1f} s",
          flush=True)


def ikuflow_sql(con):
    """(sql, params) of the overdue list, the count and the tick's claim, as Service sends them."""
    from sqlcapture import service_sql

    got = service_sql(con, NOW_DT)
    assert got["slot"][0].endswith("FOR UPDATE SKIP LOCKED"), got["slot"]  # the PostgreSQL claim path
    return (got["list"], got["count"], got["slot"], got["claim"], got["begin"], got["rows"],
            len(got["list_statements"]), got["probe"])


def plan_of(execute, sql, params) -> str:
    lines = [r[0] for r in execute("EXPLAIN " + sql, params).fetchall()]
    nodes = [ln.strip().lstrip("-> ").split("  ")[0] for ln in lines if "(cost=" in ln]
    return " / ".join(n.split(" (cost")[0] for n in nodes[:4])


def part_overdue(pg) -> list[str]:
    import psycopg

    from ikuflow.store.db import connect
    from ikuflow.store.pg import translate
    from sqlcapture import claim_calls

    Service = service_class()
    TICK_SLOTS, _ = tick_slots()
    a_dsn = f"host=127.0.0.1 port={pg.port} user=postgres dbname=anchor"
    ik_url = pg.url("ikuflow")
    t0 = time.perf_counter()
    load_anchor(pg, a_dsn)
    load_ikuflow(pg, ik_url)
    print(f"databases ready in {time.perf_counter() - t0:.1f} s; counting the expected rows ...", flush=True)
    c1, c3 = b5.expected_counts(N)

    ik = connect(ik_url)                                     # exactly as Service opens it
    svc = Service(con=ik)
    an = psycopg.connect(a_dsn, autocommit=True, prepare_threshold=None)  # exactly as b5.run_pg
    # for information: ikuflow's database and SQL on a connection opened as b5 opens its own
    # (no ikuflow wrapper, psycopg's own datetime loaders): what the index and rows cost alone
    raw = psycopg.connect(a_dsn.replace("dbname=anchor", "dbname=ikuflow"), autocommit=True,
                          prepare_threshold=None, options="-c timezone=UTC")
    (list_sql, list_p), (count_sql, count_p), (slot_sql, slot_p), (claim_sql, claim_p), begin_sql, n_list, \
        n_stmts, (probe_sql, probe_p) = ikuflow_sql(ik)
    n_probe = len(ik.execute(probe_sql, probe_p).fetchall())
    assert n_list == c1, (n_list, c1)
    claim, next_all, c_slot = claim_calls(ik, (slot_sql, slot_p), (claim_sql, claim_p))
    c_slot = min(500, c_slot)
    scan_sql = "SELECT id, state, due_at FROM document WHERE due_at IS NOT NULL AND due_at < ?"
    no_index = ["SET enable_indexscan=off", "SET enable_bitmapscan=off", "SET enable_indexonlyscan=off"]
    re_index = ["RESET enable_indexscan", "RESET enable_bitmapscan", "RESET enable_indexonlyscan"]
    a_sql = {q: b5.QUERIES[q].format(p="%s", p2="%s", notindexed="") for q in b5.QUERIES}
    a_par = {q: ((b5.NOW, b5.NOW) if q == "Q3_due_or_remind" else (b5.NOW,)) for q in a_sql}

    def ik_rows(sql, params):
        return lambda: len(ik.execute(sql, params).fetchall())

    def an_rows(q):
        return lambda: len(an.execute(a_sql[q], a_par[q]).fetchall())

    def raw_rows(sql, params):
        return lambda: len(raw.execute(translate(sql), params).fetchall())

    def claim_in_txn():  # as tick runs it: BEGIN, the claim, (ROLLBACK here)
        ik.execute(begin_sql)
        try:
            return claim()
        finally:
            ik.execute("ROLLBACK")

    def claim_stmt():  # the same, timing the claim's two statements only: (rows, ms)
        ik.execute(begin_sql)
        try:
            t = time.perf_counter()
            n = claim()
            return n, (time.perf_counter() - t) * 1e3
        finally:
            ik.execute("ROLLBACK")

    def forced(run, conn):
        def fn():
            for st in no_index:
                conn.execute(st)
            try:
                return run()
            finally:
                for st in re_index:
                    conn.execute(st)
        return fn

    variants = {  # name: (callable returning rows, or (rows, ms it timed itself); expected rows), in run order
        "ik_claim_stmt": (claim_stmt, c_slot),
        "ik_probe": (ik_rows(probe_sql, probe_p), n_probe),
        "ik_claim_txn": (claim_in_txn, c_slot),
        "an_Q2_batch500": (an_rows("Q2_batch500"), min(500, c1)),
        "ik_claim_sql": (ik_rows(claim_sql, claim_p), c_slot),
        "raw_claim_sql": (raw_rows(claim_sql, claim_p), c_slot),
        "ik_list_sql": (ik_rows(list_sql, list_p), c1),
        "an_Q1_not_terminal": (an_rows("Q1_not_terminal"), c1),
        "raw_list_sql": (raw_rows(list_sql, list_p), c1),
        "ik_count": (lambda: svc.overdue_count(at=NOW_DT), c1),
        "an_Q1_count": (lambda: an.execute(a_sql["Q1_count"], a_par["Q1_count"]).fetchone()[0], c1),
        "raw_count": (lambda: raw.execute(translate(count_sql), count_p).fetchone()[0], c1),
        "ik_next_all": (next_all, c3),
        "an_Q3_due_or_remind": (an_rows("Q3_due_or_remind"), c3),
        "ik_scan": (forced(ik_rows(scan_sql, count_p), ik), c1),
        "an_Q0_forced_scan": (forced(an_rows("Q0_forced_scan"), an), c1),
        # last: its 15,000 Python dicts (about 250 ms) slowed whatever came right after it
        # (the count took 4-6 ms there, 1.2-1.9 ms in a loop of its own)
        "ik_list_call": (lambda: len(svc.overdue(at=NOW_DT)), c1),
    }
    print(f"measuring: {args.runs} runs x {len(variants)} queries ...", flush=True)
    res = {k: [] for k in variants}
    for r in range(args.runs + 1):
        for name, (fn, expected) in variants.items():
            gc.collect()  # the garbage of the variant before (15,000 rows) is not collected inside this one
            t = time.perf_counter()
            n = fn()
            dt = (time.perf_counter() - t) * 1e3
            if isinstance(n, tuple):
                n, dt = n
            assert n == expected, f"{name} returned {n}, expected {expected}"
            if r > 0:
                res[name].append(dt)
        if r > 0:
            print(f"  run {r}/{args.runs}: " + " ".join(f"{k}={res[k][-1]:.2f}" for k in variants), flush=True)

    def verdict(name, budget):
        if budget is None:
            return "-", "info"
        ok = med(res[name]) <= budget
        tail = "" if N == 1_000_000 else " (at this size)"
        return f"{budget:g} ms", ("PASS" if ok else "FAIL") + tail

    rows = [  # label, ikuflow variant, anchor variant, budget ms
        ("scheduler claim of 500: Service.tick's slot SELECT ... FOR UPDATE SKIP LOCKED, then that slot's 500 "
         "most overdue, timed inside tick's transaction as tick runs them", "ik_claim_stmt", "an_Q2_batch500", 2),
        ("  the same with its transaction's BEGIN and ROLLBACK round trips timed too", "ik_claim_txn",
         "an_Q2_batch500", None),
        ("  the documents' SELECT alone (autocommit, no slot taken)", "ik_claim_sql", "an_Q2_batch500", None),
        ("  same, on a plain psycopg connection (opened as b5 opens its own)", "raw_claim_sql",
         "an_Q2_batch500", None),
        (f"full overdue list, raw SQL of Service.overdue ({c1:,} rows)", "ik_list_sql", "an_Q1_not_terminal", 20),
        ("  same SQL on a plain psycopg connection", "raw_list_sql", "an_Q1_not_terminal", None),
        ("full overdue list, whole Service.overdue(at=now) call", "ik_list_call", "an_Q1_not_terminal", 20),
        ("overdue count, Service.overdue_count(at=now)", "ik_count", "an_Q1_count", 3),
        ("  same SQL on a plain psycopg connection", "raw_count", "an_Q1_count", None),
        (f"every next action due (the claim SELECT of all {TICK_SLOTS} slots, no LIMIT; {c3:,} rows)", "ik_next_all",
         "an_Q3_due_or_remind", None),
        ("forced sequential scan (enable_*scan=off), overdue rows", "ik_scan", "an_Q0_forced_scan", None),
    ]
    out = []
    size_sql = "SELECT pg_size_pretty(pg_table_size('{0}')), pg_size_pretty(pg_indexes_size('{0}'))"
    ik_size = ik.execute(size_sql.format("document")).fetchone()
    a_size = an.execute(size_sql.format("documents")).fetchone()
    out.append(f"- {N:,} documents; now = {NOW_DT} UTC (b5_overdue.NOW); overdue = {c1:,}, next action due = {c3:,}. "
               f"ikuflow `document` table {ik_size[0]} + indexes {ik_size[1]}; anchor "
               f"`documents` {a_size[0]} + indexes {a_size[1]}; both warm (shared_buffers 512MB). ikuflow "
               "through its own connection (store/pg.py: psycopg, autocommit, psycopg's default "
               "prepare_threshold); the anchor as b5 opens it (prepare_threshold=None).")
    out.append("")
    out.append("| query | ikuflow ms median [min..max] | anchor (b5 pg, partial_cover) | anchor ms | "
               "ratio ikuflow/anchor | budget | verdict |")
    out.append("|---|---|---|---|---|---|---|")
    for label, ikv, anv, budget in rows:
        b, v = verdict(ikv, budget)
        out.append(f"| {label} | {fmt(res[ikv])} | {anv[3:]} | {fmt(res[anv])} | {ratio(res[ikv], res[anv])} | {b} | {v} |")
    out.append("")
    out.append(f"Service.overdue(at=now) sent {n_stmts:,} statements for {c1:,} rows. Ratios to the forced "
               "sequential scan of each database, same run: "
               + ", ".join(f"{k} {ratio(res[k], res['ik_scan'])}" for k in ("ik_claim_stmt", "ik_list_sql", "ik_count"))
               + "; anchor " + ", ".join(f"{k[3:]} {ratio(res[k], res['an_Q0_forced_scan'])}"
                                        for k in ("an_Q2_batch500", "an_Q1_not_terminal", "an_Q1_count")))
    out.append("")
    out.append(f"A pass first asks which of the {TICK_SLOTS} slots hold anything due (one statement per pass, "
               f"not per batch; {n_probe} here): {fmt(res['ik_probe'])} ms (median [min..max]).")
    out.append("")
    out.append("Query plans (EXPLAIN):")
    out.append("")

    def ik_exec(sql, params):
        return ik.execute(sql, params)

    for label, sql, params in [("probe (Service.tick, once per pass)", probe_sql, probe_p),
                               ("slot (Service.tick)", slot_sql, slot_p), ("claim (Service.tick)", claim_sql, claim_p),
                               ("overdue list (Service.overdue)", list_sql, list_p),
                               ("overdue count (Service.overdue_count)", count_sql, count_p)]:
        out.append(f"- ikuflow {label}: `{plan_of(ik_exec, sql, params)}`")
        out.append(f"  - SQL: `{translate(sql)}` params {params}")
    for q in ("Q2_batch500", "Q1_not_terminal", "Q1_count", "Q3_due_or_remind"):
        out.append(f"- anchor {q}: `{plan_of(an.execute, a_sql[q], a_par[q])}`")
    out.append("")
    out.append("Raw runs (ms, in run order):")
    out.append("")
    for name in variants:
        out.append(f"- {name}: " + ", ".join(f"{x:.2f}" for x in res[name]))
    ik.close()
    an.close()
    raw.close()
    return out


def load_directory(url: str, codes: list[str]) -> None:
    """The national office 'ri' with an admin, and under it the offices ``codes``, each with
    people_of(code), through ikuflow's own directory import."""
    import yaml

    from ikuflow.app.directory import import_file

    rows = {"offices": [{"code": "ri", "name": "Bawaslu RI", "level": "national"}]
            + [{"code": c, "name": f"Bawaslu {c}", "parent": "ri", "tz": "Asia/Jakarta", "level": "kabupaten"}
               for c in codes],
            "people": [{"email": "admin@ri.example.id", "name": "Admin", "role": "admin", "office": "ri"}]
            + [{"email": e, "name": n, "role": r, "office": c, **({"division": d} if d else {})}
               for c in codes for e, n, r, d in people_of(c)]}
    path = SCRATCH / f"directory-{url.rsplit('/', 1)[1]}.yaml"
    path.write_text(yaml.safe_dump(rows), encoding="utf-8")
    import_file(path, url=url)


# ================================================================ part 2: transitions per second
def pgbench(pg, *opts: str) -> str:
    cmd = [str(pg.bin / "pgbench"), "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres", *opts, "pgbench"]
    if pg.user:
        cmd = ["runuser", "-u", pg.user, "--", *cmd]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise SystemExit(f"pgbench {' '.join(opts)} failed: {done.stderr[-800:]}")
    return done.stdout


def part_tx(pg) -> list[str]:
    from ikuflow import admin
    from ikuflow.store.db import connect

    Service = service_class()

    url = pg.url("ikuflow_tx")
    pg.execute("CREATE DATABASE ikuflow_tx")
    pg.execute("CREATE DATABASE pgbench")
    pgbench(pg, "-i", "-q")  # scale 1: 100,000 accounts
    admin.init(url=url, directory=WORKFLOWS)
    per_proc = DOCS // len(DIVISIONS)
    offices = {p: [f"p{p}-warm"] + [f"p{p}-k{i:03d}" for i in range(per_proc)] for p in range(max(CLIENTS))}
    load_directory(url, [c for cs in offices.values() for c in cs])
    plan = transition_plan(DOCS)  # (doc number, event, from, to), documents interleaved
    n_per_proc = len(plan)
    years = iter(range(2000, 2026))  # a year of its own per run, signed in that (past) year

    def ikuflow_run(n_clients: int) -> dict:
        year = next(years)
        signing = date(year, 1, 28)  # passed everywhere: 'sign' is allowed now
        svc = Service(url)
        cfgs = []
        for p in range(n_clients):
            svc.new_many(year, signing, "admin@ri.example.id", offices=offices[p])
            docs = [(f"{o}-{d}-{year}", o, d) for o in offices[p][1:] for d in DIVISIONS]
            warm = [(f"{offices[p][0]}-{d}-{year}", offices[p][0], d) for d in DIVISIONS]

            def steps(docs_, plan_):
                return [(docs_[i - 1][0], EVENT_OF[ev], docs_[i - 1][1], docs_[i - 1][2], to)
                        for i, ev, _frm, to in plan_]
            tag = f"{year}-{p}"
            cfg = {"url": url, "plan": steps(docs, plan), "warm": steps(warm, transition_plan(len(warm))),
                   "ready": str(SCRATCH / f"ready-{tag}"), "go": str(SCRATCH / f"go-{year}"),
                   "out": str(SCRATCH / f"out-{tag}.json")}
            (SCRATCH / f"cfg-{tag}.json").write_text(json.dumps(cfg))
            cfgs.append(cfg)
        svc.close()
        procs = [subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--worker",
                                   str(SCRATCH / f"cfg-{year}-{p}.json")], stdin=subprocess.DEVNULL)
                 for p in range(n_clients)]
        while not all(Path(c["ready"]).exists() for c in cfgs):
            if any(p.poll() not in (None, 0) for p in procs):
                raise SystemExit("a client process failed while warming up")
            time.sleep(0.01)
        Path(cfgs[0]["go"]).touch()
        codes = [p.wait(timeout=900) for p in procs]
        if codes != [0] * n_clients:
            raise SystemExit(f"client processes exited {codes}")
        outs = [json.loads(Path(c["out"]).read_text()) for c in cfgs]
        n = sum(o["n"] for o in outs)
        wall = max(o["t1"] for o in outs) - min(o["t0"] for o in outs)
        # every walked document is signed, with one history row per transition
        con = connect(url)
        got = con.execute("SELECT count(*), sum(CASE WHEN d.state = 'signed' THEN 1 ELSE 0 END),"
                          " sum(d.version) FROM document d WHERE d.year = ? AND d.office_code NOT LIKE '%-warm'",
                          (year,)).fetchone()
        con.close()
        assert got == (DOCS * n_clients, DOCS * n_clients, n), (got, n)
        server = [o["server_cpu"] for o in outs]
        return {"tps": n / wall, "n": n, "wall": wall,
                "us_per_tx_per_client": statistics.median((o["t1"] - o["t0"]) / o["n"] * 1e6 for o in outs),
                "client_cpu_us": sum(o["client_cpu"] for o in outs) / n * 1e6,
                "server_cpu_us": None if None in server else sum(server) / n * 1e6}

    def pgbench_run(n_clients: int) -> dict:
        out = pgbench(pg, "-N", "-c", str(n_clients), "-j", str(n_clients), "-T", str(SECONDS))
        m = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out)
        lat = re.search(r"latency average = ([\d.]+) ms", out)
        return {"tps": float(m[1]), "latency_ms": float(lat[1]) if lat else None}

    res = {(k, c): [] for k in ("ik", "pgb") for c in CLIENTS}
    print(f"part 2: {ROUNDS} rounds (+1 warm-up) x clients {CLIENTS}: ikuflow {n_per_proc:,} transitions "
          f"per client process, pgbench -N -T {SECONDS}", flush=True)
    for r in range(ROUNDS + 1):
        line = []
        for c in CLIENTS:
            ik = ikuflow_run(c)
            pb = pgbench_run(c)
            if r > 0:
                res[("ik", c)].append(ik)
                res[("pgb", c)].append(pb)
            line.append(f"{c}: ikuflow {ik['tps']:.0f}/s pgbench {pb['tps']:.0f}/s")
        print(f"  {'warm-up' if r == 0 else f'round {r}/{ROUNDS}'} ({os.getloadavg()[0]:.1f} load): "
              + "; ".join(line), flush=True)

    out = [f"- ikuflow: {n_per_proc:,} transitions per client process ({DOCS} documents, anchors' "
           "common.transition_plan, every 10th sent back once), each process on its own documents and "
           "office; `Service.advance` with the real clock, one transaction per transition (BEGIN, the "
           "document read, the guarded UPDATE, the history row, the outbox rows: 1.48 e-mails per "
           "transition, COMMIT). pgbench: `pgbench -i` (scale 1), then `pgbench -N -c N -j N -T "
           f"{SECONDS}` (tps without initial connection time). Same server, same run, interleaved "
           "ikuflow N, pgbench N, for N = 1, 2, 4, round by round.", ""]
    out.append("| clients | ikuflow transitions/s | pgbench -N tps | ratio ikuflow/pgbench | "
               "scaling vs 1 client (ikuflow / pgbench) | ikuflow us per transition, one client's wall | "
               "ikuflow CPU us per transition: client process / its server backend |")
    out.append("|---|---|---|---|---|---|---|")
    for c in CLIENTS:
        ik = [x["tps"] for x in res[("ik", c)]]
        pb = [x["tps"] for x in res[("pgb", c)]]
        ik1 = [x["tps"] for x in res[("ik", 1)]]
        pb1 = [x["tps"] for x in res[("pgb", 1)]]
        srv = [x["server_cpu_us"] for x in res[("ik", c)]]
        out.append(f"| {c} | {fmt(ik, 0)} | {fmt(pb, 0)} | {ratio(ik, pb)} | {ratio(ik, ik1)} / {ratio(pb, pb1)} | "
                   f"{fmt([x['us_per_tx_per_client'] for x in res[('ik', c)]], 0)} | "
                   f"{fmt([x['client_cpu_us'] for x in res[('ik', c)]], 0)} / "
                   f"{'n/a' if None in srv else fmt(srv, 0)} |")
    out.append("")
    out.append("pgbench latency average (ms): " + "; ".join(
        f"{c} client(s) {fmt([x['latency_ms'] for x in res[('pgb', c)]], 3)}" for c in CLIENTS))
    out.append("")
    out.append("Raw rounds: " + "; ".join(
        f"{c} client(s): ikuflow " + ", ".join(f"{x['tps']:.0f}" for x in res[("ik", c)])
        + " / pgbench " + ", ".join(f"{x['tps']:.0f}" for x in res[("pgb", c)]) for c in CLIENTS))
    return out


# ================================================================ part 3: advance over a slow link
def pct(xs, q: float) -> float:
    """The q-th percentile (0..100) of xs, nearest rank."""
    v = sorted(xs)
    return v[min(len(v) - 1, max(0, round(q / 100 * len(v) + 0.5) - 1))]


def part_advance(pg) -> list[str]:
    """One ``Service.advance`` with the database DELAY_MS away each way (bench/tcp_delay.py in
    a child process between the client and the server), next to the same call on a direct
    connection and to ``SELECT 1`` through the same link; the proxy counts the round trips of
    each call."""
    from tcp_delay import DelayProxy  # next to this script

    from ikuflow import admin

    Service = service_class()
    url = pg.url("ikuflow_link")
    pg.execute("CREATE DATABASE ikuflow_link")
    admin.init(url=url, directory=WORKFLOWS)
    n_offices = -(-LINK_N // (4 * len(DIVISIONS)))  # a document makes 4.2 transitions on average
    codes = ["l-warm"] + [f"l{i:03d}" for i in range(n_offices)]
    load_directory(url, codes)
    years = {"link": 2001, "direct": 2002}  # one set of documents per variant, walked alike
    again = {"link": 2003, "direct": 2004}  # then the same walk again, in offices the Service has seen

    def steps(year: int, office_codes: list[str]) -> list[tuple]:
        docs = [(f"{o}-{d}-{year}", o, d) for o in office_codes for d in DIVISIONS]
        return [(docs[i - 1][0], EVENT_OF[ev], docs[i - 1][1], docs[i - 1][2], to)
                for i, ev, _frm, to in transition_plan(len(docs))]

    setup = Service(url)
    for year in [*years.values(), *again.values()]:
        setup.new_many(year, date(year, 1, 28), "admin@ri.example.id", offices=codes)
    setup.close()
    plans = {v: steps(y, codes[1:]) + steps(again[v], codes[1:]) for v, y in years.items()}
    warm = {v: steps(y, codes[:1]) for v, y in years.items()}
    n = len(plans["link"]) // 2

    res: dict[str, list] = {"link": [], "direct": [], "select1": [], "rt": [], "rt_select1": [], "event": []}
    sent = delay_ns = 0
    with DelayProxy("127.0.0.1", pg.port, DELAY_MS) as link:
        link_url = re.sub(r"@([^/:]+):(\d+)/", f"@127.0.0.1:{link.port}/", url)
        svc = {"link": Service(link_url), "direct": Service(url)}  # each connects once, here
        con = svc["link"].con

        def one(variant: str, step: tuple) -> float:
            key, event, office, division, to = step
            comment = "Indikator belum sesuai Renstra" if event == "send_back" else None
            t = time.perf_counter()
            got = svc[variant].advance(key, event, actor(event, office, division), comment)
            dt = (time.perf_counter() - t) * 1e3
            if got["state"] != to:
                raise SystemExit(f"{key} {event}: {got['state']} != {to}")
            return dt

        def select1() -> float:
            t = time.perf_counter()
            con.execute("SELECT 1").fetchone()
            return (time.perf_counter() - t) * 1e3

        for a, b in zip(warm["link"], warm["direct"]):  # engines, queues, the directory, prepared statements
            one("link", a)
            one("direct", b)
            select1()
        print(f"part 3: {n} transitions each through the link and direct, interleaved with SELECT 1 "
              f"through the link, then the same walk again ...", flush=True)
        gc.collect()
        for i, (a, b) in enumerate(zip(plans["link"], plans["direct"])):
            link.reset()
            res["link"].append(one("link", a))
            got = link.counts()
            res["rt"].append(got["round_trips"])
            res["event"].append(a[1] if i < n else "")
            sent += got["sent_chunks"]
            delay_ns += got["delay_ns_total"]
            res["direct"].append(one("direct", b))
            link.reset()
            res["select1"].append(select1())
            res["rt_select1"].append(link.round_trips)
            if (i + 1) % 200 == 0:
                print(f"  {i + 1}/{2 * n}: advance through the link {med(res['link'][-100:]):.2f} ms, direct "
                      f"{med(res['direct'][-100:]):.2f} ms, SELECT 1 {med(res['select1'][-100:]):.2f} ms, "
                      f"round trips {med(res['rt'][-100:]):g}", flush=True)
        for s in svc.values():
            s.close()
    one_way = delay_ns / sent / 1e6 if sent else float("nan")

    def ms(xs) -> str:
        return f"{med(xs):.2f} / {pct(xs, 90):.2f} / {pct(xs, 99):.2f}"

    adv_ok = med(res["link"][:n]) <= LINK_BUDGET_MS
    rt_ok = max(res["rt"][:n]) <= LINK_BUDGET_RT
    rtt = med(res["select1"])
    first, second = slice(0, n), slice(n, 2 * n)
    out = [f"- {n} transitions through `Service.advance` over a link of {DELAY_MS:g} ms each way "
           f"(bench/tcp_delay.py in a child process; its chunks really waited {one_way:.3f} ms on "
           "average), interleaved one by one with the same walk on a direct connection (127.0.0.1, "
           "no proxy) and with one `SELECT 1` through the link on the Service's own connection. Each "
           "Service connected once, before the timing; only `advance()` is timed. Documents: the "
           "anchors' common.transition_plan (draft -> submit -> synchronize -> approve -> sign, every "
           f"10th sent back once), {len(warm['link'])} warm-up transitions per variant first. The "
           "budget rows are this first walk, in which most calls are the Service's first in their "
           "office, division or state (what it reads once and keeps: roles, people, queues). Then "
           f"the same walk again on {n} other documents in the same offices, for information. "
           "Round trips: the proxy's count of turns (client data, then the server's answer) during "
           f"each call, reset before it. Load average at the end: {os.getloadavg()[0]:.1f} (2 cores; "
           "the round trips do not depend on it, the times do).", ""]
    out.append("| figure | through the link | direct | budget | verdict |")
    out.append("|---|---|---|---|---|")
    out.append(f"| advance ms, median / p90 / p99 | {ms(res['link'][first])} | {ms(res['direct'][first])} | "
               f"median <= {LINK_BUDGET_MS:g} ms | {'PASS' if adv_ok else 'FAIL'} |")
    out.append(f"| round trips per advance, median / max | {med(res['rt'][first]):g} / {max(res['rt'][first])} | "
               f"- | max <= {LINK_BUDGET_RT} | {'PASS' if rt_ok else 'FAIL'} |")
    out.append(f"| the same walk again (offices seen): advance ms, median / p90 / p99 | {ms(res['link'][second])} | "
               f"{ms(res['direct'][second])} | - | info |")
    out.append(f"| the same walk again: round trips per advance, median / max | {med(res['rt'][second]):g} / "
               f"{max(res['rt'][second])} | - | - | info |")
    out.append(f"| SELECT 1 ms (the link's real round trip), median / p90 / p99 | {ms(res['select1'])} | - | - | "
               f"info (round trips counted: {med(res['rt_select1']):g} / {max(res['rt_select1'])}) |")
    extra = med(res["link"][:n]) - med(res["direct"][:n])
    out.append(f"| advance through the link - direct, medians, in SELECT 1 round trips | {extra:.2f} ms = "
               f"{extra / rtt:.1f} x {rtt:.2f} ms | - | - | info |")
    out.append("")
    out.append("By event (through the link): " + "; ".join(
        f"{ev} x{len(ix)}: {med([res['link'][i] for i in ix]):.2f} ms, round trips "
        f"{'/'.join(str(k) for k in sorted({res['rt'][i] for i in ix}))}"
        for ev, ix in ((ev, [i for i, e in enumerate(res["event"]) if e == ev])
                       for ev in dict.fromkeys(res["event"][:n]))))
    out.append("")
    out.append("Round trips per advance, how often: first walk " + ", ".join(
        f"{k}: {res['rt'][:n].count(k)}" for k in sorted(set(res["rt"][:n]))) + "; the same walk again " + ", ".join(
        f"{k}: {res['rt'][n:].count(k)}" for k in sorted(set(res["rt"][n:]))) + ".")
    out.append("")
    out.append(f"- budget: one advance over a {DELAY_MS:g} ms link, median {med(res['link'][:n]):.2f} ms <= "
               f"{LINK_BUDGET_MS:g} ms: {'PASS' if adv_ok else 'FAIL'}")
    out.append(f"- budget: round trips per advance, max {max(res['rt'][:n])} <= {LINK_BUDGET_RT}: "
               f"{'PASS' if rt_ok else 'FAIL'}")
    return out


# ================================================================ main
def main() -> None:
    from pgcluster import Cluster

    parts = [t for k, t in (("overdue", f"{N:,} documents, side by side with anchor b5 (pg)"),
                            ("tx", "transitions/s next to pgbench"),
                            ("advance", f"advance over a {DELAY_MS:g} ms link")) if k in ONLY]
    say("# ikuflow on PostgreSQL: " + "; ".join(parts))
    say()
    say(f"- {env_line()}")
    say(f"- command: `{' '.join([Path(sys.executable).name] + sys.argv)}`; started {datetime.now():%Y-%m-%d %H:%M}")
    pg = Cluster(settings={"shared_buffers": "512MB", "work_mem": "64MB"}, fast=False).start()
    try:
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={pg.port} user=postgres dbname=postgres", autocommit=True) as c:
            show = {k: c.execute(f"SHOW {k}").fetchone()[0] for k in (
                "server_version", "fsync", "synchronous_commit", "full_page_writes", "wal_level",
                "shared_buffers", "work_mem", "max_parallel_workers_per_gather")}
        say(f"- PostgreSQL {show.pop('server_version')}, a throw-away cluster started by this script "
            f"(tests/pgcluster.py, fast=False): " + ", ".join(f"{k}={v}" for k, v in show.items())
            + f"; psycopg {psycopg.__version__}")
        say()
        if "overdue" in ONLY:
            say(f"## 1. Overdue scans at {N:,} documents (85% signed), next to b5_overdue.py pg")
            say()
            say(f"{args.runs} timed runs after 1 warm-up run, interleaved query by query; client wall time "
                "including fetching every row; ratio = ikuflow / anchor within each run.")
            say()
            for line in part_overdue(pg):
                say(line)
            say()
        if "tx" in ONLY:
            say("## 2. Persisted transitions per second, 1, 2 and 4 client processes, next to pgbench -N")
            say()
            say(f"{ROUNDS} timed rounds after 1 warm-up round; median [min..max] over rounds; ratios within a round.")
            say()
            for line in part_tx(pg):
                say(line)
            say()
        if "advance" in ONLY:
            say(f"## 3. One advance with the database {DELAY_MS:g} ms away each way (a delaying TCP proxy)")
            say()
            say(f"Budgets (issue 15): one `advance` in at most {LINK_BUDGET_MS:g} ms (median), with at most "
                f"{LINK_BUDGET_RT} network round trips (max).")
            say()
            for line in part_advance(pg):
                say(line)
            say()
    finally:
        pg.stop()
        import shutil

        shutil.rmtree(SCRATCH, ignore_errors=True)
    if args.markdown:
        Path(args.markdown).write_text("\n".join(OUT) + "\n", encoding="utf-8")
        print(f"\nwrote {args.markdown}")


if __name__ == "__main__":
    main()
