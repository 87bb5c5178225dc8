// SPDX-License-Identifier: GPL-2.0-only
/* The connection to the system bus, and the core's notifications as signals and property
 * changes. The bus going away (dbus-daemon restarted, the connection dropped) is not the end of
 * the daemon: metering and the ledger go on without it, and the bus is connected again with
 * back-off, the name re-acquired and the object exported again. Meanwhile the notifications
 * find no bus and are not told: what they would have said is in the ledger, and clients
 * back-fill it by sequence number. Gaps recorded while away are signalled once back. Each loss
 * and return is a meter-state record ("bus"). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "util.h"

/* The first try soon (a restarted dbus-daemon is usually back within a second), then doubling
 * up to a try every 16 s. */
#define RECONNECT_MIN_USEC (USEC_PER_SEC / 4)
#define RECONNECT_MAX_USEC (16 * USEC_PER_SEC)

/* ---- helpers of the interfaces ---- */

int bus_append_string(sd_bus_message *msg, const char *s)
{
	_cleanup_free_ char *u = utf8_escape_invalid(s ? s : "");

	return u ? sd_bus_message_append(msg, "s", u) : -ENOMEM;
}

int bus_reply_rows_since(sd_bus_message *msg, struct bus *b, sd_bus_error *error,
			 const char *row_signature, const char *what, bus_fill_t fill)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	uint64_t since;
	int r;

	r = sd_bus_message_read(msg, "t", &since);
	if (r < 0)
		return r;
	/* The ledger's integers are signed: past INT64_MAX nothing is newer. */
	if (since > INT64_MAX)
		since = INT64_MAX;
	r = sd_bus_message_new_method_return(msg, &reply);
	if (r < 0)
		return r;
	r = sd_bus_message_open_container(reply, 'a', row_signature);
	if (r < 0)
		return r;
	r = fill(manager_ledger(b->m), since, reply);
	if (r < 0)
		return sd_bus_error_set_errnof(error, -r, "Cannot read %s from the ledger: %s",
					       what, strerror(-r));
	r = sd_bus_message_close_container(reply);
	if (r < 0)
		return r;
	return sd_bus_send(NULL, reply, NULL);
}

void bus_properties_changed(struct bus *b, const char *property)
{
	if (b->bus)
		sd_bus_emit_properties_changed(
			b->bus, HPCMETER_OBJECT_PATH, hpcmeter_iface(property), property,
			/* a reload changes both */
			streq(property, "LicenseErrors") ? "LicensesActive" : NULL, NULL);
}

static int on_defer(sd_event_source *s, void *userdata)
{
	struct bus *b = userdata;

	b->defer = sd_event_source_unref(b->defer);
	if (b->bus && b->pending_active)
		sd_bus_emit_properties_changed(b->bus, HPCMETER_OBJECT_PATH,
					       HPCMETER_VIOLATIONS_IFACE, "ActiveViolations", NULL);
	b->pending_active = false;
	return 0;
}

/* ActiveViolations after a clear, once the loop is idle: the clears of one sweep give one
 * signal. */
static void active_violations_changed(struct bus *b)
{
	if (!b->bus)
		return;
	b->pending_active = true;
	if (!b->defer && sd_event_add_defer(b->event, &b->defer, on_defer, b) < 0)
		log_warning("cannot schedule the ActiveViolations change signal");
}

/* ---- the core's notifications ---- */

/* A signal that could not be sent is in the ledger all the same: a warning, not an error. */
static int emitted(int r, const char *signal, uint64_t seq)
{
	if (r < 0) {
		log_warning("cannot emit %s #%llu: %s (it is in the ledger)", signal,
			    (unsigned long long)seq, strerror(-r));
		return r;
	}
	return 1;
}

static int on_violation_raised(void *userdata, const struct violation *v)
{
	struct bus *b = userdata;
	int r;

	if (!b->bus)
		return 0;
	r = sd_bus_emit_signal(b->bus, HPCMETER_OBJECT_PATH, HPCMETER_VIOLATIONS_IFACE,
			       "ViolationRaised", HPCMETER_SIG_VIOLATION_FIELDS, v->seq,
			       v->time_usec, v->kind, v->license_id, v->pid, v->uid, v->user,
			       v->executable, v->cgroup, v->job, v->detail);
	bus_properties_changed(b, "LastViolationSeq");
	/* ActiveViolations now, with the count that holds this violation: deferred, it could be
	 * cleared in the same pass of the loop (a process that exec'd and exited between two
	 * readings) and its change coalesced away. Any change still pending is in this one. */
	b->pending_active = false;
	sd_bus_emit_properties_changed(b->bus, HPCMETER_OBJECT_PATH, HPCMETER_VIOLATIONS_IFACE,
				       "ActiveViolations", NULL);
	return emitted(r, "ViolationRaised", v->seq);
}

