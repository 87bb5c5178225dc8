// SPDX-License-Identifier: GPL-2.0-only
/* The manager: turns meter records and counters into attributed usage, evaluates licence
 * terms, raises violations, and drives everything from one sd-event loop. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <search.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "exehash.h"
#include "notify.h"
#include "manager-gpu.h"
#include "sign.h"
#include "util.h"

struct proc {
	uint32_t tgid;
	uint32_t ppid;
	uint32_t uid;
	uint64_t start_ns; /* from the kernel: tells a reused pid apart */
	uint64_t cpu_seen; /* counter value already accounted */
	uint64_t cgroup_id;
	uint64_t cgroup_v1_id; /* in the followed v1 hierarchy, 0 when none */
	uint64_t seen_in; /* last collection that found it in the map */
	char *exe; /* resolved executable path, NULL when unknown */
	char *filename; /* the name it was run by (execve()), NULL when unknown */
	char *exe_sha256, *run_sha256; /* while a licence lists digests (exehash.h) */
	char *run_path; /* the prohibited program the loader maps, when found */
	bool hashed;
	bool loader; /* its executable is the dynamic loader: what it maps is looked at */
	/* Digests the worker computes for it (struct digest_wait). Removed while some are
	 * pending (it exited, its pid was reused, or it exec'd another program: proc_renew()),
	 * it leaves the table but is kept until they are back, to be evaluated as at its exec.
	 * Each exec is a generation: a digest never goes to another program than its own. */
	uint32_t exec_gen;
	uint8_t digests_pending;
	bool detached;
};

/* A digest pending in the worker for a process (exehash_request()). */
struct digest_wait {
	uint64_t ticket;
	struct proc *p;
	uint32_t exec_gen;
	bool run; /* the script's (run_sha256), else the executable's */
};

struct usage_acc {
	uint64_t cgroup_id;
	uint64_t cgroup_v1_id;
	uint32_t uid;
	uint64_t cpu_ns;
};

static int proc_cmp(const void *a, const void *b)
{
	const struct proc *x = a, *y = b;

	return x->tgid < y->tgid ? -1 : x->tgid > y->tgid;
}

