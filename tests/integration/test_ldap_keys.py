"""Issue 6: a directory server (LDAP) as a public key source, against a real slapd.

The test directory (ldap_harness.Slapd, its own slapd on loopback) holds correspondents
whose keys exist ONLY there, never in mailseal's store:
    bob    userCertificate;binary  (RSA, self-signed, SAN bob@partner.example)
    carol  userSMIMECertificate    (a PKCS#7 certs-only blob around her certificate)
    dave   pgpKey                  (a gpg key, binary transferable public key)
    sam    ou=staff, visible only after a bind (checks that the configured bind is used)
    mallory  a valid certificate for mallory@partner.example filed under
           mail=bob@partner.example too (a directory is not trusted with the address)
mailseal: [keys] sources = ["store", "ldap"]; alice@example.org (the sender) has her
S/MIME and OpenPGP keys in the store. Next hop: a Python SMTP sink.

Proves: `keys lookup` shows what the store and the directory return and which key is
used; sealed mail to bob/carol opens with `openssl cms -decrypt` and the recipient's key,
to dave with gpg; a stopped or hung slapd gives 451 4.7.0 (at RCPT, and at DATA when it
goes away in between) and a daemon log line naming the LDAP source, and the next message
after the restart goes through; an address with filter metacharacters matches nothing.
"""

import email
import email.policy
import os
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness import MAILSEAL_BIN, Mailseal, PySink, SmtpClient, status
from ldap_harness import ADMIN_DN, ADMIN_PASSWORD, Person, Slapd, ldap_unavailable

OPENSSL = shutil.which("openssl")
GPG = shutil.which("gpg")


def _why_skip():
    if not os.access(MAILSEAL_BIN, os.X_OK):
        return f"mailseal binary {MAILSEAL_BIN} not built (set MAILSEAL_BIN)"
    if not OPENSSL or not GPG:
        return "needs openssl and gpg"
    return ldap_unavailable()


_why = _why_skip()
pytestmark = pytest.mark.skipif(_why is not None, reason=f"LDAP key source tests need: {_why}")

SECRET_LINE = "the directory knows the way: 4 8 15 16 23 42"


def run(*args, input=None, check=True, env=None):
    r = subprocess.run([str(a) for a in args], capture_output=True, input=input, timeout=120, env=env)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} failed ({r.returncode}):\n"
                             f"{r.stdout.decode(errors='replace')[-2000:]}{r.stderr.decode(errors='replace')[-3000:]}")
    return r


def keys(config, *args, check=True):
    env = {k: v for k, v in os.environ.items() if k != "MAILSEAL_PASSPHRASE"}
    return run(MAILSEAL_BIN, "keys", "-c", config, *args, check=check, env=env)


def lookup(config, address):
    return keys(config, "lookup", address).stdout.decode()


def self_signed(d: Path, name, address, kind="rsa"):
    """A self-signed S/MIME certificate with SAN `address`; returns (cert.pem, key.pem)."""
    newkey = ["-newkey", "rsa:2048"] if kind == "rsa" else ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    run(OPENSSL, "req", "-x509", *newkey, "-nodes", "-keyout", d / f"{name}.key", "-out", d / f"{name}.pem",
        "-days", "30", "-subj", f"/CN={name}", "-addext", f"subjectAltName=email:{address}",
        "-addext", "extendedKeyUsage=emailProtection",
        "-addext", "keyUsage=digitalSignature,keyEncipherment")
    return d / f"{name}.pem", d / f"{name}.key"


def der(pem: Path) -> bytes:
    return run(OPENSSL, "x509", "-in", pem, "-outform", "DER").stdout


def sha256(pem: Path) -> str:
    out = run(OPENSSL, "x509", "-in", pem, "-noout", "-fingerprint", "-sha256").stdout.decode()
    return out.split("=", 1)[1].strip().replace(":", "").lower()


