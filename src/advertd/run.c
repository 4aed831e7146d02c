/* SPDX-License-Identifier: MIT */
/* The run process: requirements, identity (impersonate, look up, on one DC), the
 * program's credentials cache and environment, the program, and the revert. A crash or
 * hang here can never leave the daemon impersonating: the daemon only reads events. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <krb5/krb5.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "advert/identity.h"
#include "advert/mask.h"
#include "advert/trust.h"
#include "run.h"

static int event_fd = -1;
static char ccache_dir[64], ccache_path[80];
static int ccache_dfd = -1; /* the run's cache directory, kept to remove by handle */

static void emit(struct run_event *ev)
{
	ssize_t w = write(event_fd, ev, sizeof(*ev));
	(void)w; /* the daemon records a run whose events it never got as failed */
}

static void __attribute__((noreturn, format(printf, 3, 4)))
fail(int type, const char *account, const char *fmt, ...)
{
	struct run_event ev = { .type = type };
	snprintf(ev.account, sizeof(ev.account), "%s", account ? account : "");
	va_list ap;
	va_start(ap, fmt);
	why_vset(&ev.why, 0, fmt, ap);
	va_end(ap);
	emit(&ev);
	_exit(0);
}

/* Requirements are checked right before the run, where the run will happen. */
static void check_requirements(const struct advert *a, const char *wd)
{
	char machine[128];
	if (!advert_platform_ok(a, machine, sizeof(machine))) {
		struct run_event ev = { .type = RUN_EV_REJECTED, .platform = 1 };
		why_set(&ev.why, 0, "platform %s is not supported", machine);
		emit(&ev);
		_exit(0);
	}
	if (a->program.min_free_mb > 0) {
		struct statvfs sv;
		if (statvfs(wd, &sv) == 0) {
			long long free_mb = (long long)sv.f_bavail * (long long)sv.f_frsize >> 20;
			if (free_mb < a->program.min_free_mb) {
				struct run_event ev = { .type = RUN_EV_REJECTED };
				why_set(&ev.why, 0, "%lld MB free in %s, %lld MB required", free_mb,
					wd, a->program.min_free_mb);
				emit(&ev);
				_exit(0);
			}
		}
	}
}

/* A FILE: ccache for the program: a mkstemp name in /tmp, 0600, owned by the account,
 * holding the credentials of the identity's MEMORY: ccache. */
/* The program's ticket cache lives in a directory of its own, created 0700 by root with
 * an unguessable name and handed to the account with the file: nobody else can create,
 * replace or pre-empt a name in it (krb5 recreates a FILE cache by unlink + O_EXCL, so a
 * guessable name in /tmp itself could be taken by any local user and fail the run). */
