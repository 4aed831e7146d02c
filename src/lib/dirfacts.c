/* SPDX-License-Identifier: MIT */
/* The installation account's lockout facts as the directory holds them (AD): read as
 * the client token account before any secret is presented. */
#include "config.h"

#include <errno.h>
#include <ldap.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "advert/directory.h"
#include "advert/textrec.h"
#include "advert/util.h"
#include "directory-internal.h"

/* The first value of attr as an integer in [min, max]; dflt when absent. A value there
 * but not such a number sets *bad: a fact the workstation could not read. */
static intmax_t int_value(LDAP *ld, LDAPMessage *e, const char *attr, intmax_t min, intmax_t max,
			  intmax_t dflt, bool *bad)
{
	char *s = dir_first_value(ld, e, attr);
	intmax_t v = dflt;
	if (s && textrec_parse_int(s, min < 0, min, max, &v) < 0)
		*bad = true;
	free(s);
	return v;
}

#define UF_ACCOUNTDISABLE 0x2
#define UF_LOCKOUT        0x10

static bool has_value(LDAP *ld, LDAPMessage *e, const char *attr)
{
	char *s = dir_first_value(ld, e, attr);
	bool has = s != NULL;
	free(s);
	return has;
}

static int facts_entry(LDAP *ld, LDAPMessage *e, void *data)
{
	struct lockout_facts *f = data;
	if (f->found) /* two entries for one name: trust neither */
		return -EEXIST;
	f->found = true;
	bool bad = false;
	f->kvno = (int)int_value(ld, e, "msDS-KeyVersionNumber", 0, INT_MAX, -1, &bad);
	f->pwd_last_set = int_value(ld, e, "pwdLastSet", INTMAX_MIN, INTMAX_MAX, 0, &bad);
	f->has_bad_pwd_time = has_value(ld, e, "badPasswordTime");
	f->bad_pwd_time = int_value(ld, e, "badPasswordTime", INTMAX_MIN, INTMAX_MAX, 0, &bad);
	f->bad_pwd_count = (int)int_value(ld, e, "badPwdCount", 0, INT_MAX, 0, &bad);
	intmax_t uac = int_value(ld, e, "userAccountControl", INT32_MIN, UINT32_MAX, 0, &bad);
	intmax_t computed = int_value(ld, e, "msDS-User-Account-Control-Computed", INT32_MIN,
				      UINT32_MAX, 0, &bad);
	f->disabled = (uac & UF_ACCOUNTDISABLE) != 0;
	/* lockoutTime stays set after the lockout duration until the next logon; the
	 * computed flag is the DC's own answer. Without it, lockoutTime is all there is. */
	bool has_computed = has_value(ld, e, "msDS-User-Account-Control-Computed");
	intmax_t lockout_time = int_value(ld, e, "lockoutTime", INTMAX_MIN, INTMAX_MAX, 0, &bad);
	f->locked = has_computed ? (computed & UF_LOCKOUT) != 0 : lockout_time != 0;
	/* What the workstation could not read, hidden or garbled, must not read as
	 * "all clear". */
	f->complete =
		has_value(ld, e, "userAccountControl") && has_value(ld, e, "badPwdCount") && !bad;
	return 0;
}

static int threshold_entry(LDAP *ld, LDAPMessage *e, void *data)
{
	struct lockout_facts *f = data;
	bool bad = false;
	f->threshold = (int)int_value(ld, e, "lockoutThreshold", 0, INT_MAX, 0, &bad);
	f->complete = has_value(ld, e, "lockoutThreshold") && !bad;
	return 0;
}

int directory_lockout_facts(struct directory_conn *d, const char *base, const char *name,
			    const char *principal, struct lockout_facts *ret, struct why *why)
{
	why->text[0] = '\0';
	struct lockout_facts f = { .kvno = -1 };
	char *en = dir_escape_value(name, strlen(name)),
	     *ep = dir_escape_value(principal, strlen(principal));
	char *filter = NULL;
	int r = -ENOMEM;
	if (en && ep &&
	    asprintf(&filter, "(&(objectClass=user)(|(sAMAccountName=%s)(userPrincipalName=%s)))",
		     en, ep) >= 0) {
		char *attrs[] = { "msDS-KeyVersionNumber",
				  "pwdLastSet",
				  "badPwdCount",
				  "badPasswordTime",
				  "lockoutTime",
				  "userAccountControl",
				  "msDS-User-Account-Control-Computed",
				  NULL };
		r = dir_search(d, base, LDAP_SCOPE_SUBTREE, filter, attrs, facts_entry, &f, why);
		if (r == -EEXIST)
			r = why_set(why, -EIO, "more than one entry for %s under %s", name, base);
	} else {
		filter = NULL;
	}
	if (r == 0) {
		char *attrs[] = { "lockoutThreshold", NULL };
		bool entry_complete = f.complete;
		f.complete = false; /* until the domain object shows its threshold */
		r = dir_search(d, base, LDAP_SCOPE_BASE, "(objectClass=*)", attrs, threshold_entry,
			       &f, why);
		f.complete = f.complete && entry_complete;
	}
	free(filter);
	free(en);
	free(ep);
	if (r == 0)
		*ret = f;
	return r;
}
