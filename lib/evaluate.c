// SPDX-License-Identifier: GPL-2.0-only
/* The licence evaluator and the violation lifecycle (see evaluate.h). */
#include "evaluate.h"

#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <search.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

#define APPROACH_LOW 80
#define APPROACH_HIGH 95
#define MAX(a, b) ((a) > (b) ? (a) : (b))

static const char *const state_names[] = {
	[EVAL_OK] = "ok",
	[EVAL_APPROACHING] = "approaching",
	[EVAL_VIOLATED] = "violated",
	[EVAL_NOT_EVALUATED] = "not-evaluated",
	[EVAL_RECORDED] = "recorded",
};

const char *eval_state_name(enum eval_state s)
{
	return s < ARRAY_SIZE(state_names) ? state_names[s] : "?";
}

void eval_result_done(struct eval_result *res)
{
	free(res->findings);
	free(res->terms);
	memset(res, 0, sizeof(*res));
}

static void copy(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src ? src : "");
}

static struct eval_finding *finding_new(struct eval_result *res, const char *kind, const char *term)
{
	struct eval_finding *f;

	if (res->n_findings == res->allocated) {
		size_t n = res->allocated ? res->allocated * 2 : 16;

		f = reallocarray(res->findings, n, sizeof(*f));
		if (!f)
			return NULL;
		res->findings = f;
		res->allocated = n;
	}
	f = &res->findings[res->n_findings++];
	memset(f, 0, sizeof(*f));
	copy(f->kind, sizeof(f->kind), kind);
	copy(f->term, sizeof(f->term), term);
	f->uid = HPCMETER_UID_NONE;
	f->measured = f->limit = NAN;
	return f;
}

struct eval_finding *eval_finding_add(struct eval_result *res, const char *kind, const char *term)
{
	return finding_new(res, kind, term);
}

int eval_term_add(struct eval_result *res, const char *term, enum eval_state state,
		  const char *text)
{
	struct eval_term *t;

	if (res->n_terms == res->terms_allocated) {
		size_t n = res->terms_allocated ? res->terms_allocated * 2 : 16;

		t = reallocarray(res->terms, n, sizeof(*t));
		if (!t)
			return -ENOMEM;
		res->terms = t;
		res->terms_allocated = n;
	}
	t = &res->terms[res->n_terms++];
	memset(t, 0, sizeof(*t));
	copy(t->term, sizeof(t->term), term);
	t->state = state;
	copy(t->text, sizeof(t->text), text);
	return 0;
}

