"""``ikuflow outbox list|show|send|retry``: what the e-mail queue holds, and delivering it."""

from __future__ import annotations

from typing import List, Optional

import typer

from ikuflow.cli.common import INT_MAX, JSON_OPT, at_option, clock, emit_json, say, table

app = typer.Typer(help="The e-mail outbox: list, show, send and retry.", no_args_is_help=True,
                  rich_markup_mode=None)
STATUSES = ("held", "pending", "sent", "dead", "merged")


def _con():
    from ikuflow.store.db import connect

    return connect()


@app.command("list")
def list_(status: str = typer.Option(None, "--status", help="pending, sent, dead or merged."),
          limit: int = typer.Option(100, "--limit", min=1, max=INT_MAX, help="At most this many rows, newest first."),
          as_json: bool = JSON_OPT) -> None:
    """List outbox rows: recipient, subject, status, attempts, last error."""
    from ikuflow.errors import UsageError

    if status is not None and status not in STATUSES:
        raise UsageError(f"unknown status '{status}'; use one of: {', '.join(STATUSES)}")
    con = _con()
    rows = con.execute(
        "SELECT id, kind, recipient, subject, status, attempts, next_attempt_at, sent_at, last_error,"
        " message_id FROM outbox" + (" WHERE status = ?" if status else "") + " ORDER BY id DESC LIMIT ?",
        ((status,) if status else ()) + (limit,)).fetchall()
    con.close()
    keys = ("id", "kind", "recipient", "subject", "status", "attempts", "next_attempt_at", "sent_at",
            "last_error", "message_id")
    if as_json:
        from ikuflow.store.db import fmt_ts, parse_ts

        # the same text on both backends: 'YYYY-MM-DD HH:MM:SS.ffffff', naive UTC
        emit_json([{**dict(zip(keys, r)), "next_attempt_at": fmt_ts(parse_ts(r[6])),
                    "sent_at": fmt_ts(parse_ts(r[7]))} for r in rows])
        return
    table(f"{len(rows)} outbox row(s)", ["id", "kind", "to", "subject", "status", "attempts", "last error"],
          [(r[0], r[1], r[2], r[3] or "", r[4], r[5], r[8] or "") for r in rows])


@app.command("show")
def show(row_id: int = typer.Argument(..., metavar="ID", min=1, max=INT_MAX,
                                      help="Outbox row id (see 'outbox list')."),
         html: bool = typer.Option(False, "--html", help="Print the HTML part instead of the text."),
         as_json: bool = JSON_OPT) -> None:
    """Print one e-mail as it is (or will be) sent."""
    from ikuflow.errors import NotFound

    con = _con()
    row = con.execute("SELECT recipient, subject, body_text, body_html, status, message_id FROM outbox"
                      " WHERE id = ?", (row_id,)).fetchone()
    con.close()
    if row is None:
        raise NotFound("outbox row", str(row_id), "see 'ikuflow outbox list'")
    to, subject, text, body_html, status, mid = row
    if as_json:
        emit_json({"id": row_id, "to": to, "subject": subject, "text": text, "html": body_html,
                   "status": status, "message_id": mid})
        return
    say(f"To: {to}\nSubject: {subject}\nMessage-ID: {mid}\nStatus: {status}\n")
    say((body_html if html else text) or "(merged into a digest; nothing of its own to send)")


@app.command("send")
def send(at: str = at_option(), as_json: bool = JSON_OPT) -> None:
    """Deliver every due e-mail now over SMTP, then exit (IKUFLOW_SMTP_* settings).

    When the server cannot be reached, prints one line (the server, how many e-mails wait and
    when they are retried) and exits 1, for cron to tell the operator; the e-mails stay in the
    outbox with this attempt counted, and go out on a later run.
    """
    from ikuflow.notify.sender import ServerUnreachable, send_once

    res = send_once(clock(at) if at else None)
    if as_json:
        emit_json(res)
    elif not res["unreachable"]:
        say(f"{res['sent']} sent, {res['retried']} to retry later, {res['dead']} dead "
            f"({res['server']}, {res['seconds']} s)")
    if res["unreachable"]:
        raise ServerUnreachable(**res["unreachable"])


@app.command("retry")
def retry(ids: Optional[List[int]] = typer.Argument(None, metavar="[ID]...", min=1, max=INT_MAX,
                                                    help="Rows to send again."),
          dead: bool = typer.Option(False, "--dead", help="Every dead row."),
          at: str = at_option()) -> None:
    """Queue dead (or failing) e-mails again, with their attempts reset."""
    from ikuflow.errors import NotFound, UsageError
    from ikuflow.store.db import fmt_ts, write

    if not ids and not dead:
        raise UsageError("say which: ikuflow outbox retry ID [ID...] or --dead")
    con = _con()
    ts = fmt_ts(clock(at))
    with write(con) as c:
        if dead:
            n = c.execute("UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = ?,"
                          " lease_owner = NULL, lease_until = NULL WHERE status = 'dead'", (ts,)).rowcount
        else:
            found = {r[0] for r in c.execute("SELECT id FROM outbox WHERE id IN (%s)" % ",".join("?" * len(ids)), ids)}
            missing = [str(i) for i in ids if i not in found]
            if missing:
                raise NotFound("outbox row", ", ".join(missing), "see 'ikuflow outbox list'")
            n = c.execute("UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = ?,"
                          " lease_owner = NULL, lease_until = NULL WHERE id IN (%s) AND status IN"
                          " ('dead', 'pending')" % ",".join("?" * len(ids)), [ts, *ids]).rowcount
    con.close()
    say(f"{n} e-mail(s) queued again")
