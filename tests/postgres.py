"""Start a throw-away PostgreSQL server from the Debian package for component tests."""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass

import pytest

USER = "mlfabric"


def _bindir() -> str:
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(d.split("/")[-2]))
    if not dirs or not os.path.exists(os.path.join(dirs[-1], "initdb")):
        pytest.fail("PostgreSQL server binaries missing: `make test` installs the Debian "
                    "package postgresql")
    return dirs[-1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PostgresServer:
    datadir: str
    host: str
    port: int
    bindir: str
    run_as: list[str]

    @classmethod
    def start(cls) -> PostgresServer:
        bindir = _bindir()
        base = tempfile.mkdtemp(prefix="mlfabric-pg-")
        run_as: list[str] = []
        if os.geteuid() == 0:  # the server refuses to run as root
            pw = pwd.getpwnam("postgres")
            os.chown(base, pw.pw_uid, pw.pw_gid)
            run_as = ["runuser", "-u", "postgres", "--"]
        datadir = os.path.join(base, "data")
        subprocess.run([*run_as, f"{bindir}/initdb", "-D", datadir, "-A", "trust", "-U", USER,
                        "--no-sync"], check=True, capture_output=True)
        port = _free_port()
        opts = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run([*run_as, f"{bindir}/pg_ctl", "-D", datadir, "-o", opts, "-w", "-t", "60",
                        "-l", os.path.join(base, "log"), "start"], check=True,
                       capture_output=True)
        return cls(datadir, "127.0.0.1", port, bindir, run_as)

    def stop(self) -> None:
        subprocess.run([*self.run_as, f"{self.bindir}/pg_ctl", "-D", self.datadir, "-m", "fast",
                        "-w", "stop"], check=False, capture_output=True)
        shutil.rmtree(os.path.dirname(self.datadir), ignore_errors=True)


def create_database(host: str, port: int, test_name: str) -> str:
    import psycopg

    name = "t_" + re.sub(r"[^a-z0-9_]", "_", test_name.lower())[:40] + "_" + os.urandom(3).hex()
    with psycopg.connect(host=host, port=port, user=USER, dbname="postgres",
                         autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://{USER}@{host}:{port}/{name}"
