#!/bin/sh
# SPDX-License-Identifier: MIT
# test-analyze.sh - `twitchd --analyze` end to end, through the real binary:
#  1. every regression replay of tests/replay/cases gives its expected file
#     (tests/replay/update.sh --check), and every line is valid JSON;
#  2. the summary carries a numeric "samples_per_s" (the field the replays
#     ignore) and nothing else varies between two runs;
#  3. exit codes and messages: missing file, unknown format, bad CSV line,
#     bad --subject -> 2 with one message naming file/line/field and no
#     output; no FILE -> 2; a full disk -> 1;
#  4. -c CONF [--device NAME]: which section's settings apply, and the
#     errors for a section that cannot apply.
# Usage: TWITCH_BUILD=build TWITCH_SHARED=../shared tests/test-analyze.sh
# (TWITCHD overrides the binary.) Exit 0 pass, 1 fail, 77 skip.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=${TWITCH_BUILD:-build}
case $build in
/*) ;;
*) build=$root/$build ;;
esac
twitchd=${TWITCHD:-$build/twitchd}
shared=${TWITCH_SHARED:-$root/../shared}
export TWITCH_SHARED="$shared" TWITCH_BUILD="$build"
py=python3
[ -x /usr/bin/python3 ] && py=/usr/bin/python3

fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

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

# 1. replays
ANALYZE="$twitchd --analyze" "$here/replay/update.sh" --check
rc=$?
case $rc in
0) ;;
77) echo "replays skipped: no shared data" ;;
*) fail=1 ;;
esac

json_lines() {	# every line of the files is one JSON object
	"$py" -c '
import json, sys
for name in sys.argv[1:]:
    with open(name, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not isinstance(json.loads(line), dict):
                sys.exit("%s:%d: not an object" % (name, n))
' "$@"
}
check "expected outputs are JSON lines" json_lines "$here"/replay/*.expected.jsonl

# 2. the speed field, and nothing else, varies
in=$here/replay/emg2ch.hea
"$twitchd" --analyze "$in" >"$tmp/a" 2>"$tmp/err"
"$twitchd" --analyze "$in" >"$tmp/b" 2>>"$tmp/err"
speed_is_number() {
	tail -n 1 "$tmp/a" | "$py" -c '
import json, sys
s = json.loads(sys.stdin.read())
sys.exit(0 if s["type"] == "summary" and isinstance(s["samples_per_s"], (int, float))
         and s["samples_per_s"] > 0 else 1)'
}
same_but_speed() {
	sed -E 's/,"samples_per_s":[^,}]*//' "$tmp/a" >"$tmp/a2"
	sed -E 's/,"samples_per_s":[^,}]*//' "$tmp/b" >"$tmp/b2"
	cmp -s "$tmp/a2" "$tmp/b2" && ! cmp -s "$tmp/a" "$tmp/a2" && [ ! -s "$tmp/err" ]
}
check "summary has a numeric samples_per_s" speed_is_number
check "two runs differ only in samples_per_s" same_but_speed

# 3. bad input and usage
bad() {	# bad EXPECTED_RC NEEDLE ARGS...: exit code, one message, no output
	_rc=$1
	_needle=$2
	shift 2
	"$twitchd" "$@" >"$tmp/out" 2>"$tmp/err"
	_got=$?
	if [ $_got != "$_rc" ]; then
		echo "  exit $_got, want $_rc: $(cat "$tmp/err")"
		return 1
	fi
	if ! grep -qF -- "$_needle" "$tmp/err"; then
		echo "  '$_needle' not in: $(cat "$tmp/err")"
		return 1
	fi
	[ "$_rc" = 2 ] || return 0
	[ ! -s "$tmp/out" ] && [ "$(wc -l <"$tmp/err")" -ge 1 ]
}
printf 'sweep,freq_hz,r_ohm,x_ohm\n1,5000,500,-30\n1,6000,490,x\n' >"$tmp/bad.csv"
printf 'not a recording\001\002\n' >"$tmp/what.bin"
check "missing file: exit 2" bad 2 "$tmp/none.hea" --analyze "$tmp/none.hea"
check "unknown format: exit 2" bad 2 "what.bin" --analyze "$tmp/what.bin"
check "bad CSV line: exit 2" bad 2 "bad.csv:3: field 'x_ohm'" --analyze "$tmp/bad.csv"
check "bad --subject: exit 2" bad 2 "field 'weight_kg'" --analyze "$here/replay/sweeps.csv" \
	--subject height_cm=170,weight_kg=-1,sex=m
check "no FILE: exit 2" bad 2 "" --analyze
check "--subject without --analyze: exit 2" bad 2 "" --subject height_cm=170,weight_kg=70,sex=m

# 4. -c CONF [--device NAME]: a section's filter and detector settings. The
# default section is the first EMG one that detects: not the detect = no ADC
# before it, whose different mains would change the events.
printf '%s\n' '[device adc]' 'profile = generic' 'detect = no' 'mains = 50' \
	'[device emg]' 'profile = ti-ads1298' 'mains = 60' 'detect.threshold_on = 20' \
	'[device bz]' 'profile = ad5933' >"$tmp/two.conf"
strip_speed() { sed -E 's/,"samples_per_s":[^,}]*//' "$1"; }
default_section() {
	"$twitchd" --analyze "$in" -c "$tmp/two.conf" >"$tmp/c" 2>"$tmp/err" &&
	"$twitchd" --analyze "$in" -c "$tmp/two.conf" --device emg >"$tmp/d" 2>>"$tmp/err" &&
	strip_speed "$tmp/c" >"$tmp/c2" && strip_speed "$tmp/d" >"$tmp/d2" &&
	strip_speed "$tmp/a" >"$tmp/a3" &&
	cmp -s "$tmp/c2" "$tmp/d2" && ! cmp -s "$tmp/c2" "$tmp/a3" && [ ! -s "$tmp/err" ]
}
check "-c: the first EMG section with detection, its settings applied" default_section
check "--device naming a detect = no section: exit 2" bad 2 "detect = no: it detects nothing" \
	--analyze "$in" -c "$tmp/two.conf" --device adc
check "--device naming an ad5933 section: exit 2" bad 2 "names an ad5933 section" \
	--analyze "$in" -c "$tmp/two.conf" --device bz
check "--device naming no section: exit 2" bad 2 "no such [device] section" \
	--analyze "$in" -c "$tmp/two.conf" --device nope
printf '%s\n' '[device adc]' 'profile = generic' 'detect = no' >"$tmp/none.conf"
check "-c with no section that detects: exit 2" bad 2 "no EMG [device] section with detection" \
	--analyze "$in" -c "$tmp/none.conf"

full_disk() {
	"$twitchd" --analyze "$in" >/dev/full 2>"$tmp/err"
	[ $? = 1 ] && grep -q "No space left" "$tmp/err"
}
[ -w /dev/full ] && check "full disk: exit 1" full_disk
exit $fail
