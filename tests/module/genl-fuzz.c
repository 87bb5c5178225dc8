// SPDX-License-Identifier: GPL-2.0
/*
 * genl-fuzz: random generic-netlink traffic at the hpcmeter family for a bounded time, run in
 * the qemu guest by tests/module/run.sh (as root and as nobody) while dmesg is watched for
 * oopses, WARNs, BUGs and refcount errors. Raw sockets, no libnl: the messages are meant to
 * be wrong. Each datagram holds one or more messages with a random command (the family's,
 * the ones past it, 0, random), version and reserved field, flags (REQUEST, ACK, DUMP, ECHO,
 * bogus bits, none), attributes of random type, size and flags (nested ones with random
 * contents, NLA_F_NESTED/NLA_F_NET_BYTEORDER set at random), header lengths that lie
 * (truncated, longer than the datagram, shorter than the headers) and now and then another
 * family id or the controller's. Replies are read and counted; dumps are read to their end.
 *
 * usage: genl-fuzz -s SECONDS [-n MAX_MESSAGES] [-r SEED] [-u] [-D]
 *   -u  drop to user and group nobody (65534) before opening the socket
 *   -D  dry run: generate the messages, send nothing (tests the generator on a host without
 *       the module, under AddressSanitizer)
 * Exit: 0 done, 1 a system call failed, 2 usage, 3 family "hpcmeter" not registered.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <linux/genetlink.h>
#include <linux/netlink.h>

#include <linux/hpcmeter.h>

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

#define BUF_SIZE 8192

static uint64_t rng_state;

static uint32_t rnd(void)
{
	/* xorshift64*: reproducible from the seed */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 2685821657736338717ULL) >> 32);
}

static uint32_t below(uint32_t n)
{
	return n ? rnd() % n : 0;
}

struct stats {
	uint64_t messages, datagrams, replies, acks, dump_ends, send_errors;
	uint64_t err[135]; /* by errno */
};

/* The id in the first group of a CTRL_ATTR_MCAST_GROUPS (the family has one: "events"). */
static uint32_t first_group(const struct nlattr *groups)
{
	const struct nlattr *g = (const struct nlattr *)((const char *)groups + NLA_HDRLEN);
	const struct nlattr *f;
	int rem;

	if (groups->nla_len < 2 * NLA_HDRLEN || g->nla_len < NLA_HDRLEN ||
	    g->nla_len > groups->nla_len - NLA_HDRLEN)
		return 0;
	rem = g->nla_len - NLA_HDRLEN;
	for (f = (const struct nlattr *)((const char *)g + NLA_HDRLEN);
	     rem >= NLA_HDRLEN && f->nla_len >= NLA_HDRLEN && f->nla_len <= rem;
	     rem -= NLA_ALIGN(f->nla_len),
	    f = (const struct nlattr *)((const char *)f + NLA_ALIGN(f->nla_len)))
		if ((f->nla_type & NLA_TYPE_MASK) == CTRL_ATTR_MCAST_GRP_ID &&
		    f->nla_len >= NLA_HDRLEN + 4)
			return *(const uint32_t *)((const char *)f + NLA_HDRLEN);
	return 0;
}

