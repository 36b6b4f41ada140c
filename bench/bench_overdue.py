#!/usr/bin/env python
"""ikuflow overdue tracking at 1,000,000 documents, measured side by side with anchor b5 in ONE run.

Budgets (issue "Deadlines toward the signing date, overdue tracking, and the APScheduler-driven
scheduler"; ../shared/anchors/README.md, "What an excellent ikuflow should reach", item 4):
at 1,000,000 documents (85% signed)
  * one scheduler claim of the 500 most overdue          <= 2 ms   (anchor: Q2_batch500)
  * the full overdue list (about 15,000 rows)            <= 20 ms  (anchor: Q1_not_terminal)
  * the overdue count                                    <= 3 ms   (anchor: Q1_count)
plus, for information, every document whose next action is due (the anchor's due-or-reminder
query, <= 45 ms in item 4) and a forced full scan of each table.

Data: both databases get the same rows from the anchor's own generator (b5_overdue.rows, seed 42,
'now' = b5_overdue.NOW): 85% signed, 15% active over the 4 active states with
due = now + U(-3d, +27d) and reminder = due - 2d.
  * anchor database: built exactly as ``b5_overdue.py sqlite`` builds it, with its
    'partial_cover' index set, then ANALYZE;
  * ikuflow database: ikuflow's own schema (``ikuflow.admin.init()``), the 553 offices of
    examples/offices-id.csv, a directory of 7 people per office (chair, secretariat, one
    coordinator per division), and 1,000,000 documents; signed ones have due_at and
    next_action_at NULL (as ikuflow stores a final document), active ones due_at = due and
    next_action_at = due - 2d (the reminder), in ikuflow's text timestamp format; key
    "<office>-<division>-<year>" with the year varying (1000, 1001, ...), then ANALYZE.

The ikuflow queries are not copied from the package: the script calls ``Service.overdue``,
``Service.overdue_count`` and ``Service.tick`` once on a recording connection and measures the
exact SQL and parameters they send (tick is stopped at its claim SELECT, before any write, so
the database is never changed). The claim is both statements tick sends for a batch: taking
its first slot (SELECT ... FROM tick_slot) and that slot's 500 most overdue documents.

Measured per run, interleaved (ikuflow query, then its anchor match, ...; one untimed warm-up
run; client wall time including fetching every row), reported as median [min..max]; the ratio
is ikuflow / anchor taken within each run.

Usage (from /work/main, with the project's virtualenv):
    .venv/bin/python bench/bench_overdue.py [--rows 1000000] [--runs 9] [--quick]
        [--rebuild] [--markdown FILE] [--dir /tmp/ikubench] [--anchors /work/shared/anchors]

The two databases are cached in --dir (default $IKU_BENCH_DIR or /tmp/ikubench) as
ikuflow_overdue_<rows>.db and bench_overdue_anchor_<rows>.db and reused unless --rebuild.
"""

from __future__ import annotations

import argparse
import csv
import gc
import itertools
import json
import os
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORKFLOWS = ROOT / "workflows"
OFFICES_CSV = ROOT / "examples" / "offices-id.csv"
BUILD_VERSION = 4  # bump when the generated ikuflow data changes

ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                             formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--rows", type=int, default=None, help="documents (default 1,000,000; 100,000 with --quick)")
ap.add_argument("--runs", type=int, default=9, help="timed runs after one warm-up run (default 9)")
ap.add_argument("--quick", action="store_true", help="100,000 documents (a smoke run; budgets are for 1M)")
ap.add_argument("--rebuild", action="store_true", help="rebuild both cached databases")
ap.add_argument("--markdown", metavar="FILE", help="also write the report to FILE")
ap.add_argument("--dir", default=os.environ.get("IKU_BENCH_DIR", "/tmp/ikubench"),
                help="where the cached databases live (default $IKU_BENCH_DIR or /tmp/ikubench)")
