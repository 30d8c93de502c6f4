"""``python -m mlfabric.serving.launch``: what an inference server's job runs.

It stages the volume's model repository, starts ``tritonserver`` on the staging copy,
loads every model through Triton's model-control API, then polls the volume: a model
whose files changed (a new version folder, a rewritten file) is restaged and reloaded
once its files have stood still for one poll (so a copy in progress is not loaded
half-written); a removed model is unloaded. A model that fails to load is reported
with Triton's reason in the status file while the others keep serving. SIGTERM is
forwarded to ``tritonserver``, which finishes in-flight requests before it exits; a
``tritonserver`` that dies is restarted (a few times) once its ports are free.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlfabric.serving.check import first_line
from mlfabric.serving.engine import Engine, EngineError
from mlfabric.serving.layout import ModelDir, fingerprint, read_repository
from mlfabric.serving.staging import remove_model, stage_model
from mlfabric.serving.status import (
    FAILED,
    READY,
    RESTARTING,
    STARTING,
    STOPPED,
    remove_shm,
    shm_prefix,
    write_status,
)

POLL_S = 1.0
MAX_RESTARTS = 3
LOAD_THREADS = 4


def log(message: str) -> None:
    """A line in the job's log, next to tritonserver's own."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    sys.stdout.write(f"{stamp} mlfabric-serving: {message}\n")
    sys.stdout.flush()


@dataclass
class Tracked:
    """What the launcher did with one model folder, as of its ``fingerprint``."""

    fingerprint: tuple[Any, ...]
    problems: list[str] = field(default_factory=list)
    error: str | None = None  # staging or load error
    staged: bool = False


