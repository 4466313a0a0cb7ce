// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * control.c - the control socket of twitchd (AF_UNIX, SOCK_SEQPACKET).
 *
 * Admission is checked twice: by the socket file's mode and group, and by
 * SO_PEERCRED/SO_PEERGROUPS after accept, so a socket inherited from
 * systemd or a mode set too wide still only serves the twitchd group.
 * Every message is length-checked; nothing a client sends makes us allocate.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "utf8.h"

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59
#endif

static int fill_addr(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	strcpy(sa->sun_path, path);
	return 0;
}

/* Is somebody accepting on @sa? */
static bool socket_alive(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	bool alive;

	if (fd < 0)
		return false;
	alive = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0;
	close(fd);
	return alive;
}

int control_listen(const char *path, mode_t mode, gid_t gid, int *ret_fd)
{
	struct sockaddr_un sa;
	struct stat st;
	int fd, err;

	err = fill_addr(path, &sa);
	if (err < 0)
		return err;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return -EEXIST;
		if (socket_alive(&sa))
			return -EADDRINUSE;
		if (unlink(path) < 0 && errno != ENOENT)
			return -errno;
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = -errno;
		goto fail_close;
	}
	if (gid != (gid_t)-1 && chown(path, (uid_t)-1, gid) < 0) {
		err = -errno;
		goto fail_unlink;
	}
	if (chmod(path, mode) < 0) {
		err = -errno;
		goto fail_unlink;
	}
	if (listen(fd, 64) < 0) {
		err = -errno;
		goto fail_unlink;
	}
	*ret_fd = fd;
	return 0;
fail_unlink:
	unlink(path);
fail_close:
	close(fd);
	return err;
}

int control_peer_check(int fd, const struct control_policy *pol, struct ucred *ret_cred)
{
	gid_t groups[256];
	struct ucred cred;
	socklen_t len = sizeof(cred);
	size_t i, n;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -errno;
	if (len != sizeof(cred))
		return -EPROTO;
	*ret_cred = cred;
	if (cred.uid == 0 || cred.uid == geteuid())
		return 0;
	if (!pol->has_gid)
		return -EACCES;
	if (cred.gid == pol->gid)
		return 0;
	len = sizeof(groups);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
		return errno == ERANGE ? -EACCES : -errno;	/* > 256 groups: refuse */
	n = len / sizeof(gid_t);
	for (i = 0; i < n; i++)
		if (groups[i] == pol->gid)
			return 0;
	return -EACCES;
}

int control_send_welcome(int fd, const struct publisher *p)
{
	struct twitch_ctl_welcome w;
	int fds[TWITCH_CTL_MAX_STREAMS + 1];
	union {
		char buf[CMSG_SPACE(sizeof(fds))];
		struct cmsghdr align;
	} cm;
	struct iovec iov = { .iov_base = &w };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf };
	struct cmsghdr *cmsg;
	size_t n_fds;
	ssize_t n;

	n_fds = publisher_welcome(p, &w, fds);
	iov.iov_len = offsetof(struct twitch_ctl_welcome, stream) +
		      w.n_streams * sizeof(w.stream[0]);
	memset(cm.buf, 0, sizeof(cm.buf));
	mh.msg_controllen = CMSG_SPACE(n_fds * sizeof(int));
	cmsg = CMSG_FIRSTHDR(&mh);
	cmsg->cmsg_level = SOL_SOCKET;
	cmsg->cmsg_type = SCM_RIGHTS;
	cmsg->cmsg_len = CMSG_LEN(n_fds * sizeof(int));
	memcpy(CMSG_DATA(cmsg), fds, n_fds * sizeof(int));
	do {
		n = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == iov.iov_len ? 0 : -EMSGSIZE;
}

int control_vreply(int fd, int err, const char *fmt, va_list ap)
{
	char buf[TWITCH_CTL_MAX_CMD];
	int k, m;
	ssize_t n;

	k = err ? snprintf(buf, sizeof(buf), "ERR %d ", err) : snprintf(buf, sizeof(buf), "OK ");
	m = vsnprintf(buf + k, sizeof(buf) - (size_t)k, fmt, ap);
	if (m < 0)
		return -EINVAL;
	if ((size_t)(k + m) >= sizeof(buf))
		m = (int)sizeof(buf) - 1 - k;	/* truncated text is still one message */
	do {
		n = send(fd, buf, (size_t)(k + m), MSG_NOSIGNAL | MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : 0;
}

int control_reply(int fd, int err, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = control_vreply(fd, err, fmt, ap);
	va_end(ap);
	return r;
}

/* The well-formed UTF-8 character at @s (at most @n bytes) if it is not a
 * C1 control (U+0080-U+009F: 0x9b alone is a terminal's CSI): its length,
 * else 0. */
static size_t utf8_ok(const unsigned char *s, size_t n)
{
	uint32_t cp = 0;
	size_t len = twitch_utf8_len(s, n, &cp);

	return len && !(cp >= 0x80 && cp <= 0x9f) ? len : 0;
}

int control_parse(char *buf, size_t len, struct control_cmd *ret)
{
	size_t i, v;

	if (len == 0)
		return -EINVAL;
	if (len > TWITCH_CTL_MAX_CMD)
		return -EMSGSIZE;
	/* strip one trailing newline, as `echo` adds */
	if (buf[len - 1] == '\n')
		len--;
	for (i = 0; i < len;) {
		unsigned char c = (unsigned char)buf[i];
		size_t k;

		if (c < 0x20 && c != '\t')
			return -EINVAL;
		if (c == 0x7f)
			return -EINVAL;
		/* text goes to the journal, terminals and MQTT: UTF-8 only */
		k = utf8_ok((const unsigned char *)buf + i, len - i);
		if (k == 0)
			return -EINVAL;
		i += k;
	}
	buf[len] = '\0';
	for (v = 0; v < len && buf[v] != ' ' && buf[v] != '\t'; v++)
		;
	if (v == 0 || v >= sizeof(ret->verb))
		return -EINVAL;
	memcpy(ret->verb, buf, v);
	ret->verb[v] = '\0';
	while (v < len && (buf[v] == ' ' || buf[v] == '\t'))
		v++;
	ret->args = buf + v;
	return 0;
}
