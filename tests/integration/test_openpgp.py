"""OpenPGP through the gateway over SMTP (issue 4), against the real GnuPG and Sequoia.

Outbound (inside listener, next hop: a Python SMTP sink): mailseal's RFC 3156
multipart/encrypted copies are decrypted and their signature verified by `gpg` and by
`sq decrypt`; the sign-only fallback (multipart/signed, application/pgp-signature) is
verified by gpg over the exact first part. A message to an S/MIME recipient, an OpenPGP
recipient and a Bcc recipient becomes one copy per format plus the Bcc's own copy.

Inbound (outside listener, next hop: one Maildir per recipient): messages made by gpg
(RSA-2048 and Ed25519/Cv25519 keys) and by sq (Cv25519 and RSA-3072: sq 0.27 offers no
RSA-2048), RFC 3156-wrapped (encrypted+signed, and signed only) and inline PGP, are
delivered decrypted with verdict=valid; tampered ciphertext, a changed signed part and a
message without MDC (`gpg --rfc2440`) are refused 554 5.7.7 before the DATA reply.

Peer quirks (stated, not worked around in mailseal; see tests/fixtures/openpgp/README.md):
- Debian sq 0.27: cleartext signatures over CRLF text with trailing spaces verify nowhere
  (sq included), so the inline cleartext case here uses gpg and text without trailing
  spaces.
- Debian sq 0.27 pads its encrypted messages (inside a compressed-data packet), which
  confuses gpg 2.2 on large messages; the messages here are small.
- gpg 2.2 itself refuses to decrypt a message without MDC (exit 2); RNP decrypts it and
  mailseal refuses it as falsified.
"""

import base64
import email
import email.policy
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from harness import MAILSEAL_BIN, Mailseal, PySink, SmtpClient, status

GPG = shutil.which("gpg")
SQ = shutil.which("sq")

pytestmark = pytest.mark.skipif(
    not os.access(MAILSEAL_BIN, os.X_OK) or not GPG or not SQ,
    reason="needs the mailseal binary, gpg and sq")

SECRET_LINE = "the launch code is 4 8 15 16 23 42"


# -- tools ----------------------------------------------------------------------------------


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, timeout=120, **kw)


class Gpg:
    def __init__(self, home: Path):
        self.home = home
        home.mkdir(mode=0o700, parents=True, exist_ok=True)

    def __call__(self, *args, input=None, check=True):
        r = run([GPG, "--homedir", str(self.home), "--batch", "--yes", "--no-tty",
                 "--pinentry-mode", "loopback", "--passphrase", "", "--trust-model", "always",
                 *args], input=input)
        if check:
            assert r.returncode == 0, r.stderr.decode(errors="replace")
        return r

    def new_key(self, address, kind):
        """kind: "rsa" (RSA-2048 sign + RSA-2048 encr) or "25519" (Ed25519 + Cv25519)."""
        sign, encr = ("rsa2048", "rsa2048") if kind == "rsa" else ("ed25519", "cv25519")
        self("--quick-gen-key", f"<{address}>", sign, "sign,cert", "never")
        fpr = self.fingerprint(address)
        self("--quick-add-key", fpr, encr, "encr", "never")
        return fpr

    def fingerprint(self, address):
        out = self("--with-colons", "--list-keys", f"<{address}>").stdout.decode()
        return next(l.split(":")[9] for l in out.splitlines() if l.startswith("fpr:"))

    def stop(self):
        run(["gpgconf", "--homedir", str(self.home), "--kill", "gpg-agent"])


def sq(home, *args, input=None, check=True):
    r = run([SQ, *args], input=input, env={**os.environ, "HOME": str(home)})
    if check:
        assert r.returncode == 0, r.stderr.decode(errors="replace")
    return r


def keys(state, *args, env=None):
    r = run([MAILSEAL_BIN, "keys", "--state-dir", str(state), *args],
            env={**os.environ, **(env or {})})
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    return r.stdout.decode()


def crlf(data: bytes) -> bytes:
    return re.sub(rb"\r?\n", b"\r\n", data)


