# SPDX-License-Identifier: LGPL-2.1-or-later
# The web dashboard ([dashboard] listen): its token keeps everyone else out,
# and the page, in headless Chromium, lists the instances and stops one.

# dash_up [TOKEN_MODE]: the daemon again with a dashboard on a free port of
# 127.0.0.1 and a fresh token (mode 0640 unless given); DASH_URL, DASH_TOKEN.
dash_up() {
        DASH_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        DASH_URL="http://127.0.0.1:$DASH_PORT"
        DASH_TOKEN=$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')
        (umask 077 && printf '%s\n' "$DASH_TOKEN" >"$T/dashboard.token")
        chmod "${1:-0640}" "$T/dashboard.token"
        printf '%s\n' "[dashboard]" "listen = 127.0.0.1:$DASH_PORT" "token_file = $T/dashboard.token" >>"$T/vsd.conf"
        vsd_stop
        vsd_up
}

# code [CURL ARGS...] PATH: the HTTP status of a request to the dashboard.
code() {
        local path=${*: -1}
        curl -s -o "$T/body" -w '%{http_code}' "${@:1:$#-1}" "$DASH_URL$path"
}

browser() {
        local mods="$B/dashboard/node_modules"
        [ -d "$mods/playwright-core" ] || fail "playwright-core is not in $mods (make builds it)"
        [ -x /usr/bin/chromium ] || fail "chromium is needed (make deps)"
        HOME="$T" timeout "$(scaled 90)" node "$VSD_SRC/tests/dashboard/browser.cjs" "$mods" "$DASH_URL" "$DASH_TOKEN" "$@"
}

# timeout test_dashboard_page_lists_and_stops 180
test_dashboard_page_lists_and_stops() {
        dash_up
        vsctl create web --start
        vsctl create db --start
        vsctl create idle
        local out
        out=$(browser list:web,db,idle stop:db badlogin 2>&1) || fail "$out"
        assert_match "$out" "ok list db=running idle=stopped web=running" "the page's list"
        assert_match "$out" "ok stop db" "the stop button"
        # the daemon's word, not the page's
        assert_eq "$(inst_state db)" stopped "db after its stop button"
        assert_eq "$(inst_state web)" running "web beside it"
}

test_dashboard_refuses_without_token() {
        dash_up
        vsctl create web --start
        # nothing without the token: not the page, not the files, not the API
        assert_eq "$(code /)" 401 "GET / without the token"
        assert_match "$(cat "$T/body")" 'name="token"' "the login form with the 401"
        assert_eq "$(code /app.js)" 401 "GET /app.js without the token"
        assert_eq "$(code /v1/instances)" 401 "GET /v1/instances without the token"
        assert_eq "$(code -X POST /v1/instances/web/stop)" 401 "POST stop without the token"
        assert_eq "$(code /metrics)" 401 "GET /metrics without the token"
        # a wrong token, as a header, a cookie, a login, or one of another length
        assert_eq "$(code -H "Authorization: Bearer ${DASH_TOKEN%?}x" /v1/instances)" 401 "a wrong bearer token"
        assert_eq "$(code -H "Authorization: Bearer ${DASH_TOKEN}x" /v1/instances)" 401 "the token and one more character"
        assert_eq "$(code -H "Authorization: Bearer ${DASH_TOKEN:0:8}" /v1/instances)" 401 "the token's start"
        assert_eq "$(code -X POST -H "Authorization: Bearer nope" -H "X-Vsd-Dashboard: 1" /v1/instances/web/stop)" 401 \
                "POST stop with a wrong token"
        assert_eq "$(code -b "vsd_dashboard=${DASH_TOKEN%?}x" /v1/instances)" 401 "a wrong cookie"
        assert_eq "$(code --data-urlencode "token=${DASH_TOKEN%?}x" /login)" 401 "a login with a wrong token"
        ! grep -qi '^set-cookie' < <(curl -s -D - -o /dev/null --data-urlencode "token=bad" "$DASH_URL/login") ||
                fail "a wrong login got a cookie"
        assert_eq "$(inst_state web)" running "web after the refused stops"

        # the token: the API the page uses, and only that
        assert_eq "$(code -H "Authorization: Bearer $DASH_TOKEN" /v1/instances)" 200 "GET /v1/instances with the token"
        assert_eq "$(jq -r '.[0].name' "$T/body")" web "the listing"
        assert_eq "$(code -H "Authorization: Bearer $DASH_TOKEN" /)" 200 "the page with the token"
        assert_eq "$(code -H "Authorization: Bearer $DASH_TOKEN" -X POST -d '{"name":"x"}' /v1/instances)" 404 \
                "create through the dashboard"
        assert_eq "$(code -H "Authorization: Bearer $DASH_TOKEN" -X DELETE /v1/instances/web)" 404 "destroy through it"
        assert_eq "$(code -H "Authorization: Bearer $DASH_TOKEN" -X POST -d '{"argv":["true"]}' /v1/instances/web/exec)" \
                404 "exec through it"
        ! vsctl info x >/dev/null 2>&1 || fail "an instance was created through the dashboard"

        # the login's cookie: enough to read, not to change something from
        # another site's page (no X-Vsd-Dashboard header, a foreign Origin)
        local cookie
        cookie=$(curl -s -D - -o /dev/null --data-urlencode "token=$DASH_TOKEN" "$DASH_URL/login" |
                sed -n 's/^[Ss]et-[Cc]ookie: \(vsd_dashboard=[^;]*\);.*HttpOnly.*SameSite=Strict.*/\1/p')
        [ -n "$cookie" ] || fail "no HttpOnly, SameSite=Strict cookie after the login"
        assert_eq "$(code -b "$cookie" /v1/instances)" 200 "GET with the login's cookie"
        assert_eq "$(code -b "$cookie" -X POST /v1/instances/web/stop)" 403 "POST stop with the cookie alone"
        assert_eq "$(code -b "$cookie" -X POST -H "X-Vsd-Dashboard: 1" -H "Origin: http://evil.example" \
                /v1/instances/web/stop)" 403 "POST stop from another origin"
        assert_eq "$(inst_state web)" running "web after the cross-site stops"
        assert_eq "$(code -b "$cookie" -X POST -H "X-Vsd-Dashboard: 1" -H "Origin: $DASH_URL" \
                /v1/instances/web/stop)" 200 "POST stop from the page's origin"
        assert_eq "$(inst_state web)" stopped "web after the page's stop"
        assert_eq "$(code -H "Authorization: Bearer $DASH_TOKEN" -X POST /v1/instances/web/start)" 200 "start with the token"
        assert_eq "$(inst_state web)" running "web after start with the token"
}

