// SPDX-License-Identifier: MIT
/*
 * test-mqtt.c - twitch-mqtt against a real mosquitto on 127.0.0.1, fed by
 * twitchd's own ring writer (testpub), read by a libmosquitto subscriber:
 *  - every record arrives once, in order, with its envelope; the bridge's
 *    state is retained on the status topic; a restart of the bridge resumes
 *    where it stopped, without a gap or a duplicate;
 *  - the broker is stopped for TWITCH_MQTT_OUTAGE_S (default 30) seconds
 *    mid-stream and started again: no gap, duplicates only of QoS 1
 *    redelivery (at most the in-flight window), recognised by mseq;
 *  - a spool too small for an outage drops the oldest and says how many;
 *    a bridge the ring overtook reports the exact loss;
 *  - a wrong password and a wrong CA give one clear error, and --check says
 *    the same; a subscriber with a wrong password is refused; TLS works;
 *  - bad configurations are refused with file, line and key.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mosquitto.h>
#include <twitch.h>

#include "mqttenv.h"
#include "testpub.h"

#define EV 0
#define ST 2
#define AL 3
#define DA 4

static char dir[128];
static char build[256];

struct rig {
	struct broker b;
	char sock[256], conf[256], log[256], spool[256];
	pid_t pub, bridge;
	struct twitch_client *c;
};

static void rig_dirs(struct rig *r, const char *name)
{
	char d[sizeof(r->b.dir)];

	snprintf(d, sizeof(d), "%.127s/%.40s", dir, name);
	assert_int_equal(mkdir(d, 0700), 0);
	snprintf(r->b.dir, sizeof(r->b.dir), "%s", d);
	snprintf(r->sock, sizeof(r->sock), "%s/control.sock", d);
	snprintf(r->conf, sizeof(r->conf), "%s/twitch-mqtt.conf", d);
	snprintf(r->log, sizeof(r->log), "%s/bridge.log", d);
	snprintf(r->spool, sizeof(r->spool), "%s/spool", d);
}

static void write_conf(struct rig *r, const char *extra_broker, const char *extra)
{
	FILE *f = fopen(r->conf, "w");

	assert_non_null(f);
	fprintf(f, "[broker]\nhost = %s\nport = %d\nmax_inflight = 500\n%s\n"
		"[topics]\nprefix = test/%s\nsite = ward7\nnode = cart3\n"
		"[spool]\ndir = %s\nsync_ms = 200\n%s\n",
		r->b.tls ? "localhost" : "127.0.0.1", r->b.port,
		extra_broker ? extra_broker : "", strrchr(r->b.dir, '/') + 1, r->spool,
		extra ? extra : "");
	fclose(f);
	chmod(r->conf, 0600);
}

static void rig_pub(struct rig *r, uint32_t slots)
{
	struct testpub_opts o = { .sock_path = r->sock, .sock_mode = 0600, .sock_gid = (gid_t)-1,
				  .events_slots = slots };

	r->pub = testpub_spawn(&o);
	assert_true(r->pub > 0);
	assert_int_equal(twitch_client_connect(r->sock, &r->c), 0);
}

static void pub(struct rig *r, unsigned int n)
{
	char cmd[64], reply[128];

	snprintf(cmd, sizeof(cmd), "pub events %u", n);
	assert_int_equal(twitch_client_command(r->c, cmd, reply, sizeof(reply)), 0);
}

static void rig_down(struct rig *r, struct sub *s)
{
	if (r->bridge > 0)
		bridge_stop(r->bridge);
	r->bridge = 0;
	if (s)
		sub_stop(s);
	if (r->c) {
		twitch_client_command(r->c, "close", NULL, 0);
		r->c = twitch_client_free(r->c);
	}
	if (r->pub > 0)
		waitpid(r->pub, NULL, 0);
	broker_stop(&r->b);
	/* under SANITIZE= builds the bridge reports into its log */
	assert_int_equal(file_count(r->log, "runtime error"), 0);
	assert_int_equal(file_count(r->log, "Sanitizer"), 0);
}

/* Broker, producer (16384-slot events ring) and a bridge with the default spool. */
static void rig_up(struct rig *r, const char *name)
{
	rig_dirs(r, name);
	assert_int_equal(broker_start(&r->b), 0);
	rig_pub(r, 16384);
	write_conf(r, NULL, NULL);
	r->bridge = bridge_start(r->conf, r->sock, r->log);
}

