/* SPDX-License-Identifier: GPL-2.0-only */
/* The schema checks: keys of a mapping, typed scalars, value formats, each error at its node. */
#include "license-internal.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

void lic_field_join(char *buf, const char *parent, const char *key)
{
	/* A path cut short still names the place; the message and position carry the rest. */
	if (snprintf(buf, FIELD_SIZE, "%s%s%s", parent, *parent ? "." : "", key) >= (int)FIELD_SIZE)
		buf[FIELD_SIZE - 1] = '\0';
}

void lic_field_index(char *buf, const char *parent, size_t i)
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

int lic_expect_type(struct license_error *err, const struct ynode *n, const char *field,
		    enum ynode_type type)
{
	static const char *const names[] = {
		[YNODE_SCALAR] = "a string",
		[YNODE_SEQUENCE] = "a sequence",
		[YNODE_MAPPING] = "a mapping",
	};

	/* An alias would let one node stand in several places; we keep the format flat. */
	if (n->type == YNODE_ALIAS)
		return lic_error_node(err, n, field, "aliases are not supported");
	if (n->type != type || ynode_is_null(n))
		return lic_error_node(err, n, field, "expected %s, got %s", names[type],
				      ynode_kind(n));
	return 0;
}

int lic_get_string(struct license_error *err, const struct ynode *n, const char *field,
		   const char **ret)
{
	int r = lic_expect_type(err, n, field, YNODE_SCALAR);

	if (r < 0)
		return r;
	if (strlen(n->value) != n->length)
		return lic_error_node(err, n, field, "must not contain a NUL character");
	if (n->length == 0)
		return lic_error_node(err, n, field, "must not be empty");
	*ret = n->value;
	return 0;
}

/* Checks a mapping's keys against specs (unknown, duplicate, missing) and hands back each
 * known key's value node in values[], NULL where absent. Unknown keys are errors, never
 * ignored: a typo must not silently weaken a licence. */
int lic_check_mapping(struct license_error *err, const struct ynode *map, const char *field,
		      const struct key_spec *specs, size_t n_specs, const struct ynode **values)
{
	char key_field[FIELD_SIZE];
	int r;

	r = lic_expect_type(err, map, field, YNODE_MAPPING);
	if (r < 0)
		return r;
	for (size_t k = 0; k < n_specs; k++)
		values[k] = NULL;

	for (size_t i = 0; i + 1 < map->n_items; i += 2) {
		const struct ynode *key = map->items[i];
		size_t k;

		if (key->type == YNODE_ALIAS)
			return lic_error_node(err, key, field, "aliases are not supported");
		if (key->type != YNODE_SCALAR || strlen(key->value) != key->length)
			return lic_error_node(err, key, field, "expected a string key, got %s",
					      ynode_kind(key));

		lic_field_join(key_field, field, key->value);
		for (k = 0; k < n_specs; k++)
			if (strcmp(key->value, specs[k].name) == 0)
				break;
		if (k == n_specs) {
			char known[256] = "";
			size_t len = 0;

			for (size_t j = 0; j < n_specs && len < sizeof(known); j++)
				len += snprintf(known + len, sizeof(known) - len, "%s%s",
						j ? ", " : "", specs[j].name);
			return lic_error_node(err, key, key_field,
					      "unknown key \"%." ECHO_MAX
					      "s\" (expected one of: %s)",
					      key->value, known);
		}
		if (values[k]) {
			const struct ynode *first = NULL;

			for (size_t j = 0; j < i && !first; j += 2)
				if (strcmp(map->items[j]->value, key->value) == 0)
					first = map->items[j];
			return lic_error_node(err, key, key_field,
					      "duplicate key \"%s\" (first at line %u, column %u)",
					      specs[k].name, first ? first->line : 0,
					      first ? first->column : 0);
		}
		values[k] = map->items[i + 1];
	}

	for (size_t k = 0; k < n_specs; k++)
		if (specs[k].required && !values[k]) {
			lic_field_join(key_field, field, specs[k].name);
			return lic_error_node(err, map, key_field, "missing required key \"%s\"",
					      specs[k].name);
		}
	return 0;
}

int lic_check_name(struct license_error *err, const struct ynode *n, const char *field,
		   const char *s)
{
	/* Names are compared byte for byte with passwd/group entries; a space or control
	 * character can never match one and usually means a botched edit. */
	for (const unsigned char *c = (const unsigned char *)s; *c; c++)
		if (*c <= ' ' || *c == 0x7f)
			return lic_error_node(
				err, n, field,
				"invalid name \"%." ECHO_MAX
				"s\": whitespace and control characters are not allowed",
				s);
	return 0;
}

