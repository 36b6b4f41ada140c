#!/usr/bin/env python
"""The secretariat's bulk work, next to the per-document API path measured in the same run.

1. A national year: the documents of 553 offices x 5 divisions (2,765) with their history rows
   and outbox rows (each coordinator is told: one e-mail intent per document, its template and
   render context; the sender renders it later, so none is rendered here),
   created by ``Service.new_many`` (one transaction), versus ``Service.new`` called once per
   document. Budget: the bulk path under 2 s.
2. The progress report over 50,000 documents (553 offices x 5 divisions x 18 years, states
   spread over the workflow): ``report.build`` + ``report.as_json``, versus ``Service.status``
   per document (timed on 2,000 documents and scaled to 50,000). Budget: under 1 s.

Rounds are interleaved (bulk, per-document, bulk, ...) on fresh databases; medians with
[min..max]. Usage: python bench/bench_rollout.py [--rounds 3] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["IKUFLOW_WORKFLOWS"] = str(ROOT / "workflows")
ADMIN = "admin@ri.example.id"
SIGNING = date(2026, 1, 28)
AT = datetime(2026, 1, 5, 2, 0)


def fresh_db(folder: Path, name: str) -> str:
    from ikuflow import admin
    from ikuflow.app.directory import import_file

    url = f"sqlite:///{folder / name}"
    os.environ["IKUFLOW_DATABASE_URL"] = url
    admin.init(url)
    import_file(ROOT / "examples" / "offices-id.csv", url)
    admin.add_person(ADMIN, "Admin RI", "admin", "ri", url=url)
    people = folder / "people.csv"  # a coordinator for every office and division: 2,765 people
    if not people.exists():
        import csv

        with open(ROOT / "examples" / "offices-id.csv") as fh, open(people, "w") as out:
            out.write("email,name,role,office,division\n")
            for row in csv.DictReader(fh):
                for d in ("sdmo", "hukum", "penanganan", "pencegahan", "sengketa"):
                    out.write(f"koord.{d}@{row['code']}.example.id,Koordinator {d} {row['code']},"
                              f"coordinator,{row['code']},{d}\n")
    import_file(people, url)
    return url


def assert_intents(con, n: int) -> None:
    """The outbox holds n e-mail intents: a template, a JSON payload with a "context" object,
    and no rendered subject or bodies (the sender renders them when it sends)."""
    rows = con.execute("SELECT template, payload, subject, body_text, body_html FROM outbox").fetchall()
    ok = sum(1 for t, p, *rendered in rows
             if t and p and isinstance(json.loads(p).get("context"), dict) and rendered == [None] * 3)
    assert len(rows) == n and ok == n, f"{ok} e-mail intents among {len(rows)} outbox rows, {n} expected"


def bulk_round(folder: Path, i: int) -> float:
    from ikuflow.app.service import Service

    fresh_db(folder, f"bulk{i}.db")
    svc = Service()
    t0 = time.perf_counter()
    res = svc.new_many(2026, SIGNING, ADMIN, at=AT)
    secs = time.perf_counter() - t0
    assert res["created"] == 2765 and not res["refused"], res["refused"][:3]
    assert svc.con.execute("SELECT count(*) FROM history").fetchone()[0] == 2765
    assert_intents(svc.con, 2765)
    svc.close()
    return secs


def single_round(folder: Path, i: int) -> float:
    from ikuflow.app.service import Service

    fresh_db(folder, f"single{i}.db")
    svc = Service()
    offices = [r[0] for r in svc.con.execute("SELECT code FROM office ORDER BY code")]
    divisions = [r[0] for r in svc.con.execute("SELECT code FROM division ORDER BY code")]
    t0 = time.perf_counter()
    for o in offices:
        for d in divisions:
            svc.new(o, d, 2026, SIGNING, ADMIN, at=AT)
    secs = time.perf_counter() - t0
    assert svc.con.execute("SELECT count(*) FROM document").fetchone()[0] == 2765
    assert_intents(svc.con, 2765)
    svc.close()
    return secs


def report_db(folder: Path) -> str:
    """50,000 documents: 18 years of a national year, states spread over the workflow."""
    from ikuflow.app.service import Service

    url = fresh_db(folder, "report.db")
    svc = Service()
    for year in range(2000, 2018):
        svc.new_many(year, SIGNING.replace(year=year), ADMIN, at=AT)  # signed in its own year
    rnd = random.Random(42)
    states = ["draft", "division_review", "synchronized", "chair_approved", "signed"]
    rows = [(rnd.choice(states), i) for (i,) in svc.con.execute("SELECT id FROM document")]
    svc.con.execute("BEGIN")
    svc.con.executemany("UPDATE document SET state = ?, due_at = CASE WHEN ? = 'signed' THEN NULL ELSE"
                        " due_at END WHERE id = ?", [(s, s, i) for s, i in rows])
    svc.con.execute("COMMIT")
    svc.con.execute("ANALYZE")
    n = svc.con.execute("SELECT count(*) FROM document").fetchone()[0]
    svc.close()
    assert n == 49_770, n
    return url


def report_round(url: str) -> tuple[float, int]:
    from ikuflow.app import report
    from ikuflow.app.service import Service

    svc = Service(url)
    t0 = time.perf_counter()
    data = report.as_json(report.build(svc, at=datetime(2026, 1, 27, 3)))
    secs = time.perf_counter() - t0
    total = data["offices"][0]["documents"]
    svc.close()
    return secs, total


def status_round(url: str, n: int = 2000) -> float:
    from ikuflow.app.service import Service

    svc = Service(url)
    keys = [r[0] for r in svc.con.execute("SELECT key FROM document ORDER BY id LIMIT ?", (n,))]
    t0 = time.perf_counter()
    for k in keys:
        svc.status(k, at=datetime(2026, 1, 27, 3))
    secs = time.perf_counter() - t0
    svc.close()
    return secs / n * 49_770  # scaled to the whole database


def span(xs, fmt="{:.3f}") -> str:
    return f"{fmt.format(statistics.median(xs))} [{fmt.format(min(xs))}..{fmt.format(max(xs))}]"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--markdown", metavar="FILE")
    a = ap.parse_args()
    out = []

    def say(line=""):
        print(line, flush=True)
        out.append(line)

    with tempfile.TemporaryDirectory(prefix="ikuflow-rollout-") as tmp:
        folder = Path(tmp)
        bulk, single = [], []
        for i in range(a.rounds):
            bulk.append(bulk_round(folder, i))
            single.append(single_round(folder, i))
        url = report_db(folder)
        rep, per_doc, total = [], [], 0
        for _ in range(a.rounds):
            secs, total = report_round(url)
            rep.append(secs)
            per_doc.append(status_round(url))
    ratio = [s / b for s, b in zip(single, bulk)]
    say(f"# ikuflow rollout benchmark ({a.rounds} rounds, {datetime.now():%Y-%m-%d %H:%M})")
    say()
    say("| measurement | seconds, median [min..max] | per-document API path, same run | x faster | budget | verdict |")
    say("|---|---|---|---|---|---|")
    say(f"| create a national year: 2,765 documents + history + an e-mail intent to each coordinator (`new_many`) | {span(bulk)} | "
        f"{span(single)} (`new` x 2,765) | {statistics.median(ratio):.1f}x | < 2 s | "
        f"{'PASS' if statistics.median(bulk) < 2 else 'FAIL'} |")
    say(f"| report over {total:,} documents (`report.build` + JSON) | {span(rep)} | "
        f"{span(per_doc, '{:.1f}')} (`status` per document, 2,000 timed, scaled) | "
        f"{statistics.median(per_doc) / statistics.median(rep):.0f}x | < 1 s | "
        f"{'PASS' if statistics.median(rep) < 1 else 'FAIL'} |")
    say()
    say("Command: `.venv/bin/python bench/bench_rollout.py" + (f" --rounds {a.rounds}" if a.rounds != 3 else "") + "`")
    if a.markdown:
        Path(a.markdown).write_text("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
