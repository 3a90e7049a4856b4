"""Test DNS: a real authoritative server (NSD) on a loopback port serving test zones given
as record lines, optionally DNSSEC-signed (ldns-keygen/ldns-signzone) with a trust-anchor
file for the zones' KSKs, and optionally with deliberately bogus signatures. Direct
delivery and DANE are then tested against real DNS answers, not mocks.

    with DnsServer(zone="example.test", records=["@ MX 10 mx1", "mx1 A 127.0.0.1"]) as dns:
        config_extra = dns.toml()          # the [dns] section for mailseal
        dns.port, dns.trust_anchor         # trust_anchor is None unless signed=True

mailseal's resolver forwards every query to `dns.port` (see src/dns/resolver.cpp); NSD
answers authoritatively for its zones and REFUSED for anything else (a temporary failure
for mailseal). Record lines use zone-file syntax, relative to the zone's origin; `$TTL`
is 60 and SOA/NS are added. Each instance writes its own config, pidfile and zone
directory in a temp dir and never touches a system NSD.
"""

import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
from pathlib import Path

from harness import free_port

NSD = shutil.which("nsd") or "/usr/sbin/nsd"


def _free_udp_tcp_port():
    """free_port() checks TCP only; NSD needs the port for UDP as well."""
    for _ in range(50):
        port = free_port()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            try:
                u.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no port free for both UDP and TCP")


