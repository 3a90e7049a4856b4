"""Next-hop sessions kept for the next message (connection_cache): one SMTP session
carries many messages, an idle one is ended with QUIT, and a session the next hop closed
while idle (with or without Postfix's "421 timeout exceeded") costs nothing: the message
goes over a new connection and the client never sees the difference."""

import time

import pytest

from harness import Mailseal, PySink
from queue_helpers import message, send


@pytest.fixture
def sink():
    s = PySink().start()
    yield s
    s.stop()


def gateway(tmp_path, sink, hop_extra):
    return Mailseal(tmp_path, inside_next_hop=sink.next_hop(extra=hop_extra))


def wait_for(predicate, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_one_session_carries_many_messages_and_ends_with_quit(tmp_path, sink):
    with gateway(tmp_path, sink, 'connection_cache_time = "1s"\n') as gw:
        for i in range(5):
            code, text = send(gw.inside_port, "a@example.org", ["b@example.net"], message(f"m{i}"))
            assert code == 250, text
        assert len(sink.wait_messages(5)) == 5
        assert sink.connections == 1
        assert sink.quits == 0  # still kept
        # Idle for connection_cache_time: mailseal says goodbye.
        assert wait_for(lambda: sink.quits == 1 and not sink.open_sockets, 5.0), \
            (sink.quits, len(sink.open_sockets))


def test_without_the_cache_every_message_has_its_own_session(tmp_path, sink):
    with gateway(tmp_path, sink, "connection_cache = false\n") as gw:
        for i in range(3):
            assert send(gw.inside_port, "a@example.org", ["b@example.net"], message(f"m{i}"))[0] == 250
        assert len(sink.wait_messages(3)) == 3
        assert wait_for(lambda: sink.quits == 3)
        assert sink.connections == 3


@pytest.mark.parametrize("idle_reply", [None, "421 4.4.2 sink.test Error: timeout exceeded"])
def test_a_session_the_next_hop_closed_while_idle_loses_nothing(tmp_path, sink, idle_reply):
    sink.idle_timeout = 0.5
    sink.idle_reply = idle_reply
    with gateway(tmp_path, sink, 'connection_cache_time = "30s"\n') as gw:
        assert send(gw.inside_port, "a@example.org", ["b@example.net"], message("first"))[0] == 250
        assert wait_for(lambda: sink.idle_closed == 1)
        code, text = send(gw.inside_port, "a@example.org", ["c@example.net"], message("second"))
        assert code == 250, text
        got = sink.wait_messages(2)
        assert [m["rcpt"] for m in got] == [["b@example.net"], ["c@example.net"]]
        assert sink.connections == 2
        assert "4.4.2" not in gw.log(), "the closed session must not surface as a failure"


def test_a_stopped_next_hop_is_not_reached_through_a_kept_session(tmp_path, sink):
    with gateway(tmp_path, sink, 'connection_cache_time = "30s"\n') as gw:
        assert send(gw.inside_port, "a@example.org", ["b@example.net"], message("first"))[0] == 250
        sink.stop()
        code, text = send(gw.inside_port, "a@example.org", ["b@example.net"], message("second"))
        assert code == 451 and "4.4.1" in text, text  # not reachable: the kept one was closed
        assert len(sink.messages) == 1
    sink.start()  # the fixture stops it again
