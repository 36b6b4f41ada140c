#!/usr/bin/env python
"""``ikuflow web`` under wrk, next to the floor of its stack, measured in ONE run (issue 16).

Two servers run side by side with the same settings (uvicorn, ``--workers`` processes, log
level warning, no access log, no server header, proxy headers from 127.0.0.1):
  ikuflow   ``ikuflow web --host 127.0.0.1 --port P`` on a seeded SQLite database;
  floor     ``bench/web_floor.py``: FastAPI answering one constant JSON object (no database,
            no template, no middleware of ours): what the stack itself costs.

The database (built fresh in a temporary folder, about 5 s): ``ikuflow init``'s schema, the 553
offices of examples/offices-id.csv, a coordinator for each of their 5 divisions, a secretariat
and a chair for each office, an admin of RI (3,872 people); pacitan's 500 documents
(5 divisions x years 2000-2099) submitted by their coordinators, so they wait in
division_review for pacitan's secretariat; and 82,800 drafts, the other 552 offices x 5
divisions x years 2070-2099 (``Service.new_many``), which the POST tests submit (at 1,400
requests/s a run of 5 s takes 7,000 of them).

Budgets (issue 16), each as requests/s of the endpoint / requests/s of the floor, from the
floor run made just before it (wrk -t1, ``--connections`` 8, ``--duration`` 5 s):
  GET  /api/v1/documents/{key}   >= 0.5x  (Bearer token of pacitan's secretariat, from
                                          ``ikuflow token create EMAIL --json``; the key cycles
                                          through pacitan's 500 documents)
  GET  /tasks                    >= 0.25x (the HTML page, signed in as pacitan's secretariat
                                          with the 500 documents waiting; the session cookie
                                          comes from a real sign-in: POST /signin, the link
                                          read with ``ikuflow outbox list --json`` and
                                          ``ikuflow outbox show ID``, then POST to it)
  POST /api/v1/documents/{key}/events/submit  >= 0.2x (a real transition on SQLite: every
                                          request submits another draft, as RI's admin with
                                          one Bearer token; checked afterwards: no non-2xx
                                          answer, and the database holds exactly one 'api'
                                          submit per request the server received)
and for each of the three, p99 latency at half its peak rate <= 50 ms. wrk has no rate option:
the half-rate runs pace each connection with wrk's Lua ``delay()`` (milliseconds before each
request, drawn from an exponential distribution so that arrivals are near Poisson and the
connections do not move in step); connections and mean delay are chosen from the peak rate,
and a run that lands more than 10% off half the peak is run again once with a corrected
delay. The table shows the rate achieved and wrk's latency percentiles (from its Lua
``done()``: latency:percentile(50/90/99)).

No budget, for context: the floor's p99 at half its rate, and the POST with each request made by
the document's own coordinator (a token of that coordinator per document, 11,040 of them for
the drafts of 2096-2099, each used once: the first use of a token within a minute records its
last use, one more write; at most 4 s).

CPU columns come from /proc: the server process's CPU per request, wrk's, and what the rest of
the machine used meanwhile (other jobs; 2 cores in all: wrk takes one and the server the
other). The machine is shared and noisy: read the ratios.

    .venv/bin/python bench/bench_web.py [--markdown bench/results-web.md] [--duration 5]
        [--half-duration 8] [--connections 8] [--workers 1] [--profile tasks,doc,post]

``--profile`` runs, after the measurement, each named endpoint against an in-process server
(the same app and uvicorn settings) twice: with timing wrappers around the adapters' parts
(where a request's time goes, without a profiler's overhead; "app" is the whole ASGI call,
which includes h11 writing the answer) and under cProfile (top functions); ``floor`` gives the
floor's "app" time for comparison. The package is never modified. Exit code 1 when a budget
fails.
"""

from __future__ import annotations

import argparse
import csv
import http.client
import json
import os
import re
import resource
import secrets
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
os.environ["IKUFLOW_WORKFLOWS"] = str(ROOT / "workflows")
BIN = Path(sys.executable).parent
ADMIN = "admin@ri.example.id"
SECR = "sekretariat@pacitan.example.id"
DIVISIONS = ("sdmo", "hukum", "penanganan", "pencegahan", "sengketa")
AT = datetime(2026, 1, 5, 2, 0)
DRAFT_YEARS = range(2070, 2100)  # the POST tests' drafts: 30 years x 2,760
COORD_YEARS = 4  # the last 4 of them (11,040 drafts) for the run with the coordinators' own tokens
BUDGET = {"doc": 0.5, "tasks": 0.25, "post": 0.2}
P99_MS = 50.0
OUT: list[str] = []


def say(line: str = "") -> None:
    print(line, flush=True)
    OUT.append(line)


