// SPDX-License-Identifier: GPL-2.0-only
/* The newer members of the D-Bus API: GetUsageFiltered, AcknowledgeViolation and
 * ListAcknowledgements, GetReport (a signed report through a sealed memfd, built in a child
 * process so that the loop goes on metering), the MeterStates and ActiveViolations properties
 * and the MeterStateChanged signal. Registered in manager-bus.c; contract in org.hpcmeter1.xml. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ledger-query.h"
#include "manager-bus-ext.h"
#include "manager.h"
#include "report.h"
#include "sign.h"
#include "util.h"

/* Times past the year 9999 are a mistake, not a range. */
#define USEC_MAX_SANE (253402300799ULL * USEC_PER_SEC)
#define FILTER_STR_MAX 256
#define NOTE_MAX 4096
#define REPORTS_MAX 2 /* built at the same time */
#define REPORT_TIMEOUT_USEC (300 * USEC_PER_SEC)

enum meter_kind { MK_CPU, MK_GPU, MK_MODULE, MK_LEDGER, MK_N };
static const char *const meter_names[MK_N] = { "bpf-cpu", "gpu", "kernel-module", "ledger" };

struct report_job {
	struct manager *m;
	sd_bus_message *call;
	pid_t pid;
	int memfd, status_fd;
	sd_event_source *io, *timer;
	char license_id[FILTER_STR_MAX + 1];
	uint64_t from_usec, to_usec;
	char format[8];
	char status[512];
	size_t status_len;
	struct report_job *next;
};

struct bus_ext {
	char states[MK_N][300];
	bool have_states;
	uint64_t state_seq;
	sd_event_source *defer;
	bool pending_active;
	struct report_job *reports;
	unsigned n_reports;
};

static struct bus_ext *ext(struct manager *m)
{
	if (!m->bus_ext)
		m->bus_ext = calloc(1, sizeof(struct bus_ext));
	return m->bus_ext;
}

/* ---- properties ---- */

static void meter_states_now(struct manager *m, char st[MK_N][300])
{
	char ledger[256];

	if (!m->meter)
		snprintf(st[MK_CPU], sizeof(st[MK_CPU]), "off");
	else if (manager_gap_is_open(m, "probe-detached"))
		snprintf(st[MK_CPU], sizeof(st[MK_CPU]), "detached");
	else
		snprintf(st[MK_CPU], sizeof(st[MK_CPU]), "attached");
	snprintf(st[MK_GPU], sizeof(st[MK_GPU]), "%s", m->gpu_state[0] ? m->gpu_state : "off");
	snprintf(st[MK_MODULE], sizeof(st[MK_MODULE]), "%s", kmeter_state(m->kmeter));
	manager_ledger_state(m, ledger, sizeof(ledger));
	/* "degraded: REASON (N records ...)": the count changes all the time, the state not. */
	snprintf(st[MK_LEDGER], sizeof(st[MK_LEDGER]), "%s",
		 strncmp(ledger, "degraded", 8) == 0 ? "degraded" : ledger);
}

int bus_property_meter_states(sd_bus *bus, const char *path, const char *interface,
			      const char *property, sd_bus_message *reply, void *userdata,
			      sd_bus_error *error)
{
	char st[MK_N][300];
	int r;

	meter_states_now(userdata, st);
	r = sd_bus_message_open_container(reply, 'a', "{ss}");
	for (int i = 0; r >= 0 && i < MK_N; i++) {
		_cleanup_free_ char *s = utf8_escape_invalid(st[i]);

		r = s ? sd_bus_message_append(reply, "{ss}", meter_names[i], s) : -ENOMEM;
	}
	return r < 0 ? r : sd_bus_message_close_container(reply);
}

static int count_open(uint64_t seq, const char *key, void *userdata)
{
	(*(uint32_t *)userdata)++;
	return 0;
}

