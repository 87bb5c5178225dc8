// SPDX-License-Identifier: GPL-2.0-only
/* Sessions: where the work of a process came from. A login session (the audit session of its
 * exec record: loginuid, sessionid) is looked up once, at the first process of it the daemon
 * sees (lib/session-origin.c: logind, the session's connection, utmp); a job announced with a
 * submit host other than this node is an origin too. Each is kept in the ledger (sessions,
 * chained) from its start to its end; a host name is resolved in the background
 * (getaddrinfo_a, polled from the loop: never blocking it), and the processes of the session
 * are evaluated again once it is. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "manager.h"
#include "session-origin.h"
#include "util.h"

#define AUDIT_UNSET HPCM_AUDIT_UNSET

/* A name being resolved. Owned by the pending list until glibc's resolver thread is done with
 * it; the session may end first (then s is NULL). */
struct resolve {
	struct gaicb cb;
	struct addrinfo hints;
	char *name;
	struct session *s;
	struct resolve *next;
};

struct session {
	uint32_t loginuid, sessionid; /* AUDIT_UNSET for a job */
	char job[JOB_ID_MAX + 1]; /* a job's origin: its id; for a login session: the job it
				   * was first seen in */
	struct session_origin origin;
	char address[INET6_ADDRSTRLEN]; /* the host's address, as far as known */
	enum eval_address_state address_state;
	char via[64];
	struct eval_origin eo; /* for the evaluator: points into this struct */
	uint32_t uid;
	char *user;
	uint64_t start_usec;
	int64_t row; /* its run in the ledger */
	uint64_t generation; /* the last sweep that found a process of it */
	struct resolve *pending;
};

/* A session the ledger had open when the daemon started: continued when it is seen again. */
struct adopted {
	char *key;
	int64_t row;
	uint64_t start_usec;
	char *host, *address, *address_state, *service, *source, *user, *job;
	uint32_t uid;
	bool claimed;
};

struct sessions {
	void *tree; /* tsearch tree of struct session */
	size_t n_jobs; /* job origins in the tree */
	struct resolve *pending;
	struct adopted *adopted;
	size_t n_adopted;
	const char *unknown; /* why sessions cannot be identified here; NULL when they can */
	uint64_t generation;
	uint64_t looked_up, remote, gone; /* sessions looked up, remote ones, found gone */
};

static int session_cmp(const void *a, const void *b)
{
	const struct session *x = a, *y = b;

	if (x->sessionid != y->sessionid)
		return x->sessionid < y->sessionid ? -1 : 1;
	if (x->loginuid != y->loginuid)
		return x->loginuid < y->loginuid ? -1 : 1;
	/* A job's origin is the job's; a login session's job is only where it was first seen. */
	return x->sessionid == AUDIT_UNSET ? strcmp(x->job, y->job) : 0;
}

static void session_free(void *p)
{
	struct session *s = p;

	if (s->pending)
		s->pending->s = NULL; /* the resolver's request outlives it */
	free(s->user);
	free(s);
}

int sessions_new(struct manager *m)
{
	m->sessions = calloc(1, sizeof(*m->sessions));
	if (!m->sessions)
		return -ENOMEM;
	/* Without CONFIG_AUDIT there is no loginuid to tell sessions apart. */
	if (access("/proc/self/sessionid", F_OK) < 0)
		m->sessions->unknown = "the kernel keeps no audit sessions (CONFIG_AUDIT), so "
				       "login sessions are not identified";
	return 0;
}

static void adopted_free(struct adopted *a)
{
	free(a->key);
	free(a->host);
	free(a->address);
	free(a->address_state);
	free(a->service);
	free(a->source);
	free(a->user);
	free(a->job);
}

