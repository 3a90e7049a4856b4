"""S/MIME interoperability of mailseal with real tools, over SMTP (issue 3, Acceptance).

Fixtures are made at test time: a partner organisation's CA (partner.example) with
`openssl ca` (carol RSA, frank EC P-256, mallory RSA, dave RSA expired in 2020, eve RSA
revoked by a CRL), and mailseal's own store (`mailseal keys`: internal CA for example.org,
alice RSA-2048, bob EC P-256, gina RSA-2048). The partner CA and its CRL are imported into
the store; carol's and frank's certificates too (as correspondents).

(a) seal: mailseal's inside output (Maildir next hop) opens with `openssl cms`,
    `openssl smime` (RSA recipients only: PKCS#7 has no key agreement) and `gpgsm`
    (decrypt, then verify the inner multipart/signed or opaque signed-data against
    mailseal's CA). gpgsm 2.2.40 needs `ignore-cert-extension 2.5.29.30` in gpgsm.conf:
    it does not implement the critical nameConstraints of mailseal's internal CA and
    otherwise rejects the chain ("critical certificate extension 2.5.29.30 is not
    supported"); it imports the `keys export --legacy` PKCS#12.
    Bcc at SMTP level: one copy per Bcc recipient, encrypted to that recipient only.
(b) open: messages made by `openssl cms`, `openssl smime` and `gpgsm` (signed-only
    detached and opaque, encrypted-only, signed+encrypted; RSA and EC P-256; AES-256-CBC
    and AES-256-GCM) are delivered by the outside listener as plain MIME with
    `X-Mailseal-Verification: verdict=valid; ...`.
(c) tampering: each manipulated message gets its documented reply (smime_options.h) and
    nothing reaches the next hop when it is refused: flipped signed content, signature
    or ciphertext (GCM tag; CBC padding; CBC body, caught by the signature) and
    truncated CMS; re-signed by another trusted certificate (From mismatch); expired
    signer (tag, and reject under `[open] expired = "reject"`), revoked signer (CRL
    imported with `mailseal keys import crl.pem`), untrusted signer (tag). Plus the
    undecryptable / forged-trace-header / EFAIL-mix rules.
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
from types import SimpleNamespace

import pytest

from harness import MAILSEAL_BIN, Mailseal, SmtpClient

OPENSSL = shutil.which("openssl")
GPGSM = shutil.which("gpgsm")
GPGCONF = shutil.which("gpgconf")

pytestmark = pytest.mark.skipif(not OPENSSL or not os.access(MAILSEAL_BIN, os.X_OK),
                                reason="needs the openssl tool and a built mailseal ($MAILSEAL_BIN)")
needs_gpgsm = pytest.mark.skipif(not GPGSM or not GPGCONF, reason="gpgsm is not installed (apt-get install gpgsm)")

SECRET_LINES = ["The launch code is 7-7-4-1, do not share.",
                "Second secret line: the vault opens at dawn."]
PASSPHRASE = "interop pass phrase"

PARTNER_CA_CNF = """\
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
[rsa_user]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = emailProtection
subjectAltName = email:${ENV::SAN}
[ec_user]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyAgreement
extendedKeyUsage = emailProtection
subjectAltName = email:${ENV::SAN}
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
"""


# -- tools ----------------------------------------------------------------------------------


def run(*args, cwd=None, env=None, input=None, check=True):
    r = subprocess.run([str(a) for a in args], capture_output=True, cwd=cwd, env=env, input=input, timeout=120)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} failed ({r.returncode}):\n"
                             f"{r.stdout.decode(errors='replace')[-2000:]}{r.stderr.decode(errors='replace')[-3000:]}")
    return r


def openssl(*args, cwd=None, env=None, input=None, check=True):
    return run(OPENSSL, *args, cwd=cwd, env=env, input=input, check=check)


def keys(config, *args):
    """`mailseal keys -c CONFIG ...`; asserts success."""
    env = {k: v for k, v in os.environ.items() if k != "MAILSEAL_PASSPHRASE"}
    return run(MAILSEAL_BIN, "keys", "-c", config, *args, env=env).stdout.decode()


def crlf(data: bytes) -> bytes:
    return re.sub(rb"\r?\n", b"\r\n", data)


def outer_headers(frm, to, subject, msgid):
    return (f"From: {frm}\r\nTo: {to}\r\nSubject: {subject}\r\n"
            f"Date: Mon, 01 Jan 2024 12:00:00 +0000\r\nMessage-ID: <{msgid}@partner.example>\r\n").encode()


def wrap(entity: bytes, frm="Carol <carol@partner.example>", to="Alice <alice@example.org>",
         subject="interop", msgid=None):
    """A complete RFC 5322 message: outer headers on top of a MIME entity whose own headers
    (MIME-Version, Content-Type, ...) come first in `entity`."""
    msgid = msgid or f"m{time.monotonic_ns()}"
    return outer_headers(frm, to, subject, msgid) + crlf(entity)


def inner_entity():
    body = "".join(line + "\r\n" for line in SECRET_LINES)
    return ("Content-Type: text/plain; charset=us-ascii\r\n"
            "Content-Transfer-Encoding: 7bit\r\n\r\n" + body).encode()


def smtp_send(port, sender, rcpts, message):
    """One transaction; returns the reply to the end of DATA as (code, text) and the
    RCPT replies. The message is dot-stuffed here."""
    c = SmtpClient(port, timeout=60)
    try:
        assert c.reply()[0] == 220
        assert c.cmd("EHLO client.test")[0] == 250
        assert c.cmd(f"MAIL FROM:<{sender}>")[0] == 250
        rcpt_replies = [c.cmd(f"RCPT TO:<{r}>") for r in rcpts]
        if not any(code == 250 for code, _ in rcpt_replies):
            return None, rcpt_replies
        assert c.cmd("DATA")[0] == 354
        stuffed = re.sub(rb"(?m)^\.", b"..", message)
        if not stuffed.endswith(b"\r\n"):
            stuffed += b"\r\n"
        c.send(stuffed + b".\r\n")
        final = c.reply()
        c.cmd("QUIT")
        return final, rcpt_replies
    finally:
        c.close()


def last_line(reply):
    return reply[1].rstrip("\r\n").split("\r\n")[-1]


def maildir_files(folder):
    new = Path(folder) / "new"
    return sorted(new.iterdir(), key=lambda p: p.stat().st_mtime_ns) if new.exists() else []


def all_delivered(gw):
    root = gw.tmp / "mail"
    return sorted(root.glob("*/new/*")) if root.exists() else []


def wait_new_file(folder, before, timeout=15):
    deadline = time.time() + timeout
    while True:
        files = [f for f in maildir_files(folder) if f not in before]
        if files:
            return files[-1]
        if time.time() > deadline:
            raise TimeoutError(f"nothing new in {folder}")
        time.sleep(0.05)


def trace_header(message: bytes):
    msg = email.message_from_bytes(message, policy=email.policy.compat32)
    values = msg.get_all("X-Mailseal-Verification") or []
    assert len(values) == 1, f"expected one trace header: {values!r}\n{message[:1500]!r}"
    return re.sub(r"\s+", " ", values[0])


def gateway_with(tmp, state=None, extra=""):
    """A Mailseal whose state dir may be shared with another instance."""
    Path(tmp).mkdir(parents=True, exist_ok=True)
    gw = Mailseal(tmp, extra=extra)
    if state is not None:
        text = gw.config_path.read_text()
        gw.config_path.write_text(text.replace(f'state_dir = "{gw.state}"', f'state_dir = "{state}"'))
        gw.state = Path(state)
    return gw


# -- fixtures --------------------------------------------------------------------------------


def make_partner_pki(d: Path):
    d.mkdir(parents=True)
    (d / "ca.cnf").write_text(PARTNER_CA_CNF)
    (d / "newcerts").mkdir()
    (d / "index.txt").write_text("")
    (d / "serial").write_text("1000\n")
    (d / "crlnumber").write_text("01\n")
    env = dict(os.environ, SAN="none")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "365",
            "-subj", "/CN=Partner Test CA", "-config", "ca.cnf", "-extensions", "v3_ca", cwd=d, env=env)
    users = {"carol": "rsa", "frank": "ec", "mallory": "rsa", "dave": "rsa", "eve": "rsa"}
    for name, kind in users.items():
        if kind == "rsa":
            openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                    "-subj", f"/CN={name}", cwd=d, env=env)
        else:
            openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                    f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d, env=env)
        dates = ["-startdate", "20200101000000Z", "-enddate", "20200201000000Z"] if name == "dave" else []
        openssl("ca", "-batch", "-config", "ca.cnf", "-extensions", f"{kind}_user", "-in", f"{name}.csr",
                "-out", f"{name}.pem", "-notext", *dates, cwd=d, env=dict(env, SAN=f"{name}@partner.example"))
    openssl("ca", "-config", "ca.cnf", "-revoke", "eve.pem", cwd=d, env=env)
    openssl("ca", "-config", "ca.cnf", "-gencrl", "-out", "crl.pem", cwd=d, env=env)
    # A trusted-nowhere signer for the "untrusted" verdict.
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "oscar.key", "-out", "oscar.pem",
            "-days", "30", "-subj", "/CN=oscar", "-addext", "subjectAltName=email:oscar@partner.example",
            "-addext", "extendedKeyUsage=emailProtection", cwd=d, env=env)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = tmp_path_factory.mktemp("smime-interop")
    p = base / "partner"
    make_partner_pki(p)
    gw = gateway_with(base / "gw", extra="[seal]\n[open]\n")
    cfg = gw.config_path
    keys(cfg, "init")
    keys(cfg, "ca", "init", "--domain", "example.org", "--algorithm", "rsa2048")
    keys(cfg, "generate", "alice@example.org", "--algorithm", "rsa2048")
    keys(cfg, "generate", "bob@example.org", "--algorithm", "p256")
    keys(cfg, "generate", "gina@example.org", "--algorithm", "rsa2048")
    keys(cfg, "import", p / "ca.pem")   # a file of CA certificates only: trust anchor
    keys(cfg, "import", p / "carol.pem")
    keys(cfg, "import", p / "frank.pem")
    keys(cfg, "import", p / "crl.pem")
    k = base / "keys"
    k.mkdir()
    (k / "pass").write_text(PASSPHRASE + "\n")
    keys(cfg, "ca", "export", "--out", k / "mailseal-ca.pem")
    for user in ("alice", "bob", "gina"):
        keys(cfg, "export", f"{user}@example.org", "--out", k / f"{user}.pem")
        keys(cfg, "export", f"{user}@example.org", "--with-secret-key", "--out", k / f"{user}.p12",
             "--passphrase-file", k / "pass")
        openssl("pkcs12", "-in", k / f"{user}.p12", "-nocerts", "-nodes", "-out", k / f"{user}.key",
                "-passin", f"pass:{PASSPHRASE}")
    keys(cfg, "export", "gina@example.org", "--with-secret-key", "--legacy", "--out", k / "gina-legacy.p12",
         "--passphrase-file", k / "pass")
    # Second gateway on the same store, [open] expired = "reject".
    strict = gateway_with(base / "gw-strict", state=gw.state, extra='[seal]\n[open]\nexpired = "reject"\n')
    gw.start()
    try:
        strict.start()
        try:
            yield SimpleNamespace(gw=gw, strict=strict, p=p, k=k, base=base)
        finally:
            strict.stop()
    finally:
        gw.stop()


def seal_via_inside(world, rcpt, tag, gw=None):
    """Sends a plain message from alice to `rcpt` through the inside listener; returns the
    sealed bytes as the Maildir next hop stored them."""
    gw = gw or world.gw
    out = gw.tmp / "outbound"
    before = maildir_files(out)
    msg = (outer_headers("Alice <alice@example.org>", f"<{rcpt}>", f"sealed {tag}", tag)
           + b"MIME-Version: 1.0\r\n" + inner_entity())
    final, rcpts = smtp_send(gw.inside_port, "alice@example.org", [rcpt], msg)
    assert final and final[0] == 250, (final, rcpts, gw.log()[-3000:])
    sealed = wait_new_file(out, before).read_bytes()
    for line in SECRET_LINES:
        assert line.encode() not in sealed
    return sealed


def assert_secret_text(data: bytes):
    for line in SECRET_LINES:
        assert line.encode() in data, data[:2000]


# -- (a) mailseal's sealed output opens with openssl and gpgsm ---------------------------------


@pytest.mark.parametrize("recipient,key", [("carol@partner.example", "p/carol"),
                                           ("frank@partner.example", "p/frank")],
                         ids=["rsa-recipient", "ec-p256-recipient"])
def test_sealed_output_opens_with_openssl_cms_and_smime(world, tmp_path, recipient, key):
    sealed = seal_via_inside(world, recipient, f"ossl-{recipient.split('@')[0]}")
    assert re.search(rb"(?m)^Content-Type: application/pkcs7-mime; smime-type=enveloped-data", sealed), sealed[:800]
    assert not re.search(rb"(?im)^bcc:", sealed)
    f = tmp_path / "sealed.eml"
    f.write_bytes(sealed)
    base = world.p if key.startswith("p/") else world.k
    cert, pkey = base / f"{key[2:]}.pem", base / f"{key[2:]}.key"
    ca = world.k / "mailseal-ca.pem"
    # `openssl smime` is PKCS#7: no KeyAgreeRecipientInfo, so no EC recipients.
    for tool in ("cms", "smime") if "carol" in key else ("cms",):
        inner = tmp_path / f"inner-{tool}.eml"
        openssl(tool, "-decrypt", "-in", f, "-recip", cert, "-inkey", pkey, "-out", inner)
        data = inner.read_bytes()
        assert re.search(rb"(?im)^Content-Type: multipart/signed;.*protocol=\"application/pkcs7-signature\"",
                         data.split(b"\r\n\r\n", 1)[0].replace(b"\r\n ", b" ").replace(b"\r\n\t", b" ")), data[:600]
        content = tmp_path / f"content-{tool}.txt"
        signer = tmp_path / f"signer-{tool}.pem"
        openssl(tool, "-verify", "-in", inner, "-CAfile", ca, "-out", content, "-signer", signer)
        assert_secret_text(content.read_bytes())
        san = openssl("x509", "-in", signer, "-noout", "-ext", "subjectAltName").stdout.decode()
        assert "email:alice@example.org" in san


def test_sealed_output_gcm_oaep_opaque_opens_with_openssl_cms(world, tmp_path):
    """The non-default [seal] options: AuthEnvelopedData (AES-256-GCM), RSA-OAEP, opaque
    signed-data; openssl cms decrypts and verifies that as well."""
    gw = gateway_with(tmp_path / "gw-gcm", state=world.gw.state,
                      extra='[seal]\ncipher = "aes-256-gcm"\nrsa_padding = "oaep"\nsigning = "opaque"\n')
    with gw:
        sealed = seal_via_inside(world, "carol@partner.example", "gcm", gw=gw)
    assert re.search(rb"(?m)^Content-Type: application/pkcs7-mime; smime-type=authEnveloped-data", sealed), sealed[:800]
    f = tmp_path / "sealed.eml"
    f.write_bytes(sealed)
    printed = openssl("cms", "-cmsout", "-print", "-in", f).stdout.decode()
    assert "id-smime-ct-authEnvelopedData" in printed and "rsaesOaep" in printed, printed[:3000]
    inner = tmp_path / "inner.eml"
    openssl("cms", "-decrypt", "-in", f, "-recip", world.p / "carol.pem", "-inkey", world.p / "carol.key",
            "-out", inner)
    assert re.search(rb"(?im)^Content-Type: application/pkcs7-mime;.*smime-type=signed-data", inner.read_bytes())
    content = tmp_path / "content.txt"
    openssl("cms", "-verify", "-in", inner, "-CAfile", world.k / "mailseal-ca.pem", "-out", content)
    assert_secret_text(content.read_bytes())


def test_sealed_bcc_copy_is_separate_and_names_no_bcc(world, tmp_path):
    """Straight over SMTP (no Postfix in between that might touch Bcc): To carol (RSA),
    Bcc frank (EC). Two sealed copies: each encrypted to its own recipient only, neither
    with a Bcc header; each opens with that recipient's key alone."""
    out = world.gw.tmp / "outbound"
    before = maildir_files(out)
    msg = (outer_headers("Alice <alice@example.org>", "Carol <carol@partner.example>", "bcc", "bcc")
           + b"Bcc: Frank <frank@partner.example>\r\nMIME-Version: 1.0\r\n" + inner_entity())
    final, _ = smtp_send(world.gw.inside_port, "alice@example.org",
                         ["carol@partner.example", "frank@partner.example"], msg)
    assert final and final[0] == 250, final
    assert re.search(r"filter=sealed: 2 copies, signed=yes", world.gw.log())
    deadline = time.time() + 15
    while len([f for f in maildir_files(out) if f not in before]) < 2 and time.time() < deadline:
        time.sleep(0.05)
    copies = [f.read_bytes() for f in maildir_files(out) if f not in before]
    assert len(copies) == 2
    serial = {who: int(openssl("x509", "-in", world.p / f"{who}.pem", "-noout", "-serial")
                       .stdout.decode().strip().split("=")[1], 16) for who in ("carol", "frank")}
    seen = set()
    for i, data in enumerate(copies):
        assert not re.search(rb"(?im)^bcc:", data) and b"frank@partner.example" not in data
        f = tmp_path / f"copy{i}.eml"
        f.write_bytes(data)
        printed = openssl("cms", "-cmsout", "-print", "-in", f).stdout.decode()
        serials = {int(v, 16) if v.startswith("0x") else int(v)
                   for v in re.findall(r"serialNumber: (0x[0-9a-fA-F]+|\d+)", printed)}
        assert len(serials) == 1 and serials <= set(serial.values()), printed[:2000]
        who = next(k for k, v in serial.items() if v in serials)
        seen.add(who)
        other = "frank" if who == "carol" else "carol"
        openssl("cms", "-decrypt", "-in", f, "-recip", world.p / f"{who}.pem", "-inkey", world.p / f"{who}.key",
                "-out", tmp_path / f"inner{i}.eml")
        assert openssl("cms", "-decrypt", "-in", f, "-inkey", world.p / f"{other}.key",
                       "-out", tmp_path / f"no{i}.eml", check=False).returncode != 0
    assert seen == {"carol", "frank"}


