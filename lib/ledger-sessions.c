// SPDX-License-Identifier: GPL-2.0-only
/* Sessions in the ledger: where the work came from (a login session's remote host, a job's
 * submit host), append-only and chained: a session's first row, then a row per change naming
 * it. */
#include <errno.h>
#include <stdio.h>

#include "ledger-internal.h"
#include "util.h"

static const char *or_empty(const char *s)
{
	return s ? s : "";
}

int ledger_store_session(struct ledger *l, struct session_record *s)
{
	/* The id is chosen here, so that a row kept in memory while the disk is full has its run
	 * id already. */
	uint64_t *last = ledger_session_id_ptr(l), id = *last + 1;
	int r;

	r = ledger_insert(l,
			  "INSERT INTO sessions (id, session, uid, user, remote_host,"
			  " remote_address, address_state, service, source, job, start_usec,"
			  " end_usec, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
			  " NULLIF(?, 0))",
			  "ititttttttiii", id, or_empty(s->session), (uint64_t)s->uid,
			  or_empty(s->user), or_empty(s->remote_host), or_empty(s->remote_address),
			  or_empty(s->address_state), or_empty(s->service), or_empty(s->source),
			  or_empty(s->job), s->start_usec, s->end_usec, (uint64_t)s->row);
	if (r < 0)
		return r;
	*last = id;
	if (!s->row)
		s->row = (int64_t)id;
	return 0;
}

static const char *col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	return s ? (const char *)s : "";
}

int ledger_list_open_sessions(struct ledger *l,
			      int (*fn)(const struct session_record *s, void *userdata),
			      void *userdata)
{
	sqlite3_stmt *st;
	int rc, r = 0;

	rc = sqlite3_prepare_v2(ledger_db(l),
				"SELECT COALESCE(run_id, id), session, uid, user, remote_host,"
				" remote_address, address_state, service, source, job, start_usec"
				" FROM sessions WHERE id IN (SELECT MAX(id) FROM sessions"
				" GROUP BY COALESCE(run_id, id)) AND end_usec = 0"
				" ORDER BY COALESCE(run_id, id)",
				-1, &st, NULL);
	if (rc != SQLITE_OK) {
		log_error("ledger %s: sessions: %s", ledger_path(l), sqlite3_errmsg(ledger_db(l)));
		return -EIO;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct session_record s = {
			.row = sqlite3_column_int64(st, 0),
			.session = col_text(st, 1),
			.uid = (uint32_t)sqlite3_column_int64(st, 2),
			.user = col_text(st, 3),
			.remote_host = col_text(st, 4),
			.remote_address = col_text(st, 5),
			.address_state = col_text(st, 6),
			.service = col_text(st, 7),
			.source = col_text(st, 8),
			.job = col_text(st, 9),
			.start_usec = sqlite3_column_int64(st, 10),
		};

		r = fn(&s, userdata);
		if (r < 0)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE) {
		log_error("ledger %s: sessions: %s", ledger_path(l), sqlite3_errmsg(ledger_db(l)));
		r = -EIO;
	}
	sqlite3_finalize(st);
	return r;
}
