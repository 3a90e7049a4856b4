"""A private PostgreSQL server for the key store tests: its own cluster (initdb) in a
temporary directory, listening on 127.0.0.1 on a free port and on a Unix socket in that
directory. The system's PostgreSQL cluster, if any, is never used or touched.

The server binaries refuse to run as root: as root they run as the `postgres` user
(runuser), and the directory is handed to that user. TCP clients log in with a password
(scram-sha-256), so mailseal's keys.postgresql.password_file is exercised; the harness
itself uses the Unix socket (trust). stop()/start() keep the data, so a test can take
the database away and bring it back on the same port."""

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from harness import free_port

USER = "mailseal"
PASSWORD = "pg-secret-for-tests"


def _bin_dir():
    base = Path("/usr/lib/postgresql")
    found = sorted((p for p in base.glob("*/bin") if (p / "initdb").exists()),
                   key=lambda p: int(p.parent.name)) if base.exists() else []
    return found[-1] if found else None


BIN = _bin_dir()


def postgres_unavailable():
    """None when a PostgreSQL server can run here, else why not."""
    if BIN is None:
        return "PostgreSQL server binaries not found (apt-get install postgresql)"
    if os.geteuid() == 0 and not shutil.which("runuser"):
        return "runuser is needed to run the server as the postgres user"
    return None


class Postgres:
    def __init__(self):
        # Not under pytest's tmp dir: that is private to root, and the server runs as postgres.
        self.dir = Path(tempfile.mkdtemp(prefix="mailseal-pg-"))
        self.data = self.dir / "data"
        self.log_path = self.dir / "server.log"
        self.port = None
        self.running = False
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        pwfile = self.dir / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if os.geteuid() == 0:
            shutil.chown(pwfile, "postgres", "postgres")
        self._run(BIN / "initdb", "-N", "-U", USER, "--pwfile", pwfile, "--auth-local=trust",
                  "--auth-host=scram-sha-256", "-E", "UTF8", "-D", self.data)

    def _run(self, *args, check=True):
        cmd = [str(a) for a in args]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        r = subprocess.run(cmd, capture_output=True, timeout=120)
        if check and r.returncode != 0:
            log = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
            raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout.decode()}"
                               f"{r.stderr.decode()}\n{log[-3000:]}")
        return r

    def start(self):
        # The port may be taken between free_port() and the server's bind: try another.
        for attempt in range(5):
            port = self.port or free_port()
            r = self._run(BIN / "pg_ctl", "-D", self.data, "-l", self.log_path, "-w", "-t", "60", "-o",
                          f"-c listen_addresses=127.0.0.1 -p {port} -k {self.dir} -c fsync=off",
                          "start", check=False)
            if r.returncode == 0:
                self.port = port
                self.running = True
                return self
            if self.port is not None or attempt == 4:
                raise RuntimeError(f"PostgreSQL did not start:\n{r.stderr.decode()}\n"
                                   f"{self.log_path.read_text(errors='replace')[-3000:]}")

    def stop(self):
        if self.running:
            self._run(BIN / "pg_ctl", "-D", self.data, "-w", "-m", "fast", "stop", check=False)
            self.running = False

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def psql(self, sql, db="postgres"):
        """Runs SQL through the Unix socket; returns its output (unaligned, tuples only)."""
        return self._run(BIN / "psql", "-h", self.dir, "-p", self.port, "-U", USER, "-d", db,
                         "-v", "ON_ERROR_STOP=1", "-At", "-c", sql).stdout.decode()

    def create_database(self, name):
        self.psql(f"CREATE DATABASE {name}")
        return name

    def conninfo(self, db):
        return f"host=127.0.0.1 port={self.port} dbname={db} user={USER}"

    def keys_config(self, db, password_file, **extra):
        """The [keys] / [keys.postgresql] TOML for a mailseal configuration."""
        lines = [f'conninfo = "{self.conninfo(db)}"', f'password_file = "{password_file}"']
        for k, v in extra.items():
            lines.append(f"{k} = {v}" if isinstance(v, int) else f'{k} = "{v}"')
        return '[keys]\nstore = "postgresql"\n\n[keys.postgresql]\n' + "\n".join(lines) + "\n"
