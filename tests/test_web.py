"""``ikuflow web`` (PRODUCT.md section 8) as a real process on a loopback port, driven over HTTP
with httpx: sign-in by a one-time e-mail link (delivered by ``outbox send`` to a real aiosmtpd
peer and read from the message), acting from the personal links in e-mails, the pages and the
JSON API with its error codes, and what every answer carries (security headers, the session
cookie's flags). Whatever a request did is checked in the database and in ``history --json``.
Both backends; one server per test (it starts in about half a second)."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from datetime import timedelta
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path

import pytest

from conftest import ADMIN, CHAIR, COORD, COORD_HUKUM, NOBODY, OTHER_CHAIR, SECR, db
from conftest import rows as sql
from smtp_peer import Peer, free_port
from webserver import WebServer

SECRET = "web-test-secret-key-0123456789abcdefghij"  # 40 characters
MAIL_FROM = "ikuflow@bawaslu.example.id"


def jakarta_today():
    from ikuflow.calendar import now_utc, to_local

    return to_local(now_utc(), "Asia/Jakarta").date()


#: a signing date already reached (sign is allowed), so every open step is overdue
SIGNING = jakarta_today() - timedelta(days=3)
YEAR = SIGNING.year
SDMO, HUKUM, BADUNG = f"pacitan-sdmo-{YEAR}", f"pacitan-hukum-{YEAR}", f"badung-sdmo-{YEAR}"


class Web:
    """``ikuflow web`` on a free loopback port, on the test's database; the SMTP peer its
    e-mails go to when :meth:`deliver` runs the sender."""

    def __init__(self, port: int, log: Path, peer: Peer, cli, base: str | None = None) -> None:
        import httpx

        self.server = WebServer(log, port)
        self.url = self.server.url
        self.base = base or self.url  # where the e-mails' links point (IKUFLOW_BASE_URL)
        self.peer, self.cli, self.seen = peer, cli, len(peer.received)
        # cookies go only where a test sends them (the client keeps none)
        never = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
        self.http = httpx.Client(base_url=self.url, follow_redirects=False, timeout=30, cookies=never)

    def tail(self) -> str:
        return self.server.tail()

    def stop(self) -> None:
        self.http.close()
        self.server.stop()

    # --- requests ---------------------------------------------------------------------------
    def get(self, path: str, cookie: str | None = None, **kw):
        return self.http.get(path, headers=_cookie(cookie), **kw)

    def post(self, path: str, cookie: str | None = None, **kw):
        return self.http.post(path, headers=_cookie(cookie), **kw)

    def api(self, method: str, path: str, token: str | None, body=None):
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return self.http.request(method, "/api/v1" + path, headers=headers,
                                 **({} if body is None else {"json": body}))

    # --- e-mail -----------------------------------------------------------------------------
    def deliver(self) -> list:
        """Run ``outbox send`` once; the messages the peer received since the last call."""
        r = self.cli("outbox", "send", "--json")
        assert r.exit_code == 0, r.stderr
        got = self.peer.received
        new, self.seen = got[self.seen:], len(got)
        return new

    def links(self, mail) -> list[str]:
        """The links into this server in a message's text part, each once, in order."""
        found = re.findall(re.escape(self.base) + r"/\S+", mail.text)
        return list(dict.fromkeys(found))

    # --- signing in -------------------------------------------------------------------------
    def sign_in_link(self, email: str) -> str:
        """Ask for a sign-in link for ``email`` and return the one the e-mail brought."""
        r = self.post("/signin", data={"email": email})
        assert r.status_code == 200, r.text
        links = [(m.rcpt_tos, u) for m in self.deliver() for u in self.links(m)
                 if u.startswith(self.base + "/signin/")]
        assert len(links) == 1 and links[0][0] == [email], links
        return links[0][1][len(self.base):]

    def sign_in(self, email: str) -> str:
        """The session cookie value of ``email``, signed in through the e-mailed link."""
        r = self.post(self.sign_in_link(email))
        assert r.status_code == 303 and r.headers["location"] == "/tasks", r.text
        return session_of(r)


def _cookie(value: str | None) -> dict:
    return {"cookie": f"ikuflow_session={value}"} if value else {}


def session_of(response) -> str:
    [header] = [h for h in response.headers.get_list("set-cookie") if h.startswith("ikuflow_session=")]
    return header.split(";", 1)[0].split("=", 1)[1]


def csrf_of(html: str) -> str:
    [value] = set(re.findall(r'name="csrf" value="([^"]+)"', html))
    return value


def link_csrf(token: str) -> str:
    """The CSRF token the server gives the form of action link ``token`` (an HMAC of the test's key)."""
    return hmac.new(SECRET.encode(), b"csrf:link:" + token.encode(), hashlib.sha256).hexdigest()[:40]


@pytest.fixture
def web(directory, tmp_path, monkeypatch, cli):
    port, smtp = free_port(), free_port()
    for name in ("IKUFLOW_SERVER", "IKUFLOW_TOKEN", "IKUFLOW_NOTIFICATIONS", "IKUFLOW_MAIL_LANGS",
                 "IKUFLOW_SMTP_USER", "IKUFLOW_SMTP_PASSWORD", "IKUFLOW_SMTP_CONNECTIONS",
                 "IKUFLOW_SMTP_MAX_ATTEMPTS", "IKUFLOW_SMTP_LEASE", "IKUFLOW_SMTP_RETRY_MAX", "SSL_CERT_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {"IKUFLOW_SECRET_KEY": SECRET, "IKUFLOW_BASE_URL": f"http://127.0.0.1:{port}",
                        "IKUFLOW_SMTP_HOST": "127.0.0.1", "IKUFLOW_SMTP_PORT": str(smtp),
                        "IKUFLOW_SMTP_TLS": "off", "IKUFLOW_SMTP_RETRY_BASE": "0.05",
                        "IKUFLOW_SMTP_TIMEOUT": "10", "IKUFLOW_MAIL_FROM": MAIL_FROM}.items():
        monkeypatch.setenv(name, value)
    peer = Peer(smtp).start()
    try:
        w = Web(port, tmp_path / "web.log", peer, cli)
        yield w
        w.stop()
    finally:
        peer.stop()


# --- documents, history and what changed --------------------------------------------------------
CLOCK = ("now", "time_left", "overdue_by", "overdue_seconds")  # fields that move with the clock


def ok(cli, *args: str) -> str:
    r = cli(*args)
    assert r.exit_code == 0, (args, r.stderr)
    return r.stdout


def new(cli, office: str, division: str, actor: str, signing=None) -> str:
    signing = signing or SIGNING
    return ok(cli, "new", "--office", office, "--division", division, "--year", str(signing.year),
              "--signing-date", signing.isoformat(), "--as", actor).strip()


def history(cli, key: str) -> list[dict]:
    return json.loads(ok(cli, "history", key, "--json"))


def snapshot(cli, key: str) -> tuple:
    """(state, version, history) of a document: equal before and after means nothing changed."""
    con = db()
    try:
        state, version = con.execute("SELECT state, version FROM document WHERE key = ?", (key,)).fetchone()
    finally:
        con.close()
    return state, version, history(cli, key)


