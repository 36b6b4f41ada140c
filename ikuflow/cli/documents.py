"""Document commands: ``new``, ``advance``, ``status``, ``list``, ``history``, ``demo``.

With ``IKUFLOW_SERVER`` set, ``status``, ``list``, ``history``, ``overdue``, ``report`` and
``advance`` get their data from the JSON API (:mod:`ikuflow.cli.remote`) instead of the use
cases; either way the same code prints it.
"""

from __future__ import annotations

from typing import List

import typer

from ikuflow.cli import remote
from ikuflow.cli.common import (INT_MAX, JSON_OPT, YEAR_MAX, YEAR_MIN, actor_of, as_option, at_option, clock,
                                emit_json, say, table)


EXAMPLES = {
    "new": "Example: ikuflow new --office pacitan --division sdmo --year 2026 --signing-date 2026-01-28 "
           "--as sri@pacitan.example.id",
    "advance": "Examples: ikuflow advance pacitan-sdmo-2026 submit --as sri@pacitan.example.id; "
               "ikuflow advance pacitan-sdmo-2026 send_back --as budi@pacitan.example.id "
               "-m \"Indikator 2.3 belum sesuai Renstra\"",
    "status": "Example: ikuflow status pacitan-sdmo-2026 --json",
    "list": "Example: ikuflow list --office pacitan --state draft --overdue",
    "history": "Example: ikuflow history pacitan-sdmo-2026 --json",
    "overdue": "Example: ikuflow overdue --office jawa-timur --at 2026-01-27T10:00+07:00",
    "tick": "For cron, e.g. every 10 minutes: ikuflow tick && ikuflow outbox send",
    "serve": "Example: IKUFLOW_SMTP_HOST=mail.example.id ikuflow serve --interval 60",
    "report": "Examples: ikuflow report --office jawa-timur; ikuflow report --html progress.html",
}


def register(app: typer.Typer) -> None:
    """Add the document commands to ``app``."""
    for fn in (new, advance, status, list_, history, overdue, tick, serve, report, demo):
        name = fn.__name__.rstrip("_")
        app.command(name, epilog=EXAMPLES.get(name))(fn)


def _service():
    from ikuflow.app.service import Service

    return Service()


def new(office: str = typer.Option(None, "--office", help="Office code, e.g. pacitan."),
        division: str = typer.Option(None, "--division", help="Division code, e.g. sdmo."),
        year: int = typer.Option(..., "--year", help="The IKU year, e.g. 2026; the signing date falls in it "
                                  "or in the year before."),
        signing_date: str = typer.Option(..., "--signing-date", metavar="YYYY-MM-DD",
                                         help="The day the IKU documents are signed."),
        title: str = typer.Option(None, "--title", help="Default: 'IKU <DIVISION> <office> <year>'. "
                                  "At most 200 characters; a blank title is refused (leave "
                                  "--title out for the default)."),
        workflow: str = typer.Option("iku", "--workflow", help="Workflow name."),
        all_offices: bool = typer.Option(False, "--all-offices",
                                         help="Every office (or those of --level), every division "
                                              "(or --division): a national year at once."),
        level: List[str] = typer.Option(None, "--level", help="With --all-offices: only offices of "
                                        "this level (national, province, kabupaten, kota, regency); repeatable."),
        all_or_nothing: bool = typer.Option(False, "--all-or-nothing",
                                            help="With --all-offices: create nothing if any would be refused."),
        actor: str = as_option(), at: str = at_option(), as_json: bool = JSON_OPT) -> None:
    """Create a document in draft; prints its key, such as pacitan-sdmo-2026.

    With --all-offices, create the year's documents of every office and division in one
    transaction and print what was created and what was refused, and why.
    """
    from ikuflow.calendar import parse_date
    from ikuflow.errors import UsageError

    when = clock(at)
    signing = parse_date(signing_date, "signing date")  # its range and year: the service checks
    if not all_offices:
        if not office or not division:
            raise UsageError("say which document: --office CODE --division CODE (or --all-offices)")
        res = _service().new(office, division, year, signing, actor_of(actor), title, workflow, when)
        emit_json(res) if as_json else say(res["key"])
        return
    if title:
        raise UsageError("--title names one document; leave it out with --all-offices")
    res = _bulk(lambda progress: _service().new_many(
        year, signing, actor_of(actor), [office] if office else None, [division] if division else None,
        level or None, workflow, when, all_or_nothing, progress))
    if as_json:
        emit_json({k: v for k, v in res.items()})
        return
    say(f"created {res['created']} document(s) ({res['workflow']}); refused {len(res['refused'])}")
    if res["refused"]:
        table("refused", ["key", "why"], [(r["key"], r["reason"]) for r in res["refused"][:50]])
        if len(res["refused"]) > 50:
            say(f"... and {len(res['refused']) - 50} more (use --json for all)")


