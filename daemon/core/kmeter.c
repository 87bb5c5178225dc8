// SPDX-License-Identifier: GPL-2.0-only
/* The kernel module as a second meter: read its per-cgroup usage every interval beside the BPF
 * meter, compare the two over the last kmeter_window intervals (kmeter.h says why not one),
 * raise a tamper violation when they diverge or when the module disappears, and follow its
 * event group (probe failures are violations too; heartbeats and parameter changes are
 * logged). */
#include <errno.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include <linux/hpcmeter.h>

#include "kmeter-client.h"
#include "kmeter.h"
#include "manager.h"
#include "util.h"

enum kmeter_state_e { KM_ABSENT, KM_ATTACHED, KM_GONE };

/* Per cgroup: the module's counter at the last read, the BPF meter's time since then, and both
 * meters' last intervals (the ring follows the struct). */
struct cg {
	uint64_t cgroup_id;
	uint64_t module_ns; /* cumulative, as last read */
	uint64_t bpf_ns; /* this interval */
	uint64_t seen_in; /* read number that last saw it in the module's dump */
	bool module_knows; /* the module's dump had it at least once */
	bool raised; /* a divergence violation was raised for it this daemon run */
	struct kmeter_window w;
};

struct kmeter {
	struct manager *m;
	struct kmeter_client *c; /* requests */
	struct kmeter_client *ev; /* subscribed to the event group */
	sd_event_source *ev_source;
	enum kmeter_state_e state;
	unsigned window; /* intervals per comparison (cfg.kmeter_window) */
	struct kmeter_info info;
	bool have_baseline;
	uint64_t reads;
	uint64_t checks; /* (cgroup, window) pairs where a meter saw more than the floor */
	uint64_t divergences;
	uint64_t heartbeats;
	void *cgs; /* tsearch tree of struct cg */
};

static int cg_cmp(const void *a, const void *b)
{
	const struct cg *x = a, *y = b;

	return x->cgroup_id < y->cgroup_id ? -1 : x->cgroup_id > y->cgroup_id;
}

static struct cg *cg_get(struct kmeter *k, uint64_t id)
{
	struct cg key = { .cgroup_id = id }, *c;
	void *node = tfind(&key, &k->cgs, cg_cmp);

	if (node)
		return *(struct cg **)node;
	c = calloc(1, sizeof(*c) + 2 * k->window * sizeof(uint64_t));
	if (!c)
		return NULL;
	c->cgroup_id = id;
	kmeter_window_init(&c->w, (uint64_t *)(c + 1), k->window);
	if (!tsearch(c, &k->cgs, cg_cmp)) {
		free(c);
		return NULL;
	}
	return c;
}

/* The divergence allowed: the configuration's, or less where a loaded licence asks for less
 * (measurement.dual_meter_tolerance, a fraction); at least 1 %. */
static unsigned tolerance_pct(struct manager *m)
{
	unsigned pct = m->cfg.kmeter_tolerance_pct;

	for (size_t i = 0; m->licenses && i < m->licenses->n_entries; i++) {
		const struct license *l = m->licenses->entries[i].license;
		unsigned lic;

		if (!l || !l->dual_meter_tolerance_given || l->dual_meter_tolerance <= 0)
			continue;
		lic = (unsigned)(l->dual_meter_tolerance * 100.0 + 0.999);
		if (lic < pct)
			pct = lic;
	}
	return pct ? pct : 1;
}

/* A tamper violation through the daemon's violation path: ledger first, then log and bus. */
static void raise_tamper(struct kmeter *k, const char *kind, uint64_t cgroup_id, const char *detail)
{
	struct manager *m = k->m;
	const char *cgroup = "";
	char cgbuf[64], job[32];
	struct violation v;

	if (cgroup_id) {
		if (attributor_cgroup_path(m->attr, cgroup_id, &cgroup) < 0) {
			snprintf(cgbuf, sizeof(cgbuf), "cgroup-id:%llu",
				 (unsigned long long)cgroup_id);
			cgroup = cgbuf;
		}
	}
	slurm_job_from_cgroup(cgroup, job, sizeof(job));
	v = (struct violation){
		.time_usec = now_realtime_usec(),
		.kind = kind,
		.license_id = "",
		.pid = 0,
		.uid = HPCMETER_UID_NONE,
		.user = "",
		.executable = "",
		.cgroup = cgroup,
		.job = job,
		.detail = detail,
	};
	manager_record_violation(m, &v);
}

