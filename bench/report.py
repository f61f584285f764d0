#!/usr/bin/env python3
"""Turns bench results (JSON lines) into docs/PERFORMANCE.md on standard output."""
import json
import os
import platform
import subprocess
import sys
from datetime import date

# Issue 4's budget: (SQLite, PostgreSQL) requests per second; p99 under 25 ms but for password.
TARGETS = {
    "client_credentials": (5000, 3000),
    "refresh": (3000, 2000),
    "convert_google_id": (2500, 1500),
    "userinfo": (15000, 8000),
    "introspect": (10000, 6000),
}
P99_LIMIT_MS = 25.0


def machine():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kib = int(f.readline().split()[1])
            mem = f", {kib / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    return f"{os.cpu_count()} cores ({cpu}){mem}, {platform.system()} {platform.release()}, {rustc}"


def main():
    path, duration, concurrency = sys.argv[1], sys.argv[2], sys.argv[3]
    rows = [json.loads(line) for line in open(path) if line.strip().startswith("{")]
    reference = next((r for r in rows if r.get("scenario") == "argon2_reference"), None)
    out = []
    out.append("# Performance\n")
    out.append(f"Measured on {date.today().isoformat()} by `bench/run.sh` on this machine: {machine()}. "
               f"The load driver (`bench/`, HTTP only) runs on the same machine as the server, "
               f"{concurrency} connections, {duration} s per scenario, release build.\n")
    out.append("Reproduce: `bench/run.sh` (needs the PostgreSQL on 127.0.0.1:5432; "
               "`BENCH_BACKENDS=sqlite` for SQLite alone). The server reaches that PostgreSQL over the "
               "loopback with `sslmode=disable` (`BENCH_POSTGRES_PARAMS=` for libpq's default, which "
               "uses TLS when the server offers it).\n")
    if reference:
        out.append(f"One argon2id verification (m=19 MiB, t=2, p=1) takes {reference['verify_ms']} ms here, so "
                   f"{reference['cores']} cores cap the password grant at {reference['ceiling_rps']:.0f} req/s; "
                   f"the target is 90% of that.\n")
    for index, backend in enumerate(["sqlite", "postgres"]):
        results = [r for r in rows if r.get("label") == backend and "rps" in r]
        if not results:
            continue
        name = "SQLite" if backend == "sqlite" else "PostgreSQL"
        out.append(f"## {name}\n")
        out.append("| scenario | req/s | p50 ms | p90 ms | p99 ms | errors | server peak RSS MB "
                   "| CPU us/request: machine, server, database | target | met |")
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|---|---|")
        for r in results:
            scenario = r["scenario"]
            target, met = "", ""
            if scenario in TARGETS:
                need = TARGETS[scenario][index]
                target = f">= {need} req/s, p99 < {P99_LIMIT_MS:.0f} ms"
                met = "yes" if r["rps"] >= need and r["p99_ms"] < P99_LIMIT_MS else "no"
            elif scenario == "password" and reference:
                need = 0.9 * reference["ceiling_rps"]
                target = f">= {need:.0f} req/s, peak RSS < 150 MB"
                met = "yes" if r["rps"] >= need and (r.get("peak_rss_mb") or 0) < 150 else "no"
            elif scenario.startswith("convert"):
                target = f"p99 < {P99_LIMIT_MS:.0f} ms"
                met = "yes" if r["p99_ms"] < P99_LIMIT_MS else "no"
            cpu = ""
            if r.get("cpu_us_per_request") is not None:
                cpu = f"{r['cpu_us_per_request']:.0f}, {r.get('server_cpu_us_per_request') or 0:.0f}"
                if r.get("database_cpu_us_per_request") is not None:
                    cpu += f", {r['database_cpu_us_per_request']:.0f}"
            out.append(f"| {scenario} | {r['rps']:.0f} | {r['p50_ms']} | {r['p90_ms']} | {r['p99_ms']} | "
                       f"{r['errors']} | {r.get('peak_rss_mb') or ''} | {cpu} | {target} | {met} |")
        idle = results[0].get("idle_rss_mb")
        if idle:
            out.append(f"\nIdle server RSS before the first scenario: {idle} MB (target: under 40 MB).")
        out.append("")
    out.append("CPU per request is the machine's busy time (every core, the driver and PostgreSQL included), "
               "the server process's own and, for PostgreSQL, that of all its processes, over the measured "
               "window, divided by the requests: it moves less than throughput when the machine's speed "
               "drifts.\n")
    notes = os.path.join(os.path.dirname(__file__), "notes.md")
    if os.path.exists(notes):
        out.append(open(notes).read())
    print("\n".join(out))


if __name__ == "__main__":
    main()
