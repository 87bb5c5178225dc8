/* SPDX-License-Identifier: GPL-2.0-only */
/* hpcmeterctl's license verbs beyond "check": explain (from the daemon) and simulate
 * (offline, against a recorded ledger). */
#pragma once

#include <stdbool.h>
#include <systemd/sd-bus.h>

#include "json-doc.h"
#include "license.h"

/* "file:line:col: error: field: message" (or "warning") as compilers print them. */
void ctl_license_format(const struct license_error *e, const char *severity, char *buf,
			size_t size);

/* legend: the heading line before the terms; pretty JSON is one term per line */
int ctl_license_explain(sd_bus *bus, const char *id, enum json_mode json, bool legend);

/* Evaluates the draft licence file against state_dir's ledger since the date (YYYY-MM-DD,
 * UTC), read-only. Returns 0, or 1 when the draft would have been violated, or -errno. */
int ctl_license_simulate(const char *file, const char *since, const char *state_dir,
			 enum json_mode json);
