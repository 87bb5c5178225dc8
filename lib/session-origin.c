// SPDX-License-Identifier: GPL-2.0-only
/* Where a login session came from (see session-origin.h): logind, the session's connection,
 * the login records. */
#include "session-origin.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <systemd/sd-login.h>
#include <unistd.h>
#include <utmpx.h>

#include "util.h"

#define AUDIT_UNSET 0xffffffffu
#define CHAIN_MAX 64 /* processes walked up from the one that exec'd */
#define SOCKETS_MAX 256 /* socket descriptors of one process looked at */
#define TCP_ESTABLISHED 1
#define TCP_LISTEN 10

const struct origin_paths origin_default_paths = {
	.proc = "/proc",
	.utmp = "/var/run/utmp",
	.logind = "/run/systemd/sessions",
};

static const char *const source_names[] = {
	[ORIGIN_SOURCE_NONE] = "none",	   [ORIGIN_SOURCE_LOGIND] = "logind",
	[ORIGIN_SOURCE_SOCKET] = "socket", [ORIGIN_SOURCE_UTMP] = "utmp",
	[ORIGIN_SOURCE_GONE] = "gone",
};

const char *origin_source_name(enum origin_source s)
{
	return s < ARRAY_SIZE(source_names) ? source_names[s] : "?";
}

/* ---- parsers ---- */

static int parse_hex_address(const char *s, int family, uint8_t out[16])
{
	size_t words = family == AF_INET ? 1 : 4;

	if (strlen(s) != words * 8 || strspn(s, "0123456789abcdefABCDEF") != words * 8)
		return -EINVAL;
	memset(out, 0, 16);
	/* The kernel prints each 32-bit word of the address as it lies in memory, read as a
	 * native integer: reading it back the same way gives the bytes in network order. */
	for (size_t i = 0; i < words; i++) {
		char word[9];
		uint32_t v;

		memcpy(word, s + 8 * i, 8);
		word[8] = '\0';
		v = (uint32_t)strtoul(word, NULL, 16);
		memcpy(out + 4 * i, &v, 4);
	}
	return 0;
}

static bool all_of(const char *s, size_t n, const char *set)
{
	return n > 0 && strspn(s, set) >= n;
}

static uint64_t parse_uint(const char *s, size_t n, int base)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v = v * base + (s[i] <= '9' ? s[i] - '0' : (s[i] | 0x20) - 'a' + 10);
	return v;
}

/* "ADDRESS:PORT" in hex, the address of its family's length, the port four digits. */
static int parse_endpoint(const char *s, size_t n, int family, uint8_t addr[16], uint16_t *port)
{
	static const char hex[] = "0123456789abcdefABCDEF";
	size_t alen = family == AF_INET ? 8 : 32;
	char a[33];

	if (n != alen + 5 || s[alen] != ':' || !all_of(s, alen, hex) ||
	    !all_of(s + alen + 1, 4, hex))
		return -EINVAL;
	memcpy(a, s, alen);
	a[alen] = '\0';
	*port = (uint16_t)parse_uint(s + alen + 1, 4, 16);
	return parse_hex_address(a, family, addr);
}

int origin_parse_tcp_line(const char *line, int family, struct tcp_entry *ret)
{
	static const char hex[] = "0123456789abcdefABCDEF";
	const char *tok[10];
	size_t len[10], n = 0;
	struct tcp_entry e = { .family = family };

	/* "  1: 057100CB:BFE1 076433C6:08AE 01 00000000:00000000 02:000AFA22 00000000  0  0
	 *  1048337 ..." (sl, local, remote, state, queues, timer, retransmits, uid, timeout,
	 *  inode): the fields split at blanks, each checked for its exact shape. */
	for (const char *p = line; *p && n < ARRAY_SIZE(tok);) {
		size_t l;

		p += strspn(p, " \t");
		l = strcspn(p, " \t\n");
		if (l == 0)
			break;
		tok[n] = p;
		len[n++] = l;
		p += l;
	}
	if (n < ARRAY_SIZE(tok) || len[0] < 2 || tok[0][len[0] - 1] != ':' ||
	    !all_of(tok[0], len[0] - 1, "0123456789"))
		return -EINVAL;
	if (parse_endpoint(tok[1], len[1], family, e.local, &e.local_port) < 0 ||
	    parse_endpoint(tok[2], len[2], family, e.remote, &e.remote_port) < 0)
		return -EINVAL;
	if (len[3] != 2 || !all_of(tok[3], 2, hex) || len[9] > 19 ||
	    !all_of(tok[9], len[9], "0123456789"))
		return -EINVAL;
	e.state = (unsigned)parse_uint(tok[3], 2, 16);
	e.inode = parse_uint(tok[9], len[9], 10);
	*ret = e;
	return 0;
}

