"""Deliver the outbox over SMTP with aiosmtplib, losing nothing and doubling nothing.

A sender claims due rows with a lease (``lease_owner``, ``lease_until``): a sender that dies
holding rows releases them when the lease expires. It sends over a few reused connections with
bounded concurrency, every send under an overall time limit. 4xx replies, timeouts and dropped
connections are retried with exponential backoff and jitter; 5xx replies and too many attempts
go to ``dead``, with the server's reply kept in ``last_error``. Each row keeps its Message-ID,
so a message re-sent after a crash between "accepted" and "marked sent" is recognisably the
same message. The rows are read and written only through :mod:`ikuflow.store.outbox`.

A row is rendered here, right before its message is built (a transition only stores the
template and its context, so its transaction stays short): one :class:`Renderer` per sender,
made when first needed. A row that cannot be rendered (a broken template, a payload without a
context) goes to ``dead`` naming the template and the fix; after the fix ``ikuflow outbox
retry ID`` sends it. The subject sent is stored with the "sent" mark, for ``outbox list``; the
bodies are not. Rows rendered by the previous release go out exactly as stored.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import random
import re
import socket
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.header import Header
from email.utils import formataddr, formatdate, getaddresses, parseaddr
from typing import Any, Sequence

from ikuflow.calendar import now_utc
from ikuflow.errors import IkuflowError, UsageError
from ikuflow.notify.render import FIX_TEMPLATE, RenderFailed, Renderer
from ikuflow.store import outbox
from ikuflow.store.db import connect, write
from ikuflow.store.outbox import Claimed

log = logging.getLogger("ikuflow.sender")


#: A sender address the SMTP envelope and a Message-ID can carry: ASCII, local@domain.
_ADDRESS_RE = re.compile(r"^[!#$%&'*+/=?^_`{|}~.A-Za-z0-9-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")


def mail_from(env=None) -> tuple[str, str]:
    """IKUFLOW_MAIL_FROM as the From header and its bare address (default ikuflow@localhost).

    The one check of the sender address: the sender uses it for From and MAIL FROM, the service
    for Message-IDs when a transition writes e-mail. Raises UsageError (exit 2) for an address
    that no mail server would take, so a write refuses it before the outbox holds it.
    """
    env = os.environ if env is None else env
    raw = env.get("IKUFLOW_MAIL_FROM", "ikuflow@localhost").strip()
    name, addr = parseaddr(raw)
    if (not _ADDRESS_RE.match(addr) or ".." in addr or any(c in raw for c in "\r\n")
            or len(getaddresses([raw])) != 1):  # one address, not a list
        raise UsageError(f"IKUFLOW_MAIL_FROM='{raw}' is not a usable sender address; write it "
                         "like 'Bawaslu Pacitan <ikuflow@pacitan.bawaslu.go.id>' or "
                         "ikuflow@pacitan.bawaslu.go.id (ASCII letters in the address)")
    return (formataddr((name, addr), charset="utf-8") if name else addr), addr


@dataclass(frozen=True)
class Settings:
    """SMTP settings from the environment (PRODUCT.md section 4). The password never prints."""

    host: str = "localhost"
    port: int = 587
    user: str = ""
    password: str = field(default="", repr=False)
    tls: str = "starttls"  # starttls | tls | off
    mail_from: str = "ikuflow@localhost"
    connections: int = 8
    timeout: float = 30.0  # limit for connecting and the envelope (MAIL, RCPT) of one message
    # once the body is sent the server may already hold the message: its final reply gets
    # RFC 5321's 10 minutes (4.5.3.2.6), since giving up sooner would send the message twice
    reply_timeout: float = 600.0
    max_attempts: int = 8
    retry_base: float = 60.0  # seconds before the first retry; doubles each attempt
    retry_max: float = 3600.0
    lease: float = 900.0  # seconds a claim holds its rows (longer than a message can take)

    @classmethod
    def from_env(cls, env=None) -> "Settings":
        """The settings from IKUFLOW_SMTP_* and IKUFLOW_MAIL_FROM; UsageError for a bad value."""
        env = os.environ if env is None else env
        tls = env.get("IKUFLOW_SMTP_TLS", "starttls").strip().lower()
        tls = {"false": "off", "0": "off", "no": "off", "none": "off"}.get(tls, tls)
        if tls not in ("starttls", "tls", "off"):
            raise UsageError(f"IKUFLOW_SMTP_TLS='{tls}' is not valid; use starttls, tls or off")

        def number(name, default, kind=float):
            raw = env.get(name)
            if raw in (None, ""):
                return default
            try:
                value = kind(raw)
            except ValueError:
                raise UsageError(f"{name}='{raw}' is not a number") from None
            if value <= 0:
                raise UsageError(f"{name} must be greater than zero")
            return value

        mail_from_header = mail_from(env)[0]
        return cls(host=env.get("IKUFLOW_SMTP_HOST", "localhost"),
                   port=number("IKUFLOW_SMTP_PORT", 465 if tls == "tls" else 587, int),
                   user=env.get("IKUFLOW_SMTP_USER", ""), password=env.get("IKUFLOW_SMTP_PASSWORD", ""),
                   tls=tls, mail_from=mail_from_header,
                   connections=number("IKUFLOW_SMTP_CONNECTIONS", 8, int),
                   timeout=number("IKUFLOW_SMTP_TIMEOUT", 30.0),
                   reply_timeout=number("IKUFLOW_SMTP_REPLY_TIMEOUT", 600.0),
                   max_attempts=number("IKUFLOW_SMTP_MAX_ATTEMPTS", 8, int),
                   retry_base=number("IKUFLOW_SMTP_RETRY_BASE", 60.0),
                   retry_max=number("IKUFLOW_SMTP_RETRY_MAX", 3600.0),
                   lease=number("IKUFLOW_SMTP_LEASE", 900.0))

    def describe(self) -> str:
        """The server as it may be printed: smtp://user:***@host:port (tls)."""
        auth = f"{self.user}:***@" if self.user else ""
        return f"smtp://{auth}{self.host}:{self.port} ({self.tls})"