static int write_ccache(const struct identity *id, uid_t uid, gid_t gid)
{
	snprintf(ccache_dir, sizeof(ccache_dir), "/tmp/advertd-cc-XXXXXX");
	if (!mkdtemp(ccache_dir)) {
		ccache_dir[0] = '\0';
		return -errno;
	}
	snprintf(ccache_path, sizeof(ccache_path), "%s/ccache", ccache_dir);
	krb5_context k = creds_krb5(id->creds);
	krb5_ccache fcc = NULL;
	krb5_principal princ = NULL;
	char name[96];
	snprintf(name, sizeof(name), "FILE:%s", ccache_path);
	int r = krb5_cc_resolve(k, name, &fcc) || krb5_cc_get_principal(k, id->ccache, &princ) ||
				krb5_cc_initialize(k, fcc, princ) ||
				krb5_cc_copy_creds(k, id->ccache, fcc)
			? -EIO
			: 0;
	if (princ)
		krb5_free_principal(k, princ);
	if (fcc)
		krb5_cc_close(k, fcc);
	if (r < 0)
		return r;
	/* Hand over exactly what root created: the directory, then the file in it. */
	int dfd = open(ccache_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	int fd = openat(dfd, "ccache", O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	struct stat st, dst;
	if (fd < 0)
		r = -errno;
	else if (fstat(fd, &st) < 0 || fstat(dfd, &dst) < 0 || !S_ISREG(st.st_mode) ||
		 st.st_uid != 0 || dst.st_uid != 0)
		r = -EPERM;
	else if (fchmod(fd, 0600) < 0 || fchown(fd, uid, gid) < 0 || fchmod(dfd, 0700) < 0 ||
		 fchown(dfd, uid, gid) < 0)
		r = -errno;
	if (fd >= 0)
		close(fd);
	/* Kept: the account owns the directory now and could rename it and put a symlink
	 * in its place; what root removes later it removes through this handle. */
	ccache_dfd = dfd;
	return r;
}

static void remove_ccache(void)
{
	/* Nothing fancy: the tickets die with the file and expire anyway. What else the
	 * program left in its own directory stays (removing it as root would follow whatever
	 * the account put there). By the handle, never by path. */
	if (ccache_dfd >= 0) {
		unlinkat(ccache_dfd, "ccache", 0);
		close(ccache_dfd);
		ccache_dfd = -1;
	}
	if (ccache_dir[0]) {
		rmdir(ccache_dir); /* empty, or it stays */
		ccache_dir[0] = '\0';
	}
	ccache_path[0] = '\0';
}

static volatile sig_atomic_t program_running, stop_requested;

/* The daemon is stopping (or died: PDEATHSIG). A running program is stopped by the
 * runner (TERM, grace, KILL) and reported; otherwise the request is noted and honoured
 * at the next safe point — never in the middle of a Kerberos exchange whose outcome the
 * lockout guard has yet to record, nor between a program's end and its report. */
static void on_term(int sig)
{
	stop_requested = 1;
	if (program_running)
		runner_request_stop();
}

static bool have_go; /* the daemon recorded the run: it must hear how it ended */

static void stop_if_requested(void)
{
	if (!stop_requested)
		return;
	remove_ccache();
	if (have_go) {
		struct run_event ev = { .type = RUN_EV_PREPARE_FAILED };
		why_set(&ev.why, 0, "advertd is stopping: the program was not started");
		emit(&ev);
	}
	_exit(0);
}

static int push(char ***env, size_t *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int push(char ***env, size_t *n, const char *fmt, ...)
{
	char **v = reallocarray(*env, *n + 2, sizeof(**env));
	if (!v)
		return -ENOMEM;
	*env = v;
	va_list ap;
	va_start(ap, fmt);
	int r = vasprintf(&v[*n], fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	v[++*n] = NULL;
	return 0;
}

/* Replaces or adds "K=V". */
static int set_env(char ***env, size_t *n, const char *kv)
{
	size_t klen = strcspn(kv, "=");
	for (size_t i = 0; i < *n; i++) {
		if (strncmp((*env)[i], kv, klen) == 0 && (*env)[i][klen] == '=') {
			char *c = strdup(kv);
			if (!c)
				return -ENOMEM;
			free((*env)[i]);
			(*env)[i] = c;
			return 0;
		}
	}
	return push(env, n, "%s", kv);
}

/* The program's environment: fixed values and an allow-list, never the daemon's own. */
static char **build_env(const struct advert *a, const char *run_id, const struct identity *id,
			const char *user, bool admin)
{
	char **env = NULL;
	size_t n = 0;
	const char *lang = getenv("LANG"), *tz = getenv("TZ");
	int r = push(&env, &n, "PATH=%s", RUNNER_DEFAULT_PATH);
	/* Root's files belong in root's home, not the account's. */
	r = r
		    ?: push(&env, &n, "HOME=%s",
			    admin      ? "/root"
			    : id->home ? id->home
			    : id->uid  ? "/"
				       : "/root");
	r = r ?: push(&env, &n, "USER=%s", user);
	r = r ?: push(&env, &n, "LOGNAME=%s", user);
	r = r ?: push(&env, &n, "SHELL=%s", id->shell && *id->shell ? id->shell : "/bin/sh");
	r = r ?: push(&env, &n, "LANG=%s", lang && *lang ? lang : "C.UTF-8");
	if (tz && *tz)
		r = r ?: push(&env, &n, "TZ=%s", tz);
	if (ccache_path[0])
		r = r ?: push(&env, &n, "KRB5CCNAME=FILE:%s", ccache_path);
	for (char **e = a->program.environment; r == 0 && *e; e++)
		r = set_env(&env, &n, *e);
	r = r ?: push(&env, &n, "ADVERT_ID=%s", a->id);
	r = r ?: push(&env, &n, "ADVERT_PACKAGE_ID=%s", a->package.id);
	r = r ?: push(&env, &n, "ADVERT_PROGRAM=%s", a->program.name);
	r = r ?: push(&env, &n, "ADVERT_RUN_ID=%s", run_id);
	if (r < 0) {
		for (size_t i = 0; i < n; i++)
			free(env[i]);
		free(env);
		return NULL;
	}
	return env;
}

/* Run ids by their number: "r100000000" comes after "r99999999". */
static int cmp_names(const void *a, const void *b)
{
	unsigned long long x = strtoull(*(char *const *)a + 1, NULL, 10),
			   y = strtoull(*(char *const *)b + 1, NULL, 10);
	return x < y ? -1 : x > y;
}

/* Keeps the newest keep - 1 run logs of dir (by run number, as they were handed out), so
 * that with this run's there are keep. Through the directory's handle, never a path. */
static void prune_logs(const char *dir, int keep)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return;
	}
	char **names = NULL;
	size_t n = 0, cap = 0;
	for (struct dirent *e; (e = readdir(d));) {
		size_t len = strlen(e->d_name);
		if (e->d_name[0] != 'r' || len < 5 || strcmp(e->d_name + len - 4, ".log") != 0)
			continue;
		if (n == cap) {
			char **v = reallocarray(names, cap ? 2 * cap : 64, sizeof(*v));
			if (!v)
				break;
			names = v;
			cap = cap ? 2 * cap : 64;
		}
		if (!(names[n] = strdup(e->d_name)))
			break;
		n++;
	}
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i + (size_t)keep - 1 < n && i < n; i++)
		unlinkat(dirfd(d), names[i], 0);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
}

static char admin_why[320];

/* An admin-rights program is root, and must reach no credentials but the account's own
 * (its ticket cache): the host's keytab, advertd's state (the client token's tickets,
 * the guard), and every configured account's keytab or password file are covered in a
 * mount namespace of this run's own. Fails closed: no namespace, no run. */
static int hide_host_secrets(const struct config *cfg)
{
	const char *paths[5 + 2 * 64];
	size_t n = 0;
	/* The machine's keytab wherever it is (a realmd/sssd join keeps its own at the default
	 * path even when client_token.keytab is elsewhere). */
	paths[n++] = "/etc/krb5.keytab";
	if (cfg->client_token.keytab && strcmp(cfg->client_token.keytab, "/etc/krb5.keytab") != 0)
		paths[n++] = cfg->client_token.keytab;
	paths[n++] = "/var/lib/krb5/user"; /* MIT's default client keytabs */
	paths[n++] = cfg->state_dir;
	for (size_t i = 0; i < cfg->n_accounts && n + 2 <= sizeof(paths) / sizeof(paths[0]); i++) {
		if (cfg->accounts[i].keytab)
			paths[n++] = cfg->accounts[i].keytab;
		if (cfg->accounts[i].password_file)
			paths[n++] = cfg->accounts[i].password_file;
	}
	if (cfg->n_accounts > 64) {
		snprintf(admin_why, sizeof(admin_why),
			 "more than 64 accounts: their secrets cannot all be hidden");
		return -E2BIG;
	}
	char *why = NULL;
	int r = mask_paths(paths, n, &why);
	if (r < 0)
		snprintf(admin_why, sizeof(admin_why),
			 "cannot hide the host's credentials from the program (%s)",
			 why ? why : strerror(-r));
	free(why);
	return r;
}

static void started(void *data, pid_t pid)
{
	struct run_event ev = { .type = RUN_EV_STARTED, .pid = pid };
	const struct identity *id = data;
	snprintf(ev.account, sizeof(ev.account), "%s", id->account);
	snprintf(ev.dc, sizeof(ev.dc), "%s", id->dc ? id->dc : "");
	emit(&ev);
}

/* A directory of ours: created with mode, or one that is there already as a real
 * directory (not a symlink) of root's that nobody else can write. */
static int make_dir(const char *path, mode_t mode)
{
	if (mkdir(path, mode) == 0)
		return 0;
	if (errno != EEXIST)
		return -errno;
	struct stat st;
	if (lstat(path, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode) || st.st_uid != 0 || (st.st_mode & 022)) {
		errno = EPERM;
		return -EPERM;
	}
	return 0;
}

/* Waits for the daemon to record the run; returns the run id, or exits. */
static const char *await_go(int go_fd, const char *account, const char *dc)
{
	static struct run_go go;
	struct run_event ev = { .type = RUN_EV_READY };
	snprintf(ev.account, sizeof(ev.account), "%s", account);
	snprintf(ev.dc, sizeof(ev.dc), "%s", dc ? dc : "");
	emit(&ev);
	ssize_t n;
	do {
		stop_if_requested();
		n = read(go_fd, &go, sizeof(go));
	} while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(go) || go.go != 'G') {
		remove_ccache();
		_exit(0); /* the daemon reports why */
	}
	go.run_id[sizeof(go.run_id) - 1] = '\0';
	have_go = true;
	return go.run_id;
}