def model_states(tracked: dict[str, Tracked],
                 index: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per model ``{name, versions, state, reason}`` from the launcher's records and
    Triton's repository index (one entry per model version)."""
    by_model: dict[str, list[dict[str, Any]]] = {}
    for entry in index:
        by_model.setdefault(str(entry.get("name")), []).append(entry)
    out = []
    for name in sorted(set(tracked) | set(by_model)):
        entries = by_model.get(name, [])
        ready = sorted((str(e["version"]) for e in entries
                        if e.get("state") == "READY" and e.get("version")), key=int)
        failed = [f"version {e['version']}: {first_line(e['reason'])}"
                  for e in entries if e.get("version") and e.get("state") == "UNAVAILABLE"
                  and e.get("reason") and e["reason"] != "unloaded"]
        t = tracked.get(name)
        reasons = list(t.problems) if t else []
        if t is not None and t.error and not failed:
            reasons.append(t.error)
        reasons += failed
        loading = any(e.get("state") == "LOADING" for e in entries)
        state = "READY" if ready else "LOADING" if loading else "UNAVAILABLE"
        out.append({"name": name, "versions": ready, "state": state,
                    "reason": "; ".join(reasons) or None})
    return out


class Launcher:
    """Keeps one ``tritonserver`` serving the current content of a model repository."""

    def __init__(self, *, repository: Path, folder: Path, host: str, http_port: int,
                 grpc_port: int, metrics_port: int, poll_s: float = POLL_S) -> None:
        self.repository = repository
        self.folder = folder
        self.poll_s = poll_s
        self.staging = folder / "staging"
        self.build = folder / "build"
        for d in (self.staging, self.build):
            shutil.rmtree(d, ignore_errors=True)
            d.mkdir(parents=True)
        self.engine = Engine(staging=self.staging, folder=folder / "engine", host=host,
                             http_port=http_port, grpc_port=grpc_port,
                             metrics_port=metrics_port, shm_prefix=shm_prefix(folder))
        self.tracked: dict[str, Tracked] = {}
        self.settling: dict[str, tuple[Any, ...]] = {}
        self.repo_problems: list[str] = []
        self.restarts = 0
        self.server = STARTING
        self.message: str | None = None
        self._published: Any = None

    # -- status ----------------------------------------------------------------------------
    def publish(self, server: str | None = None, message: str | None = None) -> None:
        """Write the status file (only when something changed)."""
        if server is not None:
            self.server, self.message = server, message
        index: list[dict[str, Any]] = []
        if self.server == READY and self.engine.running():
            try:
                index = self.engine.index()
            except Exception as exc:  # a server going down: report what we know
                log(f"repository index failed: {first_line(exc)}")
        models = model_states(self.tracked, index)
        for m in models:  # name the user's files, not their staged copies
            if m["reason"]:
                m["reason"] = m["reason"].replace(str(self.staging), str(self.repository))
        body = {"pid": os.getpid(), "engine_pid": self.engine.pid, "server": self.server,
                "message": self.message, "restarts": self.restarts, "models": models,
                "problems": self.repo_problems}
        if body != self._published:
            self._published = body
            write_status(self.folder, {**body, "updated_at": time.time()})

    # -- models ----------------------------------------------------------------------------
    def _load_all(self, names: list[str]) -> None:
        if not names:
            return
        with ThreadPoolExecutor(max_workers=min(LOAD_THREADS, len(names))) as pool:
            for name, error in zip(names, pool.map(self.engine.load, names), strict=True):
                self.tracked[name].error = error
                log(f"model {name}: " + ("loaded" if error is None else
                                         f"failed to load: {first_line(error)}"))

    def _stage(self, model: ModelDir, fp: tuple[Any, ...]) -> bool:
        """Stage one model; whether it should be (re)loaded."""
        before = self.tracked.get(model.name)
        t = self.tracked[model.name] = Tracked(fp, problems=list(model.problems))
        if not model.servable:
            # A broken edit: the copy Triton already serves (if any) stays loaded.
            t.staged = bool(before and before.staged)
            log(f"model {model.name}: not staged: {'; '.join(model.problems)}")
            return False
        try:
            stage_model(model, self.staging, self.build)
        except Exception as exc:  # reported as the model's reason, others go on
            t.error = f"cannot stage: {first_line(exc)}"
            t.staged = bool(before and before.staged)
            log(f"model {model.name}: {t.error}")
            return False
        t.staged = True
        return True

    def sync(self, initial: bool = False) -> None:
        """Bring the staging repository and the server in line with the volume."""
        models, self.repo_problems = read_repository(self.repository)
        found = {m.name: m for m in models}
        todo: list[str] = []
        for name, model in found.items():
            fp = fingerprint(model.path)
            known = self.tracked.get(name)
            if known is not None and known.fingerprint == fp:
                self.settling.pop(name, None)
                continue
            if not initial and self.settling.get(name) != fp:
                self.settling[name] = fp  # changed since the last poll: let it settle
                continue
            self.settling.pop(name, None)
            if self._stage(model, fp):
                todo.append(name)
        for name in [n for n in self.tracked if n not in found]:
            error = self.engine.unload(name)
            remove_model(name, self.staging, self.build)
            del self.tracked[name]
            log(f"model {name}: removed" + (f" ({error})" if error else ""))
        for name in [n for n in self.settling if n not in found]:
            del self.settling[name]
        self._load_all(todo)
        self.publish()

    # -- server ----------------------------------------------------------------------------
    def _restart(self, stop: threading.Event) -> None:
        code = self.engine.stop()
        self.restarts += 1
        if self.restarts > MAX_RESTARTS:
            raise EngineError(f"tritonserver exited (code {code}) {self.restarts} times; "
                              "giving up")
        log(f"tritonserver exited with code {code}; restarting")
        self.publish(RESTARTING, f"tritonserver exited with code {code}")
        self.engine.start(stop)
        self._load_all([n for n, t in self.tracked.items() if t.staged])
        self.publish(READY)

    def run(self, stop: threading.Event) -> int:
        """Serve until ``stop`` is set; the exit code of the job."""
        self.publish(STARTING)
        failed = False
        try:
            self.engine.start(stop)
            log(f"tritonserver (pid {self.engine.pid}) is live")
            if not stop.is_set():
                self.server = READY
                self.sync(initial=True)
            while not stop.wait(self.poll_s):
                if not self.engine.running():
                    if not stop.is_set():
                        self._restart(stop)
                    continue
                try:
                    self.sync()
                except OSError as exc:  # files moving under us: look again next poll
                    log(f"cannot read the repository now: {exc}")
            return 0
        except EngineError as exc:
            failed = True
            log(f"error: {exc}")
            self.publish(FAILED, str(exc))
            return 1
        finally:
            code = self.engine.stop()
            self.engine.close()
            remove_shm(self.folder)  # left behind when the exit timeout expired
            log(f"tritonserver stopped (exit code {code})")
            if not failed:
                self.publish(STOPPED)

    def terminate(self) -> None:
        """Forward SIGTERM to tritonserver now (a load in progress then ends quickly)."""
        proc = self.engine.proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments the job was submitted with and serve."""
    p = argparse.ArgumentParser(prog="python -m mlfabric.serving.launch")
    p.add_argument("--state-dir", required=True, type=Path)
    p.add_argument("--repository", required=True, type=Path)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--http-port", required=True, type=int)
    p.add_argument("--grpc-port", required=True, type=int)
    p.add_argument("--metrics-port", required=True, type=int)
    p.add_argument("--poll-s", type=float, default=POLL_S)
    args = p.parse_args(argv)
    args.state_dir.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    try:
        launcher = Launcher(repository=args.repository.resolve(), folder=args.state_dir,
                            host=args.host, http_port=args.http_port,
                            grpc_port=args.grpc_port, metrics_port=args.metrics_port,
                            poll_s=args.poll_s)
    except EngineError as exc:
        log(f"error: {exc}")
        write_status(args.state_dir, {"pid": os.getpid(), "server": FAILED,
                                      "message": str(exc), "models": [],
                                      "updated_at": time.time()})
        return 1

    def _on_signal(signum: int, _frame: Any) -> None:
        log(f"received signal {signum}; stopping")
        stop.set()
        launcher.terminate()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _on_signal)
    log(f"serving {args.repository} on {args.host} (http {args.http_port}, grpc "
        f"{args.grpc_port}, metrics {args.metrics_port})")
    return launcher.run(stop)


if __name__ == "__main__":
    sys.exit(main())
