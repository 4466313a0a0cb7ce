// SPDX-License-Identifier: MIT
/*
 * control.c - faults on demand: the control socket's commands.
 *
 * One command per line on $UMOCKDEV_DIR/devsim/control (AF_UNIX stream),
 * one reply line: "OK ..." or "ERR <errno> <what>". DEV is an id
 * ("iio:device0") or a driver name ("ads1298"). Commands:
 *   sync | list | status DEV | overflow DEV N | stall DEV MS [drop]
 *   vanish DEV [MS] | return DEV | garbage DEV ATTR [VALUE...]
 *   garbage-clear DEV ATTR | dirty DEV 0|1 | load DEV resistor OHMS|cole
 * (README-style details in twitch-devsim --help.)
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <umockdev.h>

#include "devsim.h"

static int control_u64(const char *s, uint64_t *ret)
{
	unsigned long long v;
	char *end;

	if (s == NULL || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -EINVAL;
	*ret = v;
	return 0;
}

int devsim_vanish(struct devsim *ds, struct devsim_dev *d)
{
	char node[PATH_MAX], pts[64], map[PATH_MAX];
	ssize_t n;
	size_t i;
	int null_fd;

	if (d->vanished)
		return -EALREADY;
	stream_disable(ds, d, "vanish");
	devsim_want_pollout(ds, d, false);	/* before its fd becomes /dev/null */
	if (d->wd_dev >= 0)
		inotify_rm_watch(ds->inotify_fd, d->wd_dev);
	if (d->wd_buf >= 0)
		inotify_rm_watch(ds->inotify_fd, d->wd_buf);
	if (d->wd_scan >= 0)
		inotify_rm_watch(ds->inotify_fd, d->wd_scan);
	d->wd_dev = d->wd_buf = d->wd_scan = -1;
	if (d->slave >= 0)
		close(d->slave);
	d->slave = -1;
	/*
	 * Hang up the reader: the testbed owns the master fd and never lets
	 * go of its number, so the pty is closed by putting /dev/null in its
	 * place. The reader's read() then returns 0 and poll() POLLHUP (the
	 * real node returns -ENODEV; both mean "gone").
	 */
	snprintf(node, sizeof(node), "%s%s", ds->root, d->devnode);
	n = readlink(node, pts, sizeof(pts) - 1);
	pts[n > 0 ? n : 0] = '\0';
	null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null_fd >= 0) {
		dup3(null_fd, d->pty, O_CLOEXEC);
		close(null_fd);
	}
	/*
	 * The pty number is free again and will be reused; umockdev keeps a
	 * map entry per pty name that remove_device() leaves behind and that
	 * would make the next node creation abort.
	 */
	for (i = 0; pts[i] != '\0'; i++)
		if (pts[i] == '/')
			pts[i] = '_';
	if (pts[0] != '\0') {
		snprintf(map, sizeof(map), "%s/dev/.ptymap/%s", ds->root, pts);
		unlink(map);
	}
	umockdev_testbed_remove_device(ds->testbed, d->syspath);
	if (d->trig_syspath[0] != '\0')
		umockdev_testbed_remove_device(ds->testbed, d->trig_syspath);
	d->vanished = true;
	devsim_event(ds, d, "vanish");
	return 0;
}

/*
 * The device comes back as a new iio:deviceN: umockdev keeps the old node
 * name reserved after remove_device(), and the kernel may renumber too.
 * It comes back in its probe state (rate, sweep settings, length).
 */
int devsim_return(struct devsim *ds, struct devsim_dev *d)
{
	int err;

	if (!d->vanished)
		return -EALREADY;
	d->num = ds->next_num++;
	d->return_at_ns = 0;
	err = model_add_to_testbed(ds, d, false);
	if (err < 0)
		return err;
	devsim_event(ds, d, "return");
	return 0;
}

static void control_status(struct devsim_dev *d, char *reply, size_t len)
{
	snprintf(reply, len, "OK id=%s name=%s vanished=%d enabled=%d session=%u "
		 "rate_hz=%u scan_bytes=%zu length=%u watermark=%u produced=%llu "
		 "pushed=%llu dropped=%llu skipped=%llu written_bytes=%llu "
		 "fifo_bytes=%zu", d->id, d->name, d->vanished, d->enabled,
		 d->session, d->rate_hz, d->enabled ? d->layout.scan_bytes : 0,
		 d->length, d->watermark, (unsigned long long)d->n_produced,
		 (unsigned long long)d->n_pushed, (unsigned long long)d->n_dropped,
		 (unsigned long long)d->n_skipped,
		 (unsigned long long)d->n_written_bytes, d->fifo_used);
}

