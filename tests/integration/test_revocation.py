"""Issue 6, revocation of S/MIME certificates: OCSP and CRLs from the certificates' own
URLs, against a local CA made with `openssl ca`, a real `openssl ocsp` responder and a tiny
HTTP server for the CRL (both started here, on loopback).

The partner CA issues certificates whose AIA names the OCSP responder
(http://127.0.0.1:OCSP_PORT) and whose CRL distribution point is
http://127.0.0.1:CRL_PORT/ca.crl. The OCSP answers come from a delegated responder
certificate (EKU OCSPSigning). Users:
  ron   good                                    -> sealed to
  rita  revoked, known to OCSP only             -> never encrypted to (550 5.7.1 at RCPT)
  carl  revoked and listed in the served CRL    -> never encrypted to (CRL case, OCSP off)
  sam   revoked, known to OCSP only, signs mail -> inbound 554 5.7.5 ([open] revoked = reject)
The responder down: soft-fail seals and logs a warning, hard-fail answers 451 4.7.0.
OpenPGP: a key revoked after it signed (gpg's revocation certificate, imported with
`mailseal keys import`) no longer gets its signature accepted.
"""

import contextlib
import functools
import http.server
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness import MAILSEAL_BIN, Mailseal, free_port
from test_smime_interop import (crlf, inner_entity, keys, maildir_files, openssl, outer_headers,
                                smtp_send, trace_header, wait_new_file)

OPENSSL = shutil.which("openssl")
pytestmark = pytest.mark.skipif(not OPENSSL or not os.access(MAILSEAL_BIN, os.X_OK),
                                reason="needs the openssl tool and a built mailseal ($MAILSEAL_BIN)")

CA_CNF = """\
[ca]
default_ca = partner
[partner]
dir = .
database = ./index.txt
new_certs_dir = ./newcerts
serial = ./serial
crlnumber = ./crlnumber
certificate = ./ca.pem
private_key = ./ca.key
default_md = sha256
default_days = 30
default_crl_days = 30
policy = anything
unique_subject = no
copy_extensions = none
email_in_dn = no
[anything]
commonName = supplied
[user]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = emailProtection
subjectAltName = email:${ENV::SAN}
authorityInfoAccess = OCSP;URI:http://127.0.0.1:${ENV::OCSP_PORT}
crlDistributionPoints = URI:http://127.0.0.1:${ENV::CRL_PORT}/ca.crl
[responder]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = OCSPSigning
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
"""


def make_pki(d: Path, ocsp_port, crl_port):
    d.mkdir(parents=True)
    (d / "ca.cnf").write_text(CA_CNF)
    (d / "newcerts").mkdir()
    (d / "index.txt").write_text("")
    (d / "serial").write_text("2000\n")
    (d / "crlnumber").write_text("01\n")
    env = dict(os.environ, SAN="none", OCSP_PORT=str(ocsp_port), CRL_PORT=str(crl_port))
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
            "-days", "365", "-subj", "/CN=Revocation Test CA", "-config", "ca.cnf", "-extensions",
            "v3_ca", cwd=d, env=env)
    for name, ext in (("ocsp", "responder"), ("ron", "user"), ("rita", "user"), ("carl", "user"),
                      ("sam", "user")):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
                f"{name}.csr", "-subj", f"/CN={name}", cwd=d, env=env)
        openssl("ca", "-batch", "-config", "ca.cnf", "-extensions", ext, "-in", f"{name}.csr",
                "-out", f"{name}.pem", "-notext", cwd=d, env=dict(env, SAN=f"{name}@partner.example"))
    # carl is in the CRL; rita and sam are revoked after it was made: only OCSP knows them.
    openssl("ca", "-config", "ca.cnf", "-revoke", "carl.pem", cwd=d, env=env)
    openssl("ca", "-config", "ca.cnf", "-gencrl", "-out", "crl.pem", cwd=d, env=env)
    (d / "www").mkdir()
    openssl("crl", "-in", "crl.pem", "-outform", "DER", "-out", "www/ca.crl", cwd=d)
    for name in ("rita", "sam"):
        openssl("ca", "-config", "ca.cnf", "-revoke", f"{name}.pem", cwd=d, env=env)


