"""Evidence commands (PRODUCT.md section 9): ``attach``, ``download``, ``verify``, ``record`` and
``audit verify|checkpoint``. Each calls one use case of :mod:`ikuflow.app.evidence`.

With IKUFLOW_SERVER set, ``attach``, ``download``, ``verify`` (which sends only the file's
SHA-256) and ``record`` go through the JSON API as the token's person (:mod:`ikuflow.cli.remote`);
``audit`` works where the database and the secret key are, and says so otherwise.
"""

from __future__ import annotations

import os
import sys

import typer

from ikuflow.cli import remote
from ikuflow.cli.common import INT_MAX, JSON_OPT, actor_of, as_option, at_option, clock, emit_json, plain, say, table

EXAMPLES = {
    "attach": "Example: ikuflow attach pacitan-sdmo-2026 IKU-SDMO-2026.pdf --as sri@pacitan.example.id",
    "download": "Examples: ikuflow download pacitan-sdmo-2026; ikuflow download pacitan-sdmo-2026 --version 1 "
                "-o draf-awal.pdf",
    "verify": "Example: ikuflow verify IKU-SDMO-2026-signed.pdf (exit 0: it is known; exit 3: it is not)",
    "record": "Example: ikuflow record pacitan-sdmo-2026 --html lembar-pengesahan.html",
}

audit_app = typer.Typer(help="Check the history chain (audit verify), or write its heads to keep off the "
                             "server (audit checkpoint).", no_args_is_help=True, rich_markup_mode=None)


def register(app: typer.Typer) -> None:
    """Add the evidence commands to ``app``."""
    for fn in (attach, download, verify, record):
        app.command(fn.__name__, epilog=EXAMPLES.get(fn.__name__))(fn)
    app.add_typer(audit_app, name="audit")


def _service():
    from ikuflow.app.service import Service

    return Service()


def _local(command: str) -> None:
    """Refuse a command that works on the database when IKUFLOW_SERVER is set (exit 2)."""
    if os.environ.get("IKUFLOW_SERVER", "").strip():
        from ikuflow.errors import UsageError

        raise UsageError(f"'ikuflow {command}' works where the database is, not through IKUFLOW_SERVER; run it "
                         "there (unset IKUFLOW_SERVER), or use the document's web page")


def _check_bytes(data: bytes, sha: str) -> None:
    """The downloaded bytes are the ones the server named (IkuflowError otherwise)."""
    import hashlib

    if hashlib.sha256(data).hexdigest() != sha:
        from ikuflow.errors import IkuflowError

        raise IkuflowError("the downloaded bytes do not match the SHA-256 the server named; download again")


def _write(path: str, data: bytes | str, force: bool = False) -> None:
    """Write ``data`` to ``path``: never over an existing file unless ``force``."""
    from pathlib import Path

    from ikuflow.errors import IkuflowError, UsageError

    target = Path(path)
    if target.is_dir():
        raise UsageError(f"{path} is a folder; give a file name with -o")
    if target.exists() and not force:
        raise UsageError(f"{path} exists; give another name with -o, or --force to overwrite it")
    try:
        if isinstance(data, str):
            target.write_text(data, encoding="utf-8")
        else:
            target.write_bytes(data)
    except OSError as exc:
        raise IkuflowError(f"cannot write {path}: {exc.strerror or exc}; give a file in a folder you can "
                           "write to") from None


def _size(n: int) -> str:
    return f"{n:,} bytes" if n < 1024 * 1024 else f"{n / 1048576:,.1f} MB ({n:,} bytes)"


def steps_lines(steps: list[dict]) -> list[str]:
    """The steps that acted on some content, one aligned line each: when, what, who, how."""
    width = max(len(s["event"]) for s in steps)
    who = max(len(s["actor"]) for s in steps)
    return [f"  {s['at_local']}  {s['event']:<{width}}  {s['actor']:<{who}}  via {s['channel']}"
            + (f" (acting for {s['acting_for']})" if s["acting_for"] else "") for s in steps]


