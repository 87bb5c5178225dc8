// SPDX-License-Identifier: GPL-2.0-only
/* hpcmeterctl report: a licence's usage over a period, from the ledger, signed with the node's
 * Ed25519 key (the generator is lib/report.c, shared with hpcmeterd's GetReport); and report
 * verify, which needs only the public key.
 *
 * A report FILE is signed as it is, byte for byte; the signature is FILE.sig, the 64 raw bytes
 * of Ed25519, so that an auditor can check it without hpcmeter:
 *   openssl pkeyutl -verify -pubin -inkey node.pub.pem -rawin -in FILE -sigfile FILE.sig
 * Reports issued before carry their signature inside (report verify still reads them). */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <systemd/sd-bus.h>

#include "config.h"
#include "ctl-args.h"
#include "ctl-exit.h"
#include "ctl-help.h"
#include "ctl-ledger.h"
#include "ctl-verbs.h"
#include "hpcmeter-bus.h"
#include "json-doc.h"
#include "ledger-chain.h"
#include "report-verify.h"
#include "ctl-cluster.h"
#include "report.h"
#include "sign.h"
#include "time-parse.h"
#include "util.h"

static void help_report(void)
{
	printf("Usage: hpcmeterctl report --license ID --since TIME --until TIME\n"
	       "                          [--format json|csv|table] [--output FILE] [--sig FILE]\n"
	       "                          [--state-dir DIR] [--cluster]\n"
	       "       hpcmeterctl report verify [--key PUBLIC.pem | --state-dir DIR] [--sig FILE.sig]\n"
	       "                                 FILE...\n"
	       "       hpcmeterctl report public-key [--state-dir DIR] [--json[=MODE]]\n"
	       "\n"
	       "report: the usage of this node from the ledger over [from, to): per job, user,\n"
	       "account and in total, every metric, every violation of the licence and every\n"
	       "metering gap with its worst-case bound, the licence files' SHA-256, meter\n"
	       "states and versions, node identity, inventory snapshots and the ledger's chain\n"
	       "head. JSON and CSV are signed with the node's Ed25519 key (root: it is 0600 in\n"
	       "the state directory) and recorded in the ledger through hpcmeterd: --output FILE\n"
	       "writes FILE and FILE.sig, the signature of FILE's bytes (64 raw bytes), which\n"
	       "stock OpenSSL checks with the public key alone:\n"
	       "  openssl pkeyutl -verify -pubin -inkey node.pub.pem -rawin -in FILE -sigfile FILE.sig\n"
	       "Shows progress on a terminal.\n"
	       "TIME: as for every command (YYYY-MM-DD, \"YYYY-MM-DD HH:MM[:SS]\", ISO 8601 with a\n"
	       "zone, now, today, yesterday, -1h/-7d/-30min, @EPOCH), but without a zone it is\n"
	       "UTC: a report's period does not depend on the TZ of whoever asks. A day as\n"
	       "--until (YYYY-MM-DD, today, yesterday) includes that whole day.\n"
	       "\n"
	       "report --cluster: one report of the licence for the whole cluster, from the\n"
	       "evaluator's state directory (hpcmeterd --cluster): usage per node it covers and\n"
	       "in total, each node's chain head and last verified checkpoint, final or\n"
	       "provisional; JSON, signed with the evaluator's key (FILE.sig, as above).\n"
	       "\n"
	       "report verify: check each FILE's signature (FILE.sig, or inside FILE for reports\n"
	       "issued before signatures were detached) with the public key alone (offline), and,\n"
	       "given several in the order they were issued, that each names the one before it.\n"
	       "Exit 1 when any check fails.\n"
	       "\n"
	       "report public-key: print the node's public key (PEM) to give to an auditor.\n"
	       "\n"
	       "Options:\n"
	       "  --license ID       the licence reported on (it must have been loaded on this\n"
	       "                     node before --to; exit 5 otherwise)\n"
	       "  --since TIME       start of the period (inclusive); --from says the same\n"
	       "  --until TIME       end of the period (a day includes that whole day); --to\n"
	       "                     says the same\n"
	       "  --format FORMAT    json (the default; signed), csv (signed) or table (not\n"
	       "                     signed, for reading)\n"
	       "  --json             the same as --format json; for report verify, one object\n"
	       "                     per file {file, valid, sha256, message} in an array\n"
	       "  --output FILE      write FILE and FILE.sig atomically (default: standard\n"
	       "                     output, which a signed report needs --sig for)\n"
	       "  --sig FILE         report: write the signature to FILE (default FILE.sig beside\n"
	       "                     --output); report verify: the signature of the one FILE\n"
	       "  --key PUBLIC.pem   report verify: the public key (default: the node's)\n"
	       "  --state-dir DIR    the daemon's state directory (default %s)\n"
	       "  --cluster          the cluster's report, from the evaluator's state directory\n"
	       "\n"
	       "Example:\n"
	       "  hpcmeterctl report --license DE-BAFA-2026-1 --since 2026-01-01 --until 2026-03-31 \\\n"
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

/* data in a new temporary file beside path (synced); its name in *ret_tmp. */
static int write_temp(const char *path, const void *data, size_t len, char **ret_tmp)
{
	_cleanup_free_ char *tmp = NULL;
	FILE *f;

	if (asprintf(&tmp, "%s.tmp.%d", path, (int)getpid()) < 0) {
		log_error("out of memory");
		return -ENOMEM;
	}
	f = fopen(tmp, "we");
	if (!f) {
		log_error("cannot create %s: %s", tmp, strerror(errno));
		return -errno;
	}
	if (fwrite(data, 1, len, f) != len || fflush(f) != 0 || fsync(fileno(f)) != 0) {
		fclose(f);
		unlink(tmp);
		log_error("cannot write %s", path);
		return -EIO;
	}
	fclose(f);
	*ret_tmp = TAKE_PTR(tmp);
	return 0;
}

static int rename_temp(const char *tmp, const char *path)
{
	if (rename(tmp, path) < 0) {
		log_error("cannot rename %s to %s: %s", tmp, path, strerror(errno));
		unlink(tmp);
		return -errno;
	}
	return 0;
}

/* The report to output (or standard output) and its signature to sig_path, each atomically:
 * both are written before either is renamed into place, the signature first. */
static int write_report(const char *output, const char *doc, size_t len, const char *sig_path,
			const uint8_t *sig)
{
	_cleanup_free_ char *tmp_doc = NULL, *tmp_sig = NULL;
	int r;

	if (sig_path) {
		r = write_temp(sig_path, sig, SIGN_LEN, &tmp_sig);
		if (r < 0)
			return r;
	}
	if (output) {
		r = write_temp(output, doc, len, &tmp_doc);
		if (r < 0)
			goto fail;
	} else if (fwrite(doc, 1, len, stdout) != len || fflush(stdout) != 0) {
		log_error("cannot write the report to standard output: %s", strerror(errno));
		r = -EIO;
		goto fail;
	}
	if (tmp_sig) {
		r = rename_temp(tmp_sig, sig_path);
		if (r < 0)
			goto fail;
		free(tmp_sig);
		tmp_sig = NULL;
	}
	return tmp_doc ? rename_temp(tmp_doc, output) : 0;
fail:
	if (tmp_sig)
		unlink(tmp_sig);
	if (tmp_doc)
		unlink(tmp_doc);
	return r;
}

static int report_usage_error(const char *msg)
{
	fprintf(stderr, "hpcmeterctl: report: %s\nTry 'hpcmeterctl report --help'.\n", msg);
	return ctl_fail(CTL_EXIT_USAGE, -EINVAL);
}

static int report(int argc, char **argv)
{
	static const struct option options[] = { { "license", required_argument, NULL, 'l' },
						 { "since", required_argument, NULL, 'f' },
						 { "until", required_argument, NULL, 't' },
						 /* the names the period had first */
						 { "from", required_argument, NULL, 'A' },
						 { "to", required_argument, NULL, 'B' },
						 { "format", required_argument, NULL, 'F' },
						 { "output", required_argument, NULL, 'o' },
						 { "sig", required_argument, NULL, 'S' },
						 { "state-dir", required_argument, NULL, 's' },
						 { "cluster", no_argument, NULL, 'C' },
						 { "help", no_argument, NULL, 'h' },
						 { "json", optional_argument, NULL, 'J' },
						 {} };
	const char *state_dir = CONFIG_DEFAULT_STATE_DIR, *output = NULL, *from = NULL, *to = NULL;
	const char *sig_path = NULL;
	_cleanup_free_ char *default_sig = NULL;
	struct report_args r = { .fmt = FMT_JSON };
	const char *from_opt = "--since", *to_opt = "--until";
	char path[4200], err[512], sha[65] = "";
	uint8_t sig[SIGN_LEN];
	_cleanup_free_ char *doc = NULL;
	size_t len = 0;
	bool cluster = false;
	int c, ret;

	optind = 1;
	while ((c = getopt_long(argc, argv, "ho:", options, NULL)) >= 0) {
		switch (c) {
		case 'C':
			cluster = true;
			break;
		case 'l':
			r.license_id = optarg;
			break;
		case 'f':
		case 'A':
			from = optarg;
			from_opt = c == 'A' ? "--from" : "--since";
			break;
		case 't':
		case 'B':
			to = optarg;
			to_opt = c == 'B' ? "--to" : "--until";
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
				return ctl_fail(CTL_EXIT_USAGE, -EINVAL);
			}
			break;
		case 'J':
			/* the signed JSON report (its bytes are signed: never re-indented) */
			r.fmt = FMT_JSON;
			break;
		case 'o':
			output = optarg;
			break;
		case 'S':
			sig_path = optarg;
			break;
		case 's':
			state_dir = optarg;
			break;
		case 'h':
			help_report();
			return 0;
		default:
			fprintf(stderr, "Try 'hpcmeterctl report --help'.\n");
			return ctl_fail(CTL_EXIT_USAGE, -EINVAL);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "hpcmeterctl: report: unexpected argument '%s'\n", argv[optind]);
		return ctl_fail(CTL_EXIT_USAGE, -EINVAL);
	}
	if (!r.license_id || !from || !to)
		return report_usage_error("--license, --since and --until are required");
	/* UTC days: the same period under any TZ, as licence validity is in UTC days */
	if (parse_time_arg(from_opt, from, TIME_PARSE_UTC, &r.from_usec, err, sizeof(err)) < 0 ||
	    parse_time_arg(to_opt, to, TIME_PARSE_UTC | TIME_PARSE_END_OF_DAY, &r.to_usec, err,
			   sizeof(err)) < 0)
		return report_usage_error(err);
	if (r.to_usec <= r.from_usec) {
		snprintf(err, sizeof(err), "%s must be after %s ('%s' .. '%s')", to_opt, from_opt,
			 from, to);
		return report_usage_error(err);
	}
	if (cluster && r.fmt != FMT_JSON)
		return report_usage_error("--cluster: the cluster's report is JSON");
	if (r.fmt == FMT_TABLE && sig_path)
		return report_usage_error("--sig: a table is not signed");
	/* A signature nobody keeps makes a report nobody can check: say where it goes. */
	if (r.fmt != FMT_TABLE && !sig_path && !output)
		return report_usage_error("a signed report needs --output FILE (it writes FILE and "
					  "FILE.sig) or, on standard output, --sig FILE");
	if (r.fmt != FMT_TABLE && !sig_path) {
		if (asprintf(&default_sig, "%s.sig", output) < 0)
			return log_oom();
		sig_path = default_sig;
	}
	if (r.fmt != FMT_TABLE) {
		snprintf(path, sizeof(path), "%s/%s", state_dir, SIGN_KEY_FILE);
		ret = sign_load_private(path, &r.key, err, sizeof(err));
		if (ret < 0) {
			log_error("cannot sign the report: %s", err);
			return ctl_fail(CTL_EXIT_FAILURE, ret);
		}
	}
	if (cluster) {
		ret = ctl_cluster_report(state_dir, r.license_id, r.from_usec, r.to_usec, r.key,
					 &doc, &len, sig);
		if (ret == -ENOENT)
			ctl_fail(CTL_EXIT_UNKNOWN_ID, ret);
		if (ret >= 0)
			ret = write_report(output, doc, len, sig_path, sig);
		goto out;
	}
	ret = ctl_open_ledger(state_dir, &r.db);
	if (ret < 0)
		goto out;
	if (ctl_progress_wanted())
		r.progress = ctl_progress;
	ret = report_render(&r, &doc, &len, sha, sig);
	if (r.progress)
		ctl_progress_end();
	if (ret == -ENOENT) /* the licence was never loaded */
		ctl_fail(CTL_EXIT_UNKNOWN_ID, ret);
	if (ret < 0)
		goto out;
	ret = write_report(output, doc, len, r.fmt != FMT_TABLE ? sig_path : NULL, sig);
	if (ret >= 0 && r.fmt != FMT_TABLE)
		record_report(&r, r.fmt == FMT_JSON ? "json" : "csv", sha);
out:
	EVP_PKEY_free(r.key);
	sqlite3_close(r.db);
	return ret < 0 ? ret : 0;
}

/* ---- verify ---- */

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
	if (ferror(f)) {
		free(buf);
		return -EIO;
	}
	buf[n] = '\0';
	*ret = buf;
	*len = n;
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

/* The detached signature of file: sig_path, or FILE.sig. Returns 0, or -errno with a verdict
 * given. */
static int read_signature(struct verdicts *vd, const char *file, const char *sig_path,
			  uint8_t sig[SIGN_LEN])
{
	_cleanup_free_ char *default_path = NULL, *data = NULL;
	size_t len = 0;
	int r;

	if (!sig_path) {
		if (asprintf(&default_path, "%s.sig", file) < 0)
			return -ENOMEM;
		sig_path = default_path;
	}
	r = read_file(sig_path, &data, &len);
	if (r < 0) {
		verdict(vd, file, NULL, "FAILED: no signature: cannot read %s: %s", sig_path,
			strerror(-r));
		return r;
	}
	if (len != SIGN_LEN) {
		verdict(vd, file, NULL,
			"FAILED: %s is not an Ed25519 signature (%zu bytes, not %d)", sig_path, len,
			SIGN_LEN);
		return -EBADMSG;
	}
	memcpy(sig, data, SIGN_LEN);
	return 0;
}

static int report_verify(int argc, char **argv)
{
	static const struct option options[] = { { "key", required_argument, NULL, 'k' },
						 { "sig", required_argument, NULL, 'S' },
						 { "state-dir", required_argument, NULL, 's' },
						 { "help", no_argument, NULL, 'h' },
						 { "json", optional_argument, NULL, 'j' },
						 {} };
	struct verdicts vd = {};
	const char *key_path = NULL, *sig_path = NULL, *state_dir = CONFIG_DEFAULT_STATE_DIR;
	char path[4200], err[512], key_id[65], prev[65] = "";
	EVP_PKEY *key = NULL;
	int c, failed = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
		switch (c) {
		case 'k':
			key_path = optarg;
			break;
		case 'S':
			sig_path = optarg;
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
			return ctl_fail(CTL_EXIT_USAGE, -EINVAL);
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "hpcmeterctl: report verify: missing FILE\n");
		return ctl_fail(CTL_EXIT_USAGE, -EINVAL);
	}
	if (sig_path && argc - optind != 1) {
		fprintf(stderr,
			"hpcmeterctl: report verify: --sig names the signature of one FILE\n"
			"Try 'hpcmeterctl report --help'.\n");
		return ctl_fail(CTL_EXIT_USAGE, -EINVAL);
	}
	if (!key_path) {
		snprintf(path, sizeof(path), "%s/%s", state_dir, SIGN_PUB_FILE);
		key_path = path;
	}
	c = sign_load_public(key_path, &key, err, sizeof(err));
	if (c < 0) {
		log_error("%s", err);
		return ctl_fail(CTL_EXIT_FAILURE, c);
	}
	if (vd.json && !(vd.array = json_object_new_array())) {
		EVP_PKEY_free(key);
		return log_oom();
	}
	sign_key_id(key, key_id);
	for (int i = optind; i < argc; i++) {
		_cleanup_free_ char *doc = NULL;
		uint8_t sig[SIGN_LEN], digest[CHAIN_HASH_LEN];
		char sha[65], why[REPORT_PARSE_ERROR_MAX];
		struct report_parsed p;
		size_t len = 0;
		int r = read_file(argv[i], &doc, &len);

		if (r < 0) {
			verdict(&vd, argv[i], NULL, "cannot read: %s", strerror(-r));
			failed++;
			continue;
		}
		if (report_parse(doc, len, &p, why, sizeof(why)) < 0) {
			verdict(&vd, argv[i], NULL, "FAILED: not a signed hpcmeter report: %s",
				why);
			failed++;
			continue;
		}
		if (p.embedded)
			memcpy(sig, p.signature, SIGN_LEN);
		else if (read_signature(&vd, argv[i], sig_path, sig) < 0) {
			failed++;
			continue;
		}
		if (p.key_id[0] && !streq(p.key_id, key_id)) {
			verdict(&vd, argv[i], NULL, "FAILED: signed by key %s, not by %s (%s)",
				p.key_id, key_id, key_path);
			failed++;
			continue;
		}
		if (sign_verify(key, doc, p.signed_len, sig) < 0) {
			verdict(&vd, argv[i], NULL,
				"FAILED: the signature does not match the content (changed after "
				"signing)");
			failed++;
			continue;
		}
		/* what RecordReport recorded: the signed bytes, the whole file when detached */
		chain_sha256(doc, p.signed_len, digest);
		chain_hex(digest, sizeof(digest), sha);
		if (i > optind && prev[0] && !streq(p.previous_sha256, prev)) {
			verdict(&vd, argv[i], NULL,
				"FAILED: signature valid, but it does not follow %s (names "
				"previous report %s, that one is %s)",
				argv[i - 1], p.previous_sha256[0] ? p.previous_sha256 : "none",
				prev);
			failed++;
		} else {
			verdict(&vd, argv[i], sha,
				"signature valid (Ed25519 key %.16s...), report SHA-256 %s%s%s",
				key_id, sha, i > optind ? ", follows " : "",
				i > optind ? argv[i - 1] : "");
		}
		snprintf(prev, sizeof(prev), "%s", sha);
	}
	EVP_PKEY_free(key);
	if (vd.json) {
		if (vd.oom)
			log_error("out of memory");
		else if (json_dump_rows(stdout, vd.array, vd.json) < 0)
			vd.oom = true;
		json_object_put(vd.array);
	}
	/* the verdicts are on standard output; the exit status says whether all were good */
	return vd.oom ? -ENOMEM : failed ? ctl_fail(CTL_EXIT_FAILURE, -EBADMSG) : 0;
}

