#!/usr/bin/env python3
"""mailseal benchmarks: one command, one run, mailseal beside the ceiling and the peers.

    python3 bench/run.py [--quick] [--sections S ...] [--out docs/BENCHMARKS.md]
                         [--bin build/src/mailseal] [--loadgen build/bench/mailseal-loadgen]

Builds nothing. Starts everything it needs (mailseal daemons, smtp-sink, load
generators, openssl, gpg) on 127.0.0.1 ephemeral ports inside one temporary directory,
stops every process it started (by PID / its own process group) and removes the
directory at exit. Python 3 standard library only. What each section measures and how:
bench/README.md.
"""
import argparse
import atexit
import base64
import datetime
import json
import os
import re
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HZ = os.sysconf("SC_CLK_TCK")
ALL_SECTIONS = ["speed", "smtp", "relay", "seal", "open", "queue", "latency", "large", "idle", "peers"]
KEEP_MARKER = "<!-- Everything below this line is kept by bench/run.py when it rewrites the file. -->"
PGP_NOT_HERE = "not measured in this section (OpenPGP throughput and latency at the maximum rate: sections 3 and 4)"
# key kinds: S/MIME RSA-2048 and EC P-256, OpenPGP Ed25519/Cv25519 and RSA-3072 (issue 7)
ALG_LABEL = {"rsa": "S/MIME RSA-2048", "ec": "S/MIME EC P-256", "ed": "OpenPGP Ed25519/Cv25519",
             "pgprsa": "OpenPGP RSA-3072"}
SMIME_ALGS = ("rsa", "ec")
PGP_ALGS = ("ed", "pgprsa")
RCPTS5 = ["rcpt@bench.test"] + [f"{i}rcpt@bench.test" for i in range(2, 6)]  # smtp-source -r 5 names


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- processes we start

class Procs:
    """Every long-running process this script starts; each gets its own session
    (process group) so that it and only it can be stopped."""

    def __init__(self):
        self.live = []

    def start(self, argv, log_path=None, env=None, preexec=None):
        out = open(log_path, "ab") if log_path else subprocess.DEVNULL
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env,
                             start_new_session=True, preexec_fn=preexec)
        if log_path:
            out.close()
        self.live.append(p)
        return p

    def stop(self, p, sig=signal.SIGTERM, grace=15.0):
        if p.poll() is None:
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                p.wait(grace)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(5)
        if p in self.live:
            self.live.remove(p)

    def stop_all(self):
        for p in list(self.live):
            self.stop(p, grace=5.0)


PROCS = Procs()


def run(argv, timeout=120, check=True, env=None, input_bytes=None, cwd=None):
    """Runs a short command to completion in its own process group (killed on timeout)."""
    p = subprocess.Popen(argv, stdin=subprocess.PIPE if input_bytes is not None else subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd,
                         start_new_session=True)
    PROCS.live.append(p)
    try:
        out, err = p.communicate(input_bytes, timeout=timeout)
    except subprocess.TimeoutExpired:
        PROCS.stop(p, signal.SIGKILL, 5)
        raise RuntimeError(f"timed out after {timeout}s: {shlex.join(map(str, argv))}")
    finally:
        if p in PROCS.live:
            PROCS.live.remove(p)
    if check and p.returncode != 0:
        raise RuntimeError(f"exit {p.returncode}: {shlex.join(map(str, argv))}\n{err.decode(errors='replace')[-2000:]}")
    return p.returncode, out.decode(errors="replace"), err.decode(errors="replace")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc=None, timeout=20.0):
    end = time.time() + timeout
    while time.time() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process {proc.args[0]} exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


# ---------------------------------------------------------------- CPU and memory

def cpu_busy():
    """Busy CPU seconds of the whole machine (all cores), as peers.sh counts them."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (v[0] + v[1] + v[2] + v[5] + v[6]) / HZ


def proc_cpu(pid):
    """utime+stime of a process (all its threads), seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return (int(rest[11]) + int(rest[12])) / HZ
    except OSError:
        return 0.0


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def proc_mem(pid):
    """VmRSS and VmHWM in KiB."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1])
    return out


def bg_load(seconds=1.0):
    a = cpu_busy()
    time.sleep(seconds)
    return (cpu_busy() - a) / seconds


# ---------------------------------------------------------------- results

class Results:
    def __init__(self):
        self.fig = {}      # key -> dict(values, unit, note, section)
        self.notes = []
        self.bg = {}

    def add(self, section, key, unit, values, note=""):
        values = [v for v in values if v is not None]
        if not values:
            return
        self.fig[key] = dict(section=section, unit=unit, values=values, note=note)

    def med(self, key):
        f = self.fig.get(key)
        return statistics.median(f["values"]) if f else None

    def has(self, key):
        return key in self.fig


R = Results()


def fmt(x, digits=3):
    if x is None:
        return "–"
    if isinstance(x, str):
        return x
    ax = abs(x)
    if ax >= 1000:
        return f"{x:,.0f}".replace(",", " ") if ax >= 100000 else f"{x:.0f}"
    if ax >= 100:
        return f"{x:.0f}"
    if ax >= 10:
        return f"{x:.1f}"
    if ax >= 1:
        return f"{x:.2f}"
    return f"{x:.3g}"


def cell(key, scale=1.0):
    f = R.fig.get(key)
    if not f:
        return "–"
    v = [x * scale for x in f["values"]]
    if len(v) == 1:
        return f"{fmt(v[0])} (1 run)"
    return f"{fmt(statistics.median(v))} ({fmt(min(v))}–{fmt(max(v))})"


# ---------------------------------------------------------------- test messages

def write_message(path_base, size, rcpts, tag):
    """RFC 5322 headers + base64 body of random bytes (attachment-like), ~size bytes.
    Writes path_base.crlf (for mailseal-loadgen) and path_base.lf (for smtp-source,
    which appends CRLF to each line itself)."""
    hdr = [
        "From: Bench Sender <sender@bench.test>",
        "To: " + ", ".join(f"<{r}>" for r in rcpts),
        f"Subject: mailseal benchmark {tag}",
        "Date: " + time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime()),
        f"Message-ID: <{tag}.{os.getpid()}@bench.test>",
        "MIME-Version: 1.0",
        "Content-Type: application/octet-stream; name=\"data.bin\"",
        "Content-Transfer-Encoding: base64",
        "Content-Disposition: attachment; filename=\"data.bin\"",
    ]
    head = ("\n".join(hdr) + "\n\n").encode()
    raw = max(0, size - len(head)) * 57 // 77  # 76 chars + LF per 57 input bytes
    body = base64.encodebytes(os.urandom(raw))
    lf = head + body
    Path(str(path_base) + ".lf").write_bytes(lf)
    Path(str(path_base) + ".crlf").write_bytes(lf.replace(b"\n", b"\r\n"))
    return len(lf.replace(b"\n", b"\r\n"))


def to_variants(raw, path_base):
    """A message stored by mailseal's Maildir next hop -> .crlf and .lf files for replay
    (Return-Path, added at final delivery, is dropped)."""
    text = raw.replace(b"\r\n", b"\n")
    if text.startswith(b"Return-Path:"):
        text = text.split(b"\n", 1)[1]
    Path(str(path_base) + ".lf").write_bytes(text)
    Path(str(path_base) + ".crlf").write_bytes(text.replace(b"\n", b"\r\n"))


# ---------------------------------------------------------------- daemons

class Sink:
    def __init__(self, work):
        self.port = free_port()
        self.proc = PROCS.start(["smtp-sink", "-u", "nobody", "-c", f"127.0.0.1:{self.port}", "1000"],
                                log_path=work / f"sink.{self.port}.log")
        wait_port(self.port, self.proc)

    def cpu(self):
        return proc_cpu(self.proc.pid)

    def stop(self):
        PROCS.stop(self.proc)


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(n, hard) if hard != resource.RLIM_INFINITY else n
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


class Gateway:
    """One mailseal daemon with its own configuration file."""
    count = 0

    def __init__(self, ctx, state_dir, inside_hop, outside_hop, seal=False, open_=False,
                 max_size="50M", per_client=None, nofile=None, formats=None, mode="proxy"):
        Gateway.count += 1
        self.ctx = ctx
        self.name = f"gw{Gateway.count}"
        self.state = Path(state_dir)
        self.state.mkdir(parents=True, exist_ok=True)
        self.inside = free_port()
        self.outside = free_port()
        self.config = ctx.work / f"{self.name}.toml"
        self.config.write_text(gateway_config(self.state, self.inside, self.outside, inside_hop,
                                              outside_hop, seal, open_, max_size, per_client, formats,
                                              mode))
        self.log = ctx.work / f"{self.name}.log"
        pre = (lambda: raise_nofile(nofile)) if nofile else None
        self.proc = PROCS.start([str(ctx.bin), "serve", "-c", str(self.config)], log_path=self.log,
                                preexec=pre)
        try:
            wait_port(self.inside, self.proc)
            wait_port(self.outside, self.proc)
        except RuntimeError:
            tail = self.log.read_text(errors="replace")[-1500:] if self.log.exists() else ""
            PROCS.stop(self.proc)
            raise RuntimeError(f"mailseal did not start:\n{tail}")
        time.sleep(0.2)

    @property
    def pid(self):
        return self.proc.pid

    def cpu(self):
        return proc_cpu(self.proc.pid)

    def mem(self):
        return proc_mem(self.proc.pid)

    def stop(self):
        PROCS.stop(self.proc)


def hop_toml(section, hop):
    lines = [f"[{section}.next_hop]"]
    for k, v in hop.items():
        lines.append(f"{k} = {json.dumps(v)}")
    return "\n".join(lines) + "\n"


def seal_formats(alg):
    """[seal] formats for a key kind: OpenPGP stores get formats = ["openpgp"]; the S/MIME
    stores keep the default (they hold no OpenPGP keys, so S/MIME is chosen)."""
    return ["openpgp"] if alg in PGP_ALGS else None


def gateway_config(state, inside, outside, inside_hop, outside_hop, seal, open_, max_size, per_client,
                   formats=None, mode="proxy"):
    pc = f"max_connections_per_client = {per_client}\n" if per_client else ""
    if mode != "proxy":
        pc += f'mode = "{mode}"\n'
    s = f"""# written by bench/run.py
[server]
hostname = "gw.bench.test"
state_dir = {json.dumps(str(state))}
log_level = "info"
shutdown_grace = "3s"

