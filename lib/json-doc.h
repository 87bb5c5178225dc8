/* SPDX-License-Identifier: GPL-2.0-only */
/* JSON documents through json-c: strings that are always valid UTF-8, numbers with the text we
 * choose, the CLI's output modes, and a strict parser for documents handed to us. */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum json_mode {
	JSON_OFF,
	JSON_SHORT, /* one document on one line */
	JSON_PRETTY, /* indented by two, "key": value */
};

/* The MODE of --json[=MODE]: short, pretty or off; NULL (no MODE) is pretty when fd is a
 * terminal and short otherwise. -EINVAL for another word. */
int json_mode_from_arg(const char *mode, int fd, enum json_mode *ret);

static inline void json_object_putp(struct json_object **o)
{
	json_object_put(*o); /* NULL is fine */
}
#define _cleanup_json_ __attribute__((cleanup(json_object_putp)))

/* A JSON string of s (NULL: ""). Bytes that are not part of valid UTF-8 become the text \xNN,
 * as utf8_escape_invalid() writes them for the ledger and the bus: nothing invalid ever enters
 * a document, and valid UTF-8 (names in any script) stays as it is. NULL when out of memory. */
struct json_object *json_new_string(const char *s);

/* A number written as the shortest of %.15g and %.17g that reads back as v (so 0.1 stays
 * "0.1" and 28806 stays "28806"); NaN and infinities, which JSON does not have, are written null. */
struct json_object *json_new_double(double v);
/* That text in buf ("null" for NaN and infinities), for formats beside JSON (CSV). */
#define JSON_DOUBLE_MAX 32
const char *json_double_text(double v, char buf[static JSON_DOUBLE_MAX]);
/* A number written as text, which must be a JSON number the caller made for v (a fixed number
 * of decimals, say): json-c keeps it byte for byte. */
struct json_object *json_new_number_text(double v, const char *text);

/* Add v under key to object o, taking v (also on failure). v NULL means its constructor ran out
 * of memory: -ENOMEM. A key that is not valid UTF-8 is escaped as strings are. */
int json_add(struct json_object *o, const char *key, struct json_object *v);
int json_add_string(struct json_object *o, const char *key, const char *s);
int json_add_uint(struct json_object *o, const char *key, uint64_t v);
int json_add_int(struct json_object *o, const char *key, int64_t v);
int json_add_double(struct json_object *o, const char *key, double v);
int json_add_bool(struct json_object *o, const char *key, bool v);
int json_add_null(struct json_object *o, const char *key);
/* Append v to array a, taking v; NULL v: -ENOMEM. */
int json_append(struct json_object *a, struct json_object *v);

/* The document's text in mode (JSON_OFF counts as short), without a newline: short is one
 * line, pretty is indented by two with "key": value and empty containers as [] and {}. The
 * text belongs to o and lives until o changes. NULL when out of memory. */
const char *json_text(struct json_object *o, enum json_mode mode, size_t *ret_len);
/* "Rows": the members of a top-level object (and the elements of its arrays), or the elements
 * of a top-level array, one per line, each written short. Readable and still greppable line by
 * line: reports, and what the CLI prints pretty for lists of records. NULL when out of memory;
 * free() it. */
char *json_text_rows(struct json_object *o, size_t *ret_len);

/* Print o and a newline on f: json_text() in mode. -EIO when f failed. */
int json_dump(FILE *f, struct json_object *o, enum json_mode mode);
/* The same, but pretty is json_text_rows(). */
int json_dump_rows(FILE *f, struct json_object *o, enum json_mode mode);

#define JSON_PARSE_ERROR_MAX 160

/* Parse buf[0, len) as exactly one JSON document (RFC 8259): strict (no comments, trailing
 * commas, NaN and such), valid UTF-8, no NUL byte, nothing but white space after it, nested
 * at most JSON_DEPTH_MAX deep. The document "null" is *ret NULL (json-c's null). On failure -EBADMSG (-EFBIG past INT_MAX bytes, -ENOMEM) with
 * "line L, column C: WHAT" in err. */
#define JSON_DEPTH_MAX 64
int json_parse(const char *buf, size_t len, struct json_object **ret, char *err, size_t err_size);
