/* SPDX-License-Identifier: MIT */
/* Status messages as journal entries: the very same line as MESSAGE (so that forwarding
 * to rsyslog and every collector keep working), one fixed MESSAGE_ID per status ID (for
 * journalctl -x and the catalog), and every field as ADVERT_<KEY> for journalctl
 * ADVERT_ID=… . Only with libsystemd; without it there is no journal to send to. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <syslog.h>

#ifdef HAVE_SYSTEMD
#include <systemd/sd-journal.h>
#endif

#include "advert/status.h"

void status_message_id(enum status_id id, char out[33])
{
	/* A fixed 26-digit prefix, then the status ID in 6 decimal digits (hex digits too). */
	snprintf(out, 33, "%s%06u", STATUS_MESSAGE_ID_PREFIX, (unsigned)id % 1000000u);
}

bool status_journal_present(void)
{
	struct stat st;
	return stat(STATUS_JOURNAL_SOCKET, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* "ADVERT_" + the key in capitals; advert becomes ADVERT_ID. */
static int field_name(const char *key, char *buf, size_t size)
{
	if (strcmp(key, "advert") == 0)
		key = "id";
	int n = snprintf(buf, size, "ADVERT_%s", key);
	if (n < 0 || (size_t)n >= size)
		return -EINVAL;
	for (char *p = buf + 7; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	return 0;
}

int status_journal_send(const char *ident, int facility, enum status_id id, const char *line,
			const struct status_field *fields, size_t n)
{
#ifdef HAVE_SYSTEMD
	enum { FIXED = 7 };
	struct iovec *iov = calloc(n + FIXED, sizeof(*iov));
	char **owned = calloc(n + FIXED, sizeof(*owned));
	size_t k = 0;
	int r = iov && owned ? 0 : -ENOMEM;
	char mid[33];
	status_message_id(id, mid);
	const char *name = status_event_name(id);
	if (r == 0 && (asprintf(&owned[k++], "MESSAGE=%s", line) < 0 ||
		       asprintf(&owned[k++], "MESSAGE_ID=%s", mid) < 0 ||
		       asprintf(&owned[k++], "PRIORITY=%d", status_severity(id)) < 0 ||
		       asprintf(&owned[k++], "SYSLOG_FACILITY=%d", LOG_FAC(facility)) < 0 ||
		       asprintf(&owned[k++], "SYSLOG_IDENTIFIER=%s", ident) < 0 ||
		       asprintf(&owned[k++], "ADVERT_STATUS=%u", (unsigned)id) < 0 ||
		       asprintf(&owned[k++], "ADVERT_EVENT=%s", name ? name : "unknown") < 0))
		r = -ENOMEM;
	for (size_t i = 0; r == 0 && i < n; i++) {
		char key[64];
		if (!fields[i].value || field_name(fields[i].key, key, sizeof(key)) < 0)
			continue;
		if (asprintf(&owned[k++], "%s=%s", key, fields[i].value) < 0)
			r = -ENOMEM;
	}
	for (size_t i = 0; r == 0 && i < k; i++)
		iov[i] = (struct iovec){ owned[i], strlen(owned[i]) };
	if (r == 0)
		r = sd_journal_sendv(iov, (int)k);
	for (size_t i = 0; owned && i < k; i++)
		free(owned[i]);
	free(owned);
	free(iov);
	return r;
#else
	(void)ident, (void)facility, (void)id, (void)line, (void)fields, (void)n;
	return -ENOSYS;
#endif
}
