#!/usr/bin/env python
"""The soak's SMTP server: aiosmtpd in its own process, failing at random, recording every
message it accepts.

Faults (each drawn per command, from ``--seed``; rates are probabilities, see FAULTS):
  rcpt_421     RCPT answered ``421 4.3.2`` and the connection closed (server going down)
  rcpt_451     RCPT answered ``451 4.3.0`` (try later); the session goes on
  rcpt_slow    RCPT answered after 0.2..0.6 x the client's timeout (slow, not a failure)
  data_451     DATA answered ``451 4.3.0``
  data_drop    the connection closed in the middle of DATA, before any reply
  data_slow    DATA answered after 0.2..0.6 x the client's timeout (slow, not a failure)
  data_stall   DATA held for the client's timeout + 5 s: the client gives up first and closes;
               the server then discards the message (a server that commits only when it can
               still reply), so a stall never turns into an acceptance the client did not see

Only 4xx replies and dropped or stalled connections: nothing here is permanent, so a correct
sender delivers everything and nothing goes dead.

Every accepted message is one line appended (and flushed) to ``--log``, tab separated:
``time  message-id  login  recipient  subject-digest``. ``login`` is the SMTP AUTH user of
the session (AUTH PLAIN/LOGIN without TLS is allowed, any password): the soak gives every
sender process its own user, so each acceptance is tied to the process that sent it.

Signals: SIGUSR1 turns faults off (the drain), SIGUSR2 on again; SIGTERM or SIGINT writes the
counters to ``--stats`` (JSON) and stops. ``--ready FILE`` is written once the port listens.

Usage: python bench/soak_smtp.py --port PORT --log FILE --stats FILE --ready FILE
           [--seed N] [--timeout SECONDS] [--fault-scale 1.0] [--rate KIND=P ...]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import signal
import sys
import threading
import time
from collections import Counter

FAULTS = {"rcpt_421": 0.02, "rcpt_451": 0.03, "rcpt_slow": 0.03,
          "data_451": 0.03, "data_drop": 0.02, "data_slow": 0.04, "data_stall": 0.004}


class Handler:
    def __init__(self, log, rng: random.Random, rates: dict, timeout: float) -> None:
        self.log, self.rng, self.rates, self.timeout = log, rng, rates, timeout
        self.faults_on = True
        self.counts: Counter = Counter()

    def _draw(self, kinds) -> str | None:
        """One fault of ``kinds`` (or None), each with its rate; nothing when faults are off."""
        if not self.faults_on:
            return None
        x = self.rng.random()
        for kind in kinds:
            x -= self.rates.get(kind, 0.0)
            if x < 0:
                return kind
        return None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.counts["rcpt"] += 1
        fault = self._draw(("rcpt_421", "rcpt_451", "rcpt_slow"))
        if fault:
            self.counts[fault] += 1
        if fault == "rcpt_421":
            transport = server.transport
            asyncio.get_running_loop().call_later(0.01, lambda: transport and transport.close())
            return "421 4.3.2 service shutting down (soak)"
        if fault == "rcpt_451":
            return "451 4.3.0 try again later (soak)"
        if fault == "rcpt_slow":
            await asyncio.sleep(self.timeout * self.rng.uniform(0.2, 0.6))
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.counts["data"] += 1
        fault = self._draw(("data_451", "data_drop", "data_slow", "data_stall"))
        if fault:
            self.counts[fault] += 1
        if fault == "data_451":
            return "451 4.3.0 try again later (soak)"
        if fault == "data_drop":
            server.transport.close()  # the client sees the connection go before any reply
            return "421 4.4.2 connection dropped (soak)"
        if fault in ("data_slow", "data_stall"):
            wait = (self.timeout * self.rng.uniform(0.2, 0.6) if fault == "data_slow"
                    else self.timeout + 5.0)
            await asyncio.sleep(wait)  # cancelled by aiosmtpd when the client goes away
        if server.transport is None or server.transport.is_closing():
            self.counts["discarded_client_gone"] += 1
            return "451 4.3.0 client gone"
        if fault == "data_stall":  # the client did not give up: refuse rather than accept late
            self.counts["stall_client_waited"] += 1
            return "451 4.3.0 too slow (soak)"
        content = envelope.content if isinstance(envelope.content, bytes) else envelope.content.encode()
        head = content.split(b"\r\n\r\n", 1)[0]
        mid = subject = b""
        for line in head.split(b"\r\n"):
            low = line[:12].lower()
            if low.startswith(b"message-id:"):
                mid = line.split(b":", 1)[1].strip()
            elif low.startswith(b"subject:"):
                subject = line.split(b":", 1)[1].strip()
        login = getattr(session.auth_data, "login", None) or b"-"
        login = login.decode("ascii", "replace") if isinstance(login, bytes) else str(login)
        self.log.write(f"{time.time():.6f}\t{mid.decode('ascii', 'replace')}\t{login}\t"
                       f"{','.join(envelope.rcpt_tos)}\t{hashlib.sha1(subject).hexdigest()[:12]}\n")
        self.log.flush()
        self.counts["accepted"] += 1
        return "250 OK"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--stats", required=True)
    ap.add_argument("--ready", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=3.0, help="the clients' IKUFLOW_SMTP_TIMEOUT")
    ap.add_argument("--fault-scale", type=float, default=1.0, help="multiply every fault rate")
    ap.add_argument("--rate", action="append", default=[], metavar="KIND=P",
                    help="set one fault's rate (after --fault-scale), e.g. data_stall=0.05")
    args = ap.parse_args()

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    rates = {k: v * args.fault_scale for k, v in FAULTS.items()}
    for item in args.rate:
        kind, _, value = item.partition("=")
        if kind not in FAULTS:
            ap.error(f"unknown fault '{kind}'; one of {', '.join(FAULTS)}")
        rates[kind] = float(value)
    log = open(args.log, "a", encoding="utf-8")
    handler = Handler(log, random.Random(args.seed), rates, args.timeout)

    def authenticator(server, session, envelope, mechanism, auth_data):
        handler.counts["logins"] += 1
        return AuthResult(success=True, auth_data=auth_data)

    controller = Controller(handler, hostname="127.0.0.1", port=args.port, server_hostname="soak.smtp",
                            ready_timeout=10, authenticator=authenticator, auth_require_tls=False,
                            data_size_limit=1 << 22)
    controller.start()
    stop = threading.Event()

    def on_signal(signum, _frame) -> None:
        if signum == signal.SIGUSR1:
            handler.faults_on = False
        elif signum == signal.SIGUSR2:
            handler.faults_on = True
        else:
            stop.set()

    for sig in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    with open(args.ready, "w") as fh:
        fh.write(str(args.port))
    while not stop.wait(0.5):
        pass
    controller.stop()
    log.close()
    with open(args.stats, "w") as fh:
        json.dump({"rates": rates, "counts": dict(handler.counts)}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
