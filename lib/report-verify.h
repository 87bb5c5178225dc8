/* SPDX-License-Identifier: GPL-2.0-only */
/* Reading a signed report that someone hands us (hpcmeterctl report verify): which bytes its
 * signature covers, the signature itself when the report embeds it (the form issued before
 * signatures were detached), the key it names and the report it follows. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "report.h"
#include "sign.h"

#define REPORT_PARSE_ERROR_MAX 200

struct report_parsed {
	enum format fmt; /* FMT_JSON or FMT_CSV */
	/* Bytes from the start the signature covers: the whole file for a detached signature,
	 * everything before the signature line for an embedded one. */
	size_t signed_len;
	bool embedded; /* the signature is in the report (signature below) */
	uint8_t signature[SIGN_LEN];
	char key_id[65]; /* the key the report says signed it; "" when it does not say */
	char previous_sha256[65]; /* the report before it; "" for the first */
};

/* Read doc[0, len): a JSON report (one strict JSON document with "hpcmeter_report": 1; an
 * embedded signature must be its last member, alone on the last line) or a CSV report (first
 * line "#hpcmeter_report,1"; an embedded signature is the last line,
 * "#signature,ed25519,KEY_ID,BASE64"). -EBADMSG with what is wrong in err otherwise. Nothing
 * is verified here: the caller checks the signature over doc[0, signed_len). */
int report_parse(const char *doc, size_t len, struct report_parsed *ret, char *err,
		 size_t err_size);
