# SPDX-License-Identifier: LGPL-2.1-or-later
# Every bad input: one line on stderr, a non-zero exit (2 for usage errors,
# 1 otherwise) and nothing changed on disk.

# unchanged CMD...: CMD fails as expect_fail demands and the state root
# looks the same afterwards.
unchanged() {
        local before after
        before=$(disk_snapshot)
        expect_fail "$@"
        after=$(disk_snapshot)
        [ "$before" = "$after" ] || fail "state root changed by: $* ($(diff <(echo "$before") <(echo "$after") | head -5 | tr '\n' ' '))"
}

test_invalid_names() {
        local n long
        long=$(printf 'a%.0s' $(seq 64))
        for n in Upper -x "$long" a/b "" . .. "a b" "a_b" "é"; do
                unchanged vsctl create "$n"
        done
        assert_eq "$(vsctl --json list | json length)" 0 "instances after invalid names"
        # the longest valid name works
        vsctl create "${long:1}"
        vsctl destroy "${long:1}"
}

test_duplicate_name() {
        vsctl create dup
        unchanged --code 1 vsctl create dup
        vsctl create dup2 --start
        unchanged --code 1 vsctl create dup2
        assert_eq "$(inst_state dup2)" running "state after a duplicate create"
}

test_state_conflicts() {
        vsctl create run1 --start
        unchanged --code 1 vsctl start run1
        unchanged --code 1 vsctl destroy run1
        unchanged --code 1 vsctl resume run1
        vsctl create stop1
        unchanged --code 1 vsctl stop stop1
        unchanged --code 1 vsctl pause stop1
        assert_eq "$(inst_state run1)" running "run1 after conflicts"
        assert_eq "$(inst_state stop1)" stopped "stop1 after conflicts"
}

test_unknown_template() {
        unchanged --code 1 vsctl create t1 --template nosuch
        unchanged vsctl create t1 --template ../busybox
        assert_eq "$(vsctl --json list | json length)" 0 "instances"
}

test_bad_values() {
        unchanged vsctl create v1 --memory 12Q
        unchanged vsctl create v1 --memory -5M
        unchanged vsctl create v1 --memory ""
        unchanged vsctl create v1 --cpus abc
        unchanged vsctl create v1 --cpus -1
        unchanged vsctl create v1 --pids -1
        unchanged vsctl create v1 --pids 1x
        unchanged vsctl create v1 --stop-timeout forever
        vsctl create v2
        unchanged vsctl set v2 --memory 12Q
        unchanged vsctl set v2 --cpus lots
        assert_eq "$(vsctl --json list | json 'map(.name) | join(",")')" v2 "instances"
}

test_nonexistent_instance() {
        local c
        for c in start stop restart pause resume destroy info; do
                unchanged --code 1 vsctl "$c" ghost
        done
        unchanged --code 1 vsctl set ghost --memory 64M
        unchanged --code 1 vsctl stats ghost
        unchanged --code 1 vsctl exec ghost -- true
}

test_usage_errors() {
        unchanged --code 2 vsctl
        unchanged --code 2 vsctl no-such-command
        unchanged --code 2 vsctl create
        unchanged --code 2 vsctl start
        unchanged --code 2 vsctl create u1 --no-such-option
        unchanged --code 2 vsctl create u1 extra-argument
        unchanged --code 2 vsctl exec
        vsctl help | grep -q create || fail "help does not list create"
}

test_no_daemon() {
        expect_fail --code 1 "$B/vsctl" --socket "$T/nonexistent.sock" list
}

