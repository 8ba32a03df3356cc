# vsd — top-level build.  `make help` lists the targets.

PREFIX  ?= /usr/local
DESTDIR ?=
BINDIR  ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
DATADIR ?= $(PREFIX)/share/vsd
MANDIR  ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
# systemd's and bash-completion's own search paths hold these for /usr/local
# as for /usr (systemd.unit(5), sysusers.d(5), tmpfiles.d(5))
UNITDIR     ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions

CC      ?= cc
B       ?= build
SAN     ?=
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wformat=2 -Wmissing-prototypes -Wstrict-prototypes \
           -D_GNU_SOURCE -fno-strict-aliasing -I. -I/usr/include/iniparser -MMD -MP -DVS_DATADIR='"$(DATADIR)"'
ifneq ($(findstring clang,$(CC)),clang)
CFLAGS  += -Wno-format-truncation
endif
ifeq ($(SAN),1)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
endif
# SAN=fuzz (CC=clang): the archives instrumented for libFuzzer, whose main()
# the fuzzers get at link; `make fuzz` builds them so into $(FUZZ_B)/.
ifeq ($(SAN),fuzz)
CFLAGS  += -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=fuzzer,address,undefined
endif

VSD_LIBS   = -lmicrohttpd -ljansson -liniparser -lcgroup -lseccomp -lcap -lnftables -lmnl -larchive -lmd -lwslay -lnettle -lz
VSCTL_LIBS = -ljansson