static int usage_cmp(const void *a, const void *b)
{
	const struct usage_acc *x = a, *y = b;

	if (x->cgroup_id != y->cgroup_id)
		return x->cgroup_id < y->cgroup_id ? -1 : 1;
	if (x->cgroup_v1_id != y->cgroup_v1_id)
		return x->cgroup_v1_id < y->cgroup_v1_id ? -1 : 1;
	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void proc_free(void *p)
{
	struct proc *pr = p;

	free(pr->exe);
	free(pr->filename);
	free(pr->exe_sha256);
	free(pr->run_sha256);
	free(pr->run_path);
	free(pr);
}

static struct proc *proc_find(struct manager *m, uint32_t tgid)
{
	struct proc key = { .tgid = tgid };
	void *node = tfind(&key, &m->procs, proc_cmp);

	return node ? *(struct proc **)node : NULL;
}

static void proc_remove(struct manager *m, struct proc *p)
{
	tdelete(p, &m->procs, proc_cmp);
	m->n_procs--;
	if (p->digests_pending)
		p->detached = true; /* freed when its digests are back (digest_done()) */
	else
		proc_free(p);
}

/* The process now behind tgid; a different start time means the pid was reused. */
static struct proc *proc_get(struct manager *m, uint32_t tgid, uint64_t start_ns, bool *created)
{
	struct proc *p = proc_find(m, tgid);

	*created = false;
	if (p && start_ns && p->start_ns && p->start_ns != start_ns) {
		proc_remove(m, p);
		p = NULL;
	}
	if (p) {
		if (!p->start_ns)
			p->start_ns = start_ns;
		return p;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->tgid = tgid;
	p->start_ns = start_ns;
	if (!tsearch(p, &m->procs, proc_cmp)) {
		free(p);
		return NULL;
	}
	m->n_procs++;
	*created = true;
	return p;
}

/* Counters a previous run already wrote to the ledger (same boot): a restart continues there. */
struct baseline {
	uint32_t tgid;
	uint64_t start_ns, cpu_ns;
};

static int baseline_cmp(const void *a, const void *b)
{
	const struct baseline *x = a, *y = b;

	return x->tgid < y->tgid ? -1 : x->tgid > y->tgid;
}

static int baseline_load_one(uint32_t tgid, uint64_t start_ns, uint64_t cpu_ns, void *userdata)
{
	struct manager *m = userdata;
	struct baseline *b = malloc(sizeof(*b));

	if (!b)
		return -ENOMEM;
	*b = (struct baseline){ .tgid = tgid, .start_ns = start_ns, .cpu_ns = cpu_ns };
	if (!tsearch(b, &m->baselines, baseline_cmp))
		free(b);
	return 0;
}

/* What of this process's CPU time the previous run already wrote to the ledger: true and
 * *ret when it left a baseline for this very process (same pid and start time). */
static bool baseline_take(struct manager *m, uint32_t tgid, uint64_t start_ns, uint64_t *ret)
{
	struct baseline key = { .tgid = tgid }, *b;
	void *node = m->baselines ? tfind(&key, &m->baselines, baseline_cmp) : NULL;
	bool found = false;

	if (!node)
		return false;
	b = *(struct baseline **)node;
	if (start_ns && b->start_ns == start_ns) {
		*ret = b->cpu_ns;
		found = true;
	}
	tdelete(b, &m->baselines, baseline_cmp);
	free(b);
	return found;
}

/* Started after the previous run's last commit (same boot): none of its time is in the ledger
 * yet, so it is charged from its start, not from the meter's. */
static bool started_after_last_commit(const struct manager *m, uint64_t start_ns)
{
	return m->prev_commit_boot_ns && start_ns > m->prev_commit_boot_ns;
}

static void baseline_save_visit(const void *node, VISIT which, void *closure)
{
	const struct proc *p = *(const struct proc *const *)node;
	struct manager *m = closure;

	if ((which == postorder || which == leaf) && p->cpu_seen)
		ledger_add_baseline(m->ledger, p->tgid, p->start_ns, p->cpu_seen);
}

static void account(struct manager *m, uint64_t cgroup_id, uint64_t cgroup_v1_id, uint32_t uid,
		    uint64_t cpu_ns)
{
	struct usage_acc key = { .cgroup_id = cgroup_id, .cgroup_v1_id = cgroup_v1_id, .uid = uid },
			 *u;
	void *node;

	if (!cpu_ns)
		return;
	node = tfind(&key, &m->usage, usage_cmp);
	if (node) {
		(*(struct usage_acc **)node)->cpu_ns += cpu_ns;
		return;
	}
	u = malloc(sizeof(*u));
	if (!u) {
		log_error("out of memory: %llu ns of CPU time not attributed",
			  (unsigned long long)cpu_ns);
		return;
	}
	*u = key;
	u->cpu_ns = cpu_ns;
	if (!tsearch(u, &m->usage, usage_cmp))
		free(u);
}

static const char *cgroup_name(struct manager *m, uint64_t id, char *buf, size_t size)
{
	const char *path;

	if (attributor_cgroup_path(m->attr, id, &path) == 0)
		return path;
	snprintf(buf, size, "cgroup-id:%llu", (unsigned long long)id);
	return buf;
}

/* Where a process's usage belongs, as a cgroup path: its path in the followed v1 hierarchy
 * ("freezer:/slurm_n1/uid_1000/job_42/step_0") when that is a Slurm job (on hybrid hosts Slurm's
 * cgroup/v1 plugin puts jobs there only), otherwise its cgroup v2 path. */
const char *manager_attribution_path(struct manager *m, uint64_t cgroup_id, uint64_t cgroup_v1_id,
				     char *buf, size_t size)
{
	const char *v1;
	struct workload w;

	if (cgroup_v1_id && attributor_cgroup_v1_path(m->attr, cgroup_v1_id, &v1) == 0) {
		workload_from_cgroup(v1, &w);
		if (w.kind == WORKLOAD_SLURM) {
			snprintf(buf, size, "%s:%s", cgroup_v1_controller_name(m->v1_controller),
				 v1);
			return buf;
		}
	}
	return cgroup_name(m, cgroup_id, buf, size);
}

static uint64_t boot_ns_to_real_usec(const struct manager *m, uint64_t ns)
{
	return ns ? (uint64_t)((int64_t)(ns / NSEC_PER_USEC) + m->boot_to_real_usec) :
		    now_realtime_usec();
}

/* Raise a process violation once per key (kind, licence, uid, executable, and the name run by
 * when that is what matched: for scripts the executable is the interpreter) while it is open:
 * store it, log it, signal it. */
static void raise_violation(struct manager *m, const char *kind, const struct license *lic,
			    const struct proc *p, const char *finding_key, const char *detail)
{
	char key[2 * PATH_MAX + 512], cgbuf[PATH_MAX + 32], job[32];
	const struct user_info *u = NULL;
	const char *cgroup = "";
	char *k;
	int r;

	snprintf(key, sizeof(key), "%s", finding_key);
	if (tfind(key, &m->raised, str_cmp))
		return;
	k = strdup(key);
	if (!k || !tsearch(k, &m->raised, str_cmp)) {
		free(k);
		log_error("out of memory recording violation %s", key);
	}

	if (p) {
		attributor_user(m->attr, p->uid, &u);
		cgroup = manager_attribution_path(m, p->cgroup_id, p->cgroup_v1_id, cgbuf,
						  sizeof(cgbuf));
	}
	slurm_job_from_cgroup(cgroup, job, sizeof(job));

	/* Paths and names are bytes; the ledger and the bus get valid UTF-8. */
	_cleanup_free_ char *user = strdup(u ? u->display_name : "");
	_cleanup_free_ char *exe = utf8_escape_invalid(p && p->exe ? p->exe : "");
	_cleanup_free_ char *det = utf8_escape_invalid(detail);
	if (!user || !exe || !det) {
		log_error("out of memory: violation %s of licence %s for pid %u not recorded", kind,
			  lic->id, p ? p->tgid : 0);
		return;
	}
	struct violation v = {
		.time_usec = now_realtime_usec(),
		.kind = kind,
		.license_id = lic->id,
		.pid = p ? p->tgid : 0,
		.uid = p ? p->uid : HPCMETER_UID_NONE,
		.user = user,
		.executable = exe,
		.cgroup = cgroup,
		.job = job,
		.detail = det,
	};
	r = ledger_add_violation(m->ledger, &v);
	if (r < 0) /* Still announce it: a violation must never be silent. */
		log_error("could not store violation #%llu in the ledger: %s",
			  (unsigned long long)v.seq, strerror(-r));
	log_notice("violation #%llu: %s: licence %s: pid %u uid %u (%s) %s%s%s: %s",
		   (unsigned long long)v.seq, kind, lic->id, v.pid, v.uid, v.user, v.executable,
		   job[0] ? " job " : "", job, detail);
	notify_violation_raised(m, &v);
	/* Open until no process meets the condition any more (manager-evaluate.c). */
	manager_process_violation_raised(m, key, v.seq, user);
}

static bool license_usable(const struct license_entry *e)
{
	return e->license != NULL;
}

static bool licenses_list_digests(const struct manager *m)
{
	for (size_t i = 0; m->licenses && i < m->licenses->n_entries; i++) {
		const struct license *l = m->licenses->entries[i].license;

		if (l && l->n_prohibited_sha256)
			return true;
	}
	return false;
}

static void proc_forget_digests(struct proc *p)
{
	free(p->exe_sha256);
	free(p->run_sha256);
	free(p->run_path);
	p->exe_sha256 = p->run_sha256 = p->run_path = NULL;
	p->hashed = p->loader = false;
	p->exec_gen++; /* digests still pending are the previous program's */
}

static void evaluate_proc(struct manager *m, struct proc *p, const char *filename);

/* The worker has hashed a file: every process waiting for it gets its digest and is evaluated
 * again, as it would have been at its exec (one that exited meanwhile too). */
static void digest_done(uint64_t ticket, int error, const char *hex, void *userdata)
{
	struct manager *m = userdata;

	for (size_t i = 0; i < m->n_digest_waits;) {
		struct digest_wait w = m->digest_waits[i];
		char **slot;

		if (w.ticket != ticket) {
			i++;
			continue;
		}
		m->digest_waits[i] = m->digest_waits[--m->n_digest_waits];
		w.p->digests_pending--;
		if (error)
			log_debug("pid %u: cannot hash what it runs: %s", w.p->tgid,
				  strerror(-error));
		else if (w.exec_gen == w.p->exec_gen) {
			slot = w.run ? &w.p->run_sha256 : &w.p->exe_sha256;
			free(*slot);
			*slot = strdup(hex);
			evaluate_proc(m, w.p, NULL);
		}
		if (w.p->detached && !w.p->digests_pending)
			proc_free(w.p);
	}
}

static int on_digest_ready(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct manager *m = userdata;

	exehash_complete(m->exehash, digest_done, m);
	return 0;
}

static int digest_start(struct manager *m)
{
	int r = exehash_new(&m->exehash);

	if (r < 0)
		return r;
	r = sd_event_add_io(m->event, &m->digest_source, exehash_event_fd(m->exehash), EPOLLIN,
			    on_digest_ready, m);
	if (r < 0) {
		log_error("cannot watch the executable digests: %s", strerror(-r));
		exehash_free(m->exehash);
		m->exehash = NULL;
	}
	return r;
}

/* Stop the worker; processes kept only for their pending digests go. */
static void digest_stop(struct manager *m)
{
	m->digest_source = sd_event_source_unref(m->digest_source);
	for (size_t i = 0; i < m->n_digest_waits; i++) {
		struct proc *p = m->digest_waits[i].p;

		if (--p->digests_pending == 0 && p->detached)
			proc_free(p);
	}
	free(m->digest_waits);
	m->digest_waits = NULL;
	m->n_digest_waits = 0;
	exehash_free(m->exehash);
	m->exehash = NULL;
}

/* One file it runs: its digest now, or later from the worker (digest_done()). */
static void proc_digest(struct manager *m, struct proc *p, const char *script, bool run)
{
	char hex[EXEHASH_HEX_LEN + 1];
	uint64_t ticket = 0;
	struct digest_wait *w;
	int r = exehash_request(m->exehash, p->tgid, script ? NULL : p->exe, script, hex, &ticket);

	if (r == 0) {
		*(run ? &p->run_sha256 : &p->exe_sha256) = strdup(hex);
		return;
	}
	if (r < 0) {
		if (!run)
			log_debug("pid %u: cannot hash its executable %s: %s", p->tgid,
				  p->exe ? p->exe : "?", strerror(-r));
		return;
	}
	if (m->n_digest_waits == m->digest_waits_cap) {
		size_t cap = m->digest_waits_cap ? 2 * m->digest_waits_cap : 16;

		w = realloc(m->digest_waits, cap * sizeof(*w));
		if (!w) {
			log_error("out of memory: pid %u: its digest is lost", p->tgid);
			return;
		}
		m->digest_waits = w;
		m->digest_waits_cap = cap;
	}
	m->digest_waits[m->n_digest_waits++] = (struct digest_wait){
		.ticket = ticket,
		.p = p,
		.exec_gen = p->exec_gen,
		.run = run,
	};
	p->digests_pending++;
}

/* The content of what it runs, once per exec (the file is hashed once per identity; a large
 * one by the worker thread, and the process is evaluated again when its digest is back). */
static void proc_hash(struct manager *m, struct proc *p, const char *filename)
{
	if (p->hashed || !licenses_list_digests(m))
		return;
	if (!m->exehash && digest_start(m) < 0)
		return;
	p->hashed = true;
	p->loader = exehash_is_loader(p->exe);
	proc_digest(m, p, NULL, false);
	/* Run by another name than its executable: a script (or a symlink: the same file). */
	if (filename && (!p->exe || !streq(filename, p->exe)))
		proc_digest(m, p, filename, true);
}

void manager_proc_digests(struct manager *m, uint32_t pid, const char **exe, const char **run,
			  const char **run_path)
{
	struct proc *p = proc_find(m, pid);

	*exe = p ? p->exe_sha256 : NULL;
	*run = p ? p->run_sha256 : NULL;
	*run_path = p ? p->run_path : NULL;
}

static bool digest_prohibited(const char *hex, void *userdata)
{
	const struct manager *m = userdata;

	for (size_t i = 0; m->licenses && i < m->licenses->n_entries; i++) {
		const struct license *l = m->licenses->entries[i].license;

		if (l && license_prohibits_sha256(l, hex))
			return true;
	}
	return false;
}

/* Run through the dynamic loader: the program is mapped after the exec, so each reading looks
 * at what it maps until a prohibited file is found. */
static void proc_loader_check(struct manager *m, struct proc *p)
{
	char path[PATH_MAX], hex[EXEHASH_HEX_LEN + 1];

	if (!p->loader || p->run_path || !m->exehash || !licenses_list_digests(m))
		return;
	if (exehash_mapped(m->exehash, p->tgid, p->exe, digest_prohibited, m, path, sizeof(path),
			   hex) <= 0)
		return;
	free(p->run_sha256);
	p->run_sha256 = strdup(hex);
	p->run_path = strdup(path);
	evaluate_proc(m, p, NULL);
}

static void evaluate_proc(struct manager *m, struct proc *p, const char *filename)
{
	const struct user_info *u = NULL;
	bool exempt = p->uid < m->cfg.uid_min;

	if (!m->licenses)
		return;
	if (!filename)
		filename = p->filename; /* re-evaluated: the name it was run by at its exec */
	proc_hash(m, p, filename);
	if (!exempt && attributor_user(m->attr, p->uid, &u) < 0)
		exempt = true; /* unknown user: principal terms cannot be checked */
	for (size_t i = 0; i < m->licenses->n_entries; i++) {
		const struct license_entry *e = &m->licenses->entries[i];
		struct eval_result res = {};
		struct eval_process ep = {
			.pid = p->tgid,
			.uid = p->uid,
			.user = u ? u->name : NULL,
			.groups = u ? (const char *const *)u->groups : NULL,
			.n_groups = u ? u->n_groups : 0,
			.exe = p->exe,
			.filename = filename,
			.exe_sha256 = p->exe_sha256,
			.run_sha256 = p->run_sha256,
			.run_path = p->run_path,
			.exempt = exempt,
		};

		if (!license_usable(e))
			continue;
		if (evaluate_process(e->license, &ep, &res) < 0)
			log_error("out of memory evaluating pid %u", p->tgid);
		for (size_t k = 0; k < res.n_findings; k++) {
			const struct eval_finding *f = &res.findings[k];

			raise_violation(m, f->kind, e->license, p, f->key, f->detail);
		}
		eval_result_done(&res);
	}
}

/* Another program in the same process (exec without fork) while the worker still hashes what
 * the previous one ran: that exec keeps its entry, out of the table, to be evaluated when its
 * digests are back; the new program gets a fresh entry with the process's metering state. */
static struct proc *proc_renew(struct manager *m, struct proc *p)
{
	struct proc *n = calloc(1, sizeof(*n));

	if (!n)
		return p; /* its exec generation keeps the old digests off the new program */
	n->tgid = p->tgid;
	n->start_ns = p->start_ns;
	n->cpu_seen = p->cpu_seen;
	n->seen_in = p->seen_in;
	proc_remove(m, p);
	if (!tsearch(n, &m->procs, proc_cmp)) {
		free(n);
		return NULL;
	}
	m->n_procs++;
	return n;
}

static void on_proc_exec(const struct meter_exec *e, void *userdata)
{
	struct manager *m = userdata;
	char cgbuf[PATH_MAX + 32];
	bool created;
	struct proc *p;

	m->exec_events++;
	p = proc_get(m, e->tgid, e->start_ns, &created);
	if (p && p->digests_pending)
		p = proc_renew(m, p);
	if (!p) {
		log_error("out of memory tracking pid %u", e->tgid);
		return;
	}
	p->ppid = e->ppid;
	p->uid = e->uid;
	p->cgroup_id = e->cgroup_id;
	p->cgroup_v1_id = e->cgroup_v1_id;
	free(p->exe);
	/* The path walked in the kernel is the real file; the name passed to execve() is only a
	 * fallback (deep or unresolvable paths). */
	p->exe = strdup(e->path[0] ? e->path : e->filename);
	free(p->filename);
	p->filename = e->filename[0] ? strdup(e->filename) : NULL;
	proc_forget_digests(p); /* another program in the same process (exec without fork) */
	_cleanup_free_ char *exe = utf8_escape_invalid(p->exe ? p->exe : "");
	ledger_add_exec(m->ledger, boot_ns_to_real_usec(m, e->ts_ns), e->tgid, e->ppid, e->uid,
			exe ? exe : "",
			manager_attribution_path(m, e->cgroup_id, e->cgroup_v1_id, cgbuf,
						 sizeof(cgbuf)));
	log_debug("exec pid %u uid %u %s", e->tgid, e->uid, p->exe ? p->exe : "?");
	evaluate_proc(m, p, e->filename);
	manager_gpu_exec(m, e->tgid);
}

static void on_proc_exit(const struct meter_exit *e, void *userdata)
{
	struct manager *m = userdata;
	struct proc *p = proc_find(m, e->tgid);
	uint64_t seen = 0;

	m->exit_events++;
	if (p && (!p->start_ns || p->start_ns == e->start_ns))
		seen = p->cpu_seen;
	else if (!p && baseline_take(m, e->tgid, e->start_ns, &seen))
		; /* the previous run wrote this much of it */
	else if (e->start_ns && e->start_ns < m->meter_start_ns &&
		 !started_after_last_commit(m, e->start_ns))
		seen = e->cpu_ns; /* ran before the meter and ended before its first reading */
	if (e->cpu_ns > seen)
		account(m, e->cgroup_id, e->cgroup_v1_id, e->uid, e->cpu_ns - seen);
	ledger_add_exit(m->ledger, boot_ns_to_real_usec(m, e->ts_ns), e->tgid, e->exit_code,
			e->cpu_ns);
	if (p)
		proc_remove(m, p);
}

static char *read_exe(uint32_t tgid);

/* A process moved to another cgroup: its time since the last reading (or since its start, when
 * it has not been read yet) is charged to the cgroups it left; from here on it is metered in
 * the new ones. A process the daemon has no entry for was forked since the last reading and has
 * not exec'd: fork put it in its parent's cgroups, where the record says the parent is. */
static void on_proc_move(const struct meter_move *e, void *userdata)
{
	struct manager *m = userdata;
	uint64_t from = 0, from_v1 = 0;
	struct proc *p = proc_find(m, e->tgid);
	bool created;

	m->move_events++;
	if (p && p->start_ns && e->start_ns && p->start_ns != e->start_ns)
		p = NULL; /* the pid was reused: the entry is another process's */
	if (p && (p->seen_in || p->cpu_seen || e->start_ns >= m->meter_start_ns)) {
		from = p->cgroup_id;
		from_v1 = p->cgroup_v1_id;
	} else if (!p && e->start_ns >= m->meter_start_ns) {
		/* Started under this meter: all its time is metered, from its start. */
		from = e->parent_cgroup_id;
		from_v1 = e->parent_cgroup_v1_id;
		p = proc_get(m, e->tgid, e->start_ns, &created);
		if (!p)
			return;
		p->uid = e->uid;
		p->exe = read_exe(e->tgid);
		evaluate_proc(m, p, NULL);
	} else {
		/* Its first reading decides what of its time before this meter is charged. */
		return;
	}
	if (e->cpu_ns > p->cpu_seen) {
		account(m, from, from_v1, e->uid, e->cpu_ns - p->cpu_seen);
		p->cpu_seen = e->cpu_ns;
	}
	p->cgroup_id = e->cgroup_id;
	p->cgroup_v1_id = e->cgroup_v1_id;
	log_debug("pid %u moved to cgroup %llu (v1 %llu)%s", e->tgid,
		  (unsigned long long)e->cgroup_id, (unsigned long long)e->cgroup_v1_id,
		  e->partial ? ", its time summed over its first threads only" : "");
}

/* What a process ran after its exit record (closing its files, notifying its parent), once its
 * parent reaped it: charged where the exit record charged the rest. */
static void on_proc_tail(const struct meter_tail *e, void *userdata)
{
	struct manager *m = userdata;

	m->tail_events++;
	account(m, e->cgroup_id, e->cgroup_v1_id, e->uid, e->cpu_ns);
	log_debug("pid %u ran %llu ns after its exit record", e->tgid,
		  (unsigned long long)e->cpu_ns);
}

static char *read_exe(uint32_t tgid)
{
	char link[64], buf[PATH_MAX];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/%u/exe", tgid);
	n = readlink(link, buf, sizeof(buf) - 1);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	return strdup(buf);
}

static int collect_one(uint32_t tgid, const struct hpcm_proc *k, void *userdata)
{
	struct manager *m = userdata;
	bool created;
	struct proc *p = proc_get(m, tgid, k->start_ns, &created);

	if (!p)
		return -ENOMEM;
	/* A process that ran before the meter: what it used before is not metered; its counter
	 * from now on is. (One that started later is charged from its start.) After a restart
	 * the previous run's baseline says how much is in the ledger already. */
	if (p->seen_in == 0 && !p->cpu_seen) {
		uint64_t b;

		if (baseline_take(m, tgid, k->start_ns, &b))
			p->cpu_seen = b;
		else if (k->start_ns && k->start_ns < m->meter_start_ns &&
			 !(k->flags & HPCM_F_EXITED) && !started_after_last_commit(m, k->start_ns))
			p->cpu_seen = k->cpu_ns;
	}
	/* The scheduler's figure only grows; it may dip for a moment while an exiting thread's
	 * time moves into the process's total (a reused pid is a new proc: start_ns differs). */
	if (k->cpu_ns > p->cpu_seen) {
		account(m, k->cgroup_id, k->cgroup_v1_id, k->uid, k->cpu_ns - p->cpu_seen);
		p->cpu_seen = k->cpu_ns;
	}
	p->cgroup_id = k->cgroup_id;
	p->cgroup_v1_id = k->cgroup_v1_id;
	p->ppid = k->ppid;
	p->seen_in = m->collections;
	if (created) {
		/* Started before the meter, or its exec record was lost: look at it now. */
		p->uid = k->uid;
		p->exe = read_exe(tgid);
		evaluate_proc(m, p, NULL);
	} else if (p->uid != k->uid) {
		p->uid = k->uid; /* setuid() after exec: the new owner is checked too */
		evaluate_proc(m, p, NULL);
	}
	proc_loader_check(m, p);
	if (k->flags & HPCM_F_EXITED) {
		/* Its exit record was dropped; the counter above was final. */
		meter_reap(m->meter, tgid);
		proc_remove(m, p);
	}
	return 0;
}

/* Forget processes that left the map without an exit record reaching us. */
struct sweep {
	struct manager *m;
	uint32_t *gone;
	size_t n, cap;
};

static void sweep_visit(const void *node, VISIT which, void *closure)
{
	struct sweep *s = closure;
	const struct proc *p = *(const struct proc *const *)node;

	if (which != postorder && which != leaf)
		return;
	/* Seen in this reading or the one before: a process that just exited may have its exit
	 * record (with its final counter) still on the way; it keeps its entry until then. */
	if (p->seen_in + 1 >= s->m->collections)
		return;
	/* Never in the map yet (found in /proc at start, or its exec came after the walk):
	 * keep it while it lives. */
	if (p->seen_in == 0 && (kill((pid_t)p->tgid, 0) == 0 || errno != ESRCH))
		return;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		uint32_t *g = realloc(s->gone, cap * sizeof(*g));

		if (!g)
			return;
		s->gone = g;
		s->cap = cap;
	}
	s->gone[s->n++] = p->tgid;
}

static void sweep(struct manager *m)
{
	struct sweep s = { .m = m };

	twalk_r(m->procs, sweep_visit, &s);
	for (size_t i = 0; i < s.n; i++) {
		struct proc *p = proc_find(m, s.gone[i]);

		if (p)
			proc_remove(m, p);
	}
	free(s.gone);
}

struct flush {
	struct manager *m;
	int64_t interval_id;
	int r;
};

static void flush_visit(const void *node, VISIT which, void *closure)
{
	struct flush *f = closure;
	const struct usage_acc *u = *(const struct usage_acc *const *)node;
	const struct user_info *user = NULL;
	char cgbuf[PATH_MAX + 32], job[32];
	const char *cg;
	int r;

	if (which != postorder && which != leaf)
		return;
	cg = manager_attribution_path(f->m, u->cgroup_id, u->cgroup_v1_id, cgbuf, sizeof(cgbuf));
	slurm_job_from_cgroup(cg, job, sizeof(job));
	attributor_user(f->m->attr, u->uid, &user);
	r = ledger_add_usage(f->m->ledger, f->interval_id, cg, u->cgroup_id, job, u->uid,
			     user ? user->display_name : "", u->cpu_ns);
	if (r == 0)
		r = ledger_note_job(f->m->ledger, job, cg, u->uid, user ? user->display_name : "",
				    "", f->m->interval_start_usec);
	manager_metrics_account(f->m, job, user ? user->display_name : "", u->uid, u->cpu_ns);
	if (r < 0 && f->r == 0)
		f->r = r;
}

static int flush_interval(struct manager *m, uint64_t end_usec)
{
	struct flush f = { .m = m };
	int r;

	r = ledger_add_interval(m->ledger, m->interval_start_usec, end_usec, &f.interval_id);
	if (r == 0) {
		twalk_r(m->usage, flush_visit, &f);
		r = f.r;
	}
	/* What the counters said at this commit: a restart in the same boot continues there. */
	if (r == 0) {
		r = ledger_clear_baselines(m->ledger);
		twalk_r(m->procs, baseline_save_visit, m);
	}
	if (r == 0)
		r = manager_gpu_flush(m, f.interval_id);
	if (r == 0)
		r = ledger_commit(m->ledger);
	if (r < 0) {
		/* Keep the usage for the next interval rather than lose it. */
		log_error("cannot write interval to the ledger: %s (kept for the next one)",
			  strerror(-r));
		return r;
	}
	tdestroy(m->usage, free);
	m->usage = NULL;
	manager_gpu_flushed(m);
	m->interval_start_usec = end_usec;
	return 0;
}

/* In a /proc/PID/cgroup line "6:freezer:/slurm_n1/...", the path when the hierarchy's
 * controllers include ctl, else NULL. */
static const char *v1_line_path(const char *line, const char *ctl)
{
	const char *c = strchr(line, ':'), *p;
	size_t n = strlen(ctl);

	if (!c)
		return NULL;
	p = strchr(++c, ':');
	if (!p)
		return NULL;
	/* the controllers field is a comma-separated list ("cpu,cpuacct") */
	for (const char *t = c; t < p;) {
		const char *e = memchr(t, ',', p - t);

		if (!e)
			e = p;
		if ((size_t)(e - t) == n && strncmp(t, ctl, n) == 0)
			return p + 1;
		t = e + 1;
	}
	return NULL;
}

/* Processes that run already when the meter starts: check them now rather than at their next
 * context switch. Their CPU time is counted from the moment the meter attached. */
static void seed_from_proc(struct manager *m)
{
	const char *mnt = attributor_cgroup_mount(m->attr);
	const char *v1 = attributor_v1_mount(m->attr);
	const char *v1ctl = cgroup_v1_controller_name(m->v1_controller);
	DIR *d = opendir("/proc");
	struct dirent *de;

	if (!d) {
		log_warning("cannot read /proc: %m");
		return;
	}
	while ((de = readdir(d))) {
		char path[PATH_MAX + 64], line[PATH_MAX];
		unsigned long tgid;
		char *end;
		struct proc *p;
		bool created;
		FILE *f;
		char *exe;

		tgid = strtoul(de->d_name, &end, 10);
		if (*end || tgid == 0 || tgid > UINT32_MAX)
			continue;
		exe = read_exe(tgid);
		if (!exe)
			continue; /* a kernel thread, or gone */
		p = proc_get(m, tgid, 0, &created);
		if (!p || !created) {
			free(exe);
			continue;
		}
		p->exe = exe;
		snprintf(path, sizeof(path), "/proc/%lu/status", tgid);
		if ((f = fopen(path, "re"))) {
			while (fgets(line, sizeof(line), f)) {
				unsigned uid, ppid;

				if (sscanf(line, "Uid: %u", &uid) == 1)
					p->uid = uid;
				else if (sscanf(line, "PPid: %u", &ppid) == 1)
					p->ppid = ppid;
			}
			fclose(f);
		}
		/* "0::/path" is the cgroup v2 membership; its directory inode is the cgroup id. */
		snprintf(path, sizeof(path), "/proc/%lu/cgroup", tgid);
		if ((mnt[0] || v1[0]) && (f = fopen(path, "re"))) {
			while (fgets(line, sizeof(line), f)) {
				struct stat st;
				char dir[2 * PATH_MAX];

				line[strcspn(line, "\n")] = '\0';
				if (strncmp(line, "0::", 3) == 0) {
					snprintf(dir, sizeof(dir), "%s%s", mnt, line + 3);
					if (stat(dir, &st) == 0)
						p->cgroup_id = st.st_ino;
				} else if (v1[0] && v1_line_path(line, v1ctl)) {
					snprintf(dir, sizeof(dir), "%s%s", v1,
						 v1_line_path(line, v1ctl));
					if (stat(dir, &st) == 0)
						p->cgroup_v1_id = st.st_ino;
				}
			}
			fclose(f);
		}
		evaluate_proc(m, p, NULL);
	}
	closedir(d);
}

static void update_clock_offset(struct manager *m)
{
	m->boot_to_real_usec =
		(int64_t)now_realtime_usec() - (int64_t)(now_boottime_nsec() / NSEC_PER_USEC);
}

/* Losses in the kernel are never silent: say when they grow. (A later version turns them
 * into gap records with a usage bound.) */
static void report_losses(struct manager *m)
{
	static const struct {
		enum hpcm_stat stat;
		const char *what;
	} losses[] = {
		{ HPCM_STAT_DROP_EXEC, "exec records lost (ring buffer full)" },
		{ HPCM_STAT_DROP_EXIT, "exit records lost (ring buffer full; counters kept)" },
		{ HPCM_STAT_PROCS_FULL, "processes not tracked (process map full)" },
		{ HPCM_STAT_DROP_MOVE,
		  "cgroup move records lost (ring buffer full; their time before "
		  "the move went to the cgroup they moved to)" },
		{ HPCM_STAT_DROP_TAIL, "exit tail records lost (ring buffer full; what those "
				       "processes ran after their exit record is not metered)" },
		{ HPCM_STAT_EXITING_FULL, "exiting processes not followed to their end (map "
					  "full; what they run after their exit record is not "
					  "metered)" },
	};
	struct meter_stats st;

	if (meter_read_stats(m->meter, &st) < 0)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(losses); i++) {
		uint64_t now = st.counter[losses[i].stat], *last = &m->losses_seen[losses[i].stat];

		if (now > *last)
			log_warning("%llu %s since the last interval",
				    (unsigned long long)(now - *last), losses[i].what);
		*last = now;
	}
	if (st.bad_records > m->bad_records_seen)
		log_warning("%llu malformed ring-buffer records ignored",
			    (unsigned long long)(st.bad_records - m->bad_records_seen));
	m->bad_records_seen = st.bad_records;
}

