# SPDX-License-Identifier: LGPL-2.1-or-later
# Per-instance networking: addresses, both modes, anti-spoofing, port
# forwards, bandwidth caps, accounting, and what survives restarts.  All
# traffic stays on the test's own bridge and links.

# ip_of NAME [N]: the N-th (default first) address of an instance, no prefix.
ip_of() {
        vsctl --json info "$1" | json .ip | tr ',' '\n' | sed -n "${2:-1}p" | cut -d/ -f1
}

host_link() {
        vsctl --json info "$1" | json .host_link
}

# serve NAME PORT TEXT: an HTTP server in the instance answering TEXT at /.
serve() {
        vsctl exec "$1" -- sh -c "mkdir -p /tmp/www && echo '$3' >/tmp/www/index.html && httpd -p $2 -h /tmp/www"
}

# fetch URL: what the host gets from an instance (3 s at most); from the
# daemon's own network namespace when the test has one.
fetch() {
        in_net curl -s --max-time 3 "$1"
}

# The host's ping (the tests need no iputils): busybox's.
ping() {
        in_net busybox ping "$@"
}

# Start a UDP counter in an instance, in the background, its output in
# FILE; counted ends it and waits for it (the shell's daemon is a job too: no
# bare wait).  The counter runs until its end marker (source port 5999)
# arrives, 30 s at most, so that a count does not depend on how fast a busy
# host runs the sender.
udp_counter() { # NAME PORT FILE
        vsctl exec "$1" -- /probe udp-count "$2" 30000 5999 >"$3" 2>&1 &
        COUNTER_PID=$!
        COUNTER_OUT=$3
        wait_for grep -q ready=1 "$3"
}

# counted TX SRC DST PORT: TX sends the end marker from its own address SRC,
# after what it sent to be counted and on the same path: whatever of that
# was let through has arrived by then.
counted() {
        vsctl exec "$1" -- /probe udp-send "$2" "$3" 5999 "$4" 1 >/dev/null
        wait "$COUNTER_PID"
        grep -qx ended=1 "$COUNTER_OUT" || fail "the end marker from $2 did not reach the counter: $(tr '\n' ' ' <"$COUNTER_OUT")"
}

# iperf3's server, once, in an instance's network namespace (the host's
# binary: the traffic crosses the instance's link exactly as its own would).
iperf_server() { # PID IP
        nsenter -t "$1" -n iperf3 -s -1 -p 5201 >/dev/null 2>&1 &
        IPERF_PID=$!
        # listening, without connecting: a -1 server serves one connection
        wait_for bash -c "nsenter -t $1 -n ss -Hltn 'sport = :5201' | grep -q ."
}

test_bridge_mode_addresses_and_tcp() {
        local a b mac
        vsctl create web1 --start
        vsctl create web2 --ip "$VSD_NET4.77" --start
        a=$(ip_of web1)
        b=$(ip_of web2)
        assert_eq "$a" "$VSD_NET4.2" "first address of the pool"
        assert_eq "$b" "$VSD_NET4.77" "static address"
        vsctl --json info web1 | json .ip | grep -q "^$VSD_NET4.2/24,$VSD_NET6::2/64$" ||
                fail "web1 should have one IPv4 and one IPv6 address: $(vsctl --json info web1 | json .ip)"
        # inside: the addresses, the MAC vsd reports, the default route
        vsctl exec web1 -- ip addr show eth0 | grep -q "inet $a/24" || fail "no $a/24 on eth0"
        vsctl exec web1 -- ip -6 addr show eth0 | grep -q "$VSD_NET6::2/64" || fail "no IPv6 address on eth0"
        mac=$(vsctl --json info web1 | json .mac)
        vsctl exec web1 -- cat /sys/class/net/eth0/address | grep -qx "$mac" || fail "eth0's MAC is not $mac"
        vsctl exec web1 -- ip route | grep -q "default via $VSD_NET4.1" || fail "no default route via the bridge"
        vsctl exec web1 -- cat /etc/hosts | grep -q "$a.*web1" || fail "/etc/hosts does not name web1"
        # host -> instance, instance -> instance, both IP versions
        serve web2 8000 hello-from-web2
        assert_eq "$(fetch "http://$b:8000/")" hello-from-web2 "host -> web2"
        assert_eq "$(vsctl exec web1 -- wget -qO- "http://$b:8000/")" hello-from-web2 "web1 -> web2"
        # web2 was given an IPv4 address only; web1 has one of each
        vsctl --json info web2 | json .ip | grep -q : && fail "web2 got an IPv6 address it was not given"
        serve web1 8000 hello-from-web1
        assert_eq "$(fetch "http://[$VSD_NET6::2]:8000/")" hello-from-web1 "host -> web1 over IPv6"
        # the host side is on the test's bridge
        ip -o link show "$(host_link web1)" | grep -q "master $VSD_BRIDGE" || fail "host link not on $VSD_BRIDGE"
}