static int resolve_family(int fd, uint32_t *id, uint32_t *group)
{
	char buf[BUF_SIZE];
	struct {
		struct nlmsghdr n;
		struct genlmsghdr g;
		char attrs[64];
	} req = { 0 };
	struct nlattr *a = (struct nlattr *)req.attrs;
	const char *name = HPCMETER_GENL_NAME;
	ssize_t len;

	a->nla_type = CTRL_ATTR_FAMILY_NAME;
	a->nla_len = NLA_HDRLEN + strlen(name) + 1;
	memcpy((char *)a + NLA_HDRLEN, name, strlen(name) + 1);
	req.n.nlmsg_len = NLMSG_LENGTH(GENL_HDRLEN) + NLA_ALIGN(a->nla_len);
	req.n.nlmsg_type = GENL_ID_CTRL;
	req.n.nlmsg_flags = NLM_F_REQUEST;
	req.n.nlmsg_seq = 1;
	req.g.cmd = CTRL_CMD_GETFAMILY;
	req.g.version = 1;
	if (send(fd, &req, req.n.nlmsg_len, 0) < 0)
		return -errno;
	len = recv(fd, buf, sizeof(buf), 0);
	if (len < 0)
		return -errno;
	for (struct nlmsghdr *n = (struct nlmsghdr *)buf; NLMSG_OK(n, (size_t)len);
	     n = NLMSG_NEXT(n, len)) {
		int rem;

		if (n->nlmsg_type == NLMSG_ERROR)
			return ((struct nlmsgerr *)NLMSG_DATA(n))->error ?: -ENOENT;
		if (n->nlmsg_type != GENL_ID_CTRL)
			continue;
		rem = n->nlmsg_len - NLMSG_LENGTH(GENL_HDRLEN);
		for (a = (struct nlattr *)((char *)NLMSG_DATA(n) + GENL_HDRLEN);
		     rem >= NLA_HDRLEN && a->nla_len >= NLA_HDRLEN && a->nla_len <= rem;
		     rem -= NLA_ALIGN(a->nla_len),
		    a = (struct nlattr *)((char *)a + NLA_ALIGN(a->nla_len))) {
			if ((a->nla_type & NLA_TYPE_MASK) == CTRL_ATTR_FAMILY_ID)
				*id = *(uint16_t *)((char *)a + NLA_HDRLEN);
			if ((a->nla_type & NLA_TYPE_MASK) == CTRL_ATTR_MCAST_GROUPS)
				*group = first_group(a);
		}
		return *id ? 0 : -ENOENT;
	}
	return -ENOENT;
}

/* Random attributes into p (at most room bytes); returns the bytes written. */
static size_t put_attrs(char *p, size_t room, int depth)
{
	static const uint16_t sizes[] = { 0, 1, 2, 3, 4, 7, 8, 9, 16, 64, 65 };
	unsigned n = below(depth ? 4 : 9);
	size_t off = 0;

	for (unsigned i = 0; i < n && off + NLA_HDRLEN <= room; i++) {
		struct nlattr *a = (struct nlattr *)(p + off);
		uint16_t type = below(4) ? below(HPCMETER_A_MAX + 4) : (uint16_t)rnd();
		size_t len = below(3) ? sizes[below(sizeof(sizes) / sizeof(sizes[0]))] : below(600);
		bool nested = depth < 3 && below(4) == 0;

		if (off + NLA_HDRLEN + len > room)
			len = room - off - NLA_HDRLEN;
		if (nested) {
			len = put_attrs(p + off + NLA_HDRLEN, room - off - NLA_HDRLEN, depth + 1);
			type |= NLA_F_NESTED;
		} else {
			for (size_t b = 0; b < len; b++)
				p[off + NLA_HDRLEN + b] = below(4) ? 0 : (char)rnd();
			if (below(8) == 0)
				type |= NLA_F_NET_BYTEORDER;
			if (below(16) == 0)
				type |= NLA_F_NESTED; /* claims nesting, holds junk */
		}
		a->nla_type = type;
		a->nla_len = NLA_HDRLEN + len;
		if (below(16) == 0) /* a lying length */
			a->nla_len = below(3) ? (uint16_t)rnd() : below(NLA_HDRLEN);
		off += NLA_ALIGN(NLA_HDRLEN + len);
	}
	return off > room ? room : off;
}

