// SPDX-License-Identifier: GPL-2.0-only
/* hpcmeterctl report: a licence's usage over a period, from the ledger, signed with the node's
 * Ed25519 key (the generator is lib/report.c, shared with hpcmeterd's GetReport); and report
 * verify, which needs only the public key.
 *
 * Signed bytes: a JSON report is written with its members one per line and ends with the line
 * "signature":{...}}; a CSV report ends with the line #signature,ed25519,KEY_ID,BASE64. The
 * signature covers every byte before that last line. */
#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "ctl-exit.h"
#include "ctl-help.h"
#include "ctl-ext.h"
#include "hpcmeter-bus.h"
#include "json-doc.h"
#include "ledger-chain.h"
#include "ledger.h"
#include "report.h"
#include "sign.h"
#include "util.h"

#define EXIT_USAGE 2
#define DAY_USEC (86400 * USEC_PER_SEC)

/* YYYY-MM-DD (UTC midnight; as --to, the end of that day), YYYY-MM-DDTHH:MM:SSZ or @USEC. */
static int parse_date(const char *s, bool end, uint64_t *ret)
{
	struct tm tm = { 0 };
	const char *rest;
	unsigned long long u;
	time_t t;
	char *e;

	if (s[0] == '@') {
		errno = 0;
		u = strtoull(s + 1, &e, 10);
		if (errno || *e || e == s + 1)
			return -EINVAL;
		*ret = u;
		return 0;
	}
	rest = strptime(s, "%Y-%m-%d", &tm);
	if (!rest)
		return -EINVAL;
	if (*rest) {
		rest = strptime(rest, "T%H:%M:%SZ", &tm);
		if (!rest || *rest)
			return -EINVAL;
		end = false;
	}
	t = timegm(&tm);
	if (t < 0)
		return -EINVAL;
	*ret = (uint64_t)t * USEC_PER_SEC + (end ? DAY_USEC : 0);
	return 0;
}

static void help_report(void)
{
	printf("Usage: hpcmeterctl report --license ID --from DATE --to DATE\n"
	       "                          [--format json|csv|table] [--output FILE] [--state-dir DIR]\n"
	       "       hpcmeterctl report verify [--key PUBLIC.pem | --state-dir DIR] FILE...\n"
	       "       hpcmeterctl report public-key [--state-dir DIR] [--json[=MODE]]\n"
	       "\n"
	       "report: the usage of this node from the ledger over [from, to): per job, user,\n"
	       "account and in total, every metric, every violation of the licence and every\n"
	       "metering gap with its worst-case bound, the licence files' SHA-256, meter\n"
	       "states and versions, node identity, inventory snapshots and the ledger's chain\n"
	       "head. JSON and CSV are signed with the node's Ed25519 key (root: it is 0600 in\n"
	       "the state directory) and recorded in the ledger through hpcmeterd. Shows\n"
	       "progress on a terminal.\n"
	       "DATE: YYYY-MM-DD (UTC; --to includes that day), YYYY-MM-DDTHH:MM:SSZ, or @USEC.\n"
	       "\n"
	       "report verify: check each FILE's signature with the public key alone (offline),\n"
	       "and, given several in the order they were issued, that each names the one\n"
	       "before it. Exit 1 when any check fails.\n"
	       "\n"
	       "report public-key: print the node's public key (PEM) to give to an auditor.\n"
	       "\n"
	       "Options:\n"
	       "  --license ID       the licence reported on (it must have been loaded on this\n"
	       "                     node before --to; exit 5 otherwise)\n"
	       "  --from DATE        start of the period (inclusive)\n"
	       "  --to DATE          end of the period (a plain date includes that whole day)\n"
	       "  --format FORMAT    json (the default; signed), csv (signed) or table (not\n"
	       "                     signed, for reading)\n"
	       "  --json             the same as --format json; for report verify, one object\n"
	       "                     per file {file, valid, sha256, message} in an array\n"
	       "  --output FILE      write FILE atomically (default: standard output)\n"
	       "  --key PUBLIC.pem   report verify: the public key (default: the node's)\n"
	       "  --state-dir DIR    the daemon's state directory (default %s)\n"
	       "\n"
	       "Example:\n"
	       "  hpcmeterctl report --license DE-BAFA-2026-1 --from 2026-01-01 --to 2026-03-31 \\\n"
	       "      --output q1.json && hpcmeterctl report verify q1.json\n",
	       CONFIG_DEFAULT_STATE_DIR);
	ctl_help_exit_status(stdout);
}

