"""`mailseal keys ...` end to end: the real binary against files made by the openssl tool.

Covers PKCS#12 import with a passphrase, failures that must leave the store unchanged
(wrong passphrase, address mismatch, malformed file, unsafe master key mode), generate +
export verified with `openssl verify`, and secret export as PKCS#12. Binary: $MAILSEAL_BIN.
"""

import os
import shutil
import stat
import subprocess

import pytest

BIN = os.environ.get("MAILSEAL_BIN")
OPENSSL = shutil.which("openssl")

pytestmark = pytest.mark.skipif(not BIN or not OPENSSL, reason="needs MAILSEAL_BIN and openssl")


def keys(state, *args, env_extra=None):
    env = {k: v for k, v in os.environ.items() if k != "MAILSEAL_PASSPHRASE"}
    env.update(env_extra or {})
    return subprocess.run([BIN, "keys", "--state-dir", str(state), *args],
                          capture_output=True, text=True, env=env, timeout=120)


def openssl(*args, cwd=None):
    return subprocess.run([OPENSSL, *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120, check=True)


def listing(state):
    r = keys(state, "list")
    assert r.returncode == 0, r.stderr
    return r.stdout


def assert_one_line_error(r, needle):
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert needle in lines[0], lines[0]


@pytest.fixture
def state(tmp_path):
    st = tmp_path / "state"
    r = keys(st, "init")
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(os.stat(st / "master.key").st_mode) == 0o600
    return st


@pytest.fixture
def carol_p12(tmp_path):
    """A PKCS#12 made by `openssl pkcs12 -export` with passphrase 's3cret phrase'."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "carol.key",
            "-out", "carol.pem", "-days", "30", "-subj", "/CN=Carol",
            "-addext", "subjectAltName=email:carol@Partner.NET", cwd=tmp_path)
    (tmp_path / "pass").write_text("s3cret phrase\n")
    openssl("pkcs12", "-export", "-in", "carol.pem", "-inkey", "carol.key", "-out", "carol.p12",
            "-passout", "file:pass", cwd=tmp_path)
    return tmp_path / "carol.p12"


def test_init_twice_refused(state):
    assert_one_line_error(keys(state, "init"), "already initialised")


def test_import_pkcs12_with_passphrase_file(state, carol_p12, tmp_path):
    r = keys(state, "import", str(carol_p12), "--passphrase-file", str(tmp_path / "pass"))
    assert r.returncode == 0, r.stderr
    rows = [line.split("\t") for line in listing(state).splitlines()[1:]]
    assert len(rows) == 1
    address, kind, algorithm, fingerprint, _not_after, secret = rows[0]
    assert (address, kind, algorithm, secret) == ("carol@partner.net", "smime", "RSA-2048", "yes")
    der = openssl("x509", "-in", str(tmp_path / "carol.pem"), "-outform", "DER",
                  "-noout", "-fingerprint", "-sha256").stdout
    assert fingerprint == der.split("=", 1)[1].strip().replace(":", "").lower()


def test_import_pkcs12_with_passphrase_env(state, carol_p12):
    r = keys(state, "import", str(carol_p12), env_extra={"MAILSEAL_PASSPHRASE": "s3cret phrase"})
    assert r.returncode == 0, r.stderr
    assert "carol@partner.net" in listing(state)


def test_failed_imports_leave_store_unchanged(state, carol_p12, tmp_path):
    assert keys(state, "generate", "--self-signed", "--algorithm", "p256",
                "keep@example.org").returncode == 0
    before = listing(state)
    (tmp_path / "wrong").write_text("not it\n")
    r = keys(state, "import", str(carol_p12), "--passphrase-file", str(tmp_path / "wrong"))
    assert_one_line_error(r, "wrong passphrase")
    r = keys(state, "import", str(carol_p12))
    assert_one_line_error(r, "needs a passphrase")
    r = keys(state, "import", str(carol_p12), "--passphrase-file", str(tmp_path / "pass"),
             "--address", "dave@partner.net")
    assert_one_line_error(r, "does not match dave@partner.net")
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x30\x82\x01\x00 definitely not DER")
    assert_one_line_error(keys(state, "import", str(junk)), "malformed")
    truncated = tmp_path / "truncated.p12"
    truncated.write_bytes(carol_p12.read_bytes()[:300])
    r = keys(state, "import", str(truncated), "--passphrase-file", str(tmp_path / "pass"))
    assert r.returncode != 0
    assert listing(state) == before


def test_passphrase_not_accepted_on_command_line(state, carol_p12):
    r = keys(state, "import", str(carol_p12), "--passphrase", "s3cret phrase")
    assert r.returncode != 0


def test_generate_export_verify_with_openssl(state, tmp_path):
    r = keys(state, "ca", "init", "--domain", "example.org", "--algorithm", "p256")
    assert r.returncode == 0, r.stderr
    for alg in ("rsa2048", "p384"):
        address = f"{alg}@Example.org"
        r = keys(state, "generate", "--algorithm", alg, address)
        assert r.returncode == 0, r.stderr
        cert = tmp_path / f"{alg}.pem"
        assert keys(state, "export", address, "--out", str(cert)).returncode == 0
        assert keys(state, "ca", "export", "--out", str(tmp_path / "ca.pem")).returncode == 0
        text = openssl("x509", "-in", str(cert), "-noout", "-text").stdout
        assert f"email:{alg}@example.org" in text
        assert "E-mail Protection" in text
        assert ("Key Encipherment" if alg.startswith("rsa") else "Key Agreement") in text
        # OpenSSL's smimeencrypt purpose demands keyEncipherment, which RFC 5480 3 forbids
        # for EC keys (they carry keyAgreement): check EC certificates as signers only.
        purposes = ["smimesign"] + (["smimeencrypt"] if alg.startswith("rsa") else [])
        for purpose in purposes:
            v = openssl("verify", "-purpose", purpose, "-CAfile", str(tmp_path / "ca.pem"),
                        str(cert))
            assert v.stdout.strip().endswith("OK")
    # The CA is limited to its domains.
    assert_one_line_error(keys(state, "generate", "eve@elsewhere.net"), "not elsewhere.net")


def test_export_secret_key_needs_flag_passphrase_and_file(state, tmp_path):
    assert keys(state, "generate", "--self-signed", "--algorithm", "p256",
                "erin@example.org").returncode == 0
    plain = keys(state, "export", "erin@example.org")
    assert plain.returncode == 0 and "PRIVATE KEY" not in plain.stdout
    out = tmp_path / "erin.p12"
    assert_one_line_error(keys(state, "export", "erin@example.org", "--with-secret-key",
                               "--out", str(out)), "passphrase")
    r = keys(state, "export", "erin@example.org", "--with-secret-key", "--out", str(out),
             env_extra={"MAILSEAL_PASSPHRASE": "export pass"})
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    (tmp_path / "p").write_text("export pass")
    dump = openssl("pkcs12", "-in", str(out), "-passin", "file:" + str(tmp_path / "p"),
                   "-nodes")
    assert "PRIVATE KEY" in dump.stdout
    # Never over an existing file.
    r = keys(state, "export", "erin@example.org", "--with-secret-key", "--out", str(out),
             env_extra={"MAILSEAL_PASSPHRASE": "export pass"})
    assert r.returncode != 0


def test_remove_and_rotate_master_key(state):
    assert keys(state, "generate", "--self-signed", "--algorithm", "p256",
                "f@example.org").returncode == 0
    assert keys(state, "generate", "--self-signed", "--algorithm", "p256",
                "g@example.org").returncode == 0
    old_key = (state / "master.key").read_bytes()
    r = keys(state, "rotate-master-key")
    assert r.returncode == 0, r.stderr
    assert (state / "master.key").read_bytes() != old_key
    assert stat.S_IMODE(os.stat(state / "master.key").st_mode) == 0o600
    assert keys(state, "export", "g@example.org", "--with-secret-key", "--out",
                str(state / "g.p12"), env_extra={"MAILSEAL_PASSPHRASE": "x"}).returncode == 0
    assert keys(state, "remove", "f@example.org").returncode == 0
    assert "f@example.org" not in listing(state)
    assert_one_line_error(keys(state, "remove", "f@example.org"), "nothing stored")


def test_readable_master_key_refused(state):
    os.chmod(state / "master.key", 0o640)
    assert_one_line_error(keys(state, "list"), "group or others")
