// SPDX-License-Identifier: GPL-2.0-only
/* hpcmeterctl monitor: violations as hpcmeterd raises them (ViolationRaised), back-filled by
 * sequence number (ListViolations) at the start with --since, and whenever hpcmeterd or the
 * bus itself comes back, so that each is printed once. */

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-event.h>
#include <systemd/sd-bus.h>

#include "ctl-args.h"
#include "ctl-bus.h"
#include "ctl-format.h"
#include "ctl-table.h"
#include "ctl-verbs.h"
#include "ctl-violations.h"
#include "hpcmeter-bus.h"
#include "json-doc.h"
#include "util.h"

struct monitor {
	sd_event *event;
	sd_bus *bus; /* a reference of our own: replaced when the bus comes back */
	sd_bus_slot *slot_signal, *slot_disconnect, *slot_owner;
	sd_event_source *reconnect; /* the back-off timer while the bus is gone */
	uint64_t backoff_usec;
	bool have_floor; /* floor is meaningful */
	uint64_t floor; /* highest seq printed or asked to skip */
	bool backfill; /* back-fill when the daemon reappears (a floor is known) */
	bool disconnected;
};

/* Reconnecting to a restarted dbus-daemon: 100 ms, doubling up to 5 s between attempts. */
#define MONITOR_BACKOFF_MIN_USEC (100 * USEC_PER_MSEC)
#define MONITOR_BACKOFF_MAX_USEC (5 * USEC_PER_SEC)

static int monitor_print(struct monitor *mon, const struct violation *v);

/* Print the violations recorded after the floor: at start with --since or --after-seq, and
 * whenever hpcmeterd (re)appears on the bus, for what it recorded while no signal could reach
 * us (a daemon that starts raises the violations of processes already running before it is on
 * the bus). */
static int monitor_backfill(struct monitor *mon)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	struct violation v;
	int r;

	r = bus_call(mon->bus, "ListViolations", &reply, "t", mon->have_floor ? mon->floor : 0);
	if (r < 0)
		return r;
	r = sd_bus_message_enter_container(reply, SD_BUS_TYPE_ARRAY, HPCMETER_SIG_VIOLATION);
	if (r < 0)
		return log_parse_error("ListViolations", r);
	while ((r = read_violation(reply, HPCMETER_SIG_VIOLATION, &v)) > 0) {
		r = monitor_print(mon, &v);
		if (r < 0)
			return r;
	}
	return r < 0 ? log_parse_error("ListViolations", r) : 0;
}

/* NameOwnerChanged for org.hpcmeter1: a new owner is a (re)started hpcmeterd. */
static int on_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct monitor *mon = userdata;
	const char *name, *old_owner, *new_owner;

	(void)ret_error;
	if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0 ||
	    !streq(name, HPCMETER_BUS_NAME))
		return 0;
	if (isempty(new_owner)) {
		log_info("hpcmeterd left the bus; waiting for it to come back");
		return 0;
	}
	if (!mon->backfill && !mon->have_floor) {
		log_info("hpcmeterd is on the bus again");
		return 0;
	}
	log_info("hpcmeterd is on the bus again; back-filling from #%" PRIu64,
		 mon->have_floor ? mon->floor : 0);
	if (monitor_backfill(mon) < 0)
		log_error("back-fill failed; later violations are still printed");
	return 0;
}