def execute(query: str, *args) -> None:
    """One statement on the test's database (its connections commit each statement)."""
    con = db()
    try:
        con.execute(query, args)
    finally:
        con.close()


def without(data, *keys):
    """``data`` (parsed JSON) without ``keys`` at any depth."""
    if isinstance(data, list):
        return [without(x, *keys) for x in data]
    if isinstance(data, dict):
        return {k: without(v, *keys) for k, v in data.items() if k not in keys}
    return data


def season(cli) -> None:
    """Documents in several states and offices; all but one overdue (their signing date is past)."""
    assert new(cli, "pacitan", "sdmo", COORD) == SDMO                  # draft
    assert new(cli, "pacitan", "hukum", COORD_HUKUM) == HUKUM
    ok(cli, "advance", HUKUM, "submit", "--as", COORD_HUKUM)
    ok(cli, "advance", HUKUM, "synchronize", "--as", SECR)              # synchronized
    assert new(cli, "badung", "sdmo", ADMIN) == BADUNG                  # another regency
    new(cli, "pacitan", "sengketa", SECR, jakarta_today() + timedelta(days=400))  # not due for long


# --- action links -------------------------------------------------------------------------------
def action_links(web: Web, mail) -> dict[str, str]:
    """event -> the token of each action link in ``mail`` (each link names its event)."""
    from ikuflow.notify.links import read_token

    out = {}
    for url in web.links(mail):
        if url.startswith(web.base + "/a/"):
            token = url[len(web.base + "/a/"):]
            action = read_token(SECRET.encode(), token)
            assert action is not None and action.email == mail.rcpt_tos[0], url
            assert out.setdefault(action.event, token) == token  # one link per event (both languages)
    return out


def mail_to(mails: list, email: str, subject_has: str = ""):
    [mail] = [m for m in mails if m.rcpt_tos == [email] and subject_has in m.msg["Subject"]]
    return mail


def made_days_ago(days: float, action) -> str:
    """An action link signed with the test's key ``days`` ago (itsdangerous' own timestamp)."""
    from itsdangerous import TimestampSigner, URLSafeTimedSerializer

    class Then(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time() - days * 86400)

    return URLSafeTimedSerializer(SECRET.encode(), salt="ikuflow.action-link", signer=Then).dumps(list(action))


# =============================================================================================
# sign-in by e-mail link
# =============================================================================================
def test_sign_in_from_the_mailed_link_once_then_sign_out_ends_the_session(web, cli):
    from ikuflow.calendar import now_utc
    from ikuflow.store.db import fmt_ts

    new(cli, "pacitan", "sdmo", COORD)
    new(cli, "pacitan", "hukum", COORD_HUKUM)
    web.deliver()  # the create e-mails
    r = web.get("/tasks")
    assert r.status_code == 303 and r.headers["location"] == "/signin"

    path = web.sign_in_link(COORD)
    token = path.rsplit("/", 1)[1]
    digest = hashlib.sha256(token.encode()).hexdigest()
    login = "SELECT used_at, used_client, ended_at, email FROM web_login WHERE digest = ?"
    # opening the link (a mail scanner may) shows a button and spends nothing
    for _ in range(2):
        page = web.get(path)
        assert page.status_code == 200 and 'id="go"' in page.text and f'action="{path}"' in page.text
        assert "set-cookie" not in page.headers
    assert sql(login, digest) == [(None, None, None, COORD)]
    # the button spends it: a session cookie, then my tasks
    r = web.post(path)
    assert r.status_code == 303 and r.headers["location"] == "/tasks"
    cookie = session_of(r)
    [(used_at, used_client, ended_at, _)] = sql(login, digest)
    assert used_at is not None and used_client == "127.0.0.1" and ended_at is None
    tasks = web.get("/tasks", cookie)
    assert tasks.status_code == 200 and COORD in tasks.text
    assert f'href="/documents/{SDMO}"' in tasks.text and HUKUM not in tasks.text  # hers, not Dewi's
    assert web.get("/", cookie).headers["location"] == "/tasks"
    # the same link again: refused, no cookie
    again = web.post(path)
    assert again.status_code == 400 and "set-cookie" not in again.headers and 'href="/signin"' in again.text
    assert sql(login, digest)[0][0] == used_at
    # an expired link (asked for 20 minutes ago) is refused; one asked for 14 minutes ago works
    late, fresh = web.sign_in_link(COORD), web.sign_in_link(COORD)
    for link, minutes in ((late, 20), (fresh, 14)):
        execute("UPDATE web_login SET requested_at = ? WHERE digest = ?",
                fmt_ts(now_utc() - timedelta(minutes=minutes)),
                hashlib.sha256(link.rsplit("/", 1)[1].encode()).hexdigest())
    r = web.post(late)
    assert r.status_code == 400 and "set-cookie" not in r.headers
    assert sql(login, hashlib.sha256(late.rsplit("/", 1)[1].encode()).hexdigest())[0][0] is None
    second = web.post(fresh)
    assert second.status_code == 303 and session_of(second) != cookie
    # a cookie signed with another key is no session
    from itsdangerous import TimestampSigner

    forged = TimestampSigner(b"another-key-" + b"x" * 30, salt="ikuflow.session").sign(b"1").decode()
    assert web.get("/tasks", forged).status_code == 303
    # sign-out needs the session's CSRF token; then the cookie is dead even if kept
    csrf = csrf_of(tasks.text)
    refused = web.post("/signout", cookie, data={"csrf": "0" * 40})
    assert refused.status_code == 400 and web.get("/tasks", cookie).status_code == 200
    out = web.post("/signout", cookie, data={"csrf": csrf})
    assert out.status_code == 200
    [cleared] = [h for h in out.headers.get_list("set-cookie") if h.startswith("ikuflow_session=")]
    assert 'ikuflow_session="";' in cleared or "max-age=0" in cleared.lower()
    assert sql(login, digest)[0][2] is not None
    r = web.get("/tasks", cookie)
    assert r.status_code == 303 and r.headers["location"] == "/signin"
    assert web.get("/tasks", session_of(second)).status_code == 200  # the other session goes on
    # a session lasts 12 hours from its sign-in
    execute("UPDATE web_login SET used_at = ? WHERE used_at IS NOT NULL AND ended_at IS NULL",
            fmt_ts(now_utc() - timedelta(hours=12, minutes=1)))
    assert web.get("/tasks", session_of(second)).headers["location"] == "/signin"
    assert len(web.http.cookies) == 0  # every cookie above was sent by the test itself


def test_an_unknown_address_is_answered_like_a_known_one_and_gets_no_mail(web, cli):
    known = web.post("/signin", data={"email": COORD})
    unknown = web.post("/signin", data={"email": "siapa@nowhere.example.id"})
    assert known.status_code == unknown.status_code == 200
    assert known.text == unknown.text
    assert "set-cookie" not in known.headers and "set-cookie" not in unknown.headers
    assert sql("SELECT recipient, template FROM outbox") == [(COORD, "sign_in")]
    assert sorted(sql("SELECT email, person_id IS NULL FROM web_login")) == \
        [("siapa@nowhere.example.id", True), (COORD, False)]
    mails = web.deliver()
    assert [m.rcpt_tos for m in mails] == [[COORD]]
    # something that is not an address is refused, and nothing is written
    bad = web.post("/signin", data={"email": "bukan alamat"})
    assert bad.status_code == 400 and 'id="message"' in bad.text
    for email in ("", "tanpa-at.example.id", "a@b\x00", "a\x1b[31m@b.id", "x" * 310 + "@example.id"):
        assert web.post("/signin", data={"email": email}).status_code == 400, email
    assert web.post("/signin", data={}).status_code == 400
    assert len(sql("SELECT id FROM web_login")) == 2


