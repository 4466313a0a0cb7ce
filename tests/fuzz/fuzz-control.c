// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fuzz-control.c - libFuzzer entry point for the control socket's command
 * parsing (daemon/control.c: control_parse()) and what the event loop does
 * with a command's arguments (daemon/loop.c: handle_command()/cmd_bioz(),
 * mirrored here: config_parse_number(), the "calibrate rc" sscanf(),
 * sweepcsv_subject_parse(), the marker's length), every reply going through
 * control_reply() over a SOCK_SEQPACKET socketpair and read back.
 *
 * The input is one message as recv() would give it (at most
 * TWITCH_CTL_MAX_CMD bytes: longer inputs are cut there, as the socket
 * does), in a buffer of exactly one byte more, as loop.c's.
 *
 *   gcc -g -O2 -D_GNU_SOURCE -Iipc -Idaemon -Idrivers -c daemon/dsp-lanes.c
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iipc -Idaemon \
 *	-Idrivers tests/fuzz/fuzz-control.c daemon/publish.c ipc/ring.c ipc/record.c \
 *	daemon/sweepcsv.c daemon/config.c daemon/inifile.c daemon/dsp.c dsp-lanes.o \
 *	daemon/detect.c daemon/detect-tiles.c -linih -lm -o fuzz-control
 *   (config.c, for config_parse_number(), brings the filter and detector
 *   checks along; clang cannot build dsp-lanes.c's GCC builtin.)
 *   gcc -DFUZZ_STANDALONE -D_GNU_SOURCE -Iipc -Idaemon -Idrivers tests/fuzz/fuzz-control.c \
 *	daemon/publish.c ipc/ring.c ipc/record.c daemon/sweepcsv.c daemon/config.c \
 *	daemon/inifile.c \
 *	daemon/dsp.c daemon/dsp-lanes.c daemon/detect.c daemon/detect-tiles.c -linih -lm \
 *	-o fuzz-control && ./fuzz-control CORPUS-FILES...
 */
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "../../daemon/control.c"
#include "config.h"
#include "records.h"
#include "sweepcsv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* what the last input did, for the standalone replayer's report */
static char fuzz_result[1100];
static int fuzz_sv[2] = { -1, -1 };

/* Read the reply back: one message, "OK " or "ERR N ", at most the limit. */
static void fuzz_reply_check(void)
{
	char buf[TWITCH_CTL_MAX_CMD + 64];
	ssize_t n = recv(fuzz_sv[1], buf, sizeof(buf) - 1, MSG_DONTWAIT);

	if (n <= 0 || (size_t)n > TWITCH_CTL_MAX_CMD - 1)
		abort();
	buf[n] = '\0';
	if (strncmp(buf, "OK ", 3) && strncmp(buf, "ERR ", 4))
		abort();
	snprintf(fuzz_result, sizeof(fuzz_result), "%s", buf);
}

/* loop.c's cmd_bioz(), without a device: the arguments' checks. */
static void fuzz_bioz(const struct control_cmd *cmd)
{
	struct sweepcsv_err serr;
	struct bioz_subject subj;
	char msg[256];
	double v;

	if (!strcmp(cmd->verb, "calibrate") && !strncmp(cmd->args, "rc ", 3)) {
		double rs, rp, c_nf;
		char extra;

		if (sscanf(cmd->args + 3, "%lf %lf %lf %c", &rs, &rp, &c_nf, &extra) != 3 ||
		    !(rs >= 1 && rs <= 1e6) || !(rp >= 1 && rp <= 1e6) ||
		    !(c_nf >= 0.001 && c_nf <= 1e6))
			control_reply(fuzz_sv[0], EINVAL, "calibrate rc RS RP C");
		else
			control_reply(fuzz_sv[0], 0, "%s: the next sweep calibrates against %g "
				      "ohm + (%g ohm || %g nF)", "bioz", rs, rp, c_nf);
	} else if (!strcmp(cmd->verb, "calibrate") || !strcmp(cmd->verb, "temperature")) {
		bool cal = !strcmp(cmd->verb, "calibrate");
		double lo = cal ? 1.0 : 25.0, hi = cal ? 1e6 : 45.0;

		if (!cal && !strcmp(cmd->args, "none"))
			control_reply(fuzz_sv[0], 0, "tissue temperature cleared");
		else if (config_parse_number(cmd->args, lo, hi, &v) < 0)
			control_reply(fuzz_sv[0], EINVAL, "%s: out of range", cmd->verb);
		else if (!(v >= lo && v <= hi))
			abort();
		else
			control_reply(fuzz_sv[0], 0, "%s %g", cmd->verb, v);
	} else if (!strcmp(cmd->verb, "subject")) {
		if (!strcmp(cmd->args, "none")) {
			control_reply(fuzz_sv[0], 0, "subject cleared");
		} else if (sweepcsv_subject_parse("subject", cmd->args, &subj, &serr) < 0) {
			sweepcsv_strerror(&serr, msg, sizeof(msg));
			control_reply(fuzz_sv[0], EINVAL, "%s", msg);
		} else {
			control_reply(fuzz_sv[0], 0, "subject set");
		}
	} else {
		control_reply(fuzz_sv[0], 0, "a new baseline");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct control_cmd cmd;
	char *buf;
	size_t i, len = size < TWITCH_CTL_MAX_CMD ? size : TWITCH_CTL_MAX_CMD;
	int err;

	if (fuzz_sv[0] < 0 && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fuzz_sv) < 0)
		abort();
	buf = malloc(len + 1);		/* as loop.c's: room for one more byte */
	if (buf == NULL)
		return 0;
	memcpy(buf, data, len);
	memset(&cmd, 0, sizeof(cmd));
	err = control_parse(buf, len, &cmd);
	if (err < 0) {
		if (err != -EINVAL && err != -EMSGSIZE)
			abort();
		control_reply(fuzz_sv[0], -err, "malformed command");
		fuzz_reply_check();
		free(buf);
		return 0;
	}
	/* what parses: a verb of 1..15 bytes without blanks, args inside buf */
	if (cmd.verb[0] == '\0' || strlen(cmd.verb) >= sizeof(cmd.verb) ||
	    strpbrk(cmd.verb, " \t") || cmd.args < buf || cmd.args > buf + len ||
	    cmd.args + strlen(cmd.args) > buf + len || cmd.args[0] == ' ' || cmd.args[0] == '\t')
		abort();
	for (i = 0; cmd.args[i]; i++)
		if (((unsigned char)cmd.args[i] < 0x20 && cmd.args[i] != '\t') ||
		    cmd.args[i] == 0x7f)
			abort();
	if (!strcmp(cmd.verb, "ping")) {
		control_reply(fuzz_sv[0], 0, "pong");
	} else if (!strcmp(cmd.verb, "status")) {
		control_reply(fuzz_sv[0], 0, "up 0s");
	} else if (!strcmp(cmd.verb, "mark")) {
		struct twitch_rec_marker m;
		size_t n = strlen(cmd.args);

		if (n == 0 || n >= sizeof(m.text)) {
			control_reply(fuzz_sv[0], EINVAL, "a marker needs 1..%zu bytes of text",
				      sizeof(m.text) - 1);
		} else {
			memcpy(m.text, cmd.args, n);
			m.text[n] = '\0';
			control_reply(fuzz_sv[0], 0, "%zu", n);
		}
	} else if (!strcmp(cmd.verb, "calibrate") || !strcmp(cmd.verb, "subject") ||
		   !strcmp(cmd.verb, "baseline") || !strcmp(cmd.verb, "temperature")) {
		fuzz_bioz(&cmd);
	} else {
		control_reply(fuzz_sv[0], EOPNOTSUPP, "unknown command '%s' (try ping, mark, "
			      "status, calibrate, subject, baseline, temperature)", cmd.verb);
	}
	fuzz_reply_check();
	free(buf);
	return 0;
}

#ifdef FUZZ_STANDALONE
#define FUZZ_NAME	"fuzz-control"
#include "fuzz-standalone.h"
#endif
