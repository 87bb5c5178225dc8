/* SPDX-License-Identifier: GPL-2.0-only */
/* The manager's hooks into the GPU meter and the accelerator inventory (manager-gpu.c). */
#pragma once

#include <stdbool.h>

struct inventory;

#include <stdint.h>

struct manager;

/* Load the inventory and, unless gpu_mode is off, the GPU meter. A GPU meter that cannot load
 * is logged and shown in status; the daemon runs on. */
int manager_gpu_start(struct manager *m);
/* A process exec'd: look at its mappings at the next collection. */
void manager_gpu_exec(struct manager *m, uint32_t tgid);
/* Read the counters into the interval in progress. */
void manager_gpu_collect(struct manager *m);
/* Write the interval's GPU usage under interval_id; manager_gpu_flushed() once committed. */
int manager_gpu_flush(struct manager *m, int64_t interval_id);
void manager_gpu_flushed(struct manager *m);
/* The gpu_* and accelerator keys of GetStatus. */
struct status_list;
int manager_gpu_status(struct manager *m, struct status_list *l);
void manager_gpu_free(struct manager *m);
/* Read the accelerators on the PCI bus now (for the licence evaluator: a GPU added, removed or
 * swapped since the start shows at once), matched against the models data file. */
int manager_gpu_rescan(struct manager *m, struct inventory **ret);
/* Whether the GPU meter counts this licence metric on this node: launches, threads launched
 * and host-to-device bytes are counted in detailed mode only. */
bool manager_gpu_counts(const struct manager *m, const char *metric);
/* Caps of the loaded licences on metrics this node does not count (light mode). */
unsigned manager_gpu_terms_uncounted(const struct manager *m);
