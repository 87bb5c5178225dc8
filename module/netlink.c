// SPDX-License-Identifier: GPL-2.0
/*
 * The "hpcmeter" generic netlink family: GET_INFO, GET_INVENTORY, GET_USAGE
 * and the "events" multicast group (parameter changes, probe failures,
 * heartbeats, accelerator hotplug).
 *
 * Every command has a policy; genetlink validates strictly, so an attribute
 * a command does not take is refused by the core with an extended ACK
 * ("Unsupported attribute", "Unknown attribute type", "invalid attribute
 * length"), and the handlers add their own messages for what the policy
 * cannot express.
 */

#include <linux/capability.h>
#include <linux/mutex.h>
#include <linux/version.h>
#include <linux/workqueue.h>
#include <net/genetlink.h>

#include <linux/hpcmeter.h>

#include "inventory.h"
#include "meter.h"
#include "netlink.h"

static struct hpcm_info hpcm_info __ro_after_init;
static struct genl_family hpcm_family;

/* Events may be sent only between register and unregister of the family. */
static DEFINE_MUTEX(hpcm_event_lock);
static bool hpcm_events_live;
static atomic64_t hpcm_event_seq_nr = ATOMIC64_INIT(0);
static atomic64_t hpcm_heartbeat_seq_nr = ATOMIC64_INIT(0);

static const struct nla_policy hpcm_info_policy[HPCMETER_A_MAX + 1] = {};
static const struct nla_policy hpcm_inventory_policy[HPCMETER_A_MAX + 1] = {};
static const struct nla_policy hpcm_usage_policy[HPCMETER_A_MAX + 1] = {
	[HPCMETER_A_CGROUP_ID] = { .type = NLA_U64 },
};

/* GET_USAGE shows every user's activity: root-like callers only. */
static int hpcm_check_admin(struct sk_buff *skb, struct netlink_ext_ack *extack)
{
	if (netlink_capable(skb, CAP_NET_ADMIN) ||
	    netlink_capable(skb, CAP_SYS_ADMIN))
		return 0;
	NL_SET_ERR_MSG_MOD(extack,
			   "usage needs CAP_NET_ADMIN or CAP_SYS_ADMIN");
	return -EPERM;
}

static int hpcm_put_u64(struct sk_buff *skb, int type, u64 v)
{
	return nla_put_u64_64bit(skb, type, v, HPCMETER_A_PAD);
}

/* ---- GET_INFO ---------------------------------------------------------- */

static int hpcm_fill_info(struct sk_buff *msg)
{
	if (nla_put_string(msg, HPCMETER_A_VERSION, HPCMETER_VERSION) ||
	    nla_put_u32(msg, HPCMETER_A_ABI_VERSION, HPCMETER_GENL_VERSION) ||
	    hpcm_put_u64(msg, HPCMETER_A_LOAD_TIME_NS,
			 hpcm_info.load_time_ns) ||
	    nla_put_string(msg, HPCMETER_A_BOOT_ID, hpcm_info.boot_id) ||
	    hpcm_put_u64(msg, HPCMETER_A_HEARTBEAT_SEQ,
			 atomic64_read(&hpcm_heartbeat_seq_nr)) ||
	    hpcm_put_u64(msg, HPCMETER_A_EVENT_SEQ,
			 atomic64_read(&hpcm_event_seq_nr)) ||
	    hpcm_put_u64(msg, HPCMETER_A_USAGE_GEN, hpcm_meter_gen()) ||
	    hpcm_put_u64(msg, HPCMETER_A_INVENTORY_GEN, hpcm_inventory_gen()) ||
	    nla_put_u32(msg, HPCMETER_A_PROBES, hpcm_meter_probes()) ||
	    nla_put_u32(msg, HPCMETER_A_PROBE_FAILURES,
			hpcm_meter_probe_failures()) ||
	    nla_put_u32(msg, HPCMETER_A_USAGE_ENTRIES, hpcm_meter_entries()) ||
	    nla_put_u32(msg, HPCMETER_A_USAGE_CAPACITY,
			hpcm_meter_capacity()) ||
	    hpcm_put_u64(msg, HPCMETER_A_USAGE_OVERFLOW,
			 hpcm_meter_overflow()) ||
	    nla_put_u32(msg, HPCMETER_A_INVENTORY_COUNT,
			hpcm_inventory_count()) ||
	    nla_put_u32(msg, HPCMETER_A_HEARTBEAT_MS, hpcm_heartbeat_ms()) ||
	    hpcm_put_u64(msg, HPCMETER_A_USAGE_RECLAIMED,
			 hpcm_meter_reclaimed()) ||
	    nla_put_u32(msg, HPCMETER_A_RECLAIM_AFTER_S,
			hpcm_reclaim_after_s()))
		return -EMSGSIZE;
	return 0;
}