int bus_property_active_violations(sd_bus *bus, const char *path, const char *interface,
				   const char *property, sd_bus_message *reply, void *userdata,
				   sd_bus_error *error)
{
	struct manager *m = userdata;
	uint32_t n = 0;
	int r = ledger_list_open_violations(m->ledger, count_open, &n);

	if (r < 0)
		return sd_bus_error_set_errnof(error, -r, "Cannot read open violations: %s",
					       strerror(-r));
	return sd_bus_message_append(reply, "u", n);
}

static int on_defer(sd_event_source *s, void *userdata)
{
	struct manager *m = userdata;
	struct bus_ext *e = m->bus_ext;

	e->defer = sd_event_source_unref(e->defer);
	if (!m->bus)
		return 0;
	if (e->pending_active)
		sd_bus_emit_properties_changed(m->bus, HPCMETER_OBJECT_PATH,
					       HPCMETER_VIOLATIONS_IFACE, "ActiveViolations", NULL);
	e->pending_active = false;
	return 0;
}

void bus_properties_changed_later(struct manager *m, const char *property)
{
	struct bus_ext *e = ext(m);

	if (!e || !m->bus)
		return;
	if (streq(property, "ActiveViolations"))
		e->pending_active = true;
	if (!e->defer && sd_event_add_defer(m->event, &e->defer, on_defer, m) < 0)
		log_warning("cannot schedule the %s change signal", property);
}

void bus_meter_states_check(struct manager *m)
{
	struct bus_ext *e = ext(m);
	char now[MK_N][300];
	bool changed = false;

	if (!e || !m->bus)
		return;
	meter_states_now(m, now);
	if (!e->have_states) {
		memcpy(e->states, now, sizeof(now));
		e->have_states = true;
		return;
	}
	for (int i = 0; i < MK_N; i++) {
		uint64_t t = now_realtime_usec();
		int r;

		if (streq(now[i], e->states[i]))
			continue;
		changed = true;
		snprintf(e->states[i], sizeof(e->states[i]), "%s", now[i]);
		e->state_seq++;
		log_notice("meter %s: %s", meter_names[i], now[i]);
		/* records.c records the ledger's own state changes. */
		if (i != MK_LEDGER)
			ledger_add_meter_state(m->ledger, t, meter_names[i], now[i], "");
		_cleanup_free_ char *s = utf8_escape_invalid(now[i]);
		r = s ? sd_bus_emit_signal(m->bus, HPCMETER_OBJECT_PATH, HPCMETER_METER_IFACE,
					   "MeterStateChanged", HPCMETER_SIG_METER_STATE_FIELDS,
					   e->state_seq, t, meter_names[i], s) :
			-ENOMEM;
		if (r < 0)
			log_warning("cannot emit MeterStateChanged #%llu: %s",
				    (unsigned long long)e->state_seq, strerror(-r));
	}
	if (changed)
		sd_bus_emit_properties_changed(m->bus, HPCMETER_OBJECT_PATH, HPCMETER_METER_IFACE,
					       "MeterStates", NULL);
}

/* ---- GetUsageFiltered ---- */

struct usage_filter {
	const char *job, *user, *account, *license;
	uint32_t uid;
	bool have_uid;
	uint64_t from_usec, to_usec;
	bool have_from, have_to;
	char **jobs; /* of the account */
	size_t n_jobs;
	void *reply;
};

static const struct {
	const char *key;
	const char *type;
} filter_keys[] = {
	{ "job", "s" },	    { "user", "s" },	  { "uid", "u" },     { "account", "s" },
	{ "license", "s" }, { "from_usec", "t" }, { "to_usec", "t" },
};

static int invalid(sd_bus_error *error, const char *fmt, const char *a, const char *b)
{
	return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, fmt, a, b);
}

