/* SPDX-License-Identifier: MIT */
/* advertd --test-identity. */
#ifndef ADVERTD_TESTID_H
#define ADVERTD_TESTID_H

#include "advert/config.h"

/* Exit statuses of advertd --test-identity, documented in advertd(8). */
enum {
	TESTID_OK = 0,
	TESTID_CONFIG = 1, /* the configuration is broken or names no such account */
	TESTID_USAGE = 2,
	TESTID_GUARD = 3,   /* the lockout guard held: nothing was sent */
	TESTID_REFUSED = 4, /* the KDC refused the account */
	TESTID_NO_DC = 5,   /* no DC answered */
	TESTID_LOOKUP = 6,  /* the directory lookup failed */
	TESTID_SECRET = 7,  /* the secret is missing or unreadable: nothing was sent */
	TESTID_OTHER = 8,
};

/* Runs the identity path for account in a child and prints it; returns the exit status. */
int testid_main(const struct config *cfg, const char *account);

#endif
