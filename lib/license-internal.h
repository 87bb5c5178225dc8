/* SPDX-License-Identifier: GPL-2.0-only */
/* For the licence code's own files (license*.c): the YAML node tree, errors at a node, the schema
 * checks, and what the parts call of each other. Not for the rest of hpcmeter. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "license.h"

/* ---- license-yaml.c ---- */

/* The document as a tree: positions are 1-based, as in the messages. */
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

void ynode_free(struct ynode *n);
void ynode_freep(struct ynode **n);

/* The whole file, path relative to dir_fd (AT_FDCWD: as it is); err says why not. */
int read_file(int dir_fd, const char *path, struct license_error *err, char **ret,
	      size_t *ret_size);
/* The one YAML document in buf as a tree. */
int parse_yaml(const char *buf, size_t size, struct license_error *err, struct ynode **ret);

void error_init(struct license_error *err, const char *path);
/* Fill err and return -EINVAL: "return error_at(...)", "return error_node(...)". */
int error_at(struct license_error *err, unsigned line, unsigned column, const char *field,
	     const char *fmt, ...) __attribute__((format(printf, 5, 6)));
int error_node(struct license_error *err, const struct ynode *n, const char *field, const char *fmt,
	       ...) __attribute__((format(printf, 4, 5)));
/* A finding that does not reject the licence, at n, appended to l->warnings. */
int add_warning(struct license *l, const char *file, const struct ynode *n, const char *field,
		const char *fmt, ...) __attribute__((format(printf, 5, 6)));
