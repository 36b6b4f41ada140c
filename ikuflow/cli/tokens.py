"""``ikuflow token create|list|revoke``: personal API tokens for the JSON API
(``Authorization: Bearer TOKEN``). Each command calls one use case of :mod:`ikuflow.app.tokens`."""

from __future__ import annotations

import typer

from ikuflow.cli.common import INT_MAX, JSON_OPT, emit_json, say, table

app = typer.Typer(help="Personal API tokens: create (shown once), list and revoke.", no_args_is_help=True,
                  rich_markup_mode=None)


@app.command("create", epilog="Example: ikuflow token create sri@pacitan.example.id --note 'laptop'")
def create(email: str = typer.Argument(..., metavar="EMAIL", help="Whose token (a person of the directory)."),
           note: str = typer.Option(None, "--note", metavar="TEXT", help="What the token is for."),
           as_json: bool = JSON_OPT) -> None:
    """Create an API token for a person and print it: this is the only time it is shown (only
    its digest is stored). Whoever holds it acts as that person through the API."""
    from ikuflow.app.tokens import create as do_create

    res = do_create(email, note)
    if as_json:
        emit_json(res)
        return
    say(f"token {res['id']} for {res['person']} (shown once; store it now):")
    say(res["token"])


@app.command("list", epilog="Example: ikuflow token list --person sri@pacitan.example.id")
def list_(person: str = typer.Option(None, "--person", metavar="EMAIL", help="Only this person's tokens."),
          as_json: bool = JSON_OPT) -> None:
    """List API tokens: id, person, note, created, last used, revoked (never the tokens)."""
    from ikuflow.app.tokens import list_tokens

    rows = list_tokens(person)
    if as_json:
        emit_json(rows)
        return
    table(f"{len(rows)} token(s)", ["id", "person", "note", "created (UTC)", "last used (UTC)", "revoked (UTC)"],
          [(r["id"], r["person"], r["note"] or "", (r["created_at"] or "")[:16], (r["last_used_at"] or "")[:16],
            (r["revoked_at"] or "")[:16]) for r in rows])


@app.command("revoke", epilog="Example: ikuflow token revoke 3")
def revoke(token_id: int = typer.Argument(..., metavar="ID", min=1, max=INT_MAX,
                                          help="The token's id (see 'ikuflow token list')."),
           as_json: bool = JSON_OPT) -> None:
    """Revoke an API token: the API refuses it from the next request on."""
    from ikuflow.app.tokens import revoke as do_revoke

    res = do_revoke(token_id)
    emit_json(res) if as_json else say(f"revoked token {res['id']} of {res['person']}")
