/* SPDX-License-Identifier: GPL-2.0-only */
/* The GPU meter's modes by name: light, detailed, off. */
#include "gpu-mode.h"

#include <errno.h>

#include "util.h"

const char *gpu_mode_name(enum gpu_mode mode)
{
	switch (mode) {
	case GPU_MODE_LIGHT:
		return "light";
	case GPU_MODE_DETAILED:
		return "detailed";
	case GPU_MODE_OFF:
		return "off";
	}
	return "?";
}

int gpu_mode_parse(const char *s, enum gpu_mode *ret)
{
	if (streq(s, "light"))
		*ret = GPU_MODE_LIGHT;
	else if (streq(s, "detailed"))
		*ret = GPU_MODE_DETAILED;
	else if (streq(s, "off"))
		*ret = GPU_MODE_OFF;
	else
		return -EINVAL;
	return 0;
}
