"""Interoperability with a real Postfix (acceptance of issue 2), over loopback sockets.

    swaks/smtplib --> Postfix "lan" --relayhost--> mailseal inside --next hop smtp--> Postfix "sink"
    swaks         --> Postfix "peer" --relayhost--> mailseal outside --next hop smtp--> Postfix "sink"

The sink is a second Postfix that accepts each message ("250 2.0.0 Ok: queued as ID")
and keeps it on hold, so the test reads back exactly what mailseal delivered with
`postcat` (see postfix_harness.py for why not smtp-sink). Between submission and the
sink's queue exactly three headers are added, each on top of the previous ones:

    1. the lan/peer Postfix's smtpd:  Received: from client.test (unknown [127.0.0.1]) by lan.test (Postfix) ...
    2. mailseal:                      Received: from lan.test ([127.0.0.1]) by gw.test (mailseal) ...
    3. the sink Postfix's smtpd:      Received: from gw.test (unknown [127.0.0.1]) by sink.test (Postfix) ...

Everything below them must equal the submitted message byte for byte (postcat prints
lines with LF where the wire had CRLF; Postfix adds no other header because
local_header_rewrite_clients is empty and the messages carry From/To/Date/Message-ID).
"""

import os
import re
import smtplib
import subprocess
import time
from types import SimpleNamespace

import pytest

from harness import Mailseal, SmtpClient, free_port, wait_port
from postfix_harness import Postfix, postfix_unavailable, swaks

_why = postfix_unavailable()
pytestmark = pytest.mark.skipif(_why is not None, reason=f"needs a private Postfix instance: {_why}")


def smtp_next_hop(port):
    return f'kind = "smtp"\nhost = "127.0.0.1"\nport = {port}\ntls = "none"\nconnect_timeout = "5s"'


