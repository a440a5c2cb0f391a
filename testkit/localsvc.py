"""Mosquitto and InfluxDB run as plain child processes in a runtime folder (demo, tests, benchmarks).

Never a system service: each instance gets its own folder and free loopback port, and can be stopped,
killed (SIGKILL, as in a power cut) and started again on the same port with the same data.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class ServiceError(RuntimeError):
    pass


class LocalService:
    """One child process with a config file written into ``root``."""

    name = "service"
    binary = ""

    def __init__(self, root: Path, port: int | None = None) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.root / f"{self.name}.log"

    # subclasses fill these
    def write_config(self) -> Path:
        raise NotImplementedError

    def command(self, config: Path) -> list[str]:
        raise NotImplementedError

    def ready(self) -> bool:
        return _port_open(self.port)

    def executable(self) -> str:
        path = shutil.which(self.binary) or next(
            (p for p in (f"/usr/sbin/{self.binary}", f"/usr/bin/{self.binary}") if os.path.exists(p)), None
        )
        if path is None:
            raise ServiceError(f"{self.binary} is not installed (apt-get install {self.name})")
        return path

    def start(self, timeout: float = 30.0) -> None:
        if self.running:
            return
        config = self.write_config()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.command(config), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServiceError(f"{self.name} exited with {self.proc.returncode}; see {self.log_path}")
            if self.ready():
                return
            time.sleep(0.05)
        self.kill()
        raise ServiceError(f"{self.name} did not become ready on port {self.port} in {timeout} s; see {self.log_path}")

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _signal(self, sig: int, timeout: float) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        # The port must be free again before a restart can bind it.
        deadline = time.monotonic() + 10
        while _port_open(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self, timeout: float = 15.0) -> None:
        """Clean shutdown (SIGTERM)."""
        self._signal(signal.SIGTERM, timeout)

    def kill(self) -> None:
        """Abrupt end (SIGKILL): what a crash or a power cut does to the process."""
        self._signal(signal.SIGKILL, 5)

    def restart(self) -> None:
        self.stop()
        self.start()


# Lines of the shipped broker config that are about this test broker's place, not its behaviour: its own listener,
# user, folder and log file are set above.
_LOCAL_KEYS = {"per_listener_settings", "user", "persistence_location", "log_dest"}


def shipped_broker_tuning() -> list[str]:
    """The global settings of the broker config `iocgw provision mosquitto` ships (hub/provision/mosquitto_conf.py),
    less the ones about where it runs: the tests and benchmarks run the broker the hub relies on, and cannot drift
    from it. Read from the renderer itself, so a setting added there reaches every test broker."""
    from hub.provision.mosquitto_conf import BrokerSettings, render_conf

    conf = render_conf(BrokerSettings(), Path("/unused"), crl=False)
    global_part = conf.split("\n\n", 1)[0]  # the listeners follow the first blank line
    return [
        line
        for line in global_part.splitlines()
        if line.strip() and not line.startswith("#") and line.split()[0] not in _LOCAL_KEYS
    ]


class Mosquitto(LocalService):
    """Mosquitto configured for the hub's needs (see docs/operations.md, 'Broker settings')."""

    name = "mosquitto"
    binary = "mosquitto"

    def __init__(self, root: Path, port: int | None = None, extra_config: str = "") -> None:
        super().__init__(root, port)
        self.extra_config = extra_config

    def write_config(self) -> Path:
        data = self.root / "data"
        data.mkdir(exist_ok=True)
        path = self.root / "mosquitto.conf"
        path.write_text(
            "\n".join(
                [
                    "per_listener_settings false",
                    f"listener {self.port} 127.0.0.1",
                    "allow_anonymous true",
                    # Running as root would otherwise drop to the 'mosquitto' user, who cannot write here.
                    "user root" if os.geteuid() == 0 else "",
                    f"persistence_location {data}/",
                    f"log_dest file {self.root / 'broker.log'}",
                    # Persistence, queue bounds, packet size, log levels: exactly what ships.
                    *shipped_broker_tuning(),
                    self.extra_config,
                ]
            )
            + "\n"
        )
        return path

    def command(self, config: Path) -> list[str]:
        return [self.executable(), "-c", str(config)]


class InfluxDB(LocalService):
    """InfluxDB 1.x (Debian's 1.6.7) serving the v1 HTTP API."""

    name = "influxdb"
    binary = "influxd"

    def __init__(self, root: Path, port: int | None = None) -> None:
        super().__init__(root, port)
        self.rpc_port = free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write_config(self) -> Path:
        path = self.root / "influxdb.conf"
        r = self.root
        path.write_text(
            f"""reporting-disabled = true
bind-address = "127.0.0.1:{self.rpc_port}"
[meta]
  dir = "{r}/meta"
[data]
  dir = "{r}/data"
  wal-dir = "{r}/wal"
  query-log-enabled = false
  cache-snapshot-write-cold-duration = "1m"
[http]
  enabled = true
  bind-address = "127.0.0.1:{self.port}"
  log-enabled = false
  max-body-size = 0
[monitor]
  store-enabled = false
[logging]
  level = "warn"
"""
        )
        return path

    def command(self, config: Path) -> list[str]:
        return [self.executable(), "-config", str(config)]

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/ping", timeout=1) as resp:
                return bool(resp.status == 204)
        except OSError:
            return False