class Gpg:
    def __init__(self, home: Path):
        self.home = home
        home.mkdir(mode=0o700, parents=True, exist_ok=True)

    def __call__(self, *args, input=None, check=True):
        return run(GPG, "--homedir", self.home, "--batch", "--yes", "--no-tty", "--pinentry-mode", "loopback",
                   "--passphrase", "", "--trust-model", "always", *args, input=input, check=check)

    def new_key(self, address):
        self("--quick-gen-key", f"<{address}>", "ed25519", "sign,cert", "never")
        out = self("--with-colons", "--list-keys", f"<{address}>").stdout.decode()
        fpr = next(l.split(":")[9] for l in out.splitlines() if l.startswith("fpr:"))
        self("--quick-add-key", fpr, "cv25519", "encr", "never")
        return fpr.lower()

    def stop(self):
        run("gpgconf", "--homedir", self.home, "--kill", "gpg-agent", check=False)


def smtp_open(port, sender, rcpts):
    """EHLO, MAIL, RCPT...; returns the client and the RCPT replies."""
    c = SmtpClient(port, timeout=60)
    assert c.reply()[0] == 220
    assert c.cmd("EHLO client.test")[0] == 250
    assert c.cmd(f"MAIL FROM:<{sender}>")[0] == 250
    return c, [c.cmd(f"RCPT TO:<{r}>") for r in rcpts]


def smtp_data(c, message: bytes):
    assert c.cmd("DATA")[0] == 354
    stuffed = re.sub(rb"(?m)^\.", b"..", message)
    c.send(stuffed + (b"" if stuffed.endswith(b"\r\n") else b"\r\n") + b".\r\n")
    final = c.reply()
    c.cmd("QUIT")
    c.close()
    return final


def message(to, subject):
    return (f"From: Alice <alice@example.org>\r\nTo: <{to}>\r\nSubject: {subject}\r\n"
            f"Date: Mon, 01 Jan 2024 12:00:00 +0000\r\nMessage-ID: <m{time.monotonic_ns()}@example.org>\r\n"
            f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n"
            f"Content-Transfer-Encoding: 7bit\r\n\r\n{SECRET_LINE}\r\n").encode()


def send(world, to, subject):
    """One message alice -> `to`; returns (RCPT reply, final reply or None)."""
    c, (rcpt,) = smtp_open(world.gw.inside_port, "alice@example.org", [to])
    if rcpt[0] != 250:
        c.cmd("QUIT")
        c.close()
        return rcpt, None
    return rcpt, smtp_data(c, message(to, subject))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ldap")
    pki = tmp / "pki"
    pki.mkdir()
    bob_pem, bob_key = self_signed(pki, "bob", "bob@partner.example")
    carol_pem, carol_key = self_signed(pki, "carol", "carol@partner.example", kind="ec")
    sam_pem, _ = self_signed(pki, "sam", "sam@partner.example")
    mallory_pem, _ = self_signed(pki, "mallory", "mallory@partner.example")
    carol_p7 = run(OPENSSL, "crl2pkcs7", "-nocrl", "-certfile", carol_pem, "-outform", "DER").stdout

    gpg = Gpg(tmp / "gnupg")
    dave_fpr = gpg.new_key("dave@partner.example")
    dave_pub = gpg("--export", "dave@partner.example").stdout  # binary

    people = [
        # mallory's certificate filed under bob's entry: must not be used for bob.
        Person("bob", "bob@partner.example", **{"userCertificate;binary": [der(bob_pem), der(mallory_pem)]}),
        Person("carol", "carol@partner.example", userSMIMECertificate=[carol_p7]),
        Person("dave", "dave@partner.example", pgpKey=[dave_pub]),
        Person("sam", "sam@partner.example", ou="staff", **{"userCertificate;binary": [der(sam_pem)]}),
    ]
    slapd = Slapd(tmp / "slapd", people).start()
    sink = PySink().start()
    try:
        (tmp / "gw").mkdir()
        yield from _world(tmp, slapd, sink, gpg, bob_pem, bob_key, carol_pem, carol_key, sam_pem, mallory_pem,
                          dave_fpr)
    finally:
        sink.stop()
        slapd.stop()
        gpg.stop()


