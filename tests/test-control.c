// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test-control.c - control socket: command parsing limits, the stale-socket
 * rule (replace a dead socket, refuse a live one, never touch a non-socket)
 * and the reply format.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "control.h"

static void test_parse(void **state)
{
	char buf[TWITCH_CTL_MAX_CMD + 2];
	struct control_cmd cmd;

	(void)state;
	strcpy(buf, "mark lights off\n");
	assert_int_equal(control_parse(buf, strlen(buf), &cmd), 0);
	assert_string_equal(cmd.verb, "mark");
	assert_string_equal(cmd.args, "lights off");

	strcpy(buf, "ping");
	assert_int_equal(control_parse(buf, 4, &cmd), 0);
	assert_string_equal(cmd.verb, "ping");
	assert_string_equal(cmd.args, "");

	assert_int_equal(control_parse(buf, 0, &cmd), -EINVAL);
	memcpy(buf, "mark a\0b", 8);					/* embedded NUL */
	assert_int_equal(control_parse(buf, 8, &cmd), -EINVAL);
	strcpy(buf, "mark \x1b[2J");					/* escape sequence */
	assert_int_equal(control_parse(buf, strlen(buf), &cmd), -EINVAL);
	strcpy(buf, "mark caf\xc3\xa9 \xe2\x86\x92 \xf0\x9f\x98\xb4");	/* UTF-8 */
	assert_int_equal(control_parse(buf, strlen(buf), &cmd), 0);
	assert_string_equal(cmd.args, "caf\xc3\xa9 \xe2\x86\x92 \xf0\x9f\x98\xb4");
	strcpy(buf, "mark \x9b[2J");					/* raw C1 CSI */
	assert_int_equal(control_parse(buf, strlen(buf), &cmd), -EINVAL);
	strcpy(buf, "mark \xc2\x9b[2J");				/* U+009B, CSI */
	assert_int_equal(control_parse(buf, strlen(buf), &cmd), -EINVAL);
	strcpy(buf, "mark \xc0\xaf");					/* overlong '/' */
	assert_int_equal(control_parse(buf, strlen(buf), &cmd), -EINVAL);
	strcpy(buf, "mark \xed\xa0\x80");				/* a surrogate */
	assert_int_equal(control_parse(buf, strlen(buf), &cmd), -EINVAL);
	strcpy(buf, "mark caf\xc3");					/* cut short */
	assert_int_equal(control_parse(buf, strlen(buf), &cmd), -EINVAL);
	strcpy(buf, "mark \xff");
	assert_int_equal(control_parse(buf, strlen(buf), &cmd), -EINVAL);
	strcpy(buf, " leading");					/* empty verb */
	assert_int_equal(control_parse(buf, strlen(buf), &cmd), -EINVAL);
	strcpy(buf, "averyveryverylongverb x");
	assert_int_equal(control_parse(buf, strlen(buf), &cmd), -EINVAL);
	memset(buf, 'a', sizeof(buf));
	assert_int_equal(control_parse(buf, TWITCH_CTL_MAX_CMD + 1, &cmd), -EMSGSIZE);
}

static void test_listen_stale_live_and_foreign(void **state)
{
	char dir[] = "/tmp/twitch-ctl-XXXXXX", path[64];
	struct stat st;
	int fd, fd2, f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/control.sock", dir);

	assert_int_equal(control_listen(path, 0660, (gid_t)-1, &fd), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0660);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	/* a live socket is not stolen */
	assert_int_equal(control_listen(path, 0660, (gid_t)-1, &fd2), -EADDRINUSE);
	close(fd);
	/* a dead one (crash) is replaced */
	assert_int_equal(control_listen(path, 0600, (gid_t)-1, &fd2), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	close(fd2);
	unlink(path);
	/* something that is not a socket is never removed */
	f = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	assert_true(f >= 0);
	close(f);
	assert_int_equal(control_listen(path, 0660, (gid_t)-1, &fd), -EEXIST);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	unlink(path);
	rmdir(dir);
}

static void test_reply_and_peer_check(void **state)
{
	struct control_policy pol = { .has_gid = false };
	struct ucred cred;
	char buf[TWITCH_CTL_MAX_CMD + 16];
	char longtext[2 * TWITCH_CTL_MAX_CMD];
	int sv[2];
	ssize_t n;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(control_peer_check(sv[0], &pol, &cred), 0);	/* ourselves */
	assert_int_equal(cred.pid, getpid());

	assert_int_equal(control_reply(sv[0], 0, "pong"), 0);
	n = recv(sv[1], buf, sizeof(buf), 0);
	assert_int_equal(n, 7);
	assert_memory_equal(buf, "OK pong", 7);
	assert_int_equal(control_reply(sv[0], EINVAL, "bad %s", "args"), 0);
	n = recv(sv[1], buf, sizeof(buf), 0);
	buf[n] = '\0';
	assert_string_equal(buf, "ERR 22 bad args");
	/* an overlong reply is cut to one bounded message */
	memset(longtext, 'x', sizeof(longtext) - 1);
	longtext[sizeof(longtext) - 1] = '\0';
	assert_int_equal(control_reply(sv[0], 0, "%s", longtext), 0);
	n = recv(sv[1], buf, sizeof(buf), 0);
	assert_int_equal(n, TWITCH_CTL_MAX_CMD - 1);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_listen_stale_live_and_foreign),
		cmocka_unit_test(test_reply_and_peer_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
