// SPDX-License-Identifier: GPL-2.0-only
/* GPU usage: starts the GPU meter and the accelerator inventory, turns the per-process GPU
 * counters into per-interval usage per (cgroup, uid), writes it to the ledger, and describes
 * itself in GetStatus. */
#include <errno.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "manager.h"
#include "util.h"

#define PCI_DEVICES_DIR "/sys/bus/pci/devices"
#define NVIDIA_PROC_DIR "/proc/driver/nvidia/gpus"

struct gpu_usage {
	struct gpu *gpu; /* NULL when off or failed */
	sd_event_source *source;
	char state[128]; /* "on", "off", "failed: ..." */
	struct accel_db *accel_db;
	struct inventory *inventory;
	void *seen; /* tsearch tree of struct gpu_seen, by tgid */
	void *acc; /* tsearch tree of struct gpu_acc for the interval in progress */
};

int gpu_usage_new(struct manager *m)
{
	m->gpu_usage = calloc(1, sizeof(*m->gpu_usage));
	return m->gpu_usage ? 0 : -ENOMEM;
}

/* What was already accounted of a process's counters. */
struct gpu_seen {
	uint32_t tgid;
	uint64_t first_ns; /* tells a reused pid apart */
	uint64_t until_ns; /* lifetime accounted up to here (CLOCK_BOOTTIME) */
	struct hpcm_gpu_proc c;
};

/* GPU usage of the interval in progress per (cgroup, uid). */
struct gpu_acc {
	uint64_t cgroup_id;
	uint64_t cgroup_v1_id;
	uint32_t uid;
	uint64_t gpu_ns, launches, threads, graph_launches, bytes_alloc, bytes_h2d, dev_opens;
};

static int seen_cmp(const void *a, const void *b)
{
	const struct gpu_seen *x = a, *y = b;

	return x->tgid < y->tgid ? -1 : x->tgid > y->tgid;
}