def gpgsm_home(tmp_path, ca_pems):
    """A throw-away GNUPGHOME for gpgsm: CRL checks off, loopback pinentry, the given CA
    certificates imported and marked trusted in trustlist.txt."""
    home = tmp_path / "gnupg"
    shutil.rmtree(home, ignore_errors=True)  # left by a set-up that failed half-way
    home.mkdir(mode=0o700)
    # gpgsm 2.2 does not implement nameConstraints (2.5.29.30) and refuses any chain with
    # it marked critical ("critical certificate extension 2.5.29.30 is not supported");
    # RFC 5280 4.2.1.10 requires it critical, and mailseal's internal CA has it. gpgsm's
    # own switch for that is ignore-cert-extension (what a gpgsm user must configure).
    (home / "gpgsm.conf").write_text("disable-crl-checks\ndisable-dirmngr\nignore-cert-extension 2.5.29.30\n")
    (home / "gpg-agent.conf").write_text("allow-loopback-pinentry\n")
    env = dict(os.environ, GNUPGHOME=str(home))
    trust = []
    for pem in ca_pems:
        run(GPGSM, "--batch", "--import", pem, env=env)
        fpr = openssl("x509", "-in", pem, "-noout", "-fingerprint", "-sha1").stdout.decode().strip().split("=")[1]
        trust.append(f"{fpr} S\n")
    (home / "trustlist.txt").write_text("".join(trust))
    return env


