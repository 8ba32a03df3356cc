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