static int acc_cmp(const void *a, const void *b)
{
	const struct gpu_acc *x = a, *y = b;

	if (x->cgroup_id != y->cgroup_id)
		return x->cgroup_id < y->cgroup_id ? -1 : 1;
	if (x->cgroup_v1_id != y->cgroup_v1_id)
		return x->cgroup_v1_id < y->cgroup_v1_id ? -1 : 1;
	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

static int on_gpu_ring(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct manager *m = userdata;
	int r = gpu_consume(m->gpu_usage->gpu);

	if (r < 0)
		log_error("reading the GPU meter's ring buffer failed: %s", strerror(-r));
	return 0;
}

bool manager_gpu_counts(const struct manager *m, const char *metric)
{
	static const char *const detailed_only[] = { "launches", "threads_launched", "bytes_h2d" };

	for (size_t i = 0; i < ARRAY_SIZE(detailed_only); i++)
		if (streq(metric, detailed_only[i]))
			return m->gpu_usage->gpu && m->cfg.gpu_mode == GPU_MODE_DETAILED;
	return true;
}

unsigned manager_gpu_terms_uncounted(const struct manager *m)
{
	unsigned n = 0;

	for (size_t i = 0; m->licenses && i < m->licenses->n_entries; i++) {
		const struct license *l = m->licenses->entries[i].license;

		for (size_t k = 0; l && k < l->n_caps; k++)
			n += !manager_gpu_counts(m, l->caps[k].metric);
	}
	return n;
}

int manager_gpu_rescan(struct manager *m, struct inventory **ret)
{
	return inventory_scan(PCI_DEVICES_DIR, NVIDIA_PROC_DIR, m->gpu_usage->accel_db, ret);
}

/* A process used an accelerator: kept as a record of its own (process_evidence). */
static void on_first_use(uint32_t tgid, void *userdata)
{
	procs_keep_evidence_pid(userdata, tgid, "accelerator");
}

/* A runtime's probes were attached after a process had mapped it: the window is a gap, with a
 * bound on the launches it could hold (gaps.c). */
static void on_probe_late(const struct gpu_probe_late *pl, void *userdata)
{
	struct manager *m = userdata;
	uint64_t now_usec = now_realtime_usec(), now_ns = now_boottime_nsec();
	uint64_t start, end;
	char detail[PATH_MAX + 160];

	/* CLOCK_BOOTTIME to the wall clock, as the ledger keeps it. */
	start = now_usec - (now_ns > pl->map_ns ? now_ns - pl->map_ns : 0) / NSEC_PER_USEC;
	end = now_usec - (now_ns > pl->attach_ns ? now_ns - pl->attach_ns : 0) / NSEC_PER_USEC;
	if (pl->unread)
		snprintf(detail, sizeof(detail),
			 "pid %u, an accelerator user, mapped a file executable that was gone "
			 "before it could be read (it may have been a runtime): %.3f ms unprobed",
			 pl->pid, (double)(pl->attach_ns - pl->map_ns) / 1e6);
	else
		snprintf(detail, sizeof(detail),
			 "%s runtime %s mapped by pid %u %.3f ms before its probes were attached",
			 gpu_runtime_name(pl->runtime), pl->path, pl->pid,
			 (double)(pl->attach_ns - pl->map_ns) / 1e6);
	manager_gap_record_launches(m, "probe-late", start, end > start ? end : start + 1, detail);
}

int manager_gpu_start(struct manager *m)
{
	char err[1024];
	int r;

	r = accel_db_load(m->cfg.accelerators_file, &m->gpu_usage->accel_db, err, sizeof(err));
	if (r < 0)
		log_warning("accelerator models not loaded: %s (TPP and ops bounds unknown)", err);
	r = inventory_scan(PCI_DEVICES_DIR, NVIDIA_PROC_DIR, m->gpu_usage->accel_db,
			   &m->gpu_usage->inventory);
	if (r < 0)
		log_warning("cannot read the accelerator inventory: %s", strerror(-r));
	if (m->gpu_usage->inventory) {
		inventory_sample_nvml(m->gpu_usage->inventory);
		log_info("%zu accelerators on the PCI bus; NVML %s",
			 m->gpu_usage->inventory->n_devices, m->gpu_usage->inventory->nvml);
		for (size_t i = 0; i < m->gpu_usage->inventory->n_devices; i++) {
			const struct accel_device *d = &m->gpu_usage->inventory->devices[i];

			log_info("accelerator %s %04x:%04x %s", d->bus_id, d->vendor_id,
				 d->device_id,
				 d->model ? d->model->name : "(model not in data file)");
		}
	}

	if (m->cfg.gpu_mode == GPU_MODE_OFF) {
		snprintf(m->gpu_usage->state, sizeof(m->gpu_usage->state), "off");
		return 0;
	}
	r = gpu_open_v1(m->cfg.gpu_mode, m->v1_controller, &m->gpu_usage->gpu);
	if (r < 0) {
		/* The CPU meter and the licences still work: run on, and say so in status. */
		log_error("GPU meter not started: %s", strerror(-r));
		snprintf(m->gpu_usage->state, sizeof(m->gpu_usage->state), "failed: %s",
			 strerror(-r));
		return 0;
	}
	gpu_set_first_use(m->gpu_usage->gpu, on_first_use, m);
	gpu_set_probe_late(m->gpu_usage->gpu, on_probe_late, m);
	r = gpu_scan_all(m->gpu_usage->gpu);
	if (r < 0)
		log_warning("cannot scan processes for GPU runtimes: %s", strerror(-r));
	r = sd_event_add_io(m->event, &m->gpu_usage->source, gpu_ring_fd(m->gpu_usage->gpu),
			    EPOLLIN, on_gpu_ring, m);
	if (r < 0) {
		log_error("cannot watch the GPU meter's ring buffer: %s", strerror(-r));
		return r;
	}
	snprintf(m->gpu_usage->state, sizeof(m->gpu_usage->state), "on");
	if (manager_gpu_terms_uncounted(m))
		log_warning(
			"%u licence cap(s) are on GPU kernel launches, threads or host-to-device "
			"bytes, which the GPU meter counts in detailed mode only: not evaluated "
			"(run with --gpu-mode detailed)",
			manager_gpu_terms_uncounted(m));
	unsigned launch, all = gpu_probes_attached(m->gpu_usage->gpu, &launch);

	log_info("GPU meter attached (%s mode): %zu runtime libraries, %u probes, %u on the "
		 "launch path",
		 gpu_mode_name(m->cfg.gpu_mode), gpu_n_libs(m->gpu_usage->gpu), all, launch);
	return 0;
}

static void acc_add(struct manager *m, const struct hpcm_gpu_proc *k, const struct gpu_acc *d)
{
	struct gpu_acc key = { .cgroup_id = k->cgroup_id,
			       .cgroup_v1_id = k->cgroup_v1_id,
			       .uid = k->uid },
		       *a;
	void *node;

	if (!manager_in_scope(m, k->cgroup_id))
		return; /* outside cgroup_root */
	node = tfind(&key, &m->gpu_usage->acc, acc_cmp);
	if (node) {
		a = *(struct gpu_acc **)node;
	} else {
		a = calloc(1, sizeof(*a));
		if (!a || !tsearch(a, &m->gpu_usage->acc, acc_cmp)) {
			free(a);
			log_error("out of memory: GPU usage of uid %u not attributed", k->uid);
			return;
		}
		*a = key;
	}
	a->gpu_ns += d->gpu_ns;
	a->launches += d->launches;
	a->threads += d->threads;
	a->graph_launches += d->graph_launches;
	a->bytes_alloc += d->bytes_alloc;
	a->bytes_h2d += d->bytes_h2d;
	a->dev_opens += d->dev_opens;
}

struct collect {
	struct manager *m;
	uint64_t now_ns;
};

static int collect_one(uint32_t tgid, const struct hpcm_gpu_proc *k, void *userdata)
{
	struct collect *c = userdata;
	struct manager *m = c->m;
	struct gpu_seen key = { .tgid = tgid }, *s;
	void *node = tfind(&key, &m->gpu_usage->seen, seen_cmp);
	struct gpu_acc d = { 0 };
	uint64_t end, from, ndev;

	s = node ? *(struct gpu_seen **)node : NULL;
	if (s && s->first_ns != k->first_ns) {
		/* Another process behind a reused pid: start over. */
		tdelete(s, &m->gpu_usage->seen, seen_cmp);
		free(s);
		s = NULL;
	}
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return -ENOMEM;
		/* The key before the insertion: the tree is ordered by it. */
		s->tgid = tgid;
		s->first_ns = s->until_ns = k->first_ns;
		if (!tsearch(s, &m->gpu_usage->seen, seen_cmp)) {
			free(s);
			return -ENOMEM;
		}
	}
	/* Device-seconds: the lifetime since the first GPU use, times the devices it opened
	 * (at least one). */
	end = k->exit_ns ? k->exit_ns : c->now_ns;
	from = s->until_ns > k->first_ns ? s->until_ns : k->first_ns;
	ndev = __builtin_popcountll(k->dev_mask);
	if (end > from)
		d.gpu_ns = (end - from) * (ndev ? ndev : 1);
	s->until_ns = end > from ? end : from;
#define DELTA(f) (k->f >= s->c.f ? k->f - s->c.f : k->f)
	d.launches = DELTA(launches);
	d.threads = DELTA(threads);
	d.graph_launches = DELTA(graph_launches);
	d.bytes_alloc = DELTA(bytes_alloc);
	d.bytes_h2d = DELTA(bytes_h2d);
	d.dev_opens = DELTA(dev_opens);
#undef DELTA
	s->c = *k;
	acc_add(m, k, &d);
	/* Its first activity went by in the ring buffer (on_first_use()); this is for one whose
	 * record was lost. */
	procs_keep_evidence_pid(m, tgid, "accelerator");
	if (k->exit_ns) {
		gpu_reap(m->gpu_usage->gpu, tgid);
		tdelete(s, &m->gpu_usage->seen, seen_cmp);
		free(s);
	}
	return 0;
}