static int monitor_print(struct monitor *mon, const struct violation *v)
{
	if (mon->have_floor && v->seq <= mon->floor)
		return 0; /* already printed by the back-fill */
	mon->have_floor = true;
	mon->floor = v->seq;
	if (!time_in_range(v->time_usec))
		return 0; /* before --since: back-filled, not asked for */

	if (arg_json) {
		_cleanup_json_ struct json_object *o = violation_json(v);

		if (!o)
			return log_oom();
		json_dump(stdout, o, arg_json);
	} else {
		char ts[FORMAT_TIMESTAMP_MAX];
		_cleanup_(freep) char *kind = sanitize(v->kind), *lic = sanitize(v->license_id),
				      *user = sanitize(v->user), *exe = sanitize(v->executable),
				      *job = sanitize(v->job), *detail = sanitize(v->detail);

		if (!kind || !lic || !user || !exe || !job || !detail) {
			log_error("out of memory");
			return -ENOMEM;
		}
		printf("%s violation #%" PRIu64 " %s, licence %s: user %s (uid %" PRIu32
		       "), pid %" PRIu32 ", %s, job %s: %s\n",
		       format_timestamp_local(ts, v->time_usec), v->seq, kind, lic, user, v->uid,
		       v->pid, exe, job, detail);
	}
	/* readers sit on a pipe or a file: every record must reach them now */
	if (fflush(stdout) != 0) {
		log_error("cannot write to standard output: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

static int on_violation_raised(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct monitor *mon = userdata;
	struct violation v;
	int r;

	(void)ret_error;

	r = read_violation(m, HPCMETER_SIG_VIOLATION_FIELDS, &v);
	if (r < 0) {
		log_error("ignoring a malformed ViolationRaised signal: %s", strerror(-r));
		return 0;
	}
	r = monitor_print(mon, &v);
	if (r < 0)
		return sd_event_exit(mon->event, 1);
	return 0;
}

static int monitor_subscribe(struct monitor *mon);

static void monitor_drop_bus(struct monitor *mon)
{
	mon->slot_signal = sd_bus_slot_unref(mon->slot_signal);
	mon->slot_disconnect = sd_bus_slot_unref(mon->slot_disconnect);
	mon->slot_owner = sd_bus_slot_unref(mon->slot_owner);
	if (mon->bus) {
		(void)sd_bus_detach_event(mon->bus);
		mon->bus = sd_bus_flush_close_unref(mon->bus);
	}
}

/* Is hpcmeterd on the bus now? (Asked of the bus itself: no error when it is not.) */
static bool monitor_daemon_present(struct monitor *mon)
{
	_cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	int has = 0;

	if (sd_bus_call_method(mon->bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
			       "org.freedesktop.DBus", "NameHasOwner", &error, &reply, "s",
			       HPCMETER_BUS_NAME) < 0 ||
	    sd_bus_message_read(reply, "b", &has) < 0)
		return false;
	return has;
}

static int on_reconnect_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct monitor *mon = userdata;
	sd_bus *bus = NULL;
	int r;

	(void)usec;
	monitor_drop_bus(mon);
	/* quietly: a bus that is not back yet is expected, and retried */
	r = bus_open(arg_address, &bus);
	if (r < 0) {
		mon->backoff_usec = mon->backoff_usec * 2 > MONITOR_BACKOFF_MAX_USEC ?
					    MONITOR_BACKOFF_MAX_USEC :
					    mon->backoff_usec * 2;
		r = sd_event_source_set_time_relative(s, mon->backoff_usec);
		if (r >= 0)
			r = sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
		return r < 0 ? sd_event_exit(mon->event, 1) : 0;
	}
	mon->bus = bus;
	r = monitor_subscribe(mon);
	if (r < 0)
		return sd_event_exit(mon->event, 1);
	mon->disconnected = false;
	mon->backoff_usec = MONITOR_BACKOFF_MIN_USEC;
	if (!monitor_daemon_present(mon)) {
		log_info("connected to the bus again; waiting for hpcmeterd");
		return 0;
	}
	if (mon->backfill || mon->have_floor) {
		log_info("connected to the bus again; back-filling from #%" PRIu64,
			 mon->have_floor ? mon->floor : 0);
		if (monitor_backfill(mon) < 0)
			log_error("back-fill failed; later violations are still printed");
	} else
		log_info("connected to the bus again");
	return 0;
}

/* The bus connection closed (the dbus-daemon stopped or restarted): reconnect with back-off,
 * subscribe again, and back-fill by sequence number from the last violation printed. */
static int on_disconnected(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct monitor *mon = userdata;
	int r;

	(void)m;
	(void)ret_error;

	if (mon->disconnected)
		return 0;
	mon->disconnected = true;
	log_info("lost the connection to the bus; reconnecting");
	/* the old connection is dropped by the timer, outside its own dispatch */
	mon->backoff_usec = MONITOR_BACKOFF_MIN_USEC;
	if (!mon->reconnect)
		r = sd_event_add_time_relative(mon->event, &mon->reconnect, CLOCK_MONOTONIC,
					       mon->backoff_usec, 0, on_reconnect_timer, mon);
	else {
		r = sd_event_source_set_time_relative(mon->reconnect, mon->backoff_usec);
		if (r >= 0)
			r = sd_event_source_set_enabled(mon->reconnect, SD_EVENT_ONESHOT);
	}
	if (r < 0) {
		log_error("cannot schedule a reconnection: %s", strerror(-r));
		return sd_event_exit(mon->event, 1);
	}
	return 0;
}

static int on_exit_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	(void)si;
	(void)userdata;

	return sd_event_exit(sd_event_source_get_event(s), 0);
}

/* Subscribe on mon->bus (synchronously: the bus has the matches when this returns) and attach
 * it to the event loop. */
static int monitor_subscribe(struct monitor *mon)
{
	int r;

	r = sd_bus_match_signal(mon->bus, &mon->slot_signal, HPCMETER_BUS_NAME,
				HPCMETER_OBJECT_PATH, hpcmeter_iface("ViolationRaised"),
				"ViolationRaised", on_violation_raised, mon);
	if (r < 0) {
		log_error("cannot subscribe to ViolationRaised: %s", strerror(-r));
		return r;
	}
	/* sd-bus synthesizes this locally when the connection goes; no match is sent to the bus */
	r = sd_bus_match_signal(mon->bus, &mon->slot_disconnect, NULL,
				"/org/freedesktop/DBus/Local", "org.freedesktop.DBus.Local",
				"Disconnected", on_disconnected, mon);
	if (r < 0) {
		log_error("cannot watch the bus connection: %s", strerror(-r));
		return r;
	}
	/* hpcmeterd restarting: follow the name, and back-fill what it recorded meanwhile. */
	r = sd_bus_match_signal(mon->bus, &mon->slot_owner, "org.freedesktop.DBus",
				"/org/freedesktop/DBus", "org.freedesktop.DBus", "NameOwnerChanged",
				on_owner_changed, mon);
	if (r < 0) {
		log_error("cannot follow the daemon on the bus: %s", strerror(-r));
		return r;
	}
	r = sd_bus_attach_event(mon->bus, mon->event, SD_EVENT_PRIORITY_NORMAL);
	if (r < 0) {
		log_error("cannot attach the bus to the event loop: %s", strerror(-r));
		return r;
	}
	return 0;
}

int verb_monitor(sd_bus *bus, int argc, char **argv)
{
	_cleanup_(sd_event_unrefp) sd_event *event = NULL;
	struct monitor mon = { .bus = sd_bus_ref(bus),
			       .have_floor = arg_after_seq_set || arg_since_set,
			       .floor = arg_after_seq,
			       .backfill = true };
	sigset_t mask;
	int r;

	(void)argc;
	(void)argv;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0) {
		r = -errno;
		log_error("cannot block signals: %s", strerror(errno));
		goto finish;
	}

	r = sd_event_default(&event);
	if (r < 0) {
		log_error("cannot allocate an event loop: %s", strerror(-r));
		goto finish;
	}
	mon.event = event;
	r = sd_event_add_signal(event, NULL, SIGINT, on_exit_signal, NULL);
	if (r >= 0)
		r = sd_event_add_signal(event, NULL, SIGTERM, on_exit_signal, NULL);
	if (r < 0) {
		log_error("cannot watch SIGINT and SIGTERM: %s", strerror(-r));
		goto finish;
	}

	/* Subscribe first, back-fill after, so that a violation raised in between is in one of
	 * the two and printed once. */
	r = monitor_subscribe(&mon);
	if (r < 0)
		goto finish;

	if (mon.have_floor) {
		r = monitor_backfill(&mon);
		if (r < 0)
			goto finish;
	} else {
		/* From now on: what is already recorded is the floor of later back-fills. */
		uint64_t last = 0;
		_cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

		r = sd_bus_get_property_trivial(bus, HPCMETER_BUS_NAME, HPCMETER_OBJECT_PATH,
						hpcmeter_iface("LastViolationSeq"),
						"LastViolationSeq", &error, 't', &last);
		if (r < 0) {
			/* The daemon not running, or no right to read: new violations only, as
			 * they come; back-fills after a restart start at the first one printed. */
			log_warning(
				"cannot read the last violation's sequence number (%s): after a "
				"restart of hpcmeterd, violations it raised before it was on the "
				"bus are not back-filled until one has been printed",
				bus_error_message(&error, r));
			mon.backfill = false;
		} else {
			mon.have_floor = true;
			mon.floor = last;
		}
	}

	r = sd_event_loop(event);
	if (r < 0)
		log_error("event loop failed: %s", strerror(-r));
	else if (r > 0)
		r = -EIO;
finish:
	mon.reconnect = sd_event_source_unref(mon.reconnect);
	monitor_drop_bus(&mon);
	return r;
}
