// SPDX-License-Identifier: GPL-2.0-only
/* The manager: what every part of the core shares (the loop, the meters, attribution, the
 * ledger, the licences, the jobs, the node's identity), its start, its loop (the ring buffer,
 * the interval timer, signals, the commit after each wake-up), reload, and its stop. The parts
 * are listed in manager.h. */
#include <errno.h>
#include <fcntl.h>
#include <search.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-id128.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "notify.h"
#include "sign.h"
#include "store.h"
#include "util.h"

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

const char *manager_node_name(const struct manager *m)
{
	return m->cfg.node_name[0] ? m->cfg.node_name : m->hostname;
}

struct scope_entry {
	uint64_t id;
	bool inside;
};

static int scope_cmp(const void *a, const void *b)
{
	const struct scope_entry *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/* Entries kept per cgroup id; past this many the cache starts afresh. */
#define SCOPE_CACHE_MAX 65536

bool manager_in_scope(struct manager *m, uint64_t cgroup_id)
{
	const char *root = m->cfg.cgroup_root, *path;
	struct scope_entry key = { .id = cgroup_id }, *e;
	size_t n = strlen(root);
	void *node;

	if (!root[0])
		return true;
	node = tfind(&key, &m->scope_cache, scope_cmp);
	if (node)
		return (*(struct scope_entry **)node)->inside;
	/* A cgroup gone before its path was read cannot be placed: outside, not cached. */
	if (!cgroup_id || attributor_cgroup_path(m->attr, cgroup_id, &path) < 0)
		return false;
	if (m->n_scope_cache >= SCOPE_CACHE_MAX) {
		tdestroy(m->scope_cache, free);
		m->scope_cache = NULL;
		m->n_scope_cache = 0;
	}
	e = malloc(sizeof(*e));
	if (!e)
		return false;
	e->id = cgroup_id;
	e->inside = strncmp(path, root, n) == 0 && (path[n] == '\0' || path[n] == '/');
	if (!tsearch(e, &m->scope_cache, scope_cmp)) {
		bool inside = e->inside;

		free(e);
		return inside;
	}
	m->n_scope_cache++;
	return e->inside;
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

static void reevaluate(struct manager *m, struct proc *p, const char *cgroup, void *userdata)
{
	evaluation_proc(m, p, NULL);
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
	evaluation_changed(m);
	/* New terms apply to what already runs. */
	procs_foreach(m, reevaluate, NULL);
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

/* The ring buffer wakes the loop only once a quarter of it waits (meter_options's
 * batch_wakeups): between, its records are drained this often. The wait a violation found at
 * an exec can have before it is raised. */
#define RING_DRAIN_USEC (USEC_PER_SEC / 5)

static int on_drain(sd_event_source *s, uint64_t usec, void *userdata)
{
	on_ring(NULL, -1, 0, userdata);
	/* Host names of sessions resolved meanwhile (in the resolver's thread). */
	sessions_poll(userdata);
	sd_event_source_set_time(s, usec + RING_DRAIN_USEC);
	sd_event_source_set_enabled(s, SD_EVENT_ON);
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
	ship_kick(m);
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
	/* The parts; evaluation, stall watch, GPU meter and kernel meter come at the start. */
	if ((r = procs_new(m)) < 0 || (r = digests_new(m)) < 0 || (r = interval_new(m)) < 0 ||
	    (r = violations_new(m)) < 0 || (r = sessions_new(m)) < 0 ||
	    (r = gpu_usage_new(m)) < 0 || (r = gaps_new(m)) < 0 || (r = metrics_new(m)) < 0 ||
	    (r = records_new(m)) < 0 || (r = meter_states_new(m)) < 0 || (r = ship_new(m)) < 0)
		goto fail;
	*ret = m;
	return 0;
fail:
	manager_free(m);
	return r;
}

static void read_identity(struct manager *m)
{
	sd_id128_t boot;
	int r;

	if (gethostname(m->hostname, sizeof(m->hostname) - 1) < 0)
		strcpy(m->hostname, "unknown");
	/* In the dashed UUID form the kernel's boot_id file has, which the ledger's heartbeats and
	 * gaps have always held: a heartbeat of an earlier version compares equal. */
	r = sd_id128_get_boot(&boot);
	if (r < 0) {
		log_warning("cannot read the boot id: %s (a restart will look like a reboot)",
			    strerror(-r));
		m->boot_id[0] = '\0';
		return;
	}
	sd_id128_to_uuid_string(boot, m->boot_id);
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

static int any_job(const struct job_info *j, void *userdata)
{
	return -ECANCELED; /* one is enough */
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata);
static int on_post(sd_event_source *s, void *userdata);
static int on_term(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata);
static int on_hup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata);

/* hpcmeterd --cluster: the loop without meters (no BPF, no kernel): the interval reads the
 * store and evaluates across it (cluster.c); the evaluator's own ledger is shipped like a
 * node's. */
static int cluster_mode_start(struct manager *m)
{
	sigset_t mask;
	int r;

	if (!store_node_name_valid(manager_node_name(m))) {
		log_error("node name \"%s\" is not a valid name in the cluster's store: set "
			  "node_name",
			  manager_node_name(m));
		return -EINVAL;
	}
	r = cluster_start(m);
	if (r < 0)
		return r;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	if ((r = sd_event_add_signal(m->event, NULL, SIGTERM, on_term, m)) < 0 ||
	    (r = sd_event_add_signal(m->event, NULL, SIGINT, on_term, m)) < 0 ||
	    (r = sd_event_add_signal(m->event, NULL, SIGHUP, on_hup, m)) < 0 ||
	    (r = sd_event_add_time_relative(m->event, &m->timer_source, CLOCK_MONOTONIC,
					    m->cfg.interval_sec * USEC_PER_SEC, 0, on_timer, m)) <
		    0 ||
	    (r = sd_event_add_post(m->event, &m->post_source, on_post, m)) < 0 ||
	    (r = sd_event_set_watchdog(m->event, true)) < 0 || (r = ship_start(m)) < 0) {
		log_error("cannot set up the event loop: %s", strerror(-r));
		return r;
	}
	ledger_add_meter_state(m->ledger, now_realtime_usec(), "bpf-cpu", "off",
			       "hpcmeterd --cluster: the cluster's evaluator meters nothing");
	manager_collect(m);
	manager_meter_states_begin(m);
	return 0;
}

/* cgroup_root as given may be the path on the file system: keep it below the cgroup2 mount. */
static int scope_start(struct manager *m)
{
	const char *mnt = attributor_cgroup_mount(m->attr);
	char *root = m->cfg.cgroup_root, dir[sizeof(m->cfg.cgroup_root) + 256];
	size_t n = strlen(mnt);
	struct stat st;

	if (!root[0])
		return 0;
	if (!mnt[0]) {
		log_error("cgroup_root = %s: no cgroup2 file system is mounted", root);
		return -ENOENT;
	}
	if (n > 1 && strncmp(root, mnt, n) == 0 && (root[n] == '/' || !root[n]))
		memmove(root, root + n, strlen(root + n) + 1);
	if (!root[0] || streq(root, "/")) {
		root[0] = '\0';
		return 0;
	}
	snprintf(dir, sizeof(dir), "%s%s", mnt, root);
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		log_warning("cgroup_root = %s: %s does not exist (yet): nothing is metered until it"
			    " does",
			    root, dir);
	log_info("metering only the processes in the cgroup v2 subtree %s", root);
	return 0;
}

int manager_start(struct manager *m)
{
	struct meter_callbacks cb = {
		.exec = procs_on_exec,
		.exit = procs_on_exit,
		.move = procs_on_move,
		.tail = procs_on_tail,
		.userdata = m,
	};
	char err[1024];
	sigset_t mask;
	int r;

	read_identity(m);
	m->started_usec = interval_start_usec(m);

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
	sessions_start(m);
	r = evaluation_start(m);
	if (r < 0)
		return r;

	r = manager_reload(m);
	if (r < 0)
		return r;
	if (m->cfg.cluster_mode)
		return cluster_mode_start(m);

	r = scope_start(m);
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
	struct meter_options mo = {
		.attach = METER_ATTACH_AUTO,
		.v1 = m->v1_controller,
		.pin_dir = m->cfg.bpf_pin_dir,
		.batch_wakeups = true,
	};
	r = meter_open_opts(&cb, &mo, &m->meter);
	if (r < 0)
		return r;
	log_info("BPF CPU meter attached (%s)", meter_attach_mode(m->meter));
	if (m->cfg.kmeter_enabled && (r = kmeter_new(m, &m->kmeter)) < 0)
		log_warning("kernel meter: no generic netlink socket: %s", strerror(-r));
	procs_load_baselines(m);
	interval_meter_attached(m);
	snprintf(err, sizeof(err), "hpcmeterd %s, %s%s", HPCMETER_VERSION,
		 meter_attach_mode(m->meter),
		 meter_maps_reused(m->meter) ? ", maps pinned by the previous run reused" : "");
	ledger_add_meter_state(m->ledger, now_realtime_usec(), "bpf-cpu", "attached", err);
	manager_gaps_start(m);
	r = manager_gpu_start(m);
	if (r < 0)
		return r;
	if (m->cfg.cluster_database[0] && !store_node_name_valid(manager_node_name(m))) {
		log_error("node name \"%s\" is not a valid name in the cluster's store (letters,"
			  " digits, '.', '_', '-'): set node_name",
			  manager_node_name(m));
		return -EINVAL;
	}

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
	r = sd_event_add_time_relative(m->event, &m->drain_source, CLOCK_MONOTONIC, RING_DRAIN_USEC,
				       0, on_drain, m);
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
	r = ship_start(m);
	if (r < 0)
		goto fail_loop;

	/* Processes that run already: check them now, not at their next context switch. */
	procs_seed(m);
	manager_collect(m);

	manager_meter_states_begin(m);
	return 0;
fail_loop:
	log_error("cannot set up the event loop: %s", strerror(-r));
	return r;
}

int manager_run(struct manager *m)
{
	int r;

	sd_notifyf(0, "READY=1\nSTATUS=Metering %u processes, %u licences active", procs_count(m),
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
	sd_event_source_unref(m->drain_source);
	sd_event_source_unref(m->post_source);
	sd_event_source_unref(m->commit_source);
	manager_stall_stop(m);
	ship_free(m);
	cluster_free(m);
	tdestroy(m->scope_cache, free);
	kmeter_free(m->kmeter);
	digests_free(m);
	meter_free(m->meter);
	if (m->bpf_stats_fd >= 0)
		close(m->bpf_stats_fd);
	manager_gpu_free(m);
	evaluation_stop(m);
	ledger_close(m->ledger);
	license_set_free(m->licenses);
	attributor_free(m->attr);
	job_table_free(m->jobs);
	procs_free(m);
	interval_free(m);
	violations_free(m);
	sessions_free(m);
	gaps_free(m);
	metrics_free(m);
	records_free(m);
	meter_states_free(m);
	sd_event_unref(m->event);
	free(m);
}