static int hpcm_get_info_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct sk_buff *msg;
	void *hdr;

	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &hpcm_family, 0,
				HPCMETER_CMD_GET_INFO);
	if (!hdr || hpcm_fill_info(msg)) {
		nlmsg_free(msg);
		NL_SET_ERR_MSG_MOD(info->extack,
				   "reply does not fit its buffer");
		return -EMSGSIZE;
	}
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);
}

/* ---- GET_INVENTORY ----------------------------------------------------- */

static int hpcm_fill_dev(struct sk_buff *msg, const struct hpcm_dev_info *d)
{
	if (nla_put_string(msg, HPCMETER_A_DEV_BUS_ID, d->bus_id) ||
	    nla_put_u16(msg, HPCMETER_A_DEV_VENDOR, d->vendor) ||
	    nla_put_u16(msg, HPCMETER_A_DEV_DEVICE, d->device) ||
	    nla_put_u16(msg, HPCMETER_A_DEV_SUBSYS_VENDOR, d->subsys_vendor) ||
	    nla_put_u16(msg, HPCMETER_A_DEV_SUBSYS_DEVICE, d->subsys_device) ||
	    nla_put_u32(msg, HPCMETER_A_DEV_CLASS, d->class) ||
	    nla_put_s32(msg, HPCMETER_A_DEV_NUMA_NODE, d->numa_node))
		return -EMSGSIZE;
	return 0;
}

/* cb->args[0]: a device was sent; cb->args[1]: the last one's key. */
static int hpcm_get_inventory_dumpit(struct sk_buff *skb,
				     struct netlink_callback *cb)
{
	struct hpcm_dev_info d;
	void *hdr;

	cb->seq = (unsigned int)hpcm_inventory_gen() + 1;
	while (hpcm_inventory_next(cb->args[0], cb->args[1], &d)) {
		hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid,
				  cb->nlh->nlmsg_seq, &hpcm_family, NLM_F_MULTI,
				  HPCMETER_CMD_GET_INVENTORY);
		if (!hdr)
			break;
		genl_dump_check_consistent(cb, hdr);
		if (hpcm_fill_dev(skb, &d)) {
			genlmsg_cancel(skb, hdr);
			break;
		}
		genlmsg_end(skb, hdr);
		cb->args[0] = 1;
		cb->args[1] = d.key;
	}
	return skb->len;
}

/* ---- GET_USAGE --------------------------------------------------------- */

static int hpcm_fill_usage(struct sk_buff *msg, const struct hpcm_usage *u)
{
	if (hpcm_put_u64(msg, HPCMETER_A_CGROUP_ID, u->cgroup_id) ||
	    hpcm_put_u64(msg, HPCMETER_A_ON_CPU_NS, u->on_cpu_ns) ||
	    hpcm_put_u64(msg, HPCMETER_A_EXECS, u->execs) ||
	    hpcm_put_u64(msg, HPCMETER_A_FORKS, u->forks) ||
	    hpcm_put_u64(msg, HPCMETER_A_EXITS, u->exits))
		return -EMSGSIZE;
	return 0;
}

static int hpcm_get_usage_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct hpcm_usage u;
	struct sk_buff *msg;
	void *hdr;
	int ret;

	ret = hpcm_check_admin(skb, info->extack);
	if (ret)
		return ret;
	if (!info->attrs[HPCMETER_A_CGROUP_ID]) {
		NL_SET_ERR_MSG_MOD(
			info->extack,
			"missing HPCMETER_A_CGROUP_ID (dump for all)");
		return -EINVAL;
	}
	if (!hpcm_meter_lookup(nla_get_u64(info->attrs[HPCMETER_A_CGROUP_ID]),
			       &u)) {
		NL_SET_ERR_MSG_ATTR(info->extack,
				    info->attrs[HPCMETER_A_CGROUP_ID],
				    "cgroup not seen by the meter");
		return -ENOENT;
	}
	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &hpcm_family, 0,
				HPCMETER_CMD_GET_USAGE);
	if (!hdr || hpcm_fill_usage(msg, &u)) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);
}

