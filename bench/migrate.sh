#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The live-move rows: `vsctl migrate NAME HOST --live` of an idle busybox
# instance and of one whose process keeps 64 MiB of its memory dirty (probe
# dirty), back and forth between two vsd hosts on this machine (the test
# rig, tests/hosts.sh, with the instance bridges on a shared LAN),
# MIG_RUNS (5) moves of each by each way of sending its memory, in turn in
# the same run: with the archive after the dump (--no-page-server, the old
# path), by the target's page server during the dump (--no-precopy), by
# post-copy (--postcopy: restored there at once, the memory fetched after;
# both hosts with [migrate] postcopy = yes and fs.pipe-max-size raised to 4
# MiB for the run, put back at its end), and, where this host's kernel
# tracks dirty memory (criu check --feature mem_dirty_track; else the script
# says why not), by memory pre-copy's pre-dump passes first, with a third
# instance whose process keeps 64 MiB of which 4 MiB are rewritten (probe
# dirtyish: what pre-copy is for; the all-dirty one gains nothing).
# MIG_MODES picks some ("archive page-server post-copy"; precopy-memory is
# added where the kernel has it).  And an instance with a 1 GiB image
# holding MIG_LIVE_DISK MiB of data (200; 0: none), moved by page server
# with its disk whole in the frozen window (--no-precopy, the old way) and
# with the disk's pre-copy (the disk while it runs, what changed after the
# dump): rows "disk page-server" and "disk disk-precopy".  Per move: the
# frozen window and the total the daemon reports (details.frozen_ms,
# total_ms), its parts (dump_ms, copy_restore_ms; post-copy: postcopy_ms,
# from the restore there to the last page), the bytes that went by
# page server (page_bytes), the disk's before and after the dump
# (disk_precopy_bytes, disk_final_bytes), and the longest silence a client on the LAN saw on one
# TCP connection to an echo server inside, kept busy across the move (the
# frozen window as a user sees it; a connection that breaks is counted).  Medians.  Its own directory, cgroup
# parents and namespaces, removed at exit.  Writes
# bench/results/migrate.{md,json}.
#
# The cold-move rows (MIG_COLD=1, the default; MIG_LIVE=0 skips the live
# ones): an instance with a 1 GiB image (MIG_COLD_DISK) holding 200 MiB of
# data, 10 MiB of it rewritten (MIG_COLD_CHANGE) while its pre-copy runs
# (paced by VSD_TEST_COPY_BPS so that the writes land during it), moved
# cold with the pre-copy and with --no-precopy (stopped first, the whole
# image sent); the same for a directory layer (--storage dir) of 50 files of
# 4 MiB, files sent already rewritten (10 MiB: two of 4 MiB): the downtime, the whole
# move and the bytes sent once down.
# Writes bench/results/migrate-cold.{md,json}.
#
# Usage: bench/migrate.sh BUILD_DIR     (as root; CRIU from make deps, sshd;
#        MIG_KEEP=1 keeps the directory of a failed run)
set -euo pipefail

B=$(cd "${1:-build}" && pwd)
VSD_SRC=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${MIG_RUNS:-5}
OUT=$VSD_SRC/bench/results
RAW=$OUT/raw
mkdir -p "$OUT" "$RAW"
export B VSD_SRC

# the test rig's helpers (fail, wait_for, the hosts)
set +eu
# shellcheck source=tests/lib.sh
. "$VSD_SRC/tests/lib.sh"
# shellcheck source=tests/hosts.sh
. "$VSD_SRC/tests/hosts.sh"
T=$(mktemp -d /var/tmp/vsd-bench-mig.XXXXXX)
VSD_CG=vsd-bench-mig-$$
export T VSD_CG
cleanup() {
        local rc=$?
        hosts_down || echo "bench/migrate.sh: the hosts left something behind (see above)" >&2
        if [ "$rc" -ne 0 ] && [ "${MIG_KEEP:-0}" = 1 ]; then
                echo "bench/migrate.sh: kept $T" >&2
        else
                rm -rf "$T"
        fi
}
trap cleanup EXIT
set -e

if [ "${MIG_COLD:-1}" = 1 ]; then
        # hosts of their own, ended before the live rows' (which share a LAN)
        T0=$T
        T=$T0/cold
        mkdir -p "$T"
        export VSD_TEST_COPY_BPS=${MIG_COLD_BPS:-40M}
        hosts_up 2 >/dev/null
        "$VSD_SRC/bench/migrate-cold.py" "$B" "$T" "$RUNS" "${MIG_COLD_DISK:-1G}" "${MIG_COLD_CHANGE:-10}" "$OUT"
        hosts_down || echo "bench/migrate.sh: the cold rows' hosts left something behind (see above)" >&2
        unset VSD_TEST_COPY_BPS
        T=$T0