/* The daemon blocks these for its signalfd; this process takes them itself. */
static void take_signals(void)
{
	sigset_t all;
	sigfillset(&all);
	sigprocmask(SIG_UNBLOCK, &all, NULL);
	struct sigaction sa = { .sa_handler = on_term };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
}

/* Everything that can be checked before the identity: the paths, the requirements, the
 * program (resolved once: *ret), and, as root, that root alone wrote them. */
static char *prepare(const struct config *cfg, const struct advert *a, const char *account,
		     const char *wd, bool admin, bool as_root)
{
	/* "The drive letter moved": say which path is gone, before anything else. */
	struct stat st;
	if (stat(a->package.source, &st) < 0 || !S_ISDIR(st.st_mode))
		fail(RUN_EV_PREPARE_FAILED, account, "package source \"%s\" is missing",
		     a->package.source);
	if (stat(wd, &st) < 0 || !S_ISDIR(st.st_mode))
		fail(RUN_EV_PREPARE_FAILED, account, "working directory \"%s\" is missing", wd);
	check_requirements(a, wd);
	const struct config_account *acct = config_find_account(cfg, account);
	if (admin && (!acct || acct->kind == ACCOUNT_LOCAL))
		fail(RUN_EV_PREPARE_FAILED, account,
		     "rights = \"admin\" gives the program the installation account's network "
		     "identity, and \"%s\" is a local account: use a keytab or password account",
		     account);
	/* The program itself, before anything is recorded: a program that is not there has
	 * not started, and must not count as started once the admin puts it back. */
	char *resolved = NULL;
	int rr = runner_resolve(a->program.command[0], wd, runner_env_path(a->program.environment),
				&resolved);
	if (rr < 0)
		fail(RUN_EV_PREPARE_FAILED, account, "program \"%s\" %s",
		     resolved ? resolved : a->program.command[0],
		     rr == -EACCES ? "is not executable" : "is missing");
	/* As root, run nothing that root did not write: the program, and the directories
	 * a bare name or a relative path is found in (anyone who can write them can put
	 * another program there). */
	if (as_root) {
		const char *const paths[] = { a->package.source, wd, resolved };
		for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
			char *why = NULL;
			if (trust_check(paths[i], i < 2 ? TRUST_DIRECTORY : TRUST_FILE, &why) < 0)
				fail(RUN_EV_PREPARE_FAILED, account, "refusing to run as root: %s",
				     why ? why : paths[i]);
			free(why);
		}
	}
	return resolved;
}