def smtp_send(port, sender, rcpts, message: bytes):
    c = SmtpClient(port, timeout=60)
    try:
        assert c.reply()[0] == 220
        assert c.cmd("EHLO client.test")[0] == 250
        assert c.cmd(f"MAIL FROM:<{sender}>")[0] == 250
        rcpt = [c.cmd(f"RCPT TO:<{r}>") for r in rcpts]
        if not any(code == 250 for code, _ in rcpt):
            return None, rcpt
        assert c.cmd("DATA")[0] == 354
        stuffed = re.sub(rb"(?m)^\.", b"..", message)
        if not stuffed.endswith(b"\r\n"):
            stuffed += b"\r\n"
        c.send(stuffed + b".\r\n")
        final = c.reply()
        c.cmd("QUIT")
        return final, rcpt
    finally:
        c.close()


def headers(frm, to, subject, extra=""):
    return (f"From: {frm}\r\nTo: {to}\r\nSubject: {subject}\r\n{extra}"
            f"Date: Mon, 01 Jan 2024 12:00:00 +0000\r\n"
            f"Message-ID: <m{time.monotonic_ns()}@test>\r\nMIME-Version: 1.0\r\n").encode()


def inner_entity():
    return (b"Content-Type: text/plain; charset=us-ascii\r\n"
            b"Content-Transfer-Encoding: 7bit\r\n\r\n" + SECRET_LINE.encode() + b"\r\n")


def pgp_mime(armored: bytes) -> bytes:
    """RFC 3156 4: multipart/encrypted around an armored OpenPGP message."""
    b = "b-" + str(time.monotonic_ns())
    return (f'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted";\r\n'
            f' boundary="{b}"\r\n\r\n--{b}\r\nContent-Type: application/pgp-encrypted\r\n\r\n'
            f"Version: 1\r\n\r\n--{b}\r\nContent-Type: application/octet-stream\r\n\r\n"
            ).encode() + crlf(armored) + f"\r\n--{b}--\r\n".encode()


def pgp_signed(entity: bytes, armored_sig: bytes) -> bytes:
    """RFC 3156 5: multipart/signed around the exact signed entity and its signature."""
    b = "s-" + str(time.monotonic_ns())
    return (f'Content-Type: multipart/signed; micalg=pgp-sha256;\r\n'
            f' protocol="application/pgp-signature"; boundary="{b}"\r\n\r\n--{b}\r\n').encode() + \
        entity + f"\r\n--{b}\r\nContent-Type: application/pgp-signature\r\n\r\n".encode() + \
        crlf(armored_sig) + f"\r\n--{b}--\r\n".encode()


def armor(binary: bytes) -> bytes:
    b64 = base64.b64encode(binary).decode()
    lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
    return ("-----BEGIN PGP MESSAGE-----\r\n\r\n" + "\r\n".join(lines) +
            "\r\n-----END PGP MESSAGE-----\r\n").encode()


def delivered(gw, rcpt, before=0, timeout=15):
    folder = gw.tmp / "mail" / rcpt / "new"
    deadline = time.time() + timeout
    while time.time() < deadline:
        files = sorted(folder.iterdir(), key=lambda p: p.stat().st_mtime_ns) if folder.exists() else []
        if len(files) > before:
            return files[-1].read_bytes()
        time.sleep(0.05)
    raise TimeoutError(f"nothing delivered to {rcpt}\n" + gw.log()[-3000:])


def count(gw, rcpt):
    folder = gw.tmp / "mail" / rcpt / "new"
    return len(list(folder.iterdir())) if folder.exists() else 0


def trace(message: bytes):
    m = email.message_from_bytes(message, policy=email.policy.default)
    return " ".join(str(m["X-Mailseal-Verification"] or "").split())