ap.add_argument("--anchors", default=os.environ.get("IKU_ANCHORS", "/work/shared/anchors"),
                help="folder of the anchor scripts")
args = ap.parse_args()
N = args.rows or (100_000 if args.quick else 1_000_000)
BENCH_DIR = Path(args.dir)
BENCH_DIR.mkdir(parents=True, exist_ok=True)
os.environ["IKU_BENCH_DIR"] = str(BENCH_DIR)  # common.py reads it at import time

sys.path.insert(0, str(Path(args.anchors)))
import b5_overdue as b5  # noqa: E402  (the anchor itself: rows(), QUERIES, INDEX_SETS, NOW)
from common import env_line, summarize  # noqa: E402

import sqlite3  # noqa: E402

IK_PATH = BENCH_DIR / f"ikuflow_overdue_{N}.db"
ANCHOR_PATH = BENCH_DIR / f"bench_overdue_anchor_{N}.db"
IK_URL = f"sqlite:///{IK_PATH}"
os.environ["IKUFLOW_DATABASE_URL"] = IK_URL
os.environ["IKUFLOW_WORKFLOWS"] = str(WORKFLOWS)

EPOCH = datetime(1970, 1, 1)
NOW_DT = EPOCH + timedelta(seconds=b5.NOW)  # the anchor's 'now' as ikuflow's naive UTC
DAY = b5.DAY
from ikuflow.migrations import head as _schema_head  # noqa: E402  (a cached database of an older schema is rebuilt)
from ikuflow.store.documents import TICK_SLOTS  # noqa: E402

SIGNATURE = json.dumps({"rows": N, "seed": 42, "build": BUILD_VERSION, "now": b5.NOW, "schema": _schema_head(),
                        "people": "chair+secretariat+coordinator per division, every office"})
OUT: list[str] = []  # the report, for --markdown


def say(line: str = "") -> None:
    print(line, flush=True)
    OUT.append(line)


def remove_db(p: Path) -> None:
    for suf in ("", "-wal", "-shm", "-journal"):
        q = Path(str(p) + suf)
        if q.exists():
            q.unlink()


# ---------------------------------------------------------------- the anchor's database
def anchor_db() -> None:
    """Build (or reuse) the anchor's table exactly as ``b5_overdue.py sqlite`` does, with the
    'partial_cover' index set and ANALYZE."""
    ddl = b5.INDEX_SETS["partial_cover"]
    if ANCHOR_PATH.exists() and not args.rebuild:
        con = sqlite3.connect(ANCHOR_PATH)
        try:
            n = con.execute("SELECT count(*), max(id) FROM documents").fetchone()
            idx = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        except sqlite3.DatabaseError:
            n, idx = (None, None), set()
        con.close()
        if n == (N, N) and {"ix_pcdue", "ix_pcrem"} <= idx:
            print(f"reusing {ANCHOR_PATH}")
            return
    remove_db(ANCHOR_PATH)
    con = sqlite3.connect(ANCHOR_PATH)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("""CREATE TABLE documents(id INTEGER PRIMARY KEY, title TEXT NOT NULL, state TEXT NOT NULL,
                   version INTEGER NOT NULL, due_at REAL, reminder_at REAL, updated_at REAL NOT NULL)""")
    t0 = time.perf_counter()
    con.executemany("INSERT INTO documents VALUES (?,?,?,?,?,?,?)", b5.rows(N))
    con.commit()
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    t1 = time.perf_counter()
    for name in b5.INDEX_NAMES:
        con.execute(f"DROP INDEX IF EXISTS {name}")
    for d in ddl:
        con.execute(d)
    con.execute("ANALYZE")
    con.commit()
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    print(f"anchor db: loaded {N:,} rows in {t1 - t0:.1f} s, partial_cover indexes + ANALYZE "
          f"in {time.perf_counter() - t1:.1f} s")


