/* SPDX-License-Identifier: GPL-2.0-only */
/* The daemon on the system bus: the connection (lost and found again), the three interfaces of
 * /org/hpcmeter1 and the signals the core's notifications become. The only code that calls
 * sd_bus_*; it sees the core through core.h alone. Contract: daemon/org.hpcmeter1.xml. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "core.h"
#include "hpcmeter-bus.h"

struct report_job;

struct bus {
	struct manager *m;
	sd_event *event;
	sd_bus *bus; /* NULL while away */
	sd_bus_slot *vtable_slot;
	/* A lost connection (freed at the next try) and the retries. */
	sd_bus *lost;
	sd_event_source *reconnect_source;
	uint64_t backoff_usec;
	/* ActiveViolations is read from the ledger: a raise signals it at once (the rows are
	 * written), clears once the loop is idle; several clears give one signal. */
	sd_event_source *defer;
	bool pending_active;
	/* GetReport's children (report-fd.c). */
	struct report_job *reports;
	unsigned n_reports;
};

/* Follow the manager's notifications; connect at bus_start(). */
int bus_new(struct manager *m, struct bus **ret);
/* Connect, export the object and own the name. No bus (yet) is not fatal: metering goes on and
 * the connection is tried again with back-off; the name or the object refused is. */
int bus_start(struct bus *b);
void bus_free(struct bus *b);

/* The vtables (meter-iface.c, licenses-iface.c, violations-iface.c); userdata is the bus. */
extern const sd_bus_vtable bus_meter_vtable[];
extern const sd_bus_vtable bus_licenses_vtable[];
extern const sd_bus_vtable bus_violations_vtable[];

/* Handlers that live in files of their own: JobStarted/JobEnded (jobs-iface.c), GetReport
 * (report-fd.c). */
int bus_method_job_started(sd_bus_message *msg, void *userdata, sd_bus_error *error);
int bus_method_job_ended(sd_bus_message *msg, void *userdata, sd_bus_error *error);
int bus_method_get_report(sd_bus_message *msg, void *userdata, sd_bus_error *error);
void bus_reports_free(struct bus *b);

/* Helpers of the interfaces (bus.c). */
/* Fills reply with the ledger's rows recorded since a point (a sequence number or a time). */
typedef int (*bus_fill_t)(struct ledger *l, uint64_t since, sd_bus_message *reply);
/* A method "(t since) -> a(ROW)" answered from the ledger. */
int bus_reply_rows_since(sd_bus_message *msg, struct bus *b, sd_bus_error *error,
			 const char *row_signature, const char *what, bus_fill_t fill);
/* A string for the bus: bytes that are not UTF-8 escaped (paths, host names are bytes). */
int bus_append_string(sd_bus_message *msg, const char *s);
void bus_properties_changed(struct bus *b, const char *property);

/* Times past the year 9999 are a mistake, not a range. */
#define BUS_USEC_MAX_SANE (253402300799ULL * USEC_PER_SEC)
/* Strings of filters and ids that callers send. */
#define BUS_STR_MAX 256
