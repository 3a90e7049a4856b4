"""Issue 4 acceptance: the two-organisation end-to-end test with OpenPGP keys only, and
with a mix of S/MIME and OpenPGP recipients plus a Bcc.

The wiring is that of test_smime_e2e.py (its helpers are imported from there):

    swaks --> Postfix A (LAN mail server of a.example) --relayhost--> mailseal A (inside: seal)
          --> capturing TCP proxy ("the Internet hop", every byte recorded both ways)
          --> mailseal B (outside: open) --LMTP--> Dovecot B <--IMAP-- the test

Two separate worlds (each with its own Postfix A, mailseal A and B, proxy and Dovecot B),
keys exchanged with the CLI only (`keys export --openpgp` / `keys export` / `keys import`):

* `pgp`: `[seal] formats = ["openpgp"]`, no S/MIME key or CA anywhere. At A: alice
  (Ed25519/Cv25519, `keys generate --openpgp`) and ron (RSA-3072, `--algorithm rsa3072`);
  at B: bob (Ed25519/Cv25519) and rita (RSA-3072). Each side imports the other's public
  keys. The key types are checked from the exported packets themselves.
* `mix`: `[seal] formats = ["smime", "openpgp"]`. At A: alice with an S/MIME certificate
  from A's internal CA *and* an OpenPGP key. At B: dave with an S/MIME certificate only
  (from B's CA), bob and carol with OpenPGP keys only. A's store gets dave's certificate
  and bob's and carol's OpenPGP keys; B's store gets A's CA certificate (trust anchor)
  and alice's OpenPGP key. Carol is the Bcc recipient (an OpenPGP one, so the Bcc rule
  is exercised inside the new format; the S/MIME Bcc case is test_smime_e2e's).

Postfix A is told to keep the Bcc header (message_drop_headers without bcc; by default
its cleanup(8) removes it, and then "no copy has a Bcc header" would prove nothing about
mailseal). The LAN hop Postfix A -> mailseal A goes through a second capturing proxy, so
the test shows that mailseal A really got the Bcc header and the plain text.

What is proved:

* pgp, alice -> bob + rita: over IMAP both get the plain text/plain original with
  `X-Mailseal-Verification: verdict=valid; format=openpgp; ...; signer=alice@a.example;
  fingerprint=openpgp:<alice's primary fingerprint>; ...; signature=EDDSA`. Exactly one
  transaction crossed the hop, and it is RFC 3156 only: multipart/encrypted with
  protocol application/pgp-encrypted, part 1 application/pgp-encrypted "Version: 1",
  part 2 application/octet-stream holding one armored OpenPGP message (valid CRC-24)
  whose packets are exactly one PKESK per recipient encryption subkey (bob's Cv25519 and
  rita's RSA-3072, no other key) followed by one integrity-protected SEIPD packet (no SED
  without MDC); no line of the body appears anywhere in the hop bytes (both directions)
  nor in the decoded packets, and no `text/plain` is visible.
* pgp, ron (RSA-3072) -> bob: the RSA signature verifies end to end (signature=RSA,
  signer ron, fingerprint of ron's key).
* mix, To dave (S/MIME only) + bob (OpenPGP only), Bcc carol (OpenPGP): one transaction
  with `Bcc: carol@b.example` entered mailseal A, and exactly three
  transactions cross the hop, one per copy, each with one envelope recipient: dave's is
  S/MIME enveloped-data for dave's certificate only; bob's and carol's are RFC 3156 with
  exactly one PKESK each, for bob's resp. carol's subkey; no copy has a Bcc header and
  carol's address is in none of them (not even bob's copy); all three arrive over IMAP
  decrypted, as the original text, with verdict=valid and signer alice (S/MIME trace
  for dave, format=openpgp trace for bob and carol).
"""

import base64
import email
import email.policy
import hashlib
import os
import re
import shutil
import time
from types import SimpleNamespace

import pytest

from dovecot_harness import Dovecot, dovecot_unavailable
from harness import MAILSEAL_BIN
from postfix_harness import Postfix, postfix_unavailable, swaks
from test_smime_e2e import (BODY, CaptureProxy, assert_smime_only, find_by_msgid, keys, org_gateway,
                            recipient_serials, sent_via_mailseal, serial, trace_of)


