/* SPDX-License-Identifier: GPL-2.0-only */
/* hpcmeterctl's GPU views (ctl-inventory.c): what status shows of the GPU meter. */
#pragma once

#include <systemd/sd-bus.h>

/* The "GPU runtime libraries" section of hpcmeterctl status, from its GetStatus reply. */
void ctl_gpu_status_libraries(sd_bus_message *status);
