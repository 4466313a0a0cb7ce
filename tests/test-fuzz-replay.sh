#!/bin/sh
# SPDX-License-Identifier: MIT
# test-fuzz-replay.sh - the fuzz targets (tests/fuzz/) keep building and
# running: each is built as its standalone replayer (gcc, -DFUZZ_STANDALONE,
# warnings as errors; with the sanitizers of the build when
# TWITCH_SANITIZE is set) and replays seeds from the repo: the files the
# fuzzers started from, a damaged copy of each, and an empty input. A crash,
# a sanitizer report or a missing "N inputs replayed" line fails it.
# The long runs are libFuzzer's (see each target's header); this only
# keeps them from rotting.
# Usage: TWITCH_BUILD=build tests/test-fuzz-replay.sh. Exit 0 pass, 1 fail.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=${TWITCH_BUILD:-build}
case $build in
/*) ;;
*) build=$root/$build ;;
esac
san=${TWITCH_SANITIZE:-}
cflags="-std=gnu11 -O1 -g -Wall -Wextra -Werror -D_GNU_SOURCE -DFUZZ_STANDALONE"
[ -n "$san" ] && cflags="$cflags -fsanitize=$san -fno-omit-frame-pointer"
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1
fail=0
out=$build/fuzz
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$root" || exit 1

check() {	# name, then the command
	name=$1
	shift
	if "$@" > "$tmp/out" 2>&1; then
		echo "ok   $name"
	else
		echo "FAIL $name"
		sed 's/^/     | /' "$tmp/out" | tail -20
		fail=1
	fi
}

# target, extra sources and flags
build_one() {
	t=$1
	shift
	# shellcheck disable=SC2086
	check "$t builds" gcc $cflags "$@" -o "$out/$t" -lm
}

build_one fuzz-recording tests/fuzz/fuzz-recording.c
build_one fuzz-sweepcsv -Idaemon -Iipc tests/fuzz/fuzz-sweepcsv.c
build_one fuzz-ring -Iipc tests/fuzz/fuzz-ring.c
build_one fuzz-spool tests/fuzz/fuzz-spool.c
build_one fuzz-calstore -Iipc -Idaemon tests/fuzz/fuzz-calstore.c daemon/bioz.c \
	daemon/biozlive.c daemon/sweepcsv.c ipc/record.c
build_one fuzz-config -Iipc -Idaemon -Idrivers tests/fuzz/fuzz-config.c daemon/dsp.c \
	daemon/dsp-lanes.c daemon/detect.c daemon/detect-tiles.c daemon/pipeline.c \
	daemon/sweepcsv.c daemon/inifile.c -linih
build_one fuzz-control -Iipc -Idaemon -Idrivers tests/fuzz/fuzz-control.c daemon/publish.c \
	ipc/ring.c ipc/record.c daemon/sweepcsv.c daemon/config.c daemon/inifile.c daemon/dsp.c \
	daemon/dsp-lanes.c daemon/detect.c daemon/detect-tiles.c -linih

# seeds: real files of each kind, each also cut in half and with bytes
# flipped, and an empty input
: > "$tmp/empty"
seeds() {
	for f in "$@"; do
		b=$tmp/$(echo "$f" | tr / _)
		cp "$f" "$b"
		head -c $(($(wc -c < "$f") / 2)) "$f" > "$b.half"
		tr 'a-m0-4' 'n-z5-9' < "$f" > "$b.flip"
		echo "$b" "$b.half" "$b.flip"
	done
	echo "$tmp/empty"
}

# the replayer exits 0 and says it got through every input (its output
# goes on to check(), which shows it on a failure)
replays() {
	"$@" > "$tmp/log" 2>&1
	rc=$?
	cat "$tmp/log"
	[ "$rc" = 0 ] && tail -n 1 "$tmp/log" | grep -q "inputs replayed"
}

replay() {	# target, seed files
	t=$1
	shift
	[ -x "$out/$t" ] || return
	# shellcheck disable=SC2046
	check "$t replays $# seeds" replays "$out/$t" $(seeds "$@")
}

replay fuzz-recording tests/data/recordings/fuzz/*
replay fuzz-sweepcsv tests/data/bioz/two-sweeps.csv
replay fuzz-config systemd/twitchd.conf
replay fuzz-control systemd/twitchd.conf
replay fuzz-calstore tests/data/bioz/two-sweeps.csv
replay fuzz-ring systemd/twitchd.conf
replay fuzz-spool systemd/twitchd.conf
exit "$fail"
