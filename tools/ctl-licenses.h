/* SPDX-License-Identifier: GPL-2.0-only */
/* A row of ListLicenses, as hpcmeterctl licenses, status, usage --by license and reload read and
 * print it (ctl-licenses.c). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "json-doc.h"

/* Strings point into the reply message. */
struct license_row {
	const char *file, *id, *state, *error;
	uint64_t valid_from_usec, valid_until_usec;
};

/* A file that failed to load (its licence, if any, is the one loaded before). */
bool license_row_rejected(const struct license_row *l);
/* The next row of a ListLicenses reply entered with get_licenses(): > 0, 0 at the end, -errno. */
int read_license_row(sd_bus_message *m, struct license_row *l);
/* Appends the row to array a as an object {file, id, state, error, valid_from_usec,
 * valid_until_usec}. */
int license_row_json(struct json_object *a, const struct license_row *l);
/* Call ListLicenses and enter its array; failures logged. */
int get_licenses(sd_bus *bus, sd_bus_message **ret_reply);