void sessions_free(struct manager *m)
{
	struct sessions *ss = m->sessions;

	if (!ss)
		return;
	tdestroy(ss->tree, session_free);
	/* A request glibc's resolver thread still holds after a second is left to it: the
	 * process is ending. */
	for (struct resolve *r = ss->pending, *next; r; r = next) {
		const struct gaicb *list[] = { &r->cb };
		const struct timespec second = { .tv_sec = 1 };

		next = r->next;
		if (gai_cancel(&r->cb) == EAI_NOTCANCELED)
			gai_suspend(list, 1, &second);
		if (gai_error(&r->cb) == EAI_INPROGRESS)
			continue;
		if (r->cb.ar_result)
			freeaddrinfo(r->cb.ar_result);
		free(r->name);
		free(r);
	}
	for (size_t i = 0; i < ss->n_adopted; i++)
		adopted_free(&ss->adopted[i]);
	free(ss->adopted);
	free(ss);
	m->sessions = NULL;
}

static const char *address_state_name(const struct session *s)
{
	if (!s->origin.host[0])
		return "";
	switch (s->address_state) {
	case EVAL_ADDRESS_KNOWN:
		return "known";
	case EVAL_ADDRESS_PENDING:
		return "pending";
	case EVAL_ADDRESS_UNRESOLVED:
		return "unresolved";
	}
	return "";
}

static void session_key(const struct manager *m, const struct session *s, char *buf, size_t size)
{
	if (s->sessionid == AUDIT_UNSET)
		snprintf(buf, size, "job:%s", s->job);
	else
		snprintf(buf, size, "audit:%s:%u", m->boot_id, s->sessionid);
}

/* Its row in the ledger: the start (or, for a session the ledger had open, the change since),
 * a change, or the end. */
static void session_store(struct manager *m, struct session *s, uint64_t end_usec)
{
	char key[128];
	struct session_record r = {
		.row = s->row,
		.session = key,
		.uid = s->uid,
		.user = s->user,
		.remote_host = s->origin.host,
		.remote_address = s->address,
		.address_state = address_state_name(s),
		.service = s->origin.service,
		.source = s->sessionid == AUDIT_UNSET ? "slurm" :
							origin_source_name(s->origin.source),
		.job = s->job,
		.start_usec = s->start_usec,
		.end_usec = end_usec,
	};

	session_key(m, s, key, sizeof(key));
	if (ledger_store_session(m->ledger, &r) < 0)
		log_error("session %s: not stored in the ledger", key);
	s->row = r.row;
}

static void session_refresh_eo(struct session *s)
{
	s->eo = (struct eval_origin){
		.host = s->origin.host,
		.address = s->address_state == EVAL_ADDRESS_KNOWN ? s->address : NULL,
		.address_state = s->address_state,
		.via = s->via,
	};
}

/* ---- host names ---- */

static bool is_address(const char *host)
{
	uint8_t a[16];
	int family;

	return license_address_parse(host, &family, a) == 0;
}

static void resolve_start(struct manager *m, struct session *s)
{
	struct resolve *r = calloc(1, sizeof(*r));
	struct gaicb *list[1];
	struct sigevent sev = { .sigev_notify = SIGEV_NONE };

	s->address_state = EVAL_ADDRESS_UNRESOLVED;
	if (!r || !(r->name = strdup(s->origin.host))) {
		free(r);
		return;
	}
	r->hints.ai_family = AF_UNSPEC;
	r->hints.ai_socktype = SOCK_STREAM;
	r->cb.ar_name = r->name;
	r->cb.ar_request = &r->hints;
	list[0] = &r->cb;
	/* In glibc's own thread: a slow or hung resolver never stalls the loop. Polled from it
	 * (sessions_poll). */
	if (getaddrinfo_a(GAI_NOWAIT, list, 1, &sev) != 0) {
		free(r->name);
		free(r);
		return;
	}
	r->s = s;
	s->pending = r;
	s->address_state = EVAL_ADDRESS_PENDING;
	r->next = m->sessions->pending;
	m->sessions->pending = r;
}

/* The address a session's evaluation uses: the one its source gave, or the host itself when
 * it is an address, or the name resolved (pending meanwhile). */