/* Impersonate, look up, on one DC; a failover is reported, a failure ends the run. */
static struct identity *acquire(const struct config *cfg, const char *account)
{
	struct identity *id = NULL;
	struct identity_report rep;
	int r = identity_acquire(cfg, account, time(NULL), &id, &rep);
	if (rep.dcs_unreachable > 0) {
		struct run_event ev = { .type = RUN_EV_FAILOVER };
		snprintf(ev.account, sizeof(ev.account), "%s", account);
		snprintf(ev.dc, sizeof(ev.dc), "%s", id && id->dc ? id->dc : "");
		why_set(&ev.why, 0, "%s", rep.dcs_tried);
		emit(&ev);
	}
	if (r < 0)
		fail(rep.stage == IDENTITY_STAGE_GUARD ? RUN_EV_GUARD : RUN_EV_PREPARE_FAILED,
		     account, "%s: %s", identity_stage_name(rep.stage), rep.why.text);
	return id;
}

/* USER and LOGNAME: the local user, the principal's name part, or root. */
static const char *user_name(const struct config *cfg, const char *account)
{
	const struct config_account *acct = config_find_account(cfg, account);
	char *dir_name = NULL;
	if (acct && acct->kind == ACCOUNT_LOCAL)
		return acct->local_user;
	if (acct && (dir_name = strndup(acct->principal, strcspn(acct->principal, "@"))))
		return dir_name; /* lives as long as this process */
	return acct ? account : "root";
}

