// SPDX-License-Identifier: GPL-2.0-only
/* JSON through json-c (see json-doc.h): constructors that keep documents valid UTF-8, the output
 * layouts of the CLI and of reports, and the strict parser. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json-doc.h"
#include "util.h"

/* Never "\/": paths are most of what we print. */
#define FLAGS_SHORT (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
#define FLAGS_PRETTY \
	(JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE)

int json_mode_from_arg(const char *mode, int fd, enum json_mode *ret)
{
	if (!mode)
		*ret = isatty(fd) ? JSON_PRETTY : JSON_SHORT;
	else if (streq(mode, "short"))
		*ret = JSON_SHORT;
	else if (streq(mode, "pretty"))
		*ret = JSON_PRETTY;
	else if (streq(mode, "off"))
		*ret = JSON_OFF;
	else
		return -EINVAL;
	return 0;
}

struct json_object *json_new_string(const char *s)
{
	_cleanup_free_ char *escaped = NULL;

	if (!s)
		s = "";
	if (!utf8_valid(s)) {
		escaped = utf8_escape_invalid(s);
		if (!escaped)
			return NULL;
		s = escaped;
	}
	return json_object_new_string(s);
}

const char *json_double_text(double v, char buf[static JSON_DOUBLE_MAX])
{
	if (!isfinite(v))
		return "null"; /* JSON has no NaN or infinity */
	/* the shortest of the usual precisions that reads back as the same double */
	snprintf(buf, JSON_DOUBLE_MAX, "%.15g", v);
	if (strtod(buf, NULL) != v)
		snprintf(buf, JSON_DOUBLE_MAX, "%.17g", v);
	return buf;
}

struct json_object *json_new_double(double v)
{
	char buf[JSON_DOUBLE_MAX];

	return json_object_new_double_s(v, json_double_text(v, buf));
}

struct json_object *json_new_number_text(double v, const char *text)
{
	return json_object_new_double_s(v, text);
}

int json_add(struct json_object *o, const char *key, struct json_object *v)
{
	_cleanup_free_ char *escaped = NULL;

	if (!v)
		return -ENOMEM;
	if (!utf8_valid(key)) {
		escaped = utf8_escape_invalid(key);
		if (!escaped) {
			json_object_put(v);
			return -ENOMEM;
		}
		key = escaped;
	}
	if (json_object_object_add(o, key, v) < 0) {
		json_object_put(v);
		return -ENOMEM;
	}
	return 0;
}

int json_add_string(struct json_object *o, const char *key, const char *s)
{
	return json_add(o, key, json_new_string(s));
}

int json_add_uint(struct json_object *o, const char *key, uint64_t v)
{
	return json_add(o, key, json_object_new_uint64(v));
}

int json_add_int(struct json_object *o, const char *key, int64_t v)
{
	return json_add(o, key, json_object_new_int64(v));
}

int json_add_double(struct json_object *o, const char *key, double v)
{
	return json_add(o, key, json_new_double(v));
}

int json_add_bool(struct json_object *o, const char *key, bool v)
{
	return json_add(o, key, json_object_new_boolean(v));
}

int json_add_null(struct json_object *o, const char *key)
{
	/* json-c's null is the NULL object; json_add() would take it for a failed constructor */
	_cleanup_free_ char *escaped = NULL;

	if (!utf8_valid(key)) {
		escaped = utf8_escape_invalid(key);
		if (!escaped)
			return -ENOMEM;
		key = escaped;
	}
	return json_object_object_add(o, key, NULL) < 0 ? -ENOMEM : 0;
}

int json_append(struct json_object *a, struct json_object *v)
{
	if (!v)
		return -ENOMEM;
	if (json_object_array_add(a, v) < 0) {
		json_object_put(v);
		return -ENOMEM;
	}
	return 0;
}

/* json-c 0.16 writes an empty container pretty as "[\n  ]" (json-c issue #778); we write "[]"
 * and "{}", as before and as most JSON tools do. The serializer is set on the empty containers
 * for one serialization only. */
static int empty_to_string(struct json_object *o, struct printbuf *pb, int level, int flags)
{
	return json_object_is_type(o, json_type_array) ? printbuf_strappend(pb, "[]") :
							 printbuf_strappend(pb, "{}");
}