/* ---- public-key ---- */

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
			return ctl_fail(CTL_EXIT_USAGE, -EINVAL);
		}
	}
	snprintf(path, sizeof(path), "%s/%s", state_dir, SIGN_PUB_FILE);
	c = read_file(path, &pem, &len);
	if (c < 0) {
		log_error("cannot read the node's public report key %s: %s (hpcmeterd creates it "
			  "at its first start)",
			  path, strerror(-c));
		return ctl_fail(CTL_EXIT_FAILURE, c);
	}
	if (!json) {
		fwrite(pem, 1, len, stdout);
		return 0;
	}
	c = sign_load_public(path, &key, err, sizeof(err));
	if (c < 0) {
		log_error("%s", err);
		return ctl_fail(CTL_EXIT_FAILURE, c);
	}
	sign_key_id(key, key_id);
	EVP_PKEY_free(key);
	o = json_object_new_object();
	if (!o || json_add_string(o, "key_id", key_id) < 0 || json_add_string(o, "pem", pem) < 0)
		return log_oom();
	return json_dump_rows(stdout, o, json);
}

/* report verify FILE..., report public-key, report --license ... */
int verb_report(sd_bus *bus, int argc, char **argv)
{
	(void)bus;
	if (argc > 1 && streq(argv[1], "verify"))
		return report_verify(argc - 1, argv + 1);
	if (argc > 1 && streq(argv[1], "public-key"))
		return public_key(argc - 1, argv + 1);
	return report(argc, argv);
}
