"""A private OpenLDAP server for the LDAP key source tests: its own slapd (slapd.conf,
mdb database in a temporary directory, schemas from /etc/ldap/schema) on a free loopback
port. The system's slapd, if any, is never used or touched.

The test tree is under dc=example,dc=org:
    ou=people   inetOrgPerson entries with mail and the key attributes the test adds
The schema adds pgpKey (OID of the pgp-keyserver schema, 1.3.6.1.4.1.3401.8.2.11, as
octet string so it holds armored or binary keys) and an auxiliary class carrying it
(OID under 1.3.6.1.4.1.32473, the documentation arc of RFC 5612).

Data is loaded offline with slapadd before slapd starts; stop()/start() keep the data,
so a test can take the directory away and bring it back."""

import base64
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from harness import free_port, wait_port

SLAPD = shutil.which("slapd") or ("/usr/sbin/slapd" if os.access("/usr/sbin/slapd", os.X_OK) else None)
SLAPADD = shutil.which("slapadd") or ("/usr/sbin/slapadd" if os.access("/usr/sbin/slapadd", os.X_OK) else None)
SCHEMA_DIR = Path("/etc/ldap/schema")
MODULE_DIR = Path("/usr/lib/ldap")

SUFFIX = "dc=example,dc=org"
PEOPLE = f"ou=people,{SUFFIX}"
ADMIN_DN = f"cn=admin,{SUFFIX}"
ADMIN_PASSWORD = "directory-admin-secret"

TEST_SCHEMA = """
attributetype ( 1.3.6.1.4.1.3401.8.2.11 NAME 'pgpKey'
    DESC 'OpenPGP public key (armored or binary); mailseal test schema'
    EQUALITY octetStringMatch
    SYNTAX 1.3.6.1.4.1.1466.115.121.1.40 )
objectclass ( 1.3.6.1.4.1.32473.6.1 NAME 'mailsealPgpPerson'
    DESC 'mailseal test: an entry that may carry OpenPGP keys'
    SUP top AUXILIARY MAY pgpKey )
"""


def ldap_unavailable():
    """None when slapd can run here, else why not (for skip reasons)."""
    if not SLAPD or not SLAPADD:
        return "slapd is not installed (apt-get install slapd ldap-utils)"
    for s in ("core", "cosine", "inetorgperson"):
        if not (SCHEMA_DIR / f"{s}.schema").exists():
            return f"{SCHEMA_DIR}/{s}.schema missing"
    return None


def _ldif_value(attr, value):
    if isinstance(value, bytes):
        return f"{attr}:: {base64.b64encode(value).decode()}"
    return f"{attr}: {value}"


class Person:
    """One ou=people entry; `attrs` maps attribute names to a list of str/bytes values."""

    def __init__(self, uid, mail, ou="people", **attrs):
        self.uid = uid
        self.mail = mail
        self.ou = ou
        self.attrs = attrs

    @property
    def dn(self):
        return f"uid={self.uid},ou={self.ou},{SUFFIX}"

    def ldif(self):
        lines = [f"dn: {self.dn}", "objectClass: inetOrgPerson"]
        if "pgpKey" in self.attrs:
            lines.append("objectClass: mailsealPgpPerson")
        lines += [f"uid: {self.uid}", f"cn: {self.uid}", f"sn: {self.uid}", f"mail: {self.mail}"]
        for attr, values in self.attrs.items():
            for v in values:
                lines.append(_ldif_value(attr, v))
        return "\n".join(lines) + "\n"


