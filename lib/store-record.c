// SPDX-License-Identifier: GPL-2.0-only
/* A record's canonical content, decoded: str(table) || be64(rowid) || be32(ncols) || values,
 * each value a type byte then be64 (integer, IEEE-754 bits), str() (text, blob) or nothing
 * (NULL), exactly as lib/ledger-chain.c hashes it. Read from the store, so from outside: every
 * length is checked (fuzzed by tests/fuzz/fuzz-store.c). And the running totals a checkpoint
 * signs, from the records of tables intervals, usage and gpu_usage. */
#include <errno.h>
#include <sqlite3.h>
#include <string.h>

#include "store.h"
#include "util.h"

struct reader {
	const uint8_t *p;
	size_t left;
};

static int get(struct reader *rd, void *out, size_t n)
{
	if (rd->left < n)
		return -EBADMSG;
	memcpy(out, rd->p, n);
	rd->p += n;
	rd->left -= n;
	return 0;
}

static int get_be64(struct reader *rd, uint64_t *v)
{
	uint8_t b[8];

	if (get(rd, b, sizeof(b)) < 0)
		return -EBADMSG;
	*v = 0;
	for (int i = 0; i < 8; i++)
		*v = *v << 8 | b[i];
	return 0;
}

static int get_be32(struct reader *rd, uint32_t *v)
{
	uint8_t b[4];

	if (get(rd, b, sizeof(b)) < 0)
		return -EBADMSG;
	*v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
	return 0;
}

static int get_str(struct reader *rd, const uint8_t **s, uint32_t *len)
{
	if (get_be32(rd, len) < 0 || rd->left < *len)
		return -EBADMSG;
	*s = rd->p;
	rd->p += *len;
	rd->left -= *len;
	return 0;
}

int store_record_decode(const uint8_t *body, size_t len, struct store_record *r)
{
	struct reader rd = { body, len };
	const uint8_t *name;
	uint32_t name_len;
	uint64_t u;

	memset(r, 0, sizeof(*r));
	if (!body || get_str(&rd, &name, &name_len) < 0 || name_len == 0 ||
	    name_len >= sizeof(r->table) || memchr(name, '\0', name_len))
		return -EBADMSG;
	memcpy(r->table, name, name_len);
	if (get_be64(&rd, &u) < 0)
		return -EBADMSG;
	r->rowid = (int64_t)u;
	if (get_be32(&rd, &r->ncols) < 0 || r->ncols > STORE_RECORD_MAX_COLS)
		return -EBADMSG;
	for (uint32_t i = 0; i < r->ncols; i++) {
		struct store_value *v = &r->v[i];

		if (get(&rd, &v->type, 1) < 0)
			return -EBADMSG;
		switch (v->type) {
		case SQLITE_INTEGER:
			if (get_be64(&rd, &u) < 0)
				return -EBADMSG;
			v->i = (int64_t)u;
			break;
		case SQLITE_FLOAT:
			if (get_be64(&rd, &u) < 0)
				return -EBADMSG;
			memcpy(&v->d, &u, sizeof(v->d));
			break;
		case SQLITE_TEXT:
		case SQLITE_BLOB:
			if (get_str(&rd, &v->s, &v->len) < 0)
				return -EBADMSG;
			break;
		case SQLITE_NULL:
			break;
		default:
			return -EBADMSG;
		}
	}
	return rd.left == 0 ? 0 : -EBADMSG;
}

int store_record_int(const struct store_record *r, uint32_t i, int64_t *ret)
{
	if (i >= r->ncols || r->v[i].type != SQLITE_INTEGER)
		return -EBADMSG;
	*ret = r->v[i].i;
	return 0;
}

/* What a record contributes to the totals: the hashed columns of ledger-chain.c's tables,
 * usage (rowid, interval_id, cgroup, cgroup_id, job, uid, user, cpu_ns) and gpu_usage (...,
 * user, gpu_ns, ...). */
static int contribution(const uint8_t *body, size_t len, struct store_totals *c)
{
	struct store_record r;
	int64_t v;

	*c = (struct store_totals){};
	if (store_record_decode(body, len, &r) < 0)
		return -EBADMSG;
	if (streq(r.table, "intervals")) {
		c->intervals = 1;
	} else if (streq(r.table, "usage")) {
		if (store_record_int(&r, 7, &v) < 0 || v < 0)
			return -EBADMSG;
		c->cpu_ns = (uint64_t)v;
	} else if (streq(r.table, "gpu_usage")) {
		if (store_record_int(&r, 7, &v) < 0 || v < 0)
			return -EBADMSG;
		c->gpu_ns = (uint64_t)v;
	}
	return 0;
}

int store_totals_add(struct store_totals *t, const uint8_t *body, size_t len)
{
	struct store_totals c;
	int r = contribution(body, len, &c);

	t->intervals += c.intervals;
	t->cpu_ns += c.cpu_ns;
	t->gpu_ns += c.gpu_ns;
	return r;
}

int store_totals_sub(struct store_totals *t, const uint8_t *body, size_t len)
{
	struct store_totals c;
	int r = contribution(body, len, &c);

	t->intervals -= c.intervals;
	t->cpu_ns -= c.cpu_ns;
	t->gpu_ns -= c.gpu_ns;
	return r;
}