def gpgsm_run(env, *args, passphrase=None, check=True):
    base = [GPGSM, "--batch", "--disable-crl-checks", "--pinentry-mode", "loopback"]
    if passphrase is not None:
        base += ["--passphrase-fd", "0"]
    return run(*base, *args, env=env, input=(passphrase + "\n").encode() if passphrase is not None else None,
               check=check)


def stop_agent(env):
    subprocess.run([GPGCONF, "--kill", "gpg-agent"], env=env, capture_output=True, timeout=30)


def split_signed(data: bytes):
    """(exact signed content bytes, signature DER) of a multipart/signed entity."""
    head, _ = data.split(b"\r\n\r\n", 1)
    m = re.search(rb'boundary="?([^";\r\n]+)"?', head.replace(b"\r\n ", b" ").replace(b"\r\n\t", b" "))
    assert m, head
    delim = b"\r\n--" + m.group(1)
    body = b"\r\n" + data[len(head) + 4:]
    parts = body.split(delim)
    # parts[0] preamble, parts[1] content (starts with CRLF after the delimiter line)
    content = parts[1].split(b"\r\n", 1)[1]
    sig_entity = parts[2].split(b"\r\n", 1)[1]
    sig_b64 = sig_entity.split(b"\r\n\r\n", 1)[1]
    return content, base64.b64decode(sig_b64)


