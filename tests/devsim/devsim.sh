# SPDX-License-Identifier: MIT
# devsim.sh - shell helpers for tests that run several processes against one
# twitch-devsim testbed. Source it, then:
#
#   devsim_start -d ads1298:rate=4000 -d ad5933   # background, waits until ready
#   under_testbed iio_info -u local:              # one command inside the testbed
#   devsim_ctl overflow ads1298 100                # a fault (see twitch-devsim --help)
#   devsim_stop                                    # SIGTERM the simulator, wait
#
# After devsim_start: DEVSIM_PID, UMOCKDEV_DIR, DEVSIM_DIR, DEVSIM_CONTROL,
# DEVSIM_DEVICES and DEVSIM_PRELOAD (the LD_PRELOAD value) are set in the
# calling shell, but LD_PRELOAD itself is not: only under_testbed gets it.
# TWITCH_DEVSIM names the simulator (default: build/twitch-devsim).

: "${TWITCH_DEVSIM:=build/twitch-devsim}"

devsim_start() {
	DEVSIM_ENVFILE=$(mktemp -u "${TMPDIR:-/tmp}/devsim-env.XXXXXX")
	"$TWITCH_DEVSIM" --serve --env-file "$DEVSIM_ENVFILE" "$@" >/dev/null &
	DEVSIM_PID=$!
	_i=0
	while [ ! -f "$DEVSIM_ENVFILE" ]; do
		if ! kill -0 "$DEVSIM_PID" 2>/dev/null; then
			echo "devsim.sh: twitch-devsim exited before it was ready" >&2
			return 1
		fi
		_i=$((_i + 1))
		if [ "$_i" -gt 200 ]; then	# 10 s
			echo "devsim.sh: twitch-devsim not ready after 10 s" >&2
			kill "$DEVSIM_PID"
			return 1
		fi
		sleep 0.05
	done
	while IFS='=' read -r _k _v; do
		_v=${_v#\"}
		_v=${_v%\"}
		case $_k in
		LD_PRELOAD) DEVSIM_PRELOAD=$_v ;;
		UMOCKDEV_DIR|DEVSIM_DIR|DEVSIM_CONTROL|DEVSIM_DEVICES) export "$_k=$_v" ;;
		esac
	done < "$DEVSIM_ENVFILE"
	export DEVSIM_PRELOAD DEVSIM_PID
}

under_testbed() {
	LD_PRELOAD="$DEVSIM_PRELOAD" UMOCKDEV_DIR="$UMOCKDEV_DIR" "$@"
}

devsim_ctl() {
	"$TWITCH_DEVSIM" --ctl "$DEVSIM_CONTROL" "$@"
}

devsim_stop() {
	[ -n "${DEVSIM_PID:-}" ] || return 0
	kill -TERM "$DEVSIM_PID" 2>/dev/null
	wait "$DEVSIM_PID" 2>/dev/null
	DEVSIM_PID=
	rm -f "$DEVSIM_ENVFILE"
}
