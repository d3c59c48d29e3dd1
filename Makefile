# SPDX-License-Identifier: ISC
# netdiag -- one GNU Makefile for the daemon, the client, the tests and the
# install.  CFLAGS is the user's; everything the build needs goes into
# ND_CFLAGS.  `make BUILD=dir SAN=1` builds a sanitizer tree beside the
# normal one.

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
SBINDIR    ?= $(PREFIX)/sbin
MANDIR     ?= $(PREFIX)/share/man
DATADIR    ?= $(PREFIX)/share/netdiag
DOCDIR     ?= $(PREFIX)/share/doc/netdiag
UNITDIR    ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
DESTDIR    ?=
INSTALL    ?= install
INSTALL_PROGRAM ?= $(INSTALL) -m 0755

CC         ?= cc
PKG_CONFIG ?= pkg-config
PYTHON     ?= /usr/bin/python3
BUILD      ?= build
SAN        ?=
VERSION    := 0.1.0

CFLAGS     ?= -O2 -g

# Quiet by default: one line per file made ("  CC      daemon/probe.o"),
# the whole commands with `make V=1` (as Redis and the kernel do).
V          ?= 0
ifeq ($(V),1)
Q          :=
say         = @:
else
Q          := @
say         = @printf '  %-7s %s\n' '$(1)' '$(patsubst build/%,%,$(2))'
endif
MAKEFLAGS  += --no-print-directory
# What each program links: the client reads SQLite (and netdiag.ini for
# [daemon] database), and `netdiag web` serves on libevent's core loop
# (libevent_core: no evhttp, no evdns, no TLS); the daemon also speaks DNS
# (ldns), runs the whole of libevent and posts to Alertmanager over TLS
# (libevent_openssl, OpenSSL).
PKGS        := libevent libevent_openssl openssl inih sqlite3 ldns
CLIENT_PKGS := libevent_core inih sqlite3
# WERROR=0 keeps the warnings but does not fail on them (a packager on a
# newer compiler).
WERROR     ?= 1
WARN       := -Wall -Wextra $(if $(filter 1,$(WERROR)),-Werror) -Wshadow -Wstrict-prototypes \
              -Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral
ND_CFLAGS  := -std=gnu11 $(WARN) -D_GNU_SOURCE -DNETDIAG_VERSION='"$(VERSION)"' -MMD -MP
# Hardened by default, before the user's flags so that theirs win: stack
# protector, PIE, full RELRO, and _FORTIFY_SOURCE=2 when CFLAGS optimise and
# neither CPPFLAGS nor CFLAGS set it already (dpkg-buildflags does; a
# compiler that predefines it is overridden). Not in the sanitizer and fuzz
# builds, where the checked copies of memcpy & co. would hide bugs from ASan.
ND_CFLAGS  += -fstack-protector-strong -fPIE
ND_LDFLAGS := -pie -Wl,-z,relro,-z,now
ifeq ($(SAN)$(FUZZ)$(findstring _FORTIFY_SOURCE,$(CPPFLAGS) $(CFLAGS)),)
ifneq ($(filter -O -O1 -O2 -O3 -Os -Og -Ofast -Oz,$(CFLAGS)),)
ND_CFLAGS  += -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2
endif
endif
ND_LDLIBS   = $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null) -lpthread -lm
CLIENT_LDLIBS = $(shell $(PKG_CONFIG) --libs $(CLIENT_PKGS) 2>/dev/null) -lm
ND_PKGFLAGS = $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
# Where a file's quoted includes are found: common/ sees only itself, the
# client common/ and its own folder (never daemon/), the daemon both. By
# -iquote, so that daemon/sched.h never stands in for the system's
# <sched.h>.
ND_INC      = $(if $(filter common/% client/%,$<),-iquote common,-iquote daemon -iquote common)

ifneq ($(SAN),)
ND_CFLAGS  += -fsanitize=address,undefined -fno-sanitize-recover=all \
              -fno-omit-frame-pointer
