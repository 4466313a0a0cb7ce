#!/bin/sh
# SPDX-License-Identifier: MIT
# test-systemd.sh - the systemd side of twitchd, without a running systemd:
#  1. units: `systemd-analyze verify` is silent, `systemd-analyze security
#     --offline=true` rates twitchd.service at most 1.5 (twitch-mqtt.service,
#     which needs the network, at most 2.0), and the settings the deployment
#     relies on are there and agree with twitchd, libtwitch and the config
#     (socket path, group, io_uring in the syscall filter);
#  2. sysusers.d (twitchd, twitch-mqtt) and tmpfiles.d applied to an empty
#     root;
#  3. the udev rule under `udevadm test` on the simulated devices: the
#     supported front ends are tagged, given to twitchd and pull in
#     twitchd.service; a generic ADC is left alone;
#  4. the example configs: they parse, every key twitchd (twitch-mqtt)
#     knows is in them and in twitchd.conf(5) (twitch-mqtt.conf(5)), in its
#     section, each commented-out default parses when enabled;
#  5. man pages render without warnings and agree with the --help texts;
#  6. twitchd started as systemd starts it, on the simulated cart: an
#     inherited listening socket (LISTEN_FDS/LISTEN_PID), NOTIFY_SOCKET
#     captured (READY=1, WATCHDOG=1 at half of WATCHDOG_USEC, STOPPING=1
#     on SIGTERM), twitchctl through the inherited socket, all under the
#     unit's seccomp filter, address families, W^X and no capabilities,
#     reproduced with libseccomp; and without io_uring in the filter it
#     fails the way twitchd(8) says. Then once more through
#     systemd-socket-activate.
# Run from the project root with TWITCH_BUILD and TWITCH_DEVSIM set (as
# `make check` does). Needs root for the udev check (a private mount
# namespace) and the Debian packages systemd, udev, python3, man-db, groff.
set -u
here=$(dirname "$0")
. "$here/devsim/devsim.sh"

: "${TWITCH_BUILD:=build}"
PY=/usr/bin/python3
build=$(cd "$TWITCH_BUILD" && pwd)
twitchd=$build/twitchd
twitchctl=$build/twitchctl
fail=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/twitch-systemd.XXXXXX")
trap 'devsim_stop; rm -rf "$tmp"' EXIT

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

has_line() {	# has_line FILE LINE: LINE is in FILE, exactly
	grep -qxF -- "$2" "$1"
}

for tool in systemd-analyze systemd-sysusers systemd-tmpfiles udevadm man groff "$PY"; do
	if ! command -v "$tool" >/dev/null; then
		echo "test-systemd.sh: $tool missing (Debian packages systemd, udev, man-db," \
			"groff-base, python3)" >&2
		exit 1
	fi
done
mqtt=$build/twitch-mqtt
if [ ! -x "$twitchd" ] || [ ! -x "$twitchctl" ] || [ ! -x "$mqtt" ]; then
	echo "test-systemd.sh: build twitchd, twitchctl and twitch-mqtt first ($TWITCH_BUILD)" >&2
	exit 1
fi

# ------------------------------------------------------------ 1. units
# verify needs the ExecStart binary and the Documentation= man pages: a copy
# of the units that runs the built twitchd, and a man tree with our pages.
mkdir -p "$tmp/units" "$tmp/man/man1" "$tmp/man/man3" "$tmp/man/man5" "$tmp/man/man8"
sed "s|^ExecStart=/usr/sbin/twitchd$|ExecStart=$twitchd|" systemd/twitchd.service \
	> "$tmp/units/twitchd.service"
cp systemd/twitchd.socket "$tmp/units/"
cp clients/twitchctl.1 "$tmp/man/man1/"
cp ipc/libtwitch.3 "$tmp/man/man3/"
cp systemd/twitchd.conf.5 "$tmp/man/man5/"
cp daemon/twitchd.8 "$tmp/man/man8/"
check "the unit's ExecStart is /usr/sbin/twitchd (make install rewrites it)" \
	has_line systemd/twitchd.service "ExecStart=/usr/sbin/twitchd"

MANPATH=$tmp/man systemd-analyze verify "$tmp/units/twitchd.service" \
	"$tmp/units/twitchd.socket" > "$tmp/verify.out" 2>&1
rc=$?
sed 's/^/     | /' "$tmp/verify.out"
check "systemd-analyze verify: exit 0" test "$rc" -eq 0
check "systemd-analyze verify: no warnings" test ! -s "$tmp/verify.out"

systemd-analyze security --offline=true --no-pager "$tmp/units/twitchd.service" \
	> "$tmp/security.out" 2>&1
grep -v '^✓' "$tmp/security.out" | sed 's/^/     | /'
exposure=$(sed -n 's/^→ Overall exposure level for twitchd.service: \([0-9.]*\) .*/\1/p' \
	"$tmp/security.out")
echo "     exposure of twitchd.service: ${exposure:-unknown} (target <= 1.5)"
check "systemd-analyze security: exposure <= 1.5" \
	awk -v e="$exposure" 'BEGIN { exit !(e != "" && e + 0 <= 1.5) }'
# ProcSubset=pid hides /proc/sys/kernel/random/boot_id, which every ring
# header carries (it read as zeros under the unit)
check "twitchd.service leaves /proc/sys readable (the rings' boot id)" \
	sh -c "! grep -q '^ProcSubset=pid' systemd/twitchd.service"

# twitch-record@.service: one recording per instance
record=${TWITCH_BUILD}/twitch-record
case $record in /*) ;; *) record=$PWD/$record ;; esac
sed "s|/usr/bin/twitch-record|$record|" "systemd/twitch-record@.service" \
	> "$tmp/units/twitch-record@.service"
cp clients/twitch-record.1 "$tmp/man/man1/"
MANPATH=$tmp/man systemd-analyze verify "$tmp/units/twitch-record@bed3.service" \
	> "$tmp/verify-rec.out" 2>&1
rc=$?
sed 's/^/     | /' "$tmp/verify-rec.out"
check "systemd-analyze verify twitch-record@bed3: exit 0, silent" \
	test "$rc" -eq 0 -a ! -s "$tmp/verify-rec.out"
systemd-analyze security --offline=true --no-pager "$tmp/units/twitch-record@.service" \
	> "$tmp/security-rec.out" 2>&1
exposure=$(sed -n 's/^→ Overall exposure level for twitch-record@[a-z]*.service: \([0-9.]*\) .*/\1/p' \
	"$tmp/security-rec.out")
