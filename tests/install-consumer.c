// SPDX-License-Identifier: MIT
/*
 * install-consumer.c - a client built only against an installed libtwitch
 * (`pkg-config --cflags --libs twitch`), as a third party would build one.
 * tests/test-install.sh compiles it against a DESTDIR install and runs it.
 *
 * Usage: install-consumer [SOCKET]
 * Always: prints where libtwitch.so was loaded from, checks that connecting
 * to a socket that does not exist gives -ENOENT (by path and through
 * $TWITCH_SOCKET), prints every record type name and checks the helpers'
 * answers for values outside the ABI. With SOCKET: connects to a running
 * twitchd there, prints its streams and checks that "ping" is answered.
 * Exit 0 when every check passed, 1 otherwise.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE		/* dladdr() */
#endif
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <twitch.h>

static int n_failed;

static void check(int ok, const char *what)
{
	printf("%s %s\n", ok ? "ok  " : "FAIL", what);
	if (!ok)
		n_failed++;
}

static void check_missing_socket(void)
{
	struct twitch_client *c = NULL;
	int err;

	err = twitch_client_connect("/nonexistent/twitchd/control.sock", &c);
	printf("connect to a missing socket: %d (%s)\n", err, strerror(-err));
	check(err == -ENOENT && c == NULL,
	      "missing socket by path: -ENOENT, *ret untouched");

	if (setenv("TWITCH_SOCKET", "/nonexistent/twitchd/env.sock", 1) < 0) {
		check(0, "setenv TWITCH_SOCKET");
		return;
	}
	err = twitch_client_connect(NULL, &c);
	check(err == -ENOENT && c == NULL, "missing socket by $TWITCH_SOCKET: -ENOENT");
	unsetenv("TWITCH_SOCKET");

	check(twitch_client_connect("/x", NULL) == -EINVAL, "NULL ret: -EINVAL");
	check(twitch_client_free(NULL) == NULL, "twitch_client_free(NULL)");
	check(twitch_reader_free(NULL) == NULL, "twitch_reader_free(NULL)");
}

static void check_names(void)
{
	static const char *const want[TWITCH_REC_TYPE_MAX + 1] = {
		[TWITCH_REC_TWITCH] = "twitch",	[TWITCH_REC_SAMPLES] = "samples",
		[TWITCH_REC_BIOZ] = "bioz",	[TWITCH_REC_STATUS] = "status",
		[TWITCH_REC_LOSS] = "loss",	[TWITCH_REC_MARKER] = "marker",
		[TWITCH_REC_TEST] = "test",	[TWITCH_REC_RATES] = "rates",
		[TWITCH_REC_EPOCH] = "epoch",
		[TWITCH_REC_ALERT] = "alert",	[TWITCH_REC_TWITCH_UPDATE] = "twitch_update",
	};
	unsigned int t;
	int all = 1;

	for (t = 1; t <= TWITCH_REC_TYPE_MAX; t++) {
		const char *name = twitch_record_type_name(t);

		printf("type %u: %s\n", t, name);
		if (name == NULL || want[t] == NULL || strcmp(name, want[t]) != 0)
			all = 0;
	}
	check(all, "record type names 1..TWITCH_REC_TYPE_MAX");
	check(!strcmp(twitch_record_type_name(TWITCH_REC_TYPE_MAX + 1), "unknown"),
	      "type name past the ABI: unknown");
	check(!strcmp(twitch_class_name(TWITCH_CLASS_FASCICULATION), "fasciculation"),
	      "class name");
	check(!strcmp(twitch_status_name(TWITCH_STATUS_DAEMON_GONE), "daemon_gone"),
	      "status name");
	check(!strcmp(twitch_loss_name(TWITCH_LOSS_READER_LAPPED), "reader_lapped"),
	      "loss name");
	check(twitch_model_name(0xffffu) != NULL, "model name is never NULL");
}

/* A marker built by hand: check it, then print it the way clients do. */
static void check_record(void)
{
	struct twitch_rec_marker m;
	char json[1024];
	int n;

	memset(&m, 0, sizeof(m));
	m.hdr.type = TWITCH_REC_MARKER;
	m.hdr.size = sizeof(m);
	m.hdr.device = TWITCH_DEVICE_NONE;
	m.hdr.sample_index = TWITCH_INDEX_NONE;
	m.hdr.t_mono_ns = 2500000000u;
	m.len = (uint32_t)strlen("lights off");
	memcpy(m.text, "lights off", m.len);
	check(twitch_record_check(&m, sizeof(m)) == 0,
	      "hand-made marker passes twitch_record_check");
	check(twitch_record_check(&m, sizeof(m) - 8) == -EPROTO,
	      "short marker: -EPROTO");
	n = twitch_record_json(&m, sizeof(m), 0, json, sizeof(json));
	printf("json: %s\n", n > 0 ? json : "(none)");
	check(n > 0 && strstr(json, "\"type\":\"marker\"") != NULL &&
	      strstr(json, "lights off") != NULL, "marker as JSON");
	check(twitch_record_json(&m, sizeof(m), 0, json, 8) == -ENOSPC,
	      "JSON into 8 bytes: -ENOSPC");
}

static void check_live(const char *path)
{
	struct twitch_stream_info si;
	struct twitch_client *c;
	char reply[256], epoch[33];
	int i, n, err;

	err = twitch_client_connect(path, &c);
	check(err == 0, "connect to the running twitchd");
	if (err < 0) {
		printf("connect %s: %s\n", path, strerror(-err));
		return;
	}
	n = twitch_client_n_streams(c);
	check(n >= 1, "at least the events stream");
	for (i = 0; i < n; i++)
		if (twitch_client_stream_info(c, (unsigned int)i, &si) == 0)
			printf("stream %s: %u slots x %u bytes\n", si.name, si.n_slots,
			       si.slot_size);
	check(twitch_client_epoch(c, epoch) == 0 && strlen(epoch) == 32,
	      "epoch: 32 hex digits");
	err = twitch_client_command(c, "ping", reply, sizeof(reply));
	printf("ping: %d %s\n", err, reply);
	check(err == 0, "ping answered OK");
	twitch_client_free(c);
}

int main(int argc, char **argv)
{
	Dl_info info;

	if (dladdr((void *)twitch_client_connect, &info) != 0 && info.dli_fname != NULL)
		printf("libtwitch: %s\n", info.dli_fname);
	else
		check(0, "dladdr finds libtwitch");
	printf("twitch.h ABI %d.%d\n", TWITCH_VERSION_MAJOR, TWITCH_VERSION_MINOR);
	check_missing_socket();
	check_names();
	check_record();
	if (argc > 1)
		check_live(argv[1]);
	printf("install-consumer: %s\n", n_failed ? "FAILED" : "all passed");
	return n_failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