BASE_SRC  := $(wildcard base/*.c)
CG_SRC    := $(wildcard cgroups/*.c)
NET_SRC   := $(wildcard net/*.c)
CORE_SRC  := $(wildcard vsd/*/*.c)
VSCTL_SRC := $(wildcard vsctl/*.c)
UNIT_SRC  := $(wildcard tests/unit/test_*.c)
FUZZ_SRC  := $(wildcard tests/fuzz/fuzz_*.c)

obj = $(patsubst %.c,$(B)/obj/%.o,$(1))

LIBBASE = $(B)/libvsbase.a
LIBCG   = $(B)/libvscgroup.a
LIBNET  = $(B)/libvsnet.a
LIBCORE = $(B)/libvsdcore.a
DASH_SRC := $(wildcard dashboard/src/*)
DASH_DIR  = $(B)/dashboard
DASH_OBJ  = $(B)/obj/gen/dashboard-assets.o
UNIT_BINS := $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRC))
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(B)/fuzz/%,$(FUZZ_SRC))
PROBE   = $(B)/tests/probe

all: $(B)/vsd $(B)/vsctl $(PROBE) $(UNIT_BINS)

# settings.c holds DATADIR (the builders' default): rebuilt when it changes,
# so that `make install PREFIX=/usr` after a plain `make` is not left with
# the old path compiled in.
$(B)/obj/vsd/conf/settings.o: $(B)/datadir
$(B)/datadir: FORCE
	@mkdir -p $(B); echo '$(DATADIR)' | cmp -s - $@ || echo '$(DATADIR)' >$@
FORCE:

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(LIBBASE): $(call obj,$(BASE_SRC))
$(LIBCG): $(call obj,$(CG_SRC))
$(LIBNET): $(call obj,$(NET_SRC))
$(LIBCORE): $(call obj,$(CORE_SRC)) $(DASH_OBJ)
$(LIBBASE) $(LIBCG) $(LIBNET) $(LIBCORE):
	@mkdir -p $(dir $@)
	@rm -f $@
	ar rcs $@ $^

# The dashboard (dashboard/): its npm packages, pinned by the lock file, are
# installed into the build directory (the only step that needs the network),
# esbuild bundles the page, and embed.py turns the files into a C table that
# vsd serves from its own binary: nothing is fetched or read at run time.
$(DASH_DIR)/node_modules/.installed: dashboard/package.json dashboard/package-lock.json
	@mkdir -p $(DASH_DIR)
	cp dashboard/package.json dashboard/package-lock.json $(DASH_DIR)/
	cd $(DASH_DIR) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@
$(DASH_DIR)/assets.c: $(DASH_DIR)/node_modules/.installed $(DASH_SRC) dashboard/embed.py
	rm -rf $(DASH_DIR)/out && mkdir -p $(DASH_DIR)/out
	@# the packages are in the build directory, not beside the sources
	NODE_PATH=$(abspath $(DASH_DIR)/node_modules) $(DASH_DIR)/node_modules/.bin/esbuild dashboard/src/app.ts --bundle --minify --target=es2020 \
		--log-level=warning --outfile=$(DASH_DIR)/out/app.js
	cp dashboard/src/*.html $(DASH_DIR)/out/
	python3 dashboard/embed.py $(DASH_DIR)/out >$@.tmp && mv $@.tmp $@
$(DASH_OBJ): $(DASH_DIR)/assets.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<
dashboard: $(DASH_OBJ)

$(B)/vsd: $(B)/obj/vsd/main.o $(LIBCORE) $(LIBCG) $(LIBNET) $(LIBBASE)
	$(CC) $(LDFLAGS) -o $@ $^ $(VSD_LIBS)

$(B)/vsctl: $(call obj,$(VSCTL_SRC)) $(LIBBASE)
	$(CC) $(LDFLAGS) -o $@ $^ $(VSCTL_LIBS)

# The probe runs inside instances: static, no sanitizer, no host libraries.
$(PROBE): tests/probe/probe.c tests/probe/attack.c tests/probe/nest.c tests/probe/probe.h
	@mkdir -p $(dir $@)
	$(CC) -O2 -std=gnu11 -Wall -Wextra -Werror -Wmissing-prototypes -Wstrict-prototypes -D_GNU_SOURCE -I. -static -o $@ $(filter %.c,$^)

$(B)/tests/%: $(B)/obj/tests/unit/%.o $(LIBCORE) $(LIBCG) $(LIBNET) $(LIBBASE)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(VSD_LIBS)

# The fuzzers link the archives as vsd does (built with SAN=fuzz: see fuzz).
$(B)/fuzz/%: $(B)/obj/tests/fuzz/%.o $(LIBCORE) $(LIBCG) $(LIBNET) $(LIBBASE)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(VSD_LIBS)
fuzz-bins: $(FUZZ_BINS)

# Debian packages the build, the tests and the demo need; idempotent.
DEPS = build-essential clang pkg-config libmicrohttpd-dev libjansson-dev libiniparser-dev \
       libcgroup-dev libseccomp-dev libcap-dev libmnl-dev busybox-static curl iproute2 \
       procps psmisc util-linux man-db jq lxcfs fuse3 \
       libnftables-dev nftables iperf3 debootstrap zstd e2fsprogs python3 \
       prometheus systemd nodejs chromium libarchive-dev libmd-dev openssh-server \
       libwslay-dev nettle-dev zlib1g-dev dpkg-dev lintian
deps: criu-deps
	@missing=$$(for p in $(DEPS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "Installing:" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@# npm: Debian's own package, unless the installed nodejs brings it
	@command -v npm >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm

# CRIU 4.2 for checkpoints, built from Debian's source package into a
# private prefix (tools/criu-deps.sh; vsd.conf [checkpoint] criu).
CRIU_PREFIX ?= /usr/local/lib/vsd/criu
criu-deps:
	@PREFIX=$(CRIU_PREFIX) tools/criu-deps.sh

# make check: the host suite and, beside it, the VM lane (below) on
# VM_CHECK_TESTS, one final "N passed, N failed" for both; VM=0 runs the host
# suite alone.  Integration tests run JOBS at a time (tests/run.sh:
# VSD_TEST_JOBS).
VM ?= 1
JOBS    ?=
TEST_ENV = $(if $(JOBS),VSD_TEST_JOBS=$(JOBS))

check: deps $(if $(filter 0,$(VM)),,vm-deps)
	$(MAKE) all
ifneq ($(VM),0)
	$(TEST_ENV) VM_KERNEL=$(VM_KERNEL) VM_TESTS="$(VM_CHECK_TESTS)" tests/vm/with-host.sh $(B)
else
	$(TEST_ENV) tests/run.sh $(B)
endif

check-san: deps
	$(MAKE) B=build-san SAN=1 all
	$(TEST_ENV) ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 tests/run.sh build-san

# The demo runs what `make install` installed, as the README does.
demo: deps
	$(MAKE) install
	PREFIX=$(PREFIX) SBINDIR=$(SBINDIR) BINDIR=$(BINDIR) SYSCONFDIR=$(SYSCONFDIR) ./demo.sh

# The VM lane (tests/vm/run.sh): the integration tests inside QEMU (TCG) on
# Debian 12's own kernel, VM_KERNEL=6.1 (default) or 6.12, with pure cgroup
# v2.  VM_TESTS: patterns as for tests/run.sh (empty = every test).
VM_KERNEL ?= 6.1
VM_TESTS ?=
# The subset `make check` runs in the VM beside the host suite: v2's own
# paths as a customer meets them: the lifecycle (create, start, exec, restart,
# stop, destroy) on the default image backend, its disk kept across a stop,
# memory and pids limits hit from inside and held against root inside,
# exec after an init that moved to a leaf and enabled controllers (what
# systemd does), the daemon killed with -9 and its instances re-adopted, the
# host's cgroup2 options kept with lxcfs serving, a Debian 12 instance
# booting systemd, a checkpoint with what a Debian instance needs there,
# and a live move with memory pre-copy (the guest's kernel tracks dirty
# memory, this host's does not).  Timings: doc/architecture.md, "Kernels
# and cgroup layouts under test".
VM_CHECK_TESTS ?= test_cgroup t_lifecycle:test_lifecycle t_storage:test_stop_start_keeps_data \
	t_limits:test_limits_hold_against_root_inside t_exec:test_exec_after_init_moved_and_controllers_enabled \
	t_daemon:test_kill9_readopt t_view:test_host_cgroup2_options_kept t_systemd:test_systemd_boots \
	t_userns:test_cgroup_delegated_not_the_limits t_userns:test_template_page_cache_shared \
	t_nesting:test_inotify_bounded t_checkpoint:test_checkpoint_keeps_host_cgroup2_options \
	t_checkpoint:test_checkpoint_cgroup_controllers_kept t_migrate:test_migrate_live_memory_precopy
VM_DEPS = qemu-system-x86 busybox-static kmod e2fsprogs xz-utils
vm-deps:
	@missing=$$(for p in $(VM_DEPS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "Installing:" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

check-vm: deps vm-deps
	$(MAKE) all
	VM_KERNEL=$(VM_KERNEL) tests/vm/run.sh $(B) $(VM_TESTS)

# What make bench needs besides the build (hyperfine: Debian 12 has it).
BENCH_DEPS = hyperfine python3 crun lxc systemd-container util-linux busybox-static strace linux-perf gnuplot-nox
bench-deps:
	@missing=$$(for p in $(BENCH_DEPS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "Installing:" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

bench: deps bench-deps vm-deps
	$(MAKE) all
	bench/run.sh $(B)

# bench/vm.sh: the same idle instance as a virtual machine (TCG on this host)
BENCH_DEPS += qemu-system-x86 busybox-static

# Coverage-guided fuzzing (clang's libFuzzer) of what reads outside input:
# each fuzzer in tests/fuzz/ runs FUZZ_SECONDS from its seeds in
# tests/fuzz/corpus/NAME/ and with the words of tests/fuzz/NAME.dict if there
# is one (what it finds is kept in $(FUZZ_B)/fuzz/corpus/NAME/);
# a crash, a leak or a broken promise stops make with the input that caused
# it in $(FUZZ_B)/fuzz/.  The archives are built once more for it, by clang,
# into $(FUZZ_B)/.  FUZZERS=fuzz_api_body runs only those named.  The files
# config.ini's fuzzers write go to a directory of their own in /dev/shm.
FUZZ_SECONDS ?= 60
FUZZ_B  ?= build-fuzz
FUZZERS ?= $(patsubst tests/fuzz/%.c,%,$(FUZZ_SRC))
fuzz: deps
	$(MAKE) B=$(FUZZ_B) CC=clang SAN=fuzz $(patsubst %,$(FUZZ_B)/fuzz/%,$(FUZZERS))
	@set -e; tmp=$$(mktemp -d /dev/shm/vsd-fuzz.XXXXXX 2>/dev/null || mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	for f in $(FUZZERS); do \
		mkdir -p $(FUZZ_B)/fuzz/corpus/$$f; \
		echo "fuzz: $$f for $(FUZZ_SECONDS) s"; \
		TMPDIR=$$tmp $(FUZZ_B)/fuzz/$$f -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -timeout=10 -rss_limit_mb=1024 \
			-print_final_stats=1 -artifact_prefix=$(FUZZ_B)/fuzz/$$f- \
			$$([ ! -e tests/fuzz/$$f.dict ] || echo -dict=tests/fuzz/$$f.dict) \
			$(FUZZ_B)/fuzz/corpus/$$f tests/fuzz/corpus/$$f; \
	done

# make install: everything a host needs, below DESTDIR (a staging tree for a
# package, or a test's own directory) when it is given.  Only without DESTDIR
# is the host itself touched: the vsd group (sysusers.d), the directories
# (tmpfiles.d), systemd told of the unit.  An existing vsd.conf is kept.
BUILDERS = $(wildcard templates/*/build.sh)
install: $(B)/vsd $(B)/vsctl
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(SYSCONFDIR)/vsd $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR) \
		$(DESTDIR)$(BASHCOMPDIR)
	install -m 0755 $(B)/vsd $(DESTDIR)$(SBINDIR)/vsd
	install -m 0755 $(B)/vsctl $(DESTDIR)$(BINDIR)/vsctl
	@set -e; for b in $(BUILDERS); do \
		d=$$(dirname $$b); t=$(DESTDIR)$(DATADIR)/$$d; \
		echo "install $$d -> $$t"; install -d $$t; \
		for f in $$d/*; do \
			if [ -x $$f ]; then install -m 0755 $$f $$t/; else install -m 0644 $$f $$t/; fi; \
		done; \
	done
	install -m 0644 doc/vsd.8 doc/vsctl.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 doc/vsd.conf.5 $(DESTDIR)$(MANDIR)/man5/
	[ -e $(DESTDIR)$(SYSCONFDIR)/vsd/vsd.conf ] || install -m 0644 doc/vsd.conf.example $(DESTDIR)$(SYSCONFDIR)/vsd/vsd.conf
	sed 's|@SBINDIR@|$(SBINDIR)|g' dist/vsd.service.in >$(DESTDIR)$(UNITDIR)/vsd.service.tmp
	chmod 0644 $(DESTDIR)$(UNITDIR)/vsd.service.tmp && mv $(DESTDIR)$(UNITDIR)/vsd.service.tmp $(DESTDIR)$(UNITDIR)/vsd.service
	install -m 0644 dist/vsd.sysusers $(DESTDIR)$(SYSUSERSDIR)/vsd.conf
	install -m 0644 dist/vsd.tmpfiles $(DESTDIR)$(TMPFILESDIR)/vsd.conf
	install -m 0644 dist/vsctl.bash $(DESTDIR)$(BASHCOMPDIR)/vsctl
ifeq ($(DESTDIR),)
	@if command -v systemd-sysusers >/dev/null; then systemd-sysusers $(SYSUSERSDIR)/vsd.conf; \
	elif ! getent group vsd >/dev/null; then groupadd --system vsd; fi
	@if command -v systemd-tmpfiles >/dev/null; then systemd-tmpfiles --create $(TMPFILESDIR)/vsd.conf; \
	else install -d -m 0755 /run/vsd && install -d -m 0711 /var/lib/vsd && install -d -m 0755 /var/cache/vsd; fi
	@# the dashboard's token: random, root's and the vsd group's only; kept if there
	@t=$(SYSCONFDIR)/vsd/dashboard.token; [ -e $$t ] || { (umask 077; head -c 32 /dev/urandom | base64 | \
		tr '+/' '-_' | tr -d '=' >$$t.tmp) && chgrp vsd $$t.tmp && chmod 0640 $$t.tmp && mv $$t.tmp $$t && \
		echo "dashboard token written to $$t"; }
	@if [ -d /run/systemd/system ]; then systemctl daemon-reload; \
		echo "vsd.service installed: systemctl enable --now vsd"; fi
endif

# A Debian package, vsd_<version>_amd64.deb in $(DEB_B)/: its own build with
# Debian's paths (the daemon finds its builders under /usr/share/vsd), staged
# by install, packed by tools/mkdeb.sh (dist/deb/: control, conffiles,
# maintainer scripts), then checked by lintian (doc/packaging.md).
DEB_B    ?= build-deb
VERSION  := $(shell sed -n 's/^\#define VS_VERSION "\(.*\)"/\1/p' base/proto.h)
DEB_ARGS  = B=$(DEB_B) PREFIX=/usr SYSCONFDIR=/etc UNITDIR=/lib/systemd/system
deb:
	$(MAKE) $(DEB_ARGS) $(DEB_B)/vsd $(DEB_B)/vsctl
	rm -rf $(DEB_B)/deb
	$(MAKE) $(DEB_ARGS) DESTDIR=$(abspath $(DEB_B))/deb/root install
	tools/mkdeb.sh $(DEB_B) $(VERSION)
	@if command -v lintian >/dev/null; then lintian --tag-display-limit 0 $(DEB_B)/vsd_$(VERSION)_amd64.deb || true; \
	else echo "lintian is not installed (make deps)"; fi

# What install put there, but /etc/vsd/vsd.conf (the operator's) and the state
# (/var/lib/vsd: templates and instances).
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/vsd $(DESTDIR)$(BINDIR)/vsctl $(DESTDIR)$(MANDIR)/man8/vsd.8 \
		$(DESTDIR)$(MANDIR)/man8/vsctl.8 $(DESTDIR)$(MANDIR)/man5/vsd.conf.5 $(DESTDIR)$(UNITDIR)/vsd.service \
		$(DESTDIR)$(SYSUSERSDIR)/vsd.conf $(DESTDIR)$(TMPFILESDIR)/vsd.conf $(DESTDIR)$(BASHCOMPDIR)/vsctl
	rm -rf $(DESTDIR)$(DATADIR)

clean:
	rm -rf build build-san build-fuzz

help:
	@echo "make [all]    build vsd, vsctl, the probe and unit tests into $(B)/"
	@echo "make deps     install the Debian packages needed (idempotent)"
	@echo "make check    run every test (root), and beside them the VM lane on a subset (VM_CHECK_TESTS);"
	@echo "              ends with 'N passed, N failed'; JOBS=N at a time, VM=0: the host's tests alone"
	@echo "make check-san  the same under AddressSanitizer + UBSan"
	@echo "make check-vm   the integration tests in a QEMU guest (TCG) on Debian 12's kernel"
	@echo "               with pure cgroup v2: VM_KERNEL=6.1 (default) or 6.12,"
	@echo "               VM_TESTS=\"t_lifecycle: t_limits:test_memory\" (patterns as for tests/run.sh)"
	@echo "make demo     start a private vsd and a few instances"
	@echo "make bench    benchmarks (BENCH_OLD=REV: also this build against revision REV)"
	@echo "make fuzz     fuzz the HTTP reader, config.ini, the API's create and PATCH bodies and the"
	@echo "              start handshake's reports, FUZZ_SECONDS=$(FUZZ_SECONDS) each (clang, into $(FUZZ_B)/)"
	@echo "make install  PREFIX=$(PREFIX) DESTDIR=$(DESTDIR): binaries, builders, man pages, vsd.conf (kept if"
	@echo "              there), the systemd unit, sysusers.d and tmpfiles.d files, bash completion"
	@echo "make uninstall  the same files, but vsd.conf and the state"
	@echo "make deb      $(DEB_B)/vsd_$(VERSION)_amd64.deb, checked by lintian (doc/packaging.md)"

.PHONY: dashboard check-vm vm-deps all deps criu-deps bench-deps check check-san demo bench fuzz fuzz-bins install uninstall deb clean help FORCE

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
