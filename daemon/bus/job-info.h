/* SPDX-License-Identifier: GPL-2.0-only */
/* Job announcements as they come over D-Bus. */
#pragma once

#include <systemd/sd-bus.h>

#include "jobs.h"

/* Read a job announcement's a{sv} into j, starting from a deep copy of base, all or nothing:
 * an unknown key, a wrong type or a bad value rejects the call with InvalidArgs naming the key
 * (in error, returning its negative errno), and base is left as it was. On any error the caller
 * frees j with job_info_clear() after setting j->row = 0. */
int job_info_read_bus(sd_bus_message *msg, const struct job_info *base, struct job_info *j,
		      sd_bus_error *error);
