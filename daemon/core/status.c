// SPDX-License-Identifier: GPL-2.0-only
/* The daemon's state as the outside sees it: the keys of GetStatus (docs/dbus.md) as a typed
 * list, and the meters' states, whose changes are recorded and told (MeterStateChanged). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger-chain.h"
#include "notify.h"
#include "util.h"

const char *const manager_meter_names[MANAGER_N_METERS] = { "bpf-cpu", "gpu", "kernel-module",
							    "ledger" };
enum { MK_CPU, MK_GPU, MK_MODULE, MK_LEDGER };

struct meter_states {
	char last[MANAGER_N_METERS][METER_STATE_MAX]; /* as last told */
	bool have;
	uint64_t seq; /* MeterStateChanged's, from 1 in each run */
};

int meter_states_new(struct manager *m)
{
	m->states = calloc(1, sizeof(*m->states));
	return m->states ? 0 : -ENOMEM;
}

void meter_states_free(struct manager *m)
{
	free(m->states);
	m->states = NULL;
}

static struct status_item *status_add(struct status_list *l, const char *key, char type)
{
	struct status_item *it;

	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;

		it = reallocarray(l->items, cap, sizeof(*it));
		if (!it)
			return NULL;
		l->items = it;
		l->cap = cap;
	}
	it = &l->items[l->n++];
	*it = (struct status_item){ .key = key, .type = type };
	return it;
}

int status_add_num(struct status_list *l, const char *key, char type, uint64_t v)
{
	struct status_item *it = status_add(l, key, type);

	if (!it)
		return -ENOMEM;
	it->num = v;
	return 0;
}

int status_add_str(struct status_list *l, const char *key, const char *s)
{
	struct status_item *it = status_add(l, key, 's');

	if (!it)
		return -ENOMEM;
	/* Host names and paths are bytes; the outside gets UTF-8. */
	it->str = utf8_escape_invalid(s ? s : "");
	return it->str ? 0 : -ENOMEM;
}

int status_add_strv(struct status_list *l, const char *key, char **v, size_t n)
{
	struct status_item *it = status_add(l, key, 'a');

	if (!it)
		return -ENOMEM;
	it->strv = calloc(n + 1, sizeof(char *));
	if (!it->strv)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		it->strv[i] = utf8_escape_invalid(v[i]);
		if (!it->strv[i])
			return -ENOMEM;
		it->n_strv++;
	}
	return 0;
}

void status_list_done(struct status_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->items[i].str);
		for (size_t k = 0; k < l->items[i].n_strv; k++)
			free(l->items[i].strv[k]);
		free(l->items[i].strv);
	}
	free(l->items);
	*l = (struct status_list){};
}

/* The ledger's and the gaps' part. */
static int ledger_status(struct manager *m, struct status_list *l)
{
	const struct chain_head *h = ledger_chain_head(m->ledger);
	char hex[2 * CHAIN_HASH_LEN + 1], state[256];
	size_t pending = 0;
	int r;

	ledger_degraded(m->ledger, NULL, &pending);
	manager_ledger_state(m, state, sizeof(state));
	chain_hex(h->hash, sizeof(h->hash), hex);
	if ((r = status_add_str(l, "ledger_state", state)) < 0 ||
	    (r = status_add_num(l, "ledger_pending", 't', pending)) < 0 ||
	    (r = status_add_num(l, "chain_seq", 't', h->seq)) < 0 ||
	    (r = status_add_str(l, "chain_head", hex)) < 0 ||
	    (r = status_add_num(l, "last_gap_id", 't', ledger_last_gap_id(m->ledger))) < 0 ||
	    (r = status_add_num(l, "gaps_open", 'u', manager_gaps_open(m))) < 0 ||
	    (r = status_add_str(l, "bpf_pin_dir", m->cfg.bpf_pin_dir)) < 0)
		return r;
	return status_add_num(l, "maps_reused", 'u', m->meter && meter_maps_reused(m->meter));
}

/* The meter's own cost: BPF run counts and run time of every program, CPU and GPU meters
 * together, when BPF statistics are on (config key bpf_stats). */
