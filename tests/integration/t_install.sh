# SPDX-License-Identifier: LGPL-2.1-or-later
# What an operator installs: `make install` into a staging tree (DESTDIR, so
# that nothing of the host's /etc, /run/vsd or systemd is touched), the
# README's walk-through run against the installed programs, the systemd
# unit as systemd reads it and as it treats the daemon's cgroup, and the
# bash completion.

# netns test_readme_walkthrough
# timeout test_readme_walkthrough 600
# timeout test_install_layout 300

# install_tree: make install into $T/dest (PREFIX /usr/local, the default);
# sets DEST and PFX (the prefix inside it).
install_tree() {
        DEST=$T/dest
        PFX=$DEST/usr/local
        make -s -C "$VSD_SRC" B="$B" DESTDIR="$DEST" install >"$T/install.log" 2>&1 ||
                fail "make install failed: $(tail -n 3 "$T/install.log")"
}

test_install_layout() {
        vsd_setup
        install_tree
        local f
        for f in sbin/vsd bin/vsctl share/vsd/templates/busybox/build.sh share/vsd/templates/debian/build.sh; do
                [ -x "$PFX/$f" ] || fail "make install did not install an executable $f"
        done
        for f in share/vsd/templates/busybox/inittab share/man/man8/vsd.8 share/man/man8/vsctl.8 \
                share/man/man5/vsd.conf.5 lib/systemd/system/vsd.service lib/sysusers.d/vsd.conf \
                lib/tmpfiles.d/vsd.conf share/bash-completion/completions/vsctl; do
                [ -f "$PFX/$f" ] || fail "make install did not install $f"
        done
        [ -f "$DEST/etc/vsd/vsd.conf" ] || fail "make install did not install /etc/vsd/vsd.conf"
        # the unit runs the installed daemon
        assert_eq "$(sed -n 's/^ExecStart=//p' "$PFX/lib/systemd/system/vsd.service")" /usr/local/sbin/vsd "ExecStart"
        # the group and /run/vsd, as systemd-sysusers and systemd-tmpfiles read them
        grep -qE '^g[[:space:]]+vsd[[:space:]]' "$PFX/lib/sysusers.d/vsd.conf" || fail "sysusers.d makes no group vsd"
        grep -qE '^d[[:space:]]+/run/vsd[[:space:]]' "$PFX/lib/tmpfiles.d/vsd.conf" || fail "tmpfiles.d makes no /run/vsd"
        if command -v systemd-tmpfiles >/dev/null; then
                systemd-tmpfiles --root="$DEST" --create "$PFX/lib/tmpfiles.d/vsd.conf" 2>"$T/tmpfiles.err" ||
                        fail "systemd-tmpfiles refuses the file: $(cat "$T/tmpfiles.err")"
                assert_eq "$(stat -c %a "$DEST/run/vsd")" 755 "mode of /run/vsd made by systemd-tmpfiles"
        fi
        # an operator's vsd.conf survives the next install
        echo "# the operator's" >>"$DEST/etc/vsd/vsd.conf"
        install_tree
        grep -q "^# the operator's" "$DEST/etc/vsd/vsd.conf" || fail "make install overwrote an existing vsd.conf"
        # the installed manual pages read
        MANPATH=$PFX/share/man man -w vsd.conf >/dev/null 2>&1 || fail "man vsd.conf not found in the installed tree"
}

# The unit as systemd reads it: systemd-analyze verify on the installed file,
# its ExecStart pointed at the staged binary (verify checks that it exists)
# and its Documentation= at the staged manual pages.  No warning passes.
test_unit_verifies() {
        command -v systemd-analyze >/dev/null || { note "no systemd-analyze: skipped"; return 0; }
        vsd_setup
        install_tree
        sed "s|^ExecStart=/usr/local/sbin/vsd|ExecStart=$PFX/sbin/vsd|" "$PFX/lib/systemd/system/vsd.service" \
                >"$T/vsd.service"
        local out rc=0
        out=$(cd "$T" && MANPATH=$PFX/share/man SYSTEMD_LOG_LEVEL=notice systemd-analyze verify "$T/vsd.service" 2>&1) || rc=$?
        [ "$rc" -eq 0 ] && [ -z "$out" ] || fail "systemd-analyze verify (exit $rc): $out"
        # and it does notice a broken one (the check can fail)
        sed 's/^KillMode=process/KillMode=bogus/' "$T/vsd.service" >"$T/bad.service"
        out=$(cd "$T" && MANPATH=$PFX/share/man systemd-analyze verify "$T/bad.service" 2>&1) || true
        assert_match "$out" "[Kk]ill ?[Mm]ode" "systemd-analyze on a unit with a bad KillMode"
}