/* The BPF meter's usage of the closing interval, per cgroup, for the kernel meter's check. */
static void kmeter_visit(const void *node, VISIT which, void *closure)
{
	const struct usage_acc *u = *(const struct usage_acc *const *)node;

	if (which == postorder || which == leaf)
		kmeter_add_bpf(closure, u->cgroup_id, u->cpu_ns);
}

int manager_collect(struct manager *m)
{
	uint64_t now, t0 = now_boottime_nsec();
	int r;

	manager_clock_check(m);
	update_clock_offset(m);
	/* Records already in the ring buffer first: exits carry final counters. */
	meter_consume(m->meter);
	m->collections++;
	r = meter_foreach_proc(m->meter, collect_one, m);
	if (r < 0)
		log_error("cannot read the process counters: %s", strerror(-r));
	/* Exits during the reading: their final counters, before the interval closes. */
	meter_consume(m->meter);
	sweep(m);
	manager_gpu_collect(m);
	report_losses(m);
	if (m->kmeter) {
		twalk_r(m->usage, kmeter_visit, m->kmeter);
		kmeter_collect(m->kmeter);
	}
	now = now_realtime_usec();
	manager_gaps_interval(m, now);
	r = flush_interval(m, now);
	/* After the flush: caps see the interval just closed. */
	manager_evaluate(m);
	m->last_collect_usec = now;
	manager_ledger_state_check(m);
	manager_metrics_write(m);
	manager_retention(m, now);
	m->last_collect_duration_usec = (now_boottime_nsec() - t0) / NSEC_PER_USEC;
	/* Once an hour, forget the paths of cgroups nobody used since the last time. */
	if (m->collections % (3600 / m->cfg.interval_sec + 1) == 0) {
		attributor_age(m->attr);
		/* Ended jobs stay a day in memory (late usage still finds its account); the
		 * ledger keeps them for good. */
		job_table_expire(m->jobs, now - 86400 * USEC_PER_SEC);
	}
	notify_changed(m, MANAGER_CHANGED_LAST_COLLECT);
	manager_meter_states_check(m);
	return r;
}