def test_sign_in_requests_are_limited_per_address_and_per_client(web, cli):
    from ikuflow.calendar import now_utc
    from ikuflow.store.db import fmt_ts

    for _ in range(5):
        assert web.post("/signin", data={"email": COORD}).status_code == 200
    sixth = web.post("/signin", data={"email": COORD.upper()})  # the same address
    assert sixth.status_code == 429 and "15" in sixth.text
    assert sql("SELECT count(*) FROM outbox WHERE recipient = ?", COORD) == [(5,)]
    assert sql("SELECT count(*) FROM web_login") == [(5,)]
    assert web.post("/signin", data={"email": SECR}).status_code == 200  # another address may
    # after the 15 minutes the address may ask again
    execute("UPDATE web_login SET requested_at = ? WHERE email = ?", fmt_ts(now_utc() - timedelta(minutes=16)), COORD)
    assert web.post("/signin", data={"email": COORD}).status_code == 200
    # 30 from one client within 15 minutes (any addresses, unknown ones too), then 429 for all
    recent = 2  # Budi's and Sri's latest
    for i in range(30 - recent):
        assert web.post("/signin", data={"email": f"orang{i}@nowhere.example.id"}).status_code == 200, i
    assert web.post("/signin", data={"email": CHAIR}).status_code == 429
    assert sql("SELECT count(*) FROM outbox WHERE recipient = ?", CHAIR) == [(0,)]


# =============================================================================================
# acting from the personal links in e-mails
# =============================================================================================
def test_acting_from_the_links_in_the_e_mails_once_and_only_by_a_post_with_its_csrf(web, cli):
    from ikuflow.notify.links import Action, make_token, read_token

    new(cli, "pacitan", "sdmo", COORD)
    # the create e-mail asks Sri to submit: her link does it, through the link channel
    links = action_links(web, mail_to(web.deliver(), COORD))
    assert list(links) == ["submit"]
    assert read_token(SECRET.encode(), links["submit"]) == Action(COORD, SDMO, 0, "submit")
    page = web.get(f"/a/{links['submit']}")
    assert page.status_code == 200 and 'id="do"' in page.text and SDMO in page.text
    assert csrf_of(page.text) == link_csrf(links["submit"])
    r = web.post(f"/a/{links['submit']}", data={"csrf": csrf_of(page.text)})
    assert r.status_code == 200 and 'id="done"' in r.text
    assert [(h["event"], h["actor"], h["channel"]) for h in history(cli, SDMO)] == \
        [("create", COORD, "cli"), ("submit", COORD, "link")]

    # the submit e-mail asks Budi to synchronize or send back
    mails = web.deliver()
    assert [m.rcpt_tos for m in mails] == [[SECR]]
    links = action_links(web, mails[0])
    assert sorted(links) == ["send_back", "synchronize"]
    sync = f"/a/{links['synchronize']}"
    before = snapshot(cli, SDMO)
    assert before[:2] == ("division_review", 1)
    for _ in range(2):  # opening it (a mail scanner may) changes nothing
        page = web.get(sync)
        assert page.status_code == 200 and 'id="do"' in page.text and 'id="stale"' not in page.text
    assert snapshot(cli, SDMO) == before
    # a POST without the form's CSRF token, with a wrong one or with another link's: 403, nothing
    for data in ({}, {"csrf": "0" * 40}, {"csrf": link_csrf(links["send_back"])}):
        r = web.post(sync, data=data)
        assert r.status_code == 403 and 'id="done"' not in r.text, data
    assert snapshot(cli, SDMO) == before
    # the button: synchronized, as Budi, through the link channel
    r = web.post(sync, data={"csrf": csrf_of(page.text)})
    assert r.status_code == 200 and 'id="done"' in r.text
    after = snapshot(cli, SDMO)
    assert after[:2] == ("synchronized", 2) and after[2][:-1] == before[2]
    last = after[2][-1]
    assert (last["event"], last["actor"], last["from"], last["to"], last["channel"]) == \
        ("synchronize", SECR, "division_review", "synchronized", "link")
    # a link works once: again, or the other link of the same e-mail, is stale and does nothing
    for token in (links["synchronize"], links["send_back"]):
        r = web.post(f"/a/{token}", data={"csrf": link_csrf(token), "comment": "terlambat"})
        assert r.status_code == 409 and 'id="stale"' in r.text and 'id="do"' not in r.text
        page = web.get(f"/a/{token}")
        assert page.status_code == 200 and 'id="stale"' in page.text and 'id="do"' not in page.text
    assert snapshot(cli, SDMO) == after

    # links that are not ours: a damaged signature, another key: 404, nothing changes
    chair = Action(CHAIR, SDMO, 2, "approve")
    token = links["synchronize"]
    damaged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    foreign = make_token(b"another-installation-key-0123456789abcdef", chair)
    for bad in (damaged, foreign, made_days_ago(31, chair), "x", "a.b.c"):
        assert web.get(f"/a/{bad}").status_code == 404, bad
        r = web.post(f"/a/{bad}", data={"csrf": link_csrf(bad)})
        assert r.status_code == 404 and 'id="done"' not in r.text, bad
    assert snapshot(cli, SDMO) == after
    # a well-signed link for someone who may not take the step is refused by the role check
    hers = make_token(SECRET.encode(), Action(COORD_HUKUM, SDMO, 2, "approve"))
    r = web.post(f"/a/{hers}", data={"csrf": link_csrf(hers)})
    assert r.status_code == 403 and 'id="error"' in r.text
    assert snapshot(cli, SDMO) == after
    # a link 29 days old still works (30 days at most)
    old = made_days_ago(29, chair)
    assert read_token(SECRET.encode(), old) == chair
    page = web.get(f"/a/{old}")
    assert page.status_code == 200 and 'id="do"' in page.text
    r = web.post(f"/a/{old}", data={"csrf": csrf_of(page.text)})
    assert r.status_code == 200 and 'id="done"' in r.text
    last = history(cli, SDMO)[-1]
    assert (last["event"], last["actor"], last["channel"]) == ("approve", CHAIR, "link")


