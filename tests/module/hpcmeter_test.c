// SPDX-License-Identifier: GPL-2.0
/*
 * kselftest-harness tests of hpcmeter.ko, run in a real kernel (the qemu
 * guest of tests/module/run.sh) with the module loaded. Built against the
 * kselftest headers of Debian's linux-source-6.1 (tests/module/kselftest-headers.sh).
 *
 * Raw netlink sockets rather than libnl, so that a test controls every
 * byte of a malformed request and every recv() of a dump.
 *
 * Environment:
 *   HPCMETER_KO          path of hpcmeter.ko (load_unload test; skipped without)
 *   HPCMETER_EXPECT_DEV  "VVVV:DDDD" of a device that must be in the inventory
 *   HPCMETER_BURN_S      CPU seconds the burner uses (default 1.5)
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/genetlink.h>
#include <linux/netlink.h>

#include <linux/hpcmeter.h>

#include "kselftest_harness.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

/* ---- a small netlink client ------------------------------------------- */

struct nl {
	int fd;
	uint32_t seq;
	uint16_t family;
	uint32_t mcgrp;
};

struct req {
	union {
		struct nlmsghdr nlh;
		char buf[8192];
	};
};

struct reply {
	int error; /* negative errno from NLMSG_ERROR / NLMSG_DONE */
	char extack[256];
	bool intr; /* a message carried NLM_F_DUMP_INTR */
	int msgs;
};

typedef int (*msg_cb)(const struct nlmsghdr *nlh, void *arg);

static int nl_open(struct nl *nl)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	int one = 1;

	memset(nl, 0, sizeof(*nl));
	nl->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	if (nl->fd < 0)
		return -errno;
	if (bind(nl->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    setsockopt(nl->fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one)) < 0 ||
	    setsockopt(nl->fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one)) < 0) {
		int e = -errno;

		close(nl->fd);
		return e;
	}
	return 0;
}

static void req_init(struct req *r, uint16_t type, uint16_t flags, uint8_t cmd)
{
	struct genlmsghdr *g;

	memset(r, 0, sizeof(*r));
	r->nlh.nlmsg_len = NLMSG_LENGTH(GENL_HDRLEN);
	r->nlh.nlmsg_type = type;
	r->nlh.nlmsg_flags = NLM_F_REQUEST | flags;
	g = NLMSG_DATA(&r->nlh);
	g->cmd = cmd;
	g->version = HPCMETER_GENL_VERSION;
}

static void req_put(struct req *r, uint16_t type, const void *data, size_t len)
{
	struct nlattr *a = (struct nlattr *)(r->buf + NLMSG_ALIGN(r->nlh.nlmsg_len));

	a->nla_type = type;
	a->nla_len = NLA_HDRLEN + len;
	memcpy((char *)a + NLA_HDRLEN, data, len);
	r->nlh.nlmsg_len = NLMSG_ALIGN(r->nlh.nlmsg_len) + NLA_ALIGN(a->nla_len);
}

static int nl_send(struct nl *nl, struct req *r)
{
	r->nlh.nlmsg_seq = ++nl->seq;
	if (send(nl->fd, r->buf, r->nlh.nlmsg_len, 0) < 0)
		return -errno;
	return 0;
}

