"""Issue 6: discovery of outside keys — Web Key Directory (advanced and direct method) and
DANE OPENPGPKEY (RFC 7929) / SMIMEA (RFC 8162) — against real servers on loopback:

  * an HTTPS server (Python http.server + ssl, certificate from a test CA made with
    openssl) serving the WKD of wkd.example (advanced method, openpgpkey.wkd.example)
    and direct.example (direct method), counting the requests it gets;
  * NSD (dns_harness) with DNSSEC-signed zones holding the A records of the WKD hosts
    and the OPENPGPKEY/SMIMEA records of dane.example, plus an unsigned zone
    (insecure.example) whose OPENPGPKEY record must not be used;
  * dead WKD hosts: openpgpkey.dead.example answers TCP but never speaks TLS,
    openpgpkey.closed.example refuses connections.

Correspondents (keys made by gpg / openssl, none in mailseal's store):
    wendy@wkd.example      OpenPGP, WKD advanced (the response also holds a key of
                           mallory@wkd.example, which must not be used for wendy)
    dora@direct.example    OpenPGP, WKD direct
    olivia@dane.example    OpenPGP, OPENPGPKEY
    bert@bogus.example      OpenPGP, OPENPGPKEY with a corrupted signature (bogus): 451
    sophie@dane.example    S/MIME, SMIMEA 3 0 0 (DANE-EE, full certificate)
    paula@dane.example     S/MIME, SMIMEA 1 0 0 (PKIX-EE), issued by a CA in the store
    pete@dane.example      SMIMEA 1 0 0 self-signed (no chain) and 3 0 1 (a hash): unusable
    ivan@insecure.example  OpenPGP, OPENPGPKEY in an unsigned zone: not used
    kate@dead.example      OpenPGP key in mailseal's store, WKD of her domain hung
    rita / sam / otto @wkd.example   WKD redirect on the same host / HTTP 503 / redirect
                           to another host
Proves: sealed mail to each opens with gpg / openssl and the right key; the second
message does not ask the HTTPS server again (cache); a hung WKD server gives 451 4.7.0
within about the timeout and a log line naming wkd, and the next message does not wait
again (failure cache); a recipient with a key elsewhere is not held up by a dead WKD;
`keys lookup` shows what each source asked and answered.
"""

import email
import email.policy
import hashlib
import http.server
import os
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from dns_harness import DnsServer, SilentServer
from harness import MAILSEAL_BIN, Mailseal, PySink, SmtpClient, free_port, status

OPENSSL = shutil.which("openssl")
GPG = shutil.which("gpg")
SECRET_LINE = "found on the web: 4 8 15 16 23 42"
TIMEOUT_S = 2


def _why_skip():
    if not os.access(MAILSEAL_BIN, os.X_OK):
        return f"mailseal binary {MAILSEAL_BIN} not built (set MAILSEAL_BIN)"
    if not OPENSSL or not GPG or not shutil.which("ldns-signzone") or not os.access("/usr/sbin/nsd", os.X_OK):
        return "needs openssl, gpg, nsd and ldns-utils"
    return None


_why = _why_skip()
pytestmark = pytest.mark.skipif(_why is not None, reason=f"key discovery tests need: {_why}")


def run(*args, input=None, check=True, env=None, cwd=None):
    r = subprocess.run([str(a) for a in args], capture_output=True, input=input, timeout=120, env=env, cwd=cwd)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} failed ({r.returncode}):\n"
                             f"{r.stdout.decode(errors='replace')[-2000:]}{r.stderr.decode(errors='replace')[-3000:]}")
    return r


# -- the names the RFCs and the draft define (computed independently of mailseal) -----------------

ZB32 = "ybndrfg8ejkmcpqxot1uwisza345h769"


def wkd_hash(local):
    bits = "".join(f"{b:08b}" for b in hashlib.sha1(local.lower().encode()).digest())
    return "".join(ZB32[int(bits[i:i + 5].ljust(5, "0"), 2)] for i in range(0, len(bits), 5))


def dane_label(local):
    return hashlib.sha256(local.encode()).hexdigest()[:56]