def _bulk(work):
    """Run ``work(progress)`` with a Rich progress bar on a terminal."""
    import sys

    if not sys.stderr.isatty():
        return work(None)
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task("writing documents", total=None)
        return work(lambda done, total: bar.update(task, completed=done, total=total))


def advance(ctx: typer.Context,
            key: str = typer.Argument(None, help="Document key, e.g. pacitan-sdmo-2026."),
            event: str = typer.Argument(None, help="Event to fire: submit, synchronize, approve, sign, send_back."),
            comment: str = typer.Option(None, "--comment", "-m",
                                        help="Why (required for send_back; at most 4,000 characters)."),
            if_version: int = typer.Option(None, "--if-version", min=0, max=INT_MAX,
                                           help="Refuse (exit 6) unless the document is at this version."),
            from_file: str = typer.Option(None, "--from-file", metavar="FILE",
                                          help="Many at once: a CSV with key,event[,comment] per line."),
            bulk_event: str = typer.Option(None, "--event", help="Many at once: fire this event on every "
                                           "document the --state/--office/--division/--year filters select."),
            state: str = typer.Option(None, "--state", help="Filter for --event."),
            office: str = typer.Option(None, "--office", help="Filter for --event (the office only)."),
            division: str = typer.Option(None, "--division", help="Filter for --event."),
            year: int = typer.Option(None, "--year", min=YEAR_MIN, max=YEAR_MAX, help="Filter for --event."),
            all_or_nothing: bool = typer.Option(False, "--all-or-nothing",
                                                help="Many at once: change nothing if any is refused."),
            actor: str = as_option(), at: str = at_option(), as_json: bool = JSON_OPT) -> None:
    """Fire an event on a document and print its new state; or on many at once.

    Many at once (--from-file, or --event with filters) prints what was advanced and what was
    refused and why; it exits 0 when nothing was refused, else with the exit code of the first
    refusal. With --all-or-nothing a single refusal leaves every document as it was.
    """
    from ikuflow.errors import UsageError

    api = remote.for_command(ctx, at)
    when = None if api else clock(at)
    if api and remote.typed(ctx, "actor"):
        remote.refuse("--as", "the server knows who you are: IKUFLOW_TOKEN names you; drop --as")
    if api and (from_file is not None or bulk_event is not None):
        remote.refuse("--from-file" if from_file is not None else "--event",
                      "the API advances one document at a time; run 'ikuflow advance KEY EVENT' for "
                      "each, or run this where the database is (unset IKUFLOW_SERVER)")
    if from_file is None and bulk_event is None:
        if not key or not event:
            raise UsageError("say what to fire: ikuflow advance KEY EVENT (or --from-file FILE, "
                             "or --event EVENT with filters)")
        if api is None:
            res = _service().advance(key, event, actor_of(actor), comment, when, if_version)
        else:
            body = {k: v for k, v in (("comment", comment), ("version", if_version)) if v is not None}
            got = api.post(remote.document_path(key, "events", event), body, expect=dict)
            # the API answers the new status and the step: keep what the local step returns
            res = {k: got.get(k) for k in ADVANCED}
        emit_json(res) if as_json else say(res["state"])
        return
    if key or event or if_version is not None or (from_file and bulk_event):
        raise UsageError("use one of: KEY EVENT, --from-file FILE, or --event EVENT with filters")
    svc = _service()
    if from_file:
        items = _read_items(from_file)
        res = _bulk_advance(lambda progress: svc.advance_many(items, actor_of(actor), when, all_or_nothing,
                                                              progress))
        selected = len(items)
    else:  # (the use case selects the documents)
        res = _bulk_advance(lambda progress: svc.advance_where(
            bulk_event, actor_of(actor), comment, state, office, division, year, when, all_or_nothing, progress))
        selected = res["selected"]
    if as_json:
        emit_json(res)
    else:
        say(f"advanced {len(res['advanced'])} of {selected}; refused {len(res['refused'])}")
        if res["refused"]:
            table("refused", ["key", "event", "why"],
                  [(r["key"], r["event"], r["reason"]) for r in res["refused"][:50]])
    if res["refused"]:
        raise typer.Exit(res["refused"][0]["exit_code"])


