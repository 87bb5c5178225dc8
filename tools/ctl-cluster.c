// SPDX-License-Identifier: GPL-2.0-only
/* hpcmeterctl cluster init|enroll|status|verify: the cluster's store in PostgreSQL, directly
 * through libpq (no daemon needed): create or migrate its schema, enrol a node and its key,
 * show what each node shipped, and walk every chain and signature (lib/store*.c). */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <openssl/pem.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <systemd/sd-bus.h>

#include "ctl-args.h"
#include "ctl-exit.h"
#include "ctl-format.h"
#include "ctl-help.h"
#include "ctl-ledger.h"
#include "ctl-table.h"
#include "ctl-verbs.h"
#include "ctl-cluster.h"
#include "cluster-usage.h"
#include "config.h"
#include "json-doc.h"
#include "sign.h"
#include "time-parse.h"
#include "store-verify.h"
#include "util.h"

static void help_cluster(void)
{
	printf("Usage: hpcmeterctl cluster init --database CONNINFO\n"
	       "       hpcmeterctl cluster enroll --database CONNINFO --node NAME --key PUBLIC.pem\n"
	       "                                  [--role ROLE] [--evaluator]\n"
	       "       hpcmeterctl cluster status --database CONNINFO [-o table|json|csv]\n"
	       "                                  [--columns NAME,...] [--no-legend] [--json]\n"
	       "       hpcmeterctl cluster verify --database CONNINFO [--node NAME] [--json]\n"
	       "       hpcmeterctl cluster usage [--state-dir DIR] [--by job|user|account|license|\n"
	       "                                 project|node] [--since TIME] [--until TIME]\n"
	       "                                 [-o table|json|csv] [--columns NAME,...]\n"
	       "                                 [--no-legend] [--json]\n"
	       "\n"
	       "The cluster's store in PostgreSQL, where every node's hpcmeterd ships its ledger\n"
	       "records, exactly as chained, and a signed checkpoint every minute.\n"
	       "\n"
	       "  init    create the schema, or migrate it to this version (as the database's\n"
	       "          owner, with CREATEROLE: makes the roles hpcm_node and hpcm_reader)\n"
	       "  enroll  register node NAME with its Ed25519 public key (what 'hpcmeterctl\n"
	       "          report public-key' prints on the node) and a login role for it\n"
	       "          (default: the node's name), member of hpcm_node: it may insert only\n"
	       "          its own rows. Enrolling again with another key adds the key.\n"
	       "  status  every node: records, the last checkpoint (the time it covers), how far\n"
	       "          it lags, refused records and the last reason\n"
	       "  verify  walk every node's chain and checkpoints: each hash recomputed from the\n"
	       "          record's content, each signature checked with the enrolled key; names\n"
	       "          the first bad record or checkpoint of each node\n"
	       "  usage   usage across the cluster, as the evaluator (hpcmeterd --cluster) has\n"
	       "          read and verified it from the store (its STATE_DIR/cluster.sqlite):\n"
	       "          CPU, GPU seconds and ops per job, user, account, licence, project or\n"
	       "          node over [--since, --until), and whether the total is final (every\n"
	       "          node's checkpoint past --until) or provisional\n"
	       "\n"
	       "Options:\n"
	       "  --database CONNINFO  libpq connection string, e.g. \"host=store.example\n"
	       "                       dbname=hpcmeter sslmode=verify-full\"\n"
	       "  --node NAME          enroll: the node's name (its node_name); verify: only it\n"
	       "  --key FILE           enroll: the node's public key (PEM)\n"
	       "  --role ROLE          enroll: the node's PostgreSQL login role\n"
	       "  --evaluator          enroll: the cluster's evaluator (hpcmeterd --cluster): its\n"
	       "                       role also reads every node's rows (hpcm_reader)\n"
	       "  --state-dir DIR      usage: the evaluator's state directory (default\n"
	       "                       /var/lib/hpcmeter)\n"
	       "  --by SCOPE           usage: job, user, account, license (default), project,\n"
	       "                       node\n"
	       "  --since TIME, --until TIME\n"
	       "                       usage: the period (default: all, up to now); --from and\n"
	       "                       --to say the same. TIME as everywhere in hpcmeterctl\n"
	       "                       (YYYY-MM-DD, \"YYYY-MM-DD HH:MM[:SS]\", ISO 8601 with a\n"
	       "                       zone, now, today, yesterday, -1h/-7d/-30min, @EPOCH); as\n"
	       "                       for report, without a zone in UTC, and a day as --until\n"
	       "                       includes that whole day\n"
	       "  --json[=MODE]        status, verify, usage: JSON (short or pretty)\n"
	       "  -o, --output FORMAT  status, usage: table (the default), json (as --json) or\n"
	       "                       csv (RFC 4180; the rows only: whether usage's total is\n"
	       "                       final is in the table and in JSON)\n"
	       "  --columns NAME,...   status, usage: only these columns, in this order (the\n"
	       "                       header names, in any case: node, records, checkpoint,\n"
	       "                       covers, lag, behind, refused, last-refusal; subject, cpu,\n"
	       "                       gpu, ops)\n"
	       "  --no-legend          status, usage: no header row (and no \"N nodes listed.\")\n"
	       "\n"
	       "Examples:\n"
	       "  hpcmeterctl cluster init --database 'dbname=hpcmeter'\n"
	       "  hpcmeterctl cluster enroll --database 'dbname=hpcmeter' --node n001 \\\n"
	       "      --key n001.pub.pem\n"
	       "  hpcmeterctl cluster verify --database 'dbname=hpcmeter' || echo TAMPERED\n"
	       "  hpcmeterctl cluster usage --by user --since 2026-01-01 --until 2026-03-31\n");
	ctl_help_exit_status(stdout);
	printf("  (cluster verify: 1 also when a record or checkpoint does not verify.)\n");
}

