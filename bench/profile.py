#!/usr/bin/env python3
"""Instructions per message of one mailseal path, under callgrind (load-independent).

    python3 bench/profile.py --bin build/src/mailseal --loadgen build/bench/mailseal-loadgen \
        --alg rsa --direction seal -n 50 [--out cg.out] [--top 25]

Sets up the same keys and messages as bench/run.py (its functions are reused), starts
`mailseal serve` under `valgrind --tool=callgrind`, sends 10 warm-up messages (caches
filled, connections made), zeroes the counters, sends N messages of 10 KB to 1 recipient
over one session and prints the daemon's instructions per message, then the functions
with the most inclusive cost (callgrind_annotate). Instruction counts do not depend on
what else the machine is doing, so two builds can be compared on a busy machine where
messages per second cannot. --alg: rsa, ec (S/MIME), pgp, pgprsa (OpenPGP).

    python3 bench/profile.py --perf [--sessions 100] -n 4000 --alg rsa --direction seal

--perf runs the daemon as it is (no valgrind) under `perf record -g` while N messages
come over --sessions parallel sessions, and prints the daemon's CPU per message split
into user and kernel time (from /proc/PID/stat), its context switches per message, and
the symbols with the most samples (user and kernel). Unlike the instruction counts these
depend on the machine being quiet; they show what callgrind cannot: system calls,
wake-ups and lock hand-offs.
"""
import argparse
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as B  # noqa: E402  (bench/run.py: keys_setup, Gateway, loadgen ...)


def total_instructions(out_file):
    r = subprocess.run(["callgrind_annotate", "--inclusive=no", str(out_file)], capture_output=True,
                       text=True, check=True)
    m = re.search(r"^\s*([\d,]+)\s+\(100\.0%\)\s+PROGRAM TOTALS", r.stdout, re.M)
    if not m:
        raise RuntimeError("callgrind_annotate printed no PROGRAM TOTALS")
    return int(m.group(1).replace(",", "")), r.stdout


def proc_times(pid):
    """user and system CPU seconds and context switches (voluntary + not) of a process."""
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    switches = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with open(task / "status") as f:
            for line in f:
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    switches += int(line.split()[1])
    return int(rest[11]) / B.HZ, int(rest[12]) / B.HZ, switches


def setup_inputs(ctx, a):
    """Keys and the message to send, as bench/run.py makes them: (state dir, message)."""
    B.messages_setup(ctx)
    state = B.keys_setup(ctx, a.alg)
    if a.size_mb and a.direction == "open":
        B.seal_inputs(ctx, a.alg, [a.size_mb])
        return state, ctx.sealed[(a.alg, f"{a.size_mb}m", 1)]
    if a.size_mb:
        return state, B.large_message(ctx, a.size_mb)
    if a.direction == "open":
        B.seal_inputs(ctx, a.alg)
        return state, ctx.sealed[(a.alg, "10k", 1)]
    return state, ctx.msgs[("plain", 1)]


def start_gateway(ctx, a, state, sink, **kw):
    """A daemon sealing (inside) or opening (outside) into the sink; (gateway, port)."""
    gw = B.Gateway(ctx, state, B.smtp_hop(sink.port), B.smtp_hop(sink.port), seal=a.direction == "seal",
                   open_=a.direction == "open", formats=B.seal_formats(a.alg) if a.direction == "seal" else None,
                   **kw)
    return gw, gw.inside if a.direction == "seal" else gw.outside


def print_timeline(data, step=0.1):
    """Samples per daemon thread per `step` seconds (perf samples at 999 Hz, so 100 in a
    0.1 s row is one busy core): which stage runs when, and what waits for what."""
    out = subprocess.run(["perf", "script", "-i", str(data), "-F", "tid,time"],
                         capture_output=True, text=True).stdout
    rows, tids = {}, set()
    for line in out.splitlines():
        parts = line.replace(":", " ").split()
        if len(parts) < 2:
            continue
        tid, t = int(parts[0]), float(parts[1])
        rows.setdefault(int(t / step), {}).setdefault(tid, 0)
        rows[int(t / step)][tid] += 1
        tids.add(tid)
    order = sorted(tids)
    print(f"-- samples per thread per {step} s (threads: {' '.join(map(str, order))})")
    first = min(rows) if rows else 0
    for b in range(first, max(rows) + 1 if rows else 0):
        counts = rows.get(b, {})
        print(f"  +{(b - first) * step:5.1f} s  " + " ".join(f"{counts.get(t, 0):4d}" for t in order))


