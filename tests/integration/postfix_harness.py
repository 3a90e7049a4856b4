"""Private, throw-away Postfix instances for interoperability tests.

How an instance is started (this is what docs/OPERATIONS.md can quote):

* Everything of an instance lives in one directory DIR: DIR/etc (config_directory:
  main.cf + master.cf), DIR/queue (queue_directory), DIR/data (data_directory),
  DIR/maillog (the log, written by postlogd). DIR is a fresh mode-0711 directory from
  mkdtemp (/tmp/mailseal-postfix-NAME-XXXX), linked from the test's tmp dir as
  postfix-NAME, and removed on stop after its maillog is copied to the tmp dir as
  postfix-NAME.maillog. It cannot be inside the pytest tmp dir: that is below
  /tmp/pytest-of-root (mode 0700, reset by every pytest session), and the master opens
  data_directory/master.lock as the postfix user, which must be able to get there.
  Nothing under /etc/postfix or /var/spool/postfix is read or written apart from the
  read-only packaging files in meta_directory (postfix-files, dynamicmaps.cf), so the
  system's own (unconfigured, stopped) Postfix stays as it is.
* main.cf: inet_interfaces = 127.0.0.1, inet_protocols = ipv4,
  mynetworks = 127.0.0.0/8, mydestination empty (nothing is local), relayhost =
  [127.0.0.1]:PORT (for a relaying instance), smtputf8_enable = yes,
  message_size_limit = 60000000, local_header_rewrite_clients empty (so Postfix neither
  rewrites addresses nor adds missing headers: the content arrives as sent),
  queue_run_delay = minimal_backoff_time = 1s, maillog_file = DIR/maillog with
  maillog_file_prefixes = DIR, mail_owner = postfix, setgid_group = postdrop, no TLS,
  no DNS.
* master.cf is written from scratch: one `127.0.0.1:PORT inet ... smtpd` service
  instead of `smtp inet`, the usual internal services, `postlog unix-dgram ... postlogd`,
  and chroot = n everywhere (a chroot would need copies of /etc files in the queue).
* Before the first start the test creates DIR/queue (root, 0755) and DIR/data
  (postfix, 0700): Postfix chdirs into the queue before anything else.
* Commands, all as root: `postfix -c DIR/etc start` (its built-in integrity check,
  postfix-script check-fatal, creates the queue subdirectories with the right owners,
  so a separate `postfix check` is not needed),
  `postfix -c DIR/etc flush`, `postqueue -c DIR/etc -j`, `postcat -c DIR/etc -q ID`,
  `postfix -c DIR/etc stop`.  Passing `-c` is enough: because the commands run as
  root, Postfix does not require `alternate_config_directories` in the default
  /etc/postfix/main.cf (it only checks that for unprivileged users of the set-gid
  postdrop/postqueue), and no /etc/postfix/main.cf needs to exist.
* `stop` runs `postfix -c DIR/etc stop`, waits up to 5 s for the master to exit, then
  sends SIGKILL to whatever is left: the master (DIR/queue/pid/master.pid), its
  descendants, and every process whose environment says MAIL_CONFIG=DIR/etc. Tests
  call it from `finally`/fixture teardown, so a failed test leaves no instance behind.

Receiving side ("sink"): Postfix's own `smtp-sink` does not announce SMTPUTF8 (and
mailseal rightly refuses to relay an SMTPUTF8 message to a next hop without it, RFC 6531
3.4), and its dump files, like Maildir delivery by virtual(8), are written as an
unprivileged user (the dump format also turns CRLF into LF). So the sink is a
second Postfix instance that accepts every message with `250 ... queued as ID` and puts
it on hold (smtpd_end_of_data_restrictions = check_client_access static:HOLD): the
exact content is then read back from its queue with `postcat -bh` (header and body as
received, lines LF-terminated) and the envelope with `postcat -e`.
"""

import grp
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from harness import free_port, wait_port

