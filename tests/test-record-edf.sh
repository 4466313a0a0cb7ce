#!/bin/sh
# SPDX-License-Identifier: MIT
# test-record-edf.sh - twitch-record end to end on the simulated cart:
#  1. exit codes: bad arguments 2, no daemon 3;
#  2. twitch-devsim + twitchd; a second client (tests/record-edf-check.py,
#     libtwitch through ctypes) captures the samples and events while
#     twitch-record records 5 s to BDF+ with markers placed by
#     `twitchctl mark`; every file's bytes are checked against EDF+ (record
#     count, TALs, UTF-8 text, unique labels), then MNE (python3-mne) reads
#     it back: 8 signals "EMG emg chN", 4000 Hz, 5 s, every sample equal to
#     the capture within half an LSB (0.05 uV), every final twitch event and
#     the markers annotated (one of 39 ASCII bytes and then "\303\251BB", cut
#     to EDF+'s 40 bytes before the two-byte character, whole in the
#     journal); a device overflow of 800 scans mid-recording is a gap of
#     zeros at the samples the capture did not get, annotated "gap N samples";
#  3. the same with --edf (16 bits, +-3276.8 uV), and with --rotate-time 2:
#     three files that read back as one recording without a gap, events at a
#     file boundary in the file that holds their onset;
#  4. kill -9 of a recording after a marker, then --recover: MNE reads the
#     file, its samples equal the capture, the marker is there; a second
#     --recover says there is nothing to do; BioSig's save2gdf also reads it;
#     a journal line with a byte that is not UTF-8 and one cut inside a
#     character are recovered as valid text; --recover of a file with less
#     than one complete data record refuses it (exit 1, one message naming
#     it, file and journal untouched);
#  5. SIGTERM mid-recording: exit 0, journal "closed", the file reads back;
#     SIGTERM within a file's first second (just after the start, and with
#     --rotate-time 1, where every stop is): exit 0, journals "closed", each
#     file valid with one data record, padded with zeros noted as a gap;
#  6. a full disk (ulimit -f of 2.5 records): exit 1, one message, the file
#     cut to its 2 complete records with a header that counts them, the
#     journal not "closed"; --recover then adds the annotations;
#  7. two devices whose names share 8 characters, one with 12 channels:
#     unique labels of at most 16 characters, the full names in the
#     transducer fields.
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
# 39 bytes and a two-byte character: EDF+ keeps 40 bytes, so the annotation
# is the 39 bytes alone; the journal keeps it whole
a39=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
utf8_mark=$(printf '%s\303\251BB' "$a39")

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

journal_closed() {	# journal_closed FILE...: each journal ends in "closed"
	for _f; do
		[ "$(tail -n 1 "$_f.journal" 2>/dev/null)" = closed ] || return 1
	done
}

journal_open() {	# journal_open FILE: a journal that does not end in "closed"
	[ -s "$1.journal" ] && [ "$(tail -n 1 "$1.journal")" != closed ]
}