static void mark_empty(struct json_object *o, bool on)
{
	size_t n;

	if (json_object_is_type(o, json_type_array)) {
		n = json_object_array_length(o);
		for (size_t i = 0; i < n; i++)
			mark_empty(json_object_array_get_idx(o, i), on);
	} else if (json_object_is_type(o, json_type_object)) {
		n = (size_t)json_object_object_length(o);
		json_object_object_foreach(o, key, value)
		{
			(void)key;
			mark_empty(value, on);
		}
	} else
		return;
	if (n == 0)
		json_object_set_serializer(o, on ? empty_to_string : NULL, NULL, NULL);
}

const char *json_text(struct json_object *o, enum json_mode mode, size_t *ret_len)
{
	const char *t;
	size_t len = 0;

	if (mode != JSON_PRETTY)
		t = json_object_to_json_string_length(o, FLAGS_SHORT, &len);
	else {
		mark_empty(o, true);
		t = json_object_to_json_string_length(o, FLAGS_PRETTY, &len);
		mark_empty(o, false);
	}
	if (ret_len)
		*ret_len = len;
	return t;
}

/* One element or member per line, indented by indent; arrays among a top-level object's
 * members the same, one level deeper. */
static int rows(FILE *f, struct json_object *o, int indent, bool nested)
{
	bool array = json_object_is_type(o, json_type_array);
	size_t n = 0;

	if (!array && !json_object_is_type(o, json_type_object)) {
		fputs(json_text(o, JSON_SHORT, NULL) ?: "null", f);
		return 0;
	}
	fputc(array ? '[' : '{', f);
	if (array) {
		n = json_object_array_length(o);
		for (size_t i = 0; i < n; i++) {
			const char *t =
				json_text(json_object_array_get_idx(o, i), JSON_SHORT, NULL);

			if (!t)
				return -ENOMEM;
			fprintf(f, "%s\n%*s%s", i ? "," : "", indent, "", t);
		}
	} else {
		json_object_object_foreach(o, key, value)
		{
			struct json_object *k = json_object_new_string(key);
			const char *t = k ? json_text(k, JSON_SHORT, NULL) : NULL;
			int r;

			if (!t) {
				json_object_put(k);
				return -ENOMEM;
			}
			fprintf(f, "%s\n%*s%s:", n++ ? "," : "", indent, "", t);
			json_object_put(k);
			if (!nested && json_object_is_type(value, json_type_array))
				r = rows(f, value, indent + 2, true);
			else {
				t = value ? json_text(value, JSON_SHORT, NULL) : "null";
				r = t ? (fputs(t, f), 0) : -ENOMEM;
			}
			if (r < 0)
				return r;
		}
	}
	if (n > 0)
		fprintf(f, "\n%*s", indent - 2, "");
	fputc(array ? ']' : '}', f);
	return 0;
}

char *json_text_rows(struct json_object *o, size_t *ret_len)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	FILE *f;
	int r;

	f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	r = rows(f, o, 2, false);
	if (fclose(f) != 0 || r < 0)
		return NULL;
	if (ret_len)
		*ret_len = len;
	return TAKE_PTR(buf);
}

int json_dump(FILE *f, struct json_object *o, enum json_mode mode)
{
	size_t len;
	const char *t = json_text(o, mode, &len);

	if (!t)
		return -ENOMEM;
	fwrite(t, 1, len, f);
	fputc('\n', f);
	return ferror(f) ? -EIO : 0;
}

int json_dump_rows(FILE *f, struct json_object *o, enum json_mode mode)
{
	_cleanup_free_ char *t = NULL;
	size_t len;

	if (mode != JSON_PRETTY)
		return json_dump(f, o, mode);
	t = json_text_rows(o, &len);
	if (!t)
		return -ENOMEM;
	fwrite(t, 1, len, f);
	fputc('\n', f);
	return ferror(f) ? -EIO : 0;
}

/* Line and column (from 1, in bytes) of offset in buf. */
static void position(const char *buf, size_t offset, unsigned *line, unsigned *column)
{
	const char *nl;

	*line = 1;
	*column = (unsigned)offset + 1;
	for (const char *p = buf; (nl = memchr(p, '\n', offset - (size_t)(p - buf))); p = nl + 1) {
		(*line)++;
		*column = (unsigned)(offset - (size_t)(nl + 1 - buf)) + 1;
	}
}

/* json-c 0.16's strict mode still takes raw control characters in strings, and numbers such as
 * "1." and "Infinity": RFC 8259 takes neither. The offset of the first such
 * control character, or len. */
