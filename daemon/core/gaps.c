// SPDX-License-Identifier: GPL-2.0-only
/* Metering gaps: spans in which usage may have escaped the meter, each a ledger record with its
 * cause and a worst-case usage bound, and a MeteringGap signal. Found here: the daemon's own
 * downtime (from the heartbeat: boot id and CLOCK_BOOTTIME tell a reboot from a crash), kernel
 * losses, and programs no longer attached. Other meters open and close conditions through
 * manager_gap_open()/manager_gap_close(). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpu.h"
#include "json-doc.h"
#include "notify.h"
#include "util.h"

struct gap_cond {
	char cause[32];
	char detail[256];
	uint64_t since_usec;
};

struct gaps {
	struct gap_cond *conds; /* conditions that keep metering incomplete, open until they end */
	size_t n;
	uint64_t losses_seen[HPCM_STAT_MAX];
	uint64_t announced; /* the last gap id told */
	unsigned ncpus;
};

int gaps_new(struct manager *m)
{
	m->gaps = calloc(1, sizeof(*m->gaps));
	return m->gaps ? 0 : -ENOMEM;
}

/* How the loaded licences count a gap: "violation" when any says so (measurement.gap_policy),
 * else at the maximum rate. */
/* A number as the bound has always written it (a fixed precision), null where not finite. */
static int add_fixed(struct json_object *o, const char *key, const char *fmt, double v)
{
	char buf[64];

	if (!isfinite(v))
		return json_add_null(o, key);
	snprintf(buf, sizeof(buf), fmt, v);
	return json_add(o, key, json_new_number_text(v, buf));
}

static const char *policy_for(struct manager *m, const struct gap *g)
{
	for (size_t i = 0; m->licenses && i < m->licenses->n_entries; i++) {
		const struct license *l = m->licenses->entries[i].license;

		if (l && l->gap_policy == LICENSE_GAP_VIOLATION)
			return "violation";
	}
	return "max-rate";
}

/* A licence that counts a gap as a violation gets one, naming the gap. */
static void gap_violations(struct manager *m, const struct gap *g)
{
	char detail[512];

	snprintf(detail, sizeof(detail),
		 "metering gap #%llu (%s, %.1f s%s%s): the licence counts a gap as a violation",
		 (unsigned long long)g->id, g->cause, (g->end_usec - g->start_usec) / 1e6,
		 g->detail[0] ? ", " : "", g->detail);
	for (size_t i = 0; m->licenses && i < m->licenses->n_entries; i++) {
		const struct license *l = m->licenses->entries[i].license;
		struct violation v = {
			.time_usec = now_realtime_usec(),
			.kind = "metering-gap",
			.uid = HPCMETER_UID_NONE,
			.user = "",
			.executable = "",
			.cgroup = "",
			.job = "",
			.detail = detail,
		};

		if (!l || l->gap_policy != LICENSE_GAP_VIOLATION)
			continue;
		v.license_id = l->id;
		manager_record_violation(m, &v);
	}
}

/* Accelerators that could have been used during a gap: all those on the node (worst case). */
static uint32_t devices_for_bound(struct manager *m)
{
	const struct inventory *inv = manager_gpu_inventory(m);

	return inv ? (uint32_t)inv->n_devices : 0;
}

/* launches_upper < 0: the gap says nothing of its own about kernel launches. */
static int gap_record(struct manager *m, const char *cause, uint64_t start_usec, uint64_t end_usec,
		      const char *detail, double launches_upper)
{
	uint64_t dur = end_usec > start_usec ? end_usec - start_usec : 0;
	uint32_t devices = devices_for_bound(m);
	const struct inventory *inv = manager_gpu_inventory(m);
	double tpp = inv ? inventory_tpp(inv) : 0, peak = inv ? inventory_peak_ops(inv) : 0;
	_cleanup_json_ struct json_object *b = json_object_new_object();
	struct gap g = {
		.cause = cause,
		.start_usec = start_usec,
		.end_usec = end_usec,
		.boot_id = m->boot_id,
		.detail = detail ? detail : "",
		/* Worst case: every core busy for the whole gap. */
		.bound_cpu_ns = (uint64_t)m->gaps->ncpus * dur * NSEC_PER_USEC,
		.bound_devices = devices,
	};
	int r;

	/* Devices × duration, and the peak rates of the node's accelerators (from the models data
	 * file) multiplied in: the most the gap can hide. */
	if (!b || add_fixed(b, "duration_s", "%.6f", dur / 1e6) < 0 ||
	    add_fixed(b, "cpu_seconds", "%.6f", (double)m->gaps->ncpus * dur / 1e6) < 0 ||
	    json_add_uint(b, "cores", m->gaps->ncpus) < 0 ||
	    json_add_uint(b, "devices", devices) < 0 ||
	    add_fixed(b, "device_seconds", "%.6f", (double)devices * dur / 1e6) < 0 ||
	    add_fixed(b, "tpp_seconds", "%.6g", (double)devices * dur / 1e6 * tpp) < 0 ||
	    add_fixed(b, "ops_upper", "%.6g", (double)devices * dur / 1e6 * peak) < 0 ||
	    (launches_upper >= 0 &&
	     (add_fixed(b, "launches_upper", "%.0f", launches_upper) < 0 ||
	      add_fixed(b, "launch_rate_max", "%.0f", GPU_LAUNCH_RATE_MAX) < 0)) ||
	    !(g.bound = json_text(b, JSON_SHORT, NULL)))
		g.bound = "{}"; /* out of memory: the gap is recorded all the same */
	g.policy = policy_for(m, &g);
	r = ledger_add_gap(m->ledger, &g);
	if (r < 0)
		log_error("could not store metering gap #%llu: %s", (unsigned long long)g.id,
			  strerror(-r));
	log_warning("metering gap #%llu: %s for %.1f s (bound: %.1f CPU seconds, %u devices)%s%s",
		    (unsigned long long)g.id, cause, dur / 1e6, (double)g.bound_cpu_ns / 1e9,
		    devices, g.detail[0] ? ": " : "", g.detail);
	if (notify_gap(m, &g) > 0)
		m->gaps->announced = g.id;
	manager_meter_states_check(m);
	if (streq(g.policy, "violation"))
		gap_violations(m, &g);
	return r;
}