void origin_address_text(int family, const uint8_t *addr, char *buf, size_t size)
{
	static const uint8_t v4_mapped[12] = { [10] = 0xff, [11] = 0xff };

	if (family == AF_INET6 && memcmp(addr, v4_mapped, sizeof(v4_mapped)) == 0) {
		family = AF_INET;
		addr += 12;
	}
	if (!inet_ntop(family, addr, buf, size))
		snprintf(buf, size, "?");
}

bool origin_host_copy(const char *s, size_t len, char *buf, size_t size)
{
	static const char allowed[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				      "0123456789.-:_%";

	len = strnlen(s, len);
	/* ":0", ":pts/1:S.0": an X display or a terminal multiplexer on this host. */
	if (len == 0 || len >= size || len >= ORIGIN_HOST_MAX || s[0] == ':' || s[0] == '-')
		return false;
	for (size_t i = 0; i < len; i++)
		if (!strchr(allowed, s[i]) || s[i] == '\0')
			return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return true;
}

/* ---- /proc ---- */

static int read_u32(const struct origin_paths *paths, uint32_t pid, const char *name, uint32_t *ret)
{
	char path[128], buf[32];
	_cleanup_fclose_ FILE *f = NULL;
	char *end;
	unsigned long v;

	snprintf(path, sizeof(path), "%s/%u/%s", paths->proc, pid, name);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	if (!fgets(buf, sizeof(buf), f))
		return -EIO;
	v = strtoul(buf, &end, 10);
	if (end == buf || v > UINT32_MAX)
		return -EIO;
	*ret = (uint32_t)v;
	return 0;
}

static bool in_session(const struct origin_paths *paths, uint32_t pid, uint32_t sessionid)
{
	uint32_t s = AUDIT_UNSET;

	return pid > 0 && read_u32(paths, pid, "sessionid", &s) == 0 && s == sessionid;
}

/* The parent and start time (clock ticks after boot) from /proc/PID/stat. */
static int read_stat(const struct origin_paths *paths, uint32_t pid, uint32_t *ppid,
		     uint64_t *start)
{
	char path[128], buf[1024];
	_cleanup_fclose_ FILE *f = NULL;
	unsigned long long st;
	unsigned pp;
	char *p;

	snprintf(path, sizeof(path), "%s/%u/stat", paths->proc, pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	if (!fgets(buf, sizeof(buf), f))
		return -EIO;
	/* The command name may hold anything, ")" included: the fields follow the last one. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1,
			 " %*c %u %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d"
			 " %*d %llu",
			 &pp, &st) != 2)
		return -EIO;
	if (ppid)
		*ppid = pp;
	if (start)
		*start = st;
	return 0;
}

static void read_comm(const struct origin_paths *paths, uint32_t pid, char *buf, size_t size)
{
	char path[128];
	_cleanup_fclose_ FILE *f = NULL;

	buf[0] = '\0';
	snprintf(path, sizeof(path), "%s/%u/comm", paths->proc, pid);
	f = fopen(path, "re");
	if (f && fgets(buf, size, f))
		buf[strcspn(buf, "\n")] = '\0';
}

/* The earliest-started living process of the session: its login process, unless that has
 * gone. Returns its pid, 0 when none lives. */
static uint32_t scan_session(const struct origin_paths *paths, uint32_t sessionid)
{
	DIR *d = opendir(paths->proc);
	uint64_t best_start = UINT64_MAX;
	uint32_t best = 0;
	struct dirent *de;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char *end;
		unsigned long pid = strtoul(de->d_name, &end, 10);
		uint64_t start;

		if (*end || pid == 0 || pid > UINT32_MAX || !in_session(paths, pid, sessionid))
			continue;
		if (read_stat(paths, pid, NULL, &start) == 0 && start < best_start) {
			best_start = start;
			best = pid;
		}
	}
	closedir(d);
	return best;
}

/* ---- source 1: logind ---- */

static bool from_logind(const struct origin_paths *paths, uint32_t sessionid,
			struct session_origin *o)
{
	_cleanup_free_ char *host = NULL, *service = NULL;
	char name[16];
	uid_t uid;

	if (!paths->logind || access(paths->logind, F_OK) < 0)
		return false; /* no logind on this host */
	/* logind names a session after its audit session id when there is one. */
	snprintf(name, sizeof(name), "%u", sessionid);
	if (sd_session_get_uid(name, &uid) < 0)
		return false; /* a session logind does not know (no pam_systemd) */
	o->source = ORIGIN_SOURCE_LOGIND;
	/* Not sd_session_is_remote(): logind calls an ssh login from localhost local, but a
	 * connection that ends on this host may carry work from anywhere (a tunnel). */
	if (sd_session_get_remote_host(name, &host) >= 0 && host)
		origin_host_copy(host, strlen(host), o->host, sizeof(o->host));
	if (sd_session_get_service(name, &service) >= 0 && service)
		snprintf(o->service, sizeof(o->service), "%s", service);
	return true;
}

/* ---- source 2: the session's connection ---- */

struct sockets {
	uint64_t inode[SOCKETS_MAX];
	size_t n;
};

static void socket_inodes(const struct origin_paths *paths, uint32_t pid, struct sockets *s)
{
	char dir[128], path[128 + 256 + 2], link[64];
	struct dirent *de;
	DIR *d;

	s->n = 0;
	snprintf(dir, sizeof(dir), "%s/%u/fd", paths->proc, pid);
	d = opendir(dir);
	if (!d)
		return;
	while ((de = readdir(d)) && s->n < SOCKETS_MAX) {
		unsigned long long inode;
		ssize_t n;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		if (sscanf(link, "socket:[%llu]", &inode) == 1)
			s->inode[s->n++] = inode;
	}
	closedir(d);
}

static bool has_inode(const struct sockets *s, uint64_t inode)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->inode[i] == inode)
			return true;
	return false;
}

