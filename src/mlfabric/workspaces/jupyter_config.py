"""A workspace's private JupyterLab files, and the command that starts JupyterLab.

Per workspace, ``$MLFABRIC_HOME/workspaces/<name>/`` (mode 0700) holds
``config/jupyter_server_config.json`` (mode 0600: the argon2 hash of the password, the
address, and the options that keep JupyterLab off the network) and ``runtime/`` (kernel
connection files, the cookie secret). JupyterLab finds the config through
``JUPYTER_CONFIG_DIR``, so no secret is ever on a command line or in an environment.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import sys
from pathlib import Path
from typing import Any

from mlfabric.config import load_config
from mlfabric.durable import atomic_write
from mlfabric.errors import InvalidInput, MlfabricError
from mlfabric.scheduler import mount_env_var as env_var
from mlfabric.workspaces.spec import DATASETS_DIR

CONFIG_FILE = "jupyter_server_config.json"
PROCESSES_FILE = "processes.json"  # what the launcher started: (pid, kernel start time)
LAUNCH = "mlfabric.workspaces.launch"


def workspace_dir(name: str, home: str | None = None) -> Path:
    """``$MLFABRIC_HOME/workspaces/<name>``: the workspace's private JupyterLab files."""
    return load_config(home).home / "workspaces" / name


def hash_password(password: str) -> str:
    """The password hashed as JupyterLab checks it (argon2, via jupyter_server)."""
    try:
        from jupyter_server.auth import passwd
    except ImportError as exc:
        raise MlfabricError("workspaces need JupyterLab: pip install 'mlfabric[workspaces]' "
                            f"({exc.name} is missing)") from exc
    return str(passwd(password))


def settings(host: str, port: int, password_hash: str) -> dict[str, Any]:
    """JupyterLab's configuration: password only, one fixed address, no calls out."""
    return {
        "ServerApp": {"ip": host, "port": port, "port_retries": 0, "open_browser": False},
        "IdentityProvider": {"token": ""},
        "PasswordIdentityProvider": {"hashed_password": password_hash,
                                     "password_required": True},
        "LabApp": {"news_url": None, "extension_manager": "readonly",
                   "check_for_updates_class":
                       "jupyterlab.handlers.announcements.NeverCheckForUpdate"},
    }


def write_config(name: str, *, host: str, port: int, password_hash: str,
                 home: str | None = None) -> Path:
    """Write the workspace's JupyterLab config (0600, temp + rename); its folder."""
    root = workspace_dir(name, home)
    config = root / "config"
    for d in (root, config, root / "runtime"):
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(d, 0o700)
    atomic_write(config / CONFIG_FILE,
                 json.dumps(settings(host, port, password_hash), indent=1), mode=0o600)
    return root


def remove_files(name: str, home: str | None = None) -> None:
    """Drop the workspace's private folder (after its processes are gone)."""
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(workspace_dir(name, home))


def jupyter_env(ws_dir: Path) -> dict[str, str]:
    """Variables that point JupyterLab at the workspace's own config and runtime folders."""
    return {"JUPYTER_CONFIG_DIR": str(ws_dir / "config"),
            "JUPYTER_RUNTIME_DIR": str(ws_dir / "runtime")}


def launch_command(name: str, *, volume: str, volumes: list[str], datasets: list[str],
                   home: str | None = None) -> list[str]:
    """The job's command: the launcher, told where the root and each mount come from."""
    cmd = [sys.executable, "-m", LAUNCH, "--dir", str(workspace_dir(name, home)),
           "--root-var", env_var("VOLUME", volume)]
    for item in volumes:
        vol, _, path = item.partition(":")
        cmd += ["--link", f"{path}={env_var('VOLUME', vol)}"]
    for item in datasets:
        dataset = item.partition(":")[0]
        cmd += ["--link", f"{DATASETS_DIR}/{dataset}={env_var('DATASET', dataset)}"]
    return cmd


def url(host: str, port: int, node_address: str | None = None) -> str:
    """Where users open the workspace: at ``host``, or for a wildcard address at the
    address of the node it runs on (``node_address``; default this machine's name)."""
    shown = (node_address or socket.gethostname()) if host in ("0.0.0.0", "::") else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/lab"


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def port_is_free(host: str, port: int) -> bool:
    """Whether JupyterLab could listen on ``host:port`` now."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as s:
        # as tornado binds: a port whose old connections linger in TIME_WAIT is free
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str) -> int:
    """A port free on ``host`` now; ``InvalidInput`` when ``host`` is not this machine's."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as s:
        try:
            s.bind((host, 0))
        except OSError as exc:
            raise InvalidInput(f"cannot listen on host '{host}': {exc.strerror or exc}",
                               field="host", value=host) from exc
        return int(s.getsockname()[1])