echo "     exposure of twitch-record@.service: ${exposure:-unknown} (target <= 1.5)"
check "systemd-analyze security twitch-record@: exposure <= 1.5" \
	awk -v e="$exposure" 'BEGIN { exit !(e != "" && e + 0 <= 1.5) }'

# twitch-mqtt.service: the MQTT bridge, with the network, next to twitchd's units
check "twitch-mqtt.service's ExecStart is /usr/bin/twitch-mqtt (make install rewrites it)" \
	has_line systemd/twitch-mqtt.service "ExecStart=/usr/bin/twitch-mqtt -c %d/twitch-mqtt.conf"
sed "s|/usr/bin/twitch-mqtt|$mqtt|" systemd/twitch-mqtt.service > "$tmp/units/twitch-mqtt.service"
cp clients/twitch-mqtt.1 "$tmp/man/man1/"
cp systemd/twitch-mqtt.conf.5 "$tmp/man/man5/"
MANPATH=$tmp/man systemd-analyze verify "$tmp/units/twitch-mqtt.service" \
	"$tmp/units/twitchd.service" "$tmp/units/twitchd.socket" > "$tmp/verify-mqtt.out" 2>&1
rc=$?
sed 's/^/     | /' "$tmp/verify-mqtt.out"
check "systemd-analyze verify twitch-mqtt.service: exit 0, silent" \
	test "$rc" -eq 0 -a ! -s "$tmp/verify-mqtt.out"
systemd-analyze security --offline=true --no-pager "$tmp/units/twitch-mqtt.service" \
	> "$tmp/security-mqtt.out" 2>&1
grep -v '^✓' "$tmp/security-mqtt.out" | sed 's/^/     | /'
exposure=$(sed -n 's/^→ Overall exposure level for twitch-mqtt.service: \([0-9.]*\) .*/\1/p' \
	"$tmp/security-mqtt.out")
echo "     exposure of twitch-mqtt.service: ${exposure:-unknown} (target <= 2.0)"
check "systemd-analyze security twitch-mqtt: exposure <= 2.0" \
	awk -v e="$exposure" 'BEGIN { exit !(e != "" && e + 0 <= 2.0) }'
for line in Type=notify NotifyAccess=main WatchdogSec=30s Restart=on-failure RestartSec=5s \
	RestartPreventExitStatus=2 User=twitch-mqtt Group=twitch-mqtt SupplementaryGroups=twitchd \
	StateDirectory=twitch-mqtt StateDirectoryMode=0700 UMask=0077 \
	LoadCredential=twitch-mqtt.conf:/etc/twitchd/twitch-mqtt.conf \
	ConditionPathExists=/etc/twitchd/twitch-mqtt.conf \
	"Wants=network-online.target twitchd.socket" \
	"After=network-online.target twitchd.service twitchd.socket" \
	"RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6" NoNewPrivileges=yes \
	CapabilityBoundingSet= ProtectSystem=strict ProtectHome=yes PrivateTmp=yes \
	PrivateDevices=yes MemoryDenyWriteExecute=yes SystemCallArchitectures=native \
	SystemCallFilter=@system-service "SystemCallFilter=~@privileged @resources" \
	WantedBy=multi-user.target; do
	check "twitch-mqtt.service: $line" has_line systemd/twitch-mqtt.service "$line"
done
check "twitch-mqtt.service: AF_INET and AF_INET6 allowed" \
	grep -qE '^RestrictAddressFamilies=.*AF_INET( |$).*AF_INET6' systemd/twitch-mqtt.service
check "twitch-mqtt.service: the network is not taken away" sh -c \
	"! grep -qE '^(PrivateNetwork=yes|IPAddressDeny=)' systemd/twitch-mqtt.service"
check "twitch-mqtt.service: the config it passes is twitch-mqtt's default" \
	grep -qE '^#define MQTT_CONFIG_DEFAULT[[:space:]]+"/etc/twitchd/twitch-mqtt.conf"$' \
	clients/mqtt-config.h
check "twitch-mqtt.service: its StateDirectory= is twitch-mqtt's default spool" \
	grep -qE '^#define MQTT_SPOOL_DEFAULT[[:space:]]+"/var/lib/twitch-mqtt"$' \
	clients/mqtt-config.h
# the default sync_ms (watchdog ping) well inside WatchdogSec=30s
check "twitch-mqtt: default sync_ms (1000) is well below WatchdogSec=30s" \
	grep -qE '^[[:space:]]+c->sync_ms = 1000;$' clients/mqtt-config.c

for line in Type=notify NotifyAccess=main WatchdogSec=10s Restart=on-failure \
	RestartPreventExitStatus=2 User=twitchd Group=twitchd RuntimeDirectory=twitchd \
	RuntimeDirectoryPreserve=yes StateDirectory=twitchd "DeviceAllow=char-iio rw" \
	DevicePolicy=closed ProtectSystem=strict ProtectHome=yes PrivateTmp=yes \
	PrivateNetwork=yes RestrictAddressFamilies=AF_UNIX NoNewPrivileges=yes \
	CapabilityBoundingSet= MemoryDenyWriteExecute=yes SystemCallArchitectures=native \
	ProtectKernelTunables=yes ProtectKernelModules=yes ProtectKernelLogs=yes \
	LockPersonality=yes RestrictRealtime=yes RestrictSUIDSGID=yes UMask=0077 \
	"SystemCallFilter=@system-service io_uring_setup io_uring_enter io_uring_register" \
	Requires=twitchd.socket After=twitchd.socket; do
	check "twitchd.service: $line" has_line systemd/twitchd.service "$line"
done
for line in ListenSequentialPacket=/run/twitchd/control.sock SocketMode=0660 \
	SocketGroup=twitchd Service=twitchd.service WantedBy=sockets.target; do
	check "twitchd.socket: $line" has_line systemd/twitchd.socket "$line"
done
# one socket path and one group everywhere
check "twitchd's default socket is the unit's" sh -c \
	"'$twitchd' --check-config -c systemd/twitchd.conf |
	 grep -q 'socket /run/twitchd/control.sock\$'"
check "libtwitch's default socket is the unit's" \
	grep -q '^#define TWITCH_SOCKET_DEFAULT "/run/twitchd/control.sock"$' ipc/twitch.h
check "config default socket_group is the socket's group" \
	grep -q '^;socket_group = twitchd$' systemd/twitchd.conf