# -- the world: internal users in mailseal, correspondents in gpg and sq ----------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("openpgp")
    state = tmp / "state"
    keys(state, "init")
    # Internal users: alice (Ed25519/Cv25519, default) and ron (RSA-3072), plus S/MIME
    # certificates for alice and for carl (an S/MIME-only correspondent, for the mixed test).
    keys(state, "generate", "alice@example.org", "--openpgp")
    keys(state, "generate", "ron@example.org", "--openpgp", "--algorithm", "rsa3072")
    keys(state, "generate", "alice@example.org", "--self-signed", "--algorithm", "p256")
    keys(state, "generate", "carl@partner.net", "--self-signed", "--algorithm", "p256")
    for who in ("alice", "ron"):
        (tmp / f"{who}.asc").write_text(keys(state, "export", f"{who}@example.org", "--openpgp"))
    listing = keys(state, "list")
    assert "alice@example.org\topenpgp\ted25519+cv25519\t" in listing, listing
    assert "ron@example.org\topenpgp\trsa3072+rsa3072\t" in listing, listing

    g = Gpg(tmp / "gnupg")
    gary = g.new_key("gary@partner.net", "25519")
    rita = g.new_key("rita@partner.net", "rsa")
    for who in ("alice", "ron"):
        g("--import", str(tmp / f"{who}.asc"))
    for who in ("gary", "rita"):
        (tmp / f"{who}.pub").write_bytes(g("--export", "-a", f"{who}@partner.net").stdout)
        keys(state, "import", str(tmp / f"{who}.pub"))

    sqhome = tmp / "sqhome"
    sqhome.mkdir()
    sq(sqhome, "key", "generate", "--userid", "<sam@partner.net>", "--export", str(tmp / "sam.key"))
    sq(sqhome, "key", "generate", "--cipher-suite", "rsa3k", "--userid", "<sara@partner.net>",
       "--export", str(tmp / "sara.key"))
    for who in ("sam", "sara"):
        sq(sqhome, "key", "extract-cert", "-o", str(tmp / f"{who}.cert"), str(tmp / f"{who}.key"))
        keys(state, "import", str(tmp / f"{who}.cert"))
    # sq reads mailseal's certificates as exported (armored).
    shutil.copy(tmp / "alice.asc", tmp / "alice.cert")

    sink = PySink().start()
    gw = Mailseal(tmp, inside_next_hop=sink.next_hop(), extra="""
[seal]
formats = ["smime", "openpgp"]
[open]
""").start()
    yield type("World", (), dict(tmp=tmp, state=state, gpg=g, sqhome=sqhome, sink=sink, gw=gw,
                                 gary=gary, rita=rita))
    gw.stop()
    sink.stop()
    g.stop()


def sent_copies(world, n, before):
    msgs = world.sink.wait_messages(before + n)
    return msgs[before:]


def part_two(message: bytes) -> bytes:
    m = email.message_from_bytes(message, policy=email.policy.compat32)
    assert m.get_content_type() == "multipart/encrypted", message[:600]
    assert m.get_param("protocol") == "application/pgp-encrypted"
    one, two = m.get_payload()
    assert one.get_content_type() == "application/pgp-encrypted"
    assert "Version: 1" in one.get_payload()
    assert two.get_content_type() == "application/octet-stream"
    return two.get_payload().encode()


# -- outbound ---------------------------------------------------------------------------------


def test_outbound_pgp_mime_is_read_by_gpg_and_sq(world):
    before = len(world.sink.messages)
    msg = headers("Alice <alice@example.org>", "gary@partner.net, sam@partner.net",
                  "to gnupg and sequoia") + inner_entity()
    final, rcpt = smtp_send(world.gw.inside_port, "alice@example.org",
                            ["gary@partner.net", "sam@partner.net"], msg)
    assert [c for c, _ in rcpt] == [250, 250]
    assert final[0] == 250, final
    (copy,) = sent_copies(world, 1, before)
    assert sorted(copy["rcpt"]) == ["gary@partner.net", "sam@partner.net"]
    data = copy["data"]
    assert SECRET_LINE.encode() not in data
    outer = email.message_from_bytes(data, policy=email.policy.compat32)
    assert outer["Subject"] == "to gnupg and sequoia" and outer["From"]
    armored = part_two(data)
    assert armored.lstrip().startswith(b"-----BEGIN PGP MESSAGE-----")
    (world.tmp / "out.asc").write_bytes(armored)

    # gpg: decrypts with gary's key, good signature by alice's key, integrity protected.
    r = world.gpg("--status-fd", "2", "--decrypt", str(world.tmp / "out.asc"))
    st = r.stderr.decode()
    assert "GOODSIG" in st and "VALIDSIG" in st and "GOODMDC" in st, st
    inner = r.stdout
    assert b"Content-Type: text/plain" in inner and SECRET_LINE.encode() in inner
    assert b"\r\n" in inner  # the canonical CRLF entity was encrypted

    # sq 0.27: decrypts with sam's key and verifies alice's signature (exit 0 only then).
    r = sq(world.sqhome, "decrypt", "--recipient-key", str(world.tmp / "sam.key"),
           "--signer-cert", str(world.tmp / "alice.cert"), str(world.tmp / "out.asc"))
    assert SECRET_LINE.encode() in r.stdout


