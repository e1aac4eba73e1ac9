"""Real servers on loopback for the cluster tests: MinIO, and a Spark standalone master + worker."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from citylake.config.settings import REPO_ROOT

MINIO = Path(os.environ.get("CITYLAKE_MINIO", REPO_ROOT / ".cache" / "bin" / "minio"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(what: str, ready, proc: subprocess.Popen, log: Path, timeout_s: float = 120) -> float:
    """Poll ``ready()`` until true; fail with the server's log if it dies or never gets there."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout_s:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited {proc.returncode}: {log.read_text(errors='replace')[-3000:]}")
        try:
            if ready():
                return time.perf_counter() - t0
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"{what} not ready after {timeout_s} s: {log.read_text(errors='replace')[-3000:]}")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


class Minio:
    """A MinIO server on a free loopback port that can be stopped and started again (same port,
    same data), as an object store that goes away mid-run and comes back."""

    def __init__(self, workdir: Path):
        if not MINIO.exists():
            pytest.fail(f"MinIO is not built at {MINIO}: run `make minio` (make test does)")
        self.workdir = workdir
        self.port, self.console = free_port(), free_port()
        self.user, self.password = "citylake-ci", secrets.token_hex(16)
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> float:
        """Start (again); seconds until it answers."""
        log = self.workdir / "minio.log"
        env = {**os.environ, "MINIO_ROOT_USER": self.user, "MINIO_ROOT_PASSWORD": self.password,
               "MINIO_BROWSER": "off"}  # fmt: skip
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                [str(MINIO), "server", str(self.workdir / "data"), "--address", f"127.0.0.1:{self.port}",
                 "--console-address", f"127.0.0.1:{self.console}", "--quiet"],
                env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip

        def live() -> bool:
            with urllib.request.urlopen(f"{self.endpoint}/minio/health/ready", timeout=2) as r:
                return bool(r.status == 200)

        return _wait("MinIO", live, self.proc, log)

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc)
            self.proc = None


@contextmanager
def minio_server(workdir: Path) -> Iterator[tuple[str, str, str, float]]:
    """A MinIO server on a free loopback port; yields (endpoint, user, password, seconds to ready)."""
    server = Minio(workdir)
    try:
        yield server.endpoint, server.user, server.password, server.start()
    finally:
        server.stop()


class SparkStandalone:
    """A Spark standalone master and one worker, started with the pyspark wheel's `spark-class`.

    ``worker_env`` is the environment executors inherit, as an instance profile would give
    them on a real cluster (the S3 endpoint and keys).
    """

    def __init__(self, workdir: Path, worker_env: dict[str, str], cores: int = 2, memory: str = "3g"):
        import pyspark

        self.spark_class = str(Path(pyspark.__file__).parent / "bin" / "spark-class")
        self.workdir, self.worker_env, self.cores, self.memory = workdir, worker_env, cores, memory
        self.port, self.ui = free_port(), free_port()
        self.master_url = f"spark://127.0.0.1:{self.port}"
        self.procs: list[subprocess.Popen] = []
        self.started_s = 0.0

    def _start(self, name: str, args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen, Path]:
        log = self.workdir / f"{name}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen([self.spark_class, *args], env={**env, "SPARK_NO_DAEMONIZE": "1"},
                                    stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
        self.procs.append(proc)
        return proc, log

    def __enter__(self) -> SparkStandalone:
        t0 = time.perf_counter()
        env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"}
        master, mlog = self._start("master", ["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                                              "--port", str(self.port), "--webui-port", str(self.ui)], env)  # fmt: skip
        worker, wlog = self._start(
            "worker",
            ["org.apache.spark.deploy.worker.Worker", self.master_url, "--host", "127.0.0.1",
             "--cores", str(self.cores), "--memory", self.memory, "--webui-port", str(free_port()),
             "--work-dir", str(self.workdir / "work")],
            {**self.worker_env, "SPARK_LOCAL_IP": "127.0.0.1"},
        )  # fmt: skip

        def worker_alive() -> bool:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.ui}/json/", timeout=2) as r:
                state = json.load(r)
            return any(w.get("state") == "ALIVE" for w in state.get("workers", []))

        _wait("Spark master", worker_alive, master, mlog)
        if worker.poll() is not None:
            pytest.fail(f"Spark worker exited: {wlog.read_text(errors='replace')[-3000:]}")
        self.started_s = time.perf_counter() - t0
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in reversed(self.procs):
            _stop(proc)


# port -> (user, password) that hive_query logs in with by default
LOGINS: dict[int, tuple[str, str]] = {}


@contextmanager
def sql_endpoint(lake_root: Path, workdir: Path, args: tuple[str, ...] = (), env: dict[str, str] | None = None,
                 login: tuple[str, str] | None = None) -> Iterator[int]:  # fmt: skip
    """`citylake serve-sql [args]` over ``lake_root`` on a free loopback port; yields the port.

    ``login``: the (user, password) hive_query uses for it; by default the embedded account the
    server made, from the `user: ...  password file: ...` line it prints (its secrets in
    ``workdir``)."""
    import re
    import sys

    port = free_port()
    log = workdir / "serve-sql.log"
    env = {**os.environ, "CITYLAKE_LAKE_ROOT": str(lake_root), "CITYLAKE_SQL_SECRETS_DIR": str(workdir / "secrets"),
           **(env or {})}  # fmt: skip
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "citylake.cli", "serve-sql", "--port", str(port), *args],
                                stdout=out, stderr=subprocess.STDOUT, env=env)  # fmt: skip
    try:
        _wait("serve-sql", lambda: socket.create_connection(("127.0.0.1", port), timeout=1).close() is None,
              proc, log, timeout_s=300)  # fmt: skip
        if login is None:
            _wait("serve-sql's login line", lambda: "password file:" in log.read_text(), proc, log, timeout_s=30)
            user, path = re.search(r"^user: (\S+)  password file: (\S+)$", log.read_text(), re.M).groups()
            login = (user, Path(path).read_text().strip())
        LOGINS[port] = login
        yield port
    finally:
        LOGINS.pop(port, None)
        _stop(proc)


def hive_connect(port: int, user: str | None = None, password: str | None = None, **kw):
    """A standard HiveServer2 client (PyHive, Superset's driver), logged in as ``user`` (by
    default the login sql_endpoint registered for the port)."""
    from pyhive import hive

    if user is None:
        user, password = LOGINS[port]
    return hive.connect(host="127.0.0.1", port=port, auth="CUSTOM", username=user, password=password, **kw)


def hive_query(port: int, sql: str, user: str | None = None, password: str | None = None) -> list[dict]:
    """Rows of ``sql`` through a standard HiveServer2 client (PyHive, Superset's driver)."""
    conn = hive_connect(port, user, password)
    try:
        cur = conn.cursor()
        cur.execute(sql)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    finally:
        conn.close()