# ------------------------------------------------------------ the helper
# One Python helper (standard library and libseccomp through ctypes) does
# what systemd does at start: the syscall filter of the unit, expanded from
# `systemd-analyze syscall-filter`; the inherited socket; the notify socket.
cat > "$tmp/helper.py" <<'PYEOF'
import ctypes, errno, os, select, signal, socket, subprocess, sys, time

def groups():
	"""{'@name': [members]} from systemd-analyze (this machine's systemd)."""
	out = subprocess.run(["systemd-analyze", "syscall-filter", "--no-pager"],
			     capture_output=True, text=True, check=True).stdout
	g, cur = {}, None
	for line in out.splitlines():
		if line.startswith("@"):
			cur = line.split()[0]
			g[cur] = []
		elif cur and line.strip() and not line.strip().startswith("#"):
			g[cur].append(line.split()[0])
	return g

def expand(g, names, seen=None):
	seen = set() if seen is None else seen
	out = set()
	for n in names:
		if n.startswith("@"):
			if n not in seen:
				seen.add(n)
				out |= expand(g, g[n], seen)
		else:
			out.add(n)
	return out

def unit_filter(path):
	"""The allow set the unit's SystemCallFilter= lines give (in order)."""
	g = groups()
	allow = None
	for line in open(path):
		line = line.strip()
		if not line.startswith("SystemCallFilter="):
			continue
		v = line.split("=", 1)[1]
		deny = v.startswith("~")
		names = expand(g, v.lstrip("~").split())
		if allow is None:
			assert not deny, "the first SystemCallFilter= must be an allow list"
			allow = names
		elif deny:
			allow -= names
		else:
			allow |= names
	return allow

SCMP_ACT_ALLOW = 0x7fff0000
def SCMP_ACT_ERRNO(e):
	return 0x00050000 | (e & 0xffff)
SCMP_CMP_NE, SCMP_CMP_MASKED_EQ = 1, 7

class ArgCmp(ctypes.Structure):
	_fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int),
		    ("datum_a", ctypes.c_uint64), ("datum_b", ctypes.c_uint64)]

def seccomp_lib():
	lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
	lib.seccomp_init.restype = ctypes.c_void_p
	lib.seccomp_init.argtypes = [ctypes.c_uint32]
	lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
	lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
					       ctypes.c_uint, ctypes.POINTER(ArgCmp)]
	lib.seccomp_load.argtypes = [ctypes.c_void_p]
	return lib

def rule(lib, ctx, action, name, cmps=()):
	nr = lib.seccomp_syscall_resolve_name(name.encode())
	if nr < 0:
		return False	# not a system call of this architecture
	arr = (ArgCmp * max(1, len(cmps)))(*cmps)
	r = lib.seccomp_rule_add_array(ctx, action, nr, len(cmps), arr)
	if r < 0:
		raise OSError(-r, "seccomp_rule_add " + name)
	return True

def build_filters(allow):
	"""As systemd does: the allow list (EPERM otherwise, SystemCallErrorNumber=),
	RestrictAddressFamilies=AF_UNIX, MemoryDenyWriteExecute=yes."""
	lib = seccomp_lib()
	ctxs = []
	ctx = lib.seccomp_init(SCMP_ACT_ALLOW)
	rule(lib, ctx, SCMP_ACT_ERRNO(errno.EAFNOSUPPORT), "socket",
	     [ArgCmp(0, SCMP_CMP_NE, socket.AF_UNIX, 0)])
	wx = 0x2 | 0x4		# PROT_WRITE | PROT_EXEC
	rule(lib, ctx, SCMP_ACT_ERRNO(errno.EPERM), "mmap", [ArgCmp(2, SCMP_CMP_MASKED_EQ, wx, wx)])
	rule(lib, ctx, SCMP_ACT_ERRNO(errno.EPERM), "mprotect",
	     [ArgCmp(2, SCMP_CMP_MASKED_EQ, 0x4, 0x4)])
	rule(lib, ctx, SCMP_ACT_ERRNO(errno.EPERM), "pkey_mprotect",
	     [ArgCmp(2, SCMP_CMP_MASKED_EQ, 0x4, 0x4)])
	ctxs.append(ctx)
	# the allow list goes last, as systemd loads it: after it, seccomp()
	# itself may be refused
	ctx = lib.seccomp_init(SCMP_ACT_ERRNO(errno.EPERM))
	for name in sorted(allow):
		rule(lib, ctx, SCMP_ACT_ALLOW, name)
	ctxs.append(ctx)
	return lib, ctxs

def drop_privileges(lib, ctxs):
	"""In the child: CapabilityBoundingSet=, NoNewPrivileges=, then the filters."""
	libc = ctypes.CDLL(None, use_errno=True)
	PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 24, 38
	for cap in range(64):
		libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
	class Hdr(ctypes.Structure):
		_fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]
	class Data(ctypes.Structure):
		_fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
			    ("inheritable", ctypes.c_uint32)]
	hdr, data = Hdr(0x20080522, 0), (Data * 2)()
	if libc.capset(ctypes.byref(hdr), data) != 0:
		raise OSError(ctypes.get_errno(), "capset")
	if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
		raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS")
	for ctx in ctxs:
		r = lib.seccomp_load(ctx)
		if r < 0:
			raise OSError(-r, "seccomp_load")

def spawn(argv, env, lsock, filters):
	pid = os.fork()
	if pid == 0:
		try:
			os.dup2(lsock.fileno(), 3)		# SD_LISTEN_FDS_START
			os.set_inheritable(3, True)
			os.closerange(4, 1024)
			me = str(os.getpid())
			env = dict(env, LISTEN_FDS="1", LISTEN_PID=me, WATCHDOG_PID=me)
			if filters:
				drop_privileges(*filters)
			os.execve(argv[0], argv, env)
		except BaseException as e:
			print("helper: child: %r" % e, file=sys.stderr)
		os._exit(127)
	return pid

def proc_status(pid):
	want = ("Seccomp:", "NoNewPrivs:", "CapEff:", "CapBnd:")
	try:
		return {l.split()[0]: l.split()[1] for l in open("/proc/%d/status" % pid)
			if l.startswith(want)}
	except OSError:
		return {}

