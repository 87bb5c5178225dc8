// SPDX-License-Identifier: GPL-2.0-only
/* The process table: every process the meter has seen, what of its CPU time is accounted, and
 * where it runs. The meter's records (exec, exit, a move to another cgroup, the tail after an
 * exit) and each reading's counters go through here into the interval (collect.c); a process
 * is evaluated at its exec, when found later, and when its owner changes. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <search.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "manager.h"
#include "util.h"

struct procs {
	void *tree; /* tsearch tree of struct proc, by tgid */
	uint32_t n;
	uint64_t exec_events, exit_events, move_events, tail_events;
	/* The counters the previous run committed (same boot), and when it committed last. */
	void *baselines;
	uint64_t prev_commit_boot_ns;
	/* "JOB|EXECUTABLE" of the execs kept as the first of their executable in their job. */
	void *first_seen;
	size_t n_first_seen;
};

/* Executables remembered per job for first-in-job evidence; past this many the memory starts
 * afresh (a first exec is then recorded once more: a duplicate, never a loss). */
#define FIRST_SEEN_MAX 65536

int procs_new(struct manager *m)
{
	m->procs = calloc(1, sizeof(*m->procs));
	return m->procs ? 0 : -ENOMEM;
}

static int proc_cmp(const void *a, const void *b)
{
	const struct proc *x = a, *y = b;

	return x->tgid < y->tgid ? -1 : x->tgid > y->tgid;
}

void proc_free(struct proc *pr)
{
	free(pr->exe);
	free(pr->filename);
	free(pr->exe_sha256);
	free(pr->run_sha256);
	free(pr->run_path);
	free(pr);
}

struct proc *procs_find(struct manager *m, uint32_t tgid)
{
	struct proc key = { .tgid = tgid };
	void *node = tfind(&key, &m->procs->tree, proc_cmp);

	return node ? *(struct proc **)node : NULL;
}

static void proc_remove(struct manager *m, struct proc *p)
{
	tdelete(p, &m->procs->tree, proc_cmp);
	m->procs->n--;
	if (p->digests_pending)
		p->detached = true; /* freed when its digests are back (digest_done()) */
	else
		proc_free(p);
}

/* The process now behind tgid; a different start time means the pid was reused. */
static struct proc *proc_get(struct manager *m, uint32_t tgid, uint64_t start_ns, bool *created)
{
	struct proc *p = procs_find(m, tgid);

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
	p->loginuid = p->sessionid = HPCM_AUDIT_UNSET;
	if (!tsearch(p, &m->procs->tree, proc_cmp)) {
		free(p);
		return NULL;
	}
	m->procs->n++;
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
	if (!tsearch(b, &m->procs->baselines, baseline_cmp))
		free(b);
	return 0;
}

/* What of this process's CPU time the previous run already wrote to the ledger: true and
 * *ret when it left a baseline for this very process (same pid and start time). */
static bool baseline_take(struct manager *m, uint32_t tgid, uint64_t start_ns, uint64_t *ret)
{
	struct baseline key = { .tgid = tgid }, *b;
	void *node = m->procs->baselines ? tfind(&key, &m->procs->baselines, baseline_cmp) : NULL;
	bool found = false;

	if (!node)
		return false;
	b = *(struct baseline **)node;
	if (start_ns && b->start_ns == start_ns) {
		*ret = b->cpu_ns;
		found = true;
	}
	tdelete(b, &m->procs->baselines, baseline_cmp);
	free(b);
	return found;
}

/* Started after the previous run's last commit (same boot): none of its time is in the ledger
 * yet, so it is charged from its start, not from the meter's. */
static bool started_after_last_commit(const struct manager *m, uint64_t start_ns)
{
	return m->procs->prev_commit_boot_ns && start_ns > m->procs->prev_commit_boot_ns;
}

static void baseline_save_visit(const void *node, VISIT which, void *closure)
{
	const struct proc *p = *(const struct proc *const *)node;
	struct manager *m = closure;

	if ((which == postorder || which == leaf) && p->cpu_seen)
		ledger_add_baseline(m->ledger, p->tgid, p->start_ns, p->cpu_seen);
}

