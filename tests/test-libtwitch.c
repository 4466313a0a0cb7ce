// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test-libtwitch.c - libtwitch against a real producer process (testpub:
 * twitchd's own publish.c and control.c): connect, read in order, exact
 * loss when lapped, 8 forked readers, kill -9 of readers, producer restart,
 * refusal of peers outside the group, hostile welcome messages.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "control-proto.h"
#include "records.h"
#include "testpub.h"
#include "twitch.h"

#define TEST_GID 4242	/* a group nobody is in: the "twitchd" group of these tests */

static char dir[64];
static char sock_path[100];

static struct testpub_opts opts(void)
{
	return (struct testpub_opts){ .sock_path = sock_path, .sock_mode = 0660,
				      .sock_gid = (gid_t)-1 };
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/twitch-test-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	chmod(dir, 0755);	/* the unprivileged child must reach the socket */
	snprintf(sock_path, sizeof(sock_path), "%s/control.sock", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(sock_path);
	rmdir(dir);
	return 0;
}

static void stop(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static void cmd_ok(struct twitch_client *c, const char *cmd)
{
	char reply[128];

	assert_int_equal(twitch_client_command(c, cmd, reply, sizeof(reply)), 0);
}

static void test_connect_and_streams(void **state)
{
	struct testpub_opts o = opts();
	struct twitch_stream_info si;
	struct twitch_client *c = NULL;
	char epoch[33], reply[64];
	pid_t pid;

	(void)state;
	pid = testpub_spawn(&o);
	assert_true(pid > 0);
	assert_int_equal(twitch_client_connect(sock_path, &c), 0);
	assert_int_equal(twitch_client_n_streams(c), 2);
	assert_int_equal(twitch_client_stream_info(c, 0, &si), 0);
	assert_string_equal(si.name, "events");
	assert_int_equal(si.slot_size, RECORD_EVENT_SLOT_SIZE);
	assert_int_equal(si.max_record, RECORD_EVENT_SLOT_SIZE - 8);
	assert_int_equal(twitch_client_stream_info(c, 1, &si), 0);
	assert_string_equal(si.name, "test");
	assert_int_equal(twitch_client_stream_info(c, 2, &si), -ENOENT);
	assert_int_equal(twitch_client_epoch(c, epoch), 0);
	assert_int_equal(strlen(epoch), 32);
	assert_int_equal(twitch_client_command(c, "ping", reply, sizeof(reply)), 0);
	assert_string_equal(reply, "pong");
	assert_int_equal(twitch_client_command(c, "frobnicate", reply, sizeof(reply)),
			 EOPNOTSUPP);
	assert_int_equal(twitch_client_command(c, "two\nlines", NULL, 0), -EINVAL);
	c = twitch_client_free(c);
	assert_null(c);
	stop(pid);
}

static void test_no_daemon(void **state)
{
	struct twitch_client *c = NULL;
	char msg[256];

	(void)state;
	assert_int_equal(twitch_client_connect(sock_path, &c), -ENOENT);
	assert_null(c);
	/* the one line every client tool prints, and its exit code */
	assert_int_equal(twitch_connect_strerror(-ENOENT, sock_path, msg, sizeof(msg)),
			 TWITCH_EXIT_NODAEMON);
	assert_non_null(strstr(msg, "twitchd is not running"));
	assert_non_null(strstr(msg, sock_path));
	assert_int_equal(twitch_connect_strerror(-EACCES, NULL, msg, sizeof(msg)),
			 TWITCH_EXIT_PERM);
	assert_non_null(strstr(msg, "twitchd group"));
	assert_int_equal(twitch_connect_strerror(-EPROTO, NULL, msg, sizeof(msg)), 1);
}

static void test_read_in_order_and_marker(void **state)
{
	struct testpub_opts o = opts();
	struct twitch_client *c;
	struct twitch_reader *r;
	union { struct twitch_rec_twitch e; struct twitch_rec_marker m; char b[256]; } u;
	int i, n;
	pid_t pid;

	(void)state;
	pid = testpub_spawn(&o);
	assert_true(pid > 0);
	assert_int_equal(twitch_client_connect(sock_path, &c), 0);
	assert_int_equal(twitch_reader_new(c, "nope", TWITCH_FROM_NEWEST, &r), -ENOENT);
	cmd_ok(c, "pub events 5");	/* published before the reader: backlog */
	assert_int_equal(twitch_reader_new(c, "events", 3, &r), 0);
	cmd_ok(c, "pub events 10");
	cmd_ok(c, "mark lights off");
	for (i = 2; i < 15; i++) {
		n = twitch_reader_next(r, &u, sizeof(u), 1000);
		assert_int_equal(n, sizeof(struct twitch_rec_twitch));
		assert_int_equal(u.e.hdr.type, TWITCH_REC_TWITCH);
		assert_int_equal(u.e.hdr.seqno, i);
		assert_int_equal(u.e.hdr.sample_index, (uint64_t)i * 100);
		assert_int_equal(u.e.channel, i % 8);
	}
	n = twitch_reader_next(r, &u, sizeof(u), 1000);
	assert_int_equal(n, sizeof(struct twitch_rec_marker));
	assert_int_equal(u.m.hdr.type, TWITCH_REC_MARKER);
	assert_string_equal(u.m.text, "lights off");
	assert_int_equal(u.m.client_pid, getpid());
	assert_int_equal(twitch_reader_next(r, &u, sizeof(u), 0), 0);	/* nothing more */
	assert_int_equal(twitch_reader_next(r, &u, 16, 0), -EMSGSIZE);
	assert_int_equal(twitch_reader_lost(r), 0);
	twitch_reader_free(r);
	twitch_client_free(c);
	stop(pid);
}

/* Lapped: every record is either delivered or counted lost, exactly. */
static void test_lapped_reader_counts_exactly(void **state)
{
	struct testpub_opts o = opts();
	struct twitch_client *c;
	struct twitch_reader *r;
	struct twitch_rec_test t;
	struct twitch_reader_stats st;
	union { struct twitch_rec_test t; struct twitch_rec_loss l; } u;
	uint64_t delivered = 0, lost_records = 0, next_seq = 0;
	int n;
	pid_t pid;

	(void)state;
	o.test_slots = 64;
	pid = testpub_spawn(&o);
	assert_true(pid > 0);
	assert_int_equal(twitch_client_connect(sock_path, &c), 0);
	assert_int_equal(twitch_reader_new(c, "test", TWITCH_FROM_NEWEST, &r), 0);
	cmd_ok(c, "pub test 1000");
	/* the fill and the backlog, seen before reading anything */
	assert_int_equal(twitch_reader_stats(r, &st), 0);
	assert_int_equal(st.published, 1000);
	assert_int_equal(st.n_slots, 64);
	assert_int_equal(st.oldest, 1000 - (64 - 64 / 8));
	assert_int_equal(st.position, 0);
	assert_int_equal(st.lost, 0);
	assert_true(st.heartbeat_age_ns < 5000000000u);
	while ((n = twitch_reader_next(r, &u, sizeof(u), 0)) > 0) {
		if (u.t.hdr.type == TWITCH_REC_LOSS) {
			assert_true(u.l.hdr.flags & TWITCH_RECF_LOCAL);
			assert_int_equal(u.l.reason, TWITCH_LOSS_READER_LAPPED);
			assert_int_equal(u.l.exact, 1);
			lost_records += u.l.count;
			next_seq += u.l.count;
			continue;
		}
		assert_int_equal(u.t.hdr.seqno, next_seq);
		assert_int_equal(u.t.check, testpub_check(u.t.hdr.seqno));
		next_seq++;
		delivered++;
	}
	assert_int_equal(delivered + lost_records, 1000);
	assert_int_equal(twitch_reader_lost(r), lost_records);
	assert_int_equal(lost_records, 1000 - (64 - 64 / 8));	/* ring keeps 56 */
	assert_int_equal(twitch_reader_stats(r, &st), 0);
	assert_int_equal(st.position, 1000);
	assert_int_equal(st.lost, lost_records);
	assert_int_equal(twitch_reader_stats(NULL, &st), -EINVAL);

	/* seek: back to a record still held, then to one long overwritten */
	assert_int_equal(twitch_reader_seek(r, 990), 0);
	assert_true(twitch_reader_next(r, &u, sizeof(u), 0) > 0);
	assert_int_equal(u.t.hdr.seqno, 990);
	assert_int_equal(twitch_reader_seek(r, 100), 0);
	assert_true(twitch_reader_next(r, &u, sizeof(u), 0) > 0);
	assert_int_equal(u.l.hdr.type, TWITCH_REC_LOSS);
	assert_int_equal(u.l.reason, TWITCH_LOSS_READER_LAPPED);
	assert_int_equal(u.l.count, 1000 - (64 - 64 / 8) - 100);
	assert_true(twitch_reader_next(r, &u, sizeof(u), 0) > 0);
	assert_int_equal(u.t.hdr.seqno, 1000 - (64 - 64 / 8));	/* the oldest held */
	assert_int_equal(twitch_reader_seek(r, 5000), 0);	/* past the newest */
	assert_int_equal(twitch_reader_next(r, &u, sizeof(u), 0), 0);
	assert_int_equal(twitch_reader_seek(NULL, 0), -EINVAL);
	(void)t;
	twitch_reader_free(r);
	twitch_client_free(c);
	stop(pid);
}

#define FANOUT_READERS 8
#define FANOUT_RECORDS 50000

static int fanout_child(int ready_fd)
{
	struct twitch_client *c;
	struct twitch_reader *r;
	struct twitch_rec_test t;
	uint64_t expect = 0;
	int n;

	if (twitch_client_connect(sock_path, &c) < 0)
		return 10;
	if (twitch_reader_new(c, "test", TWITCH_FROM_NEWEST, &r) < 0)
		return 11;
	if (write(ready_fd, "r", 1) != 1)
		return 12;
	close(ready_fd);
	while (expect < FANOUT_RECORDS) {
		n = twitch_reader_next(r, &t, sizeof(t), 10000);
		if (n <= 0)
			return 13;	/* timeout or error */
		if (t.hdr.type != TWITCH_REC_TEST)
			return 14;	/* a loss record: must not happen */
		if (t.hdr.seqno != expect || t.check != testpub_check(expect))
			return 15;
		expect++;
	}
	return twitch_reader_lost(r) == 0 ? 0 : 16;
}

static void test_eight_forked_readers_get_everything(void **state)
{
	struct testpub_opts o = opts();
	struct twitch_client *c;
	pid_t pid, kids[FANOUT_READERS];
	int pipefd[2], i, st;
	char b;

	(void)state;
	pid = testpub_spawn(&o);	/* test ring of 65536 slots: no lapping */
	assert_true(pid > 0);
	assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
	for (i = 0; i < FANOUT_READERS; i++) {
		kids[i] = fork();
		assert_true(kids[i] >= 0);
		if (kids[i] == 0) {
			close(pipefd[0]);
			_exit(fanout_child(pipefd[1]));
		}
	}
	close(pipefd[1]);
	for (i = 0; i < FANOUT_READERS; i++)
		assert_int_equal(read(pipefd[0], &b, 1), 1);
	close(pipefd[0]);
	assert_int_equal(twitch_client_connect(sock_path, &c), 0);
	for (i = 0; i < FANOUT_RECORDS / 1000; i++)
		cmd_ok(c, "pub test 1000");
	for (i = 0; i < FANOUT_READERS; i++) {
		assert_int_equal(waitpid(kids[i], &st, 0), kids[i]);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}
	twitch_client_free(c);
	stop(pid);
}

static void test_kill9_reader_leaves_others_unaffected(void **state)
{
	struct testpub_opts o = opts();
	struct twitch_client *c;
	struct twitch_reader *r;
	struct twitch_rec_test t;
	uint64_t expect = 0;
	int round, n;
	pid_t pid, victim;

	(void)state;
	pid = testpub_spawn(&o);
	assert_true(pid > 0);
	assert_int_equal(twitch_client_connect(sock_path, &c), 0);
	assert_int_equal(twitch_reader_new(c, "test", TWITCH_FROM_NEWEST, &r), 0);
	for (round = 0; round < 10; round++) {
		victim = fork();
		assert_true(victim >= 0);
		if (victim == 0) {
			struct twitch_client *vc;
			struct twitch_reader *vr;
			struct twitch_rec_test vt;

			if (twitch_client_connect(sock_path, &vc) < 0 ||
			    twitch_reader_new(vc, "test", TWITCH_FROM_OLDEST, &vr) < 0)
				_exit(1);
			for (;;)	/* reading or asleep in the futex when killed */
				twitch_reader_next(vr, &vt, sizeof(vt), round % 2 ? 0 : -1);
		}
		cmd_ok(c, "pub test 2000");
		usleep(2000);
		kill(victim, SIGKILL);
		waitpid(victim, NULL, 0);
		cmd_ok(c, "pub test 2000");
		while (expect < (uint64_t)(round + 1) * 4000) {
			n = twitch_reader_next(r, &t, sizeof(t), 2000);
			assert_int_equal(n, sizeof(t));
			assert_int_equal(t.hdr.seqno, expect);
			assert_int_equal(t.check, testpub_check(expect));
			expect++;
		}
	}
	assert_int_equal(twitch_reader_lost(r), 0);
	cmd_ok(c, "ping");	/* the producer is unaffected */
	twitch_reader_free(r);
	twitch_client_free(c);
	stop(pid);
}

static void test_producer_restart_is_followed(void **state)
{
	struct testpub_opts o = opts();
	struct twitch_client *c, *c2;
	struct twitch_reader *r;
	union { struct twitch_rec_twitch e; struct twitch_rec_status s; char b[256]; } u;
	char epoch1[33], epoch2[33];
	bool gone = false, restarted = false;
	int n, twitches = 0, i;
	pid_t pid;

	(void)state;
	pid = testpub_spawn(&o);
	assert_true(pid > 0);
	assert_int_equal(twitch_client_connect(sock_path, &c), 0);
	twitch_client_epoch(c, epoch1);
	assert_int_equal(twitch_reader_new(c, "events", TWITCH_FROM_NEWEST, &r), 0);
	cmd_ok(c, "pub events 3");
	for (i = 0; i < 3; i++)
		assert_int_equal(twitch_reader_next(r, &u, sizeof(u), 1000), sizeof(u.e));
	stop(pid);		/* kill -9: no clean close */

	/* the reader notices, and keeps following */
	n = twitch_reader_next(r, &u, sizeof(u), 2000);
	assert_int_equal(n, sizeof(u.s));
	assert_int_equal(u.s.hdr.type, TWITCH_REC_STATUS);
	assert_int_equal(u.s.state, TWITCH_STATUS_DAEMON_GONE);
	gone = true;
	assert_int_equal(twitch_reader_next(r, &u, sizeof(u), 300), 0);	/* still away */

	pid = testpub_spawn(&o);
	assert_true(pid > 0);
	assert_int_equal(twitch_client_connect(sock_path, &c2), 0);
	cmd_ok(c2, "pub events 4");
	while ((n = twitch_reader_next(r, &u, sizeof(u), 3000)) > 0) {
		if (u.s.hdr.type == TWITCH_REC_STATUS) {
			assert_int_equal(u.s.state, TWITCH_STATUS_DAEMON_RESTARTED);
			assert_true(u.s.hdr.flags & TWITCH_RECF_LOCAL);
			restarted = true;
			continue;
		}
		assert_true(restarted);
		assert_int_equal(u.e.hdr.type, TWITCH_REC_TWITCH);
		assert_int_equal(u.e.hdr.seqno, twitches);	/* the new epoch starts at 0 */
		if (++twitches == 4)
			break;
	}
	assert_true(gone && restarted);
	assert_int_equal(twitches, 4);
	twitch_client_epoch(c, epoch2);
	assert_string_not_equal(epoch1, epoch2);
	assert_int_equal(twitch_reader_lost(r), 0);
	twitch_reader_free(r);
	twitch_client_free(c);
	twitch_client_free(c2);
	stop(pid);
}

/* Poll until a record comes, for at most @ms; 0 if none. */
static int poll_next(struct twitch_reader *r, void *buf, size_t size, int ms)
{
	int i, n;

	for (i = 0; i < ms / 5; i++) {
		n = twitch_reader_next(r, buf, size, 0);
		if (n != 0)
			return n;
		usleep(5000);
	}
	return 0;
}

/* A client that only ever polls (timeout 0, like a UI) follows restarts too. */
static void test_polling_reader_follows_restart(void **state)
{
	struct testpub_opts o = opts();
	struct twitch_client *c, *c2;
	struct twitch_reader *r;
	union { struct twitch_rec_twitch e; struct twitch_rec_status s; char b[256]; } u;
	pid_t pid;
	int n;

	(void)state;
	pid = testpub_spawn(&o);
	assert_true(pid > 0);
	assert_int_equal(twitch_client_connect(sock_path, &c), 0);
	assert_int_equal(twitch_reader_new(c, "events", TWITCH_FROM_NEWEST, &r), 0);
	stop(pid);
	n = poll_next(r, &u, sizeof(u), 2000);
	assert_int_equal(n, sizeof(u.s));
	assert_int_equal(u.s.state, TWITCH_STATUS_DAEMON_GONE);
	pid = testpub_spawn(&o);
	assert_true(pid > 0);
	assert_int_equal(twitch_client_connect(sock_path, &c2), 0);
	cmd_ok(c2, "pub events 1");
	n = poll_next(r, &u, sizeof(u), 3000);
	assert_int_equal(n, sizeof(u.s));
	assert_int_equal(u.s.state, TWITCH_STATUS_DAEMON_RESTARTED);
	n = poll_next(r, &u, sizeof(u), 2000);
	assert_int_equal(n, sizeof(u.e));
	assert_int_equal(u.e.hdr.type, TWITCH_REC_TWITCH);
	twitch_reader_free(r);
	twitch_client_free(c);
	twitch_client_free(c2);
	stop(pid);
}

/*
 * A reader that looks again only after the restarted daemon's ring wrapped:
 * one call finds the daemon gone, reconnects and counts what was
 * overwritten, so "gone", "restarted" and the loss are queued at once. All
 * three come out, in that order (libtwitch had room for two: the third was
 * written past the reader).
 */
static void test_restart_after_wrap_reports_gone_restart_and_loss(void **state)
{
	struct testpub_opts o = opts();
	struct twitch_client *c, *c2;
	struct twitch_reader *r;
	union {
		struct twitch_rec_status s;
		struct twitch_rec_loss l;
		struct twitch_rec_test t;
		char b[512];
	} u;
	uint64_t seq;
	pid_t pid;

	(void)state;
	o.test_slots = 8;	/* the fewest: 100 records wrap it many times */
	pid = testpub_spawn(&o);
	assert_true(pid > 0);
	assert_int_equal(twitch_client_connect(sock_path, &c), 0);
	assert_int_equal(twitch_reader_new(c, "test", TWITCH_FROM_NEWEST, &r), 0);
	stop(pid);
	pid = testpub_spawn(&o);
	assert_true(pid > 0);
	assert_int_equal(twitch_client_connect(sock_path, &c2), 0);
	cmd_ok(c2, "pub test 100");

	assert_int_equal(twitch_reader_next(r, &u, sizeof(u), 2000), sizeof(u.s));
	assert_int_equal(u.s.hdr.type, TWITCH_REC_STATUS);
	assert_int_equal(u.s.state, TWITCH_STATUS_DAEMON_GONE);
	assert_int_equal(twitch_reader_next(r, &u, sizeof(u), 2000), sizeof(u.s));
	assert_int_equal(u.s.hdr.type, TWITCH_REC_STATUS);
	assert_int_equal(u.s.state, TWITCH_STATUS_DAEMON_RESTARTED);
	assert_int_equal(twitch_reader_next(r, &u, sizeof(u), 2000), sizeof(u.l));
	assert_int_equal(u.l.hdr.type, TWITCH_REC_LOSS);
	assert_int_equal(u.l.reason, TWITCH_LOSS_RESTART);
	assert_int_equal(u.l.count, 100 - 7);	/* oldest safe: 7 of the 8 slots kept */
	for (seq = 93; seq < 100; seq++) {
		assert_int_equal(twitch_reader_next(r, &u, sizeof(u), 2000), sizeof(u.t));
		assert_int_equal(u.t.hdr.type, TWITCH_REC_TEST);
		assert_int_equal(u.t.hdr.seqno, seq);
	}
	assert_int_equal(twitch_reader_lost(r), 93);
	twitch_reader_free(r);
	twitch_client_free(c);
	twitch_client_free(c2);
	stop(pid);
}

static void test_clean_close_is_noticed(void **state)
{
	struct testpub_opts o = opts();
	struct twitch_client *c;
	struct twitch_reader *r;
	struct twitch_rec_status s;
	union { struct twitch_rec_status s; char b[256]; } u;
	pid_t pid;
	int st;

	(void)state;
	pid = testpub_spawn(&o);
	assert_true(pid > 0);
	assert_int_equal(twitch_client_connect(sock_path, &c), 0);
	assert_int_equal(twitch_reader_new(c, "events", TWITCH_FROM_NEWEST, &r), 0);
	cmd_ok(c, "close");
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_int_equal(twitch_reader_next(r, &u, sizeof(u), 2000), sizeof(s));
	assert_int_equal(u.s.state, TWITCH_STATUS_DAEMON_GONE);
	twitch_reader_free(r);
	twitch_client_free(c);
}

/*
 * twitchd cuts off a client over its command budget, or one that does not
 * read its replies, and runs on: its readers reconnect to the same daemon
 * and go on where they were, with no "gone", no "restarted", nothing read
 * twice and no loss. (They took every dropped connection for a restart:
 * the records still in the ring came again, counted as lost.)
 */
static void test_dropped_connection_is_not_a_restart(void **state)
{
	struct testpub_opts o = opts();
	struct twitch_client *c;
	struct twitch_reader *r;
	union { struct twitch_rec_twitch e; char b[256]; } u;
	char reply[64];
	int i;
	pid_t pid;

	(void)state;
	pid = testpub_spawn(&o);
	assert_true(pid > 0);
	assert_int_equal(twitch_client_connect(sock_path, &c), 0);
	assert_int_equal(twitch_reader_new(c, "events", TWITCH_FROM_NEWEST, &r), 0);
	cmd_ok(c, "pub events 5");
	for (i = 0; i < 5; i++)
		assert_int_equal(twitch_reader_next(r, &u, sizeof(u), 1000), sizeof(u.e));
	assert_int_equal(twitch_client_command(c, "drop", reply, sizeof(reply)), EBUSY);
	/* nothing to say: no local record */
	assert_int_equal(twitch_reader_next(r, &u, sizeof(u), 500), 0);
	cmd_ok(c, "pub events 3");
	for (i = 5; i < 8; i++) {
		assert_int_equal(twitch_reader_next(r, &u, sizeof(u), 1000), sizeof(u.e));
		assert_int_equal(u.e.hdr.type, TWITCH_REC_TWITCH);
		assert_int_equal(u.e.hdr.seqno, i);
	}
	assert_int_equal(twitch_reader_next(r, &u, sizeof(u), 200), 0);
	assert_int_equal(twitch_reader_lost(r), 0);
	twitch_reader_free(r);
	twitch_client_free(c);
	stop(pid);
}

/*
 * A command that timed out leaves its late reply in the socket; the daemon
 * then dies. The end of the connection behind that reply must still be
 * seen (a peeked recv() saw only the reply, and the reader waited for
 * ever on the dead ring).
 */
static void test_late_reply_does_not_hide_a_restart(void **state)
{
	struct testpub_opts o = opts();
	struct twitch_client *c;
	struct twitch_reader *r;
	union { struct twitch_rec_status s; char b[256]; } u;
	bool gone = false, restarted = false;
	pid_t pid;
	int i, n;

	(void)state;
	pid = testpub_spawn(&o);
	assert_true(pid > 0);
	assert_int_equal(twitch_client_connect(sock_path, &c), 0);
	assert_int_equal(twitch_reader_new(c, "events", TWITCH_FROM_NEWEST, &r), 0);
	assert_int_equal(twitch_client_command(c, "sleep 2300", NULL, 0), -ETIMEDOUT);
	usleep(600000);		/* the reply is in the socket now */
	stop(pid);
	pid = testpub_spawn(&o);
	assert_true(pid > 0);
	for (i = 0; i < 10 && !restarted; i++) {
		n = twitch_reader_next(r, &u, sizeof(u), 500);
		if (n <= 0)
			continue;
		assert_int_equal(u.s.hdr.type, TWITCH_REC_STATUS);
		if (u.s.state == TWITCH_STATUS_DAEMON_GONE)
			gone = true;
		if (u.s.state == TWITCH_STATUS_DAEMON_RESTARTED)
			restarted = true;
	}
	assert_true(gone);
	assert_true(restarted);
	twitch_reader_free(r);
	twitch_client_free(c);
	stop(pid);
}

/*
 * A restarted twitchd whose ring this library cannot read (a newer ring
 * ABI) is an error the caller sees, again about every 0.2 s, not a silent
 * wait for ever; the reader follows the next daemon that it can read.
 * While the daemon is gone, stats and seek say -ENOTCONN.
 */
static void test_unreadable_new_daemon_is_an_error(void **state)
{
	struct testpub_opts o = opts();
	struct twitch_client *c, *c2;
	struct twitch_reader *r;
	struct twitch_reader_stats st;
	union { struct twitch_rec_twitch e; struct twitch_rec_status s; char b[256]; } u;
	bool restarted = false;
	pid_t pid;
	int i, n, errors = 0;

	(void)state;
	pid = testpub_spawn(&o);
	assert_true(pid > 0);
	assert_int_equal(twitch_client_connect(sock_path, &c), 0);
	assert_int_equal(twitch_reader_new(c, "events", TWITCH_FROM_NEWEST, &r), 0);
	stop(pid);
	pid = testpub_spawn(&o);
	assert_true(pid > 0);
	assert_int_equal(twitch_client_connect(sock_path, &c2), 0);
	cmd_ok(c2, "abi 99");
	assert_int_equal(twitch_reader_next(r, &u, sizeof(u), 2000), sizeof(u.s));
	assert_int_equal(u.s.state, TWITCH_STATUS_DAEMON_GONE);
	assert_int_equal(twitch_reader_stats(r, &st), -ENOTCONN);
	assert_int_equal(twitch_reader_seek(r, 0), -ENOTCONN);
	for (i = 0; i < 3; i++) {
		n = twitch_reader_next(r, &u, sizeof(u), 1000);
		if (n == -EPROTONOSUPPORT)
			errors++;
		else
			assert_int_equal(n, 0);
	}
	assert_true(errors >= 2);

	/* the next daemon is readable again */
	cmd_ok(c2, "close");
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	twitch_client_free(c2);
	pid = testpub_spawn(&o);
	assert_true(pid > 0);
	assert_int_equal(twitch_client_connect(sock_path, &c2), 0);
	cmd_ok(c2, "pub events 1");
	for (i = 0; i < 20; i++) {
		n = twitch_reader_next(r, &u, sizeof(u), 200);
		if (n == sizeof(u.s) && u.s.hdr.type == TWITCH_REC_STATUS &&
		    u.s.state == TWITCH_STATUS_DAEMON_RESTARTED)
			restarted = true;
		if (n == sizeof(u.e) && u.e.hdr.type == TWITCH_REC_TWITCH)
			break;
	}
	assert_true(restarted);
	assert_int_equal(u.e.hdr.type, TWITCH_REC_TWITCH);
	assert_int_equal(twitch_reader_stats(r, &st), 0);
	twitch_reader_free(r);
	twitch_client_free(c);
	twitch_client_free(c2);
	stop(pid);
}

/*
 * After a restart, a stream the new daemon makes only later (a device's
 * samples ring, made when the device first opens) is waited for, and
 * followed once it is there; no error in between.
 */
static void test_stream_made_later_is_followed(void **state)
{
	struct testpub_opts o = opts();
	struct twitch_client *c, *c2;
	struct twitch_reader *r;
	union { struct twitch_rec_status s; char b[256]; } u;
	bool gone = false, restarted = false;
	pid_t pid;
	int i, n;

	(void)state;
	pid = testpub_spawn(&o);
	assert_true(pid > 0);
	assert_int_equal(twitch_client_connect(sock_path, &c2), 0);
	cmd_ok(c2, "ring late");
	twitch_client_free(c2);
	assert_int_equal(twitch_client_connect(sock_path, &c), 0);
	assert_int_equal(twitch_reader_new(c, "late", TWITCH_FROM_NEWEST, &r), 0);
	stop(pid);
	pid = testpub_spawn(&o);
	assert_true(pid > 0);
	for (i = 0; i < 5; i++) {
		n = twitch_reader_next(r, &u, sizeof(u), 200);
		assert_true(n >= 0);
		if (n > 0 && u.s.state == TWITCH_STATUS_DAEMON_GONE)
			gone = true;
	}
	assert_true(gone);
	assert_int_equal(twitch_client_connect(sock_path, &c2), 0);
	cmd_ok(c2, "ring late");
	for (i = 0; i < 10 && !restarted; i++) {
		n = twitch_reader_next(r, &u, sizeof(u), 200);
		assert_true(n >= 0);
		if (n > 0 && u.s.state == TWITCH_STATUS_DAEMON_RESTARTED)
			restarted = true;
	}
	assert_true(restarted);
	twitch_reader_free(r);
	twitch_client_free(c);
	twitch_client_free(c2);
	stop(pid);
}

static void test_stalled_producer_is_reported(void **state)
{
	struct testpub_opts o = opts();
	struct twitch_client *c;
	struct twitch_reader *r;
	union { struct twitch_rec_status s; char b[256]; } u;
	pid_t pid;

	(void)state;
	pid = testpub_spawn(&o);
	assert_true(pid > 0);
	assert_int_equal(twitch_client_connect(sock_path, &c), 0);
	assert_int_equal(twitch_reader_new(c, "events", TWITCH_FROM_NEWEST, &r), 0);
	cmd_ok(c, "stall");
	/* ten missed 100-ms heartbeats, then the reader says so, once */
	assert_int_equal(twitch_reader_next(r, &u, sizeof(u), 3000), sizeof(u.s));
	assert_int_equal(u.s.state, TWITCH_STATUS_PRODUCER_STALLED);
	assert_int_equal(twitch_reader_next(r, &u, sizeof(u), 300), 0);
	twitch_reader_free(r);
	twitch_client_free(c);
	stop(pid);
}

/* Connect as uid/gid 65534 with @groups; return the connect result. */
static int connect_as_nobody(const gid_t *groups, size_t n_groups)
{
	pid_t kid = fork();
	int st;

	assert_true(kid >= 0);
	if (kid == 0) {
		struct twitch_client *c;
		int err;

		if (setgroups(n_groups, groups) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
			_exit(100);
		err = twitch_client_connect(sock_path, &c);
		if (err == 0)
			twitch_client_free(c);
		_exit(-err);
	}
	assert_int_equal(waitpid(kid, &st, 0), kid);
	assert_true(WIFEXITED(st));
	return -WEXITSTATUS(st);
}

static void test_peer_without_group_is_refused(void **state)
{
	struct testpub_opts o = opts();
	gid_t member = TEST_GID;
	pid_t pid;

	(void)state;
	if (geteuid() != 0)
		skip();	/* changing uid needs root; CI runs as root */
	o.sock_gid = TEST_GID;
	o.has_policy_gid = true;
	o.policy_gid = TEST_GID;

	/* the file mode (0660, group TEST_GID) keeps others out */
	pid = testpub_spawn(&o);
	assert_true(pid > 0);
	assert_int_equal(connect_as_nobody(NULL, 0), -EACCES);
	assert_int_equal(connect_as_nobody(&member, 1), 0);	/* a group member is served */
	stop(pid);

	/* a socket mode set too wide: SO_PEERCRED still refuses non-members */
	o.sock_mode = 0666;
	pid = testpub_spawn(&o);
	assert_true(pid > 0);
	assert_int_equal(connect_as_nobody(NULL, 0), -EACCES);
	assert_int_equal(connect_as_nobody(&member, 1), 0);
	stop(pid);
}

/* ---- a hostile "daemon": malformed welcomes must give -EPROTO, not a crash */

struct hostile {
	int lfd;
	int mode;
};

static void *hostile_server(void *arg)
{
	struct hostile *h = arg;
	struct twitch_ctl_welcome w;
	union { char buf[CMSG_SPACE(sizeof(int) * 2)]; struct cmsghdr a; } cm;
	struct iovec iov = { .iov_base = &w };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cmsg;
	int fd, memfd, fds[2];

	fd = accept4(h->lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return NULL;
	memset(&w, 0, sizeof(w));
	w.magic = TWITCH_CTL_MAGIC;
	w.abi_major = TWITCH_CTL_ABI_MAJOR;
	w.n_streams = 1;
	snprintf(w.stream[0].name, sizeof(w.stream[0].name), "events");
	w.stream[0].slot_size = 256;
	w.stream[0].n_slots = 64;
	iov.iov_len = offsetof(struct twitch_ctl_welcome, stream) + sizeof(w.stream[0]);
	memfd = memfd_create("hostile", MFD_CLOEXEC);
	if (ftruncate(memfd, 4096) < 0)	/* a "ring" with a zero header */
		return NULL;
	fds[0] = memfd;
	fds[1] = memfd;
	switch (h->mode) {
	case 0:		/* truncated welcome */
		iov.iov_len = 10;
		break;
	case 1:		/* says one stream, passes no fds */
		break;
	case 2:		/* garbage text instead of a welcome */
		memcpy(&w, "hello there, I am not twitchd", 29);
		iov.iov_len = 29;
		break;
	case 3:		/* stream count beyond the limit */
		w.n_streams = 1000;
		break;
	case 4:		/* right shape, but the ring header is zeros */
		break;
	case 5:		/* name without NUL */
		memset(w.stream[0].name, 'A', sizeof(w.stream[0].name));
		break;
	}
	if (h->mode >= 3) {
		mh.msg_control = cm.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(fds));
		cmsg = CMSG_FIRSTHDR(&mh);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(fds));
		memcpy(CMSG_DATA(cmsg), fds, sizeof(fds));
	}
	sendmsg(fd, &mh, MSG_NOSIGNAL);
	usleep(100000);
	close(memfd);
	close(fd);
	return NULL;
}

static void test_hostile_welcome_rejected(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct twitch_client *c;
	struct twitch_reader *r;
	struct hostile h;
	pthread_t th;
	int mode, err;

	(void)state;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	for (mode = 0; mode <= 5; mode++) {
		unlink(sock_path);
		h.mode = mode;
		h.lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		assert_int_equal(bind(h.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
		assert_int_equal(listen(h.lfd, 4), 0);
		assert_int_equal(pthread_create(&th, NULL, hostile_server, &h), 0);
		c = NULL;
		err = twitch_client_connect(sock_path, &c);
		if (mode == 4) {
			/* the handshake is well-formed; the ring itself is rejected */
			assert_int_equal(err, 0);
			assert_int_equal(twitch_reader_new(c, "events", 0, &r), -EPROTO);
			twitch_client_free(c);
		} else {
			print_message("hostile mode %d: %s\n", mode, strerror(-err));
			assert_int_equal(err, -EPROTO);
			assert_null(c);
		}
		pthread_join(th, NULL);
		close(h.lfd);
	}
	unlink(sock_path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_daemon),
		cmocka_unit_test(test_connect_and_streams),
		cmocka_unit_test(test_read_in_order_and_marker),
		cmocka_unit_test(test_lapped_reader_counts_exactly),
		cmocka_unit_test(test_eight_forked_readers_get_everything),
		cmocka_unit_test(test_kill9_reader_leaves_others_unaffected),
		cmocka_unit_test(test_producer_restart_is_followed),
		cmocka_unit_test(test_polling_reader_follows_restart),
		cmocka_unit_test(test_restart_after_wrap_reports_gone_restart_and_loss),
		cmocka_unit_test(test_clean_close_is_noticed),
		cmocka_unit_test(test_stalled_producer_is_reported),
		cmocka_unit_test(test_dropped_connection_is_not_a_restart),
		cmocka_unit_test(test_late_reply_does_not_hide_a_restart),
		cmocka_unit_test(test_unreadable_new_daemon_is_an_error),
		cmocka_unit_test(test_stream_made_later_is_followed),
		cmocka_unit_test(test_peer_without_group_is_refused),
		cmocka_unit_test(test_hostile_welcome_rejected),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}
