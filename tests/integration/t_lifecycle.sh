# SPDX-License-Identifier: LGPL-2.1-or-later
# Lifecycle: create, start, list, info, stop, start again, restart, destroy.

test_version_and_templates() {
        local v
        v=$(vsctl --json version)
        assert_eq "$(json ".daemon.api" <<<"$v")" 1 "api version"
        assert_match "$(json ".daemon.cgroup" <<<"$v")" '^v[12]$' "cgroup mode"
        vsctl version | grep -q .
        assert_eq "$(vsctl --json templates | json '.[] | select(.name == "busybox") | .init')" /sbin/init "busybox init"
        assert_eq "$(vsctl --json templates | json '.[] | select(.name == "busybox") | .halt_signal')" SIGPWR "busybox halt_signal"
        vsctl templates | grep -q busybox
}

test_lifecycle() {
        local pid pid2 pid3

        vsctl create web1
        assert_eq "$(inst_state web1)" stopped "state after create"
        assert_eq "$(inst_pid web1)" 0 "pid after create"
        [ -f "$T/root/instances/web1/config.ini" ] || fail "no config.ini"

        vsctl start web1
        assert_eq "$(inst_state web1)" running "state after start"
        pid=$(inst_pid web1)
        [ "$pid" -gt 1 ] && alive "$pid" || fail "init pid $pid is not alive"
        assert_eq "$(cat "/proc/$pid/comm")" init "init's name"
        [ "$(vsctl --json info web1 | json .started_at)" -gt 0 ] || fail "started_at not set"

        vsctl list | grep -qw web1 || fail "web1 not in list"

        vsctl stop web1
        assert_eq "$(inst_state web1)" stopped "state after stop"
        # stop answers once init is gone
        ! alive "$pid" || fail "init $pid still alive after stop"
        assert_eq "$(inst_pid web1)" 0 "pid after stop"

        vsctl start web1
        pid2=$(inst_pid web1)
        [ "$pid2" -gt 1 ] && [ "$pid2" != "$pid" ] || fail "second start: pid $pid2"
        vsctl exec web1 -- true

        vsctl restart web1
        assert_eq "$(inst_state web1)" running "state after restart"
        pid3=$(inst_pid web1)
        [ "$pid3" != "$pid2" ] || fail "restart kept pid $pid2"
        ! alive "$pid2" || fail "old init $pid2 survived restart"
        vsctl exec web1 -- true

        vsctl stop web1
        vsctl destroy web1
        [ ! -e "$T/root/instances/web1" ] || fail "instance directory left after destroy"
        expect_fail --code 1 vsctl info web1
        assert_eq "$(vsctl --json list | json length)" 0 "instances after destroy"
}

test_create_with_limits_and_start() {
        local j
        vsctl create lim1 --memory 64M --cpus 0.5 --pids 50 --stop-timeout 20s --start
        j=$(vsctl --json info lim1)
        assert_eq "$(json .state <<<"$j")" running state
        assert_eq "$(json .memory <<<"$j")" 67108864 memory
        assert_eq "$(json .cpus <<<"$j")" 0.5 cpus
        assert_eq "$(json .pids <<<"$j")" 50 pids
        assert_eq "$(json .stop_timeout <<<"$j")" 20 stop_timeout
        assert_eq "$(json .template <<<"$j")" busybox template
}

test_list_json() {
        local j
        vsctl create b2
        vsctl create a1 --start
        vsctl create c3
        j=$(vsctl --json list)
        assert_eq "$(json 'map(.name) | join(",")' <<<"$j")" a1,b2,c3 "list order"
        assert_eq "$(json '.[] | select(.name == "a1") | .state' <<<"$j")" running "a1 state"
        assert_eq "$(json '.[] | select(.name == "b2") | .state' <<<"$j")" stopped "b2 state"
        [ "$(json '.[] | select(.name == "a1") | .pid' <<<"$j")" -gt 1 ] || fail "a1 pid"
        assert_eq "$(vsctl list --json | json 'map(.name) | join(",")')" a1,b2,c3 "list --json after the command"
        # the table has a header and one line per instance
        assert_eq "$(vsctl list | grep -cE '^(a1|b2|c3)\b')" 3 "table rows"
}

