/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note OR BSD-2-Clause */
/* The hpcmeter generic netlink ABI, shared by the module, the daemon and the tests. */
#ifndef _UAPI_LINUX_HPCMETER_H
#define _UAPI_LINUX_HPCMETER_H

#include <linux/types.h>

#define HPCMETER_GENL_NAME "hpcmeter"
#define HPCMETER_GENL_VERSION 1
/* Multicast group carrying HPCMETER_CMD_EVENT messages. */
#define HPCMETER_MCGRP_EVENTS "events"

enum hpcmeter_cmd {
	HPCMETER_CMD_UNSPEC,

	/*
	 * doit; the request carries no attributes. Replies with VERSION,
	 * ABI_VERSION, LOAD_TIME_NS, BOOT_ID, the sequence counters (*_SEQ,
	 * *_GEN), the meter's state (PROBES, PROBE_FAILURES, USAGE_*) and the
	 * parameters (HEARTBEAT_MS, RECLAIM_AFTER_S), USAGE_RECLAIMED.
	 */
	HPCMETER_CMD_GET_INFO,

	/*
	 * dump; no attributes. One message per accelerator PCI device (PCI
	 * base class 0x03 display or 0x12 processing accelerator), ordered by
	 * (domain, bus, devfn): DEV_BUS_ID, DEV_VENDOR, DEV_DEVICE,
	 * DEV_SUBSYS_VENDOR, DEV_SUBSYS_DEVICE, DEV_CLASS, DEV_NUMA_NODE. A
	 * resumed dump continues after the last device sent, so devices that
	 * stay are sent exactly once; NLM_F_DUMP_INTR is set when the set of
	 * devices changed during the dump.
	 */
	HPCMETER_CMD_GET_INVENTORY,

	/*
	 * Needs CAP_NET_ADMIN or CAP_SYS_ADMIN. doit: CGROUP_ID (required)
	 * selects one cgroup; dump: every cgroup the meter has seen, or only
	 * CGROUP_ID if given. One message per cgroup: CGROUP_ID, ON_CPU_NS,
	 * EXECS, FORKS, EXITS (cumulative since the cgroup got its entry). An
	 * entry keeps its place while its cgroup has it; a removed cgroup's
	 * entry is reclaimed reclaim_after_s after its rmdir (and then starts
	 * from zero if the cgroup id is ever seen again). A resumed dump sends
	 * every entry present all along exactly once; NLM_F_DUMP_INTR is set
	 * when entries were added or reclaimed during the dump.
	 */
	HPCMETER_CMD_GET_USAGE,

	/*
	 * Notification only, on HPCMETER_MCGRP_EVENTS: EVENT_TYPE,
	 * EVENT_SEQ, EVENT_TIME_NS and per type:
	 *   PARAM:         PARAM_NAME, PARAM_VALUE
	 *   PROBE_FAILED:  PROBE_NAME, PROBE_ERROR
	 *   HEARTBEAT:     HEARTBEAT_SEQ
	 *   DEV_ADDED/DEV_REMOVED: the DEV_* attributes of GET_INVENTORY
	 */
	HPCMETER_CMD_EVENT,

	__HPCMETER_CMD_MAX
};
#define HPCMETER_CMD_MAX (__HPCMETER_CMD_MAX - 1)

enum hpcmeter_event_type {
	HPCMETER_EVENT_UNSPEC,
	HPCMETER_EVENT_PARAM, /* a writable module parameter changed */
	HPCMETER_EVENT_PROBE_FAILED, /* a tracepoint probe did not attach */
	HPCMETER_EVENT_HEARTBEAT, /* every heartbeat_ms; HEARTBEAT_SEQ + 1 */
	HPCMETER_EVENT_DEV_ADDED, /* an accelerator appeared (hotplug) */
	HPCMETER_EVENT_DEV_REMOVED, /* an accelerator went away */
};