static void on_event(const struct kmeter_event *e, void *userdata)
{
	struct kmeter *k = userdata;
	char detail[256];

	switch (e->type) {
	case HPCMETER_EVENT_HEARTBEAT:
		k->heartbeats++;
		break;
	case HPCMETER_EVENT_PARAM:
		log_info("kernel meter: parameter %s set to %s", e->name, e->value);
		break;
	case HPCMETER_EVENT_PROBE_FAILED:
		snprintf(detail, sizeof(detail), "kernel meter probe %s failed to attach: %s",
			 e->name, strerror(-e->error));
		raise_tamper(k, "kernel-meter-probe-failed", 0, detail);
		break;
	case HPCMETER_EVENT_DEV_ADDED:
	case HPCMETER_EVENT_DEV_REMOVED:
		log_notice("kernel meter: accelerator %s %04x:%04x %s", e->dev.bus_id,
			   e->dev.vendor, e->dev.device,
			   e->type == HPCMETER_EVENT_DEV_ADDED ? "added" : "removed");
		break;
	default:
		log_debug("kernel meter: event type %u ignored", e->type);
	}
}

static int on_events_ready(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct kmeter *k = userdata;
	int r = kmeter_client_read_events(k->ev, on_event, k);

	if (r == -EBADMSG)
		log_warning("kernel meter: malformed event ignored");
	else if (r < 0)
		log_warning("kernel meter: reading events: %s", strerror(-r));
	return 0;
}

static void events_close(struct kmeter *k)
{
	k->ev_source = sd_event_source_disable_unref(k->ev_source);
	kmeter_client_free(k->ev);
	k->ev = NULL;
}

static void events_open(struct kmeter *k)
{
	int r;

	events_close(k);
	r = kmeter_client_open(&k->ev);
	if (r == 0)
		r = kmeter_client_resolve(k->ev);
	if (r == 0)
		r = kmeter_client_subscribe(k->ev);
	if (r == 0)
		r = sd_event_add_io(k->m->event, &k->ev_source, kmeter_client_fd(k->ev), EPOLLIN,
				    on_events_ready, k);
	if (r < 0) {
		log_warning("kernel meter: cannot subscribe to its \"%s\" events: %s",
			    HPCMETER_MCGRP_EVENTS, strerror(-r));
		events_close(k);
	}
}

static void forget_all(struct kmeter *k)
{
	tdestroy(k->cgs, free);
	k->cgs = NULL;
	k->have_baseline = false;
}

/* Found (again): a new load starts a new baseline. */
static void attach(struct kmeter *k, const struct kmeter_info *info)
{
	bool reloaded = k->state == KM_ATTACHED && info->load_time_ns != k->info.load_time_ns;

	if (k->state != KM_ATTACHED || reloaded) {
		log_info("kernel meter: hpcmeter.ko %s (abi %u) loaded at %llu ns, probes 0x%x, "
			 "%u accelerators",
			 info->version, info->abi_version, (unsigned long long)info->load_time_ns,
			 info->probes, info->inventory_count);
		forget_all(k);
		events_open(k);
	}
	if (reloaded) {
		raise_tamper(k, "kernel-meter-gone", 0,
			     "the hpcmeter kernel module was reloaded: its counters restarted");
		/* What it counted since the last reading is lost: a gap of the second meter. */
		manager_gap_record(k->m, "module-unloaded", manager_last_collect_usec(k->m),
				   now_realtime_usec(),
				   "the hpcmeter kernel module was reloaded between two readings");
	}
	if (k->state == KM_GONE)
		manager_gap_close(k->m, "module-unloaded");
	if (info->probes != HPCMETER_PROBES_ALL && (k->state != KM_ATTACHED || reloaded)) {
		char detail[128];

		snprintf(detail, sizeof(detail),
			 "kernel meter runs with probes 0x%x of 0x%x attached", info->probes,
			 HPCMETER_PROBES_ALL);
		raise_tamper(k, "kernel-meter-probe-failed", 0, detail);
	}
	/* Filling the table blinds the module to new cgroups: that is tampering too. */
	if (info->usage_overflow > 0 &&
	    (k->state != KM_ATTACHED || reloaded || k->info.usage_overflow == 0)) {
		char detail[192];

		snprintf(
			detail, sizeof(detail),
			"the kernel meter's table of %u cgroups is full (%llu events not counted); "
			"load it with a larger max_cgroups",
			info->usage_capacity, (unsigned long long)info->usage_overflow);
		raise_tamper(k, "kernel-meter-full", 0, detail);
	}
	k->info = *info;
	k->state = KM_ATTACHED;
}

