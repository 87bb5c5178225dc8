// SPDX-License-Identifier: GPL-2.0-only
/* The D-Bus test suite's client of org.hpcmeter1.Licenses.GetReport: calls it on the system bus
 * ($DBUS_SYSTEM_BUS_ADDRESS), copies the file descriptor it returns to stdout and the signature
 * to SIGFILE.
 * usage: report-fd LICENSE FROM_USEC TO_USEC FORMAT [SIGFILE]
 * Prints "size SIZE sha256 SHA signature BYTES" on stderr; on a D-Bus error, "ERROR-NAME:
 * message" and exit 1. Exit 2 when the bytes read are not the size the reply gave, or the file
 * is not sealed. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include "hpcmeter-bus.h"

int main(int argc, char **argv)
{
	sd_bus_error error = SD_BUS_ERROR_NULL;
	sd_bus_message *reply = NULL;
	sd_bus *bus = NULL;
	const char *sha;
	const void *sig = NULL;
	size_t sig_len = 0;
	uint64_t size, total = 0;
	char buf[65536];
	int fd, r, seals;
	ssize_t n;

	if (argc != 5 && argc != 6) {
		fprintf(stderr, "usage: report-fd LICENSE FROM_USEC TO_USEC FORMAT [SIGFILE]\n");
		return 64;
	}
	r = sd_bus_open_system(&bus);
	if (r < 0) {
		fprintf(stderr, "cannot connect to the bus: %s\n", strerror(-r));
		return 1;
	}
	r = sd_bus_call_method(bus, HPCMETER_BUS_NAME, HPCMETER_OBJECT_PATH,
			       hpcmeter_iface("GetReport"), "GetReport", &error, &reply, "stts",
			       argv[1], strtoull(argv[2], NULL, 10), strtoull(argv[3], NULL, 10),
			       argv[4]);
	if (r < 0) {
		fprintf(stderr, "%s: %s\n", error.name ? error.name : "errno",
			error.message ? error.message : strerror(-r));
		return 1;
	}
	r = sd_bus_message_read(reply, "hts", &fd, &size, &sha);
	if (r >= 0)
		r = sd_bus_message_read_array(reply, 'y', &sig, &sig_len);
	if (r < 0) {
		fprintf(stderr, "cannot read the reply: %s\n", strerror(-r));
		return 1;
	}
	fprintf(stderr, "size %llu sha256 %s signature %zu\n", (unsigned long long)size, sha,
		sig_len);
	if (argc == 6) {
		FILE *f = fopen(argv[5], "we");

		if (!f || fwrite(sig, 1, sig_len, f) != sig_len || fclose(f) != 0) {
			fprintf(stderr, "cannot write %s\n", argv[5]);
			return 1;
		}
	}
	seals = fcntl(fd, F_GET_SEALS);
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		if (fwrite(buf, 1, n, stdout) != (size_t)n)
			return 1;
		total += n;
	}
	if (n < 0 || fflush(stdout) != 0)
		return 1;
	if (total != size || seals < 0 || !(seals & F_SEAL_WRITE) || !(seals & F_SEAL_GROW)) {
		fprintf(stderr, "read %llu bytes of %llu; seals %#x\n", (unsigned long long)total,
			(unsigned long long)size, seals);
		return 2;
	}
	sd_bus_message_unref(reply);
	sd_bus_flush_close_unref(bus);
	return 0;
}