[inside]
listen = "127.0.0.1:{inside}"
client_networks = ["127.0.0.0/8"]
max_message_size = "{max_size}"
{pc}
{hop_toml("inside", inside_hop)}
[outside]
listen = "127.0.0.1:{outside}"
internal_domains = ["bench.test"]
max_message_size = "{max_size}"
{pc}
{hop_toml("outside", outside_hop)}
"""
    if seal:
        s += '\n[seal]\ncipher = "aes-256-cbc"\nno_certificate = "refuse"\n'
        if formats:
            s += f"formats = {json.dumps(formats)}\n"
    if open_:
        s += '\n[open]\nfrom_mismatch = "reject"\n'
    return s


def smtp_hop(port):
    return {"kind": "smtp", "host": "127.0.0.1", "port": port, "tls": "none"}


def maildir_hop(path):
    return {"kind": "maildir", "path": str(path)}


# ---------------------------------------------------------------- load generators

def loadgen(ctx, port, sessions, messages, msg_file, rate=None, to=None, timeout=300):
    argv = [str(ctx.loadgen), "--port", str(port), "--sessions", str(sessions),
            "--messages", str(messages), "--message", str(msg_file)]
    if rate:
        argv += ["--rate", f"{rate:.1f}"]
    if to:
        argv += ["--to", to]
    rc, out, err = run(argv, timeout=timeout, check=False)
    try:
        j = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise RuntimeError(f"loadgen printed no JSON (exit {rc}): {err[-500:]}")
    if j["failed"]:
        raise RuntimeError(f"loadgen: {j['failed']} failed of {messages}: {j['first_error']}")
    return j


def smtp_source(ctx, port, sessions, messages, msg_file_lf, rcpts=1, timeout=300):
    argv = ["smtp-source", "-s", str(sessions), "-m", str(messages), "-F", str(msg_file_lf),
            "-M", "bench.test", "-f", "sender@bench.test", "-t", "rcpt@bench.test"]
    if rcpts > 1:
        argv += ["-r", str(rcpts)]
    argv.append(f"127.0.0.1:{port}")
    t0 = time.perf_counter()
    rc, out, err = run(argv, timeout=timeout, check=False)
    secs = time.perf_counter() - t0
    if rc != 0 or "fatal" in err or "error" in err.lower():
        raise RuntimeError(f"smtp-source failed (exit {rc}): {err[-500:]}")
    return {"ok": messages, "seconds": secs, "msgs_per_s": messages / secs}


def measured(ctx, fn, servers):
    """Runs fn() and returns (result, machine busy CPU s, CPU s of our processes)."""
    c0 = cpu_busy()
    k0 = children_cpu()
    s0 = [s.cpu() for s in servers]
    t0 = time.perf_counter()
    res = fn()
    wall = time.perf_counter() - t0
    c1 = cpu_busy()
    ours = children_cpu() - k0 + sum(s.cpu() - a for s, a in zip(servers, s0))
    res["machine_cpu"] = c1 - c0
    res["our_cpu"] = ours
    res["bg_cores"] = max(0.0, (c1 - c0 - ours) / wall)
    res["server_cpu"] = [s.cpu() - a for s, a in zip(servers, s0)]
    return res


# ---------------------------------------------------------------- context / setup

class Ctx:
    def __init__(self, args):
        self.args = args
        self.quick = args.quick
        self.runs = args.runs or (1 if args.quick else 3)
        self.bin = Path(args.bin).resolve()
        self.loadgen = Path(args.loadgen).resolve()
        self.work = Path(tempfile.mkdtemp(prefix="mailseal-bench."))
        self.msgs = {}
        self.keys = {}
        self.sealed = {}
        self.max_bg = 0.0

    def n(self, full, quick):
        return quick if self.quick else full


def keys_setup(ctx, alg):
    """A key store (own state dir) with an internal CA for bench.test, sender@ and the
    recipients rcpt@, 2rcpt@ ... 5rcpt@ (smtp-source -r 5 names), all `alg`."""
    if alg in ctx.keys:
        return ctx.keys[alg]
    state = ctx.work / f"keys-{alg}"
    state.mkdir()
    cfg = ctx.work / f"keys-{alg}.toml"
    cfg.write_text(gateway_config(state, 1, 2, maildir_hop(state / "x"), maildir_hop(state / "y"),
                                  False, False, "50M", None))
    k = [str(ctx.bin), "keys", "-c", str(cfg)]
    run(k + ["init"])
    if alg in PGP_ALGS:
        # OpenPGP: `generate --openpgp` (Ed25519 + Cv25519 subkey by default, or RSA-3072 +
        # RSA-3072); no CA: a signer whose key is in the store is trusted
        a = ["--algorithm", "rsa3072"] if alg == "pgprsa" else []
        for addr in ["sender@bench.test"] + RCPTS5:
            run(k + ["generate", addr, "--openpgp"] + a)
    else:
        a = {"rsa": "rsa2048", "ec": "p256"}[alg]
        run(k + ["ca", "init", "--domain", "bench.test", "--algorithm", a])
        for addr in ["sender@bench.test"] + RCPTS5:
            run(k + ["generate", addr, "--algorithm", a])
    ctx.keys[alg] = state
    return state


def messages_setup(ctx):
    m = ctx.work / "msg"
    m.mkdir(exist_ok=True)
    for rc in (1, 5):
        write_message(m / f"plain-10k-r{rc}", 10240, RCPTS5[:rc], f"10k-r{rc}")
        ctx.msgs[("plain", rc)] = m / f"plain-10k-r{rc}"


def large_message(ctx, mb):
    key = ("plain-large", mb)
    if key not in ctx.msgs:
        p = ctx.work / "msg" / f"plain-{mb}m"
        write_message(p, mb * 1024 * 1024, RCPTS5[:1], f"{mb}m")
        ctx.msgs[key] = p
    return ctx.msgs[key]


def newest_file(folder):
    files = sorted((folder / "new").glob("*"), key=lambda p: p.stat().st_mtime)
    return files[-1] if files else None


def seal_inputs(ctx, alg, sizes_mb=()):
    """Sealed copies of the test messages, produced by a real seal gateway into a Maildir,
    then checked by opening them once through an open gateway (verdict=valid)."""
    state = keys_setup(ctx, alg)
    todo = [("10k", rc) for rc in (1, 5) if (alg, "10k", rc) not in ctx.sealed]
    todo += [(f"{mb}m", 1) for mb in sizes_mb if (alg, f"{mb}m", 1) not in ctx.sealed]
    if not todo:
        return
    out_dir = ctx.work / f"sealed-{alg}"
    open_dir = ctx.work / f"opened-{alg}"
    gw = Gateway(ctx, state, maildir_hop(out_dir), maildir_hop(open_dir), seal=True, open_=True,
                 max_size="400M", formats=seal_formats(alg))
    try:
        for kind, rc in todo:
            plain = ctx.msgs[("plain", rc)] if kind == "10k" else large_message(ctx, int(kind[:-1]))
            before = set((out_dir / "new").glob("*")) if (out_dir / "new").exists() else set()
            if rc == 1:
                loadgen(ctx, gw.inside, 1, 1, str(plain) + ".crlf", timeout=600)
            else:
                smtp_source(ctx, gw.inside, 1, 1, str(plain) + ".lf", rcpts=rc, timeout=600)
            new = sorted(set((out_dir / "new").glob("*")) - before)
            if len(new) != 1:
                raise RuntimeError(f"seal gateway stored {len(new)} files for {kind} r{rc}")
            raw = new[0].read_bytes()
            if alg in PGP_ALGS:
                if not re.search(rb"multipart/encrypted;[^\r\n]*(\r?\n[ \t][^\r\n]*)*application/pgp-encrypted",
                                 raw[:20000], re.I):
                    raise RuntimeError(f"{alg} {kind}: the seal gateway's output is not PGP/MIME "
                                       "(multipart/encrypted, application/pgp-encrypted)")
            elif b"application/pkcs7-mime" not in raw[:20000]:
                raise RuntimeError(f"{alg} {kind}: the seal gateway's output is not S/MIME")
            base = ctx.work / "msg" / f"sealed-{alg}-{kind}-r{rc}"
            to_variants(raw, base)
            new[0].unlink()
            # check: it opens, and the verdict is valid
            b2 = set((open_dir / "new").glob("*")) if (open_dir / "new").exists() else set()
            if rc == 1:
                loadgen(ctx, gw.outside, 1, 1, str(base) + ".crlf", timeout=600)
            else:
                smtp_source(ctx, gw.outside, 1, 1, str(base) + ".lf", rcpts=rc, timeout=600)
            got = sorted(set((open_dir / "new").glob("*")) - b2)
            if len(got) != 1:
                raise RuntimeError(f"open gateway stored {len(got)} files for {alg} {kind} r{rc}")
            head = got[0].read_bytes()[:20000]
            want = b"format=openpgp" if alg in PGP_ALGS else b""
            if b"verdict=valid" not in head or want not in head:
                m = re.search(rb"X-Mailseal-Verification:[^\r\n]*(\r?\n[ \t][^\r\n]*)*", head)
                raise RuntimeError(f"{alg} {kind} r{rc}: opened without verdict=valid: {m and m.group(0)}")
            got[0].unlink()
            ctx.sealed[(alg, kind, rc)] = base
            log(f"  sealed input {alg} {kind} r{rc}: {len(raw)} bytes, opens with verdict=valid"
                f"{' (format=openpgp)' if alg in PGP_ALGS else ''}")
    finally:
        gw.stop()


# ---------------------------------------------------------------- 1. ceilings

SPEED_1 = ["rsa2048", "rsa3072", "ecdsap256", "ecdhp256", "ed25519", "ecdhx25519"]
SPEED_2 = ["rsa2048", "ecdsap256", "ed25519", "ecdhx25519"]


def parse_speed(out):
    res = {}
    for line in out.splitlines():
        p = line.strip().split(":")
        if p[0] == "+F2":
            res[f"rsa{p[2]}_sign"], res[f"rsa{p[2]}_verify"] = float(p[3]), float(p[4])
        elif p[0] == "+F4":
            res[f"ecdsap{p[2]}_sign"], res[f"ecdsap{p[2]}_verify"] = float(p[3]), float(p[4])
        elif p[0] == "+F5":
            name = "x25519" if p[2] == "253" else f"ecdhp{p[2]}"
            res[f"{name}_derive"] = float(p[3])
        elif p[0] == "+F6":
            res["ed25519_sign"], res["ed25519_verify"] = float(p[4]), float(p[5])
        elif p[0] == "+F":
            res[p[2].lower()] = float(p[3])
    return res


def section_speed(ctx):
    vals = {}
    secs = "1"
    for i in range(ctx.runs):
        log(f"speed: openssl speed run {i + 1}/{ctx.runs}")
        r1 = parse_speed(run(["openssl", "speed", "-mr", "-seconds", secs] + SPEED_1, timeout=120)[1])
        r2 = parse_speed(run(["openssl", "speed", "-mr", "-multi", "2", "-seconds", secs] + SPEED_2, timeout=120)[1])
        r3 = {}
        for alg in ("aes-256-cbc", "aes-256-gcm", "sha256"):
            r3.update(parse_speed(run(["openssl", "speed", "-mr", "-seconds", secs, "-bytes", "16384",
                                       "-evp", alg], timeout=60)[1]))
        for k, v in r1.items():
            vals.setdefault(k, []).append(v)
        for k, v in r2.items():
            vals.setdefault(k + "_x2", []).append(v)
        for k, v in r3.items():
            vals.setdefault(k, []).append(v / 1e6)
        # base64 (the transfer encoding of every S/MIME body): coreutils, 64 MiB in memory
        src = ctx.work / "b64.in"
        if not src.exists():
            src.write_bytes(os.urandom(64 * 1024 * 1024))
            run(["sh", "-c", f"base64 -w 76 {src} > {src}.b64"])
        for name, argv, size in (("base64_enc", ["base64", "-w", "76", str(src)], src.stat().st_size),
                                 ("base64_dec", ["base64", "-d", str(src) + ".b64"],
                                  Path(str(src) + ".b64").stat().st_size)):
            # CPU time, not wall time (openssl speed also divides by CPU time): robust on a
            # shared machine
            c0 = children_cpu()
            run(["sh", "-c", shlex.join(argv) + " > /dev/null"])
            vals.setdefault(name, []).append(size / max(1e-6, children_cpu() - c0) / 1e6)
    units = {"aes-256-cbc": "MB/s", "aes-256-gcm": "MB/s", "sha256": "MB/s", "base64_enc": "MB/s",
             "base64_dec": "MB/s"}
    for k, v in vals.items():
        R.add("speed", "speed_" + k, units.get(k, "ops/s"), v)


def crypto_cost_us(direction, alg, rcpts, size=10240):
    """CPU µs per message on one core for the crypto alone (peers.sh's model):
    out = 1 private-key op (sign) + 1 public-key op per recipient + S·(1/SHA-256 +
    1/AES-256-CBC + 1.37/base64-enc); in = 1 private-key op + 1 verify + S·(1.37/base64-dec
    + 1/AES-256-CBC + 1/SHA-256). EC: encryption to a recipient is ECDH with an ephemeral
    key (key generation + derive = 2 ECDH ops); OpenPGP Ed25519/Cv25519 ("ed") likewise with
    Ed25519 + X25519; OpenPGP RSA-3072 ("pgprsa") as RSA with RSA-3072 operations. OpenPGP's
    AES-256-CFB and its armor (base64) are costed as AES-256-CBC and base64."""
    m = R.med
    need = ["speed_sha256", "speed_aes-256-cbc", "speed_base64_enc", "speed_base64_dec"]
    if any(m(k) is None for k in need):
        return None
    if direction == "out":
        sym = size * (1 / m("speed_sha256") + 1 / m("speed_aes-256-cbc") + 1.37 / m("speed_base64_enc")) / 1e6
    else:
        sym = size * (1.37 / m("speed_base64_dec") + 1 / m("speed_aes-256-cbc") + 1 / m("speed_sha256")) / 1e6
    try:
        if alg in ("rsa", "pgprsa"):
            bits = "3072" if alg == "pgprsa" else "2048"
            priv, pub = 1 / m(f"speed_rsa{bits}_sign"), 1 / m(f"speed_rsa{bits}_verify")
            asym = priv + rcpts * pub if direction == "out" else priv + pub
        elif alg == "ec":
            if direction == "out":
                asym = 1 / m("speed_ecdsap256_sign") + rcpts * 2 / m("speed_ecdhp256_derive")
            else:
                asym = 1 / m("speed_ecdhp256_derive") + 1 / m("speed_ecdsap256_verify")
        else:  # ed25519 / x25519 (OpenPGP)
            if direction == "out":
                asym = 1 / m("speed_ed25519_sign") + rcpts * 2 / m("speed_x25519_derive")
            else:
                asym = 1 / m("speed_x25519_derive") + 1 / m("speed_ed25519_verify")
    except TypeError:
        return None
    return (asym + sym) * 1e6


def section_smtp(ctx):
    msg = ctx.msgs[("plain", 1)]
    for c in (1, 20, 100):
        n = ctx.n(3000 if c == 1 else 8000, 500)
        for tool in ("loadgen", "smtp-source"):
            rates, cpus, ours, p50, p99, bgs = [], [], [], [], [], []
            for i in range(ctx.runs):
                sink = Sink(ctx.work)
                try:
                    if tool == "loadgen":
                        res = measured(ctx, lambda: loadgen(ctx, sink.port, c, n, str(msg) + ".crlf"), [sink])
                        p50.append(res["p50_ms"])
                        p99.append(res["p99_ms"])
                    else:
                        res = measured(ctx, lambda: smtp_source(ctx, sink.port, c, n, str(msg) + ".lf"), [sink])
                finally:
                    sink.stop()
                rates.append(res["msgs_per_s"])
                cpus.append(res["machine_cpu"] / n * 1e6)
                ours.append(res["our_cpu"] / n * 1e6)
                bgs.append(res["bg_cores"])
            log(f"smtp: {tool} -> smtp-sink c={c}: {statistics.median(rates):.0f} msgs/s, "
                f"{statistics.median(cpus):.0f} µs CPU/msg (bg {max(bgs):.2f} cores)")
            t = "lg" if tool == "loadgen" else "ss"
            R.add("smtp", f"smtp_{t}_c{c}", "msgs/s", rates, f"{tool} -> smtp-sink, {n} msgs, 10 KB")
            R.add("smtp", f"smtp_{t}_cpu_c{c}", "CPU µs/msg", cpus, "/proc/stat, whole machine")
            R.add("smtp", f"smtp_{t}_owncpu_c{c}", "CPU µs/msg", ours, "client + sink processes only")
            R.add("smtp", f"smtp_{t}_bg_c{c}", "cores", bgs, "other processes during the run")
            if p50:
                R.add("smtp", f"smtp_{t}_p50_c{c}", "ms", p50)
                R.add("smtp", f"smtp_{t}_p99_c{c}", "ms", p99)


# ---------------------------------------------------------------- 2-4. mailseal throughput

def gateway_throughput(ctx, prefix, label, state, seal, open_, side, cases, formats=None):
    """cases: list of (sessions, rcpts, message base path, n). One daemon per case set,
    one smtp-sink; each run is timed from the first connect to the last reply."""
    for sessions, rcpts, msg, n in cases:
        rates, cpus, gwcpu, p50, p99, bgs = [], [], [], [], [], []
        for i in range(ctx.runs):
            sink = Sink(ctx.work)
            gw = Gateway(ctx, state, smtp_hop(sink.port), smtp_hop(sink.port), seal=seal, open_=open_,
                         formats=formats)
            port = gw.inside if side == "inside" else gw.outside
            try:
                if rcpts == 1:
                    res = measured(ctx, lambda: loadgen(ctx, port, sessions, n, str(msg) + ".crlf"), [sink, gw])
                    p50.append(res["p50_ms"])
                    p99.append(res["p99_ms"])
                else:
                    res = measured(ctx, lambda: smtp_source(ctx, port, sessions, n, str(msg) + ".lf",
                                                           rcpts=rcpts), [sink, gw])
            finally:
                gw.stop()
                sink.stop()
            rates.append(res["msgs_per_s"])
            cpus.append(res["machine_cpu"] / n * 1e6)
            gwcpu.append(res["server_cpu"][1] / n * 1e6)
            bgs.append(res["bg_cores"])
        key = f"{prefix}_r{rcpts}_c{sessions}"
        tool = "loadgen" if rcpts == 1 else "smtp-source -r 5"
        log(f"{label} r{rcpts} c{sessions}: {statistics.median(rates):.0f} msgs/s, mailseal "
            f"{statistics.median(gwcpu):.0f} µs CPU/msg (bg {max(bgs):.2f} cores)")
        R.add(prefix.split("_")[0], key, "msgs/s", rates, f"{label}, {rcpts} rcpt, {sessions} sessions, {tool}, {n} msgs")
        R.add(prefix.split("_")[0], key + "_gwcpu", "CPU µs/msg", gwcpu, "mailseal process only")
        R.add(prefix.split("_")[0], key + "_cpu", "CPU µs/msg", cpus, "whole machine (/proc/stat)")
        R.add(prefix.split("_")[0], key + "_bg", "cores", bgs, "other processes during the run")
        if p50:
            R.add(prefix.split("_")[0], key + "_p50", "ms", p50)
            R.add(prefix.split("_")[0], key + "_p99", "ms", p99)


def counts(ctx, sessions, crypto=True, rcpts=1, alg=None):
    """Messages per run: a few seconds of load each. OpenPGP RSA-3072 gets a fifth of the
    count (min. 20): it ran at ~10-25 msgs/s when it was added, so the full counts would
    take over a minute per run (not to change a verdict: RSA-3072 has no target)."""
    if ctx.quick:
        n = 100 if sessions == 1 else 300
    elif not crypto:
        n = 2000 if sessions == 1 else 5000
    elif rcpts > 1:
        n = 200 if sessions == 1 else 800
    else:
        n = 300 if sessions == 1 else 1500
    return max(20, n // 5) if alg == "pgprsa" else n


def section_relay(ctx):
    state = ctx.work / "state-relay"
    msg = ctx.msgs[("plain", 1)]
    gateway_throughput(ctx, "relay", "proxy relay, no crypto", state, False, False, "inside",
                       [(c, 1, msg, counts(ctx, c, False)) for c in (1, 20, 100)])


def per_alg(section, algs, fn):
    """Runs fn(alg) for each key kind; a failing kind is noted and the others still run."""
    failed = []
    for alg in algs:
        try:
            fn(alg)
        except (RuntimeError, OSError, subprocess.SubprocessError) as e:
            R.notes.append(f"section {section}, {ALG_LABEL[alg]} failed: {str(e).splitlines()[0][:300]}")
            log(f"{section} {alg} FAILED: {e}")
            failed.append(alg)
    if failed and len(failed) == len(algs):
        raise RuntimeError(f"every key kind failed ({', '.join(failed)})")


def section_seal(ctx):
    def one(alg):
        state = keys_setup(ctx, alg)
        cases = [(c, rc, ctx.msgs[("plain", rc)], counts(ctx, c, True, rc, alg)) for rc in (1, 5) for c in (1, 20, 100)]
        gateway_throughput(ctx, f"seal_{alg}", f"seal {ALG_LABEL[alg]}", state, True, False, "inside", cases,
                           formats=seal_formats(alg))
    per_alg("seal", SMIME_ALGS + PGP_ALGS, one)


def section_open(ctx):
    def one(alg):
        seal_inputs(ctx, alg)
        state = keys_setup(ctx, alg)
        cases = [(c, rc, ctx.sealed[(alg, "10k", rc)], counts(ctx, c, True, rc, alg)) for rc in (1, 5) for c in (1, 20, 100)]
        gateway_throughput(ctx, f"open_{alg}", f"open {ALG_LABEL[alg]}", state, False, True, "outside", cases)
    per_alg("open", SMIME_ALGS + PGP_ALGS, one)


def spool_count(state):
    """Messages still in the queue (active + hold) of a gateway's state directory."""
    n = 0
    for sub in ("incoming", "active", "hold"):
        d = Path(state) / "queue" / sub
        if d.is_dir():
            n += sum(1 for _ in d.iterdir())
    return n


def section_queue(ctx):
    """Queue mode (store and forward): outbound seal S/MIME RSA-2048 10 KB 1 rcpt. The client's
    rate counts messages acknowledged ("250 ... queued as": sealed, written, fsynced and renamed);
    the delivered rate counts from the first connect until the spool is empty again (every
    copy delivered to smtp-sink and unlinked)."""
    state0 = keys_setup(ctx, "rsa")
    msg = ctx.msgs[("plain", 1)]
    for sessions in (20, 100):
        n = counts(ctx, sessions, True, 1, "rsa")
        acc, dlv, cpus, gwcpu, p50, p99, bgs = [], [], [], [], [], [], []
        for i in range(ctx.runs):
            # A fresh copy of the key store per run: the spool lives in the state directory.
            state = ctx.work / f"state-queue-{sessions}-{i}"
            shutil.copytree(state0, state)
            sink = Sink(ctx.work)
            gw = Gateway(ctx, state, smtp_hop(sink.port), smtp_hop(sink.port), seal=True,
                         formats=seal_formats("rsa"), mode="queue")
            try:
                t0 = time.perf_counter()

                def run_all():
                    r = loadgen(ctx, gw.inside, sessions, n, str(msg) + ".crlf")
                    r["accept_wall"] = time.perf_counter() - t0
                    deadline = time.time() + 300
                    while spool_count(state) and time.time() < deadline:
                        time.sleep(0.02)
                    if spool_count(state):
                        raise RuntimeError(f"queue: {spool_count(state)} messages still queued after 300 s")
                    r["deliver_wall"] = time.perf_counter() - t0
                    return r

                res = measured(ctx, run_all, [sink, gw])
            finally:
                gw.stop()
                sink.stop()
                shutil.rmtree(state, ignore_errors=True)
            acc.append(res["msgs_per_s"])
            dlv.append(n / res["deliver_wall"])
            cpus.append(res["machine_cpu"] / n * 1e6)
            gwcpu.append(res["server_cpu"][1] / n * 1e6)
            p50.append(res["p50_ms"])
            p99.append(res["p99_ms"])
            bgs.append(res["bg_cores"])
        key = f"queue_seal_rsa_r1_c{sessions}"
        log(f"queue seal rsa c{sessions}: accepted {statistics.median(acc):.0f} msgs/s, delivered "
            f"{statistics.median(dlv):.0f} msgs/s, mailseal {statistics.median(gwcpu):.0f} µs CPU/msg")
        R.add("queue", key, "msgs/s", acc, f"queue mode seal S/MIME RSA-2048, 1 rcpt, {sessions} sessions, "
              f"acknowledged (queued), {n} msgs")
        R.add("queue", key + "_delivered", "msgs/s", dlv, "first connect until the spool is empty again")
        R.add("queue", key + "_gwcpu", "CPU µs/msg", gwcpu, "mailseal process only, acceptance + delivery")
        R.add("queue", key + "_cpu", "CPU µs/msg", cpus, "whole machine (/proc/stat)")
        R.add("queue", key + "_bg", "cores", bgs, "other processes during the run")
        R.add("queue", key + "_p50", "ms", p50)
        R.add("queue", key + "_p99", "ms", p99)


# ---------------------------------------------------------------- 5. added latency

def max_rate(ctx, key, measure):
    v = R.med(key)
    if v is None:
        log(f"latency: {key} not measured in this run, measuring it once")
        v = measure()
    return v


def section_latency(ctx):
    targets = [("relay", "relay_r1", None, "inside", False, False, [1, 20, 100]),
               ("seal_rsa", "seal_rsa_r1", "rsa", "inside", True, False, [1, 20, 100]),
               ("open_rsa", "open_rsa_r1", "rsa", "outside", False, True, [1, 20, 100])]
    dur = 1.0 if ctx.quick else 2.0
    for name, key, alg, side, seal, open_, sess in targets:
        state = keys_setup(ctx, alg) if alg else ctx.work / "state-relay"
        if name == "open_rsa":
            seal_inputs(ctx, "rsa")
            msg = ctx.sealed[("rsa", "10k", 1)]
        else:
            msg = ctx.msgs[("plain", 1)]
        for c in sess:
            def once():
                sink = Sink(ctx.work)
                gw = Gateway(ctx, state, smtp_hop(sink.port), smtp_hop(sink.port), seal=seal, open_=open_)
                try:
                    return loadgen(ctx, gw.inside if side == "inside" else gw.outside, c,
                                   counts(ctx, c, alg is not None), str(msg) + ".crlf")["msgs_per_s"]
                finally:
                    gw.stop()
                    sink.stop()
            rate = max_rate(ctx, f"{key}_c{c}", once) / 2
            n = max(30, int(rate * dur))
            gw_p50, gw_p99, s_p50, s_p99, add50, add99, got = [], [], [], [], [], [], []
            for i in range(ctx.runs):
                sink = Sink(ctx.work)
                gw = Gateway(ctx, state, smtp_hop(sink.port), smtp_hop(sink.port), seal=seal, open_=open_)
                try:
                    r = loadgen(ctx, gw.inside if side == "inside" else gw.outside, c, n,
                                str(msg) + ".crlf", rate=rate)
                finally:
                    gw.stop()
                    sink.stop()
                sink = Sink(ctx.work)
                try:
                    b = loadgen(ctx, sink.port, c, n, str(ctx.msgs[("plain", 1)]) + ".crlf", rate=rate)
                finally:
                    sink.stop()
                gw_p50.append(r["p50_ms"]); gw_p99.append(r["p99_ms"])
                s_p50.append(b["p50_ms"]); s_p99.append(b["p99_ms"])
                add50.append(r["p50_ms"] - b["p50_ms"]); add99.append(r["p99_ms"] - b["p99_ms"])
                got.append(r["msgs_per_s"])
            k = f"lat_{name}_c{c}"
            R.add("latency", k + "_rate", "msgs/s", [rate], "offered rate (half the max)")
            R.add("latency", k + "_achieved", "msgs/s", got)
            R.add("latency", k + "_gw_p50", "ms", gw_p50)
            R.add("latency", k + "_gw_p99", "ms", gw_p99)
            R.add("latency", k + "_sink_p50", "ms", s_p50)
            R.add("latency", k + "_sink_p99", "ms", s_p99)
            R.add("latency", k + "_add_p50", "ms", add50)
            R.add("latency", k + "_add_p99", "ms", add99)
            log(f"latency {name} c{c} at {rate:.0f}/s: added p50 {statistics.median(add50):.2f} ms, "
                f"p99 {statistics.median(add99):.2f} ms")


# ---------------------------------------------------------------- 6. large messages

def loadgen_setup_cpu(ctx, msg):
    """CPU s the loadgen spends before its first connection (reading the file and
    dot-stuffing it in memory: about 0.4 s for 100 MiB, nearly all of its CPU for one
    message), measured with --messages 0. Its timed seconds exclude it; the ceiling must too."""
    k0 = children_cpu()
    loadgen(ctx, free_port(), 1, 0, str(msg) + ".crlf", timeout=900)
    return children_cpu() - k0


def direct_transfer(ctx, msg, n, setup_cpu):
    """loadgen -> smtp-sink with no mailseal in between, one session: (seconds, loadgen CPU s
    per message sending it, smtp-sink CPU s per message). The large-message ceiling is
    built from it."""
    sink = Sink(ctx.work)
    try:
        res = measured(ctx, lambda: loadgen(ctx, sink.port, 1, n, str(msg) + ".crlf", timeout=900), [sink])
    finally:
        sink.stop()
    sink_cpu = res["server_cpu"][0]
    return res["seconds"], max(0.0, res["our_cpu"] - sink_cpu - setup_cpu) / n, sink_cpu / n


def large_ceiling(direction, mb, client_in, sink_out, alg="rsa"):
    """MiB/s a gateway could at most reach in this harness for one large message: the load
    generator must send the input and smtp-sink take the output (their CPU measured alone,
    one session each), and the gateway must at least do the symmetric crypto of the
    computed ceilings (SHA-256, AES-256-CBC, base64 per byte); all on the 2 cores. smtp-sink
    is one process, so the time can also not be below its own CPU for the output."""
    crypto = crypto_cost_us("out" if direction == "seal" else "in", alg, 1, size=mb * 1048576)
    if crypto is None:
        return None
    cores = os.cpu_count() or 1
    seconds = max(sink_out, (client_in + sink_out + crypto / 1e6) / cores)
    return mb / seconds


# Large messages: S/MIME RSA-2048 (the keys of the targets' first rows) and OpenPGP
# Ed25519/Cv25519. Figure keys: large_{direction}_{mb}m for S/MIME (as in every run since
# the first), large_ed_{direction}_{mb}m for OpenPGP.
LARGE_ALGS = (("rsa", "large"), ("ed", "large_ed"))


def section_large(ctx):
    sizes = [1, 20, 100] if not ctx.quick else [1, 20]
    for alg, prefix in LARGE_ALGS:
        seal_inputs(ctx, alg, sizes)
        state = keys_setup(ctx, alg)
        for direction in ("seal", "open"):
            for mb in sizes:
                large_case(ctx, alg, prefix, state, direction, mb)


def large_case(ctx, alg, prefix, state, direction, mb):
    n = {1: 5, 20: 2, 100: 1}[mb]
    plain, sealed = large_message(ctx, mb), ctx.sealed[(alg, f"{mb}m", 1)]
    msg, out = (plain, sealed) if direction == "seal" else (sealed, plain)
    sink = Sink(ctx.work)
    gw = Gateway(ctx, state, smtp_hop(sink.port), smtp_hop(sink.port), seal=direction == "seal",
                 open_=direction == "open", max_size="400M", formats=seal_formats(alg))
    rates, gwcpu, idle = [], [], None
    try:
        idle = gw.mem()["VmRSS"]
        for i in range(ctx.runs):
            port = gw.inside if direction == "seal" else gw.outside
            r = measured(ctx, lambda: loadgen(ctx, port, 1, n, str(msg) + ".crlf", timeout=900), [sink, gw])
            rates.append(mb * n / r["seconds"])
            gwcpu.append(r["server_cpu"][1] / n)
        mem = gw.mem()
    finally:
        gw.stop()
        sink.stop()
    # The same messages without mailseal, in the same run: the input as the client
    # sends it, the output as the next hop receives it.
    direct, client_in, sink_out = [], [], []
    setup_in, setup_out = loadgen_setup_cpu(ctx, msg), loadgen_setup_cpu(ctx, out)
    for i in range(ctx.runs):
        secs, c_in, _ = direct_transfer(ctx, msg, n, setup_in)
        direct.append(mb * n / secs)
        client_in.append(c_in)
        sink_out.append(direct_transfer(ctx, out, n, setup_out)[2])
    k = f"{prefix}_{direction}_{mb}m"
    what = "OpenPGP Ed25519/Cv25519" if alg == "ed" else "RSA-2048"
    R.add("large", k, "MiB/s", rates, f"{direction} {what} 1 rcpt, {mb} MiB plaintext, {n} msg/run")
    R.add("large", k + "_gwcpu", "CPU s/msg", gwcpu, "mailseal process only")
    R.add("large", k + "_direct", "MiB/s", direct, "loadgen -> smtp-sink alone, the input message")
    R.add("large", k + "_client_in", "CPU s/msg", client_in, "loadgen sending the input message "
          "(its set-up, --messages 0, subtracted)")
    R.add("large", k + "_sink_out", "CPU s/msg", sink_out, "smtp-sink taking the output message")
    ceiling = large_ceiling(direction, mb, statistics.median(client_in), statistics.median(sink_out), alg)
    if ceiling is not None:
        R.add("large", k + "_ceiling", "MiB/s", [ceiling], "computed from the medians (large_ceiling)")
    R.add("large", k + "_hwm", "MiB", [mem["VmHWM"] / 1024], "VmHWM over all runs, fresh daemon")
    R.add("large", k + "_idle", "MiB", [idle / 1024], "VmRSS before the first message")
    log(f"large {alg} {direction} {mb} MB: {statistics.median(rates):.1f} MiB/s (ceiling "
        f"{fmt(ceiling)}), peak {mem['VmHWM'] / 1024:.1f} MiB (idle {idle / 1024:.1f} MiB)")


# ---------------------------------------------------------------- 7. idle sessions

def section_idle(ctx):
    nconn = ctx.n(2000, 500)
    raise_nofile(nconn + 500)
    state = keys_setup(ctx, "rsa")
    rss, hwm, idle, per = [], [], [], []
    for i in range(ctx.runs):
        sink = Sink(ctx.work)
        gw = Gateway(ctx, state, smtp_hop(sink.port), smtp_hop(sink.port), seal=True, open_=True,
                     per_client=nconn + 100, nofile=nconn + 1000)
        socks = []
        try:
            time.sleep(0.3)
            base = gw.mem()["VmRSS"]
            for j in range(nconn):
                s = socket.create_connection(("127.0.0.1", gw.inside), timeout=20)
                socks.append(s)
            for s in socks:
                buf = b""
                while not buf.endswith(b"\r\n"):
                    chunk = s.recv(512)
                    if not chunk:
                        raise RuntimeError("connection closed before the greeting")
                    buf += chunk
                if not buf.startswith(b"220"):
                    raise RuntimeError(f"no 220 greeting: {buf[:80]!r}")
            time.sleep(2.0)
            m = gw.mem()
        finally:
            for s in socks:
                s.close()
            gw.stop()
            sink.stop()
        idle.append(base / 1024)
        rss.append(m["VmRSS"] / 1024)
        hwm.append(m["VmHWM"] / 1024)
        per.append((m["VmRSS"] - base) / nconn)
    R.add("idle", "idle_rss", "MiB", rss, f"{nconn} sessions open, greeting read, held 2 s")
    R.add("idle", "idle_hwm", "MiB", hwm)
    R.add("idle", "idle_base", "MiB", idle, "before the first connection")
    R.add("idle", "idle_per_session", "KiB", per)
    R.fig["idle_rss"]["n"] = nconn
    log(f"idle: {nconn} sessions: RSS {statistics.median(rss):.1f} MiB (idle {statistics.median(idle):.1f})")


# ---------------------------------------------------------------- 8. peers

def peers_setup(ctx):
    d = ctx.work / "peers"
    d.mkdir(exist_ok=True)
    o = ["openssl"]
    run(o + ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", d / "ca.key", "-out", d / "ca.crt",
             "-days", "30", "-subj", "/CN=bench CA", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
    for who in ("sender", "rcpt"):
        run(o + ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", d / f"{who}.key", "-out", d / f"{who}.csr",
                 "-subj", f"/CN={who}"])
        (d / f"{who}.ext").write_text(f"subjectAltName=email:{who}@bench.test\nextendedKeyUsage=emailProtection\n"
                                      "keyUsage=digitalSignature,keyEncipherment\n")
        run(o + ["x509", "-req", "-in", d / f"{who}.csr", "-CA", d / "ca.crt", "-CAkey", d / "ca.key",
                 "-CAcreateserial", "-days", "30", "-extfile", d / f"{who}.ext", "-out", d / f"{who}.crt"])
    g = ctx.work / "gnupg"
    g.mkdir(mode=0o700)
    env = dict(os.environ, GNUPGHOME=str(g))
    gb = ["gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", ""]
    # OpenPGP keys, one GNUPGHOME: RSA-2048 sign+cert with an RSA-2048 encryption subkey
    # (<sender@bench.test>, <rcpt@bench.test>) and Ed25519 sign+cert with a Cv25519
    # encryption subkey (<sender-ed@bench.test>, <rcpt-ed@bench.test>); the Ed25519 ones are
    # also exported (armored, no passphrase) for sq
    for who, prim, sub in (("sender", "rsa2048", "rsa2048"), ("rcpt", "rsa2048", "rsa2048"),
                           ("sender-ed", "ed25519", "cv25519"), ("rcpt-ed", "ed25519", "cv25519")):
        run(gb + ["--quick-gen-key", f"<{who}@bench.test>", prim, "sign,cert", "never"], env=env)
        fpr = re.search(r"^fpr:+([0-9A-F]+):", run(["gpg", "--batch", "--with-colons", "--list-keys",
                                                   f"<{who}@bench.test>"], env=env)[1], re.M).group(1)
        run(gb + ["--quick-add-key", fpr, sub, "encr", "never"], env=env)
        if who.endswith("-ed"):
            (d / f"{who}.pub.asc").write_text(run(gb + ["--armor", "--export", fpr], env=env)[1])
            (d / f"{who}.sec.asc").write_text(run(gb + ["--armor", "--export-secret-keys", fpr], env=env)[1])
    ctx.peer_env = env
    # sq reads and writes only the files it is given; HOME points into the work directory so
    # that it leaves no state elsewhere
    (ctx.work / "sqhome").mkdir(exist_ok=True)
    ctx.sq_env = dict(os.environ, HOME=str(ctx.work / "sqhome"))
    ctx.peer_dir = d


# per-message peers: key in the figures -> (label, needs)
PEER_TOOLS = {"cms": ("openssl cms, RSA-2048 (2 processes per message)", "openssl"),
              "gpg": ("gpg, RSA-2048", "gpg"),
              "gpged": ("gpg, Ed25519/Cv25519", "gpg"),
              "sqed": ("sq, Ed25519/Cv25519", "sq")}


def peer_cmds(ctx, tool, direction, inp, out, tmp):
    d = ctx.peer_dir
    if tool == "cms":
        if direction == "out":
            return [["openssl", "cms", "-sign", "-md", "sha256", "-in", inp, "-signer", d / "sender.crt",
                     "-inkey", d / "sender.key", "-out", tmp],
                    ["openssl", "cms", "-encrypt", "-aes256", "-in", tmp, "-out", out, d / "rcpt.crt"]]
        return [["openssl", "cms", "-decrypt", "-in", inp, "-recip", d / "rcpt.crt", "-inkey", d / "rcpt.key",
                 "-out", tmp],
                ["openssl", "cms", "-verify", "-in", tmp, "-CAfile", d / "ca.crt", "-out", out]]
    if tool == "sqed":
        if direction == "out":
            return [["sq", "--force", "encrypt", "--recipient-cert", d / "rcpt-ed.pub.asc",
                     "--signer-key", d / "sender-ed.sec.asc", "--output", out, inp]]
        # with --signer-cert, sq exits 0 only when the signature verifies
        return [["sq", "--force", "decrypt", "--recipient-key", d / "rcpt-ed.sec.asc",
                 "--signer-cert", d / "sender-ed.pub.asc", "--output", out, inp]]
    sfx = "-ed" if tool == "gpged" else ""
    if direction == "out":
        return [["gpg", "--batch", "--yes", "--trust-model", "always", "--armor", "--sign", "--encrypt",
                 "-u", f"<sender{sfx}@bench.test>", "-r", f"<rcpt{sfx}@bench.test>", "-o", out, inp]]
    return [["gpg", "--batch", "--yes", "--trust-model", "always", "-o", out, "--decrypt", inp]]


def peer_env(ctx, tool):
    return {"cms": None, "gpg": ctx.peer_env, "gpged": ctx.peer_env, "sqed": ctx.sq_env}[tool]


def section_peers(ctx):
    peers_setup(ctx)
    plain = Path(str(ctx.msgs[("plain", 1)]) + ".lf")
    n = ctx.n(60, 20)
    for tool, (label, needs) in PEER_TOOLS.items():
        if shutil.which(needs) is None:
            R.notes.append(f"peers: {label} not measured ({needs} not installed)")
            continue
        env = peer_env(ctx, tool)
        # one validated round trip: its output is the inbound input
        enc = ctx.work / f"peer-{tool}.enc"
        dec = ctx.work / f"peer-{tool}.dec"
        for argv in peer_cmds(ctx, tool, "out", plain, enc, ctx.work / f"peer-{tool}.tmp0"):
            run(argv, env=env)
        for argv in peer_cmds(ctx, tool, "in", enc, dec, ctx.work / f"peer-{tool}.tmp1"):
            run(argv, env=env)
        if dec.read_bytes().replace(b"\r\n", b"\n").strip() != plain.read_bytes().strip():
            raise RuntimeError(f"{tool}: round trip does not reproduce the message")
        if tool in ("gpg", "gpged"):
            # the round trip's signature must verify (good signature by the sender's key)
            st = run(["gpg", "--batch", "--trust-model", "always", "--status-fd", "1", "-o", "/dev/null",
                      "--yes", "--decrypt", enc], env=env)[1]
            if "[GNUPG:] GOODSIG" not in st or "[GNUPG:] DECRYPTION_OKAY" not in st:
                raise RuntimeError(f"{tool}: round trip without a good signature / decryption")
        for direction in ("out", "in"):
            for workers in (1, 2):
                rates = []
                for i in range(ctx.runs):
                    errors = []

                    def worker(w):
                        try:
                            for j in range(n // workers):
                                out = ctx.work / f"peer-{tool}-{direction}-{w}.out"
                                tmp = ctx.work / f"peer-{tool}-{direction}-{w}.tmp"
                                for argv in peer_cmds(ctx, tool, direction, plain if direction == "out" else enc,
                                                      out, tmp):
                                    run(argv, env=env)
                        except Exception as e:  # noqa: BLE001 - reported below
                            errors.append(e)
                    t0 = time.perf_counter()
                    ts = [threading.Thread(target=worker, args=(w,)) for w in range(workers)]
                    for t in ts:
                        t.start()
                    for t in ts:
                        t.join()
                    if errors:
                        raise errors[0]
                    rates.append((n // workers) * workers / (time.perf_counter() - t0))
                R.add("peers", f"peer_{tool}_{direction}_w{workers}", "msgs/s", rates,
                      f"{tool} per message, {n} msgs, {workers} worker(s)")
                log(f"peers: {tool} {direction} {workers} worker(s): {statistics.median(rates):.0f} msgs/s")
    run(["gpgconf", "--kill", "all"], env=ctx.peer_env, check=False)


# ---------------------------------------------------------------- report

def machine():
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) / 1024 / 1024
    osr = "?"
    try:
        osr = re.search(r'PRETTY_NAME="([^"]+)"', Path("/etc/os-release").read_text()).group(1)
    except (OSError, AttributeError):
        pass
    return os.cpu_count(), cpu, mem, osr


def versions(ctx):
    v = {}
    for name, argv in (("openssl", ["openssl", "version"]), ("gpg", ["gpg", "--version"]),
                       ("python", [sys.executable, "--version"])):
        try:
            v[name] = run(argv, check=False)[1].splitlines()[0]
        except Exception:  # noqa: BLE001
            v[name] = "?"
    cache = ctx.bin.parent.parent / "CMakeCache.txt"
    bt = "?"
    if cache.exists():
        m = re.search(r"^CMAKE_BUILD_TYPE:STRING=(.*)$", cache.read_text(errors="replace"), re.M)
        bt = m.group(1) if m else "?"
    v["build"] = bt
    try:
        v["commit"] = run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], check=False)[1].strip()
        dirty = run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"], check=False)[1]
        if dirty.strip():
            v["commit"] += " (working tree with uncommitted changes)"
    except Exception:  # noqa: BLE001
        v["commit"] = "?"
    return v


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def best_of(prefix, sessions=(1, 20, 100)):
    best = None
    for c in sessions:
        v = R.med(f"{prefix}_c{c}")
        if v is not None and (best is None or v > best[0]):
            best = (v, c)
    return best


def ceilings():
    """Whole-gateway ceilings, msgs/s on 2 cores: cores / (SMTP CPU per msg at 20 sessions,
    both ends + crypto CPU per msg). SMTP CPU from the loadgen -> smtp-sink run (same client
    as the mailseal rows) and, for comparison, from smtp-source -> smtp-sink (peers.sh)."""
    cores = os.cpu_count()
    out = {}
    # SMTP CPU per message: of the client and sink processes themselves ("lg", "ss": robust
    # when other jobs share the machine), and of the whole machine from /proc/stat ("lgm")
    for t, key in (("lg", "smtp_lg_owncpu_c20"), ("ss", "smtp_ss_owncpu_c20"), ("lgm", "smtp_lg_cpu_c20")):
        smtp = R.med(key)
        for direction in ("out", "in"):
            for alg in SMIME_ALGS + PGP_ALGS:
                for rc in (1, 5):
                    c = crypto_cost_us(direction, alg, rc)
                    if c is None:
                        continue
                    out[(t, direction, alg, rc, "crypto")] = c
                    if smtp is not None:
                        out[(t, direction, alg, rc)] = cores * 1e6 / (smtp + c)
                        # what the bench box can show: the client and the sink run on the
                        # same cores, i.e. one more SMTP leg per message
                        out[(t, direction, alg, rc, "box")] = cores * 1e6 / (2 * smtp + c)
    return out


def verdict(ok):
    return "**met**" if ok else "**not met**"


def report(ctx, sections, started, elapsed):
    ncpu, cpu, mem, osr = machine()
    v = versions(ctx)
    L = []
    a = L.append
    a("# mailseal benchmarks")
    a("")
    a("Written by `bench/run.py` (see [bench/README.md](../bench/README.md) for what each section "
      "measures and how). Every figure is the median (min–max) of the runs shown; ratios use medians. "
      "All processes run on this machine over 127.0.0.1, so load generator, sink and mailseal share "
      "the same cores.")
    a("")
    a(f"* date: {started.strftime('%Y-%m-%d %H:%M UTC')}, run time {elapsed / 60:.1f} min")
    a(f"* machine: {ncpu} cores, {cpu}, {mem:.0f} GiB RAM, {osr}")
    a(f"* software: {v['openssl']}; {v['gpg']}; Postfix smtp-source/smtp-sink; {v['python']}")
    a(f"* mailseal: `{ctx.bin.relative_to(ROOT) if ctx.bin.is_relative_to(ROOT) else ctx.bin}` "
      f"(CMAKE_BUILD_TYPE={v['build']}), commit {v['commit']}")
    cmd = "python3 " + shlex.join(["bench/run.py"] + sys.argv[1:])
    a(f"* command: `{cmd}`")
    a(f"* runs per figure: {ctx.runs}{' (quick mode: figures not meaningful)' if ctx.quick else ''}")
    bgs = ", ".join(f"{k} {v:.2f}" for k, v in R.bg.items())
    a(f"* background load (cores busy with other processes, 1 s sample before each section): {bgs}")
    a("")
    ce = ceilings()

    # ---- targets
    a("## Targets (issue 7)")
    a("")
    a("| target | measured | verdict |")
    a("|---|---|---|")
    targets = []
    # the fastest per-message CLI peer of this run, any tool and key kind (issue 7: "the
    # fastest per-message command-line peer")
    peer_out = max([(R.med(f"peer_{t}_out_w{w}") or 0, f"{t} {w}w") for t in PEER_TOOLS for w in (1, 2)])
    peer_in = max([(R.med(f"peer_{t}_in_w{w}") or 0, f"{t} {w}w") for t in PEER_TOOLS for w in (1, 2)])
    for direction, pre, peer in (("out", "seal_rsa_r1", peer_out), ("in", "open_rsa_r1", peer_in)):
        best = best_of(pre)
        ceil = ce.get(("lg", direction, "rsa", 1))
        name = "outbound seal" if direction == "out" else "inbound open"
        if best:
            r = ratio(best[0], ceil)
            a(f"| {name} S/MIME RSA-2048, 10 KB, 1 rcpt ≥ 50 % of the whole-gateway ceiling "
              f"({fmt(ceil)} msgs/s) | {fmt(best[0])} msgs/s at {best[1]} sessions = "
              f"{fmt(100 * r) if r else '–'} % | {verdict(r is not None and r >= 0.5) if r else '–'} |")
            rp = ratio(best[0], peer[0]) if peer[0] else None
            if rp:
                a(f"| {name} ≥ 15 × the fastest per-message CLI peer measured in this run "
                  f"({peer[1]}, {fmt(peer[0])} msgs/s) | {fmt(rp)} × | {verdict(rp >= 15)} |")
            else:
                a(f"| {name} ≥ 15 × the fastest per-message CLI peer | peers not measured in "
                  "this run | – |")
        else:
            a(f"| {name} S/MIME RSA-2048 | not measured in this run | – |")
    # OpenPGP with Ed25519/Cv25519: at least 50 % of its whole-gateway ceiling (10 KB, 1 rcpt,
    # as the S/MIME target); outbound is the target, inbound is held to the same ratio as the
    # S/MIME target is ("Inbound open: the same ratios")
    for direction, pre in (("out", "seal_ed_r1"), ("in", "open_ed_r1")):
        best = best_of(pre)
        ceil = ce.get(("lg", direction, "ed", 1))
        name = "outbound seal" if direction == "out" else "inbound open"
        if best:
            r = ratio(best[0], ceil)
            a(f"| {name} OpenPGP Ed25519/Cv25519, 10 KB, 1 rcpt ≥ 50 % of its whole-gateway ceiling "
              f"({fmt(ceil)} msgs/s) | {fmt(best[0])} msgs/s at {best[1]} sessions = "
              f"{fmt(100 * r) if r else '–'} % | {verdict(r >= 0.5) if r else '–'} |")
        else:
            a(f"| {name} OpenPGP Ed25519/Cv25519 ≥ 50 % of its whole-gateway ceiling "
              f"({fmt(ceil)} msgs/s) | not measured in this run | – |")
    worst = None
    for k, f in R.fig.items():
        if k.startswith("lat_") and k.endswith("_add_p99"):
            v = statistics.median(f["values"])
            if worst is None or v > worst[0]:
                worst = (v, k[4:-8])
    if worst:
        a(f"| added latency p99 < 20 ms at half the maximum rate | worst case {fmt(worst[0])} ms "
          f"({worst[1].replace('_', ' ')}) | {verdict(worst[0] < 20)} |")
    else:
        a("| added latency p99 < 20 ms | not measured in this run | – |")
    lr, lro = R.med("large_seal_100m"), R.med("large_open_100m")
    for label, k in (("seal", "large_seal_100m"), ("open", "large_open_100m"),
                     ("OpenPGP seal", "large_ed_seal_100m"), ("OpenPGP open", "large_ed_open_100m")):
        rate, hwm = R.med(k), R.med(k + "_hwm")
        if rate is None:
            continue
        ceil = R.med(k + "_ceiling")
        bound = f" (this harness's ceiling: {fmt(ceil * 1.048576)} MB/s)" if ceil else ""
        a(f"| 100 MB {label} ≥ 150 MB/s | {fmt(rate * 1.048576)} MB/s{bound} | {verdict(rate * 1.048576 >= 150)} |")
        a(f"| 100 MB {label}: daemon peak memory < 128 MB | {fmt(hwm)} MiB VmHWM | {verdict(hwm * 1.048576 < 128)} |")
    if lr is None and lro is None:
        a("| large messages | not measured in this run | – |")
    ir = R.med("idle_rss")
    if ir is not None:
        n = R.fig["idle_rss"].get("n", 2000)
        a(f"| {n} idle sessions: daemon memory < 256 MB | {fmt(ir)} MiB VmRSS | {verdict(ir * 1.048576 < 256)} |")
    a("")
    a("MB in the targets is read as 10^6 bytes; memory is shown in MiB (the verdict converts).")
    a("")

    # ---- ceilings
    if "speed" in sections or "smtp" in sections:
        a("## 1. Ceilings")
        a("")
    if any(k.startswith("speed_") for k in R.fig):
        a("### Crypto primitives (`openssl speed -mr -seconds 1`)")
        a("")
        a("| operation | 1 core | 2 cores (`-multi 2`) |")
        a("|---|---|---|")
        rows = [("RSA-2048 sign (private-key op), ops/s", "rsa2048_sign"),
                ("RSA-2048 verify (public-key op), ops/s", "rsa2048_verify"),
                ("ECDSA P-256 sign, ops/s", "ecdsap256_sign"),
                ("ECDSA P-256 verify, ops/s", "ecdsap256_verify"),
                ("ECDH P-256 derive, ops/s", "ecdhp256_derive"),
                ("RSA-3072 sign (private-key op), ops/s", "rsa3072_sign"),
                ("RSA-3072 verify (public-key op), ops/s", "rsa3072_verify"),
                ("Ed25519 sign, ops/s", "ed25519_sign"),
                ("Ed25519 verify, ops/s", "ed25519_verify"),
                ("X25519 derive, ops/s", "x25519_derive")]
        for label, k in rows:
            a(f"| {label} | {cell('speed_' + k)} | {cell('speed_' + k + '_x2')} |")
        for label, k in (("AES-256-CBC encrypt, MB/s (16 KB blocks, `-evp`)", "aes-256-cbc"),
                         ("AES-256-GCM, MB/s", "aes-256-gcm"), ("SHA-256, MB/s", "sha256"),
                         ("base64 encode (coreutils), MB/s of input", "base64_enc"),
                         ("base64 decode (coreutils), MB/s of base64 text", "base64_dec")):
            a(f"| {label} | {cell('speed_' + k)} | – |")
        a("")
    if any(k.startswith("smtp_") for k in R.fig):
        a("### SMTP ceiling: client → smtp-sink, no mailseal, 10 KB, one connection per message")
        a("")
        a("| sessions | loadgen msgs/s | CPU µs/msg (machine) | CPU µs/msg (client+sink only) | p50 / p99 ms | "
          "smtp-source msgs/s | CPU µs/msg (machine) |")
        a("|---|---|---|---|---|---|---|")
        for c in (1, 20, 100):
            a(f"| {c} | {cell(f'smtp_lg_c{c}')} | {cell(f'smtp_lg_cpu_c{c}')} | {cell(f'smtp_lg_owncpu_c{c}')} | "
              f"{fmt(R.med(f'smtp_lg_p50_c{c}'))} / {fmt(R.med(f'smtp_lg_p99_c{c}'))} | "
              f"{cell(f'smtp_ss_c{c}')} | {cell(f'smtp_ss_cpu_c{c}')} |")
        a("")
    if ce:
        a("### Computed ceilings")
        a("")
        a("Crypto CPU per message on one core (10 KB, model of peers.sh): outbound = 1 private-key "
          "op + 1 public-key op per recipient (EC: ephemeral key generation + derive = 2 ECDH ops per "
          "recipient) + S·(1/SHA-256 + 1/AES-256-CBC + 1.37/base64-enc); inbound = 1 private-key op "
          "(RSA decrypt / ECDH) + 1 verify + S·(1.37/base64-dec + 1/AES-256-CBC + 1/SHA-256). "
          "OpenPGP Ed25519/Cv25519: Ed25519 sign / verify and X25519 (2 ops per recipient outbound, 1 "
          "inbound); OpenPGP RSA-3072: as RSA with RSA-3072 operations; AES-256-CFB and the armor are "
          "costed as AES-256-CBC and base64. "
          "**Whole-gateway ceiling** = 2 cores / (SMTP CPU per message at 20 sessions, both ends, "
          "+ crypto CPU per message), as peers.sh computes it. The SMTP CPU used for the targets is "
          "that of the loadgen and smtp-sink processes themselves (utime+stime): on this shared machine "
          "the /proc/stat figure also counts other people's jobs, which would inflate the SMTP cost and "
          "*lower* the ceiling (the /proc/stat-based ceiling is shown for comparison; with a quiet "
          "machine the two agree). The last column also "
          "charges a second SMTP leg: on this box the load generator and the sink share the 2 cores "
          "with mailseal, so that is the most a gateway could show *in this harness*.")
        a("")
        a(f"SMTP CPU per message at 20 sessions: loadgen+sink processes {cell('smtp_lg_owncpu_c20')} µs, "
          f"whole machine (/proc/stat) {cell('smtp_lg_cpu_c20')} µs; smtp-source+sink processes "
          f"{cell('smtp_ss_owncpu_c20')} µs, whole machine {cell('smtp_ss_cpu_c20')} µs.")
        a("")
        a("| case | crypto µs/msg | **ceiling**, msgs/s (loadgen+sink CPU) | ceiling (/proc/stat) | "
          "ceiling (smtp-source+sink CPU) | harness bound (2 legs) |")
        a("|---|---|---|---|---|---|")
        for direction in ("out", "in"):
            for alg, an in ALG_LABEL.items():
                for rc in (1, 5):
                    if ("lg", direction, alg, rc, "crypto") not in ce:
                        continue
                    a(f"| {'outbound' if direction == 'out' else 'inbound'} {an}, {rc} rcpt | "
                      f"{fmt(ce[('lg', direction, alg, rc, 'crypto')])} | **{fmt(ce.get(('lg', direction, alg, rc)))}** | "
                      f"{fmt(ce.get(('lgm', direction, alg, rc)))} | {fmt(ce.get(('ss', direction, alg, rc)))} | {fmt(ce.get(('lg', direction, alg, rc, 'box')))} |")
        a("")

    # ---- relay, seal, open
    def thr_table(title, prefixes, note):
        if not any(R.has(f"{p}_c{c}") for p, _, _ in prefixes for c in (1, 20, 100)):
            return
        a(title)
        a("")
        a(note)
        a("")
        a("| case | sessions | msgs/s | mailseal CPU µs/msg | machine CPU µs/msg | p50 / p99 ms | "
          "÷ ceiling | ÷ fastest peer |")
        a("|---|---|---|---|---|---|---|---|")
        for p, label, ck in prefixes:
            for c in (1, 20, 100):
                k = f"{p}_c{c}"
                if not R.has(k):
                    continue
                ceil = ce.get(ck) if ck else None
                peer = (peer_out if "seal" in p else peer_in)[0] if ck else None
                lat = (f"{fmt(R.med(k + '_p50'))} / {fmt(R.med(k + '_p99'))}" if R.has(k + "_p50") else "–")
                rc = f"{fmt(100 * ratio(R.med(k), ceil))} %" if ratio(R.med(k), ceil) else "–"
                rp = f"{fmt(ratio(R.med(k), peer))} ×" if ratio(R.med(k), peer) else "–"
                a(f"| {label} | {c} | {cell(k)} | {cell(k + '_gwcpu')} | {cell(k + '_cpu')} | {lat} | {rc} | {rp} |")
        a("")

    thr_table("## 2. mailseal proxy relay, no crypto (loadgen → mailseal → smtp-sink)",
              [("relay_r1", "relay, 10 KB, 1 rcpt", None)],
              "The inside listener without `[seal]`: SMTP in, SMTP out, reply after the next hop's reply. "
              "Compare with the SMTP ceiling rows (one leg) above.")
    thr_table("## 3. Outbound seal (S/MIME and OpenPGP, sign + encrypt)",
              [(f"seal_{alg}_r{rc}", f"{ALG_LABEL[alg]}, {rc} rcpt", ("lg", "out", alg, rc))
               for alg in SMIME_ALGS + PGP_ALGS for rc in (1, 5)],
              "10 KB messages into the inside listener, next hop smtp-sink. 1 recipient: mailseal-loadgen; "
              "5 recipients (one To: header, one copy encrypted to 5 certificates): `smtp-source -r 5` "
              "(no latency figures). Ceiling and peer ratios use the medians; the peer is the fastest "
              "per-message CLI measured in this run (section 8). S/MIME: `aes-256-cbc`, detached signature "
              "(the defaults). OpenPGP: `[seal] formats = [\"openpgp\"]`, keys from `mailseal keys generate "
              "--openpgp` (Ed25519 + Cv25519 subkey, or `--algorithm rsa3072`); RFC 3156 PGP/MIME, signed and "
              "encrypted in one OpenPGP message (AES-256, SHA-256, MDC).")
    thr_table("## 4. Inbound open (S/MIME and OpenPGP, decrypt + verify)",
              [(f"open_{alg}_r{rc}", f"{ALG_LABEL[alg]}, {rc} rcpt", ("lg", "in", alg, rc))
               for alg in SMIME_ALGS + PGP_ALGS for rc in (1, 5)],
              "The sealed messages were produced by a seal gateway into a Maildir and checked to open "
              "with `verdict=valid`; they are replayed into the outside listener of a gateway whose store "
              "holds the recipients' secret keys and the CA as trust anchor (OpenPGP: the sender's key is "
              "in the same store, and the check also requires `format=openpgp`). 5-rcpt messages are sent "
              "with `smtp-source -r 5` to the 5 internal recipients.")

    if R.has("queue_seal_rsa_r1_c20") or R.has("queue_seal_rsa_r1_c100"):
        a("## 4b. Queue mode: outbound seal, store and forward (S/MIME RSA-2048, 10 KB, 1 rcpt)")
        a("")
        a("`[inside] mode = \"queue\"`: the client gets `250 ... queued as ID` once the sealed copy is "
          "written, fsynced and renamed into the spool; the scheduler then delivers it to smtp-sink. "
          "Acknowledged = the client's rate (p50/p99: end of DATA to the 250); delivered = messages over "
          "the time from the first connect until the spool is empty again. CPU per message covers both.")
        a("")
        a("| sessions | acknowledged msgs/s | delivered msgs/s | mailseal CPU µs/msg | machine CPU µs/msg | "
          "p50 / p99 ms | proxy mode msgs/s (section 3) |")
        a("|---|---|---|---|---|---|---|")
        for c in (20, 100):
            k = f"queue_seal_rsa_r1_c{c}"
            if not R.has(k):
                continue
            a(f"| {c} | {cell(k)} | {cell(k + '_delivered')} | {cell(k + '_gwcpu')} | {cell(k + '_cpu')} | "
              f"{fmt(R.med(k + '_p50'))} / {fmt(R.med(k + '_p99'))} | "
              f"{cell(f'seal_rsa_r1_c{c}') if R.has(f'seal_rsa_r1_c{c}') else '–'} |")
        a("")

    # ---- latency
    if any(k.startswith("lat_") for k in R.fig):
        a("## 5. Latency mailseal adds (end of DATA → reply), at half the maximum rate")
        a("")
        a("Offered rate = half the median msgs/s of the same case above (loadgen `--rate`); "
          "the baseline is loadgen → smtp-sink directly at the same rate and concurrency; "
          "added = mailseal figure − baseline figure (per run, then the median).")
        a("")
        a("| case | sessions | offered msgs/s | mailseal p50 / p99 ms | direct p50 / p99 ms | "
          "added p50 ms | added p99 ms | p99 < 20 ms |")
        a("|---|---|---|---|---|---|---|---|")
        for name, label in (("relay", "relay, no crypto"), ("seal_rsa", "seal RSA-2048, 1 rcpt"),
                            ("open_rsa", "open RSA-2048, 1 rcpt")):
            for c in (1, 20, 100):
                k = f"lat_{name}_c{c}"
                if not R.has(k + "_add_p99"):
                    continue
                a(f"| {label} | {c} | {fmt(R.med(k + '_rate'))} | {fmt(R.med(k + '_gw_p50'))} / "
                  f"{fmt(R.med(k + '_gw_p99'))} | {fmt(R.med(k + '_sink_p50'))} / {fmt(R.med(k + '_sink_p99'))} | "
                  f"{cell(k + '_add_p50')} | {cell(k + '_add_p99')} | {verdict(R.med(k + '_add_p99') < 20)} |")
        a("")
        a("| OpenPGP seal/open latency at half the maximum rate | – | " + PGP_NOT_HERE + " | | | | | |")
        a("")

    # ---- large
    if any(k.startswith("large_") for k in R.fig):
        a("## 6. Large messages (S/MIME RSA-2048 and OpenPGP Ed25519/Cv25519, 1 rcpt, 1 session)")
        a("")
        a("MiB/s = plaintext MiB × messages / loadgen wall time (connect to last reply, including "
          "the transfer into mailseal and from mailseal to smtp-sink). A fresh daemon per size and "
          "direction, so VmHWM is per case; `max_message_size = \"400M\"`. **Ceiling**: the same "
          "messages sent by the loadgen straight into smtp-sink in the same run, the input as the "
          "client sends it and the output as the next hop gets it; the ceiling is the size divided "
          "by max(smtp-sink's CPU for the output, (loadgen CPU for the input + smtp-sink CPU for "
          "the output + the symmetric crypto of section 1's model) / 2 cores): what a gateway that "
          "cost nothing beyond that crypto could reach here. The targets are in MB (10^6 bytes): "
          "150 MB/s = 143 MiB/s.")
        a("")
        a("| keys | direction | size | MiB/s | mailseal CPU s/msg | loadgen → smtp-sink alone, input, "
          "MiB/s | smtp-sink CPU s for the output | **ceiling** MiB/s | ÷ ceiling | daemon peak VmHWM "
          "MiB | daemon idle VmRSS MiB | ≥ 150 MB/s | peak < 128 MB |")
        a("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for alg, prefix in LARGE_ALGS:
            for d in ("seal", "open"):
                for mb in (1, 20, 100):
                    k = f"{prefix}_{d}_{mb}m"
                    if not R.has(k):
                        continue
                    big = mb == 100
                    ceil = R.med(k + "_ceiling")
                    share = f"{R.med(k) / ceil * 100:.1f} %" if ceil else "–"
                    keys = "OpenPGP Ed25519/Cv25519" if alg == "ed" else "S/MIME RSA-2048"
                    a(f"| {keys} | {d} | {mb} MiB | {cell(k)} | {cell(k + '_gwcpu')} | "
                      f"{cell(k + '_direct')} | {cell(k + '_sink_out')} | {fmt(ceil)} | {share} | "
                      f"{fmt(R.med(k + '_hwm'))} | {fmt(R.med(k + '_idle'))} | "
                      f"{verdict(R.med(k) * 1.048576 >= 150) if big else '–'} | "
                      f"{verdict(R.med(k + '_hwm') * 1.048576 < 128) if big else '–'} |")
        a("")

    if R.has("idle_rss"):
        n = R.fig["idle_rss"].get("n", 2000)
        a(f"## 7. {n} concurrent idle SMTP sessions")
        a("")
        a("Sockets opened to the inside listener, greeting read, held 2 s (`max_connections_per_client` "
          "raised, `RLIMIT_NOFILE` of the daemon raised); the daemon runs seal + open with the RSA store.")
        a("")
        a("| figure | value |")
        a("|---|---|")
        a(f"| daemon VmRSS before | {cell('idle_base')} MiB |")
        a(f"| daemon VmRSS with {n} sessions | {cell('idle_rss')} MiB |")
        a(f"| daemon VmHWM | {cell('idle_hwm')} MiB |")
        a(f"| per session | {cell('idle_per_session')} KiB |")
        a("")

    if any(k.startswith("peer_") for k in R.fig):
        a("## 8. Peers: a process per message, 10 KB, msgs/s")
        a("")
        a("`openssl cms -sign` then `openssl cms -encrypt -aes256` (2 processes) / `-decrypt` then "
          "`-verify -CAfile`; `gpg --batch --trust-model always --armor --sign --encrypt` / "
          "`gpg --decrypt`, RSA-2048 and Ed25519/Cv25519 keys, temporary GNUPGHOME; `sq encrypt "
          "--recipient-cert --signer-key` / `sq decrypt --recipient-key --signer-cert` (exit 0 only with a "
          "good signature), the Ed25519/Cv25519 keys exported from that GNUPGHOME. Each validated by a "
          "round trip (gpg: GOODSIG and DECRYPTION_OKAY). The fastest row (any tool, key kind and "
          "worker count) is the peer of the ratios above.")
        a("")
        a("| tool | out, 1 worker | out, 2 workers | in, 1 worker | in, 2 workers |")
        a("|---|---|---|---|---|")
        for t, (label, _) in PEER_TOOLS.items():
            if not any(R.has(f"peer_{t}_{d}_w{w}") for d in ("out", "in") for w in (1, 2)):
                continue
            a(f"| {label} | {cell(f'peer_{t}_out_w1')} | {cell(f'peer_{t}_out_w2')} | "
              f"{cell(f'peer_{t}_in_w1')} | {cell(f'peer_{t}_in_w2')} |")
        a("")

    if R.notes:
        a("## Notes from the run")
        a("")
        for n in R.notes:
            a(f"* {n}")
        a("")

    a("## All figures")
    a("")
    a("<details><summary>every recorded figure (key, unit, median, min, max, runs)</summary>")
    a("")
    a("| key | unit | median | min | max | runs | note |")
    a("|---|---|---|---|---|---|---|")
    for k, f in R.fig.items():
        vals = f["values"]
        a(f"| {k} | {f['unit']} | {fmt(statistics.median(vals))} | {fmt(min(vals))} | {fmt(max(vals))} | "
          f"{len(vals)} | {f['note']} |")
    a("")
    a("</details>")
    a("")
    return "\n".join(L)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke run: 1 run per figure, small counts")
    ap.add_argument("--sections", nargs="+", choices=ALL_SECTIONS, default=ALL_SECTIONS)
    ap.add_argument("--out", help="write the Markdown report here (e.g. docs/BENCHMARKS.md)")
    ap.add_argument("--bin", default=str(ROOT / "build/src/mailseal"))
    ap.add_argument("--loadgen", default=str(ROOT / "build/bench/mailseal-loadgen"))
    ap.add_argument("--runs", type=int, help="runs per figure (default 3, quick 1)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--json", help="also dump every figure as JSON here")
    ap.add_argument("--quiet-wait", type=float, default=0.0,
                    help="before each section wait up to this many seconds for other processes "
                         "to use < 0.3 cores")
    args = ap.parse_args()

    ctx = Ctx(args)
    for exe in (ctx.bin, ctx.loadgen):
        if not os.access(exe, os.X_OK):
            sys.exit(f"not found or not executable: {exe} (build it first, see bench/README.md)")
    tools = {"speed": ["openssl", "base64"], "smtp": ["smtp-sink", "smtp-source"], "peers": ["openssl", "gpg"]}
    for s in args.sections:
        for t in tools.get(s, ["smtp-sink"]):
            if shutil.which(t) is None:
                sys.exit(f"section {s} needs {t} (apt-get install postfix gnupg openssl)")

    def on_signal(sig, frame):
        raise SystemExit(f"stopped by signal {sig}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    atexit.register(lambda: (PROCS.stop_all(), None if args.keep else shutil.rmtree(ctx.work, ignore_errors=True)))

    started = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.time()
    log(f"work dir {ctx.work}; sections {' '.join(args.sections)}; {ctx.runs} run(s) per figure")
    messages_setup(ctx)
    sections = [s for s in ALL_SECTIONS if s in args.sections]
    funcs = {"speed": section_speed, "smtp": section_smtp, "relay": section_relay, "seal": section_seal,
             "open": section_open, "queue": section_queue, "latency": section_latency, "large": section_large,
             "idle": section_idle, "peers": section_peers}
    for s in sections:
        R.bg[s] = bg_load()
        waited = 0.0
        while R.bg[s] > 0.3 and waited < args.quiet_wait:
            time.sleep(4.0)
            waited += 5.0
            R.bg[s] = bg_load()
        if waited:
            log(f"waited {waited:.0f} s for a quieter machine")
        if R.bg[s] > 0.25:
            R.notes.append(f"section {s} started while other processes kept {R.bg[s]:.2f} cores busy")
        log(f"== {s} (background load {R.bg[s]:.2f} cores)")
        ts = time.time()
        try:
            funcs[s](ctx)
        except (RuntimeError, OSError, subprocess.SubprocessError) as e:
            R.notes.append(f"section {s} failed: {str(e).splitlines()[0][:300]}")
            log(f"section {s} FAILED: {e}")
        log(f"   {s} took {time.time() - ts:.0f} s")
    R.bg["end"] = bg_load()
    # runs where other processes were busy
    for k, f in R.fig.items():
        if k.endswith("_bg") and max(f["values"]) > 0.3:
            R.notes.append(f"{k[:-3]}: other processes used up to {max(f['values']):.2f} cores during a run")
    elapsed = time.time() - t0
    if args.json:  # first: the figures survive a failing report
        Path(args.json).write_text(json.dumps({k: f for k, f in R.fig.items()}, indent=1))
    text = report(ctx, sections, started, elapsed)
    print(text)
    if args.out:
        out = Path(args.out)
        kept = ""
        if out.exists():
            old = out.read_text()
            if KEEP_MARKER in old:
                kept = old.split(KEEP_MARKER, 1)[1]
        out.write_text(text + "\n" + KEEP_MARKER + kept if kept else text + "\n" + KEEP_MARKER + "\n")
        log(f"wrote {out}")
    log(f"done in {elapsed / 60:.1f} min")


if __name__ == "__main__":
    main()
