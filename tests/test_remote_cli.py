"""The remote CLI (PRODUCT.md section 8): with IKUFLOW_SERVER and IKUFLOW_TOKEN, status, list,
history, overdue, report and advance go through the JSON API of a real ``ikuflow web`` as the
token's person, and print what the local commands print, with their exit codes; what the API
cannot do (--as, --at, --html, the bulk advances) is refused with exit 2.

The client's answers to a broken server (an HTML 502, a redirect, a timeout) are checked against
``httpx.MockTransport``: no real server misbehaves that way on demand."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ADMIN, CHAIR, COORD, COORD_HUKUM, OTHER_CHAIR, SECR, SIGNING, copy_sqlite, utc
from smtp_peer import free_port
from webserver import WebServer

KEY = "pacitan-sdmo-2026"
SECRET = "remote-cli-test-secret-key-0123456789abcdef"


# =============================================================================================
# the client alone, against httpx.MockTransport
# =============================================================================================
def client(handler):
    import httpx

    from ikuflow.cli.remote import Client

    return Client("http://iku.example.id/prefix", "ikf_secret", transport=httpx.MockTransport(handler))


def failure(fn) -> tuple[int, str]:
    from ikuflow.errors import IkuflowError

    try:
        fn()
    except IkuflowError as exc:
        return exc.exit_code, str(exc)
    raise AssertionError("no error raised")


@pytest.mark.no_database
def test_the_client_sends_the_token_quotes_paths_and_drops_empty_params():
    import httpx

    from ikuflow import __version__
    from ikuflow.cli.remote import document_path

    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True})

    c = client(handler)
    from ikuflow.errors import NotFound

    with pytest.raises(NotFound):  # no key holds '/': the server would route it elsewhere
        document_path("a/b", "history")
    assert c.get(document_path("a?b c", "history"), {"office": "jawa timur", "state": None}) == {"ok": True}
    assert c.get(document_path("..")) == {"ok": True}
    assert c.post(document_path(KEY, "events", "send_back"), {"comment": "Indikator 2.3"}) == {"ok": True}
    first, dots, post = seen
    assert first.method == "GET" and first.url.raw_path == b"/prefix/api/v1/documents/a%3Fb%20c/history?office=jawa+timur"
    assert first.headers["authorization"] == "Bearer ikf_secret"
    assert first.headers["user-agent"] == f"ikuflow/{__version__}"
    assert dots.url.raw_path == b"/prefix/api/v1/documents/%2E%2E"  # not normalised away
    assert post.method == "POST" and post.url.path == f"/prefix/api/v1/documents/{KEY}/events/send_back"
    assert json.loads(post.content) == {"comment": "Indikator 2.3"}


@pytest.mark.no_database
def test_the_api_s_errors_become_its_exit_codes_and_anything_else_exit_1():
    import httpx

    from ikuflow.cli.remote import ServerRefused, document_path

    for status, code in [(400, 2), (401, 2), (403, 5), (404, 3), (409, 4), (412, 6), (429, 1), (500, 1), (503, 1)]:
        body = {"error": {"exit_code": code, "message": f"refused {status}; do this"}}
        c = client(lambda r, status=status, body=body: httpx.Response(status, json=body))
        assert failure(lambda: c.get("/api/v1/me")) == (code, f"refused {status}; do this")
    c = client(lambda r: httpx.Response(404, json={"error": {"exit_code": 3, "message": "x"}}))
    with pytest.raises(ServerRefused):
        c.post(document_path(KEY, "events", "submit"))
    # not the API's shape: a proxy's HTML page, a bare JSON error, a success without JSON
    cases = [(httpx.Response(502, html="<h1>Bad Gateway</h1>"), "with HTTP 502 Bad Gateway, an error that is not ikuflow's"),
             (httpx.Response(404, json={"detail": "Not Found"}), "with HTTP 404 Not Found"),
             (httpx.Response(400, json={"error": {"exit_code": "2", "message": "x"}}), "HTTP 400"),
             (httpx.Response(200, text="hello"), "with HTTP 200 OK, an answer that is not ikuflow's JSON"),
             (httpx.Response(200, text="{", headers={"content-type": "application/json"}), "HTTP 200"),
             (httpx.Response(301, headers={"location": "https://iku.example.id/prefix/api/v1/me"}),
              "HTTP 301 Moved Permanently to https://iku.example.id/prefix/api/v1/me; set IKUFLOW_SERVER")]
    for res, words in cases:
        code, msg = failure(lambda: client(lambda r: res).get("/api/v1/me"))
        assert code == 1 and words in msg and "http://iku.example.id/prefix" in msg, msg
    # JSON of another shape than the command prints (another route answered): exit 1, no traceback
    c = client(lambda r: httpx.Response(200, json=[{"event": "create"}]))
    code, msg = failure(lambda: c.get(document_path(KEY), expect=dict))
    assert code == 1 and "with a JSON list, not the dict this command prints" in msg
    assert c.get(document_path(KEY, "history"), expect=list) == [{"event": "create"}]
    # an exit code the CLI does not use is 1
    c = client(lambda r: httpx.Response(500, json={"error": {"exit_code": 0, "message": "odd"}}))
    assert failure(lambda: c.get("/api/v1/me")) == (1, "odd")


@pytest.mark.no_database
def test_a_server_that_does_not_answer_is_exit_1_saying_so():
    import httpx

    def timeout(request):
        raise httpx.ReadTimeout("timed out", request=request)

    def broken(request):
        raise httpx.RemoteProtocolError("Server disconnected", request=request)

    code, msg = failure(lambda: client(timeout).get("/api/v1/me"))
    assert code == 1 and "did not answer within 30 s; retry later" in msg and "status" not in msg
    code, msg = failure(lambda: client(timeout).post("/api/v1/documents/x/events/submit"))
    assert code == 1 and "it may have been done: check with 'ikuflow status KEY'" in msg
    code, msg = failure(lambda: client(broken).get("/api/v1/me"))
    assert code == 1 and msg.startswith("cannot talk to IKUFLOW_SERVER http://iku.example.id/prefix: Server "
                                        "disconnected; is 'ikuflow web' running there?")


# =============================================================================================
# the CLI in remote mode without a server: what it refuses before asking
# =============================================================================================
def remote_env(server: str, token: str | None = "ikf_" + "x" * 43) -> dict:
    return {"IKUFLOW_SERVER": server, "IKUFLOW_TOKEN": token}


@pytest.mark.no_database
def test_what_the_api_cannot_do_is_refused_with_exit_2_before_any_request(cli):
    env = remote_env(f"http://127.0.0.1:{free_port()}")  # nothing listens: a request would be exit 1
    cases = [
        (("advance", KEY, "submit", "--as", COORD),
         "--as cannot be used with IKUFLOW_SERVER: the server knows who you are: IKUFLOW_TOKEN names you; drop --as"),
        (("status", KEY, "--at", "2026-01-27"), "--at cannot be used with IKUFLOW_SERVER: the server keeps the clock"),
        (("list", "--at", "2026-01-27"), "the server keeps the clock"),
        (("history", KEY, "--at", "2026-01-27"), "the server keeps the clock"),
        (("overdue", "--at", "2026-01-27"), "the server keeps the clock"),
        (("report", "--at", "2026-01-27"), "the server keeps the clock"),
        (("advance", KEY, "submit", "--at", "2026-01-27"), "the server keeps the clock"),
        (("report", "--html", "x.html"), "--html cannot be used with IKUFLOW_SERVER: the page is written where "
                                         "the database is"),
        (("report", "--workflow", "other"), "--workflow cannot be used with IKUFLOW_SERVER"),
        (("advance", "--from-file", "items.csv"), "--from-file cannot be used with IKUFLOW_SERVER: the API "
                                                  "advances one document at a time"),
        (("advance", "--event", "submit", "--office", "pacitan"), "--event cannot be used with IKUFLOW_SERVER"),
        (("--db", "sqlite:///other.db", "status", KEY), "--db cannot be used with IKUFLOW_SERVER"),
    ]
    for args, words in cases:
        r = cli(*args, env=env)
        assert r.exit_code == 2 and r.stderr.startswith("error: ") and words in r.stderr, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and not r.stdout
    assert not Path("x.html").exists()


@pytest.mark.no_database
def test_the_server_and_token_variables_are_checked_first(cli):
    port = free_port()
    cases = [
        (remote_env(f"http://127.0.0.1:{port}", None),
         2, "error: IKUFLOW_SERVER is set but IKUFLOW_TOKEN is not: set IKUFLOW_TOKEN; create one with "
            "'ikuflow token create EMAIL'"),
        (remote_env(f"http://127.0.0.1:{port}", "  "), 2, "set IKUFLOW_TOKEN"),
        (remote_env(f"http://127.0.0.1:{port}", "ikf_a b"), 2, "IKUFLOW_TOKEN is not a token"),
        (remote_env(f"http://127.0.0.1:{port}", "ikf_\u00e9"), 2, "IKUFLOW_TOKEN is not a token"),
        (remote_env(f"127.0.0.1:{port}"), 2, "is not an http(s) address; set it like https://iku.example.id"),
        (remote_env("ftp://iku.example.id"), 2, "is not an http(s) address"),
        (remote_env(f"http://127.0.0.1:{port}"), 1,
         f"error: cannot reach IKUFLOW_SERVER http://127.0.0.1:{port}: "),
    ]
    for env, code, words in cases:
        r = cli("status", KEY, env=env)
        assert r.exit_code == code and words in r.stderr, (env, r.exit_code, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1
    assert "is 'ikuflow web' running there?" in r.stderr
    # a blank IKUFLOW_SERVER is no server: the local database answers (here: there is none)
    assert "IKUFLOW_SERVER" not in cli("status", KEY, env=remote_env(" ", None)).stderr


@pytest.mark.no_database
def test_help_does_not_import_httpx_and_remote_commands_not_the_database():
    code = ("import sys\nsys.argv = ['ikuflow', *sys.argv[1:]]\nfrom ikuflow.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "sys.stderr.write('\\nMODULES ' + ' '.join(sorted({m.split('.')[0] for m in sys.modules})))")

    def imported_by(*argv: str, env: dict | None = None) -> set[str]:
        p = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=60,
                           stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})})
        return set([ln for ln in p.stderr.splitlines() if ln.startswith("MODULES ")][-1].split()[1:])

    assert "httpx" not in imported_by("--help")
    assert "httpx" not in imported_by("status", "--help", env=remote_env("http://127.0.0.1:9"))
    remote = imported_by("status", KEY, env=remote_env(f"http://127.0.0.1:{free_port()}"))
    assert "httpx" in remote and not remote & {"sqlalchemy", "sqlmodel", "psycopg", "sqlite3"}, remote


# =============================================================================================
# against a real `ikuflow web`
# =============================================================================================
def server_env() -> dict:
    """The server's environment: the test's, with the secret key of the test's own steps too
    (one history chain, whichever door a step took), and no IKUFLOW_SERVER of its own."""
    env = dict(os.environ)
    env["IKUFLOW_SECRET_KEY"] = os.environ.get("IKUFLOW_SECRET_KEY") or SECRET
    env.pop("IKUFLOW_SERVER", None)
    return env


@pytest.fixture
def server(directory, tmp_path):
    s = WebServer(tmp_path / "web.log", env=server_env())
    yield s
    s.stop()


@pytest.fixture
def season(svc):
    """Documents in several states and offices, some overdue (the signing date is past)."""
    svc.new("pacitan", "sdmo", 2026, SIGNING, COORD, at=utc("2026-01-12T09:00+07:00"))
    svc.new("pacitan", "hukum", 2026, SIGNING, SECR, at=utc("2026-01-12T09:00+07:00"))
    svc.advance("pacitan-hukum-2026", "submit", COORD_HUKUM, at=utc("2026-01-14T10:00+07:00"))
    svc.advance("pacitan-hukum-2026", "synchronize", SECR, at=utc("2026-01-16T10:00+07:00"))
    svc.new("badung", "sdmo", 2026, SIGNING, ADMIN, at=utc("2026-01-12T09:00+07:00"))
    from datetime import date, timedelta

    later = date.today() + timedelta(days=400)  # not due for a long time
    svc.new("pacitan", "sengketa", later.year, later, SECR, at=utc("2026-01-12T09:00+07:00"))


def tokens(cli, *emails: str) -> dict:
    out = {}
    for email in emails:
        r = cli("token", "create", email, "--json")
        assert r.exit_code == 0, r.stderr
        out[email] = json.loads(r.stdout)["token"]
    return out


def same(cli, url: str, token: str, *args: str, local_as: str | None = None):
    """Run ``args`` locally and through the server as ``token``'s person; both results, equal.

    Time-dependent text (time left, overdue by) may turn over between the two runs: once more then.
    """
    for attempt in range(3):
        local = cli(*args, *(["--as", local_as] if local_as else []))
        remote = cli(*args, env={"IKUFLOW_SERVER": url, "IKUFLOW_TOKEN": token})
        if (local.exit_code, local.stdout, local.stderr) == (remote.exit_code, remote.stdout, remote.stderr):
            return local, remote
    assert (remote.exit_code, remote.stdout, remote.stderr) == (local.exit_code, local.stdout, local.stderr), args
    raise AssertionError("unreachable")


def without(data, *keys):
    """``data`` (parsed JSON) without the keys that say when it was made."""
    if isinstance(data, list):
        return [without(x, *keys) for x in data]
    if isinstance(data, dict):
        return {k: without(v, *keys) for k, v in data.items() if k not in keys}
    return data


def test_the_read_commands_print_what_they_print_locally(cli, server, season):
    tok = tokens(cli, ADMIN, COORD)
    admin = tok[ADMIN]
    for args in [("status", KEY), ("status", "pacitan-hukum-2026"), ("list",), ("list", "--office", "pacitan"),
                 ("list", "--overdue"), ("list", "--state", "draft", "--division", "sdmo"), ("list", "--year", "2026"),
                 ("history", "pacitan-hukum-2026"), ("overdue",), ("overdue", "--office", "jawa-timur"),
                 ("report",), ("report", "--office", "jawa-timur"), ("report", "--year", "2026")]:
        local, remote = same(cli, server.url, admin, *args)
        assert local.exit_code == 0 and local.stdout, (args, local.stderr)
        for attempt in range(3):  # --json, without the clock's own fields
            mine = json.loads(cli(*args, "--json").stdout)
            theirs = json.loads(cli(*args, "--json", env={"IKUFLOW_SERVER": server.url,
                                                          "IKUFLOW_TOKEN": admin}).stdout)
            if without(mine, "now", "at", "overdue_seconds") == without(theirs, "now", "at", "overdue_seconds"):
                break
        else:
            assert without(theirs, "now", "at") == without(mine, "now", "at"), args
    # what the data holds is there: not two empty answers
    assert len(json.loads(cli("list", "--json").stdout)) == 4
    assert {r["key"] for r in json.loads(cli("overdue", "--json").stdout)} == \
        {KEY, "pacitan-hukum-2026", "badung-sdmo-2026"}
    # a coordinator sees their office's documents as the operator does
    for args in [("status", KEY), ("list", "--office", "pacitan"), ("history", KEY),
                 ("overdue", "--office", "pacitan")]:
        same(cli, server.url, tok[COORD], *args)
    # unknown document, office: the same message and exit code
    for args in [("status", "nope-x-2026"), ("history", "nope-x-2026"), ("status", ""),
                 ("list", "--office", "atlantis"), ("overdue", "--office", "atlantis"),
                 ("report", "--office", "atlantis")]:
        local, remote = same(cli, server.url, admin, *args)
        assert local.exit_code == 3 and "unknown" in local.stderr, (args, local.stderr)
    # a key with a slash or dots is one path segment: never another document or route
    env = {"IKUFLOW_SERVER": server.url, "IKUFLOW_TOKEN": admin}
    for args in [("status", "a/b"), ("status", ".."), ("status", f"{KEY}/history"), ("history", f"{KEY}/.."),
                 ("advance", f"{KEY}/events/submit", "submit")]:
        r = cli(*args, env=env)
        assert r.exit_code in (1, 3) and r.stderr.startswith("error: ") and not r.stdout, (args, r.stderr)


@pytest.mark.backends("sqlite")  # the local twin of each step is a copy of the SQLite file
def test_advance_through_the_api_is_the_local_step_and_refusals_are_its_exit_codes(cli, server, season,
                                                                                   tmp_path, database_url):
    from ikuflow.store.db import sqlite_path

    tok = tokens(cli, COORD, COORD_HUKUM, SECR, CHAIR)
    main = sqlite_path(database_url)

    def twin() -> str:
        path = tmp_path / f"twin-{time.monotonic_ns()}.db"
        copy_sqlite(main, str(path))
        return f"sqlite:///{path}"

    def compare(args: tuple, person: str, code: int) -> dict | None:
        """Fire ``args`` through the API and on a copy of the database taken just before."""
        local_db = twin()
        remote = cli(*args, "--json", env={"IKUFLOW_SERVER": server.url, "IKUFLOW_TOKEN": tok[person]})
        # (the database by its variable: --db would set it for the rest of this process)
        local = cli(*args, "--json", "--as", person, env={"IKUFLOW_DATABASE_URL": local_db})
        assert (remote.exit_code, remote.stdout, remote.stderr) == (local.exit_code, local.stdout, local.stderr), args
        assert remote.exit_code == code, (args, remote.stderr)
        return json.loads(remote.stdout) if code == 0 else None

    # refused: event not allowed (4), role missing (5), unknown event (3), unknown document (3),
    # a guard (send_back needs a reason: 4), a stale version (6); nothing changes
    compare(("advance", KEY, "approve"), COORD, 4)
    compare(("advance", KEY, "submit"), COORD_HUKUM, 5)
    compare(("advance", KEY, "fly"), COORD, 3)
    compare(("advance", "nope-x-2026", "submit"), COORD, 3)
    compare(("advance", "pacitan-hukum-2026", "send_back"), CHAIR, 4)
    compare(("advance", KEY, "submit", "--if-version", "7"), COORD, 6)
    assert json.loads(cli("status", KEY, "--json").stdout)["version"] == 0
    # done: the same answer as the local step (new state, version, due time, who is told)
    done = compare(("advance", KEY, "submit", "--if-version", "0"), COORD, 0)
    assert done is not None and (done["event"], done["from"], done["state"], done["version"]) == \
        ("submit", "draft", "division_review", 1) and done["notified"]
    sent_back = compare(("advance", "pacitan-hukum-2026", "send_back", "-m", "Indikator 2.3 belum sesuai"),
                        CHAIR, 0)
    assert sent_back is not None and (sent_back["from"], sent_back["state"]) == ("synchronized", "draft")
    # the plain output is the new state; the history says the step came through the API
    r = cli("advance", KEY, "synchronize", env={"IKUFLOW_SERVER": server.url, "IKUFLOW_TOKEN": tok[SECR]})
    assert (r.exit_code, r.stdout) == (0, "synchronized\n"), r.stderr
    hist = json.loads(cli("history", KEY, "--json").stdout)
    assert [(h["event"], h["actor"], h["channel"]) for h in hist] == \
        [("create", COORD, "cli"), ("submit", COORD, "api"), ("synchronize", SECR, "api")]
    # IKUFLOW_USER is the local actor; remotely the token names the actor and it is ignored
    r = cli("advance", KEY, "approve", env={"IKUFLOW_SERVER": server.url, "IKUFLOW_TOKEN": tok[CHAIR],
                                            "IKUFLOW_USER": COORD})
    assert (r.exit_code, r.stdout) == (0, "chair_approved\n"), r.stderr
    assert json.loads(cli("history", KEY, "--json").stdout)[-1]["actor"] == CHAIR
    # --as is refused there, and nothing is done
    r = cli("advance", KEY, "sign", "--as", CHAIR, env={"IKUFLOW_SERVER": server.url, "IKUFLOW_TOKEN": tok[CHAIR]})
    assert r.exit_code == 2 and "drop --as" in r.stderr
    assert json.loads(cli("status", KEY, "--json").stdout)["state"] == "chair_approved"


def test_a_bad_or_revoked_token_is_refused_with_exit_2(cli, server, season):
    from ikuflow.app.tokens import PREFIX

    tok = tokens(cli, CHAIR, OTHER_CHAIR)
    env = {"IKUFLOW_SERVER": server.url}
    ok = cli("status", KEY, env={**env, "IKUFLOW_TOKEN": tok[CHAIR]})
    assert ok.exit_code == 0, ok.stderr
    for bad in (tok[CHAIR][:-1], PREFIX + "x" * 43, "not-a-token"):
        r = cli("status", KEY, env={**env, "IKUFLOW_TOKEN": bad})
        assert r.exit_code == 2 and r.stderr.startswith("error: ") and "token" in r.stderr, (bad, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and not r.stdout
    assert cli("token", "revoke", "1").exit_code == 0
    for args in [("status", KEY), ("list",), ("advance", KEY, "submit")]:
        r = cli(*args, env={**env, "IKUFLOW_TOKEN": tok[CHAIR]})
        assert r.exit_code == 2 and "unknown or revoked" in r.stderr, (args, r.stderr)
    # another office's chair does not see this office's documents: as if there were none
    r = cli("status", KEY, env={**env, "IKUFLOW_TOKEN": tok[OTHER_CHAIR]})
    assert r.exit_code == 3 and f"unknown document '{KEY}'" in r.stderr, r.stderr
    assert json.loads(cli("status", KEY, "--json").stdout)["version"] == 0


def test_attach_download_verify_and_record_through_the_api_are_the_local_ones(cli, server, season, tmp_path):
    """Through IKUFLOW_SERVER the evidence commands act as the token's person: attach is the
    local attach (channel api, the same refusals), download gets the exact bytes, verify sends
    only the hash and prints what it prints locally, record is the local record; audit stays
    where the database is."""
    tok = tokens(cli, COORD, SECR, OTHER_CHAIR)
    pdf = tmp_path / "IKU SDMO 2026.pdf"
    pdf.write_bytes(b"%PDF-1.4\n% remote\n%%EOF\n")
    env = {"IKUFLOW_SERVER": server.url, "IKUFLOW_TOKEN": tok[COORD]}
    r = cli("attach", KEY, str(pdf), "--json", env=env)
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["content"]["name"] == "IKU SDMO 2026.pdf"
    hist = json.loads(cli("history", KEY, "--json").stdout)
    assert (hist[-1]["event"], hist[-1]["actor"], hist[-1]["channel"]) == ("attach", COORD, "api")
    # refusals are the local ones: not a PDF (2), --at (2), a document past draft (4)
    (tmp_path / "x.pdf").write_text("plain text")
    assert cli("attach", KEY, str(tmp_path / "x.pdf"), env=env).exit_code == 2
    assert cli("attach", KEY, str(pdf), "--at", "2026-01-20", env=env).exit_code == 2
    r = cli("attach", "pacitan-hukum-2026", str(pdf), env={**env, "IKUFLOW_TOKEN": tok[SECR]})
    assert r.exit_code == 4 and "send it back first" in r.stderr
    out = tmp_path / "back.pdf"
    r = cli("download", KEY, "-o", str(out), env=env)
    assert r.exit_code == 0 and out.read_bytes() == pdf.read_bytes(), r.stderr
    local, remote = same(cli, server.url, tok[COORD], "verify", str(out), "--json")
    assert local.exit_code == 0 and json.loads(remote.stdout)["matches"][0]["key"] == KEY
    # another office's person: no document of theirs has these bytes
    r = cli("verify", str(out), env={**env, "IKUFLOW_TOKEN": tok[OTHER_CHAIR]})
    assert r.exit_code == 3
    rec = cli("record", KEY, "--json", env=env)
    assert rec.exit_code == 0, rec.stderr
    here = json.loads(cli("record", KEY, "--json").stdout)
    assert without(json.loads(rec.stdout), "generated", "generated_local") == \
        without(here, "generated", "generated_local") and here["chain_intact"]
    r = cli("audit", "verify", env=env)
    assert r.exit_code == 2 and "where the database is" in r.stderr
