"""A full spool (a small tmpfs mounted by the test): new mail gets 452 4.3.1 and a log line
saying why, nothing already queued is lost, and once space returns mail is accepted again
and everything is delivered. Needs root (mount); skipped with a message otherwise."""

import subprocess

import pytest

from harness import PySink, small_tmpfs
from queue_helpers import message, queue_cmd, queue_gateway, queue_ids, send, spool_files, status, wait_until


@pytest.fixture
def small_spool(tmp_path):
    with small_tmpfs(tmp_path / "state" / "queue", "2m") as spool:
        yield spool


def test_full_spool_refuses_with_452_and_loses_nothing(tmp_path, small_spool):
    sink = PySink()  # down for now: everything stays queued
    with queue_gateway(tmp_path, sink) as gw:
        text = ("y" * 70 + "\n") * 200  # ~14 KB
        queued = [queue_ids(send(gw.inside_port, "alice@example.org", ["bob@example.net"],
                                 message(f"before{i}", text=text)))[0] for i in range(3)]
        filler = small_spool / "filler"
        subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k"], capture_output=True)
        r = send(gw.inside_port, "alice@example.org", ["bob@example.net"],
                 message("full", text=text))
        assert status(r) == (452, "4.3.1"), r
        assert "cannot queue: No space left on device" in gw.log()
        assert sorted(spool_files(gw)) == sorted(queued)
        assert "-- 3 messages" in queue_cmd(gw, "list").stdout

        filler.unlink()
        [after] = queue_ids(send(gw.inside_port, "alice@example.org", ["bob@example.net"],
                                 message("after", text=text)))
        sink.start()
        try:
            queue_cmd(gw, "flush")
            got = sink.wait_messages(4, timeout=30)
            subjects = sorted(m["data"].split(b"Subject: ")[1].split(b"\r\n")[0] for m in got)
            assert subjects == [b"after", b"before0", b"before1", b"before2"]
            wait_until(lambda: not spool_files(gw), what="spool emptied")
            assert after not in spool_files(gw)
        finally:
            sink.stop()