static int self_cost(struct manager *m, struct status_list *l)
{
	uint64_t cnt = 0, ns = 0;
	char state[128];
	int r;

	if (m->bpf_stats_fd < 0) {
		if (m->cfg.bpf_stats)
			snprintf(state, sizeof(state), "unavailable: %s",
				 strerror(m->bpf_stats_errno));
		else
			snprintf(state, sizeof(state), "off");
		return status_add_str(l, "bpf_stats", state);
	}
	r = m->meter ? meter_prog_stats(m->meter, &cnt, &ns) : 0;
	if (r == 0 && manager_gpu_meter(m))
		r = gpu_prog_stats(manager_gpu_meter(m), &cnt, &ns);
	if (r < 0)
		snprintf(state, sizeof(state), "unavailable: %s", strerror(-r));
	else
		snprintf(state, sizeof(state), "on");
	if ((r = status_add_str(l, "bpf_stats", state)) < 0 ||
	    (r = status_add_num(l, "bpf_run_count", 't', cnt)) < 0)
		return r;
	return status_add_num(l, "bpf_run_time_ns", 't', ns);
}

int manager_status(struct manager *m, struct status_list *ret)
{
	struct status_list l = {};
	struct meter_stats st = { 0 };
	uint64_t n_violations = 0, last_seq = ledger_last_violation_seq(m->ledger), drops;
	uint64_t digest_files, digest_bytes, execs, exits, moves, tails, evaluated, skipped;
	uint32_t digests_pending;
	const char *mode = m->meter ? meter_attach_mode(m->meter) : "";
	int r;

	if (m->meter)
		meter_read_stats(m->meter, &st);
	ledger_count_violations(m->ledger, &n_violations);
	drops = st.counter[HPCM_STAT_DROP_EXEC] + st.counter[HPCM_STAT_DROP_EXIT] +
		st.counter[HPCM_STAT_DROP_MOVE] + st.counter[HPCM_STAT_DROP_TAIL];
	digests_stats(m, &digests_pending, &digest_files, &digest_bytes);
	procs_events(m, &execs, &exits, &moves, &tails);
	evaluation_stats(m, &evaluated, &skipped);
	if ((r = status_add_str(&l, "version", HPCMETER_VERSION)) < 0 ||
	    (r = status_add_str(&l, "hostname", m->hostname)) < 0 ||
	    (r = status_add_str(&l, "boot_id", m->boot_id)) < 0 ||
	    (r = status_add_num(&l, "started_usec", 't', m->started_usec)) < 0 ||
	    (r = status_add_num(&l, "interval_usec", 't', m->cfg.interval_sec * USEC_PER_SEC)) <
		    0 ||
	    (r = status_add_num(&l, "last_collect_usec", 't', manager_last_collect_usec(m))) < 0 ||
	    (r = status_add_num(&l, "collections", 't', interval_readings(m))) < 0 ||
	    (r = status_add_num(&l, "processes_tracked", 'u', procs_count(m))) < 0 ||
	    (r = status_add_num(&l, "exec_events", 't', execs)) < 0 ||
	    (r = status_add_num(&l, "exit_events", 't', exits)) < 0 ||
	    (r = status_add_num(&l, "move_events", 't', moves)) < 0 ||
	    (r = status_add_num(&l, "tail_events", 't', tails)) < 0 ||
	    (r = status_add_num(&l, "ringbuf_drops", 't', drops)) < 0 ||
	    (r = status_add_num(&l, "procs_map_full", 't', st.counter[HPCM_STAT_PROCS_FULL])) < 0 ||
	    (r = status_add_num(&l, "bad_records", 't', st.bad_records)) < 0 ||
	    (r = status_add_str(&l, "attach_mode", mode)) < 0 ||
	    (r = status_add_num(&l, "violations", 't', n_violations)) < 0 ||
	    (r = status_add_num(&l, "last_violation_seq", 't', last_seq)) < 0 ||
	    (r = status_add_num(&l, "licenses_active", 'u', manager_licenses_active(m))) < 0 ||
	    (r = status_add_num(&l, "license_errors", 'u', manager_license_errors(m))) < 0 ||
	    (r = status_add_num(&l, "license_terms_not_evaluated", 'u',
				evaluation_terms_not_evaluated(m))) < 0 ||
	    (r = status_add_num(&l, "exec_evaluations", 't', evaluated)) < 0 ||
	    (r = status_add_num(&l, "exec_evaluations_skipped", 't', skipped)) < 0 ||
	    (r = status_add_num(&l, "digests_pending", 'u', digests_pending)) < 0 ||
	    (r = status_add_num(&l, "digest_files", 't', digest_files)) < 0 ||
	    (r = status_add_num(&l, "digest_bytes", 't', digest_bytes)) < 0 ||
	    (r = status_add_num(&l, "uid_min", 'u', m->cfg.uid_min)) < 0 ||
	    (r = status_add_str(&l, "state_dir", m->cfg.state_dir)) < 0 ||
	    (r = status_add_str(&l, "licenses_dir", m->cfg.licenses_dir)) < 0 ||
	    (r = status_add_str(&l, "ledger", ledger_path(m->ledger))) < 0 ||
	    (r = status_add_str(&l, "kernel_meter", kmeter_state(m->kmeter))) < 0 ||
	    (r = status_add_str(&l, "kernel_meter_version", kmeter_version(m->kmeter))) < 0 ||
	    (r = status_add_num(&l, "kernel_meter_checks", 't', kmeter_checks(m->kmeter))) < 0 ||
	    (r = status_add_num(&l, "kernel_meter_divergences", 't',
				kmeter_divergences(m->kmeter))) < 0 ||
	    (r = status_add_num(&l, "last_collect_duration_usec", 't',
				interval_last_duration_usec(m))) < 0 ||
	    (r = self_cost(m, &l)) < 0 || (r = manager_gpu_status(m, &l)) < 0 ||
	    (r = ledger_status(m, &l)) < 0 || (r = ship_status(m, &l)) < 0 ||
	    (r = cluster_status(m, &l)) < 0 ||
	    (r = status_add_str(&l, "cgroup_root",
				m->cfg.cgroup_root[0] ? m->cfg.cgroup_root : "/")) < 0) {
		status_list_done(&l);
		return r;
	}
	*ret = l;
	return 0;
}

