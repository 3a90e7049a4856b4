"""Seed 001 Figs. 3 and 4 for real: two organisations, S/MIME between their gateways.

    swaks --> Postfix A (LAN mail server of a.example) --relayhost--> mailseal A (inside: seal)
          --> capturing TCP proxy ("the Internet hop", every byte recorded both ways)
          --> mailseal B (outside: open) --LMTP--> Dovecot B <--IMAP-- the test (bob@b.example)

Each organisation has its own mailseal (own state dir, own internal CA from
`mailseal keys ca init`; users with RSA-2048 and one with EC P-256 each). Keys are
exchanged with the CLI only: B's users' certificates are imported into A's store, A's CA
certificate into B's store as a trust anchor (and the reverse for the reply B -> A, which
goes mailseal B inside -> second proxy -> mailseal A outside -> Maildir).

Proves: the message arrives in the IMAP mailbox as plain text with
`X-Mailseal-Verification: verdict=valid` naming the signer and its certificate; what
crossed the Internet hop is S/MIME only (application/pkcs7-mime enveloped-data, a CMS
EnvelopedData, no plaintext line of the body, not even inside the base64); a Bcc
recipient gets its own copy encrypted only to its own key and the To copy names no Bcc;
a recipient without certificate is refused at RCPT (550 5.7.1), so Postfix A bounces only
that one and the others are delivered.

Every test runs twice (issue 6 acceptance): with every key in each gateway's own store
("store"), and with the users' secret keys generated inside a PKCS#11 token (SoftHSM2, one
token per organisation) and the correspondents' certificates only in a directory server
(slapd), none in either store ("token+directory"): then the stores hold only each
organisation's internal CA and the other's CA certificate as trust anchor.
"""

import base64
import email
import email.policy
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

from dovecot_harness import Dovecot, dovecot_unavailable
from harness import MAILSEAL_BIN, Mailseal, SmtpClient, free_port
from ldap_harness import Person, Slapd, ldap_unavailable
from postfix_harness import Postfix, postfix_unavailable, swaks
from softhsm_harness import SoftHsm, softhsm_unavailable

OPENSSL = shutil.which("openssl")


def _why_skip():
    if not os.access(MAILSEAL_BIN, os.X_OK):
        return f"mailseal binary {MAILSEAL_BIN} not built (set MAILSEAL_BIN)"
    if not OPENSSL:
        return "the openssl tool is not installed"
    return postfix_unavailable() or dovecot_unavailable()


_why = _why_skip()
pytestmark = pytest.mark.skipif(_why is not None, reason=f"end-to-end S/MIME needs: {_why}")


# -- the Internet hop: a capturing TCP proxy ------------------------------------------------------