def _why_skip():
    if not os.access(MAILSEAL_BIN, os.X_OK):
        return f"mailseal binary {MAILSEAL_BIN} not built (set MAILSEAL_BIN)"
    if not shutil.which("openssl"):
        return "the openssl tool is not installed (the mixed test checks the S/MIME copy with it)"
    return postfix_unavailable() or dovecot_unavailable()


_why = _why_skip()
pytestmark = pytest.mark.skipif(_why is not None, reason=f"end-to-end OpenPGP needs: {_why}")

SECRETS = BODY[1:4]


# -- a minimal OpenPGP packet reader (RFC 4880 4.2 / RFC 9580 4.2), enough to check the hop ----


def crc24(data: bytes) -> int:
    crc = 0xB704CE
    for b in data:
        crc ^= b << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1864CFB
    return crc & 0xFFFFFF


def dearmor(text: bytes, label=b"PGP MESSAGE") -> bytes:
    """The binary of one ASCII-armored block; checks that nothing but the armor is there
    and the CRC-24 (when present)."""
    lines = [l.strip() for l in re.split(rb"\r?\n", text.strip())]
    assert lines[0] == b"-----BEGIN " + label + b"-----", lines[:2]
    assert lines[-1] == b"-----END " + label + b"-----", lines[-2:]
    i = 1
    while lines[i]:  # armor headers (Version:, Comment:, ...) up to the blank line
        assert re.fullmatch(rb"[A-Za-z]+: .*", lines[i]), lines[i]
        i += 1
    b64, checksum = [], None
    for line in lines[i + 1:-1]:
        if line.startswith(b"="):
            checksum = base64.b64decode(line[1:])
        else:
            assert re.fullmatch(rb"[A-Za-z0-9+/=]+", line), line
            b64.append(line)
    binary = base64.b64decode(b"".join(b64), validate=True)
    if checksum is not None:
        assert len(checksum) == 3 and int.from_bytes(checksum, "big") == crc24(binary), "armor CRC-24 mismatch"
    return binary


def packets(data: bytes):
    """[(tag, body)] of a packet sequence; partial body lengths are joined."""
    out, i = [], 0
    while i < len(data):
        h = data[i]
        i += 1
        assert h & 0x80, f"not a packet header at offset {i - 1}"
        if h & 0x40:  # new format
            tag, body = h & 0x3F, b""
            while True:
                l0 = data[i]
                i += 1
                partial = False
                if l0 < 192:
                    n = l0
                elif l0 < 224:
                    n = ((l0 - 192) << 8) + data[i] + 192
                    i += 1
                elif l0 == 255:
                    n = int.from_bytes(data[i:i + 4], "big")
                    i += 4
                else:
                    n, partial = 1 << (l0 & 0x1F), True
                body += data[i:i + n]
                i += n
                if not partial:
                    break
        else:  # old format
            tag, lt = (h >> 2) & 0x0F, h & 3
            if lt == 3:
                n = len(data) - i
            else:
                size = (1, 2, 4)[lt]
                n = int.from_bytes(data[i:i + size], "big")
                i += size
            body = data[i:i + n]
            i += n
        assert i <= len(data), "truncated packet"
        out.append((tag, body))
    return out


PUBKEY_ALGOS = {1: "rsa", 18: "ecdh", 22: "eddsa", 25: "x25519", 27: "ed25519"}


def key_info(armored_public: bytes):
    """Primary and subkeys of an exported certificate: [{tag, fpr, keyid, algo, bits}]."""
    out = []
    for tag, body in packets(dearmor(armored_public, b"PGP PUBLIC KEY BLOCK")):
        if tag not in (6, 14):
            continue
        assert body[0] == 4, f"key packet version {body[0]}"
        fpr = hashlib.sha1(b"\x99" + len(body).to_bytes(2, "big") + body).hexdigest()
        algo = PUBKEY_ALGOS.get(body[5], str(body[5]))
        info = {"tag": tag, "fpr": fpr, "keyid": fpr[-16:], "algo": algo, "bits": None, "curve": None}
        if algo == "rsa":
            info["bits"] = int.from_bytes(body[6:8], "big")
        elif algo in ("ecdh", "eddsa"):
            oid = body[7:7 + body[6]]
            info["curve"] = {bytes.fromhex("2b06010401da470f01"): "ed25519",
                             bytes.fromhex("2b060104019755010501"): "cv25519"}.get(oid, oid.hex())
        out.append(info)
    return out


