/* SPDX-License-Identifier: GPL-2.0-only */
/* CSV (RFC 4180) fields, one writer for the signed reports and hpcmeterctl's -o csv. */
#pragma once

#include <stdio.h>

/* s as one CSV field: as it is, or quoted ("...", inner quotes doubled) when it holds a comma,
 * a quote, a line break or a '#' (a line starting with '#' would read as a report's signature
 * line). Bytes that are not UTF-8 become the text \xNN, as in JSON, so the file is valid
 * UTF-8 throughout. */
void csv_field(FILE *f, const char *s);
