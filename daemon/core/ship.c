// SPDX-License-Identifier: GPL-2.0-only
/* Shipping the ledger's records to the cluster's store (cluster_database): the local ledger is
 * the outbox. Every committed chain entry goes out exactly as chained, in batches of one
 * INSERT (one transaction) each, and a checkpoint signed with the node's Ed25519 key every
 * minute. libpq's non-blocking calls run in the daemon's sd-event loop (the connection's socket
 * as an I/O source, timers for the back-off, the connect and the reply deadlines): nothing
 * here waits, so metering never does. After an outage the store says which record it has last
 * and the rest follows; what the store acknowledged is kept in the ledger as state
 * (ship_state), and retention rolls up nothing beyond it. The statements and the checks of
 * every reply are lib/store.c's. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>

#include "manager.h"
#include "sign.h"
#include "store.h"
#include "util.h"

#define CONNECT_TIMEOUT_USEC (15 * USEC_PER_SEC)
#define REPLY_TIMEOUT_USEC (120 * USEC_PER_SEC)
#define BACKOFF_MIN_USEC (1 * USEC_PER_SEC)
#define BACKOFF_MAX_USEC (30 * USEC_PER_SEC)
/* A store that refuses (a fork, a node not enrolled, a schema of another version) is asked
 * again this much later: only a person can change its answer. */
#define REFUSED_RETRY_USEC (300 * USEC_PER_SEC)

enum ship_phase {
	SHIP_OFF,
	SHIP_WAIT, /* for the back-off timer */
	SHIP_CONNECTING,
	SHIP_VERSION, /* a reply is awaited in this and the following phases, */
	SHIP_HELLO,
	SHIP_BATCH,
	SHIP_CHECKPOINT,
	SHIP_REASON, /* the reason of a refusal */
	SHIP_IDLE, /* connected, nothing in flight */
};

struct ship {
	struct manager *m;
	enum ship_phase phase;
	PGconn *conn;
	PGresult *reply; /* the first result of the query in flight */
	sd_event_source *io, *timer, *defer, *tick;
	int io_fd;
	char node[64];
	EVP_PKEY *key;
	/* what the store has acknowledged, and the running totals up to it */
	struct ship_state pos;
	uint8_t acked_hash[CHAIN_HASH_LEN];
	uint64_t covered_usec; /* the end of the last interval the store has */
	struct store_batch batch;
	bool checkpoint_due;
	uint64_t last_checkpoint_usec; /* time covered by the last checkpoint sent */
	uint64_t stored_checkpoint_usec; /* ... and by the last one the store took */
	uint64_t backoff_usec;
	/* why it is not connected, or refused ("" when fine); a refusal waits longer */
	char why[512];
	bool refused;
	char identity[256]; /* the store says this role is not this node */
	/* counters for the status and the benchmark */
	uint64_t batches, records, checkpoints, refusals, cpu_ns;
};

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

static void close_conn(struct ship *s)
{
	s->io = sd_event_source_disable_unref(s->io);
	s->io_fd = -1;
	PQclear(s->reply);
	s->reply = NULL;
	if (s->conn)
		PQfinish(s->conn);
	s->conn = NULL;
	store_batch_clear(&s->batch);
}

static void arm_timer(struct ship *s, uint64_t usec)
{
	if (sd_event_source_set_time_relative(s->timer, usec) < 0 ||
	    sd_event_source_set_enabled(s->timer, SD_EVENT_ONESHOT) < 0)
		log_error("cluster: cannot arm the store's timer");
}

