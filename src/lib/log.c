/* SPDX-License-Identifier: MIT */
/* Operational logging: stderr or syslog(3), with the -errno return convention. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "advert/log.h"

static enum log_target log_target = LOG_TARGET_STDERR;
static const char *log_ident = "advertd";
static int log_max_priority = LOG_INFO;

void log_setup(const char *ident, enum log_target target, int facility)
{
	log_ident = ident;
	log_target = target;
	if (target == LOG_TARGET_SYSLOG)
		openlog(ident, LOG_PID | LOG_NDELAY, facility);
}

void log_set_max_priority(int max_priority)
{
	log_max_priority = max_priority;
}

static const char *priority_word(int priority)
{
	switch (priority) {
	case LOG_EMERG:
	case LOG_ALERT:
	case LOG_CRIT:
	case LOG_ERR:
		return "error: ";
	case LOG_WARNING:
		return "warning: ";
	case LOG_DEBUG:
		return "debug: ";
	default:
		return "";
	}
}

int log_internal(int priority, int err, const char *fmt, ...)
{
	int saved_errno = errno;
	err = abs(err);

	if (priority <= log_max_priority) {
		char buf[2048];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(buf, sizeof(buf), fmt, ap);
		va_end(ap);

		if (log_target == LOG_TARGET_SYSLOG) {
			if (err)
				syslog(priority, "%s: %s", buf, strerror(err));
			else
				syslog(priority, "%s", buf);
		} else if (err) {
			fprintf(stderr, "%s: %s%s: %s\n", log_ident, priority_word(priority), buf,
				strerror(err));
		} else {
			fprintf(stderr, "%s: %s%s\n", log_ident, priority_word(priority), buf);
		}
	}

	errno = saved_errno;
	return -err;
}