static void parse_extack(const struct nlmsghdr *nlh, size_t off, struct reply *rep)
{
	const struct nlattr *a;

	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	for (a = (const void *)((const char *)nlh + off);
	     (const char *)a + NLA_HDRLEN <= (const char *)nlh + nlh->nlmsg_len &&
	     a->nla_len >= NLA_HDRLEN &&
	     (const char *)a + a->nla_len <= (const char *)nlh + nlh->nlmsg_len;
	     a = (const void *)((const char *)a + NLA_ALIGN(a->nla_len))) {
		if ((a->nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG)
			snprintf(rep->extack, sizeof(rep->extack), "%.*s",
				 (int)(a->nla_len - NLA_HDRLEN), (const char *)a + NLA_HDRLEN);
	}
}

/*
 * Read one datagram and hand its messages to cb. Returns 1 when the
 * exchange ended (ACK, error or NLMSG_DONE), 0 when more is to come, or a
 * negative errno (from recv or from cb).
 */
static int nl_recv_once(struct nl *nl, size_t bufsize, msg_cb cb, void *arg, struct reply *rep)
{
	static char buf[65536];
	const struct nlmsghdr *nlh;
	ssize_t n;
	int ret;

	struct iovec iov = { .iov_base = buf, .iov_len = bufsize };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (bufsize > sizeof(buf))
		iov.iov_len = sizeof(buf);
	n = recvmsg(nl->fd, &mh, 0);
	if (n < 0)
		return -errno;
	if (mh.msg_flags & MSG_TRUNC)
		return -EMSGSIZE; /* a part did not fit: the test's own mistake */
	for (nlh = (void *)buf; NLMSG_OK(nlh, (size_t)n); nlh = NLMSG_NEXT(nlh, n)) {
		if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
			rep->intr = true;
		if (nlh->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = NLMSG_DATA(nlh);

			rep->error = e->error;
			parse_extack(nlh, NLMSG_HDRLEN + sizeof(*e), rep);
			return 1;
		}
		if (nlh->nlmsg_type == NLMSG_DONE) {
			rep->error = *(const int *)NLMSG_DATA(nlh);
			parse_extack(nlh, NLMSG_HDRLEN + sizeof(int), rep);
			return 1;
		}
		rep->msgs++;
		if (cb) {
			ret = cb(nlh, arg);
			if (ret < 0)
				return ret;
		}
	}
	return 0;
}

static int nl_recv_all(struct nl *nl, msg_cb cb, void *arg, struct reply *rep)
{
	int ret;

	memset(rep, 0, sizeof(*rep));
	do
		ret = nl_recv_once(nl, 65536, cb, arg, rep);
	while (ret == 0);
	return ret < 0 ? ret : 0;
}

/* Attributes of a genl message, by type; NULL when absent. */
static int parse_attrs(const struct nlmsghdr *nlh, const struct nlattr **tb, int max)
{
	const char *end = (const char *)nlh + nlh->nlmsg_len;
	const struct nlattr *a;

	memset(tb, 0, sizeof(*tb) * (max + 1));
	for (a = (const void *)((const char *)NLMSG_DATA(nlh) + GENL_HDRLEN); (const char *)a < end;
	     a = (const void *)((const char *)a + NLA_ALIGN(a->nla_len))) {
		if ((const char *)a + NLA_HDRLEN > end || a->nla_len < NLA_HDRLEN ||
		    (const char *)a + a->nla_len > end)
			return -EBADMSG;
		if (a->nla_type <= max) {
			if (tb[a->nla_type])
				return -EEXIST; /* one attribute per field */
			tb[a->nla_type] = a;
		}
	}
	return 0;
}

static const void *nla_data(const struct nlattr *a)
{
	return (const char *)a + NLA_HDRLEN;
}

static int nla_plen(const struct nlattr *a)
{
	return a->nla_len - NLA_HDRLEN;
}

static uint64_t get_u64(const struct nlattr *a)
{
	uint64_t v;

	memcpy(&v, nla_data(a), sizeof(v));
	return v;
}

static uint32_t get_u32(const struct nlattr *a)
{
	uint32_t v;

	memcpy(&v, nla_data(a), sizeof(v));
	return v;
}

static uint16_t get_u16(const struct nlattr *a)
{
	uint16_t v;

	memcpy(&v, nla_data(a), sizeof(v));
	return v;
}

/* The size each attribute must have; -1 = NUL-terminated string. */
static int attr_size(int type)
{
	switch (type) {
	case HPCMETER_A_VERSION:
	case HPCMETER_A_BOOT_ID:
	case HPCMETER_A_DEV_BUS_ID:
	case HPCMETER_A_PARAM_NAME:
	case HPCMETER_A_PARAM_VALUE:
	case HPCMETER_A_PROBE_NAME:
		return -1;
	case HPCMETER_A_DEV_VENDOR:
	case HPCMETER_A_DEV_DEVICE:
	case HPCMETER_A_DEV_SUBSYS_VENDOR:
	case HPCMETER_A_DEV_SUBSYS_DEVICE:
		return 2;
	case HPCMETER_A_ABI_VERSION:
	case HPCMETER_A_PROBES:
	case HPCMETER_A_PROBE_FAILURES:
	case HPCMETER_A_USAGE_ENTRIES:
	case HPCMETER_A_USAGE_CAPACITY:
	case HPCMETER_A_INVENTORY_COUNT:
	case HPCMETER_A_HEARTBEAT_MS:
	case HPCMETER_A_RECLAIM_AFTER_S:
	case HPCMETER_A_DEV_CLASS:
	case HPCMETER_A_DEV_NUMA_NODE:
	case HPCMETER_A_EVENT_TYPE:
	case HPCMETER_A_PROBE_ERROR:
		return 4;
	default:
		return 8;
	}
}

/* Every listed attribute present with its exact size; strings terminated. */
static const char *check_attrs(const struct nlattr **tb, const int *want, int n)
{
	static char why[128];
	int i, size;

	for (i = 0; i < n; i++) {
		const struct nlattr *a = tb[want[i]];

		if (!a) {
			snprintf(why, sizeof(why), "attribute %d missing", want[i]);
			return why;
		}
		size = attr_size(want[i]);
		if (size < 0 ? (nla_plen(a) < 1 || ((const char *)nla_data(a))[nla_plen(a) - 1] ||
				strlen(nla_data(a)) + 1 != (size_t)nla_plen(a)) :
			       nla_plen(a) != size) {
			snprintf(why, sizeof(why), "attribute %d has bad length %d", want[i],
				 nla_plen(a));
			return why;
		}
	}
	return NULL;
}

/* Resolve the family and its event group through the genl controller. */
struct resolve {
	uint16_t id;
	uint32_t mcgrp;
};

static int on_family(const struct nlmsghdr *nlh, void *arg)
{
	const struct nlattr *tb[CTRL_ATTR_MAX + 1], *g, *grp;
	struct resolve *r = arg;

	if (parse_attrs(nlh, tb, CTRL_ATTR_MAX) < 0 || !tb[CTRL_ATTR_FAMILY_ID])
		return -EBADMSG;
	r->id = get_u16(tb[CTRL_ATTR_FAMILY_ID]);
	g = tb[CTRL_ATTR_MCAST_GROUPS];
	if (!g)
		return 0;
	for (grp = nla_data(g); (const char *)grp < (const char *)g + g->nla_len;
	     grp = (const void *)((const char *)grp + NLA_ALIGN(grp->nla_len))) {
		const struct nlattr *a, *name = NULL, *id = NULL;

		for (a = nla_data(grp); (const char *)a < (const char *)grp + grp->nla_len;
		     a = (const void *)((const char *)a + NLA_ALIGN(a->nla_len))) {
			if (a->nla_len < NLA_HDRLEN)
				return -EBADMSG;
			if (a->nla_type == CTRL_ATTR_MCAST_GRP_NAME)
				name = a;
			else if (a->nla_type == CTRL_ATTR_MCAST_GRP_ID)
				id = a;
		}
		if (grp->nla_len < NLA_HDRLEN)
			return -EBADMSG;
		if (name && id && !strcmp(nla_data(name), HPCMETER_MCGRP_EVENTS))
			r->mcgrp = get_u32(id);
	}
	return 0;
}

static int nl_resolve(struct nl *nl)
{
	struct resolve r = {};
	struct reply rep;
	struct req q;
	int ret;

	req_init(&q, GENL_ID_CTRL, NLM_F_ACK, CTRL_CMD_GETFAMILY);
	((struct genlmsghdr *)NLMSG_DATA(&q.nlh))->version = 2;
	req_put(&q, CTRL_ATTR_FAMILY_NAME, HPCMETER_GENL_NAME, sizeof(HPCMETER_GENL_NAME));
	ret = nl_send(nl, &q);
	if (ret)
		return ret;
	ret = nl_recv_all(nl, on_family, &r, &rep);
	if (ret)
		return ret;
	if (rep.error)
		return rep.error;
	nl->family = r.id;
	nl->mcgrp = r.mcgrp;
	return r.id ? 0 : -ENOENT;
}

/* Send a request with no attributes and collect the reply. */
static int nl_call(struct nl *nl, uint8_t cmd, uint16_t flags, msg_cb cb, void *arg,
		   struct reply *rep)
{
	struct req q;
	int ret;

	req_init(&q, nl->family, flags, cmd);
	ret = nl_send(nl, &q);
	return ret ? ret : nl_recv_all(nl, cb, arg, rep);
}

/* ---- helpers for the guest -------------------------------------------- */

static int read_file(const char *path, char *buf, size_t size)
{
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, text, strlen(text)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

static unsigned long read_ulong(const char *path)
{
	char buf[64];

	return read_file(path, buf, sizeof(buf)) ? ULONG_MAX : strtoul(buf, NULL, 0);
}

/* The cgroup2 mount, mounted at a private place when there is none. */
static const char *cgroup2_root(void)
{
	static char root[PATH_MAX];
	char line[1024], dev[256], dir[PATH_MAX], type[64];
	FILE *f;

	if (root[0])
		return root;
	f = fopen("/proc/mounts", "re");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%255s %4095s %63s", dev, dir, type) == 3 &&
		    !strcmp(type, "cgroup2")) {
			snprintf(root, sizeof(root), "%s", dir);
			break;
		}
	if (f)
		fclose(f);
	if (!root[0]) {
		mkdir("/tmp/hpcmeter-cgroup2", 0755);
		if (mount("cgroup2", "/tmp/hpcmeter-cgroup2", "cgroup2", 0, NULL) == 0)
			snprintf(root, sizeof(root), "/tmp/hpcmeter-cgroup2");
	}
	return root[0] ? root : NULL;
}

/* Make a cgroup named NAME-<pid>-<n>; returns its id (inode), 0 on failure. */
static uint64_t make_cgroup(const char *name, int n, char *path, size_t size)
{
	const char *root = cgroup2_root();
	struct stat st;

	if (!root)
		return 0;
	snprintf(path, size, "%s/%s-%d-%d", root, name, getpid(), n);
	if (mkdir(path, 0755) < 0 || stat(path, &st) < 0)
		return 0;
	return st.st_ino;
}

/* Fork a child that joins CGROUP and execs ourselves with ARG. */
static pid_t spawn_in(const char *cgroup, const char *arg)
{
	char procs[PATH_MAX + 16];
	pid_t pid = fork();

	if (pid)
		return pid;
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", cgroup);
	if (write_file(procs, "0"))
		_exit(126);
	execl("/proc/self/exe", "hpcmeter_test", arg, (char *)NULL);
	_exit(127);
}

static double burn_seconds(void)
{
	const char *s = getenv("HPCMETER_BURN_S");

	return s ? atof(s) : 1.5;
}

/* --burn: use the CPU until our own CPU time reaches HPCMETER_BURN_S. */
static int burn(void)
{
	volatile uint64_t x = 0;
	struct timespec ts;

	do {
		for (int i = 0; i < 1000000; i++)
			x += i;
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	} while (ts.tv_sec + ts.tv_nsec / 1e9 < burn_seconds());
	return 0;
}

/* ---- the fixture ------------------------------------------------------ */

FIXTURE(hpcmeter)
{
	struct nl nl;
};

FIXTURE_SETUP(hpcmeter)
{
	ASSERT_EQ(0, nl_open(&self->nl));
	ASSERT_EQ(0, nl_resolve(&self->nl))
	TH_LOG("generic netlink family \"%s\" not found: is hpcmeter.ko loaded?",
	       HPCMETER_GENL_NAME);
}

FIXTURE_TEARDOWN(hpcmeter)
{
	close(self->nl.fd);
}

TEST_F(hpcmeter, family_resolves)
{
	EXPECT_NE(0, self->nl.family);
	EXPECT_NE(0, self->nl.mcgrp) TH_LOG("no \"%s\" multicast group", HPCMETER_MCGRP_EVENTS);
}

struct info {
	const struct nlattr *tb[HPCMETER_A_MAX + 1];
	char buf[4096];
};

static int on_info(const struct nlmsghdr *nlh, void *arg)
{
	struct info *in = arg;
	struct nlmsghdr *copy = (void *)in->buf;

	if (nlh->nlmsg_len > sizeof(in->buf))
		return -EMSGSIZE;
	memcpy(copy, nlh, nlh->nlmsg_len);
	return parse_attrs(copy, in->tb, HPCMETER_A_MAX);
}

static const int info_attrs[] = {
	HPCMETER_A_VERSION,	    HPCMETER_A_ABI_VERSION,	HPCMETER_A_LOAD_TIME_NS,
	HPCMETER_A_BOOT_ID,	    HPCMETER_A_HEARTBEAT_SEQ,	HPCMETER_A_EVENT_SEQ,
	HPCMETER_A_USAGE_GEN,	    HPCMETER_A_INVENTORY_GEN,	HPCMETER_A_PROBES,
	HPCMETER_A_PROBE_FAILURES,  HPCMETER_A_USAGE_ENTRIES,	HPCMETER_A_USAGE_CAPACITY,
	HPCMETER_A_USAGE_OVERFLOW,  HPCMETER_A_INVENTORY_COUNT, HPCMETER_A_HEARTBEAT_MS,
	HPCMETER_A_USAGE_RECLAIMED, HPCMETER_A_RECLAIM_AFTER_S,
};

TEST_F(hpcmeter, info_well_formed)
{
	struct info in = {};
	struct reply rep;
	char buf[128];
	const char *why;
	struct timespec now;

	ASSERT_EQ(0, nl_call(&self->nl, HPCMETER_CMD_GET_INFO, NLM_F_ACK, on_info, &in, &rep));
	ASSERT_EQ(0, rep.error) TH_LOG("GET_INFO: %s (%s)", strerror(-rep.error), rep.extack);
	ASSERT_EQ(1, rep.msgs);
	why = check_attrs(in.tb, info_attrs, sizeof(info_attrs) / sizeof(info_attrs[0]));
	ASSERT_EQ(NULL, why) TH_LOG("%s", why);

	ASSERT_EQ(0, read_file("/sys/module/hpcmeter/version", buf, sizeof(buf)));
	EXPECT_STREQ(buf, (const char *)nla_data(in.tb[HPCMETER_A_VERSION]));
	EXPECT_EQ(HPCMETER_GENL_VERSION, get_u32(in.tb[HPCMETER_A_ABI_VERSION]));
	ASSERT_EQ(0, read_file("/proc/sys/kernel/random/boot_id", buf, sizeof(buf)));
	EXPECT_STREQ(buf, (const char *)nla_data(in.tb[HPCMETER_A_BOOT_ID]));
	clock_gettime(CLOCK_REALTIME, &now);
	EXPECT_LE(get_u64(in.tb[HPCMETER_A_LOAD_TIME_NS]),
		  (uint64_t)now.tv_sec * 1000000000ull + now.tv_nsec);
	EXPECT_GT(get_u64(in.tb[HPCMETER_A_LOAD_TIME_NS]), 1600000000ull * 1000000000ull);
	EXPECT_EQ(HPCMETER_PROBES_ALL, get_u32(in.tb[HPCMETER_A_PROBES]));
	EXPECT_EQ(0, get_u32(in.tb[HPCMETER_A_PROBE_FAILURES]));
	EXPECT_EQ(read_ulong("/sys/module/hpcmeter/parameters/max_cgroups"),
		  get_u32(in.tb[HPCMETER_A_USAGE_CAPACITY]));
	EXPECT_EQ(read_ulong("/sys/module/hpcmeter/parameters/heartbeat_ms"),
		  get_u32(in.tb[HPCMETER_A_HEARTBEAT_MS]));
	/* The guest has run processes since the load: the table is not empty. */
	EXPECT_GT(get_u32(in.tb[HPCMETER_A_USAGE_ENTRIES]), 0);
	EXPECT_LE(get_u32(in.tb[HPCMETER_A_USAGE_ENTRIES]),
		  get_u32(in.tb[HPCMETER_A_USAGE_CAPACITY]));
	EXPECT_GE(get_u64(in.tb[HPCMETER_A_USAGE_GEN]), get_u32(in.tb[HPCMETER_A_USAGE_ENTRIES]));
	EXPECT_EQ(read_ulong("/sys/module/hpcmeter/parameters/reclaim_after_s"),
		  get_u32(in.tb[HPCMETER_A_RECLAIM_AFTER_S]));
	EXPECT_EQ(0, get_u64(in.tb[HPCMETER_A_USAGE_OVERFLOW]));
}

/* ---- inventory -------------------------------------------------------- */

struct dev {
	char bus_id[32];
	unsigned int vendor, device, sub_vendor, sub_device, class;
	int numa;
};

struct devs {
	struct dev d[64];
	int n;
	const char *why;
};

static const int dev_attrs[] = {
	HPCMETER_A_DEV_BUS_ID,	      HPCMETER_A_DEV_VENDOR,	    HPCMETER_A_DEV_DEVICE,
	HPCMETER_A_DEV_SUBSYS_VENDOR, HPCMETER_A_DEV_SUBSYS_DEVICE, HPCMETER_A_DEV_CLASS,
	HPCMETER_A_DEV_NUMA_NODE,
};

static int on_dev(const struct nlmsghdr *nlh, void *arg)
{
	const struct nlattr *tb[HPCMETER_A_MAX + 1];
	struct devs *ds = arg;
	struct dev *d;

	if (parse_attrs(nlh, tb, HPCMETER_A_MAX) < 0) {
		ds->why = "unparsable message";
		return -EBADMSG;
	}
	ds->why = check_attrs(tb, dev_attrs, sizeof(dev_attrs) / sizeof(dev_attrs[0]));
	if (ds->why)
		return -EBADMSG;
	if (ds->n == 64)
		return -ENOSPC;
	d = &ds->d[ds->n++];
	snprintf(d->bus_id, sizeof(d->bus_id), "%s",
		 (const char *)nla_data(tb[HPCMETER_A_DEV_BUS_ID]));
	d->vendor = get_u16(tb[HPCMETER_A_DEV_VENDOR]);
	d->device = get_u16(tb[HPCMETER_A_DEV_DEVICE]);
	d->sub_vendor = get_u16(tb[HPCMETER_A_DEV_SUBSYS_VENDOR]);
	d->sub_device = get_u16(tb[HPCMETER_A_DEV_SUBSYS_DEVICE]);
	d->class = get_u32(tb[HPCMETER_A_DEV_CLASS]);
	d->numa = (int)get_u32(tb[HPCMETER_A_DEV_NUMA_NODE]);
	return 0;
}

static int dump_inventory(struct nl *nl, struct devs *ds)
{
	struct reply rep;
	int ret;

	memset(ds, 0, sizeof(*ds));
	ret = nl_call(nl, HPCMETER_CMD_GET_INVENTORY, NLM_F_DUMP, on_dev, ds, &rep);
	return ret ? ret : rep.error;
}

static unsigned long sysfs_dev(const char *bus_id, const char *attr)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/%s", bus_id, attr);
	return read_ulong(path);
}