static char *prefix_of(struct rig *r, char *buf, size_t size)
{
	snprintf(buf, size, "test/%s", strrchr(r->b.dir, '/') + 1);
	return buf;
}

/* ---------------------------------------------------------------- tests */

static void status_of(struct rig *r, const char *dev, unsigned int state)
{
	char cmd[64], reply[128];

	snprintf(cmd, sizeof(cmd), "status %s %u", dev, state);
	assert_int_equal(twitch_client_command(r->c, cmd, reply, sizeof(reply)), 0);
}

/* Wait up to 10 s until status/device/@dev holds state @state. */
static bool device_shows(struct sub *s, const char *dev, const char *state)
{
	char last[1024], want[64];
	int i;

	snprintf(want, sizeof(want), "\"state\":\"%s\"", state);
	for (i = 0; i < 400; i++) {
		if (sub_device(s, dev, last, sizeof(last)) && strstr(last, want))
			return true;
		sleep_ms(25);
	}
	return false;
}

/* Wait up to 10 s until topic @t's newest payload holds @needle. */
static bool last_shows(struct sub *s, int t, const char *needle)
{
	bool found;
	int i;

	for (i = 0; i < 400; i++) {
		pthread_mutex_lock(&s->lock);
		found = strstr(s->t[t].last, needle) != NULL;
		pthread_mutex_unlock(&s->lock);
		if (found)
			return true;
		sleep_ms(25);
	}
	return false;
}

/*
 * Every device's state stays retained on its own topic: a subscriber that
 * arrives after a device was lost, a daemon-level status and a restart of
 * the bridge (whose "online" is retained on status) still learns that the
 * device is lost. One retained status topic kept only the newest message.
 */
static void test_status_retained_per_device(void **state)
{
	struct rig r = { 0 };
	struct sub s, late;
	char prefix[160], last[1024];

	(void)state;
	rig_up(&r, "devstatus");
	prefix_of(&r, prefix, sizeof(prefix));
	assert_int_equal(sub_start(&s, &r.b, prefix, "watch", false, NULL, NULL), 0);
	status_of(&r, "emg0", TWITCH_STATUS_DEVICE_UP);
	status_of(&r, "bioz0", TWITCH_STATUS_DEVICE_UP);
	status_of(&r, "emg0", TWITCH_STATUS_DEVICE_LOST);
	status_of(&r, "-", TWITCH_STATUS_CONFIG_RELOADED);
	/* not a topic level: published on status/daemon, never as a level */
	status_of(&r, "a+b", TWITCH_STATUS_DEVICE_UP);
	assert_true(device_shows(&s, "emg0", "device_lost"));
	assert_true(device_shows(&s, "bioz0", "device_up"));
	/* the lost device also went to alerts, as before */
	assert_true(last_shows(&s, AL, "\"device_lost\""));
	assert_true(last_shows(&s, DA, "\"dev_name\":\"a+b\""));
	assert_true(sub_wait(&s, DA, 2, 0));

	/* a restart of the bridge retains "online" on status */
	assert_int_equal(bridge_stop(r.bridge), 0);
	r.bridge = bridge_start(r.conf, r.sock, r.log);
	assert_true(last_shows(&s, ST, "\"state\":\"online\""));

	/* a subscriber arriving now gets every retained state */
	assert_int_equal(sub_start(&late, &r.b, prefix, "late", false, NULL, NULL), 0);
	assert_true(device_shows(&late, "emg0", "device_lost"));
	assert_true(device_shows(&late, "bioz0", "device_up"));
	assert_true(sub_device(&late, "emg0", last, sizeof(last)));
	assert_non_null(strstr(last, "\"host\":\"cart3\""));
	assert_non_null(strstr(last, "\"epoch\":\""));
	assert_false(sub_device(&late, "a+b", last, sizeof(last)));
	assert_true(last_shows(&late, DA, "\"dev_name\":\"a+b\""));
	assert_true(last_shows(&late, ST, "\"state\":\"online\""));
	sub_stop(&late);

	/* twitchd dies: libtwitch says so (its record names the stream read,
	 * "events"), and that is the daemon's status, not a device's */
	kill(r.pub, SIGKILL);
	waitpid(r.pub, NULL, 0);
	r.pub = 0;
	assert_true(last_shows(&s, DA, "\"state\":\"daemon_gone\""));
	assert_false(sub_device(&s, "events", last, sizeof(last)));
	rig_down(&r, &s);
}

