"""Limits and bad input over real sockets: every case checks the exact reply code and
enhanced status code, and that the session (or the daemon) goes on afterwards as
documented. The next hop is a PySink, so "nothing was delivered" is checked for real."""

import select
import socket
import time

import pytest

from harness import Mailseal, SmtpClient, ehlo_keywords, status


@pytest.fixture
def make_gateway(tmp_path, sink):
    """Starts mailseal with extra TOML lines for [inside]; both next hops are the sink."""
    started = []

    def make(inside="", server="", outside=""):
        g = Mailseal(tmp_path, inside=inside, server=server, outside=outside,
                     inside_next_hop=sink.next_hop(), outside_next_hop=sink.next_hop()).start()
        started.append(g)
        return g

    yield make
    for g in started:
        g.stop()


def session(port, ehlo=True):
    c = SmtpClient(port)
    assert status(c.reply()) == (220, "")
    if ehlo:
        assert c.cmd("EHLO client.test")[0] == 250
    return c


def transaction(c, body=b"Subject: t\r\n\r\nhello\r\n", rcpts=("b@example.net",)):
    """MAIL, RCPT..., DATA, body, final dot; returns the final reply."""
    assert status(c.cmd("MAIL FROM:<a@example.org>")) == (250, "2.1.0")
    for r in rcpts:
        assert status(c.cmd(f"RCPT TO:<{r}>")) == (250, "2.1.5")
    assert c.cmd("DATA")[0] == 354
    c.send(body + b".\r\n")
    return c.reply()


def no_more_replies(c, timeout=0.3):
    """True if the server sent nothing beyond what was read (used after the last reply)."""
    c.sock.settimeout(timeout)
    try:
        extra = c.sock.recv(65536)
    except (socket.timeout, TimeoutError):
        return c.buf == b""
    finally:
        c.sock.settimeout(10)
    c.buf += extra
    return False


def connect_until_greeted(port, timeout=5.0, source=None):
    """Connects until the server greets with 220 (connection slots are released
    asynchronously after a disconnect). Returns the client."""
    deadline = time.time() + timeout
    while True:
        c = SmtpClient(port) if source is None else connect_from(port, source)
        code, text = c.reply()
        if code == 220:
            return c
        c.close()
        if time.time() > deadline:
            raise AssertionError(f"still refused after {timeout}s: {text!r}")
        time.sleep(0.05)


def connect_from(port, source):
    c = SmtpClient.__new__(SmtpClient)
    c.sock = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
    c.buf = b""
    return c


# --- message size --------------------------------------------------------------------

def test_declared_size_over_limit_refused_at_mail(make_gateway):
    g = make_gateway(inside='max_message_size = 2048')
    c = session(g.inside_port, ehlo=False)
    ehlo = c.cmd("EHLO client.test")
    assert "SIZE 2048" in ehlo_keywords(ehlo)
    assert status(c.cmd("MAIL FROM:<a@example.org> SIZE=2049")) == (552, "5.3.4")
    assert status(c.cmd("MAIL FROM:<a@example.org> SIZE=2048")) == (250, "2.1.0")
    assert status(c.cmd("RSET")) == (250, "2.0.0")
    assert status(c.cmd("MAIL FROM:<a@example.org> SIZE=12x")) == (501, "5.5.4")


def test_actual_size_over_limit_refused_after_final_dot_and_session_continues(make_gateway, sink):
    g = make_gateway(inside='max_message_size = 2048')
    c = session(g.inside_port)
    # The limit counts the message as decoded (CRLFs included, no dot-stuffing).
    line = b"x" * 98 + b"\r\n"
    exact = line * 20 + b"y" * 46 + b"\r\n"
    over = line * 20 + b"y" * 47 + b"\r\n"
    assert (len(exact), len(over)) == (2048, 2049)
    assert status(transaction(c, over)) == (552, "5.3.4")
    assert status(transaction(c, line * 400)) == (552, "5.3.4")
    assert not sink.messages
    # The session goes on: a message of exactly the limit is accepted.
    assert status(transaction(c, exact)) == (250, "2.0.0")
    assert status(c.cmd("QUIT")) == (221, "2.0.0")
    msgs = sink.wait_messages(1)
    assert len(msgs) == 1 and msgs[0]["data"].endswith(b"y" * 46 + b"\r\n")


