/* SPDX-License-Identifier: MIT */
/* Operational logging for advertd's own diagnostics: stderr in the foreground, syslog(3)
 * when daemonised. Status messages for admins are a separate module (status). */
#ifndef ADVERT_LOG_H
#define ADVERT_LOG_H

#include <stdbool.h>
#include <syslog.h>

enum log_target { LOG_TARGET_STDERR, LOG_TARGET_SYSLOG };

/* Chooses where messages go; ident is kept by reference for syslog. */
void log_setup(const char *ident, enum log_target target, int facility);

/* Messages less severe than max_priority (a LOG_* value) are dropped. */
void log_set_max_priority(int max_priority);

/* Logs at priority; when err != 0 appends ": strerror(|err|)". Returns -|err|, or 0 when
 * err is 0, so that callers can write `return log_error_errno(r, "...")`. */
int log_internal(int priority, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define log_error(...)              ((void)log_internal(LOG_ERR, 0, __VA_ARGS__))
#define log_warning(...)            ((void)log_internal(LOG_WARNING, 0, __VA_ARGS__))
#define log_notice(...)             ((void)log_internal(LOG_NOTICE, 0, __VA_ARGS__))
#define log_info(...)               ((void)log_internal(LOG_INFO, 0, __VA_ARGS__))
#define log_debug(...)              ((void)log_internal(LOG_DEBUG, 0, __VA_ARGS__))
#define log_error_errno(err, ...)   log_internal(LOG_ERR, (err), __VA_ARGS__)
#define log_warning_errno(err, ...) log_internal(LOG_WARNING, (err), __VA_ARGS__)
#define log_debug_errno(err, ...)   log_internal(LOG_DEBUG, (err), __VA_ARGS__)

#endif
