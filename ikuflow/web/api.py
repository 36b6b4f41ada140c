"""The JSON API under ``/api/v1`` (PRODUCT.md section 8): the CLI's ``--json`` answers, as the
person whose token comes in ``Authorization: Bearer``. Errors are ``{"error": {"exit_code",
"message"}}`` with the HTTP status of their exit code (:data:`ikuflow.web.common.HTTP_STATUS`).
"""

from __future__ import annotations

import json
from typing import Any, Optional

from urllib.parse import quote

from fastapi import APIRouter, Body, Query, Request
from fastapi import Path as FPath
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from ikuflow.app import access
from ikuflow.app.tokens import authenticate
from ikuflow.errors import IkuflowError, NotFound, UsageError
from ikuflow.web.common import error_body


#: the bounds the CLI puts on the same values (``--if-version``, ``--year``): what the database can hold
VERSION_MAX, YEAR_MIN, YEAR_MAX = 2**63 - 1, 1, 9999


class Unauthorized(Exception):
    """No token, or one that is unknown or revoked: HTTP 401."""


class EventBody(BaseModel):
    """The body of ``POST .../events/{event}`` (both fields optional)."""

    comment: Optional[str] = Field(default=None, description="The reason (required by send_back).")
    version: Optional[int] = Field(default=None, ge=0, le=VERSION_MAX, strict=True,
                                   description="The document version you saw; a stale one is 412.")


router = APIRouter(prefix="/api/v1")


def _json(data: Any) -> Response:
    """``data`` as the JSON answer: serialised once by json.dumps (FastAPI's own path would
    validate and re-encode the use case's dict first, a third of a small request's time)."""
    return Response(json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode(),
                    media_type="application/json")


def _person(request: Request) -> access.Person:
    state = request.app.state.ikuflow
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send your API token as 'Authorization: Bearer TOKEN' (ikuflow token create EMAIL)")
    email = authenticate(token.strip(), con=state.svc.con)
    found = access.person(state.svc, email) if email else None
    if found is None:
        raise Unauthorized("the API token is unknown or revoked; ask for a new one (ikuflow token create EMAIL)")
    return found


def _svc(request: Request):
    return request.app.state.ikuflow.svc


@router.get("/me", summary="The person of the token: roles and the offices they see")
async def me(request: Request) -> Response:
    """The person of the token: their roles and the offices they see."""
    return _json(_person(request).as_json())


@router.get("/documents", summary="Documents, as `ikuflow list --json`")
async def documents(request: Request, state: Optional[str] = None, office: Optional[str] = None,
                    division: Optional[str] = None, overdue: bool = False) -> Response:
    """Documents matching every filter given, among those the person sees."""
    p = _person(request)
    access.check_office(p, office)
    rows = _svc(request).list(state=state, office=office, division=division, overdue=overdue)
    return _json(rows if p.offices is None else [r for r in rows if r["office"] in p.offices])


#: the path parameter of the two most asked GETs, described here: they read it from the request
#: themselves (FastAPI's parsing of one string costs a request about 10 us, 3% of its time)
KEY = {"parameters": [{"name": "key", "in": "path", "required": True, "schema": {"type": "string"},
                       "description": "The document key, e.g. pacitan-sdmo-2026."}]}


@router.get("/documents/{key}", summary="A document's status, as `ikuflow status --json`", openapi_extra=KEY)
async def document(request: Request) -> Response:
    """A document's status (404 for one the person may not see)."""
    return _json(access.document_status(_svc(request), _person(request), request.path_params["key"]))


@router.get("/documents/{key}/history", summary="A document's history, as `ikuflow history --json`",
            openapi_extra=KEY)
async def history(request: Request) -> Response:
    """A document's history, oldest first."""
    key = request.path_params["key"]
    access.document_status(_svc(request), _person(request), key)
    return _json(_svc(request).history(key))


@router.post("/documents/{key}/events/{event}", summary="Fire an event as the token's person")
async def fire(request: Request, key: str, event: str, body: Optional[EventBody] = Body(None)) -> Response:
    """Fire ``event`` as the token's person (channel ``api``); ``version`` guards against a stale view (412)."""
    svc, p = _svc(request), _person(request)
    access.document_status(svc, p, key)
    body = body or EventBody()
    done = svc.advance(key, event, p.email, body.comment, expected_version=body.version, channel="api")
    now = svc.status(key)
    return _json({**now, "event": done["event"], "from": done["from"], "acting_for": done["acting_for"],
                  "notified": done["notified"]})


# --- evidence (PRODUCT.md section 9) --------------------------------------------------------------
@router.get("/documents/{key}/content", summary="A document's content versions, oldest first")
async def content_versions(request: Request, key: str) -> Response:
    """Every version of the document's file: name, size, kind, SHA-256, who attached it and when."""
    from ikuflow.app import evidence

    access.document_status(_svc(request), _person(request), key)
    return _json(evidence.content_versions(_svc(request), key))


