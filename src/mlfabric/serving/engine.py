"""The ``tritonserver`` process: the binary shipped in the ``nvidia-pytriton`` wheel,
launched directly (not through PyTriton's ``bind()``), in explicit model-control mode
on a staging repository.

The wheel carries only Triton's Python backend. Its stub is built per Python version
and is found by copying it next to the backend library; it links ``libpython`` and the
wheel's own libraries, so ``LD_LIBRARY_PATH`` holds the interpreter's ``LIBDIR`` (a
pyenv-built Python keeps ``libpython`` there, and a system one of the same version
would shadow it otherwise) and the wheel's ``nvidia_pytriton.libs``. The stub's
embedded interpreter finds its ``sys.prefix`` by looking up ``python3`` on ``PATH``, so
this environment's ``bin`` goes first: the stub then imports this environment's
packages (onnxruntime, torch, mlfabric).
"""

from __future__ import annotations

import contextlib
import errno
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

from mlfabric.errors import MlfabricError
from mlfabric.serving.staging import write_backends

SHM_DEFAULT_BYTES = 4 << 20
SHM_GROWTH_BYTES = 16 << 20  # a 32-sample batch of [128,32,32] FP32 is 16 MiB
EXIT_TIMEOUT_S = 5  # tritonserver's own wait for in-flight requests on SIGTERM
LIVE_TIMEOUT_S = 60.0


class EngineError(MlfabricError):
    """``tritonserver`` could not be started or answered an error."""


@dataclass(frozen=True)
class Bundle:
    """The parts of the ``nvidia-pytriton`` wheel this engine uses."""

    binary: Path
    python_backend: Path
    stub: Path
    libs: Path
    caches: Path


def find_bundle() -> Bundle:
    """Locate ``tritonserver`` and the Python backend in the installed wheel."""
    spec = importlib.util.find_spec("pytriton")
    if spec is None or not spec.submodule_search_locations:
        raise EngineError("the inference engine needs the nvidia-pytriton wheel: "
                          "pip install 'mlfabric[serving]'")
    pkg = Path(next(iter(spec.submodule_search_locations)))
    root = pkg / "tritonserver"
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    bundle = Bundle(binary=root / "bin" / "tritonserver",
                    python_backend=root / "backends" / "python",
                    stub=root / "python_backend_stubs" / version / "triton_python_backend_stub",
                    libs=pkg.parent / "nvidia_pytriton.libs", caches=root / "caches")
    for part in (bundle.binary, bundle.python_backend, bundle.stub):
        if not part.exists():
            raise EngineError(f"nvidia-pytriton is incomplete or does not support Python "
                              f"{version}: {part} is missing")
    return bundle


def prepare_backends(bundle: Bundle, folder: Path) -> Path:
    """A backend directory with the Python backend and the stub for this Python."""
    target = folder / "backends" / "python"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for item in bundle.python_backend.iterdir():
        if item.is_file():
            shutil.copy2(item, target / item.name)
    shutil.copy2(bundle.stub, target / "triton_python_backend_stub")
    return folder / "backends"


def engine_env(bundle: Bundle) -> dict[str, str]:
    """The environment of ``tritonserver`` and its stubs (see the module docstring)."""
    env = dict(os.environ)
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    paths = [p for p in (libdir, str(bundle.libs), env.get("LD_LIBRARY_PATH", "")) if p]
    env["LD_LIBRARY_PATH"] = ":".join(paths)
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    env["OMP_NUM_THREADS"] = "1"  # one intra-op thread per model instance
    env.pop("PYTHONHOME", None)
    return env


