// SPDX-License-Identifier: MIT
/*
 * mqttenv.c - real mosquitto, real twitch-mqtt and a libmosquitto subscriber
 * for test-mqtt and bench-mqtt (see mqttenv.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>

#include "mqttenv.h"

void sleep_ms(unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int port_free(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static bool port_open(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	if (fd < 0)
		return false;
	ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

static pid_t spawn(const char *const argv[], const char *log)
{
	pid_t pid = fork();

	if (pid == 0) {
		int fd = open(log ? log : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0644);

		/* a test that dies takes its broker and bridge with it */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		/* execv() does not write argv: its prototype is older than const */
		execv(argv[0], (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	return pid;
}

int broker_start(struct broker *b)
{
	char conf[256], log[256];
	const char *argv[] = { "/usr/sbin/mosquitto", "-c", conf, NULL };
	struct passwd *pw = getpwuid(geteuid());
	FILE *f;
	int i;

	if (b->port == 0)
		b->port = port_free();
	snprintf(conf, sizeof(conf), "%s/mosquitto.conf", b->dir);
	snprintf(log, sizeof(log), "%s/mosquitto.log", b->dir);
	f = fopen(conf, "w");
	if (!f)
		return -errno;
	/* the subscriber's session and its queue survive a broker restart */
	fprintf(f, "listener %d 127.0.0.1\npersistence true\npersistence_location %s/\n"
		"max_queued_messages 0\nmax_inflight_messages 0\nautosave_interval 1\n"
		"log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\n",
		b->port, b->dir);
	/* as root, mosquitto would switch to user mosquitto, who cannot use our files */
	if (pw)
		fprintf(f, "user %s\n", pw->pw_name);
	if (b->auth)
		fprintf(f, "allow_anonymous false\npassword_file %s/passwd\n", b->dir);
	else
		fprintf(f, "allow_anonymous true\n");
	if (b->tls)
		fprintf(f, "cafile %s/ca.crt\ncertfile %s/server.crt\nkeyfile %s/server.key\n%s",
			b->dir, b->dir, b->dir,
			b->client_certs ? "require_certificate true\n" : "");
	fclose(f);
	b->pid = spawn(argv, log);
	if (b->pid < 0)
		return -errno;
	for (i = 0; i < 200; i++) {
		if (port_open(b->port))
			return 0;
		if (waitpid(b->pid, NULL, WNOHANG) == b->pid) {
			b->pid = 0;
			return -ECHILD;
		}
		sleep_ms(25);
	}
	return -ETIMEDOUT;
}

void broker_stop(struct broker *b)
{
	if (b->pid > 0) {
		kill(b->pid, SIGTERM);
		waitpid(b->pid, NULL, 0);
	}
	b->pid = 0;
}

static int topic_index(const char *topic)
{
	static const char *const names[SUB_TOPICS] = { "/events", "/estimates", "/status",
						       "/alerts", "/status/daemon" };
	size_t len = strlen(topic);
	int i;

	for (i = 0; i < SUB_TOPICS; i++) {
		size_t n = strlen(names[i]);

		if (len >= n && !strcmp(topic + len - n, names[i]))
			return i;
	}
	return -1;
}

static bool json_u64(const char *p, const char *key, uint64_t *ret)
{
	char k[64];
	const char *q;

	snprintf(k, sizeof(k), "\"%s\":", key);
	q = strstr(p, k);
	if (!q)
		return false;
	*ret = strtoull(q + strlen(k), NULL, 10);
	return true;
}

static void on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
	struct sub *s = obj;
	char payload[4096];
	struct sub_topic *t;
	uint64_t mseq, v;
	struct timespec now;
	int i = topic_index(msg->topic);
	size_t len = (size_t)msg->payloadlen < sizeof(payload) - 1 ? (size_t)msg->payloadlen
								    : sizeof(payload) - 1;

	(void)m;
	memcpy(payload, msg->payload, len);
	payload[len] = '\0';
	if (i < 0 && strstr(msg->topic, "/status/device/")) {
		const char *name = strstr(msg->topic, "/status/device/") + 15;

		pthread_mutex_lock(&s->lock);
		s->n_dev_msgs++;
		for (i = 0; i < SUB_DEVICES; i++) {
			if (!s->dev_name[i][0])
				snprintf(s->dev_name[i], sizeof(s->dev_name[i]), "%.31s", name);
			if (!strcmp(s->dev_name[i], name)) {
				snprintf(s->dev_last[i], sizeof(s->dev_last[i]), "%.1023s", payload);
				break;
			}
		}
		pthread_mutex_unlock(&s->lock);
		return;
	}
	if (i < 0)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	pthread_mutex_lock(&s->lock);
	t = &s->t[i];
	snprintf(t->last, sizeof(t->last), "%s", payload);
	if (json_u64(payload, "mseq", &mseq) && mseq < SUB_MAX_SEQ) {
		if (t->seen[mseq]++) {
			t->dups++;
		} else {
			t->n++;
			if (mseq < t->max_mseq)
				t->out_of_order++;
			if (mseq > t->max_mseq)
				t->max_mseq = mseq;
		}
		if (i == 0 && t->seen[mseq] == 1 && strstr(payload, "\"type\":\"loss\"") &&
		    json_u64(payload, "count", &v)) {
			const char *r = strstr(payload, "\"reason\":\"");

			s->n_loss_msgs++;
			s->lost_reported += v;
			if (r && strlen(s->loss_reasons) < sizeof(s->loss_reasons) - 40) {
				strncat(s->loss_reasons, r + 10, strcspn(r + 10, "\""));
				strcat(s->loss_reasons, " ");
			}
		}
		if (i == 0 && t->seen[mseq] == 1 && strstr(payload, "\"type\":\"twitch\""))
			s->n_twitch++;
		if (i == 0 && t->seen[mseq] == 1 && s->n_lat < s->cap_lat &&
		    strstr(payload, "\"type\":\"twitch\"") && json_u64(payload, "t_real_ns", &v)) {
			uint64_t now_ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;

			s->lat_us[s->n_lat++] = now_ns > v ? (uint32_t)((now_ns - v) / 1000) : 0;
		}
	}
	pthread_mutex_unlock(&s->lock);
}

