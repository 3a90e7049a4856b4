"""Shared pieces of the queue-mode tests: a gateway whose inside side queues toward a
scriptable sink, one-call message submission, and the `mailseal queue` command."""

import subprocess
import time
from pathlib import Path

from harness import MAILSEAL_BIN, Mailseal, SmtpClient, status

FAST_RETRY = """
[queue]
retry_min = 1
retry_max = 2
"""


def queue_gateway(tmp, sink, queue_extra=FAST_RETRY, inside_extra="", next_hop_extra="",
                  server=""):
    """Inside side in queue mode toward `sink`; the outside side (where DSNs to internal
    senders go) delivers into Maildirs <tmp>/mail/<address>."""
    return Mailseal(tmp, inside='mode = "queue"\n' + inside_extra, server=server,
                    inside_next_hop=sink.next_hop(extra=next_hop_extra), extra=queue_extra)


def send(port, sender, rcpts, body, expect_rcpt=250):
    """One SMTP transaction; returns the final (code, text) of DATA (or of a refusal)."""
    c = SmtpClient(port)
    try:
        c.reply()
        c.cmd("EHLO client.test")
        r = c.cmd(f"MAIL FROM:<{sender}>")
        if r[0] != 250:
            return r
        for rc in rcpts:
            r = c.cmd(f"RCPT TO:<{rc}>")
            assert r[0] == expect_rcpt, r
        r = c.cmd("DATA")
        if r[0] != 354:
            return r
        c.send(body.replace("\n", "\r\n") + ".\r\n" if not body.endswith("\r\n") else body + ".\r\n")
        r = c.reply()
        c.cmd("QUIT")
        return r
    finally:
        c.close()


def message(subject="test", sender="alice@example.org", to="bob@example.net", text="hello\n"):
    return (f"From: <{sender}>\nTo: <{to}>\nSubject: {subject}\nMessage-ID: <{subject}@t>\n\n{text}")


def queue_cmd(gw, *args, check=True):
    r = subprocess.run([MAILSEAL_BIN, "queue", "-c", str(gw.config_path), *map(str, args)],
                       capture_output=True, text=True, timeout=30)
    if check:
        assert r.returncode == 0, f"queue {args}: {r.stdout}{r.stderr}"
    return r


def queue_ids(reply):
    code, text = reply
    assert code == 250 and "queued as" in text, reply
    return text.split("queued as", 1)[1].split()


def spool_files(gw, folder="active"):
    d = Path(gw.state) / "queue" / folder
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


def wait_until(predicate, timeout=30, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise TimeoutError(f"timed out waiting for {what}")


def mailbox(gw, address):
    new = Path(gw.tmp) / "mail" / address / "new"
    return [p.read_bytes() for p in sorted(new.iterdir())] if new.exists() else []


__all__ = ["FAST_RETRY", "queue_gateway", "send", "message", "queue_cmd", "queue_ids",
           "spool_files", "wait_until", "mailbox", "status"]
