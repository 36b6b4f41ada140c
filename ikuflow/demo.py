"""The README's demo: one real document from draft to signed, as CLI commands.

Each step is printed as the command a user would type and run through the same Typer app
in this process, against a fresh SQLite database. The CLI hands :func:`run` its way to run a
command (``call``), so this module imports nothing of the CLI: the CLI depends on the demo,
never the other way round.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import Callable

#: runs one command line (the arguments after ``ikuflow``) in this process; returns its exit code
Call = Callable[[list], int]
#: where the demo's e-mails link to: ``ikuflow web`` on its default port
WEB = "http://127.0.0.1:8000"

SIGNING = "2026-01-28"
COORD, SECR, CHAIR = "sri.wahyuni@pacitan.bawaslu.go.id", "budi.santoso@pacitan.bawaslu.go.id", \
    "ahmad.fauzi@pacitan.bawaslu.go.id"
COORD_HUKUM = "dewi.lestari@pacitan.bawaslu.go.id"
COORD_PENANGANAN = "eko.prasetyo@pacitan.bawaslu.go.id"
COORD_PENCEGAHAN = "wulan.sari@pacitan.bawaslu.go.id"

SETUP = [
    ["init"],
    ["office", "add", "ri", "--name", "Bawaslu Republik Indonesia", "--tz", "Asia/Jakarta"],
    ["office", "add", "jawa-timur", "--name", "Bawaslu Provinsi Jawa Timur", "--parent", "ri"],
    ["office", "add", "pacitan", "--name", "Bawaslu Kabupaten Pacitan", "--parent", "jawa-timur"],
    ["person", "add", COORD, "--name", "Sri Wahyuni", "--role", "coordinator", "--office", "pacitan",
     "--division", "sdmo"],
    ["person", "add", COORD_HUKUM, "--name", "Dewi Lestari", "--role", "coordinator",
     "--office", "pacitan", "--division", "hukum"],
    ["person", "add", COORD_PENANGANAN, "--name", "Eko Prasetyo", "--role", "coordinator",
     "--office", "pacitan", "--division", "penanganan"],
    ["person", "add", COORD_PENCEGAHAN, "--name", "Wulan Sari", "--role", "coordinator",
     "--office", "pacitan", "--division", "pencegahan"],
    ["person", "add", SECR, "--name", "Budi Santoso", "--role", "secretariat", "--office", "pacitan"],
    ["person", "add", CHAIR, "--name", "Ahmad Fauzi", "--role", "chair", "--office", "pacitan"],
]
KEY = "pacitan-sdmo-2026"
#: the document's file, written by the demo (a one-page PDF), and the signed copy it downloads
PDF, SIGNED = "IKU-SDMO-Pacitan-2026.pdf", "IKU-SDMO-Pacitan-2026-ditandatangani.pdf"
RECORD = "lembar-pengesahan.html"
WALK = [
    ["new", "--office", "pacitan", "--division", "sdmo", "--year", "2026", "--signing-date", SIGNING,
     "--as", COORD, "--at", "2026-01-12T09:00+07:00"],
    ["attach", KEY, PDF, "--as", COORD, "--at", "2026-01-19T09:30+07:00"],
    ["advance", KEY, "submit", "--as", COORD, "--at", "2026-01-19T10:00+07:00"],
    ["status", KEY, "--at", "2026-01-20T08:00+07:00"],
    ["advance", KEY, "synchronize", "--as", SECR, "--at", "2026-01-21T14:00+07:00"],
    ["advance", KEY, "approve", "--as", CHAIR, "--at", "2026-01-26T11:00+07:00"],
    ["advance", KEY, "sign", "--as", CHAIR, "--at", "2026-01-28T10:00+07:00"],
    ["status", KEY, "--at", "2026-01-28T10:05+07:00"],
    ["history", KEY],
]
#: the evidence: the signing record, the signed file back, who signed exactly these bytes, and
#: the check of every history chain
EVIDENCE = [
    ["record", KEY, "--html", RECORD],
    ["download", KEY, "-o", SIGNED],
    ["verify", SIGNED],
    ["audit", "verify"],
]
REFUSALS = [
    ["new", "--office", "pacitan", "--division", "hukum", "--year", "2026", "--signing-date", SIGNING,
     "--as", COORD_HUKUM, "--at", "2026-01-12T09:00+07:00"],
    ["advance", "pacitan-hukum-2026", "submit", "--as", COORD, "--at", "2026-01-19T10:00+07:00"],
    ["advance", "pacitan-hukum-2026", "sign", "--as", CHAIR, "--at", "2026-01-19T10:00+07:00"],
    ["advance", "pacitan-hukum-2026", "submit", "--as", COORD_HUKUM, "--at", "2026-01-19T11:00+07:00"],
    ["advance", "pacitan-hukum-2026", "send_back", "--as", SECR, "--at", "2026-01-20T09:00+07:00"],
    ["advance", "pacitan-hukum-2026", "send_back", "--as", SECR, "--at", "2026-01-20T09:05+07:00",
     "--comment", "Indikator 2.3 belum sesuai Renstra; mohon diperbaiki."],
    ["list", "--office", "pacitan", "--at", "2026-01-23T09:00+07:00"],
]
DEADLINES = [
    ["new", "--office", "pacitan", "--division", "penanganan", "--year", "2026", "--signing-date",
     SIGNING, "--as", COORD_PENANGANAN, "--at", "2026-01-12T09:00+07:00"],
    ["new", "--office", "pacitan", "--division", "pencegahan", "--year", "2026", "--signing-date",
     SIGNING, "--as", COORD_PENCEGAHAN, "--at", "2026-01-12T09:00+07:00"],
    ["advance", "pacitan-pencegahan-2026", "submit", "--as", COORD_PENCEGAHAN,
     "--at", "2026-01-20T15:00+07:00"],
    ["status", "pacitan-pencegahan-2026", "--at", "2026-01-22T09:00+07:00"],
    ["tick", "--at", "2026-01-19T17:00+07:00"],
    ["tick", "--at", "2026-01-27T10:00+07:00"],
    ["overdue", "--at", "2026-01-27T10:00+07:00"],
]


def _run(call: Call, args: list[str]) -> int:
    print(f"\n$ ikuflow {shlex.join(args)}", flush=True)
    code = call(args) or 0
    sys.stderr.flush()
    if code:
        print(f"[exit {code}]", flush=True)
    return code


def run(call: Call, directory: str = "demo") -> None:
    """The demo in ``directory`` (recreated), each command run through ``call``."""
    folder = Path(directory)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    url = f"sqlite:///{folder / 'ikuflow.db'}"
    os.environ["IKUFLOW_DATABASE_URL"] = url
    from ikuflow.notify.sink import Sink, text_of

    sink = Sink(folder / "mail").start()  # a local SMTP server that keeps what it receives
    os.environ.update({"IKUFLOW_SMTP_HOST": sink.host, "IKUFLOW_SMTP_PORT": str(sink.port),
                       "IKUFLOW_SMTP_TLS": "off", "IKUFLOW_MAIL_FROM": "ikuflow@pacitan.bawaslu.go.id",
                       "IKUFLOW_BASE_URL": WEB})
    print(f"ikuflow demo: a fresh database at {folder / 'ikuflow.db'}, "
          f"a local SMTP sink on {sink.host}:{sink.port} keeping mail in {folder / 'mail'}")
    print("\n== 1. Set up: the database, three offices and the Pacitan office's people")
    for args in SETUP:
        if _run(call, args):
            raise SystemExit(1)
    print(f"\n== 2. Walk {KEY} from draft to signed (signing date {SIGNING}), its file attached in draft")
    (folder / PDF).write_bytes(sample_pdf("IKU SDMO Bawaslu Kabupaten Pacitan 2026"))
    for args in WALK:
        if _run(call, _beside(folder, args)):
            raise SystemExit(1)
    print("\n== 2b. Evidence: exactly which content was approved and signed, and by whom")
    for args in EVIDENCE:
        if _run(call, _beside(folder, args)):
            raise SystemExit(1)
    print("\n== 3. What ikuflow refuses, and a document sent back with its reason")
    expected = [0, 5, 4, 0, 4, 0, 0]
    for args, want in zip(REFUSALS, expected):
        got = _run(call, args)
        if got != want:
            raise SystemExit(f"demo: expected exit {want}, got {got}")
    print("\n== 4. Deadlines: reminders before the due time, escalations after it, what is overdue")
    for args in DEADLINES:
        if _run(call, args):
            raise SystemExit(1)
    print("\n== 5. E-mail: every step above wrote its e-mails into the outbox; deliver them")
    for args in (["outbox", "send"], ["outbox", "list", "--status", "dead"]):
        if _run(call, args):
            raise SystemExit(1)
    received = list(sink.messages)
    print(f"\nThe SMTP sink received {len(received)} e-mail(s) (saved as .eml in {folder / 'mail'}):")
    for m in received:
        print(f"  {m['To']:<40} {m['Subject']}")
    sent_back = next((m for m in received if "dikembalikan" in m["Subject"]), None)
    if sent_back is not None:
        print(f"\nOne of them, as its reader sees it:\n\nTo: {sent_back['To']}\n"
              f"Subject: {sent_back['Subject']}\n\n{text_of(sent_back)}")
    links = _sign_in_links(call, sink, len(received))
    sink.stop()
    print(f"\nDone. Explore it yourself:\n  export IKUFLOW_DATABASE_URL={url}\n"
          f"  ikuflow history {KEY}\n  ikuflow overdue --at 2026-01-27T10:00+07:00\n"
          "  ikuflow list --json\n  ikuflow workflow show")
    print(f"\n== 6. The web: every person acts as themselves\n"
          f"Start the web on the demo's database (its secret key is {folder / 'ikuflow.db.key'}):\n"
          f"  IKUFLOW_DATABASE_URL={url} IKUFLOW_BASE_URL={WEB} ikuflow web\n"
          "then open these sign-in links, one after the other, in a browser (each works once, within "
          "15 minutes;\nrun 'ikuflow demo' again for new ones):")
    for who, role, link in links:
        print(f"  {who} ({role}): {link}")
    print(f"and take {DRAFT} from draft to signed by clicks: the coordinator submits, the secretariat "
          "synchronizes,\nthe chair approves and signs. 'ikuflow history' then names each of them, via web.")


def _beside(folder: Path, args: list[str]) -> list[str]:
    """``args`` with the demo's file names as paths in its folder, beside its database."""
    return [str(folder / a) if a in (PDF, SIGNED, RECORD) else a for a in args]


