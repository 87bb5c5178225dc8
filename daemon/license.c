/* SPDX-License-Identifier: GPL-2.0-only */
/* Licence terms: turn YAML licence files into struct license, with file:line:column errors. */
#include "license.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <yaml.h>

#include "util.h"

/* A licence is a page of text; a bigger file is a mistake, and the cap bounds our memory. */
#define LICENSE_FILE_MAX_BYTES (1024 * 1024)
/* The schema is four levels deep; the cap keeps hostile nesting from exhausting the stack. */
#define LICENSE_NESTING_MAX 16
#define LICENSE_ID_MAX 128
/* Echoed values are cut so that a runaway scalar cannot crowd the message out. */
#define ECHO_MAX "64"
#define SECONDS_PER_DAY 86400

#define FIELD_SIZE sizeof(((struct license_error *)0)->field)

static void closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}

static void yaml_event_deletep(yaml_event_t *ev)
{
	yaml_event_delete(ev);
}

/* ---- errors ---- */

static void copy_str(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

static void error_init(struct license_error *err, const char *path)
{
	memset(err, 0, sizeof(*err));
	copy_str(err->file, sizeof(err->file), path);
}

static void error_vset(struct license_error *err, unsigned line, unsigned column, const char *field,
		       const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));
static void error_vset(struct license_error *err, unsigned line, unsigned column, const char *field,
		       const char *fmt, va_list ap)
{
	err->line = line;
	err->column = line ? column : 0;
	copy_str(err->field, sizeof(err->field), field ?: "");
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
}

/* Records the error and returns -EINVAL, so content errors read "return error_at(...)". */
static int error_at(struct license_error *err, unsigned line, unsigned column, const char *field,
		    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int error_at(struct license_error *err, unsigned line, unsigned column, const char *field,
		    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	error_vset(err, line, column, field, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* ---- a small tree of the document, built from libyaml events ----
 * Events rather than libyaml's document API because the loader there resolves aliases
 * silently and cannot tell us where a second document starts; a tree rather than checking
 * events on the fly because "missing key" and "until before from" need a whole mapping. */

enum ynode_type {
	YNODE_SCALAR,
	YNODE_SEQUENCE,
	YNODE_MAPPING,
	YNODE_ALIAS, /* kept as a node so the error can name the field it stands in */
};

struct ynode {
	enum ynode_type type;
	unsigned line, column; /* 1-based */
	char *value; /* scalar text, NUL-terminated */
	size_t length; /* may exceed strlen(value): "\0" is a valid YAML escape */
	bool plain; /* only an unquoted scalar can spell null */
	struct ynode **items; /* sequence: elements; mapping: key, value, key, value, ... */
	size_t n_items, n_allocated;
};

static void ynode_free(struct ynode *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n_items; i++)
		ynode_free(n->items[i]);
	free(n->items);
	free(n->value);
	free(n);
}

static void ynode_freep(struct ynode **n)
{
	ynode_free(*n);
}

static struct ynode *ynode_new(enum ynode_type type, const yaml_mark_t *mark)
{
	struct ynode *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->type = type;
	n->line = mark->line + 1;
	n->column = mark->column + 1;
	return n;
}

static int ynode_append(struct ynode *parent, struct ynode *child)
{
	if (parent->n_items == parent->n_allocated) {
		size_t n = parent->n_allocated ? parent->n_allocated * 2 : 8;
		struct ynode **items = reallocarray(parent->items, n, sizeof(*items));

		if (!items)
			return -ENOMEM;
		parent->items = items;
		parent->n_allocated = n;
	}
	parent->items[parent->n_items++] = child;
	return 0;
}

struct loader {
	yaml_parser_t parser;
	const char *buf;
	size_t size;
	struct license_error *err;
};

/* libyaml's reader reports an offset, not a mark; count lines ourselves so the error still
 * points at a place in the file. */
static void offset_to_position(const char *buf, size_t size, size_t offset, unsigned *line,
			       unsigned *column)
{
	*line = 1;
	*column = 1;
	for (size_t i = 0; i < offset && i < size; i++) {
		if (buf[i] == '\n') {
			(*line)++;
			*column = 1;
		} else {
			(*column)++;
		}
	}
}

static int syntax_error(struct loader *ld)
{
	const yaml_parser_t *p = &ld->parser;
	unsigned line, column;

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		error_at(ld->err, 0, 0, "", "out of memory");
		return -ENOMEM;
	case YAML_READER_ERROR:
		offset_to_position(ld->buf, ld->size, p->problem_offset, &line, &column);
		return error_at(ld->err, line, column, "", "invalid input: %s",
				p->problem ?: "unreadable text");
	default:
		line = p->problem_mark.line + 1;
		column = p->problem_mark.column + 1;
		if (p->context)
			return error_at(
				ld->err, line, column, "",
				"YAML syntax error: %s (%s that starts at line %zu, column %zu)",
				p->problem ?: "unexpected input", p->context,
				p->context_mark.line + 1, p->context_mark.column + 1);
		return error_at(ld->err, line, column, "", "YAML syntax error: %s",
				p->problem ?: "unexpected input");
	}
}

static int next_event(struct loader *ld, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&ld->parser, ev))
		return syntax_error(ld);
	return 0;
}

