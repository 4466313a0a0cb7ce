// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * twitch-mqtt - forward twitchd's events, estimates and status to an MQTT
 * broker, so a ward's central station sees every rig in one place.
 *
 *   twitchd rings --(feed thread)--> spool on disk --(QoS 1)--> broker
 *
 * Every message is spooled before it is sent and leaves the spool only when
 * the broker acknowledged it: a broker outage, a network cut or a restart of
 * the bridge loses nothing the spool can hold. Subscribers see gaps and
 * duplicates by the per-topic sequence number "mseq"; a message the bridge
 * had to drop (spool full) or a record the ring overwrote before the bridge
 * read it becomes a loss message, never a silent hole.
 *
 * One thread owns the spool and the publishing; it waits in poll() on the
 * feed's eventfd (records from the ring), the network thread's eventfd
 * (connection, PUBACKs) and a signalfd.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>
#include <systemd/sd-daemon.h>
#include <twitch.h>

#include "mqtt-config.h"
#include "mqtt-feed.h"
#include "mqtt-net.h"
#include "mqtt-spool.h"
#include "records.h"

#define EXIT_USAGE	2

/*
 * The spool numbers its topics (mseq counts per number). status holds the
 * bridge's own state (and its last will); twitchd's status records go to
 * status/daemon and, for a device, status/device/NAME: each retained, so
 * that a subscriber arriving later sees every device's state and not only
 * the newest message of any. Device topics share one mseq sequence; a
 * spooled device message carries its NAME and a '\n' before the payload.
 */
enum topic { T_EVENTS, T_ESTIMATES, T_STATUS, T_ALERTS, T_DAEMON, T_DEVICE, T_COUNT };
static const char *const topic_suffix[T_COUNT] = { "events", "estimates", "status", "alerts",
						   "status/daemon", "status/device" };

#define PAYLOAD_MAX	SPOOL_MAX_PAYLOAD
#define LOSS_TRACK_MAX	256

struct bridge {
	struct mqtt_config cfg;
	const char *cfg_path;
	char node[64];
	char boot_id[40];
	char epoch[33];			/* daemon epoch of the records being read */
	char topics[T_COUNT][256];
	char dev_topic[256 + 32];	/* T_DEVICE's topic of the message being sent */
	struct spool *spool;
	struct feed *feed;
	struct net *net;
	int sfd;
	bool connected;
	bool stopping;
	uint64_t *mid_id;		/* spool id of each outstanding message id */
	uint64_t forwarded, acked, losses;
	/*
	 * Loss messages still in the spool, with the count they carry: if the
	 * spool drops one, its count goes back to pending_lost, so a count is
	 * never lost with the message that carried it.
	 */
	struct { uint64_t id, count; } track[LOSS_TRACK_MAX];
	unsigned int n_track;
	uint64_t pending_lost;		/* records not delivered and not yet reported */
	bool dropping;			/* the spool is dropping: said once */
	bool spool_failing;		/* appends fail (disk full?): said once */
	char last_error[320];
	unsigned int repeats;
	char payload[PAYLOAD_MAX];
	char json[PAYLOAD_MAX];
};

