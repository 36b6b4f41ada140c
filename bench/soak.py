#!/usr/bin/env python
"""A bounded soak: a whole IKU season for thousands of documents, with the SMTP server failing
at random and the sender killed and restarted at random (issue 8, "Soak").

What runs, all at once, each in its own process:

* the SMTP server, ``bench/soak_smtp.py`` (aiosmtpd), failing at random: 421 with the connection
  closed and 451 at RCPT, 451 and dropped connections in the middle of DATA, slow replies, and
  stalls past the client's timeout. It appends every accepted message (time, Message-ID, the
  SMTP login of the session) to a file.
* the season's database (a fresh SQLite file in a temporary folder, or ``--database-url``):
  ``ikuflow init``, then ``ikuflow import`` of a generated directory (offices from
  examples/offices-id.csv in hierarchy order, synthetic regencies past its 553; per office a
  chair, a secretariat and one coordinator per division), then ``Service.new_many`` creating the
  year's documents, except a few offices whose documents are created late, one by one, with
  ``ikuflow new`` (simply overdue from the start).
* a simulated clock stepping an hour at a time from three weeks before the signing date until
  two days after the last signature: at each step worker processes (``Service.advance``, and a
  few ``ikuflow advance`` processes) fire the events planned for that hour, with ``--at``,
  while a scheduler process runs ``Service.tick(at=T)`` for the hour before (and, every few
  steps, an ``ikuflow tick --at T`` process alongside it: two schedulers at once). Each document
  follows a random plan: on time; sent back once or twice with a comment and resubmitted; or
  late at one step by hours to days, so reminders, escalations, the chair's and the parent
  office's copies happen.
* the sender: ``--senders`` slots, each running ``ikuflow outbox send`` in a loop on the real
  clock (the season lies in the past, so every row is due as soon as it is written), each
  process with its own SMTP login; a killer SIGKILLs a running one at random moments (mean
  ``--kill-every`` seconds) and the slot starts another. Short leases, retries and timeouts come
  from IKUFLOW_SMTP_LEASE, _RETRY_BASE, _RETRY_MAX and _TIMEOUT.
* one long-running ``ikuflow serve --interval 1`` (scheduler and sender, real clock) for the whole
  soak, its RSS sampled from /proc/PID/status every ``--rss-every`` seconds. It runs on a second
  SQLite database: on the season's database a real-clock scheduler would escalate every
  document of a season that lies in the past (and one dated in the future would leave nothing
  for the real-clock senders to send), so the side database gets a real-time stream of work
  instead: a feeder process walks ``--serve-documents`` documents from draft to signed on the
  real clock through the season, and ``serve``'s sender delivers their e-mails (with their own
  Message-ID domain) through the same faulty server.

At the end, faults and kills stop and the senders drain. Then the script checks and reports:
every document signed (and each one's history a valid path, its state the last history row, its
version the number of transitions, every transition's e-mails in the outbox); every reminder
and escalation written for the state the document was in at that tick, none after signing;
the reminders and escalations against an oracle computed from the workflow file's rules and
each document's history (required: the document stayed in the state for the whole hour after
the action time; allowed: it left within that hour, as the tick at T runs alongside the next
hour's events); every 'merged' reminder in exactly one digest; nothing pending, held or dead;
every 'sent' row's Message-ID accepted by the server, nothing accepted that is not a sent row;
duplicates counted by Message-ID at the server, each one explained only if the copy before it
came from a sender process that was SIGKILLed after that acceptance, or at most KILL_GRACE
seconds before it (DATA already sent: the server commits a message in flight) - the documented
at-most-once-more case; no sender process ending other than by exit 0 or our SIGKILL, no
traceback, the SMTP password never printed; ``serve``'s RSS flat after warm-up (first/last/max,
least-squares slope; growth under ``--rss-limit`` MB).

Exit code 1 on any FAIL. The temporary folder is kept when something fails (or with --keep).

Usage (from /work/main):
    .venv/bin/python bench/soak.py [--documents 3000] [--minutes 3] [--seed 1]
        [--markdown bench/results-soak.md] [--database-url postgresql+psycopg://...]
Development: --documents 200 --minutes 1. Harsher faults: --fault-scale 2, or one fault's rate
with --rate data_stall=0.08 (kinds in bench/soak_smtp.py). The package is never modified.
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing as mp
import os
import platform
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = Path(sys.executable)
IKUFLOW = PY.with_name("ikuflow")
PASSWORD = "soak-Kata-Sandi-7319"  # every sender logs in with it; it must never be printed
MAIN_FROM = "IKU Soak <ikuflow@soak.bawaslu.example.id>"
SIDE_FROM = "ikuflow@serve.bawaslu.example.id"
PEOPLE_DOMAIN = "soak.example.id"
DIVISIONS = {"sdmo": "SDMO & Diklat", "hukum": "Hukum", "penanganan": "Penanganan Pelanggaran",
             "pencegahan": "Pencegahan & Humas", "sengketa": "Penyelesaian Sengketa"}
FORWARD = {"draft": ("submit", "division_review"), "division_review": ("synchronize", "synchronized"),
           "synchronized": ("approve", "chair_approved"), "chair_approved": ("sign", "signed")}
ACTOR_OF = {"submit": "coordinator", "synchronize": "secretariat", "approve": "chair", "sign": "chair"}
PROFILES = (("on_time", 0.60), ("sent_back", 0.17), ("sent_back_twice", 0.05), ("late", 0.13),
            ("late_and_sent_back", 0.05))
COMMENTS = (
    "Indikator 2.3 belum sesuai Renstra 2025-2029",
    "Mohon lengkapi Bab I: ruang lingkup divisi <b>belum</b> lengkap & target \"100%\"",
    "Target kinerja tidak realistis \u2014 mohon ditinjau ulang \u2713",
    "Program kerja belum selaras dengan IKU; lihat catatan rapat sinkronisasi",
    "Subject: palsu\r\nBcc: penyusup@example.com",
    "Perbaiki format tabel II.1; gunakan satuan persen (%)",
    "Sasaran strategis 3 hilang dari Bab II <script>alert(1)</script>",
)
FIRST = ("Sri", "Budi", "Ahmad", "Dewi", "Eko", "Wulan", "Made", "Ketut", "Nyoman", "Putu", "Rina",
         "Agus", "Siti", "Yusuf", "Indah", "Bayu", "Ratna", "Hendra", "Fitri", "Dian", "Ni Luh", "Yohanes")
LAST = ("Wahyuni", "Santoso", "Fauzi", "Lestari", "Prasetyo", "Saputra", "Dharma", "Utami", "Lestari",
        "Kurniawan", "Gunawan", "Rahayu", "Permata", "Sari", "Nugroho", "Anggraini", "Suardana",
        "Hidayat", "Wenda", "Rumbiak", "O'Neil")
HOUR = timedelta(hours=1)
KILL_GRACE = 1.0  # seconds after a SIGKILL in which the server may still commit what was in flight
RETRY_LINE = re.compile(r"^(?P<t>\d+\.\d+) ikuflow\.sender outbox (?P<id>\d+) to \S+: (?P<error>.*) "
                        r"\(will retry\)$", re.M)


# --- small helpers ----------------------------------------------------------------------------
def say(line: str = "") -> None:
    print(line, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def iso(t: datetime) -> str:
    """A naive UTC time as an ``--at`` value."""
    return t.isoformat(timespec="seconds") + "+00:00"


def run(args: list[str], env: dict, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(IKUFLOW), *args], env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def env_line() -> str:
    load = os.getloadavg()[0]
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no",
                            "ikuflow"], capture_output=True, text=True).stdout.strip()
    return (f"python {platform.python_version()} | sqlite {sqlite3.sqlite_version} | cores {os.cpu_count()}"
            f" | load {load:.2f} | ikuflow at {commit}"
            + (f" with uncommitted changes in {len(dirty.splitlines())} file(s) of ikuflow/" if dirty else ""))


def rss_kb(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


# --- the directory ----------------------------------------------------------------------------
def offices(n: int) -> list[dict]:
    """n offices: ri, then each province followed by its regencies (examples/offices-id.csv), then
    synthetic regencies spread over the provinces when n is larger than the real 553."""
    rows = list(csv.DictReader(open(ROOT / "examples" / "offices-id.csv", encoding="utf-8")))
    by_parent = defaultdict(list)
    for r in rows:
        by_parent[r["parent"]].append(r)
    ordered = [r for r in rows if not r["parent"]]
    for prov in by_parent[ordered[0]["code"]]:
        ordered.append(prov)
        ordered.extend(by_parent[prov["code"]])
    out = [{k: r[k] for k in ("code", "name", "parent", "tz", "level")} for r in ordered[:n]]
    provinces = [r for r in ordered if r["level"] == "province"]
    for i in range(n - len(out)):
        prov = provinces[i % len(provinces)]
        out.append({"code": f"soak-{i + 1:03d}", "name": f"Bawaslu Kabupaten Soak {i + 1}",
                    "parent": prov["code"], "tz": prov["tz"], "level": "kabupaten"})
    for o in out:
        o["parent"] = o["parent"] or None
    return out


def people_of(office: str) -> dict:
    base = f"{office}.{PEOPLE_DOMAIN}"
    out = {"chair": f"ketua@{base}", "secretariat": f"sekretariat@{base}"}
    out.update({d: f"koordinator.{d}@{base}" for d in DIVISIONS})
    return out


ADMIN = f"admin@ri.{PEOPLE_DOMAIN}"


def directory_yaml(path: Path, offs: list[dict], rng: random.Random) -> int:
    import yaml

    people = [{"email": ADMIN, "name": "Admin Soak", "role": "admin", "office": offs[0]["code"]}]
    for o in offs:
        p = people_of(o["code"])
        name = lambda: f"{rng.choice(FIRST)} {rng.choice(LAST)}"  # noqa: E731
        people.append({"email": p["chair"], "name": name(), "role": "chair", "office": o["code"]})
        people.append({"email": p["secretariat"], "name": name(), "role": "secretariat", "office": o["code"]})
        for d in DIVISIONS:
            people.append({"email": p[d], "name": name(), "role": "coordinator", "office": o["code"],
                           "division": d})
    data = {"offices": [{k: v for k, v in o.items() if v is not None} for o in offs],
            "divisions": [{"code": c, "name": n} for c, n in DIVISIONS.items()], "people": people}
    path.write_text("# generated by bench/soak.py\n" + yaml.safe_dump(data, allow_unicode=True, sort_keys=False),
                    encoding="utf-8")
    return len(people)


# --- the plan of the season -------------------------------------------------------------------
def plan_document(rng: random.Random, key: str, office: str, division: str, tz: str, created: datetime,
                  dues: dict, sign_min: datetime, profile: str) -> list[dict]:
    """The events of one document from draft to signed, each at a simulated time."""
    who = people_of(office)
    backs = {"sent_back": 1, "sent_back_twice": 2, "late_and_sent_back": 1}.get(profile, 0)
    back_at = [rng.choice(("division_review", "synchronized", "chair_approved")) for _ in range(backs)]
    late_state = (rng.choice(("draft", "draft", "draft", "division_review", "synchronized", "chair_approved"))
                  if profile.startswith("late") else None)
    out, t, state = [], created, "draft"
    while state != "signed":
        due = dues[(tz, state)]
        if state in back_at:
            back_at.remove(state)
            at = t + timedelta(hours=rng.uniform(1, 20))
            actor = who["chair"] if state == "chair_approved" or rng.random() < 0.3 else who["secretariat"]
            out.append({"at": at, "key": key, "event": "send_back", "actor": actor,
                        "comment": rng.choice(COMMENTS), "office": office})
            t, state = at, "draft"
            continue
        event, nxt = FORWARD[state]
        if state == late_state:
            late_state = None
            at = due + timedelta(hours=rng.uniform(2, 108))  # up to 4.5 days: chair and parent copies
        else:
            lo = t + timedelta(minutes=30)
            hi = max(lo + timedelta(minutes=30), due - HOUR)
            at = lo + (hi - lo) * rng.random()
        if event == "sign":
            at = max(at, sign_min + timedelta(hours=rng.uniform(0, 6)))
        at = max(at, t + timedelta(minutes=10))
        role = ACTOR_OF[event]
        out.append({"at": at, "key": key, "event": event,
                    "actor": who[division] if role == "coordinator" else who[role], "comment": None,
                    "office": office})
        t, state = at, nxt
    return out


# --- worker processes (spawned) ---------------------------------------------------------------
def worker_main(url: str, conn, env: dict) -> None:
    """Fires the events it is sent, in order, with their --at times; replies with what happened."""
    os.environ.update(env)
    from ikuflow.errors import Conflict, IkuflowError
    from ikuflow.app.service import Service

    svc = Service(url)
    while True:
        msg = conn.recv()
        if msg is None:
            break
        res = {"ok": 0, "conflicts": 0, "errors": [], "cli": 0, "events": Counter(), "seconds": 0.0}
        t0 = time.perf_counter()
        for ev in msg:
            at = ev["at"]
            if ev.get("cli"):
                if ev["event"] == "new":
                    args = ["new", "--office", ev["office"], "--division", ev["division"], "--year",
                            str(ev["year"]), "--signing-date", ev["signing_date"], "--as", ev["actor"],
                            "--at", iso(at)]
                else:
                    args = ["advance", ev["key"], ev["event"], "--as", ev["actor"], "--at", iso(at)]
                    if ev["comment"]:
                        args += ["--comment", ev["comment"]]
                p = run(args, os.environ.copy(), timeout=120)
                res["cli"] += 1
                if p.returncode == 0:
                    res["ok"] += 1
                    res["events"][ev["event"]] += 1
                else:
                    res["errors"].append(f"ikuflow {' '.join(args[:3])} ... exit {p.returncode}: "
                                         f"{p.stderr.strip()[-300:]}")
                continue
            for attempt in range(6):
                try:
                    svc.advance(ev["key"], ev["event"], ev["actor"], ev["comment"], at=at)
                    res["ok"] += 1
                    res["events"][ev["event"]] += 1
                    break
                except Conflict as exc:
                    res["conflicts"] += 1
                    if attempt == 5:
                        res["errors"].append(f"{ev['key']} {ev['event']} at {iso(at)}: conflict x6: {exc}")
                    time.sleep(0.05 * (attempt + 1))
                except IkuflowError as exc:
                    res["errors"].append(f"{ev['key']} {ev['event']} at {iso(at)}: exit "
                                         f"{exc.exit_code}: {exc}")
                    break
                except Exception:  # a traceback is a finding
                    res["errors"].append(f"{ev['key']} {ev['event']} at {iso(at)}: "
                                         + traceback.format_exc()[-800:])
                    break
        res["seconds"] = time.perf_counter() - t0
        conn.send(res)
    svc.close()


def scheduler_main(url: str, conn, env: dict) -> None:
    """Runs ``Service.tick(at=T)`` for each T it is sent."""
    os.environ.update(env)
    from ikuflow.app.service import Service

    svc = Service(url)
    while True:
        at = conn.recv()
        if at is None:
            break
        t0 = time.perf_counter()
        try:
            res = svc.tick(at=at)
            res["error"] = None
        except Exception:
            res = {"error": traceback.format_exc()[-1500:]}
        res["seconds"] = time.perf_counter() - t0
        conn.send(res)
    svc.close()


def feeder_main(url: str, env: dict, items: list, duration: float, hurry, out) -> None:
    """The side database's real-time stream: fires ``items`` (offset seconds, key, event, actor,
    comment) on the real clock, spread over ``duration``; all at once when ``hurry`` is set."""
    os.environ.update(env)
    from ikuflow.errors import Conflict, IkuflowError
    from ikuflow.app.service import Service

    svc = Service(url)
    start = time.monotonic()
    res = {"ok": 0, "conflicts": 0, "errors": []}
    for offset, key, event, actor, comment in items:
        wait = start + offset * duration - time.monotonic()
        if wait > 0 and not hurry.is_set():
            hurry.wait(wait)
        for attempt in range(6):
            try:
                svc.advance(key, event, actor, comment)
                res["ok"] += 1
                break
            except Conflict:
                res["conflicts"] += 1
                time.sleep(0.05)
            except IkuflowError as exc:
                res["errors"].append(f"{key} {event}: exit {exc.exit_code}: {exc}")
                break
            except Exception:
                res["errors"].append(f"{key} {event}: " + traceback.format_exc()[-800:])
                break
    svc.close()
    out.put(res)


# --- the senders and the killer ---------------------------------------------------------------
class Senders:
    """``slots`` loops of ``ikuflow outbox send`` processes, each with its own SMTP login."""

    def __init__(self, slots: int, env: dict, pause: float) -> None:
        self.env, self.pause = env, pause
        self.lock = threading.Lock()
        self.running: dict[int, tuple[str, subprocess.Popen]] = {}
        self.done: list[dict] = []
        self.kills: list[dict] = []
        self.next_id = 0
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._loop, args=(i,), daemon=True) for i in range(slots)]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def _loop(self, slot: int) -> None:
        while not self.stop.is_set():
            with self.lock:
                self.next_id += 1
                sid = f"s{self.next_id}"
            env = {**self.env, "IKUFLOW_SMTP_USER": sid, "IKUFLOW_SMTP_PASSWORD": PASSWORD}
            started = time.time()
            p = subprocess.Popen([str(IKUFLOW), "outbox", "send", "--json"], env=env, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            with self.lock:
                self.running[slot] = (sid, p)
            out, err = p.communicate()
            with self.lock:
                del self.running[slot]
                try:
                    stats = json.loads(out) if p.returncode == 0 else None
                except ValueError:
                    stats = None
                self.done.append({"sid": sid, "pid": p.pid, "rc": p.returncode, "started": started,
                                  "ended": time.time(), "stats": stats, "stderr": err,
                                  "stdout": out if stats is None else ""})
            self.stop.wait(self.pause)

    def kill_one(self, rng: random.Random) -> dict | None:
        with self.lock:
            live = [(sid, p) for sid, p in self.running.values() if p.poll() is None]
            if not live:
                return None
            sid, p = rng.choice(live)
            k = {"sid": sid, "pid": p.pid, "at": time.time()}
            try:
                p.send_signal(signal.SIGKILL)
            except ProcessLookupError:
                return None
            self.kills.append(k)
            return k

    def join(self, timeout: float) -> bool:
        end = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.1, end - time.monotonic()))
        return not any(t.is_alive() for t in self.threads)


def killer(senders: Senders, rng: random.Random, mean: float, stop: threading.Event) -> None:
    while not stop.wait(rng.expovariate(1.0 / mean)):
        senders.kill_one(rng)


# --- the soak -----------------------------------------------------------------------------------
class Soak:
    def __init__(self, args) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.tmp = Path(tempfile.mkdtemp(prefix="ikuflow-soak-"))
        self.url = args.database_url or f"sqlite:///{self.tmp / 'season.db'}"
        self.side_url = f"sqlite:///{self.tmp / 'serve.db'}"
        self.port = free_port()
        self.fails: list[str] = []
        self.lines: list[str] = []  # PASS/FAIL lines
        self.t: dict[str, float] = {}  # durations
        self.procs: list[subprocess.Popen] = []
        smtp = {"IKUFLOW_SMTP_HOST": "127.0.0.1", "IKUFLOW_SMTP_PORT": str(self.port),
                "IKUFLOW_SMTP_TLS": "off", "IKUFLOW_SMTP_LEASE": str(args.lease),
                "IKUFLOW_SMTP_RETRY_BASE": str(args.retry_base), "IKUFLOW_SMTP_RETRY_MAX": str(args.retry_max),
                "IKUFLOW_SMTP_TIMEOUT": str(args.smtp_timeout), "IKUFLOW_WORKFLOWS": str(ROOT / "workflows"),
                "IKUFLOW_NOTIFICATIONS": str(ROOT / "notifications")}
        # every ikuflow process logs with the epoch time first (not a change to ikuflow: logging's
        # configuration, from a sitecustomize on the children's path), so each sender's "will
        # retry" line can be put next to the server's acceptances
        hook = self.tmp / "pyhook"
        hook.mkdir()
        (hook / "sitecustomize.py").write_text(
            "import logging\nlogging.basicConfig(format='%(created).6f %(name)s %(message)s', level=logging.INFO)\n")
        base = {k: v for k, v in os.environ.items() if not k.startswith("IKUFLOW_")}
        base["PYTHONPATH"] = os.pathsep.join(filter(None, [str(hook), os.environ.get("PYTHONPATH")]))
        self.env = {**base, **smtp, "IKUFLOW_DATABASE_URL": self.url, "IKUFLOW_MAIL_FROM": MAIN_FROM}
        self.side_env = {**base, **smtp, "IKUFLOW_DATABASE_URL": self.side_url, "IKUFLOW_MAIL_FROM": SIDE_FROM,
                         "IKUFLOW_SMTP_USER": "serve", "IKUFLOW_SMTP_PASSWORD": PASSWORD}

    def check(self, ok: bool, what: str) -> bool:
        self.lines.append(f"- {'PASS' if ok else '**FAIL**'}: {what}")
        if not ok:
            self.fails.append(what)
        return ok

    # --- set-up ---------------------------------------------------------------------------------
    def start_server(self) -> None:
        self.accepted_log = self.tmp / "accepted.tsv"
        self.server_stats = self.tmp / "smtp-stats.json"
        ready = self.tmp / "smtp.ready"
        self.server = subprocess.Popen(
            [str(PY), str(ROOT / "bench" / "soak_smtp.py"), "--port", str(self.port), "--log",
             str(self.accepted_log), "--stats", str(self.server_stats), "--ready", str(ready), "--seed",
             str(self.args.seed), "--timeout", str(self.args.smtp_timeout), "--fault-scale",
             str(self.args.fault_scale)] + [f"--rate={r}" for r in self.args.rate],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(self.tmp / "smtp.log", "w"))
        self.procs.append(self.server)
        end = time.monotonic() + 20
        while not ready.exists():
            if self.server.poll() is not None or time.monotonic() > end:
                raise SystemExit(f"the SMTP server did not start; see {self.tmp / 'smtp.log'}")
            time.sleep(0.05)

    def setup_db(self, url: str, env: dict, offs: list[dict], tag: str) -> None:
        t0 = time.perf_counter()
        p = run(["init"], env)
        if p.returncode:
            raise SystemExit(f"ikuflow init ({tag}) failed: {p.stderr.strip()}")
        self.t[f"{tag}: ikuflow init"] = time.perf_counter() - t0
        path = self.tmp / f"directory-{tag}.yaml"
        n_people = directory_yaml(path, offs, random.Random(self.args.seed))
        t0 = time.perf_counter()
        p = run(["import", str(path)], env)
        if p.returncode:
            raise SystemExit(f"ikuflow import ({tag}) failed: {p.stderr.strip()}")
        self.t[f"{tag}: ikuflow import ({len(offs)} offices, {n_people} people)"] = time.perf_counter() - t0

    def create_season(self) -> None:
        from ikuflow.app.service import Service

        a = self.args
        n_off = -(-a.documents // len(DIVISIONS))
        self.offs = offices(n_off)
        self.tz = {o["code"]: o["tz"] for o in self.offs}
        self.parent = {o["code"]: o["parent"] for o in self.offs}
        self.setup_db(self.url, self.env, self.offs, "season")
        os.environ.update({k: v for k, v in self.env.items() if k.startswith("IKUFLOW_")})
        svc = Service(self.url)
        if svc.con.execute("SELECT count(*) FROM document WHERE year = ?", (a.year,)).fetchone()[0]:
            raise SystemExit(f"the database already has documents of {a.year}; give a fresh one")
        eng = svc.engine("iku", svc.latest_version("iku"))
        self.signing = date(a.year, 1, 28)
        self.created = datetime.combine(self.signing, datetime.min.time()) - timedelta(days=21) + HOUR
        late_n = max(1, round(n_off * 0.01))
        self.late_offices = sorted(self.rng.sample([o["code"] for o in self.offs[1:]], late_n))
        early = [o["code"] for o in self.offs if o["code"] not in self.late_offices]
        t0 = time.perf_counter()
        res = svc.new_many(a.year, self.signing, ADMIN, offices=early, at=self.created)
        self.t["season: Service.new_many"] = time.perf_counter() - t0
        self.new_many_created = res["created"]
        # due times of every state in each zone, and the first minute of the signing day
        self.dues = {(tz, st): eng.due_for(st, self.signing, tz)
                     for tz in set(self.tz.values()) for st in FORWARD}
        from ikuflow.calendar import UTC, zone

        def sign_min(tz):
            local = datetime.combine(self.signing, datetime.min.time()).replace(tzinfo=zone(tz))
            return local.astimezone(UTC).replace(tzinfo=None)

        svc.close()
        plan, profiles = [], Counter()
        late_created = self.created + timedelta(days=16, hours=2)  # after the draft's due time
        for o in self.offs:
            for d in DIVISIONS:
                key = f"{o['code']}-{d}-{a.year}"
                created = self.created
                if o["code"] in self.late_offices:
                    created = late_created + timedelta(minutes=self.rng.uniform(0, 300))
                    plan.append({"at": created, "key": key, "event": "new", "office": o["code"], "division": d,
                                 "actor": people_of(o["code"])[d], "year": a.year,
                                 "signing_date": self.signing.isoformat(), "comment": None, "cli": True})
                r, profile = self.rng.random(), PROFILES[-1][0]
                for name, share in PROFILES:
                    if r < share:
                        profile = name
                        break
                    r -= share
                profiles[profile] += 1
                plan += plan_document(self.rng, key, o["code"], d, o["tz"], created, self.dues,
                                      sign_min(o["tz"]), profile)
        plan.sort(key=lambda e: e["at"])
        movable = [e for e in plan if e["event"] != "new"]
        for e in self.rng.sample(movable, min(a.cli_events, len(movable))):
            e["cli"] = True
        self.plan, self.profiles = plan, profiles
        self.n_docs = len(self.offs) * len(DIVISIONS)  # --documents rounded up to whole offices

    def create_side(self) -> None:
        """The serve process's database: documents walked on the real clock by the feeder."""
        from ikuflow.calendar import now_utc
        from ikuflow.app.service import Service

        a = self.args
        offs = offices(max(1, -(-a.serve_documents // len(DIVISIONS))))
        self.setup_db(self.side_url, self.side_env, offs, "serve")
        saved = os.environ.get("IKUFLOW_MAIL_FROM")
        os.environ["IKUFLOW_MAIL_FROM"] = SIDE_FROM
        svc = Service(self.side_url)
        signing = (now_utc() - timedelta(days=1)).date()
        res = svc.new_many(signing.year, signing, ADMIN)
        svc.close()
        os.environ["IKUFLOW_MAIL_FROM"] = saved or MAIN_FROM
        self.side_docs = res["created"]
        items = []
        rng = random.Random(a.seed + 1)
        for key in res["keys"]:
            office, division = key.rsplit("-", 2)[0], key.rsplit("-", 2)[1]
            who = people_of(office)
            steps = [("submit", who[division], None)]
            if rng.random() < 0.2:
                steps += [("send_back", who["secretariat"], rng.choice(COMMENTS)), ("submit", who[division], None)]
            steps += [("synchronize", who["secretariat"], None), ("approve", who["chair"], None),
                      ("sign", who["chair"], None)]
            offsets = sorted(rng.random() for _ in steps)
            items += [(off, key, ev, actor, comment) for off, (ev, actor, comment) in zip(offsets, steps)]
        items.sort()
        self.side_items = items

    # --- the long-running serve and its memory --------------------------------------------------
    def start_serve(self) -> None:
        self.serve_out = self.tmp / "serve.out"
        self.serve_err = self.tmp / "serve.err"
        self.serve = subprocess.Popen([str(IKUFLOW), "serve", "--interval", "1"], env=self.side_env,
                                      stdin=subprocess.DEVNULL, stdout=open(self.serve_out, "w"),
                                      stderr=open(self.serve_err, "w"))
        self.procs.append(self.serve)
        self.rss: list[tuple[float, int]] = []
        self.rss_stop = threading.Event()
        self.serve_started = time.monotonic()

        def sample() -> None:
            while True:
                kb = rss_kb(self.serve.pid)
                if kb is not None and self.serve.poll() is None:
                    self.rss.append((time.monotonic() - self.serve_started, kb))
                if self.rss_stop.wait(self.args.rss_every):
                    break

        self.rss_thread = threading.Thread(target=sample, daemon=True)
        self.rss_thread.start()

    # --- the season -----------------------------------------------------------------------------
    def season(self) -> None:
        a = self.args
        ctx = mp.get_context("spawn")
        worker_env = {k: v for k, v in self.env.items() if k.startswith(("IKUFLOW_", "PYTHON"))}
        self.workers = []
        for _ in range(a.workers):
            here, there = ctx.Pipe()
            p = ctx.Process(target=worker_main, args=(self.url, there, worker_env), daemon=True)
            p.start()
            self.workers.append((p, here))
        here, there = ctx.Pipe()
        self.sched = ctx.Process(target=scheduler_main, args=(self.url, there, worker_env), daemon=True)
        self.sched.start()
        self.sched_conn = here
        side_env = {k: v for k, v in self.side_env.items() if k.startswith(("IKUFLOW_", "PYTHON"))}
        self.hurry, self.feed_out = ctx.Event(), ctx.Queue()
        self.feeder = ctx.Process(target=feeder_main, args=(self.side_url, side_env, self.side_items,
                                                            a.minutes * 60 * 0.9, self.hurry, self.feed_out),
                                  daemon=True)
        self.feeder.start()
        self.senders = Senders(a.senders, self.env, a.send_pause)
        self.senders.start()
        self.kill_stop = threading.Event()
        self.killer = threading.Thread(target=killer, args=(self.senders, random.Random(a.seed + 2),
                                                            a.kill_every, self.kill_stop), daemon=True)
        self.killer.start()

        shard = {o["code"]: i % a.workers for i, o in enumerate(self.offs)}
        last = self.plan[-1]["at"]
        end = last.replace(minute=0, second=0, microsecond=0) + timedelta(days=2)
        steps = int((end - self.created) / HOUR) + 1
        self.sim = {"from": self.created, "to": end, "steps": steps}
        pace = a.minutes * 60 / steps
        self.work = {"ok": 0, "conflicts": 0, "errors": [], "cli": 0, "events": Counter(), "seconds": 0.0}
        self.ticks = {"passes": 0, "cli": 0, "documents": 0, "reminders": 0, "escalations": 0, "emails": 0,
                      "errors": [], "seconds": 0.0, "max_seconds": 0.0}
        cli_ticks: list[tuple[str, subprocess.Popen]] = []
        i, T = 0, self.created
        t0 = time.monotonic()
        say(f"season: {len(self.plan)} planned events over {steps} simulated hours, "
            f"{a.workers} workers, {a.senders} sender slots")
        for k in range(steps):
            nxt = T + HOUR
            batch = defaultdict(list)
            while i < len(self.plan) and self.plan[i]["at"] <= nxt:
                e = self.plan[i]
                batch[shard[e["office"]]].append(e)
                i += 1
            for w, (_, conn) in enumerate(self.workers):
                conn.send(batch.get(w, []))
            self.sched_conn.send(T)  # the hour before: its events are done (see the barrier below)
            if k % a.cli_tick_every == a.cli_tick_every - 1:  # a second scheduler, as a process
                cli_ticks.append((iso(T), subprocess.Popen([str(IKUFLOW), "tick", "--at", iso(T), "--json"],
                                                           env=self.env, stdin=subprocess.DEVNULL,
                                                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                                           text=True)))
            for _, conn in self.workers:
                r = conn.recv()
                for key in ("ok", "conflicts", "cli", "seconds"):
                    self.work[key] += r[key]
                self.work["errors"] += r["errors"]
                self.work["events"].update(r["events"])
            r = self.sched_conn.recv()
            self.tally_tick(r, iso(T))
            # an `ikuflow tick --at T` may finish during later steps: their events are after T, and
            # the documents they move get a next action time after T, out of its reach
            cli_ticks = [(at, p) for at, p in cli_ticks if not self.cli_tick_done(at, p, wait=False)]
            T = nxt
            if k % max(1, steps // 10) == 0:
                say(f"  {T:%Y-%m-%d %H:%M} UTC  step {k + 1}/{steps}  events {self.work['ok']}"
                    f"  kills {len(self.senders.kills)}  wall {time.monotonic() - t0:.0f} s")
            ahead = t0 + (k + 1) * pace - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        for at, p in cli_ticks:
            self.cli_tick_done(at, p, wait=True)
        self.sched_conn.send(T)
        self.tally_tick(self.sched_conn.recv(), iso(T))
        self.t["season (simulated weeks)"] = time.monotonic() - t0
        for _, conn in self.workers:
            conn.send(None)
        self.sched_conn.send(None)
        self.hurry.set()  # the feeder finishes its stream now
        self.feed_res = self.feed_out.get(timeout=300)
        for p in [w for w, _ in self.workers] + [self.sched, self.feeder]:
            p.join(30)

    def cli_tick_done(self, at: str, p: subprocess.Popen, wait: bool) -> bool:
        if not wait and p.poll() is None:
            return False
        out, err = p.communicate()
        self.ticks["cli"] += 1
        if p.returncode:
            self.ticks["errors"].append(f"ikuflow tick --at {at}: exit {p.returncode}: {err.strip()[-300:]}")
        else:
            self.tally_tick(json.loads(out), at, count=False)
        return True

    def tally_tick(self, r: dict, at: str, count: bool = True) -> None:
        if r.get("error"):
            self.ticks["errors"].append(f"Service.tick(at={at}): {r['error']}")
            return
        self.ticks["passes"] += count
        for key in ("documents", "reminders", "escalations", "emails"):
            self.ticks[key] += r.get(key, 0)
        if "seconds" in r:
            self.ticks["seconds"] += r["seconds"]
            self.ticks["max_seconds"] = max(self.ticks["max_seconds"], r["seconds"])

    # --- the drain ------------------------------------------------------------------------------
    def undelivered(self, url: str) -> int:
        from ikuflow.store.db import connect

        con = connect(url)
        try:
            return con.execute("SELECT count(*) FROM outbox WHERE status IN ('pending', 'held')").fetchone()[0]
        finally:
            con.close()

    def drain(self) -> None:
        a = self.args
        t0 = time.monotonic()
        self.kill_stop.set()
        self.killer.join()
        self.server.send_signal(signal.SIGUSR1)  # faults off
        end = t0 + a.drain_timeout
        while time.monotonic() < end:
            if self.undelivered(self.url) == 0 and self.undelivered(self.side_url) == 0:
                break
            time.sleep(1)
        self.senders.stop.set()
        self.drained = self.senders.join(60)
        self.t["drain (faults and kills off)"] = time.monotonic() - t0
        self.rss_stop.set()
        self.rss_thread.join()
        self.serve.send_signal(signal.SIGTERM)
        try:
            self.serve.wait(60)
        except subprocess.TimeoutExpired:
            self.serve.kill()
            self.serve.wait()
        self.server.send_signal(signal.SIGTERM)
        self.server.wait(30)

    # --- checks ---------------------------------------------------------------------------------
    def verify(self) -> dict:
        from ikuflow.store.db import connect

        a = self.args
        out: dict = {}
        # documents
        con = connect(self.url)
        states = Counter(dict(con.execute("SELECT state, count(*) FROM document WHERE year = ?"
                                          " GROUP BY state", (a.year,)).fetchall()))
        out["states"] = states
        self.check(states.get("signed", 0) == self.n_docs and sum(states.values()) == self.n_docs,
                   f"every document signed: {states.get('signed', 0):,} of {self.n_docs:,} "
                   f"(states: {dict(states)})")
        docs = {r[0]: r[1:] for r in con.execute("SELECT id, key, state, version, office_code FROM document")}
        hist = defaultdict(list)
        for doc_id, version, at, event, frm, to in con.execute(
                "SELECT document_id, version, at, event, from_state, to_state FROM history ORDER BY id"):
            hist[doc_id].append((version, str(at), event, frm, to))
        bad_hist = []
        allowed = {("create", None, "draft"), ("submit", "draft", "division_review"),
                   ("synchronize", "division_review", "synchronized"), ("approve", "synchronized", "chair_approved"),
                   ("sign", "chair_approved", "signed")} | {("send_back", s, "draft") for s in
                                                            ("division_review", "synchronized", "chair_approved")}
        for doc_id, (key, state, version, _) in docs.items():
            h = hist[doc_id]
            ok = (h and [v for v, *_ in h] == list(range(len(h))) and version == len(h) - 1
                  and h[-1][4] == state and all((e, f, t) in allowed for _, _, e, f, t in h)
                  and all(h[j][3] == h[j - 1][4] for j in range(1, len(h))))
            if not ok:
                bad_hist.append(key)
        self.check(not bad_hist, f"every history a valid path from create to its state, versions 0..n = "
                   f"the version counter ({len(bad_hist)} bad{': ' + ', '.join(bad_hist[:5]) if bad_hist else ''})")
        notify = {"create": 1, "submit": 1, "synchronize": 1, "approve": 2, "sign": 2, "send_back": 1}
        ev_rows = Counter()
        for (cause,) in con.execute("SELECT cause FROM outbox WHERE kind = 'event'"):
            _, doc_id, rest = cause.split(":", 2)
            ev_rows[(int(doc_id), 0 if cause.startswith("create:") else int(rest.split(":", 1)[0]))] += 1
        missing = [(docs[d][0], v, e) for d, h in hist.items() for v, _, e, _, _ in h
                   if ev_rows[(d, v)] != notify[e]]
        self.check(not missing, f"every transition's e-mails in the outbox (create 1, submit 1, synchronize 1, "
                   f"approve 2, sign 2, send_back 1 per document): {len(missing)} wrong"
                   + (f", e.g. {missing[:3]}" if missing else ""))
        # reminders and escalations: for the state the document was in at that tick, none after signing
        office_of = {}
        for o in self.offs:
            for role, email in people_of(o["code"]).items():
                office_of[email] = o["code"]
        kinds = Counter()
        wrong, parent_copies, chair_copies = [], 0, 0
        for kind, cause, recipient, created, status in con.execute(
                "SELECT kind, cause, recipient, created_at, status FROM outbox WHERE kind IN"
                " ('reminder', 'escalation')"):
            kinds[kind] += 1
            _, doc_id, version, _ = cause.split(":", 3)
            doc_id, version, created = int(doc_id), int(version), str(created)
            h = hist[doc_id]
            here = next((x for x in h if x[0] == version), None)
            after = next((x for x in h if x[0] == version + 1), None)
            if here is None or here[1] > created or (after and after[1] <= created) or here[4] == "signed":
                wrong.append(cause)
            if kind == "escalation":
                if office_of.get(recipient) != docs[doc_id][3]:
                    parent_copies += 1
                elif recipient.startswith("ketua@") and h and here and here[4] in ("draft", "division_review"):
                    chair_copies += 1
        out["reminder_rows"], out["parent_copies"], out["chair_copies"] = kinds, parent_copies, chair_copies
        self.check(not wrong, f"every reminder/escalation for the state the document was in at its tick, "
                   f"none after signing ({sum(kinds.values()):,} rows, {len(wrong)} wrong"
                   + (f", e.g. {wrong[:2]}" if wrong else "") + ")")
        # an oracle from the workflow's rules (not from what ikuflow wrote): each reminder and
        # escalation time of each state a document stayed in; the tick at that hour runs alongside
        # the events of the following hour, so an action is required when the document stayed in
        # the state for that whole hour, and allowed when it left within it
        must, may = self.expected_actions(con, docs, hist)
        actual = {}
        for kind, cause in con.execute("SELECT kind, cause FROM outbox WHERE kind IN ('reminder', 'escalation')"):
            k, doc_id, version, rest = cause.split(":", 3)
            at, email = rest.rsplit(":", 1)
            actual[(k, int(doc_id), int(version), at, email)] = cause
        lost = must - set(actual)
        extra = set(actual) - must - may
        out["oracle"] = (len(must), len(may))
        self.check(not lost and not extra,
                   f"reminders and escalations as the workflow file says: {len(must):,} required (the document "
                   f"stayed in the state the whole hour after), {len(may):,} optional (it left within that "
                   f"hour); {len(lost)} required missing, {len(extra)} not allowed"
                   + (f"; missing e.g. {sorted(lost)[:2]}" if lost else "")
                   + (f"; not allowed e.g. {sorted(extra)[:2]}" if extra else ""))
        # digests: every merged row is in exactly one digest that went out, and nothing is both
        in_digest = Counter()
        digest_status = Counter()
        for payload, st_ in con.execute("SELECT payload, status FROM outbox WHERE kind = 'digest'"):
            digest_status[st_] += 1
            in_digest.update(json.loads(payload)["causes"])
        merged = {c for (c,) in con.execute("SELECT cause FROM outbox WHERE status = 'merged'")}
        twice = [c for c, n in in_digest.items() if n > 1]
        orphan = merged - set(in_digest)
        alone = set(in_digest) - merged
        out["digests"] = (sum(digest_status.values()), len(merged))
        self.check(not twice and not orphan and not alone,
                   f"digests: {sum(digest_status.values()):,} digests carry the {len(merged):,} merged reminders: "
                   f"{len(orphan)} merged in no digest, {len(twice)} in two or more, {len(alone)} in a digest "
                   f"but not merged")
        self.check(kinds["escalation"] > 0 and parent_copies > 0 and chair_copies > 0,
                   f"late documents escalated: {kinds['escalation']:,} escalation rows, {chair_copies:,} "
                   f"copies to a chair, {parent_copies:,} to a parent office's secretariat")
        # the outbox of both databases against what the server accepted
        rows = {}
        status = {}
        for tag, url in (("season", self.url), ("serve", self.side_url)):
            c = con if tag == "season" else connect(url)
            st = Counter()
            for mid, s, kind, attempts, rid in c.execute("SELECT message_id, status, kind, attempts, id FROM outbox"):
                rows[mid] = (tag, s, kind, attempts, rid)
                st[s] += 1
            status[tag] = st
            out.setdefault("attempts", Counter()).update(
                a_ for m_, (t_, s_, k_, a_, _) in rows.items() if t_ == tag and s_ == "sent")
            if c is not con:
                c.close()
        con.close()
        out["status"] = status
        for tag, st in status.items():
            bad = {k: v for k, v in st.items() if k not in ("sent", "merged")}
            self.check(not bad, f"{tag} database: nothing left undelivered or dead: {dict(st)}")
        accepted = []
        for line in self.accepted_log.read_text(encoding="utf-8").splitlines():
            t, mid, login, rcpt, subj = line.split("\t")
            accepted.append((float(t), mid, login, rcpt, subj))
        out["accepted"] = accepted
        got = Counter(m for _, m, *_ in accepted)
        sent = {m for m, r in rows.items() if r[1] == "sent"}
        never = sent - set(got)
        unknown = set(got) - set(rows)
        not_sent = {m for m in got if m in rows and rows[m][1] != "sent"}
        self.check(not never, f"every 'sent' row accepted by the server: {len(sent) - len(never):,} of "
                   f"{len(sent):,}" + (f"; never accepted e.g. {sorted(never)[:3]}" if never else ""))
        self.check(not unknown and not not_sent,
                   f"the server accepted only 'sent' rows: {len(unknown)} unknown Message-IDs, "
                   f"{len(not_sent)} of rows not 'sent'" + (f" e.g. {[rows[m] for m in list(not_sent)[:3]]}"
                                                          if not_sent else ""))
        # duplicates: each copy but the last must come from a sender killed after it was accepted
        killed = {k["sid"]: k["at"] for k in self.senders.kills
                  if any(d["sid"] == k["sid"] and d["rc"] == -signal.SIGKILL for d in self.senders.done)}
        copies = defaultdict(list)
        for t, mid, login, rcpt, subj in accepted:
            copies[mid].append((t, login, rcpt, subj))
        (self.tmp / "senders.json").write_text(json.dumps(
            {"kills": self.senders.kills, "runs": [{k: v for k, v in d.items() if k != "stderr"}
                                                   for d in self.senders.done]}, indent=1))
        # each process's "outbox ID to ...: ERROR (will retry)" lines: {(login, row id): [(time, error)]}
        retried = defaultdict(list)
        outputs = [(d["sid"], d["stderr"]) for d in self.senders.done]
        outputs.append(("serve", self.serve_err.read_text()))
        for login, text in outputs:
            for m in RETRY_LINE.finditer(text):
                retried[(login, int(m["id"]))].append((float(m["t"]), m["error"]))
        row_id = {mid: (tag, rid) for mid, (tag, _, _, _, rid) in rows.items()}
        dups, unexplained, late, differing, by_kill, in_flight = 0, [], [], [], Counter(), 0
        for mid, cs in copies.items():
            if len(cs) < 2:
                continue
            cs.sort()
            dups += len(cs) - 1
            if len({(r, s) for _, _, r, s in cs}) != 1:
                differing.append(mid)
            tag, rid = row_id.get(mid, ("?", -1))
            for t, login, _, _ in cs[:-1]:
                # the process that got this copy accepted recorded the attempt as failed: the
                # server's 250 came after the sender had given up on it (its time limit)
                failed = [(r, e) for r, e in retried.get((login, rid), ()) if t <= r <= t + a.lease + 5]
                if failed:
                    late.append((mid, login, tag, round(failed[0][0] - t, 3), failed[0][1]))
                # accepted before the kill, or committed by the server just after it: the message
                # was in flight (DATA sent, reply not read) when the sender died
                elif login in killed and t <= killed[login] + KILL_GRACE:
                    by_kill[login] += 1
                    in_flight += t > killed[login]
                else:
                    unexplained.append((mid, login, tag, round(t - killed.get(login, t), 3)))
        out.update(in_flight=in_flight, dups=dups, dup_messages=sum(1 for cs in copies.values() if len(cs) > 1),
                   max_copies=max((len(cs) for cs in copies.values()), default=0), by_kill=by_kill,
                   kills=len(self.senders.kills), killed_confirmed=len(killed))
        out["late"] = late
        self.check(not unexplained and not late,
                   f"delivered exactly once, except after a kill: {dups} duplicate(s) of "
                   f"{out['dup_messages']} message(s) over {len(killed)} SIGKILL(s); "
                   f"{sum(by_kill.values())} after {len(by_kill)} kill(s) (documented); {len(late)} because "
                   f"the server's reply came after the sender gave up (no crash; not documented); "
                   f"{len(unexplained)} with no explanation"
                   + (f"; late e.g. {late[:2]}" if late else "")
                   + (f"; unexplained e.g. {unexplained[:3]}" if unexplained else ""))
        per_kill = sorted(by_kill.values())
        out["per_kill"] = per_kill
        self.check(not differing, f"a duplicate is the same message (recipient, subject): {len(differing)} differ")
        faults = json.loads(self.server_stats.read_text())["counts"] if self.server_stats.exists() else {}
        injected = {k: faults.get(k, 0) for k in ("rcpt_421", "rcpt_451", "data_451", "data_drop", "data_stall")}
        self.check(sum(injected.values()) > 0 and len(killed) > 0,
                   f"the faults and kills happened: {sum(injected.values()):,} failed SMTP commands "
                   f"({sum(1 for v in injected.values() if v)} of {len(injected)} kinds), {len(killed)} SIGKILLs")
        # processes
        odd = [d for d in self.senders.done if d["rc"] not in (0, -signal.SIGKILL)]
        tb = [d for d in self.senders.done if "Traceback" in d["stderr"]]
        out["sender_runs"] = self.senders.done
        self.check(not odd and not tb, f"sender processes ended only by exit 0 or our SIGKILL, no traceback: "
                   f"{len(self.senders.done)} runs, exit codes {dict(Counter(d['rc'] for d in self.senders.done))}"
                   + (f"; e.g. {[(d['rc'], (d['stderr'] or d['stdout']).strip()[-300:]) for d in (odd or tb)[:2]]}"
                      if odd or tb else ""))
        # a sender says one line per failed attempt; anything else on its stderr is news
        expected = re.compile(r"^\d+\.\d+ ikuflow\.sender outbox \d+ to \S+: .* \((will retry|dead)\)$")
        other = [(d["sid"], line) for d in self.senders.done if d["rc"] == 0
                 for line in d["stderr"].splitlines() if line.strip() and not expected.match(line)]
        out["sender_lines"] = sum(len(d["stderr"].splitlines()) for d in self.senders.done)
        self.check(not other, f"the senders' stderr holds only their one-line retry notices: "
                   f"{out['sender_lines']:,} lines, {len(other)} other" + (f", e.g. {other[:3]}" if other else ""))
        serve_text = self.serve_out.read_text() + self.serve_err.read_text()
        leaks = [d["sid"] for d in self.senders.done if PASSWORD in d["stderr"] + d["stdout"]]
        self.check(not leaks and PASSWORD not in serve_text,
                   "the SMTP password never printed (every sender's and serve's output)")
        self.check(self.serve.returncode == 0 and "Traceback" not in serve_text,
                   f"serve ran the whole soak and stopped cleanly on SIGTERM (exit {self.serve.returncode}): "
                   + (serve_text.strip().splitlines() or ["(no output)"])[-1][:200])
        self.check(self.drained, "the senders drained and stopped within the drain timeout")
        self.check(not self.work["errors"] and not self.ticks["errors"],
                   f"every planned event and every scheduler pass went through: {self.work['ok']:,} events "
                   f"({self.work['conflicts']} conflict retries), {self.ticks['passes'] + self.ticks['cli']:,} "
                   f"passes; {len(self.work['errors']) + len(self.ticks['errors'])} errors"
                   + (f", e.g. {(self.work['errors'] + self.ticks['errors'])[:2]}"
                      if self.work["errors"] or self.ticks["errors"] else ""))
        side = connect(self.side_url)
        side_states = Counter(dict(side.execute("SELECT state, count(*) FROM document GROUP BY state").fetchall()))
        side.close()
        self.check(not self.feed_res["errors"] and side_states.get("signed", 0) == self.side_docs,
                   f"serve's database: {side_states.get('signed', 0)} of {self.side_docs} documents signed on "
                   f"the real clock, {len(self.feed_res['errors'])} errors"
                   + (f" e.g. {self.feed_res['errors'][:2]}" if self.feed_res["errors"] else ""))
        # memory
        out["rss"] = self.rss_summary()
        r = out["rss"]
        self.check(r["ok"], f"serve's memory flat after warm-up: growth {r['growth_mb']:+.2f} MB fitted over "
                   f"{r['window_min']:.1f} min ({r['slope']:+.2f} MB/min), last - start {r['delta_mb']:+.2f} MB; "
                   f"limit {a.rss_limit:g} MB")
        return out

    def expected_actions(self, con, docs: dict, hist: dict) -> tuple[set, set]:
        from ikuflow.app.service import Service
        from ikuflow.store.db import fmt_ts

        svc = Service(self.url)
        wf = svc.engine("iku", svc.latest_version("iku")).workflow
        svc.close()
        division_of = dict(con.execute("SELECT id, division_code FROM document").fetchall())
        end = self.sim["to"]
        must, may = set(), set()
        for doc_id, h in hist.items():
            _, _, _, office = docs[doc_id]
            div, tz, parent = division_of[doc_id], self.tz[office], self.parent[office]
            who = people_of(office)
            for j, (version, enter, _, _, state) in enumerate(h):
                st = wf.states[state]
                if state in wf.final or st.due is None:
                    continue
                enter = datetime.fromisoformat(enter)
                leave = datetime.fromisoformat(h[j + 1][1]) if j + 1 < len(h) else end + HOUR
                due = self.dues[(tz, state)]
                times = [(due - b, "reminder") for b in st.reminders]
                if st.escalation is not None:
                    a = due
                    while a <= end:
                        times.append((a, "escalation"))
                        a += st.escalation.every
                for a, kind in times:
                    if a <= enter or a >= leave or a > end:
                        continue
                    roles = list(st.must_act)
                    told = []
                    if kind == "escalation":
                        esc = st.escalation
                        roles += [r for r in esc.copy if r not in roles]
                        if esc.chair_after is not None and a - due >= esc.chair_after and "chair" not in roles:
                            roles.append("chair")
                        if esc.parent_after is not None and a - due >= esc.parent_after and parent:
                            told.append(people_of(parent)["secretariat"])
                    told += [who[div] if r == "coordinator" else who[r] for r in roles]
                    target = must if leave > a + HOUR else may
                    for email in set(told):
                        target.add((kind, doc_id, version, fmt_ts(a), email))
        return must, may

    def rss_summary(self) -> dict:
        a = self.args
        s = self.rss
        if len(s) < 4:
            return {"ok": False, "growth_mb": float("nan"), "window_min": 0, "slope": float("nan"),
                    "delta_mb": float("nan"), "n": len(s)}
        total = s[-1][0]
        warm = max(a.rss_warmup, 0.25 * total)
        tail = [(t, kb) for t, kb in s if t >= warm] or s[-2:]
        n = len(tail)
        mt = sum(t for t, _ in tail) / n
        mk = sum(kb for _, kb in tail) / n
        var = sum((t - mt) ** 2 for t, _ in tail) or 1.0
        slope = sum((t - mt) * (kb - mk) for t, kb in tail) / var  # kB per second
        window = tail[-1][0] - tail[0][0]
        growth = slope * window / 1024
        delta = (tail[-1][1] - tail[0][1]) / 1024
        return {"ok": growth < a.rss_limit and delta < a.rss_limit, "n": len(s), "first": s[0][1],
                "last": s[-1][1], "max": max(kb for _, kb in s), "warm_at": tail[0][0], "warm_kb": tail[0][1],
                "slope": slope * 60 / 1024, "growth_mb": growth, "delta_mb": delta, "window_min": window / 60,
                "total_s": total}

    # --- the report -----------------------------------------------------------------------------
    def report(self, out: dict, env_at_start: str, started: datetime) -> str:
        a = self.args
        fault_stats = json.loads(self.server_stats.read_text()) if self.server_stats.exists() else {"counts": {}}
        fc = fault_stats["counts"]
        faults = {k: fc.get(k, 0) for k in ("rcpt_421", "rcpt_451", "rcpt_slow", "data_451", "data_drop",
                                             "data_slow", "data_stall")}
        runs = out["sender_runs"]
        sums = Counter()
        for d in runs:
            if d["stats"]:
                sums.update({k: d["stats"][k] for k in ("sent", "retried", "dead", "claimed")})
        acc_by = Counter("serve" if login == "serve" else "senders" for _, _, login, _, _ in out["accepted"])
        L = []
        L.append(f"# ikuflow soak: a season of {self.n_docs:,} documents, faulty SMTP, senders killed at random")
        L.append("")
        L.append(f"- {env_at_start}")
        L.append(f"- command: `{' '.join(['.venv/bin/python bench/soak.py'] + sys.argv[1:])}`;"
                 f" started {started:%Y-%m-%d %H:%M} UTC, total wall {sum(self.t.values()):.0f} s")
        L.append(f"- database: {'SQLite file in a temporary folder' if not a.database_url else 'PostgreSQL (--database-url)'};"
                 f" serve's side database: SQLite")
        L.append("")
        L.append("## Settings")
        L.append("")
        L.append("| setting | value |")
        L.append("|---|---|")
        rows = [
            ("documents", f"{self.n_docs:,} ({len(self.offs)} offices x {len(DIVISIONS)} divisions; "
                          f"{self.new_many_created:,} by Service.new_many, {self.n_docs - self.new_many_created} "
                          f"late by `ikuflow new` in {len(self.late_offices)} office(s))"),
            ("season", f"year {a.year}, signing date {self.signing}, simulated {self.sim['from']:%Y-%m-%d %H:%M} .. "
                       f"{self.sim['to']:%Y-%m-%d %H:%M} UTC, {self.sim['steps']} one-hour steps paced over "
                       f"--minutes {a.minutes:g}"),
            ("plans", ", ".join(f"{k} {v:,}" for k, v in self.profiles.most_common())),
            ("workers", f"{a.workers} processes (Service.advance), {a.cli_events} events via `ikuflow advance`"),
            ("scheduler", f"Service.tick(at=T) in a process each step; `ikuflow tick --at T` alongside every "
                          f"{a.cli_tick_every} steps"),
            ("senders", f"{a.senders} slots of `ikuflow outbox send` in a loop (pause {a.send_pause:g} s), "
                        f"SIGKILL every {a.kill_every:g} s on average"),
            ("SMTP env", f"IKUFLOW_SMTP_LEASE={a.lease:g} RETRY_BASE={a.retry_base:g} RETRY_MAX={a.retry_max:g} "
                         f"TIMEOUT={a.smtp_timeout:g} (MAX_ATTEMPTS default 8, CONNECTIONS default 8)"),
            ("faults", ", ".join(f"{k} {v:.3f}" for k, v in fault_stats.get("rates", {}).items())
             + " (probability per RCPT / DATA)"),
            ("serve", f"`ikuflow serve --interval 1` on a side database, {self.side_docs} documents walked on "
                      f"the real clock by a feeder; RSS every {a.rss_every:g} s"),
            ("seed", str(a.seed)),
        ]
        L += [f"| {k} | {v} |" for k, v in rows]
        L.append("")
        L.append("## Durations")
        L.append("")
        L.append("| phase | seconds |")
        L.append("|---|---|")
        L += [f"| {k} | {v:.1f} |" for k, v in self.t.items()]
        L.append("")
        L.append("## Counts")
        L.append("")
        L.append("| what | count |")
        L.append("|---|---|")
        ev = self.work["events"]
        st = out["status"]
        counts = [
            ("events fired (workers)", f"{self.work['ok']:,}: " + ", ".join(f"{k} {v:,}" for k, v in ev.most_common())
             + f"; {self.work['cli']} through the CLI; {self.work['conflicts']} conflict retries;"
               f" {self.work['seconds']:.0f} s of worker time"),
            ("scheduler passes", f"{self.ticks['passes']:,} Service.tick + {self.ticks['cli']} `ikuflow tick`: "
                                 f"{self.ticks['documents']:,} documents due, {self.ticks['reminders']:,} reminders, "
                                 f"{self.ticks['escalations']:,} escalations, {self.ticks['emails']:,} e-mails queued; "
                                 f"slowest pass {self.ticks['max_seconds']:.2f} s"),
            ("reminder/escalation rows", f"{out['reminder_rows']['reminder']:,} reminders, "
                                         f"{out['reminder_rows']['escalation']:,} escalations "
                                         f"({out['chair_copies']:,} copies to a chair, {out['parent_copies']:,} to a "
                                         f"parent office)"),
            ("outbox, season database", ", ".join(f"{k} {v:,}" for k, v in sorted(st["season"].items()))),
            ("outbox, serve's database", ", ".join(f"{k} {v:,}" for k, v in sorted(st["serve"].items()))),
            ("oracle", f"{out['oracle'][0]:,} reminders/escalations required by the workflow's rules, "
                       f"{out['oracle'][1]:,} optional; {out['digests'][0]:,} digests carrying "
                       f"{out['digests'][1]:,} merged reminders"),
            ("accepted by the server", f"{len(out['accepted']):,} ({acc_by['senders']:,} from the killed-and-"
                                       f"restarted senders, {acc_by['serve']:,} from serve)"),
            ("sender processes", f"{len(runs):,} runs; exit codes {dict(Counter(d['rc'] for d in runs))}; "
                                 f"clean runs reported sent {sums['sent']:,}, retried {sums['retried']:,}, "
                                 f"dead {sums['dead']}"),
            ("attempts of sent rows", ", ".join(f"{k}: {v:,}" for k, v in sorted(out["attempts"].items()))),
            ("kills (SIGKILL)", f"{out['kills']} sent, {out['killed_confirmed']} confirmed by the exit status; "
                                f"{len(out['by_kill'])} of them left duplicates"
                                + (f" (per such kill: median {out['per_kill'][len(out['per_kill']) // 2]}, "
                                   f"max {out['per_kill'][-1]})" if out["per_kill"] else "")),
            ("duplicates after a late reply", f"{len(out['late'])}" + (": " if out["late"] else "")
             + "; ".join(f"{who} row of {tag}: recorded '{err}' {dt:.3f} s after the server accepted it"
                         for _, who, tag, dt, err in out["late"][:4])
             + (" ..." if len(out["late"]) > 4 else "")),
            ("duplicates at the server", f"{out['dups']} extra copies of {out['dup_messages']} message(s), "
                                         f"at most {out['max_copies']} copies of one; {out['in_flight']} of the "
                                         f"copies before a resend were committed by the server within "
                                         f"{KILL_GRACE:g} s after the kill (in flight when the sender died)"),
            ("faults injected", ", ".join(f"{k} {v:,}" for k, v in faults.items())
             + f"; {fc.get('logins', 0):,} SMTP logins"),
            ("serve's feeder", f"{self.feed_res['ok']:,} events on the real clock"),
        ]
        L += [f"| {k} | {v} |" for k, v in counts]
        r = out["rss"]
        L.append("")
        L.append("## Memory of `ikuflow serve --interval 1`")
        L.append("")
        if r["n"] >= 4:
            L.append(f"{r['n']} samples of VmRSS over {r['total_s']:.0f} s: first {r['first'] / 1024:.1f} MB, "
                     f"last {r['last'] / 1024:.1f} MB, max {r['max'] / 1024:.1f} MB. After warm-up "
                     f"(from {r['warm_at']:.0f} s, {r['warm_kb'] / 1024:.1f} MB): least-squares slope "
                     f"{r['slope']:+.3f} MB/min, fitted growth {r['growth_mb']:+.2f} MB over "
                     f"{r['window_min']:.1f} min, last - start {r['delta_mb']:+.2f} MB.")
            step = max(1, len(self.rss) // 12)
            L.append("")
            L.append("| s | " + " | ".join(f"{t:.0f}" for t, _ in self.rss[::step]) + " |")
            L.append("|---|" + "---|" * len(self.rss[::step]))
            L.append("| MB | " + " | ".join(f"{kb / 1024:.1f}" for _, kb in self.rss[::step]) + " |")
        else:
            L.append("too few samples")
        L.append("")
        L.append("## Verdict")
        L.append("")
        L += self.lines
        L.append("")
        L.append(f"**{'PASS' if not self.fails else 'FAIL'}** ({len(self.lines) - len(self.fails)} of "
                 f"{len(self.lines)} checks passed)")
        return "\n".join(L) + "\n"

    def cleanup(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
        if getattr(self, "senders", None):
            self.senders.stop.set()
            with self.senders.lock:
                for _, p in self.senders.running.values():
                    if p.poll() is None:
                        p.kill()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--documents", type=int, default=3000, help="documents in the season (default 3000)")
    ap.add_argument("--minutes", type=float, default=3.0,
                    help="wall minutes the simulated season is spread over (set-up and drain come on top)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--markdown", metavar="FILE", help="also write the report to FILE")
    ap.add_argument("--database-url", help="the season's database (fresh PostgreSQL); default a temporary SQLite file")
    ap.add_argument("--year", type=int, help="the season's year (default: the last January already past)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--senders", type=int, default=2, help="sender slots running at once")
    ap.add_argument("--kill-every", type=float, default=4.0, help="mean seconds between SIGKILLs")
    ap.add_argument("--send-pause", type=float, default=0.3, help="seconds between sender runs in a slot")
    ap.add_argument("--cli-events", type=int, default=30, help="events fired through `ikuflow advance`")
    ap.add_argument("--cli-tick-every", type=int, default=24, help="an `ikuflow tick` process every N steps")
    ap.add_argument("--serve-documents", type=int, help="documents of serve's side database (default documents/10)")
    ap.add_argument("--lease", type=float, default=10.0)
    ap.add_argument("--retry-base", type=float, default=0.5)
    ap.add_argument("--retry-max", type=float, default=4.0)
    ap.add_argument("--smtp-timeout", type=float, default=3.0)
    ap.add_argument("--fault-scale", type=float, default=1.0, help="multiply every fault rate of soak_smtp.py")
    ap.add_argument("--rate", action="append", default=[], metavar="KIND=P",
                    help="set one fault's rate, e.g. data_stall=0.05 (see bench/soak_smtp.py)")
    ap.add_argument("--drain-timeout", type=float, default=240.0)
    ap.add_argument("--rss-every", type=float, default=2.0)
    ap.add_argument("--rss-warmup", type=float, default=30.0, help="seconds (or the first quarter, if longer)")
    ap.add_argument("--rss-limit", type=float, default=5.0, help="MB of growth after warm-up that still counts as flat")
    ap.add_argument("--nice", type=int, default=5, help="lower this run's CPU priority (shared machine)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args()
    today = date.today()
    args.year = args.year or (today.year if today >= date(today.year, 3, 1) else today.year - 1)
    args.serve_documents = args.serve_documents or max(25, args.documents // 10)
    if args.nice:
        os.nice(args.nice)
    started = datetime.now(timezone.utc)
    env_at_start = env_line()
    soak = Soak(args)
    say(f"soak in {soak.tmp}: {args.documents} documents, season {args.year}, {args.minutes:g} min")
    try:
        soak.start_server()
        soak.create_season()
        soak.create_side()
        soak.start_serve()
        soak.season()
        say("season done; draining")
        soak.drain()
        out = soak.verify()
        text = soak.report(out, env_at_start, started)
    except BaseException:
        soak.cleanup()
        say(f"aborted; the temporary folder is kept: {soak.tmp}")
        raise
    soak.cleanup()
    say()
    say(text)
    if args.markdown:
        Path(args.markdown).write_text(text, encoding="utf-8")
    if soak.fails or args.keep:
        say(f"kept {soak.tmp}")
    else:
        shutil.rmtree(soak.tmp, ignore_errors=True)
    return 1 if soak.fails else 0


if __name__ == "__main__":
    sys.exit(main())
