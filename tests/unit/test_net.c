/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * net/nl.c and net/tc.c.  The rate parser always; as root, rtnetlink and
 * the bandwidth caps against the real kernel.  The privileged part runs in
 * a network namespace of its own (unshare at its start) plus namespaces of
 * forked children standing in for instances, so no link, address, route or
 * packet reaches the host's namespace.  What it sets is read back with
 * ip(8), bridge(8) and tc(8), which do not share our code.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "net/nl.h"
#include "net/tc.h"
#include "tests/unit/check.h"

/* ---- helpers ------------------------------------------------------------ */

static struct net_cidr cidr(const char *s) {
        struct net_cidr c = { 0 };
        char ip[64];
        snprintf(ip, sizeof(ip), "%s", s);
        char *slash = strchr(ip, '/');
        *slash = '\0';
        c.family = strchr(ip, ':') ? AF_INET6 : AF_INET;
        c.prefix = (uint8_t) atoi(slash + 1);
        if (inet_pton(c.family, ip, c.addr) != 1)
                abort();
        return c;
}

/* The output of a shell command (ip, tc, bridge) run in our namespace. */
static char *sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *sh(const char *fmt, ...) {
        static char out[65536];
        char cmd[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(cmd, sizeof(cmd), fmt, ap);
        va_end(ap);
        out[0] = '\0';
        FILE *f = popen(cmd, "r");
        if (!f)
                return out;
        size_t n = fread(out, 1, sizeof(out) - 1, f);
        out[n] = '\0';
        pclose(f);
        return out;
}

/* A child in a network namespace of its own, standing in for an instance. */
static pid_t netns_child(void) {
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return -1;
        pid_t pid = fork();
        if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (unshare(CLONE_NEWNET) < 0)
                        _exit(1);
                if (write(p[1], "x", 1) != 1)
                        _exit(1);
                for (;;)
                        pause();
        }
        close(p[1]);
        char c;
        bool ready = pid > 0 && read(p[0], &c, 1) == 1;
        close(p[0]);
        return ready ? pid : -1;
}

static void reap(pid_t pid) {
        if (pid > 0) {
                kill(pid, SIGKILL);
                waitpid(pid, NULL, 0);
        }
}

static int open_child_nl(pid_t pid, struct nl **ret, vs_error *err) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/ns/net", (int) pid);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        return nl_open_netns(fd, ret, err);
}

static ino_t my_netns(void) {
        struct stat st;
        return stat("/proc/self/ns/net", &st) == 0 ? st.st_ino : 0;
}

/* ---- pure: rates ---------------------------------------------------------- */

static void rates(void) {
        static const struct {
                const char *in;
                uint64_t bps;
        } good[] = {
                { "10mbit", 10000000 },  { "1gbit", 1000000000 }, { "500kbit", 500000 }, { "2mbps", 16000000 },
                { "100000", 100000 },    { "none", 0 },           { "0", 0 },            { "", 0 },
                { "1.5mbit", 1500000 },  { "10Mbit", 10000000 },  { "100bit", 100 },     { "20tbit", 20000000000000ull },
        };
        for (size_t k = 0; k < ELEMENTSOF(good); k++) {
                uint64_t v = 7;
                vs_error err = { 0 };
                int r = tc_rate_parse(good[k].in, &v, &err);
                CHECK("rate parses", r == 0 && v == good[k].bps, "'%s' -> r=%d %llu (%s)", good[k].in, r,
                      (unsigned long long) v, err.msg);
        }
        static const struct {
                const char *in, *msg;
        } bad[] = {
                { "fast", "expected a number" },           { "10 mbit", "unknown unit ' mbit'" },
                { "10furlongs", "unknown unit 'furlongs'" }, { "-5mbit", "negative" },
                { "99999999999999999999", "too large" },     { "3000000000gbps", "too large" },
                { "1.2.3mbit", "unknown unit" },             { "mbit", "expected a number" },
        };
        for (size_t k = 0; k < ELEMENTSOF(bad); k++) {
                uint64_t v = 7;
                vs_error err = { 0 };
                int r = tc_rate_parse(bad[k].in, &v, &err);
                CHECK("rate rejected", r < 0 && v == 7 && strstr(err.msg, bad[k].msg) && !strchr(err.msg, '\n'),
                      "'%s' -> r=%d v=%llu msg='%s'", bad[k].in, r, (unsigned long long) v, err.msg);
        }
        static const struct {
                uint64_t bps;
                const char *out;
        } fmt[] = { { 0, "none" }, { 10000000, "10mbit" }, { 1000000000, "1gbit" }, { 1500000, "1500kbit" },
                    { 100001, "100001bit" } };
        for (size_t k = 0; k < ELEMENTSOF(fmt); k++) {
                char buf[32];
                uint64_t back = 1;
                tc_rate_format(fmt[k].bps, buf, sizeof(buf));
                CHECK("rate formats and parses back", streq(buf, fmt[k].out) && tc_rate_parse(buf, &back, NULL) == 0 &&
                      back == fmt[k].bps, "%llu -> '%s' -> %llu", (unsigned long long) fmt[k].bps, buf,
                      (unsigned long long) back);
        }
}

