"""A private, throw-away Dovecot (IMAP + LMTP) on loopback for end-to-end tests.

How an instance is started:

* Everything lives in one directory DIR from mkdtemp (/tmp/mailseal-dovecot-NAME-XXXX,
  mode 0711, linked from the test's tmp dir as dovecot-NAME): DIR/dovecot.conf (written
  from scratch, nothing from /etc/dovecot is included), DIR/run (base_dir: master.pid,
  the auth and login sockets), DIR/state (state_dir), DIR/users (passwd-file),
  DIR/home/<domain>/<local part>/Maildir (the mailboxes, owned by the `mail` user),
  DIR/dovecot.log (log_path, info_log_path, debug_log_path). It is not inside the pytest
  tmp dir because that is mode 0700 and the mail user must get to the Maildirs.
* Users: passdb passwd-file with PLAIN passwords (username = full address), userdb static
  with uid/gid `mail` and home DIR/home/%d/%n; mail_location = maildir:~/Maildir.
  first_valid_uid is lowered to the mail user's uid (8).
* Listeners: imap (inet 127.0.0.1:IMAP_PORT, no TLS, plaintext LOGIN allowed) and lmtp
  (inet 127.0.0.1:LMTP_PORT); every other inet listener (imaps, pop3, ...) is off.
* Start: `dovecot -c DIR/dovecot.conf` (run as root; the master forks into the
  background and writes DIR/run/master.pid). Stop: `doveadm -c DIR/dovecot.conf stop`,
  then SIGKILL to the master and its descendants if anything is left after 5 s.
  stop() copies the log to the test's tmp dir as dovecot-NAME.log and removes DIR.
"""

import imaplib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from harness import free_port, wait_port

DOVECOT = "/usr/sbin/dovecot"
DOVEADM = "/usr/bin/doveadm"


def dovecot_unavailable():
    """A reason to skip, or None when a private Dovecot with IMAP and LMTP can run here."""
    if not os.access(DOVECOT, os.X_OK) or not shutil.which("doveadm"):
        return "dovecot is not installed (apt-get install dovecot-imapd dovecot-lmtpd)"
    for exe in ("imap", "imap-login", "lmtp"):
        if not os.access(f"/usr/lib/dovecot/{exe}", os.X_OK):
            return f"/usr/lib/dovecot/{exe} is missing (apt-get install dovecot-imapd dovecot-lmtpd)"
    if os.geteuid() != 0:
        return "a private Dovecot instance must be started as root"
    for user in ("mail", "dovecot", "dovenull"):
        try:
            pwd.getpwnam(user)
        except KeyError:
            return f"the user {user} is missing"
    return None


CONFIG = """\
# Private test instance; see dovecot_harness.py.
base_dir = {dir}/run
state_dir = {dir}/state
instance_name = {instance}
protocols = imap lmtp
listen = 127.0.0.1
log_path = {dir}/dovecot.log
info_log_path = {dir}/dovecot.log
debug_log_path = {dir}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = {uid}
first_valid_gid = {gid}
mail_location = maildir:~/Maildir
mail_privileged_group =
lmtp_save_to_detail_mailbox = no
recipient_delimiter =
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {dir}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={dir}/home/%d/%n
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp_port}
  }}
}}
"""