def main():
	mode = sys.argv[1]		# "run" or "no-uring"
	out = open(os.environ["H_OUT"], "w", buffering=1)
	def fact(k, v):
		print("%s=%s" % (k, v), file=out)
	allow = unit_filter(os.environ["H_UNIT"])
	fact("filter_syscalls", len(allow))
	fact("filter_has_io_uring", int({"io_uring_setup", "io_uring_enter",
					 "io_uring_register"} <= allow))
	if mode == "no-uring":
		allow -= {"io_uring_setup", "io_uring_enter", "io_uring_register"}
	filters = build_filters(allow)

	sock_path, notify_path = os.environ["H_SOCK"], os.environ["H_NOTIFY"]
	lsock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
	lsock.bind(sock_path)
	os.chmod(sock_path, 0o660)
	lsock.listen(64)
	nsock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
	nsock.bind(notify_path)
	env = {k: v for k, v in os.environ.items() if not k.startswith("H_")}
	env["NOTIFY_SOCKET"] = notify_path
	env["WATCHDOG_USEC"] = os.environ["H_WATCHDOG_USEC"]
	env["LD_PRELOAD"] = os.environ.get("H_LD_PRELOAD", "")
	argv = os.environ["H_ARGV"].split("\x1f")
	t0 = time.monotonic()
	pid = spawn(argv, env, lsock, filters)
	# a client that connects before READY=1: the kernel queues it on the
	# inherited socket, twitchd must serve it once it is ready
	early = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
	early.connect(sock_path)

	msgs, status = [], None
	def collect(deadline, until=None):
		nonlocal status
		while time.monotonic() < deadline:
			if status is None:
				p, st = os.waitpid(pid, os.WNOHANG)
				if p == pid:
					status = st
					msgs.append((time.monotonic() - t0, "(exit)"))
			r, _, _ = select.select([nsock], [], [], 0.02)
			if r:
				data = nsock.recv(4096).decode(errors="replace")
				for m in data.split("\n"):
					if m:
						msgs.append((time.monotonic() - t0, m))
						if until and until(m):
							return True
			elif status is not None:
				return False
		return False

	ready = collect(t0 + 10, lambda m: m == "READY=1")
	fact("ready", int(ready))
	if not ready:
		collect(time.monotonic() + 0.5)
		if status is None:
			os.kill(pid, signal.SIGKILL)
			os.waitpid(pid, 0)
			fact("exit_code", "killed")
		else:
			fact("exit_code", os.waitstatus_to_exitcode(status))
		for t, m in msgs:
			fact("msg", "%.3f %s" % (t, m))
		return
	ps = proc_status(pid)
	for k, v in ps.items():
		fact("proc_" + k.rstrip(":"), v)
	# the early client gets the welcome (with the rings' fds)
	early.settimeout(3)
	try:
		data, anc, flags, _ = early.recvmsg(4096, socket.CMSG_SPACE(64 * 4))
		n_fds = 0
		for level, typ, cdata in anc:
			if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
				fds = [int.from_bytes(cdata[i:i + 4], sys.byteorder)
				       for i in range(0, len(cdata) - len(cdata) % 4, 4)]
				n_fds += len(fds)
				for fd in fds:
					os.close(fd)
		fact("early_client_welcome_bytes", len(data))
		fact("early_client_fds", n_fds)
	except OSError as e:
		fact("early_client_welcome_bytes", 0)
		fact("early_client_error", e)
	early.close()
	# a client through the inherited socket, right after READY=1
	ctl = subprocess.run([os.environ["H_TWITCHCTL"], "-s", sock_path, "ping"],
			     capture_output=True, text=True, timeout=10)
	fact("ping_rc", ctl.returncode)
	fact("ping_out", ctl.stdout.strip())
	ctl = subprocess.run([os.environ["H_TWITCHCTL"], "-s", sock_path, "status"],
			     capture_output=True, text=True, timeout=10)
	fact("status_rc", ctl.returncode)
	for line in ctl.stdout.splitlines():
		fact("status_line", line.strip())
	# watchdog: WATCHDOG=1 from now on for a while
	t_w = time.monotonic()
	collect(t_w + 1.6)
	pings = [t for t, m in msgs if m == "WATCHDOG=1" and t >= t_w - t0]
	fact("watchdog_pings", len(pings))
	if len(pings) >= 2:
		iv = [(b - a) * 1000 for a, b in zip(pings, pings[1:])]
		fact("watchdog_mean_ms", "%.0f" % (sum(iv) / len(iv)))
		fact("watchdog_max_ms", "%.0f" % max(iv))
	# stop as systemd does
	os.kill(pid, signal.SIGTERM)
	t_term = time.monotonic() - t0
	collect(time.monotonic() + 10, None)
	if status is None:
		os.kill(pid, signal.SIGKILL)
		os.waitpid(pid, 0)
		fact("exit_code", "killed")
	else:
		fact("exit_code", os.waitstatus_to_exitcode(status))
	stopping = [t for t, m in msgs if m == "STOPPING=1"]
	exit_t = [t for t, m in msgs if m == "(exit)"]
	fact("stopping_after_sigterm", int(bool(stopping) and stopping[0] >= t_term))
	fact("stopping_before_exit", int(bool(stopping) and bool(exit_t) and
					 stopping[0] <= exit_t[0]))
	# systemd still holds the socket: it must still be there and listening
	fact("socket_file_kept", int(os.path.exists(sock_path)))
	for t, m in msgs:
		if m != "WATCHDOG=1":
			fact("msg", "%.3f %s" % (t, m))
	lsock.close()

main()
PYEOF

# ------------------------------------------------------------ 2. sysusers, tmpfiles
root=$tmp/root
mkdir -p "$root/etc"
: > "$root/etc/passwd"
: > "$root/etc/group"
systemd-sysusers --root="$root" - < systemd/sysusers.d/twitchd.conf > "$tmp/sysusers.out" 2>&1
check "systemd-sysusers: exit 0" test $? -eq 0 || cat "$tmp/sysusers.out"
check "sysusers: system user twitchd, nologin, home /var/lib/twitchd" awk -F: '
	$1 == "twitchd" && $3 < 1000 && $3 > 0 && $7 ~ /nologin$/ && $6 == "/var/lib/twitchd" \
	{ ok = 1 } END { exit !ok }' "$root/etc/passwd"