def test_rsa_sender_is_read_by_gpg(world):
    before = len(world.sink.messages)
    msg = headers("ron@example.org", "rita@partner.net", "rsa") + inner_entity()
    final, _ = smtp_send(world.gw.inside_port, "ron@example.org", ["rita@partner.net"], msg)
    assert final[0] == 250, final
    (copy,) = sent_copies(world, 1, before)
    (world.tmp / "ron.asc.msg").write_bytes(part_two(copy["data"]))
    r = world.gpg("--status-fd", "2", "--decrypt", str(world.tmp / "ron.asc.msg"))
    assert "GOODSIG" in r.stderr.decode() and SECRET_LINE.encode() in r.stdout


def test_mixed_formats_and_bcc(world):
    """To: carl (S/MIME only), Cc: gary (OpenPGP only), Bcc: sam (OpenPGP): one S/MIME
    copy, one OpenPGP copy, and sam's own OpenPGP copy without the Bcc header."""
    before = len(world.sink.messages)
    msg = headers("alice@example.org", "carl@partner.net", "mixed",
                  extra="Cc: gary@partner.net\r\nBcc: sam@partner.net\r\n") + inner_entity()
    final, rcpt = smtp_send(world.gw.inside_port, "alice@example.org",
                            ["carl@partner.net", "gary@partner.net", "sam@partner.net"], msg)
    assert final[0] == 250, final
    copies = sent_copies(world, 3, before)
    by_rcpt = {tuple(c["rcpt"]): c["data"] for c in copies}
    assert set(by_rcpt) == {("carl@partner.net",), ("gary@partner.net",), ("sam@partner.net",)}
    for data in by_rcpt.values():
        head = data.split(b"\r\n\r\n")[0]
        assert b"\nBcc:" not in head and b"sam@partner.net" not in head
        assert SECRET_LINE.encode() not in data
    smime = email.message_from_bytes(by_rcpt[("carl@partner.net",)], policy=email.policy.compat32)
    assert smime.get_content_type() == "application/pkcs7-mime"
    for who, key in (("gary@partner.net", None), ("sam@partner.net", "sam.key")):
        armored = part_two(by_rcpt[(who,)])
        (world.tmp / "mixed.asc").write_bytes(armored)
        if key is None:
            r = world.gpg("--status-fd", "2", "--decrypt", str(world.tmp / "mixed.asc"))
            assert "GOODSIG" in r.stderr.decode()
        else:
            r = sq(world.sqhome, "decrypt", "--recipient-key", str(world.tmp / key),
                   "--signer-cert", str(world.tmp / "alice.cert"), str(world.tmp / "mixed.asc"))
        assert SECRET_LINE.encode() in r.stdout


def test_recipient_without_any_key_is_refused_at_rcpt(world):
    final, rcpt = smtp_send(world.gw.inside_port, "alice@example.org",
                            ["nobody@partner.net", "gary@partner.net"],
                            headers("alice@example.org", "gary@partner.net", "x") + inner_entity())
    assert status(rcpt[0]) == (550, "5.7.1")
    assert rcpt[1][0] == 250 and final[0] == 250


