#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The rows of bench/density.sh in the shared result format.

density-report.py ROWS OUT_DIR "N LIST"

ROWS: tab-separated lines "system N key value note" written by density.sh.
Writes OUT_DIR/density.json (a list of rows: figure, who, detail, unit,
median, min, max, runs, target, met, note), density.md and, with gnuplot,
density.png (host memory per idle instance against N, one line per system).
"""
import collections
import json
import os
import shutil
import statistics
import subprocess
import sys

rows_path, out, n_list = sys.argv[1], sys.argv[2], [int(n) for n in sys.argv[3].split()]

WHO = {"floor": "unshare (floor)", "floor-veth": "unshare + veth (floor)", "vsd-dir": "vsd (dir)", "vsd-image": "vsd (image)",
       "vsd-none": "vsd (dir, --net none)", "crun": "crun", "lxc": "lxc", "nspawn": "nspawn"}
WHAT = {
    "floor": "unshare -fpmuin --mount-proc, a cgroup in each of vsd's 7 hierarchies, busybox sh + busybox sleep; "
             "no rootfs, no veth; the waiting unshare parent killed",
    "floor-veth": "the floor above, and what vsd (dir)'s network is: a veth pair each, the host side on a bridge of the "
                  "bench's own, eth0 inside with an address from a /16 and a default route",
    "vsd-dir": "vsd, busybox template (busybox init + console sh), dir backend (overlay), bridge network "
               "(a veth each on vsd's own bridge, an address from a /16), vsd's cgroup in 7 hierarchies",
    "vsd-image": "vsd, busybox template (busybox init + console sh), image backend (a loop-mounted ext4 image each), "
                 "bridge network (a veth each)",
    "vsd-none": "vsd, busybox template (busybox init + console sh), dir backend, --net none (own netns, loopback only)",
    "crun": "crun 1.8 run -d in a private mount namespace with /sys/fs/cgroup/unified unmounted (crun refuses the "
            "hybrid layout otherwise); same busybox rootfs read-only, sh + sleep, own netns (loopback only), "
            "cgroupsPath below the bench's parent",
    "lxc": "lxc-start -d, minimal config on the same busybox rootfs (ro), lxc.net.0.type = empty (own netns, "
           "loopback only), sh + sleep, console pty; one [lxc monitor] per container",
    "nspawn": "systemd-nspawn",
}
SYSTEMS = [s for s in WHO if s != "nspawn"]

vals = collections.defaultdict(list)  # (system, n, key) -> [values]
notes = {}
for line in open(rows_path):
    sysname, n, key, v, note = line.rstrip("\n").split("\t")
    vals[(sysname, n, key)].append(float(v))
    if note:
        notes[(sysname, n)] = note


def row(figure, who, detail, unit, values, target=None, met=None, note=None):
    values = sorted(values)
    one = len(values) == 1
    return {"figure": figure, "who": who, "detail": detail, "unit": unit,
            "median": statistics.median(values) if values else None,
            "min": None if one or not values else values[0],
            "max": None if one or not values else values[-1],
            "runs": len(values), "target": target, "met": met, "note": note}


def get(s, n, k):
    v = vals.get((s, str(n), k))
    return v[0] if v else None


present = sorted(({s for (s, _, _) in vals} | {s for (s, _) in notes}) & set(WHO), key=list(WHO).index)
rows = []
for n in n_list:
    for s in present:
        # like for like: vsd (dir) has a veth on a bridge, as floor-veth does
        base = "floor-veth" if s == "vsd-dir" and get("floor-veth", n, "mem_kib") is not None else "floor"
        floor_mem = get(base, n, "mem_kib")
        note = notes.get((s, str(n)))
        mem = get(s, n, "mem_kib")
        detail = f"{WHAT[s]}; N = {n} idle instances started one after the other, settled"
        if mem is None:
            for fig, unit in (("host memory per idle instance", "KiB"), ("start all instances", "s")):
                rows.append(row(f"{fig}, N={n}", WHO[s], detail, unit, [],
                                note=note or "not measured in this run"))
            continue
        # the target is judged on the figure other jobs' anonymous memory
        # does not move, when the run has it
        own = get(s, n, "mem_own_kib")
        floor_own = get(base, n, "mem_own_kib")
        judged, judged_floor = (own, floor_own) if own is not None and floor_own else (mem, floor_mem)
        target = met = None
        tnote = None
        if s == "vsd-dir":
            target = f"≤ 1.2× {WHO[base]}"
            if own is None:
                # other jobs' allocations move MemAvailable by more than N
                # instances do (negative deltas on a shared host): no verdict
                tnote = (f"{mem / floor_mem:.2f}× the floor on the raw delta; no verdict: other jobs' memory moves "
                         "MemAvailable by more than the instances do" if floor_mem else None)
            elif judged_floor:
                met = judged <= 1.2 * judged_floor
                tnote = f"{judged / judged_floor:.2f}× {WHO[base]}" + (" (judged on the row without other jobs' "
                                                                       "anonymous memory)" if own is not None else "")
                plain = get("floor", n, "mem_own_kib" if own is not None else "mem_kib")
                if base != "floor" and plain:
                    tnote += f"; {judged / plain:.2f}× the floor without a veth"
        if s == "vsd-none" and judged_floor:
            tnote = f"{judged / judged_floor:.2f}× the floor (like for like: no veth)"
        rows.append(row(f"host memory per idle instance, N={n}", WHO[s],
                        detail + "; MemAvailable before − after, / N", "KiB", [mem],
                        target if own is None else None, met if own is None else None,
                        tnote if own is None else None))
        if own is not None:
            rows.append(row(f"host memory per idle instance, other jobs' anonymous memory excluded, N={n}", WHO[s],
                            detail + "; (MemAvailable before − after) − ΔAnonPages + Δ(the instances' anonymous "
                            "memory: the memory controller's total_rss of the bench's cgroups, and vsd's RssAnon), / N",
                            "KiB", [own], target, met, tnote))
        for k, fig in (("slab_kib", "slab (SUnreclaim + SReclaimable)"), ("percpu_kib", "Percpu"),
                       ("pagetables_kib", "PageTables")):
            rows.append(row(f"{fig} per idle instance, N={n}", WHO[s], detail + "; /proc/meminfo delta / N",
                            "KiB", [get(s, n, k)]))
        rows.append(row(f"helper processes per instance, N={n}", WHO[s],
                        detail + "; engine processes on the host outside the instances' cgroups, / N", "count",
                        [get(s, n, "helpers")],
                        note="the daemon: one process for all instances" if s.startswith("vsd") else None))
        rows.append(row(f"start all instances, N={n}", WHO[s], detail + "; one after the other", "s",
                        [get(s, n, "start_s")]))
        rows.append(row(f"stop all instances, N={n}", WHO[s], detail + "; kill, one after the other", "s",
                        [get(s, n, "stop_s")]))

nmax = max(n_list)
if get("vsd-dir", nmax, "mem_kib") is not None or ("vsd-dir", str(nmax)) in notes:
    ok = get("vsd-dir", nmax, "mem_kib") is not None
    rows.append(row("instances running at once", "vsd (dir)", WHAT["vsd-dir"], "count", [nmax if ok else 0],
                    target="1000 on this 2-core, 24 GiB machine", met=ok and nmax >= 1000,
                    note=notes.get(("vsd-dir", str(nmax)))))
for label in ("0", "200", str(nmax)):
    for k, fig in (("rss_kib", "vsd daemon RSS"), ("pss_kib", "vsd daemon PSS")):
        v = get("vsd-daemon", label, k)
        if v is None:
            continue
        target = met = None
        if k == "rss_kib" and label == "1000":
            target, met = "≤ 32 MiB", v / 1024 <= 32
        rows.append(row(f"{fig}, {label} instances running", "vsd",
                        f"/proc/PID/{'status VmRSS' if k == 'rss_kib' else 'smaps_rollup Pss'} of the bench's "
                        f"daemon, {label} dir-backend instances on the bridge running", "MiB", [v / 1024],
                        target, met))
for k, fig, det in (("list_ms", "vsctl list", "vsctl list (table)"),
                    ("list_json_ms", "vsctl --json list", "vsctl --json list"),
                    ("version_ms", "vsctl version (one round trip)", "vsctl version: the floor of one request")):
    v = vals.get(("vsd-daemon", str(nmax), k))
    if not v:
        continue
    target = met = None
    if k == "list_ms" and nmax == 1000:
        target, met = "≤ 50 ms", statistics.median(v) <= 50
    rows.append(row(f"{fig} latency, {nmax} instances running", "vsd",
                    f"{det}, process start to exit, {nmax} running", "ms", v, target, met))

json.dump(rows, open(f"{out}/density.json", "w"), indent=1, ensure_ascii=False)


def fmt(x):
    return "—" if x is None else (f"{x:.2f}" if abs(x) < 100 else f"{x:.0f}")


lines = ["# vsd density and daemon cost", "",
         "| figure | who | median | min | max | unit | runs | target | note |",
         "|---|---|---:|---:|---:|---|---:|---|---|"]
for r in rows:
    tgt = "" if r["target"] is None else f"{r['target']}: " + ("met" if r["met"] else "MISSED" if r["met"] is False else "?")
    lines.append(f"| {r['figure']} | {r['who']} | {fmt(r['median'])} | {fmt(r['min'])} | {fmt(r['max'])} | "
                 f"{r['unit']} | {r['runs']} | {tgt} | {r['note'] or ''} |")
# What the slab figure is made of: the caches that grew most, per system,
# at the largest N each system reached (merged caches count under one name).
slab_n = {s: max((n for n in n_list if any(k.startswith("slab:") for (x, m, k) in vals if x == s and m == str(n))),
                 default=None) for s in present}
caches = sorted({k[5:] for (x, m, k) in vals if k.startswith("slab:") and slab_n.get(x) == int(m)})
if caches:
    shown = [s for s in present if slab_n.get(s)]
    lines += ["", "Slab caches that grew most (KiB per instance, at the largest N each reached; "
              "/proc/slabinfo pages before and after)", "",
              "| cache | " + " | ".join(f"{WHO[s]}, N={slab_n[s]}" for s in shown) + " |",
              "|---|" + "---:|" * len(shown)]
    biggest = lambda c: max(get(s, slab_n[s], "slab:" + c) or 0 for s in shown)
    for c in sorted(caches, key=biggest, reverse=True):
        lines.append(f"| {c} | " + " | ".join(fmt(get(s, slab_n[s], "slab:" + c)) for s in shown) + " |")
text = "\n".join(lines) + "\n"
open(f"{out}/density.md", "w").write(text)
print(text)

# The curve: one data block per system, N against KiB per instance.
dat = f"{out}/density.dat"
plotted = []
with open(dat, "w") as f:
    for s in SYSTEMS:
        key = "mem_own_kib" if any(get(x, n, "mem_own_kib") is not None for x in SYSTEMS for n in n_list) \
            else "mem_kib"
        pts = [(n, get(s, n, key)) for n in n_list if get(s, n, key) is not None]
        if not pts:
            continue
        plotted.append(s)
        f.write(f"# {WHO[s]}\n" + "".join(f"{n} {m / 1024:.3f}\n" for n, m in pts) + "\n\n")
if plotted and shutil.which("gnuplot"):
    plot = ", ".join(f"'{dat}' index {i} with linespoints lw 2 title '{WHO[s]}'" for i, s in enumerate(plotted))
    script = (f"set terminal pngcairo size 1000,560 noenhanced\nset output '{out}/density.png'\n"
              f"set title 'Host memory per idle instance ({'MemAvailable delta without other jobs anon' if key == 'mem_own_kib' else 'MemAvailable delta'} / N)'\n"
              "set xlabel 'N idle instances'\nset ylabel 'MiB per instance'\nset logscale x\n"
              f"set xtics ({', '.join(str(n) for n in n_list)})\nset yrange [0:*]\nset key outside right top box\nset xrange [*:*] noextend\n"
              "set grid\n" + f"plot {plot}\n")
    r = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
    if r.returncode != 0:
        print(f"gnuplot failed: {r.stderr}", file=sys.stderr)
