"""A local SMTP sink (aiosmtpd) that keeps every e-mail it receives: the demo's mail server,
and ``ikuflow mail-sink`` for trying ikuflow without a real one."""

from __future__ import annotations

import threading
from email import message_from_bytes, policy
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiosmtpd.controller import Controller


class _Keep:
    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.messages: list = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        msg = message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            self.messages.append(msg)
            n = len(self.messages)
        if self.folder is not None:
            (self.folder / f"{n:04d}.eml").write_bytes(envelope.content)
        return "250 OK"


class Sink:
    """Start with ``start()``; ``messages`` holds what arrived; ``stop()`` at the end."""

    def __init__(self, folder: str | Path | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.folder = Path(folder) if folder else None
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
        self.handler = _Keep(self.folder)
        self.host, self.port = host, port
        self.controller: Controller | None = None

    def start(self) -> "Sink":
        """Start the SMTP sink in its own thread."""
        import socket

        from aiosmtpd.controller import Controller

        if not self.port:
            with socket.socket() as s:
                s.bind((self.host, 0))
                self.port = s.getsockname()[1]
        self.controller = Controller(self.handler, hostname=self.host, port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        """Stop the SMTP sink."""
        if self.controller is not None:
            self.controller.stop()

    @property
    def messages(self) -> list:
        """The messages received so far."""
        with self.handler.lock:
            return list(self.handler.messages)


def text_of(msg) -> str:
    """The plain-text part of a received message."""
    part = msg.get_body(preferencelist=("plain",))
    return part.get_content() if part is not None else ""