/* ---- privileged: links ---------------------------------------------------- */

static const uint8_t br_mac[6] = { 0x02, 0x56, 0x53, 0x00, 0x00, 0x01 };
static const uint8_t peer_mac[6] = { 0x02, 0x56, 0x53, 0x00, 0x00, 0x02 };

static void bridge(struct nl *nl) {
        vs_error err = { 0 };
        int r = nl_bridge_create(nl, "vsbr0", br_mac, 1400, &err);
        CHECK("bridge create", r == 0, "r=%d %s", r, err.msg);
        const char *out = sh("ip -d link show vsbr0");
        CHECK("bridge MAC is the one asked for", strstr(out, "link/ether 02:56:53:00:00:01"), "%s", out);
        CHECK("bridge mtu", strstr(out, "mtu 1400"), "%s", out);
        CHECK("bridge without STP, forward delay 0", strstr(out, "forward_delay 0 ") && strstr(out, "stp_state 0 "), "%s",
              out);
        vs_err_clear(&err);
        r = nl_bridge_create(nl, "vsbr0", NULL, 0, &err);
        CHECK("bridge exists: -EEXIST", r == -EEXIST && strstr(err.msg, "Failed to create bridge vsbr0"), "r=%d %s", r,
              err.msg);
}

static void veth(struct nl *nl, pid_t child) {
        vs_error err = { 0 };
        struct nl_veth v = { .name = "vsh-a", .alias = "vsd:test-a", .peer_name = "eth0", .peer_mac = peer_mac,
                             .peer_netns_pid = child, .mtu = 1500 };
        int r = nl_veth_create(nl, &v, &err);
        CHECK("veth create", r == 0, "r=%d %s", r, err.msg);
        CHECK("veth peer is not in our namespace", nl_link_index(nl, "eth0") == -ENODEV, "eth0 found here");

        ino_t before = my_netns();
        _cleanup_nl_ struct nl *peer = NULL;
        r = open_child_nl(child, &peer, &err);
        CHECK("nl_open_netns", r == 0 && peer, "r=%d %s", r, err.msg);
        CHECK("nl_open_netns comes back to our namespace", my_netns() == before, "moved");
        if (!peer)
                return;
        CHECK("veth peer exists in the child's namespace", nl_link_index(peer, "eth0") > 0, "not found");
        const char *out = sh("nsenter --net=/proc/%d/ns/net ip link show eth0", (int) child);
        CHECK("veth peer MAC", strstr(out, "link/ether 02:56:53:00:00:02"), "%s", out);
        out = sh("ip link show vsh-a");
        CHECK("veth host side alias", strstr(out, "alias vsd:test-a"), "%s", out);
        CHECK("veth left down", strstr(out, "state DOWN"), "%s", out);

        v = (struct nl_veth) { .name = "vsh-b", .peer_name = "eth1", .peer_netns_pid = child };
        r = nl_veth_create(nl, &v, &err);
        CHECK("second veth create", r == 0, "r=%d %s", r, err.msg);
        vs_err_clear(&err);
        v = (struct nl_veth) { .name = "vsh-c", .peer_name = "eth1", .peer_netns_pid = child };
        r = nl_veth_create(nl, &v, &err);
        CHECK("veth with a taken peer name fails with a message", r == -EEXIST && strstr(err.msg, "peer eth1"),
              "r=%d %s", r, err.msg);
        CHECK("failed veth left nothing behind", nl_link_index(nl, "vsh-c") == -ENODEV, "vsh-c exists");
}

