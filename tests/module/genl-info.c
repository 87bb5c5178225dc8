// SPDX-License-Identifier: GPL-2.0
/* genl-info: ask the hpcmeter module for GET_INFO over generic netlink and print the reply. */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <linux/netlink.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>

#include <linux/hpcmeter.h>

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

/* Exit codes, so that a test can tell "module absent" from "module broken". */
enum {
	EXIT_FAMILY_MISSING = 2,
};

struct request {
	bool done;
	int error; /* negative errno from the kernel's ACK */
	char extack[256];
	bool have_reply;
	char version[64];
	uint32_t abi_version;
	uint64_t load_time_ns;
};

static struct nla_policy reply_policy[HPCMETER_A_MAX + 1] = {
	[HPCMETER_A_VERSION] = { .type = NLA_STRING, .maxlen = 64 },
	[HPCMETER_A_ABI_VERSION] = { .type = NLA_U32 },
	[HPCMETER_A_LOAD_TIME_NS] = { .type = NLA_U64 },
};

static int on_reply(struct nl_msg *msg, void *arg)
{
	struct request *req = arg;
	struct nlattr *tb[HPCMETER_A_MAX + 1];
	int err;

	err = genlmsg_parse(nlmsg_hdr(msg), 0, tb, HPCMETER_A_MAX, reply_policy);
	if (err < 0) {
		fprintf(stderr, "genl-info: malformed reply: %s\n", nl_geterror(err));
		return NL_STOP;
	}
	if (!tb[HPCMETER_A_VERSION] || !tb[HPCMETER_A_ABI_VERSION] ||
	    !tb[HPCMETER_A_LOAD_TIME_NS]) {
		fprintf(stderr, "genl-info: reply lacks %s\n",
			!tb[HPCMETER_A_VERSION]	    ? "HPCMETER_A_VERSION" :
			!tb[HPCMETER_A_ABI_VERSION] ? "HPCMETER_A_ABI_VERSION" :
						      "HPCMETER_A_LOAD_TIME_NS");
		return NL_STOP;
	}
	nla_strlcpy(req->version, tb[HPCMETER_A_VERSION], sizeof(req->version));
	req->abi_version = nla_get_u32(tb[HPCMETER_A_ABI_VERSION]);
	req->load_time_ns = nla_get_u64(tb[HPCMETER_A_LOAD_TIME_NS]);
	req->have_reply = true;
	return NL_OK;
}

static int on_ack(struct nl_msg *msg, void *arg)
{
	struct request *req = arg;

	req->done = true;
	return NL_STOP;
}

/* Keep the kernel's error and its extended-ACK message, if it sent one. */
static int on_error(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
	struct nlmsghdr *nlh = (struct nlmsghdr *)((char *)e - NLMSG_HDRLEN);
	struct request *req = arg;
	struct nlattr *tb[NLMSGERR_ATTR_MAX + 1];
	size_t off;

	req->done = true;
	req->error = e->error;
	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return NL_STOP;
	off = NLMSG_HDRLEN + sizeof(*e);
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - NLMSG_HDRLEN;
	if (off >= nlh->nlmsg_len)
		return NL_STOP;
	if (nla_parse(tb, NLMSGERR_ATTR_MAX, (struct nlattr *)((char *)nlh + off),
		      nlh->nlmsg_len - off, NULL) < 0)
		return NL_STOP;
	if (tb[NLMSGERR_ATTR_MSG])
		nla_strlcpy(req->extack, tb[NLMSGERR_ATTR_MSG], sizeof(req->extack));
	return NL_STOP;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: genl-info [--with-attr=TYPE]\n"
		   "  Send HPCMETER_CMD_GET_INFO and print version=, abi=, load_time_ns=.\n"
		   "  --with-attr=TYPE  add a u32 attribute of that type to the request\n"
		   "                    (to check that the module rejects it)\n"
		   "Exit: 0 ok, 1 error, 2 family \"" HPCMETER_GENL_NAME "\" not registered.\n");
}