static int on_violation_cleared(void *userdata, uint64_t seq, uint64_t time_usec, const char *key)
{
	struct bus *b = userdata;
	_cleanup_free_ char *k = utf8_escape_invalid(key);
	int r;

	if (!b->bus)
		return 0;
	if (!k)
		return -ENOMEM;
	r = sd_bus_emit_signal(b->bus, HPCMETER_OBJECT_PATH, HPCMETER_VIOLATIONS_IFACE,
			       "ViolationCleared", HPCMETER_SIG_CLEARED_FIELDS, seq, time_usec, k);
	active_violations_changed(b);
	return emitted(r, "ViolationCleared", seq);
}

static int on_violation_acknowledged(void *userdata, const struct violation_ack *a)
{
	struct bus *b = userdata;

	if (!b->bus)
		return 0;
	return emitted(sd_bus_emit_signal(b->bus, HPCMETER_OBJECT_PATH, HPCMETER_VIOLATIONS_IFACE,
					  "ViolationAcknowledged", HPCMETER_SIG_ACK_FIELDS, a->seq,
					  a->time_usec, a->uid, a->note),
		       "ViolationAcknowledged", a->seq);
}

static int on_threshold(void *userdata, const struct threshold_event *e)
{
	struct bus *b = userdata;

	if (!b->bus)
		return 0;
	return emitted(sd_bus_emit_signal(b->bus, HPCMETER_OBJECT_PATH, HPCMETER_VIOLATIONS_IFACE,
					  "ThresholdApproaching", HPCMETER_SIG_THRESHOLD_FIELDS,
					  e->seq, e->time_usec, e->license_id, e->term, e->subject,
					  e->level, e->measured, e->limit, e->detail),
		       "ThresholdApproaching", e->seq);
}

static int on_gap(void *userdata, const struct gap *g)
{
	struct bus *b = userdata;
	int r;

	if (!b->bus)
		return 0;
	r = sd_bus_emit_signal(b->bus, HPCMETER_OBJECT_PATH, HPCMETER_METER_IFACE, "MeteringGap",
			       HPCMETER_SIG_GAP_FIELDS, g->id, g->cause, g->start_usec, g->end_usec,
			       g->boot_id, g->detail, g->bound_cpu_ns, g->bound_devices, g->bound,
			       g->policy);
	bus_properties_changed(b, "LastGapId");
	return emitted(r, "MeteringGap", g->id);
}

static int on_meter_state(void *userdata, uint64_t seq, uint64_t time_usec, const char *meter,
			  const char *state)
{
	struct bus *b = userdata;

	if (!b->bus)
		return 0;
	return emitted(sd_bus_emit_signal(b->bus, HPCMETER_OBJECT_PATH, HPCMETER_METER_IFACE,
					  "MeterStateChanged", HPCMETER_SIG_METER_STATE_FIELDS, seq,
					  time_usec, meter, state),
		       "MeterStateChanged", seq);
}

static void on_changed(void *userdata, enum manager_change what)
{
	static const char *const property[] = {
		[MANAGER_CHANGED_LAST_COLLECT] = "LastCollectUSec",
		[MANAGER_CHANGED_LICENSES] = "LicenseErrors",
		[MANAGER_CHANGED_LEDGER_STATE] = "LedgerState",
		[MANAGER_CHANGED_METER_STATES] = "MeterStates",
	};

	if ((size_t)what < ARRAY_SIZE(property))
		bus_properties_changed(userdata, property[what]);
}

static const struct manager_notify notify_ops = {
	.violation_raised = on_violation_raised,
	.violation_cleared = on_violation_cleared,
	.violation_acknowledged = on_violation_acknowledged,
	.threshold = on_threshold,
	.gap = on_gap,
	.meter_state = on_meter_state,
	.changed = on_changed,
};

/* ---- the connection ---- */

static int connect_bus(struct bus *b)
{
	int r;

	r = sd_bus_open_system(&b->bus);
	if (r < 0) {
		log_error("cannot connect to the system bus: %s", strerror(-r));
		return r;
	}
	r = sd_bus_add_object_vtable(b->bus, &b->vtable_slot, HPCMETER_OBJECT_PATH,
				     HPCMETER_METER_IFACE, bus_meter_vtable, b);
	/* The other two are floating: they go with the bus connection. */
	if (r >= 0)
		r = sd_bus_add_object_vtable(b->bus, NULL, HPCMETER_OBJECT_PATH,
					     HPCMETER_LICENSES_IFACE, bus_licenses_vtable, b);
	if (r >= 0)
		r = sd_bus_add_object_vtable(b->bus, NULL, HPCMETER_OBJECT_PATH,
					     HPCMETER_VIOLATIONS_IFACE, bus_violations_vtable, b);
	if (r < 0) {
		log_error("cannot register %s: %s", HPCMETER_OBJECT_PATH, strerror(-r));
		return r;
	}
	/* The name last: by the time a client can find us, every object answers. */
	r = sd_bus_request_name(b->bus, HPCMETER_BUS_NAME, 0);
	if (r < 0) {
		log_error("cannot own %s on the system bus: %s (is another hpcmeterd running, or "
			  "the bus policy org.hpcmeter1.conf not installed?)",
			  HPCMETER_BUS_NAME, strerror(-r));
		return r;
	}
	r = sd_bus_attach_event(b->bus, b->event, SD_EVENT_PRIORITY_NORMAL);
	if (r < 0) {
		log_error("cannot attach the bus to the event loop: %s", strerror(-r));
		return r;
	}
	return 0;
}

