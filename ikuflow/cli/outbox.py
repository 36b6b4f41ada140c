"""``ikuflow outbox list|show|send|retry``: what the e-mail queue holds, and delivering it.

Each command parses its options, calls one use case of :mod:`ikuflow.app.outbox` and prints.
"""

from __future__ import annotations

from typing import List, Optional

import typer

from ikuflow.cli.common import INT_MAX, JSON_OPT, at_option, clock, emit_json, say, table

app = typer.Typer(help="The e-mail outbox: list, show, send and retry.", no_args_is_help=True,
                  rich_markup_mode=None)


@app.command("list")
def list_(status: str = typer.Option(None, "--status", help="pending, sent, dead or merged."),
          limit: int = typer.Option(100, "--limit", min=1, max=INT_MAX, help="At most this many rows, newest first."),
          as_json: bool = JSON_OPT) -> None:
    """List outbox rows: recipient, subject, status, attempts, last error."""
    from ikuflow.app import outbox

    rows = outbox.list_rows(status, limit)
    if as_json:
        # the same text on both backends: 'YYYY-MM-DD HH:MM:SS.ffffff', naive UTC
        emit_json([outbox.as_json(r) for r in rows])
        return
    table(f"{len(rows)} outbox row(s)", ["id", "kind", "to", "subject", "status", "attempts", "last error"],
          [(r.id, r.kind, r.recipient, r.subject or "", r.status, r.attempts, r.last_error or "")
           for r in rows])


@app.command("show")
def show(row_id: int = typer.Argument(..., metavar="ID", min=1, max=INT_MAX,
                                      help="Outbox row id (see 'outbox list')."),
         html: bool = typer.Option(False, "--html", help="Print the HTML part instead of the text."),
         as_json: bool = JSON_OPT) -> None:
    """Print one e-mail as it is (or will be) sent.

    An e-mail not sent yet is rendered now with the current templates: a preview of what will
    be sent (a template that fails is an error naming it, exit 1).
    """
    from ikuflow.app import outbox

    m = outbox.show(row_id)
    if as_json:
        emit_json({"id": m.id, "to": m.recipient, "subject": m.subject, "text": m.text, "html": m.html,
                   "status": m.status, "message_id": m.message_id, "template": m.template,
                   "preview": m.preview})
        return
    head = f"To: {m.recipient}\nSubject: {m.subject}\nMessage-ID: {m.message_id}\nStatus: {m.status}\n"
    if m.preview:
        head += ("Preview: rendered now with the current templates; " +
                 ("the e-mail sent used those of its time\n" if m.status == "sent"
                  else "this is what will be sent\n"))
    say(head)
    say((m.html if html else m.text) or ("(held for the next digest; nothing of its own to send)"
                                         if m.status == "held" else
                                         "(merged into a digest; nothing of its own to send)"))


@app.command("send")
def send(at: str = at_option(), as_json: bool = JSON_OPT) -> None:
    """Deliver every due e-mail now over SMTP, then exit (IKUFLOW_SMTP_* settings).

    When the server cannot be reached, prints one line (the server, how many e-mails wait and
    when they are retried) and exits 1, for cron to tell the operator; the e-mails stay in the
    outbox with this attempt counted, and go out on a later run.
    """
    from ikuflow.app import outbox

    res = outbox.send(clock(at) if at else None)
    if as_json:
        emit_json(res)
    elif not res["unreachable"]:
        say(f"{res['sent']} sent, {res['retried']} to retry later, {res['dead']} dead "
            f"({res['server']}, {res['seconds']} s)")
    if res["unreachable"]:
        raise outbox.ServerUnreachable(**res["unreachable"])


@app.command("retry")
def retry(ids: Optional[List[int]] = typer.Argument(None, metavar="[ID]...", min=1, max=INT_MAX,
                                                    help="Rows to send again."),
          dead: bool = typer.Option(False, "--dead", help="Every dead row."),
          at: str = at_option()) -> None:
    """Queue dead (or failing) e-mails again, with their attempts reset."""
    from ikuflow.app import outbox
    from ikuflow.errors import UsageError

    if not ids and not dead:
        raise UsageError("say which: ikuflow outbox retry ID [ID...] or --dead")
    n = outbox.retry(ids or (), dead=dead, at=clock(at))
    say(f"{n} e-mail(s) queued again")
