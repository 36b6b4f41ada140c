#!/usr/bin/env python
"""A TCP proxy that delays every chunk by a fixed one-way delay and counts round trips, so a
benchmark on one machine sees a database "on another host".

    python bench/tcp_delay.py --listen 6543 --to 127.0.0.1:5432 --delay-ms 0.5 [--control 6544]

Every chunk read from either side is stamped on arrival and written to the other side
``delay`` later. Each direction of each connection has its own queue of (due, bytes), flushed
by one timer: order is kept, and chunks in flight overlap (a burst is delayed once, not once
per chunk), so the link adds latency, not a throughput cap. Both sockets have TCP_NODELAY.

Round trips: on each connection, a chunk from the server that follows a chunk from the client
is one turn, one round trip (the client sent and then waited for the server). A reply split
into several chunks counts once; a chunk from the server that no client data preceded (none
in PostgreSQL's protocol after the start-up) counts none. Counted when the chunk reaches the
proxy, so by the time the client has the reply, its round trip is already counted.

The control port (no delay, 127.0.0.1) answers one line per line it gets:
``count`` -> ``round_trips=N connections=N c2s_chunks=N s2c_chunks=N c2s_bytes=N s2c_bytes=N
sent_chunks=N delay_ns_total=N`` (the last two give the one-way delay the chunks really had),
``reset`` -> ``ok`` (all counters back to 0).

From Python, :class:`DelayProxy` runs the proxy in a child process (its own interpreter and
event loop, so the client's GIL and the proxy's timers do not wait for each other) and talks to
its control port::

    with DelayProxy("127.0.0.1", 5432, delay_ms=0.5) as link:
        ... connect to 127.0.0.1:link.port ...
        link.reset(); do_something(); print(link.round_trips)

Timers: asyncio's default loop on Linux waits in epoll, which rounds every timeout up to a
whole millisecond (a 0.5 ms delay would become about 1.05 ms), so the proxy runs its loop on
``selectors.SelectSelector``: select() takes microseconds (at most 1024 sockets: plenty for a
bench). The proxy also sets its timer slack to 1 ns (Linux rounds sleeps up by 50 us by
default), and sets each timer early by the loop's measured wake-up lateness (about 50 us), so
chunks leave on time on average; ``delay_ns_total / sent_chunks`` shows what they really got.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import selectors
import socket
import subprocess
import sys
from pathlib import Path

CHUNK = 256 * 1024


class Counters:
    """What the proxy saw since the last reset."""

    FIELDS = ("round_trips", "connections", "c2s_chunks", "s2c_chunks", "c2s_bytes", "s2c_bytes",
              "sent_chunks", "delay_ns_total")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        for f in self.FIELDS:
            setattr(self, f, 0)

    def line(self) -> str:
        return " ".join(f"{f}={getattr(self, f)}" for f in self.FIELDS)

    @staticmethod
    def mean_delay_ms(counts: dict) -> float | None:
        """The one-way delay the chunks really had, on average (timer lateness included)."""
        return counts["delay_ns_total"] / counts["sent_chunks"] / 1e6 if counts["sent_chunks"] else None


class _Pipe:
    """One direction of one connection: chunks wait in a queue until due, then go out in order.

    The timer is set ``lead`` before the first chunk's due time, ``lead`` being the loop's
    measured wake-up lateness (a moving average shared by all pipes), so chunks leave on time
    on average instead of always late."""

    lead = 0.0  # seconds, adapted as the timers fire

    def __init__(self, loop: asyncio.AbstractEventLoop, writer: asyncio.StreamWriter, delay: float,
                 counters: "Counters") -> None:
        self.loop, self.writer, self.delay, self.counters = loop, writer, delay, counters
        self.queue: collections.deque = collections.deque()  # (due, bytes or None for EOF)
        self.timer: asyncio.TimerHandle | None = None
        self.done = loop.create_future()

    def put(self, data: bytes | None, arrived: float) -> None:
        self.queue.append((arrived + self.delay, data))
        if self.timer is None:
            self.timer = self.loop.call_at(self.queue[0][0] - _Pipe.lead, self._flush)

    def _flush(self) -> None:
        self.timer = None
        now = self.loop.time()
        q = self.queue
        if q:  # how late the loop woke for the first chunk: adapt the lead towards it
            err = now - q[0][0]
            _Pipe.lead = min(max(0.0, _Pipe.lead + 0.1 * err), self.delay / 2)
        c = self.counters
        while q and q[0][0] <= now + _Pipe.lead:
            due, data = q.popleft()
            if data is None:  # the sender closed its side: pass the EOF on, after its data
                if self.writer.can_write_eof():
                    try:
                        self.writer.write_eof()
                    except OSError:
                        pass
                if not self.done.done():
                    self.done.set_result(None)
                return
            if not self.writer.is_closing():
                self.writer.write(data)
            c.sent_chunks += 1
            c.delay_ns_total += round((now - due + self.delay) * 1e9)
        if q:
            self.timer = self.loop.call_at(q[0][0] - _Pipe.lead, self._flush)


def _nodelay(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


async def _pump(reader: asyncio.StreamReader, pipe: _Pipe, on_chunk) -> None:
    loop = asyncio.get_running_loop()
    try:
        while True:
            data = await reader.read(CHUNK)
            now = loop.time()
            if not data:
                break
            on_chunk(data)
            pipe.put(data, now)
    except (ConnectionError, OSError):
        pass
    pipe.put(None, loop.time())


async def serve(listen: tuple[str, int], to: tuple[str, int], delay_s: float,
                control: tuple[str, int] | None = None, ready=None, counters: Counters | None = None) -> None:
    """Run the proxy (and its control port) until cancelled. ``ready(port, control_port)`` is
    called once both listen."""
    loop = asyncio.get_running_loop()
    c = counters or Counters()

    async def handle(c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        try:
            s_reader, s_writer = await asyncio.open_connection(*to)
        except OSError:
            c_writer.close()
            return
        _nodelay(c_writer)
        _nodelay(s_writer)
        c.connections += 1
        last = ["s"]  # who sent last on this connection

        def from_client(data: bytes) -> None:
            c.c2s_chunks += 1
            c.c2s_bytes += len(data)
            last[0] = "c"

        def from_server(data: bytes) -> None:
            c.s2c_chunks += 1
            c.s2c_bytes += len(data)
            if last[0] == "c":
                c.round_trips += 1
            last[0] = "s"

        up, down = _Pipe(loop, s_writer, delay_s, c), _Pipe(loop, c_writer, delay_s, c)
        await asyncio.gather(_pump(c_reader, up, from_client), _pump(s_reader, down, from_server))
        await asyncio.gather(up.done, down.done)
        for w in (c_writer, s_writer):
            w.close()

    async def control_handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _nodelay(writer)
        try:
            while line := await reader.readline():
                cmd = line.decode().strip()
                if cmd == "count":
                    writer.write((c.line() + "\n").encode())
                elif cmd == "reset":
                    c.reset()
                    writer.write(b"ok\n")
                else:
                    writer.write(f"error unknown command {cmd!r}\n".encode())
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        writer.close()

    server = await asyncio.start_server(handle, *listen)
    ctl = await asyncio.start_server(control_handle, *control) if control else None
    if ready:
        ready(server.sockets[0].getsockname()[1], ctl.sockets[0].getsockname()[1] if ctl else None)
    try:
        await asyncio.Event().wait()
    finally:
        server.close()
        if ctl:
            ctl.close()


def run(listen: tuple[str, int], to: tuple[str, int], delay_s: float, control: tuple[str, int] | None = None,
        ready=None) -> None:
    """:func:`serve` on an event loop with microsecond timers (see the module docstring)."""
    _no_timer_slack()
    loop = asyncio.SelectorEventLoop(selectors.SelectSelector())
    try:
        loop.run_until_complete(serve(listen, to, delay_s, control, ready))
    except KeyboardInterrupt:
        pass
    finally:
        loop.close()


def _no_timer_slack() -> None:
    """Linux rounds a sleeping thread's timeouts up by its "timer slack" (50 us by default);
    ask for 1 ns (prctl PR_SET_TIMERSLACK). Elsewhere, or if refused, nothing changes."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None).prctl(29, 1, 0, 0, 0)
        except (OSError, AttributeError):
            pass


