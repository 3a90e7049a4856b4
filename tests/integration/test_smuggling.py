"""SMTP smuggling (CVE-2023-51764 class) and dot-stuffing over real sockets.

Only CRLF "." CRLF ends DATA. A lone CR or LF never ends it; with the default
bare_line_endings = "refuse" the message is read to its real end and refused with
550 5.6.0, and with "normalise" each lone CR or LF is stored as CRLF. Either way a
"MAIL FROM/RCPT/DATA" smuggled after a fake terminator is message text, never a command."""

import socket

import pytest

from harness import Mailseal, SmtpClient, status

# Fake end-of-data sequences that some MTAs accept (SEC Consult, Dec 2023).
VARIANTS = {
    "LF.LF": b"\n.\n",
    "CR.CR": b"\r.\r",
    "CRLF.LF": b"\r\n.\n",
    "LF.CRLF": b"\n.\r\n",
    "CR.CRLF": b"\r.\r\n",
    "CRLF.CR": b"\r\n.\r",
    "CR.LF": b"\r.\n",
    "LF.CR": b"\n.\r",
}

HEAD = b"From: a@example.org\r\nSubject: real\r\n\r\nhello"
SMUGGLED = (b"MAIL FROM:<evil@example.org>\r\nRCPT TO:<victim@example.net>\r\nDATA\r\n"
            b"From: ceo@example.org\r\nSubject: smuggled\r\n\r\nbad\r\n")


@pytest.fixture
def make_gateway(tmp_path, sink):
    started = []

    def make(inside=""):
        sink.keep_raw = True
        g = Mailseal(tmp_path, inside=inside, inside_next_hop=sink.next_hop(),
                     outside_next_hop=sink.next_hop()).start()
        started.append(g)
        return g

    yield make
    for g in started:
        g.stop()


def open_transaction(port):
    c = SmtpClient(port)
    assert c.reply()[0] == 220
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    assert c.cmd("EHLO client.test")[0] == 250
    assert status(c.cmd("MAIL FROM:<a@example.org>")) == (250, "2.1.0")
    assert status(c.cmd("RCPT TO:<b@example.net>")) == (250, "2.1.5")
    assert c.cmd("DATA")[0] == 354
    return c


def assert_no_extra_reply(c):
    """Nothing more is pending: a NOOP's reply is the very next one."""
    c.send("NOOP\r\n")
    assert c.reply() == (250, "250 2.0.0 Ok\r\n")
    assert c.buf == b""


def send_legit_and_wait(c, sink):
    """Ends the test session with a normal message, so that anything smuggled earlier
    would have reached the sink before it."""
    assert status(c.cmd("MAIL FROM:<a@example.org>")) == (250, "2.1.0")
    assert status(c.cmd("RCPT TO:<b@example.net>")) == (250, "2.1.5")
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: legit\r\n\r\nok\r\n.\r\n")
    assert status(c.reply()) == (250, "2.0.0")
    assert status(c.cmd("QUIT")) == (221, "2.0.0")
    return sink.wait_messages(1)


@pytest.mark.parametrize("split", [False, True], ids=["one-write", "byte-by-byte"])
def test_fake_terminators_are_refused_by_default(make_gateway, sink, split):
    g = make_gateway()
    c = open_transaction(g.inside_port)
    for name, fake in VARIANTS.items():
        data = HEAD + fake + SMUGGLED + b".\r\n"
        if split:  # the fake terminator and what follows it arrive one byte per write
            c.send(data[:len(HEAD)])
            for b in data[len(HEAD):len(HEAD) + len(fake) + 4]:
                c.send(bytes([b]))
            c.send(data[len(HEAD) + len(fake) + 4:])
        else:
            c.send(data)
        # Exactly one reply, after the real CRLF.CRLF, and it refuses the message.
        assert status(c.reply()) == (550, "5.6.0"), name
        assert_no_extra_reply(c)
        assert status(c.cmd("MAIL FROM:<a@example.org>")) == (250, "2.1.0")
        assert status(c.cmd("RCPT TO:<b@example.net>")) == (250, "2.1.5")
        assert c.cmd("DATA")[0] == 354
    c.send(b".\r\n")  # the last DATA: an empty message, accepted
    assert status(c.reply()) == (250, "2.0.0")
    send_legit_and_wait(c, sink)
    msgs = sink.wait_messages(2)
    assert len(msgs) == 2
    assert [m["rcpt"] for m in msgs] == [["b@example.net"], ["b@example.net"]]
    assert not any(b"smuggled" in m["data"] or b"evil" in m["from"].encode() for m in msgs)


