// SPDX-License-Identifier: GPL-2.0-only
/* lib/json.c: strings stay valid UTF-8 (valid text verbatim, invalid bytes as \xNN), numbers keep
 * their text, the short, pretty and rows layouts, and the strict parser's verdicts. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json-doc.h"
#include "tap.h"
#include "util.h"

/* The short text of one value. */
static void value(struct json_object *v, const char *want, const char *what)
{
	const char *t = v ? json_text(v, JSON_SHORT, NULL) : "(no object)";

	TAP_CHECK(t && strcmp(t, want) == 0, "%s: %s (want %s)", what, t, want);
	json_object_put(v);
}

static void layout(struct json_object *o, enum json_mode mode, bool rows, const char *want,
		   const char *what)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int r = f ? (rows ? json_dump_rows(f, o, mode) : json_dump(f, o, mode)) : -ENOMEM;

	if (f)
		fclose(f);
	TAP_CHECK(r == 0 && buf && strcmp(buf, want) == 0, "%s:\n%s", what, buf ? buf : "");
}

static void parse_ok(const char *doc, const char *want, const char *what)
{
	_cleanup_json_ struct json_object *o = NULL;
	char err[JSON_PARSE_ERROR_MAX] = "";
	int r = json_parse(doc, strlen(doc), &o, err, sizeof(err));
	const char *t = r == 0 ? json_text(o, JSON_SHORT, NULL) : err;

	TAP_CHECK(r == 0 && strcmp(t, want) == 0, "parsed: %s: %s", what, t);
}

static void parse_bad(const char *doc, size_t len, const char *want_err, const char *what)
{
	_cleanup_json_ struct json_object *o = NULL;
	char err[JSON_PARSE_ERROR_MAX] = "";
	int r = json_parse(doc, len, &o, err, sizeof(err));

	TAP_CHECK(r == -EBADMSG && !o && strstr(err, want_err), "refused: %s: \"%s\"", what, err);
}

