// SPDX-License-Identifier: GPL-2.0
/* The "hpcmeter" generic netlink family: the module's interface to user space. */

#include <linux/hpcmeter.h>
#include <net/genetlink.h>

#include "netlink.h"

static u64 hpcmeter_load_time_ns __ro_after_init;

/*
 * GET_INFO takes no attributes. The reply attributes are named here only so
 * that a request carrying one is refused with a message that says why; any
 * other type is refused by the core as unknown (strict validation).
 */
static const struct nla_policy hpcmeter_get_info_policy[HPCMETER_A_MAX + 1] = {
	[HPCMETER_A_VERSION] = { .type = NLA_REJECT,
				 .reject_message = "reply-only attribute" },
	[HPCMETER_A_ABI_VERSION] = { .type = NLA_REJECT,
				     .reject_message = "reply-only attribute" },
	[HPCMETER_A_LOAD_TIME_NS] = { .type = NLA_REJECT,
				      .reject_message =
					      "reply-only attribute" },
	[HPCMETER_A_PAD] = { .type = NLA_REJECT,
			     .reject_message = "padding attribute" },
};

static struct genl_family hpcmeter_genl_family;

static int hpcmeter_get_info_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct sk_buff *msg;
	void *hdr;

	msg = genlmsg_new(nla_total_size(sizeof(HPCMETER_VERSION)) +
				  nla_total_size(sizeof(u32)) +
				  nla_total_size_64bit(sizeof(u64)),
			  GFP_KERNEL);
	if (!msg)
		return -ENOMEM;

	hdr = genlmsg_put_reply(msg, info, &hpcmeter_genl_family, 0,
				HPCMETER_CMD_GET_INFO);
	if (!hdr)
		goto nla_put_failure;

	if (nla_put_string(msg, HPCMETER_A_VERSION, HPCMETER_VERSION) ||
	    nla_put_u32(msg, HPCMETER_A_ABI_VERSION, HPCMETER_GENL_VERSION) ||
	    nla_put_u64_64bit(msg, HPCMETER_A_LOAD_TIME_NS,
			      hpcmeter_load_time_ns, HPCMETER_A_PAD))
		goto nla_put_failure;

	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);

nla_put_failure:
	/* The size above is computed from the same puts: this is a bug. */
	nlmsg_free(msg);
	NL_SET_ERR_MSG(info->extack, "reply does not fit its buffer");
	return -EMSGSIZE;
}

static const struct genl_ops hpcmeter_genl_ops[] = {
	{
		.cmd = HPCMETER_CMD_GET_INFO,
		.doit = hpcmeter_get_info_doit,
		.policy = hpcmeter_get_info_policy,
		.maxattr = ARRAY_SIZE(hpcmeter_get_info_policy) - 1,
	},
};

static struct genl_family hpcmeter_genl_family __ro_after_init = {
	.name = HPCMETER_GENL_NAME,
	.version = HPCMETER_GENL_VERSION,
	.module = THIS_MODULE,
	.ops = hpcmeter_genl_ops,
	.n_ops = ARRAY_SIZE(hpcmeter_genl_ops),
};

int __init hpcmeter_genl_init(u64 load_time_ns)
{
	hpcmeter_load_time_ns = load_time_ns;
	return genl_register_family(&hpcmeter_genl_family);
}

void hpcmeter_genl_exit(void)
{
	genl_unregister_family(&hpcmeter_genl_family);
}