unsigned manager_license_errors(const struct manager *m)
{
	unsigned n = 0;

	for (size_t i = 0; m->licenses && i < m->licenses->n_entries; i++)
		n += !m->licenses->entries[i].license || m->licenses->entries[i].kept_previous;
	return n;
}

unsigned manager_licenses_active(const struct manager *m)
{
	int64_t now = (int64_t)(now_realtime_usec() / USEC_PER_SEC);
	unsigned n = 0;

	for (size_t i = 0; m->licenses && i < m->licenses->n_entries; i++) {
		const struct license *l = m->licenses->entries[i].license;

		n += l && license_valid_at(l, now);
	}
	return n;
}

struct foreach_ctx {
	struct manager *m;
	void (*fn)(struct manager *m, uint32_t pid, uint32_t uid, const char *exe,
		   const char *filename, const char *cgroup, void *userdata);
	void *userdata;
};

static void foreach_visit(const void *node, VISIT which, void *closure)
{
	const struct foreach_ctx *c = closure;
	const struct proc *p = *(const struct proc *const *)node;
	char buf[PATH_MAX + 32];

	if (which == postorder || which == leaf)
		c->fn(c->m, p->tgid, p->uid, p->exe, p->filename,
		      manager_attribution_path(c->m, p->cgroup_id, p->cgroup_v1_id, buf,
					       sizeof(buf)),
		      c->userdata);
}

