// SPDX-License-Identifier: GPL-2.0-only
/* hpcmeterctl cluster init|enroll|status|verify: the cluster's store in PostgreSQL, directly
 * through libpq (no daemon needed): create or migrate its schema, enrol a node and its key,
 * show what each node shipped, and walk every chain and signature (lib/store*.c). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <systemd/sd-bus.h>

#include "ctl-exit.h"
#include "ctl-format.h"
#include "ctl-help.h"
#include "ctl-ledger.h"
#include "ctl-table.h"
#include "ctl-verbs.h"
#include "json-doc.h"
#include "sign.h"
#include "store-verify.h"
#include "util.h"

static void help_cluster(void)
{
	printf("Usage: hpcmeterctl cluster init --database CONNINFO\n"
	       "       hpcmeterctl cluster enroll --database CONNINFO --node NAME --key PUBLIC.pem\n"
	       "                                  [--role ROLE]\n"
	       "       hpcmeterctl cluster status --database CONNINFO [--json]\n"
	       "       hpcmeterctl cluster verify --database CONNINFO [--node NAME] [--json]\n"
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
	       "\n"
	       "Options:\n"
	       "  --database CONNINFO  libpq connection string, e.g. \"host=store.example\n"
	       "                       dbname=hpcmeter sslmode=verify-full\"\n"
	       "  --node NAME          enroll: the node's name (its node_name); verify: only it\n"
	       "  --key FILE           enroll: the node's public key (PEM)\n"
	       "  --role ROLE          enroll: the node's PostgreSQL login role\n"
	       "  --json[=MODE]        status, verify: JSON (short or pretty)\n"
	       "\n"
	       "Examples:\n"
	       "  hpcmeterctl cluster init --database 'dbname=hpcmeter'\n"
	       "  hpcmeterctl cluster enroll --database 'dbname=hpcmeter' --node n001 \\\n"
	       "      --key n001.pub.pem\n"
	       "  hpcmeterctl cluster verify --database 'dbname=hpcmeter' || echo TAMPERED\n");
	ctl_help_exit_status(stdout);
	printf("  (cluster verify: 1 also when a record or checkpoint does not verify.)\n");
}

struct opts {
	const char *database, *node, *key, *role;
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
	int r = connect_store(o, &c);

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
		r = o->json ? json_dump_rows(stdout, arr, o->json) : table_print(&t, true, "nodes");
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

int verb_cluster(sd_bus *bus, int argc, char **argv)
{
	static const struct option options[] = { { "database", required_argument, NULL, 'd' },
						 { "node", required_argument, NULL, 'n' },
						 { "key", required_argument, NULL, 'k' },
						 { "role", required_argument, NULL, 'r' },
						 { "json", optional_argument, NULL, 'j' },
						 { "help", no_argument, NULL, 'h' },
						 {} };
	struct opts o = {};
	const char *sub;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
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
		case 'j':
			if (json_mode_from_arg(optarg, STDOUT_FILENO, &o.json) < 0) {
				fprintf(stderr,
					"hpcmeterctl: unknown JSON mode '%s' (expected short, "
					"pretty or off)\nTry 'hpcmeterctl cluster --help'.\n",
					optarg);
				return ctl_fail(CTL_EXIT_USAGE, -EINVAL);
			}
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
				" verify\nTry 'hpcmeterctl cluster --help'.\n");
		return ctl_fail(CTL_EXIT_USAGE, -EINVAL);
	}
	sub = argv[optind];
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