int manager_gap_record(struct manager *m, const char *cause, uint64_t start_usec, uint64_t end_usec,
		       const char *detail)
{
	return gap_record(m, cause, start_usec, end_usec, detail, -1);
}

int manager_gap_record_launches(struct manager *m, const char *cause, uint64_t start_usec,
				uint64_t end_usec, const char *detail)
{
	uint64_t dur = end_usec > start_usec ? end_usec - start_usec : 0;
	uint32_t devices = devices_for_bound(m);

	/* At most GPU_LAUNCH_RATE_MAX launches per second per device (one device where the
	 * inventory has none: the calls are still made), rounded up: never 0 for a gap that is
	 * not empty. */
	return gap_record(m, cause, start_usec, end_usec, detail,
			  ceil((double)dur / 1e6 * GPU_LAUNCH_RATE_MAX * (devices ? devices : 1)));
}

static struct gap_cond *cond_find(struct manager *m, const char *cause)
{
	for (size_t i = 0; i < m->gaps->n; i++)
		if (streq(m->gaps->conds[i].cause, cause))
			return &m->gaps->conds[i];
	return NULL;
}

int manager_gap_open(struct manager *m, const char *cause, const char *detail)
{
	struct gap_cond *c;

	if (cond_find(m, cause))
		return 0;
	c = realloc(m->gaps->conds, (m->gaps->n + 1) * sizeof(*c));
	if (!c)
		return -ENOMEM;
	m->gaps->conds = c;
	c = &m->gaps->conds[m->gaps->n++];
	memset(c, 0, sizeof(*c));
	snprintf(c->cause, sizeof(c->cause), "%s", cause);
	snprintf(c->detail, sizeof(c->detail), "%s", detail ? detail : "");
	/* Since the last collection: whatever happened after it is not known to be metered. */
	c->since_usec = manager_last_collect_usec(m);
	if (!c->since_usec)
		c->since_usec = now_realtime_usec();
	log_warning("metering incomplete from now on: %s%s%s", cause, c->detail[0] ? ": " : "",
		    c->detail);
	return 0;
}

int manager_gap_close(struct manager *m, const char *cause)
{
	struct gap_cond *c = cond_find(m, cause);
	int r;

	if (!c)
		return 0;
	r = manager_gap_record(m, c->cause, c->since_usec, now_realtime_usec(), c->detail);
	*c = m->gaps->conds[--m->gaps->n];
	log_notice("metering complete again: %s ended", cause);
	return r;
}

void manager_heartbeat(struct manager *m, bool clean_stop)
{
	struct heartbeat hb = {
		.boottime_usec = now_boottime_nsec() / NSEC_PER_USEC,
		.realtime_usec = now_realtime_usec(),
		.clean_stop = clean_stop,
	};

	snprintf(hb.boot_id, sizeof(hb.boot_id), "%s", m->boot_id);
	ledger_write_heartbeat(m->ledger, &hb);
	if (clean_stop)
		ledger_commit(m->ledger);
}

