#!/bin/sh
# SPDX-License-Identifier: MIT
# test-install.sh - `make install` into a DESTDIR, as a distribution package
# would, and `make uninstall` back out of it:
#  1. every file is where it belongs, with its mode; libtwitch's SONAME
#     links; the unit's ExecStart names the installed twitchd; twitch.pc
#     names the install prefix (not the one the build used);
#  2. tests/install-consumer.c builds with `pkg-config --cflags --libs
#     twitch` against the DESTDIR alone (PKG_CONFIG_SYSROOT_DIR/LIBDIR),
#     links libtwitch.so.1 from there, and passes its checks, also against
#     the installed twitchd running on the simulated devices;
#  3. the C example of libtwitch(3) builds the same way;
#  4. an existing /etc/twitchd/twitchd.conf (twitch-mqtt.conf) is neither
#     overwritten by install nor removed by uninstall; an untouched one is
#     removed; twitch-mqtt.conf, which may hold a password, is mode 0600;
#  5. `make uninstall` leaves no file (empty directories at most).
# Run from the project root: tests/test-install.sh (TWITCH_BUILD and
# TWITCH_DEVSIM as `make check` sets them). TWITCH_MAKEFILE picks another
# Makefile (default: Makefile).
set -u
here=$(dirname "$0")
. "$here/devsim/devsim.sh"

: "${TWITCH_MAKEFILE:=Makefile}"
: "${CC:=cc}"
fail=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/twitch-install.XXXXXX")
dest=$tmp/dest
daemon_pid=
cleanup() {
	[ -z "$daemon_pid" ] || { kill "$daemon_pid" 2>/dev/null; wait "$daemon_pid" 2>/dev/null; }
	devsim_stop
	rm -rf "$tmp"
}
trap cleanup EXIT

check() {	# check NAME COMMAND...: report, remember a failure
	_name=$1
	shift
	if "$@"; then
		echo "ok   $_name"
	else
		echo "FAIL $_name"
		fail=1
		return 1
	fi
}

mode_is() {	# mode_is MODE FILE: a regular file with this mode
	[ -f "$2" ] && [ ! -L "$2" ] && [ "$(stat -c %a "$2")" = "$1" ]
}

link_is() {	# link_is TARGET LINK
	[ -L "$2" ] && [ "$(readlink "$2")" = "$1" ]
}

for tool in pkg-config readelf cmp; do
	if ! command -v "$tool" >/dev/null; then
		echo "test-install.sh: $tool missing" >&2
		exit 1
	fi
done

# ------------------------------------------------------------ install
# The build may have been made with another PREFIX: install must not care.
if ! ${MAKE:-make} -s -f "$TWITCH_MAKEFILE" install DESTDIR="$dest" PREFIX=/usr \
		> "$tmp/install.log" 2>&1; then
	cat "$tmp/install.log"
	echo "FAIL make install"
	exit 1
fi
echo "ok   make install DESTDIR=... PREFIX=/usr"

# What must be there, with mode; nothing else may be.
cat > "$tmp/want" <<'EOF'
755 usr/sbin/twitchd
755 usr/bin/twitchctl
755 usr/bin/twitch-top
755 usr/bin/twitch-record
755 usr/bin/twitch-mqtt
755 usr/lib/libtwitch.so.1.3.0
644 usr/lib/libtwitch.a
644 usr/include/twitch.h
644 usr/lib/pkgconfig/twitch.pc
644 usr/lib/systemd/system/twitchd.service
644 usr/lib/systemd/system/twitchd.socket
644 usr/lib/systemd/system/twitch-record@.service
644 usr/lib/systemd/system/twitch-mqtt.service
644 usr/lib/sysusers.d/twitchd.conf
644 usr/lib/sysusers.d/twitch-mqtt.conf
644 usr/lib/tmpfiles.d/twitchd.conf
644 usr/lib/udev/rules.d/90-twitchd.rules
644 etc/twitchd/twitchd.conf
644 usr/share/doc/twitchd/twitchd.conf.example
600 etc/twitchd/twitch-mqtt.conf
644 usr/share/doc/twitchd/twitch-mqtt.conf.example
644 usr/share/man/man1/twitchctl.1
644 usr/share/man/man1/twitch-top.1
644 usr/share/man/man1/twitch-record.1
644 usr/share/man/man1/twitch-mqtt.1
644 usr/share/man/man3/libtwitch.3
644 usr/share/man/man5/twitchd.conf.5
644 usr/share/man/man5/twitch-mqtt.conf.5
644 usr/share/man/man8/twitchd.8
EOF
while read -r mode path; do
	check "installed $path, mode $mode" mode_is "$mode" "$dest/$path"
