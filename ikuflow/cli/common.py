"""Shared CLI pieces: options, JSON and table output."""

from __future__ import annotations

import json
import sys
from typing import Any, Iterable

import typer

JSON_OPT = typer.Option(False, "--json", help="Print JSON instead of a table.")
AT_HELP = ("The clock, as ISO 8601 (2026-01-27T10:00+07:00, or 2026-01-27); without an offset it "
           "is local to IKUFLOW_TZ (default Asia/Jakarta). Default: now.")
AS_HELP = "Who is acting (e-mail of a person in the directory). Default: $IKUFLOW_USER."
#: Bounds of number options: what SQLite can hold (ids, versions, limits), a calendar year.
INT_MAX = 2**63 - 1
YEARS = {"min": 1, "max": 9999}


def at_option():
    return typer.Option(None, "--at", metavar="ISO-DATETIME", help=AT_HELP)


def as_option():
    return typer.Option(None, "--as", metavar="EMAIL", envvar="IKUFLOW_USER", help=AS_HELP)


def clock(at: str | None):
    from ikuflow.calendar import parse_at

    return parse_at(at)


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def console():
    from rich.console import Console

    # piped output is read by scripts and logs: do not cut it to 80 columns
    return Console(highlight=False, soft_wrap=False, width=None if sys.stdout.isatty() else 200)


def table(title: str | None, columns: Iterable[str], rows: Iterable[Iterable[Any]]) -> None:
    from rich.table import Table

    cols = list(columns)
    t = Table(title=title, title_justify="left", header_style="bold", show_header=any(cols))
    for c in cols:
        t.add_column(c)
    for r in rows:
        t.add_row(*("" if v is None else str(v) for v in r))
    console().print(t)


def one_line(text: str) -> str:
    """``text`` as one line of plain characters: a line break, tab, NUL or terminal escape in a
    value the user typed (a key, an e-mail) is shown escaped, so an error stays one line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def actor_of(actor: str | None) -> str:
    """The e-mail of ``--as`` / IKUFLOW_USER as the directory holds it (no surrounding blanks)."""
    return (actor or "").strip()


def say(text: str) -> None:
    """A plain line on stdout (no markup interpretation)."""
    sys.stdout.write(text + "\n")