def assert_pgp_mime_only(data: bytes, secrets=SECRETS):
    """What crossed the hop is one RFC 3156 multipart/encrypted entity and nothing else
    readable. Returns the key IDs (hex, lower case) named by its PKESK packets."""
    for s in secrets:
        assert s.encode() not in data, f"plaintext {s!r} crossed the Internet hop"
    assert b"text/plain" not in data.lower(), data[:2000]
    msg = email.message_from_bytes(data, policy=email.policy.compat32)
    assert msg.get_content_type() == "multipart/encrypted", data[:1500]
    assert msg.get_param("protocol") == "application/pgp-encrypted", msg["Content-Type"]
    assert msg.get("Content-Transfer-Encoding", "7bit").lower() in ("7bit", "8bit")
    parts = msg.get_payload()
    assert isinstance(parts, list) and len(parts) == 2, data[:2000]
    control, payload = parts
    assert control.get_content_type() == "application/pgp-encrypted"
    assert control.get_payload().strip() == "Version: 1", control.get_payload()
    assert payload.get_content_type() == "application/octet-stream"
    armored = payload.get_payload().encode()
    binary = dearmor(armored)
    for s in secrets:
        assert s.encode() not in binary, f"plaintext {s!r} inside the OpenPGP message"
    seq = packets(binary)
    tags = [t for t, _ in seq]
    assert 9 not in tags, "a SED packet (no integrity protection)"
    assert tags[-1] == 18 and tags.count(18) == 1 and set(tags[:-1]) == {1}, tags
    assert seq[-1][1][0] == 1, "SEIPD version"  # v1: CFB with MDC
    keyids = set()
    for _, body in seq[:-1]:
        assert body[0] == 3, f"PKESK version {body[0]}"
        keyids.add(body[1:9].hex())
    assert len(keyids) == len(seq) - 1, "the same key twice"
    return keyids


def encryption_keyid(info):
    (sub,) = [k for k in info if k["tag"] == 14]
    return sub["keyid"]


# -- the worlds -----------------------------------------------------------------------------------


def build_world(tmp_path_factory, name, formats, users_b, setup_keys):
    base = tmp_path_factory.mktemp(name)
    dovecot_b = Dovecot(base, "b", users_b)
    gw_a_tmp, gw_b_tmp = base / "mailseal-a", base / "mailseal-b"
    gw_a_tmp.mkdir()
    gw_b_tmp.mkdir()
    fmt = "[" + ", ".join(f'"{f}"' for f in formats) + "]"
    extra = f"[seal]\nformats = {fmt}\n[open]\n"
    gw_b = org_gateway(gw_b_tmp, "b.example", outside_next_hop=dovecot_b.next_hop(), extra=extra)
    hop = CaptureProxy(gw_b.outside_port)
    gw_a = org_gateway(gw_a_tmp, "a.example", extra=extra,
                       inside_next_hop=f'kind = "smtp"\nhost = "127.0.0.1"\nport = {hop.port}\ntls = "none"\n'
                                       f'connect_timeout = "5s"')
    # The LAN hop is captured too, to show what mailseal A was given. Postfix A keeps the
    # Bcc header (by default cleanup(8) drops it, which would leave mailseal's Bcc rule
    # untested); bounces for a.example senders are discarded.
    lan = CaptureProxy(gw_a.inside_port)
    postfix_a = Postfix(base, "a", relayhost=f"[127.0.0.1]:{lan.port}",
                        main={"transport_maps": "inline:{ a.example=discard: }",
                              "message_drop_headers": "content-length, return-path"})
    parts = (dovecot_b, hop, gw_b, gw_a, lan, postfix_a)
    try:
        exchange = base / "exchange"
        exchange.mkdir()
        keys(gw_a, "init")
        keys(gw_b, "init")
        info = setup_keys(gw_a, gw_b, exchange)
        for part in parts:
            part.start()
        yield SimpleNamespace(a=gw_a, b=gw_b, pf=postfix_a, dovecot=dovecot_b, hop=hop, lan=lan,
                              exchange=exchange, base=base, keys=info)
    finally:
        # Every stop() is safe for a part that never started (Postfix and Dovecot made
        # their /tmp directories in the constructor and remove them here).
        for part in reversed(parts):
            part.stop()


