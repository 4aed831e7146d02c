/* SPDX-License-Identifier: MIT */
/* The lockout guard: never present a secret the KDC rejected, leave a locked or
 * disabled account alone for a while, and remember both across restarts. The decision is
 * a pure function of the stored state, the current secret's fingerprint and the clock;
 * the state lives in one small file per account, state_dir/lockout/<account>/state. */
#ifndef ADVERT_LOCKOUT_H
#define ADVERT_LOCKOUT_H

#include <stdbool.h>
#include <time.h>

#define LOCKOUT_FP_LEN       64 /* hex SHA-256 */
#define LOCKOUT_REJECTED_MAX 8  /* rejected secrets remembered besides the last one */

/* What the last attempt with a secret came to, as far as the guard cares. */
enum lockout_outcome {
	LOCKOUT_NONE = 0, /* no attempt recorded */
	LOCKOUT_OK,       /* the KDC accepted the secret */
	LOCKOUT_REJECTED, /* wrong password or stale keytab: never again with it */
	LOCKOUT_REVOKED,  /* locked out or disabled: leave alone for the backoff */
	LOCKOUT_UNUSABLE, /* expired password/account, unknown principal: backoff,
				 * or until the secret changes */
	/* Written before a request carrying the secret leaves the process, replaced by the
	 * answer. Still there later means the secret was sent and no answer was recorded
	 * (a lost reply, a killed run): the KDC may have counted a bad attempt. Held for the
	 * backoff unless the secret changes or the directory shows nothing was counted. */
	LOCKOUT_INFLIGHT,
	/* The state file was found damaged: whatever it said is lost, so the secret held
	 * then is never sent, until it changes. */
	LOCKOUT_DAMAGED,
};

struct lockout_state {
	enum lockout_outcome outcome;
	char fingerprint[LOCKOUT_FP_LEN + 1]; /* of the secret that got the outcome */
	time_t since;                         /* when it was recorded */
	char dc[256];                         /* which DC said so */
	char message[256];                    /* what the KDC said, for admins */
	unsigned attempts;                    /* requests ever sent with this fingerprint */
	/* Every secret the KDC rejected (newest last, oldest forgotten first): one that
	 * comes back — a restored backup, a reverted change — is still never sent. */
	char rejected[LOCKOUT_REJECTED_MAX][LOCKOUT_FP_LEN + 1];
	unsigned n_rejected;
	/* AD's pwdLastSet (FILETIME) when the directory was last checked before this
	 * fingerprint was accepted; 0 when unknown. A later pwdLastSet means the password
	 * changed since: the secret is stale. */
	long long accepted_under;
};

enum lockout_verdict {
	LOCKOUT_ALLOW,
	LOCKOUT_HOLD_REJECTED, /* until the secret changes */
	LOCKOUT_HOLD_BACKOFF,  /* until *ret_until */
};

/* Decides whether a request may be sent now with the secret whose fingerprint is fp.
 * *ret_until is set for LOCKOUT_HOLD_BACKOFF. Pure. */
enum lockout_verdict lockout_decide(const struct lockout_state *st, const char *fp, time_t now,
				    int backoff, time_t *ret_until) __attribute__((nonnull(1, 2)));

/* What the directory says of an account, read on the pinned DC as the client token
 * account before the installation account's secret is presented (AD). */
struct lockout_facts {
	bool found; /* the account's entry was there */
	/* Every fact the checks need was readable: userAccountControl, badPwdCount and the
	 * domain's lockoutThreshold (an ACL can hide them from the workstation; absent must
	 * not read as "all clear"). */
	bool complete;
	bool has_bad_pwd_time;  /* badPasswordTime was there (absent: assume counted) */
	int kvno;               /* msDS-KeyVersionNumber, -1 when absent */
	long long pwd_last_set; /* FILETIME (100 ns since 1601), 0 when absent */
	long long bad_pwd_time; /* badPasswordTime, FILETIME */
	int bad_pwd_count;      /* on this DC (not replicated) */
	bool disabled, locked;  /* userAccountControl, -Computed / lockoutTime */
	int threshold;          /* the domain's lockoutThreshold; 0 = never locks */
};