ND_LDFLAGS += -fsanitize=address,undefined
endif

# FUZZ=1 (with CC=clang): every object instrumented for libFuzzer's coverage
# as well; only the fuzz targets link the fuzzer itself (it brings main).
ifneq ($(FUZZ),)
ND_CFLAGS  += -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all \
              -fno-omit-frame-pointer
ND_LDFLAGS += -fsanitize=address,undefined
endif

# Who uses what, file by file (chrony's OBJS / CLI_OBJS): common/ is the
# code both programs share, built into one static archive that both link
# (the linker takes only the objects a program calls); daemon/ is netdiagd
# (main.c apart, so the unit tests, benchmarks and fuzzers can link the
# rest); client/ is netdiag.
COMMON_SRCS := common/array.c common/hist.c common/http_server.c common/json.c common/ndb.c \
               common/suggest.c common/timefmt.c common/util.c common/wsa.c
DAEMON_SRCS := daemon/alert.c daemon/alert_am.c daemon/alert_am_cred.c daemon/alert_detect.c daemon/alert_exec.c \
               daemon/alert_metric.c daemon/config.c daemon/config_opt.c daemon/config_run.c \
               daemon/dns.c daemon/errqueue.c daemon/export.c daemon/icmp.c daemon/log.c daemon/metrics.c \
               daemon/metrics_http.c \
               daemon/notify.c daemon/ping_pool.c daemon/probe.c daemon/probe_connect.c \
               daemon/probe_ping.c daemon/probe_resolve.c daemon/probe_send.c daemon/reload.c \
               daemon/resolv.c daemon/result.c daemon/sched.c daemon/sock.c daemon/store.c \
               daemon/store_file.c daemon/store_path.c daemon/store_prune.c daemon/store_schema.c \
               daemon/store_sql.c daemon/store_writer.c daemon/trace.c
CLIENT_SRCS := client/chart.c client/cmd_alerts.c client/cmd_codes.c client/cmd_export.c client/cmd_failures.c \
               client/cmd_latency.c client/cmd_path.c \
               client/cmd_status.c client/cmd_summary.c client/cmd_targets.c \
               client/cmd_timeline.c client/counts.c client/db.c client/filter.c client/fmt.c \
               client/main.c client/output.c client/sha256.c client/state.c client/timearg.c \
               client/web.c client/web_chart.c client/web_html.c client/web_json.c \
               client/web_page.c
COMMON_OBJS := $(COMMON_SRCS:%.c=$(BUILD)/%.o)
COMMON_LIB  := $(BUILD)/libnetdiag-common.a
DAEMON_OBJS := $(DAEMON_SRCS:%.c=$(BUILD)/%.o)
CLIENT_OBJS := $(CLIENT_SRCS:%.c=$(BUILD)/%.o)
UNIT_SRCS   := $(wildcard tests/unit/test_*.c)
UNIT_BINS   := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

# Debian 12 packages: build, tests, lint.
DEPS_BUILD := build-essential pkg-config libevent-dev libinih-dev \
              libsqlite3-dev libldns-dev libssl-dev
# chromium: tests/integration/test_web.py loads the web view in a real browser
# openssl: tests/integration/test_alert_am_tls.py makes its own CA with it;
# clickhouse-server: tests/integration/test_export_clickhouse.py starts one on loopback
DEPS_TEST  := python3 python3-pytest python3-dnslib iproute2 nftables sqlite3 \
              prometheus prometheus-alertmanager victoria-metrics iputils-ping fping chromium \
              clickhouse-server \
              clang libclang-rt-14-dev clang-format clang-tidy cppcheck valgrind openssl
# the Debian package and its test (tests/integration/test_package.py,
# test_completion.py); devscripts brings hardening-check
DEPS_PKG   := debhelper dpkg-dev lintian devscripts bash-completion
DEPS       := $(DEPS_BUILD) $(DEPS_TEST) $(DEPS_PKG)

