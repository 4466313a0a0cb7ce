#!/bin/sh
# SPDX-License-Identifier: MIT
# test-top.sh - twitch-top as a person sees it: the real twitchd on the
# simulated cart (ADS1298 at 4 kHz with ~2 twitches/s, AD5933 on a 1 kohm
# resistor), twitch-top in an 80x24 tmux pane, keys sent with send-keys and
# the screen read back with capture-pane. Asserted: channel labels, the
# hydration panel "not calibrated" before calibration, an event line, a
# rates value (rates come every 10 s), a phase angle after calibrate + body
# + subject, the pause mark (and frozen strips), the help, "daemon gone"
# when twitchd stops (with no provisional event line left) and "restarted"
# when it comes back, exit 0 on q with
# the terminal restored; exit 3 without a daemon, 4 for a user the socket
# refuses, 2 on bad arguments. Run from the project root (TWITCH_BUILD and
# TWITCH_DEVSIM as `make check` sets them). Takes about 15-30 s.
set -u
here=$(dirname "$0")
. "$here/devsim/devsim.sh"

: "${TWITCH_BUILD:=build}"
TOP=$TWITCH_BUILD/twitch-top
CTL=$TWITCH_BUILD/twitchctl
case $TWITCH_BUILD in
/*) libdir=$TWITCH_BUILD ;;
*) libdir=$PWD/$TWITCH_BUILD ;;
esac
export LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fail=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/twitch-top.XXXXXX")
sock=$tmp/control.sock
# twitchd keeps calibrations in its state directory: ours, not the system's
export STATE_DIRECTORY=$tmp/state
mkdir -p "$STATE_DIRECTORY"
TMUX_CMD="tmux -L twitch-top-test-$$ -f /dev/null"
daemon_pid=
cleanup() {
	$TMUX_CMD kill-server 2>/dev/null
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

screen() {
	$TMUX_CMD capture-pane -p -t top > "$tmp/screen" 2>/dev/null
	cat "$tmp/screen"
}

# wait_screen SECONDS ERE: until the pane shows a line matching ERE
wait_screen() {
	_n=$(($1 * 10))
	while [ "$_n" -gt 0 ]; do
		screen | grep -Eq -- "$2" && return 0
		sleep 0.1
		_n=$((_n - 1))
	done
	echo "     | screen did not show /$2/ within $1 s:"
	sed 's/^/     | /' "$tmp/screen"
	return 1
}

for tool in tmux stty; do
	if ! command -v "$tool" >/dev/null; then
		echo "test-top.sh: $tool missing (make deps installs it)" >&2
		exit 1
	fi
done
[ -x "$TOP" ] || { echo "test-top.sh: $TOP not built" >&2; exit 1; }

# ---------------------------------------------------------- no daemon, arguments
"$TOP" -s "$tmp/nobody.sock" > "$tmp/out" 2> "$tmp/err"
rc=$?
check "no daemon: exit code 3" test "$rc" -eq 3
check "no daemon: one clear message" grep -q "twitchd is not running" "$tmp/err"
"$TOP" --bogus > /dev/null 2>&1
check "bad option: exit code 2" test "$?" -eq 2
"$TOP" extra > /dev/null 2>&1
check "stray argument: exit code 2" test "$?" -eq 2
"$TOP" --help > "$tmp/out" 2>&1
rc=$?
check "--help: exit 0, names the exit codes" \
	sh -c "test $rc -eq 0 && grep -q '3 twitchd not' '$tmp/out'"

# ---------------------------------------------------------- the live screen
if ! devsim_start -d ads1298:rate=4000,mup_per_min=120 -d ad5933:load=resistor,r=1000; then
	echo "FAIL twitch-devsim did not start"
	exit 1
fi
env LD_PRELOAD="$DEVSIM_PRELOAD" UMOCKDEV_DIR="$UMOCKDEV_DIR" \
	"$TWITCH_BUILD/twitchd" -s "$sock" > "$tmp/twitchd.log" 2>&1 &
daemon_pid=$!
_i=0
until "$CTL" -s "$sock" ping > /dev/null 2>&1; do
	_i=$((_i + 1))
	if [ "$_i" -gt 50 ]; then
		echo "FAIL twitchd did not answer"
		cat "$tmp/twitchd.log"
		exit 1
	fi
	sleep 0.1
done

# another user (nobody, in no group of twitchd's): refused with 4
if [ "$(id -u)" = 0 ] && command -v setpriv > /dev/null; then
	chmod 0711 "$tmp"
	setpriv --reuid=nobody --regid=nogroup --clear-groups \
		"$TOP" -s "$sock" > /dev/null 2> "$tmp/err"
	rc=$?
	check "another user: exit code 4" test "$rc" -eq 4
	check "another user: told about the twitchd group" grep -q "twitchd group" "$tmp/err"
	chmod 0700 "$tmp"
else
	echo "skip another user: exit code 4 (needs root and setpriv)"
fi

# the pane's shell reports the exit code and the terminal modes afterwards
$TMUX_CMD new-session -d -s top -x 80 -y 24 \
	"env LD_LIBRARY_PATH='$LD_LIBRARY_PATH' TERM=screen '$TOP' -s '$sock'; \
	echo \"rc=\$?\"; stty -a | tr ' ;' '\n\n' | grep -Ex -- '-?(icanon|echo)' | tr '\n' ' '; \
	echo; sleep 60"
check "channel labels ch0..ch7" wait_screen 5 '^ch7 '
check "ch0 is the selected channel" grep -q '^ch0 *>' "$tmp/screen"
check "hydration: not calibrated" wait_screen 3 'not calibrated'
"$CTL" -s "$sock" calibrate 1000 > /dev/null
check "an event line (class, channel, duration, peak)" \
	wait_screen 8 '^[0-9:]{8} ch[0-7] +[a-z_]+ +[0-9.]+ms +[0-9]+uV'
check "hydration: calibrated" wait_screen 14 'calibrated, waiting for a sweep'
devsim_ctl load iio:device1 body > /dev/null
"$CTL" -s "$sock" subject height_cm=175,weight_kg=70,sex=m,age=40 > /dev/null
check "rates value (1, 5, 15 min) and noise on a channel row" \
	wait_screen 12 '^ch[0-7] .* [0-9]+\.[0-9] +[0-9]+\.[0-9] +[0-9]+\.[0-9] +[0-9]+\.[0-9]$'
check "hydration: phase angle after calibrate + body + subject" \
	wait_screen 14 'phase angle [0-9]+\.[0-9]+ deg'
check "hydration: ECW/TBW with subject data" grep -Eq 'ECW/TBW 0\.[0-9]{3}' "$tmp/screen"
check "hydration: no resistance index without a baseline" grep -q 'no baseline' "$tmp/screen"
check "status line names the devices' state" grep -q 'emg up  bioz up' "$tmp/screen"

$TMUX_CMD send-keys -t top p
check "pause mark after p" wait_screen 2 '\[PAUSED\]'
strips() {	# the waveform strips of the 8 channel rows
	$TMUX_CMD capture-pane -p -t top | sed -n 3,10p | cut -c6-53
}
strips > "$tmp/strips1"
sleep 1
strips > "$tmp/strips2"
check "pause freezes the waveforms" cmp -s "$tmp/strips1" "$tmp/strips2"
$TMUX_CMD send-keys -t top 3
check "3 picks ch3" wait_screen 2 '^ch3 *>'
$TMUX_CMD send-keys -t top +
check "+ lengthens the time scale" wait_screen 2 'last 10 s'
$TMUX_CMD send-keys -t top '?'
check "help after ?" wait_screen 2 'twitch-top: keys'
$TMUX_CMD send-keys -t top x
check "any key closes the help" sh -c "sleep 0.3; ! $TMUX_CMD capture-pane -p -t top | \
	grep -q 'twitch-top: keys'"
$TMUX_CMD send-keys -t top p
check "p again resumes" sh -c "sleep 0.3; ! $TMUX_CMD capture-pane -p -t top | \
	grep -q 'PAUSED'"
sleep 1
strips > "$tmp/strips3"
check "resumed waveforms move again" sh -c "! cmp -s '$tmp/strips2' '$tmp/strips3'"
# Ctrl-S (XOFF) froze the output, the clock with it, with no sign on screen
clock() { $TMUX_CMD capture-pane -p -t top | head -1 | grep -oE '[0-9]{2}:[0-9]{2}:[0-9]{2}' | head -1; }
clock1=$(clock)
$TMUX_CMD send-keys -t top C-s
sleep 2.5
check "Ctrl-S does not freeze the screen (the clock moves on)" test "$(clock)" != "$clock1"
$TMUX_CMD send-keys -t top C-q
# a lost device's strips froze on its last samples with nothing on them
devsim_ctl vanish iio:device0 > /dev/null
check "a lost device's strips say so" wait_screen 5 '^ch[0-7] .*NO DATA: device lost'
devsim_ctl return iio:device0 > /dev/null
check "... and no longer once it is back" \
	sh -c "sleep 3; $TMUX_CMD capture-pane -p -t top | grep -q 'emg up' && \
	! $TMUX_CMD capture-pane -p -t top | grep -q 'NO DATA'"

kill "$daemon_pid"
wait "$daemon_pid" 2>/dev/null
daemon_pid=
check "daemon gone is shown" wait_screen 3 'DAEMON GONE'
check "... over the strips too, and the devices' state is unknown" \
	sh -c "grep -q 'NO DATA: twitchd gone' '$tmp/screen' && grep -q 'emg ?' '$tmp/screen'"
# a stopping twitchd sends the finals of open events before it goes: each
# provisional line (~) has been replaced by its final or withdrawn, none
# was left to be marked unconfirmed (?) when the daemon went
check "no provisional event line is left" \
	sh -c "! grep -Eq '^[0-9:]{8}[~?]ch[0-7] ' '$tmp/screen'"
env LD_PRELOAD="$DEVSIM_PRELOAD" UMOCKDEV_DIR="$UMOCKDEV_DIR" \
	"$TWITCH_BUILD/twitchd" -s "$sock" >> "$tmp/twitchd.log" 2>&1 &
daemon_pid=$!
check "daemon restarted is shown" wait_screen 5 'daemon restarted at'
check "a new daemon keeps its calibration; the old estimate is not shown" \
	wait_screen 5 'calibrated, waiting for a sweep|phase angle [0-9]+\.[0-9]+ deg'
check "... and the panel was cleared for it (no 'not calibrated')" \
	sh -c "! grep -q 'not calibrated' '$tmp/screen'"
check "the calibration is a file in the state directory" \
	grep -q '^twitchd-calibration 1$' "$STATE_DIRECTORY/calibration-bioz"
check "the new twitchd said it loaded it" \
	grep -q 'calibration against 1000 ohm from' "$tmp/twitchd.log"
check "the waveforms follow the new daemon" wait_screen 5 '^ch3 >.*[.:=+*#-]'

$TMUX_CMD send-keys -t top q
check "q: exit code 0" wait_screen 3 '^rc=0$'
check "terminal restored (icanon, echo)" wait_screen 3 '^icanon echo *$'
check "screen left clean (alternate screen)" sh -c "! grep -q 'hydration' '$tmp/screen'"

if [ "$fail" != 0 ]; then
	echo "twitchd's log:"
	sed 's/^/     | /' "$tmp/twitchd.log"
fi
exit "$fail"
