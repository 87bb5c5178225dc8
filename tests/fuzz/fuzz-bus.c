/* SPDX-License-Identifier: GPL-2.0-only */
/* libFuzzer target: D-Bus method argument handling of JobStarted/JobEnded (s job, a{sv} info),
 * the methods that take structured input from a caller: the job id check and
 * job_info_read_bus(), which the daemon's handler calls on the received message.
 *
 * The input is decoded into a real sd_bus_message built with sd-bus's own append calls (what
 * any client can send: sd-bus has already checked the wire format and the method signature
 * when the handler runs): the job id, then entries with a known or arbitrary key and a variant
 * of any of several types (s, u, i, t, b, as, a{sv}, nested v) and arbitrary content. The
 * message is sealed and read the way the handler reads it, starting from an existing job.
 * Checked: an accepted announcement holds only valid fields; a rejected one sets an error
 * (InvalidArgs naming the key) or returns a negative errno, and never changes the base job. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "job-info.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static sd_bus *bus;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int fds[2];

	/* Messages are created on a started bus; it never needs to talk to anybody. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0 || sd_bus_new(&bus) < 0 ||
	    sd_bus_set_fd(bus, fds[0], fds[0]) < 0 || sd_bus_start(bus) < 0)
		abort();
	return 0;
}

struct input {
	const uint8_t *p;
	size_t n;
};

static uint8_t byte(struct input *in)
{
	uint8_t b = 0;

	if (in->n) {
		b = *in->p++;
		in->n--;
	}
	return b;
}

static uint32_t u32(struct input *in)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++)
		v = v << 8 | byte(in);
	return v;
}

/* A string of length byte (or a long one when the byte is 255): any bytes but NUL. */
static char *str(struct input *in)
{
	size_t len = byte(in);
	char *s;

	if (len == 255)
		len = 1000 + (size_t)byte(in) * 8; /* around JOB_FIELD_MAX */
	s = malloc(len + 1);
	if (!s)
		abort();
	for (size_t i = 0; i < len; i++) {
		uint8_t b = in->n ? byte(in) : 'x';

		s[i] = b ? (char)b : 'x';
	}
	s[len] = '\0';
	return s;
}

static int append_value(sd_bus_message *m, struct input *in, int depth);

static int append_entries(sd_bus_message *m, struct input *in, int depth)
{
	unsigned n = byte(in) % 8;
	int r = sd_bus_message_open_container(m, 'a', "{sv}");

	for (unsigned i = 0; r >= 0 && i < n && in->n; i++) {
		uint8_t k = byte(in);
		char *key = NULL;

		r = sd_bus_message_open_container(m, 'e', "sv");
		if (r < 0)
			break;
		if (k < 0xc0)
			r = sd_bus_message_append_basic(m, 's', job_keys[k % n_job_keys].name);
		else {
			key = str(in);
			r = sd_bus_message_append_basic(m, 's', key);
			free(key);
		}
		if (r >= 0)
			r = append_value(m, in, depth);
		if (r >= 0)
			r = sd_bus_message_close_container(m);
	}
	return r < 0 ? r : sd_bus_message_close_container(m);
}

/* One variant holding a value of a type chosen by the input. */
static int append_value(sd_bus_message *m, struct input *in, int depth)
{
	static const char *const types[] = { "s", "u", "s", "u", "i", "t", "b", "as", "a{sv}", "v" };
	const char *t = types[byte(in) % (depth > 3 ? 7 : 10)];
	char *s;
	int r = sd_bus_message_open_container(m, 'v', t);

	if (r < 0)
		return r;
	switch (t[0]) {
	case 's':
		s = str(in);
		r = sd_bus_message_append_basic(m, 's', s);
		free(s);
		break;
	case 'u':
	case 'i':
	case 'b': {
		uint32_t v = u32(in);

		if (t[0] == 'b')
			v &= 1;
		r = sd_bus_message_append_basic(m, t[0], &v);
		break;
	}
	case 't': {
		uint64_t v = (uint64_t)u32(in) << 32 | u32(in);

		r = sd_bus_message_append_basic(m, 't', &v);
		break;
	}
	case 'v':
		r = append_value(m, in, depth + 1);
		break;
	default:
		if (t[1] == 's') {
			unsigned n = byte(in) % 4;

			r = sd_bus_message_open_container(m, 'a', "s");
			for (unsigned i = 0; r >= 0 && i < n; i++) {
				s = str(in);
				r = sd_bus_message_append_basic(m, 's', s);
				free(s);
			}
			if (r >= 0)
				r = sd_bus_message_close_container(m);
		} else {
			r = append_entries(m, in, depth + 1);
		}
		break;
	}
	return r < 0 ? r : sd_bus_message_close_container(m);
}

static bool same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void check_fields(const struct job_info *j)
{
	for (size_t i = 0; i < n_job_keys; i++) {
		const char *v = job_info_get(j, job_keys[i].name);

		if (!v)
			continue;
		if (strlen(v) > JOB_FIELD_MAX)
			abort();
		for (const char *p = v; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				abort();
	}
	if (j->gpus && strspn(j->gpus, "0123456789,-") != strlen(j->gpus))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	sd_bus_message *m = NULL;
	sd_bus_error error = SD_BUS_ERROR_NULL;
	struct job_info base = { .uid = 1000 }, upd;
	const char *id;
	char *s = str(&in);
	int r;

	r = sd_bus_message_new_method_call(bus, &m, "org.hpcmeter1", "/org/hpcmeter1",
					   "org.hpcmeter1.Meter", "JobStarted");
	if (r < 0)
		abort();
	r = sd_bus_message_append_basic(m, 's', s);
	free(s);
	/* Invalid UTF-8 in a string is refused by sd-bus itself: such a call never arrives. */
	if (r < 0 || append_entries(m, &in, 0) < 0)
		goto out;
	if (sd_bus_message_seal(m, 1, 0) < 0 || sd_bus_message_rewind(m, true) < 0)
		abort();
	if (job_info_set(&base, "account", "base-account", 0, &(const char *){ 0 }) < 0 ||
	    job_info_set(&base, "gpus", "0,1", 0, &(const char *){ 0 }) < 0)
		abort();
	/* The handler's steps: the id, then the announcement on top of the known job. */
	if (sd_bus_message_read(m, "s", &id) < 0)
		abort();
	(void)job_id_valid(id);
	r = job_info_read_bus(m, &base, &upd, &error);
	if (r >= 0) {
		check_fields(&upd);
	} else if (sd_bus_error_is_set(&error) &&
		   !sd_bus_error_has_name(&error, SD_BUS_ERROR_INVALID_ARGS)) {
		abort();
	}
	/* Whatever happened, the base job is as it was. */
	if (!same(base.account, "base-account") || !same(base.gpus, "0,1") || base.uid != 1000 ||
	    base.user)
		abort();
	upd.row = 0;
	job_info_clear(&upd);
	job_info_clear(&base);
out:
	sd_bus_error_free(&error);
	sd_bus_message_unref(m);
	return 0;
}
