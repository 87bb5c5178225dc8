/* SPDX-License-Identifier: GPL-2.0-only */
/* hpcmeterctl's GPU views: the inventory verb and the GPU part of usage (ctl-inventory.c). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "json-doc.h"

/* One row of GetGpuUsage; strings point into the reply, valid while it lives. */
struct ctl_gpu_row {
	const char *cgroup, *job;
	uint32_t uid;
	const char *user;
	uint64_t gpu_ns;
	double tpp_seconds, ops_upper, ops_lower;
	uint64_t launches, threads_launched, graph_launches, bytes_alloc, bytes_h2d, dev_opens;
	uint64_t first_usec, last_usec;
};

/* hpcmeterctl inventory: a table, or JSON in mode json. */
int ctl_inventory(sd_bus *bus, enum json_mode json, bool legend);

/* The "GPU runtime libraries" section of hpcmeterctl status, from its GetStatus reply. */
void ctl_gpu_status_libraries(sd_bus_message *status);

/* Fetch GetGpuUsage rows into *rows (free() it; unref *reply). */
int ctl_gpu_usage_fetch(sd_bus *bus, uint64_t since_usec, sd_bus_message **reply,
			struct ctl_gpu_row **rows, size_t *n);
/* The GPU table of hpcmeterctl usage (nothing when there are no rows). */
void ctl_gpu_usage_table(const struct ctl_gpu_row *rows, size_t n, bool legend);
