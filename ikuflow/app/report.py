"""``ikuflow report``: progress across the office hierarchy.

One grouped query counts documents per office, division and state (and how many are overdue);
the counts are rolled up from regency to province to national in Python. The same data is shown
as a terminal matrix, JSON, or a self-contained HTML page (Jinja2, no external assets) with a
timeline of each office's steps toward the signing date.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from ikuflow.calendar import fmt_local, now_utc, to_local
from ikuflow.errors import NotFound
from ikuflow.store import documents
from ikuflow.store.db import fmt_ts

STATE_SHORT = {"draft": "D", "division_review": "R", "synchronized": "S", "chair_approved": "A",
               "signed": "✓"}
#: the mark of a document whose current step acted on no content
NO_CONTENT = "∅"


@dataclass
class Cell:
    """Documents of one office (and everything below it) in one division."""

    states: dict = field(default_factory=dict)  # state -> count
    overdue: int = 0
    bare: int = 0  # documents whose current step acted on no content (none was ever attached)

    @property
    def total(self) -> int:
        """How many documents the cell holds."""
        return sum(self.states.values())

    def add(self, other: "Cell") -> None:
        """Add another cell's counts to this one."""
        for s, n in other.states.items():
            self.states[s] = self.states.get(s, 0) + n
        self.overdue += other.overdue
        self.bare += other.bare


def build(svc, office: str | None = None, year: int | None = None, workflow: str = "iku",
          at: datetime | None = None) -> dict:
    """The report's data: offices in tree order with their own and rolled-up cells."""
    now = at or now_utc()
    d = svc.directory(fresh=True)
    if office is not None and office not in d.offices:
        raise NotFound("office", office, "see 'ikuflow office list'")
    version = svc.latest_version(workflow)
    wf = svc.engine(workflow, version).workflow
    states = list(wf.states)
    final = [s for s in states if s in wf.final]
    own: dict = {}
    signing_dates = set()
    for off, div, state, n, late, signing, bare in documents.counts(svc.con, workflow, year, now):
        cell = own.setdefault(off, {}).setdefault(div, Cell())
        cell.states[state] = cell.states.get(state, 0) + n
        cell.overdue += late
        cell.bare += bare
        signing_dates.add(signing)
    children: dict = {}
    for code, (_, parent, _, _) in d.offices.items():
        children.setdefault(parent, []).append(code)
    for kids in children.values():
        kids.sort(key=lambda c: (d.offices[c][3] != "province", d.offices[c][2]))
    divisions = sorted(d.divisions)

    rows: list[dict | None] = []

    def walk(code: str, depth: int) -> dict:
        total = {dv: Cell() for dv in divisions}
        for dv, cell in own.get(code, {}).items():
            total.setdefault(dv, Cell()).add(cell)
        idx = len(rows)
        rows.append(None)  # keep tree order: the parent before its children
        for kid in children.get(code, []):
            for dv, cell in walk(kid, depth + 1).items():
                total.setdefault(dv, Cell()).add(cell)
        tz, _, name, level = d.offices[code]
        all_ = Cell()
        for cell in total.values():
            all_.add(cell)
        signed = sum(all_.states.get(s, 0) for s in final)
        rows[idx] = {"code": code, "name": name, "level": level, "tz": tz, "depth": depth,
                     "leaf": not children.get(code), "cells": total, "total": all_,
                     "signed": signed, "overdue": all_.overdue, "no_content": all_.bare,
                     "signed_pct": round(100.0 * signed / all_.total, 1) if all_.total else None}
        return total

    roots = [office] if office else sorted(children.get(None, []))
    for root in roots:
        walk(root, 0)
    shown = [r for r in rows if r is not None and r["total"].total]  # offices with documents (or below them)
    return {"workflow": f"{workflow} v{version}", "states": states, "final": final,
            "divisions": divisions, "division_names": d.divisions, "rows": shown, "now": now,
            "year": year, "signing_dates": sorted(x for x in signing_dates if x),
            "steps": [(s, wf.states[s].title or s, wf.states[s].due) for s in states if wf.states[s].due],
            "engine": svc.engine(workflow, version)}


def as_json(data: dict) -> dict:
    """The report's data as ``report --json`` prints it (and the API answers): all the
    terminal matrix needs, so the CLI prints it from this form, local or remote."""
    return {"workflow": data["workflow"], "year": data["year"], "states": data["states"],
            "final": data["final"], "divisions": data["divisions"], "at": fmt_ts(data["now"]),
            "offices": [{"code": r["code"], "name": r["name"], "level": r["level"], "depth": r["depth"],
                         "leaf": r["leaf"],
                         "documents": r["total"].total, "signed": r["signed"], "overdue": r["overdue"],
                         "no_content": r["no_content"], "signed_pct": r["signed_pct"],
                         "states": dict(r["total"].states),
                         "divisions": {dv: {"states": dict(c.states), "overdue": c.overdue, "no_content": c.bare}
                                       for dv, c in r["cells"].items() if c.total}}
                        for r in data["rows"]]}


def cell_text(cell: Cell, leaf: bool, final: list) -> str:
    """A leaf office's cell is its document's state (``!`` when overdue, ``∅`` when its current
    step acted on no content); above, signed/total, then how many are overdue and content-less."""
    if not cell.total:
        return ""
    if leaf and cell.total == 1:
        state = next(iter(cell.states))
        return STATE_SHORT.get(state, state[:3]) + ("!" if cell.overdue else "") + (NO_CONTENT if cell.bare else "")
    signed = sum(cell.states.get(s, 0) for s in final)
    return (f"{signed}/{cell.total}" + (f" {cell.overdue}!" if cell.overdue else "")
            + (f" {cell.bare}{NO_CONTENT}" if cell.bare else ""))


def timeline(data: dict, max_offices: int = 40) -> dict:
    """Each office's step due times (local) toward the signing date, for the HTML timeline."""
    if not data["signing_dates"]:
        return {"offices": [], "start": None, "end": None, "now": None}
    signing = date.fromisoformat(data["signing_dates"][-1])
    eng = data["engine"]
    offices = []
    for r in data["rows"][:max_offices]:
        steps = [{"state": s, "title": title, "due": eng.due_for(s, signing, r["tz"]),
                  "count": r["total"].states.get(s, 0)} for s, title, _ in data["steps"]]
        offices.append({"code": r["code"], "name": r["name"], "depth": r["depth"], "steps": steps,
                        "overdue": r["overdue"], "signed": r["signed"], "total": r["total"].total})
    dues = [st["due"] for o in offices for st in o["steps"] if st["due"]]
    start, end = min(dues + [data["now"]]), max(dues + [data["now"]])
    return {"offices": offices, "start": start, "end": end, "now": data["now"], "signing": signing}


def render_html(data: dict) -> str:
    """The report as one self-contained HTML page (no external assets)."""
    from pathlib import Path

    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(loader=FileSystemLoader(str(Path(__file__).parent.parent / "templates")),
                      undefined=StrictUndefined, autoescape=select_autoescape(["html"]))
    tl = timeline(data)
    span = ((tl["end"] - tl["start"]).total_seconds() or 1.0) if tl["start"] else 1.0

    def x(dt) -> float:  # position on the timeline, 0..100
        return round(100.0 * (dt - tl["start"]).total_seconds() / span, 2)

    def local(dt, tz) -> str:
        return fmt_local(dt, tz)

    return env.get_template("report.html").render(
        data=data, tl=tl, x=x, local=local, cell_text=cell_text, short=STATE_SHORT,
        generated=to_local(data["now"], "Asia/Jakarta").strftime("%Y-%m-%d %H:%M WIB"))
