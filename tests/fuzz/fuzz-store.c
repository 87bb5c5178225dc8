/* SPDX-License-Identifier: GPL-2.0-only */
/* libFuzzer target: what comes back from the cluster's store (lib/store-record.c,
 * lib/store.c). A record's canonical content as the store hands it to cluster verify and the
 * evaluator (store_record_decode, the running totals), and the replies a node reads (the
 * version, the hello, a batch's, a checkpoint's, a refusal's), built as real PGresults with
 * libpq's own PQmakeEmptyPGresult/PQsetvalue from the input.
 *
 * Input: one byte choosing the target; for a record, the rest is the body; for a reply, one
 * byte of rows (0..3), then cells, each a byte of length (255: NULL) and that many bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static PGresult *make_result(const uint8_t **p, size_t *left, int cols, int format)
{
	PGresAttDesc att[4] = {};
	PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
	int rows;

	if (!res || *left < 1)
		goto fail;
	for (int c = 0; c < cols; c++) {
		att[c].name = (char *)"c";
		att[c].format = format;
		att[c].typlen = -1;
	}
	if (!PQsetResultAttrs(res, cols, att))
		goto fail;
	rows = **p % 4;
	(*p)++;
	(*left)--;
	for (int r = 0; r < rows; r++)
		for (int c = 0; c < cols; c++) {
			uint8_t len;

			if (*left < 1)
				return res;
			len = **p;
			(*p)++;
			(*left)--;
			if (len == 255) {
				PQsetvalue(res, r, c, NULL, -1); /* NULL */
				continue;
			}
			if (len > *left)
				len = *left;
			/* libpq copies the value (and adds the terminating NUL of text cells). */
			if (!PQsetvalue(res, r, c, (char *)*p, len))
				goto fail;
			*p += len;
			*left -= len;
		}
	return res;
fail:
	PQclear(res);
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data + 1;
	size_t left = size ? size - 1 : 0;
	struct store_record rec;
	struct store_totals t = {};
	struct store_hello h;
	struct store_batch b;
	char reason[64];
	uint64_t a, s;
	int v;
	PGresult *res;

	if (size < 1)
		return 0;
	switch (data[0] % 7) {
	case 0: {
		/* exactly the body's bytes, so that a read past them is seen */
		uint8_t *body = malloc(left ? left : 1);

		if (!body)
			return 0;
		memcpy(body, p, left);
		if (store_record_decode(body, left, &rec) == 0) {
			int64_t x;

			for (uint32_t i = 0; i < rec.ncols; i++)
				if (rec.v[i].len)
					(void)rec.v[i].s[rec.v[i].len - 1];
			(void)store_record_int(&rec, 7, &x);
		}
		store_totals_add(&t, body, left);
		free(body);
		return 0;
	}
	case 1:
		res = make_result(&p, &left, 1, 0);
		if (res)
			store_version_reply(res, &v);
		break;
	case 2:
		res = make_result(&p, &left, 3, 0);
		if (res)
			store_hello_reply(res, &h);
		break;
	case 3:
		store_batch_init(&b, "n1");
		res = make_result(&p, &left, 2, 0);
		if (res)
			store_batch_reply(res, &b, &a, &s);
		store_batch_free(&b);
		break;
	case 4:
		res = make_result(&p, &left, 1, 0);
		if (res)
			store_checkpoint_reply(res);
		break;
	case 5:
		res = make_result(&p, &left, 1, 0);
		if (res)
			store_refusal_reply(res, reason, sizeof(reason));
		break;
	default: {
		const uint8_t *bytes;
		size_t len;

		/* the binary cells cluster verify reads */
		res = make_result(&p, &left, 2, 1);
		if (res) {
			store_bin_u64(res, 0, 0, INT64_MAX, &a);
			store_bin_bytes(res, 0, 1, 32, &bytes, &len);
			store_bin_bytes(res, 1, 1, 0, &bytes, &len);
		}
		break;
	}
	}
	PQclear(res);
	return 0;
}
