// SPDX-License-Identifier: GPL-2.0-only
/* org.hpcmeter1.Violations: violations raised, cleared and acknowledged, and cap warnings, as
 * lists since a sequence number (the back-fill of the signals, emitted in bus.c), the
 * acknowledgement, and the properties that follow them. */
#include <errno.h>
#include <string.h>

#include "bus.h"
#include "util.h"

#define NOTE_MAX 4096

static int append_violation(const struct violation *v, void *userdata)
{
	return sd_bus_message_append(userdata, HPCMETER_SIG_VIOLATION, v->seq, v->time_usec,
				     v->kind, v->license_id, v->pid, v->uid, v->user, v->executable,
				     v->cgroup, v->job, v->detail);
}

static int fill_violations(struct ledger *l, uint64_t since, sd_bus_message *reply)
{
	return ledger_list_violations(l, since, append_violation, reply);
}

static int method_list_violations(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	return bus_reply_rows_since(msg, userdata, error, HPCMETER_SIG_VIOLATION, "violations",
				    fill_violations);
}

static int append_cleared(uint64_t seq, uint64_t cleared_usec, const char *key, void *userdata)
{
	_cleanup_free_ char *k = utf8_escape_invalid(key);

	return k ? sd_bus_message_append(userdata, HPCMETER_SIG_CLEARED, seq, cleared_usec, k) :
		   -ENOMEM;
}

static int fill_cleared(struct ledger *l, uint64_t since, sd_bus_message *reply)
{
	return ledger_list_cleared_violations(l, since, append_cleared, reply);
}

static int method_list_cleared(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	return bus_reply_rows_since(msg, userdata, error, HPCMETER_SIG_CLEARED,
				    "cleared violations", fill_cleared);
}

static int append_threshold(const struct threshold_event *e, void *userdata)
{
	return sd_bus_message_append(userdata, HPCMETER_SIG_THRESHOLD, e->seq, e->time_usec,
				     e->license_id, e->term, e->subject, e->level, e->measured,
				     e->limit, e->detail);
}

static int fill_thresholds(struct ledger *l, uint64_t since, sd_bus_message *reply)
{
	return ledger_list_threshold_events(l, since, append_threshold, reply);
}

static int method_list_thresholds(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	return bus_reply_rows_since(msg, userdata, error, HPCMETER_SIG_THRESHOLD,
				    "threshold events", fill_thresholds);
}

static int append_ack(const struct violation_ack *a, void *userdata)
{
	_cleanup_free_ char *note = utf8_escape_invalid(a->note);

	return note ? sd_bus_message_append(userdata, HPCMETER_SIG_ACK, a->seq, a->time_usec,
					    a->uid, note) :
		      -ENOMEM;
}

static int fill_acks(struct ledger *l, uint64_t since, sd_bus_message *reply)
{
	return ledger_list_acks(l, since, append_ack, reply);
}

static int method_list_acks(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	return bus_reply_rows_since(msg, userdata, error, HPCMETER_SIG_ACK, "acknowledgements",
				    fill_acks);
}

static bool note_valid(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 && *p != '\t')
			return false;
	return true;
}

static int method_acknowledge(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	_cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
	struct bus *b = userdata;
	const char *note;
	uint64_t seq;
	uid_t euid;
	int r;

	r = sd_bus_message_read(msg, "ts", &seq, &note);
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
	if (strlen(note) > NOTE_MAX || !note_valid(note))
		return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
					 "The note must be at most %d bytes without control "
					 "characters",
					 NOTE_MAX);
	r = manager_acknowledge(b->m, seq, euid, note);
	if (r == -ENOENT)
		return sd_bus_error_setf(
			error, HPCMETER_ERROR_NO_SUCH_VIOLATION,
			"No violation #%llu (the last is #%llu)", (unsigned long long)seq,
			(unsigned long long)ledger_last_violation_seq(manager_ledger(b->m)));
	if (r == -EEXIST)
		return sd_bus_error_setf(error, HPCMETER_ERROR_ALREADY_ACKNOWLEDGED,
					 "Violation #%llu is acknowledged already",
					 (unsigned long long)seq);
	if (r < 0)
		return sd_bus_error_set_errnof(
			error, -r, "Cannot record the acknowledgement in the ledger: %s",
			strerror(-r));
	return sd_bus_reply_method_return(msg, NULL);
}

static int property_last_seq(sd_bus *bus, const char *path, const char *interface,
			     const char *property, sd_bus_message *reply, void *userdata,
			     sd_bus_error *error)
{
	struct bus *b = userdata;

	return sd_bus_message_append(reply, "t", ledger_last_violation_seq(manager_ledger(b->m)));
}

static int count_open(uint64_t seq, const char *key, void *userdata)
{
	(*(uint32_t *)userdata)++;
	return 0;
}

static int property_active(sd_bus *bus, const char *path, const char *interface,
			   const char *property, sd_bus_message *reply, void *userdata,
			   sd_bus_error *error)
{
	struct bus *b = userdata;
	uint32_t n = 0;
	int r = ledger_list_open_violations(manager_ledger(b->m), count_open, &n);

	if (r < 0)
		return sd_bus_error_set_errnof(error, -r, "Cannot read open violations: %s",
					       strerror(-r));
	return sd_bus_message_append(reply, "u", n);
}

const sd_bus_vtable bus_violations_vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_METHOD_WITH_ARGS("ListViolations", SD_BUS_ARGS("t", since_seq),
				SD_BUS_RESULT("a" HPCMETER_SIG_VIOLATION, violations),
				method_list_violations, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("ListClearedViolations", SD_BUS_ARGS("t", since_usec),
				SD_BUS_RESULT("a" HPCMETER_SIG_CLEARED, cleared),
				method_list_cleared, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("ListThresholdEvents", SD_BUS_ARGS("t", since_seq),
				SD_BUS_RESULT("a" HPCMETER_SIG_THRESHOLD, events),
				method_list_thresholds, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("ListAcknowledgements", SD_BUS_ARGS("t", since_seq),
				SD_BUS_RESULT("a" HPCMETER_SIG_ACK, acknowledgements),
				method_list_acks, SD_BUS_VTABLE_UNPRIVILEGED),
	/* Privileged: root only (checked again in the handler, by the sender's euid). */
	SD_BUS_METHOD_WITH_ARGS("AcknowledgeViolation", SD_BUS_ARGS("t", seq, "s", note),
				SD_BUS_NO_RESULT, method_acknowledge, 0),
	SD_BUS_SIGNAL_WITH_ARGS("ViolationRaised",
				SD_BUS_ARGS("t", seq, "t", time_usec, "s", kind, "s", license_id,
					    "u", pid, "u", uid, "s", user, "s", executable, "s",
					    cgroup, "s", job, "s", detail),
				0),
	SD_BUS_SIGNAL_WITH_ARGS("ViolationCleared", SD_BUS_ARGS("t", seq, "t", time_usec, "s", key),
				0),
	SD_BUS_SIGNAL_WITH_ARGS("ThresholdApproaching",
				SD_BUS_ARGS("t", seq, "t", time_usec, "s", license_id, "s", term,
					    "s", subject, "u", level, "d", measured, "d", limit,
					    "s", detail),
				0),
	SD_BUS_SIGNAL_WITH_ARGS("ViolationAcknowledged",
				SD_BUS_ARGS("t", seq, "t", time_usec, "u", uid, "s", note), 0),
	SD_BUS_PROPERTY("LastViolationSeq", "t", property_last_seq, 0,
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("ActiveViolations", "u", property_active, 0,
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_VTABLE_END,
};
