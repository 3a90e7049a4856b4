"""Large messages in proxy mode: the sealed (and the opened) copy goes to the next hop
while it is still being written (server/copy_stream). It must arrive whole and open to the
very bytes that were sent; and when sealing fails after the copy was started (here: the spill directory
fills up), the next-hop transaction is dropped before the final dot, the next hop has no
message, and the client gets the 452 4.3.1 that tells it to send again: nothing lost,
nothing half-delivered."""

import base64
import os
import subprocess

import pytest

from harness import MAILSEAL_BIN, Mailseal, PySink, small_tmpfs
from queue_helpers import send, status


@pytest.fixture
def sink():
    s = PySink().start()
    yield s
    s.stop()


def keys(gw, *args):
    r = subprocess.run([MAILSEAL_BIN, "keys", "-c", str(gw.config_path), *args],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def seal_gateway(tmp_path, sink, fmt="smime"):
    seal = '[seal]\nformats = ["openpgp"]\n' if fmt == "openpgp" else "[seal]\n"
    gw = Mailseal(tmp_path, inside_next_hop=sink.next_hop(), outside_next_hop=sink.next_hop(),
                  extra=seal + "[open]\n", inside='max_message_size = "50M"\n',
                  outside='max_message_size = "50M"\n')
    keys(gw, "init")
    if fmt == "openpgp":
        keys(gw, "generate", "alice@example.org", "--openpgp")
        keys(gw, "generate", "bob@example.org", "--openpgp")
    else:
        keys(gw, "ca", "init", "--domain", "example.org")
        keys(gw, "generate", "alice@example.org")
        keys(gw, "generate", "bob@example.org")
    return gw


def attachment_message(subject, size):
    """A message whose body is `size` bytes of base64 (76-character lines) of random data,
    with CRLF line ends, as a client sends it."""
    raw = os.urandom(size * 3 // 4)
    b64 = base64.encodebytes(raw).decode().replace("\n", "\r\n")
    head = (f"From: <alice@example.org>\r\nTo: <bob@example.org>\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject}@t>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n")
    return head + b64, b64


@pytest.mark.parametrize("fmt", ["smime", "openpgp"])
def test_large_copy_streamed_to_the_next_hop_arrives_whole_and_opens(tmp_path, sink, fmt):
    gw = seal_gateway(tmp_path, sink, fmt)
    with gw:
        msg, b64 = attachment_message("big", 3 * 1024 * 1024)  # spills: the streamed path
        r = send(gw.inside_port, "alice@example.org", ["bob@example.org"], msg)
        assert status(r) == (250, "2.0.0"), r
        [sealed] = sink.wait_messages(1)
        data = sealed["data"]
        sealed_as = b"application/pgp-encrypted" if fmt == "openpgp" else b"application/pkcs7-mime"
        assert sealed_as in data and b64[:76].encode() not in data
        # The sealed copy, opened by the same gateway's outside side (streamed as well):
        # the original bytes, verified.
        r = send(gw.outside_port, "alice@example.org", ["bob@example.org"], data.decode())
        assert status(r) == (250, "2.0.0"), r
        opened = sink.wait_messages(2)[1]["data"]
        assert b"verdict=valid" in opened
        assert (b"format=openpgp" in opened) == (fmt == "openpgp")
        assert opened.endswith(b64.encode())
    assert gw.log().count("relayed (next hop: 250") == 2


@pytest.fixture
def small_spill_dir(tmp_path):
    with small_tmpfs(tmp_path / "state" / "tmp", "6m") as spill:
        yield spill


def test_sealing_failing_after_the_copy_was_started_delivers_nothing(tmp_path, sink,
                                                                     small_spill_dir):
    gw = seal_gateway(tmp_path, sink)
    with gw:
        # 3.5 MB received fits the 6 MB spill directory; its sealed copy (~4.8 MB) does
        # not: the seal fails part way, after the next hop was given the copy.
        msg, _ = attachment_message("too-big-to-seal", 3584 * 1024)
        r = send(gw.inside_port, "alice@example.org", ["bob@example.org"], msg)
        assert status(r) == (452, "4.3.1"), r
        assert sink.connections == 1, "the copy was being sent while sealed"
        assert sink.messages == [], "a copy dropped before its final dot is not delivered"
        assert "insufficient storage" in gw.log()
        # The gateway goes on: a message that fits is sealed and delivered.
        msg, _ = attachment_message("fits", 1024 * 1024)
        r = send(gw.inside_port, "alice@example.org", ["bob@example.org"], msg)
        assert status(r) == (250, "2.0.0"), r
        [got] = sink.wait_messages(1)
        assert b"application/pkcs7-mime" in got["data"]