.PHONY: all deps run check test test-unit unit integration san-build lint spdx \
        install install-strip uninstall clean bench fuzz fuzz-build fuzz-bins \
        fuzz-regress check-valgrind

# (a recipe of its own, so that make never says "Nothing to be done")
all: $(BUILD)/netdiagd $(BUILD)/netdiag
	@:

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(call say,CC,$@)
	$(Q)$(CC) $(ND_CFLAGS) $(ND_INC) $(ND_PKGFLAGS) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(COMMON_LIB): $(COMMON_OBJS)
	$(call say,AR,$@)
	$(Q)rm -f $@
	$(Q)$(AR) rcs $@ $^

$(BUILD)/netdiagd: $(BUILD)/daemon/main.o $(DAEMON_OBJS) $(COMMON_LIB)
	$(call say,LD,$@)
	$(Q)$(CC) $(ND_LDFLAGS) $(LDFLAGS) -o $@ $^ $(ND_LDLIBS) $(LDLIBS)

$(BUILD)/netdiag: $(CLIENT_OBJS) $(COMMON_LIB)
	$(call say,LD,$@)
	$(Q)$(CC) $(ND_LDFLAGS) $(LDFLAGS) -o $@ $^ $(CLIENT_LDLIBS) $(LDLIBS)

# A unit test links every daemon object and the archive (test_client
# includes the client's .c files it tests).
TEST_INC := -iquote daemon -iquote common -iquote tests/unit
$(BUILD)/tests/%: tests/unit/%.c tests/unit/unit.h $(DAEMON_OBJS) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(call say,CCLD,$@)
	$(Q)$(CC) $(ND_CFLAGS) $(TEST_INC) $(ND_PKGFLAGS) $(CPPFLAGS) $(CFLAGS) \
	    $(ND_LDFLAGS) $(LDFLAGS) -o $@ $< $(DAEMON_OBJS) $(COMMON_LIB) $(ND_LDLIBS) $(LDLIBS)

# Benchmark programs: built without sanitizers, with -O2.
$(BUILD)/bench/bench_store: tests/bench/bench_store.c $(DAEMON_OBJS) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(call say,CCLD,$@)
	$(Q)$(CC) $(ND_CFLAGS) $(TEST_INC) $(ND_PKGFLAGS) $(CPPFLAGS) $(CFLAGS) $(ND_LDFLAGS) \
	    $(LDFLAGS) -o $@ $< $(DAEMON_OBJS) $(COMMON_LIB) $(ND_LDLIBS) $(LDLIBS)

# the /metrics body alone: bytes, series and render time per target count
$(BUILD)/bench/bench_metrics: tests/bench/bench_metrics.c $(DAEMON_OBJS) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(call say,CCLD,$@)
	$(Q)$(CC) $(ND_CFLAGS) $(TEST_INC) $(ND_PKGFLAGS) $(CPPFLAGS) $(CFLAGS) $(ND_LDFLAGS) \
	    $(LDFLAGS) -o $@ $< $(DAEMON_OBJS) $(COMMON_LIB) $(ND_LDLIBS) $(LDLIBS)

# the scheduler alone: its own probe_connect_ops stands in for the real one
$(BUILD)/bench/bench_sched: tests/bench/bench_sched.c $(DAEMON_OBJS) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(call say,CCLD,$@)
	$(Q)$(CC) $(ND_CFLAGS) $(TEST_INC) $(ND_PKGFLAGS) $(CPPFLAGS) $(CFLAGS) $(ND_LDFLAGS) \
	    $(LDFLAGS) -o $@ $< $(filter-out $(BUILD)/daemon/probe_connect.o,$(DAEMON_OBJS)) \
	    $(COMMON_LIB) $(ND_LDLIBS) $(LDLIBS)

$(BUILD)/bench/%: tests/bench/%.c
	@mkdir -p $(dir $@)
	$(call say,CCLD,$@)
	$(Q)$(CC) -std=gnu11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -o $@ $<