/* After a failed exchange the socket may hold the rest of a reply: start on a fresh one. */
static void reopen(struct kmeter *k)
{
	struct kmeter_client *c;

	if (kmeter_client_open(&c) == 0) {
		kmeter_client_free(k->c);
		k->c = c;
	}
}

static void lose(struct kmeter *k, const char *why)
{
	char detail[256];

	if (k->state == KM_ATTACHED) {
		snprintf(detail, sizeof(detail), "the hpcmeter kernel module went away: %s", why);
		raise_tamper(k, "kernel-meter-gone", 0, detail);
		k->state = KM_GONE;
		/* Open until the module is back: one gap record per interval meanwhile. */
		manager_gap_open(k->m, "module-unloaded", detail);
	}
	events_close(k);
	forget_all(k);
}

int kmeter_new(struct manager *m, struct kmeter **ret)
{
	struct kmeter *k = calloc(1, sizeof(*k));
	int r;

	if (!k)
		return -ENOMEM;
	k->m = m;
	k->window = m->cfg.kmeter_window ? m->cfg.kmeter_window : 1;
	r = kmeter_client_open(&k->c);
	if (r < 0) {
		free(k);
		return r;
	}
	*ret = k;
	return 0;
}

void kmeter_free(struct kmeter *k)
{
	if (!k)
		return;
	events_close(k);
	kmeter_client_free(k->c);
	tdestroy(k->cgs, free);
	free(k);
}

void kmeter_add_bpf(struct kmeter *k, uint64_t cgroup_id, uint64_t cpu_ns)
{
	struct cg *c;

	if (!k || k->state != KM_ATTACHED)
		return;
	c = cg_get(k, cgroup_id);
	if (c)
		c->bpf_ns += cpu_ns;
}

struct compare {
	struct kmeter *k;
	bool baseline; /* this read only sets the baseline */
};

/* One more interval of cgroup @c in its window; a full window (or a cgroup's whole life, when
 * it ends before filling one) is compared. */
static void window_compare(struct kmeter *k, struct cg *c, uint64_t bpf_ns, uint64_t module_ns,
			   bool ends)
{
	uint64_t floor_ns = k->m->cfg.kmeter_floor_ms * 1000000ull;
	unsigned pct = tolerance_pct(k->m);
	struct kmeter_window *w = &c->w;
	char detail[256];

	kmeter_window_push(w, bpf_ns, module_ns);
	if (!kmeter_window_full(w) && !ends)
		return;
	if (w->bpf_sum > floor_ns || w->module_sum > floor_ns)
		k->checks++;
	if (!kmeter_diverges(w->bpf_sum, w->module_sum, pct, floor_ns))
		return;
	k->divergences++;
	if (c->raised)
		return;
	c->raised = true;
	if (c->module_knows)
		snprintf(detail, sizeof(detail),
			 "meters disagree: BPF %.3f s, kernel module %.3f s of CPU over %u "
			 "interval%s (tolerance %u%%)",
			 w->bpf_sum / 1e9, w->module_sum / 1e9, w->n, w->n == 1 ? "" : "s", pct);
	else
		snprintf(detail, sizeof(detail),
			 "meters disagree: BPF %.3f s of CPU over %u interval%s, the kernel module "
			 "has no record of the cgroup",
			 w->bpf_sum / 1e9, w->n, w->n == 1 ? "" : "s");
	raise_tamper(k, "kernel-meter-divergence", c->cgroup_id, detail);
}

static int take_usage(const struct kmeter_usage *u, void *userdata)
{
	struct compare *cmp = userdata;
	struct kmeter *k = cmp->k;
	struct cg *c;
	uint64_t delta;

	/* Outside cgroup_root the BPF meter counts nothing: no comparison. */
	if (!manager_in_scope(k->m, u->cgroup_id))
		return 0;
	c = cg_get(k, u->cgroup_id);
	if (!c)
		return -ENOMEM;
	/* A counter that went back restarted: its entry was reclaimed and made again. A cgroup
	 * new to the table counted from its creation, like the BPF meter. */
	delta = u->on_cpu_ns >= c->module_ns ? u->on_cpu_ns - c->module_ns : u->on_cpu_ns;
	c->module_knows = true;
	if (!cmp->baseline)
		window_compare(k, c, c->bpf_ns, delta, false);
	c->module_ns = u->on_cpu_ns;
	c->bpf_ns = 0;
	c->seen_in = k->reads;
	return 0;
}

/* After a read: cgroups the BPF meter saw but the module did not (hidden from it) are compared
 * with nothing on the module's side; every cgroup's BPF time starts again at zero for the next
 * interval. */