fi
[ "${MIG_LIVE:-1}" = 1 ] || exit 0

host_pipe_max_set 4194304
HOSTS_SHARED_LAN=1 HOST_CONF_1='postcopy = yes' HOST_CONF_2='postcopy = yes' hosts_up 2 >/dev/null
host_client_up
for k in 1 2; do
        printf '%s\n' "h$k $(host_socket "$k")" >>"$T/sockets"
done
host_vsctl 1 create idle --memory 256M --privileged --start >/dev/null
host_vsctl 1 create dirty --memory 256M --privileged --start >/dev/null
host_vsctl 1 exec dirty -- sh -c '/probe dirty 64 </dev/null >/dev/null 2>&1 &'
DISK_MIB=${MIG_LIVE_DISK:-200}
if [ "$DISK_MIB" -gt 0 ]; then
        host_vsctl 1 create disk --memory 256M --privileged --disk 1G --start >/dev/null
        host_vsctl 1 exec disk -- sh -c "dd if=/dev/urandom of=/root/data bs=1M count=$DISK_MIB 2>/dev/null && sync"
fi
MEMPRE=0
if why=$(/usr/local/lib/vsd/criu/criu check --feature mem_dirty_track 2>&1); then
        MEMPRE=1
        host_vsctl 1 create dirtyish --memory 256M --privileged --start >/dev/null
        host_vsctl 1 exec dirtyish -- sh -c '/probe dirtyish 64 4 /root/memsum </dev/null >/dev/null 2>&1 &'
else
        echo "bench/migrate.sh: no memory pre-copy rows: this host's kernel does not track dirty memory" \
                "(criu check --feature mem_dirty_track: $(echo "$why" | tail -n1 | sed "s/^.*): //"))" >&2
fi
sleep 1

python3 - "$RAW/migrate.json" "$RUNS" "$B" "$T" "$(host_client_ns)" "$VSD_SRC" "${MIG_MODES:-archive page-server post-copy}" \
        "$MEMPRE" "$DISK_MIB" <<'PY'
import json, os, subprocess, sys, time
out, runs, b, t, cns, src = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
mempre = sys.argv[8] == "1"
MODES = tuple(sys.argv[7].split()) + (("precopy-memory",) if mempre else ())
sock = dict(l.split() for l in open(f"{t}/sockets"))
def vsctl(host, *args, **kw):
    return subprocess.run([f"{b}/vsctl", "--socket", sock[host]] + list(args), check=True,
                          stdout=subprocess.PIPE, text=True, **kw).stdout
def wait(pred, secs=30, what="?"):
    end = time.time() + secs
    while time.time() < end:
        if pred():
            return
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")
def lines(path):
    try:
        return open(path).read().split("\n")
    except FileNotFoundError:
        return []
KINDS = ("idle", "dirty") + (("dirtyish",) if mempre else ())
# the disk's rows: its disk whole in the frozen window, or before the dump
PAIRS = [(k, m) for k in KINDS for m in MODES] + \
        ([("disk", "page-server"), ("disk", "disk-precopy")] if int(sys.argv[9]) > 0 else [])
res = {f"{k} {m}": {"frozen_ms": [], "total_ms": [], "dump_ms": [], "copy_restore_ms": [], "client_gap_ms": [],
                    "page_bytes": [], "precopy_bytes": [], "precopy_passes": [], "postcopy_ms": [],
                    "disk_precopy_bytes": [], "disk_final_bytes": []}
       for k, m in PAIRS}
where = {k: "h1" for k, _ in PAIRS}
FLAGS = {"archive": ["--no-page-server"], "page-server": ["--no-precopy"], "precopy-memory": [],
         "post-copy": ["--postcopy"], "disk-precopy": []}
