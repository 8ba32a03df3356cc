/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The packet filter.  Forward specs are pure; everything else runs as root
 * inside a private network namespace this process makes first (nftables
 * tables, links and sysctls are all per namespace, so nothing reaches the
 * host).  "Instances" are child processes that each sit in a network
 * namespace of their own, wired to the private one with veth pairs; the
 * traffic checks send real packets between them and count what arrives.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "net/fw.h"
#include "net/fwwatch.h"
#include "tests/unit/check.h"

/* --- pure ------------------------------------------------------------------ */

static struct net_cidr cidr(const char *s, uint8_t prefix) {
        struct net_cidr c = { .family = strchr(s, ':') ? AF_INET6 : AF_INET, .prefix = prefix };
        if (inet_pton(c.family, s, c.addr) != 1)
                abort();
        return c;
}

static void forward_specs(void) {
        static const struct {
                const char *in;
                int proto;
                uint16_t host, port;
                const char *out;
        } good[] = {
                { "tcp:8080:80", IPPROTO_TCP, 8080, 80, "tcp:8080:80" },
                { "udp:5353:53", IPPROTO_UDP, 5353, 53, "udp:5353:53" },
                { "8080:80", IPPROTO_TCP, 8080, 80, "tcp:8080:80" },
                { "1:65535", IPPROTO_TCP, 1, 65535, "tcp:1:65535" },
        };
        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                struct fw_forward f = { 0 };
                vs_error err = { 0 };
                int r = fw_forward_parse(good[i].in, &f, &err);
                char buf[32] = "";
                fw_forward_format(&f, buf, sizeof(buf));
                CHECK("forward parses", r == 0 && f.proto == good[i].proto && f.host_port == good[i].host &&
                                                f.port == good[i].port && streq(buf, good[i].out),
                      "'%s' -> r=%d %d %u %u '%s' (%s)", good[i].in, r, f.proto, f.host_port, f.port, buf, err.msg);
        }
        static const char *const bad[] = { "", "80", "tcp:80", "sctp:1:2", "tcp:0:80", "tcp:80:0", "65536:80",
                                           "80:99999999999", "tcp:8080:80:1", "tcp::80", "8080:", "a:b",
                                           "tcp:-1:80", "tcp: 80:80", "TCP:80:80", "udp:80:8x", NULL };
        for (const char *const *p = bad; *p; p++) {
                struct fw_forward f = { .host_port = 7 };
                vs_error err = { 0 };
                int r = fw_forward_parse(*p, &f, &err);
                CHECK("forward rejected", r < 0 && f.host_port == 7 && err.msg[0] && !strchr(err.msg, '\n'),
                      "'%s' accepted (r=%d)", *p, r);
        }
        vs_error err = { 0 };
        struct fw_forward f;
        fw_forward_parse("tcp:70000:80", &f, &err);
        CHECK("forward error names the range", strstr(err.msg, "1-65535") && strstr(err.msg, "70000"), "got '%s'",
              err.msg);
        fw_forward_parse("sctp:1:2", &f, &err);
        CHECK("forward error names the protocol", strstr(err.msg, "'sctp'") != NULL, "got '%s'", err.msg);
}

static void open_refuses_junk(void) {
        struct fw *fw = NULL;
        vs_error err = { 0 };
        struct fw_config c = { .table = "vsd x", .port_prefix = "vsh", .bridge = "" };
        CHECK("open: bad table name", fw_open(&c, &fw, &err) == -EINVAL && strstr(err.msg, "vsd x"), "got '%s'",
              err.msg);
        c = (struct fw_config) { .table = "vsd", .port_prefix = "vs\"h", .bridge = "" };
        CHECK("open: bad prefix", fw_open(&c, &fw, &err) == -EINVAL && strstr(err.msg, "prefix"), "got '%s'",
              err.msg);
        c = (struct fw_config) { .table = "vsd", .port_prefix = "vsh", .bridge = "br 0" };
        CHECK("open: bad bridge", fw_open(&c, &fw, &err) == -EINVAL && strstr(err.msg, "bridge"), "got '%s'",
              err.msg);
}

/* --- plumbing --------------------------------------------------------------- */

__attribute__((format(printf, 1, 2))) static int sh(const char *fmt, ...) {
        char cmd[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(cmd, sizeof(cmd), fmt, ap);
        va_end(ap);
        int r = system(cmd);
        if (r != 0)
                fprintf(stderr, "# command failed (%d): %s\n", r, cmd);
        return r == -1 ? -1 : WEXITSTATUS(r);
}

static int write_file(const char *path, const char *val) {
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        ssize_t n = write(fd, val, strlen(val));
        close(fd);
        return n < 0 ? -errno : 0;
}

/* A child that holds a fresh network namespace until it is killed. */
static pid_t ns_new(void) {
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        pid_t pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                char ok = unshare(CLONE_NEWNET) == 0 ? 'y' : 'n';
                if (write(p[1], &ok, 1) != 1)
                        _exit(1);
                for (;;)
                        pause();
        }
        close(p[1]);
        char ok = 'n';
        if (read(p[0], &ok, 1) != 1 || ok != 'y') {
                close(p[0]);
                kill(pid, SIGKILL);
                waitpid(pid, NULL, 0);
                return -EIO;
        }
        close(p[0]);
        return pid;
}

/* A piece of work run by a child in namespace ns (0: this one).  fn writes
 * "R" once it is ready (bound, listening), then its result as text. */
typedef int (*job_fn)(const void *arg, int out);
struct job {
        pid_t pid;
        int fd;
};

static int job_start(pid_t ns, job_fn fn, const void *arg, struct job *ret) {
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        pid_t pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                close(p[0]);
                if (ns > 0) {
                        char path[64];
                        snprintf(path, sizeof(path), "/proc/%d/ns/net", (int) ns);
                        int fd = open(path, O_RDONLY | O_CLOEXEC);
                        if (fd < 0 || setns(fd, CLONE_NEWNET) < 0)
                                _exit(100);
                }
                _exit(fn(arg, p[1]) < 0 ? 1 : 0);
        }
        close(p[1]);
        char c;
        if (read(p[0], &c, 1) != 1 || c != 'R') {
                close(p[0]);
                waitpid(pid, NULL, 0);
                return -EIO;
        }
        *ret = (struct job) { .pid = pid, .fd = p[0] };
        return 0;
}