@needs_gpgsm
def test_sealed_output_opens_with_gpgsm(world, tmp_path):
    """gpgsm 2.2 imports the `--legacy` PKCS#12 of gina, decrypts what mailseal sealed for
    her, and verifies alice's signature over the inner multipart/signed against the
    (trusted) mailseal CA."""
    env = gpgsm_home(tmp_path, [world.k / "mailseal-ca.pem"])
    try:
        gpgsm_run(env, "--import", world.k / "gina-legacy.p12", passphrase=PASSPHRASE)
        listing = gpgsm_run(env, "--list-secret-keys").stdout.decode()
        assert "gina@example.org" in listing, listing
        sealed = seal_via_inside(world, "gina@example.org", "gpgsm")
        body = sealed.split(b"\r\n\r\n", 1)[1]
        (tmp_path / "sealed.der").write_bytes(base64.b64decode(body))
        gpgsm_run(env, "--decrypt", "-o", tmp_path / "inner.eml", tmp_path / "sealed.der", passphrase=PASSPHRASE)
        inner = crlf((tmp_path / "inner.eml").read_bytes())
        content, sig = split_signed(inner)
        (tmp_path / "content.txt").write_bytes(content)
        (tmp_path / "sig.der").write_bytes(sig)
        r = gpgsm_run(env, "--status-fd", "1", "--verify", tmp_path / "sig.der", tmp_path / "content.txt")
        status = r.stdout.decode()
        assert "[GNUPG:] GOODSIG" in status and "[GNUPG:] TRUST_FULLY" in status, status + r.stderr.decode()
        assert "alice@example.org" in r.stderr.decode(errors="replace"), r.stderr.decode(errors="replace")
        assert_secret_text(content)
    finally:
        stop_agent(env)