static const struct dev *find_dev(const struct devs *ds, const char *bus_id)
{
	for (int i = 0; i < ds->n; i++)
		if (!strcmp(ds->d[i].bus_id, bus_id))
			return &ds->d[i];
	return NULL;
}

TEST_F(hpcmeter, inventory_matches_sysfs)
{
	const char *expect = getenv("HPCMETER_EXPECT_DEV");
	struct devs ds;
	struct dirent *e;
	bool found_expected = false;
	int accelerators = 0;
	DIR *dir;

	ASSERT_EQ(0, dump_inventory(&self->nl, &ds)) TH_LOG("%s", ds.why ? ds.why : "");
	for (int i = 0; i < ds.n; i++) {
		const struct dev *d = &ds.d[i];
		char id[16];

		TH_LOG("inventory: %s %04x:%04x subsys %04x:%04x class %06x node %d", d->bus_id,
		       d->vendor, d->device, d->sub_vendor, d->sub_device, d->class, d->numa);
		EXPECT_TRUE(d->class >> 16 == 0x03 || d->class >> 16 == 0x12);
		if (i)
			EXPECT_LT(0, strcmp(d->bus_id, ds.d[i - 1].bus_id)) TH_LOG("not sorted");
		snprintf(id, sizeof(id), "%04x:%04x", d->vendor, d->device);
		if (expect && !strcmp(expect, id))
			found_expected = true;
	}
	/* The module's view equals sysfs's, device by device. */
	dir = opendir("/sys/bus/pci/devices");
	ASSERT_NE(NULL, dir);
	while ((e = readdir(dir))) {
		const struct dev *d;
		unsigned long class;

		if (e->d_name[0] == '.')
			continue;
		class = sysfs_dev(e->d_name, "class");
		if (class >> 16 != 0x03 && class >> 16 != 0x12)
			continue;
		accelerators++;
		d = find_dev(&ds, e->d_name);
		EXPECT_NE(NULL, d) TH_LOG("%s missing from the inventory", e->d_name);
		if (!d)
			continue;
		EXPECT_EQ(sysfs_dev(e->d_name, "vendor"), d->vendor);
		EXPECT_EQ(sysfs_dev(e->d_name, "device"), d->device);
		EXPECT_EQ(sysfs_dev(e->d_name, "subsystem_vendor"), d->sub_vendor);
		EXPECT_EQ(sysfs_dev(e->d_name, "subsystem_device"), d->sub_device);
		EXPECT_EQ(class, d->class);
		EXPECT_EQ((int)(long)sysfs_dev(e->d_name, "numa_node"), d->numa);
	}
	closedir(dir);
	EXPECT_EQ(accelerators, ds.n);
	if (expect)
		EXPECT_TRUE(found_expected) TH_LOG("%s not in the inventory", expect);
}