static void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logmsg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("twitch-mqtt: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static uint64_t now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void read_boot_id(char *buf, size_t size)
{
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");

	buf[0] = '\0';
	if (f) {
		if (fgets(buf, (int)size, f))
			buf[strcspn(buf, "\n")] = '\0';
		fclose(f);
	}
}

/* The part of every payload that says where it comes from and its place. */
static int envelope(struct bridge *b, enum topic t, char *buf, size_t size)
{
	return snprintf(buf, size,
			"{\"host\":\"%s\",\"site\":\"%s\",\"boot_id\":\"%s\",\"epoch\":\"%s\","
			"\"mseq\":%" PRIu64 ",", b->node, b->cfg.site, b->boot_id, b->epoch,
			spool_next_tseq(b->spool, (unsigned int)t));
}

/*
 * Append @body (a JSON object) to topic @t with the envelope; its spool id
 * or 0. @dev: the device's topic level for T_DEVICE, else NULL.
 */
static uint64_t spool_json(struct bridge *b, enum topic t, const char *dev, bool retain,
			   uint64_t user, const char *body, size_t body_len)
{
	int pre = dev ? snprintf(b->payload, sizeof(b->payload), "%s\n", dev) : 0;
	int n = envelope(b, t, b->payload + pre, sizeof(b->payload) - (size_t)pre);
	uint64_t id = spool_next_id(b->spool);
	int err;

	if (n >= 0)
		n += pre;
	if (n < 0 || (size_t)n + body_len > sizeof(b->payload)) {
		logmsg("a %s message of %zu bytes does not fit; dropped", topic_suffix[t],
		       body_len);
		b->losses++;
		return 0;
	}
	/* body starts with '{': the envelope already opened the object */
	memcpy(b->payload + n, body + 1, body_len - 1);
	err = spool_append(b->spool, (unsigned int)t, retain ? SPOOL_F_RETAIN : 0, user,
			   b->payload, (uint32_t)(n + body_len - 1));
	if (err < 0) {
		/* once per episode: a full disk must not also fill the journal */
		if (!b->spool_failing)
			logmsg("spool: cannot append (%s); counting what is lost", strerror(-err));
		b->spool_failing = true;
		b->losses++;
		return 0;
	}
	if (b->spool_failing)
		logmsg("spool: appending again");
	b->spool_failing = false;
	b->forwarded++;
	return id;
}

/* Remember that spool message @id carries a loss of @count records. */
static void track_loss(struct bridge *b, uint64_t id, uint64_t count)
{
	if (!id) {
		b->pending_lost += count;
	} else if (b->n_track < LOSS_TRACK_MAX) {
		b->track[b->n_track].id = id;
		b->track[b->n_track++].count = count;
	} else {
		/* not expected: 256 loss messages unsent; merge into the last */
		b->track[LOSS_TRACK_MAX - 1].count += count;
	}
}

static void untrack(struct bridge *b, unsigned int i)
{
	b->track[i] = b->track[--b->n_track];
}

/*
 * Whether a record of another topic also goes to alerts, with the JSON
 * fragment naming why. Hydration alerts come as their own records (one per
 * change), which go to alerts directly.
 */
static bool alert_of(const void *rec, char *buf, size_t size)
{
	const struct twitch_record_hdr *h = rec;

	buf[0] = '\0';
	if (h->type == TWITCH_REC_STATUS) {
		const struct twitch_rec_status *s = rec;

		switch (s->state) {
		case TWITCH_STATUS_DEVICE_LOST:
		case TWITCH_STATUS_DAEMON_STOP:
		case TWITCH_STATUS_DAEMON_GONE:
		case TWITCH_STATUS_PRODUCER_STALLED:
			snprintf(buf, size, "\"alert\":[\"%s\"]", twitch_status_name(s->state));
			return true;
		}
		return false;
	}
	if (h->type == TWITCH_REC_LOSS) {
		snprintf(buf, size, "\"alert\":[\"loss\"]");
		return true;
	}
	return false;
}

/*
 * A status record's device name as a topic level, or NULL: what twitchd
 * allows (at most 23 characters); anything else in the ring is not
 * trusted to be a single level and goes to status/daemon (its JSON still
 * names it).
 */
static const char *device_level(const struct twitch_rec_status *s)
{
	size_t i, n = strnlen(s->dev_name, sizeof(s->dev_name));

	if (n == 0 || n == sizeof(s->dev_name))
		return NULL;
	for (i = 0; i < n; i++)
		if (!record_device_name_char(s->dev_name[i]))
			return NULL;
	return s->dev_name;
}

static void forward_record(struct bridge *b, const void *rec, size_t size)
{
	const struct twitch_record_hdr *h = rec;
	const char *dev = NULL;
	char alert[160];
	enum topic t;
	uint64_t user, id;
	bool lost;
	int n;

	switch (h->type) {
	case TWITCH_REC_TWITCH:
	case TWITCH_REC_MARKER:
	case TWITCH_REC_RATES:
	case TWITCH_REC_EPOCH:
	case TWITCH_REC_LOSS:
		t = T_EVENTS;
		break;
	case TWITCH_REC_BIOZ:
		t = T_ESTIMATES;
		break;
	case TWITCH_REC_STATUS:
		/* libtwitch's own (daemon gone, restarted, stalled) name the
		 * stream read, "events": they are about the daemon */
		dev = size >= sizeof(struct twitch_rec_status) && !(h->flags & TWITCH_RECF_LOCAL)
			      ? device_level(rec) : NULL;
		t = dev ? T_DEVICE : T_DAEMON;
		break;
	case TWITCH_REC_ALERT:
		t = T_ALERTS;
		break;
	default:
		return;		/* samples, test records and provisional
				 * twitch updates stay local */
	}
	n = twitch_record_json(rec, size, 0, b->json, sizeof(b->json) - 200);
	if (n < 0) {
		logmsg("a malformed %s record (seq %" PRIu64 ") from twitchd: skipped",
		       twitch_record_type_name(h->type), h->seqno);
		return;
	}
	/* resume point after a restart of the bridge: the next ring record */
	user = h->flags & TWITCH_RECF_LOCAL ? spool_last_user(b->spool) : h->seqno + 1;
	id = spool_json(b, t, dev, t == T_DAEMON || t == T_DEVICE, user, b->json, (size_t)n);
	lost = !id;
	if (h->type == TWITCH_REC_LOSS) {
		const struct twitch_rec_loss *l = rec;

		/* losses of records (not of device scans) a subscriber can count on */
		if (l->reason == TWITCH_LOSS_READER_LAPPED || l->reason == TWITCH_LOSS_RESTART)
			track_loss(b, id, l->count);
	}
	if (alert_of(rec, alert, sizeof(alert))) {
		/* the record's JSON with the alert names added before its '}' */
		n += snprintf(b->json + n - 1, sizeof(b->json) - (size_t)n + 1, ",%s}", alert) - 1;
		if (!spool_json(b, T_ALERTS, NULL, false, user, b->json, (size_t)n))
			lost = true;
	}
	/* a record the spool could not take (a full disk), whatever its type
	 * (alerts, estimates and status too): counted once, reported */
	if (lost)
		b->pending_lost++;
}

static void take_feed(struct bridge *b)
{
	const struct feed_entry *e;
	const char *p, *end;
	size_t len;

	p = feed_take(b->feed, &len);
	if (!p)
		return;
	for (end = p + len; p + sizeof(*e) <= end;
	     p += sizeof(*e) + ((e->len + 7u) & ~7u)) {
		e = (const void *)p;
		switch (e->kind) {
		case FEED_RECORD:
			forward_record(b, p + sizeof(*e), e->len);
			break;
		case FEED_EPOCH:
			memcpy(b->epoch, p + sizeof(*e), 32);
			b->epoch[32] = '\0';
			/* what is spooled so far refers to the old epoch */
			spool_flush(b->spool);
			spool_set_tag(b->spool, b->epoch);
			break;
		case FEED_NOTE:
			logmsg("%.*s", (int)e->len, p + sizeof(*e));
			break;
		}
	}
}

/*
 * Messages the spool had to drop (full) count as lost records, except loss
 * messages, which count what they carried. Reported on events and alerts
 * once the broker is there to take it.
 */
static void report_dropped(struct bridge *b)
{
	uint64_t first = 0, last = 0, n = spool_take_dropped(b->spool, &first, &last), id;
	char body[256];
	unsigned int i;
	int len;

	if (n) {
		/* one line when it starts, one when it is reported: not one per segment */
		if (!b->dropping)
			logmsg("spool full (%" PRIu64 " MiB): dropping the oldest unsent messages; "
			       "the count goes out as a loss message", b->cfg.spool_max_bytes >> 20);
		b->dropping = true;
		b->losses += n;
		for (i = 0; i < b->n_track;) {
			if (b->track[i].id >= first && b->track[i].id <= last) {
				b->pending_lost += b->track[i].count;
				n--;
				untrack(b, i);
			} else {
				i++;
			}
		}
		b->pending_lost += n;
	}
	if (!b->pending_lost || !b->connected || b->n_track >= LOSS_TRACK_MAX)
		return;
	len = snprintf(body, sizeof(body),
		       "{\"type\":\"loss\",\"reason\":\"bridge_spool_full\",\"count\":%" PRIu64
		       ",\"exact\":true,\"t_real_ns\":%" PRIu64 ",\"local\":true}",
		       b->pending_lost, now_ns(CLOCK_REALTIME));
	id = spool_json(b, T_EVENTS, NULL, false, spool_last_user(b->spool), body, (size_t)len);
	if (!id)
		return;		/* still pending: reported when the spool takes it */
	track_loss(b, id, b->pending_lost);
	if (b->dropping)
		logmsg("reported %" PRIu64 " records lost to a full spool", b->pending_lost);
	b->dropping = false;
	b->pending_lost = 0;
	spool_json(b, T_ALERTS, NULL, false, spool_last_user(b->spool), body, (size_t)len);
}

/* The bridge's own state, retained on the status topic (not spooled). */
static void publish_state(struct bridge *b, const char *state)
{
	struct spool_stats st;
	char body[512];
	int len, mid;

	spool_get_stats(b->spool, &st);
	len = snprintf(body, sizeof(body),
		       "{\"type\":\"bridge\",\"state\":\"%s\",\"host\":\"%s\",\"site\":\"%s\","
		       "\"boot_id\":\"%s\",\"epoch\":\"%s\",\"t_real_ns\":%" PRIu64 ","
		       "\"spool_bytes\":%" PRIu64 ",\"unsent\":%" PRIu64 ",\"dropped\":%" PRIu64
		       "}", state, b->node, b->cfg.site, b->boot_id, b->epoch,
		       now_ns(CLOCK_REALTIME), st.bytes, st.unsent, st.dropped);
	if (net_publish(b->net, b->topics[T_STATUS], body, (size_t)len, true, &mid) == 0)
		b->mid_id[mid] = 0;	/* 0: not a spooled message */
}

static void send_spooled(struct bridge *b)
{
	struct spool_msg m;
	int mid, err;

	while (b->connected && spool_peek(b->spool, &m) == 1) {
		const char *payload = m.payload, *topic = NULL;
		uint32_t len = m.len;

		if (m.topic == T_DEVICE) {
			/* "NAME\n" then the JSON (see enum topic) */
			const char *nl = memchr(payload, '\n', len < 32 ? len : 32);

			if (nl && nl > payload &&
			    snprintf(b->dev_topic, sizeof(b->dev_topic), "%s/%.*s",
				     b->topics[T_DEVICE], (int)(nl - payload), payload) <
				    (int)sizeof(b->dev_topic)) {
				topic = b->dev_topic;
				len -= (uint32_t)(nl + 1 - payload);
				payload = nl + 1;
			}
		} else if (m.topic == T_STATUS) {
			/* the bridge's state is never spooled: this is twitchd's
			 * status spooled by a bridge before 1.3, not to overwrite
			 * the retained "online" */
			topic = b->topics[T_DAEMON];
		} else if (m.topic < T_COUNT) {
			topic = b->topics[m.topic];
		}
		if (!topic)
			logmsg("spooled message %" PRIu64 " names no topic this bridge knows "
			       "(%u): dropped", m.id, m.topic);
		err = topic ? net_publish(b->net, topic, payload, len, m.flags & SPOOL_F_RETAIN,
					  &mid)
			    : -EINVAL;
		if (err == -EINVAL) {
			if (topic)
				logmsg("broker cannot take message %" PRIu64 " (%u bytes): "
				       "dropped", m.id, m.len);
			spool_advance(b->spool);
			spool_ack(b->spool, m.id);
			b->losses++;
			continue;
		}
		if (err < 0)
			break;
		if (b->mid_id[(uint16_t)mid])	/* see SPOOL_MAX_INFLIGHT */
			logmsg("MQTT packet id %d reused while message %" PRIu64 " is not "
			       "acknowledged", mid, b->mid_id[(uint16_t)mid]);
		b->mid_id[(uint16_t)mid] = m.id;
		spool_advance(b->spool);
	}
}

static void take_net(struct bridge *b)
{
	struct net_events ev;
	unsigned int i;

	net_take(b->net, &ev);
	for (i = 0; i < ev.n_acks; i++) {
		uint64_t id = b->mid_id[(uint16_t)ev.acks[i]];

		if (id) {
			unsigned int j;

			b->mid_id[(uint16_t)ev.acks[i]] = 0;
			if (spool_ack(b->spool, id) == 0)
				b->acked++;
			for (j = 0; j < b->n_track; j++) {
				if (b->track[j].id == id) {
					untrack(b, j);
					break;
				}
			}
		}
	}
	if (ev.error[0]) {
		/* one line per distinct problem, not one per retry */
		if (strcmp(ev.error, b->last_error)) {
			logmsg("%s", ev.error);
			snprintf(b->last_error, sizeof(b->last_error), "%s", ev.error);
			b->repeats = 0;
		} else {
			b->repeats++;
		}
	}
	if (ev.connected_changed) {
		if (ev.connected && !b->connected) {
			logmsg("connected to broker %s:%u as %s%s", b->cfg.host,
			       b->cfg.port ? b->cfg.port : b->cfg.tls_ca[0] ? 8883 : 1883,
			       b->node, b->cfg.tls_ca[0] ? " (TLS)" : "");
			b->last_error[0] = '\0';
			b->connected = true;
			publish_state(b, "online");
		} else if (!ev.connected && b->connected) {
			b->connected = false;
			logmsg("broker connection lost; spooling (unsent messages go out on "
			       "reconnect)");
		}
	}
}

static void notify_status(struct bridge *b)
{
	struct spool_stats st;

	spool_get_stats(b->spool, &st);
	sd_notifyf(0, "WATCHDOG=1\nSTATUS=%s; %" PRIu64 " forwarded, %" PRIu64
		   " acknowledged, %" PRIu64 " unsent, %" PRIu64 " lost, spool %" PRIu64 " KiB",
		   b->connected ? "connected" : "broker unreachable", b->forwarded, b->acked,
		   st.unsent, b->losses, st.bytes >> 10);
}

static int run(struct bridge *b)
{
	struct pollfd pfd[3];
	uint64_t next_sync = 0, now;
	int n;

	pfd[0] = (struct pollfd){ .fd = feed_fd(b->feed), .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = net_fd(b->net), .events = POLLIN };
	pfd[2] = (struct pollfd){ .fd = b->sfd, .events = POLLIN };
	sd_notify(0, "READY=1");
	while (!b->stopping) {
		n = poll(pfd, 3, (int)b->cfg.sync_ms);
		if (n < 0 && errno != EINTR) {
			logmsg("poll: %s", strerror(errno));
			return EXIT_FAILURE;
		}
		if (pfd[2].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(b->sfd, &si, sizeof(si)) == sizeof(si))
				b->stopping = true;
		}
		if (pfd[0].revents & POLLIN)
			take_feed(b);
		if (pfd[1].revents & POLLIN)
			take_net(b);
		report_dropped(b);
		spool_flush(b->spool);
		send_spooled(b);
		now = now_ns(CLOCK_MONOTONIC);
		if (now >= next_sync) {
			spool_sync(b->spool);
			notify_status(b);
			next_sync = now + (uint64_t)b->cfg.sync_ms * 1000000u;
		}
	}
	return EXIT_SUCCESS;
}

