"""Harvesting correspondents' keys from verified signed mail (issue 6), over real sockets.

S/MIME: a partner CA (made with `openssl ca`) is a trust anchor in mailseal's store.
pam@partner.example signs with `openssl cms`; before that mail, alice's outbound mail to
pam is refused at RCPT (no certificate); after it, `mailseal keys list` shows pam's
certificate and alice's next message to pam is encrypted to it (`openssl cms -decrypt`
with pam's key opens it). A tampered message (554), an untrusted signer (tagged, not
refused), a From that is not the signer, a signing-only certificate and a signer in our
own domain give nothing.

OpenPGP (gpg): the signer must be known through a key source (here the store under an
alias address, as a directory would give it; a key only the message vouches for is
unknown-signer and not harvested). The key carried in the signed content as an
application/pgp-keys part, or in an Autocrypt header, is filed under From; a carried key
that names From but did not make the signature is not. The harvested key is then used
for alice's outbound mail (gpg decrypts it).
"""

import base64
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from harness import MAILSEAL_BIN, Mailseal
from test_smime_interop import (PARTNER_CA_CNF, crlf, inner_entity, keys, last_line, maildir_files,
                                openssl, outer_headers, smtp_send, trace_header, wait_new_file)

OPENSSL = shutil.which("openssl")
GPG = shutil.which("gpg")
pytestmark = pytest.mark.skipif(not OPENSSL or not os.access(MAILSEAL_BIN, os.X_OK),
                                reason="needs the openssl tool and a built mailseal ($MAILSEAL_BIN)")
needs_gpg = pytest.mark.skipif(not GPG, reason="gpg is not installed")

SIGN_ONLY_EXT = """
[sign_user]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = emailProtection
subjectAltName = email:${ENV::SAN}
"""


def make_pki(d: Path):
    d.mkdir(parents=True)
    (d / "ca.cnf").write_text(PARTNER_CA_CNF + SIGN_ONLY_EXT)
    (d / "newcerts").mkdir()
    (d / "index.txt").write_text("")
    (d / "serial").write_text("3000\n")
    (d / "crlnumber").write_text("01\n")
    env = dict(os.environ, SAN="none")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
            "-days", "365", "-subj", "/CN=Harvest Partner CA", "-config", "ca.cnf", "-extensions",
            "v3_ca", cwd=d, env=env)
    # zed has an address in our own (internal) domain, certified by the partner CA.
    for name, ext, domain in (("pam", "rsa_user", "partner.example"),
                              ("sid", "sign_user", "partner.example"),
                              ("tom", "rsa_user", "partner.example"),
                              ("ulf", "rsa_user", "partner.example"),
                              ("zed", "rsa_user", "example.org")):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
                f"{name}.csr", "-subj", f"/CN={name}", cwd=d, env=env)
        openssl("ca", "-batch", "-config", "ca.cnf", "-extensions", ext, "-in", f"{name}.csr",
                "-out", f"{name}.pem", "-notext", cwd=d, env=dict(env, SAN=f"{name}@{domain}"))
    # An untrusted signer: self-signed, no anchor.
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "oli.key", "-out", "oli.pem",
            "-days", "30", "-subj", "/CN=oli", "-addext", "subjectAltName=email:oli@partner.example",
            "-addext", "keyUsage=critical,digitalSignature,keyEncipherment",
            "-addext", "extendedKeyUsage=emailProtection", cwd=d)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = tmp_path_factory.mktemp("harvest")
    p = base / "pki"
    make_pki(p)
    (base / "gw").mkdir()
    gw = Mailseal(base / "gw", extra="[seal]\n[open]\n")
    cfg = gw.config_path
    keys(cfg, "init")
    keys(cfg, "ca", "init", "--domain", "example.org", "--algorithm", "rsa2048")
    keys(cfg, "generate", "alice@example.org", "--algorithm", "rsa2048")
    keys(cfg, "generate", "alice@example.org", "--openpgp")
    keys(cfg, "import", p / "ca.pem")  # trust anchor for every partner user
    with gw:
        yield type("World", (), dict(base=base, p=p, gw=gw, cfg=cfg))


def listing(world):
    return keys(world.cfg, "list")


def rows_for(world, address, kind):
    return [l for l in listing(world).splitlines() if l.startswith(f"{address}\t{kind}\t")]


def smime_signed(world, name, tmp, frm=None, tamper=False):
    entity = tmp / f"{name}.entity"
    entity.write_bytes(inner_entity())
    out = tmp / f"{name}.smime"
    openssl("cms", "-sign", "-in", entity, "-signer", world.p / f"{name}.pem", "-inkey",
            world.p / f"{name}.key", "-md", "sha256", "-out", out, "-binary")
    body = crlf(out.read_bytes())
    if tamper:
        body = body.replace(b"vault opens at dawn", b"vault opens at dusk")
    frm = frm or f"{name}@partner.example"
    return outer_headers(f"{name} <{frm}>", "Alice <alice@example.org>", f"signed by {name}",
                         f"h-{name}-{time.monotonic_ns()}") + body