def test_send_back_from_a_link_needs_a_reason(web, cli):
    new(cli, "pacitan", "sdmo", COORD)
    ok(cli, "advance", SDMO, "submit", "--as", COORD)
    links = action_links(web, mail_to(web.deliver(), SECR))
    back = f"/a/{links['send_back']}"
    page = web.get(back)
    assert page.status_code == 200 and 'name="comment"' in page.text
    csrf = csrf_of(page.text)
    before = snapshot(cli, SDMO)
    for data in ({"csrf": csrf}, {"csrf": csrf, "comment": " \u200b "}):
        r = web.post(back, data=data)
        assert r.status_code == 409 and 'id="error"' in r.text and "a comment is required" in r.text, data
        assert 'id="do"' in r.text  # the form is there to try again
    assert snapshot(cli, SDMO) == before
    reason = "Indikator 2.3 belum sesuai Renstra"
    r = web.post(back, data={"csrf": csrf, "comment": reason})
    assert r.status_code == 200 and 'id="done"' in r.text
    state, version, rows = snapshot(cli, SDMO)
    assert (state, version) == ("draft", 2)
    assert (rows[-1]["event"], rows[-1]["actor"], rows[-1]["comment"], rows[-1]["channel"]) == \
        ("send_back", SECR, reason, "link")
    # Sri is told, with a new submit link for the new version; Budi's synchronize link is dead
    mail = mail_to(web.deliver(), COORD)
    assert reason in mail.text
    from ikuflow.notify.links import Action, read_token

    assert read_token(SECRET.encode(), action_links(web, mail)["submit"]) == Action(COORD, SDMO, 2, "submit")
    assert web.post(f"/a/{links['synchronize']}", data={"csrf": link_csrf(links["synchronize"])}).status_code == 409
    assert snapshot(cli, SDMO)[:2] == ("draft", 2)


# =============================================================================================
# the JSON API
# =============================================================================================
def tokens(cli, *emails: str) -> dict[str, str]:
    return {e: json.loads(ok(cli, "token", "create", e, "--json"))["token"] for e in emails}


def error_of(r, status: int, exit_code: int) -> str:
    """The message of an API error answer, after checking its status and shape."""
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert list(body) == ["error"] and sorted(body["error"]) == ["exit_code", "message"], body
    assert body["error"]["exit_code"] == exit_code, body
    return body["error"]["message"]


def cli_error(cli, *args: str) -> tuple[int, str]:
    """(exit code, message) of a CLI command that fails."""
    r = cli(*args)
    assert r.exit_code != 0, args
    assert r.stderr.startswith("error: "), r.stderr
    return r.exit_code, r.stderr.strip().splitlines()[0][len("error: "):]


STATUS_OF_EXIT = {2: 400, 3: 404, 4: 409, 5: 403, 6: 412}


def test_api_reads_answer_as_the_cli_s_json_within_the_person_s_offices(web, cli):
    season(cli)
    t = tokens(cli, COORD, SECR, CHAIR, ADMIN, NOBODY, OTHER_CHAIR)

    def local(*args: str):
        return json.loads(ok(cli, *args, "--json"))

    def api(who: str, path: str, params=None):
        r = web.http.get("/api/v1" + path, params=params, headers={"authorization": f"Bearer {t[who]}"})
        assert r.status_code == 200, (who, path, params, r.text)
        return r.json()

    # me: the person, their roles and the offices they see
    assert api(COORD, "/me") == {"email": COORD, "name": "Sri Wahyuni", "roles": [
        {"role": "coordinator", "office": "pacitan", "division": "sdmo"}], "offices": ["pacitan"], "top": ["pacitan"]}
    assert api(ADMIN, "/me")["offices"] is None and api(ADMIN, "/me")["roles"][0]["role"] == "admin"
    assert api(NOBODY, "/me") == {"email": NOBODY, "name": "Tanpa Peran", "roles": [], "offices": [], "top": []}
    assert api(OTHER_CHAIR, "/me")["offices"] == ["badung"]

    # documents, as list --json, with each filter; a person sees their own offices only
    everything = local("list")
    assert {r["office"] for r in everything} == {"pacitan", "badung"} and len(everything) == 4
    pacitan = [r for r in everything if r["office"] == "pacitan"]
    assert api(ADMIN, "/documents") == everything
    assert api(SECR, "/documents") == api(CHAIR, "/documents") == api(COORD, "/documents") == pacitan
    assert api(OTHER_CHAIR, "/documents") == [r for r in everything if r["office"] == "badung"]
    assert api(NOBODY, "/documents") == []
    filters = [{"state": "draft"}, {"state": "synchronized"}, {"office": "pacitan"}, {"division": "hukum"},
               {"division": "sdmo"}, {"overdue": "true"}, {"overdue": "false"},
               {"state": "draft", "division": "sdmo", "overdue": "true"}]
    for params in filters:
        args = [a for k, v in params.items() if v != "false"
                for a in ((f"--{k}",) if k == "overdue" else (f"--{k}", v))]
        expected = local("list", *args)
        assert expected != everything or params == {"overdue": "false"}, params  # each filter filters
        assert api(ADMIN, "/documents", params) == expected, params
        assert api(SECR, "/documents", params) == [r for r in expected if r["office"] == "pacitan"], params
    assert api(ADMIN, "/documents", {"office": "badung"}) == local("list", "--office", "badung") != []
    assert [r["key"] for r in api(SECR, "/documents", {"overdue": "true"})] == [HUKUM, SDMO]

    # one document as status --json, its history as history --json
    for who, key in ((SECR, SDMO), (SECR, HUKUM), (COORD, HUKUM), (ADMIN, BADUNG), (OTHER_CHAIR, BADUNG)):
        assert without(api(who, f"/documents/{key}"), *CLOCK) == without(local("status", key), *CLOCK), (who, key)
        assert api(who, f"/documents/{key}/history") == local("history", key), (who, key)
    assert [h["event"] for h in api(SECR, f"/documents/{HUKUM}/history")] == ["create", "submit", "synchronize"]

    # overdue as overdue --json (of the person's offices); the report as report --json
    assert without(api(ADMIN, "/overdue"), *CLOCK) == without(local("overdue"), *CLOCK)
    mine = without(local("overdue", "--office", "pacitan"), *CLOCK)
    assert [r["key"] for r in mine] == [SDMO, HUKUM]
    assert without(api(SECR, "/overdue"), *CLOCK) == mine
    assert without(api(CHAIR, "/overdue", {"office": "pacitan"}), *CLOCK) == mine
    assert without(api(OTHER_CHAIR, "/overdue"), *CLOCK) == without(local("overdue", "--office", "badung"), *CLOCK)
    assert [r["key"] for r in api(OTHER_CHAIR, "/overdue")] == [BADUNG]
    assert without(api(ADMIN, "/overdue", {"office": "bali"}), *CLOCK) == \
        without(local("overdue", "--office", "bali"), *CLOCK)
    assert without(api(CHAIR, "/report"), "at") == without(local("report", "--office", "pacitan"), "at")
    assert without(api(ADMIN, "/report"), "at") == without(local("report"), "at")
    assert without(api(ADMIN, "/report", {"office": "bali"}), "at") == \
        without(local("report", "--office", "bali"), "at")
    assert without(api(SECR, "/report", {"year": YEAR}), "at") == \
        without(local("report", "--office", "pacitan", "--year", str(YEAR)), "at")
    assert [o["code"] for o in api(OTHER_CHAIR, "/report")["offices"]] == ["badung"]
    assert api(OTHER_CHAIR, "/report")["offices"][0]["documents"] == 1

    # a regency's chair sees nothing of another regency: 404 as for what does not exist
    unknown_doc = error_of(web.api("GET", "/documents/pacitan-nope-2026", t[OTHER_CHAIR]), 404, 3)
    assert (3, unknown_doc) == cli_error(cli, "status", "pacitan-nope-2026")
    for path in (f"/documents/{SDMO}", f"/documents/{SDMO}/history"):
        msg = error_of(web.api("GET", path, t[OTHER_CHAIR]), 404, 3)
        assert msg == unknown_doc.replace("pacitan-nope-2026", SDMO), msg
    for path in ("/documents?office=pacitan", "/overdue?office=pacitan", "/report?office=pacitan",
                 "/overdue?office=jawa-timur", "/report?office=ri"):
        error_of(web.api("GET", path, t[OTHER_CHAIR]), 404, 3)
    error_of(web.api("GET", "/report", t[NOBODY]), 404, 3)
    error_of(web.api("GET", "/overdue?office=nowhere", t[ADMIN]), 404, 3)
    error_of(web.api("GET", "/documents/nope", t[ADMIN]), 404, 3)
    error_of(web.api("GET", "/no/such/path", t[ADMIN]), 404, 3)
    # a query value of the wrong type: 400 (exit 2)
    for path in ("/documents?overdue=maybe", "/report?year=twenty", "/report?year=0", "/report?year=10000",
                 "/report?year=99999999999999999999"):
        assert "see /openapi.json" in error_of(web.api("GET", path, t[ADMIN]), 400, 2), path
    # a filter the CLI refuses is refused alike
    for params, args in (({"state": "bogus"}, ("--state", "bogus")), ({"office": "nowhere"}, ("--office", "nowhere")),
                         ({"division": "nope"}, ("--division", "nope"))):
        r = cli("list", *args, "--json")
        answer = web.http.get("/api/v1/documents", params=params, headers={"authorization": f"Bearer {t[ADMIN]}"})
        if r.exit_code == 0:
            assert answer.status_code == 200 and answer.json() == json.loads(r.stdout), params
        else:
            code, msg = cli_error(cli, "list", *args)
            assert error_of(answer, STATUS_OF_EXIT[code], code) == msg, params


