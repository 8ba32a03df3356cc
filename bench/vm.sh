#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The VM rows of make bench (bench/run.sh calls this; it also runs alone):
# the same idle instance as a virtual machine.  QEMU (Debian's
# qemu-system-x86) boots Debian's cloud kernel with a busybox initramfs whose
# /init mounts /proc, prints a marker on the serial console and idles: no
# disk, no network device at all (-nic none).  Measured:
#
#   - boot to userspace: from the exec of qemu until the marker arrives on
#     its serial console (a pipe), VM_RUNS (30) boots, each VM killed by pid
#     once the marker is seen;
#   - the smallest guest memory (-m) it reaches userspace with, bisected in
#     VM_MEM_STEP (4) MiB steps between 32 and 128 MiB;
#   - host memory per idle VM: VM_K (10) VMs started one after another (each
#     waited for: TCG eats a CPU while it boots), the drop of MemAvailable
#     as each reached idle, each qemu's RSS and PSS, and how much of that
#     is TCG's translation cache (a KVM guest has none);
#   - KVM first: on this machine it cannot run, and the row says what qemu
#     printed;
#   - and for the ratio, vsd's `vsctl start` of a busybox instance (the
#     answer comes once its init has been exec'd), VSD_RUNS (30) starts with
#     a stop --kill in between, untimed.
#
# The kernel is taken from Debian's linux-image-*-cloud-amd64 package
# without installing it on the host: apt-get download into VM_CACHE
# (/var/cache/vsd-bench), dpkg-deb -x, keep vmlinuz.  Writes
# bench/results/vm.json (rows in the shared format) and vm.md.  Every qemu
# it starts is killed by pid, its daemon, cgroups and files removed, also
# after a failure.
#
# Usage: bench/vm.sh BUILD_DIR     (as root)
set -euo pipefail

B=$(cd "${1:-build}" && pwd)
SRC=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$SRC/bench/lib.sh"
OUT=$SRC/bench/results
VM_CACHE=${VM_CACHE:-/var/cache/vsd-bench}
export VM_RUNS=${VM_RUNS:-30} VM_K=${VM_K:-10} VM_MEM_STEP=${VM_MEM_STEP:-4}
VSD_RUNS=${VSD_RUNS:-30}
mkdir -p "$OUT" "$VM_CACHE"

