"""``mlfabric token create|list|revoke``."""

from __future__ import annotations

import typer

from mlfabric.cli.backend import remote, tokens
from mlfabric.config import SERVER_ENV
from mlfabric.console import OPTIONS, emit_json, listing, say, when
from mlfabric.errors import InvalidInput, MlfabricError

app = typer.Typer(no_args_is_help=True)  # its help: mlfabric.cli.main.NOUNS


@app.command("create")
def create(user: str | None = typer.Option(None, "--user", help="Who the token is for "
                                           "(with --admin: admin unless given)."),
           project: list[str] | None = typer.Option(None, "--project", "-p",
                                                    help="Project a member acts on "
                                                    "(repeatable)."),
           role: str | None = typer.Option(None, "--role", help="member|admin (default: "
                                           "member)"),
           admin: bool = typer.Option(False, "--admin", help="An admin token, made on the "
                                      "home directly: how to recover admin access (not "
                                      "through a server)."),
           ttl: str | None = typer.Option(None, "--ttl", help="Expire after this long "
                                          "(30d, 12h); never without.")) -> None:
    """Issue a token; its secret is printed once and stored only hashed."""
    if admin:
        # Recovery must not need the access it recovers: it writes the catalog the server
        # reads, so it runs where the home is, never through a server.
        if remote():
            raise MlfabricError(f"token create --admin works on the home directly: run it on "
                                f"the server's machine with {SERVER_ENV} unset")
        if role not in (None, "admin"):
            raise InvalidInput(f"--admin makes an admin token, not a {role} one", field="role")
        role, user = "admin", user or "admin"
    if user is None:
        raise InvalidInput("token create needs --user (or --admin)", field="user")
    t = tokens.create(user=user, role=role or "member", projects=project or [], ttl=ttl,
                      home=OPTIONS.home)
    if OPTIONS.json:
        emit_json(t)
    else:
        say(f"created token {t.id} for {t.user} ({t.role}"
            + (f" of {', '.join(t.projects)}" if t.projects else "") + ")"
            + (f", expires {when(t.expires_at)}" if t.expires_at is not None else "")
            + "; its secret, shown once:")
        print(t.secret)


@app.command("list")
def list_(all_tokens: bool = typer.Option(False, "--all", help="Include revoked and "
                                          "expired tokens.")) -> None:
    """List tokens (prefixes only, never secrets)."""
    ts = tokens.list(include_revoked=all_tokens, home=OPTIONS.home)
    listing(ts, ["ID", "USER", "ROLE", "PROJECTS", "PREFIX", "CREATED", "EXPIRES", "LAST USED",
                 "REVOKED"],
            [[t.id, t.user, t.role, ",".join(t.projects) or None, t.prefix + "…",
              when(t.created_at), when(t.expires_at), when(t.last_used_at),
              when(t.revoked_at)] for t in ts], [str(t.id) for t in ts])


@app.command("revoke")
def revoke(token_id: int = typer.Argument(..., help="Token id (see token list).")) -> None:
    """Revoke a token: requests with it get 401 from then on."""
    t = tokens.revoke(token_id, home=OPTIONS.home)
    if OPTIONS.json:
        emit_json(t)
    else:
        say(f"revoked token {t.id} of {t.user}")
