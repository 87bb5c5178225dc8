/* SPDX-License-Identifier: GPL-2.0-only */
/* hpcmeterctl on the bus: connecting (the system bus or --address), calling hpcmeterd, and one
 * error line per failed call whose kind sets the exit status (ctl-exit.h). */
#pragma once

#include <systemd/sd-bus.h>

/* Open a client connection to the bus at address (NULL: the system bus). Quiet: -errno. */
int bus_open(const char *address, sd_bus **ret);
/* The same at --address, with an error line and the exit status on failure. */
int bus_connect(sd_bus **ret);
/* What to tell the user about a failed call: the bus policy in words for access denied. */
const char *bus_error_message(const sd_bus_error *error, int r);
/* The error line of a failed call of member (hpcmeterd not running, or member failed), and its
 * exit status (ctl-exit.h). */
void log_bus_call_error(const char *member, const sd_bus_error *error, int r);
/* Call member of hpcmeterd (its interface from hpcmeter-bus.h); failures logged. */
int bus_call(sd_bus *bus, const char *member, sd_bus_message **ret_reply, const char *types, ...);
/* "cannot parse the reply of member"; returns r. */
int log_parse_error(const char *member, int r);
