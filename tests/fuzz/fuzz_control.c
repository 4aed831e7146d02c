/* SPDX-License-Identifier: MIT */
/* Fuzz target: the control socket's request parser (handle_request in
 * src/advertd/control.c, included here for its static functions). Every request, whatever
 * its bytes, gets one reply object with "ok", whose JSON text is valid UTF-8 and parses
 * back; a refused permission or an unknown command never reaches the daemon's handler;
 * the handler sees only words without control characters. */
#include "../../src/advertd/control.c"

#include "advert/utf8.h"
#include "fuzzutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int calls;

/* What a daemon handler does with a request: echo its words back, as commands.c echoes
 * names into its replies. */
static struct json_object *echo(void *data, enum control_perm perm, char **argv, int argc)
{
	(void)data;
	(void)perm;
	calls++;
	struct json_object *o = json_object_new_object(), *arr = json_object_new_array();
	json_object_object_add(o, "ok", json_object_new_boolean(1));
	for (int i = 0; i < argc; i++) {
		for (const char *p = argv[i]; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				fuzz_fail("a control character reached the handler");
		json_object_array_add(arr, control_json_string(argv[i]));
	}
	json_object_object_add(o, "argv", arr);
	return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > CONTROL_REQUEST_MAX)
		return 0;
	struct client cl = { .fd = -1,
			     .perm = (size && (data[0] & 1)) ? CONTROL_PERM_ADMIN
							     : CONTROL_PERM_READ };
	char line[CONTROL_REQUEST_MAX + 1];
	memcpy(line, data, size);
	line[size] = '\0';
	calls = 0;
	struct json_object *reply = handle_request(&cl, line, echo, NULL);
	if (!reply)
		fuzz_fail("no reply");
	struct json_object *ok = NULL;
	if (!json_object_object_get_ex(reply, "ok", &ok))
		fuzz_fail("a reply without \"ok\"");
	if (!json_object_get_boolean(ok) && calls)
		fuzz_fail("the handler ran for a refused request");
	const char *text = json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN);
	size_t n = strlen(text);
	if (utf8_invalid_at(text, n) != n)
		fuzz_fail("the reply is not valid UTF-8: %s", text);
	struct json_object *back = json_tokener_parse(text);
	if (!back)
		fuzz_fail("the reply does not parse back: %s", text);
	json_object_put(back);
	json_object_put(reply);
	return 0;
}
