"""``ikuflow serve``: APScheduler 3.11 running the scheduler pass on an interval, and the
outbox sender running continuously beside it.

One interval job (and, with IKUFLOW_CHECKPOINT_TO set, an hourly one that mails the day's
history checkpoint once), no job per document and no job store: the database is the source of truth
(``document.next_action_at``), so a restart simply runs the next pass. SIGINT and SIGTERM stop
the scheduler between batches and the sender after the sends in flight; a batch is one
transaction and every e-mail row is leased, so a stop loses or doubles nothing.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time

log = logging.getLogger("ikuflow.scheduler")


def serve(interval: float = 60.0, batch: int = 500, url: str | None = None, once_ready=None,
          send: bool = True) -> dict:
    """Run passes every ``interval`` seconds (and the sender, unless ``send`` is False) until
    SIGINT/SIGTERM; return the totals."""
    from apscheduler.schedulers.background import BackgroundScheduler

    from ikuflow.app.evidence import checkpoint_to
    from ikuflow.app.service import Service

    mail_to = checkpoint_to()  # a bad address fails now, before anything starts
    stopping = threading.Event()
    totals = {"passes": 0, "documents": 0, "emails": 0, "sent": 0, "dead": 0}
    svc = Service(url)
    sender_thread = _start_sender(url, stopping, totals) if send else None

    passing = threading.Lock()  # held by a running pass; closing the database waits for it

    def run_pass() -> None:
        with passing:
            if stopping.is_set():  # a pass the executor started as the signal came: nothing to do
                return
            _run_pass()

    def _run_pass() -> None:
        res = svc.tick(batch=batch, stop=stopping.is_set)
        totals["passes"] += 1
        totals["documents"] += res["documents"]
        totals["emails"] += res["emails"]
        if res["documents"]:
            log.info("pass: %(documents)d documents, %(reminders)d reminders, "
                     "%(escalations)d escalations, %(emails)d e-mails", res)

    scheduler = BackgroundScheduler(job_defaults={"coalesce": True, "max_instances": 1,
                                                  "misfire_grace_time": None})
    scheduler.add_job(run_pass, "interval", seconds=interval, id="tick", next_run_time=_now())
    if mail_to:
        def run_checkpoint() -> None:  # hourly; the e-mail itself goes once a day (its cause is the day)
            from ikuflow.app.evidence import mail_checkpoint

            with passing:
                if not stopping.is_set() and mail_checkpoint(svc, mail_to):
                    log.info("checkpoint of the history queued for %s", mail_to)

        scheduler.add_job(run_checkpoint, "interval", hours=1, id="checkpoint", next_run_time=_now())

    def stop(signum, _frame) -> None:
        # Only a flag: a handler runs between two bytecodes of the main thread, which may then
        # hold a lock the scheduler's shutdown needs (its thread pool's, while submitting a
        # pass): shutting down from here could wait forever. The main loop below does it.
        stopping.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    if once_ready:
        once_ready()
    scheduler.start()
    while not stopping.is_set():
        time.sleep(0.1)
    log.info("stopping after the current batch")
    scheduler.shutdown(wait=True)  # a running pass finishes its batch first
    with passing:
        svc.close()
    if sender_thread is not None:
        sender_thread.join()
        if "error" in totals:
            from ikuflow.errors import IkuflowError

            raise IkuflowError(totals["error"])
    return totals


def _start_sender(url, stopping: threading.Event, totals: dict) -> threading.Thread:
    """The outbox sender in its own thread and event loop, stopped by ``stopping``."""
    import asyncio

    from ikuflow.notify.sender import Sender, Settings

    settings = Settings.from_env()  # a bad setting fails now, before anything starts

    def run() -> None:
        sender = Sender(settings, url)

        async def main() -> None:
            stop = asyncio.Event()

            async def watch() -> None:
                while not stopping.is_set():
                    await asyncio.sleep(0.1)
                stop.set()

            watcher = asyncio.ensure_future(watch())
            try:
                stats = await sender.run(once=False, stop=stop, poll=0.5)
            finally:
                watcher.cancel()
            totals["sent"], totals["dead"] = stats.sent, stats.dead

        try:
            asyncio.run(main())
        except Exception as exc:  # e.g. a refused SMTP login: stop everything, say why
            totals["error"] = str(exc)
            log.error("sender stopped: %s", exc)
            os.kill(os.getpid(), signal.SIGTERM)
        finally:
            sender.con.close()

    thread = threading.Thread(target=run, name="ikuflow-sender", daemon=True)
    thread.start()
    return thread


def _now():
    from datetime import datetime, timezone

    return datetime.now(timezone.utc)