def test_sign_only_fallback_is_verified_by_gpg(tmp_path, world):
    # The spool's control socket belongs to the running daemon; sockets cannot be copied.
    shutil.copytree(world.state, tmp_path / "state", ignore=shutil.ignore_patterns("control"))
    sink = PySink().start()
    gw = Mailseal(tmp_path, inside_next_hop=sink.next_hop(), extra="""
[seal]
formats = ["openpgp", "smime"]
no_certificate = "sign-only"
""").start()
    try:
        final, rcpt = smtp_send(gw.inside_port, "alice@example.org", ["nokey@partner.net"],
                                headers("alice@example.org", "nokey@partner.net", "signed") +
                                inner_entity())
        assert rcpt[0][0] == 250 and final[0] == 250, final
        (copy,) = sink.wait_messages(1)
    finally:
        gw.stop()
        sink.stop()
    data = copy["data"]
    m = email.message_from_bytes(data, policy=email.policy.compat32)
    assert m.get_content_type() == "multipart/signed"
    assert m.get_param("protocol") == "application/pgp-signature"
    assert m.get_param("micalg") == "pgp-sha256"
    # The signed bytes are exactly the first part (RFC 3156 5), taken from the raw data.
    boundary = m.get_param("boundary").encode()
    body = data.split(b"\r\n\r\n", 1)[1]
    parts = body.split(b"\r\n--" + boundary)  # preamble, first part, signature part, "--"
    first = parts[1][2:]  # after the CRLF that ends the delimiter line
    sig = parts[2].split(b"\r\n\r\n", 1)[1]
    (tmp_path / "signed").write_bytes(first)
    (tmp_path / "signed.asc").write_bytes(sig)
    r = world.gpg("--status-fd", "2", "--verify", str(tmp_path / "signed.asc"),
                  str(tmp_path / "signed"))
    assert "GOODSIG" in r.stderr.decode()
    assert SECRET_LINE.encode() in first


# -- inbound ----------------------------------------------------------------------------------


def send_in(world, frm, message, rcpt="alice@example.org"):
    return smtp_send(world.gw.outside_port, frm, [rcpt], message)


@pytest.mark.parametrize("who", ["gary", "rita"])
def test_inbound_gpg_pgp_mime(world, who):
    entity = inner_entity()
    r = world.gpg("--sign", "--encrypt", "-a", "-u", f"{who}@partner.net",
                  "-r", "alice@example.org", input=entity)
    n = count(world.gw, "alice@example.org")
    msg = headers(f"{who}@partner.net", "alice@example.org", f"from gpg {who}") + pgp_mime(r.stdout)
    final, _ = send_in(world, f"{who}@partner.net", msg)
    assert final[0] == 250, final
    out = delivered(world.gw, "alice@example.org", n)
    t = trace(out)
    assert "verdict=valid" in t and "format=openpgp" in t, t
    fpr = world.gary if who == "gary" else world.rita
    assert f"openpgp:{fpr}" in t and f"signer={who}@partner.net" in t, t
    assert ("EDDSA" if who == "gary" else "RSA") in t
    assert SECRET_LINE.encode() in out and b"BEGIN PGP" not in out
    assert email.message_from_bytes(out).get_content_type() == "text/plain"


def test_inbound_gpg_inline_encrypted_and_cleartext(world):
    n = count(world.gw, "alice@example.org")
    enc = world.gpg("--sign", "--encrypt", "-a", "-u", "gary@partner.net", "-r",
                    "alice@example.org", input=SECRET_LINE.encode() + b"\n").stdout
    msg = headers("gary@partner.net", "alice@example.org", "inline") + \
        b"Content-Type: text/plain; charset=us-ascii\r\n\r\n" + crlf(enc)
    final, _ = send_in(world, "gary@partner.net", msg)
    assert final[0] == 250, final
    out = delivered(world.gw, "alice@example.org", n)
    assert "verdict=valid" in trace(out) and SECRET_LINE.encode() in out
    assert b"BEGIN PGP" not in out

    clear = world.gpg("--clearsign", "-u", "rita@partner.net",
                      input=b"signed in the clear\nsecond line\n").stdout
    msg = headers("rita@partner.net", "alice@example.org", "clearsigned") + \
        b"Content-Type: text/plain\r\n\r\n" + crlf(clear)
    final, _ = send_in(world, "rita@partner.net", msg)
    assert final[0] == 250, final
    out = delivered(world.gw, "alice@example.org", n + 1)
    t = trace(out)
    assert "verdict=valid" in t and "encryption=none" in t, t
    assert b"signed in the clear" in out


@pytest.mark.parametrize("who", ["sam", "sara"])
def test_inbound_sq_pgp_mime(world, who):
    (world.tmp / "entity").write_bytes(inner_entity())
    r = sq(world.sqhome, "encrypt", "--recipient-cert", str(world.tmp / "alice.cert"),
           "--signer-key", str(world.tmp / f"{who}.key"), str(world.tmp / "entity"))
    n = count(world.gw, "alice@example.org")
    msg = headers(f"{who}@partner.net", "alice@example.org", f"from sq {who}") + pgp_mime(r.stdout)
    final, _ = send_in(world, f"{who}@partner.net", msg)
    assert final[0] == 250, final
    out = delivered(world.gw, "alice@example.org", n)
    t = trace(out)
    assert "verdict=valid" in t and f"signer={who}@partner.net" in t, t
    assert SECRET_LINE.encode() in out


