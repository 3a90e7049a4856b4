"""STARTTLS over real sockets: the server side (RFC 3207) with a configured certificate,
STARTTLS injection (CVE-2011-0411 class), require_tls, and TLS toward the next hop
(none, opportunistic, verify)."""

import signal
import ssl
import subprocess
from pathlib import Path

import pytest

from harness import MAILSEAL_BIN, Mailseal, PySink, SmtpClient, ehlo_keywords, status


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A test CA, and leaf certificates signed by it for gw.test and sink.test."""
    d = tmp_path_factory.mktemp("pki")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=mailseal test CA", "-days", "2", cwd=d)
    for name in ("gw.test", "sink.test"):
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
        (d / f"{name}.ext").write_text(f"subjectAltName=DNS:{name}\nextendedKeyUsage=serverAuth\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext", cwd=d)
    return Path(d)


def tls_table(pki, side="inside"):
    return f'[{side}.tls]\ncertificate = "{pki}/gw.test.pem"\nkey = "{pki}/gw.test.key"\n'


@pytest.fixture
def make_gateway(tmp_path, sink):
    started = []

    def make(inside="", inside_next_hop=None):
        g = Mailseal(tmp_path, inside=inside, inside_next_hop=inside_next_hop or sink.next_hop(),
                     outside_next_hop=sink.next_hop()).start()
        started.append(g)
        return g

    yield make
    for g in started:
        g.stop()


def client_context(pki):
    return ssl.create_default_context(cafile=str(pki / "ca.pem"))


def starttls(c, pki, pipelined=""):
    """Sends STARTTLS (plus `pipelined` bytes in the same write), checks the 220, and does
    the handshake on the same socket, verifying the server certificate for gw.test."""
    c.send("STARTTLS\r\n" + pipelined)
    assert status(c.reply()) == (220, "2.0.0")
    # Nothing else may have arrived in clear text after the 220.
    assert c.buf == b""
    c.sock = client_context(pki).wrap_socket(c.sock, server_hostname="gw.test")
    return c.sock.version()


def greeted(port):
    c = SmtpClient(port)
    assert status(c.reply()) == (220, "")
    return c


def test_starttls_resets_state_and_received_says_esmtps(make_gateway, sink, pki):
    g = make_gateway(inside=tls_table(pki))
    c = greeted(g.inside_port)
    before = c.cmd("EHLO client.test")
    assert ehlo_keywords(before) == ["PIPELINING", "SIZE 52428800", "8BITMIME", "SMTPUTF8",
                                     "ENHANCEDSTATUSCODES", "STARTTLS"]
    assert status(c.cmd("STARTTLS now")) == (501, "5.5.4")
    assert status(c.cmd("MAIL FROM:<a@example.org>")) == (250, "2.1.0")
    assert status(c.cmd("STARTTLS")) == (503, "5.5.1")  # not inside a transaction
    assert status(c.cmd("RSET")) == (250, "2.0.0")
    version = starttls(c, pki)
    # RFC 3207 4.2: everything learnt before TLS is forgotten, EHLO included.
    assert status(c.cmd("MAIL FROM:<a@example.org>")) == (503, "5.5.1")
    after = c.cmd("EHLO client.test")
    assert "STARTTLS" not in ehlo_keywords(after)
    assert ehlo_keywords(after) == ehlo_keywords(before)[:-1]
    assert status(c.cmd("STARTTLS")) == (503, "5.5.1")
    assert status(c.cmd("MAIL FROM:<a@example.org>")) == (250, "2.1.0")
    assert status(c.cmd("RCPT TO:<b@example.net>")) == (250, "2.1.5")
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: tls\r\n\r\nsecret\r\n.\r\n")
    assert status(c.reply()) == (250, "2.0.0")
    assert status(c.cmd("QUIT")) == (221, "2.0.0")
    msg = sink.wait_messages(1)[0]
    assert msg["data"].startswith(
        f"Received: from client.test ([127.0.0.1])\r\n\tby gw.test (mailseal) with ESMTPS ({version}) id ".encode())


def test_helo_and_plain_esmtp_are_not_called_esmtps(make_gateway, sink, pki):
    g = make_gateway(inside=tls_table(pki))
    c = greeted(g.inside_port)
    assert c.cmd("EHLO client.test")[0] == 250
    assert status(c.cmd("MAIL FROM:<a@example.org>")) == (250, "2.1.0")
    assert status(c.cmd("RCPT TO:<b@example.net>")) == (250, "2.1.5")
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: plain\r\n\r\nx\r\n.\r\n")
    assert status(c.reply()) == (250, "2.0.0")
    assert b"(mailseal) with ESMTP id " in sink.wait_messages(1)[0]["data"]


# CVE-2011-0411 class: commands pipelined after STARTTLS, sent in clear text before the
# handshake, must be discarded, not executed inside the TLS session.
INJECTIONS = {
    "RSET": "RSET\r\n",
    "MAIL": "MAIL FROM:<x@example.org>\r\n",
    "EHLO+MAIL+RCPT": "EHLO evil.test\r\nMAIL FROM:<evil@example.org>\r\nRCPT TO:<victim@example.net>\r\n",
}


@pytest.mark.parametrize("name", list(INJECTIONS))
def test_starttls_injection_is_discarded(make_gateway, sink, pki, name):
    g = make_gateway(inside=tls_table(pki))
    c = greeted(g.inside_port)
    assert c.cmd("EHLO client.test")[0] == 250
    starttls(c, pki, pipelined=INJECTIONS[name])
    # The first reply inside TLS is for our own first command: no transaction exists
    # (an executed injected MAIL would make this a 250) and no stray reply comes first.
    assert status(c.cmd("RCPT TO:<b@example.net>")) == (503, "5.5.1")
    r = c.cmd("EHLO client.test")
    assert r[1].startswith("250-gw.test\r\n")
    assert status(c.cmd("MAIL FROM:<a@example.org>")) == (250, "2.1.0")
    assert status(c.cmd("RCPT TO:<b@example.net>")) == (250, "2.1.5")
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: after injection\r\n\r\nx\r\n.\r\n")
    assert status(c.reply()) == (250, "2.0.0")
    assert c.cmd("NOOP") == (250, "250 2.0.0 Ok\r\n") and c.buf == b""
    msgs = sink.wait_messages(1)
    assert len(msgs) == 1 and msgs[0]["rcpt"] == ["b@example.net"]
    assert "evil" not in g.log()


def test_clear_text_after_starttls_breaks_the_handshake_not_the_server(make_gateway, pki):
    g = make_gateway(inside=tls_table(pki))
    c = greeted(g.inside_port)
    assert c.cmd("EHLO client.test")[0] == 250
    assert status(c.cmd("STARTTLS")) == (220, "2.0.0")
    c.send("MAIL FROM:<x@example.org>\r\n")  # not a TLS record
    assert c.closed()
    c2 = greeted(g.inside_port)
    assert status(c2.cmd("NOOP")) == (250, "2.0.0")


def test_require_tls(make_gateway, sink, pki):
    g = make_gateway(inside="require_tls = true\n" + tls_table(pki))
    c = greeted(g.inside_port)
    assert c.cmd("EHLO client.test")[0] == 250
    assert status(c.cmd("MAIL FROM:<a@example.org>")) == (530, "5.7.0")
    starttls(c, pki)
    assert c.cmd("EHLO client.test")[0] == 250
    assert status(c.cmd("MAIL FROM:<a@example.org>")) == (250, "2.1.0")


def test_require_tls_without_certificate_is_a_config_error(tmp_path):
    g = Mailseal(tmp_path, inside="require_tls = true")
    r = subprocess.run([MAILSEAL_BIN, "check-config", str(g.config_path)],
                       capture_output=True, text=True)
    assert r.returncode == 1
    assert "inside.require_tls needs [inside.tls]" in r.stderr


# --- TLS toward the next hop -------------------------------------------------------------

@pytest.fixture
def tls_sink(pki):
    s = PySink()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(pki / "sink.test.pem"), str(pki / "sink.test.key"))
    s.tls_context = ctx
    s.start()
    yield s
    s.stop()


def hop(s, tls, extra=""):
    return f'kind = "smtp"\nhost = "127.0.0.1"\nport = {s.port}\ntls = "{tls}"\n{extra}'


def send_one(port):
    c = greeted(port)
    assert c.cmd("EHLO client.test")[0] == 250
    assert status(c.cmd("MAIL FROM:<a@example.org>")) == (250, "2.1.0")
    assert status(c.cmd("RCPT TO:<b@example.net>")) == (250, "2.1.5")
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: hop\r\n\r\nx\r\n.\r\n")
    r = c.reply()
    c.cmd("QUIT")
    return r


def test_next_hop_tls_none_does_not_use_offered_starttls(make_gateway, tls_sink):
    g = make_gateway(inside_next_hop=hop(tls_sink, "none"))
    assert status(send_one(g.inside_port)) == (250, "2.0.0")
    assert "tls" not in tls_sink.wait_messages(1)[0]


def test_next_hop_tls_opportunistic(make_gateway, tls_sink):
    # The sink's certificate is not checked (its CA is unknown to mailseal here).
    g = make_gateway(inside_next_hop=hop(tls_sink, "opportunistic"))
    assert status(send_one(g.inside_port)) == (250, "2.0.0")
    assert tls_sink.wait_messages(1)[0]["tls"] in ("TLSv1.2", "TLSv1.3")


def test_next_hop_tls_opportunistic_without_starttls_is_plain(make_gateway, sink):
    g = make_gateway(inside_next_hop=hop(sink, "opportunistic"))
    assert status(send_one(g.inside_port)) == (250, "2.0.0")
    assert "tls" not in sink.wait_messages(1)[0]


def test_next_hop_tls_verify(make_gateway, tls_sink, pki):
    g = make_gateway(inside_next_hop=hop(tls_sink, "verify", f'ca_file = "{pki}/ca.pem"\ntls_name = "sink.test"'))
    assert status(send_one(g.inside_port)) == (250, "2.0.0")
    assert tls_sink.wait_messages(1)[0]["tls"] in ("TLSv1.2", "TLSv1.3")


@pytest.mark.parametrize("extra", [
    'tls_name = "other.test"',  # the certificate is for sink.test
    '',                         # default name: the host, 127.0.0.1
], ids=["name-mismatch", "ip-not-in-cert"])
def test_next_hop_tls_verify_name_mismatch(make_gateway, tls_sink, pki, extra):
    g = make_gateway(inside_next_hop=hop(tls_sink, "verify", f'ca_file = "{pki}/ca.pem"\n{extra}'))
    assert status(send_one(g.inside_port)) == (451, "4.7.5")
    assert not tls_sink.messages


def test_next_hop_tls_verify_unknown_ca(make_gateway, tls_sink, pki):
    # Verified against the system store, where the test CA is not.
    g = make_gateway(inside_next_hop=hop(tls_sink, "verify", 'tls_name = "sink.test"'))
    assert status(send_one(g.inside_port)) == (451, "4.7.5")
    assert not tls_sink.messages


def test_next_hop_tls_verify_without_starttls(make_gateway, sink, pki):
    g = make_gateway(inside_next_hop=hop(sink, "verify", f'ca_file = "{pki}/ca.pem"\ntls_name = "sink.test"'))
    assert status(send_one(g.inside_port)) == (451, "4.7.5")
    assert not sink.messages


# --- timeouts and shutdown inside TLS ------------------------------------------------------

def test_idle_timeout_inside_tls(make_gateway, pki):
    g = make_gateway(inside='idle_timeout = "1s"\n' + tls_table(pki))
    c = greeted(g.inside_port)
    assert c.cmd("EHLO client.test")[0] == 250
    starttls(c, pki)
    assert c.cmd("EHLO client.test")[0] == 250
    assert status(c.reply()) == (421, "4.4.2")
    assert c.closed()


def test_sigterm_closes_idle_tls_session_with_421(tmp_path, sink, pki):
    g = Mailseal(tmp_path, inside=tls_table(pki), inside_next_hop=sink.next_hop(),
                 outside_next_hop=sink.next_hop()).start()
    try:
        c = greeted(g.inside_port)
        assert c.cmd("EHLO client.test")[0] == 250
        starttls(c, pki)
        assert c.cmd("EHLO client.test")[0] == 250
        g.proc.send_signal(signal.SIGTERM)
        assert status(c.reply()) == (421, "4.3.2")
        assert g.proc.wait(5) == 0
    finally:
        g.stop()
