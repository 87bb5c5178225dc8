// SPDX-License-Identifier: GPL-2.0-only
/* hpcmeterctl ledger verify | report ... | metrics: verbs that read the ledger itself (offline,
 * no daemon needed) or take options of their own. */
#include <errno.h>
#include <math.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include "config.h"
#include "ctl-exit.h"
#include "ctl-help.h"
#include "ctl-ext.h"
#include "hpcmeter-bus.h"
#include "json-doc.h"
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
	       "  --json[=MODE]    print the result as one JSON object: short (one line) or\n"
	       "                   pretty; without MODE, pretty on a terminal\n"
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

static int ledger_verify(int argc, char **argv)
{
	static const struct option options[] = { { "state-dir", required_argument, NULL, 's' },
						 { "json", optional_argument, NULL, 'j' },
						 { "help", no_argument, NULL, 'h' },
						 {} };
	const char *state_dir = CONFIG_DEFAULT_STATE_DIR;
	char hex[2 * CHAIN_HASH_LEN + 1];
	struct chain_verify v;
	enum json_mode json = JSON_OFF;
	sqlite3 *db;
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
		switch (c) {
		case 's':
			state_dir = optarg;
			break;
		case 'j':
			if (json_mode_from_arg(optarg, STDOUT_FILENO, &json) < 0) {
				fprintf(stderr,
					"hpcmeterctl: unknown JSON mode '%s' (expected short, "
					"pretty or off)\nTry 'hpcmeterctl ledger --help'.\n",
					optarg);
				return EXIT_USAGE;
			}
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
		r = print_verify_json(&v, hex, json);
		if (r < 0)
			return 1;
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

/* One OpenMetrics sample line, NAME[{L="V",...}] VALUE [TIMESTAMP], appended to samples as
 * {"name":..,"labels":{..},"value":..}. Label values are unescaped (\" \\ \n) into the JSON
 * string. Returns -EBADMSG for a line it cannot read. */
static int metrics_sample_json(struct json_object *samples, const char *line)
{
	_cleanup_free_ char *name = NULL;
	struct json_object *o = NULL, *labels = NULL;
	const char *p = line, *v;
	char *end;
	double value;
	int r;

	while (*p && *p != '{' && *p != ' ')
		p++;
	if (p == line)
		return -EBADMSG;
	name = strndup(line, (size_t)(p - line));
	o = json_object_new_object();
	r = json_append(samples, o);
	if (r >= 0)
		r = json_add(o, "name", name ? json_new_string(name) : NULL);
	if (r >= 0)
		r = json_add(o, "labels", labels = json_object_new_object());
	if (r < 0)
		return r;
	if (*p == '{') {
		p++;
		while (*p && *p != '}') {
			_cleanup_free_ char *key = NULL, *val = NULL;
			const char *k = p;
			size_t n = 0;

			while (*p && *p != '=')
				p++;
			if (*p != '=' || p[1] != '"')
				return -EBADMSG;
			key = strndup(k, (size_t)(p - k));
			val = malloc(strlen(p) + 1); /* unescaping only shortens */
			if (!key || !val)
				return -ENOMEM;
			for (p += 2; *p && *p != '"'; p++) {
				if (*p == '\\' && p[1]) {
					p++;
					val[n++] = *p == 'n' ? '\n' : *p;
				} else
					val[n++] = *p;
			}
			if (*p != '"')
				return -EBADMSG;
			val[n] = '\0';
			r = json_add_string(labels, key, val);
			if (r < 0)
				return r;
			p++;
			if (*p == ',')
				p++;
		}
		if (*p != '}')
			return -EBADMSG;
		p++;
	}
	while (*p == ' ')
		p++;
	v = p;
	value = strtod(v, &end);
	if (end == v)
		return -EBADMSG;
	return json_add_double(o, "value", value); /* NaN and infinities: null */
}

static int public_key(int argc, char **argv)
{
	static const struct option options[] = { { "state-dir", required_argument, NULL, 's' },
						 { "help", no_argument, NULL, 'h' },
						 { "json", optional_argument, NULL, 'j' },
						 {} };
	const char *state_dir = CONFIG_DEFAULT_STATE_DIR;
	char path[4200], err[512], key_id[65];
	_cleanup_free_ char *pem = NULL;
	_cleanup_json_ struct json_object *o = NULL;
	size_t len = 0;
	EVP_PKEY *key = NULL;
	enum json_mode json = JSON_OFF;
	FILE *f;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
		switch (c) {
		case 'h':
			printf("Usage: hpcmeterctl report public-key [--state-dir DIR] [--json[=MODE]]\n\n"
			       "Print the node's public report key (PEM), to give to an auditor with\n"
			       "the reports (see 'hpcmeterctl report --help'). With --json, an object\n"
			       "{\"key_id\": SHA-256 of the key as reports name it, \"pem\": the key}.\n");
			ctl_help_exit_status(stdout);
			return 0;
		case 's':
			state_dir = optarg;
			break;
		case 'j':
			/* an unknown MODE is short, as before */
			if (json_mode_from_arg(optarg, STDOUT_FILENO, &json) < 0)
				json = JSON_SHORT;
			break;
		default:
			fprintf(stderr, "Try 'hpcmeterctl report --help'.\n");
			return EXIT_USAGE;
		}
	}
	snprintf(path, sizeof(path), "%s/%s", state_dir, SIGN_PUB_FILE);
	f = fopen(path, "re");
	if (!f) {
		log_error("cannot read the node's public report key %s: %s (hpcmeterd creates it "
			  "at its first start)",
			  path, strerror(errno));
		return 1;
	}
	{
		FILE *m = open_memstream(&pem, &len);
		char buf[4096];
		size_t n;

		if (!m) {
			fclose(f);
			return 1;
		}
		while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
			fwrite(buf, 1, n, m);
		fclose(f);
		if (fclose(m) != 0)
			return 1;
	}
	if (!json) {
		fwrite(pem, 1, len, stdout);
		return 0;
	}
	if (sign_load_public(path, &key, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return 1;
	}
	sign_key_id(key, key_id);
	EVP_PKEY_free(key);
	o = json_object_new_object();
	if (!o || json_add_string(o, "key_id", key_id) < 0 || json_add_string(o, "pem", pem) < 0) {
		log_error("out of memory");
		return 1;
	}
	return json_dump_rows(stdout, o, json) < 0 ? 1 : 0;
}

static void help_metrics(void)
{
	printf("Usage: hpcmeterctl metrics [--json[=MODE]] [--address=ADDRESS]\n\n"
	       "Print hpcmeterd's metrics in the OpenMetrics text format (GetMetrics): CPU seconds\n"
	       "per job and user, violations, gaps, probe drops, meter and ledger state,\n"
	       "licences. With --json, an array of samples {\"name\", \"labels\": {...}, \"value\"}\n"
	       "(short: one line; pretty: one sample per line; without MODE, pretty on a\n"
	       "terminal). --address=ADDRESS: the bus at ADDRESS, not the system bus.\n\n"
	       "Example:\n"
	       "  hpcmeterctl metrics --json | jq '.[] | select(.name == \"hpcmeter_violations_total\")'\n");
	ctl_help_exit_status(stdout);
}

static int metrics(int argc, char **argv)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	_cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	_cleanup_json_ struct json_object *samples = NULL;
	enum json_mode json = JSON_OFF;
	const char *text, *address = NULL;
	int r;

	for (int i = 1; i < argc; i++) {
		if (streq(argv[i], "--help") || streq(argv[i], "-h")) {
			help_metrics();
			return 0;
		}
		if (streq(argv[i], "--json") || strncmp(argv[i], "--json=", 7) == 0) {
			if (json_mode_from_arg(argv[i][6] ? argv[i] + 7 : NULL, STDOUT_FILENO,
					       &json) == 0)
				continue;
		}
		if (strncmp(argv[i], "--address=", 10) == 0 && argv[i][10]) {
			address = argv[i] + 10;
			continue;
		}
		fprintf(stderr,
			"hpcmeterctl: metrics: unexpected argument '%s'\n"
			"Try 'hpcmeterctl metrics --help'.\n",
			argv[i]);
		return EXIT_USAGE;
	}
	if (address) {
		r = sd_bus_new(&bus);
		if (r >= 0)
			r = sd_bus_set_address(bus, address);
		if (r >= 0)
			r = sd_bus_set_bus_client(bus, 1);
		if (r >= 0)
			r = sd_bus_start(bus);
	} else
		r = sd_bus_open_system(&bus);
	if (r < 0) {
		log_error("cannot connect to the %s: %s", address ? "bus" : "system bus",
			  strerror(-r));
		return ctl_exit_from_connect_error(r);
	}
	r = sd_bus_call_method(bus, HPCMETER_BUS_NAME, HPCMETER_OBJECT_PATH,
			       hpcmeter_iface("GetMetrics"), "GetMetrics", &error, &reply, "");
	if (r < 0) {
		if (ctl_bus_error_not_running(&error))
			log_error("cannot reach hpcmeterd (" HPCMETER_BUS_NAME
				  ") on the system bus: %s",
				  error.message ? error.message : strerror(-r));
		else
			log_error("GetMetrics failed: %s",
				  error.message ? error.message : strerror(-r));
		return ctl_exit_from_bus_error(&error, r);
	}
	r = sd_bus_message_read(reply, "s", &text);
	if (r < 0) {
		log_error("cannot parse the reply of GetMetrics: %s", strerror(-r));
		return 1;
	}
	if (!json) {
		fputs(text, stdout);
		return 0;
	}
	samples = json_object_new_array();
	if (!samples) {
		log_error("out of memory");
		return 1;
	}
	for (const char *line = text; *line;) {
		const char *eol = strchrnul(line, '\n');
		_cleanup_(freep) char *l = strndup(line, (size_t)(eol - line));

		if (!l)
			return 1;
		if (*l && *l != '#') {
			r = metrics_sample_json(samples, l);
			if (r == -ENOMEM) {
				log_error("out of memory");
				return 1;
			}
			if (r < 0) {
				log_error("cannot read the metrics line '%s'", l);
				return 1;
			}
		}
		line = *eol ? eol + 1 : eol;
	}
	return json_dump_rows(stdout, samples, json) < 0 ? 1 : 0;
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