class Transient(Exception):
    """Try again later: a 4xx reply, a timeout, a dropped or refused connection."""


class Permanent(Exception):
    """Do not try again: a 5xx reply."""


class Unreachable(Transient):
    """The server could not be reached at all: connection refused, unknown host, no route, no
    greeting in time. Every e-mail of the run waits for the next attempt."""


class ServerUnreachable(IkuflowError):
    """exit 1: ``outbox send`` could not reach the SMTP server; the e-mails wait in the outbox."""

    def __init__(self, server: str, error: str, waiting: int, next_attempt: str | None) -> None:
        self.server, self.error, self.waiting, self.next_attempt = server, error, waiting, next_attempt
        when = f", the next attempt at {next_attempt}" if next_attempt else ""
        super().__init__(f"{error}; {waiting} e-mail(s) wait in the outbox{when} (nothing is lost); "
                         "check the server, or IKUFLOW_SMTP_HOST and IKUFLOW_SMTP_PORT")


def _connect_reason(exc: BaseException, timeout: float) -> str:
    """Why a connection could not be opened, in a few words ('Connection refused')."""
    import aiosmtplib

    cause = exc.__cause__
    if isinstance(exc, aiosmtplib.SMTPConnectResponseError):  # a greeting such as 421 or 554
        return f"it answered {exc.code} {' '.join(exc.message.split())}"
    if isinstance(cause, aiosmtplib.SMTPServerDisconnected):
        return "it closed the connection before its greeting"
    if isinstance(cause, socket.gaierror):
        return cause.strerror or str(cause)
    if isinstance(cause, OSError) and cause.errno and cause.errno > 0:
        return os.strerror(cause.errno)
    if isinstance(exc, aiosmtplib.SMTPConnectTimeoutError):
        return f"no answer within {timeout:g} s"
    return " ".join(str(exc).split()) or type(exc).__name__