/* Builds the node that ev starts, reading events up to its end. The caller keeps ev. */
static int load_node(struct loader *ld, const yaml_event_t *ev, unsigned depth, struct ynode **ret)
{
	_cleanup_(ynode_freep) struct ynode *n = NULL;
	yaml_event_type_t end;
	int r;

	if (depth > LICENSE_NESTING_MAX)
		return error_at(ld->err, ev->start_mark.line + 1, ev->start_mark.column + 1, "",
				"nested deeper than %d levels", LICENSE_NESTING_MAX);

	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		n = ynode_new(YNODE_SCALAR, &ev->start_mark);
		if (!n)
			return -ENOMEM;
		n->value = malloc(ev->data.scalar.length + 1);
		if (!n->value)
			return -ENOMEM;
		memcpy(n->value, ev->data.scalar.value, ev->data.scalar.length);
		n->value[ev->data.scalar.length] = '\0';
		n->length = ev->data.scalar.length;
		n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		*ret = TAKE_PTR(n);
		return 0;
	case YAML_ALIAS_EVENT:
		n = ynode_new(YNODE_ALIAS, &ev->start_mark);
		if (!n)
			return -ENOMEM;
		*ret = TAKE_PTR(n);
		return 0;
	case YAML_SEQUENCE_START_EVENT:
		n = ynode_new(YNODE_SEQUENCE, &ev->start_mark);
		end = YAML_SEQUENCE_END_EVENT;
		break;
	case YAML_MAPPING_START_EVENT:
		n = ynode_new(YNODE_MAPPING, &ev->start_mark);
		end = YAML_MAPPING_END_EVENT;
		break;
	default:
		/* libyaml only starts nodes with the events above; anything else is its bug. */
		return error_at(ld->err, ev->start_mark.line + 1, ev->start_mark.column + 1, "",
				"unexpected YAML event %d", ev->type);
	}
	if (!n)
		return -ENOMEM;

	for (;;) {
		_cleanup_(yaml_event_deletep) yaml_event_t child_ev = {};
		_cleanup_(ynode_freep) struct ynode *child = NULL;

		r = next_event(ld, &child_ev);
		if (r < 0)
			return r;
		if (child_ev.type == end)
			break;
		r = load_node(ld, &child_ev, depth + 1, &child);
		if (r < 0)
			return r;
		r = ynode_append(n, child);
		if (r < 0)
			return r;
		child = NULL;
	}

	*ret = TAKE_PTR(n);
	return 0;
}

static int expect_event(struct loader *ld, yaml_event_t *ev, yaml_event_type_t type)
{
	int r = next_event(ld, ev);

	if (r < 0)
		return r;
	if (ev->type != type)
		return error_at(ld->err, ev->start_mark.line + 1, ev->start_mark.column + 1, "",
				"unexpected YAML event %d", ev->type);
	return 0;
}

/* Loads the one document of the file. Zero documents and more than one are both errors: a
 * licence split across documents would otherwise lose its second half without a word. */
