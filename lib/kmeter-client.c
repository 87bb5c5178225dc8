// SPDX-License-Identifier: GPL-2.0-only
/* libnl-genl client of the module's "hpcmeter" family: info, usage and inventory dumps, events.
 * Every reply is validated against a policy; a malformed one is an error, never trusted. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <linux/netlink.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>

#include <linux/hpcmeter.h>

#include "kmeter-client.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

struct kmeter_client {
	struct nl_sock *sk;
	int family;
	int group;
	char extack[256];
	kmeter_recv_fn recv; /* tests and fuzzing: replies from memory, not the kernel */
};

/* The state of one request: the kernel's verdict and what the caller wants per message. */
struct exchange {
	struct kmeter_client *c;
	bool done;
	int error; /* negative errno from NLMSG_ERROR or NLMSG_DONE, or a parse error */
	bool intr;
	int (*on_msg)(struct nlattr **tb, void *arg);
	void *arg;
};

static struct nla_policy reply_policy[HPCMETER_A_MAX + 1] = {
	[HPCMETER_A_VERSION] = { .type = NLA_STRING, .maxlen = 64 },
	[HPCMETER_A_ABI_VERSION] = { .type = NLA_U32 },
	[HPCMETER_A_LOAD_TIME_NS] = { .type = NLA_U64 },
	[HPCMETER_A_BOOT_ID] = { .type = NLA_STRING, .maxlen = 64 },
	[HPCMETER_A_HEARTBEAT_SEQ] = { .type = NLA_U64 },
	[HPCMETER_A_EVENT_SEQ] = { .type = NLA_U64 },
	[HPCMETER_A_USAGE_GEN] = { .type = NLA_U64 },
	[HPCMETER_A_INVENTORY_GEN] = { .type = NLA_U64 },
	[HPCMETER_A_PROBES] = { .type = NLA_U32 },
	[HPCMETER_A_PROBE_FAILURES] = { .type = NLA_U32 },
	[HPCMETER_A_USAGE_ENTRIES] = { .type = NLA_U32 },
	[HPCMETER_A_USAGE_CAPACITY] = { .type = NLA_U32 },
	[HPCMETER_A_USAGE_OVERFLOW] = { .type = NLA_U64 },
	[HPCMETER_A_INVENTORY_COUNT] = { .type = NLA_U32 },
	[HPCMETER_A_HEARTBEAT_MS] = { .type = NLA_U32 },
	[HPCMETER_A_CGROUP_ID] = { .type = NLA_U64 },
	[HPCMETER_A_ON_CPU_NS] = { .type = NLA_U64 },
	[HPCMETER_A_EXECS] = { .type = NLA_U64 },
	[HPCMETER_A_FORKS] = { .type = NLA_U64 },
	[HPCMETER_A_EXITS] = { .type = NLA_U64 },
	[HPCMETER_A_DEV_BUS_ID] = { .type = NLA_STRING, .maxlen = 32 },
	[HPCMETER_A_DEV_VENDOR] = { .type = NLA_U16 },
	[HPCMETER_A_DEV_DEVICE] = { .type = NLA_U16 },
	[HPCMETER_A_DEV_SUBSYS_VENDOR] = { .type = NLA_U16 },
	[HPCMETER_A_DEV_SUBSYS_DEVICE] = { .type = NLA_U16 },
	[HPCMETER_A_DEV_CLASS] = { .type = NLA_U32 },
	[HPCMETER_A_DEV_NUMA_NODE] = { .type = NLA_U32 },
	[HPCMETER_A_EVENT_TYPE] = { .type = NLA_U32 },
	[HPCMETER_A_EVENT_SEQ_NO] = { .type = NLA_U64 },
	[HPCMETER_A_EVENT_TIME_NS] = { .type = NLA_U64 },
	[HPCMETER_A_PARAM_NAME] = { .type = NLA_STRING, .maxlen = 64 },
	[HPCMETER_A_PARAM_VALUE] = { .type = NLA_STRING, .maxlen = 64 },
	[HPCMETER_A_PROBE_NAME] = { .type = NLA_STRING, .maxlen = 64 },
	[HPCMETER_A_PROBE_ERROR] = { .type = NLA_U32 },
	[HPCMETER_A_USAGE_RECLAIMED] = { .type = NLA_U64 },
	[HPCMETER_A_RECLAIM_AFTER_S] = { .type = NLA_U32 },
};

