// SPDX-License-Identifier: GPL-2.0-only
/* CSV fields (see csv.h). */
#include <string.h>

#include "csv.h"
#include "util.h"

void csv_field(FILE *f, const char *s)
{
	_cleanup_free_ char *escaped = NULL;

	if (!utf8_valid(s)) {
		escaped = utf8_escape_invalid(s);
		s = escaped ?: "?";
	}
	if (!strpbrk(s, ",\"\n\r#")) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}
