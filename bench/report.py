#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The combined report of make bench.

Reads every bench/results/*.json in the shared row format (a JSON list of
{"figure", "who", "detail", "unit", "median", "min", "max", "runs",
"target", "met", "note"}), written by bench/run.sh (core.json),
bench/peers.sh, bench/density.sh and bench/vm.sh; bench/storage.sh's rows
({"what", "median", ...}, the unit the last word of "what") are converted.
Files of any other shape are skipped, and said so.  Prints one table and
writes bench/results/summary.md and summary.json with the date and the
machine (kernel, CPUs, RAM).

"vs best peer" is a row's median over the lowest median of the peers
(every "who" that is neither vsd nor a floor) of the same figure and unit,
for figures where lower is better (every unit but rates like Gbit/s and
MB/s).

Usage: bench/report.py [RESULTS_DIR]   (default: bench/results next to it)
"""
import datetime
import glob
import json
import os
import platform
import sys

KEYS = ("figure", "who", "detail", "unit", "median", "min", "max", "runs", "target", "met", "note")
HIGHER_IS_BETTER = ("Gbit/s", "MB/s", "MiB/s", "count/s")
SKIP = ("summary.json",)


def is_vsd(who):
    return who.startswith("vsd")


def is_floor(who):
    return "floor" in who


def shared_rows(data):
    """The rows of a file in the shared format, or None."""
    if not isinstance(data, list) or not data:
        return None
    if not all(isinstance(r, dict) and "figure" in r and "who" in r and "median" in r for r in data):
        return None
    return [{k: r.get(k) for k in KEYS} for r in data]


def storage_rows(data):
    """bench/storage.sh's {"what", "median", "min", "max", "runs"} rows."""
    if not isinstance(data, list) or not data or not all(isinstance(r, dict) and "what" in r for r in data):
        return None
    rows = []
    for r in data:
        figure, _, unit = r["what"].rpartition(" ")
        who = "host (floor)" if "on the host" in figure else "vsd"
        rows.append({"figure": figure, "who": who, "detail": "bench/storage.sh", "unit": unit,
                     "median": r["median"], "min": r.get("min"), "max": r.get("max"), "runs": r.get("runs"),
                     "target": None, "met": None, "note": None})
    return rows


def load(results):
    rows, skipped = [], []
    for path in sorted(glob.glob(os.path.join(results, "*.json"))):
        name = os.path.basename(path)
        if name in SKIP:
            continue
        try:
            data = json.load(open(path))
        except (OSError, ValueError) as e:
            skipped.append(f"{name} (unreadable: {e})")
            continue
        got = shared_rows(data)
        if got is None:
            got = storage_rows(data)
        if got is None:
            skipped.append(f"{name} (not the shared row format)")
            continue
        part = name[:-5]
        for r in got:
            r["part"] = part
        rows += got
    return rows, skipped


def machine():
    mem_kib = 0
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    except OSError:
        pass
    cpu = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cg = "cgroup v2" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else (
        "cgroup v1 hybrid" if os.path.ismount("/sys/fs/cgroup/unified") else "cgroup v1")
    return {"kernel": platform.release(), "cpus": os.cpu_count(), "cpu_model": cpu,
            "ram_gib": round(mem_kib / 2**20, 1), "cgroups": cg, "hostname": platform.node()}


def fmt(v):
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (int, float)):
        a = abs(v)
        return f"{v:.0f}" if a >= 1000 else f"{v:.1f}" if a >= 100 else f"{v:.2f}"
    return str(v)


def vs_best_peer(rows):
    """Fill r["vs_best_peer"]: the ratio to the fastest peer of the same figure."""
    best = {}
    for r in rows:
        if r["median"] is None or is_vsd(r["who"]) or is_floor(r["who"]) or r["unit"] in HIGHER_IS_BETTER:
            continue
        k = (r["figure"], r["unit"])
        if k not in best or r["median"] < best[k]["median"]:
            best[k] = r
    for r in rows:
        b = best.get((r["figure"], r["unit"]))
        r["vs_best_peer"] = None
        # a memory delta can come out negative on a shared host: no ratio then
        if b is not None and r["median"] is not None and b["median"] > 0 and r["median"] >= 0:
            r["vs_best_peer"] = round(r["median"] / b["median"], 3)
            r["best_peer"] = b["who"]


def table(rows):
    head = ("figure", "who", "median", "min–max", "unit", "vs best peer", "target", "met")
    lines = ["| " + " | ".join(head) + " |", "|---|---|---:|---:|---|---:|---|---|"]
    for r in rows:
        mm = "—" if r["min"] is None else f"{fmt(r['min'])}–{fmt(r['max'])}"
        vs = "" if r["vs_best_peer"] is None else f"{r['vs_best_peer']:.2f}× {r['best_peer']}"
        med = fmt(r["median"])
        if r["median"] is None and r["note"]:
            med = f"— ({r['note']})"
        met = "" if r["met"] is None else ("met" if r["met"] else "**missed**")
        lines.append(f"| {r['figure']} | {r['who']} | {med} | {mm} | {r['unit'] or ''} | {vs} | "
                     f"{r['target'] or ''} | {met} |")
    return lines


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    results = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "results")
    rows, skipped = load(results)
    vs_best_peer(rows)
    m = machine()
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out = [f"# vsd benchmark — {now}", "",
           f"Machine: {m['hostname']}, kernel {m['kernel']}, {m['cpus']} CPUs ({m['cpu_model']}), "
           f"{m['ram_gib']} GiB RAM, {m['cgroups']}.", "",
           "Medians with min–max over `runs`; ratios against the peers measured in the same run.", ""]
    out += table(rows)
    notes = [r for r in rows if r["note"] and r["median"] is not None]
    if notes:
        out += ["", "Notes:", ""] + [f"- {r['figure']}, {r['who']}: {r['note']}" for r in notes]
    if skipped:
        out += ["", "Skipped: " + ", ".join(skipped)]
    # the terminal gets the table and the notes; summary.md also what ran
    terminal = list(out)
    details = [r for r in rows if r["detail"]]
    if details:
        out += ["", "What ran:", ""] + [f"- {r['figure']}, {r['who']}: {r['detail']}" for r in details]
    text = "\n".join(out) + "\n"
    open(os.path.join(results, "summary.md"), "w").write(text)
    json.dump({"date": now, "machine": m, "rows": rows, "skipped": skipped},
              open(os.path.join(results, "summary.json"), "w"), indent=1, ensure_ascii=False)
    print("\n".join(terminal))
    return 0


if __name__ == "__main__":
    sys.exit(main())