done < "$tmp/want"
check "libtwitch.so.1 -> libtwitch.so.1.3.0" \
	link_is libtwitch.so.1.3.0 "$dest/usr/lib/libtwitch.so.1"
check "libtwitch.so -> libtwitch.so.1" link_is libtwitch.so.1 "$dest/usr/lib/libtwitch.so"
(cd "$dest" && find . ! -type d | sed 's|^\./||' | sort) > "$tmp/have"
{ awk '{ print $2 }' "$tmp/want"; echo usr/lib/libtwitch.so.1; echo usr/lib/libtwitch.so; } \
	| sort > "$tmp/want.paths"
check "nothing else installed" cmp -s "$tmp/have" "$tmp/want.paths" ||
	diff "$tmp/want.paths" "$tmp/have"

check "SONAME is libtwitch.so.1" sh -c \
	"readelf -d '$dest/usr/lib/libtwitch.so.1.3.0' | grep -q 'SONAME.*\[libtwitch.so.1\]'"
check "the same files as the sources" sh -c "
	cmp -s ipc/twitch.h '$dest/usr/include/twitch.h' &&
	cmp -s systemd/twitchd.socket '$dest/usr/lib/systemd/system/twitchd.socket' &&
	cmp -s systemd/90-twitchd.rules '$dest/usr/lib/udev/rules.d/90-twitchd.rules' &&
	cmp -s systemd/twitchd.conf '$dest/etc/twitchd/twitchd.conf' &&
	cmp -s daemon/twitchd.8 '$dest/usr/share/man/man8/twitchd.8' &&
	cmp -s systemd/sysusers.d/twitch-mqtt.conf '$dest/usr/lib/sysusers.d/twitch-mqtt.conf' &&
	cmp -s systemd/twitch-mqtt.conf '$dest/etc/twitchd/twitch-mqtt.conf' &&
	cmp -s systemd/twitch-mqtt.conf '$dest/usr/share/doc/twitchd/twitch-mqtt.conf.example' &&
	cmp -s clients/twitch-mqtt.1 '$dest/usr/share/man/man1/twitch-mqtt.1' &&
	cmp -s systemd/twitch-mqtt.conf.5 '$dest/usr/share/man/man5/twitch-mqtt.conf.5'"
check "twitchd.service runs /usr/sbin/twitchd" \
	grep -qx 'ExecStart=/usr/sbin/twitchd' "$dest/usr/lib/systemd/system/twitchd.service"
check "twitch-mqtt.service runs /usr/bin/twitch-mqtt" grep -qx \
	'ExecStart=/usr/bin/twitch-mqtt -c %d/twitch-mqtt.conf' \
	"$dest/usr/lib/systemd/system/twitch-mqtt.service"
check "twitch-mqtt.service passes /etc/twitchd/twitch-mqtt.conf" grep -qx \
	'LoadCredential=twitch-mqtt.conf:/etc/twitchd/twitch-mqtt.conf' \
	"$dest/usr/lib/systemd/system/twitch-mqtt.service"
check "twitch.pc: prefix /usr" grep -qx 'prefix=/usr' "$dest/usr/lib/pkgconfig/twitch.pc"
check "twitch.pc: libdir /usr/lib" grep -qx 'libdir=/usr/lib' "$dest/usr/lib/pkgconfig/twitch.pc"
check "installed twitchd runs" sh -c "'$dest/usr/sbin/twitchd' --version | grep -q '^twitchd '"

