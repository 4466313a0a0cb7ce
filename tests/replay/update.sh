#!/bin/sh
# SPDX-License-Identifier: MIT
# update.sh - rebuild the expected outputs of the --analyze replays, or,
# with --check, compare a fresh run of every case with them.
#
# Each case of tests/replay/cases is run from the input's own folder with
# the input's file name (so "file" in the output does not depend on where
# the tree is), and the summary's "samples_per_s" field, the only one that
# varies between runs, is removed; nothing else is touched.
#
# Usage: tests/replay/update.sh [--check]
# Environment:
#   ANALYZE        the command that analyses one file (default
#                  "$TWITCH_BUILD/twitchd --analyze"); the file name and
#                  "--subject S" are appended
#   TWITCH_BUILD   build folder (default build), relative to the root
#   TWITCH_SHARED  the shared folder (default <root>/../shared)
# Exit: 0 all equal (or rebuilt), 1 a difference or a failed run,
#       77 the shared data are missing (skip).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
shared=${TWITCH_SHARED:-$root/../shared}
build=${TWITCH_BUILD:-build}
case $build in
/*) ;;
*) build=$root/$build ;;
esac
analyze=${ANALYZE:-$build/twitchd --analyze}
mode=update
[ "${1:-}" = --check ] && mode=check

if [ ! -d "$shared/data" ]; then
	echo "update.sh: $shared/data not found (set TWITCH_SHARED): skipped" >&2
	exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

strip_speed() {
	sed -E 's/,"samples_per_s":[^,}]*//'
}

fail=0
n=0
while read -r name input subject; do
	case $name in
	'' | '#'*) continue ;;
	esac
	case $input in
	'$SHARED/'*) input=$shared/${input#\$SHARED/} ;;
	/*) ;;
	*) input=$here/$input ;;
	esac
	if [ "$subject" = - ]; then
		set --
	else
		set -- --subject "$subject"
	fi
	n=$((n + 1))
	# $analyze is split into words on purpose: "path/twitchd --analyze"
	(cd "$(dirname "$input")" && $analyze "$(basename "$input")" "$@") \
		>"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ $rc != 0 ]; then
		echo "FAIL $name: exit $rc: $(cat "$tmp/err")"
		fail=1
		continue
	fi
	strip_speed <"$tmp/out" >"$tmp/$name.jsonl"
	expected=$here/$name.expected.jsonl
	if [ $mode = update ]; then
		if [ -f "$expected" ] && cmp -s "$tmp/$name.jsonl" "$expected"; then
			echo "same    $name"
		else
			cp "$tmp/$name.jsonl" "$expected"
			echo "updated $name (explain the change in the commit)"
		fi
	elif [ ! -f "$expected" ]; then
		echo "FAIL $name: no $expected (make replay-update)"
		fail=1
	elif cmp -s "$tmp/$name.jsonl" "$expected"; then
		echo "ok   replay $name"
	else
		echo "FAIL replay $name: output differs from $name.expected.jsonl:"
		diff -u "$expected" "$tmp/$name.jsonl" | head -40
		fail=1
	fi
done <"$here/cases"
if [ $n = 0 ]; then
	echo "update.sh: no case in $here/cases" >&2
	exit 1
fi
exit $fail
