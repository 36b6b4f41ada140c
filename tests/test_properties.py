"""Property tests (hypothesis): broken workflow files never crash or half-load, and random
event sequences keep the document's invariants."""

from __future__ import annotations

import itertools
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ADMIN, CHAIR, COORD, NOBODY, SECR, SIGNING, WORKFLOWS, misqueued, utc
from fuzzing import derandomize

PROFILE = {"max_examples": int(os.environ.get("IKUFLOW_HYPOTHESIS_EXAMPLES", "60")), "deadline": None,
           "derandomize": derandomize(),  # the same examples in every CI run (fuzzing.derandomize)
           "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]}
DEFAULT = (WORKFLOWS / "iku.yaml").read_text()
TOKENS = sorted(set(t for t in DEFAULT.replace(",", " ").replace("[", " ").replace("]", " ")
                    .replace("{", " ").replace("}", " ").replace(":", " ").split() if t.isidentifier()))


@settings(**PROFILE)
@given(st.lists(st.tuples(st.sampled_from(TOKENS),
                          st.one_of(st.sampled_from(TOKENS), st.text(max_size=12))), max_size=4),
       st.integers(min_value=0, max_value=len(DEFAULT)), st.text(max_size=20))
def test_a_mangled_workflow_file_is_valid_or_reported_never_a_crash(swaps, cut, junk):
    from ikuflow.definition import parse_text
    from ikuflow.errors import DefinitionError

    text = DEFAULT
    for old, new in swaps:
        text = text.replace(old, new, 1)
    text = text[:cut] + junk + text[cut:] if junk else text
    try:
        wf = parse_text(text, "mangled.yaml")
    except DefinitionError as exc:
        assert exc.problems and all(p.file == "mangled.yaml" and p.message for p in exc.problems)
        return
    # it loaded: then it is whole
    assert wf.initial in wf.states and wf.final <= set(wf.states)
    for ev in wf.events.values():
        assert set(ev.sources) <= set(wf.states) and ev.dest in wf.states


ACTORS = [COORD, SECR, CHAIR, ADMIN, NOBODY]
EVENTS = ["submit", "synchronize", "approve", "sign", "send_back", "sumbit"]
_slots = itertools.count()


#: comments of any text but NUL, which PostgreSQL cannot store (refused: its own test below)
COMMENTS = st.one_of(st.none(), st.text(st.characters(blacklist_characters="\x00"), max_size=30))


@settings(**PROFILE)
@given(st.lists(st.tuples(st.sampled_from(EVENTS), st.sampled_from(ACTORS), COMMENTS), max_size=12))
def test_random_event_sequences_keep_the_invariants(svc, steps):
    from ikuflow.errors import IkuflowError

    year = 2000 + next(_slots) % 101
    key = f"pacitan-sdmo-{year}"
    if svc.con.execute("SELECT 1 FROM document WHERE key = ?", (key,)).fetchone():
        return  # the 101 years are used up in a long run; nothing new to learn from this slot
    svc.new("pacitan", "sdmo", year, SIGNING.replace(year=year), COORD, at=utc("2026-01-12T09:00+07:00"))
    doc_id = svc.con.execute("SELECT id FROM document WHERE key = ?", (key,)).fetchone()[0]

    def snapshot() -> tuple:
        return (svc.con.execute("SELECT state, version, due_at, next_action_at FROM document WHERE id = ?",
                                (doc_id,)).fetchone(),
                svc.con.execute("SELECT count(*) FROM history WHERE document_id = ?", (doc_id,)).fetchone(),
                svc.con.execute("SELECT count(*) FROM outbox WHERE document_id = ?", (doc_id,)).fetchone())

    fired = 0
    for event, actor, comment in steps:
        before = snapshot()
        try:
            svc.advance(key, event, actor, comment=comment, at=utc("2026-01-28T10:00+07:00"))
            fired += 1
        except IkuflowError as exc:
            assert exc.exit_code in (3, 4, 5)
            assert snapshot() == before  # a refused event changes nothing
    wf = svc.engine("iku", 1).workflow
    hist = svc.history(key)
    st_ = svc.status(key)
    # history is a valid path of the workflow, starting with the creation
    assert hist[0]["event"] == "create" and hist[0]["to"] == wf.initial
    for prev, cur in zip(hist, hist[1:]):
        ev = wf.events[cur["event"]]
        assert cur["from"] == prev["to"] and cur["from"] in ev.sources and cur["to"] == ev.dest
        if "comment_required" in ev.guards:
            assert cur["comment"]
    # the state is the last history row's, the version counts the transitions
    assert st_["state"] == hist[-1]["to"] and st_["version"] == len(hist) - 1 == fired
    assert misqueued(svc.con) == []  # and the document's queue is that state's
    # every transition that tells someone has its e-mails in the outbox, one per person, each
    # linked to its transition by its cause (document, the version it made, recipient)
    rows = svc.con.execute("SELECT payload, subject, cause, recipient FROM outbox WHERE document_id = ?"
                           " AND kind = 'event' AND template <> 'create'", (doc_id,)).fetchall()
    expected = sorted(f"event:{doc_id}:{v}:{p['email']}" for v, h in enumerate(hist[1:], 1)
                      for p in svc.people("pacitan", "sdmo", wf.events[h["event"]].notify))
    assert sorted(r[2] for r in rows) == expected and not any(r[1] for r in rows)  # intents: rendered when sent
    for payload, _, cause, recipient in rows:
        data, h = json.loads(payload), hist[int(cause.split(":")[2])]
        assert data["key"] == key and cause.endswith(":" + recipient)
        assert data["context"]["recipient"]["email"] == recipient and data["context"]["document"]["key"] == key
        assert (data["event"], data["from"], data["to"]) == (h["event"], h["from"], h["to"])


def test_a_nul_in_user_text_is_stored_on_sqlite_and_refused_on_postgresql(svc, backend, cli):
    """A NUL character in a title or a comment (hypothesis found it). SQLite stores the text as
    typed. PostgreSQL cannot store NUL in text: ikuflow refuses it as a usage error (exit 2, one
    line) and writes nothing (no document, no step, no e-mail), never a driver error."""
    from ikuflow.errors import NotFound, UsageError

    title, comment = "IKU\x00SDMO", "alasan\x00lain"
    titled, commented = "pacitan-sdmo-2026", "pacitan-sdmo-2027"

    def rows(key: str) -> tuple:
        """(document rows, history rows, outbox rows) of ``key``."""
        return tuple(svc.con.execute(
            f"SELECT count(*) FROM {table} WHERE {col} IN (SELECT id FROM document WHERE key = ?)",
            (key,)).fetchone()[0] for table, col in (("document", "id"), ("history", "document_id"),
                                                     ("outbox", "document_id")))

    # a title: the document is created with it as typed, or not at all
    create = dict(title=title, at=utc("2026-01-12T09:00+07:00"))
    if backend == "sqlite":
        svc.new("pacitan", "sdmo", 2026, SIGNING, COORD, **create)
        assert svc.status(titled)["title"] == title
    else:
        with pytest.raises(UsageError, match=r"NUL character") as refused:
            svc.new("pacitan", "sdmo", 2026, SIGNING, COORD, **create)
        assert refused.value.exit_code == 2
        assert rows(titled) == (0, 0, 0)
        with pytest.raises(NotFound):
            svc.status(titled)

    # a comment: the step is taken with it as typed, or not at all (through the CLI: its exit code)
    svc.new("pacitan", "sdmo", 2027, SIGNING, COORD, at=utc("2026-01-12T09:00+07:00"))
    svc.advance(commented, "submit", COORD, at=utc("2026-01-19T10:00+07:00"))
    seen_at = utc("2026-01-20T11:00+07:00")  # status as of a pinned time: it shows "now" and time left
    before, state = rows(commented), svc.status(commented, at=seen_at)
    r = cli("advance", commented, "send_back", "--as", SECR, "--comment", comment,
            "--at", "2026-01-20T10:00+07:00")
    if backend == "sqlite":
        assert r.exit_code == 0, r.stderr
        assert svc.history(commented)[-1]["comment"] == comment
        assert rows(commented)[:2] == (1, before[1] + 1) and svc.status(commented)["state"] == "draft"
    else:
        assert r.exit_code == 2 and r.stdout == "", (r.exit_code, r.stdout)
        [line] = r.stderr.strip().splitlines()
        assert line.startswith("error: ") and "NUL character" in line, line
        assert rows(commented) == before
        assert svc.status(commented, at=seen_at) == state  # still division_review, same version
