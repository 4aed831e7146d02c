/* SPDX-License-Identifier: MIT */
/* The daemon's state, shared by the event loop (daemon.c) and the commands the control
 * socket serves (commands.c). */
#ifndef ADVERTD_DAEMON_INTERNAL_H
#define ADVERTD_DAEMON_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>

#include "advert/catalog.h"
#include "advert/config.h"
#include "advert/history.h"
#include "advert/planner.h"
#include "advert/published.h"
#include "advert/schedule.h"
#include "advert/status.h"
#include "advert/util.h"
#include "control.h"
#include "daemon.h"

/* What the daemon remembers about one advertisement between scans. */
struct advert_state {
	char *id;
	time_t first_seen;         /* an as-soon-as-possible run's splay counts from here */
	struct plan_cache plan;    /* the planner's: decision, due time, retry, last verdict */
	bool seen;                 /* still in the catalog after this reload */
	char *signature;           /* file:line + a cheap digest, for "received" */
	const struct advert *last; /* in the current catalog: unchanged while it is */
	/* Why its latest attempt could not start (10003, 11008, 10018, 11005), until a
	 * program of it starts: what list, status, explain and run show. */
	struct {
		time_t at;
		int status;   /* enum status_id; 0: none */
		char *reason; /* malloc'd */
		time_t said;  /* when its status message last went out */
	} problem;
};

struct active_run {
	pid_t pid;
	pid_t program_pid; /* from RUN_EV_STARTED */
	int ev_fd;
	int go_fd;
	char advert_id[ADV_ID_MAX + 1];
	char package_id[ADV_ID_MAX + 1];
	char program[128];
	char run_id[HISTORY_RUN_ID_MAX];
	char account[64];
	bool admin;          /* program.rights = "admin": root for the run, the account's tickets */
	bool restart_after;  /* program.after_run = "restart" */
	bool stop_requested; /* advertctl stop: recorded as stopped by an admin */
	char package_name[128];
	char dc[128];
	bool begun;    /* its start is in the history */
	bool finished; /* its end is in the history */
	bool exited;
	time_t t0;
};

/* An inotify watch: a configured directory, or the directory holding a configured file. */
struct dir_watch {
	int wd;
	char *dir;   /* the configured path, or the file's directory */
	bool is_dir; /* dir is a configured directory: its names are catalog entries */
};

struct daemon {
	const struct daemon_options *opt;
	struct config *cfg;
	struct catalog *cat;
	struct history *hist;
	struct status_sink *status;
	char host[256];

	struct advert_state *states;
	size_t n_states;
	size_t *state_slots; /* hash index into states */
	size_t state_cap;
	uint64_t *reported_problems; /* digests of the diagnostics reported, each once */
	size_t n_reported;
	bool reported_dirty;       /* state_dir/reported is behind (reported.c) */
	struct diag_list problems; /* the latest load's, for advertctl problems */

	struct active_run *runs;
	size_t n_runs;

	struct control *control;
	int lock_fd; /* single instance */
	int sfd, ifd;
	struct dir_watch *watches;
	size_t n_watches;
	char **changed; /* what inotify named since the last load ("dir/name") */
	size_t n_changed;
	bool rescan; /* the next load reads everything: SIGHUP, the timer, an unclear event */
	bool reload, reload_config, stopping;
	char **forced; /* advertisements an admin asked to run now */
	size_t n_forced;
	time_t next_rescan;
	unsigned ends_since_compaction;
	/* A restart asked for by after_run = "restart" (restart.c). */
	struct {
		bool wanted;       /* asked for as soon as nothing runs */
		bool requested;    /* asked for in this boot: not again for that run */
		time_t hold_until; /* no new program starts before (the restart is coming) */
		char run_id[HISTORY_RUN_ID_MAX];
		char advert_id[ADV_ID_MAX + 1];
	} restart;
	/* Who is logged on, read at most once a second (program.when). */
	struct {
		time_t at;
		int error;
		unsigned users;
		const char *source;
	} sessions;
	/* The directory's published advertisements (poller.c). */
	struct {
		pid_t pid; /* the poller process; 0: none */
		int fd;    /* its pipe; -1: none */
		char buf[1024];
		size_t len;
		time_t restart_at;        /* an ended poller is started again from then */
		time_t ok_at;             /* the latest poll a DC answered */
		char dc[256];             /* that DC */
		time_t offline_since;     /* the first failed poll since then; 0: online */
		bool offline_said;        /* 11041 went out for this outage */
		bool damaged_said;        /* 11042 went out for this damage */
		char why[512];            /* the latest failure */
		struct published_set set; /* what the catalog reads (the file's, verified) */
		bool have_set;
	} pub;
	/* --once bookkeeping */
	unsigned ran, failed;
	size_t rejected; /* errors in the advertisements at the latest load */
};

/* A status line now. */
static inline void emit(struct daemon *d, enum status_id id, const struct status_field *f, size_t n)
{
	status_emit(d->status, time(NULL), id, f, n);
}

/* --- adverts.c: the catalog side ---------------------------------------------------- */

/* Reads the advertisements again (everything when d->rescan, else only the names inotify
 * reported), reports what is new, changed, withdrawn or broken, once each. */