void manager_forget_raised(struct manager *m, const char *key)
{
	void *node = tfind(key, &m->raised, str_cmp);
	char *k;

	if (!node)
		return;
	k = *(char **)node;
	tdelete(key, &m->raised, str_cmp);
	free(k);
}

int manager_remember_raised(struct manager *m, const char *key)
{
	char *k;

	if (tfind(key, &m->raised, str_cmp))
		return 0;
	k = strdup(key);
	if (!k || !tsearch(k, &m->raised, str_cmp)) {
		free(k);
		return -ENOMEM;
	}
	return 0;
}

void manager_foreach_proc(struct manager *m,
			  void (*fn)(struct manager *m, uint32_t pid, uint32_t uid, const char *exe,
				     const char *filename, const char *cgroup, void *userdata),
			  void *userdata)
{
	struct foreach_ctx c = { .m = m, .fn = fn, .userdata = userdata };

	twalk_r(m->procs, foreach_visit, &c);
}

static void reevaluate_visit(const void *node, VISIT which, void *closure)
{
	if (which == postorder || which == leaf)
		evaluate_proc(closure, *(struct proc *const *)node, NULL);
}

int manager_reload(struct manager *m)
{
	struct license_set *s;
	char buf[1024];
	int r;

	r = license_set_load(m->cfg.licenses_dir, &s);
	if (r < 0) {
		log_error(
			"cannot read licence directory %s: %s (keeping the licences loaded before)",
			m->cfg.licenses_dir, strerror(-r));
		return r;
	}
	license_set_keep_previous(s, m->licenses);
	for (size_t i = 0; i < s->n_entries; i++) {
		const struct license_entry *e = &s->entries[i];

		if (e->kept_previous) {
			license_error_format(&e->error, buf, sizeof(buf));
			log_warning(
				"licence file rejected: %s; keeping licence %s as loaded before",
				buf, e->license->id);
		} else if (e->license) {
			log_info("licence %s loaded from %s", e->license->id, e->file);
			for (size_t w = 0; w < e->license->n_warnings; w++) {
				license_error_format(&e->license->warnings[w], buf, sizeof(buf));
				log_warning("licence %s: warning: %s", e->license->id, buf);
			}
		} else {
			license_error_format(&e->error, buf, sizeof(buf));
			log_warning("licence file rejected: %s", buf);
		}
	}
	if (s->n_entries == 0)
		log_warning("no licence files in %s: nothing to check usage against",
			    m->cfg.licenses_dir);
	manager_record_licenses(m, s);
	license_set_free(m->licenses);
	m->licenses = s;
	notify_changed(m, MANAGER_CHANGED_LICENSES);
	manager_meter_states_check(m);
	attributor_flush_users(m->attr);
	/* New terms apply to what already runs. */
	twalk_r(m->procs, reevaluate_visit, m);
	manager_evaluate(m);
	return 0;
}

