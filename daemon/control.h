/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * control.h - the control socket: listen, admit peers, hand out rings,
 * parse commands. Transport only: the event loop decides when to call.
 */
#ifndef TWITCHD_CONTROL_H
#define TWITCHD_CONTROL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "publish.h"

struct control_policy {
	gid_t gid;			/* group admitted besides root and our own uid */
	bool has_gid;
};

/*
 * control_listen() - create the listening socket at @path.
 * @mode: file mode of the socket (e.g. 0660); @gid: its group, or -1.
 * A stale socket file left by a crash (nobody accepts on it) is replaced;
 * a live one gives -EADDRINUSE; a path that is not a socket gives -EEXIST
 * and is left alone. The socket is non-blocking and close-on-exec.
 * Return: 0 and the fd in *ret_fd, or -errno.
 */
int control_listen(const char *path, mode_t mode, gid_t gid, int *ret_fd);

/*
 * control_peer_check() - admit or refuse a connected peer by SO_PEERCRED:
 * root, our own uid, or a member (primary or supplementary) of the policy
 * group. Return: 0 with the credentials in *ret_cred, -EACCES, or -errno.
 */
int control_peer_check(int fd, const struct control_policy *pol, struct ucred *ret_cred);

/* Send the welcome with every ring's memfd. Return 0 or -errno. */
int control_send_welcome(int fd, const struct publisher *p);

/*
 * control_reply() - send "OK <text>" (@err == 0) or "ERR <err> <text>"
 * (@err a positive errno). Never blocks; MSG_NOSIGNAL. Return 0 or -errno.
 */
int control_reply(int fd, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int control_vreply(int fd, int err, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

struct control_cmd {
	char verb[16];			/* "mark", "ping", ... */
	const char *args;		/* points into the caller's buffer, NUL-terminated */
};

/*
 * control_parse() - split one command message (@len bytes in @buf, which
 * must have room for one more byte) into verb and arguments. Rejects NUL
 * bytes, control characters (C0, DEL and C1), text that is not well-formed
 * UTF-8, and overlong verbs.
 * Return: 0, or -EINVAL (bad message) or -EMSGSIZE (too long).
 */
int control_parse(char *buf, size_t len, struct control_cmd *ret);

#endif