int main(void)
{
	_cleanup_json_ struct json_object *o = NULL, *rows = NULL, *empty = NULL;
	struct json_object *a;

	printf("TAP version 13\n");

	value(json_new_string("/opt/caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac/\xf0\x9f\x92\xbb"),
	      "\"/opt/caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac/\xf0\x9f\x92\xbb\"",
	      "valid UTF-8 verbatim, slashes unescaped");
	value(json_new_string("b\xff\xc0\x80"
			      "x"),
	      "\"b\\\\xff\\\\xc0\\\\x80x\"", "invalid bytes as the text \\xNN, never raw");
	value(json_new_string("tab\there\n\"q\"\\\x01\x7f"),
	      "\"tab\\there\\n\\\"q\\\"\\\\\\u0001\x7f\"",
	      "control characters escaped, quotes and backslashes too");
	value(json_new_string(NULL), "\"\"", "NULL is the empty string");
	value(json_new_double(0.1), "0.1", "0.1 with 15 digits");
	value(json_new_double(28806), "28806", "an integral double without a fraction");
	value(json_new_double(1.0 / 3), "0.33333333333333331", "1/3 needs 17 digits to read back");
	value(json_new_double(1.4403e19), "1.4403e+19", "a large double");
	value(json_new_double(NAN), "null", "NaN is null");
	value(json_new_double(-INFINITY), "null", "-infinity is null");
	value(json_new_number_text(3.75, "3.750000000"), "3.750000000", "a number's own text kept");
	value(json_object_new_uint64(UINT64_MAX), "18446744073709551615", "UINT64_MAX exact");
	value(json_object_new_int64(INT64_MIN), "-9223372036854775808", "INT64_MIN exact");

	o = json_object_new_object();
	TAP_CHECK(o && json_add_string(o, "user", "j\xc3\xb6rg") == 0 &&
			  json_add_uint(o, "uid", 1000) == 0 && json_add_null(o, "pid") == 0 &&
			  json_add_bool(o, "ok", true) == 0 &&
			  json_add(o, "list", json_object_new_array()) == 0 &&
			  json_add(o, "map", json_object_new_object()) == 0 &&
			  json_add_string(o, "bad\xff", "k") == 0,
		  "an object built");
	TAP_CHECK(json_add(o, "x", NULL) == -ENOMEM, "a failed constructor is -ENOMEM");
	layout(o, JSON_SHORT, false,
	       "{\"user\":\"j\xc3\xb6rg\",\"uid\":1000,\"pid\":null,\"ok\":true,\"list\":[],"
	       "\"map\":{},\"bad\\\\xff\":\"k\"}\n",
	       "short: one line, members in insertion order, an invalid key escaped");
	layout(o, JSON_PRETTY, false,
	       "{\n  \"user\": \"j\xc3\xb6rg\",\n  \"uid\": 1000,\n  \"pid\": null,\n  \"ok\": true,\n"
	       "  \"list\": [],\n  \"map\": {},\n  \"bad\\\\xff\": \"k\"\n}\n",
	       "pretty: two spaces, empty containers as [] and {}");
	layout(o, JSON_SHORT, false,
	       "{\"user\":\"j\xc3\xb6rg\",\"uid\":1000,\"pid\":null,\"ok\":true,\"list\":[],"
	       "\"map\":{},\"bad\\\\xff\":\"k\"}\n",
	       "short again after pretty: the empty containers' serializer was reset");
	empty = json_object_new_array();
	layout(empty, JSON_PRETTY, false, "[]\n", "an empty top-level array pretty");

	rows = json_object_new_object();
	a = json_object_new_array();
	json_add_string(rows, "license", "L-1");
	json_add(rows, "terms", a);
	json_append(a, json_object_new_object());
	json_add_string(json_object_array_get_idx(a, 0), "term", "valid");
	json_append(a, json_new_double(2.5));
	json_add(rows, "none", json_object_new_array());
	layout(rows, JSON_PRETTY, true,
	       "{\n  \"license\":\"L-1\",\n  \"terms\":[\n    {\"term\":\"valid\"},\n    2.5\n  ],\n"
	       "  \"none\":[]\n}\n",
	       "rows: members and their arrays' elements one per line, each short");
	layout(rows, JSON_SHORT, true,
	       "{\"license\":\"L-1\",\"terms\":[{\"term\":\"valid\"},2.5],\"none\":[]}\n",
	       "rows, short: one line as ever");
	layout(a, JSON_PRETTY, true, "[\n  {\"term\":\"valid\"},\n  2.5\n]\n",
	       "rows of a top-level array");
	TAP_CHECK(json_append(a, NULL) == -ENOMEM, "appending a failed constructor is -ENOMEM");

	parse_ok("{\"a\": [1, 2.50, \"x\\u00e9\\/\"], \"b\": null}\n\n",
		 "{\"a\":[1,2.50,\"x\xc3\xa9/\"],\"b\":null}", "an object, white space after it");
	parse_ok("12", "12", "a number at the very end of the input");
	parse_ok(" \"\xe6\x97\xa5\" ", "\"\xe6\x97\xa5\"", "a string of valid UTF-8");
	parse_bad("{\"a\":1,}", 8, "line 1", "a trailing comma");
	parse_bad("[1] [2]", 7, "line 1, column 5", "two documents");
	parse_bad("{\"a\":1}\nx", 9, "line 2, column 1", "text after the document");
	parse_bad("[NaN]", 5, "NaN is not a JSON number", "NaN");
	parse_bad("[-Infinity]", 11, "-Infinity is not a JSON number", "-Infinity");
	parse_bad("[1.]", 4, "1. is not a JSON number", "a number ending in a point");
	parse_bad("{\"a\":[1e999]}", 13, "1e999 is not a JSON number", "a number beyond double");
	parse_bad("[\"a\tb\"]", 7, "line 1, column 4: a control character in a string",
		  "a raw tab in a string");
	parse_bad("[\"\\\"\n\"]", 7, "line 1, column 5: a control character",
		  "a raw newline after an escaped quote");
	parse_bad("/* c */ 1", 9, "line 1", "a comment");
	parse_bad("['x']", 5, "line 1", "single quotes");
	parse_bad("[\"a\xff\"]", 5, "line 1", "invalid UTF-8 in a string");
	parse_bad("[\"a\0\"]", 5, "line 1, column 4: a NUL byte", "a NUL byte");
	parse_bad("{\"a\":", 5, "unexpected end", "a truncated document");
	parse_bad("", 0, "unexpected end", "nothing");
	{
		char deep[2 * (JSON_DEPTH_MAX + 1) + 1];

		memset(deep, '[', JSON_DEPTH_MAX + 1);
		memset(deep + JSON_DEPTH_MAX + 1, ']', JSON_DEPTH_MAX + 1);
		deep[sizeof(deep) - 1] = '\0';
		parse_bad(deep, sizeof(deep) - 1, "line 1", "nested deeper than JSON_DEPTH_MAX");
	}
	{
		struct json_object *n = (struct json_object *)1;
		char err[JSON_PARSE_ERROR_MAX];

		TAP_CHECK(json_parse("null", 4, &n, err, sizeof(err)) == 0 && !n,
			  "the document null is json-c's NULL");
	}
	{
		enum json_mode m = JSON_OFF;

		TAP_CHECK(json_mode_from_arg("pretty", 1, &m) == 0 && m == JSON_PRETTY &&
				  json_mode_from_arg("short", 1, &m) == 0 && m == JSON_SHORT &&
				  json_mode_from_arg("off", 1, &m) == 0 && m == JSON_OFF &&
				  json_mode_from_arg("loud", 1, &m) == -EINVAL,
			  "--json=MODE words");
	}
	return tap_done();
}
