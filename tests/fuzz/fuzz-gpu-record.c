/* SPDX-License-Identifier: GPL-2.0-only */
/* libFuzzer target: the GPU meter's ring-buffer records (gpu_record_decode), the step between
 * the kernel and the daemon's reading of files through /proc/PID/map_files. The first input
 * byte chooses the shape: the bytes as they are (any size, any type), or a library-open,
 * first-use or mapping record of exactly the right size and type with the rest of the input as
 * its fields, so that the mutator reaches the field checks and not only the size check. A
 * decoded record must have a terminated path, a mapping that is page-aligned, not empty and in
 * the user address space, and a map_files path that names exactly that mapping. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu-record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t types[] = { 0, HPCM_EV_GPU_LIB, HPCM_EV_GPU_FIRST, HPCM_EV_GPU_MAP };
	static struct gpu_record rec;
	char path[128], want_path[128];
	size_t want;
	uint8_t *raw;
	int r;

	if (size < 1)
		return 0;
	switch (data[0] % 4) {
	case 1:
		want = sizeof(struct hpcm_gpu_lib_event);
		break;
	case 2:
		want = sizeof(struct hpcm_event_hdr);
		break;
	case 3:
		want = sizeof(struct hpcm_gpu_map_event);
		break;
	default:
		want = size - 1;
		break;
	}
	/* An exact-size heap copy: AddressSanitizer sees any read past the record. */
	raw = calloc(1, want ? want : 1);
	if (!raw)
		abort();
	memcpy(raw, data + 1, size - 1 < want ? size - 1 : want);
	if (data[0] % 4 && want >= sizeof(struct hpcm_event_hdr))
		((struct hpcm_event_hdr *)raw)->type = types[data[0] % 4];
	r = gpu_record_decode(raw, want, &rec);
	switch (r) {
	case HPCM_EV_GPU_LIB:
		if (!memchr(rec.path, '\0', sizeof(rec.path)))
			abort();
		break;
	case HPCM_EV_GPU_FIRST:
		break;
	case HPCM_EV_GPU_MAP:
		if (rec.vm_start >= rec.vm_end || (rec.vm_start | rec.vm_end) & 0xfff ||
		    rec.vm_end > 1ULL << 57 || rec.id.mtime_nsec >= 1000000000u)
			abort();
		if (gpu_record_map_files(&rec, path, sizeof(path)) < 0)
			abort();
		snprintf(want_path, sizeof(want_path), "/proc/%u/map_files/%llx-%llx", rec.tgid,
			 (unsigned long long)rec.vm_start, (unsigned long long)rec.vm_end);
		if (strcmp(path, want_path) != 0)
			abort();
		break;
	default:
		if (r != -EBADMSG)
			abort();
	}
	free(raw);
	return 0;
}