/* Listening ports of the process's network namespace, and the peers of its established
 * connections, from /proc/PID/net/tcp and tcp6. */
struct tcp_scan {
	uint8_t listening[65536 / 8];
	struct tcp_entry conn[8];
	size_t n_conn;
};

static void scan_tcp(const struct origin_paths *paths, uint32_t pid, const struct sockets *s,
		     struct tcp_scan *t)
{
	static const struct {
		const char *name;
		int family;
	} tables[] = { { "tcp", AF_INET }, { "tcp6", AF_INET6 } };
	char path[128], line[512];

	for (size_t i = 0; i < ARRAY_SIZE(tables); i++) {
		_cleanup_fclose_ FILE *f = NULL;

		snprintf(path, sizeof(path), "%s/%u/net/%s", paths->proc, pid, tables[i].name);
		f = fopen(path, "re");
		while (f && fgets(line, sizeof(line), f)) {
			struct tcp_entry e;

			if (origin_parse_tcp_line(line, tables[i].family, &e) < 0)
				continue;
			if (e.state == TCP_LISTEN)
				t->listening[e.local_port / 8] |= 1 << (e.local_port % 8);
			else if (e.state == TCP_ESTABLISHED && has_inode(s, e.inode) &&
				 t->n_conn < ARRAY_SIZE(t->conn))
				t->conn[t->n_conn++] = e;
		}
	}
}

/* The peer of a connection pid accepted (its local port is one this host listens on): what
 * sshd holds for the session, never a connection the process made itself. */
static bool accepted_peer(const struct origin_paths *paths, uint32_t pid, struct session_origin *o)
{
	_cleanup_free_ struct tcp_scan *t = NULL;
	struct sockets s;

	socket_inodes(paths, pid, &s);
	if (s.n == 0)
		return false;
	t = calloc(1, sizeof(*t));
	if (!t)
		return false;
	scan_tcp(paths, pid, &s, t);
	for (size_t i = 0; i < t->n_conn; i++) {
		const struct tcp_entry *e = &t->conn[i];

		if (!(t->listening[e->local_port / 8] & (1 << (e->local_port % 8))))
			continue;
		origin_address_text(e->family, e->remote, o->address, sizeof(o->address));
		snprintf(o->host, sizeof(o->host), "%s", o->address);
		return true;
	}
	return false;
}