/* Bits of HPCMETER_A_PROBES: which scheduler tracepoints are attached. */
enum hpcmeter_probe {
	HPCMETER_PROBE_SCHED_SWITCH = 1 << 0,
	HPCMETER_PROBE_SCHED_PROCESS_EXEC = 1 << 1,
	HPCMETER_PROBE_SCHED_PROCESS_FORK = 1 << 2,
	HPCMETER_PROBE_SCHED_PROCESS_EXIT = 1 << 3,
	HPCMETER_PROBE_CGROUP_RMDIR = 1 << 4, /* reclaims removed cgroups */
};
#define HPCMETER_PROBES_ALL 0x1f

enum hpcmeter_attr {
	HPCMETER_A_UNSPEC,
	HPCMETER_A_VERSION, /* string: module release, "0.1.0" */
	HPCMETER_A_ABI_VERSION, /* u32: HPCMETER_GENL_VERSION of the module */
	HPCMETER_A_LOAD_TIME_NS, /* u64: CLOCK_REALTIME at module load, ns */
	HPCMETER_A_PAD, /* padding for 64-bit attributes */

	/* GET_INFO */
	HPCMETER_A_BOOT_ID, /* string: /proc/sys/kernel/random/boot_id */
	HPCMETER_A_HEARTBEAT_SEQ, /* u64: heartbeats sent since load */
	HPCMETER_A_EVENT_SEQ, /* u64: events sent since load */
	HPCMETER_A_USAGE_GEN, /* u64: +1 per cgroup added to the usage table */
	HPCMETER_A_INVENTORY_GEN, /* u64: +1 per inventory change */
	HPCMETER_A_PROBES, /* u32: HPCMETER_PROBE_* bits attached */
	HPCMETER_A_PROBE_FAILURES, /* u32: probes that failed to attach */
	HPCMETER_A_USAGE_ENTRIES, /* u32: cgroups in the usage table */
	HPCMETER_A_USAGE_CAPACITY, /* u32: size of the table (max_cgroups) */
	HPCMETER_A_USAGE_OVERFLOW, /* u64: events lost to a full table */
	HPCMETER_A_INVENTORY_COUNT, /* u32: devices in the inventory */
	HPCMETER_A_HEARTBEAT_MS, /* u32: heartbeat period; 0 = off */

	/* GET_USAGE */
	HPCMETER_A_CGROUP_ID, /* u64: cgroup v2 id (kernfs inode number) */
	HPCMETER_A_ON_CPU_NS, /* u64: on-CPU time of its tasks, ns */
	HPCMETER_A_EXECS, /* u64: successful execve()s */
	HPCMETER_A_FORKS, /* u64: tasks forked (processes and threads) */
	HPCMETER_A_EXITS, /* u64: tasks exited (processes and threads) */

	/* GET_INVENTORY */
	HPCMETER_A_DEV_BUS_ID, /* string: PCI address, "0000:00:02.0" */
	HPCMETER_A_DEV_VENDOR, /* u16 */
	HPCMETER_A_DEV_DEVICE, /* u16 */
	HPCMETER_A_DEV_SUBSYS_VENDOR, /* u16 */
	HPCMETER_A_DEV_SUBSYS_DEVICE, /* u16 */
	HPCMETER_A_DEV_CLASS, /* u32: 24-bit class code, 0x030000 */
	HPCMETER_A_DEV_NUMA_NODE, /* s32: -1 when unknown */

	/* EVENT */
	HPCMETER_A_EVENT_TYPE, /* u32: enum hpcmeter_event_type */
	HPCMETER_A_EVENT_SEQ_NO, /* u64: this event's number, from 1 */
	HPCMETER_A_EVENT_TIME_NS, /* u64: CLOCK_REALTIME when sent */
	HPCMETER_A_PARAM_NAME, /* string */
	HPCMETER_A_PARAM_VALUE, /* string: the new value */
	HPCMETER_A_PROBE_NAME, /* string: tracepoint name */
	HPCMETER_A_PROBE_ERROR, /* s32: negative errno */

	/* GET_INFO, continued */
	HPCMETER_A_USAGE_RECLAIMED, /* u64: slots of removed cgroups reclaimed */
	HPCMETER_A_RECLAIM_AFTER_S, /* u32: a removed cgroup's slot lives this long */

	__HPCMETER_A_MAX
};
#define HPCMETER_A_MAX (__HPCMETER_A_MAX - 1)

#endif /* _UAPI_LINUX_HPCMETER_H */