class Dovecot:
    """One private Dovecot. users: {address: password}."""

    def __init__(self, base, name, users):
        self.base = Path(base)
        self.base.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.dir = Path(tempfile.mkdtemp(prefix=f"mailseal-dovecot-{name}-"))
        os.chmod(self.dir, 0o711)
        self.link = self.base / f"dovecot-{name}"
        if not self.link.is_symlink():
            self.link.symlink_to(self.dir)
        self.conf = self.dir / "dovecot.conf"
        self.logfile = self.dir / "dovecot.log"
        self.imap_port = free_port()
        self.lmtp_port = free_port()
        self.users = dict(users)
        self.mail = pwd.getpwnam("mail")
        self.started = False

    def start(self):
        for sub in ("run", "state", "home"):
            (self.dir / sub).mkdir(mode=0o755, exist_ok=True)
        os.chown(self.dir / "home", self.mail.pw_uid, self.mail.pw_gid)
        (self.dir / "users").write_text("".join(f"{u}:{{PLAIN}}{p}\n" for u, p in self.users.items()))
        os.chmod(self.dir / "users", 0o644)
        self.conf.write_text(CONFIG.format(dir=self.dir, instance=self.dir.name, uid=self.mail.pw_uid,
                                           gid=self.mail.pw_gid, imap_port=self.imap_port,
                                           lmtp_port=self.lmtp_port))
        self.logfile.touch()
        self.started = True
        # The master forks into the background and keeps its inherited stdout/stderr:
        # a pipe would never see EOF, so its early output goes to a file.
        with open(self.dir / "startup.out", "wb") as out:
            r = subprocess.run([DOVECOT, "-c", str(self.conf)], stdin=subprocess.DEVNULL, stdout=out,
                               stderr=subprocess.STDOUT, timeout=30)
        if r.returncode != 0:
            raise RuntimeError(f"dovecot did not start ({r.returncode}):\n"
                               f"{(self.dir / 'startup.out').read_text(errors='replace')}\n{self.log()}")
        try:
            wait_port(self.imap_port, timeout=20)
            wait_port(self.lmtp_port, timeout=20)
        except TimeoutError as e:
            raise RuntimeError(f"Dovecot {self.name}: {e}\n{self.log()}")
        return self

    def next_hop(self):
        """The [*.next_hop] TOML of mailseal for LMTP delivery into this Dovecot."""
        return f'kind = "lmtp"\nhost = "127.0.0.1"\nport = {self.lmtp_port}\ntls = "none"\nconnect_timeout = "5s"'

    def master_pid(self):
        try:
            return int((self.dir / "run" / "master.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _descendants(self, root):
        parent = {}
        for p in Path("/proc").iterdir():
            if p.name.isdigit():
                try:
                    parent[int(p.name)] = int((p / "stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, ValueError, IndexError):
                    pass
        out = []
        for pid in parent:
            q, hops = pid, 0
            while q > 1 and hops < 64:
                if q == root:
                    out.append(pid)
                    break
                q, hops = parent.get(q, 0), hops + 1
        return out

    def stop(self):
        """Stops the instance and removes its directory (the log is kept in `base`).
        Idempotent; safe after a failed start."""
        if self.started:
            self.started = False
            master = self.master_pid()
            pids = self._descendants(master) if master else []
            subprocess.run([DOVEADM, "-c", str(self.conf), "stop"], capture_output=True, timeout=30)
            deadline = time.time() + 5
            while master and Path(f"/proc/{master}").exists() and time.time() < deadline:
                time.sleep(0.05)
            for pid in pids + ([master] if master else []):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if self.dir.exists():
            if self.logfile.exists():
                shutil.copyfile(self.logfile, self.base / f"dovecot-{self.name}.log")
            shutil.rmtree(self.dir, ignore_errors=True)
        if self.link.is_symlink():
            self.link.unlink()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def log(self):
        return self.logfile.read_text(errors="replace") if self.logfile.exists() else ""

    # -- IMAP ------------------------------------------------------------------------------

    def fetch_all(self, user):
        """Every message in the user's INBOX, as raw bytes (RFC822), fetched over IMAP."""
        imap = imaplib.IMAP4("127.0.0.1", self.imap_port, timeout=20)
        try:
            imap.login(user, self.users[user])
            typ, _ = imap.select("INBOX", readonly=True)
            assert typ == "OK"
            typ, data = imap.search(None, "ALL")
            assert typ == "OK"
            out = []
            for num in data[0].split():
                typ, msg = imap.fetch(num, "(BODY.PEEK[])")
                assert typ == "OK"
                out.append(msg[0][1])
            return out
        finally:
            try:
                imap.logout()
            except (imaplib.IMAP4.error, OSError):
                pass

    def wait_messages(self, user, n, timeout=30):
        """Polls the user's INBOX over IMAP until it holds at least n messages."""
        deadline = time.time() + timeout
        while True:
            msgs = self.fetch_all(user)
            if len(msgs) >= n:
                return msgs
            if time.time() > deadline:
                raise TimeoutError(f"{user}: {len(msgs)} of {n} messages in INBOX\n{self.log()[-4000:]}")
            time.sleep(0.2)