struct walk {
        bool veth_ok, bridge_ok;
        int n;
        char got[512];
};

static int walk_cb(const struct nl_link_info *l, void *data) {
        struct walk *w = data;
        w->n++;
        if (streq(l->name, "vsh-a"))
                w->veth_ok = streq(l->alias, "vsd:test-a") && streq(l->kind, "veth") && streq(l->master, "vsbr0");
        if (streq(l->name, "vsbr0"))
                w->bridge_ok = streq(l->kind, "bridge") && streq(l->master, "") && l->ifindex > 0;
        size_t len = strlen(w->got);
        snprintf(w->got + len, sizeof(w->got) - len, "[%s %s '%s' m=%s] ", l->name, l->kind, l->alias, l->master);
        return 0;
}

static int stop_cb(const struct nl_link_info *l, void *data) {
        ++*(int *) data;
        return -EINTR;
}

static void ports(struct nl *nl) {
        vs_error err = { 0 };
        int r = nl_link_set_master(nl, "vsh-a", "vsbr0", &err);
        CHECK("enslave to bridge", r == 0 && strstr(sh("ip link show vsh-a"), "master vsbr0"), "r=%d %s", r, err.msg);
        r = nl_bridge_port_set_isolated(nl, "vsh-a", true, &err);
        const char *out = sh("bridge -d link show dev vsh-a");
        CHECK("bridge port isolated", r == 0 && strstr(out, "isolated on"), "r=%d %s / %s", r, err.msg, out);
        r = nl_bridge_port_set_isolated(nl, "vsh-a", false, &err);
        out = sh("bridge -d link show dev vsh-a");
        CHECK("bridge port not isolated", r == 0 && strstr(out, "isolated off"), "r=%d %s / %s", r, err.msg, out);

        struct walk w = { 0 };
        r = nl_link_foreach(nl, walk_cb, &w, &err);
        CHECK("link walk: alias, kind, master", r == 0 && w.veth_ok && w.bridge_ok, "r=%d %s", r, w.got);
        int calls = 0;
        r = nl_link_foreach(nl, stop_cb, &calls, &err);
        CHECK("link walk stops on the callback's error", r == -EINTR && calls == 1, "r=%d calls=%d", r, calls);
        r = nl_link_foreach(nl, walk_cb, &w, &err);
        CHECK("link walk works again after a stopped one", r == 0, "r=%d %s", r, err.msg);

        r = nl_link_set_master(nl, "vsh-a", NULL, &err);
        CHECK("release from bridge", r == 0 && !strstr(sh("ip link show vsh-a"), "master"), "r=%d %s", r, err.msg);
        vs_err_clear(&err);
        r = nl_link_set_master(nl, "vsh-a", "nosuchbr", &err);
        CHECK("enslave to a missing bridge", r == -ENODEV && streq(err.msg, "Failed to enslave vsh-a to nosuchbr: no link nosuchbr"),
              "r=%d '%s'", r, err.msg);
        vs_err_clear(&err);
        r = nl_link_set_up(nl, "nosuch0", true, &err);
        CHECK("set up a missing link", r == -ENODEV && streq(err.msg, "Failed to set up nosuch0: no link nosuch0"),
              "r=%d '%s'", r, err.msg);
}