/* Why the directory's facts say not to knock, or LOCKOUT_CHECK_OK. */
enum lockout_check {
	LOCKOUT_CHECK_OK,
	LOCKOUT_CHECK_NOT_FOUND,
	LOCKOUT_CHECK_DISABLED,
	LOCKOUT_CHECK_LOCKED,
	LOCKOUT_CHECK_STALE_KEYTAB,   /* its kvno is not the directory's */
	LOCKOUT_CHECK_STALE_PASSWORD, /* accepted before the last pwdLastSet */
	LOCKOUT_CHECK_NEAR_THRESHOLD, /* badPwdCount >= lockoutThreshold - reserve */
	LOCKOUT_CHECK_INCOMPLETE,     /* the directory did not show what the checks need */
};

/* Decides from the facts whether the secret fp (a keytab whose highest kvno is
 * keytab_kvno, or a password when keytab_kvno < 0) may be presented. reserve is the
 * number of failed attempts below the threshold the fleet leaves unspent; at least one
 * attempt is allowed on a DC that counts none. Pure. */
enum lockout_check lockout_check_facts(const struct lockout_state *st, const char *fp,
				       int keytab_kvno, const struct lockout_facts *f, int reserve)
	__attribute__((nonnull));

/* Whether the facts show that the attempt st records as in flight (on dc) was not
 * counted as a failed logon there: the DC's last bad password is older than it by more
 * than the clock skew Kerberos tolerates (the DC's clock may be behind ours). Pure. */
#define LOCKOUT_CLOCK_SKEW 300
bool lockout_inflight_uncounted(const struct lockout_state *st, const char *dc,
				const struct lockout_facts *f) __attribute__((nonnull));

/* FILETIME (100 ns ticks since 1601-01-01) from a Unix time. */
long long lockout_filetime(time_t t);

/* Records, before it is sent, that a request carrying the secret fp goes to dc now
 * (LOCKOUT_INFLIGHT; one more attempt). Pure; the caller writes the state durably before
 * sending anything. */
void lockout_begin(struct lockout_state *st, const char *fp, time_t now, const char *dc)
	__attribute__((nonnull(1, 2)));

/* Records the outcome of a request made with fp. After lockout_begin with the same fp it
 * is the answer to that attempt, not a new one. Pure. */
void lockout_record(struct lockout_state *st, const char *fp, enum lockout_outcome outcome,
		    time_t now, const char *dc, const char *message) __attribute__((nonnull(1, 2)));

/* Opens (creating, 0700) the directory state_dir/lockout/<account>/ and takes an exclusive
 * lock on it, so that two runs for the same account never both send a secret the other
 * has just seen rejected. The lock is on the directory, not on the state file, because
 * lockout_write replaces that file by rename: a lock on the old inode would not exclude a
 * run that opened the new one. Returns an O_CLOEXEC fd (close it to unlock) or -errno;
 * -EINVAL for an account name with '/' or a leading '.'. */
int lockout_lock(const char *state_dir, const char *account) __attribute__((nonnull));

/* The path of the account's state file, for messages (malloc'd; NULL on ENOMEM). */
char *lockout_state_path(const char *state_dir, const char *account) __attribute__((nonnull));

/* Reads the state through fd: the directory fd from lockout_lock (its state file; absent
 * is LOCKOUT_NONE), or an open state file (read from offset 0). An empty file is
 * LOCKOUT_NONE. A corrupt file is -EBADMSG (the caller must then refuse to send anything:
 * better a held account than a locked one). */
int lockout_read(int fd, struct lockout_state *ret) __attribute__((nonnull));

/* Moves a damaged state file aside (to state.damaged, for the admin) and writes a fresh
 * state saying LOCKOUT_DAMAGED for fp, so that the secret held now stays unsent until it
 * changes. Call it with the account's lock held. Returns 0 or -errno; on failure nothing
 * may be sent either. */
int lockout_quarantine(const char *state_dir, const char *account, const char *fp, time_t now,
		       const char *why) __attribute__((nonnull));

/* Replaces the state durably (write to temp, fsync, rename, fsync the directory). Call it
 * with the account's lock held. */
int lockout_write(const char *state_dir, const char *account, const struct lockout_state *st)
	__attribute__((nonnull));

const char *lockout_outcome_name(enum lockout_outcome o);

#endif