POSTFIX = "/usr/sbin/postfix"
POSTQUEUE = "/usr/sbin/postqueue"
POSTCAT = "/usr/sbin/postcat"


def postfix_unavailable():
    """A reason to skip, or None when a private Postfix instance can be run here."""
    for tool in (POSTFIX, POSTQUEUE, POSTCAT):
        if not os.access(tool, os.X_OK):
            return f"{tool} is not installed (apt-get install postfix)"
    if os.geteuid() != 0:
        return "a private Postfix instance must be started as root"
    try:
        pwd.getpwnam("postfix")
        grp.getgrnam("postdrop")
    except KeyError:
        return "the postfix user or postdrop group is missing"
    if not shutil.which("swaks"):
        return "swaks is not installed (apt-get install swaks)"
    return None


MASTER_CF = """\
# service     type  private unpriv  chroot  wakeup  maxproc command
{port}        inet  n       -       n       -       -       smtpd
pickup        unix  n       -       n       60      1       pickup
cleanup       unix  n       -       n       -       0       cleanup
qmgr          unix  n       -       n       300     1       qmgr
rewrite       unix  -       -       n       -       -       trivial-rewrite
bounce        unix  -       -       n       -       0       bounce
defer         unix  -       -       n       -       0       bounce
trace         unix  -       -       n       -       0       bounce
verify        unix  -       -       n       -       1       verify
flush         unix  n       -       n       1000?   0       flush
proxymap      unix  -       -       n       -       -       proxymap
smtp          unix  -       -       n       -       -       smtp
relay         unix  -       -       n       -       -       smtp
showq         unix  n       -       n       -       -       showq
error         unix  -       -       n       -       -       error
retry         unix  -       -       n       -       -       error
discard       unix  -       -       n       -       -       discard
anvil         unix  -       -       n       -       1       anvil
scache        unix  -       -       n       -       1       scache
postlog       unix-dgram n  -       n       -       1       postlogd
"""


