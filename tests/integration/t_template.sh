# SPDX-License-Identifier: LGPL-2.1-or-later
# Templates: build, list and remove through the daemon; failures leave
# nothing; the Debian builder with the shared cache.

# HTTP status of a request: http_status METHOD PATH
http_status() {
        curl -s -o /dev/null -w '%{http_code}' -X "$1" --unix-socket "$VSD_SOCKET" "http://vsd$2" "${@:3}"
}

# Point the daemon at a builders directory of the test's own (restart).
use_builders() {
        vsd_stop
        sed -i "s|^builders = .*|builders = $1|" "$T/vsd.conf"
        vsd_up
}

test_template_build_list_remove() {
        local out list

        out=$(vsctl template build bb2 --from busybox)
        note "build output: $out"
        grep -q '^Building the BusyBox' <<<"$out" || fail "no progress line in: $out"
        assert_eq "$(tail -n1 <<<"$out")" "Template bb2 built" "last line"
        [ -f "$T/root/templates/bb2/template.ini" ] && [ -x "$T/root/templates/bb2/rootfs/bin/busybox" ] ||
                fail "template bb2 not in place"
        [ -z "$(find "$T/root/templates" -maxdepth 1 -name '.*')" ] || fail "hidden leftovers: $(ls -A "$T/root/templates")"

        list=$(vsctl --json template list)
        assert_eq "$(json '.[] | select(.name == "bb2") | .os' <<<"$list")" busybox "os of bb2"
        assert_eq "$(json '.[] | select(.name == "busybox") | .os' <<<"$list")" busybox "os of busybox"
        assert_eq "$(json '.[] | select(.name == "bb2") | .instances | length' <<<"$list")" 0 "users of bb2"
        [ "$(json '.[] | select(.name == "bb2") | .size' <<<"$list")" -gt 100000 ] || fail "size of bb2"
        vsctl template list | grep -E '^bb2 +busybox +0 +[0-9.]+[KM] +BusyBox' || fail "table: $(vsctl template list)"
        assert_eq "$(vsctl --json template list | json 'length')" "$(vsctl --json templates | json 'length')" "templates alias"
        assert_eq "$(curl -sf --unix-socket "$VSD_SOCKET" http://vsd/v1/templates/bb2 | json .os)" busybox "GET one"

        # in use: neither rebuilt nor removed, nothing changed
        vsctl create u1 --template bb2 --net none >/dev/null
        vsctl create u2 --template bb2 --net none >/dev/null
        assert_eq "$(vsctl --json template list | json '.[] | select(.name == "bb2") | .instances | join(",")')" u1,u2 "users"
        local before
        before=$(stat -c %i "$T/root/templates/bb2/rootfs")
        expect_fail vsctl template build bb2 --from busybox
        assert_eq "$LAST_ERR" "vsctl: template 'bb2' is in use by u1, u2" "rebuild in use"
        assert_eq "$(http_status POST /v1/templates/bb2/build)" 409 "status of a rebuild in use"
        expect_fail vsctl template remove bb2
        assert_eq "$LAST_ERR" "vsctl: template 'bb2' is in use by u1, u2" "remove in use"
        assert_eq "$(http_status DELETE /v1/templates/bb2)" 409 "status of a remove in use"
        assert_eq "$(stat -c %i "$T/root/templates/bb2/rootfs")" "$before" "template untouched"

        # unused again: a rebuild replaces it, a remove removes it
        vsctl destroy u1
        vsctl destroy u2
        vsctl template build bb2 --from busybox >/dev/null
        [ "$(stat -c %i "$T/root/templates/bb2/rootfs")" != "$before" ] || fail "rebuild did not replace the template"
        vsctl template remove bb2
        [ ! -e "$T/root/templates/bb2" ] || fail "bb2 still there"
        ! vsctl template list | grep -q '^bb2 ' || fail "bb2 still listed"
        [ -z "$(find "$T/root/templates" -maxdepth 1 -name '.*')" ] || fail "hidden leftovers: $(ls -A "$T/root/templates")"

        # the builder named after the template: busybox -> templates/busybox
        vsctl template build busybox >/dev/null
        vsctl create u3 --net none >/dev/null
}