#: what ``advance --json`` prints, as :func:`ikuflow.app.documents.advance` returns it
ADVANCED = ("key", "event", "from", "state", "acting_for", "version", "due_at", "notified")


def _bulk_advance(work) -> dict:
    from ikuflow.errors import BulkRefused

    try:
        return _bulk(work)
    except BulkRefused as exc:
        return {"advanced": [], "refused": exc.refused, "rolled_back": True, "selected": exc.total}


#: A --from-file CSV of a million documents is about 40 MB.
MAX_ITEMS_BYTES = 64 << 20


def _read_items(path: str) -> list[tuple]:
    """``key,event[,comment]`` rows of a CSV file (a header line is optional). A file that is
    not UTF-8, not CSV, not a regular file or too large is refused (exit 1) in the words of
    ``ikuflow import``, before anything is advanced."""
    import csv
    import io

    from ikuflow.definition.load import FileRefused, read_regular_file, size_text
    from ikuflow.errors import IkuflowError

    fix = "nothing was advanced"
    try:
        data = read_regular_file(path, MAX_ITEMS_BYTES)
    except FileRefused as exc:
        raise IkuflowError(f"{path}: {exc}; give a CSV file with key,event[,comment] per line "
                           f"(at most {size_text(MAX_ITEMS_BYTES)}); {fix}") from None
    bom = data.startswith(b"\xef\xbb\xbf")
    try:
        text = data[3 if bom else 0:].decode("utf-8")
        rows = [r for r in csv.reader(io.StringIO(text, newline="")) if r and any(x.strip() for x in r)]
    except UnicodeDecodeError as exc:
        raise IkuflowError(f"{path}: not UTF-8 text (byte {exc.start + 3 * bom}); save the file as "
                           f"UTF-8 CSV; {fix}") from None
    except csv.Error as exc:  # a NUL byte, a field over the size limit
        raise IkuflowError(f"{path}: not a readable CSV file: {exc}; {fix}") from None
    if rows and [x.strip().lower() for x in rows[0][:2]] == ["key", "event"]:
        rows = rows[1:]
    items = []
    for n, r in enumerate(rows, 1):
        if len(r) < 2 or not r[0].strip() or not r[1].strip():
            raise IkuflowError(f"{path}: row {n} needs key,event[,comment]; got {','.join(r)!r}")
        items.append((r[0].strip(), r[1].strip(), ",".join(r[2:]).strip() or None))
    return items


def status(ctx: typer.Context, key: str = typer.Argument(..., help="Document key, e.g. pacitan-sdmo-2026."),
           at: str = at_option(), as_json: bool = JSON_OPT) -> None:
    """State, due time, time left or overdue, and who must act."""
    api = remote.for_command(ctx, at)
    res = api.get(remote.document_path(key), expect=dict) if api else _service().status(key, clock(at))
    if as_json:
        emit_json(res)
        return
    who = ", ".join(f"{p['name']} <{p['email']}> ({p['role']})" for p in res["must_act"])
    if res["final"]:
        due = "-"
    elif res["due_at"] is None:
        due = "no deadline"
    else:
        due = f"{res['due_local']} ({'OVERDUE by ' + res['time_left'][1:] if res['overdue'] else res['time_left'] + ' left'})"
    rows = [("document", f"{res['key']}: {res['title']}"),
            ("office", f"{res['office_name']} ({res['office']}), division {res['division_name']}"),
            ("signing date", res["signing_date"]),
            ("state", f"{res['state']} ({res['state_title']})" + (" - final" if res["final"] else "")),
            ("due", due),
            ("must act", who or ("-" if res["final"] else "nobody is assigned: add the role with 'ikuflow person add'")),
            ("next events", ", ".join(res["allowed_events"]) or "-"),
            ("content", _content_line(res.get("content"), res["state"] == "draft")),
            ("version", str(res["version"])),
            ("workflow", f"{res['workflow']} v{res['workflow_version']}")]
    table(None, ["", ""], rows)