def test_text_line_length_in_data(make_gateway, sink):
    g = make_gateway()  # default max_line_length = 998 (RFC 5322 2.1.1)
    c = session(g.inside_port)
    assert status(transaction(c, b"Subject: t\r\n\r\n" + b"a" * 999 + b"\r\n")) == (550, "5.6.0")
    assert status(transaction(c, b"Subject: t\r\n\r\n" + b"a" * 998 + b"\r\n")) == (250, "2.0.0")
    assert len(sink.wait_messages(1)) == 1
    assert sink.messages[0]["data"].endswith(b"\r\n\r\n" + b"a" * 998 + b"\r\n")


def test_command_line_too_long(make_gateway):
    g = make_gateway(inside='max_command_length = 512')
    c = session(g.inside_port)
    assert status(c.cmd("NOOP " + "x" * 507)) == (250, "2.0.0")  # 512 octets: allowed
    assert status(c.cmd("NOOP " + "x" * 508)) == (500, "5.5.2")
    assert status(c.cmd("NOOP " + "x" * 5000)) == (500, "5.5.2")
    # An over-long line arriving in pieces gets exactly one reply; its tail is not
    # executed as a command.
    for _ in range(5):
        c.send("x" * 1000)
    c.send("\r\nNOOP\r\n")
    assert status(c.reply()) == (500, "5.5.2")
    assert status(c.reply()) == (250, "2.0.0")
    c.send("MAIL FROM:<" + "a" * 600 + "@example.org>\r\nRSET\r\n")
    assert status(c.reply()) == (500, "5.5.2")
    assert status(c.reply()) == (250, "2.0.0")
    assert no_more_replies(c)


def test_too_many_recipients(make_gateway, sink):
    g = make_gateway(inside='max_recipients = 3')
    c = session(g.inside_port)
    assert status(c.cmd("MAIL FROM:<a@example.org>")) == (250, "2.1.0")
    for i in range(3):
        assert status(c.cmd(f"RCPT TO:<r{i}@example.net>")) == (250, "2.1.5")
    assert status(c.cmd("RCPT TO:<r3@example.net>")) == (452, "4.5.3")
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: t\r\n\r\nhi\r\n.\r\n")
    assert status(c.reply()) == (250, "2.0.0")
    assert sink.wait_messages(1)[0]["rcpt"] == ["r0@example.net", "r1@example.net", "r2@example.net"]


def test_too_many_recipients_pipelined_does_not_end_the_session(make_gateway, sink):
    # RFC 5321 4.5.3.1.10: the client is expected to send the rest in a later
    # transaction, so the 452s must not count toward max_errors and close the session.
    g = make_gateway(inside='max_recipients = 2\nmax_errors = 3')
    c = session(g.inside_port)
    rcpts = "".join(f"RCPT TO:<r{i}@example.net>\r\n" for i in range(8))
    c.send("MAIL FROM:<a@example.org>\r\n" + rcpts + "DATA\r\n")
    assert status(c.reply()) == (250, "2.1.0")
    assert [status(c.reply()) for _ in range(8)] == [(250, "2.1.5")] * 2 + [(452, "4.5.3")] * 6
    assert c.reply()[0] == 354
    c.send(b"Subject: t\r\n\r\nhi\r\n.\r\n")
    assert status(c.reply()) == (250, "2.0.0")
    assert sink.wait_messages(1)[0]["rcpt"] == ["r0@example.net", "r1@example.net"]


# --- connection limits -----------------------------------------------------------------

def expect_refused_before_greeting(c, enhanced):
    code, text = c.reply()
    assert (code, text[4:].split()[0]) == (421, enhanced), text
    assert c.closed()


def test_connections_in_total(make_gateway):
    g = make_gateway(inside='max_connections = 2\nmax_connections_per_client = 50')
    a, b = session(g.inside_port), session(g.inside_port)
    expect_refused_before_greeting(SmtpClient(g.inside_port), "4.3.2")
    # The outside listener has its own limit.
    session(g.outside_port).close()
    # A slot freed by a client leaving is given to the next one.
    a.close()
    c = connect_until_greeted(g.inside_port)
    assert status(c.cmd("NOOP")) == (250, "2.0.0")
    assert status(b.cmd("NOOP")) == (250, "2.0.0")


