// SPDX-License-Identifier: GPL-2.0-only
/* The cluster's evaluator (hpcmeterd --cluster): no meter, no kernel. Every interval it reads
 * what the nodes shipped to the store (lib/cluster-usage.c: each chain checked as it arrives,
 * each checkpoint's signature against the node's enrolled key), then evaluates every licence's
 * caps over the nodes the licence covers (its destination's host names, else every enrolled
 * node), naming each node's share in a violation, saying whether a period's total is final
 * (every covered node's checkpoint past its end) or provisional, and raising what a node's
 * state means for the licence (a chain that broke, a node silent, a clock ahead). Violations
 * go through the same lifecycle, ledger and notifications as a node's; the evaluator's own
 * ledger is shipped to the store like a node's (ship.c), signed with its own key. The store is
 * read with libpq's blocking calls, each bounded by statement_timeout: there is no meter here
 * for them to hold up, and the bus is served between two ticks. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster-usage.h"
#include "manager.h"
#include "store.h"
#include "util.h"

/* Records read per node per tick: a store full of history is read over several ticks. */
#define INGEST_MAX 200000

struct cluster {
	struct cluster_usage *cu;
	PGconn *conn;
	char why[512]; /* why the store is not read now, "" when it is */
	uint64_t records, ticks;
	uint64_t last_ingest_usec;
};

static void disconnect(struct cluster *c, const char *why)
{
	if (!streq(c->why, why))
		log_warning("cluster: cannot read the store: %s (evaluating what was read)", why);
	snprintf(c->why, sizeof(c->why), "%s", why);
	if (c->conn)
		PQfinish(c->conn);
	c->conn = NULL;
}

static int connect_store(struct manager *m, struct cluster *c)
{
	char err[512];
	PGresult *res;
	int version = 0;

	if (c->conn && PQstatus(c->conn) == CONNECTION_OK)
		return 0;
	if (c->conn)
		PQfinish(c->conn);
	c->conn = NULL;
	if (store_connect(m->cfg.cluster_database, "hpcmeterd --cluster", &c->conn, err,
			  sizeof(err)) < 0) {
		c->conn = NULL;
		disconnect(c, err);
		return -ECONNREFUSED;
	}
	res = PQexec(c->conn, "SET statement_timeout = '60s'");
	PQclear(res);
	if (store_read_version(c->conn, &version, err, sizeof(err)) < 0) {
		disconnect(c, err);
		return -EIO;
	}
	if (version != store_schema_version()) {
		snprintf(err, sizeof(err), "the store's schema version is %d, this hpcmeterd's %d",
			 version, store_schema_version());
		disconnect(c, err);
		return -EPROTONOSUPPORT;
	}
	if (c->why[0])
		log_info("cluster: reading the store again");
	c->why[0] = '\0';
	return 0;
}

int cluster_start(struct manager *m)
{
	char path[4200], err[512];
	int r;

	m->cluster = calloc(1, sizeof(*m->cluster));
	if (!m->cluster)
		return -ENOMEM;
	if (!m->cfg.cluster_database[0]) {
		log_error("--cluster needs cluster_database: the store to read");
		return -EINVAL;
	}
	snprintf(path, sizeof(path), "%s/%s", m->cfg.state_dir, CLUSTER_USAGE_FILE);
	r = cluster_usage_open(path, false, &m->cluster->cu, err, sizeof(err));
	if (r < 0) {
		log_error("cluster: %s", err);
		return r;
	}
	r = cluster_usage_set_evaluator(m->cluster->cu, manager_node_name(m));
	if (r < 0) {
		log_error("cluster: cannot write %s: %s", path, strerror(-r));
		return r;
	}
	log_info("cluster evaluator: reading the store, usage kept in %s", path);
	return 0;
}

void cluster_free(struct manager *m)
{
	if (!m->cluster)
		return;
	if (m->cluster->conn)
		PQfinish(m->cluster->conn);
	cluster_usage_close(m->cluster->cu);
	free(m->cluster);
	m->cluster = NULL;
}

