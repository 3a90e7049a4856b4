"""Queue mode over real sockets: 250 only after the spool has the message, delivery
later, retries, bounces (RFC 3464 DSNs) with the remote reply quoted, partial success,
expiry, delay warnings, next-hop faults, and the `mailseal queue` command."""

import re
import time

import pytest

from harness import PySink
from queue_helpers import (mailbox, message, queue_cmd, queue_gateway, queue_ids, send,
                           spool_files, status, wait_until)


@pytest.fixture
def sink():
    s = PySink().start()
    yield s
    s.stop()


def test_accepted_message_is_queued_then_delivered(tmp_path, sink):
    with queue_gateway(tmp_path, sink) as gw:
        r = send(gw.inside_port, "alice@example.org", ["bob@example.net"], message("q1"))
        assert status(r) == (250, "2.0.0")
        [qid] = queue_ids(r)
        got = sink.wait_messages(1)
        assert got[0]["rcpt"] == ["bob@example.net"]
        assert b"Subject: q1" in got[0]["data"]
        assert f"id {qid}".encode() in got[0]["data"], "queue id in the trace header"
        wait_until(lambda: not spool_files(gw), what="spool emptied")
        assert f"queue id={qid} to=<bob@example.net>" in gw.log()
        assert "status=sent" in gw.log()


def test_next_hop_down_keeps_the_message_until_it_returns(tmp_path):
    sink = PySink()  # not started: the next hop refuses connections
    with queue_gateway(tmp_path, sink) as gw:
        [qid] = queue_ids(send(gw.inside_port, "alice@example.org", ["bob@example.net"],
                               message("down")))
        wait_until(lambda: "status=deferred" in gw.log(), what="a deferred attempt")
        listing = queue_cmd(gw, "list").stdout
        assert qid in listing and "pending: 451 4.4.1" in listing, listing
        assert re.search(r"-- 1 messages \(1 active, 0 held\)", listing), listing
        sink.start()
        try:
            got = sink.wait_messages(1, timeout=20)
            assert b"Subject: down" in got[0]["data"]
            wait_until(lambda: not spool_files(gw), what="spool emptied")
        finally:
            sink.stop()


def test_transient_refusal_is_retried_and_delivered_once(tmp_path, sink):
    sink.data_reply = "451 4.3.0 Try again later"
    with queue_gateway(tmp_path, sink) as gw:
        send(gw.inside_port, "alice@example.org", ["bob@example.net"], message("retry"))
        wait_until(lambda: "status=deferred" in gw.log(), what="a deferred attempt")
        sink.data_reply = "250 2.0.0 Ok"
        got = sink.wait_messages(1, timeout=20)
        wait_until(lambda: not spool_files(gw), what="spool emptied")
        assert len(sink.messages) == 1 and b"Subject: retry" in got[0]["data"]
        assert mailbox(gw, "alice@example.org") == [], "no DSN for a retried success"


def test_permanent_refusal_bounces_with_the_remote_reply_quoted(tmp_path, sink):
    sink.rcpt_replies["bob@example.net"] = "550 5.1.1 <bob@example.net>: Recipient address rejected"
    with queue_gateway(tmp_path, sink) as gw:
        [qid] = queue_ids(send(gw.inside_port, "alice@example.org",
                               ["bob@example.net", "carol@example.net"], message("bounce")))
        wait_until(lambda: mailbox(gw, "alice@example.org"), what="the DSN")
        [dsn] = mailbox(gw, "alice@example.org")
        assert b"Content-Type: multipart/report; report-type=delivery-status" in dsn
        assert b"Final-Recipient: rfc822; bob@example.net\r\nAction: failed\r\nStatus: 5.1.1" in dsn
        assert b"Diagnostic-Code: smtp; 550 5.1.1 Next hop refused the recipient: <bob@example.net>: Recipient address rejected" in dsn
        assert b"carol@example.net" not in dsn.split(b"message/delivery-status")[1].split(b"rfc822-headers")[0]
        assert b"Subject: bounce" in dsn, "original headers attached"
        # Partial success: carol got the message once.
        got = sink.wait_messages(1)
        assert got[0]["rcpt"] == ["carol@example.net"]
        wait_until(lambda: not spool_files(gw), what="spool emptied")
        assert f"queue id={qid} failure DSN" in gw.log()


def test_no_dsn_to_the_null_sender(tmp_path, sink):
    sink.rcpt_replies["bob@example.net"] = "550 5.1.1 unknown"
    with queue_gateway(tmp_path, sink) as gw:
        send(gw.inside_port, "", ["bob@example.net"], message("null", sender="MAILER-DAEMON@example.org"))
        wait_until(lambda: not spool_files(gw), what="spool emptied")
        assert "null sender: no DSN" in gw.log()
        assert list(tmp_path.glob("mail/*/new/*")) == [], "nothing delivered inbound"


def test_connection_dropped_mid_data_is_retried(tmp_path, sink):
    sink.on_data = "drop"
    with queue_gateway(tmp_path, sink) as gw:
        r = send(gw.inside_port, "alice@example.org", ["bob@example.net"],
                 message("drop", text=("x" * 70 + "\n") * 100))
        assert r[0] == 250, r
        wait_until(lambda: "status=deferred (451 4.4.2" in gw.log(), what="4.4.2 deferral")
        sink.on_data = "normal"
        sink.wait_messages(1, timeout=20)
        wait_until(lambda: not spool_files(gw), what="spool emptied")