static int term_add(struct eval_result *res, const char *term, enum eval_state state,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int term_add(struct eval_result *res, const char *term, enum eval_state state,
		    const char *fmt, ...)
{
	char text[EVAL_TEXT_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	return eval_term_add(res, term, state, text);
}

/* via: the name run by when the term matched through it (a script's executable is its
 * interpreter), NULL when it matched the executable itself. */
static void finding_process(struct eval_finding *f, const struct license *l,
			    const struct eval_process *p, const char *via)
{
	f->pid = p->pid;
	f->uid = p->uid;
	copy(f->subject, sizeof(f->subject), p->user);
	copy(f->job, sizeof(f->job), p->job);
	copy(f->exe, sizeof(f->exe), p->exe);
	/* One violation per kind, licence, uid, executable, and name run by where that is what
	 * matched. */
	snprintf(f->key, sizeof(f->key), "%s|%s|%u|%s|%s", f->kind, l->id, p->uid,
		 p->exe ? p->exe : "", via ? via : "");
}

static bool strv_contains(char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; s && i < n; i++)
		if (streq(v[i], s))
			return true;
	return false;
}

static const char *glob_match(char *const *globs, size_t n, const char *path)
{
	for (size_t i = 0; path && i < n; i++)
		if (fnmatch(globs[i], path, 0) == 0)
			return globs[i];
	return NULL;
}

void eval_origin_text(const struct eval_origin *o, char *buf, size_t size)
{
	bool other = o->address && !streq(o->address, o->host);

	snprintf(buf, size, "%s%s%s%s%s", o->host, other ? " (" : "", other ? o->address : "",
		 other ? ")" : "",
		 o->address_state == EVAL_ADDRESS_UNRESOLVED ? " (unresolved)" :
		 o->address_state == EVAL_ADDRESS_PENDING    ? " (being resolved)" :
							       "");
	if (o->via && o->via[0])
		snprintf(buf + strlen(buf), size - strlen(buf), ", %s", o->via);
}

static struct eval_finding *remote_finding(struct eval_result *res, const struct license *l,
					   const struct eval_process *p, const char *what)
{
	struct eval_finding *f = finding_new(res, "remote-access", "principals.remote_access");

	if (!f)
		return NULL;
	finding_process(f, l, p, NULL);
	/* One violation per user, executable and remote host (and what was wrong with it). */
	snprintf(f->key, sizeof(f->key), "remote-access|%s|%u|%s|%s%s", l->id, p->uid,
		 p->exe ? p->exe : "", what, p->origin->host);
	return f;
}

/* principals.remote_access for a process whose work came from another host. */
static int evaluate_remote(const struct license *l, const struct eval_process *p,
			   struct eval_result *res)
{
	const struct license_remote_access *ra = &l->remote_access;
	const char *run_as = p->filename && p->filename[0] == '/' ? p->filename : NULL;
	const struct eval_origin *o = p->origin;
	const char *user = p->user ? p->user : "?";
	struct eval_finding *f;
	char from[EVAL_TEXT_MAX / 2];

	if (!o || ra->mode == LICENSE_REMOTE_UNRESTRICTED)
		return 0;
	eval_origin_text(o, from, sizeof(from));
	if (ra->mode == LICENSE_REMOTE_NONE) {
		f = remote_finding(res, l, p, "");
		if (!f)
			return -ENOMEM;
		snprintf(f->detail, sizeof(f->detail),
			 "remote access is not allowed by the licence: user %s from %s", user,
			 from);
		return 0;
	}
	/* The name it was run by counts as for allowed_executables: a script's executable is
	 * its interpreter. */
	if (ra->mode == LICENSE_REMOTE_LIMITED &&
	    !glob_match(ra->applications, ra->n_applications, p->exe) &&
	    !glob_match(ra->applications, ra->n_applications, run_as)) {
		f = remote_finding(res, l, p, "");
		if (!f)
			return -ENOMEM;
		snprintf(f->detail, sizeof(f->detail),
			 "remote access is limited to the listed applications; %s is not one "
			 "(user %s from %s)",
			 p->exe ? p->exe : "?", user, from);
	}
	if (!ra->n_from || o->address_state == EVAL_ADDRESS_PENDING)
		return 0; /* a name being resolved: evaluated again once it is */
	if (o->address_state == EVAL_ADDRESS_KNOWN &&
	    license_remote_from_match(l, o->address, NULL))
		return 0;
	f = remote_finding(res, l, p, "from ");
	if (!f)
		return -ENOMEM;
	if (o->address_state == EVAL_ADDRESS_UNRESOLVED)
		snprintf(f->detail, sizeof(f->detail),
			 "remote host %s did not resolve: unresolved, not from a network the "
			 "licence lists (user %s from %s)",
			 o->host, user, from);
	else
		snprintf(f->detail, sizeof(f->detail),
			 "remote access from %s is not from a network the licence lists (user %s "
			 "from %s)",
			 o->address, user, from);
	return 0;
}

int evaluate_process(const struct license *l, const struct eval_process *p, struct eval_result *res)
{
	const char *glob = NULL, *via = NULL,
		   *run_as = p->filename && p->filename[0] == '/' ? p->filename : NULL;
	struct eval_finding *f;

	glob = license_prohibits_executable(l, p->exe);
	/* The name it was run by counts too (a symlink named like the prohibited tool). */
	if (!glob && run_as && (glob = license_prohibits_executable(l, run_as)))
		via = run_as;
	if (glob) {
		f = finding_new(res, "prohibited-executable", "end_use.prohibited_executables");
		if (!f)
			return -ENOMEM;
		finding_process(f, l, p, via);
		snprintf(f->detail, sizeof(f->detail),
			 "executable matches prohibited pattern \"%s\"%s%s", glob,
			 p->filename ? ", run as " : "", p->filename ? p->filename : "");
	} else if (license_prohibits_sha256(l, p->exe_sha256) ||
		   license_prohibits_sha256(l, p->run_sha256)) {
		/* The content, whatever the name: a renamed or copied prohibited program. */
		bool script = !license_prohibits_sha256(l, p->exe_sha256);

		f = finding_new(res, "prohibited-executable",
				"end_use.prohibited_executable_sha256");
		if (!f)
			return -ENOMEM;
		finding_process(f, l, p, !script ? NULL : p->run_path ? p->run_path : p->filename);
		if (script && p->run_path)
			snprintf(f->detail, sizeof(f->detail),
				 "the program it maps, %s, has the prohibited SHA-256 %s",
				 p->run_path, p->run_sha256);
		else
			snprintf(f->detail, sizeof(f->detail),
				 "%s has the prohibited SHA-256 %s%s%s",
				 script ? "the script it runs" : "executable",
				 script ? p->run_sha256 : p->exe_sha256,
				 p->filename ? ", run as " : "", p->filename ? p->filename : "");
	}
	if (p->exe && !license_allows_executable(l, p->exe) &&
	    !(run_as && license_allows_executable(l, run_as))) {
		f = finding_new(res, "unlisted-executable", "end_use.allowed_executables");
		if (!f)
			return -ENOMEM;
		finding_process(f, l, p, NULL);
		snprintf(f->detail, sizeof(f->detail),
			 "executable %s is not in the licence's allowed executables", p->exe);
	}
	/* Remote access concerns every account: a root login over ssh is remote access too. */
	if (evaluate_remote(l, p, res) < 0)
		return -ENOMEM;
	if (p->exempt)
		return 0;
	if (p->user && !license_permits_user(l, p->user, p->groups, p->n_groups)) {
		f = finding_new(res, "unpermitted-user", "principals");
		if (!f)
			return -ENOMEM;
		finding_process(f, l, p, NULL);
		/* Not per executable: one violation per user. */
		snprintf(f->key, sizeof(f->key), "unpermitted-user|%s|%u|%s|", l->id, p->uid,
			 p->exe ? p->exe : "");
		snprintf(f->detail, sizeof(f->detail),
			 "user %s (uid %u) is not a principal of the licence", p->user, p->uid);
	}
	return 0;
}

/* ---- periods ---- */

/* Runs mktime()/localtime_r() in the licence's zone. The daemon is single-threaded; TZ is
 * put back before returning. */
struct tz_saved {
	char *old;
	bool had;
};

static void tz_enter(const char *tz, struct tz_saved *s)
{
	const char *old = getenv("TZ");

	s->had = old != NULL;
	s->old = old ? strdup(old) : NULL;
	setenv("TZ", tz ? tz : "UTC", 1);
	tzset();
}

static void tz_leave(struct tz_saved *s)
{
	if (s->had && s->old)
		setenv("TZ", s->old, 1);
	else
		unsetenv("TZ");
	free(s->old);
	tzset();
}

int64_t eval_period_start(enum license_cap_period period, const char *tz, int64_t now)
{
	struct tz_saved saved;
	time_t t = (time_t)now;
	struct tm tm;
	int64_t start;

	if (period == LICENSE_PERIOD_RUN || period == LICENSE_PERIOD_VALIDITY)
		return 0;
	tz_enter(tz, &saved);
	localtime_r(&t, &tm);
	tm.tm_sec = tm.tm_min = tm.tm_hour = 0;
	if (period != LICENSE_PERIOD_DAY)
		tm.tm_mday = 1;
	if (period == LICENSE_PERIOD_CALENDAR_YEAR)
		tm.tm_mon = 0;
	tm.tm_isdst = -1; /* midnight on the 1st may be in the other offset than now */
	start = (int64_t)mktime(&tm);
	tz_leave(&saved);
	return start;
}

/* ---- caps ---- */

struct cap_ctx {
	const struct license *l;
	const struct license_cap *c;
	const struct eval_input *in;
	struct eval_result *res;
	int64_t period_start;
	char term[80];
	double worst; /* highest fraction seen */
	char worst_subject[128];
	double worst_value;
	unsigned n_subjects;
	int r;
};

static const char *unit_of(const char *metric)
{
	const struct license_metric *m = license_metric_find(metric);

	return m ? m->unit : "";
}

static int cap_finding(struct cap_ctx *x, const char *subject, double value, unsigned level);

static int cap_subject(const char *subject, double value, void *userdata)
{
	struct cap_ctx *x = userdata;
	const struct license_cap *c = x->c;
	double fraction = value / c->limit;
	unsigned level;

	x->n_subjects++;
	if (x->in->cap_observer && x->in->cap_observer->subject)
		x->in->cap_observer->subject(x->in->cap_observer_userdata, x->l, c, subject, value);
	if (fraction > x->worst || x->n_subjects == 1) {
		x->worst = fraction;
		x->worst_value = value;
		copy(x->worst_subject, sizeof(x->worst_subject), subject);
	}
	/* At the cap is within it; only more than the limit violates it. */
	if (value > c->limit)
		level = 0;
	else if (fraction >= APPROACH_HIGH / 100.0)
		level = APPROACH_HIGH;
	else if (fraction >= APPROACH_LOW / 100.0)
		level = APPROACH_LOW;
	else
		return 0;

	/* A cap crossed within one interval was approached too: a monitor always sees the
	 * approach before the violation. */
	if (level == 0 && cap_finding(x, subject, value, APPROACH_HIGH) < 0)
		return x->r = -ENOMEM;
	return cap_finding(x, subject, value, level) < 0 ? (x->r = -ENOMEM) : 0;
}

static int cap_finding(struct cap_ctx *x, const char *subject, double value, unsigned level)
{
	const struct license_cap *c = x->c;
	struct eval_finding *f;

	f = finding_new(x->res, level ? "cap-approaching" : "cap-exceeded", x->term);
	if (!f)
		return -ENOMEM;
	f->level = level;
	f->measured = value;
	f->limit = c->limit;
	copy(f->subject, sizeof(f->subject), subject);
	if (c->scope == LICENSE_SCOPE_JOB)
		copy(f->job, sizeof(f->job), subject);
	snprintf(f->key, sizeof(f->key), "cap|%s|%s|%s|%s|%lld", x->l->id, c->id,
		 license_scope_name(c->scope), subject, (long long)x->period_start);
	snprintf(f->detail, sizeof(f->detail),
		 "%s of %s %s: %.6g %s %s the limit %.6g %s (action %s, per %s%s%s)%s", c->metric,
		 license_scope_name(c->scope), subject[0] ? subject : x->l->id, value,
		 unit_of(c->metric), level ? "approaches" : "exceeds", c->limit, unit_of(c->metric),
		 c->action == LICENSE_ACTION_REPORT ? "report" : "alert",
		 license_period_name(c->period), c->limit_ref ? ", threshold " : "",
		 c->limit_ref ? c->limit_ref : "",
		 !level && c->action == LICENSE_ACTION_REPORT &&
				 x->l->reporting.threshold_within_days ?
			 "; a report is due to the authority" :
			 "");
	return 0;
}

static int evaluate_cap(const struct license *l, const struct license_cap *c,
			const struct eval_input *in, struct eval_result *res)
{
	struct cap_ctx x = { .l = l, .c = c, .in = in, .res = res };
	int64_t from;
	size_t before = res->n_findings;
	int r;

	snprintf(x.term, sizeof(x.term), "caps.%s", c->id);
	x.period_start = eval_period_start(c->period, l->timezone, in->now);
	from = c->period == LICENSE_PERIOD_RUN ? 0 : MAX(x.period_start, l->valid_from);
	if (!in->usage)
		return term_add(res, x.term, EVAL_NOT_EVALUATED,
				"%s per %s per %s at most %.6g %s: no usage source", c->metric,
				license_scope_name(c->scope), license_period_name(c->period),
				c->limit, unit_of(c->metric));
	r = in->usage(in->usage_userdata, c->metric, c->scope, (uint64_t)from * USEC_PER_SEC,
		      (uint64_t)in->now * USEC_PER_SEC, cap_subject, &x);
	if (x.r < 0)
		return x.r;
	if (r == -EOPNOTSUPP)
		return term_add(res, x.term, EVAL_NOT_EVALUATED,
				"%s per %s per %s at most %.6g %s: cannot be evaluated yet, this "
				"node has no source for %s%s",
				c->metric, license_scope_name(c->scope),
				license_period_name(c->period), c->limit, unit_of(c->metric),
				c->scope == LICENSE_SCOPE_ACCOUNT ? "scheduler accounts (" :
				c->scope == LICENSE_SCOPE_PROJECT ? "projects (" :
								    "",
				c->scope == LICENSE_SCOPE_ACCOUNT ||
						c->scope == LICENSE_SCOPE_PROJECT ?
					"job information)" :
					c->metric);
	if (r < 0)
		return term_add(res, x.term, EVAL_NOT_EVALUATED, "cannot read usage: %s",
				strerror(-r));
	if (in->cap_observer && in->cap_observer->evaluated)
		in->cap_observer->evaluated(in->cap_observer_userdata, l, c, x.n_subjects,
					    x.n_subjects ? x.worst_value : 0);
	bool violated = false, approaching = false;
	for (size_t i = before; i < res->n_findings; i++) {
		violated |= res->findings[i].level == 0;
		approaching |= res->findings[i].level != 0;
	}
	return term_add(res, x.term,
			violated    ? EVAL_VIOLATED :
			approaching ? EVAL_APPROACHING :
				      EVAL_OK,
			"%s per %s per %s at most %.6g %s%s%s (action %s); highest now: %.6g %s "
			"(%.1f %%)%s%s",
			c->metric, license_scope_name(c->scope), license_period_name(c->period),
			c->limit, unit_of(c->metric), c->limit_ref ? " from threshold " : "",
			c->limit_ref ? c->limit_ref : "",
			c->action == LICENSE_ACTION_REPORT ? "report" : "alert",
			x.n_subjects ? x.worst_value : 0, unit_of(c->metric),
			x.n_subjects ? x.worst * 100 : 0.0, x.worst_subject[0] ? " for " : "",
			x.worst_subject);
}

/* ---- the node: validity, destination, hardware ---- */

static struct eval_finding *node_finding(struct eval_result *res, const struct license *l,
					 const char *kind, const char *term, const char *what)
{
	struct eval_finding *f = finding_new(res, kind, term);

	if (f)
		snprintf(f->key, sizeof(f->key), "%s|%s|%s", kind, l->id, what);
	return f;
}

static int evaluate_validity(const struct license *l, const struct eval_input *in,
			     struct eval_result *res)
{
	char from[32], until[32];
	time_t fr = l->valid_from, un = l->valid_until;
	struct eval_finding *f;
	struct tm tm;

	strftime(from, sizeof(from), "%Y-%m-%d", gmtime_r(&fr, &tm));
	strftime(until, sizeof(until), "%Y-%m-%d", gmtime_r(&un, &tm));
	if (license_valid_at(l, in->now))
		return term_add(res, "valid", EVAL_OK, "valid from %s through %s (UTC): in force",
				from, until);
	f = node_finding(res, l, "license-not-valid", "valid", "");
	if (!f)
		return -ENOMEM;
	snprintf(f->detail, sizeof(f->detail),
		 "the node is in use outside the licence's validity %s..%s", from, until);
	return term_add(res, "valid", EVAL_VIOLATED, "valid from %s through %s (UTC): %s", from,
			until, in->now < l->valid_from ? "not yet in force" : "expired");
}

static int evaluate_destination(const struct license *l, const struct eval_input *in,
				struct eval_result *res)
{
	const struct license_destination *d = &l->destination;
	struct eval_finding *f;
	bool bad = false, unknown = false;
	int r;

	if (!d->declared)
		return 0;
	if (d->n_hostnames && !strv_contains(d->hostnames, d->n_hostnames, in->hostname)) {
		f = node_finding(res, l, "node-binding", "destination.hostnames", in->hostname);
		if (!f)
			return -ENOMEM;
		snprintf(f->detail, sizeof(f->detail),
			 "host name %s is not one the licence binds to", in->hostname);
		bad = true;
	}
	if (d->n_machine_ids) {
		if (!in->machine_id) {
			unknown = true;
		} else if (!strv_contains(d->machine_ids, d->n_machine_ids, in->machine_id)) {
			f = node_finding(res, l, "node-binding", "destination.machine_ids",
					 in->machine_id);
			if (!f)
				return -ENOMEM;
			snprintf(f->detail, sizeof(f->detail),
				 "machine id %s is not one the licence binds to", in->machine_id);
			bad = true;
		}
	}
	for (size_t i = 0; in->inventory_known && i < in->n_accels; i++) {
		const struct eval_accelerator *a = &in->accels[i];

		if (d->n_pci_bus_ids &&
		    !strv_contains(d->pci_bus_ids, d->n_pci_bus_ids, a->bus_id)) {
			f = node_finding(res, l, "node-binding", "destination.pci_bus_ids",
					 a->bus_id);
			if (!f)
				return -ENOMEM;
			snprintf(f->detail, sizeof(f->detail),
				 "accelerator %s %s at %s is not bound by the licence", a->vendor,
				 a->device, a->bus_id);
			bad = true;
		}
		if (d->n_gpu_uuids && !a->uuid) {
			unknown = true;
		} else if (d->n_gpu_uuids &&
			   !strv_contains(d->gpu_uuids, d->n_gpu_uuids, a->uuid)) {
			f = node_finding(res, l, "node-binding", "destination.gpu_uuids", a->uuid);
			if (!f)
				return -ENOMEM;
			snprintf(f->detail, sizeof(f->detail),
				 "accelerator %s at %s is not bound by the licence", a->uuid,
				 a->bus_id);
			bad = true;
		}
	}
	r = term_add(res, "destination", bad ? EVAL_VIOLATED : EVAL_OK,
		     "bound to %zu host name(s), %zu machine id(s), %zu GPU UUID(s), %zu PCI bus "
		     "id(s); this node: %s%s",
		     d->n_hostnames, d->n_machine_ids, d->n_gpu_uuids, d->n_pci_bus_ids,
		     in->hostname, bad ? " is outside the binding" : " matches");
	if (r == 0 && unknown)
		r = term_add(res, "destination.identity", EVAL_NOT_EVALUATED,
			     "part of the binding cannot be checked: %s",
			     !in->machine_id && d->n_machine_ids ?
				     "the node's machine id is unknown" :
				     "the accelerators' UUIDs are not known on this node");
	if (r == 0 && d->site_country)
		r = term_add(res, "destination.site", EVAL_RECORDED,
			     "site in %s%s%s: recorded for reports, not measurable here",
			     d->site_country, d->site_facility ? ", " : "",
			     d->site_facility ? d->site_facility : "");
	return r;
}

static int evaluate_hardware(const struct license *l, const struct eval_input *in,
			     struct eval_result *res)
{
	static const char *const vendors[] = { "nvidia", "amd", "intel", "other" };
	unsigned declared[ARRAY_SIZE(vendors)] = {}, found[ARRAY_SIZE(vendors)] = {};
	bool bad = false, fewer = false;
	char summary[256] = "";
	size_t len = 0;

	if (!l->hardware_declared)
		return 0;
	if (!in->inventory_known)
		return term_add(res, "hardware", EVAL_NOT_EVALUATED,
				"%zu accelerator type(s) declared: the node's inventory is not "
				"available",
				l->n_hardware);
	for (size_t i = 0; i < l->n_hardware; i++)
		for (size_t v = 0; v < ARRAY_SIZE(vendors); v++)
			if (streq(l->hardware[i].vendor, vendors[v]))
				declared[v] += l->hardware[i].count;
	for (size_t i = 0; i < in->n_accels; i++) {
		size_t v;

		for (v = 0; v < ARRAY_SIZE(vendors) - 1; v++)
			if (streq(in->accels[i].vendor, vendors[v]))
				break;
		found[v]++;
	}
	for (size_t v = 0; v < ARRAY_SIZE(vendors); v++) {
		struct eval_finding *f;

		if (declared[v] || found[v])
			len += snprintf(summary + len,
					len < sizeof(summary) ? sizeof(summary) - len : 0,
					"%s%s %u of %u", len ? ", " : "", vendors[v], found[v],
					declared[v]);
		if (found[v] < declared[v])
			fewer = true;
		if (found[v] <= declared[v])
			continue;
		f = node_finding(res, l, "hardware-undeclared", "hardware", vendors[v]);
		if (!f)
			return -ENOMEM;
		f->measured = found[v];
		f->limit = declared[v];
		snprintf(f->detail, sizeof(f->detail),
			 "%u %s accelerator(s) present, the licence declares %u", found[v],
			 vendors[v], declared[v]);
		bad = true;
	}
	return term_add(res, "hardware", bad ? EVAL_VIOLATED : EVAL_OK,
			"declared accelerators found / declared: %s%s", len ? summary : "none",
			fewer ? " (fewer than declared: a device is missing or failed; not a "
				"violation)" :
				"");
}

/* ---- jobs: accounts and declared end use ---- */

static const char *job_field(const struct eval_job *j, enum license_declaration_source s)
{
	switch (s) {
	case LICENSE_DECL_ACCOUNT:
		return j->account;
	case LICENSE_DECL_WCKEY:
		return j->wckey;
	case LICENSE_DECL_COMMENT:
		return j->comment;
	}
	return NULL;
}

static const struct eval_job *job_find(const struct eval_input *in, const char *job)
{
	for (size_t i = 0; i < in->n_jobs; i++)
		if (streq(in->jobs[i].job, job))
			return &in->jobs[i];
	return NULL;
}

static struct eval_finding *job_finding(struct eval_result *res, const struct license *l,
					const char *kind, const char *term, const char *job)
{
	struct eval_finding *f = finding_new(res, kind, term);

	if (!f)
		return NULL;
	copy(f->job, sizeof(f->job), job);
	copy(f->subject, sizeof(f->subject), job);
	snprintf(f->key, sizeof(f->key), "%s|%s|job|%s", kind, l->id, job);
	return f;
}

static int evaluate_job(const struct license *l, const struct eval_job *j, struct eval_result *res,
			bool *bad)
{
	bool check_accounts = l->principals_restricted && l->n_accounts > 0;
	bool check_decl = l->job_declaration_required || l->n_declarations > 0;
	struct eval_finding *f;

	if (check_accounts && !strv_contains(l->accounts, l->n_accounts, j->account)) {
		f = job_finding(res, l, "unpermitted-account", "principals.accounts", j->job);
		if (!f)
			return -ENOMEM;
		snprintf(f->detail, sizeof(f->detail),
			 "job %s runs under account %s, which is not a principal of the licence",
			 j->job, j->account ? j->account : "(none)");
		*bad = true;
	}
	if (!check_decl)
		return 0;
	const char *code = NULL;
	for (size_t i = 0; i < l->n_declarations && !code; i++) {
		const char *v = job_field(j, l->declarations[i].from);

		if (v && fnmatch(l->declarations[i].match, v, 0) == 0)
			code = l->declarations[i].end_use;
	}
	if (!code) {
		if (!l->job_declaration_required)
			return 0;
		f = job_finding(res, l, "undeclared-end-use", "end_use.job_declaration_required",
				j->job);
		if (!f)
			return -ENOMEM;
		snprintf(f->detail, sizeof(f->detail),
			 "job %s declares no end use (account %s, wckey %s, comment %s match no "
			 "declaration)",
			 j->job, j->account ?: "-", j->wckey ?: "-", j->comment ?: "-");
		*bad = true;
		return 0;
	}
	if (strv_contains(l->prohibited_end_uses, l->n_prohibited_end_uses, code) ||
	    (l->n_permitted_end_uses &&
	     !strv_contains(l->permitted_end_uses, l->n_permitted_end_uses, code))) {
		f = job_finding(res, l, "prohibited-end-use", "end_use.prohibited", j->job);
		if (!f)
			return -ENOMEM;
		snprintf(f->detail, sizeof(f->detail), "job %s declares end use %s, which %s",
			 j->job, code,
			 strv_contains(l->prohibited_end_uses, l->n_prohibited_end_uses, code) ?
				 "the licence prohibits" :
				 "is not among the permitted end uses");
		*bad = true;
	}
	return 0;
}

static int evaluate_jobs(const struct license *l, const struct eval_input *in,
			 struct eval_result *res)
{
	bool need = (l->principals_restricted && l->n_accounts > 0) ||
		    l->job_declaration_required || l->n_declarations > 0;
	bool bad = false;
	unsigned n_jobs = 0, unknown = 0;
	int r;

	if (!need)
		return 0;
	if (!in->jobs_known)
		return term_add(res, "jobs", EVAL_NOT_EVALUATED,
				"scheduler accounts (%zu listed) and declared end uses%s cannot be "
				"evaluated yet: no scheduler job information (account, wckey, "
				"comment) on this node",
				l->n_accounts,
				l->job_declaration_required ? " (required for every job)" : "");
	/* Every job the scheduler announced as running here, whether or not its processes
	 * have started yet (a prolog announces a job before its first step). */
	for (size_t i = 0; i < in->n_jobs; i++) {
		const struct eval_origin *o = in->jobs[i].origin;
		size_t first = res->n_findings;

		n_jobs++;
		r = evaluate_job(l, &in->jobs[i], res, &bad);
		if (r < 0)
			return r;
		/* Where the job came from is recorded with each of its violations. */
		for (size_t k = first; o && k < res->n_findings; k++) {
			struct eval_finding *f = &res->findings[k];
			size_t n = strlen(f->detail);

			snprintf(f->detail + n, sizeof(f->detail) - n, " (submitted from %s)",
				 o->host);
		}
	}
	/* Then each job seen only through its processes' cgroups, once. */
	for (size_t i = 0; i < in->n_procs; i++) {
		const char *job = in->procs[i].job;
		bool seen = false;

		if (!job || !job[0] || job_find(in, job))
			continue;
		for (size_t k = 0; k < i && !seen; k++)
			seen = in->procs[k].job && streq(in->procs[k].job, job);
		if (seen)
			continue;
		n_jobs++;
		unknown++;
	}
	return term_add(res, "jobs", bad ? EVAL_VIOLATED : EVAL_OK,
			"%u running job(s) checked for account and declared end use%s", n_jobs,
			unknown ? " (some without scheduler information)" : "");
}

/* ---- principals.remote_access: its standing now ---- */

static int evaluate_remote_term(const struct license *l, const struct eval_input *in,
				struct eval_result *res)
{
	const struct license_remote_access *ra = &l->remote_access;
	unsigned remote = 0, bad = 0;
	char what[256];
	size_t len;

	if (ra->mode == LICENSE_REMOTE_UNRESTRICTED)
		return 0;
	if (ra->mode == LICENSE_REMOTE_LIMITED)
		len = snprintf(what, sizeof(what), "limited to %zu listed application(s)",
			       ra->n_applications);
	else
		len = snprintf(what, sizeof(what), "%s",
			       ra->mode == LICENSE_REMOTE_NONE ? "not allowed" : "allowed, full");
	for (size_t i = 0; i < ra->n_from && len < sizeof(what); i++)
		len += snprintf(what + len, sizeof(what) - len, "%s%s",
				i ? ", " : ", from networks in ", ra->from[i].country);
	if (in->sessions_unknown)
		return term_add(res, "principals.remote_access", EVAL_NOT_EVALUATED,
				"remote access %s: cannot be evaluated on this node: %s", what,
				in->sessions_unknown);
	for (size_t i = 0; i < in->n_procs; i++) {
		struct eval_result one = {};
		int r;

		if (!in->procs[i].origin)
			continue;
		remote++;
		r = evaluate_remote(l, &in->procs[i], &one);
		bad += one.n_findings > 0;
		eval_result_done(&one);
		if (r < 0)
			return r;
	}
	return term_add(res, "principals.remote_access", bad ? EVAL_VIOLATED : EVAL_OK,
			"remote access %s: checked at every exec in login sessions with a remote "
			"host and in jobs submitted from another host; now %u remote process(es)%s",
			what, remote, bad ? ", some of them in violation" : "");
}

/* ---- one licence ---- */

static int describe_static_terms(const struct license *l, struct eval_result *res)
{
	int r = 0;

	if (l->principals_restricted)
		r = term_add(res, "principals", EVAL_OK,
			     "only users %zu listed, members of %zu group(s) and %zu scheduler "
			     "account(s) may use the node; checked at every exec",
			     l->n_users, l->n_groups, l->n_accounts);
	if (r == 0 && l->n_prohibited_executables)
		r = term_add(res, "end_use.prohibited_executables", EVAL_OK,
			     "%zu prohibited executable pattern(s), checked at every exec",
			     l->n_prohibited_executables);
	if (r == 0 && l->n_prohibited_sha256)
		r = term_add(res, "end_use.prohibited_executable_sha256", EVAL_OK,
			     "%zu prohibited executable digest(s), checked at every exec",
			     l->n_prohibited_sha256);
	if (r == 0 && l->n_allowed_executables)
		r = term_add(res, "end_use.allowed_executables", EVAL_OK,
			     "only %zu allowed executable pattern(s) may run, checked at every "
			     "exec",
			     l->n_allowed_executables);
	if (r == 0 && l->reporting.periodic)
		r = term_add(res, "reporting", EVAL_RECORDED, "%s reports%s%s",
			     l->reporting.periodic, l->reporting.recipient ? " to " : "",
			     l->reporting.recipient ? l->reporting.recipient : "");
	if (r == 0 && l->reporting.threshold_within_days)
		r = term_add(res, "reporting.threshold_within_days", EVAL_RECORDED,
			     "a crossed cap with action report is reported within %u days",
			     l->reporting.threshold_within_days);
	if (r == 0)
		r = term_add(res, "records", EVAL_RECORDED, "records kept %u years",
			     l->retention_years);
	if (r == 0)
		r = term_add(res, "measurement", EVAL_RECORDED,
			     "metering gaps count %s; dual-meter tolerance %.3g",
			     l->gap_policy == LICENSE_GAP_VIOLATION ? "as a violation" :
								      "at the maximum rate",
			     l->dual_meter_tolerance);
	return r;
}

int evaluate_license(const struct license *l, const struct eval_input *in, struct eval_result *res)
{
	int r;

	r = evaluate_validity(l, in, res);
	if (r < 0)
		return r;
	r = describe_static_terms(l, res);
	if (r < 0)
		return r;
	r = evaluate_remote_term(l, in, res);
	if (r < 0)
		return r;
	r = evaluate_destination(l, in, res);
	if (r < 0)
		return r;
	r = evaluate_hardware(l, in, res);
	if (r < 0)
		return r;
	r = evaluate_jobs(l, in, res);
	if (r < 0)
		return r;
	for (size_t i = 0; i < l->n_caps; i++) {
		r = evaluate_cap(l, &l->caps[i], in, res);
		if (r < 0)
			return r;
	}
	return 0;
}

int evaluate_license_caps(const struct license *l, const struct eval_input *in,
			  struct eval_result *res)
{
	int r = evaluate_validity(l, in, res);

	for (size_t i = 0; r >= 0 && i < l->n_caps; i++)
		r = evaluate_cap(l, &l->caps[i], in, res);
	return r < 0 ? r : 0;
}

/* ---- the lifecycle ---- */

struct tracked {
	char *key;
	uint64_t seq; /* violations; 0 for an approach level */
	unsigned level; /* approach entries: the highest level announced */
	uint64_t generation;
};

struct eval_tracker {
	void *open; /* tsearch tree of struct tracked (violations), by key */
	void *approached; /* tsearch tree of struct tracked (approach levels), by key */
	size_t n_open;
	uint64_t generation;
};

static int tracked_cmp(const void *a, const void *b)
{
	return strcmp(((const struct tracked *)a)->key, ((const struct tracked *)b)->key);
}

static void tracked_free(void *p)
{
	struct tracked *t = p;

	free(t->key);
	free(t);
}

int eval_tracker_new(struct eval_tracker **ret)
{
	*ret = calloc(1, sizeof(**ret));
	return *ret ? 0 : -ENOMEM;
}

void eval_tracker_free(struct eval_tracker *t)
{
	if (!t)
		return;
	tdestroy(t->open, tracked_free);
	tdestroy(t->approached, tracked_free);
	free(t);
}

size_t eval_tracker_open(const struct eval_tracker *t)
{
	return t->n_open;
}

static struct tracked *tracked_add(void **root, const char *key, uint64_t seq)
{
	struct tracked *e = calloc(1, sizeof(*e)), **node;

	if (!e || !(e->key = strdup(key))) {
		free(e);
		return NULL;
	}
	e->seq = seq;
	node = tsearch(e, root, tracked_cmp);
	if (!node) {
		tracked_free(e);
		return NULL;
	}
	if (*node != e) { /* already there */
		tracked_free(e);
		return *node;
	}
	return e;
}

static struct tracked *tracked_find(void *const *root, const char *key)
{
	struct tracked k = { .key = (char *)key }, **node = tfind(&k, root, tracked_cmp);

	return node ? *node : NULL;
}

int eval_tracker_adopt(struct eval_tracker *t, const char *key, uint64_t seq)
{
	struct tracked *e = tracked_find(&t->open, key);

	if (e)
		return 0;
	e = tracked_add(&t->open, key, seq);
	if (!e)
		return -ENOMEM;
	e->generation = t->generation;
	t->n_open++;
	return 0;
}

struct stale {
	uint64_t generation;
	struct tracked **list;
	size_t n, cap;
};

static void stale_visit(const void *node, VISIT which, void *closure)
{
	struct stale *s = closure;
	struct tracked *e = *(struct tracked *const *)node;

	if (which != postorder && which != leaf)
		return;
	if (e->generation == s->generation)
		return;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		struct tracked **l = reallocarray(s->list, cap, sizeof(*l));

		if (!l)
			return;
		s->list = l;
		s->cap = cap;
	}
	s->list[s->n++] = e;
}

