// SPDX-License-Identifier: GPL-2.0-only
/* The cluster store's schema in PostgreSQL, as versioned migration steps (like the ledger's):
 * step N takes a store at version N-1 to N in one transaction that also records N in
 * hpcm.schema_version. A step, once released, never changes. hpcmeterctl cluster init runs
 * them; a node or an evaluator refuses a store whose version is newer than it knows. */
#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "util.h"

/* Version 1: the nodes and their keys, the records each node ships exactly as chained, the
 * signed checkpoints, the refusals, the roles, and the triggers that keep it append-only and
 * refuse what does not continue a node's chain.
 *
 * Roles (cluster-wide in PostgreSQL, so created only when missing): hpcm_node, the group of
 * the nodes' login roles (one per node, made by cluster enroll), may INSERT rows, and read
 * back, only of its own node (row-level security); hpcm_reader (the evaluator, auditors)
 * reads everything. Nobody is granted UPDATE, DELETE or TRUNCATE, and triggers refuse them
 * even to the owner; what a superuser changes anyway, cluster verify finds (hashes and
 * signatures). The record and checkpoint triggers are SECURITY DEFINER: they read the
 * enrolment and write refusals, which the nodes cannot. A refused row is not inserted (the
 * trigger returns NULL) and the refusal is recorded in the same transaction, so that it
 * commits; once a node's record is refused in a transaction the rest of its batch is skipped
 * silently (they cannot continue the chain either). */