test_template_errors() {
        local snap
        snap=$(ls -A "$T/root/templates")
        expect_fail vsctl template remove nosuch
        assert_match "$LAST_ERR" "^vsctl: unknown template 'nosuch'" "remove unknown"
        assert_eq "$(http_status DELETE /v1/templates/nosuch)" 404 "status of remove unknown"
        expect_fail vsctl template build Bad_Name
        assert_match "$LAST_ERR" "^vsctl: invalid template name 'Bad_Name'" "bad name"
        expect_fail vsctl template build t1 --from nosuch
        assert_match "$LAST_ERR" "^vsctl: unknown builder 'nosuch' \(no .*/nosuch/build.sh\)$" "unknown builder"
        assert_eq "$(http_status POST /v1/templates/t1/build -d '{"builder":"nosuch"}')" 404 "status of unknown builder"
        expect_fail vsctl template build ubuntu-24
        assert_match "$LAST_ERR" "^vsctl: unknown builder 'ubuntu'" "builder from the name"
        expect_fail vsctl template build t1 --from ../busybox
        expect_fail --code 2 vsctl template
        expect_fail --code 2 vsctl template frobnicate
        expect_fail --code 2 vsctl template build
        assert_eq "$(ls -A "$T/root/templates")" "$snap" "templates after refused requests"
}

