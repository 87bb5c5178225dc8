// SPDX-License-Identifier: GPL-2.0-only
/* The system bus going away (dbus-daemon restarted, the connection dropped) is not the end of
 * the daemon: metering and the ledger go on without it, and the bus is connected again with
 * back-off, the name re-acquired and the object exported again (manager_bus_connect()).
 * Meanwhile the emitters see no bus (m->bus NULL) and skip their signals: what they would
 * have said is in the ledger, and clients back-fill it by sequence number. Gaps recorded
 * while away are signalled once back. Each loss and return is a meter-state record ("bus"). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "manager.h"
#include "util.h"

/* The first try soon (a restarted dbus-daemon is usually back within a second), then doubling
 * up to a try every 16 s. */
#define RECONNECT_MIN_USEC (USEC_PER_SEC / 4)
#define RECONNECT_MAX_USEC (16 * USEC_PER_SEC)

static int on_reconnect(sd_event_source *s, uint64_t usec, void *userdata);

/* Release a connection and what is registered on it. */
static void bus_drop(struct manager *m, sd_bus *bus)
{
	m->vtable_slot = sd_bus_slot_unref(m->vtable_slot);
	sd_bus_flush_close_unref(bus);
}

static void schedule(struct manager *m)
{
	int r;

	if (!m->bus_reconnect_source) {
		r = sd_event_add_time_relative(m->event, &m->bus_reconnect_source, CLOCK_MONOTONIC,
					       m->bus_backoff_usec, 0, on_reconnect, m);
	} else {
		r = sd_event_source_set_time_relative(m->bus_reconnect_source, m->bus_backoff_usec);
		if (r >= 0)
			r = sd_event_source_set_enabled(m->bus_reconnect_source, SD_EVENT_ONESHOT);
	}
	if (r < 0)
		log_error("cannot schedule the reconnection to the system bus: %s", strerror(-r));
}

static void bus_lost(struct manager *m, const char *why)
{
	if (m->bus) {
		log_error("lost the connection to the system bus (%s): metering goes on, "
			  "reconnecting",
			  why);
		ledger_add_meter_state(m->ledger, now_realtime_usec(), "bus", "disconnected", why);
		/* Freed outside the bus's own dispatch, at the next try. */
		m->bus_lost = m->bus;
		m->bus = NULL;
	}
	m->bus_backoff_usec = RECONNECT_MIN_USEC;
	schedule(m);
}

static int on_bus_message(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	/* sd-bus's own message when the connection ends. */
	if (sd_bus_message_is_signal(msg, "org.freedesktop.DBus.Local", "Disconnected"))
		bus_lost(userdata, "the connection was closed");
	return 0;
}

/* After manager_bus_connect(): follow the connection instead of leaving the loop at its end. */
int manager_bus_watch(struct manager *m)
{
	int r = sd_bus_set_exit_on_disconnect(m->bus, false);

	if (r < 0)
		return r;
	r = sd_bus_add_filter(m->bus, NULL, on_bus_message, m);
	if (r < 0)
		log_error("cannot watch the system bus connection: %s", strerror(-r));
	return r;
}

static int on_reconnect(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct manager *m = userdata;
	int r;

	if (m->bus_lost) {
		bus_drop(m, m->bus_lost);
		m->bus_lost = NULL;
	}
	r = manager_bus_connect(m);
	if (r >= 0)
		r = manager_bus_watch(m);
	if (r < 0) {
		bus_drop(m, m->bus);
		m->bus = NULL;
		m->bus_backoff_usec *= 2;
		if (m->bus_backoff_usec > RECONNECT_MAX_USEC)
			m->bus_backoff_usec = RECONNECT_MAX_USEC;
		log_warning("system bus not back yet: next try in %.2f s",
			    m->bus_backoff_usec / 1e6);
		schedule(m);
		return 0;
	}
	log_notice("back on the system bus as %s", HPCMETER_BUS_NAME);
	ledger_add_meter_state(m->ledger, now_realtime_usec(), "bus", "connected",
			       "name re-acquired, object exported again");
	manager_gaps_announce(m);
	manager_bus_properties_changed(m, "LastViolationSeq");
	return 0;
}

/* At start: no bus (yet) is not fatal either; the loop keeps trying. */
int manager_bus_start(struct manager *m)
{
	int r = manager_bus_connect(m);

	if (r >= 0)
		r = manager_bus_watch(m);
	if (r >= 0)
		return r;
	if (m->bus)
		return r; /* connected, but the name or the object refused: as before, fatal */
	bus_drop(m, m->bus);
	m->bus = NULL;
	log_warning("starting without the system bus: metering, reconnecting");
	m->bus_backoff_usec = RECONNECT_MIN_USEC;
	schedule(m);
	return 0;
}

void manager_bus_reconnect_free(struct manager *m)
{
	m->bus_reconnect_source = sd_event_source_unref(m->bus_reconnect_source);
	if (m->bus_lost)
		bus_drop(m, m->bus_lost);
	m->bus_lost = NULL;
}