test_stop_kill_and_timeout() {
        local pid
        vsctl create k1 --start
        pid=$(inst_pid k1)
        vsctl stop k1 --kill
        assert_eq "$(inst_state k1)" stopped "state after stop --kill"
        ! alive "$pid" || fail "init alive after --kill"

        # An init that ignores the halt signal is killed after the timeout.
        vsctl start k1
        pid=$(inst_pid k1)
        local t0=$SECONDS
        # busybox init cannot ignore SIGPWR; stop the init process itself so
        # that it cannot act on it: SIGSTOP from the host.
        kill -STOP "$pid"
        vsctl stop k1 --timeout 2s
        assert_eq "$(inst_state k1)" stopped "state after timed-out stop"
        [ $((SECONDS - t0)) -le "$(scaled 10)" ] || fail "stop --timeout 2s took $((SECONDS - t0))s"
}

test_pause_resume() {
        local pid c1 c2
        vsctl create p1 --start
        pid=$(inst_pid p1)
        # A counter inside, detached from the exec session.  On the tmpfs of
        # /dev/shm: on the instance's disk each rewrite frees a block, which
        # its online discard sends down to the image, and under load the
        # counter spent its time there with the file empty.
        vsctl exec p1 -- sh -c 'sh -c "i=0; while :; do i=\$((i+1)); echo \$i >/dev/shm/count; done" </dev/null >/dev/null 2>&1 &'
        wait_for test -s "/proc/$pid/root/dev/shm/count"

        vsctl pause p1
        assert_eq "$(inst_state p1)" paused "state after pause"
        c1=$(cat "/proc/$pid/root/dev/shm/count")
        sleep 0.5 # the interval being measured
        c2=$(cat "/proc/$pid/root/dev/shm/count")
        assert_eq "$c2" "$c1" "counter while paused"

        vsctl resume p1
        assert_eq "$(inst_state p1)" running "state after resume"
        wait_for sh -c "[ \"\$(cat /proc/$pid/root/dev/shm/count)\" != '$c1' ]"
        vsctl exec p1 -- true
}

test_destroy_force() {
        local pid
        vsctl create d1 --start
        pid=$(inst_pid d1)
        expect_fail --code 1 vsctl destroy d1
        assert_eq "$(inst_state d1)" running "state after refused destroy"
        vsctl destroy d1 --force
        [ ! -e "$T/root/instances/d1" ] || fail "instance directory left"
        ! alive "$pid" || fail "init alive after destroy --force"
        expect_fail --code 1 vsctl info d1
}

test_instance_files_on_disk() {
        vsctl create f1 --start
        # what the instance writes lands in its private layer, not in the template
        vsctl exec f1 -- sh -c 'echo data >/root/file'
        [ ! -e "$T/root/templates/busybox/rootfs/root/file" ] || fail "write reached the shared template"
        vsctl stop f1
        vsctl start f1
        assert_eq "$(vsctl exec f1 -- cat /root/file)" data "file after restart"
}

state_is() { # NAME STATE
        [ "$(inst_state "$1")" = "$2" ]
}

# A stop waiting for init to halt, overtaken by stop --kill and destroy: the
# halt's timer goes with the instance.  Before, it stayed armed and fired on
# whatever instance took the freed memory next, killing it.
test_stop_timer_gone_with_instance() {
        local pa pb pc stopper
        vsctl create a --start
        pa=$(inst_pid a)
        # init cannot act on the halt signal: the stop waits for its timer
        kill -STOP "$pa"
        "$B/vsctl" --socket "$VSD_SOCKET" stop a --timeout 2s >/dev/null &
        stopper=$!
        wait_for state_is a stopping
        vsctl stop a --kill
        wait "$stopper" || fail "the halting stop was not answered once a was killed"
        vsctl destroy a
        vsctl create b --start
        pb=$(inst_pid b)
        # c's stop timer, armed after a's would have been with the same
        # delay, fires no earlier: once c is stopped, a's would have fired
        vsctl create c --start
        pc=$(inst_pid c)
        kill -STOP "$pc"
        vsctl stop c --timeout 2s
        assert_eq "$(inst_state c)" stopped "c after its timed-out stop"
        assert_eq "$(inst_state b)" running "b after a's halt timeout would have passed"
        alive "$pb" || fail "init of b was killed"
        assert_eq "$(grep -c 'did not halt in time' "$T/vsd.log")" 1 "timed-out stops in the log (c's only)"
        grep -q 'Instance c did not halt in time' "$T/vsd.log" || fail "c's timeout not logged"
        vsctl exec b -- true
}