static const char schema_v1[] =
	"DO $$ BEGIN"
	" IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'hpcm_node') THEN"
	"  CREATE ROLE hpcm_node NOLOGIN; END IF;"
	" IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'hpcm_reader') THEN"
	"  CREATE ROLE hpcm_reader NOLOGIN; END IF;"
	" END $$;"
	"CREATE SCHEMA hpcm;"
	/* The store's identity: a node pointed at another store starts afresh there. */
	"CREATE TABLE hpcm.store (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),"
	" created_at timestamptz NOT NULL DEFAULT now());"
	"INSERT INTO hpcm.store DEFAULT VALUES;"
	"CREATE TABLE hpcm.schema_version (version integer PRIMARY KEY,"
	" applied_at timestamptz NOT NULL DEFAULT now(), what text NOT NULL);"
	"CREATE TABLE hpcm.nodes (name text PRIMARY KEY"
	"  CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$'),"
	" role name NOT NULL UNIQUE, enrolled_at timestamptz NOT NULL DEFAULT now());"
	"CREATE TABLE hpcm.node_keys (id bigserial PRIMARY KEY,"
	" node text NOT NULL REFERENCES hpcm.nodes(name), key_id text NOT NULL"
	"  CHECK (key_id ~ '^[0-9a-f]{64}$'),"
	" public_key text NOT NULL, enrolled_at timestamptz NOT NULL DEFAULT now(),"
	" UNIQUE (node, key_id));"
	"CREATE TABLE hpcm.records (node text NOT NULL, seq bigint NOT NULL CHECK (seq > 0),"
	" prev bytea NOT NULL CHECK (octet_length(prev) = 32),"
	" hash bytea NOT NULL CHECK (octet_length(hash) = 32),"
	" tbl text NOT NULL, row_id bigint NOT NULL, body bytea, rollup bigint,"
	" received_at timestamptz NOT NULL DEFAULT now(),"
	" CHECK ((body IS NULL) = (rollup IS NOT NULL)),"
	" PRIMARY KEY (node, seq));"
	"CREATE TABLE hpcm.checkpoints (node text NOT NULL, time_usec bigint NOT NULL"
	"  CHECK (time_usec > 0),"
	" head_seq bigint NOT NULL CHECK (head_seq >= 0),"
	" head_hash bytea NOT NULL CHECK (octet_length(head_hash) = 32),"
	" intervals bigint NOT NULL CHECK (intervals >= 0),"
	" cpu_ns bigint NOT NULL CHECK (cpu_ns >= 0), gpu_ns bigint NOT NULL CHECK (gpu_ns >= 0),"
	" key_id text NOT NULL, signature bytea NOT NULL CHECK (octet_length(signature) = 64),"
	" received_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (node, time_usec));"
	"CREATE INDEX checkpoints_head ON hpcm.checkpoints (node, head_seq);"
	"CREATE TABLE hpcm.refusals (id bigserial PRIMARY KEY, node text NOT NULL,"
	" role name NOT NULL, what text NOT NULL CHECK (what IN ('record', 'checkpoint')),"
	" seq bigint, reason text NOT NULL, time timestamptz NOT NULL DEFAULT now());"
	"CREATE INDEX refusals_node ON hpcm.refusals (node, id);"
	/* Append-only, for everybody: corrections are new rows. */
	"CREATE FUNCTION hpcm.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$"
	" BEGIN RAISE EXCEPTION 'hpcm.% is append-only: % refused', TG_TABLE_NAME, TG_OP"
	"  USING ERRCODE = 'insufficient_privilege'; END $$;"
	"CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON hpcm.nodes"
	" FOR EACH ROW EXECUTE FUNCTION hpcm.refuse_change();"
	"CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON hpcm.node_keys"
	" FOR EACH ROW EXECUTE FUNCTION hpcm.refuse_change();"
	"CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON hpcm.records"
	" FOR EACH ROW EXECUTE FUNCTION hpcm.refuse_change();"
	"CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON hpcm.checkpoints"
	" FOR EACH ROW EXECUTE FUNCTION hpcm.refuse_change();"
	"CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON hpcm.refusals"
	" FOR EACH ROW EXECUTE FUNCTION hpcm.refuse_change();"
	"CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON hpcm.schema_version"
	" FOR EACH ROW EXECUTE FUNCTION hpcm.refuse_change();"
	"CREATE TRIGGER no_truncate BEFORE TRUNCATE ON hpcm.nodes"
	" FOR EACH STATEMENT EXECUTE FUNCTION hpcm.refuse_change();"
	"CREATE TRIGGER no_truncate BEFORE TRUNCATE ON hpcm.node_keys"
	" FOR EACH STATEMENT EXECUTE FUNCTION hpcm.refuse_change();"
	"CREATE TRIGGER no_truncate BEFORE TRUNCATE ON hpcm.records"
	" FOR EACH STATEMENT EXECUTE FUNCTION hpcm.refuse_change();"
	"CREATE TRIGGER no_truncate BEFORE TRUNCATE ON hpcm.checkpoints"
	" FOR EACH STATEMENT EXECUTE FUNCTION hpcm.refuse_change();"
	"CREATE TRIGGER no_truncate BEFORE TRUNCATE ON hpcm.refusals"
	" FOR EACH STATEMENT EXECUTE FUNCTION hpcm.refuse_change();"
	"CREATE TRIGGER no_truncate BEFORE TRUNCATE ON hpcm.schema_version"
	" FOR EACH STATEMENT EXECUTE FUNCTION hpcm.refuse_change();"
	"CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON hpcm.store"
	" FOR EACH ROW EXECUTE FUNCTION hpcm.refuse_change();"
	"CREATE TRIGGER no_truncate BEFORE TRUNCATE ON hpcm.store"
	" FOR EACH STATEMENT EXECUTE FUNCTION hpcm.refuse_change();"
	/* Who the connected node is: its login role's enrolment, or why it has none. */
	"CREATE FUNCTION hpcm.identify(claimed text, OUT why text) LANGUAGE plpgsql"
	" SECURITY DEFINER SET search_path = pg_catalog AS $$"
	" DECLARE me text; BEGIN"
	"  SELECT name INTO me FROM hpcm.nodes WHERE role = session_user;"
	"  IF me IS NULL THEN"
	"   why := format('role %s is not enrolled as a node', session_user);"
	"  ELSIF me <> claimed THEN"
	"   why := format('role %s is enrolled as node %s, not %s', session_user, me, claimed);"
	"  END IF; END $$;"
	"CREATE FUNCTION hpcm.refuse(n text, w text, s bigint, why text) RETURNS void"
	" LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$ BEGIN"
	" INSERT INTO hpcm.refusals (node, role, what, seq, reason)"
	"  VALUES (n, session_user, w, s, why);"
	" PERFORM set_config('hpcm.head', '!' || n, true); END $$;"
	/* A record must continue its node's chain: the next seq, the previous hash the last one
	 * stored, a hash that is SHA-256(prev || be64(seq) || body). A resend of a stored record
	 * is skipped without a word. The head is kept in a transaction-local setting, so that a
	 * batch reads the table once (a probe per row would double the cost of an insert); a
	 * node's batches are serialized by an advisory lock. */
	"CREATE FUNCTION hpcm.records_check() RETURNS trigger LANGUAGE plpgsql"
	" SECURITY DEFINER SET search_path = pg_catalog AS $$"
	" DECLARE head text; last_seq bigint; last_hash bytea; stored bytea; why text; BEGIN"
	"  head := current_setting('hpcm.head', true);"
	"  IF head = '!' || NEW.node THEN RETURN NULL; END IF;"
	"  IF head IS NOT NULL AND starts_with(head, NEW.node || '|') THEN"
	"   last_seq := split_part(head, '|', 2)::bigint;"
	"   last_hash := decode(split_part(head, '|', 3), 'hex');"
	"  ELSE"
	"   why := hpcm.identify(NEW.node);"
	"   IF why IS NULL THEN"
	"    PERFORM pg_advisory_xact_lock(hashtext('hpcm.records'), hashtext(NEW.node));"
	"    SELECT r.seq, r.hash INTO last_seq, last_hash FROM hpcm.records r"
	"     WHERE r.node = NEW.node ORDER BY r.seq DESC LIMIT 1;"
	"   END IF;"
	"   IF last_seq IS NULL THEN last_seq := 0;"
	"    last_hash := decode(repeat('00', 32), 'hex'); END IF;"
	"  END IF;"
	"  IF why IS NULL AND NEW.seq <= last_seq THEN"
	"   SELECT r.hash INTO stored FROM hpcm.records r WHERE r.node = NEW.node"
	"    AND r.seq = NEW.seq;"
	"   IF stored = NEW.hash THEN RETURN NULL; END IF;"
	"   why := format('record %s differs from the one stored (a fork)', NEW.seq);"
	"  ELSIF why IS NULL AND NEW.seq <> last_seq + 1 THEN"
	"   why := format('record %s is not the next one (the store has %s)', NEW.seq,"
	"    last_seq);"
	"  ELSIF why IS NULL AND NEW.prev <> last_hash THEN"
	"   why := format('record %s does not continue record %s: previous hash differs"
	" (a fork)', NEW.seq, last_seq);"
	"  ELSIF why IS NULL AND NEW.body IS NOT NULL AND"
	"   sha256(NEW.prev || int8send(NEW.seq) || NEW.body) <> NEW.hash THEN"
	"   why := format('record %s: its hash does not match its content', NEW.seq);"
	"  END IF;"
	"  IF why IS NOT NULL THEN"
	"   PERFORM hpcm.refuse(NEW.node, 'record', NEW.seq, why); RETURN NULL; END IF;"
	"  PERFORM set_config('hpcm.head', NEW.node || '|' || NEW.seq || '|' ||"
	"   encode(NEW.hash, 'hex'), true);"
	"  NEW.received_at := now(); RETURN NEW; END $$;"
	"CREATE TRIGGER records_check BEFORE INSERT ON hpcm.records"
	" FOR EACH ROW EXECUTE FUNCTION hpcm.records_check();"
	/* The head cached in a setting is the node's to set too: after each statement, the rows
	 * it inserted are checked once more, set-based, to continue the chain stored before. A
	 * node that forged the setting gets an error, its whole statement undone. */
	"CREATE FUNCTION hpcm.records_linked() RETURNS trigger LANGUAGE plpgsql"
	" SECURITY DEFINER SET search_path = pg_catalog AS $$"
	" DECLARE bad bigint; BEGIN"
	"  SELECT n.seq INTO bad FROM (SELECT i.node, i.seq, i.prev,"
	"    lag(i.seq) OVER w AS lseq, lag(i.hash) OVER w AS lhash FROM new_rows i"
	"    WINDOW w AS (PARTITION BY i.node ORDER BY i.seq)) n"
	"   LEFT JOIN hpcm.records p ON n.lseq IS NULL AND p.node = n.node AND p.seq = n.seq - 1"
	"   WHERE (n.lseq IS NOT NULL AND (n.lseq <> n.seq - 1 OR n.lhash <> n.prev))"
	"    OR (n.lseq IS NULL AND n.seq > 1 AND (p.hash IS NULL OR p.hash <> n.prev))"
	"    OR (n.lseq IS NULL AND n.seq = 1 AND n.prev <> decode(repeat('00', 32), 'hex'))"
	"   LIMIT 1;"
	"  IF bad IS NOT NULL THEN"
	"   RAISE EXCEPTION 'record % does not continue its node''s chain', bad"
	"    USING ERRCODE = 'integrity_constraint_violation'; END IF;"
	"  RETURN NULL; END $$;"
	"CREATE TRIGGER records_linked AFTER INSERT ON hpcm.records"
	" REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT"
	" EXECUTE FUNCTION hpcm.records_linked();"
	/* A checkpoint names a record the store has, with its hash, is signed by a key enrolled
	 * for its node, and does not go back in the chain. Its Ed25519 signature itself is checked
	 * by cluster verify and the evaluator (PostgreSQL has no Ed25519). */
	"CREATE FUNCTION hpcm.checkpoints_check() RETURNS trigger LANGUAGE plpgsql"
	" SECURITY DEFINER SET search_path = pg_catalog AS $$"
	" DECLARE why text; stored bytea; last_head bigint; BEGIN"
	"  why := hpcm.identify(NEW.node);"
	"  IF why IS NULL AND NOT EXISTS (SELECT 1 FROM hpcm.node_keys k"
	"    WHERE k.node = NEW.node AND k.key_id = NEW.key_id) THEN"
	"   why := format('checkpoint signed by key %s, which is not enrolled for node %s',"
	"    NEW.key_id, NEW.node);"
	"  END IF;"
	"  IF why IS NULL AND NEW.head_seq > 0 THEN"
	"   SELECT r.hash INTO stored FROM hpcm.records r WHERE r.node = NEW.node"
	"    AND r.seq = NEW.head_seq;"
	"   IF stored IS NULL THEN"
	"    why := format('checkpoint names record %s, which the store does not have',"
	"     NEW.head_seq);"
	"   ELSIF stored <> NEW.head_hash THEN"
	"    why := format('checkpoint names record %s with another hash (a fork)',"
	"     NEW.head_seq);"
	"   END IF;"
	"  END IF;"
	"  IF why IS NULL THEN"
	"   SELECT max(c.head_seq) INTO last_head FROM hpcm.checkpoints c"
	"    WHERE c.node = NEW.node;"
	"   IF last_head > NEW.head_seq THEN"
	"    why := format('checkpoint at record %s goes back (the last was at %s)',"
	"     NEW.head_seq, last_head);"
	"   END IF;"
	"  END IF;"
	"  IF why IS NOT NULL THEN"
	"   PERFORM hpcm.refuse(NEW.node, 'checkpoint', NEW.head_seq, why); RETURN NULL;"
	"  END IF;"
	"  NEW.received_at := now(); RETURN NEW; END $$;"
	"CREATE TRIGGER checkpoints_check BEFORE INSERT ON hpcm.checkpoints"
	" FOR EACH ROW EXECUTE FUNCTION hpcm.checkpoints_check();"
	/* Row-level security: a node writes and reads its own rows only. */
	"CREATE FUNCTION hpcm.my_node() RETURNS text LANGUAGE sql STABLE SECURITY DEFINER"
	" SET search_path = pg_catalog AS $$"
	" SELECT name FROM hpcm.nodes WHERE role = session_user $$;"
	"ALTER TABLE hpcm.records ENABLE ROW LEVEL SECURITY;"
	"ALTER TABLE hpcm.checkpoints ENABLE ROW LEVEL SECURITY;"
	"ALTER TABLE hpcm.refusals ENABLE ROW LEVEL SECURITY;"
	"CREATE POLICY node_insert ON hpcm.records FOR INSERT TO hpcm_node"
	" WITH CHECK (node = (SELECT hpcm.my_node()));"
	"CREATE POLICY node_select ON hpcm.records FOR SELECT TO hpcm_node"
	" USING (node = (SELECT hpcm.my_node()));"
	"CREATE POLICY node_insert ON hpcm.checkpoints FOR INSERT TO hpcm_node"
	" WITH CHECK (node = (SELECT hpcm.my_node()));"
	"CREATE POLICY node_select ON hpcm.checkpoints FOR SELECT TO hpcm_node"
	" USING (node = (SELECT hpcm.my_node()));"
	"CREATE POLICY node_select ON hpcm.refusals FOR SELECT TO hpcm_node"
	" USING (node = (SELECT hpcm.my_node()));"
	"CREATE POLICY reader ON hpcm.records FOR SELECT TO hpcm_reader USING (true);"
	"CREATE POLICY reader ON hpcm.checkpoints FOR SELECT TO hpcm_reader USING (true);"
	"CREATE POLICY reader ON hpcm.refusals FOR SELECT TO hpcm_reader USING (true);"
	"REVOKE ALL ON SCHEMA hpcm FROM PUBLIC;"
	"REVOKE ALL ON ALL TABLES IN SCHEMA hpcm FROM PUBLIC;"
	"REVOKE ALL ON ALL FUNCTIONS IN SCHEMA hpcm FROM PUBLIC;"
	"GRANT USAGE ON SCHEMA hpcm TO hpcm_node, hpcm_reader;"
	"GRANT EXECUTE ON FUNCTION hpcm.records_check(), hpcm.checkpoints_check(),"
	" hpcm.refuse_change(), hpcm.my_node() TO hpcm_node, hpcm_reader;"
	"GRANT SELECT, INSERT ON hpcm.records, hpcm.checkpoints TO hpcm_node;"
	"GRANT SELECT ON hpcm.store, hpcm.nodes, hpcm.node_keys, hpcm.schema_version,"
	" hpcm.refusals"
	" TO hpcm_node;"
	"GRANT SELECT ON ALL TABLES IN SCHEMA hpcm TO hpcm_reader;";