def perf_main(ctx, a):
    try:
        state, msg = setup_inputs(ctx, a)
        sink = B.Sink(ctx.work)
        gw, port = start_gateway(ctx, a, state, sink, max_size="400M")
        warm = 1 if a.size_mb else max(200, a.n // 10)  # a large message: one is enough
        B.loadgen(ctx, port, a.sessions, warm, str(msg) + ".crlf")
        data = ctx.work / "perf.data"
        graph = ["--call-graph", "dwarf,16384"] if a.dwarf else ["-g"]
        perf = subprocess.Popen(["perf", "record", "-q", *graph, "-F", "999", "-p", str(gw.pid), "-o", str(data)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        u0, s0, c0 = proc_times(gw.pid)
        r = B.loadgen(ctx, port, a.sessions, a.n, str(msg) + ".crlf")
        u1, s1, c1 = proc_times(gw.pid)
        perf.send_signal(signal.SIGINT)
        perf.wait(timeout=120)
        B.PROCS.stop(gw.proc)
        sink.stop()
        user, system = (u1 - u0) / a.n * 1e6, (s1 - s0) / a.n * 1e6
        size = f"{a.size_mb} MiB" if a.size_mb else "10 KB"
        print(f"{a.direction} {a.alg} {size} 1 rcpt, {a.sessions} sessions, {a.n} messages: "
              f"{r['msgs_per_s']:.0f} msgs/s; daemon CPU {user + system:.0f} µs/msg = user {user:.0f} "
              f"+ kernel {system:.0f}; {(c1 - c0) / a.n:.1f} context switches/msg")
        for sort, limit in (("dso", "1"), ("dso,sym", "0.5")):
            report = subprocess.run(["perf", "report", "-i", str(data), "--no-children", "--stdio", "-g", "none",
                                     "--percent-limit", limit, "--sort", sort],
                                    capture_output=True, text=True).stdout
            rows = [line for line in report.splitlines() if re.match(r"^\s+[\d.]+%", line)]
            print(f"-- samples by {sort}")
            for line in rows[:a.top]:
                print(line[:160])
        if a.timeline:
            print_timeline(data)
        print(f"perf data: {data} (kept only with --out)")
        if a.out:
            shutil.copy(data, a.out)
    finally:
        B.PROCS.stop_all()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="build/src/mailseal")
    ap.add_argument("--loadgen", default="build/bench/mailseal-loadgen")
    ap.add_argument("--alg", default="rsa", choices=["rsa", "ec", "pgp", "pgprsa"])
    ap.add_argument("--direction", default="seal", choices=["seal", "open"])
    ap.add_argument("-n", type=int, default=50, help="messages profiled (after 10 warm-up ones)")
    ap.add_argument("--size-mb", type=int, default=0,
                    help="a message of this many MiB instead of 10 KB (1 warm-up message, n counted)")
    ap.add_argument("--out", default=None, help="keep the callgrind output here")
    ap.add_argument("--top", type=int, default=25, help="functions listed by inclusive cost")
    ap.add_argument("--perf", action="store_true", help="perf record under load instead of callgrind")
    ap.add_argument("--sessions", type=int, default=100, help="--perf: parallel sessions")
    ap.add_argument("--dwarf", action="store_true", help="--perf: DWARF call graphs (user stacks; big files)")
    ap.add_argument("--timeline", action="store_true",
                    help="--perf: samples per daemon thread per 0.1 s (stages of a large message)")
    ap.add_argument("--workers", type=int, default=0, help="[server] workers of the daemon (0: its default)")
    a = ap.parse_args()
    a.alg = {"pgp": "ed"}.get(a.alg, a.alg)  # run.py's name for Ed25519/Cv25519 keys

    class Args:
        quick = True
        runs = 1
        bin = a.bin
        loadgen = a.loadgen

    ctx = B.Ctx(Args)
    if a.workers:
        config = B.gateway_config
        B.gateway_config = lambda *args, **kw: config(*args, **kw).replace(
            "[server]\n", f"[server]\nworkers = {a.workers}\n", 1)
    if a.perf:
        return perf_main(ctx, a)
    out = Path(a.out).resolve() if a.out else ctx.work / "callgrind.out"
    real_bin = ctx.bin
    # Only the daemon runs under valgrind; `mailseal keys` (setup) runs as it is.
    wrapper = ctx.work / "mailseal-under-callgrind"
    wrapper.write_text(f'#!/bin/sh\nif [ "$1" = serve ]; then exec valgrind --tool=callgrind '
                       f'--callgrind-out-file={out} {real_bin} "$@"; fi\nexec {real_bin} "$@"\n')
    wrapper.chmod(0o755)
    try:
        state, msg = setup_inputs(ctx, a)
        sink = B.Sink(ctx.work)
        ctx.bin = wrapper
        wait = B.wait_port
        B.wait_port = lambda port, proc=None, timeout=20.0: wait(port, proc, 180.0)  # valgrind starts slowly
        gw, port = start_gateway(ctx, a, state, sink, max_size="400M")
        B.wait_port = wait
        B.loadgen(ctx, port, 1, 1 if a.size_mb else 10, str(msg) + ".crlf", timeout=1800)
        subprocess.run(["callgrind_control", "-z", str(gw.pid)], check=True, stdout=subprocess.DEVNULL)
        r = B.loadgen(ctx, port, 1, a.n, str(msg) + ".crlf", timeout=1800)
        B.PROCS.stop(gw.proc, grace=120)
        sink.stop()
        # After -z the daemon dumps a part file for the zeroed interval and one at exit.
        parts = sorted(out.parent.glob(out.name + "*"))
        final = [p for p in parts if p != out and p.name.startswith(out.name + ".")] or [out]
        total, _ = total_instructions(final[-1])
        size = f"{a.size_mb} MiB" if a.size_mb else "10 KB"
        per_byte = f", {total / a.n / (a.size_mb * 1048576):.1f} per plaintext byte" if a.size_mb else ""
        print(f"{a.direction} {a.alg} {size} 1 rcpt: {total / a.n / 1e6:.2f} M instructions per message{per_byte} "
              f"({a.n} messages; {r['msgs_per_s']:.1f} msgs/s under callgrind)")
        annotated = subprocess.run(["callgrind_annotate", "--inclusive=yes", str(final[-1])],
                                   capture_output=True, text=True, check=True).stdout
        rows = [line for line in annotated.splitlines() if re.match(r"^\s*[\d,]+ \(", line)]
        for line in rows[:a.top]:
            print(line[:200])
        print(f"callgrind output: {final[-1]}")
    finally:
        B.PROCS.stop_all()


if __name__ == "__main__":
    main()