# The cgroup v2 hierarchy systemd tracks services in: the unified one of a
# hybrid host, or the only one.
cg2_root() {
        awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo
}

# What systemd does to the service: the daemon runs in a cgroup of its own
# (the unit's), a stop signals its main process alone (KillMode=process).
# The instance is not in that cgroup, so it survives, and the next daemon,
# started in the same cgroup, re-adopts it.
test_service_stop_keeps_instances() {
        vsd_setup
        local cg2 svc home
        cg2=$(cg2_root)
        [ -n "$cg2" ] || fail "no cgroup2 mount"
        # where this shell goes back to after starting a daemon
        home=$cg2$(sed -n 's/^0:://p' /proc/self/cgroup)
        svc=$cg2/$VSD_CG.service
        mkdir "$svc" || fail "cannot make $svc"
        # the processes left in it go back to the root, so that it can go
        # (the daemon's lxcfs and holder outlive this shell: vsd_down ends them)
        trap 'for p in $(cat "'"$svc"'/cgroup.procs" 2>/dev/null); do echo "$p" >"'"$cg2"'/cgroup.procs"; done; rmdir "'"$svc"'"' EXIT
        # the runner's daemon, started outside, makes way
        vsd_stop
        echo "$BASHPID" >"$svc/cgroup.procs" || fail "cannot enter $svc"
        vsd_up
        echo "$BASHPID" >"$home/cgroup.procs"
        grep -qx "$(vsd_pid)" "$svc/cgroup.procs" || fail "the daemon is not in the service's cgroup"
        vsctl create s1 --start
        local pid
        pid=$(inst_pid s1)
        ! grep -q "/$VSD_CG.service\$" "/proc/$pid/cgroup" || fail "the instance's init is in the daemon's service cgroup: $(cat "/proc/$pid/cgroup")"
        # systemctl stop vsd: SIGTERM to the main process only
        vsd_stop
        alive "$pid" || fail "the instance died with the service"
        echo "$BASHPID" >"$svc/cgroup.procs"
        vsd_up
        echo "$BASHPID" >"$home/cgroup.procs"
        assert_eq "$(inst_state s1)" running "state after the service's restart"
        assert_eq "$(inst_pid s1)" "$pid" "init after the service's restart"
        vsctl exec s1 -- true || fail "exec into the re-adopted instance"
}

