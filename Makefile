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
PKGS       := libevent inih sqlite3 ldns
# WERROR=0 keeps the warnings but does not fail on them (a packager on a
# newer compiler).
WERROR     ?= 1
WARN       := -Wall -Wextra $(if $(filter 1,$(WERROR)),-Werror) -Wshadow -Wstrict-prototypes \
              -Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral
ND_CFLAGS  := -std=gnu11 $(WARN) -D_GNU_SOURCE -DNETDIAG_VERSION='"$(VERSION)"' \
              -Idaemon -MMD -MP
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
ND_PKGFLAGS = $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)

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

# Daemon objects shared with the client and the unit tests (everything but
# main.c), chrony's OBJS / CLI_OBJS split.
DAEMON_SRCS := $(filter-out daemon/main.c,$(wildcard daemon/*.c))
DAEMON_OBJS := $(DAEMON_SRCS:%.c=$(BUILD)/%.o)
CLIENT_SRCS := $(wildcard client/*.c)
CLIENT_OBJS := $(CLIENT_SRCS:%.c=$(BUILD)/%.o)
UNIT_SRCS   := $(wildcard tests/unit/test_*.c)
UNIT_BINS   := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

# Debian 12 packages: build, tests, lint.
DEPS_BUILD := build-essential pkg-config libevent-dev libinih-dev \
              libsqlite3-dev libldns-dev
DEPS_TEST  := python3 python3-pytest python3-dnslib iproute2 nftables sqlite3 \
              prometheus prometheus-alertmanager iputils-ping fping \
              clang libclang-rt-14-dev clang-format clang-tidy cppcheck valgrind
# the Debian package and its test (tests/integration/test_package.py,
# test_completion.py); devscripts brings hardening-check
DEPS_PKG   := debhelper dpkg-dev lintian devscripts bash-completion
DEPS       := $(DEPS_BUILD) $(DEPS_TEST) $(DEPS_PKG)

.PHONY: all deps run check unit integration san-build lint \
        install install-strip uninstall clean bench fuzz fuzz-build fuzz-bins \
        fuzz-regress check-valgrind

all: $(BUILD)/netdiagd $(BUILD)/netdiag

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ND_CFLAGS) $(ND_PKGFLAGS) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/netdiagd: $(BUILD)/daemon/main.o $(DAEMON_OBJS)
	$(CC) $(ND_LDFLAGS) $(LDFLAGS) -o $@ $^ $(ND_LDLIBS) $(LDLIBS)

$(BUILD)/netdiag: $(CLIENT_OBJS) $(DAEMON_OBJS)
	$(CC) $(ND_LDFLAGS) $(LDFLAGS) -o $@ $^ $(ND_LDLIBS) $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c tests/unit/unit.h $(DAEMON_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(ND_CFLAGS) -Itests/unit $(ND_PKGFLAGS) $(CPPFLAGS) $(CFLAGS) \
	    $(ND_LDFLAGS) $(LDFLAGS) -o $@ $< $(DAEMON_OBJS) $(ND_LDLIBS) $(LDLIBS)

# Benchmark programs: built without sanitizers, with -O2.
$(BUILD)/bench/bench_store: tests/bench/bench_store.c $(DAEMON_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(ND_CFLAGS) $(ND_PKGFLAGS) $(CPPFLAGS) $(CFLAGS) $(ND_LDFLAGS) $(LDFLAGS) \
	    -o $@ $< $(DAEMON_OBJS) $(ND_LDLIBS) $(LDLIBS)

# the scheduler alone: its own probe_connect_ops stands in for the real one
$(BUILD)/bench/bench_sched: tests/bench/bench_sched.c $(DAEMON_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(ND_CFLAGS) $(ND_PKGFLAGS) $(CPPFLAGS) $(CFLAGS) $(ND_LDFLAGS) $(LDFLAGS) \
	    -o $@ $< $(filter-out $(BUILD)/daemon/probe_connect.o,$(DAEMON_OBJS)) \
	    $(ND_LDLIBS) $(LDLIBS)

$(BUILD)/bench/%: tests/bench/%.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -o $@ $<

BENCH_BINS := $(BUILD)/bench/bench_store $(BUILD)/bench/listener $(BUILD)/bench/ceiling \
              $(BUILD)/bench/dnsresp $(BUILD)/bench/bench_sched $(BUILD)/bench/ceiling_dns \
              $(BUILD)/bench/ceiling_ping

# make bench: every figure beside the kernel's ceiling (tests/bench/run.py);
# loopback only, about 5 minutes. BENCH_ARGS=--quick for a smoke run.
bench: all $(BENCH_BINS)
	$(PYTHON) tests/bench/run.py --build $(BUILD) $(BENCH_ARGS)

# `make deps`: as root, install what is missing (apt-get update once);
# otherwise print the exact command.
deps:
	@missing=""; for p in $(DEPS); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' \
	        || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then echo "deps: all Debian packages present"; \
	elif [ "$$(id -u)" = 0 ]; then \
	    echo "deps: installing$$missing"; \
	    apt-get update -q && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	else \
	    echo "deps: missing Debian packages; run as root:"; \
	    echo "    apt-get update && apt-get install -y$$missing"; exit 1; \
	fi

run: deps
	$(MAKE) all
	@mkdir -p var
	./$(BUILD)/netdiagd -c conf/netdiag.ini

# The sanitizer tree lives in build-san so the normal build stays fast.
SANDIR := build-san
san-build:
	$(MAKE) BUILD=$(SANDIR) SAN=1 all unit-bins

.PHONY: unit-bins
unit-bins: $(UNIT_BINS)

unit: san-build
	@export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1; \
	pass=0; fail=0; bad=0; \
	for t in $(UNIT_SRCS:tests/unit/%.c=$(SANDIR)/tests/%); do \
	    out=$$($$t 2>&1); rc=$$?; printf '%s\n' "$$out"; \
	    line=$$(printf '%s\n' "$$out" | tail -n 1); \
	    p=$$(printf '%s' "$$line" | sed -n 's/.* \([0-9]*\) passed, \([0-9]*\) failed$$/\1/p'); \
	    f=$$(printf '%s' "$$line" | sed -n 's/.* \([0-9]*\) passed, \([0-9]*\) failed$$/\2/p'); \
	    pass=$$((pass + $${p:-0})); fail=$$((fail + $${f:-0})); \
	    if [ $$rc -ne 0 ] || [ -z "$$p" ]; then bad=$$((bad + 1)); echo "FAILED: $$t (exit $$rc)"; fi; \
	done; \
	if [ $$bad -ne 0 ] && [ $$fail -eq 0 ]; then fail=$$bad; fi; \
	echo "unit: $$pass passed, $$fail failed"; test $$bad -eq 0

integration: san-build
	NETDIAG_BUILD=$(CURDIR)/$(SANDIR) ASAN_OPTIONS=detect_leaks=1 \
	    $(PYTHON) -m pytest -p no:cacheprovider -q -rs tests/integration

check: deps
	$(MAKE) all
	$(MAKE) unit
	$(MAKE) integration
	$(MAKE) fuzz-regress

# clang-tidy reads .clang-tidy (the checks and why); it compiles each file
# with the build's own flags, less the ones only gcc knows.
TIDY_SRCS      := $(wildcard daemon/*.c client/*.c)
TIDY_TEST_SRCS := $(wildcard tests/unit/*.c tests/fuzz/*.c)
TIDY_FLAGS = -std=gnu11 -D_GNU_SOURCE -DNETDIAG_VERSION='"$(VERSION)"' -Idaemon -Iclient \
             -Itests/unit $(ND_PKGFLAGS)

lint:
	clang-format --dry-run -Werror daemon/*.c daemon/*.h client/*.c client/*.h \
	    tests/unit/*.c tests/unit/*.h tests/fuzz/*.c tests/fuzz/*.h
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability \
	    --inline-suppr -D_GNU_SOURCE -Idaemon daemon client
	clang-tidy --quiet $(TIDY_SRCS) -- $(TIDY_FLAGS)
	clang-tidy --quiet --checks=-cert-env33-c $(TIDY_TEST_SRCS) -- $(TIDY_FLAGS)

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

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(DAEMON_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(ND_CFLAGS) -Iclient $(ND_PKGFLAGS) $(CPPFLAGS) $(CFLAGS) \
	    $(ND_LDFLAGS) $(LDFLAGS) -fsanitize=fuzzer \
	    -o $@ $< $(filter %.o,$^) $(ND_LDLIBS) $(LDLIBS)

fuzz-bins: $(FUZZ_BINS)

fuzz-build:
	$(MAKE) BUILD=$(FUZZDIR) FUZZ=1 CC=$(FUZZ_CC) fuzz-bins

fuzz: fuzz-build
	@$(MAKE) --no-print-directory $(FUZZ_TARGETS:%=fuzz-run-%)
	@sh tests/fuzz/run.sh --summary $(FUZZDIR) $(FUZZ_TARGETS)

fuzz-run-%:
	@sh tests/fuzz/run.sh $(FUZZDIR) $(FUZZ_SECONDS) $* $(FUZZ_ARGS)

fuzz-regress: fuzz-build
	sh tests/fuzz/regress.sh $(FUZZDIR) $(FUZZ_SRCS:tests/fuzz/fuzz_%.c=%)

# Valgrind over the normal build (no sanitizers: the two do not mix): the
# unit tests, then netdiagd on a loopback config for 3 s until SIGTERM, and
# with --once. A valgrind error exits 99, apart from the daemon's own codes.
VG := valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect
check-valgrind: all unit-bins
	@pass=0; fail=0; \
	for t in $(UNIT_BINS); do \
	    $(VG) $$t >$(BUILD)/vg.out 2>&1; rc=$$?; \
	    if [ $$rc -eq 0 ]; then pass=$$((pass + 1)); continue; fi; \
	    fail=$$((fail + 1)); grep -v '^  ok' $(BUILD)/vg.out; \
	    if [ $$rc -eq 99 ]; then echo "FAILED: $$t: valgrind found errors"; \
	    else echo "FAILED: $$t: a test failed under valgrind (exit $$rc)"; fi; \
	done; \
	dir=$$(mktemp -d); port=$$((20000 + $$$$ % 20000)); \
	printf '[daemon]\ndatabase = %s/vg.db\nmetrics_listen = 127.0.0.1:%s\n\n[defaults]\ninterval = 500ms\ntimeout = 200ms\n\n[target self]\nkind = connect\nhost = 127.0.0.1\nport = %s\n\n[target refused]\nkind = connect\nhost = 127.0.0.1\nport = 1\n\n[target dns]\nkind = resolve\nname = vg.test\nserver = 127.0.0.1:1\n\n[target udp]\nkind = send\nhost = 127.0.0.1\nport = 9\npayload_hex = 6e64\n' \
	    "$$dir" "$$port" "$$port" > "$$dir/vg.ini"; \
	$(VG) $(BUILD)/netdiagd -c "$$dir/vg.ini" >"$$dir/run.out" 2>&1 & pid=$$!; \
	for i in $$(seq 300); do grep -q 'started:' "$$dir/run.out" && break; sleep 0.1; done; \
	sleep 3; kill -TERM $$pid; wait $$pid; rc=$$?; \
	if [ $$rc -eq 0 ]; then pass=$$((pass + 1)); \
	else fail=$$((fail + 1)); cat "$$dir/run.out"; echo "FAILED: valgrind netdiagd -c (exit $$rc)"; fi; \
	$(VG) $(BUILD)/netdiagd --once -c "$$dir/vg.ini" >"$$dir/once.out" 2>&1; rc=$$?; \
	if [ $$rc -le 1 ]; then pass=$$((pass + 1)); \
	else fail=$$((fail + 1)); cat "$$dir/once.out"; echo "FAILED: valgrind netdiagd --once (exit $$rc)"; fi; \
	rm -rf "$$dir" $(BUILD)/vg.out; \
	echo "check-valgrind: $$pass passed, $$fail failed"; test $$fail -eq 0

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) \
	    $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
	    $(DESTDIR)$(DATADIR)/sql $(DESTDIR)$(DOCDIR) $(DESTDIR)$(UNITDIR) \
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
	sed 's|/usr/sbin/netdiagd|$(SBINDIR)/netdiagd|g' systemd/netdiagd.service \
	    > $(DESTDIR)$(UNITDIR)/netdiagd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/netdiagd.service
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
	    $(DESTDIR)$(UNITDIR)/netdiagd.service \
	    $(DESTDIR)$(SYSUSERSDIR)/netdiag.conf $(DESTDIR)$(TMPFILESDIR)/netdiag.conf \
	    $(DESTDIR)$(BASHCOMPDIR)/netdiag
	rm -rf $(DESTDIR)$(DATADIR)/sql
	-rmdir $(DESTDIR)$(DATADIR) $(DESTDIR)$(DOCDIR) 2>/dev/null

clean:
	rm -rf build build-san build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