static uint32_t read_audit_u32(uint32_t tgid, const char *name)
{
	char path[64], buf[16];
	_cleanup_fclose_ FILE *f = NULL;

	snprintf(path, sizeof(path), "/proc/%u/%s", tgid, name);
	f = fopen(path, "re");
	if (!f || !fgets(buf, sizeof(buf), f))
		return HPCM_AUDIT_UNSET;
	return (uint32_t)strtoul(buf, NULL, 10);
}

/* The audit session of a process found without its exec record (it ran before the meter, or
 * forked without exec). */
static void read_session(struct proc *p)
{
	p->loginuid = read_audit_u32(p->tgid, "loginuid");
	p->sessionid = read_audit_u32(p->tgid, "sessionid");
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
	n->loginuid = p->loginuid;
	n->sessionid = p->sessionid;
	proc_remove(m, p);
	if (!tsearch(n, &m->procs->tree, proc_cmp)) {
		free(n);
		return NULL;
	}
	m->procs->n++;
	return n;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* The first exec of p's executable in its job (or outside any job) since the daemon started:
 * kept as a record of its own, so that what ran in every job is on record. */
static bool first_in_job(struct manager *m, const struct proc *p)
{
	char cgbuf[PATH_MAX + 32], job[32];
	_cleanup_free_ char *key = NULL;
	char *k;

	slurm_job_from_cgroup(manager_attribution_path(m, p->cgroup_id, p->cgroup_v1_id, cgbuf,
						       sizeof(cgbuf)),
			      job, sizeof(job));
	if (asprintf(&key, "%s|%s", job, p->exe ? p->exe : "") < 0)
		return false;
	if (tfind(key, &m->procs->first_seen, str_cmp))
		return false;
	if (m->procs->n_first_seen >= FIRST_SEEN_MAX) {
		log_info("%zu executables remembered for first-in-job records: starting afresh",
			 m->procs->n_first_seen);
		tdestroy(m->procs->first_seen, free);
		m->procs->first_seen = NULL;
		m->procs->n_first_seen = 0;
	}
	k = TAKE_PTR(key);
	if (!tsearch(k, &m->procs->first_seen, str_cmp)) {
		free(k);
		return true; /* out of memory: kept all the same */
	}
	m->procs->n_first_seen++;
	return true;
}

void procs_keep_evidence(struct manager *m, struct proc *p, const char *reason)
{
	char cgbuf[PATH_MAX + 32], job[32];
	const char *cg;

	/* With process_records = all, process_events has every process already. */
	if (p->evidence || m->cfg.process_records_all || !manager_in_scope(m, p->cgroup_id))
		return;
	p->evidence = reason;
	cg = manager_attribution_path(m, p->cgroup_id, p->cgroup_v1_id, cgbuf, sizeof(cgbuf));
	slurm_job_from_cgroup(cg, job, sizeof(job));
	_cleanup_free_ char *exe = utf8_escape_invalid(p->exe ? p->exe : "");
	struct process_evidence e = {
		/* Found without its exec (it ran before the meter): when it was found. */
		.time_usec = p->exec_usec ? p->exec_usec : now_realtime_usec(),
		.reason = reason,
		.pid = p->tgid,
		.ppid = p->ppid,
		.uid = p->uid,
		.executable = exe ? exe : "",
		.exe_sha256 = p->exe_sha256 ? p->exe_sha256 : "",
		.cgroup = cg,
		.job = job,
	};
	if (ledger_add_evidence_exec(m->ledger, &e) < 0)
		log_error("pid %u: its record (%s) is not in the ledger", p->tgid, reason);
}

void procs_keep_evidence_pid(struct manager *m, uint32_t tgid, const char *reason)
{
	struct proc *p = procs_find(m, tgid);

	if (p)
		procs_keep_evidence(m, p, reason);
}

void procs_on_exec(const struct meter_exec *e, void *userdata)
{
	struct manager *m = userdata;
	char cgbuf[PATH_MAX + 32];
	bool created;
	struct proc *p;

	m->procs->exec_events++;
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
	p->loginuid = e->loginuid;
	p->sessionid = e->sessionid;
	free(p->exe);
	/* The path walked in the kernel is the real file; the name passed to execve() is only a
	 * fallback (deep or unresolvable paths). */
	p->exe = strdup(e->path[0] ? e->path : e->filename);
	free(p->filename);
	p->filename = e->filename[0] ? strdup(e->filename) : NULL;
	digests_forget(p); /* another program in the same process (exec without fork) */
	p->exec_usec = interval_boot_to_real_usec(m, e->ts_ns);
	p->evidence = NULL; /* a new program: its own record, if any */
	if (m->cfg.process_records_all && manager_in_scope(m, e->cgroup_id)) {
		_cleanup_free_ char *exe = utf8_escape_invalid(p->exe ? p->exe : "");

		ledger_add_exec(m->ledger, p->exec_usec, e->tgid, e->ppid, e->uid, exe ? exe : "",
				manager_attribution_path(m, e->cgroup_id, e->cgroup_v1_id, cgbuf,
							 sizeof(cgbuf)));
	}
	log_debug("exec pid %u uid %u %s", e->tgid, e->uid, p->exe ? p->exe : "?");
	/* Evaluated first: a violation keeps the process as evidence, and a digest taken at
	 * once (a small file) is part of its executable's identity. */
	evaluation_proc(m, p, e->filename);
	interval_count(m, e->cgroup_id, e->cgroup_v1_id, e->uid, p, 1, 0, 0);
	if (!p->evidence && first_in_job(m, p))
		procs_keep_evidence(m, p, "first-in-job");
}

void procs_on_exit(const struct meter_exit *e, void *userdata)
{
	struct manager *m = userdata;
	struct proc *p = procs_find(m, e->tgid);
	/* The entry is this process's, not one behind a reused pid. */
	struct proc *same = p && (!p->start_ns || p->start_ns == e->start_ns) ? p : NULL;
	uint64_t seen = 0, time_usec = interval_boot_to_real_usec(m, e->ts_ns);

	m->procs->exit_events++;
	if (same)
		seen = p->cpu_seen;
	else if (!p && baseline_take(m, e->tgid, e->start_ns, &seen))
		; /* the previous run wrote this much of it */
	else if (e->start_ns && e->start_ns < m->meter_start_ns &&
		 !started_after_last_commit(m, e->start_ns))
		seen = e->cpu_ns; /* ran before the meter and ended before its first reading */
	if (e->cpu_ns > seen)
		interval_account(m, e->cgroup_id, e->cgroup_v1_id, e->uid, same, e->cpu_ns - seen);
	interval_count(m, e->cgroup_id, e->cgroup_v1_id, e->uid, same, 0, 1, 0);
	if (m->cfg.process_records_all && manager_in_scope(m, e->cgroup_id))
		ledger_add_exit(m->ledger, time_usec, e->tgid, e->exit_code, e->cpu_ns);
	else if (same && same->evidence)
		ledger_add_evidence_exit(m->ledger, time_usec, same->evidence, e->tgid,
					 e->exit_code, e->cpu_ns);
	if (p)
		proc_remove(m, p);
}

/* A process moved to another cgroup: its time since the last reading (or since its start, when
 * it has not been read yet) is charged to the cgroups it left; from here on it is metered in
 * the new ones. A process the daemon has no entry for was forked since the last reading and has
 * not exec'd: fork put it in its parent's cgroups, where the record says the parent is. */
void procs_on_move(const struct meter_move *e, void *userdata)
{
	struct manager *m = userdata;
	uint64_t from = 0, from_v1 = 0;
	struct proc *p = procs_find(m, e->tgid);
	bool created;

	m->procs->move_events++;
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
		read_session(p);
		evaluation_proc(m, p, NULL);
	} else {
		/* Its first reading decides what of its time before this meter is charged. */
		return;
	}
	if (e->cpu_ns > p->cpu_seen) {
		interval_account(m, from, from_v1, e->uid, p, e->cpu_ns - p->cpu_seen);
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
void procs_on_tail(const struct meter_tail *e, void *userdata)
{
	struct manager *m = userdata;

	m->procs->tail_events++;
	interval_account(m, e->cgroup_id, e->cgroup_v1_id, e->uid, NULL, e->cpu_ns);
	log_debug("pid %u ran %llu ns after its exit record", e->tgid,
		  (unsigned long long)e->cpu_ns);
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
		interval_account(m, k->cgroup_id, k->cgroup_v1_id, k->uid, p,
				 k->cpu_ns - p->cpu_seen);
		p->cpu_seen = k->cpu_ns;
	}
	p->cgroup_id = k->cgroup_id;
	p->cgroup_v1_id = k->cgroup_v1_id;
	p->ppid = k->ppid;
	p->seen_in = interval_readings(m);
	if (created) {
		/* Started before the meter, or its exec record was lost: look at it now. */
		p->uid = k->uid;
		p->exe = read_exe(tgid);
		read_session(p);
		evaluation_proc(m, p, NULL);
	} else if (p->uid != k->uid) {
		p->uid = k->uid; /* setuid() after exec: the new owner is checked too */
		evaluation_proc(m, p, NULL);
	}
	digests_loader_check(m, p);
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
	if (p->seen_in + 1 >= interval_readings(s->m))
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

	twalk_r(m->procs->tree, sweep_visit, &s);
	for (size_t i = 0; i < s.n; i++) {
		struct proc *p = procs_find(m, s.gone[i]);

		if (p)
			proc_remove(m, p);
	}
	free(s.gone);
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
void procs_seed(struct manager *m)
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
		read_session(p);
		evaluation_proc(m, p, NULL);
	}
	closedir(d);
}