# The bash completion, sourced and asked as bash asks it.
complete_words() { # WORD... (the last one is being completed)
        COMP_WORDS=("$@")
        COMP_CWORD=$(($# - 1))
        COMP_LINE="$*"
        COMP_POINT=${#COMP_LINE}
        COMPREPLY=()
        _vsctl vsctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
        printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ' | sed 's/ $//'
}

test_bash_completion() {
        vsctl create web1 >/dev/null
        vsctl create web2 >/dev/null
        vsctl create db1 >/dev/null
        PATH=$B:$PATH
        # shellcheck source=/dev/null
        . "$VSD_SRC/dist/vsctl.bash"
        complete -p vsctl | grep -q _vsctl || fail "the completion is not registered for vsctl"
        local s=(vsctl --socket "$VSD_SOCKET")
        # commands, as vsctl help lists them
        assert_eq "$(complete_words vsctl st)" "start stats stop" "vsctl st<TAB>"
        assert_eq "$(complete_words "${s[@]}" resto)" "restore restore-snapshot" "vsctl --socket S resto<TAB>"
        # instance names from the daemon of --socket
        assert_eq "$(complete_words "${s[@]}" start w)" "web1 web2" "vsctl start w<TAB>"
        assert_eq "$(complete_words "${s[@]}" info "")" "db1 web1 web2" "vsctl info <TAB>"
        assert_eq "$(VSD_SOCKET=$VSD_SOCKET complete_words vsctl stop d)" "db1" "vsctl stop d<TAB> with \$VSD_SOCKET"
        # only the first argument is an instance
        assert_eq "$(complete_words "${s[@]}" clone web1 w)" "" "vsctl clone web1 w<TAB>"
        # flags, from vsctl help COMMAND
        assert_eq "$(complete_words "${s[@]}" stop web1 --)" "--help --json --kill --timeout" "vsctl stop web1 --<TAB>"
        assert_match "$(complete_words "${s[@]}" create x --mem)" "^--memory --memory-soft$" "vsctl create x --mem<TAB>"
        # values: templates, sort keys; none after an option that takes a size
        assert_eq "$(complete_words "${s[@]}" create x --template "")" "busybox" "vsctl create x --template <TAB>"
        assert_eq "$(complete_words "${s[@]}" stats --sort m)" "mem mem%" "vsctl stats --sort m<TAB>"
        assert_eq "$(complete_words "${s[@]}" set web1 --memory "")" "" "vsctl set web1 --memory <TAB>"
        # an option with its value before the instance does not count as it
        assert_eq "$(complete_words "${s[@]}" stop --timeout 5s w)" "web1 web2" "vsctl stop --timeout 5s w<TAB>"
        # template subcommands and names
        assert_eq "$(complete_words "${s[@]}" template "")" "build list remove" "vsctl template <TAB>"
        assert_eq "$(complete_words "${s[@]}" template remove b)" "busybox" "vsctl template remove b<TAB>"
        # nothing after exec's --: that is the instance's command line
        assert_eq "$(complete_words "${s[@]}" exec web1 -- w)" "" "vsctl exec web1 -- w<TAB>"
        # no daemon: no names, no error on the terminal
        local err
        err=$(complete_words vsctl --socket "$T/none.sock" start w 2>&1 >/dev/null)
        assert_eq "$err" "" "stderr of a completion without a daemon"
}

# The README's walk-through, command by command, against the installed
# programs: make install, then demo.sh (what make demo runs) with its daemon
# on the test's paths and in the test's network namespace (the
# README's addresses, 10.77.0.0/24, are then the test's own), then every
# vsctl line of the README's code blocks.  A README line this test does not
# know fails it, so that the README cannot drift from what works.
readme_vsctl_lines() {
        awk '/^```/ { code = !code; next } code' "$VSD_SRC/README.md" | sed 's/[[:space:]]*#.*$//' |
                grep -E '^vsctl ' || true
}

test_readme_walkthrough() {
        # the runner's daemon makes way for the demo's, on the same paths;
        # the template it built with the checkout's builder goes too
        vsd_stop
        rm -rf "$T/root/templates/busybox"
        vsd_net_names
        install_tree
        # the installed vsd.conf, with the test's paths and names (the
        # network's addresses are the installed defaults)
        sed -e "s|^root = /var/lib/vsd|root = $T/root|" -e "s|^run_dir = /run/vsd|run_dir = $T/run|" \
                -e "s|^socket = /run/vsd/vsd.sock|socket = $VSD_SOCKET|" -e "s|^parent = vsd|parent = $VSD_CG|" \
                -e "s|^bridge = vsbr0|bridge = $VSD_BRIDGE|" -e "s|^link_prefix = vsh|link_prefix = $VSD_LINK_PREFIX|" \
                -e "s|^nft_table = vsd|nft_table = $VSD_NFT_TABLE|" \
                -e "s|^#builders = .*|builders = $PFX/share/vsd/templates|" \
                -e "s|^#cache = .*|cache = $VSD_TEMPLATE_CACHE|" "$DEST/etc/vsd/vsd.conf" >"$T/vsd.conf"
        grep -q "^builders = $PFX/share/vsd/templates" "$T/vsd.conf" || fail "the installed vsd.conf has no #builders line"
        # demo.sh, with what it finds installed; the template it builds is
        # the installed builder's (the checkout's is not on any path)
        nsenter --net="/run/netns/$VSD_NETNS" env SBINDIR="$PFX/sbin" BINDIR="$PFX/bin" VSD_CONF="$T/vsd.conf" \
                VSD_SOCKET="$VSD_SOCKET" VSD_LOG="$T/vsd.log" VSD_PIDFILE="$T/vsd.pid" DEMO_SERVICE=no \
                "$VSD_SRC/demo.sh" >"$T/demo.log" 2>&1 || fail "demo.sh failed: $(tail -n 3 "$T/demo.log")"
        local vsctl_bin=$PFX/bin/vsctl
        vsctl() { "$vsctl_bin" --socket "$VSD_SOCKET" "$@"; }
        assert_eq "$(inst_state demo1)/$(inst_state demo2)" running/running "demo1/demo2 after demo.sh"

        local line out n=0
        # the lines on fd 3: exec and console read their standard input
        while IFS= read -r line <&3; do
                n=$((n + 1))
                note "README: $line"
                case $line in
                "vsctl list")
                        out=$(vsctl list) || fail "$line"
                        assert_match "$out" "demo1 +running" "$line"
                        assert_match "$out" "demo2 +running" "$line" ;;
                "vsctl exec demo1 -- ps")
                        out=$(vsctl exec demo1 -- ps) || fail "$line"
                        assert_match "$out" "init" "$line" ;;
                "vsctl exec demo1 -- hostname")
                        assert_eq "$(vsctl exec demo1 -- hostname)" demo1 "$line" ;;
                "vsctl console demo1")
                        # typed into the console's shell, without a terminal
                        out=$(echo "echo hello-from-\$(hostname)" | vsctl console demo1 2>&1) || fail "$line: $out"
                        assert_match "$out" "hello-from-demo1" "$line" ;;
                "vsctl stats demo1")
                        out=$(vsctl stats demo1) || fail "$line"
                        assert_match "$out" "memory" "$line" ;;
                "vsctl stats --sort mem" | "vsctl stats --sort net" | "vsctl stats www")
                        vsctl ${line#vsctl } >/dev/null || fail "$line" ;;
                "vsctl create web --memory 128M --cpus 0.5 --pids 200 --start")
                        vsctl create web --memory 128M --cpus 0.5 --pids 200 --start >/dev/null || fail "$line"
                        assert_eq "$(inst_state web)" running "$line" ;;
                "vsctl exec web -- cat /proc/meminfo")
                        out=$(vsctl exec web -- cat /proc/meminfo) || fail "$line"
                        assert_match "$out" "MemTotal: +131072 kB" "$line" ;;
                "vsctl exec web -- uptime")
                        vsctl exec web -- uptime >/dev/null || fail "$line" ;;
                "vsctl set web --memory 256M --cpu-weight 300 --rlimit core=0")
                        vsctl set web --memory 256M --cpu-weight 300 --rlimit core=0 || fail "$line"
                        assert_eq "$(vsctl --json info web | json .memory)" 268435456 "$line" ;;
                "vsctl events --past")
                        # the past, then the end (timeout: 124 if it waited on)
                        out=$(timeout 20 "$vsctl_bin" --socket "$VSD_SOCKET" events --past) || fail "$line: status $?"
                        assert_match "$out" "started" "$line" ;;
                "vsctl stop demo2")
                        vsctl stop demo2 >/dev/null || fail "$line"
                        assert_eq "$(inst_state demo2)" stopped "$line" ;;
                "vsctl destroy demo2")
                        vsctl destroy demo2 || fail "$line"
                        ! vsctl info demo2 >/dev/null 2>&1 || fail "$line: demo2 is still there" ;;
                "vsctl help")
                        vsctl help | grep -q "^Commands:" || fail "$line" ;;
                "vsctl create www --forward 8080:80 --rate-in 10mbit --rate-out 10mbit --start")
                        vsctl create www --forward 8080:80 --rate-in 10mbit --rate-out 10mbit --start >/dev/null || fail "$line" ;;
                "vsctl info www")
                        out=$(vsctl info www) || fail "$line"
                        assert_match "$out" "10\.77\.0\.[0-9]+/24" "$line"
                        assert_match "$out" "tcp:8080:80" "$line" ;;
                "vsctl create db --ip 10.77.0.50 --start")
                        vsctl create db --ip 10.77.0.50 --start >/dev/null || fail "$line" ;;
                "vsctl exec www -- ping -c 1 10.77.0.50")
                        vsctl exec www -- ping -c 1 -W 5 10.77.0.50 >/dev/null || fail "$line" ;;
                "vsctl set www --forward 8443:443 --rate-in 100mbit")
                        vsctl set www --forward 8443:443 --rate-in 100mbit || fail "$line"
                        assert_match "$(vsctl --json info www | json .forward)" "tcp:8443:443" "$line" ;;
                "vsctl set www --no-forward 8443:443")
                        vsctl set www --no-forward 8443:443 || fail "$line"
                        assert_eq "$(vsctl --json info www | json .forward)" "tcp:8080:80" "$line" ;;
                "vsctl create shop --net routed --ip 203.0.113.10 --start")
                        vsctl create shop --net routed --ip 203.0.113.10 --start >/dev/null || fail "$line" ;;
                "vsctl template build debian-12")
                        out=$(vsctl template build debian-12 2>&1) || fail "$line: $(tail -n 1 <<<"$out")" ;;
                "vsctl template list")
                        out=$(vsctl template list) || fail "$line"
                        assert_match "$out" "debian-12" "$line" ;;
                "vsctl create deb1 --template debian-12")
                        vsctl create deb1 --template debian-12 >/dev/null || fail "$line" ;;
                "vsctl template remove debian-12")
                        # refused while deb1 uses it, as the README says
                        expect_fail vsctl template remove debian-12
                        assert_match "$LAST_ERR" "deb1" "$line" ;;
                *) fail "README line not covered by this walk-through: '$line'" ;;
                esac
        done 3< <(readme_vsctl_lines)
        [ "$n" -ge 20 ] || fail "only $n vsctl lines found in README.md"
}