# -- (b) messages made by openssl and gpgsm are opened by mailseal ----------------------------


class Maker:
    """Builds S/MIME entities with the openssl tool and gpgsm in a work directory."""

    def __init__(self, world, work: Path):
        self.w = world
        self.d = work
        self.d.mkdir(parents=True, exist_ok=True)
        self.n = 0
        self.gpg_env = None

    def _io(self, data: bytes):
        self.n += 1
        i, o = self.d / f"in{self.n}", self.d / f"out{self.n}"
        i.write_bytes(data)
        return i, o

    def cert(self, who):
        return (self.w.p / f"{who}.pem") if (self.w.p / f"{who}.pem").exists() else (self.w.k / f"{who}.pem")

    def key(self, who):
        return (self.w.p / f"{who}.key") if (self.w.p / f"{who}.key").exists() else (self.w.k / f"{who}.key")

    def sign(self, entity, who, tool="cms", detached=True):
        i, o = self._io(entity)
        args = [tool, "-sign", "-in", i, "-out", o, "-signer", self.cert(who), "-inkey", self.key(who),
                "-md", "sha256", "-binary"]
        if not detached:
            args.append("-nodetach")
        openssl(*args)
        return crlf(o.read_bytes())

    def encrypt(self, entity, recipients, cipher="aes-256-cbc", tool="cms"):
        i, o = self._io(entity)
        openssl(tool, "-encrypt", "-in", i, "-out", o, "-binary", f"-{cipher}",
                *[self.cert(r) for r in recipients])
        return crlf(o.read_bytes())

    # gpgsm: carol's key (legacy PKCS#12 made by openssl), both CAs trusted, alice's cert.
    def gpgsm_env(self):
        if self.gpg_env is None:
            env = gpgsm_home(self.d, [self.w.p / "ca.pem", self.w.k / "mailseal-ca.pem"])
            p12 = self.d / "carol-legacy.p12"
            # gpgsm 2.2 derives a wrong 3DES key from about 1 salt in 128 (see
            # src/keys/pkcs12_gpgsm.h; mailseal's own --legacy export avoids those salts,
            # `openssl pkcs12` does not), so a file it cannot decrypt is made again with
            # new salts. Any other import failure fails the test at once.
            for attempt in range(8):
                openssl("pkcs12", "-export", "-legacy", "-certpbe", "PBE-SHA1-3DES", "-keypbe", "PBE-SHA1-3DES",
                        "-macalg", "sha1", "-in", self.w.p / "carol.pem", "-inkey", self.w.p / "carol.key",
                        "-out", p12, "-passout", f"pass:{PASSPHRASE}")
                r = gpgsm_run(env, "--import", p12, passphrase=PASSPHRASE, check=False)
                if r.returncode == 0 or b"error parsing or decrypting the PKCS#12" not in r.stderr or attempt == 7:
                    break
            assert r.returncode == 0, r.stderr.decode(errors="replace")[-3000:]
            gpgsm_run(env, "--import", self.w.k / "alice.pem")
            self.gpg_env = env
        return self.gpg_env

    def gpgsm_sign_detached(self, entity):
        env = self.gpgsm_env()
        i, o = self._io(entity)
        gpgsm_run(env, "-u", "carol@partner.example", "--detach-sign", "-o", o, i, passphrase=PASSPHRASE)
        return multipart_signed(entity, o.read_bytes())

    def gpgsm_sign_opaque(self, entity):
        env = self.gpgsm_env()
        i, o = self._io(entity)
        gpgsm_run(env, "-u", "carol@partner.example", "--sign", "-o", o, i, passphrase=PASSPHRASE)
        return pkcs7_mime("signed-data", o.read_bytes())

    def gpgsm_encrypt(self, entity, rcpt="alice@example.org"):
        env = self.gpgsm_env()
        i, o = self._io(entity)
        gpgsm_run(env, "-r", rcpt, "--encrypt", "-o", o, i)
        return pkcs7_mime("enveloped-data", o.read_bytes())

    def stop(self):
        if self.gpg_env is not None:
            stop_agent(self.gpg_env)


def b64_lines(der: bytes) -> bytes:
    s = base64.b64encode(der)
    return b"".join(s[i:i + 76] + b"\r\n" for i in range(0, len(s), 76))