/* Each level between the one announced before and the one reached, in order: a jump from
 * 50 % to 97 % announces 80 % and then 95 %. */
static void announce_levels(struct tracked *e, const struct eval_finding *f,
			    const struct eval_tracker_ops *ops, void *userdata)
{
	static const unsigned levels[] = { APPROACH_LOW, APPROACH_HIGH };

	for (size_t i = 0; i < ARRAY_SIZE(levels); i++) {
		struct eval_finding g;

		if (levels[i] <= e->level || levels[i] > f->level)
			continue;
		g = *f;
		g.level = levels[i];
		ops->approaching(&g, userdata);
	}
	e->level = f->level;
}

int eval_tracker_update(struct eval_tracker *t, const struct eval_result *res,
			const struct eval_tracker_ops *ops, void *userdata)
{
	struct stale s = {};

	t->generation++;
	for (size_t i = 0; i < res->n_findings; i++) {
		const struct eval_finding *f = &res->findings[i];
		void **root = f->level ? &t->approached : &t->open;
		struct tracked *e = tracked_find(root, f->key);

		if (e) {
			e->generation = t->generation;
			if (f->level > e->level)
				announce_levels(e, f, ops, userdata);
			continue;
		}
		e = tracked_add(root, f->key, 0);
		if (!e)
			return -ENOMEM;
		e->generation = t->generation;
		if (f->level) {
			announce_levels(e, f, ops, userdata);
		} else {
			e->seq = ops->raise(f, userdata);
			t->n_open++;
		}
	}

	/* A violation not found this time has ended. */
	s.generation = t->generation;
	twalk_r(t->open, stale_visit, &s);
	for (size_t i = 0; i < s.n; i++) {
		struct tracked *e = s.list[i];

		ops->clear(e->seq, e->key, userdata);
		tdelete(e, &t->open, tracked_cmp);
		tracked_free(e);
		t->n_open--;
	}
	/* An approach level is forgotten when the usage falls below 80 % (a new period):
	 * the next approach is announced again. */
	s.n = 0;
	twalk_r(t->approached, stale_visit, &s);
	for (size_t i = 0; i < s.n; i++) {
		tdelete(s.list[i], &t->approached, tracked_cmp);
		tracked_free(s.list[i]);
	}
	free(s.list);
	return 0;
}