def pgp_user(gw, address, exchange, algorithm=None):
    """`keys generate --openpgp` (+ `--algorithm`), then `keys export --openpgp --out`; returns
    the packet-level key info of the exported certificate."""
    args = ["generate", address, "--openpgp"] + (["--algorithm", algorithm] if algorithm else [])
    keys(gw, *args)
    out = exchange / f"{address}.asc"
    keys(gw, "export", address, "--openpgp", "--out", out)
    return key_info(out.read_bytes())


def assert_kind(info, kind):
    primary = [k for k in info if k["tag"] == 6]
    subs = [k for k in info if k["tag"] == 14]
    assert len(primary) == 1 and len(subs) == 1, info
    if kind == "25519":
        assert (primary[0]["algo"], primary[0]["curve"]) == ("eddsa", "ed25519"), info
        assert (subs[0]["algo"], subs[0]["curve"]) == ("ecdh", "cv25519"), info
    else:
        assert (primary[0]["algo"], primary[0]["bits"]) == ("rsa", 3072), info
        assert (subs[0]["algo"], subs[0]["bits"]) == ("rsa", 3072), info


@pytest.fixture(scope="module")
def pgp(tmp_path_factory):
    def setup(gw_a, gw_b, exchange):
        info = {
            "alice": pgp_user(gw_a, "alice@a.example", exchange),
            "ron": pgp_user(gw_a, "ron@a.example", exchange, "rsa3072"),
            "bob": pgp_user(gw_b, "bob@b.example", exchange),
            "rita": pgp_user(gw_b, "rita@b.example", exchange, "rsa3072"),
        }
        for who in ("alice", "bob"):
            assert_kind(info[who], "25519")
        for who in ("ron", "rita"):
            assert_kind(info[who], "rsa")
        for who in ("bob", "rita"):
            keys(gw_a, "import", exchange / f"{who}@b.example.asc")
        for who in ("alice", "ron"):
            keys(gw_b, "import", exchange / f"{who}@a.example.asc")
        for gw in (gw_a, gw_b):
            listing = keys(gw, "list")
            assert "\tsmime\t" not in listing and "openpgp" in listing, listing
            assert "internal CA" not in keys(gw, "list", "--anchors")
        return info

    yield from build_world(tmp_path_factory, "pgp-e2e", ["openpgp"],
                           {"bob@b.example": "bob-pw", "rita@b.example": "rita-pw"}, setup)


@pytest.fixture(scope="module")
def mix(tmp_path_factory):
    def setup(gw_a, gw_b, exchange):
        for gw, domain in ((gw_a, "a.example"), (gw_b, "b.example")):
            keys(gw, "ca", "init", "--domain", domain, "--algorithm", "p256", "--name", f"{domain} internal CA")
        keys(gw_a, "generate", "alice@a.example", "--algorithm", "p256")  # S/MIME
        keys(gw_b, "generate", "dave@b.example", "--algorithm", "p256")
        keys(gw_b, "export", "dave@b.example", "--out", exchange / "dave@b.example.pem")
        keys(gw_a, "ca", "export", "--out", exchange / "a.example-ca.pem")
        info = {
            "alice": pgp_user(gw_a, "alice@a.example", exchange),
            "bob": pgp_user(gw_b, "bob@b.example", exchange),
            "carol": pgp_user(gw_b, "carol@b.example", exchange),
        }
        keys(gw_a, "import", exchange / "dave@b.example.pem")
        keys(gw_a, "import", exchange / "bob@b.example.asc")
        keys(gw_a, "import", exchange / "carol@b.example.asc")
        keys(gw_b, "import", exchange / "a.example-ca.pem")
        keys(gw_b, "import", exchange / "alice@a.example.asc")
        # A's view of B's users: dave S/MIME only, bob and carol OpenPGP only.
        listing = keys(gw_a, "list")
        rows = [l.split("\t") for l in listing.splitlines() if l.startswith(("dave@", "bob@", "carol@"))]
        kinds = {(r[0], "openpgp" if r[1] == "openpgp" else "smime") for r in rows}
        assert kinds == {("dave@b.example", "smime"), ("bob@b.example", "openpgp"),
                         ("carol@b.example", "openpgp")}, listing
        return info

    yield from build_world(tmp_path_factory, "mix-e2e", ["smime", "openpgp"],
                           {"bob@b.example": "bob-pw", "carol@b.example": "carol-pw", "dave@b.example": "dave-pw"},
                           setup)


# -- helpers ------------------------------------------------------------------------------------


