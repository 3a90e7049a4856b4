"""200 concurrent client sessions through the proxy to a Python next hop: every session
completes without error and every message arrives exactly once."""

import threading

from harness import SmtpClient, status

SESSIONS = 200


def test_200_concurrent_sessions(gateway, sink):
    # The next hop sees up to 200 connections at once too; let its kernel queue hold them
    # (socketserver listens with a backlog of 5).
    sink.server.socket.listen(512)
    all_greeted = threading.Barrier(SESSIONS, timeout=60)
    errors = []

    def one(i):
        try:
            c = SmtpClient(gateway.inside_port, timeout=60)
            assert status(c.reply()) == (220, "")
            # Every session is open (and greeted) before any sends mail.
            all_greeted.wait()
            assert c.cmd(f"EHLO c{i}.test")[0] == 250
            assert status(c.cmd(f"MAIL FROM:<s{i}@example.org>")) == (250, "2.1.0")
            assert status(c.cmd(f"RCPT TO:<r{i}@example.net>")) == (250, "2.1.5")
            assert c.cmd("DATA")[0] == 354
            c.send(f"Subject: message {i}\r\n\r\n".encode() + b"line\r\n" * 200 + b".\r\n")
            r = c.reply()
            assert status(r) == (250, "2.0.0"), r
            assert status(c.cmd("QUIT")) == (221, "2.0.0")
            c.close()
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append((i, repr(e)))
            all_greeted.abort()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(SESSIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[:5]
    msgs = sink.wait_messages(SESSIONS)
    assert len(msgs) == SESSIONS
    assert sorted(m["rcpt"][0] for m in msgs) == sorted(f"r{i}@example.net" for i in range(SESSIONS))
    for m in msgs:
        n = m["rcpt"][0][1:].split("@")[0]
        assert f"Subject: message {n}\r\n".encode() in m["data"]
        assert m["data"].endswith(b"line\r\n" * 200)
    assert gateway.proc.poll() is None
