# SPDX-License-Identifier: LGPL-2.1-or-later
#
# What the bench scripts share: waiting for their private vsd, ending it
# with everything it made, and removing their cgroups.  Sourced; B is the
# build directory.

# bench_vsd_wait SOCKET: until that daemon answers (5 s at most); fails,
# with vsctl's message, when it does not.
bench_vsd_wait() {
        local _
        for _ in $(seq 100); do "$B/vsctl" --socket "$1" version >/dev/null 2>&1 && return 0; sleep 0.05; done
        "$B/vsctl" --socket "$1" version >/dev/null
}

# bench_vsd_end PID SOCKET: every instance of that daemon killed and
# destroyed, whatever was created before a failure, then the daemon stopped.
bench_vsd_end() {
        local n
        for n in $("$B/vsctl" --socket "$2" --json list 2>/dev/null | python3 -c \
                'import json, sys; print(" ".join(i["name"] for i in json.load(sys.stdin)))'); do
                "$B/vsctl" --socket "$2" stop --kill "$n" >/dev/null 2>&1
                "$B/vsctl" --socket "$2" destroy "$n" >/dev/null 2>&1
        done
        kill "$1" 2>/dev/null
        wait "$1" 2>/dev/null
}

# bench_cgroups_remove NAME...: those cgroup trees, in every hierarchy,
# deepest first (they must be empty by now).
bench_cgroups_remove() {
        local h g
        for h in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do
                for g in "$@"; do
                        [ -d "$h$g" ] && find "$h$g" -depth -type d -exec rmdir {} + 2>/dev/null
                done
        done
        return 0
}
