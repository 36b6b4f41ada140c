"""The remote CLI: with ``IKUFLOW_SERVER`` and ``IKUFLOW_TOKEN`` set, ``status``, ``list``,
``history``, ``overdue``, ``report``, ``advance``, ``attach``, ``download``, ``verify`` and
``record`` ask the JSON API of ``ikuflow web``
instead of opening a database, as the person the token names.

The API answers with the dicts the local use cases return, so the commands print them with the
same code. Its errors (``{"error": {"exit_code": N, "message": "..."}}``) become
:class:`ServerRefused` with that exit code, so the CLI prints them like its own; a server that
cannot be reached, or an answer that is not the API's, is exit 1 saying what happened. httpx is
imported only when a request is made: ``ikuflow --help`` stays light.
"""

from __future__ import annotations

import os
from typing import Any, NoReturn
from urllib.parse import quote, urlsplit

from ikuflow.errors import IkuflowError, NotFound, UsageError

#: seconds to connect, and to wait for each answer
TIMEOUT = 30.0
API = "/api/v1"


class ServerRefused(IkuflowError):
    """The server's refusal, in its words, with the exit code it gave (1 when it gave none)."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        self.exit_code = exit_code
        super().__init__(message)


def from_env() -> "Client | None":
    """The client of ``IKUFLOW_SERVER`` with ``IKUFLOW_TOKEN``, or None when no server is set.

    Raises UsageError (exit 2) for a server that is not an http(s) URL or a missing token.
    """
    server = os.environ.get("IKUFLOW_SERVER", "").strip()
    if not server:
        return None
    parts = urlsplit(server)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"IKUFLOW_SERVER '{server}' is not an http(s) address; set it like "
                         "https://iku.example.id (where 'ikuflow web' answers), or unset it to use the database")
    token = os.environ.get("IKUFLOW_TOKEN", "").strip()
    if not token:
        raise UsageError("IKUFLOW_SERVER is set but IKUFLOW_TOKEN is not: set IKUFLOW_TOKEN; "
                         "create one with 'ikuflow token create EMAIL'")
    if not token.isascii() or not token.isprintable() or " " in token:
        raise UsageError("IKUFLOW_TOKEN is not a token (tokens are one word of letters, digits, '-' "
                         "and '_', starting with ikf_); copy it again from 'ikuflow token create'")
    return Client(server, token)


def for_command(ctx: Any, at: str | None = None) -> "Client | None":
    """The API client for a command (its Typer context) when IKUFLOW_SERVER is set, its --db
    and --at refused (exit 2), else None."""
    api = from_env()
    if api is None:
        return None
    if typed(ctx.find_root(), "db"):
        refuse("--db", "both name where the documents are; unset IKUFLOW_SERVER to work on "
                       "the database, or drop --db")
    if at is not None:
        refuse("--at", "the server keeps the clock; drop --at, or unset IKUFLOW_SERVER to "
                       "work on the database")
    return api


def typed(ctx: Any, param: str) -> bool:
    """Whether ``param`` was given on the command line (not by its environment variable)."""
    source = ctx.get_parameter_source(param)  # (Typer's own copy of Click's ParameterSource)
    return source is not None and source.name == "COMMANDLINE"


def refuse(option: str, why: str) -> NoReturn:
    """Refuse an option the API has no equivalent for (exit 2), saying why and what to do."""
    raise UsageError(f"{option} cannot be used with IKUFLOW_SERVER: {why}")


def document_path(key: str, *rest: str) -> str:
    """The API path of document ``key`` (and below it), every segment quoted.

    An empty key, or one holding '/', is NotFound here, as locally (no key holds either): the
    server decodes '%2F' before it routes, so such a key would name another route.
    """
    if not key or "/" in key:
        raise NotFound("document", key, "see 'ikuflow list'")
    return "/".join([API + "/documents", *(_segment(s) for s in (key, *rest))])


def _segment(value: str) -> str:
    q = quote(value, safe="")
    # '.' and '..' are unreserved, and a URL's dot segments are removed before sending
    return q.replace(".", "%2E") if q in (".", "..") else q


class Client:
    """Requests to one ikuflow server as one token's person; answers as parsed JSON."""

    def __init__(self, server: str, token: str, timeout: float = TIMEOUT, transport: Any = None) -> None:
        from ikuflow import __version__

        self.server = server
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json",
                         "User-Agent": f"ikuflow/{__version__}"}
        self._timeout = timeout
        self._transport = transport  # tests give an httpx.MockTransport

    def get(self, path: str, params: dict | None = None, expect: type = object) -> Any:
        """GET ``path`` (under the server's address) with the query ``params`` that are not None;
        an answer that is not an ``expect`` (dict, list) is exit 1."""
        return self._request("GET", path, expect, params={k: v for k, v in (params or {}).items() if v is not None})

    def post(self, path: str, json: dict | None = None, expect: type = object) -> Any:
        """POST ``json`` to ``path``; an answer that is not an ``expect`` is exit 1."""
        return self._request("POST", path, expect, json=json or {})

    def put_bytes(self, path: str, data: bytes, params: dict, expect: type = object) -> Any:
        """PUT ``data`` as the request body to ``path`` with the query ``params``."""
        return self._request("PUT", path, expect, params=params, content=data,
                             headers={"content-type": "application/octet-stream"})

    def get_bytes(self, path: str) -> tuple[bytes, dict]:
        """GET a file at ``path``: its bytes and the answer's headers (an error is raised as for
        JSON requests)."""
        res = self._request("GET", path, object, raw=True)
        return res.content, dict(res.headers)

    def _request(self, method: str, path: str, expect: type, raw: bool = False, **kw: Any) -> Any:
        import httpx

        # a server behind a path prefix (https://host/ikuflow) keeps it: the path is appended
        try:
            with httpx.Client(base_url=self.server, headers=self._headers, timeout=self._timeout,
                              transport=self._transport) as http:
                res = http.request(method, path, **kw)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise IkuflowError(f"cannot reach IKUFLOW_SERVER {self.server}: {_reason(exc)}; is "
                               "'ikuflow web' running there?") from None
        except httpx.TimeoutException:
            done = " (it may have been done: check with 'ikuflow status KEY')" if method == "POST" else ""
            raise IkuflowError(f"IKUFLOW_SERVER {self.server} did not answer within {self._timeout:g} s"
                               f"{done}; retry later") from None
        except httpx.HTTPError as exc:  # the connection broke, a protocol error, a bad URL
            raise IkuflowError(f"cannot talk to IKUFLOW_SERVER {self.server}: {_reason(exc)}; "
                               "is 'ikuflow web' running there?") from None
        body = _json(res)
        if raw and res.is_success and body is _NOT_JSON:
            return res
        if res.is_success and body is not _NOT_JSON:
            if not isinstance(body, expect):  # (another route answered: the CLI would misprint it)
                raise IkuflowError(f"IKUFLOW_SERVER {self.server} answered {method} {path} with a JSON "
                                   f"{type(body).__name__}, not the {expect.__name__} this command prints; "
                                   "is it the address of 'ikuflow web', of this version?")
            return body
        if not res.is_success:
            err = body.get("error") if isinstance(body, dict) else None
            if (isinstance(err, dict) and isinstance(err.get("message"), str)
                    and type(err.get("exit_code")) is int):
                code = err["exit_code"]
                raise ServerRefused(err["message"], code if 1 <= code <= 125 else 1)
        raise IkuflowError(_unexpected(self.server, method, path, res))


_NOT_JSON = object()


def _json(res: Any) -> Any:
    if "json" not in res.headers.get("content-type", ""):
        return _NOT_JSON
    try:
        return res.json()
    except ValueError:
        return _NOT_JSON


def _reason(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


def _unexpected(server: str, method: str, path: str, res: Any) -> str:
    """What an answer that is not the API's says: its status, and a redirect's target."""
    status = f"HTTP {res.status_code}" + (f" {res.reason_phrase}" if res.reason_phrase else "")
    if res.is_redirect and res.headers.get("location"):
        return (f"IKUFLOW_SERVER {server} answered {method} {path} with {status} to "
                f"{res.headers['location']}; set IKUFLOW_SERVER to the address it names")
    what = "an answer that is not ikuflow's JSON" if res.is_success else "an error that is not ikuflow's"
    return (f"IKUFLOW_SERVER {server} answered {method} {path} with {status}, {what}; is it the "
            "address of 'ikuflow web' (a proxy in between may have failed)?")