static void record_report(const struct report_args *r, const char *fmt, const char *sha)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	_cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	int rc = sd_bus_open_system(&bus);

	if (rc >= 0)
		rc = sd_bus_call_method(bus, HPCMETER_BUS_NAME, HPCMETER_OBJECT_PATH,
					hpcmeter_iface("RecordReport"), "RecordReport", &error,
					&reply, "sttss", r->license_id, r->from_usec, r->to_usec,
					fmt, sha);
	if (rc < 0)
		log_warning("the report was not recorded in the ledger: %s",
			    error.message ? error.message : strerror(-rc));
}

static int write_out(const char *output, const char *data, size_t len)
{
	_cleanup_free_ char *tmp = NULL;
	FILE *f;

	if (!output) {
		return fwrite(data, 1, len, stdout) == len ? 0 : -EIO;
	}
	if (asprintf(&tmp, "%s.tmp.%d", output, (int)getpid()) < 0)
		return -ENOMEM;
	f = fopen(tmp, "we");
	if (!f) {
		log_error("cannot create %s: %s", tmp, strerror(errno));
		return -errno;
	}
	if (fwrite(data, 1, len, f) != len || fflush(f) != 0 || fsync(fileno(f)) != 0) {
		fclose(f);
		unlink(tmp);
		log_error("cannot write %s", output);
		return -EIO;
	}
	fclose(f);
	if (rename(tmp, output) < 0) {
		unlink(tmp);
		log_error("cannot rename %s to %s: %s", tmp, output, strerror(errno));
		return -errno;
	}
	return 0;
}

int ctl_report(int argc, char **argv)
{
	static const struct option options[] = { { "license", required_argument, NULL, 'l' },
						 { "from", required_argument, NULL, 'f' },
						 { "to", required_argument, NULL, 't' },
						 { "format", required_argument, NULL, 'F' },
						 { "output", required_argument, NULL, 'o' },
						 { "state-dir", required_argument, NULL, 's' },
						 { "help", no_argument, NULL, 'h' },
						 { "json", optional_argument, NULL, 'J' },
						 {} };
	const char *state_dir = CONFIG_DEFAULT_STATE_DIR, *output = NULL, *from = NULL, *to = NULL;
	struct report_args r = { .fmt = FMT_JSON };
	char path[4200], err[512], sha[65] = "";
	_cleanup_free_ char *doc = NULL;
	size_t len = 0;
	int c, ret = 1;

	optind = 1;
	while ((c = getopt_long(argc, argv, "ho:", options, NULL)) >= 0) {
		switch (c) {
		case 'l':
			r.license_id = optarg;
			break;
		case 'f':
			from = optarg;
			break;
		case 't':
			to = optarg;
			break;
		case 'F':
			if (streq(optarg, "json"))
				r.fmt = FMT_JSON;
			else if (streq(optarg, "csv"))
				r.fmt = FMT_CSV;
			else if (streq(optarg, "table"))
				r.fmt = FMT_TABLE;
			else {
				fprintf(stderr,
					"hpcmeterctl: report: unknown --format '%s' (json, csv or table)\n",
					optarg);
				return EXIT_USAGE;
			}
			break;
		case 'J':
			/* the signed JSON report (its bytes are signed: never re-indented) */
			r.fmt = FMT_JSON;
			break;
		case 'o':
			output = optarg;
			break;
		case 's':
			state_dir = optarg;
			break;
		case 'h':
			help_report();
			return 0;
		default:
			fprintf(stderr, "Try 'hpcmeterctl report --help'.\n");
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "hpcmeterctl: report: unexpected argument '%s'\n", argv[optind]);
		return EXIT_USAGE;
	}
	if (!r.license_id || !from || !to) {
		fprintf(stderr, "hpcmeterctl: report: --license, --from and --to are required\n"
				"Try 'hpcmeterctl report --help'.\n");
		return EXIT_USAGE;
	}
	if (parse_date(from, false, &r.from_usec) < 0 || parse_date(to, true, &r.to_usec) < 0 ||
	    r.to_usec <= r.from_usec) {
		fprintf(stderr,
			"hpcmeterctl: report: invalid period '%s' .. '%s' (dates are YYYY-MM-DD, "
			"YYYY-MM-DDTHH:MM:SSZ or @USEC, from before to)\n",
			from, to);
		return EXIT_USAGE;
	}
	if (r.fmt != FMT_TABLE) {
		snprintf(path, sizeof(path), "%s/%s", state_dir, SIGN_KEY_FILE);
		if (sign_load_private(path, &r.key, err, sizeof(err)) < 0) {
			log_error("cannot sign the report: %s", err);
			return 1;
		}
	}
	if (ctl_open_ledger(state_dir, &r.db) < 0)
		goto out;
	if (ctl_progress_wanted())
		r.progress = ctl_progress;
	c = report_render(&r, &doc, &len, sha);
	if (r.progress)
		ctl_progress_end();
	if (c < 0) {
		if (c == -ENOENT)
			ret = CTL_EXIT_UNKNOWN_ID; /* the licence was never loaded */
		goto out;
	}
	if (write_out(output, doc, len) == 0) {
		ret = 0;
		if (r.fmt != FMT_TABLE)
			record_report(&r, r.fmt == FMT_JSON ? "json" : "csv", sha);
	}
out:
	EVP_PKEY_free(r.key);
	sqlite3_close(r.db);
	return ret;
}