struct opts {
	const char *database, *node, *key, *role, *state_dir, *by;
	/* --since/--until (or --from/--to) as given, and the option that gave each */
	const char *since, *until, *since_opt, *until_opt;
	bool evaluator;
	enum json_mode json;
};

static int connect_store(const struct opts *o, PGconn **ret)
{
	char err[1024];
	int r = store_connect(o->database, "hpcmeterctl", ret, err, sizeof(err));

	if (r < 0)
		log_error("%s", err);
	return r;
}

static int cluster_init(const struct opts *o)
{
	PGconn *c;
	char err[1024];
	int from, to, r = connect_store(o, &c);

	if (r < 0)
		return ctl_fail(CTL_EXIT_FAILURE, r);
	/* The notices of CREATE ... IF NOT EXISTS are noise here. */
	PQclear(PQexec(c, "SET client_min_messages = warning"));
	r = store_migrate(c, &from, &to, err, sizeof(err));
	PQfinish(c);
	if (r < 0) {
		log_error("cluster init: %s", err);
		return ctl_fail(CTL_EXIT_FAILURE, r);
	}
	if (from == to)
		printf("the store's schema is at version %d already\n", to);
	else if (from == 0)
		printf("created the store's schema, version %d\n", to);
	else
		printf("migrated the store's schema from version %d to %d\n", from, to);
	return 0;
}

/* One command of the enrolment, in its transaction. */
static int exec_params(PGconn *c, const char *sql, int n, const char *const *values, PGresult **ret)
{
	PGresult *res = PQexecParams(c, sql, n, NULL, values, NULL, NULL, 0);
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		log_error("cluster enroll: %s", store_error_line(c, res));
		PQclear(res);
		return -EIO;
	}
	if (ret)
		*ret = res;
	else
		PQclear(res);
	return 0;
}

static int read_pem(const char *path, char **ret_pem, char key_id[65])
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	_cleanup_free_ char *pem = NULL;
	EVP_PKEY *k;
	BIO *bio;
	size_t n;
	char err[512];

	if (!f) {
		log_error("cannot read %s: %s", path, strerror(errno));
		return -errno;
	}
	pem = calloc(1, 16384);
	if (!pem)
		return -ENOMEM;
	n = fread(pem, 1, 16383, f);
	if (n == 0 || n == 16383) {
		log_error("%s: not a PEM public key", path);
		return -EINVAL;
	}
	bio = BIO_new_mem_buf(pem, -1);
	k = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	if (!k || EVP_PKEY_id(k) != EVP_PKEY_ED25519 || sign_key_id(k, key_id) < 0) {
		EVP_PKEY_free(k);
		(void)err;
		log_error("%s: not an Ed25519 public key in PEM", path);
		return -EINVAL;
	}
	EVP_PKEY_free(k);
	*ret_pem = TAKE_PTR(pem);
	return 0;
}