# evhttp beside netdiag web's own server (tests/bench/bench_web.py)
$(BUILD)/bench/evhttp_probe: tests/bench/evhttp_probe.c
	@mkdir -p $(dir $@)
	$(call say,CCLD,$@)
	$(Q)$(CC) -std=gnu11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -o $@ $< \
	    $(shell $(PKG_CONFIG) --libs libevent)

BENCH_BINS := $(BUILD)/bench/bench_store $(BUILD)/bench/listener $(BUILD)/bench/ceiling \
              $(BUILD)/bench/dnsresp $(BUILD)/bench/bench_sched $(BUILD)/bench/ceiling_dns \
              $(BUILD)/bench/bench_metrics $(BUILD)/bench/ceiling_ping $(BUILD)/bench/evhttp_probe

# make bench: every figure beside the kernel's ceiling (tests/bench/run.py),
# then netdiag web's pages on the 10-million-row database and its server
# beside evhttp (tests/bench/bench_web.py); loopback only, about 7 minutes.
# BENCH_ARGS=--quick for a smoke run.
bench: all $(BENCH_BINS)
	$(PYTHON) tests/bench/run.py --build $(BUILD) $(BENCH_ARGS)
	$(PYTHON) tests/bench/bench_web.py --build $(BUILD) $(BENCH_ARGS)

# `make deps`: as root, install what is missing (apt-get update once);
# otherwise print the exact command (tests/deps.sh).
deps:
	@sh tests/deps.sh $(DEPS)

run: deps
	$(Q)$(MAKE) all
	@mkdir -p var
	./$(BUILD)/netdiagd -c conf/netdiag.ini

# The sanitizer tree lives in build-san so the normal build stays fast.
SANDIR := build-san
san-build:
	$(Q)$(MAKE) BUILD=$(SANDIR) SAN=1 all unit-bins

.PHONY: unit-bins
unit-bins: $(UNIT_BINS)
	@:

unit: san-build
	@ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	    sh tests/run-unit.sh $(UNIT_SRCS:tests/unit/%.c=$(SANDIR)/tests/%)

integration: san-build
	$(Q)NETDIAG_BUILD=$(CURDIR)/$(SANDIR) ASAN_OPTIONS=detect_leaks=1 \
	    $(PYTHON) -m pytest -p no:cacheprovider -q -rs tests/integration

# `make test`: the unit and integration tests on the normal build, no
# sanitizers and no apt-get, for a package build or a quick look;
# `make test-unit` the unit tests alone (debian/rules runs them). `make
# check` is the full gate: deps, sanitizers, fuzz corpora.
test-unit: unit-bins
	@sh tests/run-unit.sh $(UNIT_BINS)

test: all test-unit
	$(Q)NETDIAG_BUILD=$(CURDIR)/$(BUILD) \
	    $(PYTHON) -m pytest -p no:cacheprovider -q -rs tests/integration

check: deps spdx
	$(Q)$(MAKE) all
	$(Q)$(MAKE) unit
	$(Q)$(MAKE) integration
	$(Q)$(MAKE) fuzz-regress