command -v qemu-system-x86_64 >/dev/null || {
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
                qemu-system-x86 >/dev/null
}
[ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1 || {
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >/dev/null
}

T=$(mktemp -d /tmp/vsd-bench-vm.XXXXXX)
CG=vsd-bench-vm-$$
SOCK=$T/run/vsd.sock
VSD_PID=
DL=
export QEMU_PIDS=$T/qemu.pids
: >"$QEMU_PIDS"
vsctl() { "$B/vsctl" --socket "$SOCK" "$@"; }
cleanup() {
        set +e
        # every qemu this script started, by pid, and only while that pid is
        # still a qemu (the helper records each one as it spawns it)
        local p
        while read -r p; do
                [ "$(cat "/proc/$p/comm" 2>/dev/null)" = qemu-system-x86 ] && kill -9 "$p" 2>/dev/null
        done <"$QEMU_PIDS"
        [ -n "$VSD_PID" ] && bench_vsd_end "$VSD_PID" "$SOCK"
        bench_cgroups_remove "$CG"
        bench_net_remove vsd_bench_vm
        bench_dir_remove "$T" "${DL:-}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The kernel: the version Debian's cloud meta-package points at today,
# downloaded once into the cache and unpacked there, never installed.
PKG=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[^ ]*-cloud-amd64\)$/\1/p' | head -1)
[ -n "$PKG" ] || { echo "vm.sh: no linux-image-cloud-amd64 in apt's lists (apt-get update?)" >&2; exit 1; }
KVER=${PKG#linux-image-}
VMLINUZ=$VM_CACHE/$PKG/boot/vmlinuz-$KVER
if [ ! -f "$VMLINUZ" ]; then
        # apt drops privileges to _apt for the download: give it a directory
        # it can reach ($T is private to root)
        DL=$VM_CACHE/download.$$
        mkdir -p "$DL"
        chown _apt "$DL" 2>/dev/null || true
        (cd "$DL" && apt-get download -qq "$PKG" >/dev/null)
        dpkg-deb -x "$DL"/"$PKG"_*.deb "$DL/x"
        # keep what is needed: the kernel and its config (the modules stay
        # out: the 8250 console and the initramfs need none); a rename, so
        # that a run that fails halfway leaves no half-unpacked kernel
        find "$DL/x" -mindepth 1 -maxdepth 1 ! -name boot -exec rm -rf {} +
        mv -T "$DL/x" "$VM_CACHE/$PKG" 2>/dev/null || [ -f "$VMLINUZ" ]
        rm -rf "$DL"
fi
CONFIG=$VM_CACHE/$PKG/boot/config-$KVER
for opt in CONFIG_SERIAL_8250_CONSOLE CONFIG_BLK_DEV_INITRD CONFIG_RD_GZIP CONFIG_PROC_FS; do
        grep -qx "$opt=y" "$CONFIG" || { echo "vm.sh: $KVER lacks built-in $opt" >&2; exit 1; }
done

# The initramfs: busybox and an /init that mounts /proc, prints the marker
# on the console, then idles forever (pid 1 must not exit).
mkdir -p "$T/initrd/bin" "$T/initrd/proc" "$T/initrd/dev"
cp /bin/busybox "$T/initrd/bin/busybox"
ln -s busybox "$T/initrd/bin/sh"
cat >"$T/initrd/init" <<'EOF'
#!/bin/sh
/bin/busybox mount -t proc proc /proc
echo VSD-BENCH-USERSPACE
while :; do /bin/busybox sleep 3600; done
EOF
chmod 755 "$T/initrd/init"
export INITRD=$T/initrd.cpio.gz VMLINUZ
# newc cpio written here (no cpio tool needed); /dev/console as a node, so
# that init's stdout is the serial console from its first instruction
python3 - "$T/initrd" "$INITRD" <<'PY'
import gzip, os, stat, sys
src, out = sys.argv[1], sys.argv[2]
ino = [1]
def entry(f, name, mode, data=b"", rdev=(0, 0), nlink=1):
    hdr = "070701" + "".join(f"{v:08x}" for v in (
        ino[0], mode, 0, 0, nlink, 0, len(data), 0, 0, rdev[0], rdev[1], len(name) + 1, 0))
    ino[0] += 1
    f.write(hdr.encode() + name.encode() + b"\0")
    f.write(b"\0" * (-(110 + len(name) + 1) % 4))
    f.write(data)
    f.write(b"\0" * (-len(data) % 4))
with gzip.open(out, "wb", compresslevel=6) as f:
    for root, dirs, files in os.walk(src):
        dirs.sort()
        rel = os.path.relpath(root, src)
        if rel != ".":
            entry(f, rel, stat.S_IFDIR | 0o755, nlink=2)
        for n in sorted(files):
            p = os.path.join(root, n)
            name = os.path.normpath(os.path.join(rel, n))
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                entry(f, name, stat.S_IFLNK | 0o777, os.readlink(p).encode())
            else:
                entry(f, name, stat.S_IFREG | (st.st_mode & 0o7777), open(p, "rb").read())
    entry(f, "dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1))
    entry(f, "TRAILER!!!", 0, nlink=1)
PY

# The VM measurements (rows into $T/vm-rows.json).
python3 - "$T/vm-rows.json" "$KVER" <<'PY'
import json, os, select, signal, statistics, subprocess, sys, time
out, kver = sys.argv[1], sys.argv[2]
vmlinuz, initrd, pidfile = os.environ["VMLINUZ"], os.environ["INITRD"], os.environ["QEMU_PIDS"]
runs, k, step = int(os.environ["VM_RUNS"]), int(os.environ["VM_K"]), int(os.environ["VM_MEM_STEP"])
MARK = b"VSD-BENCH-USERSPACE"
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
live = []

def qemu_argv(accel, mem):
    # no disk, no network device, no firmware menus; the serial console
    # is qemu's stdout; a guest panic ends qemu (-no-reboot, panic=-1)
    return ["qemu-system-x86_64", "-accel", accel, "-m", f"{mem}M", "-smp", "1",
            "-nodefaults", "-no-user-config", "-display", "none", "-nic", "none",
            "-serial", "stdio", "-no-reboot", "-kernel", vmlinuz, "-initrd", initrd,
            "-append", "console=ttyS0 quiet panic=-1"]

def boot(accel, mem, timeout=60.0):
    """Start one VM; return (seconds to the marker or None, process, its output)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(qemu_argv(accel, mem), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    with open(pidfile, "a") as f:
        f.write(f"{p.pid}\n")
    live.append(p)
    buf = b""
    fd = p.stdout.fileno()
    while True:
        left = t0 + timeout - time.perf_counter()
        if left <= 0:
            return None, p, buf
        r, _, _ = select.select([fd], [], [], left)
        if not r:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:  # qemu exited
            return None, p, buf
        buf += chunk
        if MARK in buf:
            return time.perf_counter() - t0, p, buf

def kill(p):
    p.kill()
    p.wait()
    p.stdout.close()
    live.remove(p)

def tail(buf, n=3):
    lines = [l.strip() for l in buf.decode(errors="replace").splitlines() if l.strip()]
    return " / ".join(lines[-n:])

rows = []
def row(figure, who, detail, unit, vals, note=None, target=None, met=None):
    v = sorted(vals)
    rows.append({"figure": figure, "who": who, "detail": detail, "unit": unit,
                 "median": statistics.median(v) if v else None, "min": v[0] if v else None,
                 "max": v[-1] if v else None, "runs": len(v), "target": target, "met": met, "note": note})

try:
    base_detail = (f"qemu-system-x86_64, Debian kernel {kver}, busybox initramfs, -smp 1, "
                   "-nic none, no disk, console=ttyS0 quiet")
    mem_boot = int(os.environ.get("VM_MEM", "128"))

    # KVM first: what qemu says is the row.
    t, p, buf = boot("kvm", mem_boot, timeout=60)
    kill(p)
    if t is None:
        row("boot to userspace", "qemu-kvm", base_detail + ", -accel kvm", "ms", [],
            note="KVM cannot run here; qemu printed: " + (tail(buf) or "nothing, no marker in 60 s"))
    else:
        kvm = [t * 1e3]
        for _ in range(runs - 1):
            t, p, buf = boot("kvm", mem_boot)
            kill(p)
            if t is None:
                sys.exit("KVM boot failed after one that worked: " + tail(buf))
            kvm.append(t * 1e3)
        row("boot to userspace", "qemu-kvm",
            base_detail + f", -accel kvm, -m {mem_boot}M: qemu exec to the marker on the serial console", "ms", kvm)
    print("kvm:", rows[-1]["note"] or rows[-1]["median"], file=sys.stderr)

    # The smallest -m that reaches the marker (TCG), bisected in steps.
    lo, hi = 32, 128  # invariant once checked: hi boots, lo does not
    def boots(mem):
        t, p, buf = boot("tcg", mem)
        kill(p)
        print(f"-m {mem}M: {'boots' if t else 'fails: ' + tail(buf, 1)}", file=sys.stderr)
        return t is not None
    note = None
    if not boots(hi):
        smallest = None
        note = f"does not boot with {hi} MiB"
    elif boots(lo):
        smallest = lo
        note = f"boots with {lo} MiB, the bottom of the range searched"
    else:
        while hi - lo > step:
            mid = (lo + hi) // 2 // step * step
            if mid <= lo:
                mid = lo + step
            if boots(mid):
                hi = mid
            else:
                lo = mid
        # once more at the boundary: a boot that just fits must fit twice
        smallest = hi if boots(hi) else hi + step
    row("smallest guest memory", "qemu-tcg",
        base_detail + f", -accel tcg, bisected 32..128 MiB in {step} MiB steps", "MiB",
        [smallest] if smallest else [], note=note)

    # Boot to userspace with TCG, at a comfortable -m.
    mem = max(80, (smallest or 72) + 8)
    times = []
    for _ in range(runs):
        t, p, buf = boot("tcg", mem)
        kill(p)
        if t is None:
            sys.exit("TCG boot failed: " + tail(buf))
        times.append(t * 1e3)
    row("boot to userspace", "qemu-tcg",
        base_detail + f", -accel tcg, -m {mem}M: qemu exec to the marker on the serial console", "ms", times,
        note=f"{runs} boots of about {statistics.median(times) / 1e3:.1f} s each, one after another")

    # Host memory per idle VM: K VMs one after another, each waited for.
    def avail():
        for l in open("/proc/meminfo"):
            if l.startswith("MemAvailable:"):
                return int(l.split()[1])
    def smaps(pid):
        d = {}
        for l in open(f"/proc/{pid}/smaps_rollup"):
            f = l.split()
            if f[0] in ("Rss:", "Pss:"):
                d[f[0][:-1]] = int(f[1])
        return d
    def parts(pid):
        """Rss in MiB of TCG's translation cache (qemu's one anonymous rwx
        mapping) and of the guest's RAM (the anonymous mapping of -m's size)."""
        kb = {"cache": 0, "ram": 0}
        what = None
        for l in open(f"/proc/{pid}/smaps"):
            f = l.split()
            if "-" in f[0] and len(f) >= 5 and ":" in f[3]:
                a, b = (int(x, 16) for x in f[0].split("-"))
                what = None
                if len(f) == 5 and f[1] == "rwxp":
                    what = "cache"
                elif len(f) == 5 and b - a == mem << 20:
                    what = "ram"
            elif f[0] == "Rss:" and what:
                kb[what] += int(f[1])
        return {k: v / 1024 for k, v in kb.items()}
    # MemAvailable after each VM has reached idle, against the reading
    # before it: one delta per VM; and what comes back when all are killed
    time.sleep(2)
    first = prev = avail()
    vms, deltas = [], []
    for _ in range(k):
        t, p, buf = boot("tcg", mem)
        if t is None:
            sys.exit("TCG boot failed: " + tail(buf))
        vms.append(p)
        time.sleep(2)  # let its boot settle into idle
        now = avail()
        deltas.append((prev - now) / 1024)
        prev = now
    rss = [smaps(p.pid)["Rss"] / 1024 for p in vms]
    pss = [smaps(p.pid)["Pss"] / 1024 for p in vms]
    split = [parts(p.pid) for p in vms]
    def ticks(pid):
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return int(f[11]) + int(f[12])
    c0 = [ticks(p.pid) for p in vms]
    time.sleep(5)
    cpu = [(ticks(p.pid) - a) / os.sysconf("SC_CLK_TCK") / 5 * 1e3 for p, a in zip(vms, c0)]
    for p in list(vms):
        kill(p)
    time.sleep(1)
    back = (avail() - prev) / 1024 / k
    mdetail = base_detail + f", -accel tcg, -m {mem}M, {k} idle VMs started one after another"
    row("memory per idle instance", "qemu-tcg", mdetail + ", MemAvailable drop as each VM reached idle", "MiB",
        deltas, note=f"shared machine: other jobs move MemAvailable too; killing all {k} gave back "
                     f"{back:.1f} MiB per VM (started from {first / 1024:.0f} MiB available)")
    row("memory per idle instance (RSS)", "qemu-tcg", mdetail + ", each qemu's Rss (smaps_rollup)", "MiB", rss)
    row("memory per idle instance (PSS)", "qemu-tcg", mdetail + ", each qemu's Pss (smaps_rollup)", "MiB", pss)
    row("memory per idle instance (TCG translation cache)", "qemu-tcg",
        mdetail + ", Rss of qemu's anonymous rwx mapping (part of the Rss above; KVM has none)", "MiB",
        [x["cache"] for x in split])
    row("memory per idle instance (guest RAM resident)", "qemu-tcg",
        mdetail + ", Rss of the guest's RAM mapping (part of the Rss above)", "MiB", [x["ram"] for x in split])
    row("CPU time per second, idle", "qemu-tcg", mdetail + ", each qemu's utime+stime over 5 s", "ms", cpu)
finally:
    for p in list(live):
        kill(p)
json.dump(rows, open(out, "w"), indent=1)
PY

# vsd's side of the ratio: `vsctl start` of a busybox instance, whose answer
# comes once init has been exec'd in its namespaces and cgroup.
mkdir -p "$T/root/templates" "$T/run"
"$SRC/templates/busybox/build.sh" "$T/root/templates/busybox" >/dev/null
printf '%s\n' "[network]" "default_mode = none" "link_prefix = vbv" "nft_table = vsd_bench_vm" >"$T/vsd.conf"
"$B/vsd" --root "$T/root" --run-dir "$T/run" --socket "$SOCK" --cgroup-parent "$CG" --log-level warning \
        -c "$T/vsd.conf" 2>>"$T/vsd.log" &
VSD_PID=$!
bench_vsd_wait "$SOCK"
# the dir backend: an image instance's loop device can still be busy right
# after a stop --kill, and the disk is not what this figure is about
vsctl create vm-cmp --net none --storage dir >/dev/null
python3 - "$B/vsctl" "$SOCK" "$VSD_RUNS" "$T/vm-rows.json" "$OUT" <<'PY'
import datetime, json, statistics, subprocess, sys, time
vsctl, sock, runs, rows_file, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
def run(*a, check=True):
    r = subprocess.run([vsctl, "--socket", sock, *a], stdout=subprocess.DEVNULL)
    if check and r.returncode:
        sys.exit(f"vsctl {' '.join(a)} failed")
times = []
for i in range(runs + 3):
    t = time.perf_counter()
    run("start", "vm-cmp")
    d = (time.perf_counter() - t) * 1e3
    run("stop", "--kill", "vm-cmp")
    if i >= 3:  # warmup
        times.append(d)
rows = json.load(open(rows_file))
v = sorted(times)
tcg = [r["median"] for r in rows if r["figure"] == "boot to userspace" and r["who"] == "qemu-tcg" and r["median"]]
rows.append({"figure": "boot to userspace", "who": "vsd",
             "detail": "vsctl start of a busybox instance (--net none, --storage dir), process start until the daemon answers, "
                       "which it does once init has been exec'd; stop --kill in between, untimed",
             "unit": "ms", "median": statistics.median(v), "min": v[0], "max": v[-1], "runs": len(v),
             "target": None, "met": None,
             "note": f"qemu-tcg's boot to userspace took {tcg[0] / statistics.median(v):.0f}x this in the same run"
                     if tcg else None})
json.dump(rows, open(f"{out}/vm.json", "w"), indent=1)
lines = [f"# vsd against a virtual machine — {datetime.date.today()}", "",
         "| figure | who | median | min | max | unit | runs | note |", "|---|---|---:|---:|---:|---|---:|---|"]
fmt = lambda x: "" if x is None else f"{x:.2f}" if isinstance(x, float) else str(x)
for r in rows:
    note = r["note"] or ""
    lines.append(f"| {r['figure']} | {r['who']} | {fmt(r['median'])} | {fmt(r['min'])} | {fmt(r['max'])} "
                 f"| {r['unit']} | {r['runs']} | {note} |")
text = "\n".join(lines) + "\n"
open(f"{out}/vm.md", "w").write(text)
print(text)
PY