test_routed_mode() {
        local a b link
        vsctl create r1 --net routed --start
        vsctl create r2 --net routed --ip "$VSD_ROUTED4.50" --start
        a=$(ip_of r1)
        b=$(ip_of r2)
        assert_eq "$a" "$VSD_ROUTED4.1" "first address of the routed pool"
        vsctl exec r1 -- ip addr show eth0 | grep -q "inet $a/32" || fail "routed address is not a /32"
        vsctl exec r1 -- ip route | grep -q "default via 169.254.0.1" || fail "no default route via 169.254.0.1"
        link=$(host_link r1)
        ip route show "$a" | grep -q "dev $link" || fail "no host route to $a via $link: $(ip route show "$a")"
        # no shared L2: the host side is not on any bridge
        ip -o link show "$link" | grep -q master && fail "routed link is enslaved"
        serve r2 8000 hello-routed
        assert_eq "$(fetch "http://$b:8000/")" hello-routed "host -> r2"
        assert_eq "$(vsctl exec r1 -- wget -qO- "http://$b:8000/")" hello-routed "r1 -> r2 through the host"
        # stopping takes its route away
        vsctl stop r2 --kill
        [ -z "$(ip route show "$b")" ] || fail "route to $b left after stop"
}

test_spoofed_source_dropped() {
        local a b out
        vsctl create tx --start
        vsctl create rx --start
        a=$(ip_of tx)
        b=$(ip_of rx)
        # control: the instance's own address arrives
        udp_counter rx 9000 "$T/c1"
        vsctl exec tx -- /probe udp-send "$a" "$b" 5000 9000 10
        counted tx "$a" "$b" 9000
        assert_eq "$(probe_val count <"$T/c1")" 10 "datagrams from the instance's own address"
        # another address of the bridge's network, and one from far away
        for spoof in "$VSD_NET4.200" 192.0.2.99; do
                udp_counter rx 9000 "$T/c2"
                out=$(vsctl exec tx -- /probe udp-send "$spoof" "$b" 5000 9000 10)
                counted tx "$a" "$b" 9000
                note "spoofing $spoof: $out"
                assert_eq "$(probe_val count <"$T/c2")" 0 "datagrams from spoofed source $spoof"
        done
        # a rogue DHCP server's offers (source port 67) reach nobody
        udp_counter rx 68 "$T/c3"
        vsctl exec tx -- /probe udp-send "$a" "$VSD_NET4.255" 67 68 5
        counted tx "$a" "$VSD_NET4.255" 68
        assert_eq "$(probe_val count <"$T/c3")" 0 "DHCP offers from an instance"
        # ARP: the host learns the instance's own address from its request,
        # never another's, nor its own address under another MAC
        local mac gw="$VSD_NET4.1" br="$VSD_BRIDGE"
        mac=$(vsctl --json info tx | json .mac)
        vsctl exec tx -- /probe arp-send "$a" "$mac" "$gw"
        wait_for bash -c "ip neigh show dev $br | grep -q '^$a lladdr $mac'"
        vsctl exec tx -- /probe arp-send "$VSD_NET4.201" "$mac" "$gw"
        vsctl exec tx -- /probe arp-send "$b" "$mac" "$gw"
        vsctl exec tx -- /probe arp-send "$a" 02:00:00:00:00:42 "$gw"
        # a control to know the host has processed what came before it
        vsctl exec rx -- /probe arp-send "$b" "$(vsctl --json info rx | json .mac)" "$gw"
        wait_for bash -c "ip neigh show dev $br | grep -q '^$b lladdr'"
        ip neigh show dev "$br" | grep -q "^$VSD_NET4.201 " && fail "ARP claiming $VSD_NET4.201 was believed"
        ip neigh show dev "$br" | grep "^$b " | grep -q "$mac" && fail "tx took over rx's address in the host's ARP table"
        ip neigh show dev "$br" | grep -q "02:00:00:00:00:42" && fail "a forged MAC reached the host"
        vsctl exec rx -- ping -c 1 -W 2 "$gw" >/dev/null || fail "rx lost its network"
}