static const struct store_step {
	const char *what;
	const char *sql;
} steps[] = {
	{ "nodes, keys, records, checkpoints, refusals, roles; append-only, chains checked",
	  schema_v1 },
};

int store_schema_version(void)
{
	return ARRAY_SIZE(steps);
}

static int exec_ok(PGconn *c, const char *sql, char *err, size_t size)
{
	PGresult *res = PQexec(c, sql);
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	int r = 0;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		snprintf(err, size, "%s", store_error_line(c, res));
		r = -EIO;
	}
	PQclear(res);
	return r;
}

int store_read_version(PGconn *c, int *ret, char *err, size_t size)
{
	PGresult *res = PQexec(c, "SELECT CASE WHEN to_regclass('hpcm.schema_version') IS NULL"
				  " THEN -1 ELSE 0 END");
	int exists, r = 0;

	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		snprintf(err, size, "%s", store_error_line(c, res));
		PQclear(res);
		return -EIO;
	}
	r = store_value_int(res, 0, 0, -1, 0, &exists);
	PQclear(res);
	if (r < 0) {
		snprintf(err, size, "unexpected reply to the schema query");
		return r;
	}
	if (exists < 0) {
		*ret = 0;
		return 0;
	}
	res = PQexec(c, "SELECT COALESCE(max(version), 0) FROM hpcm.schema_version");
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		snprintf(err, size, "%s", store_error_line(c, res));
		PQclear(res);
		return -EIO;
	}
	r = store_value_int(res, 0, 0, 0, 1000000, ret);
	PQclear(res);
	if (r < 0)
		snprintf(err, size, "the store's schema version is not a number in range");
	return r;
}