static size_t raw_control_in_string(const char *buf, size_t len)
{
	bool in_string = false;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)buf[i];

		if (in_string && c == '\\')
			i++; /* what follows a backslash is the tokener's to judge */
		else if (c == '"')
			in_string = !in_string;
		else if (in_string && c < 0x20)
			return i;
	}
	return len;
}

/* Does text follow RFC 8259's number: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)? */
static bool number_text_valid(const char *t)
{
	if (*t == '-')
		t++;
	if (*t == '0')
		t++;
	else if (*t >= '1' && *t <= '9')
		t += strspn(t, "0123456789");
	else
		return false;
	if (*t == '.') {
		size_t n = strspn(++t, "0123456789");

		if (!n)
			return false;
		t += n;
	}
	if (*t == 'e' || *t == 'E') {
		size_t n;

		t++;
		if (*t == '+' || *t == '-')
			t++;
		n = strspn(t, "0123456789");
		if (!n)
			return false;
		t += n;
	}
	return !*t;
}

/* The first number of o (parsed: json-c keeps each double's text) that is not an RFC 8259
 * number or not finite; NULL when there is none. */
static const char *bad_number(struct json_object *o)
{
	const char *bad = NULL;

	switch (json_object_get_type(o)) {
	case json_type_double: {
		const char *t = json_object_to_json_string_ext(o, FLAGS_SHORT);

		return !number_text_valid(t) || !isfinite(json_object_get_double(o)) ? t : NULL;
	}
	case json_type_array:
		for (size_t i = 0; !bad && i < json_object_array_length(o); i++)
			bad = bad_number(json_object_array_get_idx(o, i));
		return bad;
	case json_type_object: {
		json_object_object_foreach(o, key, value)
		{
			(void)key;
			bad = bad_number(value);
			if (bad)
				return bad;
		}
		return NULL;
	}
	default:
		return NULL;
	}
}

int json_parse(const char *buf, size_t len, struct json_object **ret, char *err, size_t err_size)
{
	struct json_tokener *tok = NULL;
	struct json_object *o = NULL;
	const char *nul;
	size_t end;
	unsigned line, column;
	int r = -EBADMSG;

	if (len > INT_MAX) {
		snprintf(err, err_size, "%zu bytes is more than a document may have", len);
		return -EFBIG;
	}
	/* json-c would end the document there; a NUL has no place in JSON text */
	nul = memchr(buf, '\0', len);
	if (nul) {
		position(buf, (size_t)(nul - buf), &line, &column);
		snprintf(err, err_size, "line %u, column %u: a NUL byte", line, column);
		return -EBADMSG;
	}
	end = raw_control_in_string(buf, len);
	if (end < len) {
		position(buf, end, &line, &column);
		snprintf(err, err_size, "line %u, column %u: a control character in a string", line,
			 column);
		return -EBADMSG;
	}
	tok = json_tokener_new_ex(JSON_DEPTH_MAX);
	if (!tok) {
		snprintf(err, err_size, "out of memory");
		return -ENOMEM;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, buf, (int)len);
	end = json_tokener_get_parse_end(tok);
	if (!o && json_tokener_get_error(tok) == json_tokener_continue)
		/* json-c needs one more call to end a document at the end of its input (a number) */
		o = json_tokener_parse_ex(tok, "", 1);
	if (!o) {
		enum json_tokener_error e = json_tokener_get_error(tok);

		if (e == json_tokener_success) { /* the document "null": json-c's NULL */
			*ret = NULL;
			r = 0;
			goto out;
		}
		position(buf, end, &line, &column);
		snprintf(err, err_size, "line %u, column %u: %s", line, column,
			 e == json_tokener_continue ? "unexpected end of the document" :
						      json_tokener_error_desc(e));
		goto out;
	}
	while (end < len && strchr(" \t\r\n", buf[end]))
		end++;
	if (end < len) {
		position(buf, end, &line, &column);
		snprintf(err, err_size, "line %u, column %u: text after the end of the document",
			 line, column);
		goto out;
	}
	if (bad_number(o)) {
		snprintf(err, err_size, "%.40s is not a JSON number", bad_number(o));
		goto out;
	}
	*ret = TAKE_PTR(o);
	r = 0;
out:
	json_object_put(o);
	json_tokener_free(tok);
	return r;
}
