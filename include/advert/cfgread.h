/* SPDX-License-Identifier: MIT */
/* Typed, validating reads from libconfig settings, shared by the daemon configuration and
 * advertisement files: each problem becomes a diagnostic with the file and line that
 * libconfig recorded, and unknown keys get a "did you mean" suggestion. */
#ifndef ADVERT_CFGREAD_H
#define ADVERT_CFGREAD_H

#include <libconfig.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "advert/diag.h"

/* Where diagnostics go and how settings are named in them. */
struct cfgread {
	struct diag_list *diags;
	const char *file;
	size_t errors; /* errors reported through this reader */
};

/* Result of a read: the key was there and valid, absent, or present but invalid (a
 * diagnostic has been added; the output is untouched). */
enum cfgread_result { CFG_OK = 0, CFG_ABSENT = 1, CFG_INVALID = -1 };

/* Reports a problem at setting s (its line, or its parent's when s has none). */
void cfgread_error(struct cfgread *c, const config_setting_t *s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void cfgread_warning(struct cfgread *c, const config_setting_t *s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Reports every key of group not in the NULL-terminated allowed list. prefix names the
 * group in messages ("program"), "" at top level. Returns the number of unknown keys. */
size_t cfgread_unknown_keys(struct cfgread *c, const config_setting_t *group, const char *prefix,
			    const char *const *allowed);

/* The closest allowed key within edit distance 2 of name, or NULL. */
const char *cfgread_suggest(const char *name, const char *const *allowed);

/* Each reader looks up key in group; prefix names the group in messages. Strings are
 * strdup'd into *ret (caller frees, after freeing any previous value it replaces). */
enum cfgread_result cfgread_string(struct cfgread *c, const config_setting_t *group,
				   const char *prefix, const char *key, bool required, char **ret);
enum cfgread_result cfgread_int(struct cfgread *c, const config_setting_t *group,
				const char *prefix, const char *key, bool required, long long min,
				long long max, long long *ret);
enum cfgread_result cfgread_bool(struct cfgread *c, const config_setting_t *group,
				 const char *prefix, const char *key, bool required, bool *ret);
/* An RFC 3339 string. */
enum cfgread_result cfgread_time(struct cfgread *c, const config_setting_t *group,
				 const char *prefix, const char *key, bool required, time_t *ret);
/* An array (or list) of strings into a NULL-terminated vector; each element non-empty. */
enum cfgread_result cfgread_strv(struct cfgread *c, const config_setting_t *group,
				 const char *prefix, const char *key, bool required,
				 bool allow_empty, char ***ret, size_t *ret_n);
/* An array of integers within [min, max]. */
enum cfgread_result cfgread_intv(struct cfgread *c, const config_setting_t *group,
				 const char *prefix, const char *key, bool required, long long min,
				 long long max, int **ret, size_t *ret_n);
/* A group, or a list (when want_list). */
enum cfgread_result cfgread_group(struct cfgread *c, const config_setting_t *group,
				  const char *prefix, const char *key, bool required,
				  bool want_list, config_setting_t **ret);

/* Frees a NULL-terminated string vector. */
void strv_free(char **v);

/* Reads path with libconfig: the bytes of the regular, root-owned file not writable by
 * group or others that the descriptor opened, never a path libconfig opens itself, so
 * @include is refused. Every problem becomes a diagnostic. Returns 0, -EPERM (refused),
 * -EINVAL (what the file says is wrong: the same bytes give the same answer) or -EIO
 * (it could not be read). */
int cfgread_load(struct cfgread *c, config_t *cfg, const char *path);

/* Like cfgread_load, for text already read and trusted (a directory entry's value):
 * name is where diagnostics say it came from. Returns 0 or -EPERM (@include) or
 * -EINVAL. */
int cfgread_load_text(struct cfgread *c, config_t *cfg, const char *name, const char *text);

#endif
