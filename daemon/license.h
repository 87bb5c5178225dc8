/* SPDX-License-Identifier: GPL-2.0-only */
/* Licence terms: parse one YAML licence file, load a directory, and answer the questions the
 * evaluator asks (is this user a principal, is this executable prohibited, is it valid now). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define LICENSE_ERROR_MAX 512

/* A parse or validation error: where it is and what is wrong. */
struct license_error {
	char file[256];
	unsigned line; /* 1-based; 0 when not tied to a position */
	unsigned column; /* 1-based */
	char field[128]; /* dotted field path, e.g. "license.valid.until"; "" if none */
	char message[LICENSE_ERROR_MAX];
};

struct license {
	char *id;
	char *file; /* path it was loaded from */
	char *regime; /* may be NULL */
	char *authority; /* may be NULL */
	int64_t valid_from; /* unix seconds, 00:00:00 UTC of the "from" day */
	int64_t valid_until; /* unix seconds, 23:59:59 UTC of the "until" day (inclusive) */
	char **conditions;
	size_t n_conditions;
	/* principals: restricted is false when the licence has no "principals" block at all */
	bool principals_restricted;
	char **users;
	size_t n_users;
	char **groups;
	size_t n_groups;
	char **permitted_end_uses;
	size_t n_permitted_end_uses;
	char **prohibited_executables;
	size_t n_prohibited_executables; /* fnmatch globs */
};

/* Parse one licence file. On success returns 0 and stores a new licence in *ret.
 * On failure returns a negative errno (-EINVAL for content errors, -errno for I/O) and fills
 * *err (file, line, column, field, message). */
int license_parse_file(const char *path, struct license **ret, struct license_error *err);

void license_free(struct license *l);

/* One file of a licence directory: either a licence or the error that kept it out. */
struct license_entry {
	char *file;
	struct license *license; /* NULL when the file failed */
	struct license_error error; /* valid when license == NULL */
};

struct license_set {
	struct license_entry *entries;
	size_t n_entries;
};

/* Load every "*.yaml" and "*.yml" file of dir (sorted by name). A bad file becomes an entry
 * with its error; a duplicate id is an error for the second file. Returns 0, or a negative
 * errno when the directory itself cannot be read (then *ret is untouched). */
int license_set_load(const char *dir, struct license_set **ret);
void license_set_free(struct license_set *s);

/* Is "now" within [valid_from, valid_until]? */
bool license_valid_at(const struct license *l, int64_t now_sec);

/* Is the user (by name, with the names of all its groups) a permitted principal?
 * True when principals are not restricted. */
bool license_permits_user(const struct license *l, const char *user, const char *const *groups,
			  size_t n_groups);

/* Returns the glob that matches exe_path, or NULL when none does. */
const char *license_prohibits_executable(const struct license *l, const char *exe_path);

/* "file:line:column: field: message" (parts omitted when unknown) into buf. */
void license_error_format(const struct license_error *e, char *buf, size_t size);