/* Wait for an event of TYPE (skipping others); fills tb from buf. */
static int wait_event(struct nl *nl, uint32_t type, char *buf, size_t size,
		      const struct nlattr **tb, int timeout_s)
{
	struct timeval tv = { .tv_sec = timeout_s };
	const struct nlmsghdr *nlh;
	ssize_t n;

	setsockopt(nl->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	for (;;) {
		n = recv(nl->fd, buf, size, 0);
		if (n < 0)
			return -errno;
		for (nlh = (void *)buf; NLMSG_OK(nlh, (size_t)n); nlh = NLMSG_NEXT(nlh, n)) {
			const struct genlmsghdr *g = NLMSG_DATA(nlh);

			if (nlh->nlmsg_type != nl->family || g->cmd != HPCMETER_CMD_EVENT)
				continue;
			if (parse_attrs(nlh, tb, HPCMETER_A_MAX) < 0 ||
			    !tb[HPCMETER_A_EVENT_TYPE] || !tb[HPCMETER_A_EVENT_SEQ_NO] ||
			    !tb[HPCMETER_A_EVENT_TIME_NS])
				return -EBADMSG;
			if (get_u32(tb[HPCMETER_A_EVENT_TYPE]) == type)
				return 0;
		}
	}
}

static int subscribe(struct nl *nl)
{
	uint32_t grp = nl->mcgrp;

	return setsockopt(nl->fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &grp, sizeof(grp)) ? -errno :
											    0;
}

TEST_F(hpcmeter, inventory_follows_hotplug)
{
	const struct nlattr *tb[HPCMETER_A_MAX + 1];
	char path[PATH_MAX], buf[8192], bus_id[32];
	struct devs ds;
	struct nl ev;

	ASSERT_EQ(0, dump_inventory(&self->nl, &ds));
	if (!ds.n)
		SKIP(return, "no display or accelerator PCI device to unplug");
	snprintf(bus_id, sizeof(bus_id), "%s", ds.d[0].bus_id);
	ASSERT_EQ(0, nl_open(&ev));
	ASSERT_EQ(0, nl_resolve(&ev));
	ASSERT_EQ(0, subscribe(&ev));

	/* Remove the device from the kernel: the inventory loses it. */
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/remove", bus_id);
	ASSERT_EQ(0, write_file(path, "1"));
	ASSERT_EQ(0, wait_event(&ev, HPCMETER_EVENT_DEV_REMOVED, buf, sizeof(buf), tb, 10));
	ASSERT_NE(NULL, tb[HPCMETER_A_DEV_BUS_ID]);
	EXPECT_STREQ(bus_id, (const char *)nla_data(tb[HPCMETER_A_DEV_BUS_ID]));
	ASSERT_EQ(0, dump_inventory(&self->nl, &ds));
	EXPECT_EQ(NULL, find_dev(&ds, bus_id));

	/* Rescan the bus: it comes back, with an event. */
	ASSERT_EQ(0, write_file("/sys/bus/pci/rescan", "1"));
	ASSERT_EQ(0, wait_event(&ev, HPCMETER_EVENT_DEV_ADDED, buf, sizeof(buf), tb, 10));
	ASSERT_NE(NULL, tb[HPCMETER_A_DEV_BUS_ID]);
	EXPECT_STREQ(bus_id, (const char *)nla_data(tb[HPCMETER_A_DEV_BUS_ID]));
	ASSERT_EQ(0, dump_inventory(&self->nl, &ds));
	EXPECT_NE(NULL, find_dev(&ds, bus_id));
	close(ev.fd);
}

/* ---- usage ------------------------------------------------------------ */

struct usage {
	uint64_t cgroup_id, on_cpu_ns, execs, forks, exits;
};

struct usages {
	struct usage *u;
	int n, cap;
	const char *why;
};

static const int usage_attrs[] = {
	HPCMETER_A_CGROUP_ID, HPCMETER_A_ON_CPU_NS, HPCMETER_A_EXECS,
	HPCMETER_A_FORKS,     HPCMETER_A_EXITS,
};

static int on_usage(const struct nlmsghdr *nlh, void *arg)
{
	const struct nlattr *tb[HPCMETER_A_MAX + 1];
	struct usages *us = arg;
	struct usage *u;

	if (parse_attrs(nlh, tb, HPCMETER_A_MAX) < 0) {
		us->why = "unparsable message";
		return -EBADMSG;
	}
	us->why = check_attrs(tb, usage_attrs, sizeof(usage_attrs) / sizeof(usage_attrs[0]));
	if (us->why)
		return -EBADMSG;
	if (us->n == us->cap) {
		us->cap = us->cap ? 2 * us->cap : 256;
		us->u = realloc(us->u, us->cap * sizeof(*us->u));
		if (!us->u)
			return -ENOMEM;
	}
	u = &us->u[us->n++];
	u->cgroup_id = get_u64(tb[HPCMETER_A_CGROUP_ID]);
	u->on_cpu_ns = get_u64(tb[HPCMETER_A_ON_CPU_NS]);
	u->execs = get_u64(tb[HPCMETER_A_EXECS]);
	u->forks = get_u64(tb[HPCMETER_A_FORKS]);
	u->exits = get_u64(tb[HPCMETER_A_EXITS]);
	return 0;
}

static int usage_get(struct nl *nl, uint64_t cgroup_id, struct usage *out, struct reply *rep)
{
	struct usages us = {};
	struct req q;
	int ret;

	req_init(&q, nl->family, NLM_F_ACK, HPCMETER_CMD_GET_USAGE);
	req_put(&q, HPCMETER_A_CGROUP_ID, &cgroup_id, sizeof(cgroup_id));
	ret = nl_send(nl, &q);
	if (!ret)
		ret = nl_recv_all(nl, on_usage, &us, rep);
	if (!ret && !rep->error && us.n == 1)
		*out = us.u[0];
	else if (!ret && !rep->error)
		ret = -EBADMSG;
	free(us.u);
	return ret;
}

TEST_F(hpcmeter, usage_matches_proc_stat)
{
	char cg[PATH_MAX], stat_path[64], buf[1024], *p;
	unsigned long utime, stime;
	uint64_t id, stat_ns;
	struct usage u = {};
	struct reply rep;
	siginfo_t si;
	double ratio;
	pid_t pid;

	id = make_cgroup("burn", 0, cg, sizeof(cg));
	ASSERT_NE(0, id) TH_LOG("cannot make a cgroup v2 group: %s", strerror(errno));
	pid = spawn_in(cg, "--burn");
	ASSERT_LT(0, pid);
	/* Let it exit but keep the zombie: its /proc/PID/stat has the final times. */
	ASSERT_EQ(0, waitid(P_PID, pid, &si, WEXITED | WNOWAIT));
	ASSERT_EQ(CLD_EXITED, si.si_code);
	ASSERT_EQ(0, si.si_status);
	snprintf(stat_path, sizeof(stat_path), "/proc/%d/stat", pid);
	ASSERT_EQ(0, read_file(stat_path, buf, sizeof(buf)));
	p = strrchr(buf, ')');
	ASSERT_NE(NULL, p);
	/* Fields 14 and 15 (utime, stime), counted after "pid (comm)". */
	ASSERT_EQ(2, sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime,
			    &stime));
	stat_ns = (uint64_t)(utime + stime) * (1000000000ull / sysconf(_SC_CLK_TCK));
	ASSERT_EQ(0, usage_get(&self->nl, id, &u, &rep));
	ASSERT_EQ(0, rep.error) TH_LOG("GET_USAGE: %s (%s)", strerror(-rep.error), rep.extack);
	waitpid(pid, NULL, 0);
	rmdir(cg);

	ratio = (double)u.on_cpu_ns / (double)stat_ns;
	TH_LOG("cgroup %" PRIu64 ": module %" PRIu64 " ns, /proc/%d/stat %" PRIu64
	       " ns (ratio %.4f), execs %" PRIu64 ", forks %" PRIu64 ", exits %" PRIu64,
	       id, u.on_cpu_ns, pid, stat_ns, ratio, u.execs, u.forks, u.exits);
	EXPECT_EQ(id, u.cgroup_id);
	EXPECT_GE(stat_ns, (uint64_t)(burn_seconds() * 1e9 * 0.9));
	EXPECT_TRUE(ratio >= 0.95 && ratio <= 1.05);
	EXPECT_EQ(1, u.execs);
	EXPECT_EQ(0, u.forks);
	EXPECT_EQ(1, u.exits);
}

