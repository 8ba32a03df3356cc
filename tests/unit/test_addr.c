/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Addresses, MACs, link names, the address pool and the [network] keys:
 * the pure parts of networking. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "net/addr.h"
#include "net/ipam.h"
#include "vsd/conf/settings.h"
#include "tests/unit/check.h"

static struct net_cidr cidr(const char *s) {
        struct net_cidr c = { 0 };
        if (net_cidr_parse(s, -1, false, &c, NULL) < 0) {
                printf("not ok - fixture %s does not parse\n", s);
                exit(1);
        }
        return c;
}

static void test_parse(void) {
        static const struct {
                const char *in, *out;
        } good[] = {
                { "10.77.0.5/24", "10.77.0.5/24" },  { "10.77.0.5", "10.77.0.5/32" },
                { "fd00:77::5/64", "fd00:77::5/64" }, { "2001:db8::1", "2001:db8::1/128" },
                { "192.168.1.1/31", "192.168.1.1/31" },
        };
        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                struct net_cidr c;
                vs_error err = { 0 };
                char buf[NET_CIDR_STRLEN] = "";
                int r = net_cidr_parse(good[i].in, -1, true, &c, &err);
                if (r == 0)
                        net_cidr_format(&c, true, buf, sizeof(buf));
                CHECK("address parses and formats back", r == 0 && streq(buf, good[i].out), "%s -> %d '%s' %s",
                      good[i].in, r, buf, err.msg);
        }
        static const struct {
                const char *in, *why;
        } bad[] = {
                { "10.0.0.300", "not IPv4 or IPv6" },     { "10.0.0.1/33", "prefix length" },
                { "10.0.0.1/", "prefix length" },          { "10.0.0.1/-1", "prefix length" },
                { "fd00::1/129", "prefix length" },        { "0.0.0.0", "unspecified" },
                { "224.0.0.1", "multicast" },              { "ff02::1", "multicast" },
                { "10.0.0.0/24", "network address" },      { "10.0.0.255/24", "broadcast" },
                { "", "empty" },                           { "10.0.0.1/24x", "prefix length" },
                { "host.example", "not IPv4 or IPv6" },
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                struct net_cidr c;
                vs_error err = { 0 };
                int r = net_cidr_parse(bad[i].in, -1, true, &c, &err);
                CHECK("bad address refused with a reason", r < 0 && strstr(err.msg, bad[i].why), "'%s' -> %d '%s'",
                      bad[i].in, r, err.msg);
        }
}

static void test_networks(void) {
        struct net_cidr net = cidr("10.77.0.0/24"), in = cidr("10.77.0.9/32"), out = cidr("10.78.0.9/32");
        CHECK("contains", net_cidr_contains(&net, &in) && !net_cidr_contains(&net, &out), "%s", "");
        struct net_cidr wide = cidr("10.0.0.0/8"), other = cidr("192.168.0.0/16"), v6 = cidr("fd00::/64");
        CHECK("overlap", net_cidr_overlap(&net, &wide) && net_cidr_overlap(&wide, &net) && !net_cidr_overlap(&net, &other) &&
                                 !net_cidr_overlap(&net, &v6),
              "%s", "");
        struct net_cidr host = cidr("10.77.0.77/24"), n;
        net_cidr_network(&host, &n);
        char buf[NET_CIDR_STRLEN];
        net_cidr_format(&n, true, buf, sizeof(buf));
        CHECK("network of an address", streq(buf, "10.77.0.0/24"), "%s", buf);
        CHECK("hosts of a /24, /31, /32", net_cidr_hosts(&net) == 254 && net_cidr_hosts(&(struct net_cidr){ AF_INET, { 0 }, 31 }) == 2 &&
                                                  net_cidr_hosts(&(struct net_cidr){ AF_INET, { 0 }, 32 }) == 1,
              "%llu", (unsigned long long) net_cidr_hosts(&net));
        struct net_cidr nth;
        int r = net_cidr_nth(&net, 300, &nth);
        CHECK("nth past the end", r == -ERANGE, "%d", r);
        struct net_cidr v6net = cidr("fd00:77::/64");
        r = net_cidr_nth(&v6net, 0x1234, &nth);
        net_cidr_format(&nth, false, buf, sizeof(buf));
        CHECK("nth of an IPv6 network", r == 0 && streq(buf, "fd00:77::1234"), "%d %s", r, buf);
}