static int on_ring(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct manager *m = userdata;
	int r = meter_consume(m->meter);

	if (r < 0)
		log_error("reading the BPF ring buffer failed: %s", strerror(-r));
	return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct manager *m = userdata;

	manager_collect(m);
	sd_event_source_set_time(s, usec + m->cfg.interval_sec * USEC_PER_SEC);
	sd_event_source_set_enabled(s, SD_EVENT_ON);
	return 0;
}

/* After each loop iteration: one commit for everything written in it. */
static int on_commit_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct manager *m = userdata;
	int r = ledger_commit(m->ledger);

	if (r < 0)
		log_error("ledger commit failed: %s", strerror(-r));
	return 0;
}

/* After each event: the records the loop added (exec and exit events) are committed within
 * COMMIT_DELAY_USEC, in one transaction, rather than one commit (an fsync) per wake-up, which
 * made an exec storm cost the daemon a large share of a core. Violations, job announcements
 * and intervals commit at once on their own; a crash loses at most this much of the process
 * events. */
#define COMMIT_DELAY_USEC (USEC_PER_SEC / 5)

static int on_post(sd_event_source *s, void *userdata)
{
	struct manager *m = userdata;
	int enabled = SD_EVENT_OFF, r;

	if (!ledger_dirty(m->ledger))
		return 0;
	if (m->commit_source && sd_event_source_get_enabled(m->commit_source, &enabled) >= 0 &&
	    enabled != SD_EVENT_OFF)
		return 0; /* a commit is due already */
	if (!m->commit_source) {
		r = sd_event_add_time_relative(m->event, &m->commit_source, CLOCK_MONOTONIC,
					       COMMIT_DELAY_USEC, 0, on_commit_timer, m);
		if (r >= 0)
			return 0;
		log_warning("cannot delay the ledger commit: %s", strerror(-r));
		return on_commit_timer(NULL, 0, m);
	}
	if (sd_event_source_set_time_relative(m->commit_source, COMMIT_DELAY_USEC) < 0 ||
	    sd_event_source_set_enabled(m->commit_source, SD_EVENT_ONESHOT) < 0)
		return on_commit_timer(NULL, 0, m);
	return 0;
}

