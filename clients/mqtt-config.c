// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * mqtt-config.c - parse twitch-mqtt.conf with inih, strictly: an unknown
 * key, a value out of range or a secret in a file others can read stops the
 * bridge with one message naming file, line and key. A bridge that silently
 * ignored "pasword = ..." would spool for hours against a broker that
 * refuses it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "inifile.h"
#include "mqtt-config.h"

struct parse_ctx {
	struct mqtt_config *c;
	struct mqtt_config_error *err;
	bool failed;
	int line;		/* of the key being parsed */
	int fail_line;		/* of the first error */
};

void mqtt_config_default(struct mqtt_config *c)
{
	memset(c, 0, sizeof(*c));
	strcpy(c->host, "localhost");
	c->keepalive_s = 30;
	c->protocol = 4;
	c->max_inflight = 1000;
	strcpy(c->prefix, "twitchd");
	strcpy(c->site, "default");
	c->spool_max_bytes = UINT64_C(256) << 20;
	c->sync_ms = 1000;
}

static int fail(struct parse_ctx *p, const char *section, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(struct parse_ctx *p, const char *section, const char *key, const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	if (p->failed)
		return 0;
	p->failed = true;
	p->fail_line = p->line;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(p->err->msg, sizeof(p->err->msg), "[%s] %s: %s", section, key, msg);
	return 0;
}

static int parse_uint(const char *v, unsigned long long min, unsigned long long max,
		      unsigned long long *ret)
{
	unsigned long long x;
	char *end;

	if (*v < '0' || *v > '9')
		return -EINVAL;
	errno = 0;
	x = strtoull(v, &end, 10);
	if (errno || *end || x < min || x > max)
		return -ERANGE;
	*ret = x;
	return 0;
}

static int copy_str(char *dst, size_t size, const char *v)
{
	if (strlen(v) >= size)
		return -ENAMETOOLONG;
	strcpy(dst, v);
	return 0;
}

/* A topic level: no wildcards, no separators, not empty, printable ASCII,
 * and nothing JSON would need escaped (the site goes into every payload). */
static bool topic_level_ok(const char *v, bool allow_slash)
{
	const char *p;

	if (!*v)
		return false;
	for (p = v; *p; p++) {
		if (*p == '+' || *p == '#' || (*p == '/' && !allow_slash) ||
		    *p == '"' || *p == '\\' ||
		    (unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
			return false;
	}
	return v[0] != '/' && p[-1] != '/' && !strstr(v, "//");
}

#define STR(sec, name, field)							\
	if (!strcmp(section, sec) && !strcmp(key, name)) {			\
		if (copy_str(c->field, sizeof(c->field), value) < 0)		\
			return fail(p, section, key, "longer than %zu characters",	\
				    sizeof(c->field) - 1);			\
		return 1;							\
	}

static int handler(void *user, const char *section, const char *key, const char *value,
		   int line)
{
	struct parse_ctx *p = user;
	struct mqtt_config *c = p->c;
	unsigned long long u;

	p->line = line;
	if (p->failed)
		return 0;
	STR("broker", "host", host)
	STR("broker", "client_id", client_id)
	STR("broker", "username", username)
	STR("broker", "password", password)
	STR("broker", "tls_ca", tls_ca)
	STR("broker", "tls_cert", tls_cert)
	STR("broker", "tls_key", tls_key)
	STR("twitchd", "socket", socket)
	STR("spool", "dir", spool_dir)
	if (!strcmp(section, "broker") && !strcmp(key, "port")) {
		if (parse_uint(value, 1, 65535, &u) < 0)
			return fail(p, section, key, "'%s' is not a port (1-65535)", value);
		c->port = (unsigned int)u;
		return 1;
	}
	if (!strcmp(section, "broker") && !strcmp(key, "keepalive_s")) {
		if (parse_uint(value, 5, 3600, &u) < 0)
			return fail(p, section, key, "'%s' is not 5-3600 seconds", value);
		c->keepalive_s = (unsigned int)u;
		return 1;
	}
	if (!strcmp(section, "broker") && !strcmp(key, "protocol")) {
		if (!strcmp(value, "3.1.1"))
			c->protocol = 4;
		else if (!strcmp(value, "5"))
			c->protocol = 5;
		else
			return fail(p, section, key, "'%s': use 3.1.1 or 5", value);
		return 1;
	}
	if (!strcmp(section, "broker") && !strcmp(key, "max_inflight")) {
		if (parse_uint(value, 1, 20000, &u) < 0)
			return fail(p, section, key, "'%s' is not 1-20000 messages", value);
		c->max_inflight = (unsigned int)u;
		return 1;
	}
	if (!strcmp(section, "topics") && (!strcmp(key, "prefix") || !strcmp(key, "site") ||
					   !strcmp(key, "node"))) {
		bool prefix = !strcmp(key, "prefix");
		char *dst = prefix ? c->prefix : !strcmp(key, "site") ? c->site : c->node;
		size_t size = prefix ? sizeof(c->prefix) : sizeof(c->site);

		if (!topic_level_ok(value, prefix))
			return fail(p, section, key, "'%s' is not a topic %s (no + # spaces%s)",
				    value, prefix ? "prefix" : "level",
				    prefix ? ", empty levels" : " or /");
		if (copy_str(dst, size, value) < 0)
			return fail(p, section, key, "longer than %zu characters", size - 1);
		return 1;
	}
	if (!strcmp(section, "spool") && !strcmp(key, "max_mb")) {
		if (parse_uint(value, 1, 1u << 20, &u) < 0)
			return fail(p, section, key, "'%s' is not 1-1048576 MiB", value);
		c->spool_max_bytes = (uint64_t)u << 20;
		return 1;
	}
	if (!strcmp(section, "spool") && !strcmp(key, "sync_ms")) {
		if (parse_uint(value, 10, 60000, &u) < 0)
			return fail(p, section, key, "'%s' is not 10-60000 ms", value);
		c->sync_ms = (unsigned int)u;
		return 1;
	}
	return fail(p, section, key, "unknown key (see twitch-mqtt.conf(5))");
}

int mqtt_config_load(const char *path, struct mqtt_config *c, struct mqtt_config_error *err)
{
	struct parse_ctx p = { .c = c, .err = err };
	struct inifile_error ierr;
	struct stat st;
	FILE *f;
	int line;

	memset(err, 0, sizeof(*err));
	snprintf(err->file, sizeof(err->file), "%s", path);
	f = inifile_open(path, &st, &line);
	if (f == NULL) {
		snprintf(err->msg, sizeof(err->msg), "%s",
			 line == -EINVAL ? "not a regular file" : strerror(-line));
		return line;
	}
	line = inifile_parse(f, handler, &p, &ierr);
	fclose(f);
	if (line < 0) {
		snprintf(err->msg, sizeof(err->msg), "cannot read: %s", strerror(-line));
		return line;
	}
	if (line > 0) {
		/* the first error in the file, whoever found it */
		err->line = (unsigned int)line;
		if (ierr.line == line && ierr.key[0])
			snprintf(err->msg, sizeof(err->msg), "[%.40s] %.40s: %s", ierr.section,
				 ierr.key, ierr.msg);
		else if (ierr.line == line)
			snprintf(err->msg, sizeof(err->msg), "%s", ierr.msg);
		else if (!p.failed || p.fail_line != line)
			snprintf(err->msg, sizeof(err->msg), "not a [section] or key = value "
				 "line");
		return -EINVAL;
	}
	/* a password others can read is a password others have */
	if (c->password[0] && (st.st_mode & 077)) {
		snprintf(err->msg, sizeof(err->msg),
			 "holds a password but its mode is %04o: chmod 600 it (readable only by "
			 "the user twitch-mqtt runs as)", (unsigned int)(st.st_mode & 07777));
		return -EPERM;
	}
	if ((c->tls_cert[0] != 0) != (c->tls_key[0] != 0)) {
		snprintf(err->msg, sizeof(err->msg),
			 "[broker] tls_cert and tls_key go together: set both or neither");
		return -EINVAL;
	}
	if (c->tls_cert[0] && !c->tls_ca[0]) {
		snprintf(err->msg, sizeof(err->msg),
			 "[broker] tls_cert needs tls_ca (the CA that signed the broker)");
		return -EINVAL;
	}
	if (c->spool_max_bytes < (UINT64_C(1) << 20)) {
		snprintf(err->msg, sizeof(err->msg), "[spool] max_mb must be at least 1");
		return -EINVAL;
	}
	return 0;
}