def build_message(settings: Settings, recipient: str, subject: str, text: str, html: str | None,
                  mid: str) -> bytes:
    """The raw RFC 5322 message. Header values are single lines (subjects are rendered as
    one line, addresses validated at entry), encoded per RFC 2047 where not ASCII."""
    for value in (recipient, mid, settings.mail_from):
        if "\r" in value or "\n" in value:
            raise Permanent(f"refusing a header value with a line break: {value!r}")
    subject = " ".join(re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]", "", subject).split())
    if subject.isascii() and "=?" not in subject:
        subj = subject
    else:  # not ASCII, or text that a mail program would decode as an RFC 2047 encoded word:
        subj = Header(subject, "utf-8").encode()  # encode it all, so it reads exactly as typed
    boundary = "=_ikuflow_" + uuid.uuid4().hex

    def part(ctype: str, body: str) -> str:
        b64 = base64.encodebytes(body.encode("utf-8")).decode("ascii")
        return (f"--{boundary}\r\nContent-Type: {ctype}; charset=utf-8\r\n"
                f"Content-Transfer-Encoding: base64\r\n\r\n{b64}")

    head = (f"From: {settings.mail_from}\r\nTo: {recipient}\r\nSubject: {subj}\r\n"
            f"Message-ID: {mid}\r\nDate: {formatdate(usegmt=True)}\r\nMIME-Version: 1.0\r\n"
            f"Auto-Submitted: auto-generated\r\n")
    if html:
        body = (f"Content-Type: multipart/alternative; boundary=\"{boundary}\"\r\n\r\n"
                + part("text/plain", text) + part("text/html", html) + f"--{boundary}--\r\n")
    else:
        body = ("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                + base64.encodebytes(text.encode("utf-8")).decode("ascii"))
    return (head + body).replace("\r\n", "\n").replace("\n", "\r\n").encode("ascii")


class _Connection:
    """One reused SMTP connection, reopened after any failure."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.smtp: Any = None  # an aiosmtplib.SMTP, imported when first needed
        self.opened = False  # this connection has reached the server at least once

    async def _open(self):
        import aiosmtplib

        s = self.settings
        smtp = aiosmtplib.SMTP(hostname=s.host, port=s.port, use_tls=s.tls == "tls",
                               start_tls=True if s.tls == "starttls" else False, timeout=s.timeout)
        await smtp.connect()
        self.opened = True
        if s.user:
            await smtp.login(s.user, s.password)
        self.smtp = smtp

    def _cannot(self, reason: str) -> str:
        return f"cannot connect to the SMTP server {self.settings.host}:{self.settings.port}: {reason}"

    async def _reset(self) -> None:
        """After a refused recipient: RSET, so the connection can carry the next message."""
        try:
            await asyncio.wait_for(self.smtp.rset(), self.settings.timeout)
        except Exception:  # a session that cannot reset is closed and reopened for the next one
            await self.close()

    async def close(self) -> None:
        smtp, self.smtp = self.smtp, None
        if smtp is not None:
            try:
                await asyncio.wait_for(smtp.quit(), 2)
            except Exception:  # closing a broken connection: nothing left to save
                smtp.close()

    async def _envelope(self, recipient: str) -> None:
        import aiosmtplib

        if self.smtp is None or not self.smtp.is_connected:
            await self.close()
            try:
                await self._open()
            except aiosmtplib.SMTPConnectError as exc:
                raise Unreachable(self._cannot(_connect_reason(exc, self.settings.timeout))) from None
        await self.smtp.mail(parseaddr(self.settings.mail_from)[1])
        await self.smtp.rcpt(recipient)

    async def send(self, recipient: str, raw: bytes) -> None:
        """Send one message. Connecting, MAIL and RCPT must finish within ``timeout`` (a server
        that trickles bytes cannot hang the sender); the body and the final reply within
        ``reply_timeout``: a late 250 is still a delivery, not a reason to send again."""
        import aiosmtplib

        s = self.settings
        try:
            try:
                await asyncio.wait_for(self._envelope(recipient), s.timeout)
            except asyncio.TimeoutError:
                opening = self.smtp is None  # no connection yet: the server never answered
                await self.close()
                if opening:
                    raise Unreachable(self._cannot(f"no answer within {s.timeout:g} s")) from None
                raise Transient(f"no answer within {s.timeout:g} s") from None
            await asyncio.wait_for(self.smtp.data(raw, timeout=s.reply_timeout), s.timeout + s.reply_timeout)
        except aiosmtplib.SMTPRecipientRefused as exc:
            await self._reset()
            raise (Permanent if exc.code >= 500 else Transient)(f"recipient refused: {exc.code} {exc.message}") from None
        except aiosmtplib.SMTPAuthenticationError as exc:
            await self.close()
            raise IkuflowError(f"SMTP login to {self.settings.describe()} refused ({exc.code}); "
                               "check IKUFLOW_SMTP_USER and IKUFLOW_SMTP_PASSWORD") from None
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPConnectError,
                aiosmtplib.SMTPTimeoutError, OSError, asyncio.TimeoutError) as exc:
            await self.close()
            raise Transient(f"{type(exc).__name__}: {exc}".strip()) from None
        except aiosmtplib.SMTPResponseException as exc:
            if exc.code < 500 or exc.code in (500, 502):  # 500/502 here: a broken session
                await self.close()
                raise Transient(f"{exc.code} {exc.message}") from None
            raise Permanent(f"{exc.code} {exc.message}") from None
        except aiosmtplib.SMTPException as exc:
            await self.close()
            raise Transient(str(exc)) from None


@dataclass
class Stats:
    """What one run of the sender did: rows sent, to retry, dead, claimed."""

    sent: int = 0
    retried: int = 0
    dead: int = 0
    claimed: int = 0
    unreachable: str | None = None  # why the server could not be reached, if it could not

    def as_dict(self) -> dict:
        """The counts as ``outbox send --json`` prints them."""
        return {"sent": self.sent, "retried": self.retried, "dead": self.dead, "claimed": self.claimed}


class Sender:
    """Claims, sends and records outbox rows. One per process (``owner`` names it)."""

    def __init__(self, settings: Settings | None = None, url: str | None = None,
                 con: Any = None, batch: int = 64) -> None:
        self.settings = settings or Settings.from_env()
        self.con = con or connect(url)
        self.batch = batch
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._renderer: Renderer | None = None  # made when a row first needs it
        from ikuflow.notify.links import from_env

        self._linker = from_env(url)  # personal action links, when IKUFLOW_BASE_URL is set
        self._render_failed = False  # then the next batch reloads the templates (a fix shows)

    def render(self, row: Claimed) -> tuple[str, str, str | None]:
        """(subject, text, html) of a row: as stored, or rendered from its intent. Permanent,
        naming the template and what to do, when it cannot be rendered."""
        if row.body_text is not None:  # rendered by the previous release: sent as it is
            return row.subject or "", row.body_text, row.body_html
        if self._renderer is None:
            self._renderer = Renderer()
        try:
            mail = self._renderer.render_intent(row.template, row.payload, self._linker)
        except RenderFailed as exc:
            self._render_failed = True
            then = f", then 'ikuflow outbox retry {row.id}'" if exc.fix == FIX_TEMPLATE else ""
            raise Permanent(f"{exc}{then}") from None
        return mail.subject, mail.text, mail.html

    def claim(self, now: datetime) -> list[Claimed]:
        """Lease up to ``batch`` due rows to this sender (one short write transaction)."""
        s = self.settings
        # never claim more than the connections can send before the lease runs out when every
        # message uses its whole envelope time; a final reply may take longer (reply_timeout),
        # which the lease (15 min by default, more than RFC 5321's 10) covers for one message
        limit = max(s.connections, min(self.batch, int(s.lease // s.timeout) * s.connections))
        with write(self.con) as c:
            return outbox.claim(c, self.owner, now, now + timedelta(seconds=s.lease), limit)

    def release(self) -> None:
        """Give back every row this sender holds and has not recorded (one write transaction)."""
        with write(self.con) as c:
            outbox.release(c, self.owner)

    def record(self, results: Sequence[tuple[Claimed, str | None, bool]], now: datetime, stats: Stats) -> None:
        """Write what happened to each row, where this sender still holds its lease."""
        s = self.settings
        sent: list[tuple[int, int, str | None]] = []
        dead: list[tuple[int, int, str]] = []
        retry: list[tuple[int, int, datetime, str]] = []
        for row, error, permanent in results:
            attempts = row.attempts + 1
            if error is None:  # the subject sent (the row carries its rendered one)
                sent.append((row.id, attempts, row.subject))
            elif permanent or attempts >= s.max_attempts:
                dead.append((row.id, attempts, error[:500]))
            else:
                delay = min(s.retry_base * 2 ** (attempts - 1), s.retry_max) * random.uniform(0.5, 1.5)
                retry.append((row.id, attempts, now + timedelta(seconds=delay), error[:500]))
        with write(self.con) as c:
            outbox.mark_sent(c, self.owner, now, sent)
            outbox.mark_dead(c, self.owner, dead)
            outbox.retry_later(c, self.owner, retry)
        stats.sent += len(sent)
        stats.dead += len(dead)
        stats.retried += len(retry)
        for row, error, permanent in results:
            if error is not None and error != stats.unreachable:  # that one is told once, by run()
                log.warning("outbox %s to %s: %s (%s)", row.id, row.recipient, error,
                            "dead" if permanent or row.attempts + 1 >= s.max_attempts else "will retry")

    async def run(self, once: bool = True, at: datetime | None = None, stop: asyncio.Event | None = None,
                  poll: float = 1.0) -> Stats:
        """Send until nothing is due (``once``) or until ``stop`` is set."""
        stats = Stats()
        conns = [_Connection(self.settings) for _ in range(max(1, self.settings.connections))]
        try:
            while not (stop and stop.is_set()):
                now = at or now_utc()
                rows = self.claim(now)
                if not rows:
                    if once:
                        break
                    try:
                        await asyncio.wait_for(stop.wait(), poll) if stop else await asyncio.sleep(poll)
                    except asyncio.TimeoutError:
                        pass
                    continue
                stats.claimed += len(rows)
                fatal: list[IkuflowError] = []
                if once and stats.unreachable:  # unreachable a moment ago: this attempt fails too
                    results = [(row, stats.unreachable, False) for row in rows]
                else:
                    if not once:
                        stats.unreachable = None  # a new pass: the server may be back
                    try:
                        results, fatal, down = await self._send_all(conns, rows)
                    except BaseException:
                        self.release()  # cancelled: give the rows back now
                        raise
                    stats.unreachable = down
                self.record(results, at or now_utc(), stats)  # what was sent stays sent
                if fatal:
                    self.release()  # a refused login: the rest go back untouched
                    raise fatal[0]
                if stats.unreachable and not once:
                    log.warning("%s; %d e-mail(s) will be retried", stats.unreachable, len(rows))
        finally:
            await asyncio.gather(*(c.close() for c in conns), return_exceptions=True)
        return stats

    async def _send_all(self, conns: list[_Connection], rows: list[Claimed]) -> tuple[list, list, str | None]:
        """Send ``rows`` over ``conns``: (row, error or None, permanent) for each, the fatal
        error if any, and why the server was unreachable if it was (then every row not sent
        gets that error, its attempt counted, without a connection tried for each)."""
        if self._render_failed:  # a template failed last batch: read the templates again
            self._renderer, self._render_failed = None, False
        queue: asyncio.Queue = asyncio.Queue()
        for row in rows:
            queue.put_nowait(row)
        results: list[tuple] = []
        fatal: list[IkuflowError] = []  # a refused login: every worker stops, the run ends
        down: list[str] = []  # no connection of the run ever reached the server: all stop
        unreached: list[str] = []  # why the last connection that could not be opened failed

        async def worker(conn: _Connection) -> None:
            while not fatal and not down:
                try:
                    row = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                try:
                    subject, text, html = self.render(row)
                    try:
                        raw = build_message(self.settings, row.recipient, subject, text, html, row.message_id)
                    except (UnicodeError, ValueError) as exc:  # this row only: it can never be sent
                        raise Permanent(f"cannot build the message: {exc}") from None
                    await conn.send(row.recipient, raw)  # bounded: see _Connection.send
                    # the subject sent, for record() to store (an intent's is None until now)
                    results.append((row if row.body_text is not None else row._replace(subject=subject),
                                    None, False))
                except Permanent as exc:
                    results.append((row, str(exc), True))
                except Unreachable as exc:
                    results.append((row, str(exc), False))
                    unreached.append(str(exc))
                    if not any(c.opened for c in conns):  # (one that was reached is only busy)
                        down.append(str(exc))
                    return  # this connection cannot be opened: the others take the rest
                except (Transient, asyncio.TimeoutError) as exc:
                    if isinstance(exc, asyncio.TimeoutError):
                        await conn.close()
                        exc = Transient(f"no final reply within {self.settings.reply_timeout:g} s")
                    results.append((row, str(exc), False))
                except IkuflowError as exc:
                    fatal.append(exc)

        workers = [asyncio.ensure_future(worker(c)) for c in conns[:len(rows)]]
        try:
            await asyncio.gather(*workers)
        except BaseException:
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            raise
        if down:  # one reason for every row that met it
            results = [(row, down[0] if error in unreached else error, permanent)
                       for row, error, permanent in results]
        while not queue.empty() and not fatal:  # no connection could be opened: the rest fail alike
            results.append((queue.get_nowait(), (down or unreached)[0], False))
        return results, fatal, (down[0] if down else None)


def send_once(at: datetime | None = None, settings: Settings | None = None) -> dict:
    """``ikuflow outbox send``: deliver everything that is due now, then return the counts.

    When the server cannot be reached, every due e-mail stays pending with this attempt counted
    and its next one scheduled; ``unreachable`` then says where, why, how many e-mails wait and
    when the first is retried (local time, IKUFLOW_TZ), for :class:`ServerUnreachable`.
    """
    sender = Sender(settings)
    started = time.perf_counter()
    try:
        stats = asyncio.run(sender.run(once=True, at=at))
        unreachable = None
        if stats.unreachable:
            from ikuflow.calendar import default_zone, fmt_local

            waiting = outbox.waiting(sender.con)
            s = sender.settings
            unreachable = {"server": f"{s.host}:{s.port}", "error": stats.unreachable,
                           "waiting": waiting.pending,
                           "next_attempt": fmt_local(waiting.first_due, default_zone().key) or None}
    finally:
        sender.con.close()
    return {**stats.as_dict(), "seconds": round(time.perf_counter() - started, 3),
            "server": sender.settings.describe(), "unreachable": unreachable}