def sample_pdf(text: str) -> bytes:
    """A one-page PDF showing ``text`` (ASCII), with a correct cross-reference table."""
    stream = f"BT /F1 18 Tf 72 760 Td ({text}) Tj ET".encode("ascii")
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
               b" /Resources << /Font << /F1 5 0 R >> >> >>",
               b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (i, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


#: the demo's document left in draft, for the walk through the web
DRAFT = "pacitan-penanganan-2026"


def _sign_in_links(call: Call, sink, seen: int) -> list[tuple[str, str, str]]:
    """Ask for a sign-in link for the coordinator, the secretariat and the chair of the draft
    left for the web, deliver them through the outbox to the sink, and read them back."""
    from ikuflow.app.access import request_sign_in
    from ikuflow.app.service import Service

    people = [(COORD_PENANGANAN, "coordinator"), (SECR, "secretariat"), (CHAIR, "chair")]
    svc = Service()
    try:
        for email, _ in people:
            request_sign_in(svc, email, "demo", WEB)
    finally:
        svc.close()
    if _run(call, ["outbox", "send"]):
        raise SystemExit(1)
    from ikuflow.notify.sink import text_of

    found: dict[str, str] = {}
    for m in sink.messages[seen:]:
        for word in text_of(m).split():
            if word.startswith(f"{WEB}/signin/"):
                found.setdefault(m["To"], word)
    return [(email, role, found[email]) for email, role in people if email in found]
