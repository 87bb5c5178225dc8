/* SPDX-License-Identifier: GPL-2.0-only */
/* libFuzzer target: report_parse(), what hpcmeterctl report verify runs on a file an auditor
 * hands it (a JSON or CSV report, with its signature detached or embedded), on arbitrary bytes.
 * The input is copied to a buffer of exactly its size (no terminating NUL to lean on). Checked:
 * a refusal is -EBADMSG with a message; an accepted report covers at most the input with its
 * signature, names a key and a previous report only as 64 hex digits (or not at all), and an
 * embedded signature lies on the last line. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "report-verify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool hex_or_empty(const char *s)
{
	size_t n = strlen(s);

	return n == 0 || (n == 64 && strspn(s, "0123456789abcdef") == 64);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *doc = malloc(size ? size : 1), err[REPORT_PARSE_ERROR_MAX] = "";
	struct report_parsed p;
	int r;

	if (!doc)
		abort();
	memcpy(doc, data, size);
	r = report_parse(doc, size, &p, err, sizeof(err));
	if (r < 0) {
		if (r != -EBADMSG || !err[0])
			abort();
	} else {
		if (p.signed_len > size || (p.fmt != FMT_JSON && p.fmt != FMT_CSV) ||
		    !hex_or_empty(p.key_id) || !hex_or_empty(p.previous_sha256))
			abort();
		/* embedded: the signature line starts right after the signed bytes and ends the
		 * report; detached: the whole file is signed */
		if (p.embedded ?
			    p.signed_len == 0 || doc[p.signed_len - 1] != '\n' || !p.key_id[0] :
			    p.signed_len != size)
			abort();
	}
	free(doc);
	return 0;
}
