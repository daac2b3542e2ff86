#!/usr/bin/env python3
"""Summarises a `perf script` of the cost benchmark's profile (scripts/bench.sh,
BENCH_ONLY=profile) per process: where each one's samples go, inclusive (a sample counts for
every category one of its frames falls in), and which system calls it spends them in.

    perf script -F comm,pid,tid,time,event,ip,sym,dso -i perf.data |
        python3 benches/profile_summary.py hail-a=PID hail-b=PID redis=PID

Processes not named on the command line are shown by their pid.
"""

import collections
import re
import sys

# Inclusive categories of user-space frames, matched on the symbol, first match per frame.
CATEGORIES = [
    ("tokio: scheduler, timers, I/O driver", re.compile(r"^tokio::runtime::")),
    ("tokio: sync (mpsc, broadcast, oneshot, watch)", re.compile(r"^tokio::sync::")),
    ("redis client", re.compile(r"^redis::|^<redis::")),
    ("websocket (tungstenite, axum ws)", re.compile(r"tungstenite|axum::extract::ws")),
    ("serde_json", re.compile(r"serde_json")),
    ("hail: live sockets (server::ws)", re.compile(r"hail::server::ws")),
    ("hail: bus", re.compile(r"hail::server::bus")),
    ("hail: publisher", re.compile(r"hail::server::publisher")),
    ("hail: tracker", re.compile(r"hail::server::tracker")),
    ("hail: metrics", re.compile(r"hail::server::metrics|prometheus_client")),
    ("tracing", re.compile(r"^tracing|tracing_subscriber")),
    ("malloc and free", re.compile(r"malloc|^_int_free|^free$|^cfree|realloc|^__libc_free")),
    ("memcpy and memmove", re.compile(r"memmove|memcpy")),
    ("redis: Lua", re.compile(r"^lua|^luaV|^luaD|^evalGeneric|^luaCallFunction")),
    ("redis: PUBLISH", re.compile(r"^publishCommand|^pubsubPublishMessage")),
    ("redis: reading and parsing queries", re.compile(r"^readQueryFromClient|^processInputBuffer")),
    ("redis: writing replies", re.compile(r"^writeToClient|^handleClientsWithPendingWrites|^_writeToClient")),
]

SYSCALL = re.compile(r"^__(?:x64|se)_sys_(\w+)")


def samples(lines):
    """Yields (pid, [(symbol, dso)] leaf first) for each sample."""
    head, frames = None, []
    for line in lines:
        line = line.rstrip("\n")
        if not line:
            if head is not None:
                yield head, frames
            head, frames = None, []
        elif not line.startswith(("\t", " ")):
            match = re.match(r"^\S.*?\s+(\d+)/(\d+)\s", line)
            head = match.group(1) if match else "?"
            frames = []
        else:
            parts = line.strip().split(" ", 1)
            rest = parts[1] if len(parts) > 1 else ""
            match = re.match(r"^(.*) \((.*)\)$", rest)
            sym, dso = (match.group(1), match.group(2)) if match else (rest, "")
            sym = re.sub(r"\+0x[0-9a-f]+$", "", sym)
            frames.append((sym, dso))
    if head is not None:
        yield head, frames


def main():
    names = {}
    for arg in sys.argv[1:]:
        name, _, pid = arg.partition("=")
        names[pid] = name
    totals = collections.Counter()
    kernel = collections.Counter()
    categories = collections.defaultdict(collections.Counter)
    syscalls = collections.defaultdict(collections.Counter)
    leaves = collections.defaultdict(collections.Counter)
    for pid, frames in samples(sys.stdin):
        who = names.get(pid, pid)
        totals[who] += 1
        if frames and frames[0][1] == "[kernel.kallsyms]":
            kernel[who] += 1
        seen = set()
        call = None
        for sym, _dso in frames:
            found = SYSCALL.match(sym)
            if found and call is None:
                call = found.group(1)
            for name, pattern in CATEGORIES:
                if name not in seen and pattern.search(sym):
                    seen.add(name)
                    break
        for name in seen:
            categories[who][name] += 1
        if call is not None:
            syscalls[who][call] += 1
        elif frames and frames[0][1] == "[kernel.kallsyms]":
            syscalls[who]["(kernel, no system call frame: interrupts, scheduling, or a stack not unwound)"] += 1
        if frames:
            leaves[who][frames[0][0]] += 1
    for who, total in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"== {who}: {total} samples, {100 * kernel[who] / total:.0f} % in the kernel")
        print("   inclusive shares:")
        for name, count in categories[who].most_common():
            print(f"   {100 * count / total:5.1f} %  {name}")
        print("   system calls (and other kernel time), by the call the sample was in:")
        for name, count in syscalls[who].most_common(12):
            print(f"   {100 * count / total:5.1f} %  {name}")
        print("   hottest leaf functions:")
        for name, count in leaves[who].most_common(15):
            print(f"   {100 * count / total:5.1f} %  {name[:110]}")
        print()


if __name__ == "__main__":
    main()
