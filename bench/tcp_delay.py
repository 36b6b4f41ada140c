#!/usr/bin/env python
"""A TCP proxy that delays every chunk by a fixed one-way delay and counts round trips, so a
benchmark on one machine sees a database "on another host".

    python bench/tcp_delay.py --listen 6543 --to 127.0.0.1:5432 --delay-ms 0.5 [--control 6544]

Every chunk read from either side is stamped on arrival and written to the other side
``delay`` later, from one heap of (due, arrival order, destination, bytes): every chunk waits
the same delay, so order is kept, and chunks in flight overlap (a burst is delayed once, not
once per chunk): the link adds latency, not a throughput cap. Both sockets have TCP_NODELAY.

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

Timers: epoll rounds every timeout up to a whole millisecond (a 0.5 ms delay would become
about 1.05 ms), so the proxy runs a plain loop on ``selectors.SelectSelector``: select() takes
microseconds (at most 1024 sockets: plenty for a bench); :func:`run` is that loop, with no
event-loop machinery between a chunk's arrival and its departure (an asyncio version with
streams added about 0.3 ms per round trip). The proxy also sets its timer slack to 1 ns (Linux rounds sleeps up by 50 us by
default), and sets each timer early by the loop's measured wake-up lateness (about 50 us), so
chunks leave on time on average; ``delay_ns_total / sent_chunks`` shows what they really got.
"""

from __future__ import annotations

import argparse
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


def run(listen: tuple[str, int], to: tuple[str, int], delay_s: float, control: tuple[str, int] | None = None,
        ready=None) -> None:
    """The proxy on a plain select() loop over blocking sockets (see the module docstring):
    no event-loop machinery between a chunk's arrival and its departure, so the link adds its
    delay and little else (asyncio's streams added about 0.3 ms per round trip)."""
    import heapq
    import time

    _no_timer_slack()
    c = Counters()
    sel = selectors.SelectSelector()
    lsock = socket.create_server(listen)
    sel.register(lsock, selectors.EVENT_READ, ("listen", None))
    csock = socket.create_server(control) if control else None
    if csock:
        sel.register(csock, selectors.EVENT_READ, ("control-listen", None))
    if ready:
        ready(lsock.getsockname()[1], csock.getsockname()[1] if csock else None)
    timers: list = []  # heap of (due, seq, destination socket, bytes or None for EOF)
    seq = 0
    lead = 0.0  # how early to wake: select()'s measured wake-up lateness, a moving average
    last: dict = {}  # client socket -> who sent last on that connection ("c" or "s")
    peer: dict = {}  # socket -> the other side of its connection

    def close(sock) -> None:
        for x in (sock, peer.get(sock)):
            if x is not None and x.fileno() >= 0:
                try:
                    sel.unregister(x)
                except (KeyError, ValueError):
                    pass
                x.close()

    try:
        while True:
            now = time.perf_counter()
            timeout = None if not timers else max(0.0, timers[0][0] - lead - now)
            for key, _ in sel.select(timeout):
                kind, client = key.data
                sock = key.fileobj
                if kind == "listen":
                    cl, _ = lsock.accept()
                    try:
                        sv = socket.create_connection(to)
                    except OSError:
                        cl.close()
                        continue
                    for x in (cl, sv):
                        x.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    peer[cl], peer[sv], last[cl] = sv, cl, "s"
                    sel.register(cl, selectors.EVENT_READ, ("c", cl))
                    sel.register(sv, selectors.EVENT_READ, ("s", cl))
                    c.connections += 1
                elif kind == "control-listen":
                    ctl, _ = csock.accept()
                    ctl.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    sel.register(ctl, selectors.EVENT_READ, ("control", None))
                elif kind == "control":
                    data = sock.recv(4096)
                    if not data:
                        sel.unregister(sock)
                        sock.close()
                        continue
                    for cmd in data.decode().split():
                        if cmd == "count":
                            sock.sendall((c.line() + "\n").encode())
                        elif cmd == "reset":
                            c.reset()
                            sock.sendall(b"ok\n")
                        else:
                            sock.sendall(f"error unknown command {cmd!r}\n".encode())
                else:
                    try:
                        data = sock.recv(CHUNK)
                    except OSError:
                        data = b""
                    arrived = time.perf_counter()
                    if data and kind == "c":
                        c.c2s_chunks += 1
                        c.c2s_bytes += len(data)
                        last[client] = "c"
                    elif data:
                        c.s2c_chunks += 1
                        c.s2c_bytes += len(data)
                        if last.get(client) == "c":
                            c.round_trips += 1
                        last[client] = "s"
                    else:
                        sel.unregister(sock)
                    seq += 1
                    heapq.heappush(timers, (arrived + delay_s, seq, peer[sock], data or None))
            now = time.perf_counter()
            if timers and timers[0][0] <= now + lead:  # how late select() woke: adapt the lead towards it
                lead = min(max(0.0, lead + 0.1 * (now - timers[0][0])), delay_s / 2)
            while timers and timers[0][0] <= now + lead:
                due, _, dest, data = heapq.heappop(timers)
                if dest.fileno() < 0:
                    continue
                if data is None:  # one side closed: pass the EOF on, after its data
                    try:
                        dest.shutdown(socket.SHUT_WR)
                    except OSError:
                        close(dest)
                    continue
                try:
                    dest.sendall(data)
                except OSError:
                    close(dest)
                    continue
                c.sent_chunks += 1
                c.delay_ns_total += round((now - due + delay_s) * 1e9)
    except KeyboardInterrupt:
        pass


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