static struct nlattr **hpcm_dump_attrs(struct netlink_callback *cb)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 2, 0)
	return genl_dumpit_info(cb)->info.attrs;
#else
	return genl_dumpit_info(cb)->attrs;
#endif
}

/*
 * cb->args[0]: the next table index. Slots keep their cgroup until unload,
 * so resuming at an index neither skips nor repeats a cgroup that was in
 * the table when the dump began; cb->seq makes the core flag the dump
 * (NLM_F_DUMP_INTR) when cgroups were added while it ran.
 */
static int hpcm_get_usage_dumpit(struct sk_buff *skb,
				 struct netlink_callback *cb)
{
	struct nlattr *filter = hpcm_dump_attrs(cb)[HPCMETER_A_CGROUP_ID];
	unsigned long pos = cb->args[0];
	struct hpcm_usage u;
	void *hdr;
	int ret;

	/*
	 * Checked here rather than in .start: before 6.2 a dump's start has
	 * no extack, while the dump's NLMSG_DONE carries one. cb->skb is the
	 * request, so this is the requester's credentials.
	 */
	ret = hpcm_check_admin(cb->skb, cb->extack);
	if (ret)
		return ret;
	if (filter) {
		if (pos || !hpcm_meter_lookup(nla_get_u64(filter), &u))
			return 0;
		hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid,
				  cb->nlh->nlmsg_seq, &hpcm_family, NLM_F_MULTI,
				  HPCMETER_CMD_GET_USAGE);
		if (!hdr)
			return -EMSGSIZE;
		if (hpcm_fill_usage(skb, &u)) {
			genlmsg_cancel(skb, hdr);
			return -EMSGSIZE;
		}
		genlmsg_end(skb, hdr);
		cb->args[0] = 1;
		return skb->len;
	}

	cb->seq = (unsigned int)hpcm_meter_gen() + 1;
	while (hpcm_meter_read(&pos, &u)) {
		hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid,
				  cb->nlh->nlmsg_seq, &hpcm_family, NLM_F_MULTI,
				  HPCMETER_CMD_GET_USAGE);
		if (!hdr)
			break;
		genl_dump_check_consistent(cb, hdr);
		if (hpcm_fill_usage(skb, &u)) {
			genlmsg_cancel(skb, hdr);
			break;
		}
		genlmsg_end(skb, hdr);
		pos++;
	}
	cb->args[0] = pos;
	return skb->len;
}

/* ---- family ------------------------------------------------------------ */

static const struct genl_ops hpcm_ops[] = {
	{
		.cmd = HPCMETER_CMD_GET_INFO,
		.doit = hpcm_get_info_doit,
		.policy = hpcm_info_policy,
		.maxattr = HPCMETER_A_MAX,
	},
	{
		.cmd = HPCMETER_CMD_GET_INVENTORY,
		.dumpit = hpcm_get_inventory_dumpit,
		.policy = hpcm_inventory_policy,
		.maxattr = HPCMETER_A_MAX,
	},
	{
		.cmd = HPCMETER_CMD_GET_USAGE,
		.doit = hpcm_get_usage_doit,
		.dumpit = hpcm_get_usage_dumpit,
		.policy = hpcm_usage_policy,
		.maxattr = HPCMETER_A_MAX,
	},
};

enum { HPCM_MCGRP_EVENTS };

static const struct genl_multicast_group hpcm_mcgrps[] = {
	[HPCM_MCGRP_EVENTS] = { .name = HPCMETER_MCGRP_EVENTS },
};

static struct genl_family hpcm_family __ro_after_init = {
	.name = HPCMETER_GENL_NAME,
	.version = HPCMETER_GENL_VERSION,
	.maxattr = HPCMETER_A_MAX,
	.module = THIS_MODULE,
	.ops = hpcm_ops,
	.n_ops = ARRAY_SIZE(hpcm_ops),
	.mcgrps = hpcm_mcgrps,
	.n_mcgrps = ARRAY_SIZE(hpcm_mcgrps),
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 1, 0)
	/* Commands from GET_INFO on: reserved header fields must be zero. */
	.resv_start_op = HPCMETER_CMD_GET_INFO,
