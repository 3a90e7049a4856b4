"""Issue 6: the key store in PostgreSQL, shared by several mailseal nodes.

One private PostgreSQL (pg_harness.Postgres, its own cluster on loopback; mailseal logs
in with a password from keys.postgresql.password_file) and two mailseal daemons, A and B,
with `[keys] store = "postgresql"` on the same database and the same master key file
(A's `keys init` made it; B got a copy, as an operator would). Next hops: Python sinks.

Proves: keys imported through one node's `mailseal keys` CLI are used by the other
node's daemon: B signs with the sender key and encrypts to the recipient certificate that
were imported through A (`openssl cms -decrypt` with the recipient's key opens it, and
the signature verifies with the sender's certificate), and A seals to a certificate
imported through B while both run (a "no certificate" answer A had cached goes away
within keys.postgresql.refresh); with PostgreSQL stopped the sender gets 451 4.7.0 and
the daemon log names the postgresql source, and after the restart the same message is
accepted without restarting mailseal; a password_file that other users can read is
refused by check-config; a second `keys init` on the shared database is refused; the
other `mailseal keys` commands (ca init/export, generate S/MIME and OpenPGP, export,
list, lookup, remove) work through either node on the shared store.
"""

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from harness import MAILSEAL_BIN, Mailseal, PySink, SmtpClient
from pg_harness import PASSWORD, Postgres, postgres_unavailable

OPENSSL = shutil.which("openssl")


def _why_skip():
    if not os.access(MAILSEAL_BIN, os.X_OK):
        return f"mailseal binary {MAILSEAL_BIN} not built (set MAILSEAL_BIN)"
    if not OPENSSL:
        return "the openssl tool is not installed"
    return None


_why = _why_skip()
pytestmark = pytest.mark.skipif(_why is not None, reason=f"PostgreSQL store tests need: {_why}")

SECRET_LINE = "shared keys, sealed anywhere: 3 1 4 1 5 9"


def run(*args, check=True):
    r = subprocess.run([str(a) for a in args], capture_output=True, timeout=120)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} failed ({r.returncode}):\n"
                             f"{r.stdout.decode(errors='replace')[-2000:]}{r.stderr.decode(errors='replace')[-3000:]}")
    return r


def keys(config, *args, check=True):
    return run(MAILSEAL_BIN, "keys", "-c", config, *args, check=check)


def self_signed(d: Path, name, address):
    """A self-signed S/MIME certificate (RSA) with SAN `address`; returns (cert.pem, key.pem)."""
    run(OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", d / f"{name}.key",
        "-out", d / f"{name}.pem", "-days", "30", "-subj", f"/CN={name}",
        "-addext", f"subjectAltName=email:{address}", "-addext", "extendedKeyUsage=emailProtection",
        "-addext", "keyUsage=digitalSignature,keyEncipherment")
    return d / f"{name}.pem", d / f"{name}.key"


def message(sender, to, subject):
    return (f"From: <{sender}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n"
            f"Date: Mon, 01 Jan 2024 12:00:00 +0000\r\nMessage-ID: <m{time.monotonic_ns()}@example.org>\r\n"
            f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n"
            f"Content-Transfer-Encoding: 7bit\r\n\r\n{SECRET_LINE}\r\n").encode()


def send(node, sender, to, subject):
    """One message; returns (RCPT reply, final reply or None)."""
    c = SmtpClient(node.inside_port, timeout=60)
    assert c.reply()[0] == 220
    assert c.cmd("EHLO client.test")[0] == 250
    assert c.cmd(f"MAIL FROM:<{sender}>")[0] == 250
    rcpt = c.cmd(f"RCPT TO:<{to}>")
    if rcpt[0] != 250:
        c.cmd("QUIT")
        c.close()
        return rcpt, None
    assert c.cmd("DATA")[0] == 354
    c.send(message(sender, to, subject) + b".\r\n")
    final = c.reply()
    c.cmd("QUIT")
    c.close()
    return rcpt, final


