// SPDX-License-Identifier: GPL-2.0-only
/* Ring-buffer record decoding: records are external input, so every malformed shape is
 * refused and strings are always terminated. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "meter.h"
#include "tap.h"

static void put_path(struct hpcm_exec_event *e, const char *const *comps, int n)
{
	uint32_t off = 0;

	for (int i = 0; i < n; i++) {
		size_t l = strlen(comps[i]) + 1;

		memcpy(e->path + off, comps[i], l);
		off += l;
	}
	e->path_len = off;
	e->path_depth = n;
}

int main(void)
{
	static struct hpcm_exec_event e;
	static struct hpcm_exit_event x;
	static struct meter_exec out;
	static struct meter_exit xo;
	static struct hpcm_move_event mv;
	static struct meter_move mo;
	static struct hpcm_tail_event tl;
	static struct meter_tail to;
	const char *comps[] = { "true", "bin", "usr" };
	int r;

	printf("TAP version 13\n");

	memset(&e, 0, sizeof(e));
	e.hdr.type = HPCM_EV_EXEC;
	e.hdr.tgid = 42;
	e.uid = 1000;
	e.cgroup_id = 77;
	e.loginuid = 1001;
	e.sessionid = 12;
	strcpy(e.comm, "true");
	strcpy(e.filename, "/bin/true");
	put_path(&e, comps, 3);
	r = meter_decode(&e, sizeof(e), &out, &xo, &mo, &to);
	TAP_CHECK(r == HPCM_EV_EXEC, "a well-formed exec record decodes");
	TAP_CHECK(strcmp(out.path, "/usr/bin/true") == 0, "path components join leaf-last: %s",
		  out.path);
	TAP_CHECK(out.tgid == 42 && out.uid == 1000 && out.cgroup_id == 77 &&
			  strcmp(out.filename, "/bin/true") == 0,
		  "fields are copied");
	TAP_CHECK(out.loginuid == 1001 && out.sessionid == 12,
		  "the audit session (loginuid %u, sessionid %u) is copied", out.loginuid,
		  out.sessionid);

	TAP_CHECK(meter_decode(&e, sizeof(e) - 1, &out, &xo, &mo, &to) == -EBADMSG,
		  "a short exec record is refused");
	TAP_CHECK(meter_decode(&e, sizeof(e) + 8, &out, &xo, &mo, &to) == -EBADMSG,
		  "a long exec record is refused");
	TAP_CHECK(meter_decode(&e, 4, &out, &xo, &mo, &to) == -EBADMSG,
		  "a record shorter than its header is refused");

	e.path_len = sizeof(e.path) + 1;
	TAP_CHECK(meter_decode(&e, sizeof(e), &out, &xo, &mo, &to) == -EBADMSG,
		  "path_len beyond the buffer is refused");
	put_path(&e, comps, 3);
	e.path_depth = HPCM_PATH_DEPTH + 1;
	TAP_CHECK(meter_decode(&e, sizeof(e), &out, &xo, &mo, &to) == -EBADMSG,
		  "path_depth beyond the walk is refused");

	/* Unterminated strings from a hostile or buggy producer. */
	put_path(&e, comps, 3);
	memset(e.comm, 'A', sizeof(e.comm));
	memset(e.filename, 'B', sizeof(e.filename));
	r = meter_decode(&e, sizeof(e), &out, &xo, &mo, &to);
	TAP_CHECK(r == HPCM_EV_EXEC && strlen(out.comm) == sizeof(out.comm) - 1 &&
			  strlen(out.filename) == sizeof(out.filename) - 1,
		  "unterminated comm and filename are cut, not overrun");
	e.path_len = 4; /* "true" without its NUL */
	e.path_depth = 1;
	r = meter_decode(&e, sizeof(e), &out, &xo, &mo, &to);
	TAP_CHECK(r == HPCM_EV_EXEC && out.path[0] == '\0',
		  "an unterminated path component yields no path");

	put_path(&e, comps, 3);
	e.flags = HPCM_F_PATH_TRUNCATED;
	r = meter_decode(&e, sizeof(e), &out, &xo, &mo, &to);
	TAP_CHECK(r == HPCM_EV_EXEC && out.path[0] == '\0',
		  "a truncated walk yields no (partial) path");
	e.flags = 0;

	e.hdr.type = 99;
	TAP_CHECK(meter_decode(&e, sizeof(e), &out, &xo, &mo, &to) == -EBADMSG,
		  "an unknown record type is refused");

	memset(&x, 0, sizeof(x));
	x.hdr.type = HPCM_EV_EXIT;
	x.hdr.tgid = 43;
	x.cpu_ns = 123456789;
	memset(x.comm, 'C', sizeof(x.comm));
	r = meter_decode(&x, sizeof(x), &out, &xo, &mo, &to);
	TAP_CHECK(r == HPCM_EV_EXIT && xo.tgid == 43 && xo.cpu_ns == 123456789 &&
			  strlen(xo.comm) == sizeof(xo.comm) - 1,
		  "an exit record decodes, comm terminated");
	TAP_CHECK(meter_decode(&x, sizeof(x) - 8, &out, &xo, &mo, &to) == -EBADMSG,
		  "a short exit record is refused");
	/* An exit header on an exec-sized record. */
	TAP_CHECK(meter_decode(&x, sizeof(x) + 8, &out, &xo, &mo, &to) == -EBADMSG,
		  "an exit record of the wrong size is refused");

	memset(&mv, 0, sizeof(mv));
	mv.hdr.type = HPCM_EV_MOVE;
	mv.hdr.tgid = 44;
	mv.uid = 1001;
	mv.start_ns = 5;
	mv.cpu_ns = 987654321;
	mv.cgroup_id = 8;
	mv.cgroup_v1_id = 9;
	mv.parent_cgroup_id = 10;
	mv.parent_cgroup_v1_id = 11;
	r = meter_decode(&mv, sizeof(mv), &out, &xo, &mo, &to);
	TAP_CHECK(r == HPCM_EV_MOVE && mo.tgid == 44 && mo.uid == 1001 && mo.start_ns == 5 &&
			  mo.cpu_ns == 987654321 && mo.cgroup_id == 8 && mo.cgroup_v1_id == 9 &&
			  mo.parent_cgroup_id == 10 && mo.parent_cgroup_v1_id == 11 && !mo.partial,
		  "a move record decodes, every field copied");
	mv.flags = HPCM_F_CPU_PARTIAL;
	r = meter_decode(&mv, sizeof(mv), &out, &xo, &mo, &to);
	TAP_CHECK(r == HPCM_EV_MOVE && mo.partial, "a move record's partial flag is kept");
	mv.flags = HPCM_F_EXITED;
	TAP_CHECK(meter_decode(&mv, sizeof(mv), &out, &xo, &mo, &to) == -EBADMSG,
		  "a move record with a flag it cannot have is refused");
	mv.flags = 0;
	TAP_CHECK(meter_decode(&mv, sizeof(mv) - 8, &out, &xo, &mo, &to) == -EBADMSG,
		  "a short move record is refused");
	TAP_CHECK(meter_decode(&mv, sizeof(mv) + 8, &out, &xo, &mo, &to) == -EBADMSG,
		  "a long move record is refused");

	memset(&tl, 0, sizeof(tl));
	tl.hdr.type = HPCM_EV_TAIL;
	tl.hdr.tgid = 45;
	tl.uid = 1002;
	tl.start_ns = 6;
	tl.cpu_ns = 2 * HPCM_TAIL_MIN_NS;
	tl.cgroup_id = 12;
	tl.cgroup_v1_id = 13;
	r = meter_decode(&tl, sizeof(tl), &out, &xo, &mo, &to);
	TAP_CHECK(r == HPCM_EV_TAIL && to.tgid == 45 && to.uid == 1002 && to.start_ns == 6 &&
			  to.cpu_ns == 2 * HPCM_TAIL_MIN_NS && to.cgroup_id == 12 &&
			  to.cgroup_v1_id == 13,
		  "a tail record decodes, every field copied");
	tl.cpu_ns = HPCM_TAIL_MIN_NS - 1;
	TAP_CHECK(meter_decode(&tl, sizeof(tl), &out, &xo, &mo, &to) == -EBADMSG,
		  "a tail below the minimum the kernel side writes is refused");
	tl.cpu_ns = HPCM_TAIL_MIN_NS;
	TAP_CHECK(meter_decode(&tl, sizeof(tl) - 8, &out, &xo, &mo, &to) == -EBADMSG &&
			  meter_decode(&tl, sizeof(tl) + 8, &out, &xo, &mo, &to) == -EBADMSG,
		  "a tail record of the wrong size is refused");
	return tap_done();
}