#endif
};

/* ---- events ------------------------------------------------------------ */

struct hpcm_event {
	u32 type;
	const char *name;
	const char *value;
	int error;
	const struct hpcm_dev_info *dev;
};

static void hpcm_send_event(const struct hpcm_event *ev)
{
	struct sk_buff *msg;
	void *hdr;
	u64 seq;

	mutex_lock(&hpcm_event_lock);
	if (!hpcm_events_live)
		goto out;
	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		goto out;
	hdr = genlmsg_put(msg, 0, 0, &hpcm_family, 0, HPCMETER_CMD_EVENT);
	if (!hdr)
		goto fail;
	seq = atomic64_inc_return(&hpcm_event_seq_nr);
	if (nla_put_u32(msg, HPCMETER_A_EVENT_TYPE, ev->type) ||
	    hpcm_put_u64(msg, HPCMETER_A_EVENT_SEQ_NO, seq) ||
	    hpcm_put_u64(msg, HPCMETER_A_EVENT_TIME_NS, ktime_get_real_ns()))
		goto fail;
	switch (ev->type) {
	case HPCMETER_EVENT_PARAM:
		if (nla_put_string(msg, HPCMETER_A_PARAM_NAME, ev->name) ||
		    nla_put_string(msg, HPCMETER_A_PARAM_VALUE, ev->value))
			goto fail;
		break;
	case HPCMETER_EVENT_PROBE_FAILED:
		if (nla_put_string(msg, HPCMETER_A_PROBE_NAME, ev->name) ||
		    nla_put_s32(msg, HPCMETER_A_PROBE_ERROR, ev->error))
			goto fail;
		break;
	case HPCMETER_EVENT_HEARTBEAT:
		if (hpcm_put_u64(msg, HPCMETER_A_HEARTBEAT_SEQ,
				 atomic64_inc_return(&hpcm_heartbeat_seq_nr)))
			goto fail;
		break;
	case HPCMETER_EVENT_DEV_ADDED:
	case HPCMETER_EVENT_DEV_REMOVED:
		if (hpcm_fill_dev(msg, ev->dev))
			goto fail;
		break;
	}
	genlmsg_end(msg, hdr);
	/* -ESRCH: nobody listens, which is fine. */
	genlmsg_multicast(&hpcm_family, msg, 0, HPCM_MCGRP_EVENTS, GFP_KERNEL);
	goto out;
fail:
	nlmsg_free(msg);
out:
	mutex_unlock(&hpcm_event_lock);
}

void hpcm_event_param(const char *name, const char *value)
{
	struct hpcm_event ev = { .type = HPCMETER_EVENT_PARAM,
				 .name = name,
				 .value = value };

	hpcm_send_event(&ev);
}

void hpcm_event_probe_failed(const char *probe, int error)
{
	struct hpcm_event ev = { .type = HPCMETER_EVENT_PROBE_FAILED,
				 .name = probe,
				 .error = error };

	hpcm_send_event(&ev);
}

void hpcm_event_dev(bool added, const struct hpcm_dev_info *dev)
{
	struct hpcm_event ev = { .type = added ? HPCMETER_EVENT_DEV_ADDED :
						 HPCMETER_EVENT_DEV_REMOVED,
				 .dev = dev };

	hpcm_send_event(&ev);
}

void hpcm_event_heartbeat(void)
{
	struct hpcm_event ev = { .type = HPCMETER_EVENT_HEARTBEAT };

	hpcm_send_event(&ev);
}

u64 hpcm_heartbeat_seq(void)
{
	return atomic64_read(&hpcm_heartbeat_seq_nr);
}

u64 hpcm_event_seq(void)
{
	return atomic64_read(&hpcm_event_seq_nr);
}

int __init hpcm_genl_init(const struct hpcm_info *info)
{
	int ret;

	hpcm_info = *info;
	ret = genl_register_family(&hpcm_family);
	if (ret)
		return ret;
	mutex_lock(&hpcm_event_lock);
	hpcm_events_live = true;
	mutex_unlock(&hpcm_event_lock);
	return 0;
}

void hpcm_genl_exit(void)
{
	mutex_lock(&hpcm_event_lock);
	hpcm_events_live = false;
	mutex_unlock(&hpcm_event_lock);
	genl_unregister_family(&hpcm_family);
}
