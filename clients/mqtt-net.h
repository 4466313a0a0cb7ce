/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * mqtt-net.h - twitch-mqtt's broker connection: one libmosquitto client
 * driven by a network thread that never gives up (libmosquitto's own
 * loop_forever() returns for good on a TLS or authentication failure; a
 * bridge on a ward must keep retrying with backoff and say why once).
 *
 * What the network thread learns (connected, disconnected, PUBACKs, errors)
 * is queued and the eventfd becomes readable; the owner thread takes it
 * with net_take() and does everything else (spool, publishing) itself.
 */
#ifndef TWITCH_MQTT_NET_H
#define TWITCH_MQTT_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mqtt-config.h"

struct net;

struct net_events {
	bool connected_changed;
	bool connected;		/* state after the changes */
	unsigned int n_acks;
	const int *acks;	/* mids of PUBACKs, valid until the next net_take() */
	char error[320];	/* the newest error since the last take, "" if none */
};

/*
 * net_new() - a client for @c with last will @will_payload on @will_topic
 * (retained, QoS 1); connects in its thread once net_start() is called.
 */
int net_new(const struct mqtt_config *c, const char *client_id, const char *will_topic,
	    const char *will_payload, struct net **ret, char *err, size_t err_size);
int net_start(struct net *n);
int net_fd(const struct net *n);
void net_take(struct net *n, struct net_events *ret);
/*
 * net_publish() - QoS 1 publish. Return: 0 and the message id in *ret_mid,
 * or -EAGAIN when libmosquitto refuses for now (e.g. reconnecting), -EINVAL
 * for a message the broker can never take.
 */
int net_publish(struct net *n, const char *topic, const void *payload, size_t len,
		bool retain, int *ret_mid);
/* Disconnect cleanly (the will is not sent), stop the thread, release. NULL-safe. */
struct net *net_free(struct net *n);

/*
 * net_check() - connect once, synchronously, for `twitch-mqtt --check`.
 * Return: 0 when the broker accepted the connection within @timeout_ms,
 * otherwise -errno with the reason in @err.
 */
int net_check(const struct mqtt_config *c, const char *client_id, unsigned int timeout_ms,
	      char *err, size_t err_size);

#endif
