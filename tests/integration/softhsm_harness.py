"""SoftHSM2 for the PKCS#11 tests: a private token directory and configuration per test
(SOFTHSM2_CONF), tokens made with `softhsm2-util --init-token --free`, and the PIN file
mailseal reads ([keys.pkcs11] pin_file, mode 0600). Never touches the system's tokens."""

import os
import shutil
import subprocess
from pathlib import Path

SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
SOFTHSM_UTIL = shutil.which("softhsm2-util")
PKCS11_TOOL = shutil.which("pkcs11-tool")


def softhsm_unavailable():
    """None when SoftHSM2 can be used, else why not (for pytest skip reasons)."""
    if not SOFTHSM_UTIL or not os.path.exists(SOFTHSM_MODULE):
        return "softhsm2 is not installed (apt-get install softhsm2)"
    return None


class SoftHsm:
    """A SoftHSM2 instance whose tokens live under `tmp`. `env` is the environment for
    every process that must see them (mailseal serve, mailseal keys, pkcs11-tool)."""

    def __init__(self, tmp: Path):
        self.dir = Path(tmp)
        self.tokens = self.dir / "tokens"
        self.tokens.mkdir(parents=True, exist_ok=True)
        self.conf = self.dir / "softhsm2.conf"
        self.conf.write_text(f"directories.tokendir = {self.tokens}\n"
                             "objectstore.backend = file\nlog.level = ERROR\n")
        self.env = dict(os.environ, SOFTHSM2_CONF=str(self.conf))
        self.module = SOFTHSM_MODULE

    def init_token(self, label, pin, so_pin="so-pin-5678"):
        subprocess.run([SOFTHSM_UTIL, "--init-token", "--free", "--label", label, "--pin", pin,
                        "--so-pin", so_pin], env=self.env, check=True, capture_output=True, timeout=60)

    def pin_file(self, name, pin):
        """A 0600 file holding `pin` and a newline, as an operator would write it."""
        path = self.dir / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(pin + "\n")
        os.chmod(path, 0o600)
        return path

    def config(self, token, pin_file):
        """The [keys.pkcs11] table for mailseal's configuration."""
        return (f'[keys.pkcs11]\nmodule = "{self.module}"\ntoken = "{token}"\n'
                f'pin_file = "{pin_file}"\n')

    def objects(self, label, pin):
        """`pkcs11-tool --list-objects` of the token (logged in), as text; None without
        pkcs11-tool (package opensc)."""
        if not PKCS11_TOOL:
            return None
        r = subprocess.run([PKCS11_TOOL, "--module", self.module, "--token-label", label, "--login",
                            "--pin", pin, "--list-objects"], env=self.env, capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return r.stdout
