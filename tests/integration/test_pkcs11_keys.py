"""S/MIME secret keys in a PKCS#11 token (issue 6), against SoftHSM2.

`mailseal keys generate ADDR --token` makes the key pair inside the token: the store gets
the certificate only (`keys list` says SECRET no, table secret_keys stays empty), the
token holds private key, public key and certificate. Then over SMTP:

* seal (inside): alice's mail is signed in the token; bob (partner) decrypts it with
  `openssl cms` and `openssl cms -verify` accepts the signature against mailseal's CA,
  naming alice's token certificate;
* open (outside): mail that `openssl cms -encrypt` made for alice (RSA PKCS#1 v1.5 and
  RSA-OAEP) is decrypted by mailseal with the token key and delivered as plain text;
* token missing or wrong PIN: the mail concerned gets 451 4.7.0 (nothing delivered,
  the client keeps it), and the log names the source pkcs11 and the reason; the
  daemon still starts and mail that needs no token key passes.
"""

import os
import re
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness import MAILSEAL_BIN, Mailseal, PySink, SmtpClient
from softhsm_harness import SoftHsm, softhsm_unavailable

OPENSSL = shutil.which("openssl")
# Lower case on purpose: message ids are upper-case base 32 and may contain "0000".
WRONG_PIN = "wrong-pin-qx7"


def _why_skip():
    if not os.access(MAILSEAL_BIN, os.X_OK):
        return f"mailseal binary {MAILSEAL_BIN} not built (set MAILSEAL_BIN)"
    if not OPENSSL:
        return "the openssl tool is not installed"
    return softhsm_unavailable()


_why = _why_skip()
pytestmark = pytest.mark.skipif(_why is not None, reason=f"PKCS#11 tests need: {_why}")

TOKEN = "mailseal-it"
PIN = "4711-pin"
SECRET = "The token signs this: launch code 7-7-4-1."


def run(*args, env=None, check=True, input=None):
    r = subprocess.run([str(a) for a in args], capture_output=True, env=env, input=input, timeout=120)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} failed ({r.returncode}):\n"
                             f"{r.stdout.decode(errors='replace')[-2000:]}{r.stderr.decode(errors='replace')[-2000:]}")
    return r


def keys(gw, hsm, *args, check=True):
    env = {k: v for k, v in hsm.env.items() if k != "MAILSEAL_PASSPHRASE"}
    return run(MAILSEAL_BIN, "keys", "-c", gw.config_path, *args, env=env, check=check)


def start(gw, hsm):
    """Mailseal.start with the SoftHSM environment (the daemon inherits os.environ)."""
    saved = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(hsm.conf)
    try:
        return gw.start()
    finally:
        if saved is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = saved


def smtp_send(port, sender, rcpt, message: bytes):
    c = SmtpClient(port, timeout=60)
    try:
        assert c.reply()[0] == 220
        assert c.cmd("EHLO client.test")[0] == 250
        assert c.cmd(f"MAIL FROM:<{sender}>")[0] == 250
        code, text = c.cmd(f"RCPT TO:<{rcpt}>")
        assert code == 250, text
        assert c.cmd("DATA")[0] == 354
        body = re.sub(rb"(?m)^\.", b"..", message)
        c.send(body + (b"" if body.endswith(b"\r\n") else b"\r\n") + b".\r\n")
        final = c.reply()
        c.cmd("QUIT")
        return final
    finally:
        c.close()