static void test_mac_and_names(void) {
        uint8_t a[NET_MAC_LEN], b[NET_MAC_LEN], c[NET_MAC_LEN];
        net_mac_from_name("vsd", "web1", a);
        net_mac_from_name("vsd", "web1", b);
        net_mac_from_name("vsd", "web2", c);
        CHECK("MAC from a name is stable", memcmp(a, b, NET_MAC_LEN) == 0, "%s", "");
        CHECK("MACs of two names differ", memcmp(a, c, NET_MAC_LEN) != 0, "%s", "");
        CHECK("MAC is locally administered unicast", (a[0] & 3) == 2 && (c[0] & 3) == 2, "%02x %02x", a[0], c[0]);
        char s[NET_MAC_STRLEN];
        uint8_t back[NET_MAC_LEN];
        net_mac_format(a, s);
        CHECK("MAC formats and parses back", net_mac_parse(s, back, NULL) == 0 && memcmp(a, back, NET_MAC_LEN) == 0, "%s", s);
        static const char *const bad_macs[] = { "01:00:5e:00:00:01", "00:00:00:00:00:00", "02:00:00:00:00", "02:00:00:00:00:0g",
                                                "02-00-00-00-00-01" };
        for (size_t i = 0; i < ELEMENTSOF(bad_macs); i++)
                CHECK("bad MAC refused", net_mac_parse(bad_macs[i], back, NULL) < 0, "%s", bad_macs[i]);

        char n1[16], n2[16], n3[16];
        net_host_ifname("vsh", "/var/lib/vsd", "web1", n1);
        net_host_ifname("vsh", "/var/lib/vsd", "web1", n2);
        net_host_ifname("vsh", "/tmp/other", "web1", n3);
        CHECK("host link name is stable and fits IFNAMSIZ", streq(n1, n2) && strlen(n1) == 11 && net_ifname_valid(n1), "%s", n1);
        CHECK("two daemons' links differ", !streq(n1, n3), "%s %s", n1, n3);
        net_host_ifname("vabcde", "/r", "a-very-long-instance-name-that-goes-on", n1);
        CHECK("the longest prefix still fits", strlen(n1) == 14, "%s", n1);
        static const char *const bad_names[] = { "", "sixteen-chars-xx", "a/b", "a:b", "a b", ".", ".." };
        for (size_t i = 0; i < ELEMENTSOF(bad_names); i++)
                CHECK("bad interface name refused", !net_ifname_valid(bad_names[i]), "'%s'", bad_names[i]);
}

static void test_ipam(void) {
        struct net_cidr pool = cidr("10.9.0.0/29"), got;
        char buf[NET_CIDR_STRLEN];
        int r = ipam_pick(&pool, NULL, 0, &got);
        net_cidr_format(&got, true, buf, sizeof(buf));
        CHECK("first host of an empty pool, with the pool's prefix", r == 0 && streq(buf, "10.9.0.1/29"), "%d %s", r, buf);
        struct net_cidr taken[] = { cidr("10.9.0.1/32"), cidr("10.9.0.2/29"), cidr("10.9.0.4/32") };
        r = ipam_pick(&pool, taken, ELEMENTSOF(taken), &got);
        net_cidr_format(&got, false, buf, sizeof(buf));
        CHECK("the lowest free one, whatever the prefixes taken", r == 0 && streq(buf, "10.9.0.3"), "%d %s", r, buf);
        struct net_cidr full[] = { cidr("10.9.0.1"), cidr("10.9.0.2"), cidr("10.9.0.3"), cidr("10.9.0.4"),
                                   cidr("10.9.0.5"), cidr("10.9.0.6") };
        r = ipam_pick(&pool, full, ELEMENTSOF(full), &got);
        CHECK("a full pool says so (never the broadcast address)", r == -ENOSPC, "%d", r);
        struct net_cidr v6pool = cidr("fd00:9::/64");
        struct net_cidr v6taken[] = { cidr("fd00:9::1") };
        r = ipam_pick(&v6pool, v6taken, 1, &got);
        net_cidr_format(&got, true, buf, sizeof(buf));
        CHECK("IPv6 pool", r == 0 && streq(buf, "fd00:9::2/64"), "%d %s", r, buf);
}

static void test_instance_keys(void) {
        struct inst_config c;
        inst_config_defaults(&c);
        vs_error err = { 0 };
        int r = inst_config_set(&c, "ip", "10.77.0.5/24, fd00::5/64", &err);
        _cleanup_free_ char *ips = r == 0 ? inst_net_addrs_format(&c.net) : NULL;
        CHECK("ip list", r == 0 && ips && streq(ips, "10.77.0.5/24,fd00::5/64"), "%d %s %s", r, ips ? ips : "-", err.msg);
        r = inst_config_set(&c, "ip", "10.77.0.5,10.77.0.5", &err);
        CHECK("an address twice is refused", r < 0 && strstr(err.msg, "given twice"), "%s", err.msg);
        r = inst_config_set(&c, "forward", "tcp:8080:80,udp:5353:53,8443:443", &err);
        _cleanup_free_ char *fw = r == 0 ? inst_net_forwards_format(&c.net) : NULL;
        CHECK("forward list", r == 0 && fw && streq(fw, "tcp:8080:80,udp:5353:53,tcp:8443:443"), "%d %s %s", r,
              fw ? fw : "-", err.msg);
        r = inst_config_set(&c, "forward", "8080:80,tcp:8080:81", &err);
        CHECK("a host port twice is refused", r < 0 && strstr(err.msg, "forwarded twice"), "%s", err.msg);
        r = inst_config_set(&c, "rate_in", "10mbit", &err);
        CHECK("rate", r == 0 && c.net.rate_in == 10000000, "%d %llu", r, (unsigned long long) c.net.rate_in);
        r = inst_config_set(&c, "net", "mesh", &err);
        CHECK("unknown mode", r < 0 && strstr(err.msg, "unknown network mode"), "%s", err.msg);
        r = inst_config_set(&c, "nameservers", "10.0.0.1/8", &err);
        CHECK("a nameserver is an address", r < 0, "%d", r);
        /* what a refused value leaves: the addresses as they were */
        _cleanup_free_ char *after = inst_net_addrs_format(&c.net);
        CHECK("refused changes leave the config alone", after && streq(after, "10.77.0.5/24,fd00::5/64"), "%s",
              after ? after : "-");
}

int main(void) {
        test_parse();
        test_networks();
        test_mac_and_names();
        test_ipam();
        test_instance_keys();
        return CHECK_DONE();
}
