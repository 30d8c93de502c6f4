"""``mlfabric token create|list|revoke``."""

from __future__ import annotations

import typer

from mlfabric.cli.backend import tokens
from mlfabric.console import OPTIONS, emit_json, say, table, when

app = typer.Typer(no_args_is_help=True)  # its help: mlfabric.cli.main.NOUNS


@app.command("create")
def create(user: str = typer.Option(..., "--user", help="Who the token is for."),
           project: list[str] | None = typer.Option(None, "--project", "-p",
                                                    help="Project a member acts on "
                                                    "(repeatable)."),
           role: str = typer.Option("member", "--role", help="member|admin")) -> None:
    """Issue a token; its secret is printed once and stored only hashed."""
    t = tokens.create(user=user, role=role, projects=project or [], home=OPTIONS.home)
    if OPTIONS.json:
        emit_json(t)
    else:
        say(f"created token {t.id} for {t.user} ({t.role}"
            + (f" of {', '.join(t.projects)}" if t.projects else "") + "); its secret, "
            "shown once:")
        print(t.secret)


@app.command("list")
def list_(all_tokens: bool = typer.Option(False, "--all", help="Include revoked tokens.")
          ) -> None:
    """List tokens (prefixes only, never secrets)."""
    ts = tokens.list(include_revoked=all_tokens, home=OPTIONS.home)
    if OPTIONS.json:
        emit_json(ts)
        return
    table(["ID", "USER", "ROLE", "PROJECTS", "PREFIX", "CREATED", "LAST USED", "REVOKED"],
          [[t.id, t.user, t.role, ",".join(t.projects) or None, t.prefix + "…",
            when(t.created_at), when(t.last_used_at), when(t.revoked_at)] for t in ts])


@app.command("revoke")
def revoke(token_id: int = typer.Argument(..., help="Token id (see token list).")) -> None:
    """Revoke a token: requests with it get 401 from then on."""
    t = tokens.revoke(token_id, home=OPTIONS.home)
    if OPTIONS.json:
        emit_json(t)
    else:
        say(f"revoked token {t.id} of {t.user}")
