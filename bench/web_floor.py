#!/usr/bin/env python
"""The floor of ikuflow web's stack for bench_web.py: a FastAPI app that answers one constant
JSON object, served by uvicorn with the settings ``ikuflow web`` uses (ikuflow/cli/web.py:
log level warning, no access log, no server header, proxy headers from 127.0.0.1).

    python bench/web_floor.py --port 8001 [--workers 1]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fastapi import FastAPI

app = FastAPI(docs_url=None, redoc_url=None)
BODY = {"key": "floor", "state": "constant", "version": 1}


@app.get("/")
async def floor() -> dict:
    """The same object every time: no database, no template, no middleware of ours."""
    return BODY


def main() -> None:
    import uvicorn

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8001)
    ap.add_argument("--workers", type=int, default=1)
    a = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # "web_floor:app" for --workers > 1
    uvicorn.run(app if a.workers == 1 else "web_floor:app", workers=a.workers, host=a.host, port=a.port,
                proxy_headers=True, forwarded_allow_ips="127.0.0.1", log_level="warning", access_log=False,
                server_header=False)


if __name__ == "__main__":
    main()