# 2-6 under the simulator
export TWITCH_SOCKET="$tmp/control.sock" TMPD="$tmp" REC="$rec" CHK="$chk" B="$build" \
	UTF8_MARK="$utf8_mark"
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
	"$B/twitchctl" mark "$UTF8_MARK" >/dev/null
	wait $r1; echo $? >"$TMPD/rc-bdf"
	wait $r2; echo $? >"$TMPD/rc-edf"
	wait $r4; echo $? >"$TMPD/rc-rot"

	# 4: kill -9 mid-recording; 5: SIGTERM, also within the first second
	# of a file; 6: a file size limit of 490 blocks of 512 bytes, 2.5
	# records of 8 x 4000 x 3 + 16 x 114 bytes after the 6400-byte header
	# (--stream: no waiting up to 3 s for a first record of every stream,
	# the bioimpedance one included, which would race the kills below)
	"$REC" -o "$TMPD/short.bdf" --stream samples-emg 2>"$TMPD/rec-short.log" & r6=$!
	"$REC" -o "$TMPD/rt1.bdf" --stream samples-emg --rotate-time 1 \
		2>"$TMPD/rec-rt1.log" & r7=$!
	"$REC" -o "$TMPD/crash.bdf" --stream samples-emg 2>"$TMPD/rec-crash.log" & r3=$!
	"$REC" -o "$TMPD/term.bdf" --stream samples-emg 2>"$TMPD/rec-term.log" & r5=$!
	sh -c "ulimit -f 490 && exec \"\$0\" -o \"$TMPD/full.bdf\" --stream samples-emg" \
		"$REC" 2>"$TMPD/rec-full.log" & r8=$!
	for i in $(seq 100); do
		[ -e "$TMPD/short.bdf.journal" ] && break; sleep 0.02
	done
	"$B/twitchctl" mark "short stop" >/dev/null
	sleep 0.3
	kill -TERM $r6; wait $r6; echo $? >"$TMPD/rc-short"
	sleep 1
	"$B/twitchctl" mark "before the crash" >/dev/null
	sleep 1.7	# the journal is synced every second
	kill -9 $r3; wait $r3 2>/dev/null
	kill -TERM $r5; wait $r5; echo $? >"$TMPD/rc-term"
	kill -TERM $r7; wait $r7; echo $? >"$TMPD/rc-rt1"
	wait $r8; echo $? >"$TMPD/rc-full"
	sleep 0.3	# the last records of the killed recording reach the capture
	touch "$TMPD/stop"
	wait $c
' >"$tmp/run.log" 2>&1
cat "$tmp/rec-bdf.log" "$tmp/rec-edf.log"
check "twitch-record BDF+ exits 0" [ "$(cat "$tmp/rc-bdf" 2>/dev/null)" = 0 ]
check "twitch-record EDF+ exits 0" [ "$(cat "$tmp/rc-edf" 2>/dev/null)" = 0 ]
check "journal of a closed file ends in 'closed'" \
	[ "$(tail -n 1 "$tmp/rec.bdf.journal" 2>/dev/null)" = closed ]

check "the journal keeps a marker's text whole" grep -qx "A [0-9]* -1 $utf8_mark" \
	"$tmp/rec.bdf.journal"

echo "-- BDF+ read back with MNE"
check "BDF+ read back" $chk check "$tmp/rec.bdf" "$tmp/cap.npz" --marker "lights off" \
	--marker "$a39" --min-s 5 --max-s 5 --labels "$labels"
echo "-- EDF+ read back with MNE"
check "EDF+ read back" $chk check "$tmp/rec.edf" "$tmp/cap.npz" --marker "lights off" \
	--marker "$a39" --min-s 5 --max-s 5 --labels "$labels"

echo "-- --rotate-time 2: three files read back as one recording"
cat "$tmp/rec-rot.log"
check "twitch-record --rotate-time exits 0" [ "$(cat "$tmp/rc-rot" 2>/dev/null)" = 0 ]
check "rotated files read back" $chk check "$tmp/rot.bdf,$tmp/rot-1.bdf,$tmp/rot-2.bdf" \
	"$tmp/cap.npz" --marker "lights off" --marker "$a39" --min-s 5 --max-s 5 \
	--labels "$labels"

echo "-- kill -9, then --recover"
cat "$tmp/rec-crash.log"
check "journal of the killed recording holds the marker" \
	grep -q "before the crash" "$tmp/crash.bdf.journal"
# copies of the crashed file before it is recovered: one with less than
# one data record, one whose journal has text that is not valid UTF-8
hdr_bytes=$(dd if="$tmp/crash.bdf" bs=1 skip=184 count=8 2>/dev/null)
head -c $((hdr_bytes + 40000)) "$tmp/crash.bdf" >"$tmp/early.bdf"
cp "$tmp/crash.bdf.journal" "$tmp/early.bdf.journal"
cp "$tmp/early.bdf" "$tmp/early.orig"
cp "$tmp/early.bdf.journal" "$tmp/early.journal.orig"
cp "$tmp/crash.bdf" "$tmp/text.bdf"
{ cat "$tmp/crash.bdf.journal"
  printf 'A 3000 -1 bad \377 byte\nA 3001 -1 %s\nA 3002 -1 cut \303\n' "$utf8_mark"; } \
	>"$tmp/text.bdf.journal"