static void test_in_order_and_restart(void **state)
{
	struct rig r = { 0 };
	struct sub s;
	char prefix[128];
	uint64_t i;
	unsigned int k;

	(void)state;
	rig_up(&r, "order");
	assert_int_equal(sub_start(&s, &r.b, prefix_of(&r, prefix, sizeof(prefix)), "sub-order",
				   false, NULL, NULL), 0);
	for (k = 0; k < 10; k++)
		pub(&r, 500);
	assert_int_equal(twitch_client_command(r.c, "mark lights off", NULL, 0), 0);
	assert_true(sub_wait(&s, EV, 5001, 20000));
	assert_int_equal(s.t[EV].dups, 0);
	assert_int_equal(s.t[EV].out_of_order, 0);
	assert_int_equal(sub_missing(&s, EV, 5001), 0);
	assert_int_equal(s.t[EV].max_mseq, 5001);
	/* the envelope and the record's own fields */
	assert_non_null(strstr(s.t[EV].last, "\"type\":\"marker\""));
	assert_non_null(strstr(s.t[EV].last, "\"text\":\"lights off\""));
	assert_non_null(strstr(s.t[EV].last, "\"host\":\"cart3\""));
	assert_non_null(strstr(s.t[EV].last, "\"site\":\"ward7\""));
	assert_non_null(strstr(s.t[EV].last, "\"boot_id\":\""));
	assert_non_null(strstr(s.t[EV].last, "\"seq\":5000"));
	/* the bridge's state, retained */
	assert_true(sub_wait(&s, ST, 0, 0));
	assert_non_null(strstr(s.t[ST].last, "\"state\":\"online\""));

	/* stop the bridge, publish while it is away, start it again */
	assert_int_equal(bridge_stop(r.bridge), 0);
	sleep_ms(300);
	assert_non_null(strstr(s.t[ST].last, "\"state\":\"stopped\""));
	for (k = 0; k < 4; k++)
		pub(&r, 250);
	r.bridge = bridge_start(r.conf, r.sock, r.log);
	assert_true(sub_wait(&s, EV, 6001, 20000));
	sleep_ms(500);		/* anything extra would show now */
	assert_int_equal(s.t[EV].dups, 0);
	assert_int_equal(s.t[EV].out_of_order, 0);
	assert_int_equal(s.t[EV].n, 6001);
	assert_int_equal(sub_missing(&s, EV, 6001), 0);
	assert_non_null(strstr(s.t[EV].last, "\"seq\":6000"));
	for (i = 1; i <= 6001; i++)
		assert_int_equal(s.t[EV].seen[i], 1);
	rig_down(&r, &s);
	/* one line per connection, not per message */
	assert_int_equal(file_count(r.log, "twitch-mqtt: connected to broker"), 2);
}

static void test_broker_outage(void **state)
{
	const char *env = getenv("TWITCH_MQTT_OUTAGE_S");
	unsigned int outage_s = env ? (unsigned int)atoi(env) : 30, tick, total = 0;
	struct rig r = { 0 };
	struct sub s;
	char prefix[128];

	(void)state;
	rig_up(&r, "outage");
	/* a persistent session: the broker keeps the subscription across its restart */
	assert_int_equal(sub_start(&s, &r.b, prefix_of(&r, prefix, sizeof(prefix)), "sub-outage",
				   true, NULL, NULL), 0);
	/* 500 events/s: 2 s before, the outage, 3 s after */
	for (tick = 0; tick < (outage_s + 5) * 10; tick++) {
		if (tick == 20) {
			sleep_ms(300);	/* let the subscriber's acks reach the broker */
			broker_stop(&r.b);
		}
		if (tick == 20 + outage_s * 10)
			assert_int_equal(broker_start(&r.b), 0);
		pub(&r, 50);
		total += 50;
		sleep_ms(100);
	}
	assert_true(sub_wait(&s, EV, total, 60000));
	print_message("outage %u s: %u events, %" PRIu64 " duplicates (QoS 1 redelivery)\n",
		      outage_s, total, s.t[EV].dups);
	assert_int_equal(sub_missing(&s, EV, total), 0);
	assert_int_equal(s.t[EV].n, total);
	assert_true(s.t[EV].dups <= 500);	/* at most the in-flight window */
	assert_true(file_count(r.log, "lost the broker") + file_count(r.log, "connection lost") >= 1);
	rig_down(&r, &s);
}

