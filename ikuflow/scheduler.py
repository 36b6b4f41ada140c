"""``ikuflow serve``: APScheduler 3.11 running the scheduler pass on an interval.

One interval job, no job per document and no job store: the database is the source of truth
(``document.next_action_at``), so a restart simply runs the next pass. SIGINT and SIGTERM stop
the scheduler between batches; a batch is one transaction, so a stop loses or doubles nothing.
"""

from __future__ import annotations

import logging
import signal
import threading

log = logging.getLogger("ikuflow.scheduler")


def serve(interval: float = 60.0, batch: int = 500, url: str | None = None, once_ready=None) -> dict:
    """Run passes every ``interval`` seconds until SIGINT/SIGTERM; return the totals."""
    from apscheduler.schedulers.blocking import BlockingScheduler

    from ikuflow.service import Service

    stopping = threading.Event()
    totals = {"passes": 0, "documents": 0, "emails": 0}
    svc = Service(url)

    def run_pass() -> None:
        res = svc.tick(batch=batch, stop=stopping.is_set)
        totals["passes"] += 1
        totals["documents"] += res["documents"]
        totals["emails"] += res["emails"]
        if res["documents"]:
            log.info("pass: %(documents)d documents, %(reminders)d reminders, "
                     "%(escalations)d escalations, %(emails)d e-mails", res)

    scheduler = BlockingScheduler(job_defaults={"coalesce": True, "max_instances": 1,
                                                "misfire_grace_time": None})
    scheduler.add_job(run_pass, "interval", seconds=interval, id="tick", next_run_time=_now())

    def stop(signum, _frame) -> None:
        log.info("signal %s: stopping after the current batch", signum)
        stopping.set()
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    if once_ready:
        once_ready()
    scheduler.start()  # blocks until shutdown; a running pass finishes its batch first
    svc.close()
    return totals


def _now():
    from datetime import datetime, timezone

    return datetime.now(timezone.utc)