int control_command(struct devsim *ds, char *line, char *reply, size_t len)
{
	char *argv[8], *save = NULL, *rest = NULL;
	struct devsim_dev *d = NULL;
	uint64_t n;
	int argc = 0, err = 0;
	size_t i;

	line[strcspn(line, "\r\n")] = '\0';
	for (argv[argc] = strtok_r(line, " \t", &save); argv[argc] != NULL && argc < 7;
	     argv[argc] = strtok_r(NULL, " \t", &save)) {
		argc++;
		if (argc == 3 && strcmp(argv[0], "garbage") == 0) {
			rest = save;	/* the value may contain spaces */
			break;
		}
	}
	if (argc == 0) {
		snprintf(reply, len, "ERR %d empty command", EINVAL);
		return -EINVAL;
	}
	if (strcmp(argv[0], "sync") == 0) {
		snprintf(reply, len, "OK");	/* the caller drained inotify */
		return 0;
	}
	if (strcmp(argv[0], "list") == 0) {
		size_t off = (size_t)snprintf(reply, len, "OK");

		for (i = 0; i < ds->n_devs && off < len; i++)
			off += (size_t)snprintf(reply + off, len - off, " %s=%s%s",
						ds->dev[i]->id, ds->dev[i]->name,
						ds->dev[i]->vanished ? "(vanished)" : "");
		return 0;
	}
	if (argc < 2) {
		snprintf(reply, len, "ERR %d usage: %s DEV ...", EINVAL, argv[0]);
		return -EINVAL;
	}
	d = devsim_find(ds, argv[1]);
	if (d == NULL) {
		snprintf(reply, len, "ERR %d no device %s", ENODEV, argv[1]);
		return -ENODEV;
	}

	if (strcmp(argv[0], "status") == 0) {
		control_status(d, reply, len);
		return 0;
	} else if (strcmp(argv[0], "overflow") == 0 && argc == 3) {
		err = control_u64(argv[2], &n);
		if (err == 0) {
			d->skip_pending += n;
			devsim_event(ds, d, "fault-overflow skip=%llu from_scan=%llu",
				     (unsigned long long)n,
				     (unsigned long long)d->n_produced);
		}
	} else if (strcmp(argv[0], "stall") == 0 && (argc == 3 || argc == 4)) {
		err = control_u64(argv[2], &n);
		if (err == 0 && argc == 4 && strcmp(argv[3], "drop") != 0)
			err = -EINVAL;
		if (err == 0) {
			d->stall_until_ns = devsim_now_ns() + n * 1000000u;
			d->stall_drop = argc == 4;
			devsim_event(ds, d, "fault-stall ms=%llu drop=%d at_scan=%llu",
				     (unsigned long long)n, d->stall_drop,
				     (unsigned long long)d->n_produced);
		}
	} else if (strcmp(argv[0], "vanish") == 0 && (argc == 2 || argc == 3)) {
		n = 0;
		if (argc == 3)
			err = control_u64(argv[2], &n);
		if (err == 0)
			err = devsim_vanish(ds, d);
		if (err == 0 && n > 0)
			d->return_at_ns = devsim_now_ns() + n * 1000000u;
	} else if (strcmp(argv[0], "return") == 0 && argc == 2) {
		err = devsim_return(ds, d);
	} else if (strcmp(argv[0], "garbage") == 0 && argc == 3) {
		char value[256];

		if (rest != NULL && *rest != '\0')
			snprintf(value, sizeof(value), "%s\n", rest);
		else
			snprintf(value, sizeof(value), "not-a-number\n");
		err = attr_garbage(d, argv[2], value);
		if (err == 0)
			devsim_event(ds, d, "fault-garbage file=%s", argv[2]);
	} else if (strcmp(argv[0], "garbage-clear") == 0 && argc == 3) {
		err = attr_garbage(d, argv[2], NULL);
	} else if (strcmp(argv[0], "dirty") == 0 && argc == 3) {
		err = control_u64(argv[2], &n);
		if (err == 0)
			d->dirty_bits = n != 0;
	} else if (strcmp(argv[0], "load") == 0 && d->kind == DEVSIM_AD5933 &&
		   argc >= 3) {
		if ((strcmp(argv[2], "cole") == 0 || strcmp(argv[2], "body") == 0) &&
		    argc == 3) {
			d->ad.load_r_ohm = 0;
		} else if ((strcmp(argv[2], "cole") == 0 || strcmp(argv[2], "body") == 0) &&
			   argc == 7) {
			/* a changed body: R0 RINF FC ALPHA, e.g. a hydration shift */
			double v[4];
			char *end;
			int k;

			for (k = 0; k < 4 && err == 0; k++) {
				v[k] = strtod(argv[3 + k], &end);
				if (*end != '\0' || !(v[k] > 0) || !isfinite(v[k]))
					err = -EINVAL;
			}
			if (err == 0 && (v[1] >= v[0] || v[3] > 1.0))
				err = -EINVAL;
			if (err == 0) {
				d->sp.r0_ohm = v[0];
				d->sp.rinf_ohm = v[1];
				d->sp.fc_hz = v[2];
				d->sp.alpha = v[3];
				d->ad.load_r_ohm = 0;
			}
		} else if (strcmp(argv[2], "resistor") == 0 && argc == 4) {
			char *end;
			double r = strtod(argv[3], &end);

			if (*end != '\0' || !(r > 0) || !isfinite(r))
				err = -EINVAL;
			else
				d->ad.load_r_ohm = r;
		} else {
			err = -EINVAL;
		}
		if (err == 0)
			devsim_event(ds, d, "load %s", argv[2]);
	} else {
		snprintf(reply, len, "ERR %d unknown command or wrong arguments: %s",
			 EINVAL, argv[0]);
		return -EINVAL;
	}
	if (err < 0) {
		snprintf(reply, len, "ERR %d %s", -err, strerror(-err));
		return err;
	}
	snprintf(reply, len, "OK id=%s", d->id);
	return 0;
}