/* ---- verify ---- */

struct parsed {
	char key_id[65];
	char sig_b64[128];
	char prev_sha[65];
	char sha[65]; /* of the signed bytes */
	size_t signed_len;
};

static int read_file(const char *path, char **ret, size_t *len)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t cap = 0, n = 0, k;

	if (!f)
		return -errno;
	do {
		if (n + 1 >= cap) {
			char *b = realloc(buf, cap = cap ? 2 * cap : 65536);

			if (!b) {
				free(buf);
				return -ENOMEM;
			}
			buf = b;
		}
		k = fread(buf + n, 1, cap - n - 1, f);
		n += k;
	} while (k > 0);
	buf[n] = '\0';
	*ret = buf;
	*len = n;
	return 0;
}

static int parse_signed(const char *doc, size_t len, struct parsed *p)
{
	const char *line = NULL, *s;
	char expect[512];
	uint8_t digest[CHAIN_HASH_LEN];

	memset(p, 0, sizeof(*p));
	if (len > 0 && doc[0] == '{') {
		for (s = doc; (s = strstr(s, "\n\"signature\":{")); s++)
			line = s + 1;
		if (!line ||
		    sscanf(line,
			   "\"signature\":{\"algorithm\":\"ed25519\",\"key_id\":\"%64[0-9a-f]\","
			   "\"value\":\"%100[A-Za-z0-9+/=]\"}}",
			   p->key_id, p->sig_b64) != 2)
			return -EBADMSG;
		snprintf(
			expect, sizeof(expect),
			"\"signature\":{\"algorithm\":\"ed25519\",\"key_id\":\"%s\",\"value\":\"%s\"}}\n",
			p->key_id, p->sig_b64);
		s = strstr(doc, "\n\"ledger\":{");
		if (s && (s = strstr(s, "\"previous_report_sha256\":\"")))
			sscanf(s, "\"previous_report_sha256\":\"%64[0-9a-f]", p->prev_sha);
	} else if (len > 0 && strncmp(doc, "#hpcmeter_report,", 17) == 0) {
		for (s = doc; (s = strstr(s, "\n#signature,")); s++)
			line = s + 1;
		if (!line || sscanf(line, "#signature,ed25519,%64[0-9a-f],%100[A-Za-z0-9+/=]",
				    p->key_id, p->sig_b64) != 2)
			return -EBADMSG;
		snprintf(expect, sizeof(expect), "#signature,ed25519,%s,%s\n", p->key_id,
			 p->sig_b64);
		s = strstr(doc, "\nreport,previous_report_sha256,");
		if (s)
			sscanf(s, "\nreport,previous_report_sha256,%64[0-9a-f]", p->prev_sha);
	} else {
		return -EBADMSG;
	}
	/* Nothing may follow the signature line. */
	if (!streq(line, expect))
		return -EBADMSG;
	p->signed_len = line - doc;
	chain_sha256(doc, p->signed_len, digest);
	chain_hex(digest, sizeof(digest), p->sha);
	return 0;
}

/* One line per file, or with --json an array of {"file","valid","sha256","message"}. */
struct verdicts {
	enum json_mode json;
	struct json_object *array;
	bool oom;
};

