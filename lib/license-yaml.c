/* SPDX-License-Identifier: GPL-2.0-only */
/* Licence files as YAML: read one, build its node tree with positions, and errors at a place. */
#include "license-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "util.h"

/* A licence is a page of text; a bigger file is a mistake, and the cap bounds our memory. */
#define LICENSE_FILE_MAX_BYTES (1024 * 1024)
/* The schema is four levels deep; the cap keeps hostile nesting from exhausting the stack. */
#define LICENSE_NESTING_MAX 16

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

void lic_error_init(struct license_error *err, const char *path)
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

/* Records the error and returns -EINVAL, so content errors read "return lic_error_at(...)". */
int lic_error_at(struct license_error *err, unsigned line, unsigned column, const char *field,
		 const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	error_vset(err, line, column, field, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int lic_error_node(struct license_error *err, const struct ynode *n, const char *field,
		   const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	error_vset(err, n->line, n->column, field, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int lic_add_warning(struct license *l, const char *file, const struct ynode *n, const char *field,
		    const char *fmt, ...)
{
	struct license_error *w = reallocarray(l->warnings, l->n_warnings + 1, sizeof(*w));
	va_list ap;

	if (!w)
		return -ENOMEM;
	l->warnings = w;
	w = &w[l->n_warnings++];
	lic_error_init(w, file);
	va_start(ap, fmt);
	error_vset(w, n->line, n->column, field, fmt, ap);
	va_end(ap);
	return 0;
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

/* ---- a small tree of the document, built from libyaml events ----
 * Events rather than libyaml's document API because the loader there resolves aliases
 * silently and cannot tell us where a second document starts; a tree rather than checking
 * events on the fly because "missing key" and "until before from" need a whole mapping. */

void lic_ynode_free(struct ynode *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n_items; i++)
		lic_ynode_free(n->items[i]);
	free(n->items);
	free(n->value);
	free(n);
}

void lic_ynode_freep(struct ynode **n)
{
	lic_ynode_free(*n);
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
		lic_error_at(ld->err, 0, 0, "", "out of memory");
		return -ENOMEM;
	case YAML_READER_ERROR:
		offset_to_position(ld->buf, ld->size, p->problem_offset, &line, &column);
		return lic_error_at(ld->err, line, column, "", "invalid input: %s",
				    p->problem ?: "unreadable text");
	default:
		line = p->problem_mark.line + 1;
		column = p->problem_mark.column + 1;
		if (p->context)
			return lic_error_at(
				ld->err, line, column, "",
				"YAML syntax error: %s (%s that starts at line %zu, column %zu)",
				p->problem ?: "unexpected input", p->context,
				p->context_mark.line + 1, p->context_mark.column + 1);
		return lic_error_at(ld->err, line, column, "", "YAML syntax error: %s",
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
	_cleanup_(lic_ynode_freep) struct ynode *n = NULL;
	yaml_event_type_t end;
	int r;

	if (depth > LICENSE_NESTING_MAX)
		return lic_error_at(ld->err, ev->start_mark.line + 1, ev->start_mark.column + 1, "",
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
		return lic_error_at(ld->err, ev->start_mark.line + 1, ev->start_mark.column + 1, "",
				    "unexpected YAML event %d", ev->type);
	}
	if (!n)
		return -ENOMEM;

	for (;;) {
		_cleanup_(yaml_event_deletep) yaml_event_t child_ev = {};
		_cleanup_(lic_ynode_freep) struct ynode *child = NULL;

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
		return lic_error_at(ld->err, ev->start_mark.line + 1, ev->start_mark.column + 1, "",
				    "unexpected YAML event %d", ev->type);
	return 0;
}

/* Loads the one document of the file. Zero documents and more than one are both errors: a
 * licence split across documents would otherwise lose its second half without a word. */
static int load_document(struct loader *ld, struct ynode **ret)
{
	_cleanup_(yaml_event_deletep) yaml_event_t stream_start = {}, doc_start = {}, root_ev = {},
						   doc_end = {}, after = {};
	_cleanup_(lic_ynode_freep) struct ynode *root = NULL;
	int r;

	r = expect_event(ld, &stream_start, YAML_STREAM_START_EVENT);
	if (r < 0)
		return r;
	r = next_event(ld, &doc_start);
	if (r < 0)
		return r;
	if (doc_start.type == YAML_STREAM_END_EVENT)
		return lic_error_at(ld->err, 0, 0, "", "empty file: no YAML document");
	if (doc_start.type != YAML_DOCUMENT_START_EVENT)
		return lic_error_at(ld->err, doc_start.start_mark.line + 1,
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
		return lic_error_at(ld->err, after.start_mark.line + 1, after.start_mark.column + 1,
				    "",
				    "multiple documents are not supported: one licence per file");
	if (after.type != YAML_STREAM_END_EVENT)
		return lic_error_at(ld->err, after.start_mark.line + 1, after.start_mark.column + 1,
				    "", "unexpected YAML event %d", after.type);

	*ret = TAKE_PTR(root);
	return 0;
}

int lic_parse_yaml(const char *buf, size_t size, struct license_error *err, struct ynode **ret)
{
	struct loader ld = { .buf = buf, .size = size, .err = err };
	int r;

	if (!yaml_parser_initialize(&ld.parser)) {
		lic_error_at(err, 0, 0, "", "out of memory");
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&ld.parser, (const unsigned char *)buf, size);
	r = load_document(&ld, ret);
	yaml_parser_delete(&ld.parser);
	return r;
}

/* ---- reading the file ---- */

/* path relative to dir_fd (AT_FDCWD: as it is). */
int lic_read_file(int dir_fd, const char *path, struct license_error *err, char **ret,
		  size_t *ret_size)
{
	_cleanup_(closep) int fd = -1;
	_cleanup_(freep) char *buf = NULL;
	size_t size = 0, allocated = 0;
	struct stat before, after;
	int r;

	fd = openat(dir_fd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		lic_error_at(err, 0, 0, "", "cannot open: %s", strerror(-r));
		return r;
	}
	if (fstat(fd, &before) < 0) {
		r = -errno;
		lic_error_at(err, 0, 0, "", "cannot stat: %s", strerror(-r));
		return r;
	}

	/* Read to EOF rather than trusting st_size, so pipes and /proc-style files work too. */
	for (;;) {
		ssize_t n;

		if (size == allocated) {
			size_t want = allocated ? allocated * 2 : 4096;
			char *p;

			if (allocated > LICENSE_FILE_MAX_BYTES) {
				lic_error_at(err, 0, 0, "", "file is larger than %d bytes",
					     LICENSE_FILE_MAX_BYTES);
				return -EFBIG;
			}
			p = realloc(buf, want);
			if (!p) {
				lic_error_at(err, 0, 0, "", "out of memory");
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
			lic_error_at(err, 0, 0, "", "cannot read: %s", strerror(-r));
			return r;
		}
		if (n == 0)
			break;
		size += n;
	}
	if (size > LICENSE_FILE_MAX_BYTES) {
		lic_error_at(err, 0, 0, "", "file is larger than %d bytes", LICENSE_FILE_MAX_BYTES);
		return -EFBIG;
	}
	/* A regular file written to while read (rewritten in place) may be half old, half new:
	 * not a licence to act on. */
	if (S_ISREG(before.st_mode) && (fstat(fd, &after) < 0 || after.st_size != before.st_size ||
					after.st_mtim.tv_sec != before.st_mtim.tv_sec ||
					after.st_mtim.tv_nsec != before.st_mtim.tv_nsec)) {
		lic_error_at(err, 0, 0, "", "the file changed while it was read (being written?)");
		return -EAGAIN;
	}

	*ret = TAKE_PTR(buf);
	*ret_size = size;
	return 0;
}