def message(frm, to_hdr, subject, msgid, extra_headers=""):
    return (f"From: {frm}\r\nTo: {to_hdr}\r\n{extra_headers}Subject: {subject}\r\n"
            f"Date: Mon, 01 Jan 2024 12:00:00 +0000\r\nMessage-ID: <{msgid}@a.example>\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=us-ascii\r\n\r\n" + "".join(line + "\r\n" for line in BODY)).encode()


def submit(world, tmp_path, sender, rcpts, msg):
    """swaks to Postfix A; returns its queue id."""
    f = tmp_path / f"msg-{time.monotonic_ns()}.eml"
    f.write_bytes(msg + b".\r\n")
    out = swaks(world.pf.port, sender, ",".join(rcpts), f)
    m = re.search(r"<-  250 2\.0\.0 Ok: queued as (\w+)", out)
    assert m, out[-3000:]
    return m.group(1)


def assert_plain_original(raw, subject):
    got = email.message_from_bytes(raw, policy=email.policy.compat32)
    assert got["Subject"] == subject
    assert got.get_content_type() == "text/plain", raw[:2000]
    assert got.get_payload().replace("\r\n", "\n") == "".join(line + "\n" for line in BODY)
    assert b"BEGIN PGP" not in raw and b"pkcs7" not in raw.lower()
    assert got["Bcc"] is None
    return got


def pgp_trace_rx(signer, fpr, signature):
    return (rf"verdict=valid; format=openpgp; encryption=\S+; signer={re.escape(signer)}; "
            rf"fingerprint=openpgp:{fpr}; digest=SHA(256|512); signature={signature}")


def primary_fpr(info):
    (p,) = [k for k in info if k["tag"] == 6]
    return p["fpr"]


# -- OpenPGP keys only ----------------------------------------------------------------------------


def test_pgp_only_postfix_a_to_dovecot_b(pgp, tmp_path):
    since, lan_since = pgp.hop.mark(), pgp.lan.mark()
    msg = message("Alice <alice@a.example>", "Bob <bob@b.example>, Rita <rita@b.example>",
                  "Quarterly figures (OpenPGP)", "pgp-main")
    qid = submit(pgp, tmp_path, "alice@a.example", ["bob@b.example", "rita@b.example"], msg)
    sent_via_mailseal(pgp.pf, qid, "bob@b.example")
    sent_via_mailseal(pgp.pf, qid, "rita@b.example")

    rx = pgp_trace_rx("alice@a.example", primary_fpr(pgp.keys["alice"]), "EDDSA")
    for user in ("bob@b.example", "rita@b.example"):
        raw = find_by_msgid(pgp.dovecot, user, "pgp-main")
        got, trace = trace_of(raw)
        assert re.fullmatch(rx, trace, re.I), trace
        assert_plain_original(raw, "Quarterly figures (OpenPGP)")
        assert got["From"] == "Alice <alice@a.example>"
        assert got["To"] == "Bob <bob@b.example>, Rita <rita@b.example>"
        received = got.get_all("Received")
        for hop in ("by a.test (Postfix)", "by gw.a.example (mailseal)", "by gw.b.example (mailseal)"):
            assert any(hop in r for r in received), received

    # One transaction for both recipients (one format, no Bcc), RFC 3156 only, encrypted to
    # exactly bob's Cv25519 subkey and rita's RSA-3072 subkey.
    (lan,) = pgp.lan.wait_transactions(1, lan_since)
    assert BODY[2].encode() in lan["data"]  # the LAN hop had the plain text (the check below can fail)
    (t,) = pgp.hop.wait_transactions(1, since)
    assert sorted(t["rcpts"]) == ["bob@b.example", "rita@b.example"]
    assert re.match(r"MAIL FROM:<alice@a\.example>( |$)", t["mail"]), t["mail"]
    keyids = assert_pgp_mime_only(t["data"])
    assert keyids == {encryption_keyid(pgp.keys["bob"]), encryption_keyid(pgp.keys["rita"])}, keyids
    hop_msg = email.message_from_bytes(t["data"], policy=email.policy.compat32)
    assert hop_msg["Subject"] == "Quarterly figures (OpenPGP)"  # outer headers are kept
    everything = pgp.hop.all_bytes()
    for line in SECRETS:
        assert line.encode() not in everything
    assert b"application/pkcs7" not in everything  # formats = ["openpgp"]: no S/MIME at all
    assert re.search(rb"250 2\.0\.0 Ok: \S+ relayed", everything), everything[-2000:]