int lic_check_glob(struct license_error *err, const struct ynode *n, const char *field,
		   const char *s)
{
	/* The glob is matched against an absolute exe path; one that starts otherwise can
	 * never match and would leave the prohibition silently dead. */
	if (s[0] != '/' && s[0] != '*')
		return lic_error_node(err, n, field,
				      "invalid executable glob \"%." ECHO_MAX
				      "s\": must start with \"/\" or \"*\"",
				      s);
	return 0;
}

int lic_check_sha256(struct license_error *err, const struct ynode *n, const char *field,
		     const char *s)
{
	size_t len = strspn(s, "0123456789abcdefABCDEF");

	/* A digest that is not one could never match: the prohibition would be dead. */
	if (len != 64 || s[len])
		return lic_error_node(
			err, n, field,
			"invalid SHA-256 \"%." ECHO_MAX
			"s\": expected 64 hexadecimal digits (as sha256sum prints them)",
			s);
	return 0;
}

/* A sequence of strings, each passed through check; an absent key (n == NULL) is empty. */
int lic_parse_string_list(struct license_error *err, const struct ynode *n, const char *field,
			  item_check_t check, char ***ret, size_t *n_ret)
{
	char item_field[FIELD_SIZE];
	int r;

	if (!n)
		return 0;
	r = lic_expect_type(err, n, field, YNODE_SEQUENCE);
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

		lic_field_index(item_field, field, i);
		r = lic_get_string(err, n->items[i], item_field, &s);
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

int lic_parse_optional_string(struct license_error *err, const struct ynode *n, const char *field,
			      char **ret)
{
	const char *s;
	int r;

	if (!n)
		return 0;
	r = lic_get_string(err, n, field, &s);
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
int lic_parse_date(struct license_error *err, const struct ynode *n, const char *field,
		   int64_t *ret)
{
	static const char pattern[] = "dddd-dd-dd";
	struct tm tm = {};
	const char *s;
	int y, m, d, r;

	r = lic_get_string(err, n, field, &s);
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
	return lic_error_node(err, n, field,
			      "invalid date \"%." ECHO_MAX "s\", expected YYYY-MM-DD", s);
}

int lic_parse_id(struct license_error *err, const struct ynode *n, const char *field, char **ret)
{
	const char *s;
	int r;

	r = lic_get_string(err, n, field, &s);
	if (r < 0)
		return r;
	/* The id names the licence in the ledger, on D-Bus and in reports: keep it a token. */
	if (!license_id_valid(s))
		return lic_error_node(err, n, field,
				      "invalid id \"%." ECHO_MAX
				      "s\": expected 1 to %d characters of "
				      "A-Z a-z 0-9 . _ : -",
				      s, LICENSE_ID_MAX);
	*ret = strdup(s);
	return *ret ? 0 : -ENOMEM;
}

/* ---- typed scalars ---- */

int lic_get_bool(struct license_error *err, const struct ynode *n, const char *field, bool *ret)
{
	const char *s;
	int r = lic_get_string(err, n, field, &s);

	if (r < 0)
		return r;
	if (streq(s, "true")) {
		*ret = true;
		return 0;
	}
	if (streq(s, "false")) {
		*ret = false;
		return 0;
	}
	return lic_error_node(err, n, field, "expected true or false, got \"%." ECHO_MAX "s\"", s);
}

/* A finite decimal number (1e25, 2.5e8, 15832); no hex, no inf, no nan. */
int lic_get_number(struct license_error *err, const struct ynode *n, const char *field, double *ret)
{
	const char *s;
	char *end;
	double d;
	int r = lic_get_string(err, n, field, &s);

	if (r < 0)
		return r;
	if (strspn(s, "0123456789.eE+-") != strlen(s))
		goto invalid;
	errno = 0;
	d = strtod(s, &end);
	if (*end || end == s || errno == ERANGE || !isfinite(d))
		goto invalid;
	*ret = d;
	return 0;
invalid:
	return lic_error_node(err, n, field, "expected a number, got \"%." ECHO_MAX "s\"", s);
}

int lic_get_uint(struct license_error *err, const struct ynode *n, const char *field, unsigned min,
		 unsigned max, unsigned *ret)
{
	const char *s;
	unsigned long v;
	char *end;
	int r = lic_get_string(err, n, field, &s);

	if (r < 0)
		return r;
	if (strspn(s, "0123456789") != strlen(s) || strlen(s) > 9)
		return lic_error_node(err, n, field,
				      "expected a whole number, got \"%." ECHO_MAX "s\"", s);
	v = strtoul(s, &end, 10);
	if (v < min || v > max)
		return lic_error_node(err, n, field, "%lu is out of range (%u to %u)", v, min, max);
	*ret = (unsigned)v;
	return 0;
}

/* One of names[]; returns its index in *ret. */
int lic_get_enum(struct license_error *err, const struct ynode *n, const char *field,
		 const char *const *names, size_t n_names, const char *what, int *ret)
{
	char list[256] = "";
	size_t len = 0;
	const char *s;
	int r = lic_get_string(err, n, field, &s);

	if (r < 0)
		return r;
	for (size_t i = 0; i < n_names; i++)
		if (streq(s, names[i])) {
			*ret = (int)i;
			return 0;
		}
	for (size_t i = 0; i < n_names && len < sizeof(list); i++)
		len += snprintf(list + len, sizeof(list) - len, "%s%s", i ? ", " : "", names[i]);
	return lic_error_node(err, n, field, "unknown %s \"%." ECHO_MAX "s\", expected one of: %s",
			      what, s, list);
}

int lic_dup_string(struct license_error *err, const struct ynode *n, const char *field, char **ret)
{
	const char *s;
	int r = lic_get_string(err, n, field, &s);

	if (r < 0)
		return r;
	free(*ret);
	*ret = strdup(s);
	return *ret ? 0 : -ENOMEM;
}

int lic_check_country(struct license_error *err, const struct ynode *n, const char *field,
		      const char *s)
{
	if (strlen(s) != 2 || s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z')
		return lic_error_node(err, n, field,
				      "invalid country \"%." ECHO_MAX
				      "s\": expected an ISO 3166-1 alpha-2 code such as DE",
				      s);
	return 0;
}

int lic_check_code(struct license_error *err, const struct ynode *n, const char *field,
		   const char *s)
{
	/* End-use codes are matched against job declarations: keep them tokens. */
	size_t len = strlen(s);

	if (len > 64 ||
	    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-") != len)
		return lic_error_node(err, n, field,
				      "invalid end-use code \"%." ECHO_MAX
				      "s\": expected 1 to 64 characters of A-Z a-z 0-9 . _ : -",
				      s);
	return 0;
}

int lic_check_machine_id(struct license_error *err, const struct ynode *n, const char *field,
			 const char *s)
{
	if (strlen(s) != 32 || strspn(s, "0123456789abcdef") != 32)
		return lic_error_node(err, n, field,
				      "invalid machine id \"%." ECHO_MAX
				      "s\": expected 32 lower-case hex digits (machine-id(5))",
				      s);
	return 0;
}

int lic_check_gpu_uuid(struct license_error *err, const struct ynode *n, const char *field,
		       const char *s)
{
	/* "GPU-" or "MIG-" and a UUID, as nvidia-smi -L prints them; plain UUIDs for others. */
	const char *u = s;
	static const char pattern[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";

	if (strncmp(u, "GPU-", 4) == 0 || strncmp(u, "MIG-", 4) == 0)
		u += 4;
	if (strlen(u) != sizeof(pattern) - 1)
		goto invalid;
	for (size_t i = 0; pattern[i]; i++)
		if (pattern[i] == 'x' ? !isxdigit((unsigned char)u[i]) : u[i] != '-')
			goto invalid;
	return 0;
invalid:
	return lic_error_node(err, n, field,
			      "invalid GPU UUID \"%." ECHO_MAX
			      "s\": expected GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx",
			      s);
}

int lic_check_pci_bus_id(struct license_error *err, const struct ynode *n, const char *field,
			 const char *s)
{
	static const char pattern[] = "xxxx:xx:xx.d";

	if (strlen(s) != sizeof(pattern) - 1)
		goto invalid;
	for (size_t i = 0; pattern[i]; i++) {
		char c = s[i];

		if (pattern[i] == 'x' ? !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) :
		    pattern[i] == 'd' ? !(c >= '0' && c <= '7') :
					c != pattern[i])
			goto invalid;
	}
	return 0;
invalid:
	return lic_error_node(err, n, field,
			      "invalid PCI bus id \"%." ECHO_MAX
			      "s\": expected domain:bus:device.function in lower-case hex, "
			      "e.g. 0000:17:00.0",
			      s);
}

int lic_check_hostname(struct license_error *err, const struct ynode *n, const char *field,
		       const char *s)
{
	size_t len = strlen(s);

	if (len > 253 ||
	    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") != len ||
	    s[0] == '-' || s[0] == '.')
		return lic_error_node(err, n, field, "invalid host name \"%." ECHO_MAX "s\"", s);
	return 0;
}