/* ---- source 3: the login records ---- */

static bool from_utmp(const struct origin_paths *paths, const uint32_t *pids, size_t n_pids,
		      struct session_origin *o)
{
	struct utmpx *u;
	bool found = false;

	if (!paths->utmp || access(paths->utmp, R_OK) < 0 || utmpxname(paths->utmp) < 0)
		return false;
	setutxent();
	while (!found && (u = getutxent())) {
		bool ours = false;

		if (u->ut_type != USER_PROCESS)
			continue;
		for (size_t i = 0; i < n_pids && !ours; i++)
			ours = pids[i] && (uint32_t)u->ut_pid == pids[i];
		if (!ours ||
		    !origin_host_copy(u->ut_host, sizeof(u->ut_host), o->host, sizeof(o->host)))
			continue;
		found = true;
		o->source = ORIGIN_SOURCE_UTMP;
		/* The address, when the login program recorded one (sshd does). */
		if (u->ut_addr_v6[1] == 0 && u->ut_addr_v6[2] == 0 && u->ut_addr_v6[3] == 0) {
			if (u->ut_addr_v6[0])
				origin_address_text(AF_INET, (const uint8_t *)u->ut_addr_v6,
						    o->address, sizeof(o->address));
		} else {
			origin_address_text(AF_INET6, (const uint8_t *)u->ut_addr_v6, o->address,
					    sizeof(o->address));
		}
	}
	endutxent();
	return found;
}

/* ---- the lookup ---- */

int session_origin_find(const struct origin_paths *paths, uint32_t pid, uint32_t ppid,
			uint32_t sessionid, struct session_origin *ret)
{
	struct session_origin o = { .source = ORIGIN_SOURCE_NONE };
	uint32_t chain[CHAIN_MAX + 2], cur = 0, parent = 0;
	size_t n = 0;

	if (access(paths->proc, F_OK) < 0)
		return -errno;
	if (sessionid == AUDIT_UNSET) {
		*ret = o;
		return 0;
	}
	/* Up from the process (or its parent, when it has gone) to the first process of the
	 * session: its login process, where pam_loginuid started it. */
	if (in_session(paths, pid, sessionid))
		cur = pid;
	else if (in_session(paths, ppid, sessionid))
		cur = ppid;
	while (cur > 1 && n < CHAIN_MAX) {
		chain[n++] = cur;
		if (read_stat(paths, cur, &parent, NULL) < 0 || parent <= 1 ||
		    !in_session(paths, parent, sessionid))
			break;
		cur = parent;
	}
	/* Nothing of the chain left, or a process that was reparented (to init, to a
	 * subreaper): the session's oldest process is its login process. */
	if (n == 0 || parent <= 1) {
		uint32_t oldest = scan_session(paths, sessionid);
		uint64_t a = 0, b = UINT64_MAX;

		if (n > 0)
			read_stat(paths, chain[n - 1], NULL, &b);
		if (oldest && (n == 0 || (read_stat(paths, oldest, NULL, &a) == 0 && a < b)))
			chain[n++] = oldest;
	}
	if (n > 0) {
		o.leader = chain[n - 1];
		read_stat(paths, o.leader, &parent, &o.leader_start);
		read_comm(paths, o.leader, o.service, sizeof(o.service));
	}
	if (from_logind(paths, sessionid, &o)) {
		*ret = o;
		return 0;
	}
	if (n == 0) {
		o.source = ORIGIN_SOURCE_GONE;
		*ret = o;
		return 0;
	}
	/* The login process holds the connection (sshd), or its parent does (a telnetd that
	 * runs login). */
	chain[n++] = parent;
	if (accepted_peer(paths, o.leader, &o) || (parent > 1 && accepted_peer(paths, parent, &o)))
		o.source = ORIGIN_SOURCE_SOCKET;
	else
		from_utmp(paths, chain, n, &o);
	*ret = o;
	return 0;
}

bool session_leader_alive(const struct origin_paths *paths, uint32_t leader, uint64_t start)
{
	uint64_t now;

	return leader && read_stat(paths, leader, NULL, &now) == 0 && now == start;
}