static int cluster_enroll(const struct opts *o)
{
	_cleanup_free_ char *pem = NULL;
	char key_id[65];
	const char *role = o->role ? o->role : o->node;
	PGresult *res = NULL;
	PGconn *c;
	int r;

	if (!o->node || !o->key) {
		fprintf(stderr, "hpcmeterctl: cluster enroll needs --node and --key\n"
				"Try 'hpcmeterctl cluster --help'.\n");
		return ctl_fail(CTL_EXIT_USAGE, -EINVAL);
	}
	if (!store_node_name_valid(o->node)) {
		fprintf(stderr,
			"hpcmeterctl: invalid node name '%s' (letters, digits, '.', '_', '-',"
			" at most 63)\n",
			o->node);
		return ctl_fail(CTL_EXIT_USAGE, -EINVAL);
	}
	if (!*role || strlen(role) > 63) {
		fprintf(stderr, "hpcmeterctl: invalid role '%s'\n", role);
		return ctl_fail(CTL_EXIT_USAGE, -EINVAL);
	}
	r = read_pem(o->key, &pem, key_id);
	if (r < 0)
		return ctl_fail(CTL_EXIT_FAILURE, r);
	r = connect_store(o, &c);
	if (r < 0)
		return ctl_fail(CTL_EXIT_FAILURE, r);
	{
		const char *v_node[1] = { o->node };
		const char *v_node_role[2] = { o->node, role };
		const char *v_key[3] = { o->node, key_id, pem };
		const char *v_role[1] = { role };
		char *ident = NULL, sql[256];
		int version;
		char err[512];

		r = store_read_version(c, &version, err, sizeof(err));
		if (r < 0)
			log_error("cluster enroll: %s", err);
		else if (version == 0 || version > store_schema_version()) {
			log_error("cluster enroll: the store's schema version is %d (this hpcmeter:"
				  " %d): run 'hpcmeterctl cluster init'%s",
				  version, store_schema_version(),
				  version ? " of a newer hpcmeter" : " first");
			r = -EPROTONOSUPPORT;
		}
		if (r == 0)
			r = exec_params(c, "BEGIN", 0, NULL, NULL);
		if (r == 0)
			r = exec_params(c, "SELECT role FROM hpcm.nodes WHERE name = $1", 1, v_node,
					&res);
		if (r == 0 && PQntuples(res) == 1 && !streq(PQgetvalue(res, 0, 0), role)) {
			log_error("cluster enroll: node %s is enrolled with role %s already",
				  o->node, PQgetvalue(res, 0, 0));
			r = -EEXIST;
		} else if (r == 0 && PQntuples(res) == 0) {
			ident = PQescapeIdentifier(c, role, strlen(role));
			r = ident ? exec_params(c, "SELECT 1 FROM pg_roles WHERE rolname = $1", 1,
						v_role, &res) :
				    -ENOMEM;
			if (r == 0 && PQntuples(res) == 0) {
				snprintf(sql, sizeof(sql), "CREATE ROLE %s LOGIN", ident);
				r = exec_params(c, sql, 0, NULL, NULL);
			}
			if (r == 0) {
				snprintf(sql, sizeof(sql), "GRANT hpcm_node TO %s", ident);
				r = exec_params(c, sql, 0, NULL, NULL);
			}
			/* The evaluator also reads every node's rows. */
			if (r == 0 && o->evaluator) {
				snprintf(sql, sizeof(sql), "GRANT hpcm_reader TO %s", ident);
				r = exec_params(c, sql, 0, NULL, NULL);
			}
			if (r == 0)
				r = exec_params(
					c, "INSERT INTO hpcm.nodes (name, role) VALUES ($1, $2)", 2,
					v_node_role, NULL);
			PQfreemem(ident);
		}
		PQclear(res);
		res = NULL;
		if (r == 0)
			r = exec_params(c,
					"INSERT INTO hpcm.node_keys (node, key_id, public_key)"
					" VALUES ($1, $2, $3) ON CONFLICT (node, key_id) DO NOTHING"
					" RETURNING 1",
					3, v_key, &res);
		if (r == 0) {
			printf("node %s enrolled (role %s), key %s%s\n", o->node, role, key_id,
			       PQntuples(res) ? "" : " (already enrolled)");
			PQclear(res);
			r = exec_params(c, "COMMIT", 0, NULL, NULL);
		}
	}
	if (r < 0)
		PQclear(PQexec(c, "ROLLBACK"));
	PQfinish(c);
	return r < 0 ? ctl_fail(CTL_EXIT_FAILURE, r) : 0;
}