def _world(tmp, slapd, sink, gpg, bob_pem, bob_key, carol_pem, carol_key, sam_pem, mallory_pem, dave_fpr):
    gw = Mailseal(tmp / "gw", inside_next_hop=sink.next_hop(),
                  extra="[seal]\n" + slapd.keys_config(timeout="2s"))
    cfg = gw.config_path
    keys(cfg, "init")
    keys(cfg, "generate", "alice@example.org", "--self-signed", "--algorithm", "p256")
    keys(cfg, "generate", "alice@example.org", "--openpgp")
    (tmp / "alice.asc").write_bytes(keys(cfg, "export", "alice@example.org", "--openpgp").stdout)
    gpg("--import", tmp / "alice.asc")
    # The correspondents are in the directory only.
    listing = keys(cfg, "list").stdout.decode()
    assert "partner.example" not in listing, listing
    gw.start()
    try:
        yield SimpleNamespace(tmp=tmp, gw=gw, cfg=cfg, sink=sink, slapd=slapd, gpg=gpg,
                              bob=(bob_pem, bob_key), carol=(carol_pem, carol_key), sam=sam_pem,
                              mallory=mallory_pem, dave_fpr=dave_fpr)
    finally:
        gw.stop()


def new_copies(world, before, n=1):
    return world.sink.wait_messages(before + n)[before:]


# -- keys lookup --------------------------------------------------------------------------------


def test_lookup_shows_the_ldap_certificate_and_why_it_is_used(world):
    out = lookup(world.cfg, "bob@partner.example")
    assert "sources, in the order asked: store ldap" in out, out
    store_part, ldap_part = out.split("\nldap (", 1)
    assert "S/MIME: none" in store_part, out
    assert world.slapd.url in ldap_part and "matched 1 entry" in ldap_part, out
    bob_fpr, mallory_fpr = sha256(world.bob[0]), sha256(world.mallory)
    assert re.search(rf"usable  {bob_fpr}\n\s+CN = bob", ldap_part), out
    assert "uid=bob,ou=people,dc=example,dc=org (usercertificate)" in ldap_part, out
    # mallory's certificate in bob's entry is shown, and why it is not used.
    assert re.search(rf"skipped {mallory_fpr}\n(.*\n)*?\s+not used: does not name bob@partner.example", ldap_part), out
    assert re.search(rf"S/MIME: {bob_fpr} from ldap \(the first source in order", out), out
    assert "seal: S/MIME" in out, out


def test_lookup_pkcs7_and_openpgp_entries(world):
    out = lookup(world.cfg, "carol@partner.example")
    carol_fpr = sha256(world.carol[0])
    assert "(usersmimecertificate)" in out and f"usable  {carol_fpr}" in out, out
    assert f"S/MIME: {carol_fpr} from ldap" in out, out

    out = lookup(world.cfg, "dave@partner.example")
    assert f"usable  {world.dave_fpr}" in out and "<dave@partner.example>" in out, out
    assert re.search(rf"OpenPGP: {world.dave_fpr} from ldap, encryption subkey [0-9a-f]{{40}}", out), out
    assert "S/MIME: none (no source" in out and "seal: OpenPGP" in out, out

    out = lookup(world.cfg, "alice@example.org")
    assert re.search(r"S/MIME: [0-9a-f]{64} from store", out), out


def test_lookup_of_unknown_address_names_the_policy(world):
    out = lookup(world.cfg, "nobody@partner.example")
    assert out.count("matched 0 entries") == 2, out
    assert "no key in any format: [seal] no_certificate = refuse (RCPT gets 550 5.7.1)" in out, out


# -- sealing with keys from the directory -----------------------------------------------------------


@pytest.mark.parametrize("who", ["bob", "carol"], ids=["userCertificate", "userSMIMECertificate"])
def test_seal_to_certificate_only_in_ldap_opens_with_openssl(world, who):
    before = len(world.sink.messages)
    rcpt, final = send(world, f"{who}@partner.example", f"to {who}")
    assert rcpt[0] == 250, (rcpt, world.gw.log()[-2000:])
    assert final[0] == 250, final
    (copy,) = new_copies(world, before)
    data = copy["data"]
    assert SECRET_LINE.encode() not in data
    assert re.search(rb"(?m)^Content-Type: application/pkcs7-mime; smime-type=enveloped-data", data), data[:600]
    f = world.tmp / f"sealed-{who}.eml"
    f.write_bytes(data)
    pem, key = getattr(world, who)
    inner = run(OPENSSL, "cms", "-decrypt", "-in", f, "-recip", pem, "-inkey", key).stdout
    assert b"multipart/signed" in inner and SECRET_LINE.encode() in inner, inner[:800]


