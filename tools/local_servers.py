"""Private PostgreSQL and Redis servers on loopback, for scale-out tests and benchmarks.

Each server gets a fresh data folder and a free port, and is stopped (and its
folder removed) on exit. They come from Debian's packages
(``apt-get install postgresql redis-server``); :func:`available` says whether
they are installed.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator

POSTGRES_BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
REDIS_SERVER = shutil.which("redis-server")
INSTALL = "apt-get install -y postgresql redis-server"


def available() -> bool:
    return bool(POSTGRES_BIN and REDIS_SERVER)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing is listening on port {port}")


def _as_postgres() -> list[str]:
    # PostgreSQL refuses to run as root: use the postgres user when we are root.
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


@contextlib.contextmanager
def postgres(database: str = "signpost") -> Iterator[int]:
    """A PostgreSQL server with an empty ``database``; yields its port (user ``postgres``)."""
    # Directly in /tmp: the postgres user must be able to reach the folder.
    folder = Path(tempfile.mkdtemp(prefix="signpost-postgres-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    binaries, data, port = Path(POSTGRES_BIN[-1]), folder / "data", free_port()
    subprocess.run([*_as_postgres(), str(binaries / "initdb"), "-D", str(data), "-A", "trust",
                    "-U", "postgres"], check=True, capture_output=True)
    server = subprocess.Popen([*_as_postgres(), str(binaries / "postgres"), "-D", str(data),
                               "-p", str(port), "-k", str(folder), "-c", "listen_addresses=127.0.0.1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        for _ in range(50):
            done = subprocess.run([*_as_postgres(), str(binaries / "createdb"), "-h", "127.0.0.1",
                                   "-p", str(port), "-U", "postgres", database], capture_output=True)
            if done.returncode == 0:
                break
            time.sleep(0.2)  # still starting up
        else:
            raise RuntimeError(f"could not create the database: {done.stderr.decode()[-500:]}")
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def redis() -> Iterator[int]:
    """A Redis server that keeps nothing on disk; yields its port."""
    folder, port = tempfile.mkdtemp(prefix="signpost-redis-"), free_port()
    server = subprocess.Popen([REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1",
                               "--save", "", "--appendonly", "no", "--dir", folder],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)


def scale_out_endpoints(path: Path, postgres_port: int, redis_port: int) -> Path:
    """The "Scaling out" configuration (docs/deploying.md), pointed at these servers."""
    path.write_text(f"""tracker_store:
  type: SQL
  dialect: postgresql
  url: 127.0.0.1
  port: {postgres_port}
  db: signpost
  username: postgres
lock_store:
  type: bot.rasa_plugins.lock_store.AtomicRedisLockStore
  url: 127.0.0.1
  port: {redis_port}
  db: 1
""")
    return path
