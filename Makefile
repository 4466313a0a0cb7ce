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
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
DOCDIR ?= $(DATADIR)/doc/twitchd
# twitchd reads /etc/twitchd/twitchd.conf whatever the prefix
SYSCONFDIR ?= /etc
# systemd, sysusers, tmpfiles and udev also search these under /usr/local/lib
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
UDEVRULESDIR ?= $(PREFIX)/lib/udev/rules.d
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
LIBTWITCH_VERSION = 1.3.0
LIBTWITCH_SO = libtwitch.so.$(LIBTWITCH_VERSION)
LIBTWITCH_SONAME = libtwitch.so.$(LIBTWITCH_MAJOR)

# objects of sources (a function: a literal % in a static pattern rule means the stem)
src2obj = $(patsubst %.c,$(O)/%.o,$(1))

# pkg-config is asked lazily, after `deps` made sure the packages exist.
pc_cflags = $(shell $(PKG_CONFIG) --cflags $(1) 2>/dev/null)
pc_libs = $(shell $(PKG_CONFIG) --libs $(1) 2>/dev/null)

# ---------------------------------------------------------------- sources
IPC_CORE_SRCS = ipc/ring.c ipc/record.c
LIBTWITCH_SRCS = ipc/libtwitch.c $(IPC_CORE_SRCS)
PUBLISH_SRCS = daemon/publish.c daemon/control.c

# twitchd
TWITCHD_SRCS = daemon/main.c daemon/loop.c daemon/acquire.c daemon/calstore.c daemon/config.c \
	daemon/inifile.c daemon/log.c \
	daemon/analyze.c $(MATH_SRCS) drivers/recording.c \
	$(PUBLISH_SRCS) $(IPC_CORE_SRCS) $(DRIVERS_SRCS)
MATH_SRCS = daemon/dsp.c daemon/dsp-lanes.c daemon/detect.c daemon/detect-tiles.c \
	daemon/pipeline.c daemon/bioz.c daemon/biozlive.c daemon/sweepcsv.c
TWITCHD_LIBS = $(call pc_libs,liburing libsystemd inih) $(DRIVERS_LIBS) -lm
DRIVERS_SRCS = drivers/profile.c drivers/ads1298.c drivers/ads131e08.c drivers/ad5933.c \
	drivers/generic.c drivers/scan.c drivers/sysfs.c
DRIVERS_LIBS = $(call pc_libs,libiio) -lpthread

