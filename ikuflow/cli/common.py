"""Shared CLI pieces: options, JSON and table output.

User text (titles, comments, names, keys, e-mail bodies) is data: every human output goes
through :func:`plain`, so a Rich markup tag is shown as typed and a control character (an ANSI
escape, a bell, a bidi override) is shown escaped instead of reaching the terminal. ``--json``
output is exact (JSON escapes control characters itself).
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any, Iterable

import typer

JSON_OPT = typer.Option(False, "--json", help="Print JSON instead of a table.")
AT_HELP = ("The clock, as ISO 8601 (2026-01-27T10:00+07:00, or 2026-01-27); without an offset it "
           "is local to IKUFLOW_TZ (default Asia/Jakarta). Default: now.")
AS_HELP = "Who is acting (e-mail of a person in the directory). Default: $IKUFLOW_USER."
#: Bounds of number options: what SQLite can hold (ids, versions, limits), a calendar year.
INT_MAX = 2**63 - 1
YEAR_MIN, YEAR_MAX = 1, 9999


def at_option():
    """The --at option: act as if it were this time (for tests and demos)."""
    return typer.Option(None, "--at", metavar="ISO-DATETIME", help=AT_HELP)


def as_option():
    """The --as option: who is acting (default IKUFLOW_USER)."""
    return typer.Option(None, "--as", metavar="EMAIL", envvar="IKUFLOW_USER", help=AS_HELP)


def clock(at: str | None):
    """The --at text as a naive UTC time (now when absent)."""
    from ikuflow.calendar import parse_at

    return parse_at(at)


def emit_json(data: Any) -> None:
    """Print ``data`` as JSON on stdout."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def console():
    """A Rich console for stdout (full width when piped)."""
    from rich.console import Console

    # piped output is read by scripts and logs: do not cut it to 80 columns
    return Console(highlight=False, soft_wrap=False, width=None if sys.stdout.isatty() else 200)


#: What must not reach a terminal as it is: C0 and C1 control characters (ESC starts ANSI and
#: OSC sequences, BEL, CR, backspace...) and DEL, the line and paragraph separators, the bidi
#: embeddings, overrides, isolates and marks (U+202E can make text read backwards), and lone
#: surrogates (which cannot be written as UTF-8 at all).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e"
                     "\u2066-\u2069\ud800-\udfff]")
#: The same for plain lines of output, where the line breaks and tabs of multi-line text stay.
_UNSAFE_IN_LINES = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029"
                              "\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _escaped(match: re.Match) -> str:
    return repr(match.group())[1:-1]  # \x1b, \n, \u202e


def plain(text: Any, lines: bool = False) -> str:
    """``text`` safe to show on a terminal: every control character is shown escaped (``\\x1b``).

    With ``lines`` the line breaks and tabs of multi-line output stay; everything else
    (``\\r`` included) is escaped all the same. Markup is not this function's business: the
    callers print the result as plain text (:func:`say`) or as Rich ``Text`` (:func:`table`).
    """
    return (_UNSAFE_IN_LINES if lines else _UNSAFE).sub(_escaped, "" if text is None else str(text))


def table(title: str | None, columns: Iterable[str], rows: Iterable[Iterable[Any]]) -> None:
    """Print a table; the title and every cell are literal text (no Rich markup, controls escaped)."""
    from rich.table import Table
    from rich.text import Text

    cols = list(columns)
    t = Table(title=None if title is None else Text(plain(title)), title_justify="left",
              header_style="bold", show_header=any(cols))
    for c in cols:
        t.add_column(Text(plain(c)))
    for r in rows:
        t.add_row(*(Text(plain(v)) for v in r))
    console().print(t)


def one_line(text: str) -> str:
    """``text`` as one line of plain characters: a line break, tab, NUL or terminal escape in a
    value the user typed (a key, an e-mail) is shown escaped, so an error stays one line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def actor_of(actor: str | None) -> str:
    """The e-mail of ``--as`` / IKUFLOW_USER as the directory holds it (no surrounding blanks)."""
    return (actor or "").strip()


def say(text: str) -> None:
    """Text on stdout as it is (no markup), its control characters but newline and tab escaped."""
    sys.stdout.write(plain(text, lines=True) + "\n")