# Root inside has CAP_NET_ADMIN in its own network namespace (vsd/start/caps.c):
# it may add addresses to eth0 and change its MAC, and the host side still
# drops what does not carry the instance's own address and MAC.
test_net_admin_inside_cannot_spoof() {
        local a b mac
        vsctl create tx --start
        vsctl create rx --start
        a=$(ip_of tx)
        b=$(ip_of rx)
        mac=$(vsctl --json info tx | json .mac)
        vsctl exec tx -- ping -c 1 -W 2 "$b" >/dev/null || fail "control: tx cannot reach rx"
        # another address of the bridge's network, configured on eth0
        vsctl exec tx -- ip addr add "$VSD_NET4.200/24" dev eth0 || fail "ip addr add with CAP_NET_ADMIN"
        vsctl exec tx -- ping -c 1 -W 2 -I "$VSD_NET4.200" "$b" >/dev/null &&
                fail "a ping from an added address $VSD_NET4.200 got through"
        vsctl exec tx -- ip addr del "$VSD_NET4.200/24" dev eth0
        # another MAC on eth0
        vsctl exec tx -- ip link set eth0 down
        vsctl exec tx -- ip link set eth0 address 02:00:00:00:00:43 || fail "ip link set address with CAP_NET_ADMIN"
        vsctl exec tx -- ip link set eth0 up
        vsctl exec tx -- ip neigh flush dev eth0
        vsctl exec tx -- ping -c 1 -W 2 "$b" >/dev/null && fail "a ping under a forged MAC got through"
        # the instance's own address and MAC work again
        vsctl exec tx -- ip link set eth0 address "$mac"
        wait_for -t 10 "$B/vsctl" --socket "$VSD_SOCKET" exec tx -- ping -c 1 -W 1 "$b"
        [ "$a" = "$(ip_of tx)" ] || fail "tx's address changed"
}

test_routed_spoof_dropped() {
        local a b
        vsctl create rtx --net routed --start
        vsctl create rrx --net routed --start
        a=$(ip_of rtx)
        b=$(ip_of rrx)
        udp_counter rrx 9000 "$T/c1"
        vsctl exec rtx -- /probe udp-send "$a" "$b" 5000 9000 5
        counted rtx "$a" "$b" 9000
        assert_eq "$(probe_val count <"$T/c1")" 5 "datagrams from the routed instance's own address"
        udp_counter rrx 9000 "$T/c2"
        vsctl exec rtx -- /probe udp-send "$VSD_ROUTED4.99" "$b" 5000 9000 5
        counted rtx "$a" "$b" 9000
        assert_eq "$(probe_val count <"$T/c2")" 0 "spoofed datagrams through the host"
}

test_port_forward() {
        local gw="$VSD_NET4.1"
        # keeps the bridge, and so the address the host connects to, while
        # fw1 is stopped: without it the host would route the request away
        vsctl create anchor --start
        vsctl create fw1 --forward tcp:18080:80 --start
        serve fw1 80 forwarded-ok
        assert_eq "$(fetch "http://$gw:18080/")" forwarded-ok "host port 18080 -> fw1:80"
        grep -q '^forward = tcp:18080:80$' "$T/root/instances/fw1/config.ini" || fail "forward not in config.ini"
        # added live, next to the first
        vsctl set fw1 --forward 18081:80
        assert_eq "$(fetch "http://$gw:18081/")" forwarded-ok "host port 18081 added live"
        assert_eq "$(fetch "http://$gw:18080/")" forwarded-ok "the first forward is kept"
        # a host port another instance forwards is refused, and changes nothing
        vsctl create fw2
        expect_fail vsctl set fw2 --forward tcp:18080:80
        assert_match "$LAST_ERR" "already forwarded to instance 'fw1'" "duplicate host port message"
        # survives stop and start
        vsctl stop fw1 --kill
        fetch "http://$gw:18080/" && fail "forward answers while fw1 is stopped"
        vsctl start fw1
        serve fw1 80 forwarded-again
        assert_eq "$(fetch "http://$gw:18080/")" forwarded-again "forward after restart"
        # removed one by one, and with the instance
        vsctl set fw1 --no-forward tcp:18081:80
        fetch "http://$gw:18081/" && fail "removed forward still answers"
        vsctl destroy fw1 --force
        fetch "http://$gw:18080/" && fail "forward of a destroyed instance still answers"
        return 0
}