/* The job's result text; its exit status is returned. */
static int job_wait(struct job *j, char *buf, size_t len) {
        size_t got = 0;
        for (;;) {
                ssize_t n = read(j->fd, buf + got, len - 1 - got);
                if (n <= 0)
                        break;
                got += (size_t) n;
                if (got == len - 1)
                        break;
        }
        buf[got] = '\0';
        close(j->fd);
        int st = 0;
        waitpid(j->pid, &st, 0);
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static int job_run(pid_t ns, job_fn fn, const void *arg, char *buf, size_t len) {
        struct job j;
        int r = job_start(ns, fn, arg, &j);
        if (r < 0)
                return r;
        return job_wait(&j, buf, len);
}

static void ready(int out) {
        if (write(out, "R", 1) != 1)
                _exit(1);
}

static int sockaddr_of(const char *addr, uint16_t port, struct sockaddr_storage *ss, socklen_t *len) {
        memset(ss, 0, sizeof(*ss));
        if (strchr(addr, ':')) {
                struct sockaddr_in6 *s6 = (struct sockaddr_in6 *) ss;
                s6->sin6_family = AF_INET6;
                s6->sin6_port = htons(port);
                *len = sizeof(*s6);
                return inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1 ? 0 : -EINVAL;
        }
        struct sockaddr_in *s4 = (struct sockaddr_in *) ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons(port);
        *len = sizeof(*s4);
        return inet_pton(AF_INET, addr, &s4->sin_addr) == 1 ? 0 : -EINVAL;
}

static void addr_text(const struct sockaddr_storage *ss, char *buf, size_t len) {
        if (ss->ss_family == AF_INET6)
                inet_ntop(AF_INET6, &((const struct sockaddr_in6 *) ss)->sin6_addr, buf, (socklen_t) len);
        else
                inet_ntop(AF_INET, &((const struct sockaddr_in *) ss)->sin_addr, buf, (socklen_t) len);
}

/* --- traffic ------------------------------------------------------------------ */

#define WAIT_MS 400

struct recv_arg {
        int family;
        uint16_t port;
};

/* Count UDP datagrams for WAIT_MS after the first (or none); "N SRC". */
static int udp_recv(const void *a, int out) {
        const struct recv_arg *arg = a;
        int fd = socket(arg->family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        struct sockaddr_storage ss;
        socklen_t sl;
        sockaddr_of(arg->family == AF_INET6 ? "::" : "0.0.0.0", arg->port, &ss, &sl);
        if (fd < 0 || bind(fd, (struct sockaddr *) &ss, sl) < 0)
                return -errno;
        ready(out);
        int n = 0;
        char src[INET6_ADDRSTRLEN] = "-";
        struct pollfd p = { .fd = fd, .events = POLLIN };
        while (poll(&p, 1, n ? 100 : WAIT_MS) > 0) {
                char b[64];
                struct sockaddr_storage from;
                socklen_t fl = sizeof(from);
                if (recvfrom(fd, b, sizeof(b), 0, (struct sockaddr *) &from, &fl) >= 0) {
                        n++;
                        addr_text(&from, src, sizeof(src));
                }
        }
        dprintf(out, "%d %s", n, src);
        return 0;
}

struct send_arg {
        const char *src; /* NULL: the kernel's choice */
        uint16_t sport;
        const char *dst;
        uint16_t dport;
};

static int udp_send(const void *a, int out) {
        const struct send_arg *arg = a;
        struct sockaddr_storage ss;
        socklen_t sl;
        if (sockaddr_of(arg->dst, arg->dport, &ss, &sl) < 0)
                return -EINVAL;
        int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (arg->src || arg->sport) {
                struct sockaddr_storage bs;
                socklen_t bl;
                sockaddr_of(arg->src ? arg->src : (ss.ss_family == AF_INET6 ? "::" : "0.0.0.0"), arg->sport, &bs, &bl);
                if (bind(fd, (struct sockaddr *) &bs, bl) < 0)
                        return -errno;
        }
        ready(out);
        for (int i = 0; i < 3; i++) {
                sendto(fd, "x", 1, 0, (struct sockaddr *) &ss, sl);
                usleep(20 * 1000);
        }
        return 0;
}

struct raw_arg {
        uint8_t src_mac[6], dst_mac[6];
        const char *src, *dst;
        uint16_t dport;
};

static uint16_t ip_checksum(const void *data, size_t len) {
        const uint8_t *p = data;
        uint32_t sum = 0;
        for (size_t i = 0; i + 1 < len; i += 2)
                sum += (uint32_t) (p[i] << 8 | p[i + 1]);
        while (sum >> 16)
                sum = (sum & 0xffff) + (sum >> 16);
        return htons((uint16_t) ~sum);
}

/* One IPv4/UDP frame built by hand on eth0: any source MAC. */
static int raw_send(const void *a, int out) {
        const struct raw_arg *arg = a;
        /* the headers are built aligned and copied in: after the 14-byte
         * Ethernet header the IP header is not 4-byte aligned */
        struct ether_header eh = { .ether_type = htons(ETHERTYPE_IP) };
        struct iphdr ip = { .version = 4, .ihl = 5, .ttl = 64, .protocol = IPPROTO_UDP };
        struct udphdr udp = { .source = htons(40000), .dest = htons(arg->dport), .len = htons(sizeof(udp) + 1) };
        uint8_t f[sizeof(eh) + sizeof(ip) + sizeof(udp) + 1];
        memcpy(eh.ether_dhost, arg->dst_mac, 6);
        memcpy(eh.ether_shost, arg->src_mac, 6);
        ip.tot_len = htons(sizeof(ip) + sizeof(udp) + 1);
        inet_pton(AF_INET, arg->src, &ip.saddr);
        inet_pton(AF_INET, arg->dst, &ip.daddr);
        ip.check = ip_checksum(&ip, sizeof(ip));
        memcpy(f, &eh, sizeof(eh));
        memcpy(f + sizeof(eh), &ip, sizeof(ip));
        memcpy(f + sizeof(eh) + sizeof(ip), &udp, sizeof(udp));
        f[sizeof(f) - 1] = 'x';

        int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        struct sockaddr_ll ll = { .sll_family = AF_PACKET, .sll_ifindex = (int) if_nametoindex("eth0"), .sll_halen = 6 };
        memcpy(ll.sll_addr, arg->dst_mac, 6);
        ready(out);
        for (int i = 0; i < 3; i++) {
                if (sendto(fd, f, sizeof(f), 0, (struct sockaddr *) &ll, sizeof(ll)) < 0)
                        return -errno;
                usleep(20 * 1000);
        }
        return 0;
}

struct listen_arg {
        uint16_t port;
        int n; /* connections to take */
};

/* Accept up to n connections, answer each with "hi"; the peers, in order. */
static int tcp_listen(const void *a, int out) {
        const struct listen_arg *arg = a;
        /* IPv6 and (mapped) IPv4 on one socket */
        int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1, zero = 0;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
        struct sockaddr_storage ss;
        socklen_t sl;
        sockaddr_of("::", arg->port, &ss, &sl);
        if (fd < 0 || bind(fd, (struct sockaddr *) &ss, sl) < 0 || listen(fd, 8) < 0)
                return -errno;
        ready(out);
        struct pollfd p = { .fd = fd, .events = POLLIN };
        for (int i = 0; i < arg->n && poll(&p, 1, 3000) > 0; i++) {
                struct sockaddr_storage from;
                socklen_t fl = sizeof(from);
                int c = accept4(fd, (struct sockaddr *) &from, &fl, SOCK_CLOEXEC);
                if (c < 0)
                        continue;
                char src[INET6_ADDRSTRLEN];
                addr_text(&from, src, sizeof(src));
                dprintf(out, "%s ", src);
                if (write(c, "hi", 2) != 2)
                        dprintf(out, "(short) ");
                close(c);
        }
        return 0;
}

struct connect_arg {
        const char *dst;
        uint16_t port;
};

/* "hi" when the listener answered, else the error. */
static int tcp_connect(const void *a, int out) {
        const struct connect_arg *arg = a;
        struct sockaddr_storage ss;
        socklen_t sl;
        sockaddr_of(arg->dst, arg->port, &ss, &sl);
        int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        ready(out);
        int r = connect(fd, (struct sockaddr *) &ss, sl);
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (r < 0 && errno != EINPROGRESS) {
                dprintf(out, "%s", strerror(errno));
                return 0;
        }
        /* the listener writes at once, so readable means connected */
        if (poll(&p, 1, 1500) <= 0) {
                dprintf(out, "timeout");
                return 0;
        }
        char b[3] = "";
        ssize_t n = read(fd, b, 2);
        dprintf(out, "%s", n == 2 ? b : n < 0 ? strerror(errno) : "eof");
        return 0;
}

/* --- the private network ----------------------------------------------------- */

enum { NS_A, NS_B, NS_C, NS_R, NS_U, NS_MAX };

struct net {
        pid_t ns[NS_MAX];
};

static const uint8_t MAC_A[6] = { 2, 0, 0, 0, 0, 0xa }, MAC_B[6] = { 2, 0, 0, 0, 0, 0xb },
                     MAC_FORGED[6] = { 2, 0, 0, 0, 0, 0xee };

/* Whether bridged IP traffic also passes the IP hooks (br_netfilter; per
 * network namespace).  false when the kernel has no br_netfilter. */
static bool bridge_nf(const char *val) {
        return write_file("/proc/sys/net/bridge/bridge-nf-call-iptables", val) == 0 &&
               write_file("/proc/sys/net/bridge/bridge-nf-call-ip6tables", val) == 0;
}

/* A bridge vsbr0 (10.77.0.1/24, fd77::1/64) with instances A, B and C on
 * ports vshA, vshB, vshC; R routed over vshR (10.88.0.2, host 10.88.0.1);
 * U on an uplink up0 (192.0.2.0/24) that plays the outside world. */
static int net_up(struct net *n) {
        for (int i = 0; i < NS_MAX; i++) {
                n->ns[i] = ns_new();
                if (n->ns[i] < 0)
                        return -1;
        }
        int r = 0;
        r |= sh("ip link set lo up");
        r |= sh("ip link add vsbr0 type bridge && ip addr add 10.77.0.1/24 dev vsbr0 && "
                "ip addr add fd77::1/64 dev vsbr0 nodad && ip link set vsbr0 up");
        static const struct {
                int ns;
                const char *port, *mac, *addr, *addr6;
        } inst[] = {
                { NS_A, "vshA", "02:00:00:00:00:0a", "10.77.0.2", "fd77::2" },
                { NS_B, "vshB", "02:00:00:00:00:0b", "10.77.0.3", "fd77::3" },
                { NS_C, "vshC", "02:00:00:00:00:0c", "10.77.0.4", "fd77::4" },
        };
        for (size_t i = 0; i < ELEMENTSOF(inst); i++) {
                int pid = n->ns[inst[i].ns];
                r |= sh("ip link add %s type veth peer name eth0 netns %d && ip link set %s master vsbr0 up", inst[i].port,
                        pid, inst[i].port);
                r |= sh("nsenter -t %d -n sh -c 'ip link set lo up && ip link set eth0 address %s && "
                        "ip addr add %s/24 dev eth0 && ip addr add %s/64 dev eth0 nodad && ip link set eth0 up && "
                        "ip route add default via 10.77.0.1'",
                        pid, inst[i].mac, inst[i].addr, inst[i].addr6);
        }
        r |= sh("ip link add vshR type veth peer name eth0 netns %d && ip addr add 10.88.0.1 peer 10.88.0.2 dev vshR && "
                "ip link set vshR up",
                n->ns[NS_R]);
        r |= sh("nsenter -t %d -n sh -c 'ip link set lo up && ip link set eth0 up && "
                "ip addr add 10.88.0.2 peer 10.88.0.1 dev eth0 && ip route add default via 10.88.0.1'",
                n->ns[NS_R]);
        r |= sh("ip link add up0 type veth peer name eth0 netns %d && ip addr add 192.0.2.1/24 dev up0 && "
                "ip link set up0 up",
                n->ns[NS_U]);
        r |= sh("nsenter -t %d -n sh -c 'ip link set lo up && ip addr add 192.0.2.2/24 dev eth0 && ip link set eth0 up'",
                n->ns[NS_U]);
        /* An address A was never given, and R likewise.  rp_filter off, so
         * that only the firewall can stop what they send from it. */
        r |= sh("nsenter -t %d -n sh -c 'ip addr add 10.77.0.99/24 dev eth0 && ip addr add fd77::99/64 dev eth0 nodad'",
                n->ns[NS_A]);
        r |= sh("nsenter -t %d -n ip addr add 10.88.0.99/32 dev eth0", n->ns[NS_R]);
        r |= write_file("/proc/sys/net/ipv4/conf/all/rp_filter", "0");
        r |= write_file("/proc/sys/net/ipv4/conf/vshR/rp_filter", "0");
        r |= write_file("/proc/sys/net/ipv4/ip_forward", "1");
        r |= write_file("/proc/sys/net/ipv6/conf/all/forwarding", "1");
        /* Bridged packets stay out of the IP hooks to begin with: the
         * bridge table alone must hold (br_netfilter is checked later). */
        bridge_nf("0");
        return r ? -1 : 0;
}

static void net_down(struct net *n) {
        for (int i = 0; i < NS_MAX; i++)
                if (n->ns[i] > 0) {
                        kill(n->ns[i], SIGKILL);
                        waitpid(n->ns[i], NULL, 0);
                }
}

/* How many datagrams "to" (port 9000) gets when "from" sends with sa; the
 * source seen goes to src. */
static int udp_count(pid_t to, int family, pid_t from, const struct send_arg *sa, char *src, size_t len) {
        struct recv_arg ra = { .family = family, .port = sa->dport };
        struct job rx;
        char buf[128];
        if (job_start(to, udp_recv, &ra, &rx) < 0)
                return -1;
        int r = job_run(from, udp_send, sa, buf, sizeof(buf));
        job_wait(&rx, buf, sizeof(buf));
        if (r != 0)
                return -1;
        int n = -1;
        char s[INET6_ADDRSTRLEN] = "";
        sscanf(buf, "%d %45s", &n, s);
        if (src)
                snprintf(src, len, "%s", s);
        return n;
}

static int raw_count(const struct net *n, const uint8_t src_mac[6]) {
        struct raw_arg ra = { .src = "10.77.0.2", .dst = "10.77.0.3", .dport = 9000 };
        memcpy(ra.src_mac, src_mac, 6);
        memcpy(ra.dst_mac, MAC_B, 6);
        struct recv_arg rcv = { .family = AF_INET, .port = 9000 };
        struct job rx;
        char buf[128];
        if (job_start(n->ns[NS_B], udp_recv, &rcv, &rx) < 0)
                return -1;
        int r = job_run(n->ns[NS_A], raw_send, &ra, buf, sizeof(buf));
        job_wait(&rx, buf, sizeof(buf));
        int k = -1;
        sscanf(buf, "%d", &k);
        return r == 0 ? k : -1;
}

/* Connect from ns "from" to dst:port with a listener on port lport in "to";
 * the listener's view of the peer goes to peer. */
static int tcp_try(pid_t to, uint16_t lport, pid_t from, const char *dst, uint16_t port, char *peer, size_t len) {
        struct listen_arg la = { .port = lport, .n = 1 };
        struct connect_arg ca = { .dst = dst, .port = port };
        struct job l;
        char got[64] = "", seen[128] = "";
        if (job_start(to, tcp_listen, &la, &l) < 0)
                return -1;
        job_run(from, tcp_connect, &ca, got, sizeof(got));
        /* an unanswered listener waits out its own timeout: end it now */
        if (!streq(got, "hi"))
                kill(l.pid, SIGKILL);
        job_wait(&l, seen, sizeof(seen));
        if (peer)
                snprintf(peer, len, "%s", seen);
        return streq(got, "hi") ? 0 : -1;
}

static const struct send_arg A_REAL = { .dst = "10.77.0.3", .dport = 9000 },
                             A_SPOOF = { .src = "10.77.0.99", .dst = "10.77.0.3", .dport = 9000 },
                             A_DHCPD = { .sport = 67, .dst = "10.77.0.3", .dport = 9000 },
                             A_REAL6 = { .src = "fd77::2", .dst = "fd77::3", .dport = 9000 },
                             A_SPOOF6 = { .src = "fd77::99", .dst = "fd77::3", .dport = 9000 },
                             C_REAL = { .dst = "10.77.0.3", .dport = 9000 },
                             R_REAL = { .src = "10.88.0.2", .dst = "10.88.0.1", .dport = 9000 },
                             R_SPOOF = { .src = "10.88.0.99", .dst = "10.88.0.1", .dport = 9000 },
                             A_OUT = { .dst = "192.0.2.2", .dport = 9000 };

/* Without vsd's tables every forgery arrives: the checks below would not
 * notice a filter that drops nothing otherwise. */
static void controls(const struct net *n) {
        CHECK("control: spoofed source arrives without the firewall",
              udp_count(n->ns[NS_B], AF_INET, n->ns[NS_A], &A_SPOOF, NULL, 0) > 0, "nothing arrived");
        CHECK("control: forged MAC arrives without the firewall", raw_count(n, MAC_FORGED) > 0, "nothing arrived");
        CHECK("control: routed spoof arrives without the firewall",
              udp_count(0, AF_INET, n->ns[NS_R], &R_SPOOF, NULL, 0) > 0, "nothing arrived");
}

static bool has_table(const char *family, const char *name) {
        char cmd[128], want[96], line[256];
        snprintf(cmd, sizeof(cmd), "nft list tables 2>&1");
        snprintf(want, sizeof(want), "table %s %s\n", family, name);
        FILE *p = popen(cmd, "r");
        bool found = false;
        while (p && fgets(line, sizeof(line), p))
                if (streq(line, want))
                        found = true;
        if (p)
                pclose(p);
        return found;
}

static void tables(struct fw *fw) {
        vs_error err = { 0 };
        int r = sh("nft add table inet other && nft add table bridge other && "
                   "nft add chain inet other c '{ type filter hook input priority 0; }'");
        CHECK("a table of another name", r == 0, "nft failed");
        r = fw_sync(fw, NULL, 0, NULL, 0, &err);
        CHECK("sync creates both tables", r == 0 && has_table("bridge", "vsdtest") && has_table("inet", "vsdtest"),
              "r=%d %s", r, err.msg);
        r = fw_sync(fw, NULL, 0, NULL, 0, &err);
        CHECK("sync twice", r == 0 && has_table("bridge", "vsdtest") && has_table("inet", "vsdtest"), "r=%d %s", r,
              err.msg);
        r = fw_remove(fw, &err);
        CHECK("remove deletes both tables", r == 0 && !has_table("bridge", "vsdtest") && !has_table("inet", "vsdtest"),
              "r=%d %s", r, err.msg);
        r = fw_remove(fw, &err);
        CHECK("remove of absent tables", r == 0, "r=%d %s", r, err.msg);
        /* nft's own reason, on one line, after ours */
        struct fw_port p = { .ifname = "vshA" };
        r = fw_port_add(fw, &p, &err);
        CHECK("an nft error reads as one line", r < 0 && strncmp(err.msg, "Failed to add port vshA to the firewall: ", 41) == 0 &&
                                                        strstr(err.msg, "No such file or directory") &&
                                                        !strchr(err.msg, '\n'),
              "r=%d '%s'", r, err.msg);
        printf("# %s\n", err.msg);
        CHECK("other tables untouched", has_table("inet", "other") && has_table("bridge", "other") &&
                                                sh("nft list chain inet other c >/dev/null") == 0,
              "gone");
}

static double ms_since(const struct timespec *t0) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        return (double) (t.tv_sec - t0->tv_sec) * 1e3 + (double) (t.tv_nsec - t0->tv_nsec) / 1e6;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y;
}

/* What an instance start and stop pay. */
static void latency(struct fw *fw) {
        enum { N = 51 };
        double add[N], del[N];
        struct net_cidr addrs[] = { cidr("10.77.1.9", 24), cidr("fd77:1::9", 64) };
        struct fw_port p = { .ifname = "vsh0lat", .mac = { 2, 0, 0, 0, 1, 9 }, .addrs = addrs, .n_addrs = 2 };
        int bad = 0;
        for (int i = 0; i < N; i++) {
                struct timespec t0;
                clock_gettime(CLOCK_MONOTONIC, &t0);
                bad |= fw_port_add(fw, &p, NULL);
                add[i] = ms_since(&t0);
                clock_gettime(CLOCK_MONOTONIC, &t0);
                bad |= fw_port_del(fw, &p, NULL);
                del[i] = ms_since(&t0);
        }
        qsort(add, N, sizeof(double), cmp_double);
        qsort(del, N, sizeof(double), cmp_double);
        printf("# fw_port_add: median %.3f ms (min %.3f, max %.3f); fw_port_del: median %.3f ms (min %.3f, max %.3f)\n",
               add[N / 2], add[0], add[N - 1], del[N / 2], del[0], del[N - 1]);
        CHECK("port add/del repeated", bad == 0, "a call failed");
}

static void traffic(struct fw *fw, const struct net *n) {
        vs_error err = { 0 };
        char src[64];
        struct net_cidr a_addrs[] = { cidr("10.77.0.2", 24), cidr("fd77::2", 64) };
        struct net_cidr b_addrs[] = { cidr("10.77.0.3", 24), cidr("fd77::3", 64) };
        struct net_cidr r_addrs[] = { cidr("10.88.0.2", 32) };
        struct fw_port ports[] = {
                { .ifname = "vshA", .mac = { 2, 0, 0, 0, 0, 0xa }, .addrs = a_addrs, .n_addrs = 2 },
                { .ifname = "vshB", .mac = { 2, 0, 0, 0, 0, 0xb }, .addrs = b_addrs, .n_addrs = 2 },
                { .ifname = "vshR", .addrs = r_addrs, .n_addrs = 1, .routed = true },
        };
        int r = fw_sync(fw, ports, ELEMENTSOF(ports), NULL, 0, &err);
        CHECK("sync with ports", r == 0, "r=%d %s", r, err.msg);

        /* bridge mode */
        CHECK("A reaches B", udp_count(n->ns[NS_B], AF_INET, n->ns[NS_A], &A_REAL, src, sizeof(src)) > 0 &&
                                     streq(src, "10.77.0.2"),
              "src '%s'", src);
        CHECK("A connects to B over TCP", tcp_try(n->ns[NS_B], 80, n->ns[NS_A], "10.77.0.3", 80, NULL, 0) == 0,
              "no answer");
        CHECK("A from an address it was not given: B gets nothing",
              udp_count(n->ns[NS_B], AF_INET, n->ns[NS_A], &A_SPOOF, NULL, 0) == 0, "it arrived");
        CHECK("A reaches B over IPv6", udp_count(n->ns[NS_B], AF_INET6, n->ns[NS_A], &A_REAL6, NULL, 0) > 0,
              "nothing arrived");
        CHECK("A from an IPv6 address it was not given: B gets nothing",
              udp_count(n->ns[NS_B], AF_INET6, n->ns[NS_A], &A_SPOOF6, NULL, 0) == 0, "it arrived");
        CHECK("a frame from A's own MAC by hand arrives", raw_count(n, MAC_A) > 0, "nothing arrived");
        CHECK("a frame with a forged source MAC is dropped", raw_count(n, MAC_FORGED) == 0, "it arrived");
        CHECK("DHCP server replies from A are dropped",
              udp_count(n->ns[NS_B], AF_INET, n->ns[NS_A], &A_DHCPD, NULL, 0) == 0, "it arrived");
        CHECK("an unregistered port passes nothing", udp_count(n->ns[NS_B], AF_INET, n->ns[NS_C], &C_REAL, NULL, 0) == 0,
              "it arrived");

        /* routed mode */
        CHECK("routed: the real source passes", udp_count(0, AF_INET, n->ns[NS_R], &R_REAL, NULL, 0) > 0,
              "nothing arrived");
        CHECK("routed: a spoofed source is dropped", udp_count(0, AF_INET, n->ns[NS_R], &R_SPOOF, NULL, 0) == 0,
              "it arrived");

        /* outbound NAT */
        CHECK("masquerade: the outside sees the router",
              udp_count(n->ns[NS_U], AF_INET, n->ns[NS_A], &A_OUT, src, sizeof(src)) > 0 && streq(src, "192.0.2.1"),
              "src '%s'", src);

        /* port forwards */
        struct fw_forward f = { .proto = IPPROTO_TCP, .host_port = 8080, .addr = cidr("10.77.0.3", 24), .port = 80 };
        r = fw_forward_add(fw, &f, &err);
        CHECK("forward add", r == 0, "r=%d %s", r, err.msg);
        CHECK("forward: the host reaches B at the bridge's address",
              tcp_try(n->ns[NS_B], 80, 0, "10.77.0.1", 8080, NULL, 0) == 0, "no answer");
        CHECK("forward: the host reaches B at another local address",
              tcp_try(n->ns[NS_B], 80, 0, "192.0.2.1", 8080, NULL, 0) == 0, "no answer");
        CHECK("forward: from outside", tcp_try(n->ns[NS_B], 80, n->ns[NS_U], "192.0.2.1", 8080, src, sizeof(src)) == 0 &&
                                               strstr(src, "192.0.2.2"),
              "peer '%s'", src);
        CHECK("forward: from a routed instance", tcp_try(n->ns[NS_B], 80, n->ns[NS_R], "10.88.0.1", 8080, NULL, 0) == 0,
              "no answer");
        CHECK("forward: hairpin from A on the same bridge",
              tcp_try(n->ns[NS_B], 80, n->ns[NS_A], "10.77.0.1", 8080, src, sizeof(src)) == 0 &&
                      strstr(src, "10.77.0.1 "),
              "peer '%s'", src);
        CHECK("forward: loopback is left to local services",
              tcp_try(n->ns[NS_B], 80, 0, "127.0.0.1", 8080, NULL, 0) < 0, "127.0.0.1:8080 was forwarded");

        struct fw_forward f6 = { .proto = IPPROTO_TCP, .host_port = 8080, .addr = cidr("fd77::3", 64), .port = 80 };
        r = fw_forward_add(fw, &f6, &err);
        CHECK("forward: the same host port to IPv6 is another map", r == 0, "r=%d %s", r, err.msg);
        CHECK("forward: the host reaches B over IPv6", tcp_try(n->ns[NS_B], 80, 0, "fd77::1", 8080, NULL, 0) == 0,
              "no answer");
        CHECK("forward: IPv4 still reaches B with an IPv6 forward beside it",
              tcp_try(n->ns[NS_B], 80, 0, "192.0.2.1", 8080, NULL, 0) == 0, "no answer");

        struct fw_forward dup = { .proto = IPPROTO_TCP, .host_port = 8080, .addr = cidr("10.77.0.2", 24), .port = 22 };
        err = (vs_error) { 0 };
        r = fw_forward_add(fw, &dup, &err);
        CHECK("forward: a taken host port is EADDRINUSE",
              r == -EADDRINUSE && strstr(err.msg, "tcp 8080") && strstr(err.msg, "already forwarded"), "r=%d '%s'", r,
              err.msg);
        printf("# %s\n", err.msg);
        struct fw_forward udp = { .proto = IPPROTO_UDP, .host_port = 8080, .addr = cidr("10.77.0.2", 24), .port = 53 };
        r = fw_forward_add(fw, &udp, &err);
        CHECK("forward: the same port number in udp is another port", r == 0, "r=%d %s", r, err.msg);
        r = fw_forward_del(fw, &f, &err);
        CHECK("forward del", r == 0, "r=%d %s", r, err.msg);
        CHECK("forward: gone after del", tcp_try(n->ns[NS_B], 80, 0, "10.77.0.1", 8080, NULL, 0) < 0, "still forwarded");
        r = fw_forward_del(fw, &f, &err);
        CHECK("forward del of an absent forward", r == 0, "r=%d %s", r, err.msg);
        r = fw_forward_add(fw, &dup, &err);
        CHECK("forward: the host port is free again", r == 0, "r=%d %s", r, err.msg);

        /* re-registration replaces addresses, removal stops everything */
        struct net_cidr a_other[] = { cidr("10.77.0.99", 24) };
        struct fw_port a2 = ports[0];
        a2.addrs = a_other;
        a2.n_addrs = 1;
        r = fw_port_add(fw, &a2, &err);
        CHECK("port re-add", r == 0, "r=%d %s", r, err.msg);
        CHECK("re-added: the new address passes",
              udp_count(n->ns[NS_B], AF_INET, n->ns[NS_A], &A_SPOOF, NULL, 0) > 0, "nothing arrived");
        CHECK("re-added: the old address is dropped",
              udp_count(n->ns[NS_B], AF_INET, n->ns[NS_A], &A_REAL, NULL, 0) == 0, "it arrived");
        r = fw_port_del(fw, &ports[0], &err);
        CHECK("port del", r == 0, "r=%d %s", r, err.msg);
        CHECK("after del A passes nothing", udp_count(n->ns[NS_B], AF_INET, n->ns[NS_A], &A_SPOOF, NULL, 0) == 0 &&
                                                    udp_count(n->ns[NS_B], AF_INET, n->ns[NS_A], &A_REAL, NULL, 0) == 0,
              "it arrived");
        r = fw_port_del(fw, &ports[0], &err);
        CHECK("port del of an unregistered port", r == 0, "r=%d %s", r, err.msg);
        r = fw_port_add(fw, &ports[0], &err);
        CHECK("port add after del: A reaches B again",
              r == 0 && udp_count(n->ns[NS_B], AF_INET, n->ns[NS_A], &A_REAL, NULL, 0) > 0, "r=%d %s", r, err.msg);

        struct fw_port twice[] = { ports[0], ports[0] };
        r = fw_sync(fw, twice, 2, NULL, 0, &err);
        CHECK("sync refuses a port given twice", r == -EINVAL && strstr(err.msg, "vshA given twice"), "r=%d '%s'", r,
              err.msg);
        struct fw_forward fwd_twice[] = { f, f };
        r = fw_sync(fw, ports, 1, fwd_twice, 2, &err);
        CHECK("sync refuses a host port forwarded twice", r == -EADDRINUSE, "r=%d '%s'", r, err.msg);

        struct fw_port stray = { .ifname = "eth9", .addrs = a_addrs, .n_addrs = 1 };
        r = fw_port_add(fw, &stray, &err);
        CHECK("a port outside the prefix is refused", r == -EINVAL && strstr(err.msg, "eth9"), "r=%d '%s'", r, err.msg);

        if (getenv("VSD_TEST_SHOW_RULES"))
                sh("nft list table bridge vsdtest; nft list table inet vsdtest");
}

/* Hosts that load br_netfilter (Docker does) pass bridged packets through
 * the inet table too, with the bridge port as the input interface: that
 * must neither drop what the bridge table let through nor let more pass. */
static void with_bridge_nf(struct fw *fw, const struct net *n) {
        if (!bridge_nf("1")) {
                printf("ok - br_netfilter # skip: not in this kernel\n");
                return;
        }
        struct fw_forward f = { .proto = IPPROTO_TCP, .host_port = 8081, .addr = cidr("10.77.0.3", 24), .port = 80 };
        vs_error err = { 0 };
        char src[64] = "";
        CHECK("br_netfilter: A reaches B", udp_count(n->ns[NS_B], AF_INET, n->ns[NS_A], &A_REAL, NULL, 0) > 0,
              "nothing arrived");
        CHECK("br_netfilter: A's spoofed source is dropped",
              udp_count(n->ns[NS_B], AF_INET, n->ns[NS_A], &A_SPOOF, NULL, 0) == 0, "it arrived");
        CHECK("br_netfilter: hairpin forward",
              fw_forward_add(fw, &f, &err) == 0 &&
                      tcp_try(n->ns[NS_B], 80, n->ns[NS_A], "10.77.0.1", 8081, src, sizeof(src)) == 0 &&
                      fw_forward_del(fw, &f, &err) == 0,
              "%s peer '%s'", err.msg, src);
        bridge_nf("0");
}

/* fds without FD_CLOEXEC; before: those that were already there. */
static int inherited_fds(uint8_t ret[256]) {
        int n = 0;
        for (int fd = 3; fd < 256; fd++) {
                int fl = fcntl(fd, F_GETFD);
                ret[fd] = fl >= 0 && !(fl & FD_CLOEXEC);
                n += ret[fd];
        }
        return n;
}

static bool all_cloexec(const uint8_t before[256]) {
        bool ok = true;
        uint8_t now[256] = { 0 };
        inherited_fds(now);
        for (int fd = 3; fd < 256; fd++) {
                if (now[fd] && !before[fd]) {
                        { char l[64], t[128] = ""; snprintf(l, sizeof(l), "/proc/self/fd/%d", fd); ssize_t k = readlink(l, t, sizeof(t) - 1); if (k > 0) t[k] = 0; printf("# fd %d (%s) is inherited across exec\n", fd, t); }
                        ok = false;
                }
        }
        return ok;
}

/* --- changes by others -------------------------------------------------------- */

/* Read what the watch has; every notification of a transaction is queued
 * before the committing call returns, so no wait is needed. */
static int watch_read(struct fw_watch *w, struct fw_change *c) {
        *c = (struct fw_change){ 0 };
        return fw_watch_read(w, (uint32_t) getpid(), c);
}

/* One nftables notification, as the kernel sends it. */
static size_t notification(char *buf, int msg, int family, int attr, const char *table, uint32_t pid) {
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        nlh->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | msg;
        struct nfgenmsg *g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
        g->nfgen_family = (uint8_t) family;
        g->version = NFNETLINK_V0;
        if (msg == NFT_MSG_NEWGEN) {
                mnl_attr_put_u32(nlh, NFTA_GEN_ID, htonl(7));
                mnl_attr_put_u32(nlh, NFTA_GEN_PROC_PID, htonl(pid));
                mnl_attr_put_strz(nlh, NFTA_GEN_PROC_NAME, "tester");
        } else
                mnl_attr_put_strz(nlh, attr, table);
        return nlh->nlmsg_len;
}

/* The parser alone: a transaction read in two parts, vsd's own, another
 * table's, another family's. */
static void watch_parser(struct fw_watch *w) {
        char a[512], b[512];
        struct fw_change c = { 0 };
        uint32_t self = (uint32_t) getpid(), other = self + 1;
        size_t n = notification(a, NFT_MSG_DELTABLE, NFPROTO_INET, NFTA_TABLE_NAME, "vsdtest", 0);
        int r = fw_watch_feed(w, a, n, self, &c);
        CHECK("parser: a deletion without its generation waits", r == 0 && c.objects == 0, "r=%d objects=%u", r,
              c.objects);
        n = notification(b, NFT_MSG_NEWGEN, AF_UNSPEC, 0, NULL, other);
        r = fw_watch_feed(w, b, n, self, &c);
        CHECK("parser: ... and counts with another process's generation",
              r == 1 && c.objects == 1 && c.deleted && c.pid == other && streq(c.command, "tester"),
              "r=%d objects=%u deleted=%d pid=%u command=%s", r, c.objects, c.deleted, c.pid, c.command);

        c = (struct fw_change){ 0 };
        n = notification(a, NFT_MSG_DELSETELEM, NFPROTO_BRIDGE, NFTA_SET_ELEM_LIST_TABLE, "vsdtest", 0);
        n += notification(a + n, NFT_MSG_NEWGEN, AF_UNSPEC, 0, NULL, self);
        r = fw_watch_feed(w, a, n, self, &c);
        CHECK("parser: our own transaction is ignored", r == 0 && c.objects == 0, "r=%d objects=%u", r, c.objects);

        static const struct {
                const char *what;
                int family;
                const char *table;
        } others[] = {
                { "another table", NFPROTO_INET, "vsdtest2" },
                { "a table of that name in another family", NFPROTO_IPV4, "vsdtest" },
        };
        for (size_t k = 0; k < ELEMENTSOF(others); k++) {
                char name[96];
                snprintf(name, sizeof(name), "parser: %s is not ours", others[k].what);
                c = (struct fw_change){ 0 };
                n = notification(a, NFT_MSG_DELTABLE, others[k].family, NFTA_TABLE_NAME, others[k].table, 0);
                n += notification(a + n, NFT_MSG_NEWGEN, AF_UNSPEC, 0, NULL, other);
                r = fw_watch_feed(w, a, n, self, &c);
                CHECK(name, r == 0 && c.objects == 0, "r=%d objects=%u", r, c.objects);
        }
}

/* The kernel's notifications, changes made by another process (nft) and
 * by this one. */
static void watch(struct fw *fw) {
        _cleanup_fw_watch_ struct fw_watch *w = NULL;
        vs_error err = { 0 };
        struct fw_change c;
        int r = fw_watch_open("vsdtest", &w, &err);
        CHECK("watch: open", r == 0, "r=%d %s", r, err.msg);
        if (r < 0)
                return;
        watch_parser(w);

        struct net_cidr addrs[] = { cidr("10.77.0.9", 24) };
        struct fw_port p = { .ifname = "vshW", .mac = { 2, 0, 0, 0, 0, 9 }, .addrs = addrs, .n_addrs = 1 };
        r = fw_sync(fw, &p, 1, NULL, 0, &err);
        if (r == 0)
                r = fw_port_add(fw, &p, &err);
        CHECK("watch: our own changes", r == 0 && watch_read(w, &c) == 0, "r=%d %s; objects=%u pid=%u", r, err.msg,
              c.objects, c.pid);
        CHECK("watch: tables present", fw_tables_present("vsdtest") == 1, "not found");

        r = sh("nft add table inet vsdother && nft delete table inet vsdother");
        CHECK("watch: another table's changes", r == 0 && watch_read(w, &c) == 0, "r=%d objects=%u", r, c.objects);

        r = sh("nft delete element inet vsdtest ports '{ \"vshW\" }'");
        r = r == 0 ? watch_read(w, &c) : -1;
        CHECK("watch: an element deleted by nft", r == 1 && c.objects == 1 && !c.deleted && streq(c.command, "nft"),
              "r=%d objects=%u deleted=%d command=%s", r, c.objects, c.deleted, c.command);

        /* what a firewall reload does, in this test's own namespace */
        r = sh("nft flush ruleset");
        r = r == 0 ? watch_read(w, &c) : -1;
        CHECK("watch: flush ruleset", r == 1 && c.deleted && c.pid != (uint32_t) getpid() && streq(c.command, "nft"),
              "r=%d deleted=%d pid=%u command=%s", r, c.deleted, c.pid, c.command);
        printf("# flush ruleset: %u objects of ours, by %s (pid %u)\n", c.objects, c.command, c.pid);
        CHECK("watch: tables gone", fw_tables_present("vsdtest") == 0, "still there");
        r = sh("nft add table inet vsdtest '{ flags dormant; }' && nft add table bridge vsdtest");
        CHECK("watch: a dormant table is not in place", r == 0 && fw_tables_present("vsdtest") == 0, "r=%d", r);
        (void) watch_read(w, &c);

        /* a full buffer: the kernel drops messages and says so once */
        int small = 4096;
        (void) setsockopt(fw_watch_fd(w), SOL_SOCKET, SO_RCVBUFFORCE, &small, sizeof(small));
        r = fw_sync(fw, &p, 1, NULL, 0, &err);
        for (int k = 0; r == 0 && k < 20; k++)
                r = fw_port_add(fw, &p, &err);
        r = r == 0 ? watch_read(w, &c) : -1;
        CHECK("watch: lost messages are reported", r == 1 && c.lost, "r=%d lost=%d %s", r, c.lost, err.msg);
        CHECK("watch: restored tables present", fw_tables_present("vsdtest") == 1, "not found");
}

static void privileged(void) {
        if (geteuid() != 0) {
                printf("ok - firewall # skip: needs root\n");
                return;
        }
        /* Everything below happens in here: nothing reaches the host. */
        if (unshare(CLONE_NEWNET) < 0) {
                CHECK("private network namespace", false, "unshare: %s", strerror(errno));
                return;
        }
        struct net_cidr nat[] = { cidr("10.77.0.0", 24), cidr("fd77::", 64) };
        struct fw_config cfg = { .table = "vsdtest", .port_prefix = "vsh", .nat = nat, .n_nat = 2, .bridge = "vsbr0" };
        _cleanup_fw_ struct fw *fw = NULL;
        vs_error err = { 0 };
        /* what this test's parent left open is not ours to judge */
        uint8_t before[256] = { 0 };
        inherited_fds(before);
        int r = fw_open(&cfg, &fw, &err);
        CHECK("open", r == 0, "r=%d %s", r, err.msg);
        if (r < 0)
                return;

        struct net n = { 0 };
        r = net_up(&n);
        CHECK("private network", r == 0, "setup failed");
        if (r == 0) {
                controls(&n);
                tables(fw);
                traffic(fw, &n);
                with_bridge_nf(fw, &n);
                CHECK("every fd close-on-exec", all_cloexec(before), "see above");
                latency(fw);
                watch(fw);
        }
        r = fw_remove(fw, &err);
        CHECK("remove at the end", r == 0, "r=%d %s", r, err.msg);
        net_down(&n);
}

int main(void) {
        /* results go through a pipe under tests/run.sh: keep them in order
         * with the children's */
        setvbuf(stdout, NULL, _IOLBF, 0);
        forward_specs();
        open_refuses_junk();
        privileged();
        return CHECK_DONE();
}