def test_api_events_fire_as_the_token_s_person_and_refusals_are_the_cli_s(web, cli):
    new(cli, "pacitan", "sdmo", COORD)
    assert new(cli, "badung", "sdmo", ADMIN) == BADUNG
    t = tokens(cli, COORD, COORD_HUKUM, SECR, CHAIR, OTHER_CHAIR)

    def fire(who: str, event: str, body=None, key: str = SDMO):
        return web.api("POST", f"/documents/{key}/events/{event}", t[who], body)

    before = snapshot(cli, SDMO)
    # each refusal: the CLI's exit code and message, as its HTTP status; nothing changes
    refusals = [(COORD_HUKUM, "submit", None, ()),           # 403: not her division
                (COORD, "approve", None, ()),                 # 409: not allowed in draft
                (COORD, "frobnicate", None, ()),              # not an event of the workflow
                (COORD, "submit", {"version": 3}, ("--if-version", "3")),  # 412: a stale version
                (CHAIR, "send_back", {"comment": "x"}, ("--comment", "x"))]
    seen = set()
    for who, event, body, args in refusals:
        code, msg = cli_error(cli, "advance", SDMO, event, "--as", who, *args)
        assert error_of(fire(who, event, body), STATUS_OF_EXIT[code], code) == msg, (who, event)
        seen.add(code)
    assert {4, 5, 6} <= seen
    assert snapshot(cli, SDMO) == before
    # another regency's chair: 404 as for a document that does not exist; an unknown one: 404
    assert error_of(fire(OTHER_CHAIR, "submit"), 404, 3) == f"unknown document '{SDMO}'; see 'ikuflow list'"
    error_of(fire(COORD, "submit", key="pacitan-nope-2026"), 404, 3)
    # a body that is not the request's: 400 (exit 2)
    for body in ({"version": "tiga"}, {"version": -1}, {"version": 2**63}, {"version": True}, {"version": 0.5},
                 {"comment": ["a"]}, [1, 2]):
        assert "see /openapi.json" in error_of(fire(COORD, "submit", body), 400, 2), body
    r = web.http.post(f"/api/v1/documents/{SDMO}/events/submit", content=b"{not json",
                      headers={"authorization": f"Bearer {t[COORD]}", "content-type": "application/json"})
    error_of(r, 400, 2)
    assert snapshot(cli, SDMO) == before

    # the step: the new status (as status --json) and what happened, through the api channel
    r = fire(COORD, "submit", {"comment": "siap ditelaah", "version": 0})
    assert r.status_code == 200, r.text
    answer = r.json()
    assert (answer["state"], answer["version"], answer["event"], answer["from"], answer["acting_for"]) == \
        ("division_review", 1, "submit", "draft", None)
    assert answer["notified"] == [SECR]
    status = json.loads(ok(cli, "status", SDMO, "--json"))
    assert without({k: v for k, v in answer.items() if k in status}, *CLOCK) == without(status, *CLOCK)
    last = history(cli, SDMO)[-1]
    assert (last["event"], last["actor"], last["comment"], last["channel"]) == ("submit", COORD, "siap ditelaah", "api")
    assert sql("SELECT recipient FROM outbox WHERE template = 'submit'") == [(SECR,)]
    # no body at all is fine; version 0 now is stale (412)
    assert error_of(fire(SECR, "synchronize", {"version": 0}), 412, 6)
    r = web.http.post(f"/api/v1/documents/{SDMO}/events/synchronize", headers={"authorization": f"Bearer {t[SECR]}"})
    assert r.status_code == 200 and r.json()["state"] == "synchronized"
    # send_back needs a reason (409 with the guard's words), then sends it back
    for body in (None, {"comment": "   "}):
        assert "a comment is required" in error_of(fire(CHAIR, "send_back", body), 409, 4)
    r = fire(CHAIR, "send_back", {"comment": "Bab II belum lengkap", "version": 2})
    assert r.status_code == 200 and r.json()["state"] == "draft"
    assert [(h["event"], h["actor"], h["channel"]) for h in history(cli, SDMO)] == [
        ("create", COORD, "cli"), ("submit", COORD, "api"), ("synchronize", SECR, "api"), ("send_back", CHAIR, "api")]
    assert snapshot(cli, BADUNG)[:2] == ("draft", 0)


def test_api_refuses_missing_bad_and_revoked_tokens_with_401(web, cli):
    new(cli, "pacitan", "sdmo", COORD)
    made = json.loads(ok(cli, "token", "create", COORD, "--json"))
    other = tokens(cli, SECR)[SECR]
    for headers in ({}, {"authorization": "Basic " + made["token"]}, {"authorization": "Bearer"},
                    {"authorization": made["token"]}, {"authorization": "Bearer " + made["token"][:-1]},
                    {"authorization": "Bearer ikf_" + "A" * 43}):
        r = web.http.get("/api/v1/me", headers=headers)
        assert r.headers["www-authenticate"] == "Bearer", headers
        assert "ikuflow token create" in error_of(r, 401, 2), headers
    assert json.loads(ok(cli, "token", "list", "--json"))[0]["last_used_at"] is None
    # a working token; revoked in the middle of its requests, refused from the next one on
    assert web.api("GET", "/me", made["token"]).json()["email"] == COORD
    assert web.api("GET", f"/documents/{SDMO}", made["token"]).status_code == 200
    assert json.loads(ok(cli, "token", "list", "--person", COORD, "--json"))[0]["last_used_at"] is not None
    ok(cli, "token", "revoke", str(made["id"]))
    before = snapshot(cli, SDMO)
    for method, path in (("GET", "/me"), ("GET", f"/documents/{SDMO}"), ("GET", "/documents"),
                         ("POST", f"/documents/{SDMO}/events/submit")):
        error_of(web.api(method, path, made["token"]), 401, 2)
    assert snapshot(cli, SDMO) == before
    assert web.api("GET", "/me", other).json()["email"] == SECR  # only that token