# What the README says of forwards: they answer on the host's addresses
# (the bridge's and any other), from the host itself, but not on 127.0.0.1;
# from another machine only with nat = yes, since the answers then leave
# through the bridge, which forwards only with NAT on.  The other machine
# is a namespace behind a link of the test's own, on an address block no
# host route knows.
test_forward_on_host_addresses() {
        local out_link=vsf$VSD_NET_ID outpid gw="$VSD_NET4.1"
        ip route show 198.51.100.0/24 | grep -q . && fail "198.51.100.0/24 is routed on this host already"
        unshare --net sleep 300 &
        outpid=$!
        trap "{ kill $outpid; ip link del $out_link; } >/dev/null 2>&1 || true" EXIT
        wait_for bash -c "[ \"\$(readlink /proc/$outpid/ns/net)\" != \"\$(readlink /proc/self/ns/net)\" ]"
        ip link add "$out_link" type veth peer name eth0 netns "$outpid"
        ip addr add 198.51.100.1/24 dev "$out_link"
        ip link set "$out_link" up
        # the uplink forwards: the operator's decision, as on a real host
        sysctl -qw "net.ipv4.conf.$out_link.forwarding=1"
        nsenter -t "$outpid" -n sh -c 'ip addr add 198.51.100.2/24 dev eth0 && ip link set eth0 up && ip link set lo up'
        outside() { nsenter -t "$outpid" -n curl -s --max-time 3 "$1" || true; }

        vsctl create fwo --forward tcp:18380:80 --start
        serve fwo 80 forwarded-ok
        assert_eq "$(fetch "http://$gw:18380/")" forwarded-ok "from the host, on the bridge's address"
        assert_eq "$(fetch "http://198.51.100.1:18380/")" forwarded-ok "from the host, on another of its addresses"
        [ "$(fetch "http://127.0.0.1:18380/" || true)" != forwarded-ok ] || fail "the forward answers on 127.0.0.1"
        [ "$(outside "http://198.51.100.1:18380/")" != forwarded-ok ] ||
                fail "the forward answers another machine without nat = yes"

        # nat = yes: the same forward answers the other machine; the
        # instance runs on through the daemon's restart
        vsd_stop
        sed -i '/^\[network\]/a nat = yes' "$T/vsd.conf"
        vsd_up
        assert_eq "$(outside "http://198.51.100.1:18380/")" forwarded-ok "from another machine with nat = yes"
        [ "$(fetch "http://127.0.0.1:18380/" || true)" != forwarded-ok ] || fail "the forward answers on 127.0.0.1 with nat = yes"
        vsctl stop fwo --kill
        kill "$outpid"
        wait "$outpid" 2>/dev/null || true
        ip link del "$out_link" 2>/dev/null || true
}

# iperf3's rate in Mbit/s from its JSON
iperf_mbit() {
        jq -r '.end.sum_received.bits_per_second / 1e6'
}

# It measures rates: alone.
# serial test_bandwidth_caps
test_bandwidth_caps() {
        local pid ip inbound outbound
        command -v iperf3 >/dev/null || fail "iperf3 is needed (make deps)"
        vsctl create bw --rate-in 10mbit --rate-out 10mbit --start
        pid=$(inst_pid bw)
        ip=$(ip_of bw)
        iperf_server "$pid" "$ip"
        inbound=$(iperf3 -c "$ip" -p 5201 -t 4 -O 1 -J | iperf_mbit)
        wait "$IPERF_PID"
        iperf_server "$pid" "$ip"
        outbound=$(iperf3 -c "$ip" -p 5201 -t 4 -O 1 -R -J | iperf_mbit)
        wait "$IPERF_PID"
        note "under 10 mbit caps: to the instance $inbound Mbit/s, from it $outbound Mbit/s"
        assert_between "$inbound" 9 11 "rate to the instance (Mbit/s)"
        assert_between "$outbound" 9 11 "rate from the instance (Mbit/s)"
        # lifted live
        vsctl set bw --rate-in 0 --rate-out 0
        iperf_server "$pid" "$ip"
        inbound=$(iperf3 -c "$ip" -p 5201 -t 2 -J | iperf_mbit)
        wait "$IPERF_PID"
        note "uncapped: $inbound Mbit/s"
        assert_between "$inbound" 50 1000000 "uncapped rate (Mbit/s)"
}

test_stats_count_traffic() {
        local ip rx tx
        vsctl create st --start
        ip=$(ip_of st)
        ping -c 5 -i 0.2 -s 1000 "$ip" >/dev/null
        rx=$(vsctl --json stats st | json .net.rx_bytes)
        tx=$(vsctl --json stats st | json .net.tx_bytes)
        note "rx $rx tx $tx"
        [ "$rx" -ge 5000 ] || fail "instance received $rx bytes, expected >= 5000"
        [ "$tx" -ge 5000 ] || fail "instance sent $tx bytes, expected >= 5000"
        vsctl stats st | grep -q "^net in" || fail "vsctl stats shows no network row"
}

test_set_addresses_live() {
        local old new="$VSD_NET4.150"
        vsctl create mv --start
        old=$(ip_of mv)
        vsctl set mv --ip "$new"
        vsctl exec mv -- ip addr show eth0 | grep -q "inet $new/24" || fail "new address not on eth0"
        vsctl exec mv -- ip addr show eth0 | grep -q "inet $old/" && fail "old address still on eth0"
        ping -c 1 -W 2 "$new" >/dev/null || fail "new address does not answer"
        # the old one is free for another instance now
        vsctl create taker --ip "$old"
        # the firewall follows: the new address may send
        vsctl create peer --start
        udp_counter peer 9000 "$T/c1"
        vsctl exec mv -- /probe udp-send "$new" "$(ip_of peer)" 5000 9000 3
        counted mv "$new" "$(ip_of peer)" 9000
        assert_eq "$(probe_val count <"$T/c1")" 3 "datagrams from the new address"
}

test_isolated_ports() {
        vsctl create iso1 --isolated yes --start
        vsctl create iso2 --isolated yes --start
        vsctl exec iso1 -- ping -c 1 -W 2 "$VSD_NET4.1" >/dev/null || fail "an isolated instance cannot reach the host"
        vsctl exec iso1 -- ping -c 2 -W 1 "$(ip_of iso2)" >/dev/null 2>&1 && fail "isolated instances reach each other"
        vsctl set iso2 --isolated no
        # iso1's neighbour entry for iso2 failed above and is probed again
        wait_for -t 8 vsctl exec iso1 -- ping -c 1 -W 1 "$(ip_of iso2)"
}

test_survives_restarts() {
        local ip
        vsctl create keep --forward tcp:18090:80 --start
        ip=$(ip_of keep)
        vsctl restart keep
        assert_eq "$(ip_of keep)" "$ip" "address after restart"
        serve keep 80 still-here
        # the daemon dies; the instance, its link and its firewall stay
        vsd_kill9
        ping -c 1 -W 2 "$ip" >/dev/null || fail "instance unreachable while vsd is away"
        nft list table bridge "$VSD_NFT_TABLE" >/dev/null || fail "firewall gone with the daemon"
        vsd_up
        assert_eq "$(inst_state keep)" running "state after daemon restart"
        assert_eq "$(fetch "http://$VSD_NET4.1:18090/")" still-here "forward after daemon restart"
        ping -c 1 -W 2 "$ip" >/dev/null || fail "instance unreachable after daemon restart"
        # a crash with the instance gone too: its link is found and removed
        local link pid
        link=$(host_link keep)
        pid=$(inst_pid keep)
        vsd_kill9
        kill -KILL "$pid"
        wait_gone "$pid"
        vsd_up
        assert_eq "$(inst_state keep)" stopped "state after both died"
        ip link show "$link" >/dev/null 2>&1 && fail "link $link left after the crash"
        vsctl start keep
        ping -c 1 -W 2 "$ip" >/dev/null || fail "no network after start following the crash"
}

test_duplicate_and_bad_addresses() {
        local before
        vsctl create d1 --ip "$VSD_NET4.10"
        before=$(disk_snapshot)
        expect_fail vsctl create d2 --ip "$VSD_NET4.10"
        assert_match "$LAST_ERR" "already used by instance 'd1'" "duplicate address"
        expect_fail vsctl create d2 --ip "$VSD_NET4.1"
        assert_match "$LAST_ERR" "bridge's own" "gateway address"
        expect_fail vsctl create d2 --ip 10.0.0.300
        assert_match "$LAST_ERR" "invalid address" "bad address"
        expect_fail vsctl create d2 --ip 172.31.0.5
        assert_match "$LAST_ERR" "not in the bridge's network" "address outside the bridge's network"
        expect_fail vsctl create d2 --ip "$VSD_NET4.0/24"
        assert_match "$LAST_ERR" "network address" "network address"
        expect_fail vsctl create d2 --ip "$VSD_NET4.5/16"
        assert_match "$LAST_ERR" "bridge's network is" "wrong prefix"
        expect_fail vsctl create d2 --net routed --ip "$VSD_NET4.20"
        assert_match "$LAST_ERR" "not for routed mode" "routed address on the bridge's network"
        expect_fail vsctl create d2 --net mesh
        assert_match "$LAST_ERR" "unknown network mode 'mesh'" "unknown mode"
        expect_fail vsctl create d2 --net none --ip "$VSD_NET4.30"
        expect_fail vsctl create d2 --rate-in 10xbit
        expect_fail vsctl create d2 --rate-out -5mbit
        expect_fail vsctl create d2 --forward tcp:0:80
        expect_fail vsctl create d2 --forward tcp:99999:80
        expect_fail vsctl create d2 --forward sctp:80:80
        expect_fail vsctl create d2 --forward 80:80 --forward tcp:80:81
        expect_fail vsctl create d2 --isolated maybe
        expect_fail vsctl create d2 --nameserver 10.0.0.1/8
        expect_fail vsctl set d1 --ip "$VSD_NET4.1"
        expect_fail vsctl set d1 --ip fd00:dead::5
        assert_eq "$(disk_snapshot)" "$before" "state root after refused requests"
        [ -z "$(vsctl --json list | jq -r '.[].name' | grep -x d2)" ] || fail "d2 half-created"
        assert_eq "$(ip_of d1)" "$VSD_NET4.10" "d1's address after refused changes"
}

test_overlapping_pools_refused() {
        local out rc=0
        vsd_stop
        printf '[network]\nbridge_ipv4 = 10.99.0.1/16\nrouted_ipv4 = 10.99.5.0/24\n' >"$T/bad.conf"
        out=$("$B/vsd" --root "$T/root" --run-dir "$T/run" --socket "$T/run/bad.sock" --cgroup-parent "$VSD_CG" \
                -c "$T/bad.conf" 2>&1 </dev/null) || rc=$?
        note "$out"
        [ "$rc" -ne 0 ] || fail "vsd started with overlapping pools"
        assert_eq "$(grep -c '' <<<"$out")" 1 "lines of the error"
        assert_match "$out" "overlaps" "overlap message"
        printf '[network]\ndefault_mode = mesh\n' >"$T/bad.conf"
        out=$("$B/vsd" --root "$T/root" --run-dir "$T/run" --socket "$T/run/bad.sock" --cgroup-parent "$VSD_CG" \
                -c "$T/bad.conf" 2>&1 </dev/null) || rc=$?
        assert_match "$out" "unknown network mode" "bad mode in vsd.conf"
        vsd_up
}

test_nothing_left_after_destroy() {
        vsctl create gone --rate-in 5mbit --rate-out 5mbit --forward tcp:18070:80 --start
        vsctl create gone2 --net routed --start
        vsctl destroy gone --force
        vsctl destroy gone2 --force
        # no link of ours, no bridge (nothing runs on it), no route
        [ -z "$(ip -o link show | grep -E "$VSD_LINK_PREFIX[0-9a-f]{8}")" ] || fail "links left: $(ip -o link show | grep -E "$VSD_LINK_PREFIX")"
        ip link show "$VSD_BRIDGE" >/dev/null 2>&1 && fail "bridge left with no instance on it"
        ip route | grep -q "$VSD_ROUTED4\\." && fail "routes left: $(ip route | grep "$VSD_ROUTED4")"
        # the firewall holds no element of theirs
        nft list table inet "$VSD_NFT_TABLE" | grep -q 18070 && fail "forward left in the firewall"
        return 0
}

# A stop leaves the link to the kernel, which frees it with the dead
# namespace; a namespace something on the host still holds keeps it alive,
# and then the daemon removes the link itself a moment later.  Either way
# nothing of the instance stays on the host, and it starts again at once.
test_link_gone_after_stop() {
        vsctl create l1 --start
        vsctl create l2 --start
        local link1 link2
        link1=$(host_link l1)
        link2=$(host_link l2)
        in_net ip link show "$link1" >/dev/null || fail "no link $link1 while l1 runs"
        # the test itself holds l2's network namespace open (as an
        # operator's tool might): the namespace outlives the instance
        local held
        exec {held}<"/proc/$(inst_pid l2)/ns/net"
        vsctl stop --kill l1
        vsctl stop --kill l2
        wait_for -t 5 in_net sh -c "! ip link show $link1 >/dev/null 2>&1"
        wait_for -t 5 in_net sh -c "! ip link show $link2 >/dev/null 2>&1"
        assert_eq "$(nsenter --net="/proc/$$/fd/$held" ip -o link show | grep -c eth0)" 0 "eth0 left in the held namespace"
        exec {held}<&-
        # nothing runs on the bridge: it goes too
        wait_for -t 5 in_net sh -c "! ip link show $VSD_BRIDGE >/dev/null 2>&1"
        # straight back, on a link of the same name
        vsctl start l1
        vsctl stop --kill l1
        vsctl start l1
        ping -c 1 -W 2 "$(ip_of l1)" >/dev/null || fail "l1 unreachable after a stop and a start"
        vsctl destroy l1 --force
        vsctl destroy l2
        in_net ip link show "$link1" >/dev/null 2>&1 && fail "link $link1 left after destroy"
        return 0
}

test_nat_masquerades_outbound() {
        # a daemon with NAT, and an "outside" network the test makes: a
        # namespace behind a link of its own, on an address block no host
        # route knows (198.51.100.0/24), so nothing can leave the machine
        vsd_stop
        vsd_net_names
        printf '%s\n' "[network]" "bridge = $VSD_BRIDGE" "bridge_ipv4 = $VSD_NET4.1/24" "link_prefix = $VSD_LINK_PREFIX" \
                "nft_table = $VSD_NFT_TABLE" "nat = yes" >"$T/vsd.conf"
        vsd_up
        local out_link=vso$VSD_NET_ID outpid a
        ip route show 198.51.100.0/24 | grep -q . && fail "198.51.100.0/24 is routed on this host already"
        unshare --net sleep 300 &
        outpid=$!
        # whatever happens below, the outside goes with the test
        trap "{ kill $outpid; ip link del $out_link; } >/dev/null 2>&1 || true" EXIT
        wait_for bash -c "[ \"\$(readlink /proc/$outpid/ns/net)\" != \"\$(readlink /proc/self/ns/net)\" ]"
        ip link add "$out_link" type veth peer name eth0 netns "$outpid"
        ip addr add 198.51.100.1/24 dev "$out_link"
        ip link set "$out_link" up
        # replies come back in through it: the test's own link forwards
        sysctl -qw "net.ipv4.conf.$out_link.forwarding=1"
        nsenter -t "$outpid" -n sh -c 'ip addr add 198.51.100.2/24 dev eth0 && ip link set eth0 up && ip link set lo up'
        vsctl create natted --start
        a=$(ip_of natted)
        nsenter -t "$outpid" -n "$B/tests/probe" udp-count 9000 30000 5999 >"$T/c1" 2>&1 &
        COUNTER_PID=$!
        COUNTER_OUT=$T/c1
        wait_for grep -q ready=1 "$T/c1"
        vsctl exec natted -- /probe udp-send "$a" 198.51.100.2 5000 9000 3
        counted natted "$a" 198.51.100.2 9000
        note "outside saw: $(tr '\n' ' ' <"$T/c1")"
        assert_eq "$(probe_val count <"$T/c1")" 3 "datagrams that reached the outside"
        assert_eq "$(probe_val from <"$T/c1")" 198.51.100.1 "source seen outside (masqueraded)"
        # and a TCP round trip: the outside answers through the NAT
        nsenter -t "$outpid" -n busybox nc -l -p 7000 -e echo pong-from-outside &
        local ncpid=$!
        wait_for bash -c "nsenter -t $outpid -n ss -Hltn 'sport = :7000' | grep -q ."
        assert_eq "$(vsctl exec natted -- sh -c 'echo ping | nc -w 3 198.51.100.2 7000')" pong-from-outside "TCP through the NAT"
        wait "$ncpid" || true
        vsctl stop natted --kill
        kill "$outpid"
        wait "$outpid" 2>/dev/null || true
        ip link del "$out_link" 2>/dev/null || true
}

test_routed_proxy_entries_and_resolv_conf() {
        # an uplink of the test's own (one end of a veth pair) on which the
        # host answers ARP for routed addresses
        local up=vsu$VSD_NET_ID a a6
        ip link add "$up" type veth peer name "vsw$VSD_NET_ID"
        trap "ip link del $up >/dev/null 2>&1 || true" EXIT
        vsd_stop
        vsd_net_names
        printf '%s\n' "[network]" "bridge = $VSD_BRIDGE" "bridge_ipv4 = $VSD_NET4.1/24" "routed_ipv4 = $VSD_ROUTED4.0/24" \
                "routed_ipv6 = $VSD_NET6:77::/64" \
                "link_prefix = $VSD_LINK_PREFIX" "nft_table = $VSD_NFT_TABLE" "proxy_devs = $up" \
                "nameservers = 10.0.0.53" >"$T/vsd.conf"
        vsd_up
        # the uplink's LAN hears it start here (the router's cache entry
        # may name a host it ran on before)
        ip link set "vsw$VSD_NET_ID" up && ip link set "$up" up
        wait_for sh -c "ip link show $up | grep -q LOWER_UP"
        python3 "$VSD_SRC/tests/integration/arpwatch.py" "vsw$VSD_NET_ID" "$T/arp.stop" >"$T/arp.out" 2>&1 &
        local apid=$!
        wait_for grep -q listening "$T/arp.out"
        vsctl create pub --net routed --start
        a=$(ip_of pub)
        ip neigh show proxy dev "$up" | grep -q "^$a " || fail "no proxy entry for $a on $up: $(ip neigh show proxy dev "$up")"
        wait_for -t 5 grep -qx "garp $(cat "/sys/class/net/$up/address") $a" "$T/arp.out"
        a6=$(ip_of pub 2)
        assert_match "$a6" "^$VSD_NET6:77:" "its routed IPv6 address"
        ip -6 neigh show proxy dev "$up" | grep -q "^$a6 " || fail "no proxy entry for $a6 on $up"
        wait_for -t 5 grep -qx "na $(cat "/sys/class/net/$up/address") $a6" "$T/arp.out"
        touch "$T/arp.stop"
        wait "$apid"
        # the daemon's nameservers, or the instance's own
        vsctl exec pub -- cat /etc/resolv.conf | grep -qx "nameserver 10.0.0.53" || fail "resolv.conf without the daemon's nameserver"
        vsctl stop pub --kill
        ip neigh show proxy dev "$up" | grep -q "^$a " && fail "proxy entry for $a left after stop"
        vsctl set pub --nameserver 10.0.0.54 --nameserver fd00::54
        vsctl start pub
        assert_eq "$(vsctl exec pub -- grep -c nameserver /etc/resolv.conf)" 2 "nameservers of the instance's own"
        vsctl exec pub -- grep -qx "nameserver fd00::54" /etc/resolv.conf || fail "IPv6 nameserver missing"
        vsctl stop pub --kill
        ip link del "$up"
}

# spoof_check TX RX: RX hears TX's own address and nothing TX sends from
# another address of the bridge's network (test_spoofed_source_dropped's
# method).
spoof_check() {
        local a b
        a=$(ip_of "$1")
        b=$(ip_of "$2")
        udp_counter "$2" 9000 "$T/own"
        vsctl exec "$1" -- /probe udp-send "$a" "$b" 5000 9000 10
        counted "$1" "$a" "$b" 9000
        assert_eq "$(probe_val count <"$T/own")" 10 "datagrams from $1's own address"
        udp_counter "$2" 9000 "$T/spoofed"
        vsctl exec "$1" -- /probe udp-send "$VSD_NET4.200" "$b" 5000 9000 10
        counted "$1" "$a" "$b" 9000
        assert_eq "$(probe_val count <"$T/spoofed")" 0 "datagrams from $1 under the spoofed source $VSD_NET4.200"
}

# firewall_events: the firewall-restored events so far, one JSON line each.
firewall_events() {
        vsctl --json events --past --no-follow | jq -c 'select(.type == "firewall-restored")'
}

# A host firewall reload (Debian's nftables.service loads a file that starts
# with "flush ruleset") deletes every table, vsd's too.  The daemon runs in a
# network namespace of its own, where the test may flush the whole ruleset.
# netns test_firewall_restored_after_flush
test_firewall_restored_after_flush() {
        local gw="$VSD_NET4.1" t0 ms ev
        vsctl create tx --start
        vsctl create rx --start
        vsctl create fw1 --forward tcp:18080:80 --start
        serve fw1 80 forwarded-ok
        assert_eq "$(fetch "http://$gw:18080/")" forwarded-ok "the forward before the flush"
        spoof_check tx rx
        [ -z "$(firewall_events)" ] || fail "a firewall-restored event before anything happened: $(firewall_events)"

        t0=$(date +%s%N)
        in_net nft flush ruleset
        wait_for -t 3 in_net nft list table inet "$VSD_NFT_TABLE"
        ms=$((($(date +%s%N) - t0) / 1000000))
        note "tables back ${ms} ms after the flush"
        in_net nft list table bridge "$VSD_NFT_TABLE" >/dev/null || fail "the bridge table was not restored"
        # the instances' elements, not just empty tables
        spoof_check tx rx
        assert_eq "$(fetch "http://$gw:18080/")" forwarded-ok "the forward after the flush"
        # a new instance is protected too, and reaches the host (a port the
        # firewall does not know passes nothing)
        vsctl create late --start
        vsctl exec late -- ping -c 1 -W 2 "$gw" >/dev/null || fail "a new instance has no network after the flush"
        spoof_check late rx
        # one event for the one flush, naming who did it
        wait_for bash -c '[ -n "$("$B/vsctl" --socket "$VSD_SOCKET" --json events --past --no-follow | jq -c "select(.type == \"firewall-restored\")")" ]'
        ev=$(firewall_events)
        note "event: $ev"
        assert_eq "$(grep -c . <<<"$ev")" 1 "firewall-restored events for one flush"
        assert_eq "$(json .reason <<<"$ev")" changed "reason"
        assert_eq "$(json .command <<<"$ev")" nft "the process that changed the tables"
        assert_eq "$(json .ports <<<"$ev")" 3 "ports restored (tx, rx, fw1)"
        assert_eq "$(json .forwards <<<"$ev")" 1 "forwards restored"
        vsctl events --past --no-follow | grep -qE "firewall-restored +tables '$VSD_NFT_TABLE' deleted by nft \(pid [0-9]+\), restored: 3 ports, 1 forward$" ||
                fail "vsctl events does not show the restore: $(vsctl events --past --no-follow | grep firewall)"
        grep -q "restored" "$T/vsd.log" || fail "the restore is not logged"
}

# A daemon too busy to have seen a deletion yet (stopped here) gets a
# request to start a new instance: the start restores the tables it finds
# missing instead of failing.  Only this test's own tables are deleted.
test_firewall_missing_at_start() {
        local pid
        vsctl create rx --start
        pid=$(vsd_pid)
        # a failure below must not leave the daemon stopped for vsd_down
        trap "kill -CONT $pid 2>/dev/null || true" EXIT
        kill -STOP "$pid"
        nft delete table inet "$VSD_NFT_TABLE"
        nft delete table bridge "$VSD_NFT_TABLE"
        "$B/vsctl" --socket "$VSD_SOCKET" create late --start >"$T/late.out" 2>&1 &
        local late=$!
        # the request waits in the listening socket's queue
        wait_for bash -c "ss -xlH src '$VSD_SOCKET' | awk '\$3 > 0 { found = 1 } END { exit !found }'"
        kill -CONT "$pid"
        trap - EXIT
        wait "$late" || fail "start with the tables missing: $(cat "$T/late.out")"
        nft list table inet "$VSD_NFT_TABLE" >/dev/null || fail "the inet table is still missing"
        nft list table bridge "$VSD_NFT_TABLE" >/dev/null || fail "the bridge table is still missing"
        spoof_check late rx
        spoof_check rx late
        # the stopped daemon read the deletion and the request at once:
        # the start restored the tables, whichever it saw first
        assert_eq "$(firewall_events | grep -c .)" 1 "firewall-restored events"
        note "event: $(firewall_events)"
}