/* Spawn a short process in each of N new cgroups; returns their ids. */
static int populate(const char *name, int first, int n, uint64_t *ids, char (*paths)[PATH_MAX])
{
	for (int i = 0; i < n; i++) {
		pid_t pid;
		int status;

		ids[i] = make_cgroup(name, first + i, paths[i], PATH_MAX);
		if (!ids[i])
			return -errno;
		pid = spawn_in(paths[i], "--noop");
		if (pid < 0 || waitpid(pid, &status, 0) != pid || status)
			return -ECHILD;
	}
	return 0;
}

static int count_id(const struct usages *us, uint64_t id)
{
	int c = 0;

	for (int i = 0; i < us->n; i++)
		c += us->u[i].cgroup_id == id;
	return c;
}

static const char *const reclaim_param = "/sys/module/hpcmeter/parameters/reclaim_after_s";

/* Whether none of the cgroups ids[0], ids[step], ... below n has a usage entry any more. */
static bool all_reclaimed(struct nl *nl, const uint64_t *ids, int n, int step)
{
	struct usage u;
	struct reply rep;

	for (int i = 0; i < n; i += step) {
		memset(&rep, 0, sizeof(rep));
		if (usage_get(nl, ids[i], &u, &rep) < 0 || rep.error != -ENOENT)
			return false;
	}
	return true;
}

/*
 * Wait until those removed cgroups' entries are reclaimed: the module's
 * reclaim runs from a timer, later than reclaim_after_s when qemu runs
 * without KVM on a busy host. Polls every 100 ms, for at most timeout_s.
 */
static bool wait_reclaimed(struct nl *nl, const uint64_t *ids, int n, int step, int timeout_s)
{
	for (int i = 0; i < timeout_s * 10; i++) {
		if (all_reclaimed(nl, ids, n, step))
			return true;
		usleep(100 * 1000);
	}
	return all_reclaimed(nl, ids, n, step);
}

/*
 * A usage dump read part by part while cgroups come and go: new ones are
 * added, old ones removed and their slots reclaimed, and newer ones take
 * the freed slots (behind and ahead of the dump's cursor). Every cgroup
 * present all along must be in the dump exactly once; nothing twice.
 */