static void session_address(struct manager *m, struct session *s)
{
	if (!s->origin.host[0])
		return;
	if (s->origin.address[0]) {
		snprintf(s->address, sizeof(s->address), "%s", s->origin.address);
		s->address_state = EVAL_ADDRESS_KNOWN;
	} else if (is_address(s->origin.host)) {
		snprintf(s->address, sizeof(s->address), "%.*s", (int)sizeof(s->address) - 1,
			 s->origin.host);
		s->address_state = EVAL_ADDRESS_KNOWN;
	} else {
		resolve_start(m, s);
	}
}

struct reeval_ctx {
	struct session *s;
};

static void reevaluate_one(struct manager *m, struct proc *p, const char *cgroup, void *userdata)
{
	struct reeval_ctx *x = userdata;
	const struct session *s = x->s;
	char job[32];

	if (s->sessionid != AUDIT_UNSET) {
		if (p->sessionid != s->sessionid || p->loginuid != s->loginuid)
			return;
	} else {
		slurm_job_from_cgroup(cgroup, job, sizeof(job));
		if (!streq(job, s->job))
			return;
	}
	evaluation_proc(m, p, NULL);
}

void sessions_poll(struct manager *m)
{
	struct resolve **pp = &m->sessions->pending;

	while (*pp) {
		struct resolve *r = *pp;
		struct session *s = r->s;
		int e = gai_error(&r->cb);

		if (e == EAI_INPROGRESS) {
			pp = &r->next;
			continue;
		}
		*pp = r->next;
		if (s) {
			s->pending = NULL;
			if (e == 0 && r->cb.ar_result) {
				const struct addrinfo *ai = r->cb.ar_result;
				const void *a =
					ai->ai_family == AF_INET6 ?
						(const void *)&((struct sockaddr_in6 *)ai->ai_addr)
							->sin6_addr :
						(const void *)&((struct sockaddr_in *)ai->ai_addr)
							->sin_addr;

				/* A name with several addresses: the resolver's first choice. */
				origin_address_text(ai->ai_family, a, s->address,
						    sizeof(s->address));
				s->address_state = EVAL_ADDRESS_KNOWN;
			} else {
				s->address_state = EVAL_ADDRESS_UNRESOLVED;
				log_notice("remote host %s (%s) did not resolve: %s",
					   s->origin.host, s->via,
					   e == EAI_SYSTEM ? strerror(errno) : gai_strerror(e));
			}
			session_refresh_eo(s);
			session_store(m, s, 0);
			/* Its processes were evaluated without the address: again, with it. */
			procs_foreach(m, reevaluate_one, &(struct reeval_ctx){ .s = s });
		}
		if (r->cb.ar_result)
			freeaddrinfo(r->cb.ar_result);
		free(r->name);
		free(r);
	}
}

/* ---- the ledger's open sessions at start ---- */