@router.get("/documents/{key}/content/{version}", summary="The bytes of a content version, as `ikuflow download`")
async def content_bytes(request: Request, key: str, version: int = FPath(ge=1, le=2**31 - 1)) -> Response:
    """The file itself (its media type; its SHA-256 in ``X-Content-SHA256``)."""
    from ikuflow.app import evidence

    access.document_status(_svc(request), _person(request), key)
    info, data = evidence.download(_svc(request), key, version)
    return Response(data, media_type=info["media_type"], headers={
        "content-disposition": f"attachment; filename*=UTF-8''{quote(info['name'], safe='')}",
        "x-content-sha256": info["sha256"], "x-content-version": str(info["version"])})


@router.put("/documents/{key}/content", summary="Attach the document's file (the request body), as `ikuflow attach`")
async def attach(request: Request, key: str,
                 name: str = Query(..., min_length=1, max_length=1000, description="The file's name.")) -> Response:
    """Attach the request body (a PDF, DOCX, XLSX or ODT, judged by its bytes) as the token's
    person (channel ``api``), in draft only (409 elsewhere); a body over the limit is 413."""
    from ikuflow.app import evidence

    svc, p = _svc(request), _person(request)
    access.document_status(svc, p, key)
    limit = evidence.max_bytes()
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        return JSONResponse(error_body(2, f"the file has {int(length) / 1048576:,.1f} MB; the limit is "
                                          f"{limit // 1048576} MB: make it smaller"), 413)
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > limit:
            return JSONResponse(error_body(2, f"the file is larger than {limit // 1048576} MB, the limit: make "
                                              "it smaller"), 413)
    return _json(evidence.attach(svc, key, bytes(data), name, p.email, channel="api"))


@router.get("/documents/{key}/record", summary="The signing record, as `ikuflow record --json`")
async def record(request: Request, key: str) -> Response:
    """The signing record (lembar pengesahan): content, every step with its chain hash."""
    from ikuflow.app import evidence

    access.document_status(_svc(request), _person(request), key)
    return _json(evidence.record(_svc(request), key))


@router.get("/content/{sha256}", summary="Which documents have bytes of this SHA-256, as `ikuflow verify --json`")
async def verify(request: Request, sha256: str) -> Response:
    """The documents (among those the person sees) whose content has these bytes, and who
    acted on exactly them; 404 when none has."""
    from ikuflow.app import evidence

    p = _person(request)
    return _json(evidence.verify_hash(_svc(request), sha256, offices=p.offices))


@router.get("/overdue", summary="What is overdue, most overdue first, as `ikuflow overdue --json`")
async def overdue(request: Request, office: Optional[str] = None) -> Response:
    """What is overdue in the person's offices (or ``office`` and below), most overdue first."""
    return _json(access.overdue(_svc(request), _person(request), office))


@router.get("/report", summary="The progress report, as `ikuflow report --json`")
async def report(request: Request, office: Optional[str] = None,
                 year: Optional[int] = Query(None, ge=YEAR_MIN, le=YEAR_MAX)) -> Response:
    """The progress report of ``office`` (default: the person's highest office)."""
    from ikuflow.app import report as rep

    p = _person(request)
    scope = access.report_office(p, office)
    if scope is None and p.offices is not None:
        raise NotFound("office", "(none)", "you hold no role at any office")
    return _json(rep.as_json(rep.build(_svc(request), scope, year)))


def install(app) -> None:
    """Add the API and its error answers to ``app``."""
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    from ikuflow.web.common import error_body, http_status

    app.include_router(router)

    def is_api(request: Request) -> bool:
        return request.url.path.startswith("/api/")

    @app.exception_handler(Unauthorized)
    async def unauthorized(request: Request, exc: Unauthorized) -> JSONResponse:
        return JSONResponse(error_body(2, str(exc)), 401, headers={"www-authenticate": "Bearer"})

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Any:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()) if x not in ("query", "body", "path"))
        msg = f"{where or 'request'}: {first.get('msg', 'invalid')}; see /openapi.json for this request's fields"
        if is_api(request):
            return JSONResponse(error_body(2, msg), 400)
        return await app.state.page_error(request, UsageError(msg))

    @app.exception_handler(IkuflowError)
    async def refused(request: Request, exc: IkuflowError) -> Any:
        if is_api(request):
            return JSONResponse(error_body(exc.exit_code, str(exc)), http_status(exc))
        return await app.state.page_error(request, exc)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Any:
        if is_api(request):
            code = {404: 3, 405: 2}.get(exc.status_code, 1)
            text = "no such API path; see /openapi.json" if exc.status_code == 404 else str(exc.detail)
            return JSONResponse(error_body(code, text), exc.status_code)
        return await app.state.page_error(request, exc)