TEST_F_TIMEOUT(hpcmeter, dump_resumes_without_loss_or_repeat, 120)
{
	enum { N1 = 160, N2 = 40, N3 = 60, N = N1 + N2 + N3 };
	static char paths[N][PATH_MAX];
	static uint64_t ids[N];
	struct usages before = {}, during = {}, after = {};
	struct reply rep;
	struct req q;
	struct nl small;
	int ret, parts = 1;

	ASSERT_EQ(0, populate("dump", 0, N1, ids, paths));
	ASSERT_EQ(0,
		  nl_call(&self->nl, HPCMETER_CMD_GET_USAGE, NLM_F_DUMP, on_usage, &before, &rep));
	ASSERT_EQ(0, rep.error);
	ASSERT_GE(before.n, N1);
	ASSERT_EQ(0, write_file(reclaim_param, "1"));
	ASSERT_EQ(1, read_ulong(reclaim_param));

	/*
	 * Start a dump and read only its first part (a small buffer makes the
	 * kernel fill small parts); change the set of cgroups; resume reading.
	 * A fresh socket that never read with a big buffer: the kernel sizes
	 * the parts by it.
	 */
	ASSERT_EQ(0, nl_open(&small));
	small.family = self->nl.family;
	req_init(&q, small.family, NLM_F_DUMP, HPCMETER_CMD_GET_USAGE);
	ASSERT_EQ(0, nl_send(&small, &q));
	memset(&rep, 0, sizeof(rep));
	ASSERT_EQ(0, nl_recv_once(&small, 4096, on_usage, &during, &rep));
	ASSERT_LT(during.n, before.n) TH_LOG("the first part held the whole dump");
	TH_LOG("first part: %d of %d entries", during.n, before.n);
	ASSERT_EQ(0, populate("dump", N1, N2, ids + N1, paths + N1));
	for (int i = 0; i < N1; i += 2)
		ASSERT_EQ(0, rmdir(paths[i]));
	/* reclaim_after_s=1: the removed ones' slots are freed */
	ASSERT_TRUE(wait_reclaimed(&self->nl, ids, N1, 2, 60))
	TH_LOG("the removed cgroups not reclaimed after 60 s");
	ASSERT_EQ(0, populate("dump", N1 + N2, N3, ids + N1 + N2, paths + N1 + N2));
	do {
		ret = nl_recv_once(&small, 4096, on_usage, &during, &rep);
		parts++;
	} while (ret == 0);
	close(small.fd);
	ASSERT_EQ(1, ret) TH_LOG("%s", strerror(-ret));
	ASSERT_EQ(0, rep.error);
	TH_LOG("resumed dump: %d entries in %d parts, NLM_F_DUMP_INTR %s", during.n, parts,
	       rep.intr ? "set" : "not set");
	EXPECT_GT(parts, 2);

	/* The cgroups present all along (the root and the odd ones): exactly once. */
	EXPECT_EQ(1, count_id(&during, 1));
	for (int i = 1; i < N1; i += 2) {
		EXPECT_EQ(1, count_id(&during, ids[i])) TH_LOG("cgroup %" PRIu64, ids[i]);
	}
	/* Nothing twice. */
	for (int i = 0; i < during.n; i++) {
		EXPECT_EQ(1, count_id(&during, during.u[i].cgroup_id))
		TH_LOG("cgroup %" PRIu64, during.u[i].cgroup_id);
	}
	/* Cgroups came and went in the middle: the dump says so. */
	EXPECT_TRUE(rep.intr);

	/* A fresh dump: the live ones once each, the removed ones reclaimed, not flagged. */
	ASSERT_EQ(0,
		  nl_call(&self->nl, HPCMETER_CMD_GET_USAGE, NLM_F_DUMP, on_usage, &after, &rep));
	ASSERT_EQ(0, rep.error);
	EXPECT_FALSE(rep.intr);
	for (int i = 0; i < N; i++) {
		EXPECT_EQ(i < N1 && i % 2 == 0 ? 0 : 1, count_id(&after, ids[i]))
		TH_LOG("cgroup %" PRIu64 " (#%d)", ids[i], i);
	}
	for (int i = 1; i < N; i += (i < N1 ? 2 : 1))
		rmdir(paths[i]);
	ASSERT_EQ(0, write_file(reclaim_param, "60"));
	free(before.u);
	free(during.u);
	free(after.u);
}

/* A removed cgroup's entry goes after reclaim_after_s; a live one stays. */
TEST_F_TIMEOUT(hpcmeter, removed_cgroups_are_reclaimed, 60)
{
	enum { N = 20 };
	static char paths[N][PATH_MAX];
	static uint64_t ids[N];
	struct info in0 = {}, in1 = {};
	struct usage u;
	struct reply rep;

	ASSERT_EQ(0, nl_call(&self->nl, HPCMETER_CMD_GET_INFO, NLM_F_ACK, on_info, &in0, &rep));
	ASSERT_EQ(0, populate("reclaim", 0, N, ids, paths));
	for (int i = 0; i < N; i++) {
		ASSERT_EQ(0, usage_get(&self->nl, ids[i], &u, &rep));
		ASSERT_EQ(0, rep.error);
		EXPECT_EQ(1, u.execs);
	}
	ASSERT_EQ(0, write_file(reclaim_param, "1"));
	for (int i = 0; i < N - 1; i++)
		ASSERT_EQ(0, rmdir(paths[i]));
	wait_reclaimed(&self->nl, ids, N - 1, 1, 40); /* each is checked below */
	for (int i = 0; i < N - 1; i++) {
		memset(&rep, 0, sizeof(rep));
		EXPECT_EQ(0, usage_get(&self->nl, ids[i], &u, &rep));
		EXPECT_EQ(-ENOENT, rep.error) TH_LOG("cgroup %" PRIu64 " still there", ids[i]);
	}
	ASSERT_EQ(0, usage_get(&self->nl, ids[N - 1], &u, &rep));
	EXPECT_EQ(0, rep.error) TH_LOG("the live cgroup lost its entry");
	EXPECT_EQ(1, u.execs);
	/* The slots leave the table first; the count of reclaimed ones goes up after the RCU
	 * grace period that frees them: wait for it (bounded against a hang, as above). */
	for (int i = 0; i < 40 * 10; i++) {
		memset(&in1, 0, sizeof(in1));
		ASSERT_EQ(0, nl_call(&self->nl, HPCMETER_CMD_GET_INFO, NLM_F_ACK, on_info, &in1,
				     &rep));
		if (get_u64(in1.tb[HPCMETER_A_USAGE_RECLAIMED]) >=
		    get_u64(in0.tb[HPCMETER_A_USAGE_RECLAIMED]) + N - 1)
			break;
		usleep(100 * 1000);
	}
	EXPECT_GE(get_u64(in1.tb[HPCMETER_A_USAGE_RECLAIMED]),
		  get_u64(in0.tb[HPCMETER_A_USAGE_RECLAIMED]) + N - 1);
	EXPECT_EQ(1, get_u32(in1.tb[HPCMETER_A_RECLAIM_AFTER_S]));
	ASSERT_EQ(0, write_file(reclaim_param, "60"));
	rmdir(paths[N - 1]);
}

/* ---- bad requests ----------------------------------------------------- */