# =============================================================================================
# the pages of a signed-in person
# =============================================================================================
def test_the_document_page_offers_my_actions_and_fires_them_with_the_session_s_csrf(web, cli):
    new(cli, "pacitan", "sdmo", COORD)
    ok(cli, "advance", SDMO, "submit", "--as", COORD)
    assert new(cli, "badung", "sdmo", ADMIN) == BADUNG
    web.deliver()
    budi, sri = web.sign_in(SECR), web.sign_in(COORD)
    page = web.get(f"/documents/{SDMO}", budi)
    assert page.status_code == 200 and 'data-state="division_review"' in page.text
    assert 'id="do-synchronize"' in page.text and 'id="do-send_back"' in page.text
    assert 'id="do-approve"' not in page.text and 'id="do-submit"' not in page.text
    assert f'action="/documents/{SDMO}/events/synchronize"' in page.text
    csrf = csrf_of(page.text)
    assert 'id="do-' not in web.get(f"/documents/{SDMO}", sri).text  # nothing for Sri to do now
    before = snapshot(cli, SDMO)
    # without the session's CSRF token (none, wrong, or Sri's): 403, nothing changes
    sris = csrf_of(web.get("/tasks", sri).text)
    for data in ({"version": "1"}, {"csrf": "0" * 40, "version": "1"}, {"csrf": sris, "version": "1"}):
        r = web.post(f"/documents/{SDMO}/events/synchronize", budi, data=data)
        assert r.status_code == 403 and 'id="error"' in r.text, data
    # a form posted from another site is refused even with the right token
    for header in ({"sec-fetch-site": "cross-site"}, {"origin": "https://evil.example"}):
        r = web.http.post(f"/documents/{SDMO}/events/synchronize", data={"csrf": csrf, "version": "1"},
                          headers={"cookie": f"ikuflow_session={budi}", **header})
        assert r.status_code == 403, header
    # a stale version (412), a step not his (403): the page says why, nothing changes
    r = web.post(f"/documents/{SDMO}/events/synchronize", budi, data={"csrf": csrf, "version": "0"})
    assert r.status_code == 412 and 'id="error"' in r.text
    r = web.post(f"/documents/{SDMO}/events/submit", sri, data={"csrf": sris, "version": "1"})
    assert r.status_code == 409 and 'id="error"' in r.text
    r = web.post(f"/documents/{SDMO}/events/synchronize", sri, data={"csrf": sris, "version": "1"})
    assert r.status_code == 403 and 'id="error"' in r.text
    assert snapshot(cli, SDMO) == before
    # the button: synchronized, as Budi, through the web channel
    r = web.post(f"/documents/{SDMO}/events/synchronize", budi, data={"csrf": csrf, "version": "1", "comment": ""})
    assert r.status_code == 303 and r.headers["location"] == f"/documents/{SDMO}?done=synchronize"
    state, version, rows = snapshot(cli, SDMO)
    assert (state, version) == ("synchronized", 2) and rows[:-1] == before[2]
    assert (rows[-1]["event"], rows[-1]["actor"], rows[-1]["channel"]) == ("synchronize", SECR, "web")
    page = web.get(r.headers["location"], budi)
    assert 'id="done"' in page.text and 'data-state="synchronized"' in page.text
    assert 'id="do-synchronize"' not in page.text
    # a badung document does not exist for a pacitan person: 404, and its button does nothing
    assert web.get(f"/documents/{BADUNG}", budi).status_code == 404
    r = web.post(f"/documents/{BADUNG}/events/submit", budi, data={"csrf": csrf, "version": "0"})
    assert r.status_code == 404
    assert snapshot(cli, BADUNG)[:2] == ("draft", 0)
    assert web.get(f"/documents/{SDMO}").status_code == 303  # signed out: to the sign-in page
    # the overdue list and the report of Budi's office: pacitan's, not badung's
    overdue = web.get("/overdue", budi)
    assert overdue.status_code == 200 and f'href="/documents/{SDMO}"' in overdue.text and BADUNG not in overdue.text
    assert web.get("/overdue?office=badung", budi).status_code == 404
    report = web.get("/report", budi)
    assert report.status_code == 200 and "Pacitan" in report.text and "Badung" not in report.text


def test_every_answer_carries_the_security_headers_and_the_session_cookie_is_httponly_lax(web, cli, tmp_path,
                                                                                          monkeypatch):
    token = tokens(cli, COORD)[COORD]
    answers = [web.get("/signin"), web.get("/tasks"), web.get("/no/such/page"), web.get("/a/forged"),
               web.post("/signin", data={"email": "x"}), web.api("GET", "/me", None),
               web.api("GET", "/me", token), web.api("GET", "/documents/nope", token), web.get("/openapi.json")]
    assert [a.status_code for a in answers] == [200, 303, 404, 404, 400, 401, 200, 404, 200]
    for a in answers:
        csp = a.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "script" not in csp, a.url
        assert a.headers["x-content-type-options"] == "nosniff" and a.headers["cache-control"] == "no-store", a.url
        if not a.url.path.startswith("/api/"):  # (JSON is never a page: CSP's frame-ancestors is enough)
            assert a.headers["x-frame-options"] == "DENY" and a.headers["referrer-policy"] == "no-referrer", a.url
    assert "<script" not in answers[0].text and "http" not in answers[0].text.split("<body>", 1)[1]
    paths = web.get("/openapi.json").json()["paths"]
    assert {"/api/v1/me", "/api/v1/documents", "/api/v1/documents/{key}", "/api/v1/documents/{key}/history",
            "/api/v1/documents/{key}/events/{event}", "/api/v1/overdue", "/api/v1/report"} <= set(paths)
    # the session cookie: HttpOnly, SameSite=Lax, for the whole site; not Secure on plain http
    r = web.post(web.sign_in_link(CHAIR))
    [cookie] = [h for h in r.headers.get_list("set-cookie") if h.startswith("ikuflow_session=")]
    flags = [f.strip().lower() for f in cookie.split(";")[1:]]
    assert "httponly" in flags and "samesite=lax" in flags and "path=/" in flags and "secure" not in flags
    assert r.headers["x-frame-options"] == "DENY"
    # behind https (the base URL says so) the cookie is Secure too
    monkeypatch.setenv("IKUFLOW_BASE_URL", "https://iku.example.id")
    behind = Web(free_port(), tmp_path / "web-https.log", web.peer, cli, base="https://iku.example.id")
    try:
        path = behind.sign_in_link(SECR)
        r = behind.post(path)
        assert r.status_code == 303
        [cookie] = [h for h in r.headers.get_list("set-cookie") if h.startswith("ikuflow_session=")]
        flags = [f.strip().lower() for f in cookie.split(";")[1:]]
        assert "secure" in flags and "httponly" in flags and "samesite=lax" in flags
    finally:
        behind.stop()