static int cluster_status(const struct opts *o)
{
	static const char *const headers[] = { "NODE", "RECORDS", "CHECKPOINT", "COVERS",
					       "LAG",  "BEHIND",  "REFUSED",	"LAST REFUSAL" };
	static const bool right[] = { false, true, true, false, true, true, true, false };
	struct table t = { .n_columns = 8, .headers = headers, .right_align = right };
	_cleanup_json_ struct json_object *arr = NULL;
	uint64_t now = now_realtime_usec();
	PGresult *res;
	PGconn *c;
	int r = table_check_columns_of("cluster status", &t);

	if (r < 0)
		return ctl_fail(CTL_EXIT_USAGE, r);
	r = connect_store(o, &c);
	if (r < 0)
		return ctl_fail(CTL_EXIT_FAILURE, r);
	/* Enrolled nodes, and names that only have refusals (a node that is not enrolled). */
	res = PQexec(c,
		     "WITH names AS (SELECT name FROM hpcm.nodes UNION SELECT node FROM"
		     " hpcm.refusals) SELECT n.name, n.name IN (SELECT name FROM hpcm.nodes),"
		     " COALESCE((SELECT max(seq) FROM hpcm.records r WHERE r.node = n.name), 0),"
		     " COALESCE(c.head_seq, 0), COALESCE(c.time_usec, 0),"
		     " (SELECT count(*) FROM hpcm.refusals f WHERE f.node = n.name),"
		     " (SELECT reason FROM hpcm.refusals f WHERE f.node = n.name"
		     "  ORDER BY f.id DESC LIMIT 1)"
		     " FROM names n LEFT JOIN LATERAL (SELECT * FROM hpcm.checkpoints c"
		     "  WHERE c.node = n.name ORDER BY c.head_seq DESC, c.time_usec DESC LIMIT 1)"
		     " c ON true ORDER BY n.name");
	if (store_reply_shape(res, PGRES_TUPLES_OK, -1, 7) < 0) {
		log_error("cluster status: %s", store_error_line(c, res));
		PQclear(res);
		PQfinish(c);
		return ctl_fail(CTL_EXIT_FAILURE, -EIO);
	}
	if (o->json && !(arr = json_object_new_array()))
		r = -ENOMEM;
	for (int i = 0; r >= 0 && i < PQntuples(res); i++) {
		const char *name, *enrolled, *reason = "";
		uint64_t seq, head, covers, refused, lag;
		char cov[FORMAT_TIMESTAMP_MAX], lagbuf[FORMAT_TIMESPAN_MAX];

		if (store_value_text(res, i, 0, 63, &name) < 0 ||
		    store_value_text(res, i, 1, 1, &enrolled) < 0 ||
		    store_value_u64(res, i, 2, INT64_MAX, &seq) < 0 ||
		    store_value_u64(res, i, 3, INT64_MAX, &head) < 0 ||
		    store_value_u64(res, i, 4, INT64_MAX, &covers) < 0 ||
		    store_value_u64(res, i, 5, INT64_MAX, &refused) < 0 ||
		    (store_value_text(res, i, 6, 4096, &reason) < 0 && refused)) {
			log_error("cluster status: unexpected reply for row %d", i + 1);
			r = -EBADMSG;
			break;
		}
		if (!refused)
			reason = "";
		lag = covers && now > covers ? now - covers : 0;
		if (o->json) {
			struct json_object *n = json_object_new_object();

			r = n ? json_object_array_add(arr, n) : -ENOMEM;
			if (r >= 0)
				r = json_add_string(n, "node", name);
			if (r >= 0)
				r = json_add_bool(n, "enrolled", streq(enrolled, "t"));
			if (r >= 0)
				r = json_add_uint(n, "records", seq);
			if (r >= 0)
				r = json_add_uint(n, "checkpoint_seq", head);
			if (r >= 0)
				r = json_add_uint(n, "checkpoint_usec", covers);
			if (r >= 0)
				r = json_add_uint(n, "lag_usec", lag);
			if (r >= 0)
				r = json_add_uint(n, "behind", seq > head ? seq - head : 0);
			if (r >= 0)
				r = json_add_uint(n, "refused", refused);
			if (r >= 0)
				r = json_add_string(n, "last_refusal", reason);
			continue;
		}
		if (!covers || !format_timestamp_utc(cov, covers))
			snprintf(cov, sizeof(cov), "-");
		if (covers)
			format_timespan(lagbuf, lag);
		else
			snprintf(lagbuf, sizeof(lagbuf), "-");
		if ((r = table_add(&t, "%s%s", name,
				   streq(enrolled, "t") ? "" : " (not enrolled)")) < 0 ||
		    (r = table_add(&t, "%" PRIu64, seq)) < 0 ||
		    (r = table_add(&t, "%" PRIu64, head)) < 0 ||
		    (r = table_add(&t, "%s", cov)) < 0 || (r = table_add(&t, "%s", lagbuf)) < 0 ||
		    (r = table_add(&t, "%" PRIu64, seq > head ? seq - head : 0)) < 0 ||
		    (r = table_add(&t, "%" PRIu64, refused)) < 0 ||
		    (r = table_add(&t, "%s", reason)) < 0)
			break;
	}
	PQclear(res);
	PQfinish(c);
	if (r >= 0)
		r = o->json ? json_dump_rows(stdout, arr, o->json) :
			      table_print(&t, arg_legend, "nodes");
	table_done(&t);
	return r < 0 ? ctl_fail(CTL_EXIT_FAILURE, r) : 0;
}

static void verify_progress(uint64_t done, void *ud)
{
	ctl_progress(ud, done, 0);
}