void manager_gpu_collect(struct manager *m)
{
	struct collect c = { .m = m, .now_ns = now_boottime_nsec() };
	int r;

	if (m->gpu_usage->inventory)
		inventory_sample_nvml(m->gpu_usage->inventory);
	if (!m->gpu_usage->gpu)
		return;
	gpu_consume(m->gpu_usage->gpu);
	/* Libraries are found at their executable mapping (a record per new file); only after
	 * such records were lost does the daemon look at every process's mappings again. */
	gpu_rescan_after_losses(m->gpu_usage->gpu);
	/* Holders of a device opened by another name than its /dev path: a walk of every open
	 * file on the node, so only where there are accelerator nodes to hold. */
	if (gpu_scan_devices(m->gpu_usage->gpu) > 0)
		gpu_read_held(m->gpu_usage->gpu);
	r = gpu_foreach_proc(m->gpu_usage->gpu, collect_one, &c);
	if (r < 0)
		log_error("cannot read the GPU counters: %s", strerror(-r));
}

struct flush {
	struct manager *m;
	int64_t interval_id;
	double tpp, peak_ops;
	int r;
};

static void flush_visit(const void *node, VISIT which, void *closure)
{
	struct flush *f = closure;
	const struct gpu_acc *a = *(const struct gpu_acc *const *)node;
	const struct user_info *user = NULL;
	char cgbuf[PATH_MAX + 32], job[32];
	const char *cg;
	double secs = (double)a->gpu_ns / 1e9;
	int r;

	if (which != postorder && which != leaf)
		return;
	/* the same place as the process's CPU time: its Slurm job's v1 path, else cgroup v2 */
	cg = manager_attribution_path(f->m, a->cgroup_id, a->cgroup_v1_id, cgbuf, sizeof(cgbuf));
	slurm_job_from_cgroup(cg, job, sizeof(job));
	attributor_user(f->m->attr, a->uid, &user);

	struct gpu_usage_row row = {
		.cgroup = cg,
		.cgroup_id = a->cgroup_id,
		.job = job,
		.uid = a->uid,
		.user = user ? user->display_name : "",
		.gpu_ns = a->gpu_ns,
		.tpp_seconds = secs * f->tpp,
		.ops_upper = secs * f->peak_ops,
		.ops_lower = 0,
		.launches = a->launches,
		.threads_launched = a->threads,
		.graph_launches = a->graph_launches,
		.bytes_alloc = a->bytes_alloc,
		.bytes_h2d = a->bytes_h2d,
		.dev_opens = a->dev_opens,
	};

	r = ledger_add_gpu_usage(f->m->ledger, f->interval_id, &row);
	if (r < 0 && f->r == 0)
		f->r = r;
}