def port_free(host: str, port: int) -> bool:
    """Whether ``port`` can be bound on ``host`` now (as tritonserver binds it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def wait_ports_free(host: str, ports: list[int], timeout_s: float) -> None:
    """Wait until every port is free (a stopped server's sockets may linger)."""
    deadline = time.monotonic() + timeout_s
    while True:
        busy = [p for p in ports if not port_free(host, p)]
        if not busy:
            return
        if time.monotonic() > deadline:
            raise EngineError(f"port(s) {', '.join(map(str, busy))} on {host} still in use")
        time.sleep(0.1)


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the launcher dies, even by SIGKILL."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def processes_naming(path: Path) -> list[int]:
    """Live processes whose command line names ``path`` (a server's folder: its
    launcher, tritonserver and backend stubs all do)."""
    # The folder itself or a path inside it, never another folder it is a prefix of.
    needles = (str(path).encode() + b"\0", str(path).encode() + b"/")
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            cmdline = (entry / "cmdline").read_bytes()
            if any(n in cmdline for n in needles):
                out.append(int(entry.name))
    return out


def _children(pid: int) -> list[int]:
    out: list[int] = []
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                out += [int(c) for c in (task / "children").read_text().split()]
    return out


class Engine:
    """One ``tritonserver`` process and its HTTP control API (load, unload, index)."""

    def __init__(self, *, staging: Path, folder: Path, host: str, http_port: int,
                 grpc_port: int, metrics_port: int, shm_prefix: str,
                 log: IO[bytes] | None = None) -> None:
        self.staging = staging
        self.folder = folder
        self.host = host
        self.ports = [http_port, grpc_port, metrics_port]
        self.shm_prefix = shm_prefix
        self.log = log
        self.bundle = find_bundle()
        self.backends = prepare_backends(self.bundle, folder)
        write_backends(self.backends, staging)
        self.proc: subprocess.Popen[bytes] | None = None
        connect = "127.0.0.1" if host in ("0.0.0.0", "") else host
        import httpx

        # No keep-alive: tritonserver's graceful exit waits for open HTTP connections.
        self.http = httpx.Client(base_url=f"http://{connect}:{http_port}",
                                 timeout=httpx.Timeout(10.0, read=900.0),
                                 limits=httpx.Limits(max_keepalive_connections=0))

    def command(self) -> list[str]:
        http, grpc, metrics = self.ports
        return [
            str(self.bundle.binary), f"--model-repository={self.staging}",
            f"--backend-directory={self.backends}", f"--cache-directory={self.bundle.caches}",
            "--model-control-mode=explicit", "--exit-on-error=false",
            # Ready while a model failed to load: that model's own /ready says so.
            "--strict-readiness=false",
            f"--exit-timeout-secs={EXIT_TIMEOUT_S}", "--log-verbose=0",
            f"--http-address={self.host}", f"--http-port={http}",
            f"--grpc-address={self.host}", f"--grpc-port={grpc}",
            f"--metrics-address={self.host}", f"--metrics-port={metrics}",
            f"--backend-config=python,shm-region-prefix-name={self.shm_prefix}",
            f"--backend-config=python,shm-default-byte-size={SHM_DEFAULT_BYTES}",
            f"--backend-config=python,shm-growth-byte-size={SHM_GROWTH_BYTES}",
        ]

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, stop: threading.Event) -> None:
        """Start ``tritonserver`` once its ports are free; return when it is live."""
        wait_ports_free(self.host, self.ports, timeout_s=60.0)
        self.proc = subprocess.Popen(self.command(), env=engine_env(self.bundle),
                                     stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT if self.log else None,
                                     preexec_fn=_die_with_parent)
        deadline = time.monotonic() + LIVE_TIMEOUT_S
        while not stop.is_set():
            code = self.proc.poll()
            if code is not None:
                raise EngineError(f"tritonserver exited with code {code} while starting")
            if self.live():
                return
            if time.monotonic() > deadline:
                self.stop()
                raise EngineError(f"tritonserver did not answer in {LIVE_TIMEOUT_S:g}s")
            stop.wait(0.1)

    def stop(self, timeout_s: float = EXIT_TIMEOUT_S + 5.0) -> int | None:
        """SIGTERM, wait, then SIGKILL it and its stubs; returns its exit code."""
        proc = self.proc
        if proc is None:
            return None
        stubs = _children(proc.pid)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for pid in stubs:  # a stub outliving a killed server would hold its memory
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return proc.returncode

    def close(self) -> None:
        self.http.close()

    # -- control API ---------------------------------------------------------------------
    def live(self) -> bool:
        import httpx

        try:
            return self.http.get("/v2/health/live", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def load(self, model: str) -> str | None:
        """Load (or reload) a staged model; None when it loaded, else Triton's error."""
        import httpx

        try:
            r = self.http.post(f"/v2/repository/models/{quote(model, safe='')}/load")
        except httpx.HTTPError as exc:
            return f"load request failed: {exc}"
        return None if r.status_code == 200 else _error_of(r)

    def unload(self, model: str) -> str | None:
        """Unload a model; None on success, else Triton's error."""
        import httpx

        try:
            r = self.http.post(f"/v2/repository/models/{quote(model, safe='')}/unload")
        except httpx.HTTPError as exc:
            return f"unload request failed: {exc}"
        return None if r.status_code == 200 else _error_of(r)

    def index(self) -> list[dict[str, Any]]:
        """Triton's repository index: one entry per model version it knows."""
        r = self.http.post("/v2/repository/index", json={})
        r.raise_for_status()
        return list(r.json())


def _error_of(response: Any) -> str:
    try:
        return str(response.json().get("error") or response.text)
    except ValueError:
        return response.text or f"HTTP {response.status_code}"
