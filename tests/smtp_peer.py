"""A real SMTP peer for the notification tests: aiosmtpd on a loopback port, with faults.

``Peer`` runs aiosmtpd's threaded Controller. Tests steer it with two plain hooks, called for
every RCPT and DATA command with the command's number (1, 2, ... since the start):

    peer.on_rcpt = lambda n, address: "451 4.3.0 try later" if n == 1 else None
    peer.on_data = lambda n, server, envelope: "550 5.6.0 no" if ... else None

A hook returns None to accept, or the reply to send instead. A hook may also be a coroutine
function (it runs on the server's event loop, so it can hold the command with asyncio.sleep).
``DROP`` from on_data closes the connection in the middle of DATA, before any reply.
``peer.hold()`` from a hook never answers: the command waits until the client hangs up, which
``hung_up`` counts (a client's time limit runs out however fast or slow the machine is):

    peer.on_rcpt = lambda n, address: peer.hold()
    peer.on_data = lambda n, server, envelope: peer.hold(envelope)  # had queued the message

Only accepted messages are kept in ``received`` (and a held DATA's, when given its envelope).
"""

from __future__ import annotations

import asyncio
import inspect
import socket
import ssl
import subprocess
import threading
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

DROP = object()


def free_port() -> int:
    """A loopback port nobody listens on (reserved by binding it once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Received:
    rcpt_tos: list[str]
    raw: bytes
    msg: EmailMessage
    mail_from: str = ""  # the envelope sender (MAIL FROM)

    @property
    def mid(self) -> str:
        return self.msg["Message-ID"]

    @property
    def text(self) -> str:
        return self.msg.get_body(preferencelist=("plain",)).get_content()

    @property
    def html(self) -> str:
        return self.msg.get_body(preferencelist=("html",)).get_content()

    @property
    def header_names(self) -> list[str]:
        """The names of the top-level header fields, as sent (folded lines joined)."""
        head = self.raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
        return [line.split(":", 1)[0] for line in head.split("\r\n") if line and not line[0].isspace()]


class Handler:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: list[Received] = []
        self.rcpt_calls = 0
        self.data_calls = 0
        self.hung_up = 0
        self.on_rcpt = None
        self.on_data = None

    def keep(self, envelope) -> None:
        msg = message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            self.received.append(Received(list(envelope.rcpt_tos), envelope.content, msg,
                                          envelope.mail_from or ""))

    async def hold(self, envelope=None) -> None:
        """Answer nothing until the client hangs up: aiosmtpd then cancels the command's
        handler. Count the hang-up; with ``envelope`` (DATA), keep the message as received."""
        try:
            await asyncio.get_running_loop().create_future()  # never set
        except asyncio.CancelledError:
            with self.lock:
                self.hung_up += 1
            if envelope is not None:
                self.keep(envelope)
            raise

    @staticmethod
    async def _call(hook, *args):
        if hook is None:
            return None
        res = hook(*args)
        return await res if inspect.isawaitable(res) else res

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        with self.lock:
            self.rcpt_calls += 1
            n = self.rcpt_calls
        reply = await self._call(self.on_rcpt, n, address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.data_calls += 1
            n = self.data_calls
        reply = await self._call(self.on_data, n, server, envelope)
        if reply is DROP:
            server.transport.close()  # the client sees the connection go before any reply
            return "421 4.4.2 connection dropped"
        if reply:
            return reply
        self.keep(envelope)
        return "250 OK"


class Peer:
    """An aiosmtpd server on 127.0.0.1; ``start()`` may come late (the server was down)."""

    def __init__(self, port: int | None = None, **smtp_kwargs) -> None:
        self.port = port or free_port()
        self.handler = Handler()
        self.smtp_kwargs = smtp_kwargs
        self.controller = None

    def start(self) -> "Peer":
        from aiosmtpd.controller import Controller

        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port,
                                     server_hostname="smtp.test", ready_timeout=10, **self.smtp_kwargs)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    # steering and what arrived
    @property
    def on_rcpt(self):
        return self.handler.on_rcpt

    @on_rcpt.setter
    def on_rcpt(self, hook) -> None:
        self.handler.on_rcpt = hook

    @property
    def on_data(self):
        return self.handler.on_data

    @on_data.setter
    def on_data(self, hook) -> None:
        self.handler.on_data = hook

    def hold(self, envelope=None):
        """For a hook to return: no answer until the client hangs up (see the module docstring)."""
        return self.handler.hold(envelope)

    def reset(self) -> None:
        """Forget what arrived so far and restart the command counts."""
        with self.handler.lock:
            self.handler.received.clear()
            self.handler.rcpt_calls = self.handler.data_calls = self.handler.hung_up = 0

    @property
    def received(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.received)

    @property
    def mids(self) -> list[str]:
        return [r.mid for r in self.received]

    @property
    def rcpt_calls(self) -> int:
        return self.handler.rcpt_calls

    @property
    def data_calls(self) -> int:
        return self.handler.data_calls

    @property
    def hung_up(self) -> int:
        """How many held commands the client gave up on (it closed the connection)."""
        return self.handler.hung_up


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, and its key (openssl CLI)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=60)
    return cert, key


def server_tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


__all__ = ["DROP", "Peer", "Received", "free_port", "self_signed", "server_tls_context"]