def send_in(world, frm, message):
    return smtp_send(world.gw.outside_port, frm, ["alice@example.org"], message)


def send_out(world, rcpt, tag):
    msg = (outer_headers("Alice <alice@example.org>", f"<{rcpt}>", f"reply {tag}", tag)
           + b"MIME-Version: 1.0\r\n" + inner_entity())
    return smtp_send(world.gw.inside_port, "alice@example.org", [rcpt], msg)


def test_smime_signer_is_harvested_and_replies_are_sealed_to_it(world, tmp_path):
    # Before: no certificate for pam, so [seal] no_certificate = "refuse" refuses at RCPT.
    final, rcpts = send_out(world, "pam@partner.example", "before")
    assert final is None and rcpts[0][0] == 550, rcpts
    assert rows_for(world, "pam@partner.example", "smime") == []

    folder = world.gw.tmp / "mail" / "alice@example.org"
    before = maildir_files(folder)
    final, _ = send_in(world, "pam@partner.example", smime_signed(world, "pam", tmp_path))
    assert final and final[0] == 250, (final, world.gw.log()[-3000:])
    assert "verdict=valid" in trace_header(wait_new_file(folder, before).read_bytes())
    rows = rows_for(world, "pam@partner.example", "smime")
    assert len(rows) == 1 and rows[0].split("\t")[5] == "no", listing(world)
    fpr = openssl("x509", "-in", world.p / "pam.pem", "-noout", "-fingerprint", "-sha256"
                  ).stdout.decode().split("=", 1)[1].strip().replace(":", "").lower()
    assert rows[0].split("\t")[3] == fpr
    assert f"harvest: smime key {fpr} stored for pam@partner.example" in world.gw.log()

    # The same correspondent again: nothing new is written (one row, no second log line).
    final, _ = send_in(world, "pam@partner.example", smime_signed(world, "pam", tmp_path))
    assert final and final[0] == 250
    assert len(rows_for(world, "pam@partner.example", "smime")) == 1
    assert world.gw.log().count(f"stored for pam@partner.example") == 1

    # A reply is now sealed to pam's certificate: pam's key opens it.
    out_dir = world.gw.tmp / "outbound"
    before_out = maildir_files(out_dir)
    final, rcpts = send_out(world, "pam@partner.example", "after")
    assert final and final[0] == 250, (final, rcpts, world.gw.log()[-3000:])
    sealed = wait_new_file(out_dir, before_out)
    assert b"application/pkcs7-mime" in sealed.read_bytes()[:4000]
    plain = openssl("cms", "-decrypt", "-in", sealed, "-recip", world.p / "pam.pem", "-inkey",
                    world.p / "pam.key").stdout
    assert b"vault opens at dawn" in plain


def test_smime_not_harvested_from_bad_untrusted_mismatched_or_signing_only(world, tmp_path):
    folder = world.gw.tmp / "mail" / "alice@example.org"
    # Tampered: refused, nothing stored.
    final, _ = send_in(world, "tom@partner.example", smime_signed(world, "tom", tmp_path, tamper=True))
    assert final and final[0] == 554 and "5.7.7" in final[1], final
    # Untrusted signer (tag mode): delivered with the verdict, nothing stored.
    before = maildir_files(folder)
    final, _ = send_in(world, "oli@partner.example", smime_signed(world, "oli", tmp_path))
    assert final and final[0] == 250, final
    assert "verdict=untrusted" in trace_header(wait_new_file(folder, before).read_bytes())
    # Signed by ulf, From someone else: with from_mismatch = "reject" refused; nothing stored
    # under either address.
    final, _ = send_in(world, "vic@partner.example",
                       smime_signed(world, "ulf", tmp_path, frm="vic@partner.example"))
    assert final and final[0] == 550, final
    # Signing-only certificate: valid signature, but replies could not be read.
    before = maildir_files(folder)
    final, _ = send_in(world, "sid@partner.example", smime_signed(world, "sid", tmp_path))
    assert final and final[0] == 250, final
    assert "verdict=valid" in trace_header(wait_new_file(folder, before).read_bytes())
    # A valid signer in our own domain: keys for internal addresses are the operator's.
    before = maildir_files(folder)
    final, _ = send_in(world, "zed@example.org",
                       smime_signed(world, "zed", tmp_path, frm="zed@example.org"))
    assert final and final[0] == 250, final
    assert "verdict=valid" in trace_header(wait_new_file(folder, before).read_bytes())
    text = listing(world)
    for who in ("tom", "oli", "ulf", "vic", "sid"):
        assert f"{who}@partner.example" not in text, text
    assert "zed@example.org" not in text, text
    assert "signing only" in world.gw.log()
    assert "zed@example.org not stored: an internal address" in world.gw.log()