void daemon_load_catalog(struct daemon *d);
/* Watches the advertisement directories (inotify), so that a change wakes the loop. */
void daemon_watch_directories(struct daemon *d);
/* Reads the pending inotify events: the names to read again, or d->rescan. */
void daemon_read_inotify(struct daemon *d);
/* Forgets the watches and the pending names. */
void daemon_unwatch(struct daemon *d);
/* Reports each problem of diags once (status 11010 for advertisement files). */
void daemon_report_problems(struct daemon *d, const struct diag_list *diags);
/* Reads state_dir/received: what was announced before this start. */
void daemon_load_received(struct daemon *d);

/* The state kept for id (created on first use), or NULL on ENOMEM. */
struct advert_state *daemon_state_of(struct daemon *d, const char *id);
/* Frees what a state holds (not the state itself). */
void daemon_state_clear(struct advert_state *st);

/* --- supervise.c: the runs ------------------------------------------------------------ */

/* The active run of advert_id, or NULL. */
struct active_run *daemon_run_of(struct daemon *d, const char *advert_id);
/* Starts a's run process (it reports over its pipe; see run.h). */
void daemon_start_run(struct daemon *d, const struct advert *a);
/* Reads what the run process r reported; its end, when it is done. */
void daemon_read_events(struct daemon *d, struct active_run *r);
/* Reaps every child that exited (run processes, and orphans re-parented to us). */
void daemon_reap_children(struct daemon *d);
/* Drops the runs that are over from the table. */
void daemon_collect_runs(struct daemon *d);

/* --- poller.c: the directory's published advertisements -------------------------- */

/* Starts the poller process when advertd.conf names an ldap:/// path and none runs. */
void daemon_poller_start(struct daemon *d);
/* Stops it (config reload, shutdown). */
void daemon_poller_stop(struct daemon *d);
/* Reads the poller's lines: a changed set is read again and the catalog reloaded. */
void daemon_poller_read(struct daemon *d);
/* Whether pid was the poller's (reaped); it is started again a poll_interval later. */
bool daemon_poller_reaped(struct daemon *d, pid_t pid);
/* --once: waits for the one poll to end. */
void daemon_poller_wait(struct daemon *d);
/* Reads state_dir/published into d->pub.set (a damaged one is said once, and ignored). */
void daemon_published_load(struct daemon *d);
/* What the catalog gets: the verified set, or this host's name alone. */
const struct published_set *daemon_published(struct daemon *d);

/* --- daemon.c: the small files of state_dir (received, reported, restart, …) ----------- */

/* state_dir/name to read, or NULL when it is not there. */
FILE *daemon_state_open(const struct daemon *d, const char *name);
/* state_dir/name replaced atomically (0600) by len bytes of buf, or removed when buf is
 * NULL. Returns 0 or -errno. */
int daemon_state_write(const struct daemon *d, const char *name, const char *buf, size_t len);

/* --- reported.c: what was said, across restarts --------------------------------------- */

/* Reads state_dir/reported: the verdicts and problems already said, so that a restart
 * or --once does not say them all again. */
void daemon_reported_load(struct daemon *d);
/* Writes it when something new was said since (d->reported_dirty). */
void daemon_reported_save(struct daemon *d);

/* --- restart.c: reboot codes and after_run = "restart" -------------------------------- */

/* Reads state_dir/restart: a restart wanted or asked for in this boot is still so; one
 * from an earlier boot has happened. */
void daemon_restart_load(struct daemon *d);
/* Once per run whose restart has happened since (a new boot): 10008, completed. */
void daemon_restart_report(struct daemon *d);
/* A run ended: a reboot code or after_run = "restart" writes the restart-required file;
 * after_run = "restart" wants the restart. */
void daemon_restart_after(struct daemon *d, const struct active_run *r, enum run_result res);
/* Asks for a wanted restart once no program of ours runs (11030), once per run. */
void daemon_restart_poll(struct daemon *d);
/* Whether new programs wait: a restart is wanted or was just asked for. */
bool daemon_restart_holds(const struct daemon *d, time_t now);
/* Whether advert_id's latest run ended "restart pending" in this very boot. */
bool daemon_restart_pending(const struct daemon *d, const char *advert_id);

/* --- daemon.c: scheduling and the loop ----------------------------------------------- */

/* Something changed for advert_id (a run ended, it was retried): it and whatever depends
 * on it are decided again at the next pass. */
void daemon_undecide(struct daemon *d, const char *advert_id);

/* The scheduler's decision for a now, with everything the daemon knows. */
struct schedule_decision daemon_decide(struct daemon *d, const struct advert *a, time_t now);

/* Reads advertd.conf again now: taken (0), or refused with the running configuration
 * kept (-errno, why names the first error); 11023 says which either way. */
int daemon_reload_config(struct daemon *d, struct why *why);

/* Asks for a run of id as soon as a slot is free, whatever its schedule says. */
int daemon_force_run(struct daemon *d, const char *id);

/* Every advertisement is decided again at the next pass (the history changed under all
 * of them: damage cleared). */
void daemon_redecide_all(struct daemon *d);

/* The control socket's command handler (commands.c). */
struct json_object *daemon_command(void *data, enum control_perm perm, char **argv, int argc);

#endif
