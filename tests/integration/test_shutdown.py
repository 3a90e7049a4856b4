"""SIGTERM finishes transactions in flight and closes idle sessions with 421 4.3.2, then
the daemon exits 0; an invalid configuration is reported as file:line: reason by
check-config and keeps serve from starting."""

import re
import signal
import socket
import subprocess
import time

import pytest

from harness import MAILSEAL_BIN, Mailseal, SmtpClient, free_port, status


def test_sigterm_finishes_transaction_in_flight(tmp_path, sink):
    sink.delay = 1.5  # the next hop takes its time before the DATA reply
    g = Mailseal(tmp_path, inside_next_hop=sink.next_hop(), outside_next_hop=sink.next_hop()).start()
    try:
        busy = SmtpClient(g.inside_port)
        idle = SmtpClient(g.inside_port)
        idle_outside = SmtpClient(g.outside_port)
        for c in (busy, idle, idle_outside):
            assert status(c.reply()) == (220, "")
            assert c.cmd("EHLO client.test")[0] == 250
        assert status(idle.cmd("MAIL FROM:<a@example.org>")) == (250, "2.1.0")  # mid-transaction, but idle
        assert status(busy.cmd("MAIL FROM:<a@example.org>")) == (250, "2.1.0")
        assert status(busy.cmd("RCPT TO:<b@example.net>")) == (250, "2.1.5")
        assert busy.cmd("DATA")[0] == 354
        busy.send(b"Subject: in flight\r\n\r\nbody\r\n.\r\n")
        assert sink.data_seen.wait(10)  # mailseal is now waiting for the next hop's verdict

        t0 = time.monotonic()
        g.proc.send_signal(signal.SIGTERM)
        # Idle sessions are told at once.
        assert status(idle.reply()) == (421, "4.3.2")
        assert status(idle_outside.reply()) == (421, "4.3.2")
        assert time.monotonic() - t0 < 1.4  # before the busy session's verdict (1.5 s)
        assert idle.closed() and idle_outside.closed()
        # No new sessions are served.
        try:
            late = SmtpClient(g.inside_port, timeout=2)
            assert status(late.reply()) == (421, "4.3.2")
        except (ConnectionRefusedError, ConnectionError):
            pass
        # The busy session gets the next hop's verdict, then 421.
        assert status(busy.reply()) == (250, "2.0.0")
        assert status(busy.reply()) == (421, "4.3.2")
        assert busy.closed()
        assert g.proc.wait(5) == 0  # shutdown_grace is 5s in the harness
        assert time.monotonic() - t0 < 5
        assert len(sink.wait_messages(1)) == 1
    finally:
        g.stop()


def test_sigterm_with_nothing_in_flight_exits_at_once(tmp_path):
    g = Mailseal(tmp_path).start()
    t0 = time.monotonic()
    g.proc.send_signal(signal.SIGTERM)
    assert g.proc.wait(5) == 0
    assert time.monotonic() - t0 < 2
    g.stop()


def test_grace_period_ends_a_stuck_transaction(tmp_path, sink):
    sink.delay = 10  # longer than the grace period
    g = Mailseal(tmp_path, server='', inside_next_hop=sink.next_hop(), outside_next_hop=sink.next_hop())
    g.config_path.write_text(g.config_path.read_text().replace('shutdown_grace = "5s"', 'shutdown_grace = "1s"'))
    g.start()
    try:
        c = SmtpClient(g.inside_port)
        c.reply()
        c.cmd("EHLO client.test")
        c.cmd("MAIL FROM:<a@example.org>")
        c.cmd("RCPT TO:<b@example.net>")
        assert c.cmd("DATA")[0] == 354
        c.send(b"Subject: stuck\r\n\r\nbody\r\n.\r\n")
        assert sink.data_seen.wait(10)
        t0 = time.monotonic()
        g.proc.send_signal(signal.SIGTERM)
        assert g.proc.wait(5) == 0
        assert 0.9 < time.monotonic() - t0 < 4
        assert "grace period over" in g.log()
    finally:
        g.stop()


BROKEN = """\
[server]
hostname = "gw.test"
log_level = "loud"

[inside]
listen = "127.0.0.1:99999"
client_networks = ["10.0.0.0/33"]
max_recipients = 0
idle_timeout = "5x"
bare_line_endings = "lenient"
typo_key = 1

[inside.next_hop]
kind = "smtp"
host = "127.0.0.1"
tls = "sometimes"

[outside]
listen = "127.0.0.1:{port}"
internal_domains = ["example.org"]

[outside.next_hop]
kind = "maildir"
path = "mail"
"""

EXPECTED = [
    (3, "server.log_level must be one of"),
    (6, "inside.listen: bad address or port"),
    (7, 'inside.client_networks: "10.0.0.0/33" is not a CIDR network'),
    (8, "inside.max_recipients must be between 1 and"),
    (9, "inside.idle_timeout must be a duration"),
    (10, 'inside.bare_line_endings must be "refuse" or "normalise"'),
    (11, "unknown key inside.typo_key"),
    (16, 'inside.next_hop.tls must be "none", "opportunistic" or "verify"'),
]


def test_check_config_reports_file_line_reason(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text(BROKEN.format(port=free_port()))
    r = subprocess.run([MAILSEAL_BIN, "check-config", str(path)], capture_output=True, text=True, timeout=10)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    parsed = []
    for line in lines:
        m = re.fullmatch(r"(.+?):(\d+): (.+)", line)
        assert m, f"not file:line: reason: {line!r}"
        assert m.group(1) == str(path)
        parsed.append((int(m.group(2)), m.group(3)))
    for lineno, reason in EXPECTED:
        assert any(n == lineno and reason in text for n, text in parsed), (lineno, reason, parsed)
    # Every error is reported, not just the first.
    assert len(parsed) >= len(EXPECTED)


def test_check_config_toml_syntax_error(tmp_path):
    path = tmp_path / "syntax.toml"
    path.write_text('[server]\nhostname = "gw.test"\nlog_level = "info\n')
    r = subprocess.run([MAILSEAL_BIN, "check-config", str(path)], capture_output=True, text=True, timeout=10)
    assert r.returncode == 1
    assert re.match(rf"{re.escape(str(path))}:3: \S", r.stderr), r.stderr


def test_check_config_accepts_a_valid_file(tmp_path):
    g = Mailseal(tmp_path)
    r = subprocess.run([MAILSEAL_BIN, "check-config", str(g.config_path)], capture_output=True, text=True, timeout=10)
    assert (r.returncode, r.stderr) == (0, "")
    assert "ok" in r.stdout


def test_serve_refuses_to_start_on_a_broken_file(tmp_path):
    port = free_port()
    path = tmp_path / "broken.toml"
    path.write_text(BROKEN.format(port=port))
    r = subprocess.run([MAILSEAL_BIN, "serve", "--config", str(path)], capture_output=True, text=True, timeout=10)
    assert r.returncode == 1
    assert f"{path}:3: server.log_level" in r.stderr
    assert "not started" in r.stderr
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