/* ---- privileged: addresses, routes, neighbours ---------------------------- */

static void addresses(struct nl *nl) {
        vs_error err = { 0 };
        int r = nl_link_set_up(nl, "vsbr0", true, &err);
        const char *out = sh("ip link show vsbr0");
        CHECK("link up", r == 0 && strstr(out, ",UP"), "r=%d %s / %s", r, err.msg, out);
        struct net_cidr a4 = cidr("10.99.0.1/24"), a6 = cidr("fd00:99::1/64");
        r = nl_addr_add(nl, "vsbr0", &a4, &err);
        CHECK("add IPv4 address", r == 0 && strstr(sh("ip -4 addr show dev vsbr0"), "inet 10.99.0.1/24"), "r=%d %s", r,
              err.msg);
        vs_err_clear(&err);
        r = nl_addr_add(nl, "vsbr0", &a4, &err);
        CHECK("duplicate address: -EEXIST, clear message",
              r == -EEXIST && strstr(err.msg, "Failed to add address 10.99.0.1/24 to vsbr0: "), "r=%d '%s'", r, err.msg);
        printf("# duplicate address message: %s\n", err.msg);
        r = nl_addr_add(nl, "vsbr0", &a6, &err);
        out = sh("ip -6 addr show dev vsbr0");
        CHECK("add IPv6 address, usable at once (no DAD)",
              r == 0 && strstr(out, "inet6 fd00:99::1/64") && !strstr(out, "tentative"), "r=%d %s / %s", r, err.msg, out);
        r = nl_addr_del(nl, "vsbr0", &a6, &err);
        CHECK("remove IPv6 address", r == 0 && !strstr(sh("ip -6 addr show dev vsbr0"), "fd00:99::1"), "r=%d %s", r,
              err.msg);
        vs_err_clear(&err);
        r = nl_addr_del(nl, "vsbr0", &a6, &err);
        CHECK("remove a missing address fails with a message",
              r < 0 && strstr(err.msg, "Failed to remove address fd00:99::1/64 from vsbr0"), "r=%d %s", r, err.msg);
        vs_err_clear(&err);
        r = nl_addr_add(nl, "nosuch0", &a4, &err);
        CHECK("address on a missing link: clear message",
              r == -ENODEV && streq(err.msg, "Failed to add address 10.99.0.1/24 to nosuch0: No such device"), "r=%d '%s'",
              r, err.msg);
        r = nl_addr_add(nl, "vsbr0", &a6, &err);
        CHECK("re-add IPv6 address", r == 0, "r=%d %s", r, err.msg);
}