def note(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- the database
def seed(folder: Path) -> dict:
    """The seeded SQLite database; returns its url and the keys the runs use."""
    from ikuflow import admin
    from ikuflow.app.directory import import_file
    from ikuflow.app.service import Service
    from ikuflow.app.tokens import PREFIX, digest
    from ikuflow.store import directory as people
    from ikuflow.store import tokens as token_store
    from ikuflow.store.db import write

    url = f"sqlite:///{folder / 'web.db'}"
    os.environ["IKUFLOW_DATABASE_URL"] = url
    admin.init(url)
    offices = ROOT / "examples" / "offices-id.csv"
    import_file(offices, url)
    people_csv = folder / "people.csv"
    with open(offices) as fh, open(people_csv, "w") as out:
        out.write(f"email,name,role,office,division\n{ADMIN},Admin RI,admin,ri,\n")
        for row in csv.DictReader(fh):
            c = row["code"]
            for d in DIVISIONS:
                out.write(f"koord.{d}@{c}.example.id,Koordinator {d} {c},coordinator,{c},{d}\n")
            out.write(f"sekretariat@{c}.example.id,Sekretariat {c},secretariat,{c},\n")
            out.write(f"ketua@{c}.example.id,Ketua {c},chair,{c},\n")
    import_file(people_csv, url)
    svc = Service(url)
    for y in range(2000, 2100):  # pacitan: 5 divisions x 100 years, each submitted by its coordinator
        r = svc.new_many(y, date(y, 1, 28), ADMIN, offices=["pacitan"], at=AT)
        assert r["created"] == 5, r
    for d in DIVISIONS:
        r = svc.advance_many([(f"pacitan-{d}-{y}", "submit", None) for y in range(2000, 2100)],
                             f"koord.{d}@pacitan.example.id", at=AT)
        assert not r["refused"], r["refused"][:2]
    for y in DRAFT_YEARS:  # the other 552 offices (pacitan's keys exist already: refused)
        r = svc.new_many(y, date(y, 1, 28), ADMIN, at=AT)
        assert r["created"] == 2760, (y, r["created"])
    drafts = {y: [k for (k,) in svc.con.execute(
        "SELECT key FROM document WHERE year = ? AND state = 'draft' ORDER BY id", (y,))] for y in DRAFT_YEARS}
    # a token of its coordinator for each of the last years' drafts (each used once), for the run
    # without a budget
    coord_tokens = []
    with write(svc.con) as c:
        for y in DRAFT_YEARS[-COORD_YEARS:]:
            for key in drafts[y]:
                office, division, _ = key.rsplit("-", 2)
                p = people.person(c, f"koord.{division}@{office}.example.id")
                tok = PREFIX + secrets.token_urlsafe(32)
                token_store.insert(c, p.id, digest(tok), "bench_web", AT)
                coord_tokens.append((key, tok))
    counts = dict(svc.con.execute("SELECT state, count(*) FROM document GROUP BY state").fetchall())
    svc.con.execute("ANALYZE")
    svc.close()
    assert counts == {"division_review": 500, "draft": 2760 * len(DRAFT_YEARS)}, counts
    pacitan = [f"pacitan-{d}-{y}" for y in range(2000, 2100) for d in DIVISIONS]
    return {"url": url, "pacitan": pacitan, "drafts": [k for y in DRAFT_YEARS[:-COORD_YEARS] for k in drafts[y]],
            "coord": coord_tokens, "n_drafts": counts["draft"], "people": sum(1 for _ in open(people_csv)) - 1}


# ---------------------------------------------------------------- servers
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants (uvicorn's worker processes with --workers > 1)."""
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                ppid = int(Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out


def proc_cpu(pid: int) -> float:
    try:
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def busy_cpu() -> float:
    """CPU seconds all processes of the machine have used so far (/proc/stat)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / os.sysconf("SC_CLK_TCK")


def wait_quiet(servers: list, max_wait: float) -> float:
    """Wait (up to max_wait s) until the rest of the machine uses under 0.3 cores over 1 s;
    the cores it used in the last second."""
    t_end = time.perf_counter() + max_wait
    while True:
        m0, b0, s0, t0 = time.process_time(), busy_cpu(), sum(x.cpu() for x in servers), time.perf_counter()
        time.sleep(1)
        used = busy_cpu() - b0 - (time.process_time() - m0) - (sum(x.cpu() for x in servers) - s0)
        others = max(0.0, used) / (time.perf_counter() - t0)
        if others < 0.3 or time.perf_counter() > t_end:
            return others


class Server:
    """A server process on a free port: started, waited for, its CPU read, stopped."""

    def __init__(self, name: str, cmd: list[str], env: dict, port: int, log: Path) -> None:
        self.name, self.port, self.log = name, port, log
        self.proc = subprocess.Popen(cmd, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT,
                                     cwd=str(log.parent))
        t_end = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"{name} exited at start: {log.read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                if time.monotonic() > t_end:
                    raise SystemExit(f"{name} did not listen on {port}: {log.read_text()[-2000:]}")
                time.sleep(0.1)

    def cpu(self) -> float:
        return sum(proc_cpu(p) for p in tree(self.proc.pid))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def fetch(port: int, method: str, path: str, headers: dict | None = None, body: str | None = None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read().decode()
    finally:
        c.close()


def cli(env: dict, *args: str) -> str:
    r = subprocess.run([str(BIN / "ikuflow"), *args], env=env, capture_output=True, text=True, timeout=60)
    if r.returncode:
        raise SystemExit(f"ikuflow {' '.join(args)}: exit {r.returncode}: {r.stderr}")
    return r.stdout


def sign_in(port: int, env: dict, email: str) -> str:
    """A session cookie, the way a person gets one: ask for a link, read it in the outbox, use it."""
    status, _, _ = fetch(port, "POST", "/signin", {"Content-Type": "application/x-www-form-urlencoded"},
                        f"email={email}")
    assert status == 200, status
    rows = json.loads(cli(env, "outbox", "list", "--json", "--limit", "20"))
    row = next(r for r in rows if r["kind"] == "sign_in" and r["recipient"] == email)
    text = cli(env, "outbox", "show", str(row["id"]))
    m = re.search(rf"{re.escape(env['IKUFLOW_BASE_URL'])}/signin/(\S+)", text)
    assert m, text
    status, headers, _ = fetch(port, "POST", f"/signin/{m.group(1)}")
    cookie = headers.get("set-cookie", "")
    assert status == 303 and cookie.startswith("ikuflow_session="), (status, headers)
    return cookie.split(";", 1)[0]


# ---------------------------------------------------------------- wrk
LUA = r"""
local method, path_fmt = "@METHOD@", "@PATH@"
local headers = {@HEADERS@}
local body = @BODY@
local keyfile, wrap, mean = "@KEYFILE@", @WRAP@, @MEAN@
local keys, toks = {}, {}
i = @OFFSET@
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args)
  math.randomseed(@SEED@)
  if keyfile ~= "" then
    for line in io.lines(keyfile) do
      local k, t = line:match("^(%S+)%s*(%S*)$")
      keys[#keys + 1] = k
      toks[#toks + 1] = t
    end
  end
end
function request()
  i = i + 1
  if #keys == 0 then return wrk.format(method, path_fmt, headers, body) end
  local j = i
  if wrap then j = ((i - 1) % #keys) + 1 end
  local h = headers
  if toks[j] and toks[j] ~= "" then
    h = {}
    for name, v in pairs(headers) do h[name] = v end
    h["Authorization"] = "Bearer " .. toks[j]
  end
  return wrk.format(method, string.format(path_fmt, keys[j] or "exhausted"), h, body)
end
@DELAY@
function done(summary, latency, requests)
  local last = 0
  for _, t in ipairs(threads) do last = t:get("i") end
  local e = summary.errors
  io.write(string.format('RESULT {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, '
    .. '"write": %d, "status": %d, "timeout": %d, "p50": %d, "p90": %d, "p99": %d, "max": %d, '
    .. '"mean": %.1f, "last": %d}\n', summary.requests, summary.duration, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean, last))
end
"""


def lua_str(s: str) -> str:
    return json.dumps(s)  # a JSON string is a valid Lua string for these values (ASCII)


def run_wrk(folder: Path, server: Server, spec: dict, conns: int, secs: float, mean_delay: float = 0.0,
            seed: int = 1) -> dict:
    """One wrk run of ``spec`` (method, path, headers, body, keyfile, offset, wrap): rate,
    latency percentiles (ms), errors, keys used, and the CPU of the server, of wrk and of the rest."""
    script = LUA
    delay = (f"function delay() return math.floor(-{mean_delay:.3f} * math.log(1 - math.random()) + 0.5) end"
             if mean_delay > 0 else "")
    for k, v in {"@METHOD@": spec.get("method", "GET"), "@PATH@": spec["path"],
                 "@HEADERS@": ", ".join(f"[{lua_str(n)}] = {lua_str(v)}" for n, v in spec.get("headers", {}).items()),
                 "@BODY@": lua_str(spec["body"]) if spec.get("body") is not None else "nil",
                 "@KEYFILE@": str(spec.get("keyfile", "")), "@WRAP@": "true" if spec.get("wrap") else "false",
                 "@MEAN@": f"{mean_delay:.3f}", "@OFFSET@": str(spec.get("offset", 0)), "@SEED@": str(seed),
                 "@DELAY@": delay}.items():
        script = script.replace(k, v)
    path = folder / "run.lua"
    path.write_text(script)
    cmd = ["wrk", "-t1", f"-c{conns}", f"-d{max(1, round(secs))}s", "--timeout", "5s", "-s", str(path),
           f"http://127.0.0.1:{server.port}"]
    ru0, s0, b0, m0, t0 = (resource.getrusage(resource.RUSAGE_CHILDREN), server.cpu(), busy_cpu(),
                           time.process_time(), time.perf_counter())
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=secs + 60)
    ru1, s1, b1, m1, t1 = (resource.getrusage(resource.RUSAGE_CHILDREN), server.cpu(), busy_cpu(),
                           time.process_time(), time.perf_counter())
    line = next((ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if r.returncode or line is None:
        raise SystemExit(f"wrk failed ({r.returncode}): {r.stdout}\n{r.stderr}")
    res = json.loads(line[7:])
    wrk_cpu = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    n = max(res["requests"], 1)
    res.update(rps=res["requests"] / (res["duration_us"] / 1e6), conns=conns, mean_delay=mean_delay,
               used=res["last"] - spec.get("offset", 0), server_us=(s1 - s0) / n * 1e6,
               server_cores=(s1 - s0) / (t1 - t0), wrk_cores=wrk_cpu / (t1 - t0),
               others=max(0.0, (b1 - b0) - (s1 - s0) - wrk_cpu - (m1 - m0)) / (t1 - t0),
               errors=res["connect"] + res["read"] + res["write"] + res["timeout"])
    for p in ("p50", "p90", "p99", "max"):
        res[p] = res[p] / 1000.0
    return res


# ---------------------------------------------------------------- the run
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--duration", type=float, default=5, help="seconds of each peak run (default 5)")
    ap.add_argument("--half-duration", type=float, default=8, help="seconds of each half-rate run (default 8)")
    ap.add_argument("--connections", type=int, default=8, help="wrk connections for the peak runs (default 8)")
    ap.add_argument("--workers", type=int, default=1, help="uvicorn processes of both servers (default 1)")
    ap.add_argument("--markdown", metavar="FILE", help="also write the report to FILE")
    ap.add_argument("--profile", default="", metavar="LIST",
                    help="after the run, profile these in-process: tasks,doc,post,floor (floor: timing only)")
    ap.add_argument("--disturbed", type=float, default=0.5,
                    help="a run in which other jobs used more cores than this is run again (default 0.5)")
    ap.add_argument("--retries", type=int, default=1, help="reruns of a disturbed run at most (default 1)")
    ap.add_argument("--max-wait", type=float, default=10,
                    help="seconds to wait for a quiet machine before each run at most (default 10)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (database, logs, Lua)")
    a = ap.parse_args()
    sys.path.insert(0, "/work/shared/anchors")
    try:
        from common import env_line
    except ImportError:  # the anchors are not part of the repository
        def env_line() -> str:
            return f"cores {os.cpu_count()} | load {os.getloadavg()[0]:.2f}"

    t_all = time.perf_counter()
    folder = Path(tempfile.mkdtemp(prefix="ikuflow-web-"))
    servers: list[Server] = []
    try:
        t = time.perf_counter()
        db = seed(folder)
        note(f"seeded {db['url']} in {time.perf_counter() - t:.1f} s")
        port_i, port_f = free_port(), free_port()
        env = {**os.environ, "IKUFLOW_DATABASE_URL": db["url"], "IKUFLOW_SECRET_KEY": secrets.token_urlsafe(48),
               "IKUFLOW_BASE_URL": f"http://127.0.0.1:{port_i}", "IKUFLOW_WORKFLOWS": str(ROOT / "workflows")}
        ikuflow = Server("ikuflow web", [str(BIN / "ikuflow"), "web", "--host", "127.0.0.1", "--port", str(port_i),
                                         "--workers", str(a.workers)], env, port_i, folder / "ikuflow-web.log")
        servers.append(ikuflow)
        floor = Server("floor", [sys.executable, str(HERE / "web_floor.py"), "--port", str(port_f),
                                 "--workers", str(a.workers)], env, port_f, folder / "floor.log")
        servers.append(floor)

        token = json.loads(cli(env, "token", "create", SECR, "--json", "--note", "bench_web"))["token"]
        admin_token = json.loads(cli(env, "token", "create", ADMIN, "--json", "--note", "bench_web"))["token"]
        cookie = sign_in(port_i, env, SECR)
        (folder / "pacitan.txt").write_text("\n".join(db["pacitan"]) + "\n")
        (folder / "drafts.txt").write_text("\n".join(db["drafts"]) + "\n")
        (folder / "coord.txt").write_text("\n".join(f"{k} {t}" for k, t in db["coord"]) + "\n")
        auth = {"Authorization": f"Bearer {token}"}
        specs = {
            "floor": {"path": "/"},
            "doc": {"path": "/api/v1/documents/%s", "headers": auth, "keyfile": folder / "pacitan.txt", "wrap": True},
            "tasks": {"path": "/tasks", "headers": {"Cookie": cookie}},
            "post": {"method": "POST", "path": "/api/v1/documents/%s/events/submit",
                     "headers": {"Authorization": f"Bearer {admin_token}", "Content-Type": "application/json"},
                     "body": "{}", "keyfile": folder / "drafts.txt", "offset": 0},
            "post_coord": {"method": "POST", "path": "/api/v1/documents/%s/events/submit",
                           "headers": {"Content-Type": "application/json"}, "body": "{}",
                           "keyfile": folder / "coord.txt", "offset": 0},
        }
        labels = {"floor": "floor: FastAPI, constant JSON (`GET /`)",
                  "doc": "`GET /api/v1/documents/{key}` (Bearer)",
                  "tasks": "`GET /tasks` (HTML, 500 waiting, session cookie)",
                  "post": "`POST /api/v1/documents/{key}/events/submit` (SQLite write)",
                  "post_coord": "... the same POST, each by its coordinator's own token (first use)"}

        # what each answers, checked once before timing
        s, _, body = fetch(port_f, "GET", "/")
        assert s == 200 and json.loads(body)["key"] == "floor", (s, body)
        s, _, body = fetch(port_i, "GET", f"/api/v1/documents/{db['pacitan'][0]}", auth)
        assert s == 200 and json.loads(body)["key"] == db["pacitan"][0], (s, body)
        s, _, body = fetch(port_i, "GET", "/tasks", {"Cookie": cookie})
        rows = body.count('<tr class="late">') + body.count("<tr><td>")
        assert s == 200 and "(500 " in body and rows == 50, (s, rows, body[:500])
        note(f"checked: floor, document, tasks (500 waiting, 50 shown); setup {time.perf_counter() - t_all:.1f} s")

        used = {"post": 0, "post_coord": 0}
        runs: list[tuple[str, str, dict]] = []  # (endpoint, phase, result)

        def go(name: str, phase: str, conns: int, secs: float, delay: float = 0.0, seed: int = 1) -> dict:
            spec = dict(specs[name])
            if name in used:
                spec["offset"] = used[name]
            server = floor if name == "floor" else ikuflow
            res = run_wrk(folder, server, spec, conns, secs, delay, seed)
            if name in used:
                used[name] += res["used"]
            runs.append((name, phase, res))
            note(f"  {phase:6s} {name:10s} c={conns:<3d} delay={delay:5.1f} ms  {res['rps']:8,.0f} req/s  "
                 f"p50 {res['p50']:6.2f}  p99 {res['p99']:6.2f} ms  non-2xx {res['status']}  "
                 f"errors {res['errors']}  server {res['server_us']:.0f} us/req ({res['server_cores']:.2f} cores)"
                 f"  others {res['others']:.2f}")
            return res

        for name in ("floor", "doc", "tasks", "post"):  # warm-up: caches, templates, pages of the database
            go(name, "warm", a.connections, 1)
        peak: dict[str, dict] = {}
        floor_before: dict[str, dict] = {}
        floors = []
        reruns = 0
        for name in ("doc", "tasks", "post", "post_coord"):  # each right after a floor run
            for attempt in range(a.retries + 1):
                wait_quiet(servers, a.max_wait)
                f = go("floor", "peak", a.connections, a.duration) if name != "post_coord" else floor_before["post"]
                p = go(name, "peak", a.connections, a.duration if name != "post_coord" else min(a.duration, 4))
                if max(f["others"], p["others"]) <= a.disturbed or attempt == a.retries or name == "post_coord":
                    break
                reruns += 1
                note(f"  (disturbed: other jobs used {max(f['others'], p['others']):.2f} cores; again)")
            floor_before[name], peak[name] = f, p
            if name != "post_coord":
                floors.append(f)
        peak["floor"] = sorted(floors, key=lambda r: r["rps"])[len(floors) // 2]

        half: dict[str, dict] = {}
        for name in ("floor", "doc", "tasks", "post"):
            target = peak[name]["rps"] / 2
            conns = max(4, min(64, round(target * 0.025)))  # about 25 ms between a connection's requests
            service_ms = 1000 / peak[name]["rps"]
            delay = max(0.5, conns * 1000 / target - 1.5 * service_ms)
            for attempt in range(a.retries + 2):
                wait_quiet(servers, a.max_wait)
                res = go(name, "half", conns, a.half_duration, delay, seed=7 + attempt)
                off = abs(res["rps"] / target - 1) > 0.10
                if attempt == a.retries + 1 or not (off or res["others"] > a.disturbed):
                    break
                if off:  # correct the delay from the rate it achieved
                    delay = max(0.5, delay + conns * 1000 / target - conns * 1000 / res["rps"])
                else:
                    reruns += 1
                    note(f"  (disturbed: other jobs used {res['others']:.2f} cores; again)")
            res["target"] = target
            half[name] = res

        # every POST a real transition: the database holds one 'api' submit per request the server got
        con = sqlite3.connect(db["url"].removeprefix("sqlite:///"))
        api_submits = con.execute("SELECT count(*) FROM history WHERE channel = 'api' AND event = 'submit'"
                                  ).fetchone()[0]
        moved = con.execute("SELECT count(*) FROM document WHERE state = 'division_review'").fetchone()[0] - 500
        by_admin = con.execute("SELECT count(*) FROM history WHERE channel = 'api' AND actor = ?", (ADMIN,)
                               ).fetchone()[0]
        con.close()
        admin_runs = [r for n, _, r in runs if n == "post"]
        coord_runs = [r for n, _, r in runs if n == "post_coord"]
        completed = sum(r["requests"] for r in admin_runs + coord_runs)
        sent = used["post"] + used["post_coord"]
        non2xx = sum(r["status"] for r in admin_runs + coord_runs)
        post_ok = (non2xx == 0 and api_submits == moved
                   and sum(r["requests"] for r in admin_runs) <= by_admin <= used["post"]
                   and sum(r["requests"] for r in coord_runs) <= api_submits - by_admin <= used["post_coord"])
        note(f"POST check: {completed:,} answered 2xx (non-2xx {non2xx}), {sent:,} sent, {api_submits:,} 'api' "
             f"submits in history ({by_admin:,} by the admin), {moved:,} drafts now in division_review")

        # ------------------------------------------------------------ report
        say(f"### ikuflow web under wrk, next to the floor of its stack ({datetime.now():%Y-%m-%d %H:%M})")
        say()
        say(f"`{env_line()}`; wrk {wrk_version()} -t1; uvicorn with {a.workers} worker(s), log level warning, "
            f"no access log, {uvicorn_loop()}; SQLite database of 553 offices, {db['people']:,} people, "
            f"{500 + db['n_drafts']:,} documents (pacitan's 500 in division_review, {db['n_drafts']:,} drafts).")
        say()
        say(f"Peak: wrk -t1 -c{a.connections}, {a.duration:g} s each, the floor run just before each endpoint "
            f"(ratio = endpoint / that floor run). CPU from /proc: server us per request and cores used; "
            f"'others' = cores the rest of the machine used meanwhile (2 cores in all).")
        say()
        say("| endpoint | req/s | floor req/s (run before) | x floor | budget | verdict | server CPU us/req "
            "| x floor by server CPU | server cores | wrk cores | others | non-2xx / socket errors |")
        say("|---|---|---|---|---|---|---|---|---|---|---|---|")
        ok = True
        verdicts = {}
        for name in ("doc", "tasks", "post", "post_coord"):
            p, f = peak[name], floor_before[name]
            ratio = p["rps"] / f["rps"]
            if name in BUDGET:
                passed = ratio >= BUDGET[name] and p["status"] == 0 and p["errors"] == 0
                ok &= passed
                verdicts[name] = (ratio, passed)
                budget, verdict = f">= {BUDGET[name]}x", "PASS" if passed else "**FAIL**"
            else:
                budget, verdict = "(none)", "-"
            say(f"| {labels[name]} | {p['rps']:,.0f} | {f['rps']:,.0f} | {ratio:.3f}x | {budget} | {verdict} "
                f"| {p['server_us']:.0f} | {f['server_us'] / p['server_us']:.3f}x | {p['server_cores']:.2f} "
                f"| {p['wrk_cores']:.2f} | {p['others']:.2f} "
                f"| {p['status']} / {p['errors']} |")
        fl = [r["rps"] for r in floors]
        say(f"| {labels['floor']} | {statistics.median(fl):,.0f} (median of {len(fl)}: "
            f"{', '.join(f'{x:,.0f}' for x in fl)}) | | 1.00x | | | {floors[0]['server_us']:.0f} | 1.00x "
            f"| {floors[0]['server_cores']:.2f} | {floors[0]['wrk_cores']:.2f} | {max(r['others'] for r in floors):.2f} "
            f"| {sum(r['status'] for r in floors)} / {sum(r['errors'] for r in floors)} |")
        say()
        say(f"Runs made again because other jobs used more than {a.disturbed} cores during them: {reruns}. "
            "'x floor by server CPU' (floor's server CPU per request / the endpoint's) is less sensitive "
            "to other jobs than req/s, for information; the budgets are on req/s.")
        say()
        say(f"Half rate: each connection waits an exponentially distributed time (wrk Lua `delay()`, mean as "
            f"shown, whole ms) before each request; {a.half_duration:g} s each. Latency percentiles from wrk's "
            f"`done()` (latency:percentile).")
        say()
        say("| endpoint | half of peak | achieved req/s | connections | mean delay ms | p50 ms | p90 ms | p99 ms "
            "| max ms | budget p99 | verdict | others |")
        say("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for name in ("doc", "tasks", "post", "floor"):
            h = half[name]
            if name in BUDGET:
                passed = h["p99"] <= P99_MS and h["status"] == 0 and h["errors"] == 0
                ok &= passed
                budget, verdict = f"<= {P99_MS:g} ms", "PASS" if passed else "**FAIL**"
                verdicts[name + "_p99"] = (h["p99"], passed)
            else:
                budget, verdict = "(none)", "-"
            say(f"| {labels[name]} | {h['target']:,.0f} | {h['rps']:,.0f} ({h['rps'] / h['target']:.2f}x) "
                f"| {h['conns']} | {h['mean_delay']:.1f} | {h['p50']:.2f} | {h['p90']:.2f} | {h['p99']:.2f} "
                f"| {h['max']:.1f} | {budget} | {verdict} | {h['others']:.2f} |")
        say()
        say(f"POST check: every request a real transition. {completed:,} requests answered, all 2xx "
            f"(non-2xx: {non2xx}); {sent:,} sent (a request cut off at the end of a run may still be "
            f"served); the database holds {api_submits:,} submits through the API "
            f"({by_admin:,} by RI's admin, {api_submits - by_admin:,} by coordinators) and {moved:,} more "
            f"documents in division_review: {'OK' if post_ok else '**MISMATCH**'}.")
        say()
        say(f"| budget (issue 16) | measured | verdict |")
        say("|---|---|---|")
        for name, lab in (("doc", "GET document >= 0.5x floor"), ("tasks", "GET /tasks (500 waiting) >= 0.25x floor"),
                          ("post", "POST event (a transition) >= 0.2x floor")):
            r, p = verdicts[name]
            say(f"| {lab} | {r:.3f}x | {'PASS' if p else '**FAIL**'} |")
            r, p = verdicts[name + "_p99"]
            say(f"| ... p99 at half its peak <= 50 ms | {r:.1f} ms | {'PASS' if p else '**FAIL**'} |")
        ok &= post_ok
        say()
        cmd = "`.venv/bin/python bench/bench_web.py"
        for flag, val, default in (("--duration", a.duration, 5), ("--half-duration", a.half_duration, 8),
                                   ("--connections", a.connections, 8), ("--workers", a.workers, 1)):
            if val != default:
                cmd += f" {flag} {val:g}"
        say(f"Command: {cmd}`; whole run {time.perf_counter() - t_all:.0f} s.")
        for s in servers:
            s.stop()
        servers.clear()
        if a.profile:
            profile(folder, db, env, [x.strip() for x in a.profile.split(",") if x.strip()], specs, used,
                    a.connections, a.duration)
        if a.markdown:
            Path(a.markdown).write_text("\n".join(OUT) + "\n", encoding="utf-8")
            note(f"wrote {a.markdown}")
        return 0 if ok else 1
    finally:
        for s in servers:
            s.stop()
        if a.keep:
            note(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


def wrk_version() -> str:
    r = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    m = re.search(r"wrk (\S+)", r.stdout + r.stderr)
    return m.group(1) if m else "?"


def uvicorn_loop() -> str:
    import importlib.util

    import uvicorn

    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    proto = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return f"uvicorn {uvicorn.__version__} ({loop}, {proto})"


# ---------------------------------------------------------------- --profile
def profile(folder: Path, db: dict, env: dict, names: list[str], specs: dict, used: dict, conns: int,
            secs: float) -> None:
    """Each endpoint against an in-process server (this script with --serve-profiled), with
    timing wrappers, then under cProfile."""
    for name in names:
        for mode in ("split", "cprofile"):
            port = free_port()
            out = folder / f"profile-{name}-{mode}.txt"
            if name == "floor" and mode == "cprofile":
                continue
            srv = Server(f"profiled {name}", [sys.executable, str(Path(__file__).resolve()), "--serve-profiled",
                                              mode, str(port), str(out), "floor" if name == "floor" else "ikuflow"],
                         {**env, "IKUFLOW_BASE_URL": f"http://127.0.0.1:{port}"}, port, folder / f"prof-{name}.log")
            try:
                for s in (1, secs):  # a warm-up second, then the profiled run
                    res = run_wrk(folder, srv, {**specs[name], "offset": used.get(name, 0)}, conns, s)
                    if name in used:
                        used[name] += res["used"]
            finally:
                srv.stop()
            say()
            say(f"#### Where `{name}` spends its time ({mode}: {res['rps']:,.0f} req/s in-process, "
                f"wrk -t1 -c{conns} {secs:g} s, non-2xx {res['status']})")
            say()
            say(out.read_text().rstrip())


def serve_profiled(mode: str, port: int, out_path: str, target: str = "ikuflow") -> None:
    """The app in this process, with the settings of ``ikuflow web``; on SIGTERM, write where
    the requests' time went to ``out_path``."""
    import cProfile
    import io
    import pstats

    import uvicorn

    import ikuflow.app.access as access
    import ikuflow.app.queries as queries
    import ikuflow.app.tokens as tokens
    import ikuflow.store.documents as store
    import ikuflow.web.api as api
    import ikuflow.web.pages as pages
    from ikuflow.app.service import Service
    from ikuflow.web import create_app

    acc: dict[str, list] = {}

    def timed(label, f):
        def w(*args, **kw):
            t = time.perf_counter()
            try:
                return f(*args, **kw)
            finally:
                a = acc.setdefault(label, [0, 0.0])
                a[0] += 1
                a[1] += time.perf_counter() - t
        return w

    if target == "floor":
        sys.path.insert(0, str(HERE))
        from web_floor import app
    else:
        app = create_app()

    class Whole:  # the whole application, as uvicorn calls it (uvicorn and h11 themselves are outside)
        def __init__(self, inner):
            self.inner = inner

        async def __call__(self, scope, receive, send):
            if scope["type"] != "http":
                return await self.inner(scope, receive, send)
            t = time.perf_counter()
            try:
                await self.inner(scope, receive, send)
            finally:
                a = acc.setdefault("app (the ASGI call, all of FastAPI and ikuflow)", [0, 0.0])
                a[0] += 1
                a[1] += time.perf_counter() - t

    if mode == "split" and target != "floor":
        for mod, attr, label in (
                (pages, "_me", "pages._me (cookie, session row, person)"),
                (access, "session_person", "  access.session_person (the session's row)"),
                (access, "person", "  access.person / api (who, their offices)"),
                (access, "tasks", "access.tasks (everything waiting)"),
                (store, "waiting", "  store.waiting (SQL: the count and one page, rows parsed)"),
                (pages, "render", "pages.render (Jinja2)"),
                (api, "_person", "api._person (token, person)"),
                (access, "document_status", "access.document_status"),
                (queries, "status", "  queries.status"),
                (Service, "advance", "Service.advance (the transition)"),
                (Service, "status", "Service.status (the answer after it)")):
            setattr(mod, attr, timed(label, getattr(mod, attr)))
        api.authenticate = timed("  tokens.authenticate", tokens.authenticate)  # (imported by name)
    server = uvicorn.Server(uvicorn.Config(Whole(app), host="127.0.0.1", port=port, proxy_headers=True,
                                           forwarded_allow_ips="127.0.0.1", log_level="warning",
                                           access_log=False, server_header=False))
    prof = cProfile.Profile() if mode == "cprofile" else None
    import gc

    pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
    gc_start = [0.0]

    def gc_watch(phase: str, info: dict) -> None:  # how long the collector stops the event loop
        if phase == "start":
            gc_start[0] = time.perf_counter()
        else:
            pauses[info["generation"]].append(time.perf_counter() - gc_start[0])

    if mode == "split":
        gc.callbacks.append(gc_watch)
    # uvicorn raises the signal it caught again after its shutdown: let that one pass, so the
    # figures below get written
    signal.signal(signal.SIGTERM, lambda *_: None)
    if prof:
        prof.enable()
    server.run()  # returns on SIGTERM
    if prof:
        prof.disable()
    lines = []
    whole = acc.get("app (the ASGI call, all of FastAPI and ikuflow)", [1, 0.0])
    n = max(whole[0], 1)
    if mode == "split":
        lines.append("| part (timing wrappers, real code) | calls per request | ms per request | share of the app |")
        lines.append("|---|---|---|---|")
        for label, (calls, secs) in sorted(acc.items(), key=lambda kv: -kv[1][1]):
            lines.append(f"| {label} | {calls / n:.2f} | {secs / n * 1e3:.3f} | {secs / max(whole[1], 1e-9):.0%} |")
        lines.append("")
        lines.append(f"{n:,} requests (warm-up included). Nested parts are indented; a part wrapped twice "
                     f"(access.person inside pages._me) counts in both. Garbage collections meanwhile (each "
                     f"stops the event loop, so every request in flight waits): " + "; ".join(
                         f"generation {g}: {len(v):,}, longest {max(v) * 1e3:.2f} ms"
                         for g, v in pauses.items() if v) + ".")
    else:
        buf = io.StringIO()
        st = pstats.Stats(prof, stream=buf)
        st.sort_stats("tottime").print_stats(22)
        text = buf.getvalue()
        lines.append(f"cProfile of the server process ({n:,} requests, startup and warm-up included), "
                     "top 22 by own time:")
        lines.append("")
        lines.append("```")
        lines += [ln.replace(str(Path(sys.prefix)), "<venv>").replace(str(ROOT), "<repo>")
                  .replace(sys.base_prefix, "<python>") for ln in text[text.find("   ncalls"):].rstrip().splitlines()]
        lines.append("```")
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(r"ikuflow/(web|app|store)", 20)
        text = buf.getvalue()
        lines.append("")
        lines.append("cumulative, ikuflow's functions:")
        lines.append("")
        lines.append("```")
        lines += [ln.replace(str(ROOT), "<repo>") for ln in text[text.find("   ncalls"):].rstrip().splitlines()]
        lines.append("```")
    Path(out_path).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--serve-profiled":
        serve_profiled(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
        sys.exit(0)
    sys.exit(main())
