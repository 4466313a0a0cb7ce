# twitchd: one plain, non-recursive GNU Makefile.
#
#   make                 build everything            make check   build and run every test
#   make bench           run every benchmark         make bench-NAME   one of them
#   make demo            the simulated cart (see README.md)
#   make install/uninstall  honour PREFIX and DESTDIR
#   WERROR=1             warnings are errors         SANITIZE=address,undefined | thread
#
# Objects go to $(O) (build/, or build-<sanitizer>/), so sanitizer builds
# never mix with normal ones. Missing Debian packages are reported (and
# installed when run as root) by the `deps` step before anything compiles.

PREFIX ?= /usr/local
EXEC_PREFIX ?= $(PREFIX)
BINDIR ?= $(EXEC_PREFIX)/bin
SBINDIR ?= $(EXEC_PREFIX)/sbin
LIBDIR ?= $(EXEC_PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
DESTDIR ?=

PKG_CONFIG ?= pkg-config
CC ?= cc
CFLAGS ?= -O2 -g
WARN = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith \
       -Wcast-qual -Wwrite-strings -Wformat=2 -Wvla -Wsign-compare
override CFLAGS += -std=gnu11 $(WARN) -fvisibility=hidden
DEPFLAGS = -MMD -MP
override CPPFLAGS += -D_GNU_SOURCE -Iipc -Idaemon -Idrivers -Itests

ifeq ($(WERROR),1)
override CFLAGS += -Werror
endif

comma := ,
SAN_NAME := $(firstword $(subst $(comma), ,$(SANITIZE)))
ifneq ($(SANITIZE),)
override CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer
override LDFLAGS += -fsanitize=$(SANITIZE)
O ?= build-$(SAN_NAME)
else
O ?= build
endif

# libtwitch: the ABI version is the SONAME's number.
LIBTWITCH_MAJOR = 1
LIBTWITCH_VERSION = 1.0.0
LIBTWITCH_SO = libtwitch.so.$(LIBTWITCH_VERSION)
LIBTWITCH_SONAME = libtwitch.so.$(LIBTWITCH_MAJOR)

# pkg-config is asked lazily, after `deps` made sure the packages exist.
pc_cflags = $(shell $(PKG_CONFIG) --cflags $(1) 2>/dev/null)
pc_libs = $(shell $(PKG_CONFIG) --libs $(1) 2>/dev/null)

# ---------------------------------------------------------------- sources
IPC_CORE_SRCS = ipc/ring.c ipc/record.c
LIBTWITCH_SRCS = ipc/libtwitch.c $(IPC_CORE_SRCS)
PUBLISH_SRCS = daemon/publish.c daemon/control.c

# Tests: tests/NAME.c plus the sources in NAME_SRCS, linked with NAME_LIBS.
# Each test is one program; exit 77 means skipped (needs hardware only).
TESTS = test-ring test-record test-control test-libtwitch \
	test-bioz test-sweepcsv test-recording test-subject

test-ring_SRCS = $(IPC_CORE_SRCS) daemon/publish.c
test-ring_LIBS = -lpthread
test-record_SRCS = $(IPC_CORE_SRCS)
test-control_SRCS = $(IPC_CORE_SRCS) $(PUBLISH_SRCS)
test-libtwitch_SRCS = $(LIBTWITCH_SRCS) daemon/publish.c daemon/control.c tests/testpub.c
test-libtwitch_LIBS = -lpthread

# These include the module's .c to reach its statics (chrony's habit).
test-bioz_LIBS = -lm
test-sweepcsv_LIBS = -lm
test-recording_LIBS = -lm
test-subject_LIBS = -lm

# Tests that also run under ThreadSanitizer (make check-tsan).
TSAN_TESTS = test-ring test-libtwitch

BENCHES = bench-ring
bench-ring_SRCS = $(LIBTWITCH_SRCS) $(PUBLISH_SRCS) tests/testpub.c
bench-ring_LIBS = $(call pc_libs,libzmq) -lpthread -lm

# ---------------------------------------------------------------- Debian packages
# Everything the build, tests, benchmarks and demo use, by Debian 12 name.
DEB_PACKAGES = gcc make pkg-config libc6-dev \
	libiio-dev liburing-dev libsystemd-dev libcmocka-dev libinih-dev \
	libgsl-dev libedf-dev libncurses-dev libmosquitto-dev libzmq3-dev \
	umockdev libumockdev-dev libiio-utils iiod mosquitto mosquitto-clients \
	systemd tmux python3 python3-numpy python3-scipy

# ---------------------------------------------------------------- targets
.DEFAULT_GOAL := all
.DELETE_ON_ERROR:
.SECONDEXPANSION:
.PHONY: all deps lib check check-tsan asan bench demo install uninstall clean \
	check-headers $(addprefix run-,$(TESTS)) $(BENCHES)

all: lib

lib: $(O)/$(LIBTWITCH_SO) $(O)/$(LIBTWITCH_SONAME) $(O)/libtwitch.so $(O)/libtwitch.a \
	$(O)/twitch.pc

# The one place that knows which packages are missing. As root it installs
# them (one apt-get update, then the exact list); otherwise it prints the one
# command that would, and stops.
deps:
	@missing=""; \
	for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' \
			|| missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "deps: installing missing Debian packages:$$missing"; \
			export DEBIAN_FRONTEND=noninteractive; \
			apt-get update -q && apt-get install -y -q --no-install-recommends $$missing \
				|| { echo "deps: apt-get failed; install by hand:$$missing" >&2; exit 1; }; \
		else \
			echo "deps: missing Debian packages:$$missing" >&2; \
			echo "deps: run:  sudo apt-get install -y$$missing" >&2; \
			exit 1; \
		fi; \
	fi

# ---- objects
$(O)/%.o: %.c | deps
	@mkdir -p $(@D)
	$(CC) $(DEPFLAGS) $(CPPFLAGS) $(CFLAGS) $($(<:.c=)_CFLAGS) -c -o $@ $<

$(O)/pic/%.o: %.c | deps
	@mkdir -p $(@D)
	$(CC) $(DEPFLAGS) $(CPPFLAGS) $(CFLAGS) -fPIC -c -o $@ $<

# ---- libtwitch
LIBTWITCH_PIC_OBJS = $(patsubst %.c,$(O)/pic/%.o,$(LIBTWITCH_SRCS))
LIBTWITCH_OBJS = $(patsubst %.c,$(O)/%.o,$(LIBTWITCH_SRCS))

$(O)/$(LIBTWITCH_SO): $(LIBTWITCH_PIC_OBJS) ipc/libtwitch.map
	$(CC) $(CFLAGS) $(LDFLAGS) -shared -fPIC -Wl,-soname,$(LIBTWITCH_SONAME) \
		-Wl,--version-script=ipc/libtwitch.map -Wl,--no-undefined -o $@ \
		$(LIBTWITCH_PIC_OBJS)

$(O)/$(LIBTWITCH_SONAME) $(O)/libtwitch.so: $(O)/$(LIBTWITCH_SO)
	ln -sf $(LIBTWITCH_SO) $@

$(O)/libtwitch.a: $(LIBTWITCH_OBJS)
	rm -f $@
	$(AR) rcs $@ $^

$(O)/twitch.pc: ipc/twitch.pc.in Makefile
	@mkdir -p $(@D)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(LIBTWITCH_VERSION)|' $< > $@

# ---- tests and benchmarks
# (a function, because a literal % in a static pattern rule means the stem)
src2obj = $(patsubst %.c,$(O)/%.o,$(1))
TEST_BINS = $(addprefix $(O)/tests/,$(TESTS))
BENCH_BINS = $(addprefix $(O)/tests/bench/,$(BENCHES))

$(TEST_BINS): $(O)/tests/%: $(O)/tests/%.o $$(call src2obj,$$($$*_SRCS))
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $($*_LIBS) $(call pc_libs,cmocka)

$(BENCH_BINS): $(O)/tests/bench/%: $(O)/tests/bench/%.o $$(call src2obj,$$($$*_SRCS))
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $($*_LIBS)

# Run every test; print one summary line that CI reads ("N passed, N failed").
check: all $(TEST_BINS)
	@pass=0; fail=0; skip=0; failed=""; \
	for t in $(TESTS); do \
		echo "== $$t"; \
		TWITCH_BUILD=$(O) TWITCH_SHARED=$(CURDIR)/../shared \
			$(O)/tests/$$t; rc=$$?; \
		if [ $$rc = 0 ]; then pass=$$((pass+1)); \
		elif [ $$rc = 77 ]; then skip=$$((skip+1)); echo "$$t: skipped"; \
		else fail=$$((fail+1)); failed="$$failed $$t"; echo "$$t: FAILED (exit $$rc)"; fi; \
	done; \
	[ -z "$$failed" ] || echo "failed tests:$$failed"; \
	echo "check: $$pass passed, $$fail failed, $$skip skipped"; \
	[ $$fail = 0 ]

check-tsan:
	$(MAKE) SANITIZE=thread TESTS="$(TSAN_TESTS)" check

asan:
	$(MAKE) SANITIZE=address,undefined check

# Each public header compiles on its own.
check-headers: | deps
	@for h in ipc/twitch.h; do \
		echo "#include \"$$h\"" | $(CC) $(CPPFLAGS) -std=c99 -Wall -Wextra -Werror -x c -c -o /dev/null - || exit 1; \
		echo "#include \"$$h\"" | $(CC) $(CPPFLAGS) -Wall -Wextra -Werror -x c++ -c -o /dev/null - || exit 1; \
	done; echo "check-headers: ok"

bench: $(BENCHES)

$(BENCHES): bench-%: $(O)/tests/bench/bench-%
	$(O)/tests/bench/bench-$*

demo: all
	@echo "demo: twitchd is not built yet: the device layer (issue 3) has not landed."
	@echo "demo: what works today is libtwitch and its rings: run 'make check' and 'make bench-ring'."

# ---- install
install: all
	install -D -m 0755 $(O)/$(LIBTWITCH_SO) $(DESTDIR)$(LIBDIR)/$(LIBTWITCH_SO)
	ln -sf $(LIBTWITCH_SO) $(DESTDIR)$(LIBDIR)/$(LIBTWITCH_SONAME)
	ln -sf $(LIBTWITCH_SONAME) $(DESTDIR)$(LIBDIR)/libtwitch.so
	install -D -m 0644 $(O)/libtwitch.a $(DESTDIR)$(LIBDIR)/libtwitch.a
	install -D -m 0644 ipc/twitch.h $(DESTDIR)$(INCLUDEDIR)/twitch.h
	install -D -m 0644 $(O)/twitch.pc $(DESTDIR)$(PKGCONFIGDIR)/twitch.pc

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/$(LIBTWITCH_SO) $(DESTDIR)$(LIBDIR)/$(LIBTWITCH_SONAME) \
	      $(DESTDIR)$(LIBDIR)/libtwitch.so $(DESTDIR)$(LIBDIR)/libtwitch.a \
	      $(DESTDIR)$(INCLUDEDIR)/twitch.h $(DESTDIR)$(PKGCONFIGDIR)/twitch.pc

clean:
	rm -rf build build-*

-include $(shell find $(O) -name '*.d' 2>/dev/null)