static void routes(struct nl *nl) {
        vs_error err = { 0 };
        struct net_cidr dst = cidr("10.98.0.0/16"), gw = cidr("10.99.0.2/32"), def = cidr("0.0.0.0/0"),
                        ll = cidr("169.254.0.1/32"), dst2 = cidr("10.97.0.0/16"), dst6 = cidr("fd00:98::/64"),
                        gw6 = cidr("fd00:99::2/128");
        struct nl_route r1 = { .ifname = "vsbr0", .dst = &dst, .gateway = &gw };
        int r = nl_route_add(nl, &r1, &err);
        CHECK("route via gateway", r == 0 && strstr(sh("ip route show 10.98.0.0/16"), "via 10.99.0.2 dev vsbr0"),
              "r=%d %s", r, err.msg);
        r = nl_route_add(nl, &r1, &err);
        CHECK("route add replaces", r == 0, "r=%d %s", r, err.msg);
        struct nl_route ro = { .ifname = "vsbr0", .dst = &dst2, .gateway = &ll };
        vs_err_clear(&err);
        r = nl_route_add(nl, &ro, &err);
        CHECK("gateway off every prefix needs onlink", r < 0 && strstr(err.msg, "Failed to add route 10.97.0.0/16 dev vsbr0"),
              "r=%d %s", r, err.msg);
        printf("# off-link gateway message: %s\n", err.msg);
        ro.onlink = true;
        r = nl_route_add(nl, &ro, &err);
        CHECK("onlink gateway route", r == 0 && strstr(sh("ip route show 10.97.0.0/16"), "via 169.254.0.1 dev vsbr0 proto static onlink"),
              "r=%d %s %s", r, err.msg, sh("ip route"));
        /* after the onlink case: a default device route would cover any gateway */
        struct nl_route rd = { .ifname = "vsbr0", .dst = &def };
        r = nl_route_add(nl, &rd, &err);
        CHECK("default device route", r == 0 && strstr(sh("ip route show default"), "default dev vsbr0 "), "r=%d %s %s", r,
              err.msg, sh("ip route"));
        struct nl_route r6 = { .ifname = "vsbr0", .dst = &dst6, .gateway = &gw6 };
        r = nl_route_add(nl, &r6, &err);
        CHECK("IPv6 route", r == 0 && strstr(sh("ip -6 route show fd00:98::/64"), "via fd00:99::2 dev vsbr0"), "r=%d %s", r,
              err.msg);

        struct nl_route *all[] = { &r1, &rd, &ro, &r6 };
        for (size_t k = 0; k < ELEMENTSOF(all); k++) {
                r = nl_route_del(nl, all[k], &err);
                CHECK("route delete", r == 0, "route %zu r=%d %s", k, r, err.msg);
        }
        const char *out = sh("ip route; ip -6 route");
        CHECK("routes gone", !strstr(out, "10.98.") && !strstr(out, "default") && !strstr(out, "10.97.") &&
              !strstr(out, "fd00:98"), "%s", out);
        vs_err_clear(&err);
        r = nl_route_del(nl, &r1, &err);
        CHECK("delete a missing route: -ESRCH, no message", r == -ESRCH && err.code == 0, "r=%d %s", r, err.msg);
}

static void neighbours(struct nl *nl) {
        vs_error err = { 0 };
        struct net_cidr p4 = cidr("10.99.0.50/32"), p6 = cidr("fd00:99::50/128");
        int r = nl_neigh_proxy_add(nl, "vsbr0", &p4, &err);
        int r6 = nl_neigh_proxy_add(nl, "vsbr0", &p6, &err);
        const char *out = sh("ip neigh show proxy; ip -6 neigh show proxy");
        CHECK("proxy neighbour add", r == 0 && r6 == 0 && strstr(out, "10.99.0.50 dev vsbr0") &&
              strstr(out, "fd00:99::50 dev vsbr0"), "r=%d/%d %s / %s", r, r6, err.msg, out);
        r = nl_neigh_proxy_del(nl, "vsbr0", &p4, &err);
        r6 = nl_neigh_proxy_del(nl, "vsbr0", &p6, &err);
        out = sh("ip neigh show proxy; ip -6 neigh show proxy");
        CHECK("proxy neighbour del", r == 0 && r6 == 0 && !strstr(out, "10.99.0.50") && !strstr(out, "fd00:99::50"),
              "r=%d/%d %s / %s", r, r6, err.msg, out);
        vs_err_clear(&err);
        r = nl_neigh_proxy_del(nl, "vsbr0", &p4, &err);
        CHECK("proxy neighbour del of a missing one fails with a message",
              r < 0 && strstr(err.msg, "Failed to remove proxy neighbour 10.99.0.50/32 on vsbr0"), "r=%d %s", r, err.msg);
}

