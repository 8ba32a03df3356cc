# SPDX-License-Identifier: LGPL-2.1-or-later
# The API socket under clients that hold connections and never speak: the
# operator must always get through, idle connections must go, and vsctl must
# give up on a daemon that does not answer.

# Debian's python3: another one in root's PATH may be out of reach of the
# unprivileged user a test runs it as.
HOG="/usr/bin/python3 $VSD_SRC/tests/integration/sockhog.py"

# api_conf LINES...: restart the daemon with an [api] section of LINES.
api_conf() {
        vsd_stop
        printf '%s\n' "[api]" "$@" >"$T/vsd.conf"
        vsd_up
}

# hog_start [COMMAND-PREFIX...] -- N: N idle connections to the test's
# socket in the background (as whoever the prefix makes us), their count in
# $T/hog/status; the pid in HOG_PID.
hog_start() {
        local pre=()
        while [ "$1" != -- ]; do
                pre+=("$1")
                shift
        done
        # whatever way the test ends, its background clients end with it
        trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
        mkdir -p "$T/hog"
        chmod 1777 "$T/hog"
        rm -f "$T/hog/status"
        "${pre[@]}" $HOG hold "$VSD_SOCKET" "$2" "$T/hog/status" 2>>"$T/hog.err" &
        HOG_PID=$!
}

hog_stop() {
        kill "$HOG_PID" 2>/dev/null || true
        wait "$HOG_PID" 2>/dev/null || true
}

hog_status() {
        cat "$T/hog/status" 2>/dev/null
}

# quick_list: 'vsctl list' as root answers within 2 s.
quick_list() {
        local t0 ms
        t0=$(date +%s%N)
        timeout 5 "$B/vsctl" --socket "$VSD_SOCKET" list >/dev/null || fail "'vsctl list' as root was not answered"
        ms=$((($(date +%s%N) - t0) / 1000000))
        note "vsctl list answered in $ms ms"
        [ "$ms" -lt 2000 ] || fail "'vsctl list' took $ms ms"
}

test_idle_connections_do_not_lock_out_root() {
        # more than the daemon's 1024 connections, all of them silent
        hog_start -- 2000
        wait_for -t 60 grep -qE '^connected=(1[1-9]|20)[0-9][0-9] ' "$T/hog/status"
        note "hog: $(hog_status)"
        quick_list
        wait_for -t 60 grep -q '^connected=2000 ' "$T/hog/status"
        note "hog: $(hog_status)"
        quick_list
        # the ones closed to make room are gone from the daemon too: it holds
        # about max_connections of them (1048 fds measured), not all 2000
        wait_for -t 10 fds_at_most 1200
        hog_stop
}

# fds_at_most N: the daemon has at most N files open.
fds_at_most() {
        local n
        n=$(find "/proc/$(vsd_pid)/fd" -mindepth 1 -maxdepth 1 | wc -l)
        echo "vsd has $n fds open"
        [ "$n" -le "$1" ]
}

test_one_user_cannot_starve_root() {
        local out
        VSD_ARGS="--socket-group nogroup" api_conf "max_connections = 64" "max_connections_per_user = 8" "root_reserve = 8"
        # the socket's path open to everybody: only the daemon decides
        chmod 0755 "$T" "$T/run"
        hog_start setpriv --reuid=65534 --regid=65534 --clear-groups -- 50
        # 8 kept, the rest answered and closed
        wait_for -t 20 grep -qx 'connected=50 closed=42' "$T/hog/status"
        expect_fail --code 1 setpriv --reuid=65534 --regid=65534 --clear-groups "$B/vsctl" --socket "$VSD_SOCKET" list
        assert_eq "$LAST_ERR" "vsctl: too many connections to vsd from uid 65534 (at most 8 at once)" "refusal"
        quick_list
        # root has no cap of its own: 50 more connections all stay
        local first=$HOG_PID
        hog_start -- 50
        wait_for -t 20 grep -qx 'connected=50 closed=0' "$T/hog/status"
        quick_list
        hog_stop
        HOG_PID=$first
        hog_stop
        # a member of the group is served again once its connections are gone
        wait_for setpriv --reuid=65534 --regid=65534 --clear-groups "$B/vsctl" --socket "$VSD_SOCKET" list
}

test_idle_connections_are_closed_streams_are_not() {
        local t0 pid
        api_conf "idle_timeout = 2s"
        vsctl create idle1 --start
        pid=$(inst_pid idle1)
        # long-lived ones: an event stream, an exec session, a stop that waits
        vsctl events >"$T/events.out" 2>&1 &
        local events=$!
        mkfifo "$T/exec.in"
        vsctl exec idle1 -- sh -c 'read l; echo got:$l' <"$T/exec.in" >"$T/exec.out" 2>&1 &
        local execp=$!
        exec 3>"$T/exec.in"
        t0=$SECONDS
        hog_start -- 5
        wait_for -t 15 grep -qx 'connected=5 closed=5' "$T/hog/status"
        note "idle connections closed after about $((SECONDS - t0)) s"
        [ $((SECONDS - t0)) -ge 1 ] || fail "idle connections closed before the idle timeout"
        hog_stop
        # a second round: the streams have now been quiet for two timeouts
        hog_start -- 5
        wait_for -t 15 grep -qx 'connected=5 closed=5' "$T/hog/status"
        hog_stop
        kill -0 "$events" 2>/dev/null || fail "the event stream was cut: $(cat "$T/events.out")"
        kill -0 "$execp" 2>/dev/null || fail "the exec session was cut: $(cat "$T/exec.out")"
        vsctl create idle2
        wait_for grep -q idle2 "$T/events.out"
        echo hello >&3
        exec 3>&-
        wait "$execp" || fail "exec failed: $(cat "$T/exec.out")"
        assert_eq "$(cat "$T/exec.out")" got:hello "exec output"
        # a request suspended while the instance halts is not idle either
        kill -STOP "$pid"
        t0=$SECONDS
        vsctl stop idle1 --timeout 4s
        note "stop answered after $((SECONDS - t0)) s"
        assert_eq "$(inst_state idle1)" stopped "state after the stop"
        kill "$events"
        wait "$events" 2>/dev/null || true
}

test_vsctl_gives_up_on_a_silent_daemon() {
        local t0
        $HOG silent "$T/silent.sock" 2>>"$T/hog.err" &
        HOG_PID=$!
        wait_for test -S "$T/silent.sock"
        for cmd in list "events" "info x" "exec x -- true"; do
                t0=$(date +%s%N)
                # shellcheck disable=SC2086
                expect_fail --code 1 "$B/vsctl" --socket "$T/silent.sock" --timeout 1 $cmd
                assert_eq "$LAST_ERR" "vsctl: vsd did not answer within 1 s" "error of '$cmd'"
                [ $((($(date +%s%N) - t0) / 1000000)) -lt $(($(scaled 3) * 1000)) ] || fail "'$cmd' took more than $(scaled 3) s to give up"
        done
        hog_stop
        # a stop may take longer than --timeout while vsd is alive: the
        # instance's init cannot act on the halt signal and is killed after 3 s
        vsctl create w1 --start
        kill -STOP "$(inst_pid w1)"
        t0=$SECONDS
        vsctl --timeout 1 stop w1 --timeout 3s
        [ $((SECONDS - t0)) -ge 2 ] || fail "the stop did not wait for its own timeout"
        assert_eq "$(inst_state w1)" stopped "state after the stop"
}
