"""The SQL ikuflow actually sends for the overdue list, the count and the scheduler's claim,
captured through a recording connection, so the benchmarks time exactly those statements
(shared by bench_overdue.py and bench_pg.py)."""

from __future__ import annotations


class _Stop(Exception):
    pass


class Recorder:
    """A connection wrapper that records every statement; optionally stops at one."""

    def __init__(self, con, stop_at=None):
        self._con, self._stop_at, self.seen = con, stop_at, []

    def execute(self, sql, params=()):
        self.seen.append((sql, tuple(params)))
        if self._stop_at and self._stop_at(sql):
            raise _Stop
        return self._con.execute(sql, params)

    def __getattr__(self, name):
        return getattr(self._con, name)


def _is_probe(sql: str) -> bool:
    return "FROM tick_slot s WHERE (SELECT min(" in sql


def _is_claim(sql: str) -> bool:
    return sql.lstrip().upper().startswith("SELECT") and "next_action_at" in sql and not _is_probe(sql)


def _is_slot(sql: str) -> bool:
    return "FROM tick_slot WHERE slot" in sql


def service_sql(con, now) -> dict:
    """What ``Service`` sends at ``now``: ``list``, ``count``, ``probe`` (the tick asking which slots
    hold anything due, once per pass), ``slot`` (the tick taking its first slot) and ``claim`` (that slot's documents) as (sql, params), ``begin`` (the statement
    opening the claim's transaction), ``rows`` (the overdue list's length) and
    ``list_statements`` (everything Service.overdue sent). The tick is stopped at its claim
    SELECT, before any write."""
    from ikuflow.app.service import Service

    rec = Recorder(con)
    rows = len(Service(con=rec).overdue(at=now))
    listing = [s for s in rec.seen if "FROM document" in s[0] and "ORDER BY due_at" in s[0]]
    list_statements = rec.seen
    rec = Recorder(con)
    Service(con=rec).overdue_count(at=now)
    count = [s for s in rec.seen if "count(" in s[0].lower()]
    rec = Recorder(con, stop_at=_is_claim)
    try:
        Service(con=rec).tick(at=now, batch=500)
        raise AssertionError("Service.tick never ran its claim SELECT")
    except _Stop:
        pass
    assert not con.in_transaction, "the recorder left a transaction open"
    begin = [s for s in rec.seen if s[0].strip().upper().startswith("BEGIN")]
    claim = [s for s in rec.seen if _is_claim(s[0])]
    slot = [s for s in rec.seen if _is_slot(s[0])]
    probe = [s for s in rec.seen if _is_probe(s[0])]
    assert len(listing) == 1 and len(count) == 1 and len(claim) == 1 and len(begin) == 1 and len(slot) == 1 \
        and len(probe) == 1, (listing, count, claim, begin, slot, probe)
    return {"list": listing[0], "count": count[0], "probe": probe[0], "slot": slot[0], "claim": claim[0],
            "begin": begin[0][0],
            "rows": rows, "list_statements": list_statements}


def claim_calls(con, slot, claim):
    """From the tick's captured ``slot`` and ``claim`` (sql, params): ``claim()``, which sends
    them as Service.tick does (take the first slot, then read that slot's most overdue
    documents; returns the rows read), ``next_all()``, every slot's claim SELECT without its
    LIMIT (all that is due; returns the rows), and how many documents are due in the slot claimed."""
    from ikuflow.store.documents import TICK_SLOTS

    (slot_sql, slot_p), (claim_sql, claim_p) = slot, claim
    assert claim_p[0] == 0 and claim_p[-1] == 500, claim_p  # the first slot's 500 most overdue

    def run_claim() -> int:
        assert con.execute(slot_sql, slot_p).fetchone() is not None
        return len(con.execute(claim_sql, claim_p).fetchall())

    def next_all() -> int:
        return sum(len(con.execute(claim_sql, (s, claim_p[1], 10**9)).fetchall()) for s in range(TICK_SLOTS))

    due = con.execute("SELECT count(*) FROM document WHERE tick_slot = ? AND next_action_at IS NOT NULL"
                      " AND next_action_at <= ?", claim_p[:2]).fetchone()[0]
    return run_claim, next_all, due