def test_sign_in_links_point_to_the_configured_address_never_to_the_request_s_host(directory, tmp_path,
                                                                                   monkeypatch, cli):
    """A request naming another Host must not get a live sign-in link mailed that points there;
    without IKUFLOW_BASE_URL, ``ikuflow web`` links to the address it listens on, and says so."""
    port, smtp = free_port(), free_port()
    monkeypatch.delenv("IKUFLOW_BASE_URL", raising=False)
    for name, value in {"IKUFLOW_SECRET_KEY": SECRET, "IKUFLOW_SMTP_HOST": "127.0.0.1",
                        "IKUFLOW_SMTP_PORT": str(smtp), "IKUFLOW_SMTP_TLS": "off",
                        "IKUFLOW_MAIL_FROM": MAIL_FROM}.items():
        monkeypatch.setenv(name, value)
    peer = Peer(smtp).start()
    try:
        w = Web(port, tmp_path / "web.log", peer, cli)
        try:
            r = w.http.post("/signin", data={"email": COORD}, headers={"host": "evil.example"})
            assert r.status_code == 200, r.text
            [mail] = w.deliver()
            assert "evil.example" not in mail.text
            assert re.search(rf"http://127\.0\.0\.1:{port}/signin/\S+", mail.text), mail.text
            assert f"links point to http://127.0.0.1:{port} (set IKUFLOW_BASE_URL" in w.tail()
        finally:
            w.stop()
    finally:
        peer.stop()


def test_two_web_processes_serve_one_database_as_one(web, directory, tmp_path, cli):
    """Several ``web`` processes on one database (PostgreSQL across nodes; on SQLite, processes
    sharing one file): a sign-in asked of one is spent through the other, its session works on
    both, and two steps on the same version through the two are one step and one 412."""
    other = Web(free_port(), tmp_path / "web2.log", web.peer, cli, base=web.base)
    try:
        key = new(cli, "pacitan", "sdmo", COORD)
        web.deliver()
        path = web.sign_in_link(COORD)  # asked of the first, spent through the second
        r = other.post(path)
        assert r.status_code == 303, r.text
        cookie = session_of(r)
        for server in (web, other):
            page = server.get(f"/documents/{key}", cookie)
            assert page.status_code == 200 and 'id="do-submit"' in page.text
        csrf = csrf_of(web.get(f"/documents/{key}", cookie).text)
        form = {"csrf": csrf, "version": "0"}
        first = web.post(f"/documents/{key}/events/submit", cookie, data=form)
        second = other.post(f"/documents/{key}/events/submit", cookie, data=form)
        assert first.status_code == 303 and second.status_code == 412, (first.text, second.text)
        steps = [(h["event"], h["channel"], h["actor"]) for h in history(cli, key)]
        assert steps == [("create", "cli", COORD), ("submit", "web", COORD)]
        # signing out through one ends the session on both
        assert web.post("/signout", cookie, data={"csrf": csrf}).status_code == 200
        assert other.get("/tasks", cookie).status_code == 303
    finally:
        other.stop()


def test_my_tasks_come_due_first_fifty_to_a_page(web, cli):
    """55 documents wait for the secretariat: page 1 shows the 50 due first (by due time, then
    key), page 2 the other 5, a page past the end the last; the coordinator sees none of them."""
    from datetime import date

    from ikuflow.app.service import Service

    svc = Service()
    try:
        keys = []
        for year in range(2030, 2085):  # signing dates spread over the years: distinct due times
            keys.append(svc.new("pacitan", "sdmo", year, date(year - 1, 12, 1 + year % 28), COORD)["key"])
        svc.advance_many([(k, "submit", None) for k in keys], COORD)
        due = {k: svc.status(k)["due_at"] for k in keys}
    finally:
        svc.close()
    expected = sorted(keys, key=lambda k: (due[k], k))
    cookie = web.sign_in(SECR)
    shown = []
    for page in (1, 2):
        r = web.get(f"/tasks?page={page}", cookie)
        assert r.status_code == 200 and 'id="total">(55 ' in r.text
        shown.append(re.findall(r'<a href="/documents/([^"]+)">', r.text))
    assert shown[0] == expected[:50] and shown[1] == expected[50:]
    assert re.findall(r'<a href="/documents/([^"]+)">', web.get("/tasks?page=9", cookie).text) == expected[50:]
    assert 'id="nothing"' in web.get("/tasks", web.sign_in(COORD)).text


def test_reminders_escalations_and_digests_carry_the_links_of_who_may_act(web, cli):
    """A scheduler pass mails each person one e-mail (a digest when several documents wait):
    the coordinator's carries a submit link per document, which works; whoever is only copied
    (the secretariat on a draft) gets no link; no e-mail tells anyone to run ikuflow advance."""
    from ikuflow.notify.links import read_token

    earlier = new(cli, "pacitan", "sdmo", COORD, SIGNING - timedelta(days=365))  # last year's
    assert new(cli, "pacitan", "sdmo", COORD) == SDMO
    new(cli, "pacitan", "hukum", COORD_HUKUM)
    web.deliver()  # the create e-mails
    # every draft is overdue; its next escalation is a day on: the pass then, and its e-mails
    from ikuflow.calendar import now_utc

    later = (now_utc() + timedelta(days=1, hours=1)).strftime("%Y-%m-%dT%H:%M+00:00")
    ok(cli, "tick", "--at", later)
    ok(cli, "outbox", "send", "--at", later)
    mails = web.deliver()
    by = {m.rcpt_tos[0]: m for m in mails}
    assert {COORD, COORD_HUKUM, SECR} <= set(by), sorted(by)
    for m in mails:
        assert "ikuflow advance" not in m.text, m.text
    # Sri's two drafts in one digest: a submit link each (each once per language)
    found = {read_token(SECRET.encode(), t) for t in re.findall(re.escape(web.base) + r"/a/(\S+)", by[COORD].text)}
    assert {(a.key, a.event, a.version) for a in found} == {(earlier, "submit", 0), (SDMO, "submit", 0)}
    assert [read_token(SECRET.encode(), t).key for t in action_links(web, by[COORD_HUKUM]).values()] == [HUKUM]
    assert action_links(web, by[SECR]) == {}  # copied, but nothing of a draft is theirs to do
    # the link works, through the link channel, as Sri
    [token] = [t for t in re.findall(re.escape(web.base) + r"/a/(\S+)", by[COORD].text)
               if read_token(SECRET.encode(), t).key == earlier][:1]
    page = web.get(f"/a/{token}")
    r = web.post(f"/a/{token}", data={"csrf": csrf_of(page.text)})
    assert r.status_code == 200 and 'id="done"' in r.text
    assert history(cli, earlier)[-1]["channel"] == "link" and history(cli, earlier)[-1]["actor"] == COORD