struct after_read {
	struct kmeter *k;
	bool compare;
	bool carry; /* keep the BPF time of cgroups missing from this dump for the next one */
	uint64_t *gone; /* cgroups in neither meter this time: forgotten after the walk */
	size_t n_gone, cap_gone;
};

static void after_read_visit(const void *node, VISIT which, void *closure)
{
	struct cg *c = *(struct cg *const *)node;
	struct after_read *a = closure;
	struct kmeter *k = a->k;
	bool missing = c->seen_in != k->reads;

	if (which != postorder && which != leaf)
		return;
	/* Missing from a baseline or interrupted dump: it may be a cgroup new to the module,
	 * counted from its creation; compare it next time with the BPF time of both intervals. */
	if (a->carry && missing)
		return;
	/* Missing from a complete dump: the module counted nothing for it in this interval. Idle
	 * for BPF too, it has ended (or never ran): its window is compared a last time. */
	if (a->compare && missing && (c->bpf_ns || c->w.n))
		window_compare(k, c, c->bpf_ns, 0, !c->bpf_ns);
	/* Reclaimed by the module and idle for BPF: forget it (else the tree only grows). */
	if (missing && !c->bpf_ns) {
		if (a->n_gone == a->cap_gone) {
			size_t cap = a->cap_gone ? 2 * a->cap_gone : 64;
			uint64_t *g = realloc(a->gone, cap * sizeof(*g));

			if (g) {
				a->gone = g;
				a->cap_gone = cap;
			}
		}
		if (a->n_gone < a->cap_gone)
			a->gone[a->n_gone++] = c->cgroup_id;
	}
	c->bpf_ns = 0;
}

void kmeter_collect(struct kmeter *k)
{
	struct kmeter_info info;
	struct compare cmp = { .k = k };
	bool intr = false;
	int r;

	if (!k)
		return;
	if (!k->m->cfg.kmeter_enabled)
		return;
	/* Resolve every time: a reloaded module has a new family id. */
	r = kmeter_client_resolve(k->c);
	if (r == 0)
		r = kmeter_client_info(k->c, &info);
	if (r < 0) {
		if (r != -ENOENT || k->state == KM_ATTACHED)
			log_warning("kernel meter: %s%s%s", strerror(-r),
				    kmeter_client_extack(k->c)[0] ? ": " : "",
				    kmeter_client_extack(k->c));
		lose(k, r == -ENOENT ? "generic netlink family \"" HPCMETER_GENL_NAME
				       "\" not registered" :
				       strerror(-r));
		if (r != -ENOENT)
			reopen(k);
		return;
	}
	attach(k, &info);

	k->reads++;
	cmp.baseline = !k->have_baseline;
	r = kmeter_client_usage(k->c, take_usage, &cmp, &intr);
	if (r < 0) {
		log_warning("kernel meter: reading usage: %s%s%s", strerror(-r),
			    kmeter_client_extack(k->c)[0] ? ": " : "", kmeter_client_extack(k->c));
		forget_all(k); /* compare again from a fresh baseline */
		reopen(k);
		return;
	}
	/* NLM_F_DUMP_INTR: cgroups were added or reclaimed during the dump; the ones present all
	 * along were in it exactly once, the others are compared at the next interval. */
	if (intr)
		log_debug("kernel meter: usage changed during the dump");
	/* A full table is reported once as kernel-meter-full: the cgroups it could not take are
	 * not each a divergence. */
	struct after_read a = { .k = k,
				.compare = !cmp.baseline && !intr && !k->info.usage_overflow,
				.carry = cmp.baseline || intr };
	twalk_r(k->cgs, after_read_visit, &a);
	for (size_t i = 0; i < a.n_gone; i++) {
		struct cg key = { .cgroup_id = a.gone[i] }, *c;
		void *node = tfind(&key, &k->cgs, cg_cmp);

		if (node) {
			c = *(struct cg **)node;
			tdelete(&key, &k->cgs, cg_cmp);
			free(c);
		}
	}
	free(a.gone);
	k->have_baseline = true;
}

const char *kmeter_state(const struct kmeter *k)
{
	if (!k)
		return "absent";
	return k->state == KM_ATTACHED ? "attached" : k->state == KM_GONE ? "gone" : "absent";
}

const char *kmeter_version(const struct kmeter *k)
{
	return k && k->state == KM_ATTACHED ? k->info.version : "";
}

uint64_t kmeter_divergences(const struct kmeter *k)
{
	return k ? k->divergences : 0;
}

uint64_t kmeter_checks(const struct kmeter *k)
{
	return k ? k->checks : 0;
}
