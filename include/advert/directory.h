/* SPDX-License-Identifier: MIT */
/* The directory on the pinned DC: an LDAP connection made to the DC's address by us
 * (no name resolution, no referrals, no canonicalisation), a SASL/GSSAPI bind with the
 * installation account's own ccache, and the account and group lookups for the three
 * schemas. Knows nothing of exec or scheduling. */
#ifndef ADVERT_DIRECTORY_H
#define ADVERT_DIRECTORY_H

#include <krb5/krb5.h>
#include <stdbool.h>
#include <sys/types.h>

#include "advert/config.h"
#include "advert/dcloc.h"
#include "advert/lockout.h"
#include "advert/util.h"

struct directory_conn;

struct directory_account {
	char *dn;
	char *name;
	uid_t uid;
	gid_t gid; /* primary group */
	char *home;
	char *shell;      /* may be NULL */
	char **member_of; /* memberOf values as the server gave them (NULL-terminated,
			   * maybe empty): direct or transitive, a head start either way */
};

/* The most groups one account may have (the kernel's NGROUPS_MAX: setgroups would refuse
 * more) and the deepest nesting walked on rfc2307bis; beyond either the lookup fails. */
#define DIRECTORY_MAX_GROUPS 65536
#define DIRECTORY_MAX_DEPTH  100

struct directory_group {
	char *name;
	gid_t gid;
};

struct directory_groups {
	struct directory_group *items; /* only groups with a gidNumber */
	size_t n;
	unsigned skipped; /* groups found without a gidNumber */
};

/* Counters for one connection, for status lines and the benchmark. */
struct directory_stats {
	unsigned connections, binds, searches;
};

/* Connects to dc->address:ldap_port within timeout seconds and prepares an LDAP handle
 * for ldap://<dc->host>. Returns 0, -EHOSTUNREACH/-ETIMEDOUT/-ECONNREFUSED (the DC does
 * not answer: try the next one) or -errno; why says more. */
int directory_connect(const struct dc *dc, int timeout, struct directory_conn **ret,
		      struct why *why) __attribute__((nonnull(1, 3, 4)));

/* SASL/GSSAPI bind as the principal of ccache, using only that ccache (which must
 * already hold ldap/<host>: no KDC is contacted), with integrity protection at least
 * (SSF > 0), else refused. Returns 0 or -EACCES/-EIO. */
int directory_bind_gssapi(struct directory_conn *d, krb5_context k, krb5_ccache ccache,
			  struct why *why) __attribute__((nonnull(1, 2, 3, 4)));

/* Finds the account name (uid, or sAMAccountName / userPrincipalName for "ad") under
 * base. Returns 0, -ENOENT, -EPROTO (no uidNumber/gidNumber) or -EIO. */
int directory_find_account(struct directory_conn *d, enum config_schema schema, const char *base,
			   const char *name, const char *principal, struct directory_account *ret,
			   struct why *why) __attribute__((nonnull(1, 3, 4, 5, 6, 7)));

/* Every group of the account, nested membership included (cycle-safe). */
int directory_find_groups(struct directory_conn *d, enum config_schema schema, const char *base,
			  const struct directory_account *acct, struct directory_groups *ret,
			  struct why *why) __attribute__((nonnull(1, 3, 4, 5, 6)));

/* Every group the host's entry host_dn is in, nested ones too, as DNs (NULL-terminated,
 * *ret_n of them; caller frees each and the vector): AD's tokenGroups of the computer
 * account, else the groups whose member closure holds the entry. */
int directory_host_groups(struct directory_conn *d, enum config_schema schema, const char *base,
			  const char *host_dn, char ***ret, size_t *ret_n, struct why *why)
	__attribute__((nonnull, warn_unused_result));

/* --- published advertisements (dirpub.c) ------------------------------------------ */

/* The schema's names: one entry per advertisement file, its text in advertdText. */
#define DIRECTORY_AD_CLASS "advertdAdvertisement"
#define DIRECTORY_AD_TEXT  "advertdText"

/* This host's entry: the bound identity's DN (AD: the computer account whose
 * servicePrincipalName is host/<host>). Returns 0 with *ret_dn (caller frees), -ENOENT
 * or -EIO. */
int directory_host_entry(struct directory_conn *d, enum config_schema schema, const char *base,
			 const char *host, char **ret_dn, struct why *why)
	__attribute__((nonnull, warn_unused_result));

/* Appends to set every advertisement entry under the configured url (its base DN
 * base_dn): DN and change marker (uSNChanged on AD, entryCSN elsewhere), and its text
 * when with_text. At most PUBLISHED_MAX_ENTRIES in all; entries are sorted by DN.
 * Returns 0, -E2BIG, -EHOSTUNREACH (the DC stopped answering) or -EIO. */
struct published_set;
int directory_published(struct directory_conn *d, enum config_schema schema, const char *url,
			const char *base_dn, bool with_text, struct published_set *set,
			struct why *why) __attribute__((nonnull, warn_unused_result));

/* Writes (adds, or replaces the text of) the entry cn=name under base_dn, as whoever
 * the connection is bound as; *created says which. Returns 0, -EACCES (the directory's
 * ACLs say no), -ENOENT (no such base) or -EIO. */
int directory_publish(struct directory_conn *d, const char *base_dn, const char *name,
		      const char *text, bool *created, struct why *why)
	__attribute__((nonnull, warn_unused_result));

/* Deletes the entry cn=name under base_dn. Returns 0, -ENOENT, -EACCES or -EIO. */
int directory_unpublish(struct directory_conn *d, const char *base_dn, const char *name,
			struct why *why) __attribute__((nonnull, warn_unused_result));

/* What AD says of the account (sAMAccountName name or userPrincipalName principal, under
 * base) as far as the lockout guard must know, and the domain's lockoutThreshold (the
 * base object): two searches, as whoever the connection is bound as — the client token
 * account, never the installation account. Returns 0 (ret->found false when there is no
 * such entry), -EHOSTUNREACH when the DC did not answer, or another -errno. */
int directory_lockout_facts(struct directory_conn *d, const char *base, const char *name,
			    const char *principal, struct lockout_facts *ret, struct why *why)
	__attribute__((nonnull, warn_unused_result));

/* Initialises Cyrus SASL for this process with only its GSSAPI plugin (the only
 * mechanism advertd binds with; loading every installed plugin costs ~1 ms a process
 * and pulls in libraries never used). Idempotent; must run before libldap's first SASL
 * use, which directory_connect ensures. */
void directory_init(void);

const struct directory_stats *directory_stats(const struct directory_conn *d);

/* Gives every step from now on timeout seconds again (a connection kept between polls). */
void directory_set_timeout(struct directory_conn *d, int timeout);

/* Bytes this connection has sent (and had acknowledged) and received so far, from the
 * kernel's TCP counters: what a poll costs the network. */
void directory_bytes(const struct directory_conn *d, unsigned long long *sent,
		     unsigned long long *received) __attribute__((nonnull));

void directory_close(struct directory_conn *d);
void directory_account_clear(struct directory_account *a);
void directory_groups_clear(struct directory_groups *g);

#endif
