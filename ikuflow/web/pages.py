"""The pages: sign-in by e-mail link, my tasks, a document, an action link, the overdue list and
the progress report. HTML from the Jinja2 templates beside this module (autoescaped: user text
is data), no script, forms that work without JavaScript; Bahasa Indonesia first, English by
``?lang=en`` (kept in a cookie).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ikuflow.app import access
from ikuflow.errors import IkuflowError, UsageError
from ikuflow.web.common import LANG_COOKIE, SESSION_COOKIE, http_status
from ikuflow.web.text import LANGS, TEXT

#: (path, endpoint, methods) of every page: plain Starlette routes (the pages need none of
#: FastAPI's parameter parsing or OpenAPI, and a plain route is matched and called for less)
ROUTES: list[tuple[str, Any, list[str]]] = []


def page(path: str, method: str = "GET"):
    """Register the endpoint below as the page ``method path`` (path parameters in
    ``request.path_params``). A POST from another site is refused before it runs."""
    def add(endpoint):
        if method == "POST":
            async def checked(request: Request) -> Response:
                return _cross_site(request) or await endpoint(request)
            ROUTES.append((path, checked, [method]))
        else:
            ROUTES.append((path, endpoint, [method]))
        return endpoint
    return add


HERE = Path(__file__).parent
#: rows of a list page
PAGE_SIZE = 50
_env = None


def _templates():
    global _env
    if _env is None:
        from jinja2 import Environment, FileSystemLoader, StrictUndefined

        _env = Environment(loader=FileSystemLoader(str(HERE / "templates")), autoescape=True,
                           undefined=StrictUndefined, auto_reload=False)
    return _env


def _lang(request: Request) -> str:
    asked = request.query_params.get("lang")
    if asked in LANGS:
        return asked
    kept = request.cookies.get(LANG_COOKIE)
    return kept if kept in LANGS else LANGS[0]


def render(request: Request, name: str, status: int = 200, me: access.Person | None = None,
           **ctx: Any) -> HTMLResponse:
    """A page from template ``name``; a language asked for by ``?lang=`` is kept in a cookie."""
    lang = _lang(request)
    state = request.app.state.ikuflow
    sid = getattr(request.state, "session_id", None)
    other = LANGS[1] if lang == LANGS[0] else LANGS[0]
    switch = request.url.path + "?" + urlencode({**request.query_params, "lang": other})
    html = _templates().get_template(name).render(
        t=TEXT[lang], lang=lang, me=me, switch=switch, quote=quote,
        csrf=state.csrf(f"session:{sid}") if sid else "", **ctx)
    response = HTMLResponse(html, status)
    if request.query_params.get("lang") in LANGS:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax", secure=state.secure)
    return response


def _me(request: Request) -> access.Person | None:
    state = request.app.state.ikuflow
    sid = state.session_id(request.cookies.get(SESSION_COOKIE))
    if sid is None:
        return None
    email = access.session_person(state.svc, sid)
    if email is None:
        return None
    request.state.session_id = sid
    return access.person(state.svc, email)


def _signed_in(request: Request) -> access.Person:
    me = _me(request)
    if me is None:
        raise _SignIn()
    return me


class _SignIn(Exception):
    """The page needs a signed-in person: answered with a redirect to /signin."""


async def page_error(request: Request, exc: Exception) -> Response:
    """An error as a page: the message, and the HTTP status of its exit code."""
    if isinstance(exc, _SignIn):
        return RedirectResponse("/signin", 303)
    if isinstance(exc, IkuflowError):
        status, message = http_status(exc), str(exc)
    else:  # starlette's HTTPException (404 for an unknown path, 405)
        status = getattr(exc, "status_code", 500)
        message = TEXT[_lang(request)]["not_found"] if status == 404 else str(getattr(exc, "detail", exc))
    return render(request, "message.html", status, _me_quiet(request), title=TEXT[_lang(request)]["error"],
                  message=message)


def _me_quiet(request: Request) -> access.Person | None:
    try:
        return _me(request)
    except IkuflowError:
        return None


def _cross_site(request: Request) -> Response | None:
    """A 403 page for a form posted from another site (the browser says so in Sec-Fetch-Site,
    or in an Origin that is not this server's); None for one posted from our own pages. Besides
    the CSRF tokens, this keeps another site from spending a sign-in link in a visitor's browser
    (signing them in as someone else)."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:  # a current browser says where the form came from
        ok = site in ("same-origin", "none")
    else:  # (an older one may send an Origin; under Referrer-Policy no-referrer it is 'null')
        origin = request.headers.get("origin")
        ok = origin in (None, "null", str(request.base_url).rstrip("/"),
                        request.app.state.ikuflow.base)
    if ok:
        return None
    t = TEXT[_lang(request)]
    return render(request, "message.html", 403, title=t["error"],
                  message="this form was sent from another site; open the page on this site and send it again")


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


# --- sign-in ------------------------------------------------------------------------------------
@page("/")
async def home(request: Request) -> Response:
    """The front page: my tasks when signed in, else the sign-in page."""
    return RedirectResponse("/tasks" if _me(request) else "/signin", 303)


@page("/signin")
async def signin_form(request: Request) -> Response:
    """The sign-in page: one field, the e-mail address."""
    return render(request, "signin.html")


@page("/signin", "POST")
async def signin_ask(request: Request) -> Response:
    """Mail a sign-in link (through the outbox); the same answer for any address."""
    state = request.app.state.ikuflow
    form = await request.form()
    email = form.get("email")
    access.request_sign_in(state.svc, email if isinstance(email, str) else "", _client(request),
                           state.base_for(request))
    return render(request, "message.html", title=TEXT[_lang(request)]["sign_in"], message=TEXT[_lang(request)]["sent"])


@page("/signin/{token}")
async def signin_link(request: Request) -> Response:
    """The page a sign-in link opens: one button (a GET spends nothing)."""
    token = request.path_params["token"]
    # a mail scanner following the link must not spend it: only the button's POST does
    return render(request, "signin_link.html", token=token)


@page("/signin/{token}", "POST")
async def signin_use(request: Request) -> Response:
    """Spend the sign-in link: a session cookie, then my tasks; a used or old link says so."""
    token = request.path_params["token"]
    state = request.app.state.ikuflow
    sid = access.sign_in(state.svc, token, _client(request))
    if sid is None:
        return render(request, "message.html", 400, title=TEXT[_lang(request)]["sign_in"],
                      message=TEXT[_lang(request)]["link_bad"], again=True)
    response = RedirectResponse("/tasks", 303)
    response.set_cookie(SESSION_COOKIE, state.session_cookie(sid), httponly=True, samesite="lax",
                        secure=state.secure, max_age=int(access.SESSION_LIFETIME.total_seconds()))
    return response


@page("/signout", "POST")
async def signout(request: Request) -> Response:
    """End the session (its row too: the cookie is dead even if kept)."""
    state = request.app.state.ikuflow
    me = _me(request)
    if me is not None:
        form = await request.form()
        if not state.csrf_ok(f"session:{request.state.session_id}", form.get("csrf")):
            raise UsageError("the form is stale or came from elsewhere; reload the page and try again")
        access.sign_out(state.svc, request.state.session_id)
    response = render(request, "message.html", title=TEXT[_lang(request)]["sign_out"],
                      message=TEXT[_lang(request)]["signed_out"])
    response.delete_cookie(SESSION_COOKIE)
    return response


# --- signed-in pages ----------------------------------------------------------------------------
def _page_number(request: Request) -> int:
    try:
        return max(1, min(int(request.query_params.get("page", "1")), 10**9))
    except ValueError:
        return 1


def _page_of(request: Request, rows: list) -> tuple[list, int, int]:
    page = _page_number(request)
    pages = max(1, -(-len(rows) // PAGE_SIZE))
    page = min(page, pages)
    return rows[(page - 1) * PAGE_SIZE:page * PAGE_SIZE], page, pages


@page("/tasks")
async def tasks(request: Request) -> Response:
    """What waits for me, due first, 50 to a page."""
    me = _signed_in(request)
    page = _page_number(request)
    total, rows = access.tasks(request.app.state.ikuflow.svc, me, page, PAGE_SIZE)
    pages = max(1, -(-total // PAGE_SIZE))
    if page > pages:  # past the end: the last page
        page = pages
        total, rows = access.tasks(request.app.state.ikuflow.svc, me, page, PAGE_SIZE)
    return render(request, "tasks.html", me=me, rows=_task_rows(rows, TEXT[_lang(request)]["late"]), total=total,
                  page=page, pages=pages)


def _task_rows(rows: list[dict], late: str):
    """The rows of my tasks as HTML, every value escaped. Built here rather than in the
    template: a template yields each piece of each row (50 rows cost 350 us there, 90 here),
    and a state's title and a due time repeat down the page (escaped once each)."""
    from markupsafe import Markup, escape

    seen: dict[str, str] = {}

    def once(text: str) -> str:
        found = seen.get(text)
        if found is None:
            found = seen[text] = str(escape(text))
        return found

    tail = f" <b>{escape(late)}</b>"
    out = []
    for r in rows:
        key = shown = r["key"]  # (codes and a year: as it is, unless it ever holds anything else)
        if not _PLAIN.fullmatch(key):
            key, shown = str(escape(quote(key, safe=""))), str(escape(key))
        late_row = r["overdue"]
        cls = ' class="late"' if late_row else ""
        out.append(f'<tr{cls}><td><a href="/documents/{key}">{shown}</a></td>'
                   f'<td>{once(r["state_title"])}</td><td>{once(r["due_local"] or "—")}{tail if late_row else ""}'
                   '</td></tr>')
    return Markup("\n".join(out))


#: what needs neither quoting in a URL nor escaping in HTML
_PLAIN = re.compile(r"[A-Za-z0-9_.-]+")


@page("/documents/{key}")
async def document(request: Request) -> Response:
    """A document: status, due time in its office's zone, history, my actions."""
    key = request.path_params["key"]
    me = _signed_in(request)
    return _document_page(request, me, key)


def _document_page(request: Request, me: access.Person, key: str, error: str | None = None,
                   status: int = 200) -> Response:
    from ikuflow.app import evidence

    svc = request.app.state.ikuflow.svc
    doc = access.document_status(svc, me, key)
    return render(request, "document.html", status, me=me, doc=doc, history=_titled(svc, doc, svc.history(key)),
                  actions=access.may_fire(svc, me, doc), error=error, done=request.query_params.get("done"),
                  versions=evidence.content_versions(svc, key) if doc["content"] else [],
                  upload=evidence.may_attach(svc, me.email, doc), limit_mb=evidence.max_bytes() // 1048576)


def _titled(svc, doc: dict, history: list[dict]) -> list[dict]:
    """The history with the titles its reader knows the steps and states by (the workflow's,
    Bahasa Indonesia / English) as ``event_title`` and ``to_title``."""
    eng = svc.engine(doc["workflow"], doc["workflow_version"])
    out = []
    for h in history:
        st = eng.workflow.states.get(h["to"])
        out.append({**h, "event_title": eng.event_title(h["event"]),
                    "to_title": st.title if st and st.title else h["to"]})
    return out


@page("/documents/{key}/events/{event}", "POST")
async def fire(request: Request) -> Response:
    """Fire an event from the document page (channel ``web``), CSRF-checked."""
    key = request.path_params["key"]
    event = request.path_params["event"]
    state = request.app.state.ikuflow
    me = _signed_in(request)
    form = await request.form()
    if not state.csrf_ok(f"session:{request.state.session_id}", form.get("csrf")):
        return _document_page(request, me, key, "the form is stale or came from elsewhere (CSRF); reload "
                              "the page and try again", 403)
    comment, version = form.get("comment"), form.get("version")
    try:
        access.document_status(state.svc, me, key)
        state.svc.advance(key, event, me.email, comment if isinstance(comment, str) else None,
                          expected_version=int(version) if isinstance(version, str) and version.isdigit() else None,
                          channel="web")
    except IkuflowError as exc:
        return _document_page(request, me, key, str(exc), http_status(exc))
    return RedirectResponse(f"/documents/{quote(key, safe='')}?done={quote(event, safe='')}", 303)


@page("/documents/{key}/content", "POST")
async def upload(request: Request) -> Response:
    """Attach the document's file from its page (channel ``web``), CSRF-checked; a body larger
    than the content limit is refused (413) before it is read."""
    from ikuflow.app import evidence

    key = request.path_params["key"]
    state = request.app.state.ikuflow
    me = _signed_in(request)
    limit = evidence.max_bytes()
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit + 64 * 1024:
        return _document_page(request, me, key, f"the file is larger than {limit // 1048576} MB, the limit; "
                              "make it smaller", 413)
    try:
        form = await request.form(max_files=1, max_fields=4)
    except Exception:  # a body that is not the form's (starlette's MultiPartException and kin)
        return _document_page(request, me, key, "the upload could not be read; choose the file and send it again",
                              400)
    if not state.csrf_ok(f"session:{request.state.session_id}", form.get("csrf")):
        return _document_page(request, me, key, "the form is stale or came from elsewhere (CSRF); reload "
                              "the page and try again", 403)
    file = form.get("file")
    if isinstance(file, str) or file is None or not file.filename:
        return _document_page(request, me, key, "choose the document's file (PDF, DOCX, XLSX or ODT) first", 400)
    data = await file.read(limit + 1)
    try:
        access.document_status(state.svc, me, key)
        evidence.attach(state.svc, key, data, file.filename, me.email, channel="web")
    except IkuflowError as exc:
        return _document_page(request, me, key, str(exc), http_status(exc))
    return RedirectResponse(f"/documents/{quote(key, safe='')}?done=attach", 303)


@page("/documents/{key}/content/{version}")
async def download(request: Request) -> Response:
    """A version of the document's file, for anyone who may see the document."""
    from ikuflow.app import evidence

    key, version = request.path_params["key"], request.path_params["version"]
    state = request.app.state.ikuflow
    me = _signed_in(request)
    access.document_status(state.svc, me, key)
    if not version.isdigit() or not 0 < int(version) < 2**31:
        raise UsageError(f"'{version}' is not a content version; versions are numbered 1, 2, ...")
    info, data = evidence.download(state.svc, key, int(version))
    return Response(data, media_type=info["media_type"], headers={
        "content-disposition": f"attachment; filename*=UTF-8''{quote(info['name'], safe='')}",
        "x-content-sha256": info["sha256"]})


@page("/documents/{key}/record")
async def record(request: Request) -> Response:
    """The signing record (lembar pengesahan) of a document: the page ``ikuflow record --html``
    writes, printable, with no external assets."""
    from ikuflow.app import evidence

    key = request.path_params["key"]
    state = request.app.state.ikuflow
    me = _signed_in(request)
    access.document_status(state.svc, me, key)
    return HTMLResponse(evidence.render_record(evidence.record(state.svc, key)))


@page("/overdue")
async def overdue(request: Request) -> Response:
    """The secretariat's overdue list, most overdue first, with filters."""
    me = _signed_in(request)
    svc = request.app.state.ikuflow.svc
    q = request.query_params
    office = q.get("office") or None
    rows = access.overdue(svc, me, office)
    division, state = q.get("division") or None, q.get("state") or None
    rows = [r for r in rows if (division is None or r["division"] == division) and (state is None or r["state"] == state)]
    shown, page, pages = _page_of(request, rows)
    return render(request, "overdue.html", me=me, rows=shown, total=len(rows), page=page, pages=pages,
                  office=office or "", division=division or "", state=state or "")


@page("/report")
async def report(request: Request) -> Response:
    """The progress report of ``report --html`` for the person's highest office."""
    from ikuflow.app import report as rep

    me = _signed_in(request)
    office = access.report_office(me, request.query_params.get("office") or None)
    if office is None and me.offices is not None:
        return render(request, "message.html", me=me, title=TEXT[_lang(request)]["report"],
                      message=TEXT[_lang(request)]["nothing"])
    return HTMLResponse(rep.render_html(rep.build(request.app.state.ikuflow.svc, office)))


# --- action links -------------------------------------------------------------------------------
@page("/a/{token}")
async def action_link(request: Request) -> Response:
    """An action link from an e-mail: the document and one button; changes nothing."""
    token = request.path_params["token"]
    # GET never changes anything: mail scanners follow links
    return _link_page(request, token)


def _link_page(request: Request, token: str, error: str | None = None, status: int = 200,
               done: bool = False) -> Response:
    state = request.app.state.ikuflow
    link = access.open_link(state.svc, state.secret, token)
    t = TEXT[_lang(request)]
    if link is None:
        return render(request, "message.html", 404, title=t["error"], message=t["link_gone"])
    doc = link.status
    history = _titled(state.svc, doc, state.svc.history(doc["key"])) if doc else []
    event = None
    if doc is not None:
        ev = state.svc.engine(doc["workflow"], doc["workflow_version"]).workflow.events.get(link.action.event)
        event = {"name": link.action.event, "title": ev.title if ev and ev.title else link.action.event,
                 "needs_reason": bool(ev and "comment_required" in ev.guards)}
    if not link.live and not done and status == 200:
        status = 409 if request.method == "POST" else 200
    return render(request, "action.html", status, me=None, link=link, doc=doc, history=history, event=event,
                  token=token, link_csrf=state.csrf(f"link:{token}"), error=error, done=done)


@page("/a/{token}", "POST")
async def action_fire(request: Request) -> Response:
    """The action link's button: fire its event as its person (channel ``link``), once."""
    token = request.path_params["token"]
    state = request.app.state.ikuflow
    form = await request.form()
    if not state.csrf_ok(f"link:{token}", form.get("csrf")):
        return _link_page(request, token, "the form is stale or came from elsewhere (CSRF); open the link "
                          "from your e-mail again", 403)
    link = access.open_link(state.svc, state.secret, token)
    if link is None or not link.live:
        return _link_page(request, token)
    comment = form.get("comment")
    a = link.action
    try:
        state.svc.advance(a.key, a.event, a.email, comment if isinstance(comment, str) else None,
                          expected_version=a.version, channel="link")
    except IkuflowError as exc:
        return _link_page(request, token, str(exc), http_status(exc))
    return _link_page(request, token, done=True)


@page("/static/app.css")
async def css(request: Request) -> Response:
    """The pages' one stylesheet (no external assets)."""
    return Response((HERE / "static" / "app.css").read_bytes(), media_type="text/css",
                    headers={"cache-control": "public, max-age=3600"})


@page("/favicon.ico")
async def favicon(request: Request) -> Response:
    """No icon, said without an error: browsers ask for /favicon.ico on every first visit, and
    a 404 there is an error in their console (and an error page rendered for nothing)."""
    return Response(status_code=204, headers={"cache-control": "public, max-age=86400"})


#: the pages opened most, which create_app has matched first (ROUTES holds them first)
FIRST = ("/tasks", "/documents/{key}", "/a/{token}")
ROUTES.sort(key=lambda r: FIRST.index(r[0]) if r[0] in FIRST else len(FIRST))
