"""Direct delivery in queue mode against a real DNS server (NSD on loopback): MX
preference order with fallback to the next MX, implicit MX, null MX and NXDOMAIN
bounces, a dead resolver (deferral, no bounce), and DANE (RFC 7672) from a signed zone:
a matching TLSA record authenticates the MX, a wrong one keeps the mail queued."""

import ssl
import subprocess

import pytest

from dns_harness import DnsServer, SilentServer, tlsa_3_1_1
from harness import PySink, free_port
from queue_helpers import mailbox, message, queue_ids, send, spool_files, wait_until


def mx_gateway(tmp, port, dns_toml, tls="opportunistic"):
    from harness import Mailseal
    tmp.mkdir(exist_ok=True)
    return Mailseal(tmp, inside='mode = "queue"\n',
                    inside_next_hop=f'kind = "mx"\nport = {port}\ntls = "{tls}"\n'
                                    'connect_timeout = 3\n',
                    extra="[queue]\nretry_min = 1\nretry_max = 2\n" + dns_toml)


@pytest.fixture
def port():
    return free_port()


def test_mx_preference_order_and_fallback(tmp_path, port):
    # mx1 (preference 10) has nothing listening; mx2 (20) takes the mail; mx3 (30) never.
    second = PySink(port, host="127.0.0.3").start()
    third = PySink(port, host="127.0.0.1").start()
    records = ["@ MX 30 mx3", "@ MX 10 mx1", "@ MX 20 mx2",
               "mx1 A 127.0.0.2", "mx2 A 127.0.0.3", "mx3 A 127.0.0.1"]
    try:
        with DnsServer(zone="example.net", records=records) as dns, \
                mx_gateway(tmp_path, port, dns.toml()) as gw:
            r = send(gw.inside_port, "alice@example.org", ["bob@example.net"], message("mx"))
            queue_ids(r)
            got = second.wait_messages(1, timeout=20)
            assert got[0]["rcpt"] == ["bob@example.net"]
            wait_until(lambda: not spool_files(gw), what="spool emptied")
            assert third.messages == [], "a less preferred MX got the mail"
            assert "host mx1.example.net failed" in gw.log()
    finally:
        second.stop()
        third.stop()


def test_implicit_mx_null_mx_and_nxdomain(tmp_path, port):
    sink = PySink(port).start()
    zones = {"implicit.example": ["@ A 127.0.0.1"],
             "nullmx.example": ["@ MX 0 ."]}
    try:
        with DnsServer(zone="example.net", records=["@ MX 10 mx", "mx A 127.0.0.1"],
                       zones=zones) as dns, mx_gateway(tmp_path, port, dns.toml()) as gw:
            send(gw.inside_port, "alice@example.org", ["carol@implicit.example"], message("implicit"))
            got = sink.wait_messages(1, timeout=20)
            assert got[0]["rcpt"] == ["carol@implicit.example"]

            send(gw.inside_port, "alice@example.org",
                 ["dave@nullmx.example", "erin@nosuch.example.net"], message("nowhere"))
            wait_until(lambda: mailbox(gw, "alice@example.org"), what="the DSN")
            wait_until(lambda: not spool_files(gw), what="spool emptied")
            dsns = b"".join(mailbox(gw, "alice@example.org"))
            assert b"Final-Recipient: rfc822; dave@nullmx.example\r\nAction: failed\r\nStatus: 5.1.10" in dsns
            assert b"Final-Recipient: rfc822; erin@nosuch.example.net\r\nAction: failed\r\nStatus: 5.1.2" in dsns
            assert len(sink.messages) == 1
    finally:
        sink.stop()


def test_dead_resolver_defers_without_bouncing(tmp_path, port):
    with SilentServer() as dns, mx_gateway(tmp_path, port, dns.toml(timeout="1s")) as gw:
        [qid] = queue_ids(send(gw.inside_port, "alice@example.org", ["bob@example.net"],
                               message("dnsdown")))
        wait_until(lambda: "status=deferred (451 4.4.3 DNS lookup for example.net failed" in gw.log(),
                   timeout=20, what="a DNS deferral")
        assert spool_files(gw) == [qid]
        assert mailbox(gw, "alice@example.org") == []


@pytest.fixture
def tls_sink(tmp_path, port):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", "mx.key", "-out", "mx.pem",
                    "-subj", "/CN=not-the-mx-name", "-days", "2"],
                   cwd=tmp_path, check=True, capture_output=True)
    sink = PySink(port)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(tmp_path / "mx.pem"), str(tmp_path / "mx.key"))
    sink.tls_context = ctx
    sink.start()
    yield sink, tmp_path / "mx.pem"
    sink.stop()


@pytest.mark.parametrize("matching", [True, False])
def test_dane_authenticates_the_mx(tmp_path, port, tls_sink, matching):
    sink, cert = tls_sink
    tlsa = tlsa_3_1_1(cert) if matching else "3 1 1 " + "00" * 32
    records = ["@ MX 10 mx", "mx A 127.0.0.1", f"_{port}._tcp.mx TLSA {tlsa}"]
    with DnsServer(zone="example.net", records=records, signed=True) as dns, \
            mx_gateway(tmp_path / "gw", port, dns.toml()) as gw:
        send(gw.inside_port, "alice@example.org", ["bob@example.net"], message("dane"))
        if matching:
            got = sink.wait_messages(1, timeout=20)
            assert got[0].get("tls"), "delivered without TLS"
            assert "dane yes" in gw.log()
            wait_until(lambda: not spool_files(gw), what="spool emptied")
        else:
            wait_until(lambda: "status=deferred (451 4.7.5 DANE authentication" in gw.log(),
                       timeout=20, what="a DANE failure")
            assert sink.messages == []
            assert len(spool_files(gw)) == 1