def attach(ctx: typer.Context, key: str = typer.Argument(..., help="Document key, e.g. pacitan-sdmo-2026."),
           file: str = typer.Argument(..., metavar="FILE", help="The document's file: PDF, DOCX, XLSX or ODT."),
           actor: str = as_option(), at: str = at_option(), as_json: bool = JSON_OPT) -> None:
    """Attach the document's file (its content), in draft only. The file is recognised by its
    bytes, kept by its SHA-256, and every later step records the content it acted on. Limit:
    IKUFLOW_MAX_CONTENT_MB (default 50). Exit 4 outside draft: send it back first."""
    from ikuflow.app.evidence import attach as do_attach, clean_name, read_file

    api = remote.for_command(ctx, at)
    if api and remote.typed(ctx, "actor"):
        remote.refuse("--as", "the server knows who you are: IKUFLOW_TOKEN names you; drop --as")
    data = read_file(file)
    if api is not None:
        res = api.put_bytes(remote.document_path(key, "content"), data, {"name": clean_name(file)}, expect=dict)
    else:
        res = do_attach(_service(), key, data, file, actor_of(actor), clock(at))
    if as_json:
        emit_json(res)
        return
    c = res["content"]
    say(f"attached {c['name']} to {key} as content version {c['version']} ({c['kind'].upper()}, "
        f"{_size(c['size'])}), sha256 {c['sha256']}")


def download(ctx: typer.Context, key: str = typer.Argument(..., help="Document key, e.g. pacitan-sdmo-2026."),
             version: int = typer.Option(None, "--version", min=1, max=INT_MAX,
                                         help="Content version (see 'ikuflow status'); default the newest."),
             output: str = typer.Option(None, "-o", "--output", metavar="FILE",
                                        help="Where to write it ('-' for stdout); default its name, here."),
             force: bool = typer.Option(False, "--force", help="Overwrite FILE if it exists.")) -> None:
    """Get a version of the document's file back, its bytes checked against their SHA-256."""
    from ikuflow.app.evidence import download as do_download, pick_version

    api = remote.for_command(ctx)
    if api is not None:
        versions = api.get(remote.document_path(key, "content"), expect=list)
        info = versions[pick_version(key, [v["version"] for v in versions], version)]
        data, _ = api.get_bytes(remote.document_path(key, "content", str(info["version"])))
        _check_bytes(data, info["sha256"])
    else:
        info, data = do_download(_service(), key, version)
    if output == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    target = output or info["name"]
    _write(target, data, force)
    say(f"wrote {target}: {key} content version {info['version']}, {_size(info['size'])}, "
        f"sha256 {info['sha256']}")


def verify(ctx: typer.Context, file: str = typer.Argument(..., metavar="FILE", help="A file to check, e.g. the signed PDF."),
           as_json: bool = JSON_OPT) -> None:
    """Which document and content version FILE's bytes are, and who submitted, synchronized,
    approved and signed exactly that content, when (office time) and as whom. Exit 0 when it
    is known, 3 when no document has these bytes (even one byte off)."""
    from ikuflow.app.evidence import sha256_file, verify_file

    api = remote.for_command(ctx)
    if api is not None:  # only the hash goes to the server
        sha, size = sha256_file(file)
        res = {**api.get(f"{remote.API}/content/{sha}", expect=dict), "size": size}
    else:
        res = verify_file(_service(), file)
    if as_json:
        emit_json(res)
        return
    say(f"{file}: sha256 {res['sha256']}, {_size(res['size'])}")
    for m in res["matches"]:
        c = m["content"]
        say(f"= {m['key']} ({m['title']}), content version {c['version']} '{c['name']}', attached by "
            f"{c['attached_by']} on {c['attached_local']}; "
            + ("the current content" if m["current"] else "replaced since by a newer version")
            + f"; the document is {m['state']}" + (" (final)" if m["final"] else ""))
        if m["steps"]:  # plain lines, not a Rich table: importing Rich is a tenth of this command
            say("\n".join(steps_lines(m["steps"])))
        else:
            say("  nobody has submitted, approved or signed this content yet")
        say("  history chain: " + ("intact" if m["chain_intact"] else f"BROKEN: {m['chain_problem']}"))