static void sysctls(void) {
        vs_error err = { 0 };
        int r = nl_if_sysctl(AF_INET, "vsh-a", "proxy_arp", "1", &err);
        const char *out = sh("cat /proc/sys/net/ipv4/conf/vsh-a/proxy_arp");
        CHECK("interface sysctl", r == 0 && streq(out, "1\n"), "r=%d %s / %s", r, err.msg, out);
        r = nl_if_sysctl(AF_INET6, "vsh-a", "proxy_ndp", "1", &err);
        CHECK("interface sysctl IPv6", r == 0 && streq(sh("cat /proc/sys/net/ipv6/conf/vsh-a/proxy_ndp"), "1\n"), "r=%d %s",
              r, err.msg);
        vs_err_clear(&err);
        r = nl_if_sysctl(AF_INET, "..", "forwarding", "1", &err);
        CHECK("interface sysctl refuses a path", r == -EINVAL && err.msg[0], "r=%d", r);
        r = nl_if_sysctl(AF_INET, "nosuch0", "forwarding", "1", &err);
        CHECK("interface sysctl on a missing link", r == -ENOENT && strstr(err.msg, "nosuch0/forwarding"), "r=%d %s", r,
              err.msg);
}

/* ---- privileged: traffic ---------------------------------------------------- */

/* Addresses on both ends of vsh-a/eth0, both up. */
static int wire(struct nl *nl, struct nl *peer, vs_error *err) {
        struct net_cidr h = cidr("10.99.1.1/24"), i = cidr("10.99.1.2/24");
        int r = nl_addr_add(nl, "vsh-a", &h, err);
        if (r == 0)
                r = nl_link_set_up(nl, "vsh-a", true, err);
        if (r == 0)
                r = nl_addr_add(peer, "eth0", &i, err);
        if (r == 0)
                r = nl_link_set_up(peer, "eth0", true, err);
        return r;
}

static void stats(struct nl *nl, struct nl *peer) {
        vs_error err = { 0 };
        struct nl_link_stats h0, h1, p0, p1;
        int r = nl_link_stats(nl, "vsh-a", &h0, &err);
        if (r == 0)
                r = nl_link_stats(peer, "eth0", &p0, &err);
        CHECK("link stats read", r == 0, "r=%d %s", r, err.msg);
        _cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(9) };
        inet_pton(AF_INET, "10.99.1.2", &to.sin_addr);
        char payload[1000] = { 0 };
        /* the first waits for ARP in the neighbour queue, which holds them */
        for (int k = 0; k < 100; k++)
                sendto(s, payload, sizeof(payload), 0, (struct sockaddr *) &to, sizeof(to));
        /* delivered once ARP resolves: poll up to 20 s (software
         * emulation takes seconds where a host takes microseconds) */
        for (int k = 0; k < 200; k++) {
                r = nl_link_stats(nl, "vsh-a", &h1, &err);
                if (r == 0)
                        r = nl_link_stats(peer, "eth0", &p1, &err);
                if (r < 0 || (h1.tx_packets - h0.tx_packets >= 100 && p1.rx_packets - p0.rx_packets >= 100))
                        break;
                usleep(100000);
        }
        CHECK("link stats count real traffic",
              r == 0 && h1.tx_packets - h0.tx_packets >= 100 && h1.tx_bytes - h0.tx_bytes >= 100 * 1028 &&
              p1.rx_packets - p0.rx_packets >= 100 && p1.rx_bytes - p0.rx_bytes >= 100 * 1028,
              "r=%d host tx +%llu pkts +%llu B, peer rx +%llu pkts +%llu B", r,
              (unsigned long long) (h1.tx_packets - h0.tx_packets), (unsigned long long) (h1.tx_bytes - h0.tx_bytes),
              (unsigned long long) (p1.rx_packets - p0.rx_packets), (unsigned long long) (p1.rx_bytes - p0.rx_bytes));
        vs_err_clear(&err);
        r = nl_link_stats(nl, "nosuch0", &h1, &err);
        CHECK("link stats of a missing link", r == -ENODEV && strstr(err.msg, "nosuch0"), "r=%d %s", r, err.msg);
}