check "--recover exits 0" "$rec" --recover "$tmp/crash.bdf"
check "recovered file read back" $chk check "$tmp/crash.bdf" "$tmp/cap.npz" \
	--marker "before the crash" --min-s 2 --max-s 4 --labels "$labels"
check "second --recover: nothing to do" sh -c \
	"'$rec' --recover '$tmp/crash.bdf' | grep -q 'nothing to recover'"
echo "-- --recover of journal text that is not UTF-8, or cut inside a character"
check "--recover exits 0" "$rec" --recover "$tmp/text.bdf"
check "recovered text is valid UTF-8, cut on a character" $chk check "$tmp/text.bdf" \
	"$tmp/cap.npz" --marker "before the crash" --marker "bad ? byte" --marker "$a39" \
	--marker "cut ?" --min-s 2 --max-s 4 --labels "$labels"
echo "-- --recover of less than one data record"
"$rec" --recover "$tmp/early.bdf" >"$tmp/early.out" 2>"$tmp/early.err"
echo $? >"$tmp/rc-early"
cat "$tmp/early.out" "$tmp/early.err"
check "less than a record: exit 1" [ "$(cat "$tmp/rc-early")" = 1 ]
check "less than a record: one message" [ "$(wc -l <"$tmp/early.err")" = 1 ]
check "less than a record: nothing on stdout" [ ! -s "$tmp/early.out" ]
check "less than a record: the message names the file" grep -q "$tmp/early.bdf:" "$tmp/early.err"
check "less than a record: file and journal untouched, no temporary left" \
	sh -c "cmp -s '$tmp/early.bdf' '$tmp/early.orig' && \
	       cmp -s '$tmp/early.bdf.journal' '$tmp/early.journal.orig' && \
	       [ ! -e '$tmp/early.bdf.tmp' ]"

echo "-- SIGTERM closes the file properly"
cat "$tmp/rec-term.log"
check "SIGTERM: exit 0" [ "$(cat "$tmp/rc-term" 2>/dev/null)" = 0 ]
check "SIGTERM: journal closed" journal_closed "$tmp/term.bdf"
check "SIGTERM: file read back" $chk check "$tmp/term.bdf" "$tmp/cap.npz" \
	--marker "before the crash" --min-s 2 --max-s 4 --labels "$labels"
echo "-- SIGTERM within the first second"
cat "$tmp/rec-short.log"
check "SIGTERM at 0.3 s: exit 0" [ "$(cat "$tmp/rc-short" 2>/dev/null)" = 0 ]
check "SIGTERM at 0.3 s: journal closed" journal_closed "$tmp/short.bdf"
check "SIGTERM at 0.3 s: one second, its end padded" $chk check "$tmp/short.bdf" \
	"$tmp/cap.npz" --marker "short stop" --min-s 1 --max-s 1 --labels "$labels" \
	--tail-gap may
echo "-- SIGTERM within the first second of a rotated file (--rotate-time 1)"
cat "$tmp/rec-rt1.log"
rt1=$tmp/rt1.bdf
k=1
while [ -e "$tmp/rt1-$k.bdf" ]; do
	rt1="$rt1,$tmp/rt1-$k.bdf"
	k=$((k + 1))
done
check "--rotate-time 1, SIGTERM: exit 0" [ "$(cat "$tmp/rc-rt1" 2>/dev/null)" = 0 ]
check "--rotate-time 1, SIGTERM: journals closed" journal_closed $(echo "$rt1" | tr , ' ')
check "--rotate-time 1, SIGTERM: the files, the last one padded" $chk check "$rt1" \
	"$tmp/cap.npz" --marker "short stop" --marker "before the crash" --min-s 3 --max-s 5 \
	--labels "$labels" --tail-gap must