# ---------------------------------------------------------------- ikuflow's database
def ikuflow_db_ok() -> bool:
    if not IK_PATH.exists() or args.rebuild:
        return False
    try:
        con = sqlite3.connect(f"file:{IK_PATH}?mode=ro", uri=True)
        row = con.execute("SELECT value FROM meta WHERE key = 'bench_overdue'").fetchone()
        con.close()
    except sqlite3.DatabaseError:
        return False
    return row is not None and row[0] == SIGNATURE


def ikuflow_db() -> None:
    if ikuflow_db_ok():
        print(f"reusing {IK_PATH}")
        return
    remove_db(IK_PATH)
    from ikuflow import admin
    from ikuflow.store.documents import tick_slot
    from ikuflow.store.db import fmt_ts

    t0 = time.perf_counter()
    info = admin.init(url=IK_URL, directory=WORKFLOWS)
    con = sqlite3.connect(IK_PATH, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")      # a scratch file: load speed only
    con.execute("PRAGMA cache_size=-262144")   # 256 MiB while loading (the index b-trees)
    wf_version, wf_id = con.execute("SELECT version, id FROM workflow_version WHERE name = 'iku'"
                                    " ORDER BY version DESC LIMIT 1").fetchone()
    divisions = [r[0] for r in con.execute("SELECT code FROM division ORDER BY code")]
    assert sorted(admin.STANDARD_DIVISIONS) == divisions, divisions

    with open(OFFICES_CSV, newline="", encoding="utf-8") as f:
        offices = [(r["code"], r["name"], r["tz"] or "Asia/Jakarta", r["parent"] or None,
                    r["level"] or "regency") for r in csv.DictReader(f)]
    con.execute("BEGIN")
    con.executemany("INSERT INTO office (code, name, tz, parent, level) VALUES (?,?,?,?,?)", offices)
    # the directory: chair and secretariat per office, one coordinator per division
    people, roles, pid = [], [], 0
    for code, *_ in offices:
        for role, div in [("chair", None), ("secretariat", None)] + [("coordinator", d) for d in divisions]:
            pid += 1
            people.append((pid, f"{role}{'.' + div if div else ''}@{code}.example.id",
                           f"{role.title()} {div or ''} {code}".replace("  ", " ")))
            roles.append((pid, role, code, div))
    con.executemany("INSERT INTO person (id, email, name) VALUES (?,?,?)", people)
    con.executemany("INSERT INTO role_assignment (person_id, role, office_code, division_code)"
                    " VALUES (?,?,?,?)", roles)
    con.execute("COMMIT")
    t1 = time.perf_counter()

    combos = [(code, name, div) for code, name, *_ in offices for div in divisions]
    nc = len(combos)
    con.execute("BEGIN")  # a queue per office, division and state
    con.executemany("INSERT INTO queue (office_code, division_code, workflow_id, state) VALUES (?, ?, ?, ?)",
                    [(code, div, wf_id, st) for code, _, div in combos for st in b5.ACTIVE + ("signed",)])
    con.execute("COMMIT")
    queues = {(o, d, st): i for i, o, d, st in con.execute("SELECT id, office_code, division_code, state FROM queue")}
    assert 1000 + (N - 1) // nc <= 9999, "too many rows for the key scheme"

    def docs():
        for doc_id, _title, state, version, due, rem, upd in b5.rows(N):
            code, oname, div = combos[(doc_id - 1) % nc]
            year = 1000 + (doc_id - 1) // nc
            due_dt = EPOCH + timedelta(seconds=due)
            upd_ts = fmt_ts(EPOCH + timedelta(seconds=upd))
            if state == "signed":
                due_ts = nxt_ts = None
                signing = due_dt.date()
            else:
                due_ts = fmt_ts(due_dt)
                nxt_ts = fmt_ts(EPOCH + timedelta(seconds=rem))  # rem = due - 2d: the reminder
                signing = (due_dt + timedelta(days=7)).date()
            yield (doc_id, f"{code}-{div}-{year}", code, div, year, f"IKU {div.upper()} {oname} {year}",
                   signing.isoformat(), "iku", wf_version, state, version, due_ts, nxt_ts, upd_ts, upd_ts,
                   queues[code, div, state], tick_slot(f"{code}-{div}-{year}"))

    sql = ("INSERT INTO document (id, key, office_code, division_code, year, title, signing_date,"
           " workflow_name, workflow_version, state, version, due_at, next_action_at, created_at,"
           " updated_at, queue_id, tick_slot) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
    it = docs()
    loaded = 0
    while True:
        chunk = list(itertools.islice(it, 200_000))
        if not chunk:
            break
        con.execute("BEGIN")
        con.executemany(sql, chunk)
        con.execute("COMMIT")
        loaded += len(chunk)
        print(f"  ikuflow db: {loaded:,} documents ({time.perf_counter() - t1:.0f} s)", flush=True)
    t2 = time.perf_counter()
    con.execute("ANALYZE")
    con.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('bench_overdue', ?)", (SIGNATURE,))
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    print(f"ikuflow db: init + {len(offices)} offices + {len(people)} people in {t1 - t0:.1f} s, "
          f"{N:,} documents in {t2 - t1:.1f} s, ANALYZE in {time.perf_counter() - t2:.1f} s")


# ---------------------------------------------------------------- what ikuflow actually runs
def ikuflow_sql(con):
    """(sql, params) of the overdue list, the count and the tick's claim, as Service sends them."""
    from sqlcapture import service_sql

    got = service_sql(con, NOW_DT)
    first = got["list_statements"]
    stats = (len(first), sum(1 for q, _ in first if "FROM role_assignment ra" in q))
    return got["list"], got["count"], got["slot"], got["claim"], got["rows"], stats, got["probe"]


def plan(con, sql, params) -> str:
    return " / ".join(r[-1] for r in con.execute("EXPLAIN QUERY PLAN " + sql, params))


# ---------------------------------------------------------------- measuring
def main() -> None:
    say(f"# ikuflow overdue benchmark: {N:,} documents, side by side with anchor b5 (SQLite)")
    say()
    say(f"- {env_line()}")
    say(f"- command: `{' '.join([Path(sys.executable).name] + sys.argv)}`; {args.runs} timed runs "
        f"after 1 warm-up run, interleaved query by query; started {datetime.now():%Y-%m-%d %H:%M}")
    t0 = time.perf_counter()
    anchor_db()
    ikuflow_db()
    print(f"databases ready in {time.perf_counter() - t0:.1f} s; counting the expected rows ...", flush=True)
    c1, c3 = b5.expected_counts(N)

    from ikuflow.app.service import Service
    from ikuflow.store.db import connect
    from sqlcapture import claim_calls

    ik = connect(IK_URL)                       # exactly as Service opens it (WAL, NORMAL, ...)
    svc = Service(con=ik)
    an = sqlite3.connect(ANCHOR_PATH)          # exactly as b5_overdue.run_sqlite opens it
    an.execute("PRAGMA journal_mode=WAL")

    (list_sql, list_p), (count_sql, count_p), (slot_sql, slot_p), (claim_sql, claim_p), n_list, \
        (n_stmts, n_people), (probe_sql, probe_p) = ikuflow_sql(ik)
    n_probe = len(ik.execute(probe_sql, probe_p).fetchall())
    claim, next_all, c_slot = claim_calls(ik, (slot_sql, slot_p), (claim_sql, claim_p))
    scan_sql = ("SELECT id, state, due_at FROM document NOT INDEXED"
                " WHERE due_at IS NOT NULL AND due_at < ?")
    scan_p = count_p

    a_sql = {q: b5.QUERIES[q].format(p="?", p2="?", notindexed="NOT INDEXED ")
             for q in ("Q0_forced_scan", "Q1_not_terminal", "Q1_count", "Q2_batch500", "Q3_due_or_remind")}
    a_par = {q: ((b5.NOW, b5.NOW) if q == "Q3_due_or_remind" else (b5.NOW,)) for q in a_sql}

    def ik_rows(sql, params):
        return lambda: len(ik.execute(sql, params).fetchall())

    def an_rows(q):
        return lambda: len(an.execute(a_sql[q], a_par[q]).fetchall())

    def claim_in_txn():  # the same inside tick's BEGIN IMMEDIATE (rolled back here)
        ik.execute("BEGIN IMMEDIATE")
        try:
            return claim()
        finally:
            ik.execute("ROLLBACK")

    # (label, callable, expected rows) in the order they run within a run
    variants = {
        "ik_claim": (claim, min(500, c_slot)),
        "ik_probe": (lambda: len(ik.execute(probe_sql, probe_p).fetchall()), n_probe),
        "an_Q2_batch500": (an_rows("Q2_batch500"), min(500, c1)),
        "ik_claim_txn": (claim_in_txn, min(500, c_slot)),
        "ik_list_sql": (ik_rows(list_sql, list_p), c1),
        "an_Q1_not_terminal": (an_rows("Q1_not_terminal"), c1),
        "ik_list_call": (lambda: len(svc.overdue(at=NOW_DT)), c1),
        "ik_count": (lambda: svc.overdue_count(at=NOW_DT), c1),
        "an_Q1_count": (lambda: an.execute(a_sql["Q1_count"], a_par["Q1_count"]).fetchone()[0], c1),
        "ik_next_all": (next_all, c3),
        "an_Q3_due_or_remind": (an_rows("Q3_due_or_remind"), c3),
        "ik_scan": (ik_rows(scan_sql, scan_p), c1),
        "an_Q0_forced_scan": (an_rows("Q0_forced_scan"), c1),
    }
    assert n_list == c1, (n_list, c1)

    print(f"measuring: {args.runs} runs x {len(variants)} queries ...", flush=True)
    res = {k: [] for k in variants}
    for r in range(args.runs + 1):
        for name, (fn, expected) in variants.items():
            gc.collect()  # the garbage of the variant before (15,000 rows) is not collected inside this one
            t = time.perf_counter()
            n = fn()
            dt = (time.perf_counter() - t) * 1e3
            assert n == expected, f"{name} returned {n}, expected {expected}"
            if r > 0:
                res[name].append(dt)
        if r > 0:
            print(f"  run {r}/{args.runs}: " + " ".join(f"{k}={res[k][-1]:.2f}" for k in variants), flush=True)

    def ms(name):
        s = summarize(res[name])
        d = 2 if s["median"] < 100 else 1
        return f"{s['median']:.{d}f} [{s['min']:.{d}f}..{s['max']:.{d}f}]"

    def ratio(a, b):
        s = summarize([x / y for x, y in zip(res[a], res[b])])
        return f"{s['median']:.2f}x [{s['min']:.2f}..{s['max']:.2f}]"

    def verdict(name, budget):
        if budget is None:
            return "-", "info"
        return f"{budget:g} ms", ("PASS" if statistics.median(res[name]) <= budget else "FAIL")

    rows = [  # label, ikuflow variant, anchor variant, budget ms
        ("scheduler claim of 500 (Service.tick: its first slot's SELECT, then that slot's 500 most "
         "overdue)", "ik_claim", "an_Q2_batch500", 2),
        ("  same, inside tick's BEGIN IMMEDIATE (rolled back)", "ik_claim_txn", "an_Q2_batch500", None),
        (f"full overdue list, raw SQL of Service.overdue ({c1:,} rows)", "ik_list_sql", "an_Q1_not_terminal", 20),
        ("full overdue list, whole Service.overdue(at=now) call", "ik_list_call", "an_Q1_not_terminal", 20),
        ("overdue count, Service.overdue_count(at=now)", "ik_count", "an_Q1_count", 3),
        (f"every next action due (the claim SQL of all {TICK_SLOTS} slots, no LIMIT; {c3:,} rows)", "ik_next_all",
         "an_Q3_due_or_remind", None),
        ("forced full scan (NOT INDEXED), overdue rows", "ik_scan", "an_Q0_forced_scan", None),
    ]
    say(f"- ikuflow db {IK_PATH} ({IK_PATH.stat().st_size / 2**20:.0f} MiB); anchor db {ANCHOR_PATH} "
        f"({ANCHOR_PATH.stat().st_size / 2**20:.0f} MiB); both warm in the OS cache, default page cache "
        f"(cache_size={ik.execute('PRAGMA cache_size').fetchone()[0]})")
    say(f"- now = {NOW_DT} UTC (b5_overdue.NOW); overdue = {c1:,} documents, next action due = {c3:,}")
    say()
    say("| query | ikuflow ms median [min..max] | anchor (b5, partial_cover) | anchor ms | "
        "ratio ikuflow/anchor | budget | verdict |")
    say("|---|---|---|---|---|---|---|")
    for label, ikv, anv, budget in rows:
        b, v = verdict(ikv, budget)
        if budget is not None and v == "PASS" and N != 1_000_000:
            v = "PASS (at this size)"
        elif budget is not None and N != 1_000_000:
            v = "FAIL (at this size)"
        say(f"| {label} | {ms(ikv)} | {anv[3:]} | {ms(anv)} | {ratio(ikv, anv)} | {b} | {v} |")
    if N != 1_000_000:
        say()
        say(f"_The budgets are for 1,000,000 documents; this run has {N:,}._")
    say()
    say(f"A pass first asks which of the {TICK_SLOTS} slots hold anything due (one statement per pass, "
        f"not per batch; {n_probe} here): {ms('ik_probe')} ms (median [min..max]).")
    say()
    say("Ratios to the forced full scan of each database, same run (the anchor README's 'x scan'): "
        + ", ".join(f"{k} {ratio(k, 'ik_scan')}" for k in ("ik_claim", "ik_list_sql", "ik_count"))
        + "; anchor " + ", ".join(f"{k[3:]} {ratio(k, 'an_Q0_forced_scan')}"
                                 for k in ("an_Q2_batch500", "an_Q1_not_terminal", "an_Q1_count")))
    say()
    say(f"Service.overdue(at=now) sent {n_stmts:,} statements for {c1:,} rows: 1 list query, "
        f"{n_people:,} PEOPLE_SQL look-ups (its must-act cache is per office, division, workflow and "
        f"state) and {n_stmts - 1 - n_people} other(s).")
    say()
    say("## Query plans (EXPLAIN QUERY PLAN)")
    say()
    for label, sql, params in [("probe (Service.tick, once per pass)", probe_sql, probe_p),
                               ("slot (Service.tick)", slot_sql, slot_p), ("claim (Service.tick)", claim_sql, claim_p),
                               ("overdue list (Service.overdue)", list_sql, list_p),
                               ("overdue count (Service.overdue_count)", count_sql, count_p),
                               ("forced scan (bench reference)", scan_sql, scan_p)]:
        say(f"- ikuflow {label}: `{plan(ik, sql, params)}`")
        say(f"  - SQL: `{sql}` params {params}")
    for q in ("Q2_batch500", "Q1_not_terminal", "Q1_count", "Q3_due_or_remind", "Q0_forced_scan"):
        say(f"- anchor {q}: `{plan(an, a_sql[q], a_par[q])}`")
    say()
    say("## Raw runs (ms, in run order)")
    say()
    for name in variants:
        say(f"- {name}: " + ", ".join(f"{x:.2f}" for x in res[name]))
    ik.close()
    an.close()
    if args.markdown:
        Path(args.markdown).write_text("\n".join(OUT) + "\n", encoding="utf-8")
        print(f"\nwrote {args.markdown}")


if __name__ == "__main__":
    main()