int manager_gpu_flush(struct manager *m, int64_t interval_id)
{
	struct flush f = {
		.m = m,
		.interval_id = interval_id,
		.tpp = inventory_tpp(m->gpu_usage->inventory),
		.peak_ops = inventory_peak_ops(m->gpu_usage->inventory),
	};

	twalk_r(m->gpu_usage->acc, flush_visit, &f);
	return f.r;
}

/* Committed: the interval's GPU time counts in the metrics. */
static void metrics_visit(const void *node, VISIT which, void *closure)
{
	struct manager *m = closure;
	const struct gpu_acc *a = *(const struct gpu_acc *const *)node;
	const struct user_info *user = NULL;
	char cgbuf[PATH_MAX + 32], job[32];
	const char *cg;

	if (which != postorder && which != leaf)
		return;
	cg = manager_attribution_path(m, a->cgroup_id, a->cgroup_v1_id, cgbuf, sizeof(cgbuf));
	slurm_job_from_cgroup(cg, job, sizeof(job));
	attributor_user(m->attr, a->uid, &user);
	manager_metrics_account(m, job, user ? user->display_name : "", a->uid, 0, a->gpu_ns);
}

void manager_gpu_flushed(struct manager *m)
{
	twalk_r(m->gpu_usage->acc, metrics_visit, m);
	tdestroy(m->gpu_usage->acc, free);
	m->gpu_usage->acc = NULL;
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* gpu_* keys of GetStatus (docs/dbus.md). */
int manager_gpu_status(struct manager *m, struct status_list *l)
{
	struct gpu_stats st = { 0 };
	unsigned launch = 0, all = 0;
	uint64_t files_read = 0;
	size_t files_known = 0;
	size_t n_libs = m->gpu_usage->gpu ? gpu_n_libs(m->gpu_usage->gpu) : 0,
	       n_probes = gpu_n_probes(), np = 0;
	char **libs = calloc(n_libs + 1, sizeof(char *));
	char **probes = calloc(n_probes + 1, sizeof(char *));
	int r;

	if (!libs || !probes) {
		free(libs);
		free(probes);
		return -ENOMEM;
	}
	if (m->gpu_usage->gpu) {
		all = gpu_probes_attached(m->gpu_usage->gpu, &launch);
		gpu_read_stats(m->gpu_usage->gpu, &st);
		files_known = gpu_n_files_known(m->gpu_usage->gpu, &files_read);
		for (size_t i = 0; i < n_libs; i++) {
			const struct gpu_lib *l = gpu_lib_get(m->gpu_usage->gpu, i);

			if (asprintf(&libs[i],
				     "%s %s (SONAME %s, pid %u, %u probes, %u on the launch path, "
				     "%u moved past a single-stepped first instruction, %u "
				     "single-stepped%s%s)",
				     gpu_runtime_name(l->runtime), l->path,
				     l->soname[0] ? l->soname : "none", l->pid, l->probes,
				     l->launch_probes, l->moved, l->single_stepped,
				     l->error ? ", error: " : "",
				     l->error ? strerror(-l->error) : "") < 0)
				libs[i] = NULL;
		}
		for (size_t i = 0; i < n_probes; i++) {
			struct gpu_probe_info pi;

			if (gpu_probe_get(m->gpu_usage->gpu, i, &pi) < 0 || !pi.attached)
				continue;
			if (asprintf(&probes[np], "%s:%s attached=%u hits=%llu",
				     gpu_runtime_name(pi.runtime), pi.symbol, pi.attached,
				     (unsigned long long)pi.hits) >= 0)
				np++;
		}
	}
	for (size_t i = 0; i < n_libs; i++)
		if (!libs[i]) {
			strv_free(libs, n_libs);
			strv_free(probes, np);
			return -ENOMEM;
		}
	const char *launch_counts = !m->gpu_usage->gpu ?
					    "unavailable (GPU meter not running)" :
				    m->cfg.gpu_mode == GPU_MODE_DETAILED ?
					    "counted" :
					    "not counted (light mode: use --gpu-mode detailed)";

	if ((r = status_add_str(l, "gpu_mode", gpu_mode_name(m->cfg.gpu_mode))) < 0 ||
	    (r = status_add_str(l, "gpu_meter", m->gpu_usage->state)) < 0 ||
	    (r = status_add_str(l, "gpu_launch_counts", launch_counts)) < 0 ||
	    (r = status_add_num(l, "gpu_terms_uncounted", 'u', manager_gpu_terms_uncounted(m))) <
		    0 ||
	    (r = status_add_num(l, "gpu_probes_attached", 'u', all)) < 0 ||
	    (r = status_add_num(l, "gpu_launch_probes", 'u', launch)) < 0 ||
	    (r = status_add_strv(l, "gpu_libraries", libs, n_libs)) < 0 ||
	    (r = status_add_strv(l, "gpu_probes", probes, np)) < 0 ||
	    (r = status_add_num(l, "gpu_device_opens", 't', st.counter[HPCM_GSTAT_DEV_OPEN])) < 0 ||
	    (r = status_add_num(l, "gpu_arg_faults", 't', st.counter[HPCM_GSTAT_ARG_FAULT])) < 0 ||
	    (r = status_add_num(l, "gpu_procs_map_full", 't', st.counter[HPCM_GSTAT_PROCS_FULL])) <
		    0 ||
	    (r = status_add_num(l, "gpu_lib_records_lost", 't', st.counter[HPCM_GSTAT_DROP_LIB])) <
		    0 ||
	    (r = status_add_num(l, "gpu_first_records_lost", 't',
				st.counter[HPCM_GSTAT_DROP_FIRST])) < 0 ||
	    (r = status_add_num(l, "gpu_map_records", 't', st.counter[HPCM_GSTAT_MAP_NEW])) < 0 ||
	    (r = status_add_num(l, "gpu_map_records_lost", 't', st.counter[HPCM_GSTAT_DROP_MAP])) <
		    0 ||
	    (r = status_add_num(l, "gpu_files_known", 't', (uint64_t)files_known)) < 0 ||
	    (r = status_add_num(l, "gpu_files_read", 't', files_read)) < 0 ||
	    (r = status_add_num(l, "accelerators", 'u',
				m->gpu_usage->inventory ?
					(uint32_t)m->gpu_usage->inventory->n_devices :
					0)) < 0 ||
	    (r = status_add_str(l, "accelerators_file", m->cfg.accelerators_file)) < 0 ||
	    (r = status_add_str(l, "accelerators_version",
				m->gpu_usage->accel_db ? m->gpu_usage->accel_db->version : "")) <
		    0 ||
	    (r = status_add_str(l, "nvml",
				m->gpu_usage->inventory ? m->gpu_usage->inventory->nvml :
							  "not sampled")) < 0)
		log_debug("cannot add the GPU status: %s", strerror(-r));
	strv_free(libs, n_libs);
	strv_free(probes, np);
	return r;
}

void manager_gpu_free(struct manager *m)
{
	struct gpu_usage *g = m->gpu_usage;

	if (!g)
		return;
	sd_event_source_unref(g->source);
	gpu_free(g->gpu);
	inventory_free(g->inventory);
	accel_db_free(g->accel_db);
	tdestroy(g->seen, free);
	tdestroy(g->acc, free);
	free(g);
	m->gpu_usage = NULL;
}

const char *manager_gpu_state(const struct manager *m)
{
	return m->gpu_usage->state[0] ? m->gpu_usage->state : "off";
}

struct gpu *manager_gpu_meter(const struct manager *m)
{
	return m->gpu_usage->gpu;
}

const struct inventory *manager_gpu_inventory(const struct manager *m)
{
	return m->gpu_usage->inventory;
}

const struct inventory *manager_inventory(struct manager *m, const char **ret_data_version)
{
	if (m->gpu_usage->inventory)
		inventory_sample_nvml(m->gpu_usage->inventory);
	*ret_data_version = m->gpu_usage->accel_db ? m->gpu_usage->accel_db->version : "";
	return m->gpu_usage->inventory;
}