def _pg_bindir() -> Path:
    """The newest installed PostgreSQL's programs: Debian's /usr/lib/postgresql/<version>/bin, else the PATH's."""
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parts[-3]))
    if debian:
        return debian[-1].parent
    found = shutil.which("initdb")
    if found is None:
        raise ServiceError("PostgreSQL is not installed (apt-get install postgresql)")
    return Path(found).parent


def _children(pid: int) -> list[int]:
    """The live (not zombie) processes whose parent is ``pid``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


class PostgreSQL(LocalService):
    """A PostgreSQL cluster of its own (Debian's ``postgresql``): initdb on first start, one database ``iocgw``.

    Listens on 127.0.0.1 on its own port, its unix socket in its own folder; ``fsync`` and ``synchronous_commit``
    on, as in production: a test that kills it relies on a committed row surviving. PostgreSQL refuses to run as
    root, so under root the cluster lives in a folder of its own under the system temp dir owned by the ``postgres``
    user (the package creates it; a test's tmp_path is not reachable by another user), and the server runs as that
    user through ``setpriv``, which execs, so that the process this class signals is the postmaster itself.
    ``kill()`` SIGKILLs the postmaster and all its backends at once (its process group), as a power cut does;
    ``stop()`` is a fast shutdown (SIGINT: clients are disconnected, not waited for).
    """

    name = "postgresql"
    user = "iocgw"
    database = "iocgw"

    def __init__(self, root: Path, port: int | None = None) -> None:
        super().__init__(root, port)
        self.bindir = _pg_bindir()
        self._as_root = os.geteuid() == 0
        if self._as_root:
            import pwd
            import tempfile
            import weakref

            try:
                pw = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise ServiceError("no 'postgres' user to run PostgreSQL as (apt-get install postgresql)") from exc
            self._owner = (pw.pw_uid, pw.pw_gid)
            self.cluster = Path(tempfile.mkdtemp(prefix="iocgw-pg-"))
            os.chown(self.cluster, *self._owner)
            weakref.finalize(self, shutil.rmtree, str(self.cluster), True)
            link = self.root / "cluster"
            with contextlib.suppress(OSError):  # only a pointer for whoever looks into root
                link.unlink(missing_ok=True)
                link.symlink_to(self.cluster)
        else:
            self.cluster = self.root
        self.data_dir = self.cluster / "data"
        self._create_database = False

    @property
    def dsn(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{self.database}?connect_timeout=5"

    def _prefix(self) -> list[str]:
        if not self._as_root:
            return []
        return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"]

    def write_config(self) -> Path:
        if not (self.data_dir / "PG_VERSION").exists():
            cmd = [str(self.bindir / "initdb"), "-D", str(self.data_dir), "-A", "trust", "-U", self.user]
            cmd += ["-E", "UTF8", "--locale=C"]
            proc = subprocess.run(
                self._prefix() + cmd, cwd=self.cluster, capture_output=True, text=True, timeout=120, check=False
            )
            if proc.returncode != 0:
                raise ServiceError(f"initdb exited with {proc.returncode}: {proc.stdout}{proc.stderr}")
            self._create_database = True
        return self.data_dir

    def command(self, config: Path) -> list[str]:
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.cluster),
            "fsync": "on",
            "synchronous_commit": "on",
            "full_page_writes": "on",
            "logging_collector": "off",
        }
        args = [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]
        return [*self._prefix(), str(self.bindir / "postgres"), "-D", str(config), *args]

    def _connect(self, dbname: str) -> Any:
        import psycopg

        return psycopg.connect(
            host="127.0.0.1", port=self.port, user=self.user, dbname=dbname, connect_timeout=1, autocommit=True
        )

    def ready(self) -> bool:
        # The port opens before crash recovery ends ("the database system is starting up"): ready means a session.
        import psycopg

        try:
            with self._connect("postgres"):
                return True
        except psycopg.OperationalError:
            return False

    def start(self, timeout: float = 60.0) -> None:
        super().start(timeout)
        if self._create_database:
            with self._connect("postgres") as conn:
                conn.execute(f'CREATE DATABASE "{self.database}"')
            self._create_database = False

    def stop(self, timeout: float = 30.0) -> None:
        """Fast shutdown (SIGINT): a checkpoint, then exit, without waiting for clients to disconnect."""
        self._signal(signal.SIGINT, timeout)

    def kill(self) -> None:
        """SIGKILL to the postmaster and every backend at once, as a power cut; returns once none is left, so it can
        start again (a new postmaster refuses to while an old backend still holds the shared memory). Each backend
        is a session of its own (PostgreSQL calls setsid), so they are found as the postmaster's children, the
        postmaster stopped first so that it forks no more."""
        doomed: list[int] = []
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGSTOP)
            doomed = _children(self.proc.pid)
            for pid in doomed:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self._signal(signal.SIGKILL, 5)
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in doomed):
            if time.monotonic() > deadline:
                raise ServiceError(f"backends of the killed PostgreSQL are still alive: {doomed}")
            time.sleep(0.01)
