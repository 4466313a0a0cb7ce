/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * mqtt-config.h - twitch-mqtt's configuration (twitch-mqtt.conf(5)).
 */
#ifndef TWITCH_MQTT_CONFIG_H
#define TWITCH_MQTT_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#define MQTT_CONFIG_DEFAULT	"/etc/twitchd/twitch-mqtt.conf"
#define MQTT_SPOOL_DEFAULT	"/var/lib/twitch-mqtt"

struct mqtt_config {
	/* [broker] */
	char host[256];
	unsigned int port;		/* 0: 1883, or 8883 with TLS */
	char client_id[128];		/* "": twitch-mqtt-<node> */
	unsigned int keepalive_s;
	unsigned int protocol;		/* 4: MQTT 3.1.1, 5: MQTT 5 */
	char username[128];
	char password[256];
	char tls_ca[PATH_MAX];		/* set: TLS on */
	char tls_cert[PATH_MAX];
	char tls_key[PATH_MAX];
	unsigned int max_inflight;	/* QoS 1 messages awaiting PUBACK */
	/* [topics] */
	char prefix[128];
	char site[64];
	char node[64];			/* "": the host name */
	/* [spool] */
	char spool_dir[PATH_MAX];	/* "": $STATE_DIRECTORY or MQTT_SPOOL_DEFAULT */
	uint64_t spool_max_bytes;
	unsigned int sync_ms;		/* fdatasync and state every sync_ms */
	/* [twitchd] */
	char socket[PATH_MAX];		/* "": libtwitch's default */
};

struct mqtt_config_error {
	char file[PATH_MAX];
	unsigned int line;		/* 0: not about a line */
	char msg[256];
};

void mqtt_config_default(struct mqtt_config *c);
/*
 * mqtt_config_load() - read @path into @c (on top of the defaults). A file
 * that holds a password and is readable by group or others is refused.
 * Return: 0, or -errno with @err filled.
 */
int mqtt_config_load(const char *path, struct mqtt_config *c, struct mqtt_config_error *err);

#endif