def opened(tmp, data, cert, key, signer):
    """Decrypts with the recipient's key and verifies the signature with the sender's
    certificate; returns the inner text."""
    f = tmp / f"sealed-{time.monotonic_ns()}.eml"
    f.write_bytes(data)
    assert re.search(rb"(?m)^Content-Type: application/pkcs7-mime; smime-type=enveloped-data", data), data[:600]
    assert SECRET_LINE.encode() not in data
    inner = tmp / f"inner-{time.monotonic_ns()}.eml"
    run(OPENSSL, "cms", "-decrypt", "-in", f, "-recip", cert, "-inkey", key, "-out", inner)
    text = run(OPENSSL, "cms", "-verify", "-in", inner, "-CAfile", signer, "-purpose", "any").stdout.decode()
    assert SECRET_LINE in text, text
    return text


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    unavailable = postgres_unavailable()
    if unavailable:  # the store tests must not pass silently without their server
        pytest.fail(unavailable)
    tmp = tmp_path_factory.mktemp("pgstore")
    pki = tmp / "pki"
    pki.mkdir()
    pg = Postgres().start()
    sinks = [PySink().start(), PySink().start()]
    try:
        pg.create_database("mailseal")
        pw = tmp / "pg.password"
        pw.write_text(PASSWORD + "\n")
        pw.chmod(0o600)
        nodes = []
        for name, sink in zip("ab", sinks):
            (tmp / name).mkdir()
            nodes.append(Mailseal(tmp / name, inside_next_hop=sink.next_hop(),
                                  extra="[seal]\n" + pg.keys_config("mailseal", pw, refresh="1s",
                                                                     connect_timeout="2s")))
        a, b = nodes
        out = keys(a.config_path, "init").stdout.decode()
        assert "initialised postgresql" in out, out
        # Every node needs the same master key file: B gets a copy of A's.
        b.state.mkdir(mode=0o700, parents=True)
        shutil.copy(a.state / "master.key", b.state / "master.key")
        (b.state / "master.key").chmod(0o600)
        # Keys go in through A's CLI only.
        alice = self_signed(pki, "alice", "alice@example.org")
        bob = self_signed(pki, "bob", "bob@partner.example")
        keys(a.config_path, "import", alice[0], "--key", alice[1])
        keys(a.config_path, "import", bob[0])
        a.start()
        b.start()
        try:
            yield type("World", (), dict(tmp=tmp, pg=pg, a=a, b=b, sinks=sinks, pw=pw, alice=alice,
                                        bob=bob, pki=pki))
        finally:
            a.stop()
            b.stop()
    finally:
        for s in sinks:
            s.stop()
        pg.cleanup()


def test_keys_cli_of_the_other_node_sees_the_shared_store(world):
    listing = keys(world.b.config_path, "list").stdout.decode()
    assert re.search(r"alice@example.org\tsmime\t\S+\t[0-9a-f]{64}\t\S+\tyes", listing), listing
    assert re.search(r"bob@partner.example\tsmime\t\S+\t[0-9a-f]{64}\t\S+\tno", listing), listing
    out = keys(world.b.config_path, "lookup", "bob@partner.example").stdout.decode()
    assert "store (postgresql)" in out and re.search(r"S/MIME: [0-9a-f]{64} from store", out), out
    # A second init on the shared database would fork the master key: refused.
    r = keys(world.b.config_path, "init", check=False)
    assert r.returncode == 1
    assert b"exists" in r.stderr or b"already initialised" in r.stderr, r.stderr


def test_node_b_seals_with_keys_imported_through_node_a(world):
    before = len(world.sinks[1].messages)
    rcpt, final = send(world.b, "alice@example.org", "bob@partner.example", "B seals")
    assert rcpt[0] == 250, (rcpt, world.b.log()[-2000:])
    assert final[0] == 250, (final, world.b.log()[-2000:])
    (copy,) = world.sinks[1].wait_messages(before + 1)[before:]
    opened(world.tmp, copy["data"], *world.bob, signer=world.alice[0])


def test_node_a_seals_to_a_certificate_imported_through_node_b(world):
    carol = self_signed(world.pki, "carol", "carol@partner.example")
    # A asks first: no certificate yet (and A caches that answer).
    rcpt, _ = send(world.a, "alice@example.org", "carol@partner.example", "too early")
    assert rcpt[0] == 550 and "5.7.1" in rcpt[1], rcpt
    keys(world.b.config_path, "import", carol[0])
    time.sleep(1.5)  # keys.postgresql.refresh = 1s bounds how long A may use its cached answer
    before = len(world.sinks[0].messages)
    rcpt, final = send(world.a, "alice@example.org", "carol@partner.example", "A seals")
    assert rcpt[0] == 250, (rcpt, world.a.log()[-2000:])
    assert final[0] == 250, final
    (copy,) = world.sinks[0].wait_messages(before + 1)[before:]
    opened(world.tmp, copy["data"], *carol, signer=world.alice[0])