static bool has_all(struct nlattr **tb, const int *want, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!tb[want[i]])
			return false;
	return true;
}

/* Fixed-size attributes must have exactly their size (libnl checks only the minimum). */
static bool sizes_exact(struct nlattr **tb)
{
	for (int t = 1; t <= HPCMETER_A_MAX; t++) {
		int want = 0;

		if (!tb[t])
			continue;
		switch (reply_policy[t].type) {
		case NLA_U16:
			want = 2;
			break;
		case NLA_U32:
			want = 4;
			break;
		case NLA_U64:
			want = 8;
			break;
		default:
			continue;
		}
		if (nla_len(tb[t]) != want)
			return false;
	}
	return true;
}

static int on_valid(struct nl_msg *msg, void *arg)
{
	struct exchange *x = arg;
	struct nlattr *tb[HPCMETER_A_MAX + 1];
	int r;

	/* After an error, read on to the end of the reply (skipping) so that nothing of it is
	 * left in the socket for the next request. */
	if (x->error)
		return NL_SKIP;
	if (genlmsg_parse(nlmsg_hdr(msg), 0, tb, HPCMETER_A_MAX, reply_policy) < 0 ||
	    !sizes_exact(tb)) {
		x->error = -EBADMSG;
		return NL_SKIP;
	}
	if (x->on_msg) {
		r = x->on_msg(tb, x->arg);
		if (r < 0) {
			x->error = r;
			return NL_SKIP;
		}
	}
	return NL_OK;
}

/* The extended ACK's message, from NLMSG_ERROR or NLMSG_DONE with NLM_F_ACK_TLVS. */
static void keep_extack(struct kmeter_client *c, struct nlmsghdr *nlh, size_t off)
{
	struct nlattr *tb[NLMSGERR_ATTR_MAX + 1];

	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS) || off >= nlh->nlmsg_len)
		return;
	if (nla_parse(tb, NLMSGERR_ATTR_MAX, (struct nlattr *)((char *)nlh + off),
		      nlh->nlmsg_len - off, NULL) < 0)
		return;
	if (tb[NLMSGERR_ATTR_MSG])
		nla_strlcpy(c->extack, tb[NLMSGERR_ATTR_MSG], sizeof(c->extack));
}

static int on_error(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
	struct nlmsghdr *nlh = (struct nlmsghdr *)((char *)e - NLMSG_HDRLEN);
	struct exchange *x = arg;
	size_t off = NLMSG_HDRLEN + sizeof(*e);

	x->done = true;
	/* A positive error is no errno: a malformed reply, never "success with a count". */
	x->error = e->error < 0 ? e->error : -EBADMSG;
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - NLMSG_HDRLEN;
	keep_extack(x->c, nlh, off);
	return NL_STOP;
}

static int on_ack(struct nl_msg *msg, void *arg)
{
	struct exchange *x = arg;

	x->done = true;
	return NL_STOP;
}

static int on_finish(struct nl_msg *msg, void *arg)
{
	struct exchange *x = arg;
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	int err = 0;

	x->done = true;
	if (nlh->nlmsg_len >= NLMSG_LENGTH(sizeof(int)))
		memcpy(&err, nlmsg_data(nlh), sizeof(err));
	if (err < 0 && !x->error) {
		x->error = err;
		keep_extack(x->c, nlh, NLMSG_LENGTH(sizeof(int)));
	}
	return NL_STOP;
}

static int on_intr(struct nl_msg *msg, void *arg)
{
	struct exchange *x = arg;

	x->intr = true;
	return NL_OK;
}