static int cluster_verify(const struct opts *o)
{
	_cleanup_json_ struct json_object *arr = NULL;
	char **names = NULL, err[512];
	size_t n = 0;
	bool broken = false;
	PGconn *c;
	int r = connect_store(o, &c);

	if (r < 0)
		return ctl_fail(CTL_EXIT_FAILURE, r);
	if (o->node) {
		names = calloc(2, sizeof(*names));
		if (names && (names[0] = strdup(o->node)))
			n = 1;
		r = n ? 0 : -ENOMEM;
	} else {
		r = store_verify_nodes(c, &names, &n, err, sizeof(err));
		if (r < 0)
			log_error("cluster verify: %s", err);
	}
	/* One snapshot: nodes may ship meanwhile; what is verified is consistent. */
	if (r == 0)
		PQclear(PQexec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"));
	if (r == 0 && o->json && !(arr = json_object_new_array()))
		r = -ENOMEM;
	for (size_t i = 0; r == 0 && i < n; i++) {
		struct store_verify_node v = {};
		char what[96], hex[2 * CHAIN_HASH_LEN + 1];

		snprintf(v.node, sizeof(v.node), "%s", names[i]);
		snprintf(what, sizeof(what), "verifying node %s", names[i]);
		r = store_verify_node(c, &v, verify_progress, what);
		ctl_progress_end();
		if (r < 0) {
			log_error("cluster verify: node %s: %s", v.node, v.error);
			break;
		}
		broken |= v.broken;
		chain_hex(v.head_hash, CHAIN_HASH_LEN, hex);
		if (o->json) {
			struct json_object *j = json_object_new_object();

			r = j ? json_object_array_add(arr, j) : -ENOMEM;
			if (r >= 0)
				r = json_add_string(j, "node", v.node);
			if (r >= 0)
				r = json_add_bool(j, "verified", !v.broken);
			if (r >= 0)
				r = json_add_uint(j, "records", v.records);
			if (r >= 0)
				r = json_add_uint(j, "rolled_up", v.rolled_up);
			if (r >= 0)
				r = json_add_uint(j, "checkpoints", v.checkpoints);
			if (r >= 0)
				r = json_add_uint(j, "head_seq", v.head_seq);
			if (r >= 0)
				r = json_add_string(j, "head_hash", hex);
			if (r >= 0)
				r = json_add_uint(j, "cpu_ns", v.totals.cpu_ns);
			if (r >= 0 && v.broken) {
				r = json_add_string(j, "broken", v.bad_what);
				if (r >= 0)
					r = json_add_uint(j, "broken_seq", v.bad_seq);
				if (r >= 0)
					r = json_add_string(j, "reason", v.reason);
			}
			r = r < 0 ? r : 0;
		} else if (v.broken) {
			printf("node %s: BROKEN at %s %" PRIu64 ": %s\n", v.node, v.bad_what,
			       v.bad_seq, v.reason);
		} else {
			printf("node %s: %" PRIu64 " records (%" PRIu64 " rolled up), %" PRIu64
			       " checkpoints verify; head %" PRIu64 " %.16s...\n",
			       v.node, v.records, v.rolled_up, v.checkpoints, v.head_seq, hex);
		}
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	PQfinish(c);
	if (r == 0 && o->json)
		r = json_dump_rows(stdout, arr, o->json);
	if (r < 0)
		return ctl_fail(CTL_EXIT_FAILURE, r);
	return broken ? ctl_fail(CTL_EXIT_FAILURE, -EBADMSG) : 0;
}

/* "hpcmeterctl: MESSAGE" and the hint, exit 2. */
static int cluster_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int cluster_usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("hpcmeterctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'hpcmeterctl cluster --help'.\n", stderr);
	return ctl_fail(CTL_EXIT_USAGE, -EINVAL);
}

struct usage_row {
	char *subject;
	double v[3];
};

struct usage_rows {
	struct usage_row *rows;
	size_t n;
	int metric;
};

static int usage_take(const char *subject, double value, void *ud)
{
	struct usage_rows *u = ud;
	struct usage_row *row = NULL, *a;

	for (size_t i = 0; i < u->n; i++)
		if (streq(u->rows[i].subject, subject))
			row = &u->rows[i];
	if (!row) {
		a = reallocarray(u->rows, u->n + 1, sizeof(*a));
		if (!a)
			return -ENOMEM;
		u->rows = a;
		row = &a[u->n];
		*row = (struct usage_row){ .subject = strdup(subject) };
		if (!row->subject)
			return -ENOMEM;
		u->n++;
	}
	row->v[u->metric] += value;
	return 0;
}

static int cluster_usage_verb(const struct opts *o)
{
	static const char *const metrics[] = { "cpu_seconds", "gpu_seconds", "ops_upper" };
	static const struct {
		const char *name;
		enum license_cap_scope scope;
	} scopes[] = {
		{ "job", LICENSE_SCOPE_JOB },	      { "user", LICENSE_SCOPE_USER },
		{ "account", LICENSE_SCOPE_ACCOUNT }, { "license", LICENSE_SCOPE_LICENSE },
		{ "project", LICENSE_SCOPE_PROJECT }, { "node", CLUSTER_SCOPE_NODE },
	};
	static const bool right[] = { false, true, true, true };
	const char *by = o->by ? o->by : "license";
	/* the first column is named after what it sums by, as usage --by's tables */
	char subject[16];
	const char *const headers[] = { subject, "CPU", "GPU", "OPS(UPPER)" };
	struct table t = { .n_columns = 4, .headers = headers, .right_align = right };
	enum license_cap_scope scope = LICENSE_SCOPE_LICENSE;
	uint64_t from = 0, to = now_realtime_usec();
	struct usage_rows u = {};
	struct cluster_usage *cu;
	char path[4200], err[512], pending[512];
	bool found = false, final;
	int r = 0;

	for (size_t i = 0; i < ARRAY_SIZE(scopes); i++)
		if (streq(by, scopes[i].name)) {
			scope = scopes[i].scope;
			found = true;
		}
	snprintf(subject, sizeof(subject), "%s", by);
	for (char *p = subject; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	if (!found)
		return cluster_usage_error("cluster usage: invalid --by '%s' (expected job, user, "
					   "account, license, project or node)",
					   by);
	/* UTC without a zone, as report: a licence's days are UTC days */
	if (o->since &&
	    parse_time_arg(o->since_opt, o->since, TIME_PARSE_UTC, &from, err, sizeof(err)) < 0)
		return cluster_usage_error("cluster usage: %s", err);
	if (o->until &&
	    parse_time_arg(o->until_opt, o->until, TIME_PARSE_UTC | TIME_PARSE_END_OF_DAY, &to, err,
			   sizeof(err)) < 0)
		return cluster_usage_error("cluster usage: %s", err);
	if (to <= from)
		return cluster_usage_error("cluster usage: %s must be after %s", o->until_opt,
					   o->since_opt);
	r = table_check_columns_of("cluster usage", &t);
	if (r < 0)
		return ctl_fail(CTL_EXIT_USAGE, r);
	snprintf(path, sizeof(path), "%s/%s",
		 o->state_dir ? o->state_dir : CONFIG_DEFAULT_STATE_DIR, CLUSTER_USAGE_FILE);
	r = cluster_usage_open(path, true, &cu, err, sizeof(err));
	if (r < 0) {
		log_error("cluster usage: %s (is hpcmeterd --cluster running with this state"
			  " directory?)",
			  err);
		return ctl_fail(CTL_EXIT_FAILURE, r);
	}
	/* from is exclusive in the query (intervals ending after it). */
	for (int m = 0; r >= 0 && m < 3; m++) {
		u.metric = m;
		r = cluster_usage_query(cu, NULL, metrics[m], scope, from ? from - 1 : 0, to,
					usage_take, &u);
	}
	final = r >= 0 && cluster_usage_final(cu, NULL, to, pending, sizeof(pending));
	cluster_usage_close(cu);
	if (r >= 0 && o->json) {
		_cleanup_json_ struct json_object *doc = json_object_new_object();
		struct json_object *rows = json_object_new_array();

		r = doc && rows ? json_object_object_add(doc, "rows", rows) : -ENOMEM;
		if (r < 0)
			json_object_put(rows);
		if (r >= 0)
			r = json_add_string(doc, "by", by);
		if (r >= 0)
			r = json_add_uint(doc, "from_usec", from);
		if (r >= 0)
			r = json_add_uint(doc, "to_usec", to);
		if (r >= 0)
			r = json_add_bool(doc, "final", final);
		if (r >= 0)
			r = json_add_string(doc, "pending_nodes", final ? "" : pending);
		for (size_t i = 0; r >= 0 && i < u.n; i++) {
			struct json_object *j = json_object_new_object();

			r = j ? json_object_array_add(rows, j) : -ENOMEM;
			if (r >= 0)
				r = json_add_string(j, "subject", u.rows[i].subject);
			for (int m = 0; r >= 0 && m < 3; m++)
				r = json_add_double(j, metrics[m], u.rows[i].v[m]);
		}
		if (r >= 0)
			r = json_dump_rows(stdout, doc, o->json);
	} else if (r >= 0) {
		for (size_t i = 0; r >= 0 && i < u.n; i++) {
			char cpu[FORMAT_TIMESPAN_MAX], gpu[FORMAT_TIMESPAN_MAX];

			format_timespan(cpu, (uint64_t)(u.rows[i].v[0] * USEC_PER_SEC));
			format_timespan(gpu, (uint64_t)(u.rows[i].v[1] * USEC_PER_SEC));
			if ((r = table_add(&t, "%s",
					   u.rows[i].subject[0] ? u.rows[i].subject : "(all)")) <
				    0 ||
			    (r = table_add(&t, "%s", cpu)) < 0 ||
			    (r = table_add(&t, "%s", gpu)) < 0 ||
			    (r = table_add(&t, "%.4g", u.rows[i].v[2])) < 0)
				break;
		}
		if (r >= 0)
			r = table_print(&t, arg_legend, NULL);
		/* CSV holds the rows only (whether final: the table and JSON) */
		if (r >= 0 && !arg_csv)
			printf("%s: %s\n", final ? "final" : "provisional",
			       final ? "every node's checkpoint is past the end" : pending);
	}
	table_done(&t);
	for (size_t i = 0; i < u.n; i++)
		free(u.rows[i].subject);
	free(u.rows);
	return r < 0 ? ctl_fail(CTL_EXIT_FAILURE, r) : 0;
}

/* ---- report --cluster ---- */

struct report_ctx {
	struct cluster_usage *cu;
	char **names;
	size_t n;
	struct json_object *nodes;
	double total[4];
	uint64_t from, to;
	/* per covered node, its totals (in names' order) */
	double (*sums)[4];
	int r;
};

static int report_totals(const char *node, const double t[4], void *ud)
{
	struct report_ctx *x = ud;

	for (size_t i = 0; i < x->n; i++)
		if (streq(x->names[i], node))
			memcpy(x->sums[i], t, sizeof(x->sums[i]));
	return 0;
}

static int report_cover(const char *node, void *ud)
{
	struct report_ctx *x = ud;
	char **v = reallocarray(x->names, x->n + 1, sizeof(*v));

	if (!v)
		return -ENOMEM;
	x->names = v;
	if (!(v[x->n] = strdup(node)))
		return -ENOMEM;
	x->names = v;
	x->n++;
	return 0;
}

static int report_node(const struct cluster_node *n, void *ud)
{
	static const char *const metrics[] = { "cpu_seconds", "gpu_seconds", "tpp_seconds",
					       "ops_upper" };
	struct report_ctx *x = ud;
	char hex[2 * CHAIN_HASH_LEN + 1];
	struct json_object *j;
	ssize_t idx = -1;
	int r;

	for (size_t i = 0; i < x->n; i++)
		if (streq(x->names[i], n->name))
			idx = (ssize_t)i;
	if (idx < 0)
		return 0;
	j = json_object_new_object();
	r = j ? json_object_array_add(x->nodes, j) : -ENOMEM;
	if (r >= 0)
		r = json_add_string(j, "node", n->name);
	for (int m = 0; r >= 0 && m < 4; m++) {
		r = json_add_double(j, metrics[m], x->sums[idx][m]);
		x->total[m] += x->sums[idx][m];
	}
	chain_hex(n->hash, CHAIN_HASH_LEN, hex);
	if (r >= 0)
		r = json_add_uint(j, "chain_seq", n->seq);
	if (r >= 0)
		r = json_add_string(j, "chain_hash", hex);
	if (r >= 0)
		r = json_add_uint(j, "checkpoint_seq", n->checkpoint_seq);
	if (r >= 0)
		r = json_add_uint(j, "checkpoint_usec", n->checkpoint_usec);
	if (r >= 0)
		r = json_add_string(j, "broken", n->broken);
	return r < 0 ? r : 0;
}

int ctl_cluster_report(const char *state_dir, const char *license_id, uint64_t from_usec,
		       uint64_t to_usec, EVP_PKEY *key, char **ret_doc, size_t *ret_len,
		       uint8_t sig[SIGN_LEN])
{
	static const char *const metrics[] = { "cpu_seconds", "gpu_seconds", "tpp_seconds",
					       "ops_upper" };
	_cleanup_json_ struct json_object *doc = json_object_new_object();
	struct report_ctx x = { .from = from_usec, .to = to_usec };
	struct json_object *total = json_object_new_object();
	char path[4200], err[512], pending[512], key_id[65];
	struct cluster_nodes covered;
	const char *text;
	size_t len;
	bool final;
	int r;

	x.nodes = json_object_new_array();
	if (!doc || !total || !x.nodes) {
		json_object_put(total);
		json_object_put(x.nodes);
		return log_oom();
	}
	json_object_object_add(doc, "nodes", x.nodes);
	snprintf(path, sizeof(path), "%s/%s", state_dir, CLUSTER_USAGE_FILE);
	r = cluster_usage_open(path, true, &x.cu, err, sizeof(err));
	if (r < 0) {
		json_object_put(total);
		log_error("report --cluster: %s (the evaluator's state directory?)", err);
		return r;
	}
	r = cluster_usage_coverage(x.cu, license_id, report_cover, &x);
	if (r == -ENOENT)
		log_error("report --cluster: the evaluator has not evaluated licence %s",
			  license_id);
	covered = (struct cluster_nodes){ .names = (const char *const *)x.names, .n = x.n };
	if (r >= 0 && !(x.sums = calloc(x.n + 1, sizeof(*x.sums))))
		r = -ENOMEM;
	if (r >= 0)
		r = cluster_usage_node_totals(x.cu, &covered, from_usec, to_usec, report_totals,
					      &x);
	if (r >= 0)
		r = cluster_usage_nodes(x.cu, report_node, &x);
	final = r >= 0 && cluster_usage_final(x.cu, &covered, to_usec, pending, sizeof(pending));
	cluster_usage_close(x.cu);
	for (int m = 0; r >= 0 && m < 4; m++)
		r = json_add_double(total, metrics[m], x.total[m]);
	if (r >= 0)
		r = json_object_object_add(doc, "total", total);
	else
		json_object_put(total);
	if (r >= 0)
		r = json_add_string(doc, "report", "hpcmeter cluster report 1");
	if (r >= 0)
		r = json_add_string(doc, "license_id", license_id);
	if (r >= 0)
		r = json_add_uint(doc, "from_usec", from_usec);
	if (r >= 0)
		r = json_add_uint(doc, "to_usec", to_usec);
	if (r >= 0)
		r = json_add_uint(doc, "generated_usec", now_realtime_usec());
	if (r >= 0)
		r = json_add_bool(doc, "final", final);
	if (r >= 0)
		r = json_add_string(doc, "pending_nodes", final ? "" : pending);
	if (r >= 0 && sign_key_id(key, key_id) < 0)
		r = -EINVAL;
	if (r >= 0)
		r = json_add_string(doc, "evaluator_key_id", key_id);
	for (size_t i = 0; i < x.n; i++)
		free(x.names[i]);
	free(x.names);
	free(x.sums);
	if (r < 0)
		return r;
	text = json_text(doc, JSON_PRETTY, &len);
	if (!text)
		return log_oom();
	*ret_doc = malloc(len + 1);
	if (!*ret_doc)
		return log_oom();
	memcpy(*ret_doc, text, len);
	(*ret_doc)[len] = '\n';
	*ret_len = len + 1;
	/* The exact bytes written are signed, as for a node's report. */
	r = sign_data(key, *ret_doc, *ret_len, sig);
	if (r < 0) {
		free(*ret_doc);
		*ret_doc = NULL;
	}
	return r;
}

int verb_cluster(sd_bus *bus, int argc, char **argv)
{
	static const struct option options[] = { { "database", required_argument, NULL, 'd' },
						 { "node", required_argument, NULL, 'n' },
						 { "key", required_argument, NULL, 'k' },
						 { "role", required_argument, NULL, 'r' },
						 { "json", optional_argument, NULL, 'j' },
						 { "state-dir", required_argument, NULL, 's' },
						 { "evaluator", no_argument, NULL, 'e' },
						 { "by", required_argument, NULL, 'b' },
						 { "since", required_argument, NULL, 'f' },
						 { "until", required_argument, NULL, 't' },
						 /* as report's --from, --to */
						 { "from", required_argument, NULL, 'F' },
						 { "to", required_argument, NULL, 'T' },
						 { "output", required_argument, NULL, 'o' },
						 { "columns", required_argument, NULL, 'c' },
						 { "no-legend", no_argument, NULL, 'L' },
						 { "help", no_argument, NULL, 'h' },
						 {} };
	struct opts o = { .since_opt = "--since", .until_opt = "--until" };
	const char *sub;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "ho:", options, NULL)) >= 0) {
		switch (c) {
		case 'd':
			o.database = optarg;
			break;
		case 'n':
			o.node = optarg;
			break;
		case 'k':
			o.key = optarg;
			break;
		case 'r':
			o.role = optarg;
			break;
		case 's':
			o.state_dir = optarg;
			break;
		case 'e':
			o.evaluator = true;
			break;
		case 'b':
			o.by = optarg;
			break;
		case 'f':
		case 'F':
			o.since = optarg;
			o.since_opt = c == 'F' ? "--from" : "--since";
			break;
		case 't':
		case 'T':
			o.until = optarg;
			o.until_opt = c == 'T' ? "--to" : "--until";
			break;
		case 'o':
			/* as everywhere in hpcmeterctl: -o json is --json */
			arg_csv = streq(optarg, "csv");
			if (streq(optarg, "json"))
				json_mode_from_arg(NULL, STDOUT_FILENO, &o.json);
			else if (streq(optarg, "table") || arg_csv)
				o.json = JSON_OFF;
			else
				return cluster_usage_error("unknown output format '%s' (expected "
							   "table, json or csv)",
							   optarg);
			break;
		case 'c':
			if (isempty(optarg) || optarg[strspn(optarg, ",")] == '\0' ||
			    strstr(optarg, ",,") || optarg[strlen(optarg) - 1] == ',')
				return cluster_usage_error(
					"--columns needs column names, separated by commas");
			arg_columns = optarg;
			break;
		case 'L':
			arg_legend = false;
			break;
		case 'j':
			if (json_mode_from_arg(optarg, STDOUT_FILENO, &o.json) < 0) {
				fprintf(stderr,
					"hpcmeterctl: unknown JSON mode '%s' (expected short, "
					"pretty or off)\nTry 'hpcmeterctl cluster --help'.\n",
					optarg);
				return ctl_fail(CTL_EXIT_USAGE, -EINVAL);
			}
			arg_csv = false;
			break;
		case 'h':
			help_cluster();
			return 0;
		default:
			fprintf(stderr, "Try 'hpcmeterctl cluster --help'.\n");
			return ctl_fail(CTL_EXIT_USAGE, -EINVAL);
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "hpcmeterctl: cluster: expected one of init, enroll, status,"
				" verify, usage\nTry 'hpcmeterctl cluster --help'.\n");
		return ctl_fail(CTL_EXIT_USAGE, -EINVAL);
	}
	sub = argv[optind];
	if ((o.since || o.until) && !streq(sub, "usage"))
		return cluster_usage_error("cluster %s: %s applies to 'cluster usage' only", sub,
					   o.since ? o.since_opt : o.until_opt);
	if ((arg_csv || arg_columns || !arg_legend) && !streq(sub, "usage") &&
	    !streq(sub, "status"))
		return cluster_usage_error("cluster %s: %s applies to 'cluster status' and "
					   "'cluster usage' (it prints no table)",
					   sub,
					   arg_csv     ? "-o csv" :
					   arg_columns ? "--columns" :
							 "--no-legend");
	if (arg_columns && o.json)
		return cluster_usage_error(
			"--columns chooses the columns of tables and CSV, not of JSON");
	if (streq(sub, "usage"))
		return cluster_usage_verb(&o);
	if (!o.database || !*o.database) {
		fprintf(stderr,
			"hpcmeterctl: cluster %s needs --database CONNINFO\n"
			"Try 'hpcmeterctl cluster --help'.\n",
			sub);
		return ctl_fail(CTL_EXIT_USAGE, -EINVAL);
	}
	if (streq(sub, "init"))
		return cluster_init(&o);
	if (streq(sub, "enroll"))
		return cluster_enroll(&o);
	if (streq(sub, "status"))
		return cluster_status(&o);
	if (streq(sub, "verify"))
		return cluster_verify(&o);
	fprintf(stderr,
		"hpcmeterctl: cluster: unknown command '%s'\n"
		"Try 'hpcmeterctl cluster --help'.\n",
		sub);
	return ctl_fail(CTL_EXIT_USAGE, -EINVAL);
}