# clang-tidy reads .clang-tidy (the checks and why); it compiles each file
# with the build's own flags, less the ones only gcc knows.
TIDY_SRCS      := $(COMMON_SRCS) $(DAEMON_SRCS) daemon/main.c $(CLIENT_SRCS)
TIDY_TEST_SRCS := $(wildcard tests/unit/*.c tests/fuzz/*.c)
TIDY_FLAGS = -std=gnu11 -D_GNU_SOURCE -DNETDIAG_VERSION='"$(VERSION)"' -iquote daemon \
             -iquote common -iquote client -iquote tests/unit $(ND_PKGFLAGS)

# Every source file, script, man page and unit file starts with its
# license, "SPDX-License-Identifier: ISC" (tests/spdx-check.sh lists the
# ones that do not; --fix adds the line).
spdx:
	$(call say,SPDX,sources)
	@sh tests/spdx-check.sh

lint: spdx
	$(call say,FORMAT,sources)
	$(Q)clang-format --dry-run -Werror common/*.c common/*.h daemon/*.c daemon/*.h client/*.c \
	    client/*.h tests/unit/*.c tests/unit/*.h tests/fuzz/*.c tests/fuzz/*.h
	$(call say,CPPCHECK,common daemon client)
	$(Q)cppcheck --quiet --error-exitcode=1 --enable=warning,portability \
	    --inline-suppr -D_GNU_SOURCE -Icommon -Idaemon common daemon client
	$(call say,TIDY,common daemon client)
	$(Q)clang-tidy --quiet $(TIDY_SRCS) -- $(TIDY_FLAGS)
	$(call say,TIDY,tests)
	$(Q)clang-tidy --quiet --checks=-cert-env33-c $(TIDY_TEST_SRCS) -- $(TIDY_FLAGS)

# Fuzzing (tests/fuzz/README.md): libFuzzer targets built by clang in their
# own tree. `make fuzz` fuzzes each target for FUZZ_SECONDS (FUZZ_TARGETS
# to pick some; -j2 runs two at once), growing a working corpus in
# build-fuzz/corpus; `make fuzz-regress` runs every committed corpus file
# once, as `make check` does.
FUZZDIR      := build-fuzz
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_SRCS    := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_TARGETS ?= $(FUZZ_SRCS:tests/fuzz/fuzz_%.c=%)
FUZZ_BINS    := $(FUZZ_SRCS:tests/fuzz/fuzz_%.c=$(BUILD)/fuzz/fuzz_%)

# fuzz_client includes client/main.c (for its static parser) and links the
# other client objects; fuzz_duration needs the client's time parser.
$(BUILD)/fuzz/fuzz_client: $(filter-out $(BUILD)/client/main.o,$(CLIENT_OBJS))
$(BUILD)/fuzz/fuzz_duration: $(BUILD)/client/timearg.o

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(DAEMON_OBJS) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(call say,CCLD,$@)
	$(Q)$(CC) $(ND_CFLAGS) -iquote daemon -iquote common -iquote client $(ND_PKGFLAGS) \
	    $(CPPFLAGS) $(CFLAGS) $(ND_LDFLAGS) $(LDFLAGS) -fsanitize=fuzzer \
	    -o $@ $< $(filter %.o,$^) $(COMMON_LIB) $(ND_LDLIBS) $(LDLIBS)

fuzz-bins: $(FUZZ_BINS)
	@:

fuzz-build:
	$(Q)$(MAKE) BUILD=$(FUZZDIR) FUZZ=1 CC=$(FUZZ_CC) fuzz-bins

fuzz: fuzz-build
	@$(MAKE) $(FUZZ_TARGETS:%=fuzz-run-%)
	@sh tests/fuzz/run.sh --summary $(FUZZDIR) $(FUZZ_TARGETS)

fuzz-run-%:
	@sh tests/fuzz/run.sh $(FUZZDIR) $(FUZZ_SECONDS) $* $(FUZZ_ARGS)

fuzz-regress: fuzz-build
	@sh tests/fuzz/regress.sh $(FUZZDIR) $(FUZZ_SRCS:tests/fuzz/fuzz_%.c=%)

# Valgrind over the normal build (no sanitizers: the two do not mix), the
# unit tests and netdiagd on a loopback config (tests/check-valgrind.sh).
check-valgrind: all unit-bins
	@sh tests/check-valgrind.sh $(BUILD) $(UNIT_BINS)

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) \
	    $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
	    $(DESTDIR)$(DATADIR)/sql $(DESTDIR)$(DATADIR)/sql/clickhouse \
	    $(DESTDIR)$(DATADIR)/prometheus $(DESTDIR)$(DOCDIR) \
	    $(DESTDIR)$(UNITDIR) \
	    $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR) $(DESTDIR)$(BASHCOMPDIR)
	$(INSTALL_PROGRAM) $(BUILD)/netdiagd $(DESTDIR)$(SBINDIR)/netdiagd
	$(INSTALL_PROGRAM) $(BUILD)/netdiag $(DESTDIR)$(BINDIR)/netdiag
	install -m 0644 man/netdiag.1 $(DESTDIR)$(MANDIR)/man1/netdiag.1
	install -m 0644 man/netdiag.ini.5 $(DESTDIR)$(MANDIR)/man5/netdiag.ini.5
	install -m 0644 man/netdiagd.8 $(DESTDIR)$(MANDIR)/man8/netdiagd.8
	sed 's|^database = \.\./var/netdiag.db|database = /var/lib/netdiag/netdiag.db|' conf/netdiag.ini \
	    > $(DESTDIR)$(DOCDIR)/netdiag.ini.example
	chmod 0644 $(DESTDIR)$(DOCDIR)/netdiag.ini.example
	install -m 0644 README.md $(DESTDIR)$(DOCDIR)/README.md
	install -m 0644 sql/*.sql sql/README.md $(DESTDIR)$(DATADIR)/sql/
	install -m 0644 sql/clickhouse/*.sql sql/clickhouse/README.md \
	    $(DESTDIR)$(DATADIR)/sql/clickhouse/
	install -m 0644 conf/prometheus/netdiag.rules.yml conf/prometheus/netdiag.rules.test.yml \
	    $(DESTDIR)$(DATADIR)/prometheus/
	sed 's|/usr/sbin/netdiagd|$(SBINDIR)/netdiagd|g' systemd/netdiagd.service \
	    > $(DESTDIR)$(UNITDIR)/netdiagd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/netdiagd.service
	sed 's|/usr/bin/netdiag |$(BINDIR)/netdiag |g' systemd/netdiag-web.service \
	    > $(DESTDIR)$(UNITDIR)/netdiag-web.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/netdiag-web.service
	install -m 0644 systemd/netdiag.sysusers $(DESTDIR)$(SYSUSERSDIR)/netdiag.conf
	install -m 0644 systemd/netdiag.tmpfiles $(DESTDIR)$(TMPFILESDIR)/netdiag.conf
	install -m 0644 client/netdiag.bash-completion $(DESTDIR)$(BASHCOMPDIR)/netdiag
	@echo "installed; /etc is left alone: copy $(DOCDIR)/netdiag.ini.example to"
	@echo "/etc/netdiag/netdiag.ini (see README.md, 'Run as a service')"

# `make install` keeps the symbols (a packager's dh_strip splits them off);
# this one strips the programs as it installs them, as GNU packages do.
install-strip: INSTALL_PROGRAM += -s
install-strip: install

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/netdiagd $(DESTDIR)$(BINDIR)/netdiag \
	    $(DESTDIR)$(MANDIR)/man1/netdiag.1 $(DESTDIR)$(MANDIR)/man5/netdiag.ini.5 \
	    $(DESTDIR)$(MANDIR)/man8/netdiagd.8 \
	    $(DESTDIR)$(DOCDIR)/netdiag.ini.example $(DESTDIR)$(DOCDIR)/README.md \
	    $(DESTDIR)$(UNITDIR)/netdiagd.service $(DESTDIR)$(UNITDIR)/netdiag-web.service \
	    $(DESTDIR)$(SYSUSERSDIR)/netdiag.conf $(DESTDIR)$(TMPFILESDIR)/netdiag.conf \
	    $(DESTDIR)$(BASHCOMPDIR)/netdiag
	rm -rf $(DESTDIR)$(DATADIR)/sql $(DESTDIR)$(DATADIR)/prometheus
	-rmdir $(DESTDIR)$(DATADIR) $(DESTDIR)$(DOCDIR) 2>/dev/null

clean:
	rm -rf build build-san build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
