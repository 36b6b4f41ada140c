"""Issue 16 (first parts): personal API tokens (`ikuflow token create|list|revoke`) and the
history's channel. A token is printed once and stored as its SHA-256 digest only; it names its
person; a revoked token is refused from then on. Every history row says how its step came in.
Both backends."""

from __future__ import annotations

import hashlib
import json

from conftest import CHAIR, COORD, rows, run_ikuflow


def test_a_token_is_shown_once_stored_as_its_digest_and_names_its_person(cli, directory):
    from ikuflow.app.tokens import authenticate

    r = cli("token", "create", COORD.upper(), "--note", "  laptop  ")
    assert r.exit_code == 0, r.stderr
    head, token = r.stdout.strip().splitlines()
    assert head == f"token 1 for {COORD} (shown once; store it now):"
    assert token.startswith("ikf_") and len(token) > 40
    # only the digest is in the database, never the token
    [(person_id, digest, note)] = rows("SELECT person_id, digest, note FROM api_token")
    assert digest == hashlib.sha256(token.encode()).hexdigest() and note == "laptop"
    assert token not in json.dumps(rows("SELECT * FROM api_token"), default=str)
    assert rows("SELECT email FROM person WHERE id = ?", person_id) == [(COORD,)]
    # the token authenticates as its person and records its use; another string does not
    listed = json.loads(cli("token", "list", "--json").stdout)
    assert [(t["id"], t["person"], t["note"], t["last_used_at"], t["revoked_at"]) for t in listed] == \
        [(1, COORD, "laptop", None, None)]
    assert authenticate(token) == COORD
    assert json.loads(cli("token", "list", "--json").stdout)[0]["last_used_at"] is not None
    for wrong in (token[:-1], token + "x", token[len("ikf_"):], "", digest):
        assert authenticate(wrong) is None, wrong
    # two tokens of one person are different; the listing never shows a token
    second = json.loads(cli("token", "create", COORD, "--json").stdout)
    assert second["id"] == 2 and second["token"] != token and second["note"] is None
    human = cli("token", "list").stdout
    assert COORD in human and "laptop" in human and token not in human and second["token"] not in human


def test_a_revoked_token_is_refused_and_revoking_again_changes_nothing(cli, directory):
    from ikuflow.app.tokens import authenticate

    mine = json.loads(cli("token", "create", CHAIR, "--json").stdout)
    other = json.loads(cli("token", "create", COORD, "--json").stdout)
    assert authenticate(mine["token"]) == CHAIR
    r = cli("token", "revoke", str(mine["id"]))
    assert r.exit_code == 0 and r.stdout.strip() == f"revoked token {mine['id']} of {CHAIR}"
    assert authenticate(mine["token"]) is None
    assert authenticate(other["token"]) == COORD  # only that one
    first = json.loads(cli("token", "list", "--person", CHAIR, "--json").stdout)[0]["revoked_at"]
    again = json.loads(cli("token", "revoke", str(mine["id"]), "--json").stdout)
    assert again["revoked_at"] == first and first is not None
    assert [t["person"] for t in json.loads(cli("token", "list", "--person", COORD, "--json").stdout)] == [COORD]


def test_token_commands_refuse_bad_input_in_one_line_and_write_nothing(cli, directory):
    cases = [
        (("token", "create", "nobody@nowhere.example.id"), 3, "unknown person 'nobody@nowhere.example.id'"),
        (("token", "create", "not-an-address"), 2, "'not-an-address' is not a valid e-mail address"),
        (("token", "create", COORD, "--note", "   "), 2, "the note is blank"),
        (("token", "create", COORD, "--note", "x" * 201), 2, "at most 200"),
        (("token", "revoke", "99"), 3, "unknown token '99'"),
        (("token", "list", "--person", "???"), 2, "not a valid e-mail address"),
    ]
    for args, code, words in cases:
        r = cli(*args)
        lines = r.stderr.strip().splitlines()
        assert r.exit_code == code and len(lines) == 1 and words in lines[0], (args, r.exit_code, r.stderr)
    assert rows("SELECT count(*) FROM api_token") == [(0,)]


def test_token_create_in_the_real_console_script(directory):
    r = run_ikuflow("token", "create", COORD, "--note", "ponsel")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    token = r.stdout.strip().splitlines()[-1]
    listed = run_ikuflow("token", "list")
    assert listed.returncode == 0 and "ponsel" in listed.stdout and token not in listed.stdout
    assert run_ikuflow("token", "revoke", "1").returncode == 0
    assert run_ikuflow("token", "revoke", "x").returncode == 2


# =============================================================================================
# the history's channel: how each step came in (cli, web, link or api)
# =============================================================================================
def test_every_history_row_names_its_channel_and_history_shows_it(cli, svc):
    from datetime import date

    from conftest import COORD_HUKUM, SECR, SIGNING, utc
    from ikuflow.errors import UsageError

    assert cli("new", "--office", "pacitan", "--division", "sdmo", "--year", "2026", "--signing-date",
               "2026-01-28", "--as", COORD, "--at", "2026-01-12T09:00+07:00").exit_code == 0
    assert cli("advance", "pacitan-sdmo-2026", "submit", "--as", COORD, "--at", "2026-01-15T10:00+07:00").exit_code == 0
    svc.advance("pacitan-sdmo-2026", "synchronize", SECR, at=utc("2026-01-16T10:00+07:00"), channel="link")
    svc.new("pacitan", "hukum", 2026, SIGNING, SECR, at=utc("2026-01-12T09:00+07:00"), channel="web")
    svc.advance("pacitan-hukum-2026", "submit", COORD_HUKUM, at=utc("2026-01-15T10:00+07:00"), channel="api")
    hist = json.loads(cli("history", "pacitan-sdmo-2026", "--json").stdout)
    assert [(h["event"], h["channel"]) for h in hist] == [("create", "cli"), ("submit", "cli"), ("synchronize", "link")]
    assert [h["channel"] for h in svc.history("pacitan-hukum-2026")] == ["web", "api"]
    table = cli("history", "pacitan-sdmo-2026").stdout
    assert " via " in table and " link " in table and " cli " in table
    # a channel that is not one of the four is refused before anything is written
    before = rows("SELECT count(*) FROM history")
    for call in (lambda: svc.advance("pacitan-hukum-2026", "synchronize", SECR, channel="email"),
                 lambda: svc.new("pacitan", "sengketa", 2026, date(2026, 1, 28), SECR, channel="")):
        try:
            call()
            raise AssertionError("an unknown channel was accepted")
        except UsageError as exc:
            assert "unknown channel" in str(exc) and exc.exit_code == 2
    assert rows("SELECT count(*) FROM history") == before
