"""One firing process for tests/test_multinode.py: fire events at shared documents through
``Service.advance`` in-process, as fast as it can, and record the outcome of every attempt.

    python tests/firer.py CONFIG.json

CONFIG names the documents (``keys``), who fires each event on each document (``actors``:
key -> event -> e-mail), a random ``seed``, how many ``passes`` over the documents, the share of
visits that also try ``send_back`` (``send_back``), a ``ready`` file this process creates once it
is connected and a ``go`` file it waits for (so that every process starts firing at once), and
the ``out`` file it writes: one JSON line per attempt, ``{"key", "event", "outcome", ...}`` with
outcome ``"ok"`` (with the version and the states), the ikuflow exit code class of the refusal
(``4``, ``6``, ...), or ``"error"`` with the traceback of anything that is not an ikuflow error.
The database is IKUFLOW_DATABASE_URL, as for the CLI.
"""

from __future__ import annotations

import json
import random
import sys
import time
import traceback
from pathlib import Path

WALK = ("submit", "synchronize", "approve", "sign")


def main(config_path: str) -> int:
    cfg = json.loads(Path(config_path).read_text())
    from ikuflow.errors import IkuflowError
    from ikuflow.app.service import Service

    rnd = random.Random(cfg["seed"])
    svc = Service()
    svc.status(cfg["keys"][0])  # connected, workflow parsed: the race starts on an even footing
    Path(cfg["ready"]).touch()
    go = Path(cfg["go"])
    deadline = time.monotonic() + 120
    while not go.exists():
        if time.monotonic() > deadline:
            raise SystemExit("firer: no go signal within 120 s")
        time.sleep(0.002)
    out = []
    for n_pass in range(cfg["passes"]):
        keys = list(cfg["keys"])
        rnd.shuffle(keys)
        for key in keys:
            events = list(WALK)
            if n_pass == 0 and rnd.random() < cfg["send_back"]:
                # send it back from wherever the walk got to, then go on with the walk
                events.insert(rnd.randint(1, 3), "send_back")
            for event in events:
                comment = f"dikembalikan oleh firer {cfg['seed']}" if event == "send_back" else None
                t = time.perf_counter()
                rec = {"key": key, "event": event, "pid": cfg["seed"]}
                try:
                    res = svc.advance(key, event, cfg["actors"][key][event], comment=comment)
                    rec.update(outcome="ok", version=res["version"], source=res["from"], to=res["state"])
                except IkuflowError as exc:
                    rec.update(outcome=exc.exit_code, error=type(exc).__name__, message=str(exc))
                except Exception:  # noqa: BLE001  (recorded: the test fails on any of these)
                    rec.update(outcome="error", error=traceback.format_exc())
                    if svc.con.in_transaction:
                        svc.con.execute("ROLLBACK")
                rec["ms"] = round((time.perf_counter() - t) * 1e3, 2)
                out.append(rec)
    svc.close()
    Path(cfg["out"]).write_text("".join(json.dumps(r) + "\n" for r in out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
