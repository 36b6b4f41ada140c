"""``ikuflow web``: serve the pages and the JSON API (uvicorn), PRODUCT.md section 8."""

from __future__ import annotations

import typer

from ikuflow.cli.common import say


def web(host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0: every interface)."),
        port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port to listen on."),
        workers: int = typer.Option(1, "--workers", min=1, max=64,
                                    help="Processes (each one database connection; SQLite: one writer at a time)."),
        proxy: str = typer.Option("127.0.0.1", "--forwarded-allow-ips", metavar="IPS",
                                  help="Reverse proxies trusted for X-Forwarded-For/-Proto (comma-separated, '*' all).")
        ) -> None:
    """Serve the web pages (sign-in by e-mail link, my tasks, documents, action links from
    e-mails, overdue, report) and the JSON API under /api/v1 (OpenAPI at /openapi.json).

    Needs a secret key: IKUFLOW_SECRET_KEY, or the key file 'ikuflow init' made beside the
    database. E-mails link to IKUFLOW_BASE_URL (e.g. https://iku.bawaslu.go.id); run
    'ikuflow serve' beside it to deliver e-mail (sign-in links included)."""
    import os

    import uvicorn

    from ikuflow.web import create_app

    own = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    guessed = not os.environ.get("IKUFLOW_BASE_URL", "").strip()
    if guessed:  # sign-in links point here (never to a request's Host header)
        os.environ["IKUFLOW_BASE_URL"] = own
    app = create_app()  # fail fast (exit 2) without a secret key or a database
    say(f"ikuflow web on http://{host}:{port} ({workers} process(es)); links point to "
        f"{app.state.ikuflow.base}" + (" (set IKUFLOW_BASE_URL to the address people open)" if guessed else "")
        + "; stop with Ctrl-C")
    if workers > 1:  # each worker process makes its own app
        app.state.ikuflow.svc.close()
    uvicorn.run(app if workers == 1 else "ikuflow.web:create_app", factory=workers > 1, workers=workers,
                host=host, port=port, proxy_headers=True, forwarded_allow_ips=proxy, log_level="warning",
                access_log=False, server_header=False)
