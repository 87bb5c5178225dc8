/* SPDX-License-Identifier: GPL-2.0-only */
/* The usage report of a licence over a period, from the ledger (lib/report.c): built by
 * hpcmeterctl report and by hpcmeterd's GetReport, byte for byte the same generator. */
#pragma once

#include <openssl/evp.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "sign.h"

enum format { FMT_JSON, FMT_CSV, FMT_TABLE };

struct report_args {
	sqlite3 *db; /* the ledger, read in one transaction */
	const char *license_id;
	uint64_t from_usec, to_usec; /* [from, to) */
	enum format fmt;
	EVP_PKEY *key; /* the node's private key: JSON and CSV are signed; NULL for a table */
	/* Called as the ledger is read (a terminal's progress line); NULL: quiet. */
	void (*progress)(const char *what, uint64_t done, uint64_t total);
};

/* The report in *ret (malloc'ed, *ret_len bytes). JSON and CSV are signed: signature is the
 * Ed25519 signature of exactly those bytes (written beside the report as FILE.sig) and sha256
 * their hex SHA-256 (what RecordReport records and the next report names as
 * previous_report_sha256); a table is not signed (sha256 "", signature untouched). Errors are
 * logged; -ENOENT: the licence was never loaded on this node before to_usec. */
int report_render(const struct report_args *a, char **ret, size_t *ret_len, char sha256[65],
		  uint8_t signature[SIGN_LEN]);
