#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# The cold-move rows of bench/migrate.sh: two vsd hosts up already (the test
# rig, tests/hosts.sh, copies paced by VSD_TEST_COPY_BPS), an instance with
# a DISK image and 200 MiB of data and one with a directory layer of as
# much, each moved back and forth RUNS times with the pre-copy (CHANGE MiB
# rewritten while it runs) and RUNS times without (--no-precopy: stopped
# first, the whole disk sent).  Medians into
# OUT/migrate-cold.{md,json}.
# Usage: migrate-cold.py BUILD T RUNS DISK CHANGE OUT
import datetime, json, os, statistics, subprocess, sys, time

b, t, runs, disk, change, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), sys.argv[6]
sock = {f"h{k}": f"{t}/run-h{k}/vsd.sock" for k in (1, 2)}


def vsctl(host, *args):
    return subprocess.run([f"{b}/vsctl", "--socket", sock[host]] + list(args), check=True,
                          stdout=subprocess.PIPE, text=True).stdout


def phase(host, op):
    return json.loads(vsctl(host, "--json", "op", "show", op)).get("progress", {}).get("phase")


def wait(pred, secs=120):
    end = time.time() + secs
    while time.time() < end:
        if pred():
            return
        time.sleep(0.05)
    raise SystemExit("timed out")


# an image holding one file of 200 MiB; a directory layer holding 50 of
# 4 MiB (its change: whole files that went already, rewritten in place)
vsctl("h1", "create", "cold", "--disk", disk, "--start")
vsctl("h1", "exec", "cold", "--", "sh", "-c",
      "dd if=/dev/urandom of=/root/data bs=1M count=200 2>/dev/null && sync")
vsctl("h1", "create", "colddir", "--storage", "dir", "--start")
vsctl("h1", "exec", "colddir", "--", "sh", "-c",
      "mkdir /root/d && for k in $(seq 1 50); do dd if=/dev/urandom of=/root/d/f$k bs=1M count=4 2>/dev/null; done && sync")
rows = {"image, pre-copy": [], "image, whole copy": [], "dir, pre-copy": [], "dir, whole copy": []}


def rewrite(name, src, dst):
    if name == "cold":
        # the start of /root/data (early in the image, read already)
        vsctl(src, "exec", name, "--", "sh", "-c",
              f"dd if=/dev/urandom of=/root/data bs=1M count={change} conv=notrunc 2>/dev/null && sync")
        return
    # files whole on the target already
    staged = f"{t}/root-{dst}/instances/.{name}.new/upper/root/d"
    done = [f for f in sorted(os.listdir(staged)) if os.path.getsize(f"{staged}/{f}") == 4 << 20]
    pick = done[:max(1, change // 4)]
    if len(pick) < max(1, change // 4):
        raise SystemExit("too few files went before the change: slow VSD_TEST_COPY_BPS down")
    vsctl(src, "exec", name, "--", "sh", "-c", " && ".join(
        f"dd if=/dev/urandom of=/root/d/{f} bs=1M count=4 conv=notrunc 2>/dev/null" for f in pick) + " && sync")


where = {"cold": "h1", "colddir": "h1"}
for run in range(runs):
    for name, kind in (("cold", "image"), ("colddir", "dir")):
        for mode in ("pre-copy", "whole copy"):
            src = where[name]
            dst = "h2" if src == "h1" else "h1"
            args = ["migrate", name, dst, "--cold", "--detach"] + (["--no-precopy"] if mode == "whole copy" else [])
            op = vsctl(src, *args).strip()
            if mode == "pre-copy":
                # once most of it went
                def far():
                    o = json.loads(vsctl(src, "--json", "op", "show", op))
                    p = o.get("progress", {})
                    return p.get("phase") == "pre-copy" and p.get("done", 0) * 10 >= p.get("total", 1) * 6
                wait(far)
                rewrite(name, src, dst)
                if phase(src, op) != "pre-copy":
                    raise SystemExit("the change came after the pre-copy: slow VSD_TEST_COPY_BPS down")
            final = json.loads(vsctl(src, "--json", "op", "wait", op))
            if final["state"] != "succeeded":
                raise SystemExit(f"the move failed: {final.get('error')}")
            d = final["details"]
            rows[f"{kind}, {mode}"].append({"downtime_ms": d["downtime_ms"], "total_ms": d["total_ms"],
                                            "precopy_bytes": d.get("precopy_bytes", 0),
                                            "final_bytes": d.get("final_bytes", 0)})
            where[name] = dst
            time.sleep(0.5)
for name, host in where.items():
    vsctl(host, "stop", name, "--kill")
    vsctl(host, "destroy", name)

med = {m: {k: statistics.median(r[k] for r in v) for k in v[0]} | {"runs": len(v)} for m, v in rows.items()}
bps = os.environ.get("VSD_TEST_COPY_BPS", "")
json.dump({"date": datetime.date.today().isoformat(), "disk": disk, "change_mib": change, "copy_bps": bps,
           "rows": med, "raw": rows}, open(f"{out}/migrate-cold.json", "w"), indent=1)
with open(f"{out}/migrate-cold.md", "w") as f:
    f.write(f"Cold move of a running busybox instance: a {disk} image with 200 MiB of data, or a directory layer "
            f"with 50 files of 4 MiB; {change} MiB rewritten during the pre-copy (in files sent already for the "
            f"directory layer); copies paced at {bps or 'full speed'} a second; medians of {runs}.\n\n"
            "| path | down | whole move | sent while it ran | sent once down |\n|---|---|---|---|---|\n")
    for m, v in med.items():
        sent = (f"{v['precopy_bytes'] / 2**20:.1f} MiB | {v['final_bytes'] / 2**20:.1f} MiB" if v["precopy_bytes"]
                else "- | all of it")
        f.write(f"| {m} | {v['downtime_ms'] / 1000:.2f} s | {v['total_ms'] / 1000:.2f} s | {sent} |\n")
print(open(f"{out}/migrate-cold.md").read())