static int load_document(struct loader *ld, struct ynode **ret)
{
	_cleanup_(yaml_event_deletep) yaml_event_t stream_start = {}, doc_start = {}, root_ev = {},
						   doc_end = {}, after = {};
	_cleanup_(ynode_freep) struct ynode *root = NULL;
	int r;

	r = expect_event(ld, &stream_start, YAML_STREAM_START_EVENT);
	if (r < 0)
		return r;
	r = next_event(ld, &doc_start);
	if (r < 0)
		return r;
	if (doc_start.type == YAML_STREAM_END_EVENT)
		return error_at(ld->err, 0, 0, "", "empty file: no YAML document");
	if (doc_start.type != YAML_DOCUMENT_START_EVENT)
		return error_at(ld->err, doc_start.start_mark.line + 1,
				doc_start.start_mark.column + 1, "", "unexpected YAML event %d",
				doc_start.type);

	r = next_event(ld, &root_ev);
	if (r < 0)
		return r;
	r = load_node(ld, &root_ev, 0, &root);
	if (r < 0)
		return r;

	r = expect_event(ld, &doc_end, YAML_DOCUMENT_END_EVENT);
	if (r < 0)
		return r;
	r = next_event(ld, &after);
	if (r < 0)
		return r;
	if (after.type == YAML_DOCUMENT_START_EVENT)
		return error_at(ld->err, after.start_mark.line + 1, after.start_mark.column + 1, "",
				"multiple documents are not supported: one licence per file");
	if (after.type != YAML_STREAM_END_EVENT)
		return error_at(ld->err, after.start_mark.line + 1, after.start_mark.column + 1, "",
				"unexpected YAML event %d", after.type);

	*ret = TAKE_PTR(root);
	return 0;
}

static int parse_yaml(const char *buf, size_t size, struct license_error *err, struct ynode **ret)
{
	struct loader ld = { .buf = buf, .size = size, .err = err };
	int r;

	if (!yaml_parser_initialize(&ld.parser)) {
		error_at(err, 0, 0, "", "out of memory");
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&ld.parser, (const unsigned char *)buf, size);
	r = load_document(&ld, ret);
	yaml_parser_delete(&ld.parser);
	return r;
}

/* ---- reading the file ---- */

static int read_file(const char *path, struct license_error *err, char **ret, size_t *ret_size)
{
	_cleanup_(closep) int fd = -1;
	_cleanup_(freep) char *buf = NULL;
	size_t size = 0, allocated = 0;
	int r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		error_at(err, 0, 0, "", "cannot open: %s", strerror(-r));
		return r;
	}

	/* Read to EOF rather than trusting st_size, so pipes and /proc-style files work too. */
	for (;;) {
		ssize_t n;

		if (size == allocated) {
			size_t want = allocated ? allocated * 2 : 4096;
			char *p;

			if (allocated > LICENSE_FILE_MAX_BYTES) {
				error_at(err, 0, 0, "", "file is larger than %d bytes",
					 LICENSE_FILE_MAX_BYTES);
				return -EFBIG;
			}
			p = realloc(buf, want);
			if (!p) {
				error_at(err, 0, 0, "", "out of memory");
				return -ENOMEM;
			}
			buf = p;
			allocated = want;
		}
		n = read(fd, buf + size, allocated - size);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			error_at(err, 0, 0, "", "cannot read: %s", strerror(-r));
			return r;
		}
		if (n == 0)
			break;
		size += n;
	}
	if (size > LICENSE_FILE_MAX_BYTES) {
		error_at(err, 0, 0, "", "file is larger than %d bytes", LICENSE_FILE_MAX_BYTES);
		return -EFBIG;
	}

	*ret = TAKE_PTR(buf);
	*ret_size = size;
	return 0;
}

/* ---- checking the tree against the schema ---- */

static void field_join(char *buf, const char *parent, const char *key)
{
	/* A path cut short still names the place; the message and position carry the rest. */
	if (snprintf(buf, FIELD_SIZE, "%s%s%s", parent, *parent ? "." : "", key) >= (int)FIELD_SIZE)
		buf[FIELD_SIZE - 1] = '\0';
}

static void field_index(char *buf, const char *parent, size_t i)
{
	if (snprintf(buf, FIELD_SIZE, "%s[%zu]", parent, i) >= (int)FIELD_SIZE)
		buf[FIELD_SIZE - 1] = '\0';
}

static bool ynode_is_null(const struct ynode *n)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL" };

	if (n->type != YNODE_SCALAR || !n->plain)
		return false;
	for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
		if (strcmp(n->value, nulls[i]) == 0)
			return true;
	return false;
}

static const char *ynode_kind(const struct ynode *n)
{
	if (ynode_is_null(n))
		return "null";
	switch (n->type) {
	case YNODE_SCALAR:
		return "a string";
	case YNODE_SEQUENCE:
		return "a sequence";
	case YNODE_MAPPING:
		return "a mapping";
	case YNODE_ALIAS:
		return "an alias";
	}
	return "something else";
}

