/* SPDX-License-Identifier: GPL-2.0-only */
/* Where a login session came from: the remote host of an audit session (loginuid, sessionid,
 * as pam_loginuid sets them at each login), looked up once per session from, in this order,
 *   1. logind's record of the session (sd-login), where systemd-logind runs;
 *   2. the session's own connection: the established TCP socket the session's login process
 *      (sshd) accepted, read from /proc (fds and /proc/PID/net/tcp, tcp6): an address;
 *   3. the login records (utmp: ut_host, ut_addr_v6) of a process of the session.
 * A session none of them gives a remote host for is local. No daemon state: the daemon caches
 * the answer per session (daemon/core/sessions.c). */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ORIGIN_HOST_MAX 256 /* utmp's ut_host is 256 bytes; DNS names at most 253 */

enum origin_source {
	ORIGIN_SOURCE_NONE, /* no source names a remote host: a local session */
	ORIGIN_SOURCE_LOGIND,
	ORIGIN_SOURCE_SOCKET,
	ORIGIN_SOURCE_UTMP,
	ORIGIN_SOURCE_GONE, /* no process of the session was left to look at */
};

struct session_origin {
	enum origin_source source;
	char host[ORIGIN_HOST_MAX]; /* the remote host as the source names it; "" when local */
	char address[INET6_ADDRSTRLEN]; /* its address when the source gives one, else "" */
	char service[32]; /* what the session came through: "sshd", "login", ... ("" unknown) */
	uint32_t leader; /* the session's login process, 0 when not found */
	uint64_t leader_start; /* its start (/proc/PID/stat starttime, clock ticks) */
};

struct origin_paths {
	const char *proc; /* "/proc" */
	const char *utmp; /* the utmp file ("/var/run/utmp") */
	const char *logind; /* logind's state ("/run/systemd/sessions"); NULL: do not ask */
};

extern const struct origin_paths origin_default_paths;

/* The origin of audit session sessionid, seen in process pid (whose parent was ppid; either may
 * be gone already). Returns 0 and *ret (source NONE for a local session), or a negative errno
 * when /proc cannot be read at all. */
int session_origin_find(const struct origin_paths *paths, uint32_t pid, uint32_t ppid,
			uint32_t sessionid, struct session_origin *ret);

/* Is the session's login process (leader, leader_start) still running? */
bool session_leader_alive(const struct origin_paths *paths, uint32_t leader, uint64_t start);

const char *origin_source_name(enum origin_source s);

/* ---- parsers, exposed for the tests and the fuzzer (tests/fuzz/fuzz-origin.c) ---- */

/* One line of /proc/net/tcp (family AF_INET) or tcp6 (AF_INET6). */
struct tcp_entry {
	int family;
	uint8_t local[16], remote[16]; /* network byte order */
	uint16_t local_port, remote_port;
	unsigned state; /* TCP_ESTABLISHED 1, TCP_LISTEN 10 */
	uint64_t inode;
};
/* Returns 0, or -EINVAL for a header or a malformed line. */
int origin_parse_tcp_line(const char *line, int family, struct tcp_entry *ret);

/* An address as text; an IPv4-mapped IPv6 address as IPv4. */
void origin_address_text(int family, const uint8_t *addr, char *buf, size_t size);

/* A remote host as a source gives it (utmp's ut_host, logind's remote host): a host name or an
 * address, printable, no spaces. Copied into buf (size ORIGIN_HOST_MAX) when it is one; false
 * for anything else, and for what names no host (empty, an X display such as ":0"). */
bool origin_host_copy(const char *s, size_t len, char *buf, size_t size);
