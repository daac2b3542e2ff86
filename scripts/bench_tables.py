"""Turns hail-loadgen's JSON lines into the Markdown tables of BENCHMARKS.md.

Usage: bench_tables.py RESULTS.jsonl BENCHMARKS.md|- REDIS_VERSION
Writes between the `<!-- bench:begin -->` and `<!-- bench:end -->` lines (adding them at the
end when missing), or to stdout with `-`.
"""

import datetime
import json
import os
import sys

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def ms(lat, key):
    return "-" if not lat else f"{lat[key]:.2f}"


def kb(n):
    return f"{n / 1024:.0f} MB" if n >= 10240 else f"{n} KB"


def tables(runs, redis_version):
    out = []
    load = os.getloadavg()
    out.append(
        f"Measured {datetime.date.today()} by `./scripts/bench.sh`: {os.cpu_count()} cores shared by "
        f"the load generator, both instances and Redis {redis_version or '(version unknown)'} "
        f"(persistence off); load average {load[0]:.1f} as the tables were written. Riders on instance A, "
        f"drivers on instance B: every position crosses instances through Redis."
    )
    for run in runs:
        mode = run["mode"]
        if mode == "rides":
            out.append("")
            out.append(
                f"**Rides**: {run['rides']} accepted rides and {run['idle']} idle sockets "
                f"(set up in {run['setup_secs']} s, sockets opened in {run['sockets_open_secs']} s). "
                "CPU is over each phase's sending window, in microseconds per delivered position "
                "(hail-a + hail-b + redis), and in % of one core."
            )
            out.append("")
            out.append(
                "| phase | offered/s | delivered | lost | refused | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms "
                "| server µs/pos (A + B + Redis) | CPU % (A / B / Redis) | load generator CPU % |"
            )
            out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
            for p in run["phases"]:
                procs = {x["name"]: x for x in p["processes"]}
                parts = " + ".join(f"{procs[n]['cpu_us_per_delivered']:.1f}" for n in procs)
                pct = " / ".join(f"{procs[n]['cpu_pct']:.0f}" for n in procs)
                lat = p["latency_ms"]
                out.append(
                    f"| {p['spec']} | {p['rate_per_s']:.0f} | {p['delivered']} of {p['sent']} | {p['lost']} "
                    f"| {p['refused']} | {ms(lat, 'p50')} | {ms(lat, 'p90')} | {ms(lat, 'p99')} "
                    f"| {ms(lat, 'p999')} | {ms(lat, 'max')} | {p['server_cpu_us_per_delivered']:.1f} ({parts}) "
                    f"| {pct} | {p['loadgen_cpu_pct']:.0f} |"
                )
            out.append("")
            out.append("| resident memory | " + " | ".join(run["rss_kb_after_setup"]) + " |")
            out.append("|---|" + "---|" * len(run["rss_kb_after_setup"]))
            for label, key in [
                ("after setting up the rides", "rss_kb_after_setup"),
                ("with every socket open", "rss_kb_with_sockets"),
                ("5 s after every socket closed", "rss_kb_after_close"),
            ]:
                out.append(f"| {label} | " + " | ".join(kb(v) for v in run[key].values()) + " |")
            for p in run["phases"]:
                b = p.get("login_burst")
                if not b:
                    continue
                during, outside = b["positions_during_ms"], b["positions_outside_ms"]
                grew = {n: b["rss_kb_after"][n] - b["rss_kb_before"][n] for n in b["rss_kb_before"]}
                out.append("")
                out.append(
                    f"**Login burst** during phase {p['spec']}: {b['n']} concurrent logins ({b['ok']} ok) "
                    f"took {b['duration_ms']} ms, login p50 {ms(b['latency_ms'], 'p50')} ms, "
                    f"p99 {ms(b['latency_ms'], 'p99')} ms; positions sent meanwhile ({b['positions_during_n']}): "
                    f"p99 {ms(during, 'p99')} ms, max {ms(during, 'max')} ms (the rest of the phase: "
                    f"p99 {ms(outside, 'p99')} ms); resident memory grew by "
                    + ", ".join(f"{n} {v} KB" for n, v in grew.items())
                    + "."
                )
        elif mode == "idle":
            per = run["bytes_per_socket_by_process"]
            out.append("")
            out.append(
                f"**Idle sockets**: {run['sockets']} logged-in sockets over A and B, opened in "
                f"{run['open_secs']} s ({run['opened_per_s']:.0f}/s, upgrade + welcome p50 "
                f"{ms(run['handshake_ms'], 'p50')} ms, p99 {ms(run['handshake_ms'], 'p99')} ms): "
                f"**{run['bytes_per_socket']} bytes of resident memory per socket** in all, the "
                "growth of every measured process over the number of sockets (shares: "
                + ", ".join(f"{n} {v}" for n, v in per.items())
                + "). Resident memory before / with / 5 s after closing: "
                + "; ".join(
                    f"{n} {kb(run['rss_kb_before'][n])} / {kb(run['rss_kb_with_sockets'][n])} / "
                    f"{kb(run['rss_kb_after_close'][n])}"
                    for n in run["rss_kb_before"]
                )
                + "."
            )
        elif mode == "session":
            lat = run["latency_ms"]
            out.append("")
            out.append(
                f"**Sessions**: {run['concurrency']} clients saved a location on A and read it on B: "
                f"{run['pairs']} pairs, {run['pairs_per_s']:.0f} pairs/s, p50 {ms(lat, 'p50')} ms, "
                f"p99 {ms(lat, 'p99')} ms, {run['mismatches']} mismatches, {run['errors']} errors."
            )
        elif mode == "page":
            lat = run["latency_ms"]
            out.append("")
            out.append(
                f"**Page**: `GET {run['path']}` logged in, one at a time: {run['requests']} requests "
                f"({run['errors']} errors), {run['requests_per_s']:.0f}/s, p50 {ms(lat, 'p50')} ms, "
                f"p90 {ms(lat, 'p90')} ms, p99 {ms(lat, 'p99')} ms."
            )
        elif mode == "wasm":
            br = "" if run["brotli"] is None else f", {run['brotli'] / 1024:.0f} KB brotli"
            out.append("")
            out.append(
                f"**WASM** (`cargo leptos build --release`, wasm-opt -Oz): {run['raw'] / 1024:.0f} KB raw, "
                f"{run['gzip'] / 1024:.0f} KB gzip -9{br}."
            )
    return "\n".join(out) + "\n"


def main():
    results, target, redis_version = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(results) as f:
        runs = [json.loads(line) for line in f if line.strip()]
    text = tables(runs, redis_version)
    if target == "-":
        sys.stdout.write(text)
        return
    with open(target) as f:
        doc = f.read()
    block = f"{BEGIN}\n{text}{END}"
    if BEGIN in doc and END in doc:
        head, rest = doc.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        doc = head + block + tail
    else:
        doc = doc.rstrip("\n") + "\n\n" + block + "\n"
    with open(target, "w") as f:
        f.write(doc)


if __name__ == "__main__":
    main()
