# SPDX-License-Identifier: LGPL-2.1-or-later
# GET /metrics: Prometheus's text format on the API socket, and with
# [metrics] listen on a TCP listener that serves nothing else.  The figures
# are the ones GET /v1/stats gives.

# metrics_get: the daemon's /metrics on its socket.
metrics_get() {
        curl -sf --unix-socket "$VSD_SOCKET" http://vsd/metrics
}

# sample NAME LABELS: the value of one series ("" when absent).
sample() {
        awk -v k="$1{$2}" '$1 == k { print $2 }' <<<"$METRICS"
}

test_metrics_promtool_and_figures() {
        command -v promtool >/dev/null || fail "promtool is needed (make deps: prometheus)"
        vsctl create web --memory 128M --pids 100 --cpus 0.5 --start
        vsctl create db --start
        vsctl create idle
        vsctl create 'we"ird' 2>/dev/null || true # not a valid name: refused, nothing to escape
        # something to count: memory, a process, disk, network
        vsctl exec web -- sh -c 'dd if=/dev/zero of=/root/f bs=1M count=8 2>/dev/null; sync'
        vsctl exec web -- ping -c 2 -W 2 "$VSD_NET4.1" >/dev/null || true
        METRICS=$(metrics_get) || fail "GET /metrics failed"
        # the format as Prometheus reads it, and its naming conventions
        local out
        out=$(promtool check metrics <<<"$METRICS" 2>&1) || fail "promtool check metrics: $out"
        [ -z "$out" ] || fail "promtool check metrics complains: $out"
        # the content type Prometheus expects
        curl -sf -o /dev/null -w '%{content_type}' --unix-socket "$VSD_SOCKET" http://vsd/metrics |
                grep -q '^text/plain; version=0.0.4' || fail "content type"

        assert_eq "$(sample vsd_instances 'state="running"')" 2 "instances running"
        assert_eq "$(sample vsd_instances 'state="stopped"')" 1 "instances stopped"
        assert_eq "$(sample vsd_instance_state 'instance="web",state="running"')" 1 "web running"
        assert_eq "$(sample vsd_instance_state 'instance="idle",state="running"')" 0 "idle not running"
        assert_eq "$(sample vsd_instance_memory_limit_bytes 'instance="web"')" 134217728 "web's memory limit"
        assert_eq "$(sample vsd_instance_pids_limit 'instance="web"')" 100 "web's pids limit"
        assert_eq "$(sample vsd_instance_cpu_limit_cpus 'instance="web"')" 0.5 "web's CPU cap"
        # usage against GET /v1/stats, read right after (figures move a little)
        local stats mem pids
        stats=$(vsctl --json stats web)
        mem=$(sample vsd_instance_memory_bytes 'instance="web"')
        assert_between "$mem" "$(($(json .memory.usage <<<"$stats") / 2))" "$(($(json .memory.usage <<<"$stats") * 2))" \
                "web's memory in /metrics against /v1/stats"
        pids=$(sample vsd_instance_pids 'instance="web"')
        assert_between "$pids" 1 10 "web's processes"
        assert_between "$(sample vsd_instance_cpu_seconds_total 'instance="web"')" 0.000001 1000 "web's CPU seconds"
        assert_between "$(sample vsd_instance_disk_used_bytes 'instance="web"')" $((8 << 20)) $((1 << 40)) \
                "web's disk use (8 MiB written)"
        [ -n "$(sample vsd_instance_disk_limit_bytes 'instance="idle"')" ] || fail "a stopped image instance has its disk size"
        [ -z "$(sample vsd_instance_memory_bytes 'instance="idle"')" ] || fail "a stopped instance has a memory usage"
        assert_between "$(sample vsd_instance_network_transmit_packets_total 'instance="web"')" 1 1000000 \
                "web's packets sent"
        # the daemon itself
        assert_between "$(awk '$1 == "process_resident_memory_bytes" { print $2 }' <<<"$METRICS")" $((1 << 20)) $((1 << 30)) \
                "the daemon's RSS"
        assert_eq "$(awk '$1 == "vsd_build_info{version=\"'"$(vsctl --json version | json .daemon.version 2>/dev/null || vsctl --json version | json .version)"'\"}" { print $2 }' <<<"$METRICS")" 1 "vsd_build_info"
        # the counters count: more CPU after work
        local before after
        before=$(sample vsd_instance_cpu_seconds_total 'instance="web"')
        vsctl exec web -- sh -c 'i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done'
        METRICS=$(metrics_get)
        after=$(sample vsd_instance_cpu_seconds_total 'instance="web"')
        awk -v a="$after" -v b="$before" 'BEGIN { exit !(a > b) }' || fail "CPU seconds did not grow: $before -> $after"
        # a broken instance is counted, with no figures
        vsctl stop db
        echo "garbage" >>"$T/root/instances/db/config.ini"
        vsd_stop
        vsd_up
        METRICS=$(metrics_get)
        assert_eq "$(sample vsd_instances 'state="broken"')" 1 "instances broken"
        out=$(promtool check metrics <<<"$METRICS" 2>&1) || fail "promtool with a broken instance: $out"
}

# [metrics] listen: GET /metrics on TCP, the control API not.
test_metrics_tcp_listener_serves_metrics_only() {
        local port=$((20000 + RANDOM % 20000))
        printf '%s\n' "[metrics]" "listen = 127.0.0.1:$port" >>"$T/vsd.conf"
        vsd_stop
        vsd_up
        vsctl create m1 --start
        local out
        out=$(curl -sf "http://127.0.0.1:$port/metrics") || fail "GET /metrics on TCP"
        assert_match "$out" 'vsd_instance_state\{instance="m1",state="running"\} 1' "metrics on TCP"
        # nothing of the control API: no listing, no create, no stop
        local code
        code=$(curl -s -o "$T/body" -w '%{http_code}' "http://127.0.0.1:$port/v1/instances")
        assert_eq "$code" 404 "GET /v1/instances on the metrics listener"
        assert_match "$(cat "$T/body")" "only GET /metrics" "the refusal"
        code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$port/v1/instances/m1/stop")
        assert_eq "$code" 404 "POST stop on the metrics listener"
        code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d '{"name":"x"}' "http://127.0.0.1:$port/v1/instances")
        assert_eq "$code" 404 "POST create on the metrics listener"
        assert_eq "$(inst_state m1)" running "m1 after the refused stop"
        ! vsctl info x >/dev/null 2>&1 || fail "an instance was created through the metrics listener"
        # without the setting there is no listener
        sed -i '/^\[metrics\]/,$d' "$T/vsd.conf"
        vsd_stop
        vsd_up
        ! curl -s -o /dev/null "http://127.0.0.1:$port/metrics" || fail "a listener without [metrics] listen"
}

# An address that cannot be bound: the daemon serves on, degraded.
test_metrics_listener_unbindable() {
        printf '%s\n' "[metrics]" "listen = 192.0.2.1:9177" >>"$T/vsd.conf"
        vsd_stop
        vsd_up
        vsctl version | grep -q metrics || fail "vsctl version does not show the metrics listener degraded: $(vsctl version)"
        metrics_get >/dev/null || fail "GET /metrics on the socket"
        printf '%s\n' "[metrics]" "listen = nonsense" >"$T/bad.conf"
        ! "$B/vsd" -c "$T/bad.conf" --root "$T/r2" --run-dir "$T/r2run" --socket "$T/r2run/s" 2>"$T/bad.err" ||
                fail "vsd took listen = nonsense"
        assert_match "$(cat "$T/bad.err")" "listen address" "the error"
}