static pid_t iperf_server(pid_t child) {
        pid_t pid = fork();
        if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                char path[64];
                snprintf(path, sizeof(path), "/proc/%d/ns/net", (int) child);
                int fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0 || setns(fd, CLONE_NEWNET) < 0)
                        _exit(127);
                int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
                dup2(devnull, 1);
                execlp("iperf3", "iperf3", "-s", "-B", "10.99.1.2", "-p", "5299", (char *) NULL);
                _exit(127);
        }
        return pid;
}

/* Received bits per second of one 3 s iperf3 run (reverse: the instance
 * sends), < 0 when it failed. */
static double iperf(bool reverse, char *why, size_t len) {
        for (int attempt = 0; attempt < 20; attempt++) {
                const char *out = sh("iperf3 -c 10.99.1.2 -p 5299 -t 3 -J %s 2>&1", reverse ? "-R" : "");
                json_error_t je;
                json_t *j = json_loads(out, 0, &je);
                json_t *bps = json_object_get(json_object_get(json_object_get(j, "end"), "sum_received"),
                                              "bits_per_second");
                double v = json_is_number(bps) ? json_number_value(bps) : -1;
                const char *e = json_string_value(json_object_get(j, "error"));
                snprintf(why, len, "%s", e ? e : j ? "no end.sum_received" : "no JSON from iperf3");
                json_decref(j);
                if (v >= 0)
                        return v;
                /* the server may not listen yet, or still be closing the
                 * previous test (and then drop the new control connection) */
                if (!strstr(why, "unable to connect") && !strstr(why, "busy") && !strstr(why, "reset by peer"))
                        return -1;
                usleep(100000);
        }
        return -1;
}

static bool near(double got, double want) {
        return got > want * 0.9 && got < want * 1.1;
}

/* A run below the band is run once more: a CPU starved by the rest of a
 * parallel suite lowers what TCP gets through (seen: 8.9 of 10 Mbit/s),
 * while the cap, the band's top, is checked on every run. */
static double iperf_near(bool reverse, double want, char *why, size_t len) {
        double v = iperf(reverse, why, len);
        if (v >= 0 && v <= want * 0.9)
                v = iperf(reverse, why, len);
        return v;
}

static void caps(struct nl *nl, pid_t child) {
        vs_error err = { 0 };
        if (access("/usr/bin/iperf3", X_OK) != 0) {
                CHECK("rate caps measured with iperf3", false, "iperf3 is not installed (apt-get install iperf3, or make deps)");
                return;
        }
        const uint64_t cap = 10000000;
        int r = tc_rate_set(nl, "vsh-a", cap, cap, &err);
        CHECK("tc_rate_set 10mbit both ways", r == 0, "r=%d %s", r, err.msg);
        r = tc_rate_set(nl, "vsh-a", cap, cap, &err);
        CHECK("tc_rate_set again replaces", r == 0, "r=%d %s", r, err.msg);
        char ifb[16];
        tc_ifb_name("vsh-a", ifb);
        const char *out = sh("tc qdisc show dev vsh-a; tc qdisc show dev %s; ip link show %s", ifb, ifb);
        CHECK("tbf on the host side and on its IFB, an ingress qdisc",
              strstr(out, "qdisc tbf 1: root") && strstr(out, "rate 10Mbit") && strstr(out, "qdisc ingress ffff:") &&
              strstr(out, "alias vsd: outbound cap of vsh-a"), "%s", out);

        pid_t server = iperf_server(child);
        char why[256];
        char name[128];
        double to = iperf_near(false, (double) cap, why, sizeof(why));
        snprintf(name, sizeof(name), "10mbit to the instance (iperf3): %.2f Mbit/s", to / 1e6);
        CHECK(name, near(to, cap), "not within 10%% of 10 Mbit/s %s", to < 0 ? why : "");
        double from = iperf_near(true, (double) cap, why, sizeof(why));
        snprintf(name, sizeof(name), "10mbit from the instance (iperf3): %.2f Mbit/s", from / 1e6);
        CHECK(name, near(from, cap), "not within 10%% of 10 Mbit/s %s", from < 0 ? why : "");

        r = tc_rate_set(nl, "vsh-a", 0, 0, &err);
        out = sh("tc qdisc show dev vsh-a; ip link show %s 2>&1", ifb);
        CHECK("caps removed: no tbf, no ingress, no IFB", r == 0 && !strstr(out, "tbf") && !strstr(out, "ingress") &&
              strstr(out, "does not exist"), "r=%d %s / %s", r, err.msg, out);
        to = iperf(false, why, sizeof(why));
        from = iperf(true, why, sizeof(why));
        snprintf(name, sizeof(name), "uncapped, far above 10 Mbit/s: to the instance %.0f Mbit/s, from it %.0f Mbit/s",
                 to / 1e6, from / 1e6);
        CHECK(name, to > 100e6 && from > 100e6, "%s", why);
        reap(server);

        r = tc_rate_set(nl, "vsh-a", 0, 0, &err);
        CHECK("removing absent caps is fine", r == 0, "r=%d %s", r, err.msg);
        vs_err_clear(&err);
        r = tc_rate_set(nl, "nosuch0", cap, 0, &err);
        CHECK("caps on a missing link", r == -ENODEV && strstr(err.msg, "nosuch0"), "r=%d %s", r, err.msg);
}