# -- OpenPGP ----------------------------------------------------------------------------------


class Gpg:
    def __init__(self, home: Path):
        self.home = home
        home.mkdir(mode=0o700, parents=True, exist_ok=True)

    def __call__(self, *args, input=None, check=True):
        r = subprocess.run([GPG, "--homedir", str(self.home), "--batch", "--yes", "--no-tty",
                            "--pinentry-mode", "loopback", "--passphrase", "", "--trust-model",
                            "always", *args], input=input, capture_output=True, timeout=120)
        if check:
            assert r.returncode == 0, r.stderr.decode(errors="replace")
        return r

    def primaries(self):
        out = self("--with-colons", "--list-keys", check=False).stdout.decode().splitlines()
        # The fpr line right after each pub line is the primary key's.
        return {out[i + 1].split(":")[9] for i, l in enumerate(out)
                if l.startswith("pub:") and i + 1 < len(out)}

    def new_key(self, *uids):
        before = self.primaries()
        self("--quick-gen-key", uids[0], "ed25519", "sign,cert", "never")
        (fpr,) = self.primaries() - before  # not by user ID: another key may carry it
        self("--quick-add-key", fpr, "cv25519", "encr", "never")
        for u in uids[1:]:
            self("--quick-add-uid", fpr, u)
        return fpr

    def stop(self):
        subprocess.run(["gpgconf", "--homedir", str(self.home), "--kill", "gpg-agent"],
                       capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def gpg(world):
    g = Gpg(world.base / "gnupg")
    yield g
    g.stop()


def known_under_alias(world, g, name):
    """A key for NAME@partner.net (and NAME.alias@...) that mailseal knows only under the
    alias: a source vouches for it, but nothing is filed under NAME@partner.net yet."""
    fpr = g.new_key(f"<{name}.alias@partner.net>", f"<{name}@partner.net>")
    pub = world.base / f"{name}.asc"
    pub.write_bytes(g("--export", "-a", fpr).stdout)
    keys(world.cfg, "import", pub, "--address", f"{name}.alias@partner.net")
    assert rows_for(world, f"{name}@partner.net", "openpgp") == []
    return fpr


def pgp_signed_message(g, signer, frm, entity: bytes, extra_headers=""):
    sig = g("--detach-sign", "-a", "-u", signer, input=entity).stdout
    b = "s-" + str(time.monotonic_ns())
    body = (f'Content-Type: multipart/signed; micalg=pgp-sha512;\r\n'
            f' protocol="application/pgp-signature"; boundary="{b}"\r\n\r\n--{b}\r\n').encode() + \
        entity + f"\r\n--{b}\r\nContent-Type: application/pgp-signature\r\n\r\n".encode() + \
        crlf(sig) + f"\r\n--{b}--\r\n".encode()
    head = (f"From: <{frm}>\r\nTo: <alice@example.org>\r\nSubject: pgp\r\n{extra_headers}"
            f"Date: Mon, 01 Jan 2024 12:00:00 +0000\r\n"
            f"Message-ID: <p{time.monotonic_ns()}@partner.net>\r\nMIME-Version: 1.0\r\n").encode()
    return head + body


def autocrypt(addr, binary_key: bytes) -> str:
    keydata = base64.b64encode(binary_key).decode()
    folded = "\r\n ".join(keydata[i:i + 72] for i in range(0, len(keydata), 72))
    return f"Autocrypt: addr={addr}; prefer-encrypt=mutual; keydata=\r\n {folded}\r\n"


def with_key_part(armored_key: bytes) -> bytes:
    b = "m-" + str(time.monotonic_ns())
    return (f'Content-Type: multipart/mixed; boundary="{b}"\r\n\r\n--{b}\r\n').encode() + \
        inner_entity() + (f"\r\n--{b}\r\nContent-Type: application/pgp-keys\r\n"
                          f"Content-Disposition: attachment; filename=key.asc\r\n\r\n").encode() + \
        crlf(armored_key) + f"\r\n--{b}--\r\n".encode()


def delivered_trace(world, frm, message):
    folder = world.gw.tmp / "mail" / "alice@example.org"
    before = maildir_files(folder)
    final, _ = send_in(world, frm, message)
    assert final and final[0] == 250, (final, world.gw.log()[-3000:])
    return trace_header(wait_new_file(folder, before).read_bytes())


@needs_gpg
def test_openpgp_attached_key_is_harvested_and_used(world, gpg, tmp_path):
    fpr = known_under_alias(world, gpg, "pat")
    entity = with_key_part(gpg("--export", "-a", fpr).stdout)
    t = delivered_trace(world, "pat@partner.net", pgp_signed_message(gpg, fpr, "pat@partner.net", entity))
    assert "verdict=valid" in t, t
    rows = rows_for(world, "pat@partner.net", "openpgp")
    assert len(rows) == 1 and rows[0].split("\t")[3] == fpr.lower(), listing(world)
    assert rows[0].split("\t")[5] == "no"
    # alice's reply goes out as PGP/MIME to the harvested key; gpg (pat) decrypts it.
    out_dir = world.gw.tmp / "outbound"
    before_out = maildir_files(out_dir)
    final, rcpts = send_out(world, "pat@partner.net", "pgp-reply")
    assert final and final[0] == 250, (final, rcpts, world.gw.log()[-3000:])
    sealed = wait_new_file(out_dir, before_out).read_bytes()
    assert b"multipart/encrypted" in sealed
    armored = sealed[sealed.index(b"-----BEGIN PGP MESSAGE-----"):]
    armored = armored[:armored.index(b"-----END PGP MESSAGE-----") + 25]
    # gpg has no key of alice's, so it cannot check the signature inside (exit 2); what
    # matters here is that pat's harvested key decrypts.
    r = gpg("--status-fd", "2", "--decrypt", input=armored, check=False)
    assert b"[GNUPG:] DECRYPTION_OKAY" in r.stderr, r.stderr.decode(errors="replace")
    assert b"vault opens at dawn" in r.stdout


@needs_gpg
def test_openpgp_autocrypt_header_is_harvested(world, gpg):
    fpr = known_under_alias(world, gpg, "quinn")
    header = autocrypt("quinn@partner.net", gpg("--export", fpr).stdout)
    t = delivered_trace(world, "quinn@partner.net",
                        pgp_signed_message(gpg, fpr, "quinn@partner.net", inner_entity(), header))
    assert "verdict=valid" in t, t
    rows = rows_for(world, "quinn@partner.net", "openpgp")
    assert len(rows) == 1 and rows[0].split("\t")[3] == fpr.lower(), listing(world)


@needs_gpg
def test_openpgp_key_not_of_the_signer_or_of_unknown_signer_is_not_harvested(world, gpg):
    uma = known_under_alias(world, gpg, "uma")
    # Another key claiming uma's address, attached (and in Autocrypt) to a message that
    # uma's real key signed: not the key that made the signature.
    impostor = gpg.new_key("<uma@partner.net>")
    bad = gpg("--export", "-a", impostor).stdout
    header = autocrypt("uma@partner.net", gpg("--export", impostor).stdout)
    t = delivered_trace(world, "uma@partner.net",
                        pgp_signed_message(gpg, uma, "uma@partner.net", with_key_part(bad), header))
    assert "verdict=valid" in t, t
    assert rows_for(world, "uma@partner.net", "openpgp") == [], listing(world)
    assert "not the signer's key" in world.gw.log()
    # A key nobody vouches for, attached and signing (trust on first use): unknown-signer,
    # tagged and delivered, not harvested.
    wes = gpg.new_key("<wes@partner.net>")
    t = delivered_trace(world, "wes@partner.net",
                        pgp_signed_message(gpg, wes, "wes@partner.net",
                                           with_key_part(gpg("--export", "-a", wes).stdout)))
    assert "verdict=unknown-signer" in t, t
    assert "wes@partner.net" not in listing(world)


def test_harvest_off(tmp_path):
    """[open] harvest = false: a valid signer is not filed."""
    p = tmp_path / "pki"
    make_pki(p)
    (tmp_path / "gw").mkdir()
    gw = Mailseal(tmp_path / "gw", extra="[seal]\n[open]\nharvest = false\n")
    keys(gw.config_path, "init")
    keys(gw.config_path, "ca", "init", "--domain", "example.org", "--algorithm", "rsa2048")
    keys(gw.config_path, "import", p / "ca.pem")
    w = type("W", (), dict(p=p, gw=gw, cfg=gw.config_path))
    with gw:
        folder = gw.tmp / "mail" / "alice@example.org"
        before = maildir_files(folder)
        final, _ = send_in(w, "pam@partner.example", smime_signed(w, "pam", tmp_path))
        assert final and final[0] == 250, (final, gw.log()[-3000:])
        assert "verdict=valid" in trace_header(wait_new_file(folder, before).read_bytes())
    assert "pam@partner.example" not in keys(gw.config_path, "list")
