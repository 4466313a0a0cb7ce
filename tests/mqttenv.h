/* SPDX-License-Identifier: MIT */
/*
 * mqttenv.h - the real parts twitch-mqtt's test and benchmark run against:
 * a mosquitto broker on a free 127.0.0.1 port (with persistence, optional
 * password file and TLS), the twitch-mqtt binary, and a libmosquitto
 * subscriber that records what arrived on each topic by "mseq".
 */
#ifndef TWITCH_MQTTENV_H
#define TWITCH_MQTTENV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct mosquitto;

struct broker {
	char dir[200];			/* persistence, config, log */
	int port;
	pid_t pid;
	bool tls;			/* cafile/certfile/keyfile in dir */
	bool auth;			/* passwd in dir, anonymous refused */
	bool client_certs;		/* with tls: client.crt/client.key required */
};

/* Write the config for a new port (port 0) or the same port, start, wait. */
int broker_start(struct broker *b);
/* SIGTERM (mosquitto saves its persistence) and reap. */
void broker_stop(struct broker *b);

#define SUB_TOPICS	5		/* events, estimates, status, alerts, status/daemon */
#define SUB_DEVICES	4		/* status/device/NAME kept apart */
#define SUB_MAX_SEQ	400000

struct sub_topic {
	uint8_t *seen;			/* seen[mseq] = times received */
	uint64_t n, dups, out_of_order, max_mseq;
	char last[4096];		/* newest payload */
};

struct sub {
	struct mosquitto *mosq;
	char topic[256];
	pthread_mutex_t lock;
	struct sub_topic t[SUB_TOPICS];
	int connack;			/* -1 none yet */
	/* latency of twitch records: now(REALTIME) - t_real_ns, in us */
	uint32_t *lat_us;
	uint64_t n_lat, cap_lat;
	uint64_t n_loss_msgs, lost_reported;	/* loss messages and their counts */
	uint64_t n_twitch;			/* distinct twitch records on events */
	char loss_reasons[256];
	/* status/device/NAME: each name's newest payload */
	char dev_name[SUB_DEVICES][32];
	char dev_last[SUB_DEVICES][1024];
	unsigned int n_dev_msgs;
};

/*
 * sub_start() - subscribe to "<prefix>/#" on @b with client @id (persistent
 * session when @persistent) and user/password if not NULL.
 */
int sub_start(struct sub *s, const struct broker *b, const char *prefix, const char *id,
	      bool persistent, const char *user, const char *password);
void sub_stop(struct sub *s);
/* Wait until topic @t saw @n distinct mseq values; false on timeout. */
bool sub_wait(struct sub *s, int t, uint64_t n, unsigned int timeout_ms);
/* Copy status/device/@name's newest payload into @buf; false: none yet. */
bool sub_device(struct sub *s, const char *name, char *buf, size_t size);
/* mseq values in 1..@max never seen on @t. */
uint64_t sub_missing(struct sub *s, int t, uint64_t max);

/* Start twitch-mqtt with config @conf; stderr to @log. */
pid_t bridge_start(const char *conf, const char *socket, const char *log);
/* SIGTERM and reap; the exit status. */
int bridge_stop(pid_t pid);
/* Run to completion; exit status; its stderr into @log. */
int run_wait(const char *const argv[], const char *log);

int port_free(void);
void sleep_ms(unsigned int ms);
/* Times @needle occurs in file @path. */
int file_count(const char *path, const char *needle);

#endif