bool sub_device(struct sub *s, const char *name, char *buf, size_t size)
{
	bool found = false;
	int i;

	pthread_mutex_lock(&s->lock);
	for (i = 0; i < SUB_DEVICES && !found; i++) {
		if (!strcmp(s->dev_name[i], name)) {
			snprintf(buf, size, "%s", s->dev_last[i]);
			found = true;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return found;
}

static void on_connect(struct mosquitto *m, void *obj, int rc)
{
	struct sub *s = obj;

	/* every (re)connect: a broker restarted without our session needs it again */
	if (rc == 0)
		mosquitto_subscribe(m, NULL, s->topic, 1);
	pthread_mutex_lock(&s->lock);
	s->connack = rc;
	pthread_mutex_unlock(&s->lock);
}

int sub_start(struct sub *s, const struct broker *b, const char *prefix, const char *id,
	      bool persistent, const char *user, const char *password)
{
	int i, rc;

	memset(s, 0, sizeof(*s));
	snprintf(s->topic, sizeof(s->topic), "%s/#", prefix);
	pthread_mutex_init(&s->lock, NULL);
	s->connack = -1;
	for (i = 0; i < SUB_TOPICS; i++)
		s->t[i].seen = calloc(SUB_MAX_SEQ, 1);
	s->cap_lat = 2000000;
	s->lat_us = calloc(s->cap_lat, sizeof(*s->lat_us));
	s->mosq = mosquitto_new(id, !persistent, s);
	if (!s->mosq)
		return -ENOMEM;
	mosquitto_int_option(s->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
	mosquitto_connect_callback_set(s->mosq, on_connect);
	mosquitto_message_callback_set(s->mosq, on_message);
	mosquitto_reconnect_delay_set(s->mosq, 1, 1, false);
	if (user)
		mosquitto_username_pw_set(s->mosq, user, password);
	if (b->tls) {
		char ca[256], crt[256], key[256];

		snprintf(ca, sizeof(ca), "%.200s/ca.crt", b->dir);
		snprintf(crt, sizeof(crt), "%.200s/client.crt", b->dir);
		snprintf(key, sizeof(key), "%.200s/client.key", b->dir);
		mosquitto_tls_set(s->mosq, ca, NULL, b->client_certs ? crt : NULL,
				  b->client_certs ? key : NULL, NULL);
	}
	rc = mosquitto_connect(s->mosq, b->tls ? "localhost" : "127.0.0.1", b->port, 30);
	if (rc)
		return -ECONNREFUSED;
	mosquitto_loop_start(s->mosq);
	for (i = 0; i < 200; i++) {
		pthread_mutex_lock(&s->lock);
		rc = s->connack;
		pthread_mutex_unlock(&s->lock);
		if (rc >= 0)
			return rc == 0 ? 0 : -EACCES;
		sleep_ms(25);
	}
	return -ETIMEDOUT;
}

void sub_stop(struct sub *s)
{
	int i;

	if (s->mosq) {
		mosquitto_disconnect(s->mosq);
		mosquitto_loop_stop(s->mosq, false);
		mosquitto_destroy(s->mosq);
	}
	s->mosq = NULL;
	for (i = 0; i < SUB_TOPICS; i++) {
		free(s->t[i].seen);
		s->t[i].seen = NULL;
	}
	free(s->lat_us);
	s->lat_us = NULL;
	pthread_mutex_destroy(&s->lock);
}

bool sub_wait(struct sub *s, int t, uint64_t n, unsigned int timeout_ms)
{
	unsigned int waited;
	uint64_t have;

	for (waited = 0;; waited += 20) {
		pthread_mutex_lock(&s->lock);
		have = s->t[t].n;
		pthread_mutex_unlock(&s->lock);
		if (have >= n)
			return true;
		if (waited >= timeout_ms)
			return false;
		sleep_ms(20);
	}
}

uint64_t sub_missing(struct sub *s, int t, uint64_t max)
{
	uint64_t i, n = 0;

	pthread_mutex_lock(&s->lock);
	for (i = 1; i <= max && i < SUB_MAX_SEQ; i++)
		n += !s->t[t].seen[i];
	pthread_mutex_unlock(&s->lock);
	return n;
}

pid_t bridge_start(const char *conf, const char *socket, const char *log)
{
	const char *build = getenv("TWITCH_BUILD") ? getenv("TWITCH_BUILD") : "build";
	char bin[256];
	const char *argv[] = { bin, "-c", conf, "--socket", socket, NULL };

	snprintf(bin, sizeof(bin), "%s/twitch-mqtt", build);
	return spawn(argv, log);
}

int bridge_stop(pid_t pid)
{
	int st = 0;

	if (pid <= 0)
		return -1;
	kill(pid, SIGTERM);
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int run_wait(const char *const argv[], const char *log)
{
	pid_t pid = spawn(argv, log);
	int st = 0;

	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int file_count(const char *path, const char *needle)
{
	char line[1024];
	FILE *f = fopen(path, "r");
	int n = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}