/* One random message at p; returns its length in the datagram. */
static size_t put_msg(char *p, size_t room, uint32_t family, uint32_t seq)
{
	static const uint16_t flag_sets[] = {
		NLM_F_REQUEST,
		NLM_F_REQUEST | NLM_F_ACK,
		NLM_F_REQUEST | NLM_F_DUMP,
		NLM_F_REQUEST | NLM_F_DUMP | NLM_F_ACK,
		NLM_F_REQUEST | NLM_F_ECHO,
		NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP | NLM_F_ECHO | NLM_F_MULTI,
		0,
		NLM_F_ACK,
	};
	struct nlmsghdr *n = (struct nlmsghdr *)p;
	struct genlmsghdr *g = (struct genlmsghdr *)NLMSG_DATA(n);
	size_t len;

	if (room < NLMSG_LENGTH(GENL_HDRLEN))
		return 0;
	memset(p, 0, NLMSG_LENGTH(GENL_HDRLEN));
	len = NLMSG_LENGTH(GENL_HDRLEN) +
	      put_attrs(p + NLMSG_LENGTH(GENL_HDRLEN), room - NLMSG_LENGTH(GENL_HDRLEN), 0);
	n->nlmsg_len = len;
	n->nlmsg_type = below(16) ? family : below(2) ? GENL_ID_CTRL : (uint16_t)rnd();
	n->nlmsg_flags = below(8) ? flag_sets[below(sizeof(flag_sets) / sizeof(flag_sets[0]))] :
				    (uint16_t)rnd() | NLM_F_REQUEST;
	n->nlmsg_seq = seq;
	g->cmd = below(8) ? below(HPCMETER_CMD_MAX + 3) : (uint8_t)rnd();
	g->version = below(8) ? HPCMETER_GENL_VERSION : (uint8_t)rnd();
	g->reserved = below(8) ? 0 : (uint16_t)rnd();
	switch (below(24)) {
	case 0: /* truncated: shorter than the headers */
		n->nlmsg_len = below(NLMSG_LENGTH(GENL_HDRLEN));
		break;
	case 1: /* longer than what follows */
		n->nlmsg_len = len + 1 + below(4096);
		break;
	case 2: /* cut inside the attributes */
		n->nlmsg_len =
			NLMSG_LENGTH(GENL_HDRLEN) + below(len - NLMSG_LENGTH(GENL_HDRLEN) + 1);
		break;
	}
	return NLMSG_ALIGN(len);
}

static void count_replies(int fd, char *buf, struct stats *st, bool wait)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t len;

		if (poll(&pfd, 1, wait ? 20 : 0) <= 0)
			return;
		len = recv(fd, buf, BUF_SIZE, MSG_DONTWAIT);
		if (len < 0) {
			if (errno == ENOBUFS) /* replies overran the socket: keep reading */
				continue;
			return;
		}
		for (struct nlmsghdr *n = (struct nlmsghdr *)buf; NLMSG_OK(n, (size_t)len);
		     n = NLMSG_NEXT(n, len)) {
			if (n->nlmsg_type == NLMSG_ERROR &&
			    n->nlmsg_len >= NLMSG_LENGTH(sizeof(struct nlmsgerr))) {
				int e = -((struct nlmsgerr *)NLMSG_DATA(n))->error;

				if (e == 0)
					st->acks++;
				else if (e > 0 && e < 135)
					st->err[e]++;
			} else if (n->nlmsg_type == NLMSG_DONE) {
				st->dump_ends++;
			} else {
				st->replies++;
			}
		}
	}
}

static void usage(FILE *f)
{
	fprintf(f, "usage: genl-fuzz -s SECONDS [-n MAX_MESSAGES] [-r SEED] [-u] [-D]\n"
		   "Random generic-netlink messages at the hpcmeter family for SECONDS.\n"
		   "  -s SECONDS       how long (1..3600)\n"
		   "  -n MAX_MESSAGES  stop after this many messages\n"
		   "  -r SEED          random seed (default 1: runs are reproducible)\n"
		   "  -u               as user and group nobody (65534)\n"
		   "  -D               dry run: generate messages, send nothing\n"
		   "Exit: 0 done, 1 a system call failed, 2 usage, 3 no hpcmeter family.\n");
}

