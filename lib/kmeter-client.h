/* SPDX-License-Identifier: GPL-2.0-only */
/* A libnl-genl client of the hpcmeter kernel module's "hpcmeter" generic netlink family. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kmeter_info {
	char version[64];
	uint32_t abi_version;
	uint64_t load_time_ns;
	char boot_id[64];
	uint64_t heartbeat_seq, event_seq, usage_gen, inventory_gen;
	uint32_t probes, probe_failures;
	uint32_t usage_entries, usage_capacity;
	uint64_t usage_overflow;
	uint32_t inventory_count;
	uint32_t heartbeat_ms;
};

struct kmeter_usage {
	uint64_t cgroup_id;
	uint64_t on_cpu_ns;
	uint64_t execs, forks, exits;
};

struct kmeter_dev {
	char bus_id[32];
	uint16_t vendor, device, subsys_vendor, subsys_device;
	uint32_t class_code;
	int32_t numa_node;
};

struct kmeter_event {
	uint32_t type; /* enum hpcmeter_event_type */
	uint64_t seq;
	uint64_t time_ns;
	uint64_t heartbeat_seq;
	char name[64]; /* PARAM: parameter; PROBE_FAILED: tracepoint */
	char value[64]; /* PARAM: new value */
	int32_t error; /* PROBE_FAILED */
	struct kmeter_dev dev; /* DEV_ADDED, DEV_REMOVED */
};

struct kmeter_client;

/* A generic netlink socket asking for extended ACKs. */
int kmeter_client_open(struct kmeter_client **ret);
void kmeter_client_free(struct kmeter_client *c);

/* Resolve the family and its event group by name: -ENOENT when the module is not loaded. */
int kmeter_client_resolve(struct kmeter_client *c);

/* The kernel's extended-ACK message of the last failed request, or "". */
/* Tests and fuzzing: send through send and read every reply through recv (libnl's overrides:
 * recv returns one datagram in a malloc()ed buffer, or a negative NLE_* code) instead of the
 * kernel, with family and group taken as resolved. The parsing is the daemon's own. */
struct nl_sock;
struct nl_msg;
struct sockaddr_nl;
struct ucred;
typedef int (*kmeter_send_fn)(struct nl_sock *sk, struct nl_msg *msg);
typedef int (*kmeter_recv_fn)(struct nl_sock *sk, struct sockaddr_nl *addr, unsigned char **buf,
			      struct ucred **creds);
int kmeter_client_set_transport(struct kmeter_client *c, int family, int group, kmeter_send_fn send,
				kmeter_recv_fn recv);

const char *kmeter_client_extack(const struct kmeter_client *c);

int kmeter_client_info(struct kmeter_client *c, struct kmeter_info *info);

/* Dumps; cb returns negative to stop. *intr (may be NULL) tells of NLM_F_DUMP_INTR. */
int kmeter_client_usage(struct kmeter_client *c,
			int (*cb)(const struct kmeter_usage *u, void *userdata), void *userdata,
			bool *intr);
int kmeter_client_inventory(struct kmeter_client *c,
			    int (*cb)(const struct kmeter_dev *d, void *userdata), void *userdata);

/* Events: subscribe (non-blocking socket), poll fd, then read what is there. */
int kmeter_client_subscribe(struct kmeter_client *c);
int kmeter_client_fd(const struct kmeter_client *c);
int kmeter_client_read_events(struct kmeter_client *c,
			      void (*cb)(const struct kmeter_event *e, void *userdata),
			      void *userdata);