def multipart_signed(content: bytes, sig_der: bytes, boundary="----=_sig_boundary_42"):
    return (f'MIME-Version: 1.0\r\nContent-Type: multipart/signed; protocol="application/pkcs7-signature";'
            f' micalg=sha-256;\r\n boundary="{boundary}"\r\n\r\nThis is an S/MIME signed message\r\n'
            f"\r\n--{boundary}\r\n").encode() + content + (
        f"\r\n--{boundary}\r\nContent-Type: application/pkcs7-signature; name=\"smime.p7s\"\r\n"
        f"Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"smime.p7s\"\r\n\r\n"
    ).encode() + b64_lines(sig_der) + f"\r\n--{boundary}--\r\n".encode()


def pkcs7_mime(smime_type, der: bytes):
    return (f'MIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; smime-type={smime_type};'
            f' name="smime.p7m"\r\nContent-Transfer-Encoding: base64\r\n'
            f'Content-Disposition: attachment; filename="smime.p7m"\r\n\r\n').encode() + b64_lines(der)


# name: (builder(maker, entity) -> entity, signer or None, recipient, encryption, needs gpgsm)
OPEN_CASES = {
    "cms-signed-detached-rsa": (lambda m, e: m.sign(e, "carol"), "carol", "alice", "none", False),
    "cms-signed-opaque-ec": (lambda m, e: m.sign(e, "frank", detached=False), "frank", "alice", "none", False),
    "cms-encrypted-only-rsa-cbc": (lambda m, e: m.encrypt(e, ["alice"]), None, "alice", "enveloped-data", False),
    "cms-signed-encrypted-rsa-cbc": (lambda m, e: m.encrypt(m.sign(e, "carol"), ["alice"]),
                                     "carol", "alice", "enveloped-data", False),
    "cms-signed-encrypted-ec-cbc": (lambda m, e: m.encrypt(m.sign(e, "frank"), ["bob"]),
                                    "frank", "bob", "enveloped-data", False),
    "cms-signed-encrypted-rsa-gcm": (lambda m, e: m.encrypt(m.sign(e, "carol"), ["alice"], "aes-256-gcm"),
                                     "carol", "alice", "authEnveloped-data", False),
    "cms-opaque-encrypted-ec-gcm": (lambda m, e: m.encrypt(m.sign(e, "frank", detached=False), ["bob"],
                                                           "aes-256-gcm"),
                                    "frank", "bob", "authEnveloped-data", False),
    "cms-encrypted-two-recipients-rsa-ec": (lambda m, e: m.encrypt(m.sign(e, "carol"), ["alice", "bob"]),
                                            "carol", "bob", "enveloped-data", False),
    "cms-encrypted-then-signed-rsa": (lambda m, e: m.sign(m.encrypt(e, ["alice"]), "carol", detached=False),
                                      "carol", "alice", "enveloped-data", False),
    "cms-triple-wrapped-rsa": (lambda m, e: m.sign(m.encrypt(m.sign(e, "carol"), ["alice"]), "carol"),
                               "carol", "alice", "enveloped-data", False),
    "smime-signed-detached-rsa": (lambda m, e: m.sign(e, "carol", tool="smime"), "carol", "alice", "none", False),
    # openssl smime (PKCS#7) cannot encrypt to EC keys: EC signer, RSA recipient.
    "smime-signed-ec-encrypted-rsa": (lambda m, e: m.encrypt(m.sign(e, "frank", tool="smime"), ["alice"], "aes256",
                                                             tool="smime"),
                                      "frank", "alice", "enveloped-data", False),
    "smime-signed-encrypted-rsa": (lambda m, e: m.encrypt(m.sign(e, "carol", tool="smime", detached=False),
                                                          ["alice"], "aes256", tool="smime"),
                                   "carol", "alice", "enveloped-data", False),
    "gpgsm-signed-detached-rsa": (lambda m, e: m.gpgsm_sign_detached(e), "carol", "alice", "none", True),
    "gpgsm-signed-opaque-rsa": (lambda m, e: m.gpgsm_sign_opaque(e), "carol", "alice", "none", True),
    "gpgsm-encrypted-only-rsa": (lambda m, e: m.gpgsm_encrypt(e), None, "alice", "enveloped-data", True),
    "gpgsm-signed-encrypted-rsa": (lambda m, e: m.gpgsm_encrypt(m.gpgsm_sign_detached(e)),
                                   "carol", "alice", "enveloped-data", True),
}


@pytest.fixture(scope="module")
def maker(world):
    m = Maker(world, world.base / "maker")
    yield m
    m.stop()


@pytest.mark.parametrize("case", list(OPEN_CASES))
def test_open_message_made_by_real_tools(world, maker, case):
    build, signer, rcpt, encryption, gpg = OPEN_CASES[case]
    if gpg and (not GPGSM or not GPGCONF):
        pytest.skip("gpgsm is not installed (apt-get install gpgsm)")
    frm = f"{signer or 'carol'}@partner.example"
    entity = build(maker, inner_entity())
    message = wrap(entity, frm=f"Partner <{frm}>", to=f"<{rcpt}@example.org>", subject=f"case {case}")
    folder = world.gw.tmp / "mail" / f"{rcpt}@example.org"
    before = maildir_files(folder)
    final, _ = smtp_send(world.gw.outside_port, frm, [f"{rcpt}@example.org"], message)
    assert final and final[0] == 250, (final, world.gw.log()[-3000:])
    delivered = wait_new_file(folder, before).read_bytes()
    trace = trace_header(delivered)
    if signer:
        fpr = openssl("x509", "-in", maker.cert(signer), "-noout", "-fingerprint", "-sha256").stdout.decode()
        fpr = fpr.strip().split("=")[1].replace(":", "").lower()
        assert re.match(rf"verdict=valid; encryption={encryption}; signer={signer}@partner\.example; "
                        rf"fingerprint=sha256:{fpr}; digest=\S+; signature=\S+$", trace, re.I), trace
    else:
        assert trace == f"verdict=unsigned; encryption={encryption}", trace
    msg = email.message_from_bytes(delivered, policy=email.policy.compat32)
    assert msg["Subject"] == f"case {case}" and frm in msg["From"]
    # Plain MIME again: the text part itself, no S/MIME structure left.
    assert msg.get_content_type() == "text/plain", delivered[:1500]
    assert b"pkcs7" not in delivered.lower()
    assert msg.get_payload().replace("\r\n", "\n") == "".join(line + "\n" for line in SECRET_LINES)