struct foreach_ctx {
	struct manager *m;
	void (*fn)(struct manager *m, struct proc *p, const char *cgroup, void *userdata);
	void *userdata;
};

static void foreach_visit(const void *node, VISIT which, void *closure)
{
	const struct foreach_ctx *c = closure;
	struct proc *p = *(struct proc *const *)node;
	char buf[PATH_MAX + 32];

	if (which == postorder || which == leaf)
		c->fn(c->m, p,
		      manager_attribution_path(c->m, p->cgroup_id, p->cgroup_v1_id, buf,
					       sizeof(buf)),
		      c->userdata);
}

void procs_foreach(struct manager *m,
		   void (*fn)(struct manager *m, struct proc *p, const char *cgroup,
			      void *userdata),
		   void *userdata)
{
	struct foreach_ctx c = { .m = m, .fn = fn, .userdata = userdata };

	twalk_r(m->procs->tree, foreach_visit, &c);
}

/* In the same boot the scheduler's counters of living processes went on while no daemon ran:
 * continue from what the previous run committed (its baselines), so that neither the interval
 * in flight nor the time it was down is lost for them. */
void procs_load_baselines(struct manager *m)
{
	struct heartbeat hb;

	if (ledger_read_heartbeat(m->ledger, &hb) < 0 || !hb.boot_id[0] ||
	    !streq(hb.boot_id, m->boot_id))
		return;
	m->procs->prev_commit_boot_ns = hb.boottime_usec * NSEC_PER_USEC;
	if (ledger_load_baselines(m->ledger, baseline_load_one, m) < 0)
		log_warning("cannot read the counter baselines: the interval in flight of the "
			    "previous run is not continued");
}
/* What the counters said at this commit: a restart in the same boot continues there. */
int procs_save_baselines(struct manager *m)
{
	int r = ledger_clear_baselines(m->ledger);

	if (r == 0)
		twalk_r(m->procs->tree, baseline_save_visit, m);
	return r;
}

void procs_read(struct manager *m)
{
	int r = meter_foreach_proc(m->meter, collect_one, m);

	if (r < 0)
		log_error("cannot read the process counters: %s", strerror(-r));
	/* Exits during the reading: their final counters, before the interval closes. */
	meter_consume(m->meter);
	sweep(m);
}

uint32_t procs_count(const struct manager *m)
{
	return m->procs->n;
}

void procs_events(const struct manager *m, uint64_t *exec, uint64_t *exit, uint64_t *move,
		  uint64_t *tail)
{
	*exec = m->procs->exec_events;
	*exit = m->procs->exit_events;
	*move = m->procs->move_events;
	*tail = m->procs->tail_events;
}

static void proc_free_node(void *p)
{
	proc_free(p);
}

void procs_free(struct manager *m)
{
	if (!m->procs)
		return;
	tdestroy(m->procs->tree, proc_free_node);
	tdestroy(m->procs->baselines, free);
	tdestroy(m->procs->first_seen, free);
	free(m->procs);
	m->procs = NULL;
}
