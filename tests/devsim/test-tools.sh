#!/bin/sh
# SPDX-License-Identifier: MIT
# test-tools.sh - twitch-devsim checked with libiio's own tools (libiio-utils):
#  1. iio_info -u local: sees the simulated ti-ads1298 as the driver shows it;
#  2. iio_readdev reads bytes identical to the simulator's --log-bytes log,
#     for le:s24/32>>0 (ads1298), be:s24/32>>8 (ads131e08) and a generic ADC
#     with an s64 timestamp;
#  3. iio_attr writes are judged like the drivers do (rate rounding, kSPS);
#  4. with a mainline-layout AD5933 beside the ADS1298, libiio 0.24 cannot
#     create a local context at all (issue #948): iio_info fails, EINVAL;
#  5. the control socket answers every fault command.
# Usage: TWITCH_DEVSIM=build/twitch-devsim tests/devsim/test-tools.sh
set -u
here=$(dirname "$0")
. "$here/devsim.sh"

fail=0
tmp=$(mktemp -d)
trap 'devsim_stop; rm -rf "$tmp"' EXIT

check() {	# check NAME COMMAND...: report, remember a failure
	_name=$1
	shift
	if "$@"; then
		echo "ok   $_name"
	else
		echo "FAIL $_name"
		fail=1
	fi
}

ctl_q() {	# a control command, reply not shown
	devsim_ctl "$@" >/dev/null
}

# the first N bytes of what iio_readdev wrote equal the log's first N bytes
same_prefix() {	# same_prefix OUT LOG
	_n=$(wc -c < "$1")
	[ "$_n" -gt 0 ] && cmp -s -n "$_n" "$1" "$2"
}

for tool in iio_info iio_readdev iio_attr; do
	if ! command -v "$tool" >/dev/null; then
		echo "test-tools.sh: $tool missing (Debian package libiio-utils)" >&2
		exit 1
	fi
done

devsim_start --log-bytes -d ads1298:rate=4000 -d ads131e08:rate=8000 \
	-d generic:name=adc4,channels=4,rate=1000,timestamp=1 || exit 1

under_testbed iio_info -u local: > "$tmp/info" 2>&1
check "iio_info: name ads1298" grep -q "iio:device0: ads1298 (buffer capable)" "$tmp/info"
check "iio_info: le:s24/32>>0" grep -q "voltage7:  (input, index: 7, format: le:s24/32>>0)" "$tmp/info"
check "iio_info: scale 0.000047683" grep -q "scale value: 0.000047683" "$tmp/info"
check "iio_info: be:s24/32>>8" grep -q "format: be:s24/32>>8" "$tmp/info"
check "iio_info: kSPS list" grep -q "sampling_frequency_available value: 1 2 4 8 16 32 64" "$tmp/info"
check "iio_info: own trigger" grep -q "trigger0: ads131e08-dev1" "$tmp/info"
check "iio_info: timestamp" grep -q "timestamp:  (input, index: 4, format: le:S64/64>>0)" "$tmp/info"

under_testbed iio_readdev -u local: -b 256 -s 4096 iio:device0 voltage0 voltage1 \
	> "$tmp/ads1298.bin" 2>/dev/null
check "iio_readdev ads1298: 4096 x 8 bytes" test "$(wc -c < "$tmp/ads1298.bin")" -eq 32768
check "iio_readdev ads1298: byte-exact" same_prefix "$tmp/ads1298.bin" "$DEVSIM_DIR/iio:device0.s1.bin"
under_testbed iio_readdev -u local: -b 128 -s 2048 iio:device1 > "$tmp/ads131e08.bin" 2>/dev/null
check "iio_readdev ads131e08: byte-exact" same_prefix "$tmp/ads131e08.bin" "$DEVSIM_DIR/iio:device1.s1.bin"
under_testbed iio_readdev -u local: -b 100 -s 500 iio:device2 > "$tmp/adc4.bin" 2>/dev/null
check "iio_readdev generic+timestamp: 500 x 24 bytes" test "$(wc -c < "$tmp/adc4.bin")" -eq 12000
check "iio_readdev generic+timestamp: byte-exact" same_prefix "$tmp/adc4.bin" "$DEVSIM_DIR/iio:device2.s1.bin"

# ti-ads1298 rounds the rate to a power-of-two divider: 3000 -> 4000 Hz
under_testbed iio_attr -q -u local: -d iio:device0 sampling_frequency 3000 >/dev/null 2>&1
devsim_ctl sync >/dev/null
check "ads1298 rounds 3000 Hz to 4000" test "$(under_testbed iio_attr -u local: -d iio:device0 sampling_frequency)" = 4000
# ti-ads131e08 takes kSPS: 4000 is refused and the rate stays
under_testbed iio_attr -q -u local: -c iio:device1 voltage0 sampling_frequency 4000 >/dev/null 2>&1
devsim_ctl sync >/dev/null
check "ads131e08 refuses 4000 (kSPS)" test "$(under_testbed iio_attr -u local: -c iio:device1 voltage0 sampling_frequency)" = 8
check "ads131e08 rejection logged" grep -q 'attr-rejected file=in_voltage_sampling_frequency value="4000"' "$DEVSIM_DIR/events.log"

check "ctl overflow" ctl_q overflow ads1298 10
check "ctl stall" ctl_q stall ads1298 5 drop
check "ctl garbage" ctl_q garbage ads1298 in_voltage0_scale bogus
check "ctl garbage shows" test "$(cat "$UMOCKDEV_DIR/sys/bus/iio/devices/iio:device0/in_voltage0_scale")" = bogus
check "ctl garbage-clear" ctl_q garbage-clear ads1298 in_voltage0_scale
check "ctl vanish" ctl_q vanish adc4
check "vanished from sysfs" test ! -e "$UMOCKDEV_DIR/sys/bus/iio/devices/iio:device2"
check "ctl return" ctl_q return adc4
check "ctl bad command fails" sh -c '! "$0" --ctl "$1" frobnicate x >/dev/null' "$TWITCH_DEVSIM" "$DEVSIM_CONTROL"
devsim_stop

# libiio issue #948: one mainline AD5933 hides every device from libiio 0.24
devsim_start -d ads1298 -d ad5933 || exit 1
under_testbed iio_info -u local: > "$tmp/info948" 2>&1
rc=$?
check "#948: iio_info fails" test "$rc" -ne 0
check "#948: EINVAL" grep -q "Invalid argument (22)" "$tmp/info948"
check "#948: real/imag scan elements present" test -e "$UMOCKDEV_DIR/sys/bus/iio/devices/iio:device1/scan_elements/in_voltage_imag_en"
devsim_stop

exit $fail