def generic_rr(owner, rrtype, data: bytes):
    """An RFC 3597 record line: every DNS tool reads it, whatever it knows of the type."""
    return f"{owner} TYPE{rrtype} \\# {len(data)} {data.hex()}"


# -- keys ------------------------------------------------------------------------------------------


class Gpg:
    def __init__(self, home: Path):
        self.home = home
        home.mkdir(mode=0o700, parents=True, exist_ok=True)

    def __call__(self, *args, input=None, check=True):
        return run(GPG, "--homedir", self.home, "--batch", "--yes", "--no-tty", "--pinentry-mode", "loopback",
                   "--passphrase", "", "--trust-model", "always", *args, input=input, check=check)

    def new_key(self, address):
        """An Ed25519 key with a Cv25519 encryption subkey; returns (primary fpr, subkey id)."""
        self("--quick-gen-key", f"<{address}>", "ed25519", "sign,cert", "never")
        out = self("--with-colons", "--list-keys", f"<{address}>").stdout.decode()
        fpr = next(l.split(":")[9] for l in out.splitlines() if l.startswith("fpr:"))
        self("--quick-add-key", fpr, "cv25519", "encr", "never")
        out = self("--with-colons", "--list-keys", fpr).stdout.decode()
        sub = next(l.split(":")[4] for l in out.splitlines() if l.startswith("sub:"))
        return fpr.lower(), sub.upper()

    def export(self, address):
        return self("--export", f"<{address}>").stdout

    def stop(self):
        run("gpgconf", "--homedir", self.home, "--kill", "gpg-agent", check=False)


