#!/bin/sh
# SPDX-License-Identifier: MIT
# test-record-edf.sh - twitch-record end to end on the simulated cart:
#  1. exit codes: bad arguments 2, no daemon 3;
#  2. twitch-devsim + twitchd; a second client (tests/record-edf-check.py,
#     libtwitch through ctypes) captures the samples and events while
#     twitch-record records 5 s to BDF+ with a marker placed by
#     `twitchctl mark`; MNE (python3-mne) reads the file back: 8 signals
#     "EMG emg chN", 4000 Hz, 5 s, every sample equal to the capture within
#     half an LSB (0.05 uV), every final twitch event and the marker
#     annotated; a device overflow of 800 scans mid-recording is a gap of
#     zeros at the samples the capture did not get, annotated "gap N samples";
#  3. the same with --edf (16 bits, +-3276.8 uV), and with --rotate-time 2:
#     three files that read back as one recording without a gap, events at a
#     file boundary in the file that holds their onset;
#  4. kill -9 of a recording after a marker, then --recover: MNE reads the
#     file, its samples equal the capture, the marker is there; a second
#     --recover says there is nothing to do; BioSig's save2gdf also reads it;
#  5. SIGTERM mid-recording: exit 0, journal "closed", the file reads back.
# Usage: TWITCH_BUILD=build tests/test-record-edf.sh   Exit 0 pass, 1 fail.
# (TWITCH_RECORD overrides the twitch-record binary, e.g. an ASan build.)
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=${TWITCH_BUILD:-build}
case $build in
/*) ;;
*) build=$root/$build ;;
esac
export TWITCH_BUILD="$build" LD_LIBRARY_PATH="$build${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
py=/usr/bin/python3
chk="$py $here/record-edf-check.py"
rec=${TWITCH_RECORD:-$build/twitch-record}
labels="EMG emg ch0,EMG emg ch1,EMG emg ch2,EMG emg ch3,EMG emg ch4,EMG emg ch5,EMG emg ch6,EMG emg ch7"

fail=0
tmp=$(mktemp -d)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$tmp"' EXIT

check() {	# check NAME COMMAND...
	_name=$1
	shift
	if "$@"; then
		echo "ok   $_name"
	else
		echo "FAIL $_name"
		fail=1
	fi
}

exits() {	# exits CODE COMMAND...: the command exits with CODE
	_want=$1
	shift
	"$@" >/dev/null 2>&1
	[ $? = "$_want" ]
}

# 1. exit codes without a daemon
check "no -o: exit 2" exits 2 "$rec" -d 1
check "bad --duration: exit 2" exits 2 "$rec" -o "$tmp/x.bdf" --duration abc
check "unexpected argument: exit 2" exits 2 "$rec" -o "$tmp/x.bdf" extra
check "no daemon: exit 3" exits 3 "$rec" -s "$tmp/none.sock" -o "$tmp/x.bdf"
check "--recover of a missing file: exit 1" exits 1 "$rec" --recover "$tmp/none.bdf"

# 2-4 under the simulator
export TWITCH_SOCKET="$tmp/control.sock" TMPD="$tmp" REC="$rec" CHK="$chk" B="$build"
"$build/twitch-devsim" -d ads1298:rate=4000,mup_per_min=600 -d ad5933:load=resistor,r=1000 -- sh -c '
	"$B/twitchd" --socket "$TWITCH_SOCKET" 2>"$TMPD/twitchd.log" & d=$!
	trap "kill $d 2>/dev/null; wait $d" EXIT
	for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do
		"$B/twitchctl" ping >/dev/null 2>&1 && break; sleep 0.2
	done
	sleep 1.5	# past the start-up overruns of the simulator

	# 2 and 3: BDF+ and EDF+ at once, with one capture
	ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0 $CHK capture 25 "$TMPD/cap.npz" samples-emg "$TMPD/stop" >"$TMPD/cap.log" 2>&1 & c=$!
	sleep 0.5
	"$REC" -o "$TMPD/rec.bdf" --duration 5 2>"$TMPD/rec-bdf.log" & r1=$!
	"$REC" -o "$TMPD/rec.edf" --edf --duration 5 2>"$TMPD/rec-edf.log" & r2=$!
	"$REC" -o "$TMPD/rot.bdf" --rotate-time 2 --duration 5 2>"$TMPD/rec-rot.log" & r4=$!
	sleep 2
	"$B/twitch-devsim" --ctl "$DEVSIM_CONTROL" overflow iio:device0 800 >/dev/null
	sleep 0.5
	"$B/twitchctl" mark "lights off" >/dev/null
	wait $r1; echo $? >"$TMPD/rc-bdf"
	wait $r2; echo $? >"$TMPD/rc-edf"
	wait $r4; echo $? >"$TMPD/rc-rot"

	# 4: kill -9 mid-recording
	"$REC" -o "$TMPD/crash.bdf" 2>"$TMPD/rec-crash.log" & r3=$!
	"$REC" -o "$TMPD/term.bdf" 2>"$TMPD/rec-term.log" & r5=$!
	sleep 1.5
	"$B/twitchctl" mark "before the crash" >/dev/null
	sleep 1.7	# the journal is synced every second
	kill -9 $r3; wait $r3 2>/dev/null
	kill -TERM $r5; wait $r5; echo $? >"$TMPD/rc-term"
	sleep 0.3	# the last records of the killed recording reach the capture
	touch "$TMPD/stop"
	wait $c
' >"$tmp/run.log" 2>&1
cat "$tmp/rec-bdf.log" "$tmp/rec-edf.log"
check "twitch-record BDF+ exits 0" [ "$(cat "$tmp/rc-bdf" 2>/dev/null)" = 0 ]
check "twitch-record EDF+ exits 0" [ "$(cat "$tmp/rc-edf" 2>/dev/null)" = 0 ]
check "journal of a closed file ends in 'closed'" \
	[ "$(tail -n 1 "$tmp/rec.bdf.journal" 2>/dev/null)" = closed ]

echo "-- BDF+ read back with MNE"
check "BDF+ read back" $chk check "$tmp/rec.bdf" "$tmp/cap.npz" --marker "lights off" \
	--min-s 5 --max-s 5 --labels "$labels"
echo "-- EDF+ read back with MNE"
check "EDF+ read back" $chk check "$tmp/rec.edf" "$tmp/cap.npz" --marker "lights off" \
	--min-s 5 --max-s 5 --labels "$labels"

echo "-- --rotate-time 2: three files read back as one recording"
cat "$tmp/rec-rot.log"
check "twitch-record --rotate-time exits 0" [ "$(cat "$tmp/rc-rot" 2>/dev/null)" = 0 ]
check "rotated files read back" $chk check "$tmp/rot.bdf,$tmp/rot-1.bdf,$tmp/rot-2.bdf" \
	"$tmp/cap.npz" --marker "lights off" --min-s 5 --max-s 5 --labels "$labels"

echo "-- kill -9, then --recover"
cat "$tmp/rec-crash.log"
check "journal of the killed recording holds the marker" \
	grep -q "before the crash" "$tmp/crash.bdf.journal"
check "--recover exits 0" "$rec" --recover "$tmp/crash.bdf"
check "recovered file read back" $chk check "$tmp/crash.bdf" "$tmp/cap.npz" \
	--marker "before the crash" --min-s 2 --max-s 4 --labels "$labels"
check "second --recover: nothing to do" sh -c \
	"'$rec' --recover '$tmp/crash.bdf' | grep -q 'nothing to recover'"
echo "-- SIGTERM closes the file properly"
cat "$tmp/rec-term.log"
check "SIGTERM: exit 0" [ "$(cat "$tmp/rc-term" 2>/dev/null)" = 0 ]
check "SIGTERM: journal closed" [ "$(tail -n 1 "$tmp/term.bdf.journal" 2>/dev/null)" = closed ]
check "SIGTERM: file read back" $chk check "$tmp/term.bdf" "$tmp/cap.npz" \
	--marker "before the crash" --min-s 2 --max-s 4 --labels "$labels"

if command -v save2gdf >/dev/null; then
	check "BioSig save2gdf reads the recovered file" sh -c \
		"save2gdf -JSON '$tmp/crash.bdf' >'$tmp/biosig.json' 2>&1 && \
		 grep -q 'before the crash' '$tmp/biosig.json'"
fi

if [ $fail != 0 ]; then
	echo "--- run log"; cat "$tmp/run.log"; echo "--- capture"; cat "$tmp/cap.log"
	tail -n 20 "$tmp/twitchd.log"
fi
exit $fail