void manager_gaps_start(struct manager *m)
{
	struct meter_stats st;
	struct heartbeat hb;
	uint64_t now = now_realtime_usec(), boot_now = now_boottime_nsec() / NSEC_PER_USEC;
	char detail[256];
	long n = sysconf(_SC_NPROCESSORS_CONF);

	m->gaps->ncpus = n > 0 ? n : 1;
	/* Pinned loss counters continue: only what is lost from now on is new. */
	if (m->meter && meter_read_stats(m->meter, &st) == 0)
		memcpy(m->gaps->losses_seen, st.counter, sizeof(m->gaps->losses_seen));
	m->gaps->announced = ledger_last_gap_id(m->ledger);
	if (ledger_read_heartbeat(m->ledger, &hb) < 0)
		return; /* a new ledger: nothing was metered before */
	if (hb.boot_id[0] && streq(hb.boot_id, m->boot_id)) {
		/* Same boot: CLOCK_BOOTTIME measures the downtime even if the wall clock moved. */
		uint64_t down = boot_now > hb.boottime_usec ? boot_now - hb.boottime_usec : 0;
		int64_t jump =
			clock_jump_usec((int64_t)now - (int64_t)hb.realtime_usec, (int64_t)down);
		uint64_t start;

		/* The clock set while the daemon was down cannot hide the downtime: the gap
		 * is the time down by CLOCK_BOOTTIME, ending now on the new clock. */
		if (jump)
			manager_clock_jumped(m, jump, "while hpcmeterd was down");
		snprintf(detail, sizeof(detail), "%s; down %.3f s by CLOCK_BOOTTIME",
			 hb.clean_stop ? "hpcmeterd was stopped" :
					 "hpcmeterd ended without a clean stop (crash or kill)",
			 down / 1e6);
		start = jump ? now - down : hb.realtime_usec;
		manager_gap_record(m, hb.clean_stop ? "daemon-stopped" : "daemon-down",
				   start < now ? start : now, now, detail);
	} else if (hb.realtime_usec >= now) {
		return;
	} else {
		snprintf(detail, sizeof(detail),
			 "node rebooted (boot id %s, was %s); booted %.0f s ago; %s", m->boot_id,
			 hb.boot_id[0] ? hb.boot_id : "unknown", boot_now / 1e6,
			 hb.clean_stop ? "hpcmeterd had stopped cleanly" :
					 "hpcmeterd did not stop cleanly");
		manager_gap_record(m, "reboot", hb.realtime_usec, now, detail);
	}
}

void manager_gaps_clock_shift(struct manager *m, int64_t jump_usec)
{
	for (size_t i = 0; i < m->gaps->n; i++)
		m->gaps->conds[i].since_usec += jump_usec;
}

static void check_losses(struct manager *m, uint64_t now)
{
	struct meter_stats st;
	uint64_t lost_exec, lost_exit, full;
	char detail[256];

	if (!m->meter || meter_read_stats(m->meter, &st) < 0)
		return;
	lost_exec = st.counter[HPCM_STAT_DROP_EXEC] - m->gaps->losses_seen[HPCM_STAT_DROP_EXEC];
	lost_exit = st.counter[HPCM_STAT_DROP_EXIT] - m->gaps->losses_seen[HPCM_STAT_DROP_EXIT];
	full = st.counter[HPCM_STAT_PROCS_FULL] - m->gaps->losses_seen[HPCM_STAT_PROCS_FULL];
	memcpy(m->gaps->losses_seen, st.counter, sizeof(m->gaps->losses_seen));
	if (!lost_exec && !lost_exit && !full)
		return;
	snprintf(detail, sizeof(detail),
		 "%llu exec and %llu exit records lost (ring buffer full), %llu processes not "
		 "tracked (process map full)",
		 (unsigned long long)lost_exec, (unsigned long long)lost_exit,
		 (unsigned long long)full);
	manager_gap_record(m, "ringbuf-drop", interval_start_usec(m), now, detail);
}

static void check_attached(struct manager *m)
{
	struct gpu *g = manager_gpu_meter(m);
	unsigned missing = 0, gpu = g ? gpu_links_replaced(g) : 0;
	char detail[128];

	if (!m->meter || meter_check_attached(m->meter, &missing) < 0)
		return;
	if (missing || gpu) {
		snprintf(detail, sizeof(detail),
			 "%u BPF programs of the CPU meter not attached (or replaced), %u of the "
			 "GPU meter replaced",
			 missing, gpu);
		manager_gap_open(m, "probe-detached", detail);
	} else {
		manager_gap_close(m, "probe-detached");
	}
}

void manager_gaps_interval(struct manager *m, uint64_t now)
{
	check_losses(m, now);
	check_attached(m);
	/* Conditions still open: one record per interval, so the ledger never waits for their
	 * end (which a crash could prevent). */
	for (size_t i = 0; i < m->gaps->n; i++) {
		struct gap_cond *c = &m->gaps->conds[i];

		if (now > c->since_usec) {
			manager_gap_record(m, c->cause, c->since_usec, now, c->detail);
			c->since_usec = now;
		}
	}
	manager_heartbeat(m, false);
}

static int announce_one(const struct gap *g, void *userdata)
{
	struct manager *m = userdata;

	notify_gap(m, g);
	m->gaps->announced = g->id;
	return 0;
}

/* Gaps recorded before the bus was up (the one found at start): signal them now. */
void manager_gaps_announce(struct manager *m)
{
	uint64_t before = m->gaps->announced;

	if (ledger_last_gap_id(m->ledger) <= before)
		return;
	/* m->gaps->announced was set to the last id at start, before the start gap was recorded. */
	ledger_list_gaps(m->ledger, before, announce_one, m);
}

void gaps_free(struct manager *m)
{
	if (!m->gaps)
		return;
	free(m->gaps->conds);
	free(m->gaps);
	m->gaps = NULL;
}

unsigned manager_gaps_open(const struct manager *m)
{
	return m->gaps->n;
}

bool manager_gap_is_open(struct manager *m, const char *cause)
{
	return cond_find(m, cause) != NULL;
}
