// SPDX-License-Identifier: GPL-2.0-only
/* hpcmeterctl ledger verify | report ... | metrics: verbs that read the ledger itself (offline,
 * no daemon needed) or take options of their own. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include "config.h"
#include "ctl-ext.h"
#include "hpcmeter-bus.h"
#include "ledger-chain.h"
#include "ledger.h"
#include "sign.h"
#include "util.h"

#define EXIT_USAGE 2

bool ctl_ext_handles(const char *verb)
{
	return streq(verb, "ledger") || streq(verb, "report") || streq(verb, "metrics");
}

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
	printf("Usage: hpcmeterctl ledger verify [--state-dir DIR] [--json]\n"
	       "\n"
	       "Walk the ledger's hash chain from its first record to its last, recomputing each\n"
	       "record's SHA-256 from its content and the previous record's hash, and name the\n"
	       "first record that does not match (changed, deleted, or inserted outside the\n"
	       "chain). Reads the database directly (read-only); hpcmeterd may run meanwhile.\n"
	       "\n"
	       "  --state-dir DIR  the daemon's state directory (default %s)\n"
	       "  --json           print the result as one JSON object\n"
	       "\n"
	       "Exit status: 0 when the chain verifies, 1 when it is broken or cannot be read.\n",
	       CONFIG_DEFAULT_STATE_DIR);
}

static int ledger_verify(int argc, char **argv)
{
	static const struct option options[] = { { "state-dir", required_argument, NULL, 's' },
						 { "json", optional_argument, NULL, 'j' },
						 { "help", no_argument, NULL, 'h' },
						 {} };
	const char *state_dir = CONFIG_DEFAULT_STATE_DIR;
	char hex[2 * CHAIN_HASH_LEN + 1];
	struct chain_verify v;
	bool json = false;
	sqlite3 *db;
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
		switch (c) {
		case 's':
			state_dir = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			help_ledger();
			return 0;
		default:
			fprintf(stderr, "Try 'hpcmeterctl ledger --help'.\n");
			return EXIT_USAGE;
		}
	}
	if (optind >= argc || !streq(argv[optind], "verify") || optind + 1 != argc) {
		fprintf(stderr, "hpcmeterctl: ledger: expected 'verify'\n"
				"Try 'hpcmeterctl ledger --help'.\n");
		return EXIT_USAGE;
	}
	r = ctl_open_ledger(state_dir, &db);
	if (r < 0)
		return 1;
	/* One read transaction: the daemon may append meanwhile; we verify a snapshot. */
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	r = chain_verify(db, &v, verify_progress, NULL);
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	ctl_progress_end();
	sqlite3_close(db);
	if (r < 0) {
		log_error("cannot read the ledger in %s: %s", state_dir, strerror(-r));
		return 1;
	}
	chain_hex(v.head.hash, sizeof(v.head.hash), hex);
	if (json) {
		printf("{\"verified\":%s,\"records\":%llu,\"rolled_up\":%llu,\"head_seq\":%llu,"
		       "\"head_hash\":\"%s\"",
		       v.broken ? "false" : "true", (unsigned long long)v.entries,
		       (unsigned long long)v.rolled_up, (unsigned long long)v.head.seq, hex);
		if (v.broken)
			printf(",\"broken_seq\":%llu,\"broken_table\":\"%s\",\"broken_row\":%lld,"
			       "\"reason\":\"%s\"",
			       (unsigned long long)v.bad_seq, v.bad_table, (long long)v.bad_row,
			       v.reason);
		printf("}\n");
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
	return v.broken ? 1 : 0;
}

static int public_key(int argc, char **argv)
{
	static const struct option options[] = { { "state-dir", required_argument, NULL, 's' },
						 {} };
	const char *state_dir = CONFIG_DEFAULT_STATE_DIR;
	char path[4200], buf[4096];
	FILE *f;
	size_t n;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0) {
		if (c != 's') {
			fprintf(stderr, "Try 'hpcmeterctl report --help'.\n");
			return EXIT_USAGE;
		}
		state_dir = optarg;
	}
	snprintf(path, sizeof(path), "%s/%s", state_dir, SIGN_PUB_FILE);
	f = fopen(path, "re");
	if (!f) {
		log_error("cannot read the node's public report key %s: %s (hpcmeterd creates it "
			  "at its first start)",
			  path, strerror(errno));
		return 1;
	}
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, stdout);
	fclose(f);
	return 0;
}

static int metrics(int argc, char **argv)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	_cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	const char *text;
	int r;

	if (argc > 1 && (streq(argv[1], "--help") || streq(argv[1], "-h"))) {
		printf("Usage: hpcmeterctl metrics\n\n"
		       "Print hpcmeterd's metrics in the OpenMetrics text format: CPU seconds per "
		       "job\nand user, violations, gaps, probe drops, meter and ledger state, "
		       "licences.\n");
		return 0;
	}
	if (argc > 1) {
		fprintf(stderr, "hpcmeterctl: metrics: unexpected argument '%s'\n", argv[1]);
		return EXIT_USAGE;
	}
	r = sd_bus_open_system(&bus);
	if (r < 0) {
		log_error("cannot connect to the system bus: %s", strerror(-r));
		return 1;
	}
	r = sd_bus_call_method(bus, HPCMETER_BUS_NAME, HPCMETER_OBJECT_PATH,
			       hpcmeter_iface("GetMetrics"), "GetMetrics", &error, &reply, "");
	if (r < 0) {
		log_error("GetMetrics failed: %s", error.message ? error.message : strerror(-r));
		return 1;
	}
	r = sd_bus_message_read(reply, "s", &text);
	if (r < 0) {
		log_error("cannot parse the reply of GetMetrics: %s", strerror(-r));
		return 1;
	}
	fputs(text, stdout);
	return 0;
}

int ctl_ext_main(int argc, char **argv)
{
	if (streq(argv[0], "ledger"))
		return ledger_verify(argc, argv);
	if (streq(argv[0], "metrics"))
		return metrics(argc, argv);
	/* report verify FILE..., report public-key, report --license ... */
	if (argc > 1 && streq(argv[1], "verify"))
		return ctl_report_verify(argc - 1, argv + 1);
	if (argc > 1 && streq(argv[1], "public-key"))
		return public_key(argc - 1, argv + 1);
	return ctl_report(argc, argv);
}