void run_child(const struct config *cfg, const struct advert *a, int fd, int go_fd)
{
	event_fd = fd;
	take_signals();
	const char *account = a->program.run_as;
	const char *wd = a->program.working_dir ? a->program.working_dir : a->package.source;
	bool admin = a->program.rights == ADV_RIGHTS_ADMIN;
	bool as_root = admin || strcmp(account, "system") == 0;
	char *resolved = prepare(cfg, a, account, wd, admin, as_root);
	struct identity *id = acquire(cfg, account);
	const char *user = user_name(cfg, account);
	int r;

	stop_if_requested(); /* the guard has recorded whatever the KDC said */
	const char *run_id = await_go(go_fd, account, id->dc);
	if (id->ccache &&
	    (r = write_ccache(id, as_root ? 0 : id->uid, as_root ? 0 : id->gid)) < 0) {
		remove_ccache();
		fail(RUN_EV_PREPARE_FAILED, account, "cannot write the program's ticket cache: %s",
		     strerror(-r));
	}

	char *log_path = NULL, *log_sub = NULL;
	if (make_dir(cfg->log_dir, 0750) < 0 ||
	    asprintf(&log_sub, "%s/%s", cfg->log_dir, a->id) < 0 || make_dir(log_sub, 0750) < 0 ||
	    asprintf(&log_path, "%s/%s.log", log_sub, run_id) < 0) {
		remove_ccache();
		fail(RUN_EV_PREPARE_FAILED, account, "cannot create the log directory under %s: %s",
		     cfg->log_dir, strerror(errno));
	}
	prune_logs(log_sub, cfg->max_logs_per_advert);
	if (admin && (r = hide_host_secrets(cfg)) < 0) {
		remove_ccache();
		fail(RUN_EV_PREPARE_FAILED, account, "rights = \"admin\": %s", admin_why);
	}
	char **env = build_env(a, run_id, id, user, admin);
	if (!env) {
		remove_ccache();
		fail(RUN_EV_PREPARE_FAILED, account, "out of memory");
	}

	struct runner_spec spec = {
		.argv = a->program.command,
		.program = resolved, /* exactly what was checked above */
		.working_dir = wd,
		.env = env,
		.as_root = as_root,
		.uid = id->uid,
		.gid = id->gid,
		.groups = id->groups,
		.n_groups = id->n_groups,
		.max_runtime = a->program.max_runtime,
		.kill_grace = cfg->kill_grace,
		.log_path = log_path,
		.max_log_bytes = cfg->max_log_bytes,
		.success_codes = a->program.success_codes,
		.n_success_codes = a->program.n_success_codes,
		.reboot_codes = a->program.reboot_codes,
		.n_reboot_codes = a->program.n_reboot_codes,
	};
	struct runner_result res;
	stop_if_requested();
	program_running = 1;
	if (stop_requested) /* arrived between the check and the flag */
		runner_request_stop();
	r = runner_run(&spec, started, id, &res);

	/* The revert: the program's cache and the account's credentials go, however the
	 * program ended. */
	remove_ccache();
	struct run_event ev = { .type = RUN_EV_FINISHED };
	snprintf(ev.account, sizeof(ev.account), "%s", account);
	snprintf(ev.dc, sizeof(ev.dc), "%s", id->dc ? id->dc : "");
	identity_free(id);
	if (r < 0)
		fail(RUN_EV_PREPARE_FAILED, account, "cannot run the program: %s", strerror(-r));
	if (res.outcome == RUNNER_NOT_STARTED)
		fail(RUN_EV_PREPARE_FAILED, account, "%s", res.why.text);
	ev.outcome = res.outcome;
	ev.exit_code = res.exit_code;
	ev.signal = res.signal;
	ev.pid = res.pid;
	ev.duration_ms = res.duration_ms;
	ev.output_dropped = res.output_dropped;
	ev.stragglers = res.stragglers;
	why_set(&ev.why, 0, "%s", res.why.text);
	snprintf(ev.tail, sizeof(ev.tail), "%s", res.tail);
	emit(&ev);
	_exit(0);
}