static int nle_to_errno(int nle)
{
	switch (-nle) {
	case NLE_NOMEM:
		return -ENOMEM;
	case NLE_OBJ_NOTFOUND:
		return -ENOENT;
	case NLE_PERM:
		return -EPERM;
	case NLE_AGAIN:
		return -EAGAIN;
	default:
		return -EIO;
	}
}

/* Send cmd (dump or doit with ACK), optionally with a u64 attribute, and collect the reply. */
static int request(struct kmeter_client *c, uint8_t cmd, bool dump, struct exchange *x)
{
	struct nl_msg *msg;
	struct nl_cb *cb;
	int r;

	c->extack[0] = '\0';
	if (c->family <= 0)
		return -ENOENT;
	msg = nlmsg_alloc();
	cb = nl_cb_alloc(NL_CB_DEFAULT);
	if (!msg || !cb) {
		r = -ENOMEM;
		goto out;
	}
	if (!genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, c->family, 0, dump ? NLM_F_DUMP : 0, cmd,
			 HPCMETER_GENL_VERSION)) {
		r = -ENOMEM;
		goto out;
	}
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, on_valid, x);
	nl_cb_set(cb, NL_CB_ACK, NL_CB_CUSTOM, on_ack, x);
	nl_cb_set(cb, NL_CB_FINISH, NL_CB_CUSTOM, on_finish, x);
	nl_cb_set(cb, NL_CB_DUMP_INTR, NL_CB_CUSTOM, on_intr, x);
	nl_cb_err(cb, NL_CB_CUSTOM, on_error, x);
	if (c->recv)
		nl_cb_overwrite_recv(cb, c->recv);
	r = nl_send_auto(c->sk, msg);
	if (r < 0) {
		r = nle_to_errno(r);
		goto out;
	}
	while (!x->done) {
		r = nl_recvmsgs(c->sk, cb);
		if (r < 0 && !x->done) {
			r = x->error ? x->error : nle_to_errno(r);
			goto out;
		}
	}
	r = x->error;
out:
	nl_cb_put(cb);
	nlmsg_free(msg);
	return r;
}