static void verdict(struct verdicts *vd, const char *file, const char *sha, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void verdict(struct verdicts *vd, const char *file, const char *sha, const char *fmt, ...)
{
	struct json_object *o;
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!vd->json) {
		printf("%s: %s\n", file, msg);
		return;
	}
	o = json_object_new_object();
	if (json_append(vd->array, o) < 0 || json_add_string(o, "file", file) < 0 ||
	    json_add_bool(o, "valid", sha != NULL) < 0 || json_add_string(o, "sha256", sha) < 0 ||
	    json_add_string(o, "message", msg) < 0)
		vd->oom = true;
}

int ctl_report_verify(int argc, char **argv)
{
	static const struct option options[] = { { "key", required_argument, NULL, 'k' },
						 { "state-dir", required_argument, NULL, 's' },
						 { "help", no_argument, NULL, 'h' },
						 { "json", optional_argument, NULL, 'j' },
						 {} };
	struct verdicts vd = {};
	const char *key_path = NULL, *state_dir = CONFIG_DEFAULT_STATE_DIR;
	char path[4200], err[512], key_id[65], prev[65] = "";
	EVP_PKEY *key = NULL;
	int c, failed = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
		switch (c) {
		case 'k':
			key_path = optarg;
			break;
		case 's':
			state_dir = optarg;
			break;
		case 'j':
			/* an unknown MODE is short, as before */
			if (json_mode_from_arg(optarg, STDOUT_FILENO, &vd.json) < 0)
				vd.json = JSON_SHORT;
			break;
		case 'h':
			help_report();
			return 0;
		default:
			fprintf(stderr, "Try 'hpcmeterctl report --help'.\n");
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "hpcmeterctl: report verify: missing FILE\n");
		return EXIT_USAGE;
	}
	if (!key_path) {
		snprintf(path, sizeof(path), "%s/%s", state_dir, SIGN_PUB_FILE);
		key_path = path;
	}
	if (sign_load_public(key_path, &key, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return 1;
	}
	if (vd.json && !(vd.array = json_object_new_array())) {
		EVP_PKEY_free(key);
		log_error("out of memory");
		return 1;
	}
	sign_key_id(key, key_id);
	for (int i = optind; i < argc; i++) {
		_cleanup_free_ char *doc = NULL;
		uint8_t sig[SIGN_LEN];
		struct parsed p;
		size_t len = 0;
		int r = read_file(argv[i], &doc, &len);

		if (r < 0) {
			verdict(&vd, argv[i], NULL, "cannot read: %s", strerror(-r));
			failed++;
			continue;
		}
		if (parse_signed(doc, len, &p) < 0) {
			verdict(&vd, argv[i], NULL,
				"FAILED: not a signed hpcmeter report (no valid signature line at "
				"its end)");
			failed++;
			continue;
		}
		if (!streq(p.key_id, key_id)) {
			verdict(&vd, argv[i], NULL, "FAILED: signed by key %s, not by %s (%s)",
				p.key_id, key_id, key_path);
			failed++;
			continue;
		}
		if (sign_unbase64(p.sig_b64, sig, sizeof(sig)) != SIGN_LEN ||
		    sign_verify(key, doc, p.signed_len, sig) < 0) {
			verdict(&vd, argv[i], NULL,
				"FAILED: the signature does not match the content (changed after "
				"signing)");
			failed++;
			continue;
		}
		if (i > optind && prev[0] && !streq(p.prev_sha, prev)) {
			verdict(&vd, argv[i], NULL,
				"FAILED: signature valid, but it does not follow %s (names "
				"previous report %s, that one is %s)",
				argv[i - 1], p.prev_sha[0] ? p.prev_sha : "none", prev);
			failed++;
		} else {
			verdict(&vd, argv[i], p.sha,
				"signature valid (Ed25519 key %.16s...), report SHA-256 %s%s%s",
				key_id, p.sha, i > optind ? ", follows " : "",
				i > optind ? argv[i - 1] : "");
		}
		snprintf(prev, sizeof(prev), "%s", p.sha);
	}
	EVP_PKEY_free(key);
	if (vd.json) {
		if (vd.oom)
			log_error("out of memory");
		else if (json_dump_rows(stdout, vd.array, vd.json) < 0)
			vd.oom = true;
		json_object_put(vd.array);
	}
	return failed || vd.oom ? 1 : 0;
}