static void expect_rejected(struct __test_metadata *_metadata, struct nl *nl, struct req *q,
			    int want_error, const char *want_extack)
{
	struct reply rep;

	ASSERT_EQ(0, nl_send(nl, q));
	ASSERT_EQ(0, nl_recv_all(nl, NULL, NULL, &rep));
	EXPECT_EQ(want_error, rep.error)
	TH_LOG("error %d (%s), extack \"%s\"", rep.error, strerror(-rep.error), rep.extack);
	EXPECT_EQ(0, rep.msgs);
	if (want_extack)
		EXPECT_NE(NULL, strstr(rep.extack, want_extack))
	TH_LOG("extack \"%s\", want \"%s\"", rep.extack, want_extack);
	TH_LOG("rejected: %s, \"%s\"", strerror(-rep.error), rep.extack);
}

TEST_F(hpcmeter, malformed_requests_rejected_with_extack)
{
	uint64_t id = 1, big[2] = { 1, 2 };
	uint32_t small = 1;
	struct req q;

	/* GET_USAGE (doit) without the cgroup id it needs. */
	req_init(&q, self->nl.family, NLM_F_ACK, HPCMETER_CMD_GET_USAGE);
	expect_rejected(_metadata, &self->nl, &q, -EINVAL, "missing HPCMETER_A_CGROUP_ID");

	/* The cgroup id as a u32: wrong type (too short). */
	req_init(&q, self->nl.family, NLM_F_ACK, HPCMETER_CMD_GET_USAGE);
	req_put(&q, HPCMETER_A_CGROUP_ID, &small, sizeof(small));
	expect_rejected(_metadata, &self->nl, &q, -EINVAL, "invalid attribute length");

	/* The cgroup id with 16 bytes: oversize. */
	req_init(&q, self->nl.family, NLM_F_ACK, HPCMETER_CMD_GET_USAGE);
	req_put(&q, HPCMETER_A_CGROUP_ID, big, sizeof(big));
	expect_rejected(_metadata, &self->nl, &q, -EINVAL, "invalid attribute length");

	/* A cgroup the meter never saw. */
	id = UINT64_MAX;
	req_init(&q, self->nl.family, NLM_F_ACK, HPCMETER_CMD_GET_USAGE);
	req_put(&q, HPCMETER_A_CGROUP_ID, &id, sizeof(id));
	expect_rejected(_metadata, &self->nl, &q, -ENOENT, "cgroup not seen by the meter");

	/* GET_INFO takes no attributes: a known one and an unknown one. */
	req_init(&q, self->nl.family, NLM_F_ACK, HPCMETER_CMD_GET_INFO);
	req_put(&q, HPCMETER_A_VERSION, "x", 2);
	expect_rejected(_metadata, &self->nl, &q, -EINVAL, "Unsupported attribute");
	req_init(&q, self->nl.family, NLM_F_ACK, HPCMETER_CMD_GET_INFO);
	req_put(&q, HPCMETER_A_MAX + 1, &small, sizeof(small));
	expect_rejected(_metadata, &self->nl, &q, -EINVAL, "Unknown attribute type");

	/* An attribute whose length runs past the message. */
	req_init(&q, self->nl.family, NLM_F_ACK, HPCMETER_CMD_GET_USAGE);
	req_put(&q, HPCMETER_A_CGROUP_ID, &id, sizeof(id));
	((struct nlattr *)(q.buf + NLMSG_LENGTH(GENL_HDRLEN)))->nla_len = 64;
	expect_rejected(_metadata, &self->nl, &q, -EINVAL, "leftover");

	/* The dump's start refuses the same bad attribute. */
	req_init(&q, self->nl.family, NLM_F_DUMP, HPCMETER_CMD_GET_USAGE);
	req_put(&q, HPCMETER_A_CGROUP_ID, big, sizeof(big));
	expect_rejected(_metadata, &self->nl, &q, -EINVAL, "invalid attribute length");

	/* A non-zero reserved header field. */
	req_init(&q, self->nl.family, NLM_F_ACK, HPCMETER_CMD_GET_INFO);
	((struct genlmsghdr *)NLMSG_DATA(&q.nlh))->reserved = 1;
	expect_rejected(_metadata, &self->nl, &q, -EINVAL, "reserved");

	/*
	 * An unknown command is refused by the genetlink core before the
	 * family sees it; 6.1's core sends no extack text for it.
	 */
	req_init(&q, self->nl.family, NLM_F_ACK, 99);
	expect_rejected(_metadata, &self->nl, &q, -EOPNOTSUPP, NULL);
}

TEST_F(hpcmeter, unprivileged_caller_refused_usage)
{
	int status;
	pid_t pid = fork();

	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct info in = {};
		struct reply rep;
		struct nl nl;
		uint64_t id = 1;
		struct usage u;
		int ret;

		/* nobody, without capabilities; then a fresh socket. */
		if (setgroups(0, NULL) || setresgid(65534, 65534, 65534) ||
		    setresuid(65534, 65534, 65534) || nl_open(&nl) || nl_resolve(&nl))
			_exit(10);
		ret = nl_call(&nl, HPCMETER_CMD_GET_USAGE, NLM_F_DUMP, NULL, NULL, &rep);
		if (ret || rep.error != -EPERM || !strstr(rep.extack, "CAP_NET_ADMIN")) {
			fprintf(stderr, "dump: ret %d error %d msgs %d extack \"%s\"\n", ret,
				rep.error, rep.msgs, rep.extack);
			_exit(11);
		}
		ret = usage_get(&nl, id, &u, &rep);
		if (ret || rep.error != -EPERM || !strstr(rep.extack, "CAP_NET_ADMIN")) {
			fprintf(stderr, "doit: ret %d error %d extack \"%s\"\n", ret, rep.error,
				rep.extack);
			_exit(12);
		}
		/* GET_INFO and the inventory are not sensitive. */
		if (nl_call(&nl, HPCMETER_CMD_GET_INFO, NLM_F_ACK, on_info, &in, &rep) || rep.error)
			_exit(13);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status))
	TH_LOG("10 setup, 11 dump not refused, 12 doit not refused, 13 GET_INFO failed");
}

/* ---- events ----------------------------------------------------------- */

TEST_F(hpcmeter, events_param_and_heartbeat)
{
	const char *param = "/sys/module/hpcmeter/parameters/heartbeat_ms";
	const struct nlattr *tb[HPCMETER_A_MAX + 1];
	char buf[8192], old[32];
	uint64_t seq1, seq2;

	ASSERT_EQ(0, read_file(param, old, sizeof(old)));
	ASSERT_EQ(0, subscribe(&self->nl));
	ASSERT_EQ(0, write_file(param, "200"));
	ASSERT_EQ(0, wait_event(&self->nl, HPCMETER_EVENT_PARAM, buf, sizeof(buf), tb, 10));
	ASSERT_NE(NULL, tb[HPCMETER_A_PARAM_NAME]);
	ASSERT_NE(NULL, tb[HPCMETER_A_PARAM_VALUE]);
	EXPECT_STREQ("heartbeat_ms", (const char *)nla_data(tb[HPCMETER_A_PARAM_NAME]));
	EXPECT_STREQ("200", (const char *)nla_data(tb[HPCMETER_A_PARAM_VALUE]));
	ASSERT_EQ(0, wait_event(&self->nl, HPCMETER_EVENT_HEARTBEAT, buf, sizeof(buf), tb, 10));
	ASSERT_NE(NULL, tb[HPCMETER_A_HEARTBEAT_SEQ]);
	seq1 = get_u64(tb[HPCMETER_A_HEARTBEAT_SEQ]);
	ASSERT_EQ(0, wait_event(&self->nl, HPCMETER_EVENT_HEARTBEAT, buf, sizeof(buf), tb, 10));
	seq2 = get_u64(tb[HPCMETER_A_HEARTBEAT_SEQ]);
	EXPECT_EQ(seq1 + 1, seq2);
	/* Out of range: refused, nothing changes. */
	EXPECT_NE(0, write_file(param, "5"));
	EXPECT_EQ(200, read_ulong(param));
	ASSERT_EQ(0, write_file(param, old));
}