int kmeter_client_open(struct kmeter_client **ret)
{
	struct kmeter_client *c = calloc(1, sizeof(*c));
	struct timeval timeout = { .tv_sec = 5 };
	int one = 1, r;

	if (!c)
		return -ENOMEM;
	c->sk = nl_socket_alloc();
	if (!c->sk) {
		free(c);
		return -ENOMEM;
	}
	r = genl_connect(c->sk);
	if (r < 0) {
		kmeter_client_free(c);
		return nle_to_errno(r);
	}
	/* libnl 3.7 has no setter for these: the kernel's error text, without the request. */
	setsockopt(nl_socket_get_fd(c->sk), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(nl_socket_get_fd(c->sk), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	/* A reply that never comes must not hang the caller (the daemon's event loop). */
	setsockopt(nl_socket_get_fd(c->sk), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
	*ret = c;
	return 0;
}

void kmeter_client_free(struct kmeter_client *c)
{
	if (!c)
		return;
	nl_socket_free(c->sk);
	free(c);
}

int kmeter_client_resolve(struct kmeter_client *c)
{
	int r;

	c->family = c->group = 0;
	r = genl_ctrl_resolve(c->sk, HPCMETER_GENL_NAME);
	if (r < 0)
		return r == -NLE_OBJ_NOTFOUND ? -ENOENT : nle_to_errno(r);
	c->family = r;
	r = genl_ctrl_resolve_grp(c->sk, HPCMETER_GENL_NAME, HPCMETER_MCGRP_EVENTS);
	if (r < 0)
		return r == -NLE_OBJ_NOTFOUND ? -ENOENT : nle_to_errno(r);
	c->group = r;
	return 0;
}

int kmeter_client_set_transport(struct kmeter_client *c, int family, int group, kmeter_send_fn send,
				kmeter_recv_fn recv)
{
	struct nl_cb *cb = nl_socket_get_cb(c->sk);

	if (!cb)
		return -ENOMEM;
	nl_cb_overwrite_send(cb, send);
	nl_cb_put(cb);
	c->recv = recv;
	c->family = family;
	c->group = group;
	return 0;
}

const char *kmeter_client_extack(const struct kmeter_client *c)
{
	return c->extack;
}

static int take_info(struct nlattr **tb, void *arg)
{
	static const int want[] = {
		HPCMETER_A_VERSION,	   HPCMETER_A_ABI_VERSION,     HPCMETER_A_LOAD_TIME_NS,
		HPCMETER_A_BOOT_ID,	   HPCMETER_A_HEARTBEAT_SEQ,   HPCMETER_A_EVENT_SEQ,
		HPCMETER_A_USAGE_GEN,	   HPCMETER_A_INVENTORY_GEN,   HPCMETER_A_PROBES,
		HPCMETER_A_PROBE_FAILURES, HPCMETER_A_USAGE_ENTRIES,   HPCMETER_A_USAGE_CAPACITY,
		HPCMETER_A_USAGE_OVERFLOW, HPCMETER_A_INVENTORY_COUNT, HPCMETER_A_HEARTBEAT_MS,
	};
	struct kmeter_info *in = arg;

	if (!has_all(tb, want, sizeof(want) / sizeof(want[0])))
		return -EBADMSG;
	nla_strlcpy(in->version, tb[HPCMETER_A_VERSION], sizeof(in->version));
	in->abi_version = nla_get_u32(tb[HPCMETER_A_ABI_VERSION]);
	in->load_time_ns = nla_get_u64(tb[HPCMETER_A_LOAD_TIME_NS]);
	nla_strlcpy(in->boot_id, tb[HPCMETER_A_BOOT_ID], sizeof(in->boot_id));
	in->heartbeat_seq = nla_get_u64(tb[HPCMETER_A_HEARTBEAT_SEQ]);
	in->event_seq = nla_get_u64(tb[HPCMETER_A_EVENT_SEQ]);
	in->usage_gen = nla_get_u64(tb[HPCMETER_A_USAGE_GEN]);
	in->inventory_gen = nla_get_u64(tb[HPCMETER_A_INVENTORY_GEN]);
	in->probes = nla_get_u32(tb[HPCMETER_A_PROBES]);
	in->probe_failures = nla_get_u32(tb[HPCMETER_A_PROBE_FAILURES]);
	in->usage_entries = nla_get_u32(tb[HPCMETER_A_USAGE_ENTRIES]);
	in->usage_capacity = nla_get_u32(tb[HPCMETER_A_USAGE_CAPACITY]);
	in->usage_overflow = nla_get_u64(tb[HPCMETER_A_USAGE_OVERFLOW]);
	in->inventory_count = nla_get_u32(tb[HPCMETER_A_INVENTORY_COUNT]);
	in->heartbeat_ms = nla_get_u32(tb[HPCMETER_A_HEARTBEAT_MS]);
	return 0;
}

int kmeter_client_info(struct kmeter_client *c, struct kmeter_info *info)
{
	struct exchange x = { .c = c, .on_msg = take_info, .arg = info };
	int r;

	memset(info, 0, sizeof(*info));
	r = request(c, HPCMETER_CMD_GET_INFO, false, &x);
	if (r == 0 && !info->version[0])
		r = -EBADMSG; /* acknowledged without a reply */
	return r;
}

struct usage_ctx {
	int (*cb)(const struct kmeter_usage *u, void *userdata);
	void *userdata;
};

static int take_usage(struct nlattr **tb, void *arg)
{
	static const int want[] = { HPCMETER_A_CGROUP_ID, HPCMETER_A_ON_CPU_NS, HPCMETER_A_EXECS,
				    HPCMETER_A_FORKS, HPCMETER_A_EXITS };
	struct usage_ctx *ctx = arg;
	struct kmeter_usage u;

	if (!has_all(tb, want, sizeof(want) / sizeof(want[0])))
		return -EBADMSG;
	u = (struct kmeter_usage){
		.cgroup_id = nla_get_u64(tb[HPCMETER_A_CGROUP_ID]),
		.on_cpu_ns = nla_get_u64(tb[HPCMETER_A_ON_CPU_NS]),
		.execs = nla_get_u64(tb[HPCMETER_A_EXECS]),
		.forks = nla_get_u64(tb[HPCMETER_A_FORKS]),
		.exits = nla_get_u64(tb[HPCMETER_A_EXITS]),
	};
	return ctx->cb(&u, ctx->userdata);
}

int kmeter_client_usage(struct kmeter_client *c,
			int (*cb)(const struct kmeter_usage *u, void *userdata), void *userdata,
			bool *intr)
{
	struct usage_ctx ctx = { .cb = cb, .userdata = userdata };
	struct exchange x = { .c = c, .on_msg = take_usage, .arg = &ctx };
	int r = request(c, HPCMETER_CMD_GET_USAGE, true, &x);

	if (intr)
		*intr = x.intr;
	return r;
}

static int parse_dev(struct nlattr **tb, struct kmeter_dev *d)
{
	static const int want[] = { HPCMETER_A_DEV_BUS_ID,	  HPCMETER_A_DEV_VENDOR,
				    HPCMETER_A_DEV_DEVICE,	  HPCMETER_A_DEV_SUBSYS_VENDOR,
				    HPCMETER_A_DEV_SUBSYS_DEVICE, HPCMETER_A_DEV_CLASS,
				    HPCMETER_A_DEV_NUMA_NODE };

	if (!has_all(tb, want, sizeof(want) / sizeof(want[0])))
		return -EBADMSG;
	nla_strlcpy(d->bus_id, tb[HPCMETER_A_DEV_BUS_ID], sizeof(d->bus_id));
	d->vendor = nla_get_u16(tb[HPCMETER_A_DEV_VENDOR]);
	d->device = nla_get_u16(tb[HPCMETER_A_DEV_DEVICE]);
	d->subsys_vendor = nla_get_u16(tb[HPCMETER_A_DEV_SUBSYS_VENDOR]);
	d->subsys_device = nla_get_u16(tb[HPCMETER_A_DEV_SUBSYS_DEVICE]);
	d->class_code = nla_get_u32(tb[HPCMETER_A_DEV_CLASS]);
	d->numa_node = (int32_t)nla_get_u32(tb[HPCMETER_A_DEV_NUMA_NODE]);
	return 0;
}

struct inv_ctx {
	int (*cb)(const struct kmeter_dev *d, void *userdata);
	void *userdata;
};

static int take_dev(struct nlattr **tb, void *arg)
{
	struct inv_ctx *ctx = arg;
	struct kmeter_dev d;
	int r = parse_dev(tb, &d);

	return r < 0 ? r : ctx->cb(&d, ctx->userdata);
}

int kmeter_client_inventory(struct kmeter_client *c,
			    int (*cb)(const struct kmeter_dev *d, void *userdata), void *userdata)
{
	struct inv_ctx ctx = { .cb = cb, .userdata = userdata };
	struct exchange x = { .c = c, .on_msg = take_dev, .arg = &ctx };

	return request(c, HPCMETER_CMD_GET_INVENTORY, true, &x);
}

int kmeter_client_subscribe(struct kmeter_client *c)
{
	int r;

	if (c->group <= 0)
		return -ENOENT;
	r = nl_socket_add_membership(c->sk, c->group);
	if (r < 0)
		return nle_to_errno(r);
	r = nl_socket_set_nonblocking(c->sk);
	return r < 0 ? nle_to_errno(r) : 0;
}

int kmeter_client_fd(const struct kmeter_client *c)
{
	return nl_socket_get_fd(c->sk);
}

static int no_seq_check(struct nl_msg *msg, void *arg)
{
	return NL_OK; /* multicast messages have sequence number 0 */
}

struct event_ctx {
	void (*cb)(const struct kmeter_event *e, void *userdata);
	void *userdata;
	int bad;
};

static int on_event(struct nl_msg *msg, void *arg)
{
	struct event_ctx *ctx = arg;
	struct nlattr *tb[HPCMETER_A_MAX + 1];
	struct genlmsghdr *g = nlmsg_data(nlmsg_hdr(msg));
	struct kmeter_event e = { 0 };

	/* A message too short for its generic-netlink header is bad, not read past its end. */
	if (!genlmsg_valid_hdr(nlmsg_hdr(msg), 0)) {
		ctx->bad++;
		return NL_SKIP;
	}
	if (g->cmd != HPCMETER_CMD_EVENT)
		return NL_SKIP;
	if (genlmsg_parse(nlmsg_hdr(msg), 0, tb, HPCMETER_A_MAX, reply_policy) < 0 ||
	    !sizes_exact(tb) || !tb[HPCMETER_A_EVENT_TYPE] || !tb[HPCMETER_A_EVENT_SEQ_NO] ||
	    !tb[HPCMETER_A_EVENT_TIME_NS]) {
		ctx->bad++;
		return NL_SKIP;
	}
	e.type = nla_get_u32(tb[HPCMETER_A_EVENT_TYPE]);
	e.seq = nla_get_u64(tb[HPCMETER_A_EVENT_SEQ_NO]);
	e.time_ns = nla_get_u64(tb[HPCMETER_A_EVENT_TIME_NS]);
	if (tb[HPCMETER_A_HEARTBEAT_SEQ])
		e.heartbeat_seq = nla_get_u64(tb[HPCMETER_A_HEARTBEAT_SEQ]);
	if (tb[HPCMETER_A_PARAM_NAME])
		nla_strlcpy(e.name, tb[HPCMETER_A_PARAM_NAME], sizeof(e.name));
	if (tb[HPCMETER_A_PROBE_NAME])
		nla_strlcpy(e.name, tb[HPCMETER_A_PROBE_NAME], sizeof(e.name));
	if (tb[HPCMETER_A_PARAM_VALUE])
		nla_strlcpy(e.value, tb[HPCMETER_A_PARAM_VALUE], sizeof(e.value));
	if (tb[HPCMETER_A_PROBE_ERROR])
		e.error = (int32_t)nla_get_u32(tb[HPCMETER_A_PROBE_ERROR]);
	if (e.type == HPCMETER_EVENT_DEV_ADDED || e.type == HPCMETER_EVENT_DEV_REMOVED) {
		if (parse_dev(tb, &e.dev) < 0) {
			ctx->bad++;
			return NL_SKIP;
		}
	}
	ctx->cb(&e, ctx->userdata);
	return NL_OK;
}

int kmeter_client_read_events(struct kmeter_client *c,
			      void (*cb)(const struct kmeter_event *e, void *userdata),
			      void *userdata)
{
	struct event_ctx ctx = { .cb = cb, .userdata = userdata };
	struct nl_cb *nlcb = nl_cb_alloc(NL_CB_DEFAULT);
	int r;

	if (!nlcb)
		return -ENOMEM;
	nl_cb_set(nlcb, NL_CB_VALID, NL_CB_CUSTOM, on_event, &ctx);
	nl_cb_set(nlcb, NL_CB_SEQ_CHECK, NL_CB_CUSTOM, no_seq_check, NULL);
	if (c->recv)
		nl_cb_overwrite_recv(nlcb, c->recv);
	/* Non-blocking: the report is the number of messages read, 0 once none is left. */
	do
		r = nl_recvmsgs_report(c->sk, nlcb);
	while (r > 0);
	nl_cb_put(nlcb);
	if (r == 0 || r == -NLE_AGAIN)
		return ctx.bad ? -EBADMSG : 0;
	return nle_to_errno(r);
}