/* Not connected any more: say why (once per reason), try again after the back-off. */
static void fail(struct ship *s, bool refused, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void fail(struct ship *s, bool refused, const char *fmt, ...)
{
	char why[sizeof(s->why)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (!streq(why, s->why) || refused != s->refused) {
		if (refused)
			log_error("cluster: the store refused node %s: %s", s->node, why);
		else
			log_warning("cluster: store unreachable: %s (records wait in the ledger)",
				    why);
	}
	snprintf(s->why, sizeof(s->why), "%s", why);
	s->refused = refused;
	close_conn(s);
	s->phase = SHIP_WAIT;
	if (refused) {
		arm_timer(s, REFUSED_RETRY_USEC);
		s->refusals++;
		return;
	}
	arm_timer(s, s->backoff_usec);
	s->backoff_usec = s->backoff_usec * 2 > BACKOFF_MAX_USEC ? BACKOFF_MAX_USEC :
								   s->backoff_usec * 2;
}

static void set_events(struct ship *s, uint32_t events)
{
	int fd = PQsocket(s->conn);

	if (fd < 0) {
		fail(s, false, "the connection has no socket");
		return;
	}
	if (fd != s->io_fd && s->io && sd_event_source_set_io_fd(s->io, fd) < 0) {
		fail(s, false, "cannot follow the connection's socket");
		return;
	}
	s->io_fd = fd;
	if (sd_event_source_set_io_events(s->io, events) < 0 ||
	    sd_event_source_set_enabled(s->io, SD_EVENT_ON) < 0)
		fail(s, false, "cannot watch the connection's socket");
}

/* A query was handed to libpq: flush it, then wait for the reply (within the deadline). */
static void sent(struct ship *s, int r, enum ship_phase phase)
{
	int f;

	if (r < 0) {
		fail(s, false, "cannot send: %s", store_error_line(s->conn, NULL));
		return;
	}
	s->phase = phase;
	f = PQflush(s->conn);
	if (f < 0) {
		fail(s, false, "cannot send: %s", store_error_line(s->conn, NULL));
		return;
	}
	set_events(s, f ? EPOLLIN | EPOLLOUT : EPOLLIN);
	arm_timer(s, REPLY_TIMEOUT_USEC);
}

static void kick(struct ship *s)
{
	if (s->phase == SHIP_IDLE && s->defer)
		sd_event_source_set_enabled(s->defer, SD_EVENT_ONESHOT);
}

static int add_entry(const struct chain_entry *e, void *userdata)
{
	return store_batch_add(userdata, e);
}

/* Connected and nothing in flight: the next batch, else a checkpoint when one is due. */
static void next(struct ship *s)
{
	struct ledger *l = s->m->ledger;
	uint64_t head = ledger_chain_head(l)->seq;
	struct store_checkpoint cp = {};
	int r;

	if (s->phase != SHIP_IDLE)
		return;
	if (head > s->pos.acked_seq) {
		store_batch_clear(&s->batch);
		r = ledger_read_entries(l, s->pos.acked_seq, STORE_BATCH_MAX, add_entry, &s->batch);
		if (r <= 0) {
			/* A broken local chain cannot be shipped: ledger verify says where. */
			fail(s, true,
			     "the local ledger cannot be read after record %" PRIu64 ": %s",
			     s->pos.acked_seq, r < 0 ? strerror(-r) : "no entry");
			return;
		}
		sent(s, store_batch_send(s->conn, &s->batch), SHIP_BATCH);
		return;
	}
	/* Caught up: everything closed up to the last collection is in the store. */
	if (manager_last_collect_usec(s->m) > s->covered_usec)
		s->covered_usec = manager_last_collect_usec(s->m);
	if (!s->checkpoint_due || !s->key || s->covered_usec <= s->last_checkpoint_usec)
		return;
	snprintf(cp.node, sizeof(cp.node), "%s", s->node);
	cp.time_usec = s->covered_usec;
	cp.head_seq = s->pos.acked_seq;
	memcpy(cp.head_hash, s->acked_hash, CHAIN_HASH_LEN);
	cp.totals = (struct store_totals){ s->pos.totals_intervals, s->pos.totals_cpu_ns,
					   s->pos.totals_gpu_ns };
	if (store_checkpoint_sign(&cp, s->key) < 0) {
		log_error("cluster: cannot sign the checkpoint");
		s->checkpoint_due = false;
		return;
	}
	s->checkpoint_due = false;
	s->last_checkpoint_usec = cp.time_usec; /* not again for the same time, stored or not */
	sent(s, store_checkpoint_send(s->conn, &cp), SHIP_CHECKPOINT);
}

static void save_pos(struct ship *s)
{
	int r = ledger_write_ship_state(s->m->ledger, &s->pos);

	if (r < 0)
		log_warning("cluster: cannot keep the shipping position: %s", strerror(-r));
}

static void totals_add(struct ship *s, const struct store_totals *t)
{
	s->pos.totals_intervals += t->intervals;
	s->pos.totals_cpu_ns += t->cpu_ns;
	s->pos.totals_gpu_ns += t->gpu_ns;
}

/* Entries after..upto read locally: their totals, the last hash, whether all have content. */
struct local_span {
	struct store_totals t;
	uint8_t hash[CHAIN_HASH_LEN];
	uint64_t last, without_body;
};

static int span_entry(const struct chain_entry *e, void *userdata)
{
	struct local_span *sp = userdata;

	if (e->body)
		store_totals_add(&sp->t, e->body, e->body_len);
	else
		sp->without_body++;
	memcpy(sp->hash, e->hash, CHAIN_HASH_LEN);
	sp->last = e->seq;
	return 0;
}

static int read_span(struct ship *s, uint64_t after, uint64_t upto, struct local_span *sp)
{
	*sp = (struct local_span){ .last = after };
	while (sp->last < upto) {
		uint64_t want = upto - sp->last, before = sp->last;
		int r = ledger_read_entries(s->m->ledger, sp->last,
					    want > 10000 ? 10000 : (size_t)want, span_entry, sp);

		if (r < 0)
			return r;
		if (sp->last == before)
			return -ENOENT;
	}
	return 0;
}

/* The store says it has store_seq records of this node: continue from there. */
static void adopt_position(struct ship *s, const struct store_hello *h)
{
	uint64_t head = ledger_chain_head(s->m->ledger)->seq, S = h->store_seq;
	struct local_span sp;
	int r;

	if (S > head) {
		fail(s, true,
		     "the store has %" PRIu64
		     " records of node %s, beyond this ledger's head %" PRIu64
		     " (another ledger under this name?)",
		     S, s->node, head);
		return;
	}
	if (!streq(s->pos.store_id, h->store_id)) {
		/* A store this ledger has not shipped to: totals from the first record. */
		r = read_span(s, 0, S, &sp);
		if (r < 0) {
			fail(s, true, "cannot read the local records up to %" PRIu64 ": %s", S,
			     strerror(-r));
			return;
		}
		s->pos = (struct ship_state){ .acked_seq = S,
					      .totals_intervals = sp.t.intervals,
					      .totals_cpu_ns = sp.t.cpu_ns,
					      .totals_gpu_ns = sp.t.gpu_ns };
		snprintf(s->pos.store_id, sizeof(s->pos.store_id), "%s", h->store_id);
		memcpy(s->acked_hash, sp.hash, CHAIN_HASH_LEN);
		if (S)
			log_info("cluster: store %s has node %s's records up to %" PRIu64
				 ": continuing there",
				 h->store_id, s->node, S);
	} else if (S >= s->pos.acked_seq) {
		/* The last batch may have been stored without its reply reaching us. */
		r = read_span(s, s->pos.acked_seq, S, &sp);
		if (r < 0) {
			fail(s, true, "cannot read the local records up to %" PRIu64 ": %s", S,
			     strerror(-r));
			return;
		}
		totals_add(s, &sp.t);
		s->pos.acked_seq = S;
		if (S)
			memcpy(s->acked_hash, sp.hash, CHAIN_HASH_LEN);
	} else {
		/* The store lost records it had acknowledged (restored from a backup): send them
		 * again if retention here has not rolled them up. */
		r = read_span(s, S, s->pos.acked_seq, &sp);
		if (r < 0 || sp.without_body) {
			fail(s, true,
			     "the store has lost records %" PRIu64 "..%" PRIu64
			     " it had acknowledged, and this node has rolled them up",
			     S + 1, s->pos.acked_seq);
			return;
		}
		log_warning("cluster: the store has lost records %" PRIu64 "..%" PRIu64
			    " it had acknowledged: sending them again",
			    S + 1, s->pos.acked_seq);
		s->pos.totals_intervals -= sp.t.intervals;
		s->pos.totals_cpu_ns -= sp.t.cpu_ns;
		s->pos.totals_gpu_ns -= sp.t.gpu_ns;
		s->pos.acked_seq = S;
		r = read_span(s, 0, S, &sp); /* the hash at S */
		if (r < 0) {
			fail(s, true, "cannot read the local record %" PRIu64 ": %s", S,
			     strerror(-r));
			return;
		}
		memcpy(s->acked_hash, sp.hash, CHAIN_HASH_LEN);
	}
	if (s->pos.acked_seq == 0)
		memset(s->acked_hash, 0, CHAIN_HASH_LEN);
	ledger_interval_end_at(s->m->ledger, s->pos.acked_seq, &s->covered_usec);
	save_pos(s);
	s->phase = SHIP_IDLE;
	s->checkpoint_due = true;
	log_info("cluster: connected to the store as node %s, %" PRIu64 " records to send", s->node,
		 head - s->pos.acked_seq);
	s->why[0] = '\0';
	s->refused = false;
	s->backoff_usec = BACKOFF_MIN_USEC;
	next(s);
}

/* Covered time: the end of the last interval among the rows acknowledged. */
static void batch_covered(struct ship *s, uint64_t upto)
{
	uint64_t end = 0;

	if (ledger_interval_end_at(s->m->ledger, upto, &end) == 0 && end > s->covered_usec)
		s->covered_usec = end;
}

static void on_reply(struct ship *s, PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	uint64_t inserted, store_seq;
	struct store_hello h;
	struct store_totals t;
	char reason[384];
	int version, r;

	if (!res ||
	    (PQresultStatus(res) != PGRES_TUPLES_OK && PQresultStatus(res) != PGRES_COMMAND_OK)) {
		/* No such table or schema: nobody ran cluster init on this database. */
		if (state && (streq(state, "42P01") || streq(state, "3F000")))
			fail(s, true,
			     "the database has no hpcmeter store: run 'hpcmeterctl cluster"
			     " init'");
		else
			fail(s, state && streq(state, "42501"), "the store answered: %s",
			     store_error_line(s->conn, res));
		return;
	}
	switch (s->phase) {
	case SHIP_VERSION:
		if (store_version_reply(res, &version) < 0) {
			fail(s, false, "unexpected reply to the version query");
		} else if (version > store_schema_version()) {
			fail(s, true,
			     "the store's schema version %d is newer than this hpcmeterd's (%d):"
			     " upgrade hpcmeterd",
			     version, store_schema_version());
		} else if (version < store_schema_version()) {
			fail(s, true,
			     "the store's schema version %d is older than this hpcmeterd's (%d):"
			     " run 'hpcmeterctl cluster init' to migrate it",
			     version, store_schema_version());
		} else {
			sent(s, store_send_hello(s->conn, s->node), SHIP_HELLO);
		}
		return;
	case SHIP_HELLO:
		if (store_hello_reply(res, &h) < 0) {
			fail(s, false, "unexpected reply to the hello query");
			return;
		}
		/* Sent all the same: the store records the refusal. */
		s->identity[0] = '\0';
		if (!h.enrolled_as[0])
			snprintf(s->identity, sizeof(s->identity),
				 "this node's database role is not enrolled (hpcmeterctl cluster"
				 " enroll)");
		else if (!streq(h.enrolled_as, s->node))
			snprintf(s->identity, sizeof(s->identity),
				 "this node's database role is enrolled as node %s, not %s",
				 h.enrolled_as, s->node);
		adopt_position(s, &h);
		return;
	case SHIP_BATCH:
		r = store_batch_reply(res, &s->batch, &inserted, &store_seq);
		if (r < 0 || store_seq > store_batch_last(&s->batch)) {
			fail(s, false, "unexpected reply to a batch of records");
			return;
		}
		if (store_seq > s->pos.acked_seq) {
			store_batch_totals(&s->batch, store_seq, &t);
			totals_add(s, &t);
			store_batch_hash(&s->batch, store_seq, s->acked_hash);
			s->records += store_seq - s->pos.acked_seq;
			s->pos.acked_seq = store_seq;
			batch_covered(s, store_seq);
			save_pos(s);
		}
		s->batches++;
		if (store_seq < store_batch_last(&s->batch)) {
			/* Refused: the store recorded why; ask it (or say what we know). */
			if (s->identity[0]) {
				fail(s, true, "%s", s->identity);
				return;
			}
			sent(s, store_send_refusal_query(s->conn, s->node), SHIP_REASON);
			return;
		}
		store_batch_clear(&s->batch);
		s->phase = SHIP_IDLE;
		next(s);
		return;
	case SHIP_CHECKPOINT:
		r = store_checkpoint_reply(res);
		if (r < 0) {
			fail(s, false, "unexpected reply to a checkpoint");
			return;
		}
		if (r == 0) {
			if (s->identity[0]) {
				fail(s, true, "%s", s->identity);
				return;
			}
			sent(s, store_send_refusal_query(s->conn, s->node), SHIP_REASON);
			return;
		}
		s->checkpoints++;
		s->stored_checkpoint_usec = s->last_checkpoint_usec;
		s->phase = SHIP_IDLE;
		next(s);
		return;
	case SHIP_REASON:
		if (store_refusal_reply(res, reason, sizeof(reason)) < 0 || !reason[0])
			snprintf(reason, sizeof(reason), "the store did not take record %" PRIu64,
				 s->pos.acked_seq + 1);
		fail(s, true, "%s", reason);
		return;
	default:
		fail(s, false, "a reply nobody asked for");
		return;
	}
}

static void on_connected(struct ship *s)
{
	log_debug("cluster: connected, checking the store's schema version");
	sent(s, store_send_version(s->conn), SHIP_VERSION);
}

static int on_io(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
	struct ship *s = userdata;
	uint64_t t0 = thread_cpu_ns();
	PGresult *res;

	if (s->phase == SHIP_CONNECTING) {
		switch (PQconnectPoll(s->conn)) {
		case PGRES_POLLING_READING:
			set_events(s, EPOLLIN);
			break;
		case PGRES_POLLING_WRITING:
			set_events(s, EPOLLOUT);
			break;
		case PGRES_POLLING_OK:
			on_connected(s);
			break;
		default:
			fail(s, false, "%s", store_error_line(s->conn, NULL));
			break;
		}
		goto out;
	}
	if (revents & EPOLLOUT) {
		int f = PQflush(s->conn);

		if (f < 0) {
			fail(s, false, "cannot send: %s", store_error_line(s->conn, NULL));
			goto out;
		}
		if (f == 0)
			set_events(s, EPOLLIN);
	}
	if (!(revents & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		goto out;
	if (!PQconsumeInput(s->conn)) {
		fail(s, false, "connection lost: %s", store_error_line(s->conn, NULL));
		goto out;
	}
	/* Notices and results of the query in flight; the reply is complete at NULL. */
	while (s->conn && !PQisBusy(s->conn)) {
		res = PQgetResult(s->conn);
		if (res && !s->reply) {
			s->reply = res;
			continue;
		}
		if (res) {
			PQclear(res); /* a second result of one statement: not ours to read */
			continue;
		}
		if (s->phase == SHIP_IDLE || s->phase == SHIP_WAIT) {
			/* an unsolicited message (the server's shutdown notice) */
			PQclear(s->reply);
			s->reply = NULL;
			if (PQstatus(s->conn) == CONNECTION_BAD)
				fail(s, false, "connection lost: %s",
				     store_error_line(s->conn, NULL));
			break;
		}
		sd_event_source_set_enabled(s->timer, SD_EVENT_OFF);
		res = s->reply;
		s->reply = NULL;
		on_reply(s, res);
		PQclear(res);
		if (s->phase < SHIP_VERSION || s->phase == SHIP_IDLE)
			break;
	}
	if (s->conn && PQstatus(s->conn) == CONNECTION_BAD)
		fail(s, false, "connection lost: %s", store_error_line(s->conn, NULL));
out:
	s->cpu_ns += thread_cpu_ns() - t0;
	return 0;
}

static void connect_start(struct ship *s)
{
	const char *keys[4], *values[4];
	int r;

	store_conn_params(s->m->cfg.cluster_database, "hpcmeterd", keys, values);
	s->conn = PQconnectStartParams(keys, values, 1);
	if (!s->conn || PQstatus(s->conn) == CONNECTION_BAD) {
		fail(s, false, "%s", s->conn ? store_error_line(s->conn, NULL) : "out of memory");
		return;
	}
	if (PQsetnonblocking(s->conn, 1) < 0) {
		fail(s, false, "cannot make the connection non-blocking");
		return;
	}
	s->io_fd = PQsocket(s->conn);
	r = sd_event_add_io(s->m->event, &s->io, s->io_fd, EPOLLOUT, on_io, s);
	if (r < 0) {
		fail(s, false, "cannot watch the connection: %s", strerror(-r));
		return;
	}
	s->phase = SHIP_CONNECTING;
	arm_timer(s, CONNECT_TIMEOUT_USEC);
}

static int on_timer(sd_event_source *src, uint64_t usec, void *userdata)
{
	struct ship *s = userdata;
	uint64_t t0 = thread_cpu_ns();

	if (s->phase == SHIP_WAIT)
		connect_start(s);
	else if (s->phase == SHIP_CONNECTING)
		fail(s, false, "no connection within %llu s",
		     (unsigned long long)(CONNECT_TIMEOUT_USEC / USEC_PER_SEC));
	else if (s->phase != SHIP_IDLE)
		fail(s, false, "no reply within %llu s",
		     (unsigned long long)(REPLY_TIMEOUT_USEC / USEC_PER_SEC));
	s->cpu_ns += thread_cpu_ns() - t0;
	return 0;
}

static int on_defer(sd_event_source *src, void *userdata)
{
	struct ship *s = userdata;
	uint64_t t0 = thread_cpu_ns();

	next(s);
	s->cpu_ns += thread_cpu_ns() - t0;
	return 0;
}

static int on_tick(sd_event_source *src, uint64_t usec, void *userdata)
{
	struct ship *s = userdata;

	s->checkpoint_due = true;
	kick(s);
	sd_event_source_set_time(src, usec + s->m->cfg.checkpoint_interval_sec * USEC_PER_SEC);
	sd_event_source_set_enabled(src, SD_EVENT_ON);
	return 0;
}

int ship_new(struct manager *m)
{
	m->ship = calloc(1, sizeof(*m->ship));
	if (!m->ship)
		return -ENOMEM;
	m->ship->m = m;
	m->ship->io_fd = -1;
	m->ship->backoff_usec = BACKOFF_MIN_USEC;
	return 0;
}

int ship_start(struct manager *m)
{
	struct ship *s = m->ship;
	char path[4200], err[512];
	int r;

	if (!m->cfg.cluster_database[0])
		return 0;
	snprintf(s->node, sizeof(s->node), "%s", manager_node_name(m));
	store_batch_init(&s->batch, s->node);
	snprintf(path, sizeof(path), "%s/%s", m->cfg.state_dir, SIGN_KEY_FILE);
	if (sign_load_private(path, &s->key, err, sizeof(err)) < 0)
		log_error("cluster: no signing key (%s): records are shipped, checkpoints are not",
			  err);
	r = ledger_read_ship_state(m->ledger, &s->pos);
	if (r < 0 && r != -ENOENT)
		log_warning("cluster: cannot read the shipping position: %s", strerror(-r));
	if ((r = sd_event_add_time_relative(m->event, &s->timer, CLOCK_MONOTONIC, 0, 0, on_timer,
					    s)) < 0 ||
	    (r = sd_event_add_defer(m->event, &s->defer, on_defer, s)) < 0 ||
	    (r = sd_event_source_set_enabled(s->defer, SD_EVENT_OFF)) < 0 ||
	    (r = sd_event_add_time_relative(m->event, &s->tick, CLOCK_MONOTONIC,
					    m->cfg.checkpoint_interval_sec * USEC_PER_SEC, 0,
					    on_tick, s)) < 0) {
		log_error("cluster: cannot set up shipping: %s", strerror(-r));
		return r;
	}
	s->phase = SHIP_WAIT; /* the timer fires at once: connect */
	log_info("cluster: shipping records to the store as node %s", s->node);
	return 0;
}

void ship_free(struct manager *m)
{
	struct ship *s = m->ship;

	if (!s)
		return;
	close_conn(s);
	store_batch_free(&s->batch);
	sd_event_source_disable_unref(s->timer);
	sd_event_source_disable_unref(s->defer);
	sd_event_source_disable_unref(s->tick);
	EVP_PKEY_free(s->key);
	free(s);
	m->ship = NULL;
}

void ship_kick(struct manager *m)
{
	if (m->ship)
		kick(m->ship);
}

int64_t ship_retention_below(struct manager *m)
{
	int64_t id = INT64_MAX;

	if (!m->ship || m->ship->phase == SHIP_OFF)
		return INT64_MAX;
	/* Nothing the store has not acknowledged is rolled up (an error: nothing at all). */
	if (ledger_first_interval_after(m->ledger, m->ship->pos.acked_seq, &id) < 0)
		return 0;
	return id;
}

int ship_status(struct manager *m, struct status_list *l)
{
	struct ship *s = m->ship;
	uint64_t head = ledger_chain_head(m->ledger)->seq, behind = 0;
	char state[700];
	int r;

	if (s->phase == SHIP_OFF) {
		snprintf(state, sizeof(state), "off");
	} else {
		behind = head > s->pos.acked_seq ? head - s->pos.acked_seq : 0;
		if (s->refused)
			snprintf(state, sizeof(state), "refused: %s", s->why);
		else if (s->phase > SHIP_HELLO && !behind)
			snprintf(state, sizeof(state), "connected");
		else if (s->phase > SHIP_HELLO)
			snprintf(state, sizeof(state), "connected, behind %" PRIu64 " records",
				 behind);
		else if (behind)
			snprintf(state, sizeof(state), "behind %" PRIu64 " records: %s", behind,
				 s->why[0] ? s->why : "connecting");
		else
			snprintf(state, sizeof(state), "disconnected: %s",
				 s->why[0] ? s->why : "connecting");
	}
	if ((r = status_add_str(l, "cluster", state)) < 0 ||
	    (r = status_add_str(l, "cluster_node", s->phase == SHIP_OFF ? "" : s->node)) < 0 ||
	    (r = status_add_num(l, "cluster_acked_seq", 't', s->pos.acked_seq)) < 0 ||
	    (r = status_add_num(l, "cluster_behind", 't', behind)) < 0 ||
	    (r = status_add_num(l, "cluster_records_shipped", 't', s->records)) < 0 ||
	    (r = status_add_num(l, "cluster_checkpoints", 't', s->checkpoints)) < 0 ||
	    (r = status_add_num(l, "cluster_last_checkpoint_usec", 't',
				s->stored_checkpoint_usec)) < 0)
		return r;
	return status_add_num(l, "cluster_ship_cpu_usec", 't', s->cpu_ns / NSEC_PER_USEC);
}
