// SPDX-License-Identifier: GPL-2.0-only
/* hpcmeterctl ledger verify: walk the ledger's hash chain, read-only and offline (no daemon
 * needed); and opening the ledger and showing progress, which report does too. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <systemd/sd-bus.h>

#include "config.h"
#include "ctl-args.h"
#include "ctl-exit.h"
#include "ctl-help.h"
#include "ctl-ledger.h"
#include "ctl-verbs.h"
#include "json-doc.h"
#include "ledger-chain.h"
#include "ledger.h"
#include "util.h"

int ctl_open_ledger(const char *state_dir, sqlite3 **ret)
{
	char path[4200];
	sqlite3 *db = NULL;
	int rc;

	snprintf(path, sizeof(path), "%s/%s", state_dir, LEDGER_FILE);
	if (access(path, R_OK) < 0) {
		log_error("cannot read the ledger %s: %s", path, strerror(errno));
		return -errno;
	}
	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
	if (rc != SQLITE_OK) {
		log_error("cannot open the ledger %s: %s", path,
			  db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return -EIO;
	}
	sqlite3_busy_timeout(db, 10000);
	*ret = db;
	return 0;
}

bool ctl_progress_wanted(void)
{
	return isatty(STDERR_FILENO);
}

void ctl_progress(const char *what, uint64_t done, uint64_t total)
{
	if (!ctl_progress_wanted())
		return;
	if (total)
		fprintf(stderr, "\r%s: %3llu%% (%llu of %llu)", what,
			(unsigned long long)(done * 100 / total), (unsigned long long)done,
			(unsigned long long)total);
	else
		fprintf(stderr, "\r%s: %llu", what, (unsigned long long)done);
	fflush(stderr);
}

void ctl_progress_end(void)
{
	if (ctl_progress_wanted())
		fputs("\r\033[K", stderr);
}

static void verify_progress(uint64_t done, uint64_t total, void *userdata)
{
	ctl_progress("verifying the ledger chain", done, total);
}

static void help_ledger(void)
{
	printf("Usage: hpcmeterctl ledger verify [--state-dir DIR] [--json | -o json]\n"
	       "\n"
	       "Walk the ledger's hash chain from its first record to its last, recomputing each\n"
	       "record's SHA-256 from its content and the previous record's hash, and name the\n"
	       "first record that does not match (changed, deleted, or inserted outside the\n"
	       "chain). Reads the database directly (read-only); hpcmeterd may run meanwhile.\n"
	       "\n"
	       "  --state-dir DIR  the daemon's state directory (default %s)\n"
	       "  --json[=MODE]    print the result as one JSON object: short (one line) or\n"
	       "                   pretty; without MODE, pretty on a terminal\n"
	       "  -o, --output json  the same as --json (table: the line of text)\n"
	       "\n"
	       "Example:\n"
	       "  hpcmeterctl ledger verify --json | jq .verified\n",
	       CONFIG_DEFAULT_STATE_DIR);
	ctl_help_exit_status(stdout);
	printf("  (ledger verify: 1 also when the chain is broken.)\n");
}

/* The verdict as one object; pretty is one member per line. */
static int print_verify_json(const struct chain_verify *v, const char *head_hash,
			     enum json_mode json)
{
	_cleanup_json_ struct json_object *o = json_object_new_object();
	int r = o ? 0 : -ENOMEM;

	if (r >= 0)
		r = json_add_bool(o, "verified", !v->broken);
	if (r >= 0)
		r = json_add_uint(o, "records", v->entries);
	if (r >= 0)
		r = json_add_uint(o, "rolled_up", v->rolled_up);
	if (r >= 0)
		r = json_add_uint(o, "head_seq", v->head.seq);
	if (r >= 0)
		r = json_add_string(o, "head_hash", head_hash);
	if (r >= 0 && v->broken) {
		r = json_add_uint(o, "broken_seq", v->bad_seq);
		if (r >= 0)
			r = json_add_string(o, "broken_table", v->bad_table);
		if (r >= 0)
			r = json_add_int(o, "broken_row", v->bad_row);
		if (r >= 0)
			r = json_add_string(o, "reason", v->reason);
	}
	if (r < 0) {
		log_error("out of memory");
		return r;
	}
	return json_dump_rows(stdout, o, json);
}

int verb_ledger(sd_bus *bus, int argc, char **argv)
{
	static const struct option options[] = { { "state-dir", required_argument, NULL, 's' },
						 { "json", optional_argument, NULL, 'j' },
						 { "output", required_argument, NULL, 'o' },
						 { "help", no_argument, NULL, 'h' },
						 {} };
	const char *state_dir = CONFIG_DEFAULT_STATE_DIR;
	char hex[2 * CHAIN_HASH_LEN + 1];
	struct chain_verify v;
	enum json_mode json = JSON_OFF;
	sqlite3 *db;
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "ho:", options, NULL)) >= 0) {
		switch (c) {
		case 's':
			state_dir = optarg;
			break;
		case 'o':
			/* -o json is --json, as everywhere */
			if (parse_output_no_table("ledger verify", optarg, &json) < 0)
				return ctl_fail(CTL_EXIT_USAGE, -EINVAL);
			break;
		case 'j':
			if (json_mode_from_arg(optarg, STDOUT_FILENO, &json) < 0) {
				fprintf(stderr,
					"hpcmeterctl: unknown JSON mode '%s' (expected short, "
					"pretty or off)\nTry 'hpcmeterctl ledger --help'.\n",
					optarg);
				return ctl_fail(CTL_EXIT_USAGE, -EINVAL);
			}
			break;
		case 'h':
			help_ledger();
			return 0;
		default:
			fprintf(stderr, "Try 'hpcmeterctl ledger --help'.\n");
			return ctl_fail(CTL_EXIT_USAGE, -EINVAL);
		}
	}
	if (optind >= argc || !streq(argv[optind], "verify") || optind + 1 != argc) {
		fprintf(stderr, "hpcmeterctl: ledger: expected 'verify'\n"
				"Try 'hpcmeterctl ledger --help'.\n");
		return ctl_fail(CTL_EXIT_USAGE, -EINVAL);
	}
	r = ctl_open_ledger(state_dir, &db);
	if (r < 0)
		return ctl_fail(CTL_EXIT_FAILURE, r);
	/* One read transaction: the daemon may append meanwhile; we verify a snapshot. */
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	r = chain_verify(db, &v, verify_progress, NULL);
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	ctl_progress_end();
	sqlite3_close(db);
	if (r < 0) {
		log_error("cannot read the ledger in %s: %s", state_dir, strerror(-r));
		return ctl_fail(CTL_EXIT_FAILURE, r);
	}
	chain_hex(v.head.hash, sizeof(v.head.hash), hex);
	if (json) {
		r = print_verify_json(&v, hex, json);
		if (r < 0)
			return ctl_fail(CTL_EXIT_FAILURE, r);
	} else if (v.broken) {
		printf("ledger chain BROKEN at record %llu (%s row %lld): %s\n"
		       "%llu records before it verify.\n",
		       (unsigned long long)v.bad_seq, v.bad_table, (long long)v.bad_row, v.reason,
		       (unsigned long long)v.entries);
	} else {
		printf("ledger chain verifies: %llu records (%llu rolled up into daily totals)\n"
		       "head: record %llu, SHA-256 %s\n",
		       (unsigned long long)v.entries, (unsigned long long)v.rolled_up,
		       (unsigned long long)v.head.seq, hex);
	}
	/* a broken chain is the answer, said on standard output; the exit status says it too */
	return v.broken ? ctl_fail(CTL_EXIT_FAILURE, -EBADMSG) : 0;
}
