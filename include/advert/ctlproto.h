/* SPDX-License-Identifier: MIT */
/* The control socket's protocol, shared by advertd and advertctl: one request line
 * "COMMAND ARG…\n" of at most CONTROL_REQUEST_MAX bytes, one JSON reply
 * {"ok": true, …} or {"ok": false, "code": N, "error": "…"}. */
#ifndef ADVERT_CTLPROTO_H
#define ADVERT_CTLPROTO_H

/* Reply codes; advertctl exits with the same numbers (advertctl(8)). */
enum control_code {
	CONTROL_OK = 0,
	CONTROL_FAILED = 1,
	CONTROL_USAGE = 2,
	CONTROL_UNREACHABLE = 3,
	CONTROL_DENIED = 4,
	CONTROL_NOT_FOUND = 5,
	CONTROL_REFUSED = 6,
	/* Too many connections (from this uid, or in all): the daemon answers a connection
	 * it will not serve with this code and closes it. advertctl exits as for an
	 * unreachable daemon: try again later. */
	CONTROL_BUSY = CONTROL_UNREACHABLE,
};

#define CONTROL_REQUEST_MAX 4096

#endif