def make_ca(d: Path):
    run(OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", d / "ca.key", "-out", d / "ca.pem", "-days", "2", "-subj", "/CN=mailseal test WKD CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
    return d / "ca.pem"


def server_cert(d: Path, names):
    san = ",".join(f"DNS:{n}" for n in names)
    run(OPENSSL, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", d / "www.key", "-out", d / "www.csr", "-subj", f"/CN={names[0]}")
    (d / "ext.cnf").write_text(f"subjectAltName={san}\nextendedKeyUsage=serverAuth\n")
    run(OPENSSL, "x509", "-req", "-in", d / "www.csr", "-CA", d / "ca.pem", "-CAkey", d / "ca.key",
        "-CAcreateserial", "-out", d / "www.pem", "-days", "2", "-extfile", d / "ext.cnf")
    return d / "www.pem", d / "www.key"


def smime_cert(d: Path, name, address):
    run(OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", d / f"{name}.key", "-out", d / f"{name}.pem", "-days", "30", "-subj", f"/CN={name}",
        "-addext", f"subjectAltName=email:{address}", "-addext", "extendedKeyUsage=emailProtection",
        "-addext", "keyUsage=digitalSignature,keyAgreement")
    return d / f"{name}.pem", d / f"{name}.key"


def partner_ca_cert(d: Path, name, address):
    """An S/MIME certificate for `address` issued by the partner CA in d/partner-ca.*."""
    if not (d / "partner-ca.pem").exists():
        run(OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", d / "partner-ca.key", "-out", d / "partner-ca.pem", "-days", "30",
            "-subj", "/CN=partner CA", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run(OPENSSL, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", d / f"{name}.key", "-out", d / f"{name}.csr", "-subj", f"/CN={name}")
    (d / f"{name}.cnf").write_text(f"subjectAltName=email:{address}\nextendedKeyUsage=emailProtection\n"
                                   "keyUsage=digitalSignature,keyAgreement\n")
    run(OPENSSL, "x509", "-req", "-in", d / f"{name}.csr", "-CA", d / "partner-ca.pem", "-CAkey",
        d / "partner-ca.key", "-CAcreateserial", "-out", d / f"{name}.pem", "-days", "30",
        "-extfile", d / f"{name}.cnf")
    return d / f"{name}.pem", d / f"{name}.key"


def der(pem: Path) -> bytes:
    return run(OPENSSL, "x509", "-in", pem, "-outform", "DER").stdout


# -- the WKD server --------------------------------------------------------------------------------


class WkdServer:
    """HTTPS on 127.0.0.1:<port>: `files` maps a path (without the query) to the body; every
    request's full path is recorded in `hits`."""

    def __init__(self, cert, key):
        self.files = {}
        self.replies = {}  # path -> (status, Location or None): redirects and errors
        self.hits = []
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(str(cert), str(key))
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.hits.append(self.path)
                reply = outer.replies.get(self.path.split("?", 1)[0])
                if reply:
                    self.send_response(reply[0])
                    if reply[1]:
                        self.send_header("Location", reply[1])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = outer.files.get(self.path.split("?", 1)[0])
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        for _ in range(20):
            try:
                self.port = free_port()
                self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
                break
            except OSError:
                continue
        self.httpd.socket = self.ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def count(self, fragment):
        return sum(1 for h in self.hits if fragment in h)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Silent:
    """A TCP listener that never accepts: connections complete, TLS never starts."""

    def __init__(self, host, port):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(64)

    def close(self):
        self.sock.close()


# -- SMTP ------------------------------------------------------------------------------------------


def message(to, subject):
    return (f"From: Alice <alice@example.org>\r\nTo: <{to}>\r\nSubject: {subject}\r\n"
            f"Date: Mon, 01 Jan 2024 12:00:00 +0000\r\nMessage-ID: <m{time.monotonic_ns()}@example.org>\r\n"
            f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n"
            f"Content-Transfer-Encoding: 7bit\r\n\r\n{SECRET_LINE}\r\n").encode()


def send(world, to, subject="hello"):
    """One message alice -> `to`; returns (RCPT reply, final reply or None, seconds for RCPT)."""
    c = SmtpClient(world.gw.inside_port, timeout=60)
    assert c.reply()[0] == 220
    assert c.cmd("EHLO client.test")[0] == 250
    assert c.cmd("MAIL FROM:<alice@example.org>")[0] == 250
    t0 = time.monotonic()
    rcpt = c.cmd(f"RCPT TO:<{to}>")
    took = time.monotonic() - t0
    final = None
    if rcpt[0] == 250:
        assert c.cmd("DATA")[0] == 354
        c.send(message(to, subject) + b".\r\n")
        final = c.reply()
    c.cmd("QUIT")
    c.close()
    return rcpt, final, took


def keys(config, *args, check=True):
    env = {k: v for k, v in os.environ.items() if k != "MAILSEAL_PASSPHRASE"}
    return run(MAILSEAL_BIN, "keys", "-c", config, *args, check=check, env=env)


def lookup(config, address):
    return keys(config, "lookup", address).stdout.decode()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("discovery")
    pki = tmp / "pki"
    pki.mkdir()
    ca = make_ca(pki)
    www_pem, www_key = server_cert(pki, ["openpgpkey.wkd.example", "direct.example"])
    sophie = smime_cert(pki, "sophie", "sophie@dane.example")
    paula = partner_ca_cert(pki, "paula", "paula@dane.example")  # CA in the store: usable
    pete = smime_cert(pki, "pete", "pete@dane.example")  # self-signed: no PKIX chain

    gpg = Gpg(tmp / "gnupg")
    people = {a: gpg.new_key(a) for a in ("wendy@wkd.example", "mallory@wkd.example", "dora@direct.example",
                                          "olivia@dane.example", "bert@bogus.example", "ivan@insecure.example",
                                          "kate@dead.example", "rita@wkd.example", "otto@wkd.example")}

    wkd = WkdServer(www_pem, www_key)
    wkd.files[f"/.well-known/openpgpkey/wkd.example/hu/{wkd_hash('wendy')}"] = \
        gpg.export("wendy@wkd.example") + gpg.export("mallory@wkd.example")
    wkd.files[f"/.well-known/openpgpkey/hu/{wkd_hash('dora')}"] = gpg.export("dora@direct.example")
    hu = "/.well-known/openpgpkey/wkd.example/hu/"
    # rita: a redirect on the same host (followed); sam: HTTP 503 (the source failed);
    # otto: a redirect to another host (not followed: nothing published).
    wkd.replies[hu + wkd_hash("rita")] = (301, f"https://openpgpkey.wkd.example:{wkd.port}/keys/rita")
    wkd.files["/keys/rita"] = gpg.export("rita@wkd.example")
    wkd.replies[hu + wkd_hash("sam")] = (503, None)
    wkd.replies[hu + wkd_hash("otto")] = (302, "https://keys.elsewhere.example/otto")
    wkd.start()
    hung = Silent("127.0.0.3", wkd.port)

    smimea = bytes([3, 0, 0]) + der(sophie[0])
    zones = {
        "wkd.example": ["openpgpkey A 127.0.0.1"],
        "direct.example": ["@ A 127.0.0.1"],
        "dane.example": [generic_rr(f"{dane_label('olivia')}._openpgpkey", 61, gpg.export("olivia@dane.example")),
                         generic_rr(f"{dane_label('sophie')}._smimecert", 53, smimea),
                         generic_rr(f"{dane_label('paula')}._smimecert", 53, bytes([1, 0, 0]) + der(paula[0])),
                         generic_rr(f"{dane_label('pete')}._smimecert", 53, bytes([1, 0, 0]) + der(pete[0])),
                         # A hash-only record: nothing to encrypt to.
                         generic_rr(f"{dane_label('pete')}._smimecert", 53,
                                    bytes([3, 0, 1]) + hashlib.sha256(der(pete[0])).digest())],
        # Its own zone: the corrupted signatures also spoil the NSEC records next to bert's.
        "bogus.example": [generic_rr(f"{dane_label('bert')}._openpgpkey", 61, gpg.export("bert@bogus.example"))],
        "insecure.example": [generic_rr(f"{dane_label('ivan')}._openpgpkey", 61,
                                        gpg.export("ivan@insecure.example"))],
        "dead.example": ["openpgpkey A 127.0.0.3"],
        "closed.example": ["openpgpkey A 127.0.0.2"],
    }
    dns = DnsServer(zone=None, zones=zones, signed=True, unsigned=["insecure.example"],
                    bogus=[f"{dane_label('bert')}._openpgpkey.bogus.example."]).start()
    sink = PySink().start()
    try:
        (tmp / "gw").mkdir()
        extra = ("[seal]\n" + dns.toml(timeout=f"{TIMEOUT_S}s") +
                 '[keys]\nsources = ["store", "wkd", "dane"]\n'
                 f'[keys.wkd]\nport = {wkd.port}\nca_file = "{ca}"\n'
                 f'[keys.discovery]\ntimeout = "{TIMEOUT_S}s"\nfailure_ttl = "60s"\n')
        gw = Mailseal(tmp / "gw", inside_next_hop=sink.next_hop(), extra=extra)
        cfg = gw.config_path
        keys(cfg, "init")
        keys(cfg, "generate", "alice@example.org", "--self-signed", "--algorithm", "p256")
        keys(cfg, "generate", "alice@example.org", "--openpgp")
        (tmp / "kate.asc").write_bytes(gpg("--armor", "--export", "kate@dead.example").stdout)
        keys(cfg, "import", tmp / "kate.asc")
        keys(cfg, "import", pki / "partner-ca.pem")  # a trust anchor (for SMIMEA usage 1)
        (tmp / "alice.asc").write_bytes(keys(cfg, "export", "alice@example.org", "--openpgp").stdout)
        gpg("--import", tmp / "alice.asc")
        gw.start()
        try:
            yield SimpleNamespace(tmp=tmp, gw=gw, cfg=cfg, sink=sink, wkd=wkd, dns=dns, gpg=gpg,
                                  people=people, sophie=sophie, paula=paula, pete=pete)
        finally:
            gw.stop()
    finally:
        sink.stop()
        dns.stop()
        hung.close()
        wkd.stop()
        gpg.stop()


def new_copy(world, before):
    return world.sink.wait_messages(before + 1)[before]


def open_with_gpg(world, copy, name):
    """Decrypts a PGP/MIME copy with gpg; returns the key IDs it was encrypted to."""
    m = email.message_from_bytes(copy["data"], policy=email.policy.compat32)
    assert m.get_content_type() == "multipart/encrypted", copy["data"][:600]
    f = world.tmp / f"{name}.asc"
    f.write_bytes(m.get_payload()[1].get_payload().encode())
    r = world.gpg("--status-fd", "2", "--decrypt", f)
    st = r.stderr.decode()
    assert "GOODSIG" in st and "DECRYPTION_OKAY" in st, st
    assert SECRET_LINE.encode() in r.stdout
    return set(re.findall(r"ENC_TO ([0-9A-F]{16})", st))


# -- sealing with discovered keys ------------------------------------------------------------------


@pytest.mark.parametrize("who", ["wendy@wkd.example", "dora@direct.example", "olivia@dane.example"],
                         ids=["wkd-advanced", "wkd-direct", "openpgpkey"])
def test_seal_to_openpgp_key_found_only_outside(world, who):
    before = len(world.sink.messages)
    rcpt, final, _ = send(world, who, f"to {who}")
    assert rcpt[0] == 250 and final and final[0] == 250, (rcpt, final, world.gw.log()[-3000:])
    copy = new_copy(world, before)
    assert SECRET_LINE.encode() not in copy["data"]
    _, subkey = world.people[who]
    assert subkey in open_with_gpg(world, copy, who.split("@")[0]), "not encrypted to the recipient's key"
    if who.startswith("wendy"):
        # The response also held mallory's key: it must not be used for wendy.
        assert world.people["mallory@wkd.example"][1] not in open_with_gpg(world, copy, "wendy2")


def test_seal_to_smimea_certificate_opens_with_openssl(world):
    before = len(world.sink.messages)
    rcpt, final, _ = send(world, "sophie@dane.example", "to sophie")
    assert rcpt[0] == 250 and final[0] == 250, (rcpt, final, world.gw.log()[-3000:])
    copy = new_copy(world, before)
    data = copy["data"]
    assert SECRET_LINE.encode() not in data
    assert re.search(rb"(?m)^Content-Type: application/pkcs7-mime; smime-type=enveloped-data", data), data[:600]
    f = world.tmp / "sealed-sophie.eml"
    f.write_bytes(data)
    pem, key = world.sophie
    inner = run(OPENSSL, "cms", "-decrypt", "-in", f, "-recip", pem, "-inkey", key).stdout
    assert SECRET_LINE.encode() in inner


def test_smimea_pkix_ee_needs_a_chain_to_a_store_anchor(world):
    # paula: usage 1 (PKIX-EE), issued by a CA the store trusts: sealed to her certificate.
    before = len(world.sink.messages)
    rcpt, final, _ = send(world, "paula@dane.example", "to paula")
    assert rcpt[0] == 250 and final[0] == 250, (rcpt, final)
    f = world.tmp / "sealed-paula.eml"
    f.write_bytes(new_copy(world, before)["data"])
    pem, key = world.paula
    assert SECRET_LINE.encode() in run(OPENSSL, "cms", "-decrypt", "-in", f, "-recip", pem, "-inkey", key).stdout
    # pete: usage 1 but self-signed (no chain), and a hash-only record: nothing usable.
    rcpt, _, _ = send(world, "pete@dane.example", "to pete")
    assert status(rcpt) == (550, "5.7.1"), rcpt
    out = lookup(world.cfg, "pete@dane.example")
    assert "not used: usage 1 (PKIX-EE): no valid chain to a trust anchor" in out, out
    assert "(SMIMEA 3 0 1)" in out and "not used: not a full certificate" in out, out


def test_wkd_redirects_and_server_errors(world):
    before = len(world.sink.messages)
    rcpt, final, _ = send(world, "rita@wkd.example", "redirected")
    assert rcpt[0] == 250 and final[0] == 250, (rcpt, final)
    assert world.people["rita@wkd.example"][1] in open_with_gpg(world, new_copy(world, before), "rita")
    assert world.wkd.count("/keys/rita") >= 1
    rcpt, _, _ = send(world, "sam@wkd.example", "server error")
    assert status(rcpt) == (451, "4.7.0") and "wkd" in rcpt[1], rcpt
    assert re.search(r"key source wkd: sam@wkd\.example: advanced: \S+: HTTP 503", world.gw.log())
    rcpt, _, _ = send(world, "otto@wkd.example", "offsite")
    assert status(rcpt) == (550, "5.7.1"), rcpt
    out = lookup(world.cfg, "otto@wkd.example")
    assert "redirect to https://keys.elsewhere.example/otto not followed" in out, out
    out = lookup(world.cfg, "rita@wkd.example")
    assert re.search(r"asked advanced: \S+: HTTP 301\n\s+asked advanced: https://openpgpkey\.wkd\.example:\d+/keys/rita: "
                     r"HTTP 200", out), out


def test_second_message_is_served_from_the_cache(world):
    path = f"/hu/{wkd_hash('wendy')}"
    send(world, "wendy@wkd.example", "warm the cache")
    before = world.wkd.count(path)
    before_dora = world.wkd.count(f"/hu/{wkd_hash('dora')}")
    for who in ("wendy@wkd.example", "dora@direct.example"):
        rcpt, final, _ = send(world, who, "again")
        assert rcpt[0] == 250 and final[0] == 250, (rcpt, final)
    assert world.wkd.count(path) == before, world.wkd.hits
    assert world.wkd.count(f"/hu/{wkd_hash('dora')}") == before_dora, world.wkd.hits


def test_openpgpkey_in_an_unsigned_zone_is_not_used(world):
    rcpt, _, _ = send(world, "ivan@insecure.example", "insecure")
    assert status(rcpt) == (550, "5.7.1"), rcpt
    assert re.search(r"key source dane: ivan@insecure\.example: .*insecure\): not used", world.gw.log())
    out = lookup(world.cfg, "ivan@insecure.example")
    assert "OPENPGPKEY answer is not DNSSEC-signed (insecure): not used" in out, out
    assert "no key in any format" in out, out


def test_bogus_openpgpkey_is_not_used_and_defers(world):
    # A failed DNSSEC validation is an attack or a broken zone: never "no key" (which
    # would let whoever spoils the answer choose refusal or plain text), but 451.
    rcpt, _, _ = send(world, "bert@bogus.example", "bogus")
    assert status(rcpt) == (451, "4.7.0") and "dane" in rcpt[1], rcpt
    log = world.gw.log()
    assert re.search(r" error key source dane: bert@bogus\.example: .*DNSSEC validation failed \(bogus\)", log), \
        log[-3000:]


def test_hung_wkd_server_defers_within_the_timeout_and_only_once(world):
    rcpt, final, took = send(world, "hank@dead.example", "while wkd hangs")
    assert status(rcpt) == (451, "4.7.0") and "wkd" in rcpt[1], rcpt
    assert final is None
    assert TIMEOUT_S - 0.5 <= took <= TIMEOUT_S + 3, took
    log = world.gw.log()
    assert re.search(r"key source wkd: hank@dead\.example: advanced: https://openpgpkey\.dead\.example:\d+/\S+: "
                     r"TLS handshake timed out", log), log[-3000:]
    # Within failure_ttl: the same answer at once, no second wait.
    rcpt, _, took = send(world, "hank@dead.example", "again")
    assert status(rcpt) == (451, "4.7.0"), rcpt
    assert took < 1.0, took
    assert len(re.findall(r"key source wkd: hank@dead\.example", world.gw.log())) == 1


def test_closed_wkd_port_defers(world):
    rcpt, _, took = send(world, "carl@closed.example", "refused")
    assert status(rcpt) == (451, "4.7.0") and "wkd" in rcpt[1], rcpt
    assert took < TIMEOUT_S, took
    assert re.search(r"key source wkd: carl@closed\.example: no Web Key Directory server reachable", world.gw.log())


def test_key_elsewhere_is_used_when_wkd_is_dead(world):
    # kate's key is in the store; her domain's WKD hangs: sealed with the stored key.
    before = len(world.sink.messages)
    rcpt, final, _ = send(world, "kate@dead.example", "kate")
    assert rcpt[0] == 250 and final[0] == 250, (rcpt, final)
    assert world.people["kate@dead.example"][1] in open_with_gpg(world, new_copy(world, before), "kate")


def test_dead_resolver_defers_dane_lookups_within_the_timeout(tmp_path):
    # DNS itself does not answer: the mail waits one timeout (both record types are asked
    # at once), gets 451 naming dane, and the next one is answered at once.
    sink = PySink().start()
    try:
        with SilentServer() as dns:
            extra = ("[seal]\n" + dns.toml(timeout=f"{TIMEOUT_S}s") + '[keys]\nsources = ["store", "dane"]\n'
                     f'[keys.discovery]\ntimeout = "{TIMEOUT_S}s"\n')
            gw = Mailseal(tmp_path, inside_next_hop=sink.next_hop(), extra=extra)
            keys(gw.config_path, "init")
            keys(gw.config_path, "generate", "alice@example.org", "--self-signed", "--algorithm", "p256")
            with gw:
                world = SimpleNamespace(gw=gw)
                rcpt, final, took = send(world, "bob@partner.example", "dns down")
                assert status(rcpt) == (451, "4.7.0") and "dane" in rcpt[1], rcpt
                assert final is None
                assert TIMEOUT_S - 0.5 <= took <= TIMEOUT_S + 3, took
                assert re.search(r"warning key source dane: bob@partner\.example: .*no answer", gw.log()), \
                    gw.log()[-3000:]
                rcpt, _, took = send(world, "bob@partner.example", "dns still down")
                assert status(rcpt) == (451, "4.7.0") and took < 1.0, (rcpt, took)
    finally:
        sink.stop()


# -- keys lookup -----------------------------------------------------------------------------------


def test_lookup_shows_what_wkd_and_dane_answered(world):
    out = lookup(world.cfg, "wendy@wkd.example")
    assert "sources, in the order asked: store wkd dane" in out, out
    wkd_part = out.split("\nwkd (", 1)[1].split("\ndane (", 1)[0]
    assert re.search(rf"asked advanced: https://openpgpkey\.wkd\.example:{world.wkd.port}/\.well-known/openpgpkey/"
                     rf"wkd\.example/hu/{wkd_hash('wendy')}\?l=wendy: HTTP 200", wkd_part), out
    wendy_fpr = world.people["wendy@wkd.example"][0]
    mallory_fpr = world.people["mallory@wkd.example"][0]
    assert f"usable  {wendy_fpr}" in wkd_part, out
    assert re.search(rf"skipped {mallory_fpr}\n(.*\n)*?\s+not used: no valid user ID carries wendy@wkd\.example",
                     wkd_part), out
    assert re.search(rf"OpenPGP: {wendy_fpr} from wkd, encryption subkey", out), out

    out = lookup(world.cfg, "dora@direct.example")
    assert "advanced: openpgpkey.direct.example does not exist" in out, out
    assert re.search(r"asked direct: https://direct\.example:\d+/\.well-known/openpgpkey/hu/\S+: HTTP 200", out), out

    out = lookup(world.cfg, "sophie@dane.example")
    assert re.search(rf"asked SMIMEA {dane_label('sophie')}\._smimecert\.dane\.example: ok, DNSSEC secure", out), out
    assert "(SMIMEA 3 0 0)" in out and re.search(r"S/MIME: [0-9a-f]{64} from dane", out), out
    assert "seal: S/MIME" in out, out

    # Our own users' keys are in the store: their domain is not asked.
    out = lookup(world.cfg, "alice@example.org")
    assert out.count("own domain ([outside] internal_domains): not looked up") == 3, out

    out = lookup(world.cfg, "hank@dead.example")
    assert "error: advanced: https://openpgpkey.dead.example" in out, out
    assert "deferred: 451 4.7.0 (source wkd failed" in out, out


def test_check_config_rules(world, tmp_path):
    base = world.cfg.read_text()
    cases = {
        ("[keys.discovery]\n", "[keys.discovery]\nnegative_ttl = \"2d\"\n"): "keys.discovery.negative_ttl",
        ("[keys.discovery]\n", "[keys.discovery]\nbogus = 1\n"): "keys.discovery.bogus",
        ("[keys.wkd]\nport = ", "[keys.wkd]\nport = 0\n# "): "keys.wkd.port",
        ('sources = ["store", "wkd", "dane"]', 'sources = ["store", "wkd", "dane"]\n[keys.dane]\ntypes = ["tlsa"]'):
            "keys.dane.types",
        ('sources = ["store", "wkd", "dane"]', 'sources = ["store", "hkp"]'): "keys.sources",
    }
    for (old, new), expected in cases.items():
        f = tmp_path / "c.toml"
        f.write_text(base.replace(old, new))
        r = run(MAILSEAL_BIN, "check-config", f, check=False)
        assert r.returncode == 1 and expected in r.stderr.decode(), (new, r.stderr)
