"""The master key wrapped by a key-encryption key held in a PKCS#11 token (issue 6:
"For OpenPGP secret keys, which RNP cannot use from a token, wrap them at rest under a
key-encryption key held in the token"), against SoftHSM2.

`mailseal keys wrap-master-key` creates an AES-256 key in the token (sensitive, never
extractable) and rewrites master.key as that key's AES-GCM encryption of the master key.
Afterwards:

* the OpenPGP secret key (sealed in keys.db under the master key, as always) still signs
  outbound mail: the daemon unwraps the master key through the token at start;
* keys.db + master.key copied elsewhere without the token open nothing: `keys export` of
  the secret key fails and says the file is wrapped; with another token (same label, other
  key) unwrapping fails too;
* rotate-master-key keeps the file wrapped; unwrap-master-key makes it plain again (the
  same key: the store still opens without a token).
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from harness import MAILSEAL_BIN, Mailseal, PySink, SmtpClient
from softhsm_harness import PKCS11_TOOL, SoftHsm, softhsm_unavailable

GPG = shutil.which("gpg")
TOKEN, PIN = "kek-token", "kek-pin-8642"


def _why_skip():
    if not os.access(MAILSEAL_BIN, os.X_OK):
        return f"mailseal binary {MAILSEAL_BIN} not built (set MAILSEAL_BIN)"
    if not GPG:
        return "gpg is not installed"
    return softhsm_unavailable()


_why = _why_skip()
pytestmark = pytest.mark.skipif(_why is not None, reason=f"token KEK tests need: {_why}")


def keys(gw, env, *args, check=True):
    r = subprocess.run([MAILSEAL_BIN, "keys", "-c", str(gw.config_path), *map(str, args)], capture_output=True,
                       env={k: v for k, v in env.items() if k != "MAILSEAL_PASSPHRASE"}, timeout=120)
    if check:
        assert r.returncode == 0, f"keys {' '.join(map(str, args))}: {r.stderr.decode(errors='replace')}"
    return r


def send(port, frm, to, subject):
    msg = (f"From: {frm}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{subject}@t>\r\n"
           f"MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nwrapped master key test\r\n").encode()
    c = SmtpClient(port, timeout=60)
    try:
        assert c.reply()[0] == 220
        c.cmd("EHLO t")
        assert c.cmd(f"MAIL FROM:<{frm}>")[0] == 250
        assert c.cmd(f"RCPT TO:<{to}>")[0] == 250
        assert c.cmd("DATA")[0] == 354
        c.send(msg + b".\r\n")
        return c.reply()
    finally:
        c.close()


@pytest.fixture
def world(tmp_path):
    hsm = SoftHsm(tmp_path / "hsm")
    hsm.init_token(TOKEN, PIN)
    sink = PySink().start()
    (tmp_path / "gw").mkdir()
    gw = Mailseal(tmp_path / "gw", inside_next_hop=sink.next_hop(),
                  extra='[seal]\nformats = ["openpgp"]\n' + hsm.config(TOKEN, hsm.pin_file("pin", PIN)))
    keys(gw, hsm.env, "init")
    keys(gw, hsm.env, "generate", "alice@example.org", "--openpgp")
    # bob is outside: his public key from gpg, imported.
    gnupg = tmp_path / "gnupg"
    gnupg.mkdir(mode=0o700)
    genv = dict(os.environ, GNUPGHOME=str(gnupg))
    subprocess.run([GPG, "--batch", "--passphrase", "", "--quick-gen-key", "bob@partner.test", "ed25519", "sign",
                    "never"], env=genv, check=True, capture_output=True, timeout=120)
    fpr = subprocess.run([GPG, "--list-keys", "--with-colons", "bob@partner.test"], env=genv, check=True,
                         capture_output=True, text=True).stdout.split("fpr:::::::::")[1].split(":")[0]
    subprocess.run([GPG, "--batch", "--passphrase", "", "--quick-add-key", fpr, "cv25519", "encr", "never"],
                   env=genv, check=True, capture_output=True, timeout=120)
    bob = tmp_path / "bob.asc"
    bob.write_bytes(subprocess.run([GPG, "--armor", "--export", "bob@partner.test"], env=genv, check=True,
                                   capture_output=True).stdout)
    keys(gw, hsm.env, "import", bob)
    saved = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(hsm.conf)  # the daemon inherits it
    try:
        yield gw, hsm, sink, genv
    finally:
        gw.stop()
        sink.stop()
        if saved is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = saved


def test_wrapped_master_key_still_signs_and_the_copy_opens_nothing(world, tmp_path):
    gw, hsm, sink, genv = world
    plain = (gw.state / "master.key").read_bytes()
    assert len(plain) == 32
    out = keys(gw, hsm.env, "wrap-master-key").stdout.decode()
    assert "created the AES key 'mailseal-kek' of PKCS#11 token 'kek-token'" in out, out
    wrapped = (gw.state / "master.key").read_bytes()
    assert wrapped.startswith(b"MSWRAPK1") and plain not in wrapped
    assert oct((gw.state / "master.key").stat().st_mode & 0o777) == "0o600"
    if PKCS11_TOOL:  # the key-encryption key cannot leave the token
        objs = subprocess.run([PKCS11_TOOL, "--module", hsm.module, "--token-label", TOKEN, "--login", "--pin", PIN,
                               "--list-objects", "--type", "secrkey"], env=hsm.env, capture_output=True,
                              text=True, timeout=60).stdout
        assert "mailseal-kek" in objs and "sensitive" in objs and "never extractable" in objs, objs

    # The daemon unwraps it through the token and signs with alice's OpenPGP key.
    gw.start()
    code, text = send(gw.inside_port, "alice@example.org", "bob@partner.test", "kek-seal")
    assert code == 250, (code, text, gw.log()[-2000:])
    sealed = sink.wait_messages(1)[-1]["data"]
    assert b"-----BEGIN PGP MESSAGE-----" in sealed
    gw.stop()

    # keys.db + master.key taken away without the token: nothing opens.
    thief = tmp_path / "thief"
    thief.mkdir()
    shutil.copy(gw.state / "keys.db", thief / "keys.db")
    shutil.copy(gw.state / "master.key", thief / "master.key")
    os.chmod(thief / "master.key", 0o600)
    r = subprocess.run([MAILSEAL_BIN, "keys", "--state-dir", str(thief), "export", "alice@example.org",
                        "--openpgp", "--with-secret-key", "--out", str(thief / "alice.key")],
                       capture_output=True, timeout=60, env=dict(os.environ, MAILSEAL_PASSPHRASE="x"))
    assert r.returncode != 0 and b"is wrapped by a key in a PKCS#11 token" in r.stderr, r.stderr

    # Another token, holding a key of the same label, is not the right one.
    other = SoftHsm(tmp_path / "other-hsm")
    other.init_token(TOKEN, PIN)
    subprocess.run([MAILSEAL_BIN, "keys", "--state-dir", str(tmp_path / "scratch"), "init"], check=True,
                   capture_output=True, timeout=60)
    scratch_cfg = gw.config_path.read_text().replace(f'state_dir = "{gw.state}"',
                                                     f'state_dir = "{tmp_path / "scratch"}"')
    scratch_cfg = scratch_cfg.replace(str(hsm.dir / "pin"), str(other.pin_file("pin", PIN)))
    (tmp_path / "scratch.toml").write_text(scratch_cfg)
    r = subprocess.run([MAILSEAL_BIN, "keys", "-c", str(tmp_path / "scratch.toml"), "wrap-master-key"],
                       capture_output=True, timeout=60, env=other.env)  # makes 'mailseal-kek' there
    assert r.returncode == 0, r.stderr
    thief_cfg = scratch_cfg.replace(f'state_dir = "{tmp_path / "scratch"}"', f'state_dir = "{thief}"')
    (tmp_path / "thief.toml").write_text(thief_cfg)
    r = subprocess.run([MAILSEAL_BIN, "keys", "-c", str(tmp_path / "thief.toml"), "list"], capture_output=True,
                       timeout=60, env=other.env)
    assert r.returncode != 0 and b"cannot unwrap master key file" in r.stderr, r.stderr
    assert b"C_Decrypt" in r.stderr, r.stderr


def test_rotation_keeps_it_wrapped_and_unwrap_restores_a_plain_file(world):
    gw, hsm, sink, genv = world
    keys(gw, hsm.env, "wrap-master-key")
    before = (gw.state / "master.key").read_bytes()
    keys(gw, hsm.env, "rotate-master-key")
    after = (gw.state / "master.key").read_bytes()
    assert after.startswith(b"MSWRAPK1") and after != before
    assert b"alice@example.org" in keys(gw, hsm.env, "list").stdout
    out = keys(gw, hsm.env, "unwrap-master-key").stdout.decode()
    assert "plain again" in out
    assert len((gw.state / "master.key").read_bytes()) == 32
    # Plain again: the store opens without any token, the secret key with it.
    out_file = gw.tmp / "alice-secret.asc"
    r = subprocess.run([MAILSEAL_BIN, "keys", "--state-dir", str(gw.state), "export", "alice@example.org",
                        "--openpgp", "--with-secret-key", "--out", str(out_file)], capture_output=True,
                       timeout=60, env=dict(os.environ, MAILSEAL_PASSPHRASE="export-pass"))
    assert r.returncode == 0 and b"BEGIN PGP PRIVATE KEY BLOCK" in out_file.read_bytes(), r.stderr
