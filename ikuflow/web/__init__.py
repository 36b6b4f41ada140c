"""``ikuflow web``: the front door of PRODUCT.md section 8. The pages (:mod:`.pages`) and the
JSON API (:mod:`.api`) are two thin adapters over the same use cases as the CLI
(:mod:`ikuflow.app`); nothing here writes SQL.
"""

from __future__ import annotations


def create_app(url: str | None = None):
    """The ASGI application on the database ``url`` (default IKUFLOW_DATABASE_URL); UsageError
    (exit 2) without a secret key."""
    from fastapi import FastAPI

    from ikuflow import __version__
    from ikuflow.web import api, pages
    from ikuflow.web.common import SecurityHeaders, State

    state = State(url)
    # no Swagger UI: it loads its script from a CDN; the description is at /openapi.json
    app = FastAPI(title="ikuflow", version=__version__, docs_url=None, redoc_url=None,
                  description="The ikuflow API: IKU documents, their steps and what is overdue, as the "
                              "person whose token is sent as 'Authorization: Bearer TOKEN' "
                              "(ikuflow token create EMAIL).")
    app.state.ikuflow = state
    app.state.page_error = pages.page_error
    # Routes are tried in order: the pages opened most, then the API, then the other pages (a
    # page is a plain route, quick to pass; an API route costs a request about 2 us to pass).
    hot = [r for r in pages.ROUTES if r[0] in pages.FIRST]
    for path, endpoint, methods in hot:
        app.add_route(path, endpoint, methods=methods, include_in_schema=False)
    api.install(app)
    for path, endpoint, methods in pages.ROUTES[len(hot):]:
        app.add_route(path, endpoint, methods=methods, include_in_schema=False)
    app.add_exception_handler(pages._SignIn, pages.page_error)
    app.add_middleware(SecurityHeaders)
    # What was loaded so far lives as long as the process: keep it out of the collector's full
    # passes, which otherwise stop the event loop for 30 ms every few hundred requests.
    import gc

    gc.collect()
    gc.freeze()
    return app