@pytest.mark.parametrize("tool", ["gpg", "sq"])
def test_inbound_signed_only_and_tampered(world, tool):
    entity = inner_entity()
    if tool == "gpg":
        sig = world.gpg("--detach-sign", "-a", "-u", "rita@partner.net", input=entity).stdout
        frm = "rita@partner.net"
    else:
        (world.tmp / "signed-entity").write_bytes(entity)
        sig = sq(world.sqhome, "sign", "--detached", "--signer-key", str(world.tmp / "sam.key"),
                 str(world.tmp / "signed-entity")).stdout
        frm = "sam@partner.net"
    n = count(world.gw, "alice@example.org")
    final, _ = send_in(world, frm, headers(frm, "alice@example.org", "signed") +
                       pgp_signed(entity, sig))
    assert final[0] == 250, final
    out = delivered(world.gw, "alice@example.org", n)
    t = trace(out)
    assert "verdict=valid" in t and "encryption=none" in t and f"signer={frm}" in t, t
    assert SECRET_LINE.encode() in out and b"BEGIN PGP SIGNATURE" not in out

    tampered = entity.replace(b"4 8 15", b"4 8 16")
    final, _ = send_in(world, frm, headers(frm, "alice@example.org", "signed, changed") +
                       pgp_signed(tampered, sig))
    assert status(final) == (554, "5.7.7"), final
    assert count(world.gw, "alice@example.org") == n + 1


def test_inbound_tampered_ciphertext_is_refused(world):
    binary = world.gpg("--sign", "--encrypt", "-u", "gary@partner.net", "-r",
                       "alice@example.org", input=inner_entity()).stdout
    bad = bytearray(binary)
    bad[len(bad) - 30] ^= 0x01  # inside the encrypted data, before the MDC
    n = count(world.gw, "alice@example.org")
    msg = headers("gary@partner.net", "alice@example.org", "tampered") + pgp_mime(armor(bytes(bad)))
    final, _ = send_in(world, "gary@partner.net", msg)
    assert status(final) == (554, "5.7.7"), final
    assert count(world.gw, "alice@example.org") == n


def test_inbound_without_mdc_is_refused(world):
    binary = world.gpg("--rfc2440", "--cipher-algo", "AES256", "--sign", "--encrypt",
                       "-u", "rita@partner.net", "-r", "ron@example.org",
                       input=inner_entity()).stdout
    packets = world.gpg("--list-packets", input=binary, check=False).stdout.decode()
    assert "mdc_method" not in packets  # really a SED packet (tag 9) without MDC
    msg = headers("rita@partner.net", "ron@example.org", "no mdc") + pgp_mime(armor(binary))
    final, _ = send_in(world, "rita@partner.net", msg, rcpt="ron@example.org")
    assert status(final) == (554, "5.7.7"), final


def test_inbound_signer_not_from_is_refused(world):
    r = world.gpg("--sign", "--encrypt", "-a", "-u", "gary@partner.net",
                  "-r", "alice@example.org", input=inner_entity())
    msg = headers("rita@partner.net", "alice@example.org", "forged from") + pgp_mime(r.stdout)
    final, _ = send_in(world, "rita@partner.net", msg)
    assert status(final) == (550, "5.7.1"), final


def test_inbound_strips_our_headers_and_plain_mail_passes_once(world):
    n = count(world.gw, "alice@example.org")
    msg = headers("x@partner.net", "alice@example.org", "plain",
                  extra="X-Mailseal-Verification: verdict=valid; forged\r\n") + \
        b"Content-Type: text/plain\r\n\r\nhello\r\n"
    final, _ = send_in(world, "x@partner.net", msg)
    assert final[0] == 250, final
    out = delivered(world.gw, "alice@example.org", n)
    assert out.count(b"X-Mailseal-Verification") == 1 and b"forged" not in out
    assert "verdict=unsigned" in trace(out)
