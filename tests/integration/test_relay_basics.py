"""Proxy relay over real sockets: the client's reply reflects the next hop's verdict,
messages arrive byte-exact apart from the Received header, and the outside listener is
not an open relay."""

import re

from harness import SmtpClient


def send(port, sender, rcpts, body, ehlo="client.test"):
    c = SmtpClient(port)
    assert c.reply()[0] == 220
    assert c.cmd(f"EHLO {ehlo}")[0] == 250
    assert c.cmd(f"MAIL FROM:<{sender}>")[0] == 250
    for r in rcpts:
        assert c.cmd(f"RCPT TO:<{r}>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(body + b".\r\n")
    result = c.reply()
    c.cmd("QUIT")
    c.close()
    return result


BODY = (b"From: a@example.org\r\nTo: b@example.net\r\nSubject: hi\r\n\r\n"
        b"line one\r\n..dot line\r\n.\tdot tab\r\nlast\r\n")


def test_inside_relays_exact_bytes_with_received_header(gateway, sink):
    code, text = send(gateway.inside_port, "a@example.org", ["b@example.net"], BODY)
    assert code == 250, text
    assert "2.0.0" in text
    msg = sink.wait_messages(1)[0]
    assert msg["rcpt"] == ["b@example.net"]
    data = msg["data"]
    assert data.startswith(b"Received: from client.test ([127.0.0.1])\r\n\tby gw.test (mailseal) with ESMTP id ")
    # Everything after the Received header is what the client sent, dot-unstuffed.
    rest = data.split(b"\r\n", 3)[3]
    assert rest == BODY.replace(b"\r\n..dot", b"\r\n.dot").replace(b"\r\n.\tdot", b"\r\n\tdot")
    assert re.search(r"msg id=\S+ side=inside client=127.0.0.1 from=<a@example.org> rcpts=1 size=\d+ reply=\"250 ", gateway.log())


def test_outside_refuses_external_recipient(gateway, sink):
    c = SmtpClient(gateway.outside_port)
    c.reply()
    c.cmd("EHLO peer.test")
    assert c.cmd("MAIL FROM:<x@example.net>")[0] == 250
    code, text = c.cmd("RCPT TO:<victim@example.com>")
    assert (code, text.split()[1]) == (550, "5.7.1"), text
    code, text = c.cmd("RCPT TO:<Bob@EXAMPLE.org>")
    assert code == 250, text
    code, text = c.cmd("DATA")
    assert code == 354
    c.send(b"Subject: x\r\n\r\nhi\r\n.\r\n")
    assert c.reply()[0] == 250
    assert sink.wait_messages(1)[0]["rcpt"] == ["Bob@EXAMPLE.org"]


def test_outside_with_only_external_recipients_has_no_data(gateway):
    c = SmtpClient(gateway.outside_port)
    c.reply()
    c.cmd("EHLO peer.test")
    c.cmd("MAIL FROM:<x@example.net>")
    assert c.cmd("RCPT TO:<a@example.com>")[0] == 550
    code, text = c.cmd("DATA")
    assert (code, text.split()[1]) == (554, "5.5.1"), text


def test_next_hop_refusal_is_passed_on(gateway, sink):
    sink.data_reply = "554 5.7.1 content rejected"
    code, text = send(gateway.inside_port, "a@example.org", ["b@example.net"], BODY)
    assert code == 554 and "5.7.1" in text and "content rejected" in text


def test_next_hop_temporary_failure_is_passed_on(gateway, sink):
    sink.data_reply = "451 4.3.0 try later"
    code, text = send(gateway.inside_port, "a@example.org", ["b@example.net"], BODY)
    assert code == 451 and "4.3.0" in text
