/* SPDX-License-Identifier: GPL-2.0 */
/* The "hpcmeter" generic netlink family and its event group. */
#ifndef HPCMETER_NETLINK_H
#define HPCMETER_NETLINK_H

#include <linux/types.h>

struct hpcm_dev_info;

struct hpcm_info {
	u64 load_time_ns;
	char boot_id[40];
};

int hpcm_genl_init(const struct hpcm_info *info);
void hpcm_genl_exit(void);

/* Events on the multicast group; each is a no-op once hpcm_genl_exit ran. */
void hpcm_event_param(const char *name, const char *value);
void hpcm_event_probe_failed(const char *probe, int error);
void hpcm_event_dev(bool added, const struct hpcm_dev_info *dev);
void hpcm_event_heartbeat(void);
u64 hpcm_heartbeat_seq(void);
u64 hpcm_event_seq(void);

/* Module parameters heartbeat_ms and reclaim_after_s, owned by main.c. */
u32 hpcm_heartbeat_ms(void);
u32 hpcm_reclaim_after_s(void);

#endif /* HPCMETER_NETLINK_H */