def test_connections_per_client_address(make_gateway):
    g = make_gateway(inside='max_connections = 50\nmax_connections_per_client = 2')
    a, b = session(g.inside_port), session(g.inside_port)
    expect_refused_before_greeting(SmtpClient(g.inside_port), "4.7.0")
    # Another client address (127.0.0.2 is loopback too, inside 127.0.0.0/8) is counted
    # on its own.
    other = connect_from(g.inside_port, "127.0.0.2")
    assert status(other.reply()) == (220, "")
    assert status(other.cmd("NOOP")) == (250, "2.0.0")
    b.cmd("QUIT")
    c = connect_until_greeted(g.inside_port)
    assert status(c.cmd("NOOP")) == (250, "2.0.0")
    assert status(a.cmd("NOOP")) == (250, "2.0.0")


# --- timeouts --------------------------------------------------------------------------

def test_idle_timeout(make_gateway):
    g = make_gateway(inside='idle_timeout = "1s"')
    c = session(g.inside_port)
    assert status(c.cmd("MAIL FROM:<a@example.org>")) == (250, "2.1.0")
    t0 = time.monotonic()
    c.sock.settimeout(10)
    assert status(c.reply()) == (421, "4.4.2")
    assert 0.8 < time.monotonic() - t0 < 5
    assert c.closed()


def test_idle_timeout_right_after_greeting(make_gateway):
    g = make_gateway(inside='idle_timeout = "1s"')
    c = session(g.inside_port, ehlo=False)
    assert status(c.reply()) == (421, "4.4.2")
    assert c.closed()


def test_data_timeout_is_a_deadline_for_the_whole_data_phase(make_gateway, sink):
    g = make_gateway(inside='idle_timeout = "30s"\ndata_timeout = "1s"')
    c = session(g.inside_port)
    assert status(c.cmd("MAIL FROM:<a@example.org>")) == (250, "2.1.0")
    assert status(c.cmd("RCPT TO:<b@example.net>")) == (250, "2.1.5")
    assert c.cmd("DATA")[0] == 354
    t0 = time.monotonic()
    # Trickle a byte every 0.2 s: each read succeeds, only the overall deadline ends it.
    while time.monotonic() - t0 < 5:
        readable, _, _ = select.select([c.sock], [], [], 0.2)
        if readable:
            break
        try:
            c.send(b"x")
        except OSError:
            break
    assert status(c.reply()) == (421, "4.4.2")
    assert 0.8 < time.monotonic() - t0 < 4
    assert c.closed()
    assert not sink.messages


# --- errors per session ----------------------------------------------------------------

def test_errors_per_session_then_disconnect(make_gateway):
    g = make_gateway(inside='max_errors = 3')
    c = session(g.inside_port)
    for _ in range(3):
        assert status(c.cmd("BOGUS")) == (500, "5.5.2")
    assert status(c.cmd("NOOP")) == (250, "2.0.0")  # good commands do not reset nor count
    assert status(c.cmd("RCPT TO:<x@example.net>")) == (503, "5.5.1")  # the 4th error
    assert status(c.reply()) == (421, "4.7.0")
    assert c.closed()


# --- sequence and syntax ---------------------------------------------------------------

def test_commands_out_of_sequence(make_gateway):
    g = make_gateway()
    c = session(g.inside_port, ehlo=False)
    assert status(c.cmd("MAIL FROM:<a@example.org>")) == (503, "5.5.1")
    assert status(c.cmd("RCPT TO:<b@example.net>")) == (503, "5.5.1")
    assert status(c.cmd("DATA")) == (503, "5.5.1")
    assert c.cmd("EHLO client.test")[0] == 250
    assert status(c.cmd("RCPT TO:<b@example.net>")) == (503, "5.5.1")
    assert status(c.cmd("DATA")) == (503, "5.5.1")
    assert status(c.cmd("MAIL FROM:<a@example.org>")) == (250, "2.1.0")
    assert status(c.cmd("MAIL FROM:<a@example.org>")) == (503, "5.5.1")
    assert status(c.cmd("DATA")) == (554, "5.5.1")  # MAIL but no RCPT
    assert status(c.cmd("RSET")) == (250, "2.0.0")
    assert status(c.cmd("RCPT TO:<b@example.net>")) == (503, "5.5.1")  # RSET forgot MAIL
    assert status(c.cmd("STARTTLS")) == (502, "5.5.1")  # not configured here


