"""SMTP AUTH over TLS on the inside listener (RFC 4954): a client outside
client_networks may connect when a password file is configured, must STARTTLS and
authenticate before MAIL, and its mail is relayed with ESMTPSA in the Received header."""

import smtplib
import ssl
import subprocess

import pytest

from harness import Mailseal


@pytest.fixture
def auth_gateway(tmp_path, sink):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=gw.test", "-keyout", str(tmp_path / "k.pem"),
                    "-out", str(tmp_path / "c.pem")], check=True, capture_output=True)
    hashed = subprocess.run(["openssl", "passwd", "-6", "-salt", "abcdefgh", "s3cret"],
                            check=True, capture_output=True, text=True).stdout.strip()
    (tmp_path / "passwords").write_text(f"# users\nlan:{hashed}\n")
    # client_networks does not contain 127.0.0.1: only authenticated clients may send.
    inside = (f'auth_passwords = "{tmp_path}/passwords"\n'
              f'[inside.tls]\ncertificate = "{tmp_path}/c.pem"\nkey = "{tmp_path}/k.pem"\n')
    g = Mailseal(tmp_path, inside=inside, inside_next_hop=sink.next_hop())
    g.config_path.write_text(g.config_path.read_text().replace('client_networks = ["127.0.0.0/8"]',
                                                               'client_networks = ["10.0.0.0/8"]'))
    with g:
        yield g


def client(port):
    s = smtplib.SMTP("127.0.0.1", port, timeout=10)
    s.ehlo("laptop.test")
    return s


def test_mail_before_auth_is_530_and_auth_needs_tls(auth_gateway):
    s = client(auth_gateway.inside_port)
    assert "auth" not in s.esmtp_features
    code, msg = s.docmd("AUTH", "PLAIN AGxhbgBzM2NyZXQ=")
    assert (code, msg[:6]) == (538, b"5.7.11")
    code, msg = s.docmd("MAIL", "FROM:<a@example.org>")
    assert (code, msg[:5]) == (530, b"5.7.0")


def test_wrong_password_is_535(auth_gateway):
    s = client(auth_gateway.inside_port)
    s.starttls(context=ssl._create_unverified_context())
    s.ehlo("laptop.test")
    with pytest.raises(smtplib.SMTPAuthenticationError) as e:
        s.login("lan", "wrong")
    assert e.value.smtp_code == 535 and e.value.smtp_error.startswith(b"5.7.8")


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_authenticated_client_relays(auth_gateway, sink, mechanism):
    s = client(auth_gateway.inside_port)
    s.starttls(context=ssl._create_unverified_context())
    s.ehlo("laptop.test")
    assert mechanism in s.esmtp_features["auth"].split()
    s.user, s.password = "lan", "s3cret"
    code, _ = s.auth(mechanism, getattr(s, "auth_" + mechanism.lower()))
    assert code == 235
    s.sendmail("a@example.org", ["b@example.net"], b"Subject: t\r\n\r\nhello\r\n")
    s.quit()
    msg = sink.wait_messages(1)[0]
    assert b"with ESMTPSA" in msg["data"].split(b"\r\n\r\n")[0]
    assert "auth=lan" in auth_gateway.log()
    assert "s3cret" not in auth_gateway.log()


def test_auth_passwords_without_tls_is_a_config_error(tmp_path):
    (tmp_path / "p").write_text("lan:$6$x$y\n")
    g = Mailseal(tmp_path, inside=f'auth_passwords = "{tmp_path}/p"')
    out = subprocess.run([__import__("harness").MAILSEAL_BIN, "check-config", str(g.config_path)],
                         capture_output=True, text=True)
    assert out.returncode == 1
    assert "inside.auth_passwords needs [inside.tls]" in out.stderr