def test_seal_to_openpgp_key_only_in_ldap_opens_with_gpg(world):
    before = len(world.sink.messages)
    rcpt, final = send(world, "dave@partner.example", "to dave")
    assert rcpt[0] == 250 and final[0] == 250, (rcpt, final)
    (copy,) = new_copies(world, before)
    m = email.message_from_bytes(copy["data"], policy=email.policy.compat32)
    assert m.get_content_type() == "multipart/encrypted", copy["data"][:600]
    armored = m.get_payload()[1].get_payload().encode()
    (world.tmp / "dave.asc").write_bytes(armored)
    r = world.gpg("--status-fd", "2", "--decrypt", world.tmp / "dave.asc")
    st = r.stderr.decode()
    assert "GOODSIG" in st and "GOODMDC" in st, st
    assert SECRET_LINE.encode() in r.stdout


def test_filter_injection_matches_nothing(world):
    # Unescaped, each of these filters would match bob, carol and dave.
    for address in ("*@partner.example", "*)(mail=*@partner.example", "x*)(|(mail=*"):
        out = lookup(world.cfg, address)
        assert out.count("matched 0 entries") == 2, (address, out)
        assert "usable" not in out and "skipped" not in out, out
    # The control: the same lookup path finds a real entry.
    assert "matched 1 entry" in lookup(world.cfg, "bob@partner.example")
    # Over SMTP: a wildcard recipient gets no key, so it is refused, not encrypted to bob.
    rcpt, _ = send(world, "*@partner.example", "wildcard")
    assert status(rcpt) == (550, "5.7.1"), rcpt


def test_bind_is_used_and_password_file_rules(world, tmp_path):
    pw = tmp_path / "bind.pw"
    pw.write_text(ADMIN_PASSWORD + "\n")
    pw.chmod(0o600)
    text = world.cfg.read_text()
    bound = tmp_path / "bound.toml"
    bound.write_text(text.replace("[keys.ldap]\n", f'[keys.ldap]\nbind_dn = "{ADMIN_DN}"\n'
                                                  f'bind_password_file = "{pw}"\n'))
    # ou=staff is readable only after a bind.
    assert "matched 0 entries" in lookup(world.cfg, "sam@partner.example")
    out = lookup(bound, "sam@partner.example")
    assert f"usable  {sha256(world.sam)}" in out, out
    assert ADMIN_PASSWORD not in out

    wrong = tmp_path / "wrong.pw"
    wrong.write_text("not-the-password")
    wrong.chmod(0o600)
    bad = tmp_path / "badpw.toml"
    bad.write_text(bound.read_text().replace(str(pw), str(wrong)))
    out = lookup(bad, "sam@partner.example")
    assert "S/MIME: error: bind as \"cn=admin,dc=example,dc=org\": Invalid credentials" in out, out
    assert "not-the-password" not in out

    pw.chmod(0o644)
    r = keys(bound, "lookup", "sam@partner.example", check=False)
    assert r.returncode == 1 and b"accessible by other users" in r.stderr, r.stderr
    assert ADMIN_PASSWORD.encode() not in r.stdout + r.stderr


