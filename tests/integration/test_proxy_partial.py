"""Proxy mode when the next hop takes some recipients of a message and refuses others
after mailseal had accepted them at RCPT: the client cannot be told "try again" (the
delivered recipients would get it twice) nor "done" for the rest, so the refused
recipients go to the queue: retried, or bounced with a DSN if the refusal is permanent.
Nothing is lost and nothing is delivered twice."""

import re

import pytest

from harness import Mailseal, PySink
from queue_helpers import FAST_RETRY, mailbox, message, send, spool_files, status, wait_until


@pytest.fixture
def sink():
    s = PySink().start()
    yield s
    s.stop()


def proxy_gateway(tmp, sink):
    return Mailseal(tmp, inside_next_hop=sink.next_hop(), extra=FAST_RETRY)


def delivered_to(sink, rcpt):
    return [m for m in sink.messages if rcpt in m["rcpt"]]


def test_transiently_refused_recipient_is_queued_and_delivered_once(tmp_path, sink):
    sink.rcpt_replies["carol@example.net"] = "451 4.2.1 <carol@example.net>: mailbox busy"
    with proxy_gateway(tmp_path, sink) as gw:
        r = send(gw.inside_port, "alice@example.org", ["bob@example.net", "carol@example.net"],
                 message("partial"))
        assert status(r) == (250, "2.0.0"), r
        m = re.search(r"relayed to 1 of 2 recipients, the others queued as (\S+)", r[1])
        assert m, r
        assert "queued for retry: 451 4.2.1" in gw.log()
        # bob now; carol once the next hop takes her, from the spool.
        wait_until(lambda: delivered_to(sink, "bob@example.net"), what="bob's copy")
        wait_until(lambda: "status=deferred" in gw.log(), what="a deferred retry of carol")
        del sink.rcpt_replies["carol@example.net"]
        wait_until(lambda: delivered_to(sink, "carol@example.net"), timeout=20, what="carol's copy")
        wait_until(lambda: not spool_files(gw), what="spool emptied")
        assert len(delivered_to(sink, "bob@example.net")) == 1
        assert len(delivered_to(sink, "carol@example.net")) == 1
        [carol] = delivered_to(sink, "carol@example.net")
        assert carol["rcpt"] == ["carol@example.net"] and b"Subject: partial" in carol["data"]
        assert mailbox(gw, "alice@example.org") == [], "no DSN for a retried success"


def test_permanently_refused_recipient_is_bounced_not_dropped(tmp_path, sink):
    sink.rcpt_replies["carol@example.net"] = "550 5.1.1 <carol@example.net>: Recipient address rejected"
    with proxy_gateway(tmp_path, sink) as gw:
        r = send(gw.inside_port, "alice@example.org", ["bob@example.net", "carol@example.net"],
                 message("partial-bounce"))
        assert status(r) == (250, "2.0.0") and "relayed to 1 of 2 recipients" in r[1], r
        wait_until(lambda: mailbox(gw, "alice@example.org"), timeout=20, what="the DSN")
        [dsn] = mailbox(gw, "alice@example.org")
        assert b"Final-Recipient: rfc822; carol@example.net\r\nAction: failed\r\nStatus: 5.1.1" in dsn
        assert b"Subject: partial-bounce" in dsn
        wait_until(lambda: not spool_files(gw), what="spool emptied")
        assert len(delivered_to(sink, "bob@example.net")) == 1
        assert delivered_to(sink, "carol@example.net") == []


def test_all_refused_is_still_answered_with_the_refusal(tmp_path, sink):
    """Nothing was delivered: the client gets the failure itself (and retries or bounces),
    nothing is queued."""
    sink.rcpt_replies["bob@example.net"] = "451 4.2.1 busy"
    with proxy_gateway(tmp_path, sink) as gw:
        r = send(gw.inside_port, "alice@example.org", ["bob@example.net"], message("none"))
        assert status(r) == (451, "4.2.1"), r
        assert not spool_files(gw)
