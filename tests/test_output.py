"""User text is data, never markup or terminal control (issue 14).

A title, comment, office name or person name is shown as it was typed by every human output
(the Rich tables of ``status``, ``history``, ``office list``, ``person list``, ``overdue`` and
``report``, and the plain lines of ``outbox show``): a Rich markup tag stays text, and a
control character (an ANSI or OSC escape sequence, a bidi override) is shown escaped instead of
reaching the terminal. ``--json`` stays exact. A reason made only of invisible characters is no
reason. Each test runs the real console script (``run_ikuflow``) on both backends.
"""

from __future__ import annotations

import json
import unicodedata

import pytest

from conftest import COORD, SECR, run_ikuflow

KEY = "pacitan-sdmo-2026"
AT = "2026-01-27T10:00+07:00"  # after the draft's due time (2026-01-21 16:00 WIB): overdue

#: Rich markup that broke the tables (MarkupError) or hid a hyperlink; shown literally now.
MARKUP = {"closing-tag": "Nama [/]", "hyperlink": "[link=https://example.org]Klik[/link]"}
#: Terminal control that reached the terminal raw; (as typed, as shown).
CONTROLS = {
    "clear-screen": ("\x1b[2J", "\\x1b[2J"),
    "window-title": ("\x1b]0;title\x07", "\\x1b]0;title\\x07"),
    "hidden-text": ("\x1b[8m", "\\x1b[8m"),
    "right-to-left": ("\u202e", "\\u202e"),
}
TEXTS = {**{k: (v, v) for k, v in MARKUP.items()}, **CONTROLS}
#: Where each piece of user text goes, and how it is written there.
FIELDS = {"title": "IKU {}", "comment": "Alasan {} lengkap", "office": "Bawaslu {} Pacitan",
          "person": "Sri {} Wahyuni"}
#: Each human view and the user text it shows.
VIEWS = {
    "status": (["status", KEY, "--at", AT], ("title", "office", "person")),
    "history": (["history", KEY], ("comment",)),
    "office list": (["office", "list"], ("office",)),
    "person list": (["person", "list"], ("person",)),
    "overdue": (["overdue", "--at", AT], ("person",)),
    "report": (["report", "--at", AT], ("office",)),
}
BIDI_CONTROLS = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def raw_controls(out: str) -> list[str]:
    """Characters of ``out`` that a terminal would act on: every control character but the
    newline, and the bidi embeddings, overrides, isolates and marks."""
    return [c for c in out if (unicodedata.category(c) == "Cc" and c != "\n") or c in BIDI_CONTROLS]


def ok(cli, *args: str) -> None:
    r = cli(*args)
    assert r.exit_code == 0, (args, r.stdout, r.stderr)


@pytest.fixture
def hostile(cli, directory, request):
    """``text`` in the office's name, the coordinator's name, the document's title and the
    send_back comment; the document is back in draft and overdue at AT."""
    typed, _ = TEXTS[request.param]
    ok(cli, "office", "add", "pacitan", "--name", FIELDS["office"].format(typed), "--parent", "jawa-timur")
    ok(cli, "person", "add", COORD, "--name", FIELDS["person"].format(typed), "--role", "coordinator",
       "--office", "pacitan", "--division", "sdmo")
    ok(cli, "new", "--office", "pacitan", "--division", "sdmo", "--year", "2026", "--signing-date",
       "2026-01-28", "--title", FIELDS["title"].format(typed), "--as", COORD, "--at", "2026-01-12T09:00+07:00")
    ok(cli, "advance", KEY, "submit", "--as", COORD, "--at", "2026-01-19T10:00+07:00")
    ok(cli, "advance", KEY, "send_back", "--as", SECR, "-m", FIELDS["comment"].format(typed),
       "--at", "2026-01-20T10:00+07:00")
    return request.param


def check_view(view: str, out: str, shown: str) -> None:
    """``out`` of ``view`` shows its user text as ``shown`` and no raw control character."""
    assert "Traceback" not in out
    for field in VIEWS[view][1]:
        assert FIELDS[field].format(shown) in out, f"{view}: the {field} is not shown as typed:\n{out}"
    assert raw_controls(out) == [], f"{view}: raw control characters reach the terminal:\n{out!r}"


@pytest.mark.parametrize("hostile", TEXTS, indirect=True)
def test_user_text_is_shown_as_typed_in_every_table(cli, hostile):
    """Before the fix: a MarkupError traceback for '[/]', a bare 'Klik' for the hyperlink, and
    the escape sequences written to the terminal as they were (every view, in process)."""
    _, shown = TEXTS[hostile]
    for view, (args, _) in VIEWS.items():
        r = cli(*args)
        assert r.exit_code == 0 and r.stderr == "", (view, r.stderr)
        check_view(view, r.stdout, shown)


@pytest.mark.parametrize("hostile", ["closing-tag", "window-title"], indirect=True)
def test_the_console_script_shows_user_text_as_typed_in_every_table(hostile):
    """The same through the real console script, as a user's terminal gets it."""
    _, shown = TEXTS[hostile]
    for view, (args, _) in VIEWS.items():
        p = run_ikuflow(*args)
        assert p.returncode == 0 and p.stderr == "", (view, p.stderr)
        check_view(view, p.stdout, shown)