int store_migrate(PGconn *c, int *ret_from, int *ret_to, char *err, size_t size)
{
	int version, r;

	/* One init at a time: the steps run under a lock of their own. */
	r = exec_ok(c, "BEGIN; SELECT pg_advisory_xact_lock(hashtext('hpcm.migrate'))", err, size);
	if (r < 0)
		return r;
	r = store_read_version(c, &version, err, size);
	if (r == 0 && version > store_schema_version()) {
		snprintf(err, size,
			 "the store has schema version %d, newer than this hpcmeter (%d): upgrade "
			 "hpcmeter",
			 version, store_schema_version());
		r = -EPROTONOSUPPORT;
	}
	if (ret_from)
		*ret_from = version;
	while (r == 0 && version < store_schema_version()) {
		char sql[256];

		r = exec_ok(c, steps[version].sql, err, size);
		if (r < 0)
			break;
		snprintf(sql, sizeof(sql),
			 "INSERT INTO hpcm.schema_version (version, what) VALUES (%d, '%s')",
			 version + 1, steps[version].what);
		r = exec_ok(c, sql, err, size);
		if (r == 0)
			version++;
	}
	if (r == 0)
		r = exec_ok(c, "COMMIT", err, size);
	if (r < 0) {
		PGresult *res = PQexec(c, "ROLLBACK");

		PQclear(res);
		return r;
	}
	if (ret_to)
		*ret_to = version;
	return 0;
}