def test_an_acting_official_acts_from_the_link_in_the_escalation_for_the_chair(web, cli):
    """While the chair is away, the Plt receives the chair's escalations with the chair's
    links; their click is recorded as them acting for the chair, through the link channel."""
    from ikuflow.calendar import now_utc
    from ikuflow.notify.links import read_token

    assert new(cli, "pacitan", "sdmo", COORD) == SDMO
    ok(cli, "advance", SDMO, "submit", "--as", COORD)
    ok(cli, "advance", SDMO, "synchronize", "--as", SECR)  # now the chair must act
    today = jakarta_today()
    ok(cli, "delegate", CHAIR, "--to", NOBODY, "--from", today.isoformat(),
       "--until", (today + timedelta(days=5)).isoformat())
    web.deliver()
    later = (now_utc() + timedelta(days=1, hours=1)).strftime("%Y-%m-%dT%H:%M+00:00")
    ok(cli, "tick", "--at", later)
    ok(cli, "outbox", "send", "--at", later)
    mails = web.deliver()
    acting = mail_to(mails, NOBODY)
    links = action_links(web, acting)
    assert sorted(links) == ["approve", "send_back"]
    assert read_token(SECRET.encode(), links["approve"]).email == NOBODY
    page = web.get(f"/a/{links['approve']}")
    r = web.post(f"/a/{links['approve']}", data={"csrf": csrf_of(page.text)})
    assert r.status_code == 200 and 'id="done"' in r.text, r.text
    last = history(cli, SDMO)[-1]
    assert (last["event"], last["actor"], last["acting_for"], last["channel"]) == ("approve", NOBODY, CHAIR, "link")


def test_sign_in_requests_sent_at_once_cannot_pass_the_limit_together(web, cli, tmp_path):
    """Twelve requests for one address at the same moment, through two web processes: exactly
    five get through (each request's count and insert are serialised per address and per
    client: SQLite's one writer, PostgreSQL's transaction locks)."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    other = Web(free_port(), tmp_path / "web2.log", web.peer, cli, base=web.base)
    try:
        def ask(n):
            with httpx.Client(base_url=(web, other)[n % 2].url, timeout=30) as c:
                return c.post("/signin", data={"email": COORD}).status_code

        with ThreadPoolExecutor(12) as pool:
            codes = list(pool.map(ask, range(12)))
    finally:
        other.stop()
    assert sorted(codes) == [200] * 5 + [429] * 7, codes
    assert sql("SELECT count(*) FROM web_login WHERE email = ?", COORD) == [(5,)]


# --- evidence on the pages (issue 17) -----------------------------------------------------------
PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


def test_content_is_uploaded_in_draft_downloaded_by_who_sees_it_and_the_sign_mail_links_the_record(web, cli):
    """The document page shows the content and offers the upload only to who may attach, only in
    draft; the upload is the CLI's attach (channel web), CSRF-checked, judged by its bytes; any
    version downloads as its exact bytes for who may see the document; the record page's
    numbers are the history's; the sign e-mail links to it."""
    new(cli, "pacitan", "sdmo", COORD)
    assert new(cli, "badung", "sdmo", ADMIN) == BADUNG
    web.deliver()
    sri, ahmad, rudi = web.sign_in(COORD), web.sign_in(CHAIR), web.sign_in(OTHER_CHAIR)
    page = web.get(f"/documents/{SDMO}", sri)
    assert page.status_code == 200 and 'id="do-upload"' in page.text and 'id="content-sha256"' not in page.text
    assert 'id="do-upload"' not in web.get(f"/documents/{SDMO}", ahmad).text  # the chair may not attach
    csrf = csrf_of(page.text)
    before = snapshot(cli, SDMO)
    upload = f"/documents/{SDMO}/content"
    for cookie, data, files, status in (
            (sri, {"csrf": "0" * 40}, {"file": ("iku.pdf", PDF, "application/pdf")}, 403),   # wrong CSRF
            (sri, {"csrf": csrf}, {"file": ("iku.pdf", b"just text\n", "application/pdf")}, 400),  # not a PDF
            (ahmad, {"csrf": csrf_of(web.get("/tasks", ahmad).text)},
             {"file": ("iku.pdf", PDF, "application/pdf")}, 403)):                             # no role
        r = web.post(upload, cookie, data=data, files=files)
        assert r.status_code == status and 'id="error"' in r.text, (status, r.text[-500:])
    assert snapshot(cli, SDMO) == before
    r = web.post(upload, sri, data={"csrf": csrf}, files={"file": ("IKU SDMO 2026.pdf", PDF, "application/pdf")})
    assert r.status_code == 303 and r.headers["location"] == f"/documents/{SDMO}?done=attach"
    sha = hashlib.sha256(PDF).hexdigest()
    rows = history(cli, SDMO)
    assert (rows[-1]["event"], rows[-1]["actor"], rows[-1]["channel"]) == ("attach", COORD, "web")
    page = web.get(f"/documents/{SDMO}", ahmad)
    assert f'id="content-sha256">{sha}<' in page.text and "IKU SDMO 2026.pdf" in page.text
    got = web.get(f"/documents/{SDMO}/content/1", ahmad)
    assert got.status_code == 200 and got.content == PDF and got.headers["content-type"] == "application/pdf"
    assert "attachment" in got.headers["content-disposition"] and got.headers["x-content-sha256"] == sha
    assert web.get(f"/documents/{SDMO}/content/2", ahmad).status_code == 404
    assert web.get(f"/documents/{SDMO}/content/1", rudi).status_code == 404  # another office's: not there
    assert web.get(f"/documents/{SDMO}/content/1").status_code == 303         # signed out: sign in first
    # past draft the upload is gone from the page and refused (409), nothing changes
    for event, actor in (("submit", COORD), ("synchronize", SECR), ("approve", CHAIR), ("sign", CHAIR)):
        ok(cli, "advance", SDMO, event, "--as", actor)
    assert 'id="do-upload"' not in web.get(f"/documents/{SDMO}", sri).text
    before = snapshot(cli, SDMO)
    r = web.post(upload, sri, data={"csrf": csrf}, files={"file": ("v2.pdf", PDF + b"%", "application/pdf")})
    assert r.status_code == 409 and snapshot(cli, SDMO) == before
    # the signing record: the history's numbers, on a page with no outside asset
    rec = web.get(f"/documents/{SDMO}/record", ahmad)
    assert rec.status_code == 200 and "Lembar pengesahan" in rec.text and f'id="sha256">{sha}<' in rec.text
    chains = [c for (c,) in sql("SELECT h.chain FROM history h JOIN document d ON d.id = h.document_id"
                                " WHERE d.key = ? ORDER BY h.version", SDMO)]
    assert re.findall(r'class="hash chain">([0-9a-f]{64})<', rec.text) == chains and len(chains) == 6
    assert not re.search(r'(src|href)="(https?:)?//', rec.text)
    assert web.get(f"/documents/{SDMO}/record", rudi).status_code == 404
    # the sign e-mail links to that page
    signed = mail_to(web.deliver(), COORD, "ditandatangani")
    assert f"{web.base}/documents/{SDMO}/record" in web.links(signed)