# No token file, or one others may read: no dashboard at all.
test_dashboard_off_without_token_file() {
        dash_up 0644
        ! curl -s -o /dev/null "$DASH_URL/" || fail "a dashboard with a token file others can read"
        assert_match "$(vsctl version)" "dashboard" "vsctl version names the dashboard degraded"
        rm -f "$T/dashboard.token"
        vsd_stop
        vsd_up
        ! curl -s -o /dev/null "$DASH_URL/" || fail "a dashboard without its token file"
        assert_match "$(vsctl version)" "dashboard" "degraded without the token file"
        grep -q "dashboard.token" "$T/vsd.log" || fail "the log does not name the token file"
}

# ws NAME MODE [ARGS...]: the console's WebSocket, by tests/dashboard/wsclient.py.
ws() {
        WS_TIMEOUT=$(scaled 20) timeout "$(scaled 60)" python3 "$VSD_SRC/tests/dashboard/wsclient.py" "$DASH_URL" "$@"
}

# console_prompt NAME: the shell busybox init runs on the console is up.
console_prompt() {
        wait_for grep -q "@$1" "$T/root/instances/$1/console.log"
}

# In headless Chromium: the console button opens a terminal on the
# instance's console, a typed command runs there, and the console's size is
# the terminal's; the same console as vsctl console's (its log has it).
# timeout test_dashboard_console_in_browser 180
test_dashboard_console_in_browser() {
        dash_up
        vsctl create web --start
        console_prompt web
        local out
        out=$(browser console:web 2>&1) || fail "$out"
        assert_match "$out" "ok console web hello42 size [0-9]+ [0-9]+" "the browser console"
        grep -q hello42 "$T/root/instances/web/console.log" || fail "console.log lacks the browser session's output"
        # the page is gone: the console is detached, and serves the next one
        ws web echo --token "$DASH_TOKEN" >/dev/null || fail "the console after the browser left"
        assert_eq "$(inst_state web)" running "web after the browser console"
}

# The console's WebSocket needs the token as every dashboard route does,
# and the dashboard's own Origin: a page of another site cannot open it
# with the login's cookie (cross-site WebSocket hijacking).
test_dashboard_console_refused() {
        dash_up
        vsctl create web --start
        console_prompt web
        local cookie
        cookie=$(curl -s -D - -o /dev/null --data-urlencode "token=$DASH_TOKEN" "$DASH_URL/login" |
                sed -n 's/^[Ss]et-[Cc]ookie: \(vsd_dashboard=[^;]*\);.*/\1/p')
        [ -n "$cookie" ] || fail "no cookie after the login"
        assert_eq "$(ws web status)" 401 "the console without the token"
        assert_eq "$(ws web status --token "${DASH_TOKEN%?}x")" 401 "the console with a wrong token"
        assert_eq "$(ws web status --cookie "vsd_dashboard=${DASH_TOKEN%?}x")" 401 "the console with a wrong cookie"
        assert_eq "$(ws web status --cookie "$cookie" --origin http://evil.example)" 403 \
                "the console with the cookie from another site's page"
        assert_eq "$(ws web status --cookie "$cookie" --origin "http://localhost:$DASH_PORT")" 403 \
                "the console from another origin of the same machine"
        assert_eq "$(ws web status --token "$DASH_TOKEN" --origin http://evil.example)" 403 \
                "the console with the token from another site's page"
        assert_eq "$(ws web status --cookie "$cookie" --no-origin)" 403 "the console without an Origin"
        # nor as the raw console protocol, which no page could use anyway
        assert_eq "$(code -H "Authorization: Bearer $DASH_TOKEN" -H "Upgrade: vsd-console" -H "Connection: Upgrade" \
                -H "Origin: $DASH_URL" /v1/instances/web/console)" 403 "vsd-console on the dashboard listener"
        # the page's own: let in, and the console answers
        assert_eq "$(ws web status --cookie "$cookie")" 101 "the console from the page's origin"
        assert_match "$(ws web echo --cookie "$cookie")" "ok echo ws42" "the console with the cookie"
        assert_match "$(ws web echo --token "$DASH_TOKEN")" "ok echo ws42" "the console with the token"
        ! grep -q "evil" "$T/root/instances/web/console.log" || fail "a refused client reached the console"
}