def test_next_hop_slower_than_the_timeout_is_retried(tmp_path, sink):
    sink.delay = 4
    with queue_gateway(tmp_path, sink, next_hop_extra="data_timeout = 1\n") as gw:
        send(gw.inside_port, "alice@example.org", ["bob@example.net"], message("slow"))
        wait_until(lambda: "timed out" in gw.log(), timeout=20, what="a timeout")
        assert "status=deferred (451 4.4.2" in gw.log()
        sink.delay = 0
        wait_until(lambda: not spool_files(gw), timeout=30, what="spool emptied")


def test_delay_warning_then_expiry_bounce(tmp_path):
    sink = PySink()  # never started
    extra = "[queue]\nretry_min = 1\nretry_max = 1\nwarn_after = 1\nlifetime = 4\n"
    with queue_gateway(tmp_path, sink, queue_extra=extra) as gw:
        send(gw.inside_port, "alice@example.org", ["bob@example.net"], message("expire"))
        wait_until(lambda: len(mailbox(gw, "alice@example.org")) >= 2, timeout=30,
                   what="delay warning and failure DSN")
        warning, failure = mailbox(gw, "alice@example.org")[:2]
        if b"Action: delayed" not in warning:
            warning, failure = failure, warning
        assert b"Action: delayed\r\nStatus: 4.4.1" in warning
        assert b"Action: failed\r\nStatus: 4.4.7" in failure
        assert b"Delivery time expired" in failure and b"4.4.1" in failure
        wait_until(lambda: not spool_files(gw), what="spool emptied")
        assert len(mailbox(gw, "alice@example.org")) == 2, "one warning only"


def test_queue_command_hold_release_delete_show(tmp_path):
    sink = PySink()
    with queue_gateway(tmp_path, sink) as gw:
        [a] = queue_ids(send(gw.inside_port, "alice@example.org", ["bob@example.net"], message("held")))
        [b] = queue_ids(send(gw.inside_port, "alice@example.org", ["bob@example.net"], message("deleted")))
        show = queue_cmd(gw, "show", a).stdout
        assert "from <alice@example.org>" in show and "Subject: held" in show
        assert "hello" not in show, "show prints headers, never the body"
        assert "held" in queue_cmd(gw, "hold", a).stdout
        assert spool_files(gw, "hold") == [a]
        assert "deleted" in queue_cmd(gw, "delete", b).stdout
        assert queue_cmd(gw, "delete", b, check=False).returncode == 1
        assert queue_cmd(gw, "show", "../../etc/passwd", check=False).returncode == 1
        sink.start()
        try:
            queue_cmd(gw, "flush")
            time.sleep(2)
            assert sink.messages == [], "held and deleted messages are not delivered"
            assert "(held)" in queue_cmd(gw, "list").stdout
            queue_cmd(gw, "release", a)
            got = sink.wait_messages(1, timeout=10)
            assert b"Subject: held" in got[0]["data"]
            wait_until(lambda: not spool_files(gw) and not spool_files(gw, "hold"), what="empty")
        finally:
            sink.stop()


def test_restart_delivers_what_was_queued(tmp_path):
    sink = PySink()
    gw = queue_gateway(tmp_path, sink)
    gw.start()
    ids = [queue_ids(send(gw.inside_port, "alice@example.org", ["bob@example.net"],
                          message(f"restart{i}")))[0] for i in range(5)]
    gw.stop()
    assert sorted(spool_files(gw)) == sorted(ids)
    sink.start()
    try:
        gw.start()
        sink.wait_messages(5, timeout=20)
        wait_until(lambda: not spool_files(gw), what="spool emptied")
        assert "queue: 5 messages waiting" in gw.log()
    finally:
        gw.stop()
        sink.stop()


def test_damaged_queue_file_is_set_aside(tmp_path):
    sink = PySink()
    gw = queue_gateway(tmp_path, sink)
    gw.start()
    [qid] = queue_ids(send(gw.inside_port, "alice@example.org", ["bob@example.net"], message("bad")))
    gw.stop()
    f = gw.state / "queue" / "active" / qid
    f.write_bytes(f.read_bytes()[:-5])
    sink.start()
    try:
        gw.start()
        wait_until(lambda: spool_files(gw, "corrupt") == [qid], what="moved to corrupt/")
        assert f"queue id={qid} damaged (truncated" in gw.log()
        assert sink.messages == []
    finally:
        gw.stop()
        sink.stop()


def test_outbound_spool_holds_only_sealed_output(tmp_path):
    """Sealing happens before the DATA reply: what waits in the outbound spool is the
    S/MIME message, never the plain text the LAN sent."""
    import subprocess
    from harness import MAILSEAL_BIN, Mailseal

    sink = PySink()  # down: the message has to wait in the spool
    gw = Mailseal(tmp_path, inside='mode = "queue"\n', inside_next_hop=sink.next_hop(),
                  extra="[seal]\n[queue]\nretry_min = 1\nretry_max = 1\n")

    def keys(*args):
        r = subprocess.run([MAILSEAL_BIN, "keys", "-c", str(gw.config_path), *args],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr

    keys("init")
    keys("ca", "init", "--domain", "example.org")
    keys("generate", "alice@example.org")
    keys("generate", "--self-signed", "bob@example.net")
    with gw:
        secret = "TOP-SECRET-LINE-4711"
        [qid] = queue_ids(send(gw.inside_port, "alice@example.org", ["bob@example.net"],
                               message("sealed", text=secret + "\n")))
        spooled = (gw.state / "queue" / "active" / qid).read_bytes()
        assert b"application/pkcs7-mime" in spooled
        assert secret.encode() not in spooled
        sink.start()
        try:
            queue_cmd(gw, "flush")
            got = sink.wait_messages(1, timeout=20)
            assert b"application/pkcs7-mime" in got[0]["data"]
            assert secret.encode() not in got[0]["data"]
        finally:
            sink.stop()
