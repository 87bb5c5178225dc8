/* SPDX-License-Identifier: GPL-2.0-only */
/* A violation as ListViolations and ViolationRaised carry it, read and written the same way by
 * hpcmeterctl violations and monitor (ctl-violations.c). */
#pragma once

#include <stdint.h>
#include <systemd/sd-bus.h>

#include "json-doc.h"

/* Strings point into the message. */
struct violation {
	uint64_t seq, time_usec;
	const char *kind, *license_id;
	uint32_t pid, uid;
	const char *user, *executable, *cgroup, *job, *detail;
};

/* Read one violation: types is HPCMETER_SIG_VIOLATION inside an array,
 * HPCMETER_SIG_VIOLATION_FIELDS for the signal body. > 0, 0 at the end, -errno. */
int read_violation(sd_bus_message *m, const char *types, struct violation *v);
/* The violation as an object (the keys of violations --json); NULL when out of memory. */
struct json_object *violation_json(const struct violation *v);