check "sysusers: group twitchd is the user's group" sh -c "
	u=\$(awk -F: '\$1 == \"twitchd\" { print \$4 }' '$root/etc/passwd')
	g=\$(awk -F: '\$1 == \"twitchd\" { print \$3 }' '$root/etc/group')
	[ -n \"\$u\" ] && [ \"\$u\" = \"\$g\" ]"
uid=$(awk -F: '$1 == "twitchd" { print $3 }' "$root/etc/passwd")
# twitch-mqtt: its own user; group twitchd comes from the unit's
# SupplementaryGroups=, not from a membership in /etc/group
systemd-sysusers --root="$root" - < systemd/sysusers.d/twitch-mqtt.conf \
	> "$tmp/sysusers-mqtt.out" 2>&1
check "systemd-sysusers twitch-mqtt.conf: exit 0" test $? -eq 0 || cat "$tmp/sysusers-mqtt.out"
check "sysusers: system user twitch-mqtt, nologin, home /var/lib/twitch-mqtt" awk -F: '
	$1 == "twitch-mqtt" && $3 < 1000 && $3 > 0 && $7 ~ /nologin$/ &&
	$6 == "/var/lib/twitch-mqtt" { ok = 1 } END { exit !ok }' "$root/etc/passwd"
check "sysusers: group twitch-mqtt is the user's group" sh -c "
	u=\$(awk -F: '\$1 == \"twitch-mqtt\" { print \$4 }' '$root/etc/passwd')
	g=\$(awk -F: '\$1 == \"twitch-mqtt\" { print \$3 }' '$root/etc/group')
	[ -n \"\$u\" ] && [ \"\$u\" = \"\$g\" ]"
check "sysusers: twitch-mqtt is not listed in group twitchd (the unit adds it)" awk -F: '
	$1 == "twitchd" { found = 1; if ($4 ~ /(^|,)twitch-mqtt(,|$)/) bad = 1 }
	END { exit !(found && !bad) }' "$root/etc/group"
check "twitch-mqtt: sysusers' user and home are the unit's User= and StateDirectory=" sh -c "
	grep -qE '^u +twitch-mqtt +- +\"[^\"]*\" +/var/lib/twitch-mqtt\$' \
		systemd/sysusers.d/twitch-mqtt.conf &&
	grep -qx 'User=twitch-mqtt' systemd/twitch-mqtt.service &&
	grep -qx 'StateDirectory=twitch-mqtt' systemd/twitch-mqtt.service"
if [ "$(id -u)" = 0 ]; then
	# with --root, tmpfiles finds its configuration under the root
	mkdir -p "$root/usr/lib/tmpfiles.d"
	cp systemd/tmpfiles.d/twitchd.conf "$root/usr/lib/tmpfiles.d/"
	systemd-tmpfiles --root="$root" --create twitchd.conf > "$tmp/tmpfiles.out" 2>&1
	rc=$?
	sed 's/^/     | /' "$tmp/tmpfiles.out"
	check "systemd-tmpfiles --create: exit 0, silent" \
		sh -c "[ $rc -eq 0 ] && [ ! -s '$tmp/tmpfiles.out' ]"
	for d in "run/twitchd 750 $uid $uid" "var/lib/twitchd 750 $uid $uid" "etc/twitchd 755 0 0"; do
		set -- $d
		check "tmpfiles: /$1 mode $2 owner $3:$4" \
			test "$(stat -c '%a %u %g' "$root/$1" 2>/dev/null)" = "$2 $3 $4"
	done
else
	echo "skip systemd-tmpfiles --create: giving directories to twitchd needs root"
fi
check "tmpfiles' /run/twitchd mode is the unit's RuntimeDirectoryMode" \
	has_line systemd/twitchd.service RuntimeDirectoryMode=0750
check "tmpfiles' /var/lib/twitchd mode is the unit's StateDirectoryMode" \
	has_line systemd/twitchd.service StateDirectoryMode=0750

# ------------------------------------------------------------ 3. udev rule
# udevadm test on the simulated sysfs, in a private mount namespace whose
# /run holds the rule and whose /etc/passwd and /etc/group know twitchd
# (both from the temporary root above); /dev is a private copy too, so
# nothing udevadm writes reaches the machine.
# (not root: the same in a user namespace of our own)
userns=
[ "$(id -u)" = 0 ] || userns="--user --map-root-user"
if devsim_start -d ads1298 -d ads131e08 -d ad5933:chip=ad5934 -d generic:name=adc4; then
	cat /etc/passwd "$root/etc/passwd" > "$tmp/passwd"
	cat /etc/group "$root/etc/group" > "$tmp/group"
	: > "$tmp/udev.out"
	# shellcheck disable=SC2086
	unshare $userns --mount --propagation private sh -c '
		set -e
		tmp=$1
		mount -t tmpfs tmpfs /run
		mkdir -p /run/udev/rules.d "$tmp/dev"
		cp systemd/90-twitchd.rules /run/udev/rules.d/
		mount --bind "$tmp/passwd" /etc/passwd
		mount --bind "$tmp/group" /etc/group
		for n in null zero urandom; do
			: > "$tmp/dev/$n"
			mount --bind "/dev/$n" "$tmp/dev/$n"
		done
		mount --rbind "$tmp/dev" /dev
		for d in "$UMOCKDEV_DIR"/sys/bus/iio/devices/iio:device*; do
			d=/sys/bus/iio/devices/${d##*/}
			echo "== $d"
			LD_PRELOAD="$DEVSIM_PRELOAD" udevadm test --action=add "$d" 2>&1
		done' sh "$tmp" >> "$tmp/udev.out" 2>&1
	check "udevadm test ran on 4 simulated devices" \
		test "$(grep -c '^DEVPATH=' "$tmp/udev.out")" -eq 4 || sed 's/^/     | /' "$tmp/udev.out"
	check "udev: the rule file reads without complaint" sh -c \
		"! grep '90-twitchd.rules' '$tmp/udev.out' | grep -qiE 'invalid|unknown|error|ignoring'"
	awk '/^== /{ dev = $2 } /^SYSTEMD_WANTS=twitchd.service$/ { print dev }' "$tmp/udev.out" \
		| sort > "$tmp/wants"
	awk '/^== /{ dev = $2 } /90-twitchd.rules.* OWNER / { print dev, $NF }' "$tmp/udev.out" \
		| sort > "$tmp/owner"
	awk '/^== /{ dev = $2 } /90-twitchd.rules.* MODE / { print dev, $NF }' "$tmp/udev.out" \
		| sort > "$tmp/mode"
	awk '/^== /{ dev = $2 } /^run: .*chown twitchd:twitchd/ { print dev }' "$tmp/udev.out" \
		| sort > "$tmp/run"
	printf '%s\n' /sys/bus/iio/devices/iio:device0 /sys/bus/iio/devices/iio:device1 \
		/sys/bus/iio/devices/iio:device2 > "$tmp/supported"
	check "udev: ads1298, ads131e08, ad5934 pull in twitchd.service, adc4 does not" \
		cmp -s "$tmp/wants" "$tmp/supported"
	check "udev: they (only) are owned by twitchd (uid $uid), mode 0600" sh -c "
		sed 's/\$/ $uid/' '$tmp/supported' | cmp -s - '$tmp/owner' &&
		sed 's/\$/ 0600/' '$tmp/supported' | cmp -s - '$tmp/mode'"
	check "udev: their sysfs attributes are given to twitchd (RUN)" cmp -s "$tmp/run" "$tmp/supported"
	check "udev: tagged systemd and twitchd" sh -c \
		"[ \$(grep -c '^TAGS=.*:systemd:' '$tmp/udev.out') -ge 3 ] &&
		 [ \$(grep -c '^TAGS=.*:twitchd:' '$tmp/udev.out') -eq 3 ]"
	# the RUN command itself on a copy of a simulated device's sysfs
	# directory, with `touch -d @86400` for its chown: which files it
	# reaches (the mtime says) is what matters
	cmd=$(sed -n 's/.*RUN+="\/bin\/sh -c '"'"'\(.*\)'"'"'"$/\1/p' systemd/90-twitchd.rules)
	d0=$tmp/sysfs/dev0
	mkdir -p "$tmp/sysfs"
	cp -r "$(readlink -f "$UMOCKDEV_DIR/sys/bus/iio/devices/iio:device0")" "$d0"
	mkdir -p "$d0/power"
	: > "$d0/power/control"
	: > "$tmp/sysfs/outside"
	ln -s ../outside "$d0/of_node_file"
	sh -c "$(echo "$cmd" | sed -e "s|/sys%p|$d0|" -e "s|chown twitchd:twitchd|touch -d @86400|")"
	check "udev RUN: reaches buffer/enable, scan_elements/*_en, sampling_frequency" sh -c "
		[ \$(stat -c %Y '$d0/buffer/enable') = 86400 ] &&
		[ \$(stat -c %Y '$d0/scan_elements/in_voltage0_en') = 86400 ] &&
		[ \$(stat -c %Y '$d0/sampling_frequency') = 86400 ]"
	check "udev RUN: not power/, uevent, nor through a symlink" sh -c "
		[ \$(stat -c %Y '$d0/power/control') != 86400 ] &&
		[ \$(stat -c %Y '$d0/uevent') != 86400 ] &&
		[ \$(stat -c %Y '$tmp/sysfs/outside') != 86400 ]"
	devsim_stop
else
	echo "FAIL twitch-devsim did not start (udev rule check)"
	fail=1
fi

# ------------------------------------------------------------ 4. example config
check "example config parses" sh -c "'$twitchd' --check-config -c systemd/twitchd.conf >/dev/null"
"$twitchd" --check-config -c systemd/twitchd.conf | tail -n +2 > "$tmp/example.sum"
"$twitchd" --check-config 2>/dev/null | tail -n +2 > "$tmp/builtin.sum"
check "example config: the built-in layout's devices" cmp -s "$tmp/example.sum" "$tmp/builtin.sum"
# every key config.c accepts, in the example and in twitchd.conf(5)
sed -n 's/.*strcmp(k, "\([a-z_]*\)").*/\1/p' daemon/config.c | sort -u > "$tmp/keys"
check "config.c knows at least 20 keys" test "$(wc -l < "$tmp/keys")" -ge 20
while read -r key; do
	check "example config documents $key" grep -qE "^;?$key = " systemd/twitchd.conf
	check "twitchd.conf(5) documents $key" grep -q "^\.BI $key " systemd/twitchd.conf.5
done < "$tmp/keys"
# each commented default, enabled alone, still parses
grep -n '^;[a-z_]* = ' systemd/twitchd.conf | while IFS=: read -r n line; do
	sed "${n}s/^;//" systemd/twitchd.conf > "$tmp/one.conf"
	if "$twitchd" --check-config -c "$tmp/one.conf" > /dev/null 2> "$tmp/one.err"; then
		echo "ok   example config: '${line#;}' parses when enabled"
	else
		echo "FAIL example config: '${line#;}' parses when enabled: $(cat "$tmp/one.err")"
		echo fail >> "$tmp/one.failed"
	fi
done
[ ! -e "$tmp/one.failed" ] || fail=1
# and a typo stops twitchd with exit 2 naming the line
printf '[daemon]\nsocket_mod = 0660\n[device emg]\n' > "$tmp/typo.conf"
"$twitchd" --check-config -c "$tmp/typo.conf" > /dev/null 2> "$tmp/typo.err"
rc=$?
check "a config typo: exit 2, file:line: key in the message" sh -c \
	"[ $rc -eq 2 ] && grep -q 'typo.conf:2: daemon.socket_mod: unknown key' '$tmp/typo.err'"

# twitch-mqtt.conf: every key mqtt-config.c accepts, in its section, in the
# example and in twitch-mqtt.conf(5)
grep -oE 'STR\("[a-z]+", "[a-z_]+"|strcmp\(section, "[a-z]+"\)|strcmp\(key, "[a-z_]+"\)' \
	clients/mqtt-config.c | awk -F'"' '
	/^STR/ { print $2, $4; next }
	/section/ { sec = $2; next }
	{ print sec, $2 }' | sort -u > "$tmp/mqtt-keys"
check "mqtt-config.c knows at least 18 keys" test "$(wc -l < "$tmp/mqtt-keys")" -ge 18
awk '/^\[[a-z]+\]$/ { sec = substr($0, 2, length($0) - 2) }
	/^;?[a-z_]+ =/ { k = $1; sub(/^;/, "", k); print sec, k }' systemd/twitch-mqtt.conf \
	| sort -u > "$tmp/mqtt-example-keys"
awk '/^\.SH "\[[a-z]+\] SECTION"$/ { sec = $2; gsub(/[]["]/, "", sec) }
	/^\.SH / && !/SECTION/ { sec = "" }
	/^\.BI [a-z_]+ / { print sec, $2 }' systemd/twitch-mqtt.conf.5 \
	| sort -u > "$tmp/mqtt-man-keys"
while read -r sec key; do
	check "example twitch-mqtt.conf documents [$sec] $key" \
		grep -qx "$sec $key" "$tmp/mqtt-example-keys"
	check "twitch-mqtt.conf(5) documents [$sec] $key" grep -qx "$sec $key" "$tmp/mqtt-man-keys"
done < "$tmp/mqtt-keys"
check "example twitch-mqtt.conf: no key mqtt-config.c does not know" \
	test -z "$(comm -23 "$tmp/mqtt-example-keys" "$tmp/mqtt-keys")"
check "example twitch-mqtt.conf: chmod 600 note" grep -q 'chmod 600' systemd/twitch-mqtt.conf
# it and each commented default, enabled alone, parse (--check: exit 0 or 1
# whether or not a broker answers on localhost; 2 would be the config)
mq_parses() {	# mq_parses FILE: twitch-mqtt accepts the config (exit 0 or 1)
	"$mqtt" --check -c "$1" > /dev/null 2> "$tmp/mq.err"
	[ $? -ne 2 ]
}
check "example twitch-mqtt.conf parses" mq_parses systemd/twitch-mqtt.conf ||
	cat "$tmp/mq.err"
grep -nE '^;[a-z_]+ =( |$)' systemd/twitch-mqtt.conf | while IFS=: read -r n line; do
	sed "${n}s/^;//" systemd/twitch-mqtt.conf > "$tmp/mq-one.conf"
	if mq_parses "$tmp/mq-one.conf"; then
		echo "ok   example twitch-mqtt.conf: '${line#;}' parses when enabled"
	else
		echo "FAIL example twitch-mqtt.conf: '${line#;}' parses when enabled: $(cat "$tmp/mq.err")"
		echo fail >> "$tmp/mq-one.failed"
	fi
done
[ ! -e "$tmp/mq-one.failed" ] || fail=1
# a password in a file others can read: refused, exit 2 (what the unit's
# LoadCredential= and the installed mode 0600 are for)
printf '[broker]\npassword = x\n' > "$tmp/mq-pw.conf"
chmod 0640 "$tmp/mq-pw.conf"
"$mqtt" --check -c "$tmp/mq-pw.conf" > /dev/null 2> "$tmp/mq-pw.err"
rc=$?
check "twitch-mqtt: a password in a mode 0640 file: exit 2, says chmod 600" sh -c \
	"[ $rc -eq 2 ] && grep -q 'chmod 600' '$tmp/mq-pw.err'"
chmod 0600 "$tmp/mq-pw.conf"
check "twitch-mqtt: the same file at mode 0600 is accepted" mq_parses "$tmp/mq-pw.conf"
chmod 0400 "$tmp/mq-pw.conf"
check "twitch-mqtt: ... and at 0400 (a systemd credential)" mq_parses "$tmp/mq-pw.conf"
printf '[broker]\nhost = localhost\npasword = x\n' > "$tmp/mq-typo.conf"
"$mqtt" --check -c "$tmp/mq-typo.conf" > /dev/null 2> "$tmp/mq-typo.err"
rc=$?
check "a twitch-mqtt.conf typo: exit 2, file:line: key in the message" sh -c \
	"[ $rc -eq 2 ] && grep -q 'mq-typo.conf:3: .broker. pasword: unknown key' '$tmp/mq-typo.err'"

# ------------------------------------------------------------ 5. man pages
for page in daemon/twitchd.8 systemd/twitchd.conf.5 clients/twitchctl.1 ipc/libtwitch.3 \
	clients/twitch-mqtt.1 systemd/twitch-mqtt.conf.5; do
	MANWIDTH=80 man --warnings -l "$page" > "$tmp/page.txt" 2> "$tmp/man.err"
	groff -ww -z -man "$page" 2>> "$tmp/man.err"
	sed 's/^/     | /' "$tmp/man.err"
	check "$page renders without warnings" sh -c "[ ! -s '$tmp/man.err' ] &&
		[ \$(wc -l < '$tmp/page.txt') -gt 40 ]"
done
MANWIDTH=200 man -l daemon/twitchd.8 2>/dev/null > "$tmp/twitchd.8.txt"
for opt in $("$twitchd" --help | grep -o -- '--[a-z-]*' | sort -u); do
	check "twitchd(8) documents $opt" grep -q -- "$opt" "$tmp/twitchd.8.txt"
done
check "twitchd(8): medical disclaimer" \
	grep -q "monitoring aid, not a diagnostic device" "$tmp/twitchd.8.txt"
check "twitchd(8): libiio #948" grep -q "libiio issue #948" "$tmp/twitchd.8.txt"
check "twitchd(8): exit codes 0, 1, 2" sh -c "grep -A12 '^EXIT STATUS' '$tmp/twitchd.8.txt' |
	grep -qE '^ +0 ' && grep -A30 '^EXIT STATUS' '$tmp/twitchd.8.txt' | grep -qE '^ +2 '"
MANWIDTH=200 man -l clients/twitchctl.1 2>/dev/null > "$tmp/twitchctl.1.txt"
for cmd in status tail mark ping; do
	check "twitchctl(1) documents $cmd" grep -qE "^ +$cmd( |$)" "$tmp/twitchctl.1.txt"
done
# exit codes 0-5 as --help lists them ("3 twitchd not running, 4 permission ...")
"$twitchctl" --help | tr '\n' ' ' | sed 's/.*Exit codes://' | grep -oE '[0-5] [a-z]+' \
	> "$tmp/codes"
check "twitchctl --help lists exit codes 0..5" test "$(wc -l < "$tmp/codes")" -eq 6
while read -r code word; do
	check "twitchctl(1): exit code $code ($word...)" \
		grep -qiE "^ +$code +.*$word" "$tmp/twitchctl.1.txt"
done < "$tmp/codes"
MANWIDTH=200 man -l clients/twitch-mqtt.1 2>/dev/null > "$tmp/twitch-mqtt.1.txt"
for opt in $("$mqtt" --help | grep -o -- '--[a-z-]*' | sort -u); do
	check "twitch-mqtt(1) documents $opt" grep -q -- "$opt" "$tmp/twitch-mqtt.1.txt"
done
for word in "monitoring aid, not a diagnostic device" /events /estimates /status /alerts \
	mseq boot_id epoch bridge_spool_full reader_lapped QoS "mosquitto_sub -t" \
	STOPPING=1 WATCHDOG=1 READY=1 "twitch-mqtt.conf(5)" "twitchctl(1)" "twitchd(8)" \
	"mosquitto_sub(1)"; do
	check "twitch-mqtt(1) mentions $word" grep -qF -- "$word" "$tmp/twitch-mqtt.1.txt"
done
check "twitch-mqtt(1): exit codes 0, 1, 2" sh -c "
	for c in 0 1 2; do grep -A30 '^EXIT STATUS' '$tmp/twitch-mqtt.1.txt' |
		grep -qE \"^ +\$c \" || exit 1; done"
MANWIDTH=200 man -l ipc/libtwitch.3 2>/dev/null > "$tmp/libtwitch.3.txt"
for fn in $(sed -n 's/^TWITCH_API .*\(twitch_[a-z_]*\)(.*/\1/p' ipc/twitch.h); do
	check "libtwitch(3) documents $fn()" grep -q "$fn()" "$tmp/libtwitch.3.txt"
done

# ------------------------------------------------------------ 6. as systemd starts it
run_helper() {	# run_helper MODE OUT: twitchd under the helper on the simulated cart
	# (under ASan: LeakSanitizer needs ptrace, which the unit's filter refuses)
	env ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" H_OUT="$2" \
		H_UNIT=systemd/twitchd.service H_SOCK="$tmp/control.sock" H_NOTIFY="$tmp/notify" \
		H_WATCHDOG_USEC=400000 H_TWITCHCTL="$twitchctl" \
		H_ARGV="$(printf '%s\037%s\037%s' "$twitchd" --socket "$tmp/own.sock")" \
		H_LD_PRELOAD="$DEVSIM_PRELOAD" UMOCKDEV_DIR="$UMOCKDEV_DIR" \
		"$PY" "$tmp/helper.py" "$1" 2> "$tmp/helper.err" < /dev/null
}
fact() {	# fact FILE KEY: the helper's value for KEY
	sed -n "s/^$2=//p" "$1" | head -n 1
}

if devsim_start -d ads1298:rate=4000 -d ad5933; then
	# the helper runs outside the testbed; it preloads umockdev into twitchd
	rm -f "$tmp/control.sock" "$tmp/notify"
	run_helper run "$tmp/run.facts"
	sed 's/^/     | /' "$tmp/run.facts" "$tmp/helper.err"
	f=$tmp/run.facts
	check "filter: io_uring_* allowed by the unit's SystemCallFilter=" \
		test "$(fact "$f" filter_has_io_uring)" = 1
	check "READY=1 under the unit's filter, no capabilities" test "$(fact "$f" ready)" = 1
	check "twitchd ran with seccomp on, no new privileges, no capabilities" sh -c "
		[ '$(fact "$f" proc_Seccomp)' = 2 ] && [ '$(fact "$f" proc_NoNewPrivs)' = 1 ] &&
		[ '$(fact "$f" proc_CapEff)' = 0000000000000000 ]"
	check "a client queued before READY=1 gets its welcome and the ring fds" sh -c "
		[ '$(fact "$f" early_client_welcome_bytes)' -gt 0 ] &&
		[ '$(fact "$f" early_client_fds)' -ge 2 ]"
	check "twitchctl ping through the inherited socket" sh -c "
		[ '$(fact "$f" ping_rc)' = 0 ] && [ '$(fact "$f" ping_out)' = pong ]"
	check "twitchctl status: both simulated devices running" sh -c "
		grep -q '^status_line=emg: ti-ads1298 .* running' '$f' &&
		grep -q '^status_line=bioz: ad5933 ' '$f'"
	check "twitchctl status: how full each ring is" sh -c "
		grep -q '^status_line=events .* published, [0-9]* held ([0-9]*% full)' '$f' &&
		grep -q '^status_line=samples-emg .* published, [0-9]* held ([0-9]*% full)' '$f'"
	check "twitchd did not create its own socket (it inherited one)" test ! -e "$tmp/own.sock"
	n=$(fact "$f" watchdog_pings)
	mean=$(fact "$f" watchdog_mean_ms)
	max=$(fact "$f" watchdog_max_ms)
	echo "     watchdog: $n pings in 1.6 s, mean interval ${mean:-?} ms, max ${max:-?} ms" \
		"(WATCHDOG_USEC=400000)"
	check "WATCHDOG=1 about every 200 ms (half of WATCHDOG_USEC), never 400 ms apart" \
		awk -v n="${n:-0}" -v mean="${mean:-0}" -v max="${max:-9999}" \
		'BEGIN { exit !(n >= 4 && mean >= 150 && mean <= 300 && max < 400) }'
	check "STATUS= sent" grep -q '^msg=[0-9.]* STATUS=.*device(s)' "$f"
	check "STOPPING=1 after SIGTERM, before exit" sh -c "
		[ '$(fact "$f" stopping_after_sigterm)' = 1 ] &&
		[ '$(fact "$f" stopping_before_exit)' = 1 ]"
	check "exit code 0 after SIGTERM" test "$(fact "$f" exit_code)" = 0
	check "the inherited socket file is left to its owner" test "$(fact "$f" socket_file_kept)" = 1

	# the same without io_uring in the filter: twitchd must say why
	rm -f "$tmp/control.sock" "$tmp/notify"
	run_helper no-uring "$tmp/nouring.facts"
	f=$tmp/nouring.facts
	sed 's/^/     | /' "$f"
	check "without io_uring in the filter: no READY=1, exit 1" sh -c "
		[ '$(fact "$f" ready)' = 0 ] && [ '$(fact "$f" exit_code)' = 1 ]"
	check "... and the message names SystemCallFilter=" \
		grep -q "io_uring_setup.*SystemCallFilter=" "$tmp/helper.err"

	# systemd's own activation tool: it listens, and execs twitchd with the
	# fd on the first connection (twitchctl's)
	if command -v systemd-socket-activate > /dev/null; then
		rm -f "$tmp/sa.sock"
		systemd-socket-activate --seqpacket -l "$tmp/sa.sock" \
			-E LD_PRELOAD="$DEVSIM_PRELOAD" -E UMOCKDEV_DIR="$UMOCKDEV_DIR" \
			-E ASAN_OPTIONS="${ASAN_OPTIONS:-}" -E LD_LIBRARY_PATH="${LD_LIBRARY_PATH:-}" \
			"$twitchd" --socket "$tmp/own2.sock" > "$tmp/sa.log" 2>&1 &
		sa_pid=$!
		_i=0
		while [ ! -S "$tmp/sa.sock" ] && [ "$_i" -lt 100 ]; do
			sleep 0.05
			_i=$((_i + 1))
		done
		check "systemd-socket-activate: twitchctl ping starts twitchd and is answered" \
			sh -c "'$twitchctl' -s '$tmp/sa.sock' ping | grep -qx pong"
		check "systemd-socket-activate: twitchd used the passed socket" \
			test ! -e "$tmp/own2.sock"
		kill "$sa_pid"
		wait "$sa_pid"
		rc=$?
		check "systemd-socket-activate: twitchd stops with 0" test "$rc" -eq 0 ||
			sed 's/^/     | /' "$tmp/sa.log"
	fi
	devsim_stop
else
	echo "FAIL twitch-devsim did not start"
	fail=1
fi

exit $fail