# ------------------------------------------------------------ a consumer
# pkg-config sees only the DESTDIR, and prefixes its -I/-L with it.
pc() {
	PKG_CONFIG_SYSROOT_DIR="$dest" PKG_CONFIG_LIBDIR="$dest/usr/lib/pkgconfig" \
		PKG_CONFIG_PATH='' pkg-config "$@"
}
check "pkg-config --modversion twitch: 1.3.0" test "$(pc --modversion twitch)" = 1.3.0
flags=$(pc --cflags --libs twitch)
echo "     pkg-config --cflags --libs twitch: $flags"
check "pkg-config points into the DESTDIR" sh -c "
	echo '$flags' | grep -q -- '-I$dest/usr/include' &&
	echo '$flags' | grep -q -- '-L$dest/usr/lib'"

# Under `make asan` the installed library is instrumented: so is its user.
san=
[ -z "${SANITIZE:-}" ] || san="-fsanitize=$SANITIZE -fno-omit-frame-pointer"
cflags="-std=gnu11 -O2 -g -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wpointer-arith -Wcast-qual -Wwrite-strings -Wformat=2 -Wvla -Wsign-compare -Werror"
# shellcheck disable=SC2086 # flags are words
if $CC $cflags $san -o "$tmp/consumer" tests/install-consumer.c $flags 2> "$tmp/cc.log"; then
	echo "ok   install-consumer.c builds against the installed twitch.pc"
else
	cat "$tmp/cc.log"
	echo "FAIL install-consumer.c builds against the installed twitch.pc"
	exit 1
fi
check "consumer needs libtwitch.so.1" sh -c \
	"readelf -d '$tmp/consumer' | grep -q 'NEEDED.*\[libtwitch.so.1\]'"

# the man page's example program builds too (\e is a backslash in troff)
sed -n '/^\.SH EXAMPLES/,/^\.SH SEE ALSO/p' "$dest/usr/share/man/man3/libtwitch.3" |
	sed -n '/^\.EX/,/^\.EE/p' | sed -e '/^\.E[XE]/d' -e 's/\\-/-/g' -e 's/\\e/\\/g' \
	> "$tmp/example.c"
# shellcheck disable=SC2086
check "libtwitch(3) example builds against the installed twitch.pc" \
	$CC $cflags $san -o "$tmp/example" "$tmp/example.c" $flags

LD_LIBRARY_PATH="$dest/usr/lib" "$tmp/consumer" > "$tmp/consumer.out" 2>&1
rc=$?
sed 's/^/     | /' "$tmp/consumer.out"
check "install-consumer passes (no daemon)" test "$rc" -eq 0
check "consumer loaded the installed libtwitch.so.1" \
	grep -qx "libtwitch: $dest/usr/lib/libtwitch.so.1" "$tmp/consumer.out"
check "consumer: -ENOENT for a missing socket" \
	grep -q "connect to a missing socket: -2 " "$tmp/consumer.out"
check "consumer printed the type names" grep -qx "type 6: marker" "$tmp/consumer.out"
# the header's version macros are the library's: a client testing
# TWITCH_VERSION_MINOR must learn what this library has
abi=$(pc --modversion twitch | cut -d. -f1,2)
check "twitch.h's TWITCH_VERSION_MAJOR.MINOR is the library's $abi" \
	grep -qx "twitch.h ABI $abi" "$tmp/consumer.out"

# The installed twitchd on the simulated cart; the consumer and the
# installed twitchctl talk to it.
if devsim_start -d ads1298:rate=4000 -d ad5933; then
	sock=$tmp/control.sock
	# env, not a shell function: $! must be twitchd itself
	env LD_PRELOAD="$DEVSIM_PRELOAD" UMOCKDEV_DIR="$UMOCKDEV_DIR" \
		"$dest/usr/sbin/twitchd" -c "$dest/etc/twitchd/twitchd.conf" -s "$sock" \
		> "$tmp/twitchd.log" 2>&1 &
	daemon_pid=$!
	_i=0
	while [ ! -S "$sock" ] && [ "$_i" -lt 100 ] && kill -0 "$daemon_pid" 2>/dev/null; do
		sleep 0.05
		_i=$((_i + 1))
	done
	LD_LIBRARY_PATH="$dest/usr/lib" "$tmp/consumer" "$sock" > "$tmp/live.out" 2>&1
	rc=$?
	sed 's/^/     | /' "$tmp/live.out"
	check "install-consumer against the installed twitchd" test "$rc" -eq 0
	check "the shipped config drives the simulated cart" \
		grep -q "stream samples-emg" "$tmp/live.out"
	check "installed twitchctl ping" sh -c \
		"LD_LIBRARY_PATH='$dest/usr/lib' '$dest/usr/bin/twitchctl' -s '$sock' ping >/dev/null"
	kill "$daemon_pid"
	wait "$daemon_pid"
	rc=$?
	daemon_pid=
	check "installed twitchd stops with 0 on SIGTERM" test "$rc" -eq 0 ||
		cat "$tmp/twitchd.log"
	devsim_stop
