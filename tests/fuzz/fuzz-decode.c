/* SPDX-License-Identifier: GPL-2.0-only */
/* libFuzzer target: ring-buffer record decoding (meter_decode), the step between the kernel's
 * records and the daemon's process table. The first input byte chooses the shape: the bytes
 * as they are (any size, any type), or an exec, exit, move or tail record of exactly the right size and
 * type with the rest of the input as its fields, so that the mutator reaches the field checks
 * (path_len, path_depth, unterminated strings and components) and not only the size check.
 * A decoded record must have terminated strings and a path that is "" or absolute. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "meter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_str(const char *s, size_t size)
{
	if (!memchr(s, '\0', size))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct meter_exec exec;
	static struct meter_exit exit;
	static struct meter_move move;
	static struct meter_tail tail;
	static const uint32_t types[] = { 0, HPCM_EV_EXEC, HPCM_EV_EXIT, HPCM_EV_MOVE,
					  HPCM_EV_TAIL };
	size_t want = 0;
	uint8_t *rec;
	int r;

	if (size < 1)
		return 0;
	switch (data[0] % 5) {
	case 1:
		want = sizeof(struct hpcm_exec_event);
		break;
	case 2:
		want = sizeof(struct hpcm_exit_event);
		break;
	case 3:
		want = sizeof(struct hpcm_move_event);
		break;
	case 4:
		want = sizeof(struct hpcm_tail_event);
		break;
	default:
		want = size - 1;
		break;
	}
	/* An exact-size heap copy: AddressSanitizer sees any read past the record. */
	rec = calloc(1, want ? want : 1);
	if (!rec)
		abort();
	memcpy(rec, data + 1, size - 1 < want ? size - 1 : want);
	if (data[0] % 5 && want >= sizeof(struct hpcm_event_hdr))
		((struct hpcm_event_hdr *)rec)->type = types[data[0] % 5];
	r = meter_decode(rec, want, &exec, &exit, &move, &tail);
	if (r == HPCM_EV_EXEC) {
		check_str(exec.comm, sizeof(exec.comm));
		check_str(exec.filename, sizeof(exec.filename));
		check_str(exec.path, sizeof(exec.path));
		if (exec.path[0] && exec.path[0] != '/')
			abort();
	} else if (r == HPCM_EV_EXIT) {
		check_str(exit.comm, sizeof(exit.comm));
	} else if (r == HPCM_EV_MOVE) {
		if (move.partial !=
		    !!(((const struct hpcm_move_event *)rec)->flags & HPCM_F_CPU_PARTIAL))
			abort();
	} else if (r == HPCM_EV_TAIL) {
		if (tail.cpu_ns < HPCM_TAIL_MIN_NS)
			abort();
	} else if (r != -EBADMSG) {
		abort();
	}
	free(rec);
	return 0;
}