# A builder that fails half-way leaves nothing; its last line is the error.
test_template_build_failure() {
        mkdir -p "$T/builders/broken" "$T/builders/slow" "$T/builders/noini"
        cat >"$T/builders/broken/build.sh" <<'SH'
#!/bin/sh
mkdir -p "$1/rootfs/etc"
echo "step one: $VSD_TEMPLATE_NAME"
echo "cache: $VSD_TEMPLATE_CACHE"
echo "build.sh: the mirror is unreachable" >&2
exit 3
SH
        # slow: runs until the test lets it go (go-NAME next to it), however
        # long the test's checks take on a busy host; a minute at most
        cat >"$T/builders/slow/build.sh" <<'SH'
#!/bin/sh
mkdir -p "$1/rootfs"
echo started
i=0
while [ ! -e "${0%/*}/go-$VSD_TEMPLATE_NAME" ] && [ $i -lt 600 ]; do
        sleep 0.1
        i=$((i + 1))
done
echo "too slow" >&2
exit 1
SH
        cat >"$T/builders/noini/build.sh" <<'SH'
#!/bin/sh
mkdir -p "$1/rootfs"
echo "forgot template.ini"
SH
        chmod +x "$T"/builders/*/build.sh
        use_builders "$T/builders"

        local out rc=0
        out=$(vsctl template build t1 --from broken 2>"$T/err") || rc=$?
        assert_eq "$rc" 1 "exit status of a failed build"
        grep -qx "step one: t1" <<<"$out" || fail "progress not shown: $out"
        grep -qx "cache: $VSD_TEMPLATE_CACHE" <<<"$out" || fail "cache not passed: $out"
        assert_eq "$(cat "$T/err")" "vsctl: Failed to build template 't1': build.sh: the mirror is unreachable" "error line"
        [ -z "$(ls -A "$T/root/templates" | grep t1)" ] || fail "left behind: $(ls -A "$T/root/templates")"

        expect_fail vsctl template build t2 --from noini
        assert_match "$LAST_ERR" "^vsctl: Failed to build template 't2': .*template.ini" "no template.ini"
        [ -z "$(ls -A "$T/root/templates" | grep t2)" ] || fail "left behind: $(ls -A "$T/root/templates")"

        # one build per name at a time
        # the binary itself: the vsctl function would carry the test's ERR trap
        "$B/vsctl" --socket "$VSD_SOCKET" template build t3 --from slow >"$T/slow.out" 2>&1 &
        local bg=$!
        wait_for grep -q started "$T/slow.out"
        expect_fail vsctl template build t3 --from slow
        assert_eq "$LAST_ERR" "vsctl: template 't3' is already being built" "second build"
        assert_eq "$(http_status POST /v1/templates/t3/build)" 409 "status of a second build"
        touch "$T/builders/slow/go-t3"
        wait "$bg" && fail "the slow build should fail" || true
        assert_eq "$(tail -n1 "$T/slow.out")" "vsctl: Failed to build template 't3': too slow" "slow build's end"
        [ -z "$(ls -A "$T/root/templates" | grep t3)" ] || fail "left behind: $(ls -A "$T/root/templates")"

        # a client that leaves does not stop the build; a daemon that exits
        # kills it, tells the client and leaves nothing
        "$B/vsctl" --socket "$VSD_SOCKET" template build t5 --from slow >"$T/t5.out" 2>&1 &
        bg=$!
        wait_for grep -q started "$T/t5.out"
        kill "$bg"
        wait "$bg" || true
        touch "$T/builders/slow/go-t5"
        wait_for grep -q "Failed to build template 't5': too slow" "$T/vsd.log"
        "$B/vsctl" --socket "$VSD_SOCKET" template build t6 --from slow >"$T/t6.out" 2>&1 &
        bg=$!
        wait_for grep -q started "$T/t6.out"
        vsd_stop
        wait "$bg" && fail "the build should fail when vsd exits" || true
        assert_eq "$(tail -n1 "$T/t6.out")" "vsctl: Failed to build template 't6': vsd is shutting down" "end at daemon exit"
        [ -z "$(ls -A "$T/root/templates" | grep t6)" ] || fail "left behind: $(ls -A "$T/root/templates")"
        vsd_up

        # a daemon killed mid-build: the next one removes the half template
        "$B/vsctl" --socket "$VSD_SOCKET" template build t4 --from slow >/dev/null 2>&1 &
        bg=$!
        wait_for test -d "$T/root/templates/.t4.build"
        vsd_kill9
        wait "$bg" || true
        vsd_up
        [ ! -e "$T/root/templates/.t4.build" ] || fail "leftover .t4.build after restart"
        grep -q "Removed the leftover .*\.t4\.build" "$T/vsd.log" || fail "leftover removal not logged"
}

# timeout test_template_debian 900
test_template_debian() {
        local start=$SECONDS r=$T/root/templates/debian-12/rootfs
        vsd_debian_template
        note "debian-12 build took $((SECONDS - start))s"
        assert_eq "$(readlink "$r/sbin/init")" /lib/systemd/systemd "/sbin/init"
        [ -x "$r/lib/systemd/systemd" ] || fail "no systemd"
        [ -z "$(ls "$r"/etc/ssh/ssh_host_* 2>/dev/null)" ] || fail "ssh host keys baked in: $(ls "$r"/etc/ssh/ssh_host_*)"
        grep -q 'ssh-keygen -A' "$r/etc/systemd/system/ssh.service.d/"*.conf || fail "no host key generation at first boot"
        [ -f "$r/etc/machine-id" ] && [ ! -s "$r/etc/machine-id" ] || fail "machine-id not empty"
        [ ! -s "$r/etc/hostname" ] || fail "hostname baked in: $(cat "$r/etc/hostname")"
        [ -z "$(ls -A "$r/var/lib/apt/lists" | grep -v '^partial$')" ] || fail "apt lists kept"
        [ -z "$(ls "$r"/var/cache/apt/archives/*.deb 2>/dev/null)" ] || fail "debs kept"
        assert_match "$(grep '^root:' "$r/etc/shadow" | cut -d: -f2)" '^[*!]' "root password locked"
        ! grep -q eth0 <(grep -v '^#' "$r/etc/network/interfaces") || fail "eth0 in /etc/network/interfaces"
        local t
        t=$(vsctl --json template list | json '.[] | select(.name == "debian-12")')
        assert_eq "$(json .os <<<"$t")" debian-12 "os"
        assert_eq "$(json .halt_signal <<<"$t")" SIGRTMIN+3 "halt signal"
        vsctl create deb1 --template debian-12 --net none >/dev/null
        assert_eq "$(vsctl --json info deb1 | json .template)" debian-12 "instance's template"
        expect_fail vsctl template remove debian-12
        assert_eq "$LAST_ERR" "vsctl: template 'debian-12' is in use by deb1" "in use"
}

# The content id of template NAME once the daemon has it (it answers null
# while its helper computes it); fails when it never comes.
has_content_id() { # NAME
        vsctl --json template info "$1" | jq -e '.content_id | strings'
}

# A template made before the caches (here: by hand, as an older vsd left
# it) gets its size and content id from a helper while the daemon answers
# everything else; a rebuild comes with the new build's, at once.
# timeout test_template_caches_off_the_loop 240
test_template_caches_off_the_loop() {
        local d=$T/root/templates/big info id size
        # the helper hashes at 2 MiB/s (the test hook): 16 MiB take 8 s
        vsd_stop
        VSD_TEST_HASH_BPS=2M vsd_up
        cp -a "$T/root/templates/busybox" "$d"
        rm -f "$d/.content-id" "$d/.size"
        head -c $((16 << 20)) /dev/urandom >"$d/rootfs/blob"

        info=$(vsctl --json template info big)
        assert_eq "$(jq -r .content_id <<<"$info")" null "content id while it is computed"
        assert_eq "$(jq -r .size <<<"$info")" null "size while it is computed"
        # the daemon answers the rest meanwhile, the hash still going
        vsctl list >/dev/null
        vsctl template list | grep -E '^big +busybox +0 +- ' || fail "table while measured: $(vsctl template list)"
        assert_eq "$(vsctl --json template info big | jq -r .content_id)" null "content id after the other requests"
        vsctl template info big | grep -qx 'content_id   (being computed)' || fail "info: $(vsctl template info big)"

        wait_for -t 60 has_content_id big
        id=$(vsctl --json template info big | json .content_id)
        assert_match "$id" '^sha256:[0-9a-f]{64}$' "content id"
        assert_eq "$(cat "$d/.content-id")" "$id" "the kept content id"
        size=$(vsctl --json template info big | json .size)
        [ "$size" -gt $((16 << 20)) ] || fail "size $size of a template with a 16 MiB file"
        assert_eq "$(vsctl --json template list | json '.[] | select(.name == "big") | .size')" "$size" "size in the list"

        # a rebuild: the new build's values, there as soon as it is in place
        vsctl template build big --from busybox >/dev/null
        info=$(vsctl --json template info big)
        assert_match "$(jq -r .content_id <<<"$info")" '^sha256:[0-9a-f]{64}$' "content id after the rebuild"
        [ "$(jq -r .content_id <<<"$info")" != "$id" ] || fail "the rebuild kept the old content id"
        [ "$(jq -r .size <<<"$info")" -lt $((16 << 20)) ] || fail "the rebuild kept the old size: $(jq -r .size <<<"$info")"
        [ "$(jq -r .size <<<"$info")" -gt 100000 ] || fail "size after the rebuild: $(jq -r .size <<<"$info")"
        # and it is the content id of what is there
        rm "$d/.content-id"
        wait_for -t 60 has_content_id big
        assert_eq "$(vsctl --json template info big | json .content_id)" "$(jq -r .content_id <<<"$info")" "content id recomputed"
}

# A template directory that cannot take its caches (an immutable one here;
# a store mounted read-only alike) keeps them in the state root instead
# (<root>/cache/templates): its content id comes, and stays, rather than
# being hashed again by every request, move and export (before: "content_id"
# null forever, a helper hashing the whole tree at each request).
# timeout test_template_caches_of_a_read_only_template 180
test_template_caches_of_a_read_only_template() {
        local d=$T/root/templates/ro id
        vsd_stop
        VSD_TEST_HASH_BPS=4M vsd_up
        cp -a "$T/root/templates/busybox" "$d"
        rm -f "$d/.content-id" "$d/.size"
        head -c $((8 << 20)) /dev/urandom >"$d/rootfs/blob"
        trap "chattr -i '$d' 2>/dev/null || true" EXIT
        chattr +i "$d" || fail "cannot make $d immutable"
        assert_eq "$(vsctl --json template info ro | jq -r .content_id)" null "content id while it is computed"
        wait_for -t 30 has_content_id ro
        id=$(vsctl --json template info ro | json .content_id)
        [ ! -e "$d/.content-id" ] || fail "a cache was written into the immutable directory"
        # the id of that content: a writable copy's
        cp -a "$d" "$T/root/templates/rw"
        chattr -i "$T/root/templates/rw"
        wait_for -t 30 has_content_id rw
        assert_eq "$(vsctl --json template info rw | json .content_id)" "$id" "content id of the same tree"
        # kept across a daemon start: there at once, no hash
        vsd_stop
        VSD_TEST_HASH_BPS=4M vsd_up
        assert_eq "$(vsctl --json template info ro | jq -r .content_id)" "$id" "content id after a daemon start"
        [ "$(vsctl --json template info ro | jq -r .size)" -gt $((8 << 20)) ] || fail "no size kept"
        chattr -i "$d"
        # a directory no longer there: its spare caches go at the next start
        ls "$T/root/cache/templates" | grep -q . || fail "no spare caches in the state root"
        vsctl template remove ro
        vsd_stop
        vsd_up
        assert_eq "$(ls "$T/root/cache/templates" | wc -l)" 0 "spare caches of a removed template"
}

# A daemon killed while a helper wrote a template's cache leaves its
# temporary (.content-id.PID, .size.PID): the next daemon removes it, and
# the kept id stays that of the template.
test_template_cache_temporaries_removed() {
        local d=$T/root/templates/bb2 id
        cp -a "$T/root/templates/busybox" "$d"
        rm -f "$d/.content-id" "$d/.size"
        wait_for -t 30 has_content_id bb2
        id=$(vsctl --json template info bb2 | json .content_id)
        echo "sha256:0000" >"$d/.content-id.4242"
        echo 7 >"$d/.size.4243"
        vsd_kill9
        vsd_up
        [ ! -e "$d/.content-id.4242" ] || fail "the stale .content-id.4242 is still there"
        [ ! -e "$d/.size.4243" ] || fail "the stale .size.4243 is still there"
        assert_eq "$(vsctl --json template info bb2 | json .content_id)" "$id" "content id after the restart"
        assert_eq "$(cat "$d/.content-id")" "$id" "the kept content id"
}