else
	echo "FAIL twitch-devsim did not start"
	fail=1
fi

# ------------------------------------------------------------ the config is the admin's
mk() {	# mk TARGET LOG: make TARGET into the DESTDIR, quietly
	${MAKE:-make} -s -f "$TWITCH_MAKEFILE" "$1" DESTDIR="$dest" PREFIX=/usr > "$2" 2>&1
}
echo "; edited by the administrator" >> "$dest/etc/twitchd/twitchd.conf"
cp "$dest/etc/twitchd/twitchd.conf" "$tmp/edited.conf"
printf '[broker]\npassword = secret\n' >> "$dest/etc/twitchd/twitch-mqtt.conf"
cp "$dest/etc/twitchd/twitch-mqtt.conf" "$tmp/edited-mqtt.conf"
mk install "$tmp/install2.log"
check "install again: succeeds" test $? -eq 0
check "install again: the edited config is kept" \
	cmp -s "$tmp/edited.conf" "$dest/etc/twitchd/twitchd.conf"
check "install again: the edited twitch-mqtt.conf is kept, mode 0600" sh -c "
	cmp -s '$tmp/edited-mqtt.conf' '$dest/etc/twitchd/twitch-mqtt.conf' &&
	[ \$(stat -c %a '$dest/etc/twitchd/twitch-mqtt.conf') = 600 ]"
mk uninstall "$tmp/uninstall.log"
check "uninstall: succeeds" test $? -eq 0
check "uninstall: the edited config is kept" \
	cmp -s "$tmp/edited.conf" "$dest/etc/twitchd/twitchd.conf"
check "uninstall: the edited twitch-mqtt.conf is kept" \
	cmp -s "$tmp/edited-mqtt.conf" "$dest/etc/twitchd/twitch-mqtt.conf"
check "uninstall: they are the only files left" \
	test "$(cd "$dest" && find . ! -type d | sort | tr '\n' ' ')" = \
	"./etc/twitchd/twitch-mqtt.conf ./etc/twitchd/twitchd.conf "

# ------------------------------------------------------------ clean uninstall
rm -rf "$dest"
mk install "$tmp/install3.log" && mk uninstall "$tmp/uninstall2.log"
check "install, then uninstall: succeed" test $? -eq 0
left=$(cd "$dest" && find . ! -type d)
check "uninstall leaves no files" test -z "$left" || echo "$left"

# ------------------------------------------------------------ SYSCONFDIR
# twitchd reads /etc/twitchd/twitchd.conf by default: a configuration put
# elsewhere must be named by the unit, and made by tmpfiles there (the
# unit ran the built-in layout instead)
rm -rf "$dest"
${MAKE:-make} -s -f "$TWITCH_MAKEFILE" install DESTDIR="$dest" PREFIX=/opt/tw \
	SYSCONFDIR=/opt/tw/etc > "$tmp/install4.log" 2>&1
check "install SYSCONFDIR=/opt/tw/etc: succeeds" test $? -eq 0
check "twitchd.service names the config under SYSCONFDIR" grep -qx \
	'ExecStart=/opt/tw/sbin/twitchd -c /opt/tw/etc/twitchd/twitchd.conf' \
	"$dest/opt/tw/lib/systemd/system/twitchd.service"
check "tmpfiles makes SYSCONFDIR/twitchd" grep -q '^d *\/opt\/tw\/etc\/twitchd ' \
	"$(find "$dest" -path '*tmpfiles.d/twitchd.conf' | head -1)"
check "the config is installed under SYSCONFDIR" test -f "$dest/opt/tw/etc/twitchd/twitchd.conf"

exit $fail