def test_unknown_commands(make_gateway):
    g = make_gateway()
    c = session(g.inside_port)
    assert status(c.cmd("FOO bar")) == (500, "5.5.2")
    assert status(c.cmd("")) == (500, "5.5.2")
    assert status(c.cmd("MAILFROM:<a@example.org>")) == (500, "5.5.2")
    assert status(c.cmd("EXPN staff")) == (502, "5.5.1")
    assert status(c.cmd("BDAT 10 LAST")) == (502, "5.5.1")
    assert status(c.cmd("noop")) == (250, "2.0.0")  # verbs are case-insensitive


def test_nul_and_bare_cr_in_commands(make_gateway, sink):
    g = make_gateway()
    c = session(g.inside_port)
    assert status(c.cmd("NOOP\0")) == (500, "5.5.2")
    assert status(c.cmd("MAIL FROM:<a\0b@example.org>")) == (500, "5.5.2")
    assert status(c.cmd("MAIL FROM:<a@example.org>\rRCPT TO:<b@example.net>")) == (500, "5.5.2")
    # None of the above started a transaction.
    assert status(c.cmd("RCPT TO:<b@example.net>")) == (503, "5.5.1")
    assert status(transaction(c)) == (250, "2.0.0")


def test_non_ascii_in_commands(make_gateway, sink):
    g = make_gateway()
    c = session(g.inside_port)
    assert status(c.cmd("NOOP h\u00e9")) == (500, "5.5.2")
    assert status(c.cmd("EHLO h\u00e9.test")) == (500, "5.5.2")
    assert status(c.cmd("MAIL FROM:<j\u00f6rg@example.org>")) == (553, "5.6.7")
    assert status(c.cmd("MAIL FROM:<a@example.org>")) == (250, "2.1.0")
    assert status(c.cmd("RCPT TO:<j\u00f6rg@b\u00fccher.example>")) == (553, "5.6.7")
    assert status(c.cmd("RSET")) == (250, "2.0.0")
    # Invalid UTF-8 is refused even with SMTPUTF8.
    c.send(b"MAIL FROM:<j\xf6rg@example.org> SMTPUTF8\r\n")
    assert status(c.reply()) == (553, "5.1.3")
    # With SMTPUTF8 (RFC 6531) UTF-8 addresses are accepted and relayed as such.
    assert status(c.cmd("MAIL FROM:<j\u00f6rg@example.org> SMTPUTF8")) == (250, "2.1.0")
    assert status(c.cmd("RCPT TO:<\u7528\u6237@b\u00fccher.example>")) == (250, "2.1.5")
    assert c.cmd("DATA")[0] == 354
    c.send("Subject: t\r\n\r\nh\u00e9\r\n.\r\n".encode())
    assert status(c.reply()) == (250, "2.0.0")
    msg = sink.wait_messages(1)[0]
    assert msg["rcpt"] == ["\u7528\u6237@b\u00fccher.example"]
    assert "SMTPUTF8" in msg["from"] and "j\u00f6rg@example.org" in msg["from"]
    assert "with UTF8SMTP " in msg["data"].decode()


# --- abrupt disconnects ----------------------------------------------------------------

def rst_close(c):
    """Close with an RST instead of a FIN (SO_LINGER 0)."""
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    c.close()


@pytest.mark.parametrize("close", [SmtpClient.close, rst_close], ids=["fin", "rst"])
def test_abrupt_disconnects_at_every_stage(make_gateway, sink, close):
    # A small per-client limit: a slot leaked by any of the disconnects below would make
    # the final session fail.
    g = make_gateway(inside='max_connections_per_client = 2')
    stages = [
        lambda c: None,                                        # right after the greeting
        lambda c: c.send("EHLO client.test\r\nMAIL FROM:<a@ex"),  # mid-command
        lambda c: (c.reply(), c.cmd("MAIL FROM:<a@example.org>"), c.cmd("RCPT TO:<b@example.net>")),
        lambda c: (c.reply(), c.cmd("MAIL FROM:<a@example.org>"), c.cmd("RCPT TO:<b@example.net>"),
                   c.cmd("DATA"), c.send(b"Subject: cut\r\n\r\nhalf a mess")),  # mid-DATA
        lambda c: (c.reply(), c.cmd("MAIL FROM:<a@example.org>"), c.cmd("RCPT TO:<b@example.net>"),
                   c.cmd("DATA"), c.send(b"Subject: cut\r\n\r\nline\r\n.\r")),  # inside the final dot
    ]
    for i, stage in enumerate(stages):
        c = connect_until_greeted(g.inside_port)
        if i >= 2:
            c.send("EHLO client.test\r\n")
        stage(c)
        close(c)
    c = connect_until_greeted(g.inside_port)
    assert c.cmd("EHLO client.test")[0] == 250
    assert status(transaction(c, b"Subject: whole\r\n\r\nok\r\n")) == (250, "2.0.0")
    assert status(c.cmd("QUIT")) == (221, "2.0.0")
    msgs = sink.wait_messages(1)
    assert len(msgs) == 1 and b"Subject: whole" in msgs[0]["data"]
    assert g.proc.poll() is None
    assert "disconnected during DATA" in g.log()