# Malformed frames close that one connection and nothing else: the daemon
# stays up, the instance runs, the console works.
test_dashboard_console_bad_frames() {
        dash_up
        vsctl create web --start
        console_prompt web
        local kind out pid
        pid=$(vsd_pid)
        for kind in unmasked opcode length huge early; do
                out=$(ws web "bad:$kind" --token "$DASH_TOKEN") || fail "bad:$kind: $out"
                assert_match "$out" "^(closed [0-9]+|eof)$" "vsd's answer to a frame that is $kind"
                kill -0 "$pid" || fail "vsd died of a frame that is $kind"
        done
        ! grep -q "unmasked" "$T/root/instances/web/console.log" || fail "an unmasked frame's payload reached the console"
        assert_match "$(ws web echo --token "$DASH_TOKEN")" "ok echo ws42" "the console after the bad frames"
        assert_eq "$(inst_state web)" running "web after the bad frames"
        vsctl list >/dev/null
}

# A browser that stops reading while the console pours out is dropped, not
# waited for: the daemon answers meanwhile, and what it had queued for that
# browser is bounded.
# timeout test_dashboard_console_slow_reader 120
test_dashboard_console_slow_reader() {
        dash_up
        vsctl create web --start
        console_prompt web
        ws web "noread:$(scaled 4)" --token "$DASH_TOKEN" >"$T/noread" 2>&1 &
        local wpid=$!
        vsctl exec web -- sh -c 'yes vsd-flood-line-of-console-output >/dev/console & echo $! >/tmp/flood'
        # the daemon serves while one browser is stuck
        timeout "$(scaled 5)" "$B/vsctl" --socket "$VSD_SOCKET" list >/dev/null || fail "vsd stalled by a browser that does not read"
        wait "$wpid" || fail "$(cat "$T/noread")"
        vsctl exec web -- sh -c 'kill $(cat /tmp/flood)'
        local out
        out=$(cat "$T/noread")
        assert_match "$out" "^eof [0-9]+$" "the browser that did not read"
        [ "${out#eof }" -lt $((8 << 20)) ] || fail "vsd queued ${out#eof } bytes for a browser that did not read"
        assert_match "$(ws web echo --token "$DASH_TOKEN")" "ok echo ws42" "the console after the dropped browser"
}

# The console's end ends the browser's session, with a close frame: the
# instance stopping, the daemon exiting (which waits for no browser).
# timeout test_dashboard_console_ends 120
test_dashboard_console_ends() {
        dash_up
        vsctl create web --start
        console_prompt web
        ws web wait --token "$DASH_TOKEN" >"$T/wait1" 2>&1 &
        local wpid=$!
        wait_for grep -q attached "$T/wait1"
        vsctl stop web
        wait "$wpid" || fail "$(cat "$T/wait1")"
        assert_match "$(cat "$T/wait1")" "closed 1001" "the browser's session when its instance stopped"

        # the new boot's shell: one more prompt in the log than before
        local prompts
        prompts=$(grep -c "@web" "$T/root/instances/web/console.log")
        vsctl start web
        wait_for sh -c '[ "$(grep -c @web "$1")" -gt "$2" ]' - "$T/root/instances/web/console.log" "$prompts"
        ws web wait --token "$DASH_TOKEN" >"$T/wait2" 2>&1 &
        wpid=$!
        wait_for grep -q attached "$T/wait2"
        vsd_stop
        wait "$wpid" || fail "$(cat "$T/wait2")"
        assert_match "$(cat "$T/wait2")" "closed 1001" "the browser's session when the daemon exited"
        vsd_up
        assert_eq "$(inst_state web)" running "web after the daemon's restart"
        assert_match "$(ws web echo --token "$DASH_TOKEN")" "ok echo ws42" "the console after the daemon's restart"
}