def test_check_config_refuses_unsafe_or_broken_ldap_settings(world, tmp_path):
    base = world.cfg.read_text()
    cases = {
        'bind_password = "hunter2"\n': "keys.ldap.bind_password: put the password in a file",
        'filter = "(mail=alice)"\n': "keys.ldap.filter must contain %s",
        'filter = "(mail=%s))("\n': "keys.ldap.filter",
        'starttls = "maybe"\n': "keys.ldap.starttls must be one of",
    }
    for line, expected in cases.items():
        f = tmp_path / "c.toml"
        f.write_text(base.replace("[keys.ldap]\n", "[keys.ldap]\n" + line))
        r = run(MAILSEAL_BIN, "check-config", f, check=False)
        assert r.returncode == 1 and expected in r.stderr.decode(), (line, r.stderr)
        assert b"hunter2" not in r.stderr
    # A bind password in clear text over the network is refused (loopback is allowed).
    f.write_text(base.replace(world.slapd.url, "ldap://ldap.partner.example")
                 .replace("[keys.ldap]\n", '[keys.ldap]\nbind_dn = "cn=x"\nbind_password_file = "/nonexistent"\n'))
    r = run(MAILSEAL_BIN, "check-config", f, check=False)
    assert r.returncode == 1 and b"clear text" in r.stderr, r.stderr
    # "ldap" listed without [keys.ldap]; the store must stay listed.
    f.write_text(base.split("[keys]")[0] + '[keys]\nsources = ["store", "ldap"]\n')
    assert b"[keys.ldap] is missing" in run(MAILSEAL_BIN, "check-config", f, check=False).stderr
    f.write_text(base.replace('sources = ["store", "ldap"]', 'sources = ["ldap"]'))
    assert b'must list "store"' in run(MAILSEAL_BIN, "check-config", f, check=False).stderr


# -- TLS: LDAPS and StartTLS verify the server ----------------------------------------------------


@pytest.fixture(scope="module")
def tls_slapd(tmp_path_factory, world):
    tmp = tmp_path_factory.mktemp("ldap-tls")
    bob = Person("bob", "bob@partner.example", **{"userCertificate;binary": [der(world.bob[0])]})
    s = Slapd(tmp / "slapd", [bob], tls=True).start()
    yield s
    s.stop()


def tls_lookup(world, tmp_path, slapd, **ldap):
    """`keys lookup bob@partner.example` with the world's store and this [keys.ldap]."""
    f = tmp_path / f"tls-{time.monotonic_ns()}.toml"
    f.write_text(world.cfg.read_text().split("[keys]")[0] + slapd.keys_config(**ldap))
    return lookup(f, "bob@partner.example")


def test_ldaps_and_starttls_verify_the_server_certificate(world, tls_slapd, tmp_path):
    bob_fpr = sha256(world.bob[0])
    ca = str(tls_slapd.ca_file)
    out = tls_lookup(world, tmp_path, tls_slapd, url=tls_slapd.ldaps_url, ca_file=ca)
    assert f"usable  {bob_fpr}" in out, out
    out = tls_lookup(world, tmp_path, tls_slapd, starttls="require", ca_file=ca)
    assert f"usable  {bob_fpr}" in out, out
    # Not trusted (no ca_file: the system store does not know the test CA): no lookup.
    out = tls_lookup(world, tmp_path, tls_slapd, url=tls_slapd.ldaps_url)
    assert "S/MIME: error:" in out and bob_fpr not in out, out
    out = tls_lookup(world, tmp_path, tls_slapd, starttls="require")
    assert "S/MIME: error: StartTLS:" in out and bob_fpr not in out, out
    # Trusted CA, wrong name: the certificate is for 127.0.0.1, not "localhost".
    out = tls_lookup(world, tmp_path, tls_slapd, url=f"ldaps://localhost:{tls_slapd.ldaps_port}", ca_file=ca)
    assert "S/MIME: error:" in out and bob_fpr not in out, out


# -- the directory goes away (last: these stop and restart slapd) -----------------------------------