static int read_filter(sd_bus_message *msg, struct usage_filter *f, sd_bus_error *error)
{
	unsigned seen = 0;
	int r;

	r = sd_bus_message_enter_container(msg, 'a', "{sv}");
	if (r < 0)
		return r;
	while ((r = sd_bus_message_enter_container(msg, 'e', "sv")) > 0) {
		const char *key, *contents, *s = NULL;
		size_t k;

		r = sd_bus_message_read(msg, "s", &key);
		if (r < 0)
			return r;
		for (k = 0; k < ARRAY_SIZE(filter_keys); k++)
			if (streq(key, filter_keys[k].key))
				break;
		if (k == ARRAY_SIZE(filter_keys))
			return invalid(error,
				       "Unknown filter key \"%s\" (known: job, user, uid, account, "
				       "license, from_usec, to_usec)%s",
				       key, "");
		if (seen & (1u << k))
			return invalid(error, "Filter key \"%s\" given twice%s", key, "");
		seen |= 1u << k;
		r = sd_bus_message_peek_type(msg, NULL, &contents);
		if (r < 0)
			return r;
		if (!streq(contents, filter_keys[k].type))
			return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
						 "Filter key \"%s\" must be of type '%s', not '%s'",
						 key, filter_keys[k].type, contents);
		r = sd_bus_message_enter_container(msg, 'v', contents);
		if (r < 0)
			return r;
		if (contents[0] == 's') {
			r = sd_bus_message_read(msg, "s", &s);
			if (r >= 0 && (!s[0] || strlen(s) > FILTER_STR_MAX))
				return sd_bus_error_setf(
					error, SD_BUS_ERROR_INVALID_ARGS,
					"Filter key \"%s\": expected 1 to %d bytes", key,
					FILTER_STR_MAX);
		}
		if (r >= 0) {
			if (streq(key, "job"))
				f->job = s;
			else if (streq(key, "user"))
				f->user = s;
			else if (streq(key, "account"))
				f->account = s;
			else if (streq(key, "license"))
				f->license = s;
			else if (streq(key, "uid"))
				r = sd_bus_message_read(msg, "u", &f->uid), f->have_uid = true;
			else if (streq(key, "from_usec"))
				r = sd_bus_message_read(msg, "t", &f->from_usec),
				f->have_from = true;
			else
				r = sd_bus_message_read(msg, "t", &f->to_usec), f->have_to = true;
		}
		if (r < 0 || (r = sd_bus_message_exit_container(msg)) < 0 ||
		    (r = sd_bus_message_exit_container(msg)) < 0)
			return r;
	}
	if (r < 0)
		return r;
	r = sd_bus_message_exit_container(msg);
	if (r < 0)
		return r;
	if (f->have_from && f->from_usec > USEC_MAX_SANE)
		return invalid(error, "from_usec is past the year 9999%s%s", "", "");
	if (f->have_to && f->to_usec > USEC_MAX_SANE)
		return invalid(error, "to_usec is past the year 9999%s%s", "", "");
	if (f->have_from && f->have_to && f->to_usec <= f->from_usec)
		return invalid(error, "to_usec must be after from_usec%s%s", "", "");
	if (!f->have_to)
		f->to_usec = UINT64_MAX;
	return 0;
}