static int on_term(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct manager *m = userdata;

	log_info("received %s, stopping", strsignal(si->ssi_signo));
	sd_notify(0, "STOPPING=1");
	return sd_event_exit(m->event, 0);
}

static int on_hup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct manager *m = userdata;

	sd_notify(0, "RELOADING=1");
	manager_reload(m);
	sd_notify(0, "READY=1");
	return 0;
}

int manager_new(const struct config *cfg, struct manager **ret)
{
	struct manager *m = calloc(1, sizeof(*m));
	int r;

	if (!m)
		return -ENOMEM;
	m->cfg = *cfg;
	m->bpf_stats_fd = -1;
	r = sd_event_default(&m->event);
	if (r < 0)
		goto fail;
	r = attributor_new(&m->attr);
	if (r < 0)
		goto fail;
	r = job_table_new(&m->jobs);
	if (r < 0)
		goto fail;
	*ret = m;
	return 0;
fail:
	manager_free(m);
	return r;
}

static void read_identity(struct manager *m)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");

	if (gethostname(m->hostname, sizeof(m->hostname) - 1) < 0)
		strcpy(m->hostname, "unknown");
	if (!f || !fgets(m->boot_id, sizeof(m->boot_id), f))
		m->boot_id[0] = '\0';
	m->boot_id[strcspn(m->boot_id, "\n")] = '\0';
}

/* A job that was running when the daemon stopped: keep its announcement. */
static int load_job(const struct job_info *from, void *userdata)
{
	struct manager *m = userdata;
	struct job_info *j = job_table_get(m->jobs, from->id, true);
	const struct job_key *k;
	const char *why;

	if (!j)
		return -ENOMEM;
	job_info_clear(j);
	snprintf(j->id, sizeof(j->id), "%s", from->id);
	j->row = from->row;
	j->uid = from->uid;
	j->start_usec = from->start_usec;
	j->end_usec = from->end_usec;
	for (k = job_keys; k < job_keys + n_job_keys; k++) {
		const char *v = job_info_get(from, k->name);

		if (k->type == 's' && v && job_info_set(j, k->name, v, 0, &why) < 0)
			log_warning("ledger: job %s: %s: %s", from->id, k->name, why);
	}
	return 0;
}

int manager_record_violation(struct manager *m, struct violation *v)
{
	int r = ledger_add_violation(m->ledger, v);

	if (r < 0)
		log_error("could not store violation #%llu in the ledger: %s",
			  (unsigned long long)v->seq, strerror(-r));
	log_notice("violation #%llu: %s%s%s: %s%s%s", (unsigned long long)v->seq, v->kind,
		   v->license_id[0] ? ", licence " : "", v->license_id, v->cgroup,
		   v->cgroup[0] ? ": " : "", v->detail);
	notify_violation_raised(m, v);
	return r;
}

static int any_job(const struct job_info *j, void *userdata)
{
	return -ECANCELED; /* one is enough */
}

/* In the same boot the scheduler's counters of living processes went on while no daemon ran:
 * continue from what the previous run committed (its baselines), so that neither the interval
 * in flight nor the time it was down is lost for them. */
static void load_baselines(struct manager *m)
{
	struct heartbeat hb;

	if (ledger_read_heartbeat(m->ledger, &hb) < 0 || !hb.boot_id[0] ||
	    !streq(hb.boot_id, m->boot_id))
		return;
	m->prev_commit_boot_ns = hb.boottime_usec * NSEC_PER_USEC;
	if (ledger_load_baselines(m->ledger, baseline_load_one, m) < 0)
		log_warning("cannot read the counter baselines: the interval in flight of the "
			    "previous run is not continued");
}