class DelayProxy:
    """The proxy in a child process, with its counters read over the control port.

    ``start()`` returns once it listens; ``port`` is where clients connect; ``round_trips`` and
    ``counts()`` read the counters; ``reset()`` zeroes them; ``stop()`` ends the child."""

    def __init__(self, host: str, port: int, delay_ms: float = 0.5, listen_port: int = 0) -> None:
        self.to = (host, port)
        self.delay_ms = delay_ms
        self.listen_port = listen_port
        self.port: int | None = None
        self.control_port: int | None = None
        self._proc: subprocess.Popen | None = None
        self._ctl: socket.socket | None = None
        self._rfile = None

    def start(self) -> "DelayProxy":
        self._proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--listen", str(self.listen_port),
             "--to", f"{self.to[0]}:{self.to[1]}", "--delay-ms", str(self.delay_ms), "--control", "0"],
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        line = self._proc.stdout.readline().split()  # "listening PORT control PORT"
        if len(line) != 4 or line[0] != "listening":
            self.stop()
            raise RuntimeError(f"tcp_delay did not start (said {' '.join(line)!r})")
        self.port, self.control_port = int(line[1]), int(line[3])
        self._ctl = socket.create_connection(("127.0.0.1", self.control_port), timeout=10)
        self._ctl.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._rfile = self._ctl.makefile("r", encoding="ascii")
        return self

    def _ask(self, cmd: str) -> str:
        self._ctl.sendall(cmd.encode() + b"\n")
        return self._rfile.readline().strip()

    def counts(self) -> dict[str, int]:
        """Every counter since the last reset."""
        return {k: int(v) for k, v in (kv.split("=") for kv in self._ask("count").split())}

    @property
    def round_trips(self) -> int:
        """Round trips on all connections since the last reset."""
        return self.counts()["round_trips"]

    def reset(self) -> None:
        if self._ask("reset") != "ok":
            raise RuntimeError("tcp_delay: reset refused")

    def stop(self) -> None:
        if self._ctl is not None:
            self._rfile.close()
            self._ctl.close()
            self._ctl = None
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc.stdout.close()
            self._proc = None

    def __enter__(self) -> "DelayProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--listen", required=True, help="[HOST:]PORT to listen on (0: any free port)")
    ap.add_argument("--to", required=True, help="HOST:PORT of the server")
    ap.add_argument("--delay-ms", type=float, default=0.5, help="one-way delay in ms, each direction (0.5)")
    ap.add_argument("--control", help="[HOST:]PORT of the control port (count/reset; 0: any free port)")
    a = ap.parse_args(argv)
    listen = _host_port(a.listen)
    control = _host_port(a.control) if a.control is not None else None

    def ready(port: int, cport: int | None) -> None:
        print(f"listening {port} control {cport}", flush=True)

    run(listen, _host_port(a.to), a.delay_ms / 1000, control, ready)


if __name__ == "__main__":
    main()
