/* SPDX-License-Identifier: GPL-2.0-only */
/* libFuzzer target: what the session-origin lookup reads (lib/session-origin.c): a line of
 * /proc/net/tcp or tcp6 (the first input byte chooses the family) and a remote host as utmp
 * or logind give it (a field of any bytes, written by any member of group utmp). A parsed
 * entry has ports and a state in range and an address that prints; a host taken is printable,
 * terminated, shorter than the field and never a display (":0") or an option ("-o"). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "session-origin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line, host[ORIGIN_HOST_MAX], addr[INET6_ADDRSTRLEN];
	int family;
	struct tcp_entry e;

	if (size < 1)
		return 0;
	family = data[0] & 1 ? AF_INET6 : AF_INET;
	/* A heap copy of exactly the input, terminated as fgets() terminates a line. */
	line = malloc(size);
	if (!line)
		abort();
	memcpy(line, data + 1, size - 1);
	line[size - 1] = '\0';
	if (origin_parse_tcp_line(line, family, &e) == 0) {
		if (e.family != family || e.state > 0xff)
			abort();
		origin_address_text(e.family, e.remote, addr, sizeof(addr));
		if (!memchr(addr, '\0', sizeof(addr)) || !addr[0])
			abort();
	}
	/* The same bytes as an unterminated fixed-size field (utmp's ut_host). */
	if (origin_host_copy((const char *)data + 1, size - 1, host, sizeof(host))) {
		size_t n = strlen(host);

		if (n == 0 || n >= sizeof(host) || host[0] == ':' || host[0] == '-' ||
		    strcspn(host, " \t\r\n") != n)
			abort();
	}
	free(line);
	return 0;
}