# -- (c) tampering: exact replies, nothing delivered when refused ------------------------------


def flip_der(entity: bytes, pick):
    """Decodes the base64 body of a single-part pkcs7 entity, flips one byte at pick(der)
    (XOR with `mask`), and encodes again."""
    head, body = entity.split(b"\r\n\r\n", 1)
    der = bytearray(base64.b64decode(body))
    pos, mask = pick(bytes(der))
    der[pos] ^= mask
    return head + b"\r\n\r\n" + b64_lines(bytes(der))


def encrypted_content_range(der: bytes, tmp: Path):
    """(start, length) of the encrypted content octets inside a CMS (Auth)EnvelopedData."""
    f = tmp / f"cms-{time.monotonic_ns()}.der"
    f.write_bytes(der)
    out = openssl("asn1parse", "-inform", "DER", "-in", f).stdout.decode()
    best = None
    for m in re.finditer(r"^\s*(\d+):d=\s*\d+\s+hl=\s*(\d+)\s+l=\s*(\d+)\s+prim:\s+cont \[ 0 \]", out, re.M):
        off, hl, length = map(int, m.groups())
        if best is None or length > best[1]:
            best = (off + hl, length)
    assert best, out
    return best


def tamper_signed_content(m, e):
    signed = m.sign(e, "carol")
    assert SECRET_LINES[0].encode() in signed
    return signed.replace(b"launch code is 7", b"launch code is 8")


def tamper_signature(m, e):
    signed = m.sign(e, "carol")
    content, sig = split_signed(signed)
    sig = bytearray(sig)
    sig[-20] ^= 0x01  # the signature value is the last field of the (only) SignerInfo
    return multipart_signed(content, bytes(sig))