static int collect_account_job(const struct job_info *j, void *userdata)
{
	struct usage_filter *f = userdata;
	char **v;

	if (!j->account || !streq(j->account, f->account))
		return 0;
	v = realloc(f->jobs, (f->n_jobs + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	f->jobs = v;
	f->jobs[f->n_jobs] = strdup(j->id);
	if (!f->jobs[f->n_jobs])
		return -ENOMEM;
	f->n_jobs++;
	return 0;
}

static int append_filtered(const struct usage_row *u, void *userdata)
{
	struct usage_filter *f = userdata;

	if ((f->job && !streq(u->job, f->job)) || (f->user && !streq(u->user, f->user)) ||
	    (f->have_uid && u->uid != f->uid))
		return 0;
	if (f->account) {
		size_t i;

		for (i = 0; i < f->n_jobs && !streq(f->jobs[i], u->job); i++)
			;
		if (i == f->n_jobs)
			return 0;
	}
	return sd_bus_message_append(f->reply, HPCMETER_SIG_USAGE, u->cgroup, u->job, u->uid,
				     u->user, u->cpu_ns, u->first_usec, u->last_usec);
}

static const struct license *license_loaded(struct manager *m, const char *id)
{
	for (size_t i = 0; m->licenses && i < m->licenses->n_entries; i++) {
		const struct license *l = m->licenses->entries[i].license;

		if (l && streq(l->id, id))
			return l;
	}
	return NULL;
}

static void filter_free(struct usage_filter *f)
{
	for (size_t i = 0; i < f->n_jobs; i++)
		free(f->jobs[i]);
	free(f->jobs);
}

int bus_method_get_usage_filtered(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	struct manager *m = userdata;
	struct usage_filter f = {};
	uint64_t from, to;
	int r;

	r = read_filter(msg, &f, error);
	if (r < 0)
		return r;
	from = f.have_from ? f.from_usec : 0;
	to = f.to_usec;
	if (f.license) {
		const struct license *l = license_loaded(m, f.license);

		if (!l)
			return sd_bus_error_setf(error, HPCMETER_ERROR_NO_SUCH_LICENSE,
						 "No licence with id \"%s\" is loaded", f.license);
		/* The licence's validity: [from, until] in seconds, until inclusive. */
		if ((uint64_t)l->valid_from * USEC_PER_SEC > from)
			from = (uint64_t)l->valid_from * USEC_PER_SEC;
		if (((uint64_t)l->valid_until + 1) * USEC_PER_SEC < to)
			to = ((uint64_t)l->valid_until + 1) * USEC_PER_SEC;
	}
	r = sd_bus_message_new_method_return(msg, &reply);
	if (r >= 0)
		r = sd_bus_message_open_container(reply, 'a', HPCMETER_SIG_USAGE);
	if (r >= 0 && f.account)
		r = ledger_list_jobs(m->ledger, 0, collect_account_job, &f);
	f.reply = reply;
	if (r >= 0 && from < to)
		r = ledger_list_usage_between(m->ledger, from, to, append_filtered, &f);
	filter_free(&f);
	if (r < 0)
		return sd_bus_error_set_errnof(error, -r, "Cannot read usage from the ledger: %s",
					       strerror(-r));
	r = sd_bus_message_close_container(reply);
	if (r < 0)
		return r;
	return sd_bus_send(NULL, reply, NULL);
}

/* ---- acknowledgements ---- */

static int find_ack(const struct violation_ack *a, void *userdata)
{
	uint64_t *seq = userdata;

	if (a->seq == *seq)
		*seq = 0;
	return 0;
}

static bool note_valid(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 && *p != '\t')
			return false;
	return true;
}

int bus_method_acknowledge(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	_cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
	struct manager *m = userdata;
	struct violation_ack a = { .time_usec = now_realtime_usec() };
	uint64_t last = ledger_last_violation_seq(m->ledger), seen;
	uid_t euid;
	int r;

	r = sd_bus_message_read(msg, "ts", &a.seq, &a.note);
	if (r < 0)
		return r;
	/* The bus policy lets only root call this; the sender's own euid is checked as well. */
	r = sd_bus_query_sender_creds(msg, SD_BUS_CREDS_EUID | SD_BUS_CREDS_AUGMENT, &creds);
	if (r >= 0)
		r = sd_bus_creds_get_euid(creds, &euid);
	if (r < 0)
		return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
					 "Cannot tell who is calling: %s", strerror(-r));
	if (euid != 0)
		return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
					 "Only root may acknowledge a violation (caller uid %u)",
					 (unsigned)euid);
	if (strlen(a.note) > NOTE_MAX || !note_valid(a.note))
		return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
					 "The note must be at most %d bytes without control "
					 "characters",
					 NOTE_MAX);
	if (a.seq == 0 || a.seq > last)
		return sd_bus_error_setf(error, HPCMETER_ERROR_NO_SUCH_VIOLATION,
					 "No violation #%llu (the last is #%llu)",
					 (unsigned long long)a.seq, (unsigned long long)last);
	a.uid = euid;
	/* One acknowledgement per violation: a second is an error, not a second record. */
	seen = a.seq;
	r = ledger_list_acks(m->ledger, a.seq - 1, find_ack, &seen);
	if (r >= 0 && seen == 0)
		return sd_bus_error_setf(error, HPCMETER_ERROR_ALREADY_ACKNOWLEDGED,
					 "Violation #%llu is acknowledged already",
					 (unsigned long long)a.seq);
	if (r >= 0)
		r = ledger_acknowledge_violation(m->ledger, a.seq, a.time_usec, a.uid, a.note);
	if (r == -ENOENT)
		return sd_bus_error_setf(error, HPCMETER_ERROR_NO_SUCH_VIOLATION,
					 "No violation #%llu", (unsigned long long)a.seq);
	if (r < 0)
		return sd_bus_error_set_errnof(
			error, -r, "Cannot record the acknowledgement in the ledger: %s",
			strerror(-r));
	log_notice("violation #%llu acknowledged by uid %u: %s", (unsigned long long)a.seq,
		   (unsigned)a.uid, a.note);
	r = sd_bus_emit_signal(m->bus, HPCMETER_OBJECT_PATH, HPCMETER_VIOLATIONS_IFACE,
			       "ViolationAcknowledged", HPCMETER_SIG_ACK_FIELDS, a.seq, a.time_usec,
			       a.uid, a.note);
	if (r < 0)
		log_warning("cannot emit ViolationAcknowledged #%llu: %s (it is in the ledger)",
			    (unsigned long long)a.seq, strerror(-r));
	return sd_bus_reply_method_return(msg, NULL);
}

