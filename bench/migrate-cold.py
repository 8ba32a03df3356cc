#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# The cold-move rows of bench/migrate.sh: two vsd hosts up already (the test
# rig, tests/hosts.sh, copies paced by VSD_TEST_COPY_BPS), an instance with
# a DISK image and 200 MiB of data moved back and forth RUNS times with the
# pre-copy (CHANGE MiB rewritten while it runs) and RUNS times without
# (--no-precopy: stopped first, the whole image sent).  Medians into
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


vsctl("h1", "create", "cold", "--disk", disk, "--start")
vsctl("h1", "exec", "cold", "--", "sh", "-c",
      "dd if=/dev/urandom of=/root/data bs=1M count=200 2>/dev/null && sync")
rows = {"pre-copy": [], "whole copy": []}
where = "h1"
for run in range(runs):
    for mode in ("pre-copy", "whole copy"):
        dst = "h2" if where == "h1" else "h1"
        args = ["migrate", "cold", dst, "--cold", "--detach"] + (["--no-precopy"] if mode == "whole copy" else [])
        op = vsctl(where, *args).strip()
        if mode == "pre-copy":
            # once most of it went: the start of /root/data (early in the
            # image, read already) rewritten
            def far():
                o = json.loads(vsctl(where, "--json", "op", "show", op))
                p = o.get("progress", {})
                return p.get("phase") == "pre-copy" and p.get("done", 0) * 10 >= p.get("total", 1) * 6
            wait(far)
            vsctl(where, "exec", "cold", "--", "sh", "-c",
                  f"dd if=/dev/urandom of=/root/data bs=1M count={change} conv=notrunc 2>/dev/null && sync")
            if phase(where, op) != "pre-copy":
                raise SystemExit("the change came after the pre-copy: slow VSD_TEST_COPY_BPS down")
        final = json.loads(vsctl(where, "--json", "op", "wait", op))
        if final["state"] != "succeeded":
            raise SystemExit(f"the move failed: {final.get('error')}")
        d = final["details"]
        rows[mode].append({"downtime_ms": d["downtime_ms"], "total_ms": d["total_ms"],
                           "precopy_bytes": d.get("precopy_bytes", 0), "final_bytes": d.get("final_bytes", 0)})
        where = dst
        time.sleep(0.5)
vsctl(where, "stop", "cold", "--kill")
vsctl(where, "destroy", "cold")

med = {m: {k: statistics.median(r[k] for r in v) for k in v[0]} | {"runs": len(v)} for m, v in rows.items()}
bps = os.environ.get("VSD_TEST_COPY_BPS", "")
json.dump({"date": datetime.date.today().isoformat(), "disk": disk, "change_mib": change, "copy_bps": bps,
           "rows": med, "raw": rows}, open(f"{out}/migrate-cold.json", "w"), indent=1)
with open(f"{out}/migrate-cold.md", "w") as f:
    f.write(f"Cold move of a running busybox instance, {disk} image with 200 MiB of data, {change} MiB rewritten "
            f"during the pre-copy; copies paced at {bps or 'full speed'} a second; medians of {runs}.\n\n"
            "| path | down | whole move | sent while it ran | sent once down |\n|---|---|---|---|---|\n")
    for m, v in med.items():
        sent = (f"{v['precopy_bytes'] / 2**20:.1f} MiB | {v['final_bytes'] / 2**20:.1f} MiB" if v["precopy_bytes"]
                else "- | all of it")
        f.write(f"| {m} | {v['downtime_ms'] / 1000:.2f} s | {v['total_ms'] / 1000:.2f} s | {sent} |\n")
print(open(f"{out}/migrate-cold.md").read())
