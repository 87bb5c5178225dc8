/* SPDX-License-Identifier: GPL-2.0-only */
/* For the licence code's own files (license*.c): the YAML node tree, errors at a node, the schema
 * checks, and what the parts call of each other. Not for the rest of hpcmeter. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "license.h"

#define LICENSE_ID_MAX 128
/* Echoed values are cut so that a runaway scalar cannot crowd the message out. */
#define ECHO_MAX "64"

#define FIELD_SIZE sizeof(((struct license_error *)0)->field)

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

void lic_ynode_free(struct ynode *n);
void lic_ynode_freep(struct ynode **n);

/* The whole file, path relative to dir_fd (AT_FDCWD: as it is); err says why not. */
int lic_read_file(int dir_fd, const char *path, struct license_error *err, char **ret,
		  size_t *ret_size);
/* The one YAML document in buf as a tree. */
int lic_parse_yaml(const char *buf, size_t size, struct license_error *err, struct ynode **ret);

void lic_error_init(struct license_error *err, const char *path);
/* Fill err and return -EINVAL: "return lic_error_at(...)", "return lic_error_node(...)". */
int lic_error_at(struct license_error *err, unsigned line, unsigned column, const char *field,
		 const char *fmt, ...) __attribute__((format(printf, 5, 6)));
int lic_error_node(struct license_error *err, const struct ynode *n, const char *field,
		   const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* A finding that does not reject the licence, at n, appended to l->warnings. */
int lic_add_warning(struct license *l, const char *file, const struct ynode *n, const char *field,
		    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* ---- license-schema.c ---- */

struct key_spec {
	const char *name;
	bool required;
};

/* The dotted path of a key or an element ("license.caps[0].limit"), cut to FIELD_SIZE. */
void lic_field_join(char *buf, const char *parent, const char *key);
void lic_field_index(char *buf, const char *parent, size_t i);

int lic_expect_type(struct license_error *err, const struct ynode *n, const char *field,
		    enum ynode_type type);
int lic_check_mapping(struct license_error *err, const struct ynode *map, const char *field,
		      const struct key_spec *specs, size_t n_specs, const struct ynode **values);

/* Scalars: a non-empty string without NUL, then typed. */
int lic_get_string(struct license_error *err, const struct ynode *n, const char *field,
		   const char **ret);
int lic_get_bool(struct license_error *err, const struct ynode *n, const char *field, bool *ret);
int lic_get_number(struct license_error *err, const struct ynode *n, const char *field,
		   double *ret);
int lic_get_uint(struct license_error *err, const struct ynode *n, const char *field, unsigned min,
		 unsigned max, unsigned *ret);
int lic_get_enum(struct license_error *err, const struct ynode *n, const char *field,
		 const char *const *names, size_t n_names, const char *what, int *ret);
int lic_dup_string(struct license_error *err, const struct ynode *n, const char *field, char **ret);
int lic_parse_optional_string(struct license_error *err, const struct ynode *n, const char *field,
			      char **ret);
int lic_parse_date(struct license_error *err, const struct ynode *n, const char *field,
		   int64_t *ret);
int lic_parse_id(struct license_error *err, const struct ynode *n, const char *field, char **ret);

/* The format of one value, for lic_parse_string_list() and alone. */
typedef int (*item_check_t)(struct license_error *err, const struct ynode *n, const char *field,
			    const char *s);
int lic_check_name(struct license_error *err, const struct ynode *n, const char *field,
		   const char *s);
int lic_check_glob(struct license_error *err, const struct ynode *n, const char *field,
		   const char *s);
int lic_check_sha256(struct license_error *err, const struct ynode *n, const char *field,
		     const char *s);
int lic_check_country(struct license_error *err, const struct ynode *n, const char *field,
		      const char *s);
int lic_check_code(struct license_error *err, const struct ynode *n, const char *field,
		   const char *s);
int lic_check_machine_id(struct license_error *err, const struct ynode *n, const char *field,
			 const char *s);
int lic_check_gpu_uuid(struct license_error *err, const struct ynode *n, const char *field,
		       const char *s);
int lic_check_pci_bus_id(struct license_error *err, const struct ynode *n, const char *field,
			 const char *s);
int lic_check_hostname(struct license_error *err, const struct ynode *n, const char *field,
		       const char *s);
int lic_parse_string_list(struct license_error *err, const struct ynode *n, const char *field,
			  item_check_t check, char ***ret, size_t *n_ret);

/* ---- license-registry.c ---- */

void threshold_registry_freep(struct threshold_registry **r);
/* A cap's limit_ref: the limit from the registry entry it names (the registry loaded into
 * *registry on first use), with a warning in l when that entry is not in force. */
int lic_resolve_limit_ref(struct license_error *err, const struct ynode *n, const char *field,
			  const char *file, struct threshold_registry **registry, struct license *l,
			  struct license_cap *c);

/* ---- license-caps.c ---- */

int lic_parse_caps(struct license_error *err, const struct ynode *n, const char *field,
		   const char *file, struct license *l);

/* ---- license-parse.c ---- */

/* Where the id was written, so a duplicate id in a directory can point at it. */
struct id_position {
	unsigned line, column;
};

int lic_parse_license(struct license_error *err, const struct ynode *root, struct license *l,
		      struct id_position *id_pos);
