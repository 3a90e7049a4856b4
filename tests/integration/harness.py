"""Test harness: runs the real mailseal binary on ephemeral loopback ports with an inline
configuration, and a scriptable SMTP sink to play the next hop. Used by every
integration test; no mocks of mailseal itself."""

import contextlib
import os
import random
import re
import signal
import socket
import socketserver
import subprocess
import tempfile
import threading
import time
from pathlib import Path

MAILSEAL_BIN = os.environ.get("MAILSEAL_BIN", str(Path(__file__).resolve().parents[2] / "build/src/mailseal"))
SOURCE_DIR = Path(os.environ.get("MAILSEAL_SOURCE_DIR", Path(__file__).resolve().parents[2]))


# From the OS's entropy, not from pid and time: ctest starts the test files within the
# same milliseconds with consecutive pids, and pid ^ time can then be equal in two of them,
# which drew the same "free" ports in the same order (both of a Dovecot's ports taken).
_port_rng = random.SystemRandom()


_ports_given = set()


def free_port():
    """A port nobody listens on, chosen at random *below* the kernel's ephemeral range
    (32768-60999): a port from that range can be taken between this call and the
    daemon's bind by any outgoing connection on the machine (Postfix, the sinks, other
    tests run in parallel by ctest), which made start-up fail with EADDRINUSE."""
    for _ in range(200):
        port = _port_rng.randrange(20000, 32000)
        # Nothing is bound between two calls (e.g. a daemon's inside and outside port):
        # never hand out the same port twice in one test process.
        if port in _ports_given:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            _ports_given.add(port)
            return port
    raise RuntimeError("no free port found in 20000-32000")