# -- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """sink Postfix <- mailseal (both sides) <- lan Postfix; and a peer Postfix for the
    outside listener. Shared by the tests of this module that need everything up."""
    base = tmp_path_factory.mktemp("postfix-chain")
    sink = Postfix(base, "sink")
    lan = peer = None
    started = []
    try:
        # The sink first: its port (which the gateway's configuration names) is known
        # for sure only once it listens.
        sink.start()
        started.append(sink)
        gw = Mailseal(base, inside='max_message_size = "50M"', outside='max_message_size = "50M"',
                      inside_next_hop=smtp_next_hop(sink.port), outside_next_hop=smtp_next_hop(sink.port))
        lan = Postfix(base, "lan", relayhost=f"[127.0.0.1]:{gw.inside_port}")
        # The Internet peer: bounces for its own users (peer.test) are discarded locally.
        peer = Postfix(base, "peer", relayhost=f"[127.0.0.1]:{gw.outside_port}",
                       main={"transport_maps": "inline:{ peer.test=discard: }"})
        for part in (gw, lan, peer):
            part.start()
            started.append(part)
        yield SimpleNamespace(sink=sink, gw=gw, lan=lan, peer=peer, base=base)
    finally:
        for part in reversed(started):
            part.stop()
        for pf in (sink, lan, peer):
            if pf is not None:
                pf.stop()  # removes the directory of an instance that failed to start


# -- helpers ----------------------------------------------------------------------------


def headers_on_top(content, n):
    """Splits the first n header fields (with their folded lines) off LF content."""
    fields = []
    rest = content
    for _ in range(n):
        m = re.match(rb"[^\s:]+:[^\n]*\n(?:[ \t][^\n]*\n)*", rest)
        assert m, f"expected {n} header fields on top of {content[:600]!r}"
        fields.append(m.group(0).decode("utf-8"))
        rest = rest[m.end():]
    return fields, rest


def relayed_via_mailseal(pf, queue_id, timeout=60):
    """Waits until Postfix `pf` reports queue_id sent through mailseal; returns
    (mailseal id, sink queue id)."""
    m = pf.wait_log(rf"{queue_id}: to=<[^>]*>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+, .*status=sent "
                    rf"\(250 2\.0\.0 Ok: (\S+) relayed \(next hop: 250 2\.0\.0 Ok: queued as (\w+)\)\)",
                    timeout=timeout)
    return m.group(1), m.group(2)


def check_delivered(chain_sink, sink_qid, mailseal_id, original, *, sender, rcpt, client_helo,
                    first_hop, first_qid, proto, side_helo, first_for=True):
    """The sink holds exactly the original plus the three Received headers described in
    the module docstring."""
    envelope, content = chain_sink.held_message(sink_qid)
    assert f"\nsender: {sender}\n" in envelope, envelope
    assert f"\nrecipient: {rcpt}\n" in envelope, envelope
    (by_sink, by_mailseal, by_first), rest = headers_on_top(content, 3)
    date = r"\w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}"
    assert re.fullmatch(rf"Received: from gw\.test \(unknown \[127\.0\.0\.1\]\)\n\tby sink\.test \(Postfix\) "
                        rf"with {proto} id {sink_qid}\n\tfor <{re.escape(rcpt)}>; {date} \(UTC\)\n", by_sink), by_sink
    assert re.fullmatch(rf"Received: from {side_helo} \(\[127\.0\.0\.1\]\)\n\tby gw\.test \(mailseal\) "
                        rf"with {proto} id {mailseal_id}\n\tfor <{re.escape(rcpt)}>; {date}\n", by_mailseal), by_mailseal
    # Postfix names the recipient ("for <...>") only when the message has exactly one.
    for_rcpt = rf"\n\tfor <{re.escape(rcpt)}>; " if first_for else r";\n\t"
    assert re.fullmatch(rf"Received: from {client_helo} \(unknown \[127\.0\.0\.1\]\)\n\tby {first_hop}\.test "
                        rf"\(Postfix\) with {proto} id {first_qid}{for_rcpt}{date} \(UTC\)\n", by_first), by_first
    expected = original.replace(b"\r\n", b"\n")
    if rest != expected:
        i = next((k for k in range(min(len(rest), len(expected))) if rest[k] != expected[k]),
                 min(len(rest), len(expected)))
        pytest.fail(f"content differs at byte {i} (got {len(rest)} bytes, sent {len(expected)}): "
                    f"got {rest[max(0, i - 80):i + 80]!r}, sent {expected[max(0, i - 80):i + 80]!r}")


def submit_with_swaks(tmp_path, port, sender, rcpts, message):
    """Submits `message` (CRLF lines) exactly: the file ends in CRLF "." CRLF so that swaks
    neither adds a blank line nor changes anything else (it dot-stuffs on the wire)."""
    f = tmp_path / f"msg-{time.monotonic_ns()}.eml"
    f.write_bytes(message + b".\r\n")
    out = swaks(port, sender, ",".join(rcpts), f)
    m = re.search(r"<-  250 2\.0\.0 Ok: queued as (\w+)", out)
    assert m, out[-3000:]
    return m.group(1)


def headers(frm, to, subject, msgid):
    return (f"From: {frm}\r\nTo: {to}\r\nSubject: {subject}\r\n"
            f"Date: Mon, 01 Jan 2024 12:00:00 +0000\r\nMessage-ID: <{msgid}@client.test>\r\n").encode()


SEVEN_BIT = (headers("Alice <alice@example.org>", "Bob <bob@example.net>", "seven bit", "7bit")
             + b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
             b"Hello Bob,\r\n\r\n"
             b".a line starting with a dot\r\n"
             b"..two dots\r\n"
             b".\tdot tab\r\n"
             b" leading space and trailing space \r\n"
             b"From the start of a line (mbox would quote this)\r\n"
             + b"x" * 900 + b"\r\n"
             b"\r\n"
             b"-- \r\nAlice\r\n")


# -- 1. lan Postfix -> mailseal inside -> sink Postfix ----------------------------------------


def test_7bit_message_relayed_unchanged(chain, tmp_path):
    qid = submit_with_swaks(tmp_path, chain.lan.port, "alice@example.org", ["bob@example.net"], SEVEN_BIT)
    mailseal_id, sink_qid = relayed_via_mailseal(chain.lan, qid)
    check_delivered(chain.sink, sink_qid, mailseal_id, SEVEN_BIT, sender="alice@example.org",
                    rcpt="bob@example.net", client_helo="client.test", first_hop="lan", first_qid=qid,
                    proto="ESMTP", side_helo="lan.test")
    assert re.search(rf"msg id={mailseal_id} side=inside client=127\.0\.0\.1 from=<alice@example\.org> rcpts=1 "
                     rf"size=\d+ reply=\"250 2\.0\.0 Ok: {mailseal_id} relayed \(next hop: 250 2\.0\.0 Ok: "
                     rf"queued as {sink_qid}\)\" ms=\d+", chain.gw.log())


def test_8bit_utf8_message_with_smtputf8_addresses(chain):
    sender, rcpt = "ünïcode@example.org", "bjørn.müller@example.net"
    message = (headers(f"Ünïcode Test <{sender}>", f"Bjørn <{rcpt}>", "Grüße aus Köln ✉", "utf8")
               + "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
                 "Content-Transfer-Encoding: 8bit\r\n\r\n"
                 "Größenordnung: 8-bit body, not encoded.\r\n"
                 ".Ünicode line starting with a dot\r\n"
                 "日本語のテキスト, Ελληνικά, русский, emoji 📨\r\n".encode("utf-8"))
    s = smtplib.SMTP("127.0.0.1", chain.lan.port, local_hostname="client.test", timeout=30)
    try:
        s.ehlo()
        assert s.has_extn("smtputf8") and s.has_extn("8bitmime")
        assert s.mail(sender, ["SMTPUTF8", "BODY=8BITMIME"])[0] == 250
        assert s.rcpt(rcpt)[0] == 250
        code, text = s.data(message)  # smtplib dot-stuffs
        assert code == 250, text
        qid = re.search(rb"queued as (\w+)", text).group(1).decode()
    finally:
        s.quit()
    mailseal_id, sink_qid = relayed_via_mailseal(chain.lan, qid)
    # "UTF8SMTP" in all three Received headers: each hop used SMTPUTF8 (RFC 6531 4.3).
    check_delivered(chain.sink, sink_qid, mailseal_id, message, sender=sender, rcpt=rcpt,
                    client_helo="client.test", first_hop="lan", first_qid=qid, proto="UTF8SMTP",
                    side_helo="lan.test")
    # 8-bit stayed 8-bit: Postfix did not downgrade to quoted-printable toward mailseal.
    assert "encoding=8bit" in chain.sink.postcat(sink_qid, "-e").decode()


def test_20mb_message_relayed_unchanged(chain, tmp_path):
    line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-=+/.,;:!?()[]{}\r\n"
    body = bytearray()
    n = 0
    while len(body) < 20 * 1024 * 1024:
        body += (b"." if n % 1000 == 0 else b"") + b"%08d " % n + line
        n += 1
    message = headers("alice@example.org", "bob@example.net", "twenty megabytes", "20mb") + b"\r\n" + bytes(body)
    assert len(message) > 20 * 1024 * 1024
    t0 = time.monotonic()
    qid = submit_with_swaks(tmp_path, chain.lan.port, "alice@example.org", ["bob@example.net"], message)
    mailseal_id, sink_qid = relayed_via_mailseal(chain.lan, qid, timeout=90)
    check_delivered(chain.sink, sink_qid, mailseal_id, message, sender="alice@example.org",
                    rcpt="bob@example.net", client_helo="client.test", first_hop="lan", first_qid=qid,
                    proto="ESMTP", side_helo="lan.test")
    assert time.monotonic() - t0 < 60


# -- 2. next hop down: 4xx, Postfix defers, retry delivered once it is back ------------------


def test_next_hop_down_is_deferred_then_retried(tmp_path):
    sink = Postfix(tmp_path, "sink")  # its port is chosen, but nothing listens yet
    gw = Mailseal(tmp_path, inside_next_hop=smtp_next_hop(sink.port))
    lan = Postfix(tmp_path, "lan", relayhost=f"[127.0.0.1]:{gw.inside_port}")
    try:
        gw.start()
        lan.start()
        qid = submit_with_swaks(tmp_path, lan.port, "alice@example.org", ["bob@example.net"], SEVEN_BIT)
        # mailseal's 451 after the end of DATA makes Postfix defer (not bounce).
        m = lan.wait_log(rf"{qid}: to=<bob@example\.net>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:{gw.inside_port}, "
                         rf".*dsn=4\.4\.1, status=deferred \(host 127\.0\.0\.1\[127\.0\.0\.1\] said: "
                         rf"451 4\.4\.1 Next hop smtp 127\.0\.0\.1:{sink.port} not reachable "
                         rf"\(Connection refused\), try again later \(in reply to end of DATA command\)\)")
        # Kept in Postfix's queue with mailseal's reason. With the 1 s retry timers of this
        # instance the message moves between "deferred" and "incoming"/"active" on each
        # retry, so any queue counts as long as the 4.4.1 reason is recorded.
        entries = lan.wait_queue(lambda q: any(
            e["queue_id"] == qid and "451 4.4.1" in e["recipients"][0].get("delay_reason", "") for e in q))
        entry = next(e for e in entries if e["queue_id"] == qid)
        assert "451 4.4.1" in entry["recipients"][0]["delay_reason"], entry
        assert "bounced" not in lan.log()
        assert re.search(r"side=inside .* reply=\"451 4\.4\.1 Next hop smtp 127\.0\.0\.1:\d+ not reachable", gw.log())

        # The next hop comes back; `postfix flush` makes the lan Postfix retry now.
        sink.start()
        log_pos = m.end()
        lan.flush()
        mailseal_id, sink_qid = relayed_via_mailseal(lan, qid, timeout=30)
        assert lan.log().find("status=sent", log_pos) > 0
        check_delivered(sink, sink_qid, mailseal_id, SEVEN_BIT, sender="alice@example.org",
                        rcpt="bob@example.net", client_helo="client.test", first_hop="lan", first_qid=qid,
                        proto="ESMTP", side_helo="lan.test")
        lan.wait_queue(lambda q: not any(e["queue_id"] == qid for e in q))
        assert len(sink.queue_entries()) == 1  # delivered once, not duplicated
    finally:
        lan.stop()
        gw.stop()
        sink.stop()


# -- 3. outside listener fed by an Internet peer Postfix --------------------------------------


def test_outside_refuses_external_and_delivers_internal_recipient(chain, tmp_path):
    message = headers("Carol <carol@peer.test>", "Bob <bob@example.org>, Victim <victim@example.com>",
                      "inbound", "inbound") + b"\r\nHello from the Internet.\r\n.leading dot\r\n"
    qid = submit_with_swaks(tmp_path, chain.peer.port, "carol@peer.test",
                            ["victim@example.com", "bob@example.org"], message)
    # Non-internal recipient: refused at RCPT with 550 5.7.1, so the peer bounces it.
    chain.peer.wait_log(rf"{qid}: to=<victim@example\.com>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:{chain.gw.outside_port}, "
                        rf".*dsn=5\.7\.1, status=bounced \(host 127\.0\.0\.1\[127\.0\.0\.1\] said: 550 5\.7\.1 "
                        rf".*\(in reply to RCPT TO command\)\)")
    chain.peer.wait_log(rf"{qid}: sender non-delivery notification: \w+")
    # Internal recipient of the same message: delivered.
    mailseal_id, sink_qid = relayed_via_mailseal(chain.peer, qid)
    check_delivered(chain.sink, sink_qid, mailseal_id, message, sender="carol@peer.test",
                    rcpt="bob@example.org", client_helo="client.test", first_hop="peer", first_qid=qid,
                    proto="ESMTP", side_helo="peer.test", first_for=False)
    assert "victim@example.com" not in chain.sink.postcat(sink_qid, "-e").decode().split("*** MESSAGE CONTENTS")[0]
    assert re.search(rf"msg id={mailseal_id} side=outside client=127\.0\.0\.1 from=<carol@peer\.test> rcpts=1 ",
                     chain.gw.log())


# -- 4. 8-bit content toward a next hop without 8BITMIME (Postfix's smtp-sink -8) ------------


@pytest.mark.skipif(not os.access("/usr/sbin/smtp-sink", os.X_OK), reason="/usr/sbin/smtp-sink is not installed")
def test_8bit_body_not_sent_to_next_hop_without_8bitmime(tmp_path):
    """RFC 6152 3: 8-bit content must not reach a next hop that does not announce
    8BITMIME. mailseal does no MIME downgrade, so it refuses with 554 5.6.3; a message
    merely declared BODY=8BITMIME but 7-bit in fact is relayed, without BODY=."""
    port = free_port()
    transcript = tmp_path / "smtp-sink.out"
    with open(transcript, "wb") as out:
        sink = subprocess.Popen(["/usr/sbin/smtp-sink", "-u", "postfix", "-8", "-v", f"127.0.0.1:{port}", "10"],
                                stdout=out, stderr=subprocess.STDOUT)
    gw = Mailseal(tmp_path, inside_next_hop=smtp_next_hop(port))
    try:
        wait_port(port)
        gw.start()
        c = SmtpClient(gw.inside_port)
        assert c.reply()[0] == 220
        assert c.cmd("EHLO client.test")[0] == 250
        for body, expected in ((b"Subject: 8bit\r\n\r\nGr\xc3\xbc\xc3\x9fe\r\n", (554, "5.6.3")),
                               (b"Subject: 7bit\r\n\r\nplain ascii\r\n", (250, "2.0.0"))):
            assert c.cmd("MAIL FROM:<a@example.org> BODY=8BITMIME")[0] == 250
            assert c.cmd("RCPT TO:<b@example.net>")[0] == 250
            assert c.cmd("DATA")[0] == 354
            c.send(body + b".\r\n")
            code, text = c.reply()
            assert (code, text.split()[1]) == expected, text
        c.cmd("QUIT")
        c.close()
        mails = re.findall(r"MAIL FROM:<a@example.org>.*", transcript.read_text(errors="replace"))
        assert mails == ["MAIL FROM:<a@example.org>"], transcript.read_text(errors="replace")
    finally:
        gw.stop()
        sink.terminate()
        sink.wait(10)
