/* SPDX-License-Identifier: MIT */
/* Fuzz target: the DER walker behind kdcmsg_carries_secret and kdcmsg_error_code reads
 * nothing outside the buffer (libFuzzer's copy of the input is exactly its size), and its
 * two answers agree: a KRB-ERROR is never an AS-REQ, and no error code is below -1. */
#include "config.h"

#include <stddef.h>
#include <stdint.h>

#include "advert/kdcmsg.h"
#include "fuzzutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bool secret = kdcmsg_carries_secret(data, size);
	int32_t code = kdcmsg_error_code(data, size);
	if (code < -1)
		fuzz_fail("error code %d", (int)code);
	if (code >= 0 && secret)
		fuzz_fail("a KRB-ERROR (code %d) said to carry the secret", (int)code);
	return 0;
}