def wait_port(port, timeout=15.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


@contextlib.contextmanager
def small_tmpfs(path: Path, size: str):
    """A tmpfs of `size` (e.g. "2m") mounted at `path` for the duration: a disk that fills
    up. Skips the test when it cannot be mounted (needs root)."""
    import pytest

    path.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs at {path} (needs root): {r.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


class Mailseal:
    """One mailseal daemon. `inside`/`outside`/`server` are TOML fragments merged into a
    default configuration whose next hops are Maildirs under the temp dir."""

    def __init__(self, tmp: Path, inside="", outside="", server="", inside_next_hop=None,
                 outside_next_hop=None, extra=""):
        self.tmp = Path(tmp)
        self.inside_port = free_port()
        self.outside_port = free_port()
        self.state = self.tmp / "state"
        inside_next_hop = inside_next_hop or f'kind = "maildir"\npath = "{self.tmp}/outbound"'
        outside_next_hop = outside_next_hop or f'kind = "maildir"\npath = "{self.tmp}/mail/%r"'
        self.config_path = self.tmp / "mailseal.toml"
        self.config_path.write_text(f"""
[server]
hostname = "gw.test"
state_dir = "{self.state}"
log_level = "debug"
shutdown_grace = "5s"
{server}

[inside]
listen = "127.0.0.1:{self.inside_port}"
client_networks = ["127.0.0.0/8"]
{inside}

[inside.next_hop]
{inside_next_hop}

[outside]
listen = "127.0.0.1:{self.outside_port}"
internal_domains = ["example.org"]
{outside}

[outside.next_hop]
{outside_next_hop}
{extra}
""")
        self.log_path = self.tmp / "mailseal.log"
        self.proc = None

    def start(self):
        self.log_file = open(self.log_path, "ab")
        self.proc = subprocess.Popen([MAILSEAL_BIN, "serve", "--config", str(self.config_path)],
                                     stdout=self.log_file, stderr=subprocess.STDOUT)
        try:
            wait_port(self.inside_port)
            wait_port(self.outside_port)
        except TimeoutError:
            self.stop()
            raise RuntimeError("mailseal did not start:\n" + self.log())
        return self

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log_file.close()
        return self.proc.returncode if self.proc else None

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def maildir_messages(self, folder):
        new = Path(folder) / "new"
        return sorted(new.iterdir()) if new.exists() else []

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class SmtpClient:
    """A raw SMTP client that sends exact bytes and reads exact replies."""

    def __init__(self, port, host="127.0.0.1", timeout=10):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def reply(self):
        """Reads one (possibly multi-line) reply; returns (code, full text)."""
        lines = []
        while True:
            while b"\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("closed; got so far: %r" % (b"".join(lines) + self.buf))
                self.buf += chunk
            line, self.buf = self.buf.split(b"\n", 1)
            lines.append(line + b"\n")
            if len(line) < 4 or line[3:4] != b"-":
                text = b"".join(lines).decode(errors="replace")
                return int(line[:3]), text

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def closed(self, timeout=5):
        """True if the server closes the connection (EOF) within timeout."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (socket.timeout, TimeoutError):
            return False
        except ConnectionResetError:
            return True

    def close(self):
        self.sock.close()


class SinkHandler(socketserver.StreamRequestHandler):
    def handle(self):
        sink = self.server.sink
        with sink.lock:
            sink.connections += 1
            sink.open_sockets.add(self.request)
        try:
            self.converse(sink)
        except OSError:
            pass  # stop() closed the connection, or the client went away
        finally:
            with sink.lock:
                sink.open_sockets.discard(self.request)

    def readline(self, sink, limit=100000):
        """A command line; b"" at EOF. With sink.idle_timeout, an idle connection is
        closed after that many seconds, first with sink.idle_reply when set (Postfix
        answers "421 4.4.2 ... Error: timeout exceeded")."""
        if sink.idle_timeout:
            self.request.settimeout(sink.idle_timeout)
        try:
            return self.rfile.readline(limit)
        except TimeoutError:
            if sink.idle_reply:
                self.wfile.write((sink.idle_reply + "\r\n").encode())
                self.wfile.flush()
            with sink.lock:
                sink.idle_closed += 1
            return b""
        finally:
            self.request.settimeout(None)

    def converse(self, sink):
        if sink.on_connect == "drop":
            return
        self.wfile.write(b"220 sink.test ESMTP\r\n")
        envelope = {"from": None, "rcpt": [], "data": b""}
        tls_active = False  # set by STARTTLS when the sink has a tls_context
        while True:
            line = self.readline(sink)
            if not line:
                return
            cmd = line.decode(errors="replace").strip()
            verb = cmd[:4].upper()
            if verb in ("EHLO", "LHLO"):
                exts = ["PIPELINING", "8BITMIME", "SMTPUTF8", "SIZE 200000000"]
                if sink.tls_context is not None and not tls_active:
                    exts.insert(0, "STARTTLS")
                self.wfile.write(("250-sink.test\r\n" + "".join(f"250-{e}\r\n" for e in exts[:-1]) + f"250 {exts[-1]}\r\n").encode())
            elif verb == "HELO":
                self.wfile.write(b"250 sink.test\r\n")
            elif cmd.upper() == "STARTTLS" and sink.tls_context is not None and not tls_active:
                self.wfile.write(b"220 2.0.0 Ready to start TLS\r\n")
                self.wfile.flush()
                try:
                    tls_sock = sink.tls_context.wrap_socket(self.request, server_side=True)
                except (OSError, ValueError) as e:
                    with sink.lock:
                        sink.tls_failures.append(repr(e))
                    return
                self.request = tls_sock
                with sink.lock:
                    sink.open_sockets.add(tls_sock)
                self.rfile = tls_sock.makefile("rb")
                self.wfile = tls_sock.makefile("wb")
                tls_active = True
                envelope = {"from": None, "rcpt": [], "data": b""}
                continue
            elif verb == "MAIL":
                envelope = {"from": cmd, "rcpt": [], "data": b""}
                if tls_active:
                    envelope["tls"] = self.request.version()
                self.wfile.write(b"250 2.1.0 Ok\r\n")
            elif verb == "RCPT":
                addr = re.search(r"<(.*)>", cmd).group(1)
                reply = sink.rcpt_replies.get(addr, "250 2.1.5 Ok")
                if reply.startswith("250"):
                    envelope["rcpt"].append(addr)
                self.wfile.write((reply + "\r\n").encode())
            elif verb == "DATA":
                self.wfile.write(b"354 go ahead\r\n")
                self.wfile.flush()
                # bytearray: += on bytes copies the whole message per line (a 4 MB
                # message took 9 s).
                data = bytearray()
                raw = bytearray()  # the dot-stuffed wire bytes, kept when sink.keep_raw
                while True:
                    l = self.rfile.readline()
                    if not l:
                        return
                    if l == b".\r\n":
                        break
                    if sink.on_data == "drop" and len(data) > 100:
                        return
                    if sink.keep_raw:
                        raw += l
                    data += l[1:] if l.startswith(b".") else l
                envelope["data"] = bytes(data)
                if sink.keep_raw:
                    envelope["raw"] = bytes(raw)
                sink.data_seen.set()
                if sink.delay:
                    time.sleep(sink.delay)
                with sink.lock:
                    if sink.data_reply.startswith("250"):
                        sink.messages.append(envelope)
                self.wfile.write((sink.data_reply + "\r\n").encode())
            elif verb == "QUIT":
                with sink.lock:
                    sink.quits += 1
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 Ok\r\n")
            self.wfile.flush()


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 256  # a real MTA's backlog; the default 5 drops SYNs under load


class PySink:
    """A scriptable SMTP next hop: records messages (dot-unstuffed) and answers as told."""

    def __init__(self, port=None, host="127.0.0.1"):
        self.host = host  # any 127.x address: MX tests give each host of a domain its own
        self.port = port or free_port()
        self.messages = []
        self.lock = threading.Lock()
        self.rcpt_replies = {}
        self.data_reply = "250 2.0.0 Ok: queued"
        self.on_connect = "greet"
        self.on_data = "normal"
        self.delay = 0
        # Additions (off by default): STARTTLS with this ssl.SSLContext (server side);
        # envelope["raw"] keeps the DATA bytes as received (still dot-stuffed);
        # data_seen is set when a message's final dot arrived (before delay and reply).
        self.tls_context = None
        self.tls_failures = []
        self.keep_raw = False
        self.data_seen = threading.Event()
        # Connections accepted, QUITs received, sockets open now; idle_timeout (seconds)
        # closes an idle connection, after idle_reply when set (see SinkHandler.readline).
        self.connections = 0
        self.quits = 0
        self.open_sockets = set()
        self.idle_timeout = None
        self.idle_reply = None
        self.idle_closed = 0

    def start(self):
        self.server = _Server((self.host, self.port), SinkHandler)
        self.server.sink = self
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        """Stops listening and drops every open connection: a stopped next hop serves
        nobody, also not a client that kept an idle session."""
        self.server.shutdown()
        self.server.server_close()
        with self.lock:
            for sock in list(self.open_sockets):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def next_hop(self, kind="smtp", extra=""):
        return f'kind = "{kind}"\nhost = "127.0.0.1"\nport = {self.port}\ntls = "none"\n{extra}'

    def wait_messages(self, n, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if len(self.messages) >= n:
                    return list(self.messages)
            time.sleep(0.05)
        raise TimeoutError(f"sink got {len(self.messages)} of {n} messages")


def status(reply):
    """(code, enhanced status code) of a reply as returned by SmtpClient.reply(); the
    enhanced code is taken from the last line ("" when the reply has none)."""
    code, text = reply
    last = text.rstrip("\r\n").split("\r\n")[-1]
    first = last[4:].split(" ", 1)[0]
    return code, first if re.fullmatch(r"[245]\.\d{1,3}\.\d{1,3}", first) else ""


def ehlo_keywords(reply):
    """The lines of an EHLO reply after the greeting line, e.g. ["PIPELINING", "SIZE 1024"]."""
    return [line[4:] for line in reply[1].rstrip("\r\n").split("\r\n")[1:]]