int main(int argc, char **argv)
{
	static const struct option options[] = { { "with-attr", required_argument, NULL, 'a' },
						 { "help", no_argument, NULL, 'h' },
						 {} };
	struct request req = {};
	struct nl_sock *sk = NULL;
	struct nl_msg *msg = NULL;
	struct nl_cb *cb = NULL;
	long with_attr = -1;
	int ret = EXIT_FAILURE, family, err, one = 1, c;
	char *end;

	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (c) {
		case 'a':
			errno = 0;
			with_attr = strtol(optarg, &end, 0);
			if (errno || *end || with_attr < 1 || with_attr > 0x3fff) {
				fprintf(stderr, "genl-info: bad attribute type '%s'\n", optarg);
				return EXIT_FAILURE;
			}
			break;
		case 'h':
			usage(stdout);
			return EXIT_SUCCESS;
		default:
			usage(stderr);
			return EXIT_FAILURE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return EXIT_FAILURE;
	}

	sk = nl_socket_alloc();
	cb = nl_cb_alloc(NL_CB_DEFAULT);
	msg = nlmsg_alloc();
	if (!sk || !cb || !msg) {
		fprintf(stderr, "genl-info: out of memory\n");
		goto cleanup;
	}
	err = genl_connect(sk);
	if (err < 0) {
		fprintf(stderr, "genl-info: cannot open generic netlink socket: %s\n",
			nl_geterror(err));
		goto cleanup;
	}
	/* libnl 3.7 has no setter for these; ask for the kernel's error text. */
	setsockopt(nl_socket_get_fd(sk), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(nl_socket_get_fd(sk), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));

	family = genl_ctrl_resolve(sk, HPCMETER_GENL_NAME);
	if (family < 0) {
		fprintf(stderr, "genl-info: generic netlink family \"%s\" not found: %s\n",
			HPCMETER_GENL_NAME, nl_geterror(family));
		ret = family == -NLE_OBJ_NOTFOUND ? EXIT_FAMILY_MISSING : EXIT_FAILURE;
		goto cleanup;
	}

	if (!genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, family, 0, 0, HPCMETER_CMD_GET_INFO,
			 HPCMETER_GENL_VERSION) ||
	    (with_attr > 0 && nla_put_u32(msg, (int)with_attr, 0) < 0)) {
		fprintf(stderr, "genl-info: cannot build request\n");
		goto cleanup;
	}

	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, on_reply, &req);
	nl_cb_set(cb, NL_CB_ACK, NL_CB_CUSTOM, on_ack, &req);
	nl_cb_err(cb, NL_CB_CUSTOM, on_error, &req);

	err = nl_send_auto(sk, msg); /* adds NLM_F_ACK: the ACK ends the exchange */
	if (err < 0) {
		fprintf(stderr, "genl-info: cannot send GET_INFO: %s\n", nl_geterror(err));
		goto cleanup;
	}
	while (!req.done) {
		err = nl_recvmsgs(sk, cb);
		if (err < 0 && !req.done) {
			fprintf(stderr, "genl-info: receiving the reply: %s\n", nl_geterror(err));
			goto cleanup;
		}
	}

	if (req.error) {
		fprintf(stderr, "genl-info: GET_INFO failed: %s%s%s%s\n", strerror(-req.error),
			req.extack[0] ? " (kernel: " : "", req.extack, req.extack[0] ? ")" : "");
		goto cleanup;
	}
	if (!req.have_reply) {
		fprintf(stderr, "genl-info: GET_INFO was acknowledged without a valid reply\n");
		goto cleanup;
	}

	printf("version=%s abi=%" PRIu32 " load_time_ns=%" PRIu64 "\n", req.version,
	       req.abi_version, req.load_time_ns);
	ret = EXIT_SUCCESS;

cleanup:
	nlmsg_free(msg);
	nl_cb_put(cb);
	nl_socket_free(sk);
	return ret;
}
