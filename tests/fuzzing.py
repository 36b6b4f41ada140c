"""Shared pieces of the property, fuzz and security tests: the hypothesis profile, generators of
valid workflow files, hostile text, and row counts that prove nothing was half-written.

Example counts are small by default so the suite stays quick; set IKUFLOW_HYPOTHESIS_EXAMPLES
(the variable tests/test_properties.py reads too) for a long run, e.g. 2000.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from conftest import copy_sqlite as copy_db  # noqa: F401  (a copy of a seeded database)
from conftest import template_db

ROLES = ("coordinator", "secretariat", "chair", "admin")
GUARDS = ("comment_required", "not_before_signing_date")
#: event templates that exist in notifications/ (a valid workflow must name existing ones)
TEMPLATES = ("submit", "synchronize", "approve", "sign", "send_back", "create")
#: SQLite tables of an ikuflow database (their row counts must not move on a refused command)
TABLES = ("office", "division", "person", "role_assignment", "delegation", "document", "queue", "history",
          "outbox", "workflow_version", "calendar_day", "meta")


def derandomize() -> bool:
    """On CI (CI=true) the examples are the same in every run, so a landing is judged on what it
    changed, not on a new random draw; a local run, or one with IKUFLOW_HYPOTHESIS_EXAMPLES,
    explores new examples each time."""
    return (os.environ.get("CI", "").lower() in ("1", "true", "yes")
            and not os.environ.get("IKUFLOW_HYPOTHESIS_EXAMPLES"))


def profile(default: int, scale: float = 1.0) -> dict:
    """Hypothesis settings: ``default`` examples, or IKUFLOW_HYPOTHESIS_EXAMPLES x ``scale``."""
    env = os.environ.get("IKUFLOW_HYPOTHESIS_EXAMPLES")
    n = max(1, int(int(env) * scale)) if env else default
    return {"max_examples": n, "deadline": None, "database": None, "derandomize": derandomize(),
            "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                      HealthCheck.data_too_large, HealthCheck.filter_too_much]}


def given_settings(default: int, scale: float = 1.0):
    return settings(**profile(default, scale))


# --- hostile text ---------------------------------------------------------------------------
SQL_INJECTIONS = ("x'; DROP TABLE document;--", "' OR '1'='1", "\"; DELETE FROM history; --",
                  "x' UNION SELECT email, name, 1, 1 FROM person --", "%", "_", "?", ":1", "$1",
                  "pacitan' --", "1; PRAGMA writable_schema=1")
HEADER_INJECTIONS = ("x\r\nBcc: mallory@evil.example", "x\nBcc: mallory@evil.example",
                     "x\rBcc: mallory@evil.example", "x\r\n\r\n<html>body</html>",
                     "=?utf-8?q?x?=\r\nBcc: mallory@evil.example", "x\r\n.\r\nMAIL FROM:<e@evil.example>",
                     "x\u2028Bcc: mallory@evil.example", "x\x85Bcc: mallory@evil.example")
HTML_INJECTIONS = ("<script>alert(1)</script>", "\"><img src=x onerror=alert(1)>",
                   "<b>tebal</b> & 'kutip'", "{{ 7*7 }} {% raw %}", "</textarea><script>x</script>")
weird_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=40),
    st.sampled_from(SQL_INJECTIONS + HEADER_INJECTIONS + HTML_INJECTIONS
                    + ("", " ", "\t", "\x00", "a\x00b", "\u202e", "\ufeff", "\U0001f600" * 3,
                       "é" * 300, "x" * 5000)),
)


# --- valid workflow files ----------------------------------------------------------------------
NAME = st.builds(lambda head, tail: head + tail, st.sampled_from("abcdefghijklmnopqrstuvwxyz"),
                st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_", max_size=10)
                ).map(lambda n: "x" + n if n.startswith("to_") else n)  # a name ikuflow accepts


def _duration(max_minutes: int, positive: bool = False):
    lo = 1 if positive else 0
    return st.one_of(
        st.integers(lo, max_minutes // 1440).map(lambda d: f"{d}d"),
        st.integers(lo, max_minutes // 60).map(lambda h: f"{h}h"),
        st.integers(lo, max_minutes).map(lambda m: f"{m}m"),
        st.integers(lo, max_minutes // 1440),  # a bare number of days
    )


def _subset(items, min_size=0):
    return st.lists(st.sampled_from(items), min_size=min_size, max_size=len(items), unique=True)


def _names(items, min_size=0):
    """A role (or guard) list, sometimes written as a single name."""
    return _subset(items, min_size).flatmap(
        lambda xs: st.sampled_from([xs, xs[0]]) if len(xs) == 1 else st.just(xs))


@st.composite
def state_body(draw, final: bool):
    body: dict = {}
    if draw(st.booleans()):
        body["title"] = draw(st.text(max_size=30))
    if draw(st.booleans()):
        body["must_act"] = draw(_subset(ROLES[:3]))
    if final:
        return body
    if draw(st.booleans()):
        due = {"days_before": draw(st.integers(0, 366))}
        if draw(st.booleans()):
            due["unit"] = draw(st.sampled_from(("working_days", "calendar_days")))
        if draw(st.booleans()):
            h, m = draw(st.integers(0, 23)), draw(st.integers(0, 59))
            due["at"] = draw(st.sampled_from([f"{h:02d}:{m:02d}", f"{h}:{m:02d}", h * 60 + m]))
        body["due"] = due
    if draw(st.booleans()):
        body["reminders"] = {"before": draw(st.lists(_duration(366 * 1440), max_size=3))}
    if draw(st.booleans()):
        esc: dict = {}
        if draw(st.booleans()):
            esc["every"] = draw(_duration(366 * 1440, positive=True))
        if draw(st.booleans()):
            esc["copy"] = draw(_subset(ROLES[:3]))
        if draw(st.booleans()):
            esc["chair_after"] = draw(_duration(366 * 1440))
        if draw(st.booleans()):
            esc["parent_after"] = draw(_duration(366 * 1440))
        body["escalation"] = esc
    return body


@st.composite
def workflow_dicts(draw) -> dict:
    """A structurally valid workflow: every state reachable from the initial one, every
    non-final state left by some event, no event leaving a final state, templates that exist."""
    n = draw(st.integers(2, 7))
    states = draw(st.lists(NAME, min_size=n, max_size=n, unique=True))
    n_final = draw(st.integers(1, n - 1))
    live, final = states[:n - n_final], states[n - n_final:]
    pairs: list[tuple[list[str], str]] = []
    for i, s in enumerate(states[1:], 1):  # reach every state from an earlier live one
        pairs.append(([draw(st.sampled_from([x for x in live if states.index(x) < i]))], s))
    for s in live:  # every live state has a way out
        if not any(s in src for src, _ in pairs):
            pairs.append(([s], draw(st.sampled_from(states))))
    for _ in range(draw(st.integers(0, 3))):
        pairs.append((draw(_subset(live, 1)), draw(st.sampled_from(states))))
    names = [n if n not in states else f"{n}_e{i}" for i, n in  # an event never has a state's name
             enumerate(draw(st.lists(NAME, min_size=len(pairs), max_size=len(pairs), unique=True)))]
    events = {}
    for name, (src, dest) in zip(names, pairs):
        ev: dict = {"from": src[0] if len(src) == 1 and draw(st.booleans()) else src, "to": dest,
                    "roles": draw(_names(ROLES, 1))}
        if draw(st.booleans()):
            ev["guards"] = draw(_names(GUARDS))
        if draw(st.booleans()):
            ev["notify"] = draw(_names(ROLES[:3]))
            ev["template"] = draw(st.sampled_from(TEMPLATES))
        if draw(st.booleans()):
            ev["title"] = draw(st.text(max_size=20))
        events[name] = ev
    wf: dict = {"name": draw(NAME), "initial": states[0],
                "final": final if len(final) > 1 or draw(st.booleans()) else final[0]}
    if draw(st.booleans()):
        wf["title"] = draw(st.text(max_size=30))
    if draw(st.booleans()):
        wf["states"] = states  # the short form: names only
    else:
        wf["states"] = {s: draw(state_body(s in final)) for s in states}
    wf["events"] = events
    if draw(st.booleans()):
        wf["on_create"] = {"notify": draw(_subset(ROLES[:3])), "template": "create"}
    return wf


def dump(data) -> str:
    import yaml

    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


# --- nothing half-written -------------------------------------------------------------------
def db_file() -> str:
    return os.environ["IKUFLOW_DATABASE_URL"][len("sqlite:///"):]


def counts(path: str | None = None) -> dict:
    """Row count of every table, and the schema itself (its tables, indexes and triggers)."""
    con = sqlite3.connect(path or db_file())
    try:
        out = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}  # fixed names
        out["schema"] = sorted(con.execute("SELECT type, name FROM sqlite_master").fetchall())
        out["documents"] = sorted(con.execute("SELECT key, state, version, title FROM document").fetchall())
        return out
    finally:
        con.close()


# --- a seeded database, copied per test (seeding through the ORM costs half a second) ----------
@pytest.fixture(scope="session")
def seeded_template(request):
    """conftest's small directory (two offices in two zones, one person per role), seeded once:
    the SQLite template conftest's ``directory`` fixture copies too."""
    return Path(template_db("sqlite", request))


@pytest.fixture
def seeded(seeded_template):
    """This test's database (IKUFLOW_DATABASE_URL) as a copy of the seeded one."""
    copy_db(seeded_template, db_file())
    return db_file()
