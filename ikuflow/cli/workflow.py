"""``ikuflow workflow check|show|graph|migrate|export``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from ikuflow.cli.common import INT_MAX, JSON_OPT, emit_json, say, table

app = typer.Typer(help="Validate, show, draw, migrate and export workflow definitions.",
                  no_args_is_help=True,
                  rich_markup_mode=None)


@app.command()
def check(files: Optional[List[Path]] = typer.Argument(
        None, help="Workflow files; default: every *.yaml in the workflows folder."),
        as_json: bool = JSON_OPT) -> None:
    """Validate workflow files and the e-mail templates they name; report every problem with
    file, line, location and a fix.

    Exits 0 when all are valid, 1 when any problem was found.
    """
    from ikuflow.admin import check_workflows, workflow_files

    paths = list(files) if files else workflow_files()
    if not paths:
        say("no workflow files found; pass FILE or set IKUFLOW_WORKFLOWS")
        raise typer.Exit(1)
    problems = check_workflows(paths)
    if as_json:
        emit_json({"files": [str(p) for p in paths], "ok": not problems,
                   "problems": [{"file": p.file, "line": p.line, "location": p.location,
                                 "message": p.message} for p in problems]})
    else:
        for p in problems:
            sys.stderr.write(f"{p}\n")
        n = len(problems)
        summary = (f"{len(paths)} file(s) checked: " +
                   ("all valid" if not n else f"{n} problem{'s' if n != 1 else ''}"))
        (sys.stderr if n else sys.stdout).write(summary + "\n")
    if problems:
        raise typer.Exit(1)


def _workflow(name_or_file: str | None, version: int | None):
    """A workflow by stored name (the database's latest or --version), or a file path."""
    from ikuflow.admin import workflow_files
    from ikuflow.definition import load_file
    from ikuflow.errors import NotFound

    target = name_or_file or "iku"
    if Path(target).suffix in (".yaml", ".yml") and Path(target).exists():
        return load_file(target)
    from ikuflow.errors import IkuflowError

    try:
        from ikuflow.app.service import Service

        svc = Service()
    except IkuflowError:  # no database yet: fall back to the workflow files
        svc = None
    if svc is not None:
        try:
            v = version or svc.latest_version(target)
            return svc.engine(target, v).workflow
        except NotFound:
            if version:
                raise
        finally:
            svc.close()
    for f in workflow_files():
        wf = load_file(f)
        if wf.name == target:
            return wf
    raise NotFound("workflow", target, "give a stored workflow name or a .yaml file")


def _fmt_delta(td) -> str:
    if td is None:
        return ""
    s = int(td.total_seconds())
    if s % 86400 == 0:
        return f"{s // 86400}d"
    if s % 3600 == 0:
        return f"{s // 3600}h"
    return f"{s // 60}m"


@app.command()
def show(name: str = typer.Argument(None, help="Workflow name (default iku) or a .yaml file."),
         version: int = typer.Option(None, "--version", min=1, max=INT_MAX,
                                     help="A stored version (default latest)."),
         as_json: bool = JSON_OPT) -> None:
    """Show a workflow's states, events, roles, guards and deadlines."""
    wf = _workflow(name, version)
    states = []
    for s in wf.states.values():
        esc = s.escalation
        states.append({
            "name": s.name, "title": s.title, "final": s.name in wf.final,
            "initial": s.name == wf.initial, "must_act": list(s.must_act),
            "due": None if s.due is None else {"days_before": s.due.days_before, "unit": s.due.unit,
                                               "at": s.due.at.strftime("%H:%M")},
            "reminders_before": [_fmt_delta(r) for r in s.reminders],
            "escalation": None if esc is None else {
                "every": _fmt_delta(esc.every), "copy": list(esc.copy),
                "chair_after": _fmt_delta(esc.chair_after), "parent_after": _fmt_delta(esc.parent_after)},
        })
    events = [{"name": e.name, "title": e.title, "from": list(e.sources), "to": e.dest,
               "roles": sorted(e.roles), "guards": list(e.guards), "notify": list(e.notify),
               "template": e.template} for e in wf.events.values()]
    if as_json:
        emit_json({"name": wf.name, "title": wf.title, "initial": wf.initial,
                   "final": sorted(wf.final), "states": states, "events": events})
        return
    table(f"workflow {wf.name}: {wf.title}", ["state", "title", "who acts", "due", "reminders", "escalation"],
          [(s["name"] + (" (initial)" if s["initial"] else "") + (" (final)" if s["final"] else ""),
            s["title"], ", ".join(s["must_act"]),
            "" if not s["due"] else f"{s['due']['days_before']} {s['due']['unit'].replace('_', ' ')} "
                                    f"before signing, {s['due']['at']}",
            ", ".join(s["reminders_before"]) + (" before" if s["reminders_before"] else ""),
            "" if not s["escalation"] else
            f"every {s['escalation']['every']}, copy {', '.join(s['escalation']['copy']) or '-'}"
            + (f", chair after {s['escalation']['chair_after']}" if s['escalation']['chair_after'] else "")
            + (f", parent office after {s['escalation']['parent_after']}" if s['escalation']['parent_after'] else ""))
           for s in states])
    table(None, ["event", "from", "to", "who may fire", "guards", "notifies"],
          [(e["name"], ", ".join(e["from"]), e["to"], ", ".join(e["roles"]), ", ".join(e["guards"]),
            ", ".join(e["notify"])) for e in events])


@app.command()
def graph(name: str = typer.Argument(None, help="Workflow name (default iku) or a .yaml file."),
          fmt: str = typer.Option("mermaid", "--format", help="mermaid or dot."),
          version: int = typer.Option(None, "--version", min=1, max=INT_MAX,
                                      help="A stored version (default latest).")) -> None:
    """Print the workflow as a Mermaid or Graphviz (dot) diagram."""
    from ikuflow.errors import UsageError

    if fmt not in ("mermaid", "dot"):
        raise UsageError(f"unknown format '{fmt}'; use mermaid or dot")
    wf = _workflow(name, version)
    edges = [(src, e.dest, e.name + (" [" + ", ".join(e.guards) + "]" if e.guards else ""))
             for e in wf.events.values() for src in e.sources]
    if fmt == "mermaid":
        lines = ["stateDiagram-v2", f"    [*] --> {wf.initial}"]
        lines += [f"    {a} --> {b}: {label}" for a, b, label in edges]
        lines += [f"    {f} --> [*]" for f in sorted(wf.final)]
    else:
        lines = [f'digraph "{wf.name}" {{', "    rankdir=LR;", '    node [shape=box, style=rounded];']
        lines += [f'    "{f}" [peripheries=2];' for f in sorted(wf.final)]
        lines += [f'    "{a}" -> "{b}" [label="{label}"];' for a, b, label in edges]
        lines.append("}")
    say("\n".join(lines))


@app.command()
def migrate(name: str = typer.Argument(..., help="Workflow name, e.g. iku."),
            dry_run: bool = typer.Option(False, "--dry-run", help="Only list what would happen."),
            at: str = typer.Option(None, "--at", metavar="ISO-DATETIME", help="The clock (default now)."),
            as_json: bool = JSON_OPT) -> None:
    """Move live documents to the workflow's newest version (load it first with 'ikuflow init').

    Documents whose state still exists move, with their due time recomputed, recorded in
    history. Documents whose state no longer exists are listed and left alone.
    """
    from ikuflow.calendar import parse_at
    from ikuflow.app.service import Service

    svc = Service()
    res = svc.migrate(name, dry_run, at=parse_at(at))
    svc.close()
    if as_json:
        emit_json(res)
        return
    moved = res["would_move" if dry_run else "moved"]
    say(f"{name} v{res['to_version']}: {len(moved)} document(s) {'would move' if dry_run else 'moved'}, "
        f"{len(res['not_moved'])} cannot move")
    if moved:
        table(None, ["key", "state", "from", "due"], [(m["key"], m["state"], f"v{m['from_version']}",
                                                      m["due_at"] or "") for m in moved[:100]])
    if res["not_moved"]:
        table("not moved", ["key", "state", "from", "why"],
              [(m["key"], m["state"], f"v{m['from_version']}", m["reason"]) for m in res["not_moved"]])


EXPORT_EXAMPLE = ("Example: ikuflow workflow export bawaslu-jatim, then edit bawaslu-jatim/workflows/iku.yaml "
                  "and run ikuflow from bawaslu-jatim (or set IKUFLOW_WORKFLOWS and "
                  "IKUFLOW_NOTIFICATIONS to its two folders).")


@app.command(epilog=EXPORT_EXAMPLE)
def export(directory: Path = typer.Argument(..., metavar="DIR",
                                            help="Folder to write into (created if missing)."),
           force: bool = typer.Option(False, "--force", help="Overwrite files that already exist."),
           as_json: bool = JSON_OPT) -> None:
    """Write the workflow files, calendar file and e-mail templates shipped with ikuflow to
    DIR/workflows and DIR/notifications, as a starting point for an office's own.

    Files already there are left alone and nothing is written (exit 1) unless --force.
    """
    from ikuflow.paths import FOLDERS, export_defaults

    res = export_defaults(directory, force=force)
    if as_json:
        emit_json({"directory": str(res.directory), "written": [str(p) for p in res.written],
                   "overwritten": [str(p) for p in res.overwritten]})
        return
    say(f"exported the defaults shipped with ikuflow to {directory}:")
    for name in FOLDERS:
        folder = directory / name
        files = [p.relative_to(folder) for p in res.written if folder in p.parents]
        groups: dict[str, int] = {}
        for f in files:
            key = f.parts[0] + "/" if len(f.parts) > 1 else f.name
            groups[key] = groups.get(key, 0) + 1
        parts = ", ".join(k if n == 1 and not k.endswith("/") else f"{k} ({n})" for k, n in groups.items())
        say(f"  {folder}: {len(files)} file(s): {parts}")
    if res.overwritten:
        say(f"  {len(res.overwritten)} existing file(s) overwritten")
    say(f"Edit them, then run ikuflow in {directory} (./workflows and ./notifications override the "
        f"shipped ones) or set IKUFLOW_WORKFLOWS={directory / 'workflows'} and "
        f"IKUFLOW_NOTIFICATIONS={directory / 'notifications'}; 'ikuflow workflow check' validates "
        "them and 'ikuflow init' loads them.")
