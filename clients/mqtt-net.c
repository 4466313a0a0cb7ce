// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * mqtt-net.c - the broker connection of twitch-mqtt (see mqtt-net.h).
 *
 * libmosquitto keeps QoS 1 messages that were not acknowledged and sends
 * them again after a reconnect of the same client object, so the owner
 * only stops handing out new messages while disconnected; after a restart
 * of the bridge the spool does the resending.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>

#include "mqtt-net.h"

#define ACKS_MAX	65536u
#define BACKOFF_MAX_S	60u

struct net {
	struct mosquitto *mosq;
	char host[256];
	int port, keepalive;
	bool tls, auth;
	pthread_t thread;
	bool started;
	atomic_bool stop;
	atomic_bool accepted;		/* CONNACK 0 since the last backoff */
	int efd;
	pthread_mutex_t lock;
	/* under lock: what the owner has not taken yet */
	bool conn_changed, connected, pending;
	int *acks, *acks_taken;
	unsigned int n_acks;
	char error[320];
	char log_err[256];
	int connack;			/* CONNACK code of this attempt, -1 none yet */
};

static void wake(struct net *n)
{
	uint64_t one = 1;

	/* called with n->lock held: one write per batch the owner has not seen */
	if (n->pending)
		return;
	n->pending = true;
	if (write(n->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		fprintf(stderr, "twitch-mqtt: net eventfd: %s\n", strerror(errno));
}

/* libmosquitto's text for @rc without its full stop, to be followed by more. */
static void strerror_mosq(int rc, char *buf, size_t size)
{
	size_t len;

	snprintf(buf, size, "%s", mosquitto_strerror(rc));
	len = strlen(buf);
	if (len && buf[len - 1] == '.')
		buf[len - 1] = '\0';
}

static void set_error(struct net *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(struct net *n, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&n->lock);
	va_start(ap, fmt);
	vsnprintf(n->error, sizeof(n->error), fmt, ap);
	va_end(ap);
	wake(n);
	pthread_mutex_unlock(&n->lock);
}

static const char *refusal(int protocol_v5, int rc)
{
	return protocol_v5 ? mosquitto_reason_string(rc) : mosquitto_connack_string(rc);
}

static void on_connect(struct mosquitto *mosq, void *obj, int rc)
{
	struct net *n = obj;

	(void)mosq;
	n->connack = rc;
	if (rc) {
		set_error(n, "broker %s:%d refused the connection: %s%s", n->host, n->port,
			  refusal(0, rc), n->auth ? " (check username and password)" : "");
		return;
	}
	atomic_store(&n->accepted, true);
	pthread_mutex_lock(&n->lock);
	n->connected = true;
	n->conn_changed = true;
	wake(n);
	pthread_mutex_unlock(&n->lock);
}

static void on_connect_v5(struct mosquitto *mosq, void *obj, int rc, int flags,
			  const mosquitto_property *props)
{
	struct net *n = obj;

	(void)flags;
	(void)props;
	if (rc) {
		n->connack = rc;
		set_error(n, "broker %s:%d refused the connection: %s%s", n->host, n->port,
			  refusal(1, rc), n->auth ? " (check username and password)" : "");
		return;
	}
	on_connect(mosq, obj, 0);
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc)
{
	struct net *n = obj;
	int e = errno;
	char what[64];

	(void)mosq;
	strerror_mosq(rc, what, sizeof(what));
	pthread_mutex_lock(&n->lock);
	if (n->connected) {
		n->connected = false;
		n->conn_changed = true;
		if (rc && !atomic_load(&n->stop))
			snprintf(n->error, sizeof(n->error), "lost the broker %.200s:%d: %.60s",
				 n->host, n->port, rc == MOSQ_ERR_ERRNO ? strerror(e) : what);
		wake(n);
	}
	pthread_mutex_unlock(&n->lock);
}

static void on_publish(struct mosquitto *mosq, void *obj, int mid)
{
	struct net *n = obj;

	(void)mosq;
	pthread_mutex_lock(&n->lock);
	/* cannot overflow: at most max_inflight (<= 20000) are outstanding */
	if (n->n_acks < ACKS_MAX)
		n->acks[n->n_acks++] = mid;
	wake(n);
	pthread_mutex_unlock(&n->lock);
}

static void on_log(struct mosquitto *mosq, void *obj, int level, const char *str)
{
	struct net *n = obj;

	(void)mosq;
	if (!(level & MOSQ_LOG_ERR))
		return;
	pthread_mutex_lock(&n->lock);
	snprintf(n->log_err, sizeof(n->log_err), "%s", str);
	pthread_mutex_unlock(&n->lock);
}

/* One line on why a connect or the loop failed with @rc. */
static void report(struct net *n, int rc, int err_no, unsigned int retry_s)
{
	char why[160], what[64];
	bool tls;

	if (rc == MOSQ_ERR_CONN_REFUSED || n->connack > 0)
		return;		/* on_connect said why */
	strerror_mosq(rc, what, sizeof(what));
	pthread_mutex_lock(&n->lock);
	/*
	 * A TLS broker that hangs up before CONNACK (EPROTO or a reset from
	 * the SSL layer, or a protocol error) most often wants a certificate.
	 */
	tls = rc == MOSQ_ERR_TLS || strstr(n->log_err, "SSL") != NULL ||
	      (n->connack < 0 && (rc != MOSQ_ERR_ERRNO || err_no == EPROTO ||
				  err_no == ECONNRESET));
	if (n->tls && tls && rc == MOSQ_ERR_ERRNO && !n->log_err[0])
		snprintf(why, sizeof(why), "the broker ended the TLS session before accepting "
			 "us (%.40s): a client certificate it requires?", strerror(err_no));
	else if (rc == MOSQ_ERR_ERRNO)
		snprintf(why, sizeof(why), "%.150s", strerror(err_no));
	else if (n->log_err[0])
		snprintf(why, sizeof(why), "%.40s: %.110s", what, n->log_err);
	else
		snprintf(why, sizeof(why), "%.150s", what);
	n->log_err[0] = '\0';
	pthread_mutex_unlock(&n->lock);
	set_error(n, "broker %s:%d: %s%s; retrying in %u s", n->host, n->port, why,
		  n->tls && tls ? " (check tls_ca, tls_cert, tls_key)" : "", retry_s);
}

static void nap(struct net *n, unsigned int s)
{
	struct timespec ts = { 0, 100000000L };
	unsigned int i;

	for (i = 0; i < s * 10 && !atomic_load(&n->stop); i++)
		nanosleep(&ts, NULL);
}

static void *net_main(void *arg)
{
	struct net *n = arg;
	unsigned int backoff = 1;
	int rc, e;

	errno = 0;
	n->connack = -1;
	rc = mosquitto_connect(n->mosq, n->host, n->port, n->keepalive);
	while (!atomic_load(&n->stop)) {
		while (rc == MOSQ_ERR_SUCCESS && !atomic_load(&n->stop))
			rc = mosquitto_loop(n->mosq, 1000, 1);
		if (atomic_load(&n->stop))
			break;
		e = errno;
		if (atomic_exchange(&n->accepted, false))
			backoff = 1;
		report(n, rc, e, backoff);
		nap(n, backoff);
		backoff = backoff * 2 > BACKOFF_MAX_S ? BACKOFF_MAX_S : backoff * 2;
		n->connack = -1;
		errno = 0;
		rc = mosquitto_reconnect(n->mosq);
	}
	return NULL;
}

/* Settings shared by the bridge's client and --check's. */
static int setup(struct net *n, const struct mqtt_config *c, const char *client_id,
		 char *err, size_t err_size)
{
	int rc;

	snprintf(n->host, sizeof(n->host), "%s", c->host);
	n->tls = c->tls_ca[0] != 0;
	n->auth = c->username[0] != 0;
	n->port = c->port ? (int)c->port : n->tls ? 8883 : 1883;
	n->keepalive = (int)c->keepalive_s;
	n->mosq = mosquitto_new(client_id, true, n);
	if (!n->mosq) {
		snprintf(err, err_size, "mosquitto_new: %s", strerror(errno));
		return -ENOMEM;
	}
	mosquitto_int_option(n->mosq, MOSQ_OPT_PROTOCOL_VERSION,
			     c->protocol == 5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
	if (c->protocol == 5)
		mosquitto_connect_v5_callback_set(n->mosq, on_connect_v5);
	else
		mosquitto_connect_callback_set(n->mosq, on_connect);
	mosquitto_disconnect_callback_set(n->mosq, on_disconnect);
	mosquitto_publish_callback_set(n->mosq, on_publish);
	mosquitto_log_callback_set(n->mosq, on_log);
	mosquitto_max_inflight_messages_set(n->mosq, c->max_inflight);
	if (n->auth) {
		rc = mosquitto_username_pw_set(n->mosq, c->username,
					       c->password[0] ? c->password : NULL);
		if (rc) {
			snprintf(err, err_size, "[broker] username: %s", mosquitto_strerror(rc));
			return -EINVAL;
		}
	}
	if (n->tls) {
		rc = mosquitto_tls_set(n->mosq, c->tls_ca, NULL, c->tls_cert[0] ? c->tls_cert : NULL,
				       c->tls_key[0] ? c->tls_key : NULL, NULL);
		if (rc) {
			snprintf(err, err_size, "[broker] tls_ca %s%s%s: cannot be read (%s)",
				 c->tls_ca, c->tls_cert[0] ? ", tls_cert " : "", c->tls_cert,
				 mosquitto_strerror(rc));
			return -EINVAL;
		}
	}
	return 0;
}

int net_new(const struct mqtt_config *c, const char *client_id, const char *will_topic,
	    const char *will_payload, struct net **ret, char *err, size_t err_size)
{
	struct net *n;
	int rc;

	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->efd = -1;
	pthread_mutex_init(&n->lock, NULL);
	n->acks = malloc(ACKS_MAX * sizeof(*n->acks));
	n->acks_taken = malloc(ACKS_MAX * sizeof(*n->acks));
	n->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!n->acks || !n->acks_taken || n->efd < 0) {
		snprintf(err, err_size, "%s", strerror(n->efd < 0 ? errno : ENOMEM));
		rc = -ENOMEM;
		goto fail;
	}
	rc = setup(n, c, client_id, err, err_size);
	if (rc)
		goto fail;
	rc = mosquitto_will_set(n->mosq, will_topic, (int)strlen(will_payload), will_payload, 1,
				true);
	if (rc) {
		snprintf(err, err_size, "last will on %s: %s", will_topic, mosquitto_strerror(rc));
		rc = -EINVAL;
		goto fail;
	}
	/* publish() from the owner thread only queues and wakes the loop */
	mosquitto_threaded_set(n->mosq, true);
	*ret = n;
	return 0;
fail:
	net_free(n);
	return rc;
}

int net_start(struct net *n)
{
	int rc = pthread_create(&n->thread, NULL, net_main, n);

	if (rc)
		return -rc;
	n->started = true;
	return 0;
}

int net_fd(const struct net *n)
{
	return n->efd;
}

void net_take(struct net *n, struct net_events *ret)
{
	uint64_t v;
	int *t;

	if (read(n->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		fprintf(stderr, "twitch-mqtt: net eventfd: %s\n", strerror(errno));
	pthread_mutex_lock(&n->lock);
	ret->connected_changed = n->conn_changed;
	ret->connected = n->connected;
	t = n->acks_taken;
	n->acks_taken = n->acks;
	n->acks = t;
	ret->acks = n->acks_taken;
	ret->n_acks = n->n_acks;
	snprintf(ret->error, sizeof(ret->error), "%s", n->error);
	n->error[0] = '\0';
	n->n_acks = 0;
	n->conn_changed = false;
	n->pending = false;
	pthread_mutex_unlock(&n->lock);
}

int net_publish(struct net *n, const char *topic, const void *payload, size_t len,
		bool retain, int *ret_mid)
{
	int rc, mid = 0;

	rc = mosquitto_publish(n->mosq, &mid, topic, (int)len, payload, 1, retain);
	switch (rc) {
	case MOSQ_ERR_SUCCESS:
		*ret_mid = mid;
		return 0;
	case MOSQ_ERR_NO_CONN:
		return -EAGAIN;
	case MOSQ_ERR_NOMEM:
		return -ENOMEM;
	case MOSQ_ERR_PAYLOAD_SIZE:
	case MOSQ_ERR_OVERSIZE_PACKET:
	case MOSQ_ERR_INVAL:
	case MOSQ_ERR_MALFORMED_UTF8:
		return -EINVAL;
	default:
		return -EIO;
	}
}

struct net *net_free(struct net *n)
{
	if (!n)
		return NULL;
	atomic_store(&n->stop, true);
	if (n->mosq)
		mosquitto_disconnect(n->mosq);
	if (n->started)
		pthread_join(n->thread, NULL);
	mosquitto_destroy(n->mosq);
	if (n->efd >= 0)
		close(n->efd);
	free(n->acks);
	free(n->acks_taken);
	pthread_mutex_destroy(&n->lock);
	free(n);
	return NULL;
}

int net_check(const struct mqtt_config *c, const char *client_id, unsigned int timeout_ms,
	      char *err, size_t err_size)
{
	struct net n = { .efd = -1, .connack = -1 };
	struct timespec t0, t;
	int rc, ret = 0;

	pthread_mutex_init(&n.lock, NULL);
	n.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (n.efd < 0) {
		snprintf(err, err_size, "eventfd: %s", strerror(errno));
		return -errno;
	}
	rc = setup(&n, c, client_id, err, err_size);
	if (rc) {
		ret = rc;
		goto out;
	}
	mosquitto_publish_callback_set(n.mosq, NULL);
	errno = 0;
	rc = mosquitto_connect(n.mosq, n.host, n.port, n.keepalive);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (rc == MOSQ_ERR_SUCCESS && n.connack < 0) {
		rc = mosquitto_loop(n.mosq, 100, 1);
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 >
		    (long)timeout_ms) {
			snprintf(err, err_size, "broker %s:%d: no answer within %u ms", n.host,
				 n.port, timeout_ms);
			ret = -ETIMEDOUT;
			goto out;
		}
	}
	if (n.connack > 0 || rc == MOSQ_ERR_CONN_REFUSED) {
		snprintf(err, err_size, "%s", n.error);
		ret = -EACCES;
	} else if (rc != MOSQ_ERR_SUCCESS) {
		int e = errno;
		char *semi;

		report(&n, rc, e, 0);
		snprintf(err, err_size, "%s", n.error);
		/* drop the retry note: --check does not retry */
		semi = strstr(err, "; retrying");
		if (semi)
			*semi = '\0';
		ret = rc == MOSQ_ERR_ERRNO && e ? -e : -EIO;
	} else {
		mosquitto_disconnect(n.mosq);
		mosquitto_loop(n.mosq, 100, 1);
	}
out:
	mosquitto_destroy(n.mosq);
	close(n.efd);
	pthread_mutex_destroy(&n.lock);
	return ret;
}
