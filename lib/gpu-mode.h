/* SPDX-License-Identifier: GPL-2.0-only */
/* The GPU meter's modes and their names, for what configures the meter without linking it. */
#pragma once

enum gpu_mode {
	GPU_MODE_LIGHT, /* rare calls (context, allocation, module load, graph launch) only */
	GPU_MODE_DETAILED, /* every launch and host-to-device copy as well */
	GPU_MODE_OFF, /* no GPU meter at all */
};

const char *gpu_mode_name(enum gpu_mode mode);
int gpu_mode_parse(const char *s, enum gpu_mode *ret);