def dns_query(port, name, qtype=6, timeout=0.5):
    """One UDP query to 127.0.0.1:port; returns the RCODE, or None without a reply."""
    qid = random.randrange(65536)
    qname = b"".join(bytes([len(l)]) + l.encode() for l in name.rstrip(".").split(".") if l)
    packet = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + qname + b"\0" + struct.pack(">HH", qtype, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(packet, ("127.0.0.1", port))
        try:
            data, _ = s.recvfrom(4096)
        except (socket.timeout, TimeoutError, ConnectionRefusedError):
            return None
    if len(data) < 12 or struct.unpack(">H", data[:2])[0] != qid:
        return None
    return struct.unpack(">H", data[2:4])[0] & 0xF


def tlsa_3_1_1(cert_pem):
    """The "3 1 1 <hex>" TLSA data (DANE-EE, SPKI, SHA-256) for a PEM certificate file."""
    pub = subprocess.run(["openssl", "x509", "-in", str(cert_pem), "-noout", "-pubkey"],
                         check=True, capture_output=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub,
                         check=True, capture_output=True).stdout
    import hashlib
    return "3 1 1 " + hashlib.sha256(der).hexdigest()


class DnsServer:
    """NSD on 127.0.0.1:<free port>.

    zone/records: one zone and its record lines; zones: {name: [lines]} for more zones.
    signed: sign every zone (ECDSA P-256 KSK + ZSK, NSEC) and write `trust_anchor`
    (DS records of the KSKs). bogus: owner names (relative or absolute) whose
    signatures are corrupted after signing, so a validating resolver sees them as bogus.
    unsigned: zones left unsigned although signed=True (no trust anchor covers them, so a
    validating resolver calls their answers insecure).
    """

    def __init__(self, zone="example.test", records=(), zones=None, signed=False, bogus=(),
                 unsigned=()):
        self.zones = {}
        if zone:
            self.zones[zone.rstrip(".")] = list(records)
        for name, lines in (zones or {}).items():
            self.zones[name.rstrip(".")] = list(lines)
        self.signed = signed
        self.bogus = list(bogus)
        self.unsigned = {z.rstrip(".") for z in unsigned}  # left unsigned when signed=True
        self.tmp = Path(tempfile.mkdtemp(prefix="mailseal-dns-"))
        self.port = None
        self.trust_anchor = None
        self.proc = None

    # -- zone files ---------------------------------------------------------------------

    def _zone_text(self, zone, lines):
        head = [
            f"$ORIGIN {zone}.",
            "$TTL 60",
            f"@ IN SOA ns.invalid. hostmaster.{zone}. 1 3600 900 604800 60",
            "@ IN NS ns.invalid.",
        ]
        return "\n".join(head + list(lines)) + "\n"

    def _sign(self, zone, path):
        def keygen(*flags):
            out = subprocess.run(["ldns-keygen", "-a", "ECDSAP256SHA256", *flags, zone],
                                 cwd=self.tmp, check=True, capture_output=True, text=True)
            return out.stdout.strip()  # the key's base name, e.g. Kexample.test.+013+12345

        ksk = keygen("-k")
        zsk = keygen()
        subprocess.run(["ldns-signzone", "-o", zone + ".", str(path), ksk, zsk], cwd=self.tmp,
                       check=True, capture_output=True, text=True)
        signed = Path(str(path) + ".signed")
        ds = (self.tmp / (ksk + ".ds")).read_text()
        self._corrupt(zone, signed)
        return signed, ds

    def _corrupt(self, zone, signed):
        """Flips one character in the middle of each RRSIG of the bogus owner names."""
        owners = set()
        for b in self.bogus:
            name = b if b.endswith(".") else (f"{zone}." if b == "@" else f"{b}.{zone}.")
            owners.add(name.lower())
        if not owners:
            return
        out = []
        for line in signed.read_text().splitlines():
            fields = line.split()
            if len(fields) > 4 and fields[3] == "RRSIG" and fields[0].lower() in owners:
                sig = fields[-1]
                i = len(sig) // 2
                fields[-1] = sig[:i] + ("A" if sig[i] != "A" else "B") + sig[i + 1:]
                line = "\t".join(fields)
            out.append(line)
        signed.write_text("\n".join(out) + "\n")

    # -- server -------------------------------------------------------------------------

    def start(self):
        zone_conf = []
        anchors = []
        for zone, lines in self.zones.items():
            path = self.tmp / f"{zone}.zone"
            path.write_text(self._zone_text(zone, lines))
            if self.signed and zone not in self.unsigned:
                path, ds = self._sign(zone, path)
                anchors.append(ds)
            zone_conf.append(f'zone:\n    name: "{zone}"\n    zonefile: "{path}"\n')
        if self.signed:
            self.trust_anchor = self.tmp / "trust-anchor.ds"
            self.trust_anchor.write_text("".join(anchors))
        for attempt in range(5):
            self.port = _free_udp_tcp_port()
            conf = self.tmp / "nsd.conf"
            conf.write_text(f"""server:
    ip-address: 127.0.0.1
    port: {self.port}
    do-ip6: no
    server-count: 1
    username: ""
    chroot: ""
    zonesdir: "{self.tmp}"
    pidfile: "{self.tmp}/nsd.pid"
    xfrdfile: "{self.tmp}/xfrd.state"
    zonelistfile: "{self.tmp}/zone.list"
    xfrdir: "{self.tmp}"
    database: ""
    logfile: "{self.tmp}/nsd.log"
    verbosity: 1
    hide-version: yes
remote-control:
    control-enable: no
""" + "".join(zone_conf))
            self.proc = subprocess.Popen([NSD, "-d", "-c", str(conf)], stdout=subprocess.DEVNULL,
                                         stderr=subprocess.STDOUT)
            deadline = time.time() + 15
            while time.time() < deadline and self.proc.poll() is None:
                zone = next(iter(self.zones))
                if dns_query(self.port, zone) == 0:
                    return self
                time.sleep(0.05)
            self._kill()
            if "bind" not in self.log().lower():  # a port race is retried, anything else not
                break
        raise RuntimeError("nsd did not start:\n" + self.log())

    def log(self):
        p = self.tmp / "nsd.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def _kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def stop(self):
        self._kill()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def toml(self, timeout="5s"):
        """The [dns] section that points mailseal at this server."""
        lines = ["[dns]", f'resolver = "127.0.0.1:{self.port}"', f'timeout = "{timeout}"']
        if self.trust_anchor:
            lines.append(f'trust_anchor = "{self.trust_anchor}"')
        else:
            # Unsigned test zones: no validation, also when the machine has a root key
            # (which this server could not serve, making every answer bogus).
            lines.append("dnssec = false")
        return "\n".join(lines) + "\n"

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()


class SilentServer:
    """A "dead" resolver: takes UDP packets and TCP connections on a loopback port and never
    answers, so a client only learns of the failure through its own timeout."""

    def __init__(self):
        self.port = _free_udp_tcp_port()
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", self.port))
        self.tcp = socket.socket()
        self.tcp.bind(("127.0.0.1", self.port))
        self.tcp.listen(64)

    def toml(self, timeout="2s"):
        return f'[dns]\nresolver = "127.0.0.1:{self.port}"\ntimeout = "{timeout}"\ndnssec = false\n'

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.udp.close()
        self.tcp.close()
