/* SPDX-License-Identifier: MIT */
/* What a Kerberos message says, as far as the lockout guard must know before it leaves
 * the process and after its answer comes: whether an AS-REQ carries proof of the
 * client's secret, and which error a KRB-ERROR reply holds. Pure; a bounds-checked DER
 * walker that reads nothing past the buffer it is given. */
#ifndef ADVERT_KDCMSG_H
#define ADVERT_KDCMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* True when msg is an AS-REQ whose pre-authentication may prove the secret (and so can
 * count as a failed logon): any PA-DATA type outside the few known to carry none
 * (PA-PAC-REQUEST, PA-FX-COOKIE, PA-REQ-ENC-PA-REP, PA-AS-FRESHNESS, PA-PAC-OPTIONS).
 * A malformed AS-REQ counts as carrying it: erring that way records, never forgets.
 * Anything that is not an AS-REQ (a TGS-REQ proves a ticket, not the secret) is false. */
bool kdcmsg_carries_secret(const void *msg, size_t len);

/* The error-code of a KRB-ERROR message (as a protocol number, e.g. 24 for
 * KDC_ERR_PREAUTH_FAILED), or -1 when msg is not a well-formed KRB-ERROR. */
int32_t kdcmsg_error_code(const void *msg, size_t len);

#endif