def _content_line(c: dict | None, draft: bool) -> str:
    """The current content of a document for ``status``."""
    if not c:
        return "none attached" + (" (ikuflow attach KEY FILE, in draft)" if draft else "")
    return (f"{c['name']} ({c['kind'].upper()}, {c['size']:,} bytes, version {c['version']}), sha256 "
            f"{c['sha256']}, attached by {c['attached_by']} on {c['attached_local']}")


def list_(ctx: typer.Context, state: str = typer.Option(None, "--state", help="Only documents in this state."),
          office: str = typer.Option(None, "--office", help="Only this office."),
          division: str = typer.Option(None, "--division", help="Only this division."),
          year: int = typer.Option(None, "--year", min=YEAR_MIN, max=YEAR_MAX, help="Only this year."),
          overdue: bool = typer.Option(False, "--overdue", help="Only overdue documents."),
          at: str = at_option(), as_json: bool = JSON_OPT) -> None:
    """List documents, filtered."""
    api = remote.for_command(ctx, at)
    if api is None:
        rows = _service().list(state, office, division, year, overdue, clock(at))
    else:
        rows = api.get(f"{remote.API}/documents", {"state": state, "office": office, "division": division,
                                                   "overdue": "true" if overdue else None}, expect=list)
        if year is not None:  # (the API lists every year; its rows say theirs)
            rows = [r for r in rows if r["year"] == year]
    if as_json:
        emit_json(rows)
        return
    table(f"{len(rows)} document(s)", ["key", "state", "due", "overdue", "version"],
          [(r["key"], r["state"], r["due_local"], "yes" if r["overdue"] else "", r["version"]) for r in rows])


def history(ctx: typer.Context, key: str = typer.Argument(..., help="Document key, e.g. pacitan-sdmo-2026."),
            at: str = at_option(), as_json: bool = JSON_OPT) -> None:
    """Who did what and when, oldest first (with --at: as it stood at that time)."""
    api = remote.for_command(ctx, at)
    if api is None:
        rows = _service().history(key, clock(at) if at is not None else None)
    else:
        rows = api.get(remote.document_path(key, "history"), expect=list)
    if as_json:
        emit_json(rows)
        return
    table(f"history of {key}", ["when", "who", "via", "event", "from", "to", "comment"],
          [(r["at_local"], r["actor"] + (f" (acting for {r['acting_for']})" if r["acting_for"] else ""),
            r["channel"], r["event"], r["from"] or "", r["to"], r["comment"] or "") for r in rows])


def overdue(ctx: typer.Context, office: str = typer.Option(None, "--office", help="Only this office and the offices below it."),
            at: str = at_option(), as_json: bool = JSON_OPT) -> None:
    """What the secretariat must chase: overdue documents, most overdue first, and who must act."""
    api = remote.for_command(ctx, at)
    rows = (api.get(f"{remote.API}/overdue", {"office": office}, expect=list) if api
            else _service().overdue(office, clock(at)))
    if as_json:
        emit_json(rows)
        return
    table(f"{len(rows)} overdue document(s)", ["key", "state", "was due", "late by", "must act"],
          [(r["key"], r["state"], r["due_local"], r["overdue_by"],
            ", ".join(f"{p['name']} <{p['email']}>" for p in r["must_act"]) or "nobody assigned")
           for r in rows])


BATCH_HELP = "At most this many documents per transaction (a transaction takes one of the 16 tick slots)."


def tick(at: str = at_option(),
         batch: int = typer.Option(500, "--batch", min=1, max=1_000_000, help=BATCH_HELP),
         as_json: bool = JSON_OPT) -> None:
    """One scheduler pass: due reminders and escalations into the outbox, then exit (for cron)."""
    res = _service().tick(clock(at), batch)
    if as_json:
        emit_json(res)
    else:
        say(f"{res['documents']} document(s) due: {res['reminders']} reminder(s), "
            f"{res['escalations']} escalation(s), {res['emails']} e-mail(s) queued")