def test_other_keys_commands_work_on_the_shared_store(world):
    """ca init, generate (S/MIME and OpenPGP), export, remove through B; A's CLI sees each."""
    b, a = world.b.config_path, world.a.config_path
    keys(b, "ca", "init", "--domain", "example.org", "--algorithm", "p256")
    ca_pem = world.tmp / "ca.pem"
    keys(a, "ca", "export", "--out", ca_pem)
    assert "BEGIN CERTIFICATE" in ca_pem.read_text()
    keys(b, "generate", "dora@example.org", "--algorithm", "p256")
    keys(b, "generate", "dora@example.org", "--openpgp")
    pem = keys(a, "export", "dora@example.org").stdout.decode()
    dora = world.tmp / "dora.pem"
    dora.write_text(pem)
    run(OPENSSL, "verify", "-CAfile", ca_pem, "-purpose", "smimesign", dora)
    armored = keys(a, "export", "dora@example.org", "--openpgp").stdout.decode()
    assert "BEGIN PGP PUBLIC KEY BLOCK" in armored
    listing = keys(a, "list", "dora@example.org").stdout.decode()
    assert "\tsmime\t" in listing and "\topenpgp\t" in listing, listing
    assert "CN = mailseal internal CA" in keys(a, "list", "--anchors").stdout.decode()
    keys(a, "remove", "dora@example.org")
    assert "dora@example.org" not in keys(b, "list").stdout.decode()


def test_postgresql_down_gives_451_and_mail_is_accepted_after_restart(world):
    world.pg.stop()
    try:
        time.sleep(1.5)  # past the refresh interval: the node must ask the database
        rcpt, final = send(world.a, "alice@example.org", "bob@partner.example", "while down")
        assert rcpt[0] == 451 and "4.7.0" in rcpt[1], rcpt
        assert "postgresql" in rcpt[1], rcpt
        log = world.a.log()
        assert re.search(r"key source postgresql \(postgresql \"host=127\.0\.0\.1 [^)]*\): database: .*"
                         r"; mail that needs it is deferred \(451\)", log), log[-3000:]
        assert PASSWORD not in log
    finally:
        world.pg.start()
    before = len(world.sinks[0].messages)
    rcpt, final = send(world.a, "alice@example.org", "bob@partner.example", "while down")
    assert rcpt[0] == 250, (rcpt, world.a.log()[-2000:])
    assert final[0] == 250, final
    (copy,) = world.sinks[0].wait_messages(before + 1)[before:]
    opened(world.tmp, copy["data"], *world.bob, signer=world.alice[0])
    assert "key source postgresql (postgresql \"host=127.0.0.1" in world.a.log()
    assert "): reachable again" in world.a.log()


def test_password_file_readable_by_others_is_refused(world, tmp_path):
    loose = tmp_path / "loose.password"
    loose.write_text(PASSWORD + "\n")
    loose.chmod(0o644)
    cfg = tmp_path / "mailseal.toml"
    cfg.write_text(world.a.config_path.read_text().replace(str(world.pw), str(loose)))
    r = run(MAILSEAL_BIN, "check-config", cfg, check=False)
    assert r.returncode == 1
    assert b"keys.postgresql.password_file" in r.stderr and b"other users" in r.stderr, r.stderr
    loose.chmod(0o640)
    r = run(MAILSEAL_BIN, "check-config", cfg, check=False)
    assert r.returncode == 0, r.stderr
    # A password inside the conninfo is refused too: it belongs in the file.
    cfg.write_text(world.a.config_path.read_text().replace("user=mailseal", f"user=mailseal password={PASSWORD}"))
    r = run(MAILSEAL_BIN, "check-config", cfg, check=False)
    assert r.returncode == 1 and b"must not hold the password" in r.stderr, r.stderr