def test_pgp_only_rsa3072_sender(pgp, tmp_path):
    since = pgp.hop.mark()
    msg = message("Ron <ron@a.example>", "Bob <bob@b.example>", "RSA signed", "pgp-rsa")
    qid = submit(pgp, tmp_path, "ron@a.example", ["bob@b.example"], msg)
    sent_via_mailseal(pgp.pf, qid, "bob@b.example")
    raw = find_by_msgid(pgp.dovecot, "bob@b.example", "pgp-rsa")
    _, trace = trace_of(raw)
    assert re.fullmatch(pgp_trace_rx("ron@a.example", primary_fpr(pgp.keys["ron"]), "RSA"), trace, re.I), trace
    assert_plain_original(raw, "RSA signed")
    (t,) = pgp.hop.wait_transactions(1, since)
    assert t["rcpts"] == ["bob@b.example"]
    assert assert_pgp_mime_only(t["data"]) == {encryption_keyid(pgp.keys["bob"])}


# -- the mix: one S/MIME recipient, one OpenPGP recipient, one (OpenPGP) Bcc ----------------------


def test_mix_smime_openpgp_and_bcc(mix, tmp_path):
    since, lan_since = mix.hop.mark(), mix.lan.mark()
    msg = message("Alice <alice@a.example>", "Dave <dave@b.example>, Bob <bob@b.example>", "Mixed formats",
                  "mix-main", extra_headers="Bcc: carol@b.example\r\n")
    rcpts = ["dave@b.example", "bob@b.example", "carol@b.example"]
    qid = submit(mix, tmp_path, "alice@a.example", rcpts, msg)
    for r in rcpts:
        sent_via_mailseal(mix.pf, qid, r)

    # mailseal A got one transaction for all three, with the Bcc header in it.
    (lan,) = mix.lan.wait_transactions(1, lan_since)
    assert sorted(lan["rcpts"]) == sorted(rcpts)
    assert re.search(rb"(?m)^Bcc: carol@b\.example\r$", lan["data"]), lan["data"][:2000]

    copies = mix.hop.wait_transactions(3, since)
    assert len(copies) == 3, [c["rcpts"] for c in copies]
    by_rcpt = {tuple(c["rcpts"]): c["data"] for c in copies}
    assert set(by_rcpt) == {("dave@b.example",), ("bob@b.example",), ("carol@b.example",)}, list(by_rcpt)
    for data in by_rcpt.values():
        assert not re.search(rb"(?im)^(resent-)?bcc:", data), data[:2000]
        assert b"carol@b.example" not in data  # the Bcc address is in no copy's content

    printed = assert_smime_only(by_rcpt[("dave@b.example",)], tmp_path, SECRETS)
    assert recipient_serials(printed) == {serial(mix.exchange / "dave@b.example.pem")}
    bob_id, carol_id = encryption_keyid(mix.keys["bob"]), encryption_keyid(mix.keys["carol"])
    assert assert_pgp_mime_only(by_rcpt[("bob@b.example",)]) == {bob_id}
    assert assert_pgp_mime_only(by_rcpt[("carol@b.example",)]) == {carol_id}
    everything = mix.hop.all_bytes()
    for line in SECRETS:
        assert line.encode() not in everything

    # All three arrive decrypted and verified.
    raw = find_by_msgid(mix.dovecot, "dave@b.example", "mix-main")
    _, trace = trace_of(raw)
    assert re.match(r"verdict=valid; encryption=enveloped-data; signer=alice@a\.example; fingerprint=sha256:",
                    trace), trace
    assert_plain_original(raw, "Mixed formats")
    rx = pgp_trace_rx("alice@a.example", primary_fpr(mix.keys["alice"]), "EDDSA")
    for user in ("bob@b.example", "carol@b.example"):
        raw = find_by_msgid(mix.dovecot, user, "mix-main")
        got, trace = trace_of(raw)
        assert re.fullmatch(rx, trace, re.I), f"{user}: {trace}"
        assert_plain_original(raw, "Mixed formats")
        assert got["To"] == "Dave <dave@b.example>, Bob <bob@b.example>"
    # Bob's mailbox copy names the Bcc recipient nowhere (carol's own has her in
    # Delivered-To / Received "for", added by Dovecot).
    assert b"carol@b.example" not in find_by_msgid(mix.dovecot, "bob@b.example", "mix-main")