static void test_spool_full_and_lapped(void **state)
{
	struct rig r = { 0 };
	struct sub s;
	char prefix[128];
	uint64_t twitch_before, lost_before;
	unsigned int k;

	(void)state;
	rig_dirs(&r, "full");
	assert_int_equal(broker_start(&r.b), 0);
	assert_int_equal(sub_start(&s, &r.b, prefix_of(&r, prefix, sizeof(prefix)), "sub-full",
				   true, NULL, NULL), 0);
	sleep_ms(300);
	broker_stop(&r.b);
	rig_pub(&r, 16384);
	write_conf(&r, NULL, "max_mb = 1");
	r.bridge = bridge_start(r.conf, r.sock, r.log);
	/* ~450 bytes each: 8000 do not fit in 1 MiB */
	for (k = 0; k < 16; k++) {
		pub(&r, 500);
		sleep_ms(50);
	}
	sleep_ms(500);
	assert_int_equal(broker_start(&r.b), 0);
	/* the loss message comes once the broker is back */
	for (k = 0; k < 300 && s.n_loss_msgs == 0; k++)
		sleep_ms(100);
	sleep_ms(1000);
	assert_int_equal(s.n_loss_msgs, 1);
	assert_non_null(strstr(s.loss_reasons, "bridge_spool_full"));
	print_message("spool 1 MiB, 8000 events in an outage: %" PRIu64 " delivered, %" PRIu64
		      " reported dropped\n", s.n_twitch, s.lost_reported);
	/* each event arrived or was counted; the gaps in mseq are the dropped ones */
	assert_true(s.lost_reported > 0);
	assert_int_equal(s.n_twitch + s.lost_reported, 8000);
	assert_int_equal(sub_missing(&s, EV, s.t[EV].max_mseq), s.lost_reported);
	assert_int_equal(file_count(r.log, "spool full"), 1);

	/*
	 * The ring (16384 records) overtakes a stopped bridge. With a spool
	 * large enough for the burst that follows, so that the reader_lapped
	 * message itself is not dropped (its count would then go out as
	 * bridge_spool_full: still counted, but not what this checks).
	 */
	assert_int_equal(bridge_stop(r.bridge), 0);
	write_conf(&r, NULL, NULL);
	r.bridge = bridge_start(r.conf, r.sock, r.log);
	sleep_ms(1000);
	twitch_before = s.n_twitch;
	lost_before = s.lost_reported;
	kill(r.bridge, SIGSTOP);
	pub(&r, 10000);
	pub(&r, 10000);
	kill(r.bridge, SIGCONT);
	for (k = 0; k < 300 && !strstr(s.loss_reasons, "reader_lapped"); k++)
		sleep_ms(100);
	assert_non_null(strstr(s.loss_reasons, "reader_lapped"));
	for (k = 0; k < 100 && s.n_twitch - twitch_before + s.lost_reported - lost_before < 20000;
	     k++)
		sleep_ms(100);
	print_message("ring lapped: %" PRIu64 " delivered, %" PRIu64 " reported lost (%s)\n",
		      s.n_twitch - twitch_before, s.lost_reported - lost_before, s.loss_reasons);
	/* every record is either delivered or counted lost, none hidden */
	assert_int_equal(s.n_twitch - twitch_before + s.lost_reported - lost_before, 20000);

	/* the same while the bridge is not running at all: it counts the gap itself */
	assert_int_equal(bridge_stop(r.bridge), 0);
	sleep_ms(300);
	twitch_before = s.n_twitch;
	lost_before = s.lost_reported;
	pub(&r, 10000);
	pub(&r, 10000);
	r.bridge = bridge_start(r.conf, r.sock, r.log);
	for (k = 0; k < 200 && s.n_twitch - twitch_before + s.lost_reported - lost_before < 20000;
	     k++)
		sleep_ms(100);
	sleep_ms(500);
	print_message("ring overwrote a stopped bridge: %" PRIu64 " delivered, %" PRIu64
		      " reported lost\n", s.n_twitch - twitch_before, s.lost_reported - lost_before);
	assert_int_equal(s.n_twitch - twitch_before + s.lost_reported - lost_before, 20000);
	rig_down(&r, &s);
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int check(struct rig *r, const char *log)
{
	char bin[300];
	const char *argv[] = { bin, "-c", r->conf, "--check", NULL };

	snprintf(bin, sizeof(bin), "%s/twitch-mqtt", build);
	return run_wait(argv, log);
}

static void test_auth(void **state)
{
	struct rig r = { 0 };
	struct sub s;
	char prefix[128], log[256];

	(void)state;
	rig_dirs(&r, "auth");
	r.b.auth = true;
	assert_int_equal(sh("mosquitto_passwd -b -c %s/passwd cart3 s3cret 2>/dev/null", r.b.dir), 0);
	assert_int_equal(broker_start(&r.b), 0);

	write_conf(&r, "username = cart3\npassword = s3cret", NULL);
	snprintf(log, sizeof(log), "%s/check-ok.log", r.b.dir);
	assert_int_equal(check(&r, log), 0);

	write_conf(&r, "username = cart3\npassword = wrong", NULL);
	snprintf(log, sizeof(log), "%s/check-bad.log", r.b.dir);
	assert_int_equal(check(&r, log), 1);
	assert_int_equal(file_count(log, "refused the connection"), 1);
	assert_int_equal(file_count(log, "check username and password"), 1);

	/* the running bridge retries with backoff and says it once */
	rig_pub(&r, 0);
	r.bridge = bridge_start(r.conf, r.sock, r.log);
	sleep_ms(4500);		/* attempts at 0, 1, 3 s */
	assert_int_equal(file_count(r.log, "refused the connection"), 1);
	assert_true(file_count(r.log, "not authori") == 1);

	/* the broker refuses a subscriber with a wrong password */
	assert_int_equal(sub_start(&s, &r.b, prefix_of(&r, prefix, sizeof(prefix)), "sub-bad",
				   false, "cart3", "nope"), -EACCES);
	sub_stop(&s);

	/* a password others can read is refused before anything starts */
	write_conf(&r, "username = cart3\npassword = s3cret", NULL);
	chmod(r.conf, 0644);
	snprintf(log, sizeof(log), "%s/check-mode.log", r.b.dir);
	assert_int_equal(check(&r, log), 2);
	assert_int_equal(file_count(log, "chmod 600"), 1);
	rig_down(&r, NULL);
}

static void test_tls(void **state)
{
	struct rig r = { 0 };
	struct sub s;
	char prefix[128], log[256], ca[700];

	(void)state;
	rig_dirs(&r, "tls");
	r.b.tls = true;
	/* a CA, a server certificate for localhost, and an unrelated CA */
	assert_int_equal(sh("cd %s && ( "
			    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
			    "-nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=test-ca && "
			    "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
			    "-keyout server.key -out server.csr -subj /CN=localhost && "
			    "printf 'subjectAltName=DNS:localhost\\n' > ext && "
			    "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key "
			    "-CAcreateserial -out server.crt -days 2 -extfile ext && "
			    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
			    "-nodes -keyout other.key -out other.crt -days 2 -subj /CN=other-ca && "
			    "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
			    "-keyout client.key -out client.csr -subj /CN=cart3 && "
			    "openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key "
			    "-CAcreateserial -out client.crt -days 2"
			    " ) >/dev/null 2>&1", r.b.dir), 0);
	r.b.client_certs = true;	/* the broker wants a certificate from its CA */
	assert_int_equal(broker_start(&r.b), 0);

	snprintf(ca, sizeof(ca), "tls_ca = %s/other.crt\ntls_cert = %s/client.crt\n"
		 "tls_key = %s/client.key", r.b.dir, r.b.dir, r.b.dir);
	write_conf(&r, ca, NULL);
	snprintf(log, sizeof(log), "%s/check-badca.log", r.b.dir);
	assert_int_equal(check(&r, log), 1);
	assert_int_equal(file_count(log, "certificate verify failed"), 1);

	/* the right CA but no client certificate: the broker hangs up */
	snprintf(ca, sizeof(ca), "tls_ca = %s/ca.crt", r.b.dir);
	write_conf(&r, ca, NULL);
	snprintf(log, sizeof(log), "%s/check-nocert.log", r.b.dir);
	assert_int_equal(check(&r, log), 1);
	assert_int_equal(file_count(log, "(check tls_ca, tls_cert, tls_key)"), 1);

	snprintf(ca, sizeof(ca), "tls_ca = %s/ca.crt\ntls_cert = %s/client.crt\n"
		 "tls_key = %s/client.key", r.b.dir, r.b.dir, r.b.dir);
	write_conf(&r, ca, NULL);
	snprintf(log, sizeof(log), "%s/check-ok.log", r.b.dir);
	assert_int_equal(check(&r, log), 0);

	rig_pub(&r, 0);
	r.bridge = bridge_start(r.conf, r.sock, r.log);
	assert_int_equal(sub_start(&s, &r.b, prefix_of(&r, prefix, sizeof(prefix)), "sub-tls",
				   false, NULL, NULL), 0);
	pub(&r, 300);
	assert_true(sub_wait(&s, EV, 300, 20000));
	assert_int_equal(sub_missing(&s, EV, 300), 0);
	assert_int_equal(file_count(r.log, "(TLS)"), 1);
	rig_down(&r, &s);
}

static void test_bad_config(void **state)
{
	static const struct {
		const char *text, *expect;
	} cases[] = {
		{ "[broker]\nhots = x\n", ":2: [broker] hots: unknown key" },
		{ "[broker]\nport = 0\n", ":2: [broker] port: '0' is not a port" },
		{ "[broker]\nport = 1883x\n", "is not a port" },
		{ "[topics]\nsite = ward/7\n", "[topics] site: 'ward/7' is not a topic level" },
		{ "[topics]\nprefix = a/+/b\n", "is not a topic prefix" },
		/* the site goes into every JSON payload, unescaped */
		{ "[topics]\nsite = ward\"7\\\n", "is not a topic level" },
		{ "[broker]\ntls_cert = /x\n", "tls_cert and tls_key go together" },
		{ "[spool]\nmax_mb = 0\n", "[spool] max_mb" },
		{ "[broker]\nprotocol = 4\n", "use 3.1.1 or 5" },
		{ "this is not ini\n", ":1: not a [section]" },
		/* inifile.c: a key given twice, an indented line (never a
		 * continuation of the value before it), a syntax error before
		 * a bad key (its own line), an over-long section line */
		{ "[broker]\nport = 1883\nport = 1884\n", ":3: [broker] port: given twice (first on line 2)" },
		{ "[topics]\nsite = ward7\n   extra\n", ":3: not a [section]" },
		{ "[broker]\njunk\nport = 0\n", ":2: not a [section]" },
		{ "[broker                                                                   "
		  "                                                                          "
		  "                                                                   ]\n",
		  ":1: a line of 216 bytes that is not key = value" },
	};
	struct rig r = { 0 };
	char log[256];
	unsigned int i;
	FILE *f;

	(void)state;
	rig_dirs(&r, "config");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		f = fopen(r.conf, "w");
		assert_non_null(f);
		fputs(cases[i].text, f);
		fclose(f);
		snprintf(log, sizeof(log), "%s/bad%u.log", r.b.dir, i);
		assert_int_equal(check(&r, log), 2);
		if (file_count(log, cases[i].expect) != 1)
			fail_msg("case %u: no '%s' in %s", i, cases[i].expect, log);
		assert_int_equal(file_count(log, r.conf), 1);
	}
	snprintf(r.conf, sizeof(r.conf), "%s/missing.conf", r.b.dir);
	snprintf(log, sizeof(log), "%s/missing.log", r.b.dir);
	assert_int_equal(check(&r, log), 2);
	assert_int_equal(file_count(log, "No such file"), 1);
}