# --- the simple verbs ------------------------------------------------------------------

def test_vrfy_help_rset_noop_quit(make_gateway):
    g = make_gateway()
    c = session(g.inside_port)
    assert status(c.cmd("VRFY postmaster")) == (252, "2.5.0")
    assert status(c.cmd("VRFY")) == (501, "5.5.4")
    code, text = c.cmd("HELP")
    assert (code, status((code, text))[1]) == (214, "2.0.0") and "EHLO" in text
    assert status(c.cmd("NOOP")) == (250, "2.0.0")
    assert status(c.cmd("MAIL FROM:<a@example.org>")) == (250, "2.1.0")
    assert status(c.cmd("RSET")) == (250, "2.0.0")
    assert status(c.cmd("RSET now")) == (501, "5.5.4")
    assert status(c.cmd("MAIL FROM:<a@example.org>")) == (250, "2.1.0")  # RSET ended the first
    assert status(c.cmd("QUIT")) == (221, "2.0.0")
    assert c.closed()


def test_ehlo_keywords_and_helo(make_gateway):
    g = make_gateway()
    c = session(g.inside_port, ehlo=False)
    r = c.cmd("EHLO client.test")
    assert r[1].startswith("250-gw.test\r\n")
    # STARTTLS only when [inside.tls] is configured (see test_starttls.py).
    assert ehlo_keywords(r) == ["PIPELINING", "SIZE 52428800", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES"]
    assert c.cmd("HELO client.test") == (250, "250 gw.test\r\n")
    assert status(c.cmd("EHLO")) == (501, "5.5.4")
    assert status(c.cmd("HELO two words")) == (501, "5.5.4")
    # ESMTP parameters need EHLO.
    assert status(c.cmd("HELO client.test")) == (250, "")
    assert status(c.cmd("MAIL FROM:<a@example.org> BODY=8BITMIME")) == (555, "5.5.4")


def test_pipelining_whole_transactions_in_one_write(make_gateway, sink):
    g = make_gateway()
    c = session(g.inside_port, ehlo=False)
    one = ("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nRCPT TO:<c@example.net>\r\n"
           "DATA\r\nSubject: {n}\r\n\r\n..dot\r\nbody {n}\r\n.\r\n")
    c.send("EHLO client.test\r\n" + one.format(n=1) + "NOOP\r\n" + one.format(n=2) + "QUIT\r\n")
    replies = [status(c.reply()) for _ in range(13)]
    assert replies == [(250, ""), (250, "2.1.0"), (250, "2.1.5"), (250, "2.1.5"), (354, ""), (250, "2.0.0"),
                       (250, "2.0.0"), (250, "2.1.0"), (250, "2.1.5"), (250, "2.1.5"), (354, ""), (250, "2.0.0"),
                       (221, "2.0.0")]
    assert c.closed()
    msgs = sink.wait_messages(2)
    assert [m["data"].split(b"\r\n\r\n", 1)[1] for m in msgs] == [b".dot\r\nbody 1\r\n", b".dot\r\nbody 2\r\n"]
    assert all(m["rcpt"] == ["b@example.net", "c@example.net"] for m in msgs)


def test_inside_refuses_client_outside_client_networks(tmp_path, sink):
    g = Mailseal(tmp_path, inside_next_hop=sink.next_hop(), outside_next_hop=sink.next_hop())
    text = g.config_path.read_text()
    assert text.count('client_networks = ["127.0.0.0/8"]') == 1
    g.config_path.write_text(text.replace('client_networks = ["127.0.0.0/8"]', 'client_networks = ["10.0.0.0/8"]'))
    with g:
        c = SmtpClient(g.inside_port)
        code, text = c.reply()
        assert status((code, text)) == (554, "5.7.1"), text
        assert c.closed()
        # The outside listener serves anyone.
        c = session(g.outside_port)
        assert status(c.cmd("QUIT")) == (221, "2.0.0")