static int append_ack(const struct violation_ack *a, void *userdata)
{
	_cleanup_free_ char *note = utf8_escape_invalid(a->note);

	return note ? sd_bus_message_append(userdata, HPCMETER_SIG_ACK, a->seq, a->time_usec,
					    a->uid, note) :
		      -ENOMEM;
}

int bus_method_list_acks(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	struct manager *m = userdata;
	uint64_t since;
	int r;

	r = sd_bus_message_read(msg, "t", &since);
	if (r < 0)
		return r;
	r = sd_bus_message_new_method_return(msg, &reply);
	if (r >= 0)
		r = sd_bus_message_open_container(reply, 'a', HPCMETER_SIG_ACK);
	if (r < 0)
		return r;
	r = ledger_list_acks(m->ledger, since, append_ack, reply);
	if (r < 0)
		return sd_bus_error_set_errnof(error, -r,
					       "Cannot read acknowledgements from the ledger: %s",
					       strerror(-r));
	r = sd_bus_message_close_container(reply);
	if (r < 0)
		return r;
	return sd_bus_send(NULL, reply, NULL);
}

/* ---- GetReport ---- */

/* The child: the report into memfd, then "0 SHA256 SIGNATURE" (base64; "0" alone for a table)
 * or "-ERRNO" on status_fd. Runs report_render() (lib/report.c), hpcmeterctl report's own
 * generator, over a read-only connection of its own. */