class CaptureProxy:
    """Listens on 127.0.0.1:port and forwards each connection to 127.0.0.1:upstream,
    recording every byte in both directions (per connection: c2s, s2c)."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.port = free_port()
        self.conns = []
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(16)
        self.stopped = False

    def start(self):
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def _accept(self):
        while not self.stopped:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(("127.0.0.1", self.upstream), timeout=10)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            rec = {"c2s": bytearray(), "s2c": bytearray(), "done": threading.Event(), "open": 2}
            with self.lock:
                self.conns.append(rec)
            threading.Thread(target=self._pump, args=(client, server, rec, "c2s"), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, rec, "s2c"), daemon=True).start()

    def _pump(self, src, dst, rec, key):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                with self.lock:
                    rec[key] += data
                dst.sendall(data)
        except OSError:
            pass
        finally:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            with self.lock:
                rec["open"] -= 1
                if rec["open"] == 0:
                    rec["done"].set()
                    src.close()
                    dst.close()

    def mark(self):
        """Where every connection's client stream is now. mailseal keeps a next-hop
        session for the next message, so a later transaction may come over a connection
        that is already open: marks are per connection, not a connection count."""
        with self.lock:
            return [len(c["c2s"]) for c in self.conns]

    def transactions(self, since=()):
        """The mail transactions sent through the proxy (client to server) after the mark
        `since` (between transactions; () = all): dicts with mail, rcpts, data
        (dot-unstuffed)."""
        with self.lock:
            streams = [bytes(c["c2s"][since[i] if i < len(since) else 0:])
                       for i, c in enumerate(self.conns)]
        out = []
        for stream in streams:
            lines = stream.split(b"\r\n")
            i, cur = 0, None
            while i < len(lines):
                line = lines[i]
                verb = line[:4].upper()
                if verb == b"MAIL":
                    cur = {"mail": line.decode(), "rcpts": [], "data": None}
                elif verb == b"RCPT" and cur is not None:
                    cur["rcpts"].append(re.search(rb"<([^>]*)>", line).group(1).decode())
                elif line.upper() == b"DATA" and cur is not None:
                    body = []
                    i += 1
                    while i < len(lines) and lines[i] != b".":
                        body.append(lines[i][1:] if lines[i].startswith(b".") else lines[i])
                        i += 1
                    cur["data"] = b"\r\n".join(body) + b"\r\n"
                    out.append(cur)
                    cur = None
                i += 1
        return out

    def wait_transactions(self, n, since=(), timeout=30):
        deadline = time.time() + timeout
        while True:
            t = self.transactions(since)
            if len(t) >= n:
                return t
            if time.time() > deadline:
                raise TimeoutError(f"{len(t)} of {n} transactions crossed the proxy")
            time.sleep(0.05)

    def all_bytes(self):
        with self.lock:
            return b"".join(bytes(c["c2s"]) + bytes(c["s2c"]) for c in self.conns)

    def stop(self):
        self.stopped = True
        self.sock.close()


# -- organisations ------------------------------------------------------------------------------


def org_gateway(tmp, domain, inside_next_hop=None, outside_next_hop=None, extra="[seal]\n[open]\n"):
    """A Mailseal for one organisation: its own state dir, internal_domains = [domain]."""
    gw = Mailseal(tmp, inside_next_hop=inside_next_hop, outside_next_hop=outside_next_hop, extra=extra)
    text = gw.config_path.read_text()
    assert 'internal_domains = ["example.org"]' in text and 'hostname = "gw.test"' in text
    gw.config_path.write_text(text.replace('internal_domains = ["example.org"]', f'internal_domains = ["{domain}"]')
                              .replace('hostname = "gw.test"', f'hostname = "gw.{domain}"'))
    return gw


def keys(gw, *args):
    env = {k: v for k, v in os.environ.items() if k != "MAILSEAL_PASSPHRASE"}
    r = subprocess.run([MAILSEAL_BIN, "keys", "-c", str(gw.config_path), *map(str, args)], capture_output=True,
                       text=True, env=env, timeout=120)
    assert r.returncode == 0, f"mailseal keys {' '.join(map(str, args))}: {r.stderr}"
    return r.stdout


def smtp_hop(port):
    return f'kind = "smtp"\nhost = "127.0.0.1"\nport = {port}\ntls = "none"\nconnect_timeout = "5s"'


USERS_B = {"bob@b.example": "bob-pw", "carol@b.example": "carol-pw", "nocert@b.example": "nocert-pw"}


TOKEN_PIN = "e2e-user-pin-4321"


@pytest.fixture(scope="module", params=["store", "token+directory"])
def orgs(request, tmp_path_factory):
    """The two organisations, keys in the stores or in tokens + a directory (see above)."""
    if request.param == "token+directory":
        why = softhsm_unavailable() or ldap_unavailable()
        if why:
            pytest.skip(f"token+directory variant needs: {why}")
    base = tmp_path_factory.mktemp("smime-e2e")
    hsm = None
    saved_conf = os.environ.get("SOFTHSM2_CONF")
    if request.param == "token+directory":
        # One SoftHSM2 configuration, one token per organisation; the daemons and the
        # CLI find it through SOFTHSM2_CONF, set for the life of this fixture.
        hsm = SoftHsm(base / "hsm")
        os.environ["SOFTHSM2_CONF"] = str(hsm.conf)
    try:
        yield from _orgs(base, hsm, request.param)
    finally:
        if saved_conf is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = saved_conf


def _orgs(base, hsm, variant):
    dovecot_b = Dovecot(base, "b", USERS_B)
    gw_a_tmp, gw_b_tmp = base / "mailseal-a", base / "mailseal-b"
    gw_a_tmp.mkdir()
    gw_b_tmp.mkdir()
    extra = {"a.example": "[seal]\n[open]\n", "b.example": "[seal]\n[open]\n"}
    slapd = None
    if hsm:
        # The directory's port is fixed now (the gateways' configurations name it); its
        # entries are loaded once the certificates exist, before it starts.
        slapd_dir = base / "slapd"
        slapd_port = free_port()
        for domain in extra:
            label = f"token-{domain}"
            hsm.init_token(label, TOKEN_PIN)
            pin = hsm.pin_file(f"pin-{domain}", TOKEN_PIN)
            extra[domain] += (f'[keys]\nsources = ["store", "ldap"]\n\n[keys.ldap]\n'
                              f'url = "ldap://127.0.0.1:{slapd_port}"\nbase_dn = "dc=example,dc=org"\n'
                              f'timeout = "5s"\n\n' + hsm.config(label, pin))
    # Ports are chosen at construction, so the wiring can be done before anything runs.
    gw_b = org_gateway(gw_b_tmp, "b.example", outside_next_hop=dovecot_b.next_hop(), extra=extra["b.example"])
    hop_ab = CaptureProxy(gw_b.outside_port)
    gw_a = org_gateway(gw_a_tmp, "a.example", inside_next_hop=smtp_hop(hop_ab.port), extra=extra["a.example"])
    hop_ba = CaptureProxy(gw_a.outside_port)
    text = gw_b.config_path.read_text()
    gw_b.config_path.write_text(text.replace(f'path = "{gw_b.tmp}/outbound"',
                                             f'host = "127.0.0.1"\nport = {hop_ba.port}\ntls = "none"')
                                .replace('[inside.next_hop]\nkind = "maildir"', '[inside.next_hop]\nkind = "smtp"'))
    # Bounces for a.example senders are discarded by Postfix A (no mailbox for them here).
    # Postfix drops Bcc by default (message_drop_headers); keep it so that the Bcc header
    # really reaches mailseal and the "no Bcc on the hop" checks test mailseal, not Postfix.
    postfix_a = Postfix(base, "a", relayhost=f"[127.0.0.1]:{gw_a.inside_port}",
                        main={"transport_maps": "inline:{ a.example=discard: }",
                              "message_drop_headers": "content-length, return-path"})

    # Keys, with the CLI only.
    exchange = base / "exchange"
    exchange.mkdir()
    for gw, domain, users in ((gw_a, "a.example", {"alice": "rsa2048", "erin": "p256"}),
                              (gw_b, "b.example", {"bob": "rsa2048", "carol": "p256"})):
        keys(gw, "init")
        keys(gw, "ca", "init", "--domain", domain, "--algorithm", "rsa2048", "--name", f"{domain} internal CA")
        for user, alg in users.items():
            keys(gw, "generate", f"{user}@{domain}", "--algorithm", alg, *(["--token"] if hsm else []))
            keys(gw, "export", f"{user}@{domain}", "--out", exchange / f"{user}@{domain}.pem")
        keys(gw, "ca", "export", "--out", exchange / f"{domain}-ca.pem")
    if hsm:
        # The correspondents' certificates go into the directory only.
        people = [Person(addr.split("@")[0] + "-" + addr.split("@")[1].split(".")[0], addr,
                         **{"userCertificate;binary": [pem_to_der(exchange / f"{addr}.pem")]})
                  for addr in ("alice@a.example", "erin@a.example", "bob@b.example", "carol@b.example")]
        slapd = Slapd(slapd_dir, people, port=slapd_port)
    else:
        for user in ("bob", "carol"):  # B's correspondents' certificates into A's store
            keys(gw_a, "import", exchange / f"{user}@b.example.pem")
        # And the reverse, for the reply.
        for user in ("alice", "erin"):
            keys(gw_b, "import", exchange / f"{user}@a.example.pem")
    keys(gw_b, "import", exchange / "a.example-ca.pem")  # A's CA: a trust anchor at B
    keys(gw_a, "import", exchange / "b.example-ca.pem")
    assert "a.example internal CA" in keys(gw_b, "list", "--anchors")
    if hsm:
        # No store holds a secret key (they are in the tokens) or a correspondent's
        # certificate (those are in the directory). `generate --token` files the new
        # certificate of the organisation's own user in its store as well, for listing.
        for gw, own in ((gw_a, "a.example"), (gw_b, "b.example")):
            db = sqlite3.connect(gw.state / "keys.db")
            try:
                assert db.execute("SELECT count(*) FROM secret_keys").fetchone()[0] == 0
                addresses = {r[0] for r in db.execute("SELECT address FROM certificates")}
                assert addresses and all(a.endswith("@" + own) for a in addresses), addresses
            finally:
                db.close()

    parts = []
    try:
        for part in ([slapd] if slapd else []) + [dovecot_b, hop_ab, hop_ba, gw_b, gw_a, postfix_a]:
            parts.append(part)
            part.start()
        yield SimpleNamespace(a=gw_a, b=gw_b, pf=postfix_a, dovecot=dovecot_b, hop=hop_ab, hop_back=hop_ba,
                              exchange=exchange, base=base, variant=variant, slapd=slapd)
    finally:
        for part in reversed(parts):
            part.stop()
        postfix_a.stop()
        dovecot_b.stop()


# -- helpers ------------------------------------------------------------------------------------

BODY = ["Dear Bob,",
        "the merger with Contoso closes on Friday at 17:00.",
        "Board approval reference: ZX-5521-ALPHA-OMEGA.",
        "Please keep this strictly confidential.",
        "-- ",
        "Alice"]


def message(to_hdr, subject, msgid, body=BODY, extra_headers=""):
    return (f"From: Alice <alice@a.example>\r\nTo: {to_hdr}\r\n{extra_headers}Subject: {subject}\r\n"
            f"Date: Mon, 01 Jan 2024 12:00:00 +0000\r\nMessage-ID: <{msgid}@a.example>\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=us-ascii\r\n\r\n" + "".join(line + "\r\n" for line in body)).encode()


def submit(orgs, tmp_path, rcpts, msg):
    """swaks to Postfix A; returns its queue id."""
    f = tmp_path / f"msg-{time.monotonic_ns()}.eml"
    f.write_bytes(msg + b".\r\n")
    out = swaks(orgs.pf.port, "alice@a.example", ",".join(rcpts), f)
    m = re.search(r"<-  250 2\.0\.0 Ok: queued as (\w+)", out)
    assert m, out[-3000:]
    return m.group(1)


def sent_via_mailseal(pf, qid, rcpt, timeout=60):
    return pf.wait_log(rf"{qid}: to=<{re.escape(rcpt)}>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+, .*status=sent "
                       rf"\(250 2\.0\.0 Ok: \S+ relayed", timeout=timeout)


def find_by_msgid(dovecot, user, msgid, timeout=30):
    deadline = time.time() + timeout
    while True:
        for raw in dovecot.fetch_all(user):
            if f"<{msgid}@a.example>".encode() in raw:
                return raw
        if time.time() > deadline:
            raise TimeoutError(f"{user}: no message {msgid}\n{dovecot.log()[-3000:]}")
        time.sleep(0.2)


def pem_to_der(pem: Path) -> bytes:
    return subprocess.run([OPENSSL, "x509", "-in", str(pem), "-outform", "DER"], capture_output=True,
                          check=True, timeout=60).stdout


def fingerprint(pem):
    out = subprocess.run([OPENSSL, "x509", "-in", str(pem), "-noout", "-fingerprint", "-sha256"],
                         capture_output=True, text=True, check=True).stdout
    return out.strip().split("=")[1].replace(":", "").lower()


def serial(pem):
    out = subprocess.run([OPENSSL, "x509", "-in", str(pem), "-noout", "-serial"],
                         capture_output=True, text=True, check=True).stdout
    return int(out.strip().split("=")[1], 16)


def trace_of(raw):
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    values = msg.get_all("X-Mailseal-Verification") or []
    assert len(values) == 1, raw[:2000]
    return msg, re.sub(r"\s+", " ", values[0])


def assert_smime_only(data: bytes, tmp_path: Path, secrets):
    """What crossed the hop: one application/pkcs7-mime enveloped-data entity whose base64
    decodes to a CMS EnvelopedData; no secret text anywhere (not even in the DER).
    Returns the CMS as printed by `openssl cms -cmsout -print`."""
    msg = email.message_from_bytes(data, policy=email.policy.compat32)
    assert msg.get_content_type() == "application/pkcs7-mime", data[:1500]
    assert msg.get_param("smime-type") == "enveloped-data", msg["Content-Type"]
    assert not msg.is_multipart()
    assert msg["Content-Transfer-Encoding"].lower() == "base64"
    head, body = data.split(b"\r\n\r\n", 1)
    assert re.fullmatch(rb"(?:[A-Za-z0-9+/=]{1,76}\r\n)+", body), "the body is not only base64 lines"
    der = base64.b64decode(body)
    for s in secrets:
        assert s.encode() not in data, f"plaintext {s!r} crossed the Internet hop"
        assert s.encode() not in der, f"plaintext {s!r} inside the CMS"
    assert b"text/plain" not in data.lower() and b"text/plain" not in der.lower()
    f = tmp_path / f"hop-{time.monotonic_ns()}.der"
    f.write_bytes(der)
    printed = subprocess.run([OPENSSL, "cms", "-cmsout", "-print", "-inform", "DER", "-in", str(f)],
                             capture_output=True, text=True, timeout=60)
    assert printed.returncode == 0, printed.stderr
    assert "contentType: pkcs7-envelopedData" in printed.stdout, printed.stdout[:1500]
    return printed.stdout


def recipient_serials(printed):
    """Serial numbers of the certificates named in the RecipientInfos."""
    return {int(v, 16) if v.lower().startswith("0x") else int(v)
            for v in re.findall(r"serialNumber: (0x[0-9a-fA-F]+|\d+)", printed)}


# -- tests --------------------------------------------------------------------------------------


def test_postfix_a_to_dovecot_b_sealed_on_the_internet_hop(orgs, tmp_path):
    since = orgs.hop.mark()
    msg = message("Bob <bob@b.example>", "Quarterly figures", "e2e-main")
    qid = submit(orgs, tmp_path, ["bob@b.example"], msg)
    sent_via_mailseal(orgs.pf, qid, "bob@b.example")

    # Over IMAP: plain text, verified, signer named.
    raw = find_by_msgid(orgs.dovecot, "bob@b.example", "e2e-main")
    got, trace = trace_of(raw)
    fpr = fingerprint(orgs.exchange / "alice@a.example.pem")
    assert re.fullmatch(rf"verdict=valid; encryption=enveloped-data; signer=alice@a\.example; "
                        rf"fingerprint=sha256:{fpr}; digest=\S+; signature=\S+", trace, re.I), trace
    assert got["Subject"] == "Quarterly figures"
    assert got["From"] == "Alice <alice@a.example>" and got["To"] == "Bob <bob@b.example>"
    if orgs.variant == "token+directory":
        # Bob's certificate came from the directory, not from A's store.
        out = keys(orgs.a, "lookup", "bob@b.example")
        bob_fpr = fingerprint(orgs.exchange / "bob@b.example.pem")
        assert re.search(rf"S/MIME: {bob_fpr} from ldap ", out, re.I), out
    assert got.get_content_type() == "text/plain"
    assert got.get_payload().replace("\r\n", "\n") == "".join(line + "\n" for line in BODY)
    # The Received chain shows the path: Postfix A, mailseal A, mailseal B, Dovecot.
    received = got.get_all("Received")
    for hop in ("by a.test (Postfix)", "by gw.a.example (mailseal)", "by gw.b.example (mailseal)"):
        assert any(hop in r for r in received), received

    # The Internet hop carried exactly one transaction, S/MIME only.
    (t,) = orgs.hop.wait_transactions(1, since)
    assert t["mail"] == "MAIL FROM:<alice@a.example>" or t["mail"].startswith("MAIL FROM:<alice@a.example> ")
    assert t["rcpts"] == ["bob@b.example"]
    printed = assert_smime_only(t["data"], tmp_path, BODY[1:4])
    hop = email.message_from_bytes(t["data"], policy=email.policy.compat32)
    assert hop["Subject"] == "Quarterly figures"  # outer headers are kept (RFC 8551 3.1)
    assert recipient_serials(printed) == {serial(orgs.exchange / "bob@b.example.pem")}
    everything = orgs.hop.all_bytes()
    for line in BODY[1:4]:
        assert line.encode() not in everything
    # The SMTP dialogue itself went through (250 to the end of DATA from mailseal B).
    assert re.search(rb"250 2\.0\.0 Ok: \S+ relayed \(next hop: 250 2\.0\.0 <bob@b\.example> ", everything), \
        everything[-2000:]


def test_bcc_recipient_gets_own_copy_with_own_key_only(orgs, tmp_path):
    since = orgs.hop.mark()
    msg = message("Bob <bob@b.example>", "Bcc check", "e2e-bcc", extra_headers="Bcc: carol@b.example\r\n")
    qid = submit(orgs, tmp_path, ["bob@b.example", "carol@b.example"], msg)
    sent_via_mailseal(orgs.pf, qid, "bob@b.example")
    sent_via_mailseal(orgs.pf, qid, "carol@b.example")

    copies = orgs.hop.wait_transactions(2, since)
    assert len(copies) == 2, copies
    by_rcpt = {tuple(t["rcpts"]): t for t in copies}
    assert set(by_rcpt) == {("bob@b.example",), ("carol@b.example",)}, list(by_rcpt)
    bob_serial = serial(orgs.exchange / "bob@b.example.pem")
    carol_serial = serial(orgs.exchange / "carol@b.example.pem")
    to_copy, bcc_copy = by_rcpt[("bob@b.example",)]["data"], by_rcpt[("carol@b.example",)]["data"]
    assert recipient_serials(assert_smime_only(to_copy, tmp_path, BODY[1:4])) == {bob_serial}
    assert recipient_serials(assert_smime_only(bcc_copy, tmp_path, BODY[1:4])) == {carol_serial}
    for data in (to_copy, bcc_copy):
        assert not re.search(rb"(?im)^bcc:", data)
        assert b"carol@b.example" not in data  # the Bcc address is nowhere in either copy

    raw_bob = find_by_msgid(orgs.dovecot, "bob@b.example", "e2e-bcc")
    got, trace = trace_of(raw_bob)
    assert trace.startswith("verdict=valid; encryption=enveloped-data; signer=alice@a.example;"), trace
    assert got["Bcc"] is None and b"carol@b.example" not in raw_bob
    raw_carol = find_by_msgid(orgs.dovecot, "carol@b.example", "e2e-bcc")
    got_c, trace_c = trace_of(raw_carol)
    assert trace_c.startswith("verdict=valid; encryption=enveloped-data; signer=alice@a.example;"), trace_c
    assert got_c["Bcc"] is None
    assert BODY[2].encode() in raw_carol


def test_recipient_without_certificate_bounces_alone(orgs, tmp_path):
    since = orgs.hop.mark()
    msg = message("Bob <bob@b.example>, Nocert <nocert@b.example>", "partial", "e2e-nocert")
    qid = submit(orgs, tmp_path, ["bob@b.example", "nocert@b.example"], msg)
    orgs.pf.wait_log(rf"{qid}: to=<nocert@b\.example>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:{orgs.a.inside_port}, "
                     rf".*dsn=5\.7\.1, status=bounced \(host 127\.0\.0\.1\[127\.0\.0\.1\] said: 550 5\.7\.1 "
                     rf"no S/MIME certificate(?: or OpenPGP key)? for nocert@b\.example \(in reply to RCPT TO command\)\)")
    sent_via_mailseal(orgs.pf, qid, "bob@b.example")
    (t,) = orgs.hop.wait_transactions(1, since)
    assert t["rcpts"] == ["bob@b.example"]
    assert_smime_only(t["data"], tmp_path, BODY[1:4])
    raw = find_by_msgid(orgs.dovecot, "bob@b.example", "e2e-nocert")
    assert trace_of(raw)[1].startswith("verdict=valid;")
    assert orgs.dovecot.fetch_all("nocert@b.example") == []


def test_reply_from_b_to_ec_user_at_a(orgs, tmp_path):
    """Fig. 4 the other way round: bob (RSA) at B replies to erin (EC P-256) at A through
    mailseal B inside -> second captured hop -> mailseal A outside (Maildir)."""
    since = orgs.hop_back.mark()
    body = ["Hi Erin,", "the counter-offer is 4.2 million, final.", "Bob"]
    msg = (b"From: Bob <bob@b.example>\r\nTo: Erin <erin@a.example>\r\nSubject: Re: offer\r\n"
           b"Date: Mon, 01 Jan 2024 13:00:00 +0000\r\nMessage-ID: <e2e-reply@b.example>\r\n"
           b"In-Reply-To: <e2e-main@a.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n"
           + "".join(line + "\r\n" for line in body).encode())
    c = SmtpClient(orgs.b.inside_port, timeout=60)
    try:
        assert c.reply()[0] == 220
        assert c.cmd("EHLO lan.b.example")[0] == 250
        assert c.cmd("MAIL FROM:<bob@b.example>")[0] == 250
        assert c.cmd("RCPT TO:<erin@a.example>")[0] == 250
        assert c.cmd("DATA")[0] == 354
        c.send(msg + b".\r\n")
        code, text = c.reply()
        assert code == 250, text
        c.cmd("QUIT")
    finally:
        c.close()
    (t,) = orgs.hop_back.wait_transactions(1, since)
    printed = assert_smime_only(t["data"], tmp_path, body[1:2])
    assert "keyAgreement" in printed or "kari" in printed.lower() or "originator" in printed, printed[:2000]
    delivered = orgs.a.maildir_messages(orgs.a.tmp / "mail" / "erin@a.example")
    assert len(delivered) == 1
    raw = delivered[0].read_bytes()
    got, trace = trace_of(raw)
    fpr = fingerprint(orgs.exchange / "bob@b.example.pem")
    assert re.fullmatch(rf"verdict=valid; encryption=enveloped-data; signer=bob@b\.example; "
                        rf"fingerprint=sha256:{fpr}; digest=\S+; signature=\S+", trace, re.I), trace
    assert got["In-Reply-To"] == "<e2e-main@a.example>"
    assert body[1].encode() in raw
