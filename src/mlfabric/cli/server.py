"""``mlfabric server start``."""

from __future__ import annotations

import shlex
import signal
import socket
import sys

import typer

from mlfabric.console import OPTIONS

app = typer.Typer(no_args_is_help=True)  # its help: mlfabric.cli.main.NOUNS


@app.command("start")
def start(host: str = typer.Option("127.0.0.1", "--host", help="Address to bind."),
          port: int = typer.Option(8765, "--port", help="Port (0: any free one)."),
          demo: bool = typer.Option(False, "--demo", help="Seed a small demo cluster first "
                                    "(once per home)."),
          admin_token: bool = typer.Option(False, "--admin-token", help="Issue a fresh admin "
                                           "token, print it, and revoke the ones earlier starts "
                                           "issued (the first start always issues one)."),
          log_level: str = typer.Option("warning", "--log-level", help="uvicorn log level.")
          ) -> None:
    """Run the REST API, dashboard and scheduler loop until SIGTERM/Ctrl-C."""
    if not 0 <= port <= 65535:  # bind() would raise OverflowError, not OSError
        from mlfabric.errors import InvalidInput

        raise InvalidInput(f"--port {port}: a port is a number from 0 to 65535",
                           field="port", value=port)
    try:
        import uvicorn

        from mlfabric.api import create_app
    except ImportError as exc:
        from mlfabric.errors import MlfabricError

        raise MlfabricError(f"the server needs the 'server' extra: pip install "
                            f"'mlfabric[server]' ({exc.name} is missing)") from exc
    from mlfabric import tokens
    from mlfabric.api import seed_demo

    home = OPTIONS.home
    # Listen first: a start that cannot (port busy) changes nothing, so the first admin
    # token is issued by the start that serves it, and printed by it.
    sock = _bind(host, port)
    try:
        if demo:
            seed_demo(home=home)
        app = create_app(home)
        # Issued last, just before it is printed: nothing that can fail comes between.
        admin = (tokens.rotate_admin(home=home) if admin_token
                 else tokens.ensure_admin(home=home))
    except BaseException:
        sock.close()
        raise
    url = f"http://{_display(host)}:{sock.getsockname()[1]}"
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then re-raises the signal to the
    # handlers it found: make that a clean exit, as is a stop before it runs.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: sys.exit(0))
    if admin is not None:
        print(f"admin token (shown once): {admin.secret}")
        print(f"dashboard: {url}/#token={admin.secret}")
    else:
        again = "mlfabric " + (f"--home {shlex.quote(home)} " if home else "")
        print(f"admin token: issued before, not shown again (a new one: {again}token create "
              "--admin)")
        print(f"dashboard: {url}/")
    print(f"api: {url}/api/v1 (OpenAPI at /docs)", flush=True)
    # A streaming response (a followed job log) must not hold up a shutdown for long.
    config = uvicorn.Config(app, log_level=log_level, lifespan="on",
                            timeout_graceful_shutdown=5)
    uvicorn.Server(config).run(sockets=[sock])


def _bind(host: str, port: int) -> socket.socket:
    from mlfabric.errors import InvalidInput

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise InvalidInput(f"cannot listen on {host}:{port}: {exc.strerror}",
                           field="port") from exc
    sock.listen(128)
    return sock


def _display(host: str) -> str:
    if host in ("0.0.0.0", "::"):
        return socket.gethostname()
    return f"[{host}]" if ":" in host else host