/* ---- load and unload under load --------------------------------------- */

static int kmsg_splats(int fd, char *first, size_t size)
{
	static const char *const bad[] = {
		"WARNING:",	   "BUG:", "Oops", "Call Trace", "general protection", "refcount_t",
		"hpcmeter: cannot"
	};
	char rec[8192];
	int found = 0;
	ssize_t n;

	while ((n = read(fd, rec, sizeof(rec) - 1)) > 0 || (n < 0 && errno == EPIPE)) {
		if (n <= 0)
			continue;
		rec[n] = '\0';
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			if (strstr(rec, bad[i])) {
				if (!found++)
					snprintf(first, size, "%s", rec);
				break;
			}
	}
	return found;
}

static long meminfo_kb(const char *key)
{
	char line[256];
	long v = -1;
	FILE *f = fopen("/proc/meminfo", "re");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)) && line[strlen(key)] == ':')
			v = atol(line + strlen(key) + 1);
	if (f)
		fclose(f);
	return v;
}

static long kernel_mem_kb(void)
{
	sync();
	write_file("/proc/sys/vm/drop_caches", "3");
	return meminfo_kb("Slab") + meminfo_kb("VmallocUsed") + meminfo_kb("Percpu");
}

FIXTURE(reload){};
FIXTURE_SETUP(reload)
{
}
FIXTURE_TEARDOWN(reload)
{
}

TEST_F_TIMEOUT(reload, load_unload_50_times_under_load, 300)
{
	const char *ko = getenv("HPCMETER_KO");
	/* A big table makes a leaked one visible: 65536 * (8 + 32 * CPUs) bytes. */
	const char *params = "max_cgroups=65536 heartbeat_ms=100";
	pid_t workers[2];
	char splat[8192];
	long mem0, mem1;
	int fd, kmsg;

	if (!ko)
		SKIP(return, "HPCMETER_KO not set");
	/* Workload: a CPU burner and a fork/exec/exit loop. */
	workers[0] = fork();
	if (!workers[0]) {
		for (;;)
			burn();
	}
	workers[1] = fork();
	if (!workers[1]) {
		for (;;) {
			pid_t p = fork();

			if (!p)
				execl("/proc/self/exe", "hpcmeter_test", "--noop", (char *)NULL);
			waitpid(p, NULL, 0);
		}
	}
	kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	ASSERT_LE(0, kmsg);
	lseek(kmsg, 0, SEEK_END);
	if (syscall(SYS_delete_module, "hpcmeter", O_NONBLOCK) && errno != ENOENT)
		TH_LOG("rmmod before the loop: %s", strerror(errno));
	mem0 = kernel_mem_kb();

	for (int i = 0; i < 50; i++) {
		struct info in = {};
		struct reply rep;
		struct nl nl;

		fd = open(ko, O_RDONLY | O_CLOEXEC);
		ASSERT_LE(0, fd);
		ASSERT_EQ(0, syscall(SYS_finit_module, fd, params, 0))
		TH_LOG("load %d: %s", i, strerror(errno));
		close(fd);
		/* Ask it something while it meters, then take it away. */
		ASSERT_EQ(0, nl_open(&nl));
		ASSERT_EQ(0, nl_resolve(&nl));
		ASSERT_EQ(0, nl_call(&nl, HPCMETER_CMD_GET_INFO, NLM_F_ACK, on_info, &in, &rep));
		ASSERT_EQ(0, rep.error);
		close(nl.fd);
		usleep(20000 * (i % 5));
		ASSERT_EQ(0, syscall(SYS_delete_module, "hpcmeter", O_NONBLOCK))
		TH_LOG("unload %d: %s", i, strerror(errno));
	}
	mem1 = kernel_mem_kb();
	kill(workers[0], SIGKILL);
	kill(workers[1], SIGKILL);
	waitpid(workers[0], NULL, 0);
	waitpid(workers[1], NULL, 0);

	TH_LOG("kernel memory (Slab + VmallocUsed + Percpu): %ld kB before, %ld kB after 50 cycles",
	       mem0, mem1);
	/* One leaked table is >= 2.5 MB; 50 of them could not hide in 8 MB. */
	EXPECT_LT(mem1 - mem0, 8192);
	EXPECT_EQ(0, kmsg_splats(kmsg, splat, sizeof(splat))) TH_LOG("kernel log: %s", splat);
	close(kmsg);

	/* Leave it loaded (default parameters) for whatever runs next. */
	fd = open(ko, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, syscall(SYS_finit_module, fd, "", 0));
	close(fd);
}

/* --pingpong N: two processes bounce a byte N times over pipes (2N context switches on one
 * CPU); prints the nanoseconds per switch. The module's benchmark (run.sh --bench). */
static int pingpong(long n)
{
	int ab[2], ba[2];
	struct timespec t0, t1;
	char c = 0;
	pid_t pid;

	if (n < 1 || pipe(ab) || pipe(ba))
		return 1;
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		for (long i = 0; i < n; i++)
			if (read(ab[0], &c, 1) != 1 || write(ba[1], &c, 1) != 1)
				_exit(1);
		_exit(0);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < n; i++)
		if (write(ab[1], &c, 1) != 1 || read(ba[0], &c, 1) != 1)
			return 1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	waitpid(pid, NULL, 0);
	printf("%.0f\n", ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / (2.0 * n));
	return 0;
}

/* Keep only the tests named NAME (6.1's harness has no -t of its own). */
static int only_test(const char *name)
{
	int kept = 0;

	for (struct __fixture_metadata *f = __fixture_list; f; f = f->next) {
		struct __test_metadata *t, *next, *head = NULL, *last = NULL;

		for (t = f->tests; t; t = next) {
			next = t->next;
			if (strcmp(t->name, name))
				continue;
			t->next = NULL;
			t->prev = last ? last : t;
			if (last)
				last->next = t;
			else
				head = t;
			last = t;
			kept++;
		}
		if (head)
			head->prev = last;
		f->tests = head;
	}
	return kept;
}

static void list_tests(void)
{
	for (struct __fixture_metadata *f = __fixture_list; f; f = f->next)
		for (struct __test_metadata *t = f->tests; t; t = t->next)
			printf("%s\n", t->name);
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "--burn"))
		return burn();
	if (argc == 2 && !strcmp(argv[1], "--noop"))
		return 0;
	if (argc == 3 && !strcmp(argv[1], "--pingpong"))
		return pingpong(atol(argv[2]));
	if (argc == 2 && !strcmp(argv[1], "-l")) {
		list_tests();
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "-t")) {
		if (!only_test(argv[2])) {
			fprintf(stderr, "hpcmeter_test: no test named '%s' (-l lists them)\n",
				argv[2]);
			return 2;
		}
	} else if (argc != 1) {
		fprintf(stderr, "usage: hpcmeter_test [-l | -t TEST]\n");
		return 2;
	}
	return test_harness_run(argc, argv);
}