static int group_setup(void **state)
{
	const char *b = getenv("TWITCH_BUILD");

	(void)state;
	snprintf(build, sizeof(build), "%s", b ? b : "build");
	snprintf(dir, sizeof(dir), "%s/twitch-mqtt-test.XXXXXX", getenv("TMPDIR") ?
		 getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(dir))
		return -1;
	signal(SIGPIPE, SIG_IGN);
	mosquitto_lib_init();
	return 0;
}

static int group_teardown(void **state)
{
	char cmd[256];

	(void)state;
	mosquitto_lib_cleanup();
	if (!getenv("TWITCH_KEEP")) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			return -1;
	}
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_config),
		cmocka_unit_test(test_in_order_and_restart),
		cmocka_unit_test(test_status_retained_per_device),
		cmocka_unit_test(test_auth),
		cmocka_unit_test(test_tls),
		cmocka_unit_test(test_spool_full_and_lapped),
		cmocka_unit_test(test_broker_outage),
	};

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (getenv("TWITCH_TEST_FILTER"))	/* e.g. "*outage*" */
		cmocka_set_test_filter(getenv("TWITCH_TEST_FILTER"));
	if (access("/usr/sbin/mosquitto", X_OK) != 0) {
		fprintf(stderr, "test-mqtt: mosquitto is not installed (make deps)\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