def wait_responder(p, port, timeout=15.0):
    """Waits until `openssl ocsp` answers a real query. (Not harness.wait_port: the
    OpenSSL 3.0 responder blocks for good on a connection closed without a request.)"""
    deadline = time.time() + timeout
    while True:
        try:
            r = subprocess.run([OPENSSL, "ocsp", "-issuer", "ca.pem", "-cert", "ron.pem", "-url",
                                f"http://127.0.0.1:{port}", "-CAfile", "ca.pem"], cwd=p,
                               capture_output=True, timeout=5)
            if b"ron.pem: good" in r.stdout:
                return
        except subprocess.TimeoutExpired:
            pass
        if time.time() > deadline:
            raise TimeoutError("the OCSP responder does not answer")
        time.sleep(0.2)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = tmp_path_factory.mktemp("revocation")
    ocsp_port, crl_port = free_port(), free_port()
    p = base / "pki"
    make_pki(p, ocsp_port, crl_port)
    responder = subprocess.Popen(
        [OPENSSL, "ocsp", "-index", "index.txt", "-port", str(ocsp_port), "-rsigner", "ocsp.pem",
         "-rkey", "ocsp.key", "-CA", "ca.pem", "-ndays", "1"],
        cwd=p, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    crl_server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", crl_port), functools.partial(QuietHandler, directory=str(p / "www")))
    threading.Thread(target=crl_server.serve_forever, daemon=True).start()
    try:
        wait_responder(p, ocsp_port)
        state = base / "state"
        (base / "setup").mkdir()
        setup = Mailseal(base / "setup")
        text = setup.config_path.read_text().replace(f'state_dir = "{setup.state}"', f'state_dir = "{state}"')
        setup.config_path.write_text(text)
        cfg = setup.config_path
        keys(cfg, "init")
        keys(cfg, "ca", "init", "--domain", "example.org", "--algorithm", "rsa2048")
        keys(cfg, "generate", "alice@example.org", "--algorithm", "rsa2048")
        keys(cfg, "import", p / "ca.pem")  # trust anchor: the issuer of every partner user
        for name in ("ron", "rita", "carl"):
            keys(cfg, "import", p / f"{name}.pem")
        yield SimpleNamespace(base=base, p=p, state=state, ocsp_port=ocsp_port, crl_port=crl_port)
    finally:
        crl_server.shutdown()
        responder.terminate()
        responder.wait(10)


def gateway(world, name, revocation):
    """A daemon on the shared store with a [revocation] table of its own."""
    tmp = world.base / name
    tmp.mkdir()
    gw = Mailseal(tmp, extra=f"[seal]\n[open]\n[revocation]\n{revocation}\n")
    text = gw.config_path.read_text().replace(f'state_dir = "{gw.state}"', f'state_dir = "{world.state}"')
    gw.config_path.write_text(text)
    gw.state = world.state
    return gw


def send_to(gw, rcpt, tag):
    msg = (outer_headers("Alice <alice@example.org>", f"<{rcpt}>", f"revocation {tag}", tag)
           + b"MIME-Version: 1.0\r\n" + inner_entity())
    return smtp_send(gw.inside_port, "alice@example.org", [rcpt], msg)


def test_ocsp_good_recipient_is_sealed_revoked_is_refused(world):
    with gateway(world, "gw-ocsp", 'ocsp = "hard-fail"\ncrl_fetch = false') as gw:
        out = gw.tmp / "outbound"
        before = maildir_files(out)
        final, rcpts = send_to(gw, "ron@partner.example", "good")
        assert final and final[0] == 250, (final, rcpts, gw.log()[-3000:])
        sealed = wait_new_file(out, before).read_bytes()
        assert b"application/pkcs7-mime" in sealed
        final, rcpts = send_to(gw, "rita@partner.example", "revoked")
        assert final is None
        assert rcpts[0][0] == 550 and "5.7.1" in rcpts[0][1], rcpts
        assert "revoked" in gw.log()


def test_crl_revoked_recipient_is_refused(world):
    # OCSP off: only the CRL fetched from carl's distribution point can know he is revoked.
    with gateway(world, "gw-crl", 'ocsp = "off"') as gw:
        final, rcpts = send_to(gw, "carl@partner.example", "crl")
        assert final is None
        assert rcpts[0][0] == 550 and "5.7.1" in rcpts[0][1], (rcpts, gw.log()[-3000:])
        final, rcpts = send_to(gw, "ron@partner.example", "crl-good")
        assert final and final[0] == 250, (final, rcpts, gw.log()[-3000:])
        assert "fetched CRL stored" in gw.log()
    # Written to the store like `keys import crl.pem` (the open side and a restart use it).
    with sqlite3.connect(world.state / "keys.db") as db:
        rows = db.execute("SELECT issuer FROM crls").fetchall()
    assert [r for r in rows if "Revocation Test CA" in r[0]], rows


@contextlib.contextmanager
def refused_port():
    """A port bound but not listening: connections to it are refused, and no test running
    in parallel can start a server on it meanwhile (free_port() alone could hand it out)."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield held.getsockname()[1]


def test_responder_down_soft_fail_seals_with_warning(world):
    with refused_port() as dead, \
            gateway(world, "gw-soft", f'ocsp = "soft-fail"\nocsp_url = "http://127.0.0.1:{dead}/"\n'
                                      'ocsp_timeout = "2s"\ncrl_fetch = false') as gw:
        final, rcpts = send_to(gw, "ron@partner.example", "soft")
        assert final and final[0] == 250, (final, rcpts, gw.log()[-3000:])
        log = gw.log()
        assert re.search(r"warn.*revocation: OCSP check of .*ron.* failed.*soft-fail", log), log[-3000:]


def test_responder_down_hard_fail_is_temporary(world):
    with refused_port() as dead, \
            gateway(world, "gw-hard", f'ocsp = "hard-fail"\nocsp_url = "http://127.0.0.1:{dead}/"\n'
                                      'ocsp_timeout = "2s"\ncrl_fetch = false') as gw:
        final, rcpts = send_to(gw, "ron@partner.example", "hard")
        assert final is None
        assert rcpts[0][0] == 451 and "4.7.0" in rcpts[0][1], (rcpts, gw.log()[-3000:])


def signed_by(world, name, tmp):
    """A multipart/signed message from NAME@partner.example to alice, made by openssl cms."""
    entity = tmp / f"{name}.entity"
    entity.write_bytes(inner_entity())
    out = tmp / f"{name}.smime"
    openssl("cms", "-sign", "-in", entity, "-signer", world.p / f"{name}.pem", "-inkey",
            world.p / f"{name}.key", "-md", "sha256", "-out", out, "-binary")
    body = crlf(out.read_bytes())
    return outer_headers(f"{name} <{name}@partner.example>", "Alice <alice@example.org>",
                         f"signed by {name}", f"s-{name}") + body


def test_revoked_signer_is_rejected_good_signer_valid(world, tmp_path):
    with gateway(world, "gw-open", 'ocsp = "hard-fail"\ncrl_fetch = false') as gw:
        final, rcpts = smtp_send(gw.outside_port, "sam@partner.example", ["alice@example.org"],
                                 signed_by(world, "sam", tmp_path))
        assert final and final[0] == 554 and "5.7.5" in final[1] and "revoked" in final[1], \
            (final, rcpts, gw.log()[-3000:])
        folder = gw.tmp / "mail" / "alice@example.org"
        before = maildir_files(folder)
        final, rcpts = smtp_send(gw.outside_port, "ron@partner.example", ["alice@example.org"],
                                 signed_by(world, "ron", tmp_path))
        assert final and final[0] == 250, (final, rcpts, gw.log()[-3000:])
        delivered = wait_new_file(folder, before).read_bytes()
        assert "verdict=valid" in trace_header(delivered)


# -- OpenPGP: a key revocation signature is honoured (the `revoked` verdict) ----------------


@pytest.mark.skipif(not shutil.which("gpg"), reason="gpg is not installed")
def test_openpgp_revoked_signer_is_rejected(world, tmp_path):
    """vera's key signs a message, then vera revokes the key (the revocation certificate
    gpg made at generation) and the revoked key is imported: the signature, valid before,
    gets the `revoked` verdict afterwards -- [open] revoked = "reject": 554 5.7.5, "tag":
    delivered with verdict=revoked -- while the same message with its content changed
    stays a bad signature (554 5.7.7) under either rule. (RNP 0.16 calls any signature by
    a revoked key invalid; mailseal re-checks it against the key without its revocation.)"""
    from test_openpgp import Gpg, headers, inner_entity as pgp_entity, pgp_signed

    g = Gpg(tmp_path / "gnupg")
    try:
        fpr = g.new_key("vera@partner.net", "25519")
        pub = tmp_path / "vera.pub"
        pub.write_bytes(g("--export", "-a", "vera@partner.net").stdout)
        cfg_state = ["--state-dir", str(world.state)]
        run_keys = functools.partial(subprocess.run, capture_output=True, timeout=60, check=True)
        run_keys([MAILSEAL_BIN, "keys", *cfg_state, "import", str(pub)])
        entity = pgp_entity()
        sig = g("--detach-sign", "-a", "-u", "vera@partner.net", input=entity).stdout
        message = headers("vera@partner.net", "alice@example.org", "signed by vera") + \
            pgp_signed(entity, sig)
        tampered = message.replace(b"23 42", b"23 43")
        assert tampered != message
        folder = "alice@example.org"
        with gateway(world, "gw-pgp", 'ocsp = "off"') as gw:
            final, _ = smtp_send(gw.outside_port, "vera@partner.net", ["alice@example.org"], message)
            assert final and final[0] == 250, (final, gw.log()[-3000:])
            # gpg keeps a revocation certificate per key; its armor is disarmed with ":".
            rev = (g.home / "openpgp-revocs.d" / f"{fpr}.rev").read_text()
            rev = rev[rev.index(":-----BEGIN") + 1:]
            (tmp_path / "vera.rev").write_text(rev)
            g("--import", str(tmp_path / "vera.rev"))
            pub.write_bytes(g("--export", "-a", "vera@partner.net").stdout)
            run_keys([MAILSEAL_BIN, "keys", *cfg_state, "import", str(pub)])
            before = maildir_files(gw.tmp / "mail" / folder)
            final, _ = smtp_send(gw.outside_port, "vera@partner.net", ["alice@example.org"], message)
            assert final and final[0] == 554 and "5.7.5" in final[1] and "revoked" in final[1], \
                (final, gw.log()[-3000:])
            final, _ = smtp_send(gw.outside_port, "vera@partner.net", ["alice@example.org"], tampered)
            assert final and final[0] == 554 and "5.7.7" in final[1], (final, gw.log()[-3000:])
            assert maildir_files(gw.tmp / "mail" / folder) == before
        tag = gateway(world, "gw-pgp-tag", 'ocsp = "off"')
        tag.config_path.write_text(tag.config_path.read_text().replace(
            "[open]\n", '[open]\nrevoked = "tag"\n', 1))
        with tag:
            final, _ = smtp_send(tag.outside_port, "vera@partner.net", ["alice@example.org"], tampered)
            assert final and final[0] == 554 and "5.7.7" in final[1], (final, tag.log()[-3000:])
            before = maildir_files(tag.tmp / "mail" / folder)
            final, _ = smtp_send(tag.outside_port, "vera@partner.net", ["alice@example.org"], message)
            assert final and final[0] == 250, (final, tag.log()[-3000:])
            delivered = wait_new_file(tag.tmp / "mail" / folder, before).read_bytes()
            assert "verdict=revoked" in trace_header(delivered)
            # A revoked signer's key is never harvested.
            listing = run_keys([MAILSEAL_BIN, "keys", *cfg_state, "list"]).stdout.decode()
            rows = [l for l in listing.splitlines() if l.startswith("vera@partner.net\t")]
            assert len(rows) == 1, listing
    finally:
        g.stop()
