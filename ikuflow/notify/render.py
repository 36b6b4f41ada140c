"""Render e-mails from the Jinja2 templates under ``notifications/``, and check them.

Undefined variables are errors (StrictUndefined), HTML templates are autoescaped, and a
subject is always one line: user text (titles, comments) can neither inject a header nor
HTML. An e-mail carries every language of IKUFLOW_MAIL_LANGS (default ``id,en``), Bahasa
Indonesia first.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ikuflow.errors import FIX_TEMPLATE, IkuflowError, Problem, RenderFailed

#: The variables a template may use; anything else fails ``workflow check``.
CONTEXT_VARIABLES = frozenset({
    "document", "recipient", "actor", "event", "comment", "due", "must_act", "you_must_act",
    "kind", "overdue_by", "time_left", "items", "links", "record_url", "checkpoint", "problem"})
SCHEDULER_TEMPLATES = ("reminder", "escalation", "digest")
#: the templates every installation needs besides its workflows': the scheduler's and the web's
SYSTEM_TEMPLATES = SCHEDULER_TEMPLATES + ("sign_in", "checkpoint")
PARTS = ("subject", "txt", "html")
SEPARATOR_TEXT = "\n\n" + "-" * 60 + "\n\n"
MAX_SUBJECT = 200


def notifications_dir() -> Path:
    """IKUFLOW_NOTIFICATIONS, else ./notifications, else the templates shipped with ikuflow."""
    from ikuflow.paths import data_dir

    return data_dir("IKUFLOW_NOTIFICATIONS", "notifications")


def languages() -> tuple[str, ...]:
    """The languages of every e-mail, IKUFLOW_MAIL_LANGS (default id,en), the first one first."""
    langs = tuple(x.strip() for x in os.environ.get("IKUFLOW_MAIL_LANGS", "id,en").split(",") if x.strip())
    return langs or ("id",)


@dataclass(frozen=True)
class Mail:
    subject: str
    text: str
    html: str


#: What to do about a row whose stored context is unusable: nothing renders it.
FIX_ROW = "this e-mail cannot be rendered as stored"


def _reason(exc: Exception, rel: str) -> str:
    """Why rendering the part ``rel`` ('id/submit.txt') failed, in one line: a missing file,
    the file and line of a syntax error, or the part and Jinja's message ("'foo' is
    undefined"), or the type and text of any other error."""
    from jinja2 import TemplateError, TemplateNotFound, TemplateSyntaxError

    if isinstance(exc, TemplateNotFound):
        text = f"'{exc.name}' is missing"
    elif isinstance(exc, TemplateSyntaxError):
        text = f"{exc.name or rel}, line {exc.lineno}: {exc.message}"
    elif isinstance(exc, TemplateError):
        text = f"{rel}: {exc.message or type(exc).__name__}"
    else:  # a template adding a number to text, a filter given the wrong value, ...
        text = f"{rel}: {type(exc).__name__}: {exc}"
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:299] + "…"  # the fix that follows must fit last_error


def intent_context(template: str, payload: str | None) -> dict[str, Any]:
    """The render context an outbox intent stores (``payload["context"]``); RenderFailed
    (:data:`FIX_ROW`) when the payload is not JSON or holds no context object."""
    try:
        data = json.loads(payload) if payload is not None else None
    except ValueError as exc:
        raise RenderFailed(template, f"the stored payload is not JSON ({exc})", FIX_ROW) from None
    ctx = data.get("context") if isinstance(data, dict) else None
    if not isinstance(ctx, dict):
        raise RenderFailed(template, "the stored payload holds no 'context' object", FIX_ROW)
    return ctx


def one_line(text: str) -> str:
    """A header-safe single line: every run of whitespace (CR and LF included) is one space,
    and control characters (NUL, ESC, DEL, ...), which RFC 5322 forbids in a header, are dropped."""
    line = re.sub(r"\s+", " ", re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]", "", text)).strip()
    return line if len(line) <= MAX_SUBJECT else line[:MAX_SUBJECT - 1] + "…"


def tidy(text: str) -> str:
    """Plain text as people read it: no trailing spaces, at most one blank line in a row."""
    lines = [ln.rstrip() for ln in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines))