static int adopt_one(const struct session_record *r, void *userdata)
{
	struct sessions *ss = userdata;
	struct adopted *a, *n;

	n = reallocarray(ss->adopted, ss->n_adopted + 1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	ss->adopted = n;
	a = &n[ss->n_adopted];
	*a = (struct adopted){
		.key = strdup(r->session),
		.row = r->row,
		.start_usec = r->start_usec,
		.host = strdup(r->remote_host),
		.address = strdup(r->remote_address),
		.address_state = strdup(r->address_state),
		.service = strdup(r->service),
		.source = strdup(r->source),
		.user = strdup(r->user),
		.job = strdup(r->job),
		.uid = r->uid,
	};
	if (!a->key || !a->host || !a->address || !a->address_state || !a->service || !a->source ||
	    !a->user || !a->job) {
		adopted_free(a);
		return -ENOMEM;
	}
	ss->n_adopted++;
	return 0;
}

static struct adopted *adopted_claim(struct sessions *ss, const char *key)
{
	for (size_t i = 0; i < ss->n_adopted; i++)
		if (!ss->adopted[i].claimed && streq(ss->adopted[i].key, key)) {
			ss->adopted[i].claimed = true;
			return &ss->adopted[i];
		}
	return NULL;
}

static struct session *session_insert(struct manager *m, struct session *s)
{
	struct session **node = tsearch(s, &m->sessions->tree, session_cmp);

	if (!node) {
		session_free(s);
		return NULL;
	}
	if (s->sessionid == AUDIT_UNSET)
		m->sessions->n_jobs++;
	return *node;
}

/* A job running according to the ledger, with the origin its announcement had. */
static void adopt_job(struct manager *m, struct adopted *a)
{
	struct session *s = calloc(1, sizeof(*s));

	if (!s)
		return;
	a->claimed = true;
	s->loginuid = s->sessionid = AUDIT_UNSET;
	snprintf(s->job, sizeof(s->job), "%s", a->key + strlen("job:"));
	snprintf(s->origin.host, sizeof(s->origin.host), "%s", a->host);
	snprintf(s->origin.service, sizeof(s->origin.service), "slurm");
	snprintf(s->via, sizeof(s->via), "job %s", s->job);
	s->uid = a->uid;
	s->user = strdup(a->user);
	s->row = a->row;
	s->start_usec = a->start_usec;
	if (streq(a->address_state, "known")) {
		snprintf(s->address, sizeof(s->address), "%s", a->address);
		s->address_state = EVAL_ADDRESS_KNOWN;
	} else {
		session_address(m, s); /* once more: it was pending or did not resolve */
	}
	session_refresh_eo(s);
	session_insert(m, s);
}

void sessions_start(struct manager *m)
{
	struct sessions *ss = m->sessions;
	int r = ledger_list_open_sessions(m->ledger, adopt_one, ss);

	if (r < 0)
		log_warning("cannot read the open sessions from the ledger: %s", strerror(-r));
	for (size_t i = 0; i < ss->n_adopted; i++) {
		struct adopted *a = &ss->adopted[i];
		struct job_info *j;

		if (strncmp(a->key, "job:", 4) != 0)
			continue;
		j = job_table_get(m->jobs, a->key + 4, false);
		if (j && !j->end_usec)
			adopt_job(m, a);
	}
}

/* ---- login sessions ---- */

static void describe(struct session *s)
{
	if (s->sessionid == AUDIT_UNSET)
		snprintf(s->via, sizeof(s->via), "job %s", s->job);
	else
		snprintf(s->via, sizeof(s->via), "%s session %u",
			 s->origin.service[0] ? s->origin.service : "login", s->sessionid);
}

/* Clock ticks after boot (/proc/PID/stat) as wall-clock time. */
static uint64_t ticks_to_real_usec(struct manager *m, uint64_t ticks)
{
	long hz = sysconf(_SC_CLK_TCK);

	if (!ticks || hz <= 0)
		return now_realtime_usec();
	return interval_boot_to_real_usec(m, ticks * (NSEC_PER_SEC / (uint64_t)hz));
}

static struct session *session_lookup(struct manager *m, struct proc *p, const char *job)
{
	struct sessions *ss = m->sessions;
	struct session key = { .loginuid = p->loginuid, .sessionid = p->sessionid }, *s;
	const struct user_info *u = NULL;
	struct adopted *a;
	void *node;
	char k[128];
	int r;

	node = tfind(&key, &ss->tree, session_cmp);
	if (node)
		return *(struct session **)node;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->loginuid = p->loginuid;
	s->sessionid = p->sessionid;
	snprintf(s->job, sizeof(s->job), "%.*s", (int)sizeof(s->job) - 1, job ? job : "");
	/* Once per session, at its first process the daemon sees. */
	r = session_origin_find(&origin_default_paths, p->tgid, p->ppid, p->sessionid, &s->origin);
	if (r < 0)
		log_warning("session %u: cannot look up its origin: %s", p->sessionid,
			    strerror(-r));
	ss->looked_up++;
	ss->gone += s->origin.source == ORIGIN_SOURCE_GONE;
	s->uid = p->loginuid;
	attributor_user(m->attr, p->loginuid, &u);
	s->user = strdup(u ? u->display_name : "");
	s->start_usec = ticks_to_real_usec(m, s->origin.leader_start);
	describe(s);
	session_address(m, s);
	session_refresh_eo(s);
	s->generation = ss->generation;
	s = session_insert(m, s);
	if (!s)
		return NULL;
	session_key(m, s, k, sizeof(k));
	a = adopted_claim(ss, k);
	if (a) {
		/* Seen before this daemon started: its run continues, a row only if it differs. */
		s->row = a->row;
		s->start_usec = a->start_usec;
		if (streq(a->host, s->origin.host) && streq(a->address, s->address))
			return s;
	}
	if (s->origin.host[0]) {
		ss->remote++;
		bool other = s->address[0] && !streq(s->address, s->origin.host);

		log_info("session %u of %s: remote, from %s%s%s%s (%s, found by %s)", s->sessionid,
			 s->user, s->origin.host, other ? " (" : "", other ? s->address : "",
			 other ? ")" : "", s->origin.service, origin_source_name(s->origin.source));
	}
	session_store(m, s, 0);
	return s;
}

static struct session *job_lookup(struct manager *m, const char *job)
{
	struct session key = { .loginuid = AUDIT_UNSET, .sessionid = AUDIT_UNSET };
	void *node;

	if (!job || !job[0] || !m->sessions->n_jobs)
		return NULL;
	snprintf(key.job, sizeof(key.job), "%s", job);
	node = tfind(&key, &m->sessions->tree, session_cmp);
	return node ? *(struct session **)node : NULL;
}

const struct eval_origin *sessions_origin(struct manager *m, struct proc *p, const char *job)
{
	char cgbuf[PATH_MAX + 32], jobbuf[32];
	struct session *s = NULL;

	if (!m->sessions)
		return NULL;
	if (!job && (p->sessionid != AUDIT_UNSET || m->sessions->n_jobs)) {
		slurm_job_from_cgroup(manager_attribution_path(m, p->cgroup_id, p->cgroup_v1_id,
							       cgbuf, sizeof(cgbuf)),
				      jobbuf, sizeof(jobbuf));
		job = jobbuf;
	}
	/* A login session's own remote host first: an ssh adopted into a job came through
	 * sshd, whatever host submitted the job. */
	if (p->sessionid != AUDIT_UNSET)
		s = session_lookup(m, p, job);
	if (s && s->origin.host[0])
		return &s->eo;
	s = job_lookup(m, job);
	return s ? &s->eo : NULL;
}

const struct eval_origin *sessions_job_origin(struct manager *m, const char *job)
{
	struct session *s = m->sessions ? job_lookup(m, job) : NULL;

	return s ? &s->eo : NULL;
}

const char *sessions_unknown(const struct manager *m)
{
	return m->sessions ? m->sessions->unknown : NULL;
}

/* ---- jobs ---- */

/* A submit host that names this node: the job did not come from another host. Slurm names a
 * submission from the controller's own host "localhost". */
static bool host_is_local(const struct manager *m, const char *host)
{
	size_t short_len = strcspn(m->hostname, ".");
	uint8_t a[16];
	int family;

	if (!strcasecmp(host, m->hostname) || !strcasecmp(host, "localhost") ||
	    (strlen(host) == short_len && !strncasecmp(host, m->hostname, short_len)))
		return true;
	if (license_address_parse(host, &family, a) < 0)
		return false;
	if (family == AF_INET)
		return a[0] == 127;
	return !memcmp(a, (const uint8_t[16]){ [15] = 1 }, 16);
}

void sessions_job(struct manager *m, const struct job_info *j, bool start)
{
	struct session *s;

	if (!m->sessions)
		return;
	s = job_lookup(m, j->id);
	if (!start || (s && !j->submit_host)) {
		if (!s)
			return;
		session_store(m, s, now_realtime_usec());
		tdelete(s, &m->sessions->tree, session_cmp);
		m->sessions->n_jobs--;
		session_free(s);
		return;
	}
	if (!j->submit_host || !j->submit_host[0] || host_is_local(m, j->submit_host) ||
	    (s && streq(s->origin.host, j->submit_host)))
		return;
	if (s) {
		tdelete(s, &m->sessions->tree, session_cmp);
		m->sessions->n_jobs--;
	} else {
		s = calloc(1, sizeof(*s));
		if (!s)
			return;
	}
	s->loginuid = s->sessionid = AUDIT_UNSET;
	snprintf(s->job, sizeof(s->job), "%s", j->id);
	snprintf(s->origin.host, sizeof(s->origin.host), "%s", j->submit_host);
	snprintf(s->origin.service, sizeof(s->origin.service), "slurm");
	s->uid = j->uid;
	free(s->user);
	s->user = strdup(j->user ? j->user : "");
	s->start_usec = j->start_usec;
	s->address[0] = '\0';
	if (s->pending)
		s->pending->s = NULL;
	s->pending = NULL;
	describe(s);
	session_address(m, s);
	session_refresh_eo(s);
	s = session_insert(m, s);
	if (!s)
		return;
	log_info("job %s: submitted from %s", j->id, j->submit_host);
	session_store(m, s, 0);
}

/* ---- the end of sessions ---- */

struct sweep_ctx {
	struct sessions *ss;
	struct session **ended;
	size_t n, cap;
};

static void mark_proc(struct manager *m, struct proc *p, const char *cgroup, void *userdata)
{
	struct session key = { .loginuid = p->loginuid, .sessionid = p->sessionid };
	struct sweep_ctx *x = userdata;
	void *node;

	if (p->sessionid == AUDIT_UNSET)
		return;
	node = tfind(&key, &x->ss->tree, session_cmp);
	if (node)
		(*(struct session **)node)->generation = x->ss->generation;
}

static void collect_ended(const void *node, VISIT which, void *closure)
{
	struct sweep_ctx *x = closure;
	struct session *s = *(struct session *const *)node;
	struct session **e;

	if ((which != postorder && which != leaf) || s->sessionid == AUDIT_UNSET ||
	    s->generation == x->ss->generation)
		return;
	/* Its login process (sshd) holds it open while it lives, processes or not. */
	if (session_leader_alive(&origin_default_paths, s->origin.leader, s->origin.leader_start))
		return;
	if (x->n == x->cap) {
		x->cap = x->cap ? 2 * x->cap : 16;
		e = reallocarray(x->ended, x->cap, sizeof(*e));
		if (!e)
			return;
		x->ended = e;
	}
	x->ended[x->n++] = s;
}

void sessions_interval(struct manager *m)
{
	struct sessions *ss = m->sessions;
	struct sweep_ctx x = { .ss = ss };
	uint64_t now = now_realtime_usec();

	if (!ss)
		return;
	sessions_poll(m);
	ss->generation++;
	procs_foreach(m, mark_proc, &x);
	twalk_r(ss->tree, collect_ended, &x);
	for (size_t i = 0; i < x.n; i++) {
		struct session *s = x.ended[i];

		session_store(m, s, now);
		log_debug("session %u of %s ended", s->sessionid, s->user);
		tdelete(s, &ss->tree, session_cmp);
		session_free(s);
	}
	free(x.ended);
	/* Sessions the ledger had open that no process of this boot continued: ended while the
	 * daemon was down (or just now). */
	for (size_t i = 0; i < ss->n_adopted; i++) {
		struct adopted *a = &ss->adopted[i];
		struct session_record r = {
			.row = a->row,
			.session = a->key,
			.uid = a->uid,
			.user = a->user,
			.remote_host = a->host,
			.remote_address = a->address,
			.address_state = a->address_state,
			.service = a->service,
			.source = a->source,
			.job = a->job,
			.start_usec = a->start_usec,
			.end_usec = now,
		};

		if (!a->claimed && ledger_store_session(m->ledger, &r) < 0)
			log_error("session %s: its end not stored in the ledger", a->key);
		adopted_free(a);
	}
	free(ss->adopted);
	ss->adopted = NULL;
	ss->n_adopted = 0;
}

void sessions_stats(const struct manager *m, uint64_t *looked_up, uint64_t *remote, uint64_t *gone)
{
	*looked_up = m->sessions ? m->sessions->looked_up : 0;
	*remote = m->sessions ? m->sessions->remote : 0;
	*gone = m->sessions ? m->sessions->gone : 0;
}