static int error_node(struct license_error *err, const struct ynode *n, const char *field,
		      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int error_node(struct license_error *err, const struct ynode *n, const char *field,
		      const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	error_vset(err, n->line, n->column, field, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int expect_type(struct license_error *err, const struct ynode *n, const char *field,
		       enum ynode_type type)
{
	static const char *const names[] = {
		[YNODE_SCALAR] = "a string",
		[YNODE_SEQUENCE] = "a sequence",
		[YNODE_MAPPING] = "a mapping",
	};

	/* An alias would let one node stand in several places; we keep the format flat. */
	if (n->type == YNODE_ALIAS)
		return error_node(err, n, field, "aliases are not supported");
	if (n->type != type || ynode_is_null(n))
		return error_node(err, n, field, "expected %s, got %s", names[type], ynode_kind(n));
	return 0;
}

static int get_string(struct license_error *err, const struct ynode *n, const char *field,
		      const char **ret)
{
	int r = expect_type(err, n, field, YNODE_SCALAR);

	if (r < 0)
		return r;
	if (strlen(n->value) != n->length)
		return error_node(err, n, field, "must not contain a NUL character");
	if (n->length == 0)
		return error_node(err, n, field, "must not be empty");
	*ret = n->value;
	return 0;
}

struct key_spec {
	const char *name;
	bool required;
};

/* Checks a mapping's keys against specs (unknown, duplicate, missing) and hands back each
 * known key's value node in values[], NULL where absent. Unknown keys are errors, never
 * ignored: a typo must not silently weaken a licence. */
/* Keys of the licence language (DESIGN.md) that this version does not enforce yet. A licence
 * that uses one is refused with a message saying so: ignoring a term would weaken it silently. */
static const char *const future_keys[] = {
	"license.type",
	"license.terms_version",
	"license.riders",
	"license.parties",
	"license.destination",
	"license.hardware",
	"license.caps",
	"license.reporting",
	"license.records",
	"license.measurement",
	"license.principals.accounts", /* needs the scheduler's account per job */
	"license.principals.remote_access",
	"license.end_use.prohibited",
	"license.end_use.job_declaration_required",
	"license.end_use.allowed_executables",
	"license.end_use.declarations",
};

static bool is_future_key(const char *field)
{
	for (size_t i = 0; i < ARRAY_SIZE(future_keys); i++)
		if (strcmp(field, future_keys[i]) == 0)
			return true;
	return false;
}

static int check_mapping(struct license_error *err, const struct ynode *map, const char *field,
			 const struct key_spec *specs, size_t n_specs, const struct ynode **values)
{
	char key_field[FIELD_SIZE];
	int r;

	r = expect_type(err, map, field, YNODE_MAPPING);
	if (r < 0)
		return r;
	for (size_t k = 0; k < n_specs; k++)
		values[k] = NULL;

	for (size_t i = 0; i + 1 < map->n_items; i += 2) {
		const struct ynode *key = map->items[i];
		size_t k;

		if (key->type == YNODE_ALIAS)
			return error_node(err, key, field, "aliases are not supported");
		if (key->type != YNODE_SCALAR || strlen(key->value) != key->length)
			return error_node(err, key, field, "expected a string key, got %s",
					  ynode_kind(key));

		field_join(key_field, field, key->value);
		for (k = 0; k < n_specs; k++)
			if (strcmp(key->value, specs[k].name) == 0)
				break;
		if (k == n_specs && is_future_key(key_field))
			return error_node(
				err, key, key_field,
				"\"%s\" is not enforced by this version of hpcmeter; the licence is "
				"refused rather than checked without it",
				key->value);
		if (k == n_specs) {
			char known[256] = "";
			size_t len = 0;

			for (size_t j = 0; j < n_specs && len < sizeof(known); j++)
				len += snprintf(known + len, sizeof(known) - len, "%s%s",
						j ? ", " : "", specs[j].name);
			return error_node(err, key, key_field,
					  "unknown key \"%." ECHO_MAX "s\" (expected one of: %s)",
					  key->value, known);
		}
		if (values[k]) {
			const struct ynode *first = NULL;

			for (size_t j = 0; j < i && !first; j += 2)
				if (strcmp(map->items[j]->value, key->value) == 0)
					first = map->items[j];
			return error_node(err, key, key_field,
					  "duplicate key \"%s\" (first at line %u, column %u)",
					  specs[k].name, first ? first->line : 0,
					  first ? first->column : 0);
		}
		values[k] = map->items[i + 1];
	}

	for (size_t k = 0; k < n_specs; k++)
		if (specs[k].required && !values[k]) {
			field_join(key_field, field, specs[k].name);
			return error_node(err, map, key_field, "missing required key \"%s\"",
					  specs[k].name);
		}
	return 0;
}

typedef int (*item_check_t)(struct license_error *err, const struct ynode *n, const char *field,
			    const char *s);

static int check_name(struct license_error *err, const struct ynode *n, const char *field,
		      const char *s)
{
	/* Names are compared byte for byte with passwd/group entries; a space or control
	 * character can never match one and usually means a botched edit. */
	for (const unsigned char *c = (const unsigned char *)s; *c; c++)
		if (*c <= ' ' || *c == 0x7f)
			return error_node(err, n, field,
					  "invalid name \"%." ECHO_MAX
					  "s\": whitespace and control characters are not allowed",
					  s);
	return 0;
}

static int check_glob(struct license_error *err, const struct ynode *n, const char *field,
		      const char *s)
{
	/* The glob is matched against an absolute exe path; one that starts otherwise can
	 * never match and would leave the prohibition silently dead. */
	if (s[0] != '/' && s[0] != '*')
		return error_node(err, n, field,
				  "invalid executable glob \"%." ECHO_MAX
				  "s\": must start with \"/\" or \"*\"",
				  s);
	return 0;
}

/* A sequence of strings, each passed through check; an absent key (n == NULL) is empty. */
static int parse_string_list(struct license_error *err, const struct ynode *n, const char *field,
			     item_check_t check, char ***ret, size_t *n_ret)
{
	char item_field[FIELD_SIZE];
	int r;

	if (!n)
		return 0;
	r = expect_type(err, n, field, YNODE_SEQUENCE);
	if (r < 0)
		return r;
	if (n->n_items == 0)
		return 0;

	/* Filled in place: on failure the caller's license_free() releases what is there. */
	*ret = calloc(n->n_items, sizeof(char *));
	if (!*ret)
		return -ENOMEM;
	for (size_t i = 0; i < n->n_items; i++) {
		const char *s;

		field_index(item_field, field, i);
		r = get_string(err, n->items[i], item_field, &s);
		if (r < 0)
			return r;
		if (check) {
			r = check(err, n->items[i], item_field, s);
			if (r < 0)
				return r;
		}
		(*ret)[i] = strdup(s);
		if (!(*ret)[i])
			return -ENOMEM;
		*n_ret = i + 1;
	}
	return 0;
}

static int parse_optional_string(struct license_error *err, const struct ynode *n,
				 const char *field, char **ret)
{
	const char *s;
	int r;

	if (!n)
		return 0;
	r = get_string(err, n, field, &s);
	if (r < 0)
		return r;
	*ret = strdup(s);
	return *ret ? 0 : -ENOMEM;
}

static bool is_leap_year(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	return m == 2 && is_leap_year(y) ? 29 : days[m - 1];
}

/* Parses a YYYY-MM-DD calendar date into unix seconds at 00:00:00 UTC of that day. */
static int parse_date(struct license_error *err, const struct ynode *n, const char *field,
		      int64_t *ret)
{
	static const char pattern[] = "dddd-dd-dd";
	struct tm tm = {};
	const char *s;
	int y, m, d, r;

	r = get_string(err, n, field, &s);
	if (r < 0)
		return r;
	if (strlen(s) != sizeof(pattern) - 1)
		goto invalid;
	for (size_t i = 0; pattern[i]; i++)
		if (pattern[i] == 'd' ? !(s[i] >= '0' && s[i] <= '9') : s[i] != pattern[i])
			goto invalid;
	y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
	m = (s[5] - '0') * 10 + (s[6] - '0');
	d = (s[8] - '0') * 10 + (s[9] - '0');
	if (y < 1 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
		goto invalid;

	tm.tm_year = y - 1900;
	tm.tm_mon = m - 1;
	tm.tm_mday = d;
	*ret = (int64_t)timegm(&tm);
	return 0;

invalid:
	return error_node(err, n, field, "invalid date \"%." ECHO_MAX "s\", expected YYYY-MM-DD",
			  s);
}

static int parse_id(struct license_error *err, const struct ynode *n, const char *field, char **ret)
{
	const char *s;
	size_t len;
	int r;

	r = get_string(err, n, field, &s);
	if (r < 0)
		return r;
	len = strlen(s);
	/* The id names the licence in the ledger, on D-Bus and in reports: keep it a token. */
	if (len > LICENSE_ID_MAX ||
	    strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-") != len)
		return error_node(err, n, field,
				  "invalid id \"%." ECHO_MAX "s\": expected 1 to %d characters of "
				  "A-Z a-z 0-9 . _ : -",
				  s, LICENSE_ID_MAX);
	*ret = strdup(s);
	return *ret ? 0 : -ENOMEM;
}

static int parse_regime(struct license_error *err, const struct ynode *n, const char *field,
			char **ret)
{
	static const char *const regimes[] = { "eu-2021-821", "ear", "national", "internal" };
	const char *s;
	int r;

	if (!n)
		return 0;
	r = get_string(err, n, field, &s);
	if (r < 0)
		return r;
	for (size_t i = 0; i < sizeof(regimes) / sizeof(regimes[0]); i++)
		if (strcmp(s, regimes[i]) == 0) {
			*ret = strdup(s);
			return *ret ? 0 : -ENOMEM;
		}
	return error_node(err, n, field,
			  "unknown regime \"%." ECHO_MAX
			  "s\", expected one of: eu-2021-821, ear, national, internal",
			  s);
}

static int parse_valid(struct license_error *err, const struct ynode *n, const char *field,
		       struct license *l)
{
	static const struct key_spec specs[] = { { "from", true }, { "until", true } };
	const struct ynode *v[ARRAY_SIZE(specs)];
	char from_field[FIELD_SIZE], until_field[FIELD_SIZE];
	int64_t until_day;
	int r;

	r = check_mapping(err, n, field, specs, ARRAY_SIZE(specs), v);
	if (r < 0)
		return r;
	field_join(from_field, field, "from");
	field_join(until_field, field, "until");
	r = parse_date(err, v[0], from_field, &l->valid_from);
	if (r < 0)
		return r;
	r = parse_date(err, v[1], until_field, &until_day);
	if (r < 0)
		return r;
	if (until_day < l->valid_from)
		return error_node(err, v[1], until_field, "until %s is before from %s", v[1]->value,
				  v[0]->value);
	/* Inclusive to the last second of the day; unix time has no leap seconds. */
	l->valid_until = until_day + SECONDS_PER_DAY - 1;
	return 0;
}

static int parse_principals(struct license_error *err, const struct ynode *n, const char *field,
			    struct license *l)
{
	static const struct key_spec specs[] = {
		{ "users", false },
		{ "groups", false },
	};
	const struct ynode *v[ARRAY_SIZE(specs)];
	char sub[FIELD_SIZE];
	int r;

	r = check_mapping(err, n, field, specs, ARRAY_SIZE(specs), v);
	if (r < 0)
		return r;
	/* Present but empty restricts to nobody: the block's presence is the restriction. */
	l->principals_restricted = true;
	field_join(sub, field, "users");
	r = parse_string_list(err, v[0], sub, check_name, &l->users, &l->n_users);
	if (r < 0)
		return r;
	field_join(sub, field, "groups");
	return parse_string_list(err, v[1], sub, check_name, &l->groups, &l->n_groups);
}

static int parse_end_use(struct license_error *err, const struct ynode *n, const char *field,
			 struct license *l)
{
	static const struct key_spec specs[] = {
		{ "permitted", false },
		{ "prohibited_executables", false },
	};
	const struct ynode *v[ARRAY_SIZE(specs)];
	char sub[FIELD_SIZE];
	int r;

	r = check_mapping(err, n, field, specs, ARRAY_SIZE(specs), v);
	if (r < 0)
		return r;
	field_join(sub, field, "permitted");
	r = parse_string_list(err, v[0], sub, NULL, &l->permitted_end_uses,
			      &l->n_permitted_end_uses);
	if (r < 0)
		return r;
	field_join(sub, field, "prohibited_executables");
	return parse_string_list(err, v[1], sub, check_glob, &l->prohibited_executables,
				 &l->n_prohibited_executables);
}

enum {
	KEY_ID,
	KEY_REGIME,
	KEY_AUTHORITY,
	KEY_VALID,
	KEY_CONDITIONS,
	KEY_PRINCIPALS,
	KEY_END_USE,
	_KEY_MAX,
};

/* Where the id was written, so a duplicate id in a directory can point at it. */
struct id_position {
	unsigned line, column;
};

static int parse_license(struct license_error *err, const struct ynode *root, struct license *l,
			 struct id_position *id_pos)
{
	static const struct key_spec root_specs[] = { { "license", true } };
	static const struct key_spec specs[] = {
		[KEY_ID] = { "id", true },
		[KEY_REGIME] = { "regime", false },
		[KEY_AUTHORITY] = { "authority", false },
		[KEY_VALID] = { "valid", true },
		[KEY_CONDITIONS] = { "conditions", false },
		[KEY_PRINCIPALS] = { "principals", false },
		[KEY_END_USE] = { "end_use", false },
	};
	const struct ynode *top, *v[_KEY_MAX];
	int r;

	r = check_mapping(err, root, "", root_specs, 1, &top);
	if (r < 0)
		return r;
	r = check_mapping(err, top, "license", specs, _KEY_MAX, v);
	if (r < 0)
		return r;

	r = parse_id(err, v[KEY_ID], "license.id", &l->id);
	if (r < 0)
		return r;
	id_pos->line = v[KEY_ID]->line;
	id_pos->column = v[KEY_ID]->column;
	r = parse_regime(err, v[KEY_REGIME], "license.regime", &l->regime);
	if (r < 0)
		return r;
	r = parse_optional_string(err, v[KEY_AUTHORITY], "license.authority", &l->authority);
	if (r < 0)
		return r;
	r = parse_valid(err, v[KEY_VALID], "license.valid", l);
	if (r < 0)
		return r;
	r = parse_string_list(err, v[KEY_CONDITIONS], "license.conditions", NULL, &l->conditions,
			      &l->n_conditions);
	if (r < 0)
		return r;
	if (v[KEY_PRINCIPALS]) {
		r = parse_principals(err, v[KEY_PRINCIPALS], "license.principals", l);
		if (r < 0)
			return r;
	}
	if (v[KEY_END_USE]) {
		r = parse_end_use(err, v[KEY_END_USE], "license.end_use", l);
		if (r < 0)
			return r;
	}
	return 0;
}

static void license_freep(struct license **l)
{
	license_free(*l);
}

static int parse_file(const char *path, struct license **ret, struct license_error *err,
		      struct id_position *id_pos)
{
	_cleanup_(freep) char *buf = NULL;
	_cleanup_(ynode_freep) struct ynode *root = NULL;
	_cleanup_(license_freep) struct license *l = NULL;
	size_t size = 0;
	int r;

	error_init(err, path);
	r = read_file(path, err, &buf, &size);
	if (r < 0)
		return r;
	r = parse_yaml(buf, size, err, &root);
	if (r < 0)
		return r;

	l = calloc(1, sizeof(*l));
	if (!l)
		goto oom;
	l->file = strdup(path);
	if (!l->file)
		goto oom;
	r = parse_license(err, root, l, id_pos);
	if (r == -ENOMEM)
		goto oom;
	if (r < 0)
		return r;

	*ret = TAKE_PTR(l);
	return 0;

oom:
	error_init(err, path);
	error_at(err, 0, 0, "", "out of memory");
	return -ENOMEM;
}

int license_parse_file(const char *path, struct license **ret, struct license_error *err)
{
	struct license_error scratch;
	struct id_position id_pos;

	return parse_file(path, ret, err ?: &scratch, &id_pos);
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void license_free(struct license *l)
{
	if (!l)
		return;
	free(l->id);
	free(l->file);
	free(l->regime);
	free(l->authority);
	strv_free(l->conditions, l->n_conditions);
	strv_free(l->users, l->n_users);
	strv_free(l->groups, l->n_groups);
	strv_free(l->permitted_end_uses, l->n_permitted_end_uses);
	strv_free(l->prohibited_executables, l->n_prohibited_executables);
	free(l);
}

/* ---- a directory of licences ---- */

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n > m && strcmp(s + n - m, suffix) == 0;
}

static int strcmp_ptr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

struct name_list {
	char **names;
	size_t n, allocated;
};

static void name_list_done(struct name_list *l)
{
	strv_free(l->names, l->n);
}

static int name_list_add(struct name_list *l, const char *name)
{
	if (l->n == l->allocated) {
		size_t n = l->allocated ? l->allocated * 2 : 16;
		char **names = reallocarray(l->names, n, sizeof(*names));

		if (!names)
			return -ENOMEM;
		l->names = names;
		l->allocated = n;
	}
	l->names[l->n] = strdup(name);
	if (!l->names[l->n])
		return -ENOMEM;
	l->n++;
	return 0;
}

static int list_licence_files(DIR *d, struct name_list *list)
{
	for (;;) {
		struct dirent *de;
		struct stat st;
		int r;

		errno = 0;
		de = readdir(d);
		if (!de)
			return errno ? -errno : 0;
		if (de->d_name[0] == '.')
			continue;
		if (!has_suffix(de->d_name, ".yaml") && !has_suffix(de->d_name, ".yml"))
			continue;
		/* Follow symlinks (packaging links licences into place). One that cannot be
		 * stat'ed is kept, so its error shows instead of the licence vanishing. */
		if (fstatat(dirfd(d), de->d_name, &st, 0) == 0 && !S_ISREG(st.st_mode))
			continue;
		r = name_list_add(list, de->d_name);
		if (r < 0)
			return r;
	}
}

void license_set_free(struct license_set *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_entries; i++) {
		free(s->entries[i].file);
		license_free(s->entries[i].license);
	}
	free(s->entries);
	free(s);
}

static void license_set_freep(struct license_set **s)
{
	license_set_free(*s);
}

static const struct license_entry *find_id(const struct license_set *s, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (s->entries[i].license && strcmp(s->entries[i].license->id, id) == 0)
			return &s->entries[i];
	return NULL;
}

int license_set_load(const char *dir, struct license_set **ret)
{
	_cleanup_(closedirp) DIR *d = NULL;
	_cleanup_(name_list_done) struct name_list list = {};
	_cleanup_(license_set_freep) struct license_set *s = NULL;
	const char *sep;
	int r;

	d = opendir(dir);
	if (!d)
		return -errno;
	r = list_licence_files(d, &list);
	if (r < 0)
		return r;
	/* strcmp, not the locale's collation: the order must not change with $LANG. */
	if (list.n > 1)
		qsort(list.names, list.n, sizeof(char *), strcmp_ptr);

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	if (list.n > 0) {
		s->entries = calloc(list.n, sizeof(*s->entries));
		if (!s->entries)
			return -ENOMEM;
	}

	sep = has_suffix(dir, "/") || !*dir ? "" : "/";
	for (size_t i = 0; i < list.n; i++) {
		struct license_entry *e = &s->entries[i];
		struct id_position id_pos = {};
		const struct license_entry *other;
		struct license *l = NULL;

		if (asprintf(&e->file, "%s%s%s", dir, sep, list.names[i]) < 0) {
			e->file = NULL;
			return -ENOMEM;
		}
		s->n_entries = i + 1;

		r = parse_file(e->file, &l, &e->error, &id_pos);
		if (r == -ENOMEM)
			return r;
		if (r < 0)
			continue;

		/* The first file in name order keeps the id, so the outcome is deterministic. */
		other = find_id(s, i, l->id);
		if (other) {
			error_at(&e->error, id_pos.line, id_pos.column, "license.id",
				 "duplicate licence id \"%s\", already defined in %s", l->id,
				 other->file);
			license_free(l);
			continue;
		}
		e->license = l;
	}

	*ret = TAKE_PTR(s);
	return 0;
}

/* ---- questions the evaluator asks ---- */

bool license_valid_at(const struct license *l, int64_t now_sec)
{
	return l->valid_from <= now_sec && now_sec <= l->valid_until;
}

static bool strv_contains(char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

bool license_permits_user(const struct license *l, const char *user, const char *const *groups,
			  size_t n_groups)
{
	if (!l->principals_restricted)
		return true;
	if (user && strv_contains(l->users, l->n_users, user))
		return true;
	for (size_t i = 0; i < n_groups; i++)
		if (groups[i] && strv_contains(l->groups, l->n_groups, groups[i]))
			return true;
	return false;
}

const char *license_prohibits_executable(const struct license *l, const char *exe_path)
{
	if (!exe_path)
		return NULL;
	/* No FNM_PATHNAME: a leading "*" must cross "/" so a glob catches the tool wherever it
	 * was copied to. */
	for (size_t i = 0; i < l->n_prohibited_executables; i++)
		if (fnmatch(l->prohibited_executables[i], exe_path, 0) == 0)
			return l->prohibited_executables[i];
	return NULL;
}

void license_error_format(const struct license_error *e, char *buf, size_t size)
{
	char position[2 * 11 + 3] = "";

	if (!buf || size == 0)
		return;
	if (e->line)
		snprintf(position, sizeof(position), ":%u:%u", e->line, e->column);
	snprintf(buf, size, "%s%s%s%s%s%s", e->file, e->file[0] ? position : "",
		 e->file[0] ? ": " : "", e->field, e->field[0] ? ": " : "", e->message);
}