static int on_reconnect(sd_event_source *s, uint64_t usec, void *userdata);

/* Release a connection and what is registered on it. */
static void bus_drop(struct bus *b, sd_bus *bus)
{
	b->vtable_slot = sd_bus_slot_unref(b->vtable_slot);
	sd_bus_flush_close_unref(bus);
}

static void schedule(struct bus *b)
{
	int r;

	if (!b->reconnect_source) {
		r = sd_event_add_time_relative(b->event, &b->reconnect_source, CLOCK_MONOTONIC,
					       b->backoff_usec, 0, on_reconnect, b);
	} else {
		r = sd_event_source_set_time_relative(b->reconnect_source, b->backoff_usec);
		if (r >= 0)
			r = sd_event_source_set_enabled(b->reconnect_source, SD_EVENT_ONESHOT);
	}
	if (r < 0)
		log_error("cannot schedule the reconnection to the system bus: %s", strerror(-r));
}

static void bus_lost(struct bus *b, const char *why)
{
	if (b->bus) {
		log_error("lost the connection to the system bus (%s): metering goes on, "
			  "reconnecting",
			  why);
		manager_record_meter_state(b->m, "bus", "disconnected", why);
		/* Freed outside the bus's own dispatch, at the next try. */
		b->lost = b->bus;
		b->bus = NULL;
	}
	b->backoff_usec = RECONNECT_MIN_USEC;
	schedule(b);
}

static int on_bus_message(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	/* sd-bus's own message when the connection ends. */
	if (sd_bus_message_is_signal(msg, "org.freedesktop.DBus.Local", "Disconnected"))
		bus_lost(userdata, "the connection was closed");
	return 0;
}

/* Follow the connection instead of leaving the loop at its end. */
static int watch(struct bus *b)
{
	int r = sd_bus_set_exit_on_disconnect(b->bus, false);

	if (r < 0)
		return r;
	r = sd_bus_add_filter(b->bus, NULL, on_bus_message, b);
	if (r < 0)
		log_error("cannot watch the system bus connection: %s", strerror(-r));
	return r;
}

static int on_reconnect(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct bus *b = userdata;
	int r;

	if (b->lost) {
		bus_drop(b, b->lost);
		b->lost = NULL;
	}
	r = connect_bus(b);
	if (r >= 0)
		r = watch(b);
	if (r < 0) {
		bus_drop(b, b->bus);
		b->bus = NULL;
		b->backoff_usec *= 2;
		if (b->backoff_usec > RECONNECT_MAX_USEC)
			b->backoff_usec = RECONNECT_MAX_USEC;
		log_warning("system bus not back yet: next try in %.2f s", b->backoff_usec / 1e6);
		schedule(b);
		return 0;
	}
	log_notice("back on the system bus as %s", HPCMETER_BUS_NAME);
	manager_record_meter_state(b->m, "bus", "connected",
				   "name re-acquired, object exported again");
	manager_announce_pending(b->m);
	bus_properties_changed(b, "LastViolationSeq");
	return 0;
}

int bus_new(struct manager *m, struct bus **ret)
{
	struct bus *b = calloc(1, sizeof(*b));

	if (!b)
		return -ENOMEM;
	b->m = m;
	b->event = manager_event(m);
	manager_set_notify(m, &notify_ops, b);
	*ret = b;
	return 0;
}

int bus_start(struct bus *b)
{
	int r = connect_bus(b);

	if (r >= 0)
		r = watch(b);
	if (r >= 0) {
		manager_announce_pending(b->m);
		return r;
	}
	if (b->bus)
		return r; /* connected, but the name or the object refused: as before, fatal */
	bus_drop(b, b->bus);
	b->bus = NULL;
	log_warning("starting without the system bus: metering, reconnecting");
	b->backoff_usec = RECONNECT_MIN_USEC;
	schedule(b);
	return 0;
}

void bus_free(struct bus *b)
{
	if (!b)
		return;
	manager_set_notify(b->m, NULL, NULL);
	bus_reports_free(b);
	sd_event_source_disable_unref(b->defer);
	b->reconnect_source = sd_event_source_unref(b->reconnect_source);
	if (b->lost)
		bus_drop(b, b->lost);
	b->lost = NULL;
	b->vtable_slot = sd_bus_slot_unref(b->vtable_slot);
	sd_bus_flush_close_unref(b->bus);
	free(b);
}