int manager_start(struct manager *m)
{
	struct meter_callbacks cb = {
		.exec = on_proc_exec,
		.exit = on_proc_exit,
		.move = on_proc_move,
		.tail = on_proc_tail,
		.userdata = m,
	};
	char err[1024];
	sigset_t mask;
	int r;

	read_identity(m);
	m->started_usec = m->interval_start_usec = now_realtime_usec();
	update_clock_offset(m);

	r = ledger_open(m->cfg.state_dir, &m->ledger, err, sizeof(err));
	if (r < 0) {
		log_error("%s", err);
		return r;
	}
	log_info("ledger %s", ledger_path(m->ledger));
	r = sign_key_ensure(m->cfg.state_dir, err, sizeof(err));
	if (r < 0)
		log_warning("no report key: %s (reports cannot be signed)", err);
	else if (r > 0)
		log_info("created the node's Ed25519 report key in %s", m->cfg.state_dir);
	r = ledger_list_jobs(m->ledger, UINT64_MAX, load_job, m);
	if (r < 0)
		log_warning("cannot read running jobs from the ledger: %s", strerror(-r));
	else if (job_table_size(m->jobs))
		log_info("%zu job(s) running according to the ledger", job_table_size(m->jobs));
	/* Any announcement in the ledger's history: the batch system's prolog is installed. */
	m->jobs_announced = ledger_list_jobs(m->ledger, 0, any_job, NULL) == -ECANCELED;
	r = manager_evaluate_start(m);
	if (r < 0)
		return r;

	r = manager_reload(m);
	if (r < 0)
		return r;

	r = attributor_follow_v1(m->attr, m->cfg.cgroup_v1, &m->v1_controller);
	if (r < 0) {
		log_error("cgroup_v1 = %s: %s", m->cfg.cgroup_v1,
			  r == -ENOENT ? "no such hierarchy is mounted" : strerror(-r));
		return r;
	}
	if (m->v1_controller != HPCM_V1_NONE)
		log_info("following the cgroup v1 %s hierarchy at %s beside cgroup v2",
			 cgroup_v1_controller_name(m->v1_controller), attributor_v1_mount(m->attr));

	/* The meter's own cost, per program: the kernel times BPF programs only while asked to
	 * (about two clock reads per run), so only when configured. */
	if (m->cfg.bpf_stats) {
		m->bpf_stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
		if (m->bpf_stats_fd < 0) {
			m->bpf_stats_errno = errno;
			log_warning("cannot enable BPF statistics: %m");
		}
	}
	m->meter_start_ns = now_boottime_nsec();
	r = meter_open_pinned(&cb, METER_ATTACH_AUTO, m->v1_controller, m->cfg.bpf_pin_dir,
			      &m->meter);
	if (r < 0)
		return r;
	log_info("BPF CPU meter attached (%s)", meter_attach_mode(m->meter));
	if (m->cfg.kmeter_enabled && (r = kmeter_new(m, &m->kmeter)) < 0)
		log_warning("kernel meter: no generic netlink socket: %s", strerror(-r));
	load_baselines(m);
	snprintf(err, sizeof(err), "hpcmeterd %s, %s%s", HPCMETER_VERSION,
		 meter_attach_mode(m->meter),
		 meter_maps_reused(m->meter) ? ", maps pinned by the previous run reused" : "");
	ledger_add_meter_state(m->ledger, now_realtime_usec(), "bpf-cpu", "attached", err);
	manager_gaps_start(m);
	r = manager_gpu_start(m);
	if (r < 0)
		return r;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	if ((r = sd_event_add_signal(m->event, NULL, SIGTERM, on_term, m)) < 0 ||
	    (r = sd_event_add_signal(m->event, NULL, SIGINT, on_term, m)) < 0 ||
	    (r = sd_event_add_signal(m->event, NULL, SIGHUP, on_hup, m)) < 0)
		goto fail_loop;
	r = sd_event_add_io(m->event, &m->ring_source, meter_ring_fd(m->meter), EPOLLIN, on_ring,
			    m);
	if (r < 0)
		goto fail_loop;
	r = sd_event_add_time_relative(m->event, &m->timer_source, CLOCK_MONOTONIC,
				       m->cfg.interval_sec * USEC_PER_SEC, 0, on_timer, m);
	if (r < 0)
		goto fail_loop;
	r = sd_event_add_post(m->event, &m->post_source, on_post, m);
	if (r < 0)
		goto fail_loop;
	/* Under systemd's WatchdogSec= (WATCHDOG_USEC), the loop pings WATCHDOG=1 at half the
	 * period: a loop stuck anywhere (a hung NSS lookup, a blocked ledger write) gets the
	 * daemon restarted (Restart=on-failure). Does nothing without WATCHDOG_USEC. */
	r = sd_event_set_watchdog(m->event, true);
	if (r < 0)
		goto fail_loop;
	if (r > 0)
		log_info("systemd watchdog enabled");
	r = manager_stall_start(m);
	if (r < 0)
		goto fail_loop;

	/* Processes that run already: check them now, not at their next context switch. */
	seed_from_proc(m);
	manager_collect(m);

	/* The states MeterStateChanged starts from. */
	manager_meter_states_check(m);
	return 0;
fail_loop:
	log_error("cannot set up the event loop: %s", strerror(-r));
	return r;
}

int manager_run(struct manager *m)
{
	int r;

	sd_notifyf(0, "READY=1\nSTATUS=Metering %u processes, %u licences active", m->n_procs,
		   manager_licenses_active(m));
	r = sd_event_loop(m->event);
	/* Nothing lost on a stop: the interval in flight goes to the ledger. */
	manager_collect(m);
	manager_record_licenses(m, NULL);
	manager_heartbeat(m, true);
	if (r > 0) {
		/* A loop ended by a failure (the bus connection is not one: daemon/bus/bus.c
		 * follows it): exit non-zero so that systemd (Restart=on-failure) restarts us. */
		log_error("the event loop ended with a failure; exiting to be restarted");
		return -ECONNRESET;
	}
	return r;
}

void manager_free(struct manager *m)
{
	if (!m)
		return;
	sd_event_source_unref(m->ring_source);
	sd_event_source_unref(m->timer_source);
	sd_event_source_unref(m->post_source);
	sd_event_source_unref(m->commit_source);
	manager_stall_stop(m);
	kmeter_free(m->kmeter);
	digest_stop(m);
	meter_free(m->meter);
	if (m->bpf_stats_fd >= 0)
		close(m->bpf_stats_fd);
	manager_gpu_free(m);
	manager_evaluate_stop(m);
	ledger_close(m->ledger);
	license_set_free(m->licenses);
	attributor_free(m->attr);
	job_table_free(m->jobs);
	tdestroy(m->procs, proc_free);
	tdestroy(m->usage, free);
	tdestroy(m->raised, free);
	tdestroy(m->baselines, free);
	manager_gaps_free(m);
	manager_metrics_free(m);
	manager_licenses_recorded_free(m);
	sd_event_unref(m->event);
	free(m);
}