def test_nul_before_dot_is_not_an_end_either(make_gateway, sink):
    # "\r\n\0.\r\n": some MTAs strip NUL and then see CRLF.CRLF.
    g = make_gateway(inside='bare_line_endings = "normalise"')
    c = open_transaction(g.inside_port)
    c.send(HEAD + b"\r\n\0.\r\n" + SMUGGLED + b".\r\n")
    assert status(c.reply()) == (550, "5.6.0")
    assert_no_extra_reply(c)
    msgs = send_legit_and_wait(c, sink)
    assert len(msgs) == 1 and b"Subject: legit" in msgs[0]["data"]


# What each fake terminator becomes under "normalise": every lone CR or LF is stored as
# CRLF; a "." after a lone line end is text; a "." after a real CRLF is dot-stuffing and
# is removed (RFC 5321 4.5.2), exactly as on any other line.
NORMALISED = {
    "LF.LF": b"\r\n.\r\n",
    "CR.CR": b"\r\n.\r\n",
    "CRLF.LF": b"\r\n\r\n",
    "LF.CRLF": b"\r\n.\r\n",
    "CR.CRLF": b"\r\n.\r\n",
    "CRLF.CR": b"\r\n\r\n",
    "CR.LF": b"\r\n.\r\n",
    "LF.CR": b"\r\n.\r\n",
}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_fake_terminators_normalised_stay_one_message(make_gateway, sink, name):
    g = make_gateway(inside='bare_line_endings = "normalise"')
    c = open_transaction(g.inside_port)
    c.send(HEAD + VARIANTS[name] + SMUGGLED + b".\r\n")
    assert status(c.reply()) == (250, "2.0.0")
    assert_no_extra_reply(c)
    assert status(c.cmd("QUIT")) == (221, "2.0.0")
    msgs = sink.wait_messages(1)
    assert len(msgs) == 1
    msg = msgs[0]
    assert msg["rcpt"] == ["b@example.net"] and "evil" not in msg["from"]
    body = msg["data"].split(b"\r\n", 3)[3]  # after the 3-line Received header
    assert body == HEAD + NORMALISED[name] + SMUGGLED
    # No lone CR or LF leaves mailseal ...
    assert body.replace(b"\r\n", b"").count(b"\r") == 0 and body.replace(b"\r\n", b"").count(b"\n") == 0
    # ... and a "." line in the text leaves it dot-stuffed, so the next hop cannot see an
    # end of data there either.
    raw = msg["raw"]
    assert b"\r\n.\r\n" not in raw
    if NORMALISED[name] == b"\r\n.\r\n":
        assert b"hello\r\n..\r\nMAIL FROM:<evil@example.org>\r\n" in raw


def test_real_terminator_split_across_reads(make_gateway, sink):
    g = make_gateway()
    c = open_transaction(g.inside_port)
    for b in b"Subject: slow\r\n\r\nbody\r\n.\r\n":
        c.send(bytes([b]))
    assert status(c.reply()) == (250, "2.0.0")
    msg = sink.wait_messages(1)[0]
    assert msg["data"].endswith(b"\r\nSubject: slow\r\n\r\nbody\r\n")


def test_dot_stuffing_both_ways(make_gateway, sink):
    g = make_gateway()
    c = open_transaction(g.inside_port)
    # As sent by the client (stuffed) ...
    wire = (b"Subject: dots\r\n\r\n"
            b"..\r\n"          # the line "."
            b"...\r\n"         # the line ".."
            b"..x\r\n"         # the line ".x"
            b".\tunstuffed\r\n"  # a client that forgot to stuff: its dot is removed
            b"a.\r\n"
            b" .\r\n"
            b"end\r\n")
    c.send(wire + b".\r\n")
    assert status(c.reply()) == (250, "2.0.0")
    msg = sink.wait_messages(1)[0]
    # ... what the message is (the sink un-stuffs) ...
    content = (b"Subject: dots\r\n\r\n.\r\n..\r\n.x\r\n\tunstuffed\r\na.\r\n .\r\nend\r\n")
    assert msg["data"].split(b"\r\n", 3)[3] == content
    # ... and what mailseal put on the wire to the next hop: every line that starts with
    # "." is stuffed again.
    stuffed = (b"Subject: dots\r\n\r\n..\r\n...\r\n..x\r\n\tunstuffed\r\na.\r\n .\r\nend\r\n")
    assert msg["raw"].split(b"\r\n", 3)[3] == stuffed


def test_empty_message(make_gateway, sink):
    g = make_gateway()
    c = open_transaction(g.inside_port)
    c.send(b".\r\n")
    assert status(c.reply()) == (250, "2.0.0")
    msg = sink.wait_messages(1)[0]
    assert msg["data"].startswith(b"Received: ") and msg["data"].count(b"\r\n") == 3
