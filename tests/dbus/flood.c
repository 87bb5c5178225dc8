// SPDX-License-Identifier: GPL-2.0-only
/* Hostile D-Bus client of hpcmeterd for tests/dbus/test-flood.sh (run on the private bus,
 * under the shipped policy, as whatever user the test chooses):
 *
 *   flood rate CALLS_PER_SEC SECONDS [METHOD]
 *	pipelined calls (at most 64 awaiting their reply, the system bus allows 128) of METHOD
 *	(GetStatus, the default; or ListViolations, GetUsage: "since 0") paced to
 *	CALLS_PER_SEC for SECONDS; prints "sent N replies N errors N rate R/s first_error NAME".
 *   flood string BYTES
 *	one ExplainLicense call with a licence id of BYTES bytes; prints the outcome.
 *   flood variant DEPTH
 *	one JobStarted call whose a{sv} holds "comment" as DEPTH nested variants around a
 *	string; prints the outcome.
 *
 * Outcomes are printed as "reply", "error NAME" or "failed ERRNO-TEXT" (the bus refused the
 * message or dropped the connection); exit status 0 unless the client itself failed. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-bus.h>

#include "hpcmeter-bus.h"

#define WINDOW 64

struct stats {
	uint64_t sent, replies, errors, outstanding;
	char first_error[256];
};

static uint64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct stats *s = userdata;
	const sd_bus_error *e = sd_bus_message_get_error(m);

	s->outstanding--;
	if (e) {
		s->errors++;
		if (!s->first_error[0])
			snprintf(s->first_error, sizeof(s->first_error), "%s", e->name);
	} else {
		s->replies++;
	}
	return 0;
}

static int flood(sd_bus *bus, uint64_t rate, uint64_t seconds, const char *method)
{
	struct stats s = { 0 };
	bool since = strcmp(method, "GetStatus") != 0;
	uint64_t start = now_usec(), end = start + seconds * 1000000, t;
	int r;

	while ((t = now_usec()) < end) {
		uint64_t due = (t - start) * rate / 1000000;

		while (s.sent < due && s.outstanding < WINDOW) {
			r = since ? sd_bus_call_method_async(bus, NULL, HPCMETER_BUS_NAME,
							     HPCMETER_OBJECT_PATH,
							     hpcmeter_iface(method), method,
							     on_reply, &s, "t", (uint64_t)0) :
				    sd_bus_call_method_async(bus, NULL, HPCMETER_BUS_NAME,
							     HPCMETER_OBJECT_PATH,
							     hpcmeter_iface(method), method,
							     on_reply, &s, "");
			if (r < 0) {
				fprintf(stderr, "flood: call: %s\n", strerror(-r));
				return r;
			}
			s.sent++;
			s.outstanding++;
		}
		do
			r = sd_bus_process(bus, NULL);
		while (r > 0);
		if (r < 0) {
			fprintf(stderr, "flood: bus: %s\n", strerror(-r));
			return r;
		}
		r = sd_bus_wait(bus, 1000);
		if (r < 0)
			return r;
	}
	/* The answers still on their way. */
	for (uint64_t deadline = now_usec() + 30000000; s.outstanding && now_usec() < deadline;) {
		r = sd_bus_process(bus, NULL);
		if (r < 0)
			return r;
		if (r == 0 && sd_bus_wait(bus, 100000) < 0)
			break;
	}
	printf("sent %" PRIu64 " replies %" PRIu64 " errors %" PRIu64 " rate %" PRIu64
	       "/s first_error %s\n",
	       s.sent, s.replies, s.errors, s.sent / (seconds ? seconds : 1),
	       s.first_error[0] ? s.first_error : "none");
	return 0;
}

static void outcome(int r, const sd_bus_error *e)
{
	if (r >= 0)
		printf("reply\n");
	else if (sd_bus_error_is_set(e))
		printf("error %s\n", e->name);
	else
		printf("failed %s\n", strerror(-r));
}

static int big_string(sd_bus *bus, size_t bytes)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus_message *reply = NULL;
	char *s = malloc(bytes + 1);
	int r;

	if (!s)
		return -ENOMEM;
	memset(s, 'L', bytes);
	s[bytes] = '\0';
	r = sd_bus_call_method(bus, HPCMETER_BUS_NAME, HPCMETER_OBJECT_PATH,
			       hpcmeter_iface("ExplainLicense"), "ExplainLicense", &e, &reply, "s",
			       s);
	outcome(r, &e);
	if (r < 0 && sd_bus_error_is_set(&e))
		printf("error message %zu bytes\n", strlen(e.message ? e.message : ""));
	sd_bus_error_free(&e);
	sd_bus_message_unref(reply);
	free(s);
	return 0;
}

static int deep_variant(sd_bus *bus, unsigned depth)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus_message *m = NULL, *reply = NULL;
	int r;

	r = sd_bus_message_new_method_call(bus, &m, HPCMETER_BUS_NAME, HPCMETER_OBJECT_PATH,
					   hpcmeter_iface("JobStarted"), "JobStarted");
	if (r >= 0)
		r = sd_bus_message_append(m, "s", "4242");
	if (r >= 0)
		r = sd_bus_message_open_container(m, 'a', "{sv}");
	if (r >= 0)
		r = sd_bus_message_open_container(m, 'e', "sv");
	if (r >= 0)
		r = sd_bus_message_append(m, "s", "comment");
	/* DEPTH variants: v(v(...v(s))) */
	for (unsigned i = 0; r >= 0 && i < depth; i++)
		r = sd_bus_message_open_container(m, 'v', i + 1 < depth ? "v" : "s");
	if (r >= 0)
		r = sd_bus_message_append(m, "s", "deep");
	for (unsigned i = 0; r >= 0 && i < depth; i++)
		r = sd_bus_message_close_container(m);
	if (r >= 0)
		r = sd_bus_message_close_container(m);
	if (r >= 0)
		r = sd_bus_message_close_container(m);
	if (r < 0) {
		/* sd-bus itself will not build it: such a message never leaves this client. */
		printf("unbuildable %s\n", strerror(-r));
		sd_bus_message_unref(m);
		return 0;
	}
	r = sd_bus_call(bus, m, 0, &e, &reply);
	outcome(r, &e);
	sd_bus_error_free(&e);
	sd_bus_message_unref(reply);
	sd_bus_message_unref(m);
	return 0;
}

int main(int argc, char **argv)
{
	sd_bus *bus = NULL;
	int r;

	if (argc < 3) {
		fprintf(stderr, "usage: flood rate CALLS_PER_SEC SECONDS [METHOD] | string BYTES | "
				"variant DEPTH\n");
		return 2;
	}
	r = sd_bus_open_system(&bus);
	if (r < 0) {
		fprintf(stderr, "flood: cannot connect to the system bus: %s\n", strerror(-r));
		return 1;
	}
	if (strcmp(argv[1], "rate") == 0 && argc >= 4)
		r = flood(bus, strtoull(argv[2], NULL, 10), strtoull(argv[3], NULL, 10),
			  argc > 4 ? argv[4] : "GetStatus");
	else if (strcmp(argv[1], "string") == 0)
		r = big_string(bus, strtoull(argv[2], NULL, 10));
	else if (strcmp(argv[1], "variant") == 0)
		r = deep_variant(bus, (unsigned)strtoul(argv[2], NULL, 10));
	else
		r = -EINVAL;
	sd_bus_flush_close_unref(bus);
	if (r < 0) {
		fprintf(stderr, "flood: %s\n", strerror(-r));
		return 1;
	}
	return 0;
}