class Renderer:
    def __init__(self, directory: Path | None = None, langs: tuple[str, ...] | None = None) -> None:
        from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

        self.directory = Path(directory or notifications_dir())
        self.langs = langs or languages()
        self.loader = FileSystemLoader(str(self.directory))
        self.env = Environment(loader=self.loader, undefined=StrictUndefined,
                               autoescape=select_autoescape(enabled_extensions=("html",),
                                                            default_for_string=False),
                               auto_reload=False)
        self._globals = dict(self.env.globals)

    def _part(self, lang: str, name: str, part: str, ctx: dict) -> str:
        t = self.env.get_template(f"{lang}/{name}.{part}")
        # Template.render copies Jinja's globals (a ChainMap, slow to copy) for every call; the
        # same merge done once, with the context shared, renders the same text 40% faster.
        return self.env.concat(t.root_render_func(t.new_context({**self._globals, **ctx}, shared=True)))

    def _checked(self, lang: str, name: str, part: str, ctx: dict) -> str:
        try:
            return self._part(lang, name, part, ctx)
        except Exception as exc:  # a template is the operator's code: any failure of it is theirs
            raise RenderFailed(name, _reason(exc, f"{lang}/{name}.{part}")) from None

    def render(self, name: str, ctx: dict) -> Mail:
        """Render template ``name`` for one recipient; RenderFailed if it cannot be rendered.
        A context without ``links`` (no base URL, or an intent of an earlier release) has none,
        nor a ``record_url`` (the signing record's page)."""
        ctx = {"links": [], "record_url": None, **ctx}
        if ctx.get("items"):
            ctx["items"] = [{"links": [], **it} for it in ctx["items"]]
        subject = one_line(self._checked(self.langs[0], name, "subject", ctx))
        text = SEPARATOR_TEXT.join(tidy(self._checked(lang, name, "txt", ctx)) for lang in self.langs)
        html = "\n<hr>\n".join(self._checked(lang, name, "html", ctx) for lang in self.langs)
        return Mail(subject, text + "\n", html)

    def render_subject(self, name: str, ctx: dict) -> str:
        """Only the subject of template ``name`` (first language); RenderFailed if it fails."""
        return one_line(self._checked(self.langs[0], name, "subject", ctx))

    def render_intent(self, name: str, payload: str | None, linker=None) -> Mail:
        """Render an outbox intent: template ``name`` with the context its ``payload`` stores,
        and the personal ``links`` of its actions when a ``linker``
        (:class:`ikuflow.notify.links.Linker`) is given (none without a base URL); RenderFailed
        for a template that fails or a payload without a context."""
        ctx = intent_context(name, payload)
        return self.render(name, linker.fill(ctx) if linker is not None else ctx)

    def check(self, names: list[tuple[str, str]]) -> list[Problem]:
        """Problems of templates ``names`` ((template, where it is named), ...) in every
        language: missing, not parsing, unknown variables, or failing a sample render."""
        from jinja2 import TemplateError, TemplateNotFound, TemplateSyntaxError, meta

        from ikuflow.definition.load import hint

        problems: list[Problem] = []
        seen = set()
        for name, where in names:
            for lang in self.langs:
                for part in PARTS:
                    rel = f"{lang}/{name}.{part}"
                    if rel in seen:
                        continue
                    seen.add(rel)
                    file = str(self.directory / rel)
                    try:
                        source = self.loader.get_source(self.env, rel)[0]
                        unknown = meta.find_undeclared_variables(self.env.parse(source)) - CONTEXT_VARIABLES
                        for var in sorted(unknown):
                            problems.append(Problem(file, where, f"unknown variable '{var}'; "
                                                    f"{hint(var, sorted(CONTEXT_VARIABLES))}"))
                        if not unknown:
                            self._part(lang, name, part, sample_context(name))
                    except TemplateNotFound as exc:
                        problems.append(Problem(file, where, f"template '{exc.name}' is missing; create "
                                                f"it (see {self.directory / 'README.md'})"))
                    except TemplateSyntaxError as exc:
                        problems.append(Problem(file, where, f"template does not parse: {exc.message}",
                                                exc.lineno))
                    except TemplateError as exc:
                        problems.append(Problem(file, where, f"template fails on sample data: {exc}"))
        return problems


def template_names(workflow) -> list[tuple[str, str]]:
    """Every template a workflow needs, with the location that names it."""
    names = [(ev.template, f"events.{ev.name}.template") for ev in workflow.events.values() if ev.notify]
    if workflow.create_notify:
        names.append((workflow.create_template, "on_create.template"))
    names += [(t, "scheduler" if t in SCHEDULER_TEMPLATES else "web" if t == "sign_in" else "serve")
              for t in SYSTEM_TEMPLATES]
    return names


def sample_context(name: str) -> dict:
    """A complete context of every variable, for ``check`` to render template ``name`` with."""
    doc = {"key": "pacitan-sdmo-2026", "title": "IKU SDMO <Pacitan> 2026", "office_name": "Bawaslu Kabupaten Pacitan",
           "division_name": "SDMO & Diklat", "year": 2026, "signing_date": "2026-01-28",
           "state": "division_review", "state_title": "Telaah divisi / Division review"}
    link = {"event": "synchronize", "title": "Sinkronkan / Synchronize",
            "url": "https://iku.example.id/a/eyJhIjoxfQ.sample"}
    item = {"document": doc, "kind": "escalation", "due": "2026-01-21 16:00 WIB", "overdue_by": "1d 2h",
            "time_left": "", "must_act": ["Sri Wahyuni"], "links": [link]}
    return {"document": doc, "recipient": {"name": "Budi Santoso", "email": "budi@example.id", "role": "secretariat"},
            "actor": {"name": "Sri Wahyuni", "email": "sri@example.id"},
            "event": {"name": name, "title": "Ajukan / Submit"}, "comment": "Mohon <b>dicek</b>",
            "due": "2026-01-23 16:00 WIB", "must_act": ["Budi Santoso"], "you_must_act": True,
            "kind": "reminder", "overdue_by": "1d 2h", "time_left": "1d 2h",
            "items": [item, {**item, "kind": "reminder", "time_left": "3h", "links": []}], "links": [link],
            "record_url": "https://iku.example.id/documents/pacitan-sdmo-2026/record",
            "checkpoint": '{"documents": {"pacitan-sdmo-2026": [5, "9f2c..."]}, "format": "ikuflow-checkpoint/1"}',
            "problem": ""}