for run in range(runs):
    for k, mode in PAIRS:
        src_h = where[k]
        dst_h = "h2" if src_h == "h1" else "h1"
        ip = json.loads(vsctl(src_h, "--json", "info", k))["ip"].split(",")[0].split("/")[0]
        vsctl(src_h, "exec", k, "--", "sh", "-c", "nc -l -p 7000 -e cat </dev/null >/dev/null 2>&1 &")
        wait(lambda: subprocess.run([f"{b}/vsctl", "--socket", sock[src_h], "exec", k, "--", "sh", "-c",
                                     "netstat -ltn | grep -q :7000"]).returncode == 0, what="the echo server")
        stop, log = f"{t}/stop-{k}-{mode}-{run}", f"{t}/echo-{k}-{mode}-{run}"
        cl = subprocess.Popen(["nsenter", f"--net=/run/netns/{cns}", "python3",
                               f"{src}/tests/integration/echoclient.py", ip, "7000", stop, "60"],
                              stdout=open(log, "w"), stderr=subprocess.STDOUT)
        wait(lambda: "at 40" in lines(log), what=f"the client's first lines ({log})")
        op = json.loads(vsctl(src_h, "--json", "migrate", k, dst_h, "--live", *FLAGS[mode]))
        d = op.get("details", {})
        want = {"archive": "archive", "post-copy": "post-copy"}.get(mode, "page-server")
        if d.get("pages") != want or \
           (mode != "disk-precopy" and (mode == "precopy-memory") != (d.get("memory_precopy") == "on")) or \
           (k == "disk" and (mode == "disk-precopy") != bool(d.get("disk_precopy"))):
            raise SystemExit(f"the pages went by {d.get('pages')} (memory pre-copy: {d.get('memory_precopy')}, "
                             f"the disk's: {d.get('disk_precopy')}), not {mode}: {d}")
        n = sum(1 for l in lines(log) if l.startswith("at "))
        wait(lambda: sum(1 for l in lines(log) if l.startswith("at ")) >= n + 3 or
             any(l.startswith("error:") for l in lines(log)), 60, what=f"lines after the move ({log})")
        open(stop, "w").close()
        cl.wait()
        last = [l for l in lines(log) if l][-1].split()
        row = res[f"{k} {mode}"]
        if last[0] != "ok":
            # counted, not hidden: the row says how many broke
            print(f"bench/migrate.sh: {k} {mode} run {run}: the connection broke: {' '.join(last)}", file=sys.stderr)
            row["broken"] = row.get("broken", 0) + 1
        else:
            row["client_gap_ms"].append(int(last[2]))
        for key in ("frozen_ms", "total_ms", "dump_ms", "copy_restore_ms"):
            row[key].append(d.get(key))
        row["page_bytes"].append(d.get("page_bytes", 0))
        row["precopy_bytes"].append(d.get("memory_precopy_bytes", 0))
        row["precopy_passes"].append(d.get("memory_precopy_passes", 0))
        row["disk_precopy_bytes"].append(d.get("disk_precopy_bytes", 0))
        row["disk_final_bytes"].append(d.get("disk_final_bytes", 0))
        if mode == "post-copy":
            row["postcopy_ms"].append(d.get("postcopy_ms"))
        where[k] = dst_h
        time.sleep(0.5)
json.dump(res, open(out, "w"))
PY

python3 - "$RAW/migrate.json" "$OUT" <<'PY'
import json, statistics, sys, datetime
raw, out = sys.argv[1], sys.argv[2]
r = json.load(open(raw))
rows = {k: {key: statistics.median(v) if v else float("nan") for key, v in r[k].items() if key != "broken"}
        | {"runs": len(r[k]["total_ms"]), "broken": r[k].get("broken", 0)} for k in r}
json.dump({"date": datetime.date.today().isoformat(), "rows": rows}, open(f"{out}/migrate.json", "w"), indent=1)
with open(f"{out}/migrate.md", "w") as f:
    f.write("| instance, memory sent | frozen (vsd) | frozen (client's TCP silence) | total | dump | copy + restore there "
            "| by page server (the dump's) | memory pre-copy passes, sent | memory after the restore (post-copy) "
            "| disk while it ran, once frozen | connections broken |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|\n")
    for k, v in rows.items():
        pc = f"{v['postcopy_ms']:.0f} ms" if v["postcopy_ms"] == v["postcopy_ms"] else "-"
        dk = (f"{v['disk_precopy_bytes'] / 1048576:.1f}, {v['disk_final_bytes'] / 1048576:.1f} MiB"
              if v.get("disk_precopy_bytes") else "-")
        f.write(f"| {k} | {v['frozen_ms']:.0f} ms | {v['client_gap_ms']:.0f} ms | {v['total_ms']:.0f} ms "
                f"| {v['dump_ms']:.0f} ms | {v['copy_restore_ms']:.0f} ms | {v['page_bytes'] / 1048576:.1f} MiB "
                f"| {v['precopy_passes']:.0f}, {v['precopy_bytes'] / 1048576:.1f} MiB "
                f"| {pc} | {dk} | {v['broken']} of {v['runs']} |\n")
print(open(f"{out}/migrate.md").read())
PY