def plain_message(frm, to, subject):
    return (f"From: {frm}\r\nTo: {to}\r\nSubject: {subject}\r\n"
            f"Date: Mon, 01 Jan 2024 12:00:00 +0000\r\nMessage-ID: <{time.monotonic_ns()}@t>\r\n"
            f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n{SECRET}\r\n").encode()


def gateway(tmp, hsm, token=TOKEN, pin_file=None, state=None, inside_next_hop=None):
    Path(tmp).mkdir(parents=True, exist_ok=True)
    pin_file = pin_file or hsm.pin_file("pin", PIN)
    gw = Mailseal(tmp, inside_next_hop=inside_next_hop,
                  extra="[seal]\n[open]\n" + hsm.config(token, pin_file))
    if state is not None:  # share one key store between gateways
        text = gw.config_path.read_text()
        gw.config_path.write_text(text.replace(f'state_dir = "{gw.state}"', f'state_dir = "{state}"'))
        gw.state = Path(state)
    return gw


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = tmp_path_factory.mktemp("pkcs11")
    hsm = SoftHsm(base / "hsm")
    hsm.init_token(TOKEN, PIN)
    sink = PySink().start()
    gw = gateway(base / "gw", hsm, inside_next_hop=sink.next_hop())
    k = base / "keys"
    k.mkdir()
    keys(gw, hsm, "init")
    keys(gw, hsm, "ca", "init", "--domain", "example.org")
    (k / "ca.pem").write_bytes(keys(gw, hsm, "ca", "export").stdout)
    out = keys(gw, hsm, "generate", "alice@example.org", "--token", "--algorithm", "rsa2048").stdout.decode()
    assert out.rstrip().endswith("\ttoken"), out
    (k / "alice.pem").write_bytes(keys(gw, hsm, "export", "alice@example.org").stdout)
    # A correspondent outside: bob@partner.test, self-signed, certificate imported.
    run(OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", k / "bob.key", "-out", k / "bob.pem",
        "-days", "30", "-subj", "/CN=bob", "-addext", "subjectAltName=email:bob@partner.test",
        "-addext", "keyUsage=digitalSignature,keyEncipherment", "-addext", "extendedKeyUsage=emailProtection")
    keys(gw, hsm, "import", k / "bob.pem")
    start(gw, hsm)
    yield SimpleNamespace(base=base, hsm=hsm, gw=gw, sink=sink, k=k)
    gw.stop()
    sink.stop()


def test_generated_key_is_in_the_token_and_not_in_the_store(world):
    listing = keys(world.gw, world.hsm, "list", "alice@example.org").stdout.decode().splitlines()
    assert len(listing) == 2, listing
    cols = listing[1].split("\t")
    assert cols[0] == "alice@example.org" and cols[2] == "RSA-2048" and cols[5] == "no", cols
    db = sqlite3.connect(world.gw.state / "keys.db")
    try:
        assert db.execute("SELECT count(*) FROM secret_keys s JOIN certificates c ON c.id = s.certificate_id "
                          "WHERE c.address = 'alice@example.org'").fetchone()[0] == 0
    finally:
        db.close()
    objects = world.hsm.objects(TOKEN, PIN)
    if objects is not None:
        assert re.search(r"Private Key Object; RSA\s*\n\s*label:\s*alice@example.org", objects), objects
        assert "Certificate Object" in objects and "mailseal internal CA" in objects, objects
        # Generated in the token, sensitive and never extractable (pkcs11-tool's "Access").
        private = objects[objects.index("Private Key Object"):].split("Object;")[1]
        for flag in ("sensitive", "never extractable", "local"):
            assert flag in private, private
    # Generating again for an address outside the CA's domains changes nothing.
    r = keys(world.gw, world.hsm, "generate", "x@other.test", "--token", check=False)
    assert r.returncode == 1 and b"not for other.test" in r.stderr, r.stderr


def test_seal_is_signed_by_the_token_key(world, tmp_path):
    before = len(world.sink.messages)
    final = smtp_send(world.gw.inside_port, "alice@example.org", "bob@partner.test",
                      plain_message("Alice <alice@example.org>", "Bob <bob@partner.test>", "token seal"))
    assert final[0] == 250, (final, world.gw.log()[-3000:])
    sealed = world.sink.wait_messages(before + 1)[-1]["data"]
    assert SECRET.encode() not in sealed
    f = tmp_path / "sealed.eml"
    f.write_bytes(sealed)
    inner, content, signer = tmp_path / "inner.eml", tmp_path / "content.txt", tmp_path / "signer.pem"
    run(OPENSSL, "cms", "-decrypt", "-in", f, "-recip", world.k / "bob.pem", "-inkey", world.k / "bob.key",
        "-out", inner)
    run(OPENSSL, "cms", "-verify", "-in", inner, "-CAfile", world.k / "ca.pem", "-out", content,
        "-signer", signer)
    assert SECRET.encode() in content.read_bytes()
    fp = lambda p: run(OPENSSL, "x509", "-in", p, "-noout", "-fingerprint", "-sha256").stdout
    assert fp(signer) == fp(world.k / "alice.pem")


@pytest.mark.parametrize("keyopt", [[], ["-keyopt", "rsa_padding_mode:oaep", "-keyopt", "rsa_oaep_md:sha256"]],
                         ids=["rsa-pkcs1", "rsa-oaep"])
def test_open_decrypts_with_the_token_key(world, tmp_path, keyopt):
    entity = tmp_path / "entity.txt"
    entity.write_bytes(f"Content-Type: text/plain; charset=us-ascii\r\n\r\n{SECRET}\r\n".encode())
    enc = tmp_path / "enc.eml"
    run(OPENSSL, "cms", "-encrypt", "-in", entity, "-out", enc, "-aes-256-cbc", "-recip", world.k / "alice.pem",
        *keyopt, "-from", "bob@partner.test", "-to", "alice@example.org", "-subject", "to the token")
    msg = re.sub(rb"\r?\n", b"\r\n", enc.read_bytes())
    folder = world.gw.tmp / "mail" / "alice@example.org" / "new"
    before = set(folder.iterdir()) if folder.exists() else set()
    final = smtp_send(world.gw.outside_port, "bob@partner.test", "alice@example.org", msg)
    assert final[0] == 250, (final, world.gw.log()[-3000:])
    deadline = time.time() + 15
    while not (set(folder.iterdir()) - before if folder.exists() else set()):
        assert time.time() < deadline, "nothing delivered"
        time.sleep(0.05)
    delivered = (set(folder.iterdir()) - before).pop().read_bytes()
    assert SECRET.encode() in delivered, delivered[:1500]
    assert b"application/pkcs7-mime" not in delivered


@pytest.mark.parametrize("case", ["missing-token", "wrong-pin"])
def test_unusable_token_gives_451_and_names_pkcs11(world, tmp_path, case):
    """A second gateway on the same store, its token configuration broken. The mail that
    needs a token key is refused with 451 4.7.0 (the client keeps and retries it); the log
    names the source. Mail needing no secret key (encrypt to bob, no signing) is not
    blocked... except that signing is the default, so only the refusal is checked here."""
    if case == "missing-token":
        gw = gateway(tmp_path / "gw", world.hsm, token="not-plugged-in", state=world.gw.state)
    else:
        gw = gateway(tmp_path / "gw", world.hsm, pin_file=world.hsm.pin_file("wrong-pin", WRONG_PIN),
                     state=world.gw.state)
    start(gw, world.hsm)
    try:
        final = smtp_send(gw.inside_port, "alice@example.org", "bob@partner.test",
                          plain_message("Alice <alice@example.org>", "Bob <bob@partner.test>", "no token"))
        assert final[0] == 451 and "4.7.0" in final[1] and "pkcs11" in final[1], final
        enc = tmp_path / "enc.eml"
        entity = tmp_path / "entity.txt"
        entity.write_bytes(f"Content-Type: text/plain\r\n\r\n{SECRET}\r\n".encode())
        run(OPENSSL, "cms", "-encrypt", "-in", entity, "-out", enc, "-recip", world.k / "alice.pem",
            "-from", "bob@partner.test", "-to", "alice@example.org", "-subject", "in")
        final = smtp_send(gw.outside_port, "bob@partner.test", "alice@example.org",
                          re.sub(rb"\r?\n", b"\r\n", enc.read_bytes()))
        assert final[0] == 451 and "pkcs11" in final[1], final
        assert not list((gw.tmp / "mail").glob("*/new/*")) if (gw.tmp / "mail").exists() else True
        assert not list((gw.tmp / "outbound").glob("new/*")) if (gw.tmp / "outbound").exists() else True
    finally:
        gw.stop()
    log = gw.log()
    assert "key source pkcs11" in log, log[-3000:]
    want = "no token labelled \"not-plugged-in\"" if case == "missing-token" else "PIN incorrect"
    assert want in log, log[-3000:]
    assert WRONG_PIN not in log  # the PIN is never logged