echo "-- a full disk (ulimit -f)"
cat "$tmp/rec-full.log"
check "full disk: exit 1" [ "$(cat "$tmp/rc-full" 2>/dev/null)" = 1 ]
check "full disk: one message, naming the file" [ "$(grep -v -e ': recording to ' \
	-e ': streams: ' -e ' s recorded; ' "$tmp/rec-full.log")" = \
	"$(grep "^twitch-record: $tmp/full.bdf: writing failed (" "$tmp/rec-full.log")" ]
check "full disk: one message" [ "$(grep -c "full.bdf: writing failed" "$tmp/rec-full.log")" = 1 ]
check "full disk: journal not closed" journal_open "$tmp/full.bdf"
check "full disk: cut to its 2 complete records" $chk check "$tmp/full.bdf" "$tmp/cap.npz" \
	--min-s 2 --max-s 2 --labels "$labels"
check "full disk: --recover exits 0" "$rec" --recover "$tmp/full.bdf"
check "full disk: recovered, with the marker" $chk check "$tmp/full.bdf" "$tmp/cap.npz" \
	--marker "short stop" --marker "before the crash" --min-s 2 --max-s 2 --labels "$labels"

# 7. labels of devices whose names share 8 characters, one of 12 channels
echo "-- two devices named emg-left-a (12 channels) and emg-left-b (8)"
printf '%s\n' '[device emg-left-a]' 'profile = generic' 'device = iio:device0' 'rate_hz = 1000' \
	'detect = no' '[device emg-left-b]' 'profile = ti-ads1298' 'device = iio:device1' \
	'rate_hz = 1000' 'detect = no' >"$tmp/labels.conf"
export TWITCH_SOCKET="$tmp/control2.sock"
"$build/twitch-devsim" -d generic:channels=12,rate=1000 -d ads1298:rate=1000 -- sh -c '
	"$B/twitchd" -c "$TMPD/labels.conf" --socket "$TWITCH_SOCKET" 2>"$TMPD/twitchd2.log" & d=$!
	trap "kill $d 2>/dev/null; wait $d" EXIT
	for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do
		"$B/twitchctl" ping >/dev/null 2>&1 && break; sleep 0.2
	done
	"$REC" -o "$TMPD/labels.edf" --edf --duration 2 2>"$TMPD/rec-labels.log"
	echo $? >"$TMPD/rc-labels"
' >"$tmp/run2.log" 2>&1
cat "$tmp/rec-labels.log"
lab_a= tr_a= lab_b= tr_b=
for c in 0 1 2 3 4 5 6 7 8 9 10 11; do
	if [ $c -lt 10 ]; then
		lab_a="$lab_a,EMG emg-left ch$c"	# 8 characters of the name
	else
		lab_a="$lab_a,EMG emg-lef ch$c"		# 7 for a two-digit channel
	fi
	tr_a="$tr_a,twitchd device emg-left-a ch$c"
done
for c in 0 1 2 3 4 5 6 7; do
	lab_b="$lab_b,EMG emg-le~1 ch$c"	# "emg-left" is taken: 6 and ~1
	tr_b="$tr_b,twitchd device emg-left-b ch$c"
done
check "two devices: exit 0" [ "$(cat "$tmp/rc-labels" 2>/dev/null)" = 0 ]
check "two devices: unique labels, full names as transducers" $chk structure \
	"$tmp/labels.edf" --labels "${lab_a#,}$lab_b" --transducers "${tr_a#,}$tr_b"

if command -v save2gdf >/dev/null; then
	check "BioSig save2gdf reads the recovered file" sh -c \
		"save2gdf -JSON '$tmp/crash.bdf' >'$tmp/biosig.json' 2>&1 && \
		 grep -q 'before the crash' '$tmp/biosig.json'"
fi

if [ $fail != 0 ]; then
	echo "--- run log"; cat "$tmp/run.log"; echo "--- capture"; cat "$tmp/cap.log"
	tail -n 20 "$tmp/twitchd.log"
	echo "--- run log, two devices"; cat "$tmp/run2.log"; tail -n 20 "$tmp/twitchd2.log"
fi
exit $fail