def tamper_ciphertext_gcm(m, e):
    enc = m.encrypt(m.sign(e, "carol"), ["alice"], "aes-256-gcm")
    return flip_der(enc, lambda der: (sum(encrypted_content_range(der, m.d)) // 2 + 7, 0x01))


def tamper_ciphertext_cbc_padding(m, e):
    """CBC: flipping the last byte of the second-to-last ciphertext block flips the last
    plaintext byte (a padding byte, 1..16) into 0xEx/0xFx: the padding is always invalid."""
    enc = m.encrypt(m.sign(e, "carol"), ["alice"], "aes-256-cbc")

    def pick(der):
        start, length = encrypted_content_range(der, m.d)
        assert length % 16 == 0 and length >= 32
        return start + length - 17, 0xF0
    return flip_der(enc, pick)


def tamper_ciphertext_cbc_body(m, e):
    """CBC malleability: a flip inside the ciphertext of the signed text garbles one
    plaintext block and flips one byte of the next; decryption succeeds, the signature
    check must catch it."""
    long_line = "L" * 300
    entity = e.replace(b"\r\n\r\n", b"\r\n\r\n" + long_line.encode() + b"\r\n", 1)
    signed = m.sign(entity, "carol")
    enc = m.encrypt(signed, ["alice"], "aes-256-cbc")
    k = signed.index(long_line.encode())
    block = -(-k // 16) + 2  # a ciphertext block whose plaintext (and the next one) lie in the long line

    def pick(der):
        start, _ = encrypted_content_range(der, m.d)
        return start + block * 16 + 5, 0x01
    return flip_der(enc, pick)


def truncate_b64(entity: bytes):
    head, body = entity.split(b"\r\n\r\n", 1)
    lines = body.split(b"\r\n")
    return head + b"\r\n\r\n" + b"\r\n".join(lines[:len(lines) // 2]) + b"\r\n"


# name: (builder, From local part, gateway attribute, expected final reply or None for 250, verdict)
TAMPER_CASES = {
    "flipped-signed-content": (tamper_signed_content, "carol", "gw",
                               "554 5.7.7 signature does not match the content", None),
    "flipped-signature": (tamper_signature, "carol", "gw", "554 5.7.7 signature does not match the content", None),
    "flipped-ciphertext-gcm": (tamper_ciphertext_gcm, "carol", "gw", "554 5.7.7 encrypted content damaged", None),
    "flipped-ciphertext-cbc-padding": (tamper_ciphertext_cbc_padding, "carol", "gw",
                                       "554 5.7.7 encrypted content damaged", None),
    "flipped-ciphertext-cbc-body": (tamper_ciphertext_cbc_body, "carol", "gw",
                                    "554 5.7.7 signature does not match the content", None),
    "truncated-cms": (lambda m, e: truncate_b64(m.encrypt(m.sign(e, "carol"), ["alice"])), "carol", "gw",
                      "554 5.7.5 malformed encrypted data", None),
    "resigned-by-other-trusted-cert": (lambda m, e: m.sign(e, "mallory"), "carol", "gw",
                                       "550 5.7.1 signer is not the From address", None),
    "expired-signer-tag": (lambda m, e: m.sign(e, "dave"), "dave", "gw", None, "expired"),
    "expired-signer-reject": (lambda m, e: m.sign(e, "dave"), "dave", "strict",
                              "554 5.7.5 signer certificate expired", None),
    "revoked-signer": (lambda m, e: m.sign(e, "eve"), "eve", "gw", "554 5.7.5 signer certificate revoked", None),
    "untrusted-signer-tag": (lambda m, e: m.sign(e, "oscar"), "oscar", "gw", None, "untrusted"),
}


@pytest.mark.parametrize("case", list(TAMPER_CASES))
def test_tampered_or_doubtful_message_gets_documented_verdict(world, maker, case):
    build, who, gw_name, expected, verdict = TAMPER_CASES[case]
    gw = getattr(world, gw_name)
    frm = f"{who}@partner.example"
    message = wrap(build(maker, inner_entity()), frm=f"<{frm}>", subject=f"tamper {case}")
    before = all_delivered(gw)
    final, _ = smtp_send(gw.outside_port, frm, ["alice@example.org"], message)
    assert final is not None
    if expected:
        assert last_line(final) == expected, (final, gw.log()[-2000:])
        # Proxy mode: a copy is delivered before the client's reply, so none can come later.
        assert all_delivered(gw) == before, "a refused message reached the next hop"
        assert re.search(rf"side=outside .*filter=open refused: {re.escape(expected[10:])}", gw.log()), \
            gw.log()[-2000:]
    else:
        assert final[0] == 250, final
        delivered = wait_new_file(gw.tmp / "mail" / "alice@example.org", before).read_bytes()
        trace = trace_header(delivered)
        assert trace.startswith(f"verdict={verdict}; encryption=none; signer={frm}; "), trace
        assert_secret_text(delivered)


def test_undecryptable_forged_trace_and_efail_mix_are_delivered_untouched_and_tagged(world, maker):
    """Three inbound rules around the verdicts: mail encrypted for no internal key is
    delivered unchanged with verdict=undecryptable ([open] undecryptable = "tag"); a
    forged X-Mailseal-Verification from outside is removed; an encrypted part inside a
    multipart is not decrypted in place (no EFAIL-style mixing) and is tagged."""
    folder = world.gw.tmp / "mail" / "alice@example.org"

    def deliver(message):
        before = maildir_files(folder)
        final, _ = smtp_send(world.gw.outside_port, "carol@partner.example", ["alice@example.org"], message)
        assert final and final[0] == 250, final
        return wait_new_file(folder, before).read_bytes()

    for_frank = maker.encrypt(maker.sign(inner_entity(), "carol"), ["frank"])
    got = deliver(wrap(for_frank, subject="not for us"))
    assert trace_header(got) == "verdict=undecryptable; encryption=none", trace_header(got)
    assert for_frank.split(b"\r\n\r\n", 1)[1] in got  # ciphertext passed on as it was

    forged = wrap(b"X-Mailseal-Verification: verdict=valid; signer=ceo@example.org\r\n"
                  b"Content-Type: text/plain\r\n\r\nplain, unsigned\r\n", subject="forged trace")
    got = deliver(forged)
    assert trace_header(got) == "verdict=unsigned; encryption=none"
    assert b"ceo@example.org" not in got

    for_alice = maker.encrypt(maker.sign(inner_entity(), "carol"), ["alice"])
    mixed = (b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="mix"\r\n\r\n--mix\r\n'
             b"Content-Type: text/plain\r\n\r\nattacker text before\r\n--mix\r\n" + for_alice.split(b"\r\n", 1)[1]
             + b"\r\n--mix--\r\n")
    got = deliver(wrap(mixed, subject="efail"))
    assert trace_header(got) == "verdict=unsigned; encrypted-part-left-alone; encryption=none", trace_header(got)
    for line in SECRET_LINES:
        assert line.encode() not in got


def test_refusal_reply_is_one_clean_ascii_line(world):
    """A malformed S/MIME header block is refused with 554 5.7.5, and the reply is one
    line of printable ASCII: nothing of the sender's bytes (CR, LF, 8-bit) is echoed into
    it (RFC 5321 4.2: a reply line is text ending in CRLF; a bare CR or an extra line
    here breaks the client's parser or injects a reply)."""
    msg = (b"From: <carol@partner.example>\r\nTo: <alice@example.org>\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: application/pkcs7-mime; smime-type=enveloped-data; x=\"a\r\n"
           b"b\"\xff\r\nContent-Transfer-Encoding: base64\r\n\r\nMIAGCSqGSIb3DQEHA6CAMIACAQAx\r\n")
    c = SmtpClient(world.gw.outside_port)
    try:
        assert c.reply()[0] == 220
        assert c.cmd("EHLO client.test")[0] == 250
        assert c.cmd("MAIL FROM:<carol@partner.example> BODY=8BITMIME")[0] == 250
        assert c.cmd("RCPT TO:<alice@example.org>")[0] == 250
        assert c.cmd("DATA")[0] == 354
        c.send(msg + b".\r\n")
        code, text = c.reply()
    finally:
        c.close()
    assert code == 554 and text.startswith("554 5.7.5 "), text
    assert re.fullmatch(r"554 5\.7\.5 [\x20-\x7e]*\r\n", text), repr(text)