static _Noreturn void report_child(struct manager *m, struct report_job *j, int status_fd)
{
	struct report_args a = {
		.license_id = j->license_id,
		.from_usec = j->from_usec,
		.to_usec = j->to_usec,
		.fmt = streq(j->format, "json") ? FMT_JSON :
		       streq(j->format, "csv")	? FMT_CSV :
						  FMT_TABLE,
	};
	char path[4200], err[512], sha[65] = "", b64[4 * ((SIGN_LEN + 2) / 3) + 1] = "";
	uint8_t sig[SIGN_LEN];
	char *doc = NULL;
	size_t len = 0, off = 0;
	int r;

	if (a.fmt != FMT_TABLE) {
		snprintf(path, sizeof(path), "%s/%s", m->cfg.state_dir, SIGN_KEY_FILE);
		if (sign_load_private(path, &a.key, err, sizeof(err)) < 0) {
			dprintf(status_fd, "%d cannot load the node key: %s", -EPERM, err);
			_exit(1);
		}
	}
	r = ledger_query_open_readonly(ledger_path(m->ledger), &a.db);
	if (r >= 0)
		r = report_render(&a, &doc, &len, sha, sig);
	while (r >= 0 && off < len) {
		ssize_t n = write(j->memfd, doc + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			r = -errno;
		else
			off += n;
	}
	if (r < 0)
		dprintf(status_fd, "%d", r);
	else if (sha[0]) {
		sign_base64(sig, SIGN_LEN, b64);
		dprintf(status_fd, "0 %s %s", sha, b64);
	} else
		dprintf(status_fd, "0");
	_exit(r < 0 ? 1 : 0);
}

static void report_job_free(struct report_job *j)
{
	struct bus_ext *e = j->m->bus_ext;

	for (struct report_job **p = &e->reports; *p; p = &(*p)->next)
		if (*p == j) {
			*p = j->next;
			break;
		}
	e->n_reports--;
	if (j->pid > 0) {
		kill(j->pid, SIGKILL);
		waitpid(j->pid, NULL, 0);
	}
	sd_event_source_disable_unref(j->io);
	sd_event_source_disable_unref(j->timer);
	if (j->memfd >= 0)
		close(j->memfd);
	if (j->status_fd >= 0)
		close(j->status_fd);
	sd_bus_message_unref(j->call);
	free(j);
}

static void report_fail(struct report_job *j, const char *name, const char *fmt, const char *a)
{
	_cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

	sd_bus_error_setf(&error, name, fmt, a);
	sd_bus_reply_method_error(j->call, &error);
	report_job_free(j);
}

static void report_done(struct report_job *j)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	struct manager *m = j->m;
	int status = 0, err = 0, n;
	uint64_t id = 0;
	char sha[65] = "", b64[4 * ((SIGN_LEN + 2) / 3) + 1] = "", msg[600];
	uint8_t sig[SIGN_LEN];
	struct stat st;
	int r;

	waitpid(j->pid, &status, 0);
	j->pid = 0;
	j->status[j->status_len] = '\0';
	n = sscanf(j->status, "%d %64s %88s", &err, sha, b64);
	if (n < 1 || !WIFEXITED(status) || (err == 0 && WEXITSTATUS(status) != 0) ||
	    (err == 0 && n == 3 && sign_unbase64(b64, sig, sizeof(sig)) != SIGN_LEN) ||
	    (err == 0 && n == 2))
		err = -EIO;
	if (err == -ENOENT) {
		snprintf(msg, sizeof(msg),
			 "Licence \"%s\" was never loaded on this node before the "
			 "end of the period",
			 j->license_id);
		return report_fail(j, HPCMETER_ERROR_NO_SUCH_LICENSE, "%s", msg);
	}
	if (err < 0) {
		const char *why = strchr(j->status, ' ');

		snprintf(msg, sizeof(msg), "Cannot build the report: %s",
			 why ? why + 1 : strerror(-err));
		return report_fail(j, HPCMETER_ERROR_REPORT_FAILED, "%s", msg);
	}
	/* The caller gets a sealed file: it cannot change under it, nor can it grow. */
	if (fstat(j->memfd, &st) < 0 ||
	    fcntl(j->memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) <
		    0 ||
	    lseek(j->memfd, 0, SEEK_SET) < 0)
		return report_fail(j, HPCMETER_ERROR_REPORT_FAILED, "Cannot seal the report: %s",
				   strerror(errno));
	if (sha[0]) {
		/* A signed report was issued: the ledger says so, as after hpcmeterctl report. */
		r = ledger_add_report(m->ledger, now_realtime_usec(), j->license_id, j->from_usec,
				      j->to_usec, j->format, sha, &id);
		if (r < 0)
			log_warning("GetReport: the report was not recorded in the ledger: %s",
				    strerror(-r));
		ledger_commit(m->ledger);
	}
	/* and the detached signature of the file's bytes (none for a table) */
	r = sd_bus_message_new_method_return(j->call, &reply);
	if (r >= 0)
		r = sd_bus_message_append(reply, "hts", j->memfd, (uint64_t)st.st_size, sha);
	if (r >= 0)
		r = sd_bus_message_append_array(reply, 'y', sig, sha[0] ? SIGN_LEN : 0);
	if (r >= 0)
		r = sd_bus_send(NULL, reply, NULL);
	if (r < 0)
		log_warning("GetReport: cannot send the reply: %s", strerror(-r));
	report_job_free(j);
}