class Slapd:
    def __init__(self, tmp: Path, people=(), tls=False, port=None):
        """port: chosen by the caller when a configuration had to name it earlier."""
        self.dir = Path(tmp)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.url = f"ldap://127.0.0.1:{self.port}"
        # tls: a test CA (ca.pem) and a server certificate for 127.0.0.1 (IP SAN), used
        # for StartTLS on `url` and for LDAPS on `ldaps_url`.
        self.tls = tls
        self.ca_file = self.dir / "ca.pem"
        if tls:
            self.ldaps_port = free_port()
            self.ldaps_url = f"ldaps://127.0.0.1:{self.ldaps_port}"
            self._make_certificates()
        self.db = self.dir / "db"
        self.db.mkdir(exist_ok=True)
        (self.dir / "mailseal-test.schema").write_text(TEST_SCHEMA)
        self.conf = self.dir / "slapd.conf"
        self.conf.write_text(self._conf())
        self.log_path = self.dir / "slapd.log"
        self.proc = None
        self._load(people)

    def _make_certificates(self):
        d = self.dir

        def openssl(*args):
            r = subprocess.run(["openssl", *map(str, args)], capture_output=True, timeout=60, cwd=d)
            if r.returncode != 0:
                raise RuntimeError("openssl failed:\n" + r.stderr.decode(errors="replace"))

        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
                "-days", "2", "-subj", "/CN=LDAP test CA", "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign")
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
                "-subj", "/CN=127.0.0.1")
        (d / "server.ext").write_text("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
        openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-days", "2", "-extfile", "server.ext", "-out", "server.pem")

    def _conf(self):
        includes = "".join(f"include {SCHEMA_DIR}/{s}.schema\n" for s in ("core", "cosine", "inetorgperson"))
        tls = (f"TLSCACertificateFile {self.dir}/ca.pem\nTLSCertificateFile {self.dir}/server.pem\n"
               f"TLSCertificateKeyFile {self.dir}/server.key\n") if self.tls else ""
        return f"""{includes}include {self.dir}/mailseal-test.schema
{tls}pidfile {self.dir}/slapd.pid
argsfile {self.dir}/slapd.args
modulepath {MODULE_DIR}
moduleload back_mdb
database mdb
maxsize 10485760
suffix "{SUFFIX}"
rootdn "{ADMIN_DN}"
rootpw {ADMIN_PASSWORD}
directory {self.db}
# ou=staff is readable only after a bind (tests the configured bind); the rest by anyone.
access to dn.subtree="ou=staff,{SUFFIX}" by users read by * none
access to * by * read
"""

    def _load(self, people):
        ldif = [f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n",
                f"dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people\n",
                f"dn: ou=staff,{SUFFIX}\nobjectClass: organizationalUnit\nou: staff\n"]
        ldif += [p.ldif() for p in people]
        path = self.dir / "tree.ldif"
        path.write_text("\n".join(ldif))
        r = subprocess.run([SLAPADD, "-f", str(self.conf), "-l", str(path)], capture_output=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("slapadd failed:\n" + r.stderr.decode(errors="replace"))

    def start(self):
        self.log_file = open(self.log_path, "ab")
        # -d 0: stay in the foreground (so the test owns the process) without debug output.
        urls = f"{self.url}/" + (f" {self.ldaps_url}/" if self.tls else "")
        self.proc = subprocess.Popen([SLAPD, "-f", str(self.conf), "-h", urls, "-d", "0"],
                                     stdout=self.log_file, stderr=subprocess.STDOUT)
        try:
            wait_port(self.port)
            if self.tls:
                wait_port(self.ldaps_port)
        except TimeoutError:
            self.stop()
            raise RuntimeError("slapd did not start:\n" + self.log_path.read_text(errors="replace"))
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log_file.close()
            self.proc = None
        # The port is free again once slapd is gone (it sets SO_REUSEADDR for the restart).
        deadline = time.time() + 5
        while time.time() < deadline and (self.dir / "slapd.pid").exists():
            time.sleep(0.05)

    def pause(self):
        """SIGSTOP: the port still accepts connections (the kernel's backlog) but nothing
        answers: a hung directory, for timeout tests. resume() continues it."""
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)

    def keys_config(self, sources=("store", "ldap"), url=None, **extra):
        """The [keys] / [keys.ldap] TOML for a mailseal configuration."""
        lines = [f'url = "{url or self.url}"', f'base_dn = "{SUFFIX}"']
        for k, v in extra.items():
            lines.append(f'{k} = {v}' if isinstance(v, int) else f'{k} = "{v}"')
        srcs = ", ".join(f'"{s}"' for s in sources)
        return f"[keys]\nsources = [{srcs}]\n\n[keys.ldap]\n" + "\n".join(lines) + "\n"

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