static bool parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
	char *end;

	errno = 0;
	*ret = strtoull(s, &end, 10);
	return *s >= '0' && *s <= '9' && !*end && !errno && *ret >= min && *ret <= max;
}

int main(int argc, char **argv)
{
	static char buf[BUF_SIZE], rbuf[BUF_SIZE];
	uint64_t seconds = 0, max = UINT64_MAX, seed = 1;
	bool nobody = false, dry = false;
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	struct stats st = { 0 };
	uint32_t family = 0, group = 0, seq = 1;
	struct timespec t0, t;
	int one = 1, fd, c;

	while ((c = getopt(argc, argv, "s:n:r:uDh")) != -1) {
		switch (c) {
		case 's':
			if (!parse_u64(optarg, 1, 3600, &seconds)) {
				fprintf(stderr,
					"genl-fuzz: -s: expected 1..3600 seconds, not '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'n':
			if (!parse_u64(optarg, 1, UINT64_MAX, &max)) {
				fprintf(stderr,
					"genl-fuzz: -n: expected a positive count, not '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'r':
			if (!parse_u64(optarg, 0, UINT64_MAX, &seed)) {
				fprintf(stderr, "genl-fuzz: -r: expected a number, not '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'u':
			nobody = true;
			break;
		case 'D':
			dry = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!seconds || optind != argc) {
		usage(stderr);
		return 2;
	}
	rng_state = seed * 0x9e3779b97f4a7c15ULL + 1;
	if (nobody && (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)) {
		perror("genl-fuzz: cannot become nobody");
		return 1;
	}
	if (dry) {
		fd = -1;
		family = NLMSG_MIN_TYPE + 1;
		goto run;
	}
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	if (fd < 0) {
		perror("genl-fuzz: socket");
		return 1;
	}
	setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	if (resolve_family(fd, &family, &group) < 0 || !family) {
		fprintf(stderr, "genl-fuzz: generic netlink family %s not registered\n",
			HPCMETER_GENL_NAME);
		return 3;
	}
	/* Events arrive mixed with the replies: listen to them as well (nobody may). */
	if (group && setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof(group)) < 0)
		fprintf(stderr, "genl-fuzz: cannot join the events group: %s\n", strerror(errno));
run:
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		size_t off = 0;
		unsigned n = below(6) ? 1 : 2 + below(3);

		for (unsigned i = 0; i < n && st.messages < max; i++) {
			size_t l = put_msg(buf + off, sizeof(buf) - off, family, ++seq);

			if (!l)
				break;
			off += l;
			st.messages++;
		}
		if (below(16) == 0 && off > 1) /* the datagram itself cut short */
			off = 1 + below(off - 1);
		st.datagrams++;
		if (dry)
			goto next;
		if (sendto(fd, buf, off, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
			st.send_errors++; /* what the kernel refuses at send time is fine too */
		count_replies(fd, rbuf, &st, below(32) == 0);
next:
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while (st.messages < max && (uint64_t)(t.tv_sec - t0.tv_sec) < seconds);
	if (!dry)
		count_replies(fd, rbuf, &st, true);
	printf("%s: %" PRIu64 " messages in %" PRIu64 " datagrams, %" PRIu64 " replies, %" PRIu64
	       " acks, %" PRIu64 " dump ends, %" PRIu64 " refused at send; errors:",
	       dry    ? "dry run" :
	       nobody ? "nobody" :
			"root",
	       st.messages, st.datagrams, st.replies, st.acks, st.dump_ends, st.send_errors);
	for (int e = 1; e < 135; e++)
		if (st.err[e])
			printf(" %s %" PRIu64, strerrorname_np(e) ?: "?", st.err[e]);
	printf("\n");
	if (fd >= 0)
		close(fd);
	return 0;
}