void manager_meter_states(struct manager *m, char st[MANAGER_N_METERS][METER_STATE_MAX])
{
	char ledger[256];

	if (!m->meter)
		snprintf(st[MK_CPU], METER_STATE_MAX, "off");
	else if (manager_gap_is_open(m, "probe-detached"))
		snprintf(st[MK_CPU], METER_STATE_MAX, "detached");
	else
		snprintf(st[MK_CPU], METER_STATE_MAX, "attached");
	snprintf(st[MK_GPU], METER_STATE_MAX, "%s", manager_gpu_state(m));
	snprintf(st[MK_MODULE], METER_STATE_MAX, "%s", kmeter_state(m->kmeter));
	manager_ledger_state(m, ledger, sizeof(ledger));
	/* "degraded: REASON (N records ...)": the count changes all the time, the state not. */
	snprintf(st[MK_LEDGER], METER_STATE_MAX, "%s",
		 strncmp(ledger, "degraded", 8) == 0 ? "degraded" : ledger);
}

void manager_meter_states_begin(struct manager *m)
{
	manager_meter_states(m, m->states->last);
	m->states->have = true;
}

void manager_meter_states_check(struct manager *m)
{
	char now[MANAGER_N_METERS][METER_STATE_MAX];
	bool changed = false;

	/* Not before the start is complete: the meters attach during it. */
	if (!m->states->have)
		return;
	manager_meter_states(m, now);
	for (int i = 0; i < MANAGER_N_METERS; i++) {
		uint64_t t = now_realtime_usec();

		if (streq(now[i], m->states->last[i]))
			continue;
		changed = true;
		memcpy(m->states->last[i], now[i], METER_STATE_MAX);
		m->states->seq++;
		log_notice("meter %s: %s", manager_meter_names[i], now[i]);
		/* records.c records the ledger's own state changes. */
		if (i != MK_LEDGER)
			ledger_add_meter_state(m->ledger, t, manager_meter_names[i], now[i], "");
		_cleanup_free_ char *s = utf8_escape_invalid(now[i]);
		if (s)
			notify_meter_state(m, m->states->seq, t, manager_meter_names[i], s);
	}
	if (changed)
		notify_changed(m, MANAGER_CHANGED_METER_STATES);
}