class Postfix:
    """One private Postfix instance under `base/name`.

    relayhost: "[127.0.0.1]:PORT" to relay everything there (a LAN mail server or an
    Internet peer); None for a sink that holds every message it accepts.
    main: extra main.cf settings (dict), applied last."""

    def __init__(self, base, name, relayhost=None, main=None, port=None):
        # The pytest tmp dir is under /tmp/pytest-of-root, mode 0700, which the postfix
        # user cannot enter (the master opens data_directory/master.lock as mail_owner),
        # and pytest resets that mode at each session start. So the instance lives in
        # its own mode-0711 directory from mkdtemp, linked from `base` for inspection;
        # stop() copies the maillog into `base` and removes the directory.
        self.base = Path(base)
        self.base.mkdir(parents=True, exist_ok=True)
        self.dir = Path(tempfile.mkdtemp(prefix=f"mailseal-postfix-{name}-"))
        os.chmod(self.dir, 0o711)
        self.link = self.base / f"postfix-{name}"
        if not self.link.is_symlink():
            self.link.symlink_to(self.dir)
        self.name = name
        self.etc = self.dir / "etc"
        self.queue = self.dir / "queue"
        self.data = self.dir / "data"
        self.maillog = self.dir / "maillog"
        self.fixed_port = port is not None
        self._port = port or free_port()
        self.relayhost = relayhost
        self.started = False
        settings = {
            "compatibility_level": "3.6",
            "config_directory": str(self.etc),
            "queue_directory": str(self.queue),
            "data_directory": str(self.data),
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "myhostname": f"{name}.test",
            "mydomain": "test",
            "myorigin": "$myhostname",
            "mydestination": "",
            "local_recipient_maps": "",
            "alias_maps": "",
            "alias_database": "",
            "relay_domains": "",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination",
            "smtpd_peername_lookup": "no",
            "smtputf8_enable": "yes",
            "message_size_limit": "60000000",
            "mailbox_size_limit": "0",
            "local_header_rewrite_clients": "",
            "append_dot_mydomain": "no",
            "biff": "no",
            "smtp_dns_support_level": "disabled",
            "smtp_tls_security_level": "none",
            "smtpd_tls_security_level": "none",
            "queue_run_delay": "1s",
            "minimal_backoff_time": "1s",
            "maximal_backoff_time": "5s",
            "smtp_connect_timeout": "10s",
            "maillog_file": str(self.maillog),
            "maillog_file_prefixes": str(self.dir),
            "relayhost": relayhost or "",
        }
        if relayhost is None:
            # Sink: accept anything from loopback and keep it on hold for postcat.
            settings["smtpd_end_of_data_restrictions"] = "check_client_access static:HOLD"
        settings.update(main or {})
        self.settings = settings

    @property
    def port(self):
        # Whoever reads the port before start() (to point a next hop at this instance)
        # relies on it: start() may then no longer move to another one.
        if not self.started:
            self.fixed_port = True
        return self._port

    # -- lifecycle ------------------------------------------------------------------

    def write_config(self):
        self.etc.mkdir(parents=True, exist_ok=True)
        # Postfix chdirs into the queue before anything else; `postfix check` then
        # creates its subdirectories and fixes owners (data_directory: mail_owner).
        self.queue.mkdir(mode=0o755, exist_ok=True)
        self.data.mkdir(mode=0o700, exist_ok=True)
        os.chown(self.data, pwd.getpwnam("postfix").pw_uid, grp.getgrnam("postfix").gr_gid)
        (self.etc / "main.cf").write_text("".join(f"{k} = {v}\n" for k, v in self.settings.items()))
        (self.etc / "master.cf").write_text(MASTER_CF.format(port=f"127.0.0.1:{self._port}"))
        self.maillog.touch()

    def postfix(self, *args, check=True, timeout=60):
        r = subprocess.run([POSTFIX, "-c", str(self.etc), *args], capture_output=True, text=True,
                           timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError(f"postfix {' '.join(args)} failed ({r.returncode}):\n{r.stdout}{r.stderr}\n"
                               f"--- maillog ---\n{self.log()}")
        return r

    def start(self):
        # free_port() only checks that the port is free now: a test running in parallel
        # can draw and bind the same one before our master does. `postfix start` waits
        # for the master (master -w) and fails with its "bind ... Address already in use";
        # then the instance is started again on another port (unless the caller chose it).
        for attempt in range(5):
            self.write_config()
            self.started = True  # from here on, stop() has something to clean up
            # `start` runs the integrity check first (postfix-script check-fatal), which
            # creates the queue subdirectories with their owners; no separate `check`.
            try:
                self.postfix("start")
                break
            except RuntimeError as e:
                if self.fixed_port or attempt == 4 or "Address already in use" not in str(e):
                    raise
                self._kill()
                self.maillog.write_text("")
                self._port = free_port()
        try:
            wait_port(self._port, timeout=20)
        except TimeoutError:
            raise RuntimeError(f"Postfix {self.name} does not listen on {self._port}:\n{self.log()}")
        return self

    def master_pid(self):
        try:
            return int((self.queue / "pid" / "master.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _our_processes(self, master=None):
        """Pids of this instance's processes: those whose environment has
        MAIL_CONFIG=<our etc> (the master passes it on) and every descendant of the master."""
        needle = f"MAIL_CONFIG={self.etc}".encode()
        ours, parent = set(), {}
        for p in Path("/proc").iterdir():
            if not p.name.isdigit():
                continue
            try:
                parent[int(p.name)] = int((p / "stat").read_text().rsplit(")", 1)[1].split()[1])
                if needle in (p / "environ").read_bytes().split(b"\0"):
                    ours.add(int(p.name))
            except (OSError, ValueError, IndexError):
                continue
        if master:
            for pid in parent:
                q, hops = pid, 0
                while q > 1 and hops < 64:
                    if q == master:
                        ours.add(pid)
                        break
                    q, hops = parent.get(q, 0), hops + 1
        return sorted(ours)

    @staticmethod
    def _alive(pid):
        """True if the process exists and is not a zombie."""
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        return stat.rsplit(")", 1)[1].split()[0] != "Z"

    def stop(self):
        """Stops the instance (postfix stop, then SIGKILL for anything left of it) and
        removes its directory, keeping a copy of the maillog in `base`. Idempotent;
        safe to call when start() failed half-way."""
        self._kill()
        if self.dir.exists():
            if self.maillog.exists():
                shutil.copyfile(self.maillog, self.base / f"postfix-{self.name}.maillog")
            shutil.rmtree(self.dir, ignore_errors=True)
        if self.link.is_symlink():
            self.link.unlink()

    def _kill(self):
        """Stops this instance's processes (postfix stop, then SIGKILL for the rest)."""
        if not self.started:
            return
        self.started = False
        master = self.master_pid()
        try:
            self.postfix("stop", check=False, timeout=30)
        except subprocess.TimeoutExpired:
            pass
        deadline = time.time() + 5
        while master and self._alive(master) and time.time() < deadline:
            time.sleep(0.05)
        leftovers = set(self._our_processes(master))
        if master and self._alive(master):
            leftovers.add(master)
        for pid in leftovers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- observation ---------------------------------------------------------------------

    def log(self):
        return self.maillog.read_text(errors="replace") if self.maillog.exists() else ""

    def wait_log(self, pattern, timeout=30, start=0):
        """Polls the maillog until `pattern` (regex) matches; returns the match."""
        rx = re.compile(pattern)
        deadline = time.time() + timeout
        while True:
            m = rx.search(self.log(), start)
            if m:
                return m
            if time.time() > deadline:
                raise TimeoutError(f"Postfix {self.name}: no log line matches {pattern!r}:\n{self.log()[-6000:]}")
            time.sleep(0.1)

    def flush(self):
        self.postfix("flush")

    def queue_entries(self):
        """`postqueue -j`: one dict per queued message (queue_name, queue_id, recipients...)."""
        r = subprocess.run([POSTQUEUE, "-c", str(self.etc), "-j"], capture_output=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError(f"postqueue -j failed: {r.stderr.decode(errors='replace')}")
        return [json.loads(line) for line in r.stdout.decode().splitlines() if line.strip()]

    def wait_queue(self, predicate, timeout=30):
        deadline = time.time() + timeout
        while True:
            entries = self.queue_entries()
            if predicate(entries):
                return entries
            if time.time() > deadline:
                raise TimeoutError(f"Postfix {self.name}: queue never matched: {entries}\n{self.log()[-6000:]}")
            time.sleep(0.1)

    def postcat(self, queue_id, *flags):
        r = subprocess.run([POSTCAT, "-c", str(self.etc), *flags, "-q", queue_id], capture_output=True,
                           timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"postcat {queue_id} failed: {r.stderr.decode(errors='replace')}")
        return r.stdout

    def held_message(self, queue_id):
        """(envelope text, content bytes) of a message the sink holds."""
        return self.postcat(queue_id, "-e").decode(errors="replace"), self.postcat(queue_id, "-bh")


def swaks(port, sender, rcpt, data_file, timeout=120, extra=()):
    """Submits the file's bytes as message content over SMTP with swaks; returns the
    transcript. Raises if swaks fails."""
    cmd = ["swaks", "--server", f"127.0.0.1:{port}", "--ehlo", "client.test", "--from", sender,
           "--to", rcpt, "--data", f"@{data_file}", "--timeout", "60", *extra]
    r = subprocess.run(cmd, capture_output=True, timeout=timeout)
    out = r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")
    if r.returncode != 0:
        raise RuntimeError(f"swaks failed ({r.returncode}):\n{out[-4000:]}")
    return out


def queue_id_from_reply(text):
    """The queue id from a Postfix `250 2.0.0 Ok: queued as ID` reply."""
    m = re.search(r"queued as ([0-9A-Za-z]+)", text)
    if not m:
        raise AssertionError(f"no 'queued as' in {text!r}")
    return m.group(1)
