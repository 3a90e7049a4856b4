"""`mailseal route` against a real DNS server (NSD via dns_harness): MX order, implicit MX,
null MX, NXDOMAIN, a dead resolver (temporary, within the timeout), a DNSSEC-signed zone
(secure, TLSA, DANE) and a bogus signature (temporary)."""

import re
import subprocess
import time

import pytest

from dns_harness import DnsServer, SilentServer
from harness import MAILSEAL_BIN, Mailseal

TLSA_EE = "3 1 1 " + "ab" * 32
RECORDS = [
    "@ MX 20 mx2",
    "@ MX 10 mx1",
    "mx1 A 127.0.0.1",
    "mx2 A 127.0.0.2",
    "mx2 AAAA ::1",
    f"_25._tcp.mx1 TLSA {TLSA_EE}",
    "_25._tcp.mx2 TLSA 1 1 1 " + "cd" * 32,  # PKIX-EE: unusable for SMTP
    "equal MX 10 e1",
    "equal MX 10 e2",
    "equal MX 10 e3",
    "e1 A 127.0.0.11",
    "e2 A 127.0.0.12",
    "e3 A 127.0.0.13",
    "implicit A 127.0.0.3",
    "null MX 0 .",
    "noaddr MX 10 nowhere",
    "bad MX 10 mx1",
    "badhost MX 10 bogusmx",
    "bogusmx A 127.0.0.5",
]


def route(tmp_path, dns_toml, target):
    config = Mailseal(tmp_path, extra=dns_toml).config_path
    start = time.monotonic()
    p = subprocess.run([MAILSEAL_BIN, "route", "--config", str(config), target],
                       capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr, time.monotonic() - start


@pytest.fixture(scope="module")
def plain():
    with DnsServer(zone="example.test", records=RECORDS) as dns:
        yield dns


@pytest.fixture(scope="module")
def signed():
    with DnsServer(zone="example.test", records=RECORDS, signed=True,
                   bogus=["bad", "bogusmx"]) as dns:
        yield dns


def hosts(out):
    return re.findall(r"^  (\d+) (\S+)", out, re.M)


def test_mx_in_preference_order(tmp_path, plain):
    rc, out, _ = route(tmp_path, plain.toml(), "alice@example.test")
    assert rc == 0, out
    assert hosts(out) == [("10", "mx1.example.test"), ("20", "mx2.example.test")]
    assert "127.0.0.2 ::1 [insecure]" in out
    assert "route: ok" in out


def test_equal_preferences_are_randomised(tmp_path, plain):
    orders = set()
    for _ in range(12):
        rc, out, _ = route(tmp_path, plain.toml(), "equal.example.test")
        assert rc == 0, out
        found = hosts(out)
        assert sorted(found) == [("10", "e1.example.test"), ("10", "e2.example.test"),
                                 ("10", "e3.example.test")]
        orders.add(tuple(h for _, h in found))
    assert len(orders) > 1, "equal-preference MX hosts always came in the same order"


def test_implicit_mx(tmp_path, plain):
    rc, out, _ = route(tmp_path, plain.toml(), "bob@implicit.example.test")
    assert rc == 0, out
    assert "0 implicit.example.test (implicit MX)" in out
    assert "127.0.0.3" in out


def test_null_mx_is_permanent(tmp_path, plain):
    rc, out, _ = route(tmp_path, plain.toml(), "x@null.example.test")
    assert rc == 1, out
    assert "556 5.1.10" in out and "null MX" in out


def test_nxdomain_is_permanent(tmp_path, plain):
    rc, out, _ = route(tmp_path, plain.toml(), "x@nosuch.example.test")
    assert rc == 1, out
    assert "5.1.2" in out and "NXDOMAIN" in out


def test_mx_host_without_address_leaves_no_route(tmp_path, plain):
    rc, out, _ = route(tmp_path, plain.toml(), "noaddr.example.test")
    assert rc == 1, out
    assert "no MX host is usable" in out


def test_unsigned_zone_never_uses_dane(tmp_path, plain):
    rc, out, _ = route(tmp_path, plain.toml(), "example.test")
    assert rc == 0, out
    assert "DANE: yes" not in out
    assert "DANE: no (MX records not DNSSEC-validated)" in out


def test_dead_resolver_is_temporary_within_the_timeout(tmp_path):
    with SilentServer() as dead:
        rc, out, elapsed = route(tmp_path, dead.toml(timeout="2s"), "a@example.test")
    assert rc == 75, out
    assert "temporary failure" in out and "4.4.3" in out and "no answer within 2s" in out
    assert 1.8 <= elapsed < 3.5, f"took {elapsed:.1f}s with timeout 2s"


def test_signed_zone_secure_with_tlsa(tmp_path, signed):
    rc, out, _ = route(tmp_path, signed.toml(), "alice@example.test")
    assert rc == 0, out
    assert "DNSSEC validated" in out
    assert re.search(r"^MX: .*\[secure\]$", out, re.M), out
    block1, block2 = out.split("  20 mx2.example.test")
    assert "127.0.0.1 [secure]" in block1
    assert f"TLSA _25._tcp.mx1.example.test: {TLSA_EE} [secure]" in block1
    assert "DANE: yes (1 usable record)" in block1
    # Only a PKIX-EE record: TLS is required but cannot be authenticated (RFC 7672 2.2).
    assert "1 1 1 " + "cd" * 32 in block2
    assert "DANE: TLS required, but no usable record" in block2


def test_signed_implicit_mx_is_secure(tmp_path, signed):
    rc, out, _ = route(tmp_path, signed.toml(), "implicit.example.test")
    assert rc == 0, out
    assert re.search(r"^MX: .*implicit MX.*\[secure\]$", out, re.M), out
    assert "TLSA _25._tcp.implicit.example.test: none [secure]" in out


def test_signed_nxdomain_and_null_mx_stay_permanent(tmp_path, signed):
    assert route(tmp_path, signed.toml(), "nosuch.example.test")[0] == 1
    rc, out, _ = route(tmp_path, signed.toml(), "null.example.test")
    assert rc == 1 and "556 5.1.10" in out, out


def test_bogus_mx_is_temporary(tmp_path, signed):
    rc, out, _ = route(tmp_path, signed.toml(), "x@bad.example.test")
    assert rc == 75, out
    assert "bogus" in out and "4.4.3" in out


def test_bogus_mx_host_address_is_temporary(tmp_path, signed):
    rc, out, _ = route(tmp_path, signed.toml(), "badhost.example.test")
    assert rc == 75, out
    assert "[bogus]" in out
    assert "127.0.0.5" not in out  # an address from a bogus answer is never shown as usable


def test_wrong_trust_anchor_makes_everything_bogus(tmp_path, signed):
    # The anchor of another key: the signed zone cannot be validated at all.
    other = tmp_path / "other.ds"
    other.write_text("example.test.\tIN\tDS\t12345 13 2 " + "00" * 32 + "\n")
    toml = signed.toml().replace(str(signed.trust_anchor), str(other))
    rc, out, _ = route(tmp_path, toml, "example.test")
    assert rc == 75, out
    assert "bogus" in out


def test_unreadable_trust_anchor_is_a_config_error(tmp_path, signed):
    toml = signed.toml().replace(str(signed.trust_anchor), "/nonexistent/anchor.ds")
    rc, out, _ = route(tmp_path, toml, "example.test")
    assert rc == 78, out
    assert "trust anchor" in out