static void teardown(struct nl *nl, pid_t child) {
        vs_error err = { 0 };
        int r = nl_link_delete(nl, "vsbr0", &err);
        CHECK("delete bridge", r == 0 && nl_link_index(nl, "vsbr0") == -ENODEV, "r=%d %s", r, err.msg);
        r = nl_link_delete(nl, "vsh-b", &err);
        _cleanup_nl_ struct nl *peer = NULL;
        open_child_nl(child, &peer, &err);
        CHECK("deleting a veth deletes its peer", r == 0 && peer && nl_link_index(peer, "eth1") == -ENODEV, "r=%d %s", r,
              err.msg);
        vs_err_clear(&err);
        r = nl_link_delete(nl, "vsbr0", &err);
        CHECK("delete a missing link: -ENODEV, no message", r == -ENODEV && err.code == 0, "r=%d %s", r, err.msg);
}

static void privileged(void) {
        /* everything below happens in namespaces that die with us */
        if (unshare(CLONE_NEWNET) < 0) {
                CHECK("private network namespace", false, "unshare: %s", strerror(errno));
                return;
        }
        pid_t child = netns_child();
        vs_error err = { 0 };
        _cleanup_nl_ struct nl *nl = NULL;
        int r = nl_open(&nl, &err);
        CHECK("nl_open", r == 0 && child > 0, "r=%d %s child=%d", r, err.msg, (int) child);
        if (r < 0 || child < 0)
                return;
        bridge(nl);
        veth(nl, child);
        ports(nl);
        addresses(nl);
        routes(nl);
        neighbours(nl);
        sysctls();
        _cleanup_nl_ struct nl *peer = NULL;
        r = open_child_nl(child, &peer, &err);
        if (r == 0)
                r = wire(nl, peer, &err);
        CHECK("addresses on both ends of a veth", r == 0, "r=%d %s", r, err.msg);
        if (r == 0) {
                stats(nl, peer);
                caps(nl, child);
        }
        teardown(nl, child);
        reap(child);
}

int main(void) {
        /* our output goes through a pipe to the runner: keep the order of
         * our lines and those of the commands we run */
        setvbuf(stdout, NULL, _IOLBF, 0);
        rates();
        if (geteuid() == 0)
                privileged();
        else
                printf("ok - rtnetlink and tc cases need root, not run\n");
        return CHECK_DONE();
}