def test_slapd_stopped_gives_451_and_log_names_ldap_then_recovers(world):
    before = len(world.sink.messages)
    world.slapd.stop()
    try:
        rcpt, final = send(world, "bob@partner.example", "while ldap is down")
        assert status(rcpt) == (451, "4.7.0") and "ldap" in rcpt[1], rcpt
        assert final is None
        # A recipient whose key is in the store is not affected (S/MIME asks the store first).
        rcpt, final = send(world, "alice@example.org", "to self while ldap is down")
        assert rcpt[0] == 250 and final[0] == 250, (rcpt, final)
        log = world.gw.log()
        assert re.search(r"key source ldap \(ldap://127\.0\.0\.1:\d+\): .*Can't contact LDAP server", log), log[-3000:]
        assert ADMIN_PASSWORD not in log
    finally:
        world.slapd.start()
    # Back: the next message for bob goes through (a fresh connection; the pool's dead
    # one is dropped), and the recovery is logged.
    rcpt, final = send(world, "bob@partner.example", "after restart")
    assert rcpt[0] == 250 and final[0] == 250, (rcpt, final, world.gw.log()[-2000:])
    copies = new_copies(world, before, 2)
    assert [c["rcpt"] for c in copies] == [["alice@example.org"], ["bob@partner.example"]]
    assert "key source ldap (" + world.slapd.url + "): reachable again" in world.gw.log()


def test_slapd_gone_between_rcpt_and_data_defers_the_message(world):
    """RCPT found bob's key; the directory disappears before DATA: the message is not
    sent in clear or lost, the DATA reply is 451 (the client keeps it and retries)."""
    before = len(world.sink.messages)
    c, (rcpt,) = smtp_open(world.gw.inside_port, "alice@example.org", ["bob@partner.example"])
    assert rcpt[0] == 250, rcpt
    world.slapd.stop()
    try:
        final = smtp_data(c, message("bob@partner.example", "ldap went away"))
        assert status(final) == (451, "4.7.0") and "ldap" in final[1], final
        time.sleep(0.5)
        assert len(world.sink.messages) == before
    finally:
        world.slapd.start()


def test_hung_slapd_times_out_with_451(world):
    """SIGSTOP: connections are accepted by the kernel but never answered; the configured
    timeout (2s) bounds the wait (one retry on a fresh connection: under 10s in all)."""
    assert send(world, "bob@partner.example", "warm the pool")[0][0] == 250
    world.slapd.pause()
    try:
        t0 = time.monotonic()
        rcpt, _ = send(world, "bob@partner.example", "while ldap hangs")
        elapsed = time.monotonic() - t0
        assert status(rcpt) == (451, "4.7.0"), rcpt
        assert 1.5 < elapsed < 10, elapsed
    finally:
        world.slapd.resume()
    rcpt, final = send(world, "bob@partner.example", "after the hang")
    assert rcpt[0] == 250 and final[0] == 250, (rcpt, final)


def test_hung_directory_stalls_no_other_session(world, tmp_path):
    """RCPT-time key lookups run on the crypto pool, not on the I/O thread: with one I/O
    thread (workers = 1) and the directory hung, another client's session still gets its
    replies at once while the first RCPT waits for the directory's timeout."""
    (tmp_path / "gw1").mkdir()
    gw = Mailseal(tmp_path / "gw1", inside_next_hop=world.sink.next_hop(), server="workers = 1",
                  extra="[seal]\n" + world.slapd.keys_config(timeout="4s"))
    keys(gw.config_path, "init")
    keys(gw.config_path, "generate", "alice@example.org", "--self-signed", "--algorithm", "p256")
    gw.start()
    world.slapd.pause()
    waited = {}
    try:
        def hung_rcpt():
            c, _ = smtp_open(gw.inside_port, "alice@example.org", [])
            try:
                t0 = time.monotonic()
                waited["rcpt"] = c.cmd("RCPT TO:<bob@partner.example>")
                waited["seconds"] = time.monotonic() - t0
            finally:
                c.close()

        t = threading.Thread(target=hung_rcpt)
        t.start()
        time.sleep(0.5)  # the first session is now waiting on the directory
        t0 = time.monotonic()
        c = SmtpClient(gw.inside_port, timeout=30)
        try:
            assert c.reply()[0] == 220
            assert c.cmd("EHLO other.test")[0] == 250
            assert c.cmd("NOOP")[0] == 250
            c.cmd("QUIT")
        finally:
            c.close()
        other = time.monotonic() - t0
        t.join(30)
        assert other < 1.5, f"the other session waited {other:.1f} s for the hung lookup"
        assert waited["rcpt"][0] == 451 and waited["seconds"] > 3, waited
    finally:
        world.slapd.resume()
        gw.stop()
