/* SPDX-License-Identifier: MIT */
/* What runner.c shares with proctree.c: the run's process tree. */
#ifndef ADVERT_RUNNER_INTERNAL_H
#define ADVERT_RUNNER_INTERNAL_H

#include <stdbool.h>
#include <sys/types.h>

/* Signals every process of the run (and the program's group while the program is not
 * reaped); returns how many were found. sig 0 only counts them. */
unsigned runner_signal_all(pid_t main_pid, bool main_done, int sig);
/* Reaps every child that has exited; notes main_pid's end and status when it is one. */
void runner_reap(pid_t main_pid, bool *main_done, int *main_status);
/* Whether this process has any child left: as a subreaper it inherits every orphan of
 * the run, so "no child" means "nothing of the run is left". */
bool runner_has_children(void);
/* Sleeps ms, then reaps whatever of the run has exited. */
void runner_pause_and_reap(long ms);

#endif