void cluster_tick(struct manager *m)
{
	struct cluster *c = m->cluster;
	uint64_t n = 0;
	char err[512];
	int r;

	if (!c)
		return;
	c->ticks++;
	if (connect_store(m, c) < 0)
		return;
	r = cluster_usage_ingest(c->cu, c->conn, INGEST_MAX, &n, err, sizeof(err));
	if (r < 0) {
		disconnect(c, err);
		return;
	}
	c->records += n;
	c->last_ingest_usec = now_realtime_usec();
}

/* ---- evaluation ---- */

/* The nodes a licence covers: its destination's host names (node names default to them), or
 * every enrolled node but this evaluator. */
struct covered {
	struct manager *m;
	const struct license *l;
	const char **names;
	size_t n;
	char **unknown; /* host names of the licence that are no node */
	size_t n_unknown;
};

static int add_node(const struct cluster_node *n, void *ud)
{
	struct covered *cv = ud;
	const char **v;

	if (streq(n->name, manager_node_name(cv->m)))
		return 0;
	if (cv->l->destination.n_hostnames) {
		bool named = false;

		for (size_t i = 0; i < cv->l->destination.n_hostnames; i++)
			named |= streq(cv->l->destination.hostnames[i], n->name);
		if (!named)
			return 0;
	}
	v = reallocarray(cv->names, cv->n + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	cv->names = v;
	v[cv->n] = strdup(n->name);
	if (!v[cv->n])
		return -ENOMEM;
	cv->n++;
	return 0;
}

static void covered_done(struct covered *cv)
{
	for (size_t i = 0; i < cv->n; i++)
		free((char *)cv->names[i]);
	free(cv->names);
	*cv = (struct covered){};
}

static int covered_nodes(struct manager *m, const struct license *l, struct covered *cv)
{
	int r;

	*cv = (struct covered){ .m = m, .l = l };
	r = cluster_usage_nodes(m->cluster->cu, add_node, cv);
	if (r < 0)
		covered_done(cv);
	return r;
}

struct usage_ud {
	struct manager *m;
	struct cluster_nodes nodes;
};

static int cluster_usage_fn(void *userdata, const char *metric, enum license_cap_scope scope,
			    uint64_t from_usec, uint64_t to_usec,
			    int (*fn)(const char *subject, double value, void *ud), void *ud)
{
	struct usage_ud *u = userdata;

	return cluster_usage_query(u->m->cluster->cu, &u->nodes, metric, scope, from_usec, to_usec,
				   fn, ud);
}

struct shares_ctx {
	char text[EVAL_TEXT_MAX];
	size_t len;
	double total;
	int n;
};

static int share_add(const char *node, double value, void *ud)
{
	struct shares_ctx *s = ud;

	s->total += value;
	if (s->len < sizeof(s->text)) {
		int w = snprintf(s->text + s->len, sizeof(s->text) - s->len, "%s%s %.6g",
				 s->n ? ", " : "", node, value);

		s->len += w > 0 ? (size_t)w : 0;
	}
	s->n++;
	return 0;
}

/* The period of a cap as evaluated now: (start, end]. */
static void cap_period(const struct license *l, const struct license_cap *c, int64_t now,
		       uint64_t *from, uint64_t *end)
{
	int64_t start = eval_period_start(c->period, l->timezone, now), next = l->valid_until + 1;

	switch (c->period) {
	case LICENSE_PERIOD_DAY:
		next = eval_period_start(c->period, l->timezone, start + 36 * 3600);
		break;
	case LICENSE_PERIOD_CALENDAR_MONTH:
		next = eval_period_start(c->period, l->timezone, start + 32 * 86400);
		break;
	case LICENSE_PERIOD_CALENDAR_YEAR:
		next = eval_period_start(c->period, l->timezone, start + 370 * 86400);
		break;
	default:
		break;
	}
	if (start < l->valid_from)
		start = l->valid_from;
	if (next > l->valid_until + 1)
		next = l->valid_until + 1;
	*from = (uint64_t)(c->period == LICENSE_PERIOD_RUN ? 0 : start) * USEC_PER_SEC;
	*end = (uint64_t)next * USEC_PER_SEC;
}

static const struct license_cap *cap_of(const struct license *l, const char *term)
{
	for (size_t i = 0; i < l->n_caps; i++)
		if (strncmp(term, "caps.", 5) == 0 && streq(term + 5, l->caps[i].id))
			return &l->caps[i];
	return NULL;
}

/* Each cap finding names the nodes' shares; each cap term says final or provisional. */
static void annotate(struct manager *m, const struct license *l, struct usage_ud *u,
		     struct eval_result *res, size_t first_finding, size_t first_term, int64_t now)
{
	for (size_t i = first_finding; i < res->n_findings; i++) {
		struct eval_finding *f = &res->findings[i];
		const struct license_cap *c = cap_of(l, f->term);
		struct shares_ctx s = {};
		uint64_t from, end;
		size_t len;

		if (!c)
			continue;
		cap_period(l, c, now, &from, &end);
		if (cluster_usage_shares(m->cluster->cu, &u->nodes, c->metric, c->scope, f->subject,
					 from, (uint64_t)now * USEC_PER_SEC, share_add, &s) < 0 ||
		    !s.n)
			continue;
		len = strlen(f->detail);
		snprintf(f->detail + len, sizeof(f->detail) - len, "; nodes: %s", s.text);
	}
	for (size_t i = first_term; i < res->n_terms; i++) {
		struct eval_term *t = &res->terms[i];
		const struct license_cap *c = cap_of(l, t->term);
		char pending[256];
		uint64_t from, end;
		size_t len;
		bool final;

		if (!c)
			continue;
		cap_period(l, c, now, &from, &end);
		final = (uint64_t)now * USEC_PER_SEC >= end &&
			cluster_usage_final(m->cluster->cu, &u->nodes, end, pending,
					    sizeof(pending));
		if (!final && (uint64_t)now * USEC_PER_SEC < end)
			snprintf(pending, sizeof(pending), "the period has not ended");
		len = strlen(t->text);
		/* Usage only grows: an overrun seen now is certain; under the cap can change. */
		snprintf(t->text + len, sizeof(t->text) - len, "; across %zu node%s, %s%s%s%s",
			 u->nodes.n, u->nodes.n == 1 ? "" : "s",
			 t->state == EVAL_VIOLATED ? "certain" :
			 final			   ? "final" :
						     "provisional",
			 !final && t->state != EVAL_VIOLATED ? " (" : "",
			 !final && t->state != EVAL_VIOLATED ? pending : "",
			 !final && t->state != EVAL_VIOLATED ? ")" : "");
	}
}

/* What a node's state means for a licence that covers it. */
struct node_findings {
	struct manager *m;
	const struct license *l;
	struct covered *cv;
	struct eval_result *res;
	uint64_t now_usec;
	int r;
};

static void node_finding(struct node_findings *x, const char *kind, const char *node,
			 const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void node_finding(struct node_findings *x, const char *kind, const char *node,
			 const char *fmt, ...)
{
	struct eval_finding *f = eval_finding_add(x->res, kind, "cluster.nodes");
	va_list ap;

	if (!f) {
		x->r = -ENOMEM;
		return;
	}
	snprintf(f->subject, sizeof(f->subject), "%s", node);
	snprintf(f->key, sizeof(f->key), "%s|%s|%s", kind, x->l->id, node);
	va_start(ap, fmt);
	vsnprintf(f->detail, sizeof(f->detail), fmt, ap);
	va_end(ap);
}

static int check_node(const struct cluster_node *n, void *ud)
{
	struct node_findings *x = ud;
	bool covered = false;

	for (size_t i = 0; i < x->cv->n; i++)
		covered |= streq(x->cv->names[i], n->name);
	if (!covered)
		return 0;
	if (n->broken[0])
		node_finding(x, "cluster-node-broken", n->name,
			     "node %s: its records in the store do not verify: %s; nothing after"
			     " it is counted",
			     n->name, n->broken);
	if (n->refused[0])
		node_finding(x, "cluster-node-refused", n->name,
			     "node %s: the store refuses its checkpoints: %s (its usage counts, but"
			     " its periods cannot become final)",
			     n->name, n->refused);
	if (n->skew_usec > 0)
		node_finding(
			x, "cluster-clock-skew", n->name,
			"node %s: its clock is %.0f s ahead of the store's (its last checkpoint"
			" covers a time the store had not reached): periods may be misattributed",
			n->name, n->skew_usec / 1e6);
	if (n->checkpoint_received_usec &&
	    x->now_usec > n->checkpoint_received_usec + CLUSTER_SILENT_USEC) {
		if (x->l->gap_policy == LICENSE_GAP_VIOLATION)
			node_finding(
				x, "cluster-node-silent", n->name,
				"node %s: no checkpoint for %.0f s: the licence counts a gap as"
				" a violation",
				n->name, (x->now_usec - n->checkpoint_received_usec) / 1e6);
	}
	return x->r;
}

static int evaluate_one(struct manager *m, const struct license *l, struct eval_result *res,
			int64_t now)
{
	struct covered cv;
	struct usage_ud u = { .m = m };
	size_t first_finding = res->n_findings, first_term = res->n_terms;
	int r = covered_nodes(m, l, &cv);

	if (r < 0)
		return r;
	u.nodes = (struct cluster_nodes){ .names = cv.names,
					  .n = cv.n,
					  .now_usec = (uint64_t)now * USEC_PER_SEC,
					  .count_silence = l->gap_policy == LICENSE_GAP_MAX_RATE };
	struct eval_input in = {
		.now = now,
		.hostname = m->hostname,
		.usage = cluster_usage_fn,
		.usage_userdata = &u,
	};
	if (cluster_usage_set_coverage(m->cluster->cu, l->id, cv.names, cv.n) < 0)
		log_warning("cluster: cannot keep the nodes licence %s covers", l->id);
	r = evaluate_license_caps(l, &in, res);
	if (r == 0)
		annotate(m, l, &u, res, first_finding, first_term, now);
	/* Host names of the licence that are no node of the store. */
	for (size_t i = 0; r == 0 && i < l->destination.n_hostnames; i++) {
		bool known = false;

		for (size_t k = 0; k < cv.n; k++)
			known |= streq(cv.names[k], l->destination.hostnames[i]);
		if (!known) {
			struct node_findings x = { m, l, &cv, res, 0, 0 };

			node_finding(&x, "cluster-unknown-node", l->destination.hostnames[i],
				     "licence %s names node %s, which is not enrolled in the store:"
				     " its usage cannot be counted",
				     l->id, l->destination.hostnames[i]);
			r = x.r;
		}
	}
	if (r == 0) {
		struct node_findings x = { m, l, &cv, res, (uint64_t)now * USEC_PER_SEC, 0 };

		r = cluster_usage_nodes(m->cluster->cu, check_node, &x);
	}
	covered_done(&cv);
	return r;
}

int cluster_evaluate(struct manager *m, const char *only_id, struct eval_result *res)
{
	int64_t now = (int64_t)(now_realtime_usec() / USEC_PER_SEC);
	bool found = false;
	int r = 0;

	if (!m->cluster)
		return 0; /* not started yet: the first tick evaluates */
	for (size_t i = 0; m->licenses && i < m->licenses->n_entries && r >= 0; i++) {
		const struct license *l = m->licenses->entries[i].license;

		if (!l || (only_id && !streq(only_id, l->id)))
			continue;
		found = true;
		r = evaluate_one(m, l, res, now);
		if (r < 0)
			log_error("cluster: evaluating licence %s failed: %s", l->id, strerror(-r));
	}
	if (r == 0 && only_id && !found)
		return -ENOENT;
	if (r == 0 && m->cluster->why[0])
		eval_term_add(res, "cluster.store", EVAL_NOT_EVALUATED, m->cluster->why);
	return r;
}

int cluster_status(struct manager *m, struct status_list *l)
{
	struct cluster *c = m->cluster;
	int r;

	if (!c)
		return 0;
	if ((r = status_add_str(l, "cluster_evaluator", c->why[0] ? c->why : "reading")) < 0 ||
	    (r = status_add_num(l, "cluster_records_read", 't', c->records)) < 0)
		return r;
	return status_add_num(l, "cluster_last_read_usec", 't', c->last_ingest_usec);
}
