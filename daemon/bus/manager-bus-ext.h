/* SPDX-License-Identifier: GPL-2.0-only */
/* manager-bus-ext.c: the newer members of the D-Bus API (filtered usage, acknowledgements, the
 * report through a file descriptor, meter states and the properties that change with them),
 * registered in manager-bus.c's vtables. */
#pragma once

#include <systemd/sd-bus.h>

struct manager;

int bus_method_get_usage_filtered(sd_bus_message *msg, void *userdata, sd_bus_error *error);
int bus_method_acknowledge(sd_bus_message *msg, void *userdata, sd_bus_error *error);
int bus_method_list_acks(sd_bus_message *msg, void *userdata, sd_bus_error *error);
int bus_method_get_report(sd_bus_message *msg, void *userdata, sd_bus_error *error);
int bus_property_meter_states(sd_bus *bus, const char *path, const char *interface,
			      const char *property, sd_bus_message *reply, void *userdata,
			      sd_bus_error *error);
int bus_property_active_violations(sd_bus *bus, const char *path, const char *interface,
				   const char *property, sd_bus_message *reply, void *userdata,
				   sd_bus_error *error);

/* Emit PropertiesChanged for property once the loop is idle (after the ledger rows that the
 * value is read from are written); several calls before then give one signal. */
void bus_properties_changed_later(struct manager *m, const char *property);
/* Compare the meters' states with the last seen: each change is a MeterStateChanged signal
 * (with a sequence number), a meter_states ledger row and a MeterStates PropertiesChanged. */
void bus_meter_states_check(struct manager *m);
/* Stop the reports in progress and free what this file keeps. */
void bus_ext_free(struct manager *m);