/* On SIGTERM: say "stopped" on the status topic and wait briefly for acks. */
static void shut_down(struct bridge *b)
{
	uint64_t until = now_ns(CLOCK_MONOTONIC) + 2000000000u;
	struct spool_stats st;
	struct pollfd pfd = { .fd = net_fd(b->net), .events = POLLIN };

	sd_notify(0, "STOPPING=1");
	if (b->connected) {
		publish_state(b, "stopped");
		do {
			spool_get_stats(b->spool, &st);
			if (st.unacked == 0)
				break;
			if (poll(&pfd, 1, 100) > 0)
				take_net(b);
		} while (b->connected && now_ns(CLOCK_MONOTONIC) < until);
		/* the "stopped" state itself */
		if (poll(&pfd, 1, 200) > 0)
			take_net(b);
	}
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: twitch-mqtt [-c FILE] [--check] [--socket PATH]\n"
		"Forward twitchd's events, estimates and status to an MQTT broker.\n"
		"  -c, --config FILE  configuration (default " MQTT_CONFIG_DEFAULT ")\n"
		"      --check        connect to the broker once, report, exit 0 or 1\n"
		"      --socket PATH  twitchd's control socket\n"
		"  -h, --help\n"
		"twitchd is a monitoring aid, not a diagnostic device.\n");
}