# api METHOD PATH [BODY]: sets $code and $body.
api() {
        local args=(-s -o "$T/api.body" -w '%{http_code}' -X "$1" --unix-socket "$VSD_SOCKET")
        [ $# -lt 3 ] || args+=(-H 'Content-Type: application/json' --data-binary "$3")
        code=$(curl "${args[@]}" "http://vsd$2")
        body=$(cat "$T/api.body")
        note "$1 $2 -> $code $body"
}

# An error answer: the status, and a JSON body with a one-line message.
api_error() { # WANT_STATUS
        assert_eq "$code" "$1" "HTTP status"
        [ -n "$(json .error <<<"$body")" ] || fail "no error message in $body"
        [ "$(json .error <<<"$body" | grep -c '')" -eq 1 ] || fail "error message not one line: $body"
        json '.code | numbers' <<<"$body" >/dev/null || fail "no numeric code in $body"
}

test_api_bad_requests() {
        local before big
        before=$(disk_snapshot)
        api POST /v1/instances '{"name": "x1",'
        api_error 400
        api POST /v1/instances '["x1"]'
        api_error 400
        api POST /v1/instances '{"name": "x1", "bogus": 1}'
        api_error 400
        api POST /v1/instances '{"name": 5}'
        api_error 400
        api POST /v1/instances '{"name": "x1", "memory": "12Q"}'
        api_error 400
        api POST /v1/instances '{"name": "x1", "pids": -3}'
        api_error 400
        api POST /v1/instances '{"name": "Bad"}'
        api_error 400
        api POST /v1/instances '{"name": "x1", "template": "nosuch"}'
        api_error 404
        big=$(head -c 70000 /dev/zero | tr '\0' a)
        api POST /v1/instances "{\"name\": \"x1\", \"template\": \"$big\"}"
        api_error 413
        # bytes that are not UTF-8 (the JSON parser quotes them in its
        # message), a control character, a field name cut inside a
        # character: answered all the same, in one line
        api POST /v1/instances $'\x7f"\x92\x8e\x92\xe2nam'
        api_error 400
        api POST /v1/instances $'{"name": "x1", "a\x01": 1}'
        api_error 400
        api PATCH /v1/instances/ghost $'\x92'
        api_error 404
        api POST /v1/instances "{\"name\": \"x1\", \"$(printf 'k%.0s' {1..39})é\": 1}"
        api_error 400
        api GET /v1/instances/ghost
        api_error 404
        api GET /v1/no-such-endpoint
        api_error 404
        api DELETE /v1/version
        api_error 405
        api POST /v1/instances/ghost/start
        api_error 404
        [ "$before" = "$(disk_snapshot)" ] || fail "state root changed by bad requests"
        # and the daemon still serves
        api GET /v1/instances
        assert_eq "$code" 200 "list after bad requests"
        assert_eq "$body" "[]" "instances after bad requests"
        api POST /v1/instances '{"name": "x2", "memory": "64M"}'
        assert_eq "$code" 201 "create via the API"
        assert_eq "$(json .memory <<<"$body")" 67108864 "memory via the API"
        api PATCH /v1/instances/x2 '{"memory": "128M", "unknown": true}'
        api_error 400
        api GET /v1/instances/x2
        assert_eq "$(json .memory <<<"$body")" 67108864 "memory after a rejected PATCH"
}

# GET /v1/instances?fields=: the fields asked for and no other; every field
# of the whole view can be asked for; an unknown one is refused.
test_api_list_fields() {
        local f want
        vsctl create f1 --memory 64M
        vsctl create f2 --start
        api GET '/v1/instances?fields=name,state,memory'
        assert_eq "$code" 200 "list with fields"
        assert_eq "$(json -c 'map(keys_unsorted | sort)' <<<"$body")" '[["memory","name","state"],["memory","name","state"]]' "fields given"
        assert_eq "$(json -c 'map([.name, .state, .memory])' <<<"$body")" '[["f1","stopped",67108864],["f2","running",536870912]]' "values (f2: the [defaults])"
        want=$(vsctl --json list | json -c 'map(keys_unsorted | sort)')
        for f in $(vsctl --json list | json '.[0] | keys[]'); do
                api GET "/v1/instances?fields=$f"
                assert_eq "$(json -c '.[0] | keys' <<<"$body")" "[\"$f\"]" "field $f alone"
        done
        api GET "/v1/instances?fields=$(vsctl --json list | json '.[0] | keys | join(",")')"
        assert_eq "$(json -c 'map(keys_unsorted | sort)' <<<"$body")" "$want" "every field asked for is the whole view"
        for q in 'fields=name,bogus' 'fields=' 'fields=,' 'field=name'; do
                api GET "/v1/instances?$q"
                api_error 400
        done
        # the table is built from the fields it asks for
        vsctl list | grep -qE '^f1 +stopped +busybox +- +64M' || fail "table row for f1"
        vsctl list | grep -qE '^f2 +running +busybox +[0-9]+ ' || fail "table row for f2"
}

# The hosting limits: negative, zero where it means nothing, absurd, bad
# units, unknown names, CPUs and devices the host lacks.
test_bad_hosting_values() {
        local host_cpus
        host_cpus=$(nproc)
        for opt in "--io-weight -1" "--io-weight 10001" "--io-weight abc" "--io-weight 1.5" \
                "--cpu-weight -5" "--cpu-weight 99999" "--cpu-weight 1e3" \
                "--memory-soft 12Q" "--memory-soft -1M" "--swap 5X" "--memory unlimited --swap 64M" \
                "--cpuset 0-$((host_cpus + 3))" "--cpuset 99" "--cpuset 1-0" "--cpuset ,," \
                "--nofile 10" "--nofile 99999999" "--nofile lots" \
                "--rlimit nosuch=1" "--rlimit core=1M:1K" "--rlimit core=1Q" "--rlimit nproc=-1" \
                "--rlimit nproc" "--rlimit =1" "--rlimit nice=100" \
                "--io-write-bps /dev/nonexistent=1M" "--io-write-bps /dev/null=1M" "--io-read-bps 250:4095=1M" \
                "--io-read-iops 8:0=0" "--io-write-bps 8:0=fast" "--pids 0x10" "--pids 99999999" \
                "--memory 1M" "--cpus 0.001" "--cpus 1000"; do
                # shellcheck disable=SC2086
                unchanged --code 1 vsctl create h1 $opt
        done
        assert_eq "$(vsctl --json list | json length)" 0 "instances after bad values"
        vsctl create h2
        for opt in "--io-weight -1" "--rlimit core=2:1" "--cpuset 0-$((host_cpus + 3))" "--nofile 1"; do
                # shellcheck disable=SC2086
                unchanged --code 1 vsctl set h2 $opt
        done
        unchanged --code 2 vsctl set h2 --rlimit
        assert_eq "$(vsctl --json info h2 | jq -c '[.io_weight, .rlimits, .cpuset, .nofile]')" '[100,"","all",0]' "h2 after bad sets"
}