# the device simulator (drivers/devsim): umockdev + the synthetic subject
DEVSIM_SRCS = $(wildcard drivers/devsim/*.c) drivers/subject.c drivers/recording.c drivers/scan.c
DEVSIM_LIBS = $(call pc_libs,umockdev-1.0 gio-2.0) -lm -lpthread

# clients link only libtwitch (+ their own library)
CLIENTS = twitchctl twitch-top twitch-record twitch-mqtt
twitch-top_SRCS = clients/top-events.c
twitch-top_LIBS = $(call pc_libs,ncursesw) -lm
twitch-record_LIBS = -ledf -lm
# more than one file: clients/NAME.c plus NAME_SRCS
twitch-mqtt_SRCS = clients/mqtt-config.c clients/mqtt-feed.c clients/mqtt-net.c daemon/inifile.c \
	clients/mqtt-spool.c
twitch-mqtt_LIBS = $(call pc_libs,libmosquitto inih libsystemd) -lpthread

# Tests: tests/NAME.c plus the sources in NAME_SRCS, linked with NAME_LIBS.
# Each test is one program; exit 77 means skipped (needs hardware only).
TESTS = test-ring test-record test-control test-libtwitch \
	test-bioz test-sweepcsv test-recording test-subject test-dsp test-detect \
	test-scan test-profile test-daemon test-analyze test-spool test-mqtt test-calstore \
	test-top-events
# Shell tests, run after the programs (they use the built binaries).
SHELL_TESTS = tests/devsim/test-tools.sh tests/test-analyze.sh \
	tests/test-systemd.sh tests/test-install.sh tests/test-top.sh tests/test-record-edf.sh \
	tests/test-fuzz-replay.sh

test-ring_SRCS = $(IPC_CORE_SRCS) daemon/publish.c
test-ring_LIBS = -lpthread
test-record_SRCS = $(IPC_CORE_SRCS)
test-top-events_SRCS = clients/top-events.c
test-control_SRCS = $(IPC_CORE_SRCS) $(PUBLISH_SRCS)
test-libtwitch_SRCS = $(LIBTWITCH_SRCS) daemon/publish.c daemon/control.c tests/testpub.c
test-libtwitch_LIBS = -lpthread
test-mqtt_SRCS = $(LIBTWITCH_SRCS) daemon/publish.c daemon/control.c tests/testpub.c \
	tests/mqttenv.c
test-mqtt_LIBS = $(call pc_libs,libmosquitto) -lpthread

# These include the module's .c to reach its statics (chrony's habit).
test-bioz_SRCS = ipc/record.c
test-bioz_LIBS = -lm
test-sweepcsv_LIBS = -lm
test-recording_LIBS = -lm
test-subject_LIBS = -lm
test-dsp_LIBS = -lm
test-scan_LIBS = -lm
test-profile_SRCS = $(DRIVERS_SRCS)
test-profile_LIBS = $(DRIVERS_LIBS) -lm
test-daemon_SRCS = $(LIBTWITCH_SRCS) tests/devsimenv.c
test-analyze_SRCS = $(filter-out daemon/analyze.c,$(MATH_SRCS)) drivers/recording.c ipc/record.c
test-analyze_LIBS = -lm
test-detect_SRCS = daemon/dsp.c daemon/dsp-lanes.c
test-calstore_SRCS = daemon/bioz.c daemon/sweepcsv.c ipc/record.c
test-calstore_LIBS = -lm
test-detect_LIBS = -lm

# Tests that also run under ThreadSanitizer (make check-tsan).
TSAN_TESTS = test-ring test-libtwitch

BENCHES = bench-ring bench-acquire bench-mqtt bench-bioz bench-detect
bench-detect_SRCS = daemon/dsp.c daemon/dsp-lanes.c daemon/detect.c daemon/detect-tiles.c \
	daemon/pipeline.c drivers/subject.c drivers/recording.c
bench-detect_LIBS = -lm
bench-bioz_SRCS = daemon/bioz.c tests/bench/bioz-live.c tests/devsimenv.c $(LIBTWITCH_SRCS)
bench-bioz_LIBS = -lm
bench-mqtt_SRCS = $(LIBTWITCH_SRCS) $(PUBLISH_SRCS) tests/testpub.c tests/mqttenv.c
bench-mqtt_LIBS = $(call pc_libs,libmosquitto) -lpthread -lm
bench-acquire_SRCS = $(LIBTWITCH_SRCS) tests/devsimenv.c
bench-ring_SRCS = $(LIBTWITCH_SRCS) $(PUBLISH_SRCS)
bench-ring_LIBS = $(call pc_libs,libzmq) -lpthread -lm

# ---------------------------------------------------------------- Debian packages
# Everything the build, tests, benchmarks and demo use, by Debian 12 name.
DEB_PACKAGES = gcc make pkg-config libc6-dev \
	libiio-dev liburing-dev libsystemd-dev libcmocka-dev libinih-dev \
	libgsl-dev libedf-dev libncurses-dev libmosquitto-dev libzmq3-dev \
	umockdev libumockdev-dev libiio-utils iiod mosquitto mosquitto-clients \
	systemd udev man-db groff-base tmux locales python3 python3-numpy python3-scipy \
	python3-mne biosig-tools

# ---------------------------------------------------------------- targets
.DEFAULT_GOAL := all
.DELETE_ON_ERROR:
.SECONDEXPANSION:
.PHONY: replay-update all deps lib check check-tsan asan bench demo install uninstall clean \
	check-headers $(addprefix run-,$(TESTS)) $(BENCHES)

all: lib $(O)/twitchd $(O)/twitch-devsim $(addprefix $(O)/,$(CLIENTS))

$(O)/twitchd: $(call src2obj,$(TWITCHD_SRCS))
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(TWITCHD_LIBS)

$(call src2obj,$(wildcard drivers/devsim/*.c)): override CPPFLAGS += $(call pc_cflags,umockdev-1.0)
$(O)/twitch-devsim: $(call src2obj,$(DEVSIM_SRCS))
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(DEVSIM_LIBS)

$(addprefix $(O)/,$(CLIENTS)): $(O)/%: $(O)/clients/%.o $$(call src2obj,$$($$*_SRCS)) \
		$(O)/libtwitch.so
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(filter %.o,$^) -L$(O) -ltwitch $($*_LIBS)

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
			echo "deps: run:  sudo sh -c 'apt-get update && apt-get install -y$$missing'" >&2; \
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

# twitch.pc names the install paths: `make install` writes it again with
# the PREFIX it is given (the build may have used another).
PC_SED = sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(LIBTWITCH_VERSION)|'

$(O)/twitch.pc: ipc/twitch.pc.in Makefile
	@mkdir -p $(@D)
	$(PC_SED) $< > $@

# ---- tests and benchmarks
TEST_BINS = $(addprefix $(O)/tests/,$(TESTS))
BENCH_BINS = $(addprefix $(O)/tests/bench/,$(BENCHES))

$(TEST_BINS): $(O)/tests/%: $(O)/tests/%.o $$(call src2obj,$$($$*_SRCS))
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $($*_LIBS) $(call pc_libs,cmocka)

$(BENCH_BINS): $(O)/tests/bench/%: $(O)/tests/bench/%.o $$(call src2obj,$$($$*_SRCS))
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $($*_LIBS)

# Run every test; print one summary line that CI reads ("N passed, N failed").
# Tests under a umockdev testbed preload its library ahead of ASan's runtime.
check: all $(TEST_BINS)
	@pass=0; fail=0; skip=0; failed=""; \
	export TWITCH_BUILD=$(O) TWITCH_SHARED=$(CURDIR)/../shared \
		TWITCH_DEVSIM=$(CURDIR)/$(O)/twitch-devsim LD_LIBRARY_PATH=$(CURDIR)/$(O) \
		TWITCH_SANITIZE=$(SANITIZE) \
		ASAN_OPTIONS=verify_asan_link_order=0; \
	for t in $(addprefix $(O)/tests/,$(TESTS)) $(SHELL_TESTS); do \
		echo "== $$t"; \
		$$t; rc=$$?; \
		if [ $$rc = 0 ]; then pass=$$((pass+1)); \
		elif [ $$rc = 77 ]; then skip=$$((skip+1)); echo "$$t: skipped"; \
		else fail=$$((fail+1)); failed="$$failed $$t"; echo "$$t: FAILED (exit $$rc)"; fi; \
	done; \
	[ -z "$$failed" ] || echo "failed tests:$$failed"; \
	echo "check: $$pass passed, $$fail failed, $$skip skipped"; \
	[ $$fail = 0 ]

# Rebuild the expected outputs of the regression replays (tests/replay/);
# explain any change to them in its commit.
replay-update: $(O)/twitchd
	TWITCH_SHARED=$(CURDIR)/../shared ANALYZE="$(CURDIR)/$(O)/twitchd --analyze" \
		tests/replay/update.sh

check-tsan:
	$(MAKE) SANITIZE=thread TESTS="$(TSAN_TESTS)" SHELL_TESTS= check

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

# they run twitchd, twitch-devsim, twitch-mqtt and twitchctl from $(O)
bench-acquire bench-mqtt bench-bioz: all

# The simulated cart: twitch-devsim plays an ADS1298 (8 ch, 4 kHz) and an
# AD5933 under umockdev, twitchd reads them through the real libiio/sysfs
# path, and twitchctl shows the live records. Ctrl-C or DEMO_SECONDS ends it.
DEMO_SECONDS ?= 0
demo: all
	@dir=$$(mktemp -d /tmp/twitch-demo-XXXXXX); \
	echo "demo: simulated ADS1298 (8 ch, 4 kHz) + AD5933 under umockdev; twitchd's log"; \
	echo "demo: and twitchctl's live records follow. Ctrl-C stops (or DEMO_SECONDS=N)."; \
	LD_LIBRARY_PATH=$(CURDIR)/$(O) TWITCH_SOCKET=$$dir/control.sock STATE_DIRECTORY=$$dir \
	$(O)/twitch-devsim -d ads1298:rate=4000,mup_per_min=120 -d ad5933:load=resistor,r=1000 -- sh -c ' \
		$(O)/twitchd -c $(CURDIR)/systemd/twitchd.conf --socket $$TWITCH_SOCKET & d=$$!; \
		trap "kill $$d 2>/dev/null; wait $$d" EXIT INT TERM; \
		for i in 1 2 3 4 5 6 7 8 9 10; do $(O)/twitchctl ping >/dev/null 2>&1 && break; sleep 0.2; done; \
		$(O)/twitchctl calibrate 1000 && \
		for i in $$(seq 50); do $(O)/twitchctl calibration | grep -q "calibrated over" && break; sleep 0.2; done && \
		$(O)/twitch-devsim --ctl $$DEVSIM_CONTROL load iio:device1 body >/dev/null && \
		$(O)/twitchctl subject height_cm=175,weight_kg=70,sex=m,age=40 && \
		$(O)/twitchctl temperature 36.8; \
		$(O)/twitchctl status; \
		if [ "$(DEMO_SECONDS)" -gt 0 ]; then \
			timeout -s INT $(DEMO_SECONDS) $(O)/twitchctl tail -f -n all; \
		else \
			$(O)/twitchctl tail -f -n all; \
		fi; true'; \
	rc=$$?; rm -rf $$dir; exit $$rc

# ---- install
# Everything below DESTDIR, by explicit list; `make uninstall` removes the
# same list. An existing $(SYSCONFDIR)/twitchd/twitchd.conf (or
# twitch-mqtt.conf) is never overwritten, and removed only while it is
# still the shipped example. twitch-mqtt.conf may hold a password: 0600.
ETC_CONF = $(DESTDIR)$(SYSCONFDIR)/twitchd/twitchd.conf
# twitchd reads /etc/twitchd/twitchd.conf by default: elsewhere, the unit says where
TWITCHD_CONF_ARG = $(if $(filter /etc,$(SYSCONFDIR)),, -c $(SYSCONFDIR)/twitchd/twitchd.conf)
ETC_MQTT_CONF = $(DESTDIR)$(SYSCONFDIR)/twitchd/twitch-mqtt.conf

install: all
	install -D -m 0755 $(O)/twitchd $(DESTDIR)$(SBINDIR)/twitchd
	install -D -m 0755 $(addprefix $(O)/,$(CLIENTS)) -t $(DESTDIR)$(BINDIR)
	install -D -m 0755 $(O)/$(LIBTWITCH_SO) $(DESTDIR)$(LIBDIR)/$(LIBTWITCH_SO)
	ln -sf $(LIBTWITCH_SO) $(DESTDIR)$(LIBDIR)/$(LIBTWITCH_SONAME)
	ln -sf $(LIBTWITCH_SONAME) $(DESTDIR)$(LIBDIR)/libtwitch.so
	install -D -m 0644 $(O)/libtwitch.a $(DESTDIR)$(LIBDIR)/libtwitch.a
	install -D -m 0644 ipc/twitch.h $(DESTDIR)$(INCLUDEDIR)/twitch.h
	install -d -m 0755 $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(SYSTEMDUNITDIR)
	$(PC_SED) ipc/twitch.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/twitch.pc
	chmod 0644 $(DESTDIR)$(PKGCONFIGDIR)/twitch.pc
	sed 's|^ExecStart=/usr/sbin/twitchd|ExecStart=$(SBINDIR)/twitchd$(TWITCHD_CONF_ARG)|' \
		systemd/twitchd.service > $(DESTDIR)$(SYSTEMDUNITDIR)/twitchd.service
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/twitchd.service
	install -D -m 0644 systemd/twitchd.socket $(DESTDIR)$(SYSTEMDUNITDIR)/twitchd.socket
	sed 's|/usr/bin/twitch-record|$(BINDIR)/twitch-record|' systemd/twitch-record@.service \
		> $(DESTDIR)$(SYSTEMDUNITDIR)/twitch-record@.service
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/twitch-record@.service
	sed -e 's|/usr/bin/twitch-mqtt|$(BINDIR)/twitch-mqtt|' \
	    -e 's|/etc/twitchd/|$(SYSCONFDIR)/twitchd/|g' systemd/twitch-mqtt.service \
		> $(DESTDIR)$(SYSTEMDUNITDIR)/twitch-mqtt.service
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/twitch-mqtt.service
	install -D -m 0644 systemd/sysusers.d/twitchd.conf $(DESTDIR)$(SYSUSERSDIR)/twitchd.conf
	install -D -m 0644 systemd/sysusers.d/twitch-mqtt.conf \
		$(DESTDIR)$(SYSUSERSDIR)/twitch-mqtt.conf
	install -d -m 0755 $(DESTDIR)$(TMPFILESDIR)
	sed 's|/etc/twitchd|$(SYSCONFDIR)/twitchd|g' systemd/tmpfiles.d/twitchd.conf \
		> $(DESTDIR)$(TMPFILESDIR)/twitchd.conf
	chmod 0644 $(DESTDIR)$(TMPFILESDIR)/twitchd.conf
	install -D -m 0644 systemd/90-twitchd.rules $(DESTDIR)$(UDEVRULESDIR)/90-twitchd.rules
	install -D -m 0644 systemd/twitchd.conf $(DESTDIR)$(DOCDIR)/twitchd.conf.example
	@if [ -e $(ETC_CONF) ]; then \
		echo "install: keeping $(ETC_CONF); the new example is $(DOCDIR)/twitchd.conf.example"; \
	else \
		echo "install -D -m 0644 systemd/twitchd.conf $(ETC_CONF)"; \
		install -D -m 0644 systemd/twitchd.conf $(ETC_CONF); \
	fi
	install -D -m 0644 systemd/twitch-mqtt.conf $(DESTDIR)$(DOCDIR)/twitch-mqtt.conf.example
	@if [ -e $(ETC_MQTT_CONF) ]; then \
		echo "install: keeping $(ETC_MQTT_CONF); the new example is" \
			"$(DOCDIR)/twitch-mqtt.conf.example"; \
	else \
		echo "install -D -m 0600 systemd/twitch-mqtt.conf $(ETC_MQTT_CONF)"; \
		install -D -m 0600 systemd/twitch-mqtt.conf $(ETC_MQTT_CONF); \
	fi
	install -D -m 0644 clients/twitchctl.1 $(DESTDIR)$(MANDIR)/man1/twitchctl.1
	install -D -m 0644 clients/twitch-top.1 $(DESTDIR)$(MANDIR)/man1/twitch-top.1
	install -D -m 0644 clients/twitch-record.1 $(DESTDIR)$(MANDIR)/man1/twitch-record.1
	install -D -m 0644 clients/twitch-mqtt.1 $(DESTDIR)$(MANDIR)/man1/twitch-mqtt.1
	install -D -m 0644 ipc/libtwitch.3 $(DESTDIR)$(MANDIR)/man3/libtwitch.3
	install -D -m 0644 systemd/twitchd.conf.5 $(DESTDIR)$(MANDIR)/man5/twitchd.conf.5
	install -D -m 0644 systemd/twitch-mqtt.conf.5 $(DESTDIR)$(MANDIR)/man5/twitch-mqtt.conf.5
	install -D -m 0644 daemon/twitchd.8 $(DESTDIR)$(MANDIR)/man8/twitchd.8
	@# the library's directory (/usr/local/lib) is found through ld.so's cache
	@[ -n "$(DESTDIR)" ] || ! command -v ldconfig >/dev/null || ldconfig
	@[ -n "$(DESTDIR)" ] || echo "install: now run: systemd-sysusers; systemd-tmpfiles --create;" \
		"udevadm control --reload;" \
		"udevadm trigger --action=add --subsystem-match=iio (front ends already plugged in);" \
		"systemctl daemon-reload;" \
		"systemctl enable --now twitchd.socket twitchd.service;" \
		"for the MQTT bridge: edit $(SYSCONFDIR)/twitchd/twitch-mqtt.conf, then" \
		"systemctl enable --now twitch-mqtt.service"

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/twitchd $(addprefix $(DESTDIR)$(BINDIR)/,$(CLIENTS))
	rm -f $(DESTDIR)$(LIBDIR)/$(LIBTWITCH_SO) $(DESTDIR)$(LIBDIR)/$(LIBTWITCH_SONAME) \
	      $(DESTDIR)$(LIBDIR)/libtwitch.so $(DESTDIR)$(LIBDIR)/libtwitch.a \
	      $(DESTDIR)$(INCLUDEDIR)/twitch.h $(DESTDIR)$(PKGCONFIGDIR)/twitch.pc
	rm -f $(DESTDIR)$(SYSTEMDUNITDIR)/twitchd.service $(DESTDIR)$(SYSTEMDUNITDIR)/twitchd.socket \
	      $(DESTDIR)$(SYSTEMDUNITDIR)/twitch-record@.service \
	      $(DESTDIR)$(SYSTEMDUNITDIR)/twitch-mqtt.service \
	      $(DESTDIR)$(SYSUSERSDIR)/twitchd.conf $(DESTDIR)$(TMPFILESDIR)/twitchd.conf \
	      $(DESTDIR)$(SYSUSERSDIR)/twitch-mqtt.conf \
	      $(DESTDIR)$(UDEVRULESDIR)/90-twitchd.rules
	rm -f $(DESTDIR)$(MANDIR)/man1/twitchctl.1 $(DESTDIR)$(MANDIR)/man1/twitch-top.1 \
	      $(DESTDIR)$(MANDIR)/man1/twitch-record.1 $(DESTDIR)$(MANDIR)/man3/libtwitch.3 \
	      $(DESTDIR)$(MANDIR)/man5/twitchd.conf.5 $(DESTDIR)$(MANDIR)/man8/twitchd.8 \
	      $(DESTDIR)$(MANDIR)/man1/twitch-mqtt.1 $(DESTDIR)$(MANDIR)/man5/twitch-mqtt.conf.5
	@if [ -f $(ETC_MQTT_CONF) ] && ! cmp -s systemd/twitch-mqtt.conf $(ETC_MQTT_CONF); then \
		echo "uninstall: keeping $(ETC_MQTT_CONF): it differs from the shipped example"; \
	else \
		echo "rm -f $(ETC_MQTT_CONF)"; rm -f $(ETC_MQTT_CONF); \
	fi
	@if [ -f $(ETC_CONF) ] && ! cmp -s systemd/twitchd.conf $(ETC_CONF); then \
		echo "uninstall: keeping $(ETC_CONF): it differs from the shipped example"; \
	else \
		echo "rm -f $(ETC_CONF)"; rm -f $(ETC_CONF); \
		rmdir $(DESTDIR)$(SYSCONFDIR)/twitchd 2>/dev/null || true; \
	fi
	rm -f $(DESTDIR)$(DOCDIR)/twitchd.conf.example $(DESTDIR)$(DOCDIR)/twitch-mqtt.conf.example
	rmdir $(DESTDIR)$(DOCDIR) 2>/dev/null || true

clean:
	rm -rf build build-*

-include $(shell find $(O) -name '*.d' 2>/dev/null)