def serve(interval: float = typer.Option(60.0, "--interval", min=0.1, max=86400, help="Seconds between passes."),
          batch: int = typer.Option(500, "--batch", min=1, max=1_000_000, help=BATCH_HELP),
          send: bool = typer.Option(True, "--send/--no-send",
                                    help="Also deliver the outbox over SMTP (IKUFLOW_SMTP_*).")) -> None:
    """Run the scheduler (APScheduler) and the e-mail sender until SIGINT or SIGTERM."""
    import logging

    from ikuflow.scheduler import serve as run

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    _service().close()  # fail fast (exit 1) when there is no database
    totals = run(interval, batch, send=send,
                 once_ready=lambda: say(f"ikuflow serve: a pass every {interval:g} s"
                                        + (", sending e-mail" if send else "")
                                        + "; stop with Ctrl-C or SIGTERM"))
    say(f"stopped after {totals['passes']} pass(es): {totals['emails']} e-mail(s) queued, "
        f"{totals['sent']} sent, {totals['dead']} dead")


def report(ctx: typer.Context, office: str = typer.Option(None, "--office", help="This office and the offices below it."),
           year: int = typer.Option(None, "--year", min=YEAR_MIN, max=YEAR_MAX, help="Only documents of this year."),
           workflow: str = typer.Option("iku", "--workflow", help="Workflow name."),
           html: str = typer.Option(None, "--html", metavar="FILE",
                                    help="Also write a self-contained HTML page with a timeline."),
           at: str = at_option(), as_json: bool = JSON_OPT) -> None:
    """Progress across the hierarchy: offices x divisions x state, rolled up to provinces and
    the national office, with overdue counts and the share signed."""
    from pathlib import Path

    from ikuflow.app import report as rep

    api = remote.for_command(ctx, at)
    if api is not None:
        if html:
            remote.refuse("--html", "the page is written where the database is; open the progress report "
                                    "in the web pages of IKUFLOW_SERVER, or run this where the database is")
        if workflow != "iku":
            remote.refuse("--workflow", "the API reports the iku workflow; drop --workflow, or run this "
                                        "where the database is (unset IKUFLOW_SERVER)")
        res = api.get(f"{remote.API}/report", {"office": office, "year": year}, expect=dict)
    else:
        data = rep.build(_service(), office, year, workflow, clock(at))
        if html:
            from ikuflow.errors import IkuflowError

            page = rep.render_html(data)
            try:
                Path(html).write_text(page, encoding="utf-8")
            except OSError as exc:
                raise IkuflowError(f"cannot write {html}: {exc.strerror or exc}; give a file in a folder "
                                   "you can write to") from None
        res = rep.as_json(data)
    if as_json:
        emit_json(res)
        return
    rows = []
    for r in res["offices"]:
        cells = r["divisions"]
        rows.append(["  " * r["depth"] + r["name"]]
                    + [rep.cell_text(rep.Cell(dict(cells[dv]["states"]), cells[dv]["overdue"],
                                              cells[dv].get("no_content", 0)) if dv in cells
                                     else rep.Cell(), r["leaf"], res["final"]) for dv in res["divisions"]]
                    + [r["overdue"] or "", f"{r['signed_pct'] or 0:g}%"])
    table(f"{res['workflow']}: {len(res['offices'])} office(s); cells: a regency's document state "
          f"(D R S A ✓, ! overdue, {rep.NO_CONTENT} acted on no content), above it signed/total", ["office", *res["divisions"], "overdue", "signed"], rows)
    if html:
        say(f"wrote {html}")


def demo(ctx: typer.Context,
         directory: str = typer.Option("demo", "--dir", help="Where the demo database goes (recreated)."),
         ) -> None:
    """Walk a real document from draft to signed on a fresh SQLite database.

    Creates DIR/ikuflow.db, adds Bawaslu Kabupaten Pacitan under Bawaslu Provinsi Jawa
    Timur with its coordinator, secretariat and chair, and runs each step as the CLI
    command a user would type, then prints status and history.
    """
    import os

    from ikuflow.demo import run

    os.environ.pop("IKUFLOW_SERVER", None)  # the demo's commands work on its own database
    root = ctx.find_root().command  # the whole CLI, as a user types it
    run(lambda args: root.main(args=args, prog_name="ikuflow", standalone_mode=False) or 0, directory)