static int setup_names(struct bridge *b, char *client_id, size_t size)
{
	enum topic t;
	int n;

	if (b->cfg.node[0]) {
		snprintf(b->node, sizeof(b->node), "%s", b->cfg.node);
	} else if (gethostname(b->node, sizeof(b->node)) < 0 || !b->node[0] ||
		   strpbrk(b->node, "+#/ ")) {
		logmsg("%s: [topics] node is not set and the host name is not a topic level",
		       b->cfg_path);
		return -EINVAL;
	}
	b->node[sizeof(b->node) - 1] = '\0';
	for (t = 0; t < T_COUNT; t++) {
		n = snprintf(b->topics[t], sizeof(b->topics[t]), "%s/%s/%s/%s", b->cfg.prefix,
			     b->cfg.site, b->node, topic_suffix[t]);
		if (n < 0 || (size_t)n >= sizeof(b->topics[t]))
			return -ENAMETOOLONG;
	}
	snprintf(client_id, size, "%s", b->cfg.client_id[0] ? b->cfg.client_id : "");
	if (!client_id[0])
		snprintf(client_id, size, "twitch-mqtt-%s-%s", b->cfg.site, b->node);
	read_boot_id(b->boot_id, sizeof(b->boot_id));
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 'C' },
		{ "socket", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct bridge bridge;
	struct bridge *b = &bridge;
	struct mqtt_config_error cerr;
	const char *socket_path = NULL, *dir;
	char client_id[192], will[512], err[512];
	bool check = false;
	sigset_t mask;
	int c, rc;

	b->cfg_path = MQTT_CONFIG_DEFAULT;
	b->sfd = -1;
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			b->cfg_path = optarg;
			break;
		case 'C':
			check = true;
			break;
		case 'S':
			socket_path = optarg;
			break;
		case 'h':
			usage(stdout);
			return EXIT_SUCCESS;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	mqtt_config_default(&b->cfg);
	if (mqtt_config_load(b->cfg_path, &b->cfg, &cerr) < 0) {
		if (cerr.line)
			logmsg("%s:%u: %s", cerr.file, cerr.line, cerr.msg);
		else
			logmsg("%s: %s", cerr.file, cerr.msg);
		return EXIT_USAGE;
	}
	if (socket_path)
		snprintf(b->cfg.socket, sizeof(b->cfg.socket), "%s", socket_path);
	if (setup_names(b, client_id, sizeof(client_id)) < 0)
		return EXIT_USAGE;
	mosquitto_lib_init();
	if (check) {
		rc = net_check(&b->cfg, client_id, 5000, err, sizeof(err));
		if (rc < 0)
			logmsg("%s", err);
		else
			printf("twitch-mqtt: broker %s accepted %s; topics %s/...\n", b->cfg.host,
			       client_id, b->topics[T_EVENTS]);
		mosquitto_lib_cleanup();
		return rc < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
	}

	dir = b->cfg.spool_dir[0] ? b->cfg.spool_dir : getenv("STATE_DIRECTORY");
	if (!dir || !*dir)
		dir = MQTT_SPOOL_DEFAULT;
	err[0] = '\0';
	rc = spool_open(dir, b->cfg.spool_max_bytes, &b->spool, err, sizeof(err));
	if (rc < 0) {
		logmsg("%s", err[0] ? err : strerror(-rc));
		mosquitto_lib_cleanup();
		return EXIT_FAILURE;
	}
	if (err[0])
		logmsg("%s", err);
	snprintf(b->epoch, sizeof(b->epoch), "%s", spool_tag(b->spool));
	b->mid_id = calloc(65536, sizeof(*b->mid_id));
	snprintf(will, sizeof(will),
		 "{\"type\":\"bridge\",\"state\":\"offline\",\"host\":\"%.63s\",\"site\":\"%.63s\","
		 "\"boot_id\":\"%.39s\"}", b->node, b->cfg.site, b->boot_id);
	rc = b->mid_id ? net_new(&b->cfg, client_id, b->topics[T_STATUS], will, &b->net, err,
				 sizeof(err)) : -ENOMEM;
	if (rc < 0) {
		logmsg("%s: %s", b->cfg_path, rc == -ENOMEM ? strerror(ENOMEM) : err);
		rc = EXIT_USAGE;
		goto out;
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	/* before any thread starts, so every thread inherits the mask */
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	b->sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	rc = b->sfd < 0 ? -errno : 0;
	if (!rc)
		rc = net_start(b->net);
	if (!rc)
		rc = feed_start(b->cfg.socket, spool_tag(b->spool), spool_last_user(b->spool),
				&b->feed);
	if (rc < 0) {
		logmsg("starting: %s", strerror(-rc));
		rc = EXIT_FAILURE;
		goto out;
	}
	logmsg("forwarding to %s:%u under %s/%s/%s/ (spool %s, %" PRIu64 " MiB)", b->cfg.host,
	       b->cfg.port ? b->cfg.port : b->cfg.tls_ca[0] ? 8883 : 1883, b->cfg.prefix,
	       b->cfg.site, b->node, dir, b->cfg.spool_max_bytes >> 20);
	rc = run(b);
	shut_down(b);
out:
	b->feed = feed_stop(b->feed);
	b->net = net_free(b->net);
	b->spool = spool_close(b->spool);
	if (b->sfd >= 0)
		close(b->sfd);
	free(b->mid_id);
	mosquitto_lib_cleanup();
	return rc;
}
