/* SPDX-License-Identifier: GPL-2.0-only */
/* The D-Bus contract in C: names and signatures of daemon/org.hpcmeter1.xml, one copy for the
 * daemon and its clients. */
#pragma once

#include <stdint.h>

#define HPCMETER_BUS_NAME "org.hpcmeter1"
#define HPCMETER_OBJECT_PATH "/org/hpcmeter1"
#define HPCMETER_MANAGER_IFACE "org.hpcmeter1.Manager"

#define HPCMETER_SIG_LICENSE "(sssstt)"
#define HPCMETER_SIG_VIOLATION_FIELDS "ttssuusssss"
#define HPCMETER_SIG_VIOLATION "(" HPCMETER_SIG_VIOLATION_FIELDS ")"
#define HPCMETER_SIG_USAGE "(ssusttt)"
/* (id, cause, start_usec, end_usec, boot_id, detail, bound_cpu_ns, bound_devices, bound, policy) */
#define HPCMETER_SIG_GAP_FIELDS "tsttsstuss"
#define HPCMETER_SIG_GAP "(" HPCMETER_SIG_GAP_FIELDS ")"
/* job, scheduler, user, uid, account, partition, wckey, comment, gpus, nodes, start, end */
#define HPCMETER_SIG_JOB "(sssusssssstt)"
/* GetGpuUsage: cgroup, job, uid, user, gpu_ns, tpp_seconds, ops_upper, ops_lower, launches,
 * threads_launched, graph_launches, bytes_alloc, bytes_h2d, dev_opens, first_usec, last_usec */
#define HPCMETER_SIG_GPU_USAGE "(ssustdddtttttttt)"
/* GetInventory: bus_id, vendor_id, device_id, class, vendor, model, uuid, driver, tpp, app,
 * utilization (percent, -1 unknown), peaks {precision: TOPS}, sources */
#define HPCMETER_SIG_INVENTORY "(suuussssddia{sd}s)"
/* ViolationCleared: seq of the raised violation, time, its dedup key. */
#define HPCMETER_SIG_CLEARED_FIELDS "tts"
#define HPCMETER_SIG_CLEARED "(" HPCMETER_SIG_CLEARED_FIELDS ")"
/* ThresholdApproaching / ListThresholdEvents: seq, time_usec, license_id, term, subject,
 * level (80 or 95), measured, limit, detail. */
#define HPCMETER_SIG_THRESHOLD_FIELDS "ttsssudds"
#define HPCMETER_SIG_THRESHOLD "(" HPCMETER_SIG_THRESHOLD_FIELDS ")"
/* ExplainLicense: term, state, text. */
#define HPCMETER_SIG_TERM "(sss)"

/* uid of a violation that concerns no process (a licence out of its validity). */
#define HPCMETER_UID_NONE UINT32_MAX