static int on_report_status(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct report_job *j = userdata;
	ssize_t n;

	n = read(fd, j->status + j->status_len, sizeof(j->status) - 1 - j->status_len);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n > 0 && j->status_len + n < sizeof(j->status) - 1) {
		j->status_len += n;
		return 0;
	}
	if (n > 0)
		j->status_len += n;
	report_done(j); /* EOF: the child has exited */
	return 0;
}

static int on_report_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct report_job *j = userdata;

	log_warning("GetReport: licence %s took longer than %llu s: stopped", j->license_id,
		    (unsigned long long)(REPORT_TIMEOUT_USEC / USEC_PER_SEC));
	report_fail(j, HPCMETER_ERROR_REPORT_FAILED,
		    "The report took longer than %s seconds: ask for a shorter period", "300");
	return 0;
}

int bus_method_get_report(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	struct manager *m = userdata;
	struct bus_ext *e = ext(m);
	const char *license_id, *format;
	uint64_t from, to;
	struct report_job *j;
	int pfd[2], r;

	r = sd_bus_message_read(msg, "stts", &license_id, &from, &to, &format);
	if (r < 0)
		return r;
	if (!e)
		return -ENOMEM;
	if (!license_id[0] || strlen(license_id) > FILTER_STR_MAX)
		return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
					 "license_id: expected 1 to %d bytes", FILTER_STR_MAX);
	if (!streq(format, "json") && !streq(format, "csv") && !streq(format, "table"))
		return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
					 "Unknown format \"%s\" (json, csv or table)", format);
	if (to <= from || to > USEC_MAX_SANE)
		return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
					 "Invalid period %llu .. %llu: from_usec before to_usec, "
					 "both before the year 10000",
					 (unsigned long long)from, (unsigned long long)to);
	if (e->n_reports >= REPORTS_MAX)
		return sd_bus_error_setf(error, SD_BUS_ERROR_LIMITS_EXCEEDED,
					 "%u reports are being built already: try again later",
					 e->n_reports);
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->m = m;
	j->memfd = j->status_fd = -1;
	j->call = sd_bus_message_ref(msg);
	snprintf(j->license_id, sizeof(j->license_id), "%s", license_id);
	snprintf(j->format, sizeof(j->format), "%s", format);
	j->from_usec = from;
	j->to_usec = to;
	j->next = e->reports;
	e->reports = j;
	e->n_reports++;
	j->memfd = memfd_create("hpcmeter-report", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (j->memfd < 0 || pipe2(pfd, O_CLOEXEC) < 0) {
		r = -errno;
		report_job_free(j);
		return sd_bus_error_set_errnof(error, -r, "Cannot create the report file: %s",
					       strerror(-r));
	}
	/* The child reads what the loop wrote until now. */
	ledger_commit(m->ledger);
	j->pid = fork();
	if (j->pid == 0) {
		close(pfd[0]);
		report_child(m, j, pfd[1]);
	}
	close(pfd[1]);
	j->status_fd = pfd[0];
	if (j->pid < 0) {
		r = -errno;
		j->pid = 0;
		report_job_free(j);
		return sd_bus_error_set_errnof(error, -r, "Cannot start the report: %s",
					       strerror(-r));
	}
	r = sd_event_add_io(m->event, &j->io, j->status_fd, EPOLLIN, on_report_status, j);
	if (r >= 0)
		r = sd_event_add_time_relative(m->event, &j->timer, CLOCK_MONOTONIC,
					       REPORT_TIMEOUT_USEC, 0, on_report_timeout, j);
	if (r < 0) {
		report_job_free(j);
		return r;
	}
	return 1; /* answered when the child is done */
}

void bus_ext_free(struct manager *m)
{
	struct bus_ext *e = m->bus_ext;

	if (!e)
		return;
	while (e->reports)
		report_job_free(e->reports);
	sd_event_source_disable_unref(e->defer);
	free(e);
	m->bus_ext = NULL;
}