# Requests that overtake one another on the same instances: halting stops,
# kills, restarts, execs, a forced destroy and a console client, all at
# once.  Whatever order the daemon serves them in, each is answered, the
# daemon stays up, and what is left is consistent (under `make check-san`
# the runner also fails the test on any memory error the daemon reports).
test_overtaking_requests() {
        local round n pids p st
        for round in 1 2 3; do
                for n in ca cb; do
                        vsctl create "$n" --stop-timeout 1s --start
                done
                kill -STOP "$(inst_pid ca)" # its halt can only time out
                pids=()
                for n in ca cb; do
                        timeout 30 "$B/vsctl" --socket "$VSD_SOCKET" stop "$n" >/dev/null 2>&1 & pids+=($!)
                        timeout 30 "$B/vsctl" --socket "$VSD_SOCKET" exec "$n" -- sleep 0.3 >/dev/null 2>&1 & pids+=($!)
                        timeout 30 "$B/vsctl" --socket "$VSD_SOCKET" console "$n" </dev/null >/dev/null 2>&1 & pids+=($!)
                        timeout 30 "$B/vsctl" --socket "$VSD_SOCKET" restart "$n" >/dev/null 2>&1 & pids+=($!)
                        timeout 30 "$B/vsctl" --socket "$VSD_SOCKET" stop "$n" --kill >/dev/null 2>&1 & pids+=($!)
                        timeout 30 "$B/vsctl" --socket "$VSD_SOCKET" destroy "$n" --force >/dev/null 2>&1 & pids+=($!)
                done
                for p in "${pids[@]}"; do
                        wait "$p" && continue
                        [ $? -ne 124 ] || fail "round $round: a request was not answered within 30 s"
                done
                vsctl list >/dev/null
                for n in ca cb; do
                        st=$(vsctl --json list | jq -r --arg n "$n" '.[] | select(.name == $n) | .state')
                        case $st in
                        '') ;;
                        running) vsctl exec "$n" -- true; vsctl destroy "$n" --force ;;
                        stopped) vsctl destroy "$n" ;;
                        *) fail "round $round: $n left $st" ;;
                        esac
                done
        done
        assert_eq "$(vsctl --json list | json length)" 0 "instances left"
}

# busybox init forks what its inittab names (vfork: rcS at boot, the
# console's shell), and what runs inside forks too.  On a kernel whose exec
# leaves a process outside the time namespace it unshared (6.1), an init
# left there was refused every vfork ("can't fork"): no services, no shell.
booted_marker() { # NAME
        [ "$(vsctl exec "$1" -- cat /run/booted)" = up ]
}

console_shell() { # NAME: init's child on the console, a login shell
        vsctl exec "$1" -- ps | grep -q ' -/bin/sh$'
}

test_init_forks_its_services() {
        vsctl create bm1 --start
        # a service of its own, run by rcS at the next boot
        vsctl exec bm1 -- sh -c 'mkdir -p /etc/rc.d && printf "#!/bin/sh\necho up >/run/booted\n" >/etc/rc.d/S10booted &&
                chmod 755 /etc/rc.d/S10booted'
        vsctl restart bm1
        wait_for booted_marker bm1
        wait_for console_shell bm1
        assert_eq "$(vsctl exec bm1 -- sh -c 'sleep 0 & wait $!; echo $?')" 0 "a background child of an exec'd shell"
        # init, its children and exec'd commands share one time namespace
        assert_eq "$(vsctl exec bm1 -- readlink /proc/self/ns/time)" \
                "$(vsctl exec bm1 -- readlink /proc/1/ns/time)" "time namespace of exec and init"
}