@pytest.mark.parametrize("hostile", ["hyperlink"], indirect=True)
def test_a_hyperlink_title_is_text_not_a_link(hostile):
    """'[link=https://example.org]Klik[/link]' was rendered as a hidden link labelled 'Klik'."""
    p = run_ikuflow("status", KEY, "--at", AT)
    assert p.returncode == 0, p.stderr
    line = next(x for x in p.stdout.splitlines() if "document" in x)
    assert f"{KEY}: IKU [link=https://example.org]Klik[/link]" in line
    assert "\x1b]8;" not in p.stdout  # no OSC 8 hyperlink, whatever the terminal


@pytest.mark.parametrize("hostile", ["clear-screen", "window-title", "right-to-left"], indirect=True)
def test_plain_lines_escape_control_characters_and_keep_line_breaks(hostile):
    """``outbox show`` prints the e-mail body (title, names and the quoted reason) as plain
    lines: its line breaks stay, its control characters are shown escaped."""
    _, shown = TEXTS[hostile]
    rows = json.loads(run_ikuflow("outbox", "list", "--json").stdout)
    back = next(r for r in rows if r["recipient"] == COORD and "dikembalikan" in r["subject"])
    p = run_ikuflow("outbox", "show", str(back["id"]))
    assert p.returncode == 0 and p.stderr == "", p.stderr
    assert "> " + FIELDS["comment"].format(shown) in p.stdout.splitlines()
    assert FIELDS["title"].format(shown) in p.stdout and FIELDS["person"].format(shown) in p.stdout
    assert len(p.stdout.splitlines()) > 10  # still a multi-line e-mail
    assert raw_controls(p.stdout) == [], p.stdout


@pytest.mark.parametrize("hostile", ["clear-screen", "window-title", "right-to-left"], indirect=True)
def test_json_output_stays_exact(hostile):
    """--json is for programs: the text comes back exactly as typed."""
    typed, _ = TEXTS[hostile]
    st = json.loads(run_ikuflow("status", KEY, "--json").stdout)
    assert st["title"] == FIELDS["title"].format(typed)
    hist = json.loads(run_ikuflow("history", KEY, "--json").stdout)
    assert hist[-1]["comment"] == FIELDS["comment"].format(typed)
    people = json.loads(run_ikuflow("person", "list", "--json").stdout)
    assert FIELDS["person"].format(typed) in [p["name"] for p in people]


# --- send_back: a reason must be visible -------------------------------------------------------
@pytest.fixture
def in_review(svc, doc):
    from conftest import utc

    svc.advance(doc, "submit", COORD, at=utc("2026-01-19T10:00+07:00"))
    return doc


INVISIBLE = {"zero-width-space": "\u200b", "byte-order-mark": "\ufeff", "word-joiner": "\u2060",
             "nbsp-and-zwsp": "\u00a0\u200b\u00a0", "ideographic-space-and-bom": "\u3000\ufeff\u3000",
             "joiners": "\u200b\u200c\u200d", "hangul-filler": "\u3164", "braille-blank": "\u2800",
             "lone-combining-mark": "\u0301", "all-of-them": " \u00a0\u200b\u3000\ufeff\u2060\t"}


def test_a_reason_of_invisible_characters_is_refused(cli, in_review):
    """send_back with a reason nobody can read was accepted and recorded as the reason."""
    for name, comment in INVISIBLE.items():
        r = cli("advance", KEY, "send_back", "--as", SECR, "-m", comment, "--at", "2026-01-20T10:00+07:00")
        assert r.exit_code == 4, (name, r.stdout, r.stderr)
        [line] = r.stderr.strip().splitlines()
        assert line.startswith("error: ") and "comment is required" in line and "no visible text" in line
    p = run_ikuflow("advance", KEY, "send_back", "--as", SECR, "-m", INVISIBLE["all-of-them"],
                    "--at", "2026-01-20T10:00+07:00")  # the console script: one line, exit 4
    assert p.returncode == 4 and len(p.stderr.strip().splitlines()) == 1, p.stderr
    st = json.loads(run_ikuflow("status", KEY, "--json").stdout)
    assert (st["state"], st["version"]) == ("division_review", 1)


def test_a_visible_reason_is_accepted(cli, in_review):
    for n, comment in enumerate(["Lampiran II kurang", "\u200bTabel 2\u200b", "?", "👎", "２"]):
        r = cli("advance", KEY, "send_back", "--as", SECR, "-m", comment, "--at", "2026-01-20T10:00+07:00")
        assert r.exit_code == 0 and r.stdout.strip() == "draft", (comment, r.stderr)
        hist = json.loads(cli("history", KEY, "--json").stdout)
        assert hist[-1]["event"] == "send_back" and hist[-1]["comment"] == comment.strip()
        assert len(hist) == 2 * n + 3  # create, then (submit, send_back) for each reason so far
        ok(cli, "advance", KEY, "submit", "--as", COORD, "--at", "2026-01-20T11:00+07:00")