def record(ctx: typer.Context, key: str = typer.Argument(..., help="Document key, e.g. pacitan-sdmo-2026."),
           html: str = typer.Option(None, "--html", metavar="FILE",
                                    help="Write the printable page (no external assets) to FILE."),
           force: bool = typer.Option(False, "--force", help="Overwrite FILE if it exists."),
           as_json: bool = JSON_OPT) -> None:
    """The signing record (lembar pengesahan): the document, its content's hash, size and name,
    every step with actor, acting for, channel, local time and chain hash, and how to check it."""
    from ikuflow.app.evidence import record as do_record, render_record

    api = remote.for_command(ctx)
    res = api.get(remote.document_path(key, "record"), expect=dict) if api else do_record(_service(), key)
    if html:
        _write(html, render_record(res), force)
    if as_json:
        emit_json(res)
        return
    c = res["content"]
    table(None, ["", ""], [
        ("document", f"{res['key']}: {res['title']}"),
        ("office", f"{res['office_name']}, division {res['division_name']}"),
        ("state", f"{res['state']} ({res['state_title']})"),
        ("content", f"{c['name']}, {_size(c['size'])}, version {c['version']}" if c else "none attached"),
        ("sha256", c["sha256"] if c else "-"),
        ("chain", "intact" if res["chain_intact"] else f"BROKEN: {res['chain_problem']}"),
        ("check with", res["how_to_check"])])
    table("steps", ["#", "when", "step", "who", "acting for", "via", "chain"],
          [(s["version"], s["at_local"], s["event"], s["actor"], s["acting_for"] or "", s["channel"],
            (s["chain"] or "-")[:16]) for s in res["steps"]])
    if html:
        say(f"wrote {html}")


@audit_app.command("verify", epilog="Example: ikuflow audit verify --checkpoint checkpoint-2026-12-01.json")
def audit_verify(checkpoint: str = typer.Option(None, "--checkpoint", metavar="FILE",
                                                help="Also compare with a checkpoint written earlier: catches "
                                                     "rows cut from the end since."),
                 as_json: bool = JSON_OPT) -> None:
    """Recompute every document's history chain (HMAC-SHA256 under the secret key) and name the
    first row per document that was changed, removed, inserted or reordered: exit 1 then, 0 when
    every chain is intact. Rows cut from the end are caught only against a checkpoint."""
    _local("audit verify")
    from pathlib import Path

    from ikuflow.app.evidence import audit, read_checkpoint
    from ikuflow.errors import UsageError

    svc = _service()
    mark = None
    if checkpoint is not None:
        try:
            text = Path(checkpoint).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read the checkpoint {checkpoint}: {getattr(exc, 'strerror', None) or exc}") from None
        mark = read_checkpoint(svc, text, checkpoint)
    res = audit(svc, mark)
    if as_json:
        emit_json(res)
    elif res["ok"]:
        say(f"every history chain is intact: {res['documents']:,} document(s), {res['rows']:,} row(s)"
            + (f"; nothing cut since the checkpoint of {res['checkpoint']['created_at']}" if mark else
               " (rows cut from the end show only against a checkpoint: --checkpoint FILE)"))
    else:
        for b in res["broken"]:
            where = f"version {b['version']}" if b["version"] is not None else "the document"
            row = f" (history id {b['history_id']})" if b["history_id"] is not None else ""
            typer.echo(plain(f"{b['key']}: {where}{row}: {b['problem']}"), err=True)
        typer.echo(f"error: the history of {len(res['broken'])} document(s) was altered "
                   f"({res['documents']:,} document(s), {res['rows']:,} row(s) checked)", err=True)
    if not res["ok"]:
        raise typer.Exit(1)


@audit_app.command("checkpoint", epilog="Example: ikuflow audit checkpoint -o checkpoint-$(date +%F).json")
def audit_checkpoint(output: str = typer.Option(None, "-o", "--output", metavar="FILE",
                                                help="Write it to FILE (default: stdout)."),
                     force: bool = typer.Option(False, "--force", help="Overwrite FILE if it exists.")) -> None:
    """Write every document's chain head and row count, signed, to keep off the server (mail it to
    the parent office, print it). 'audit verify --checkpoint FILE' then also catches rows cut
    from the end since. Only an intact history is checkpointed (exit 6 otherwise)."""
    _local("audit checkpoint")
    import json

    from ikuflow.app.evidence import checkpoint

    res = checkpoint(_service())
    text = json.dumps(res, indent=1, sort_keys=True) + "\n"
    if output is None or output == "-":
        sys.stdout.write(text)
        return
    _write(output, text, force)
    say(f"wrote {output}: {len(res['documents']):,} document(s), {res['rows']:,} row(s)")
