/* SPDX-License-Identifier: GPL-2.0-only */
/* hpcmeterctl's exit status: one number per kind of failure (documented in --help and
 * hpcmeterctl(1)), so scripts can tell a stopped daemon from a refused call. */
#pragma once

#include <stdbool.h>
#include <systemd/sd-bus.h>

enum {
	CTL_EXIT_SUCCESS = 0,
	CTL_EXIT_FAILURE = 1, /* anything else: a D-Bus error, a broken ledger, a bad licence */
	CTL_EXIT_USAGE = 2, /* bad argument: unknown command or option, malformed value */
	CTL_EXIT_NOT_RUNNING = 3, /* hpcmeterd not on the bus, or no bus (LSB: not running) */
	CTL_EXIT_ACCESS = 4, /* access denied by the bus policy (LSB: insufficient privilege) */
	CTL_EXIT_UNKNOWN_ID = 5, /* no such licence, violation or job */
};

/* The failure seen last (CTL_EXIT_FAILURE when none was classified); main() exits with it. */
extern int ctl_exit_status;

/* A failure of the kind status (said on stderr already): remember it and return r, -errno. */
static inline int ctl_fail(int status, int r)
{
	ctl_exit_status = status;
	return r;
}

/* Classify a failed call to hpcmeterd (error may be NULL) and remember the class; returns the
 * exit status. */
int ctl_exit_from_bus_error(const sd_bus_error *error, int r);
/* The same for a connection that could not be made: no bus is "not running". */
int ctl_exit_from_connect_error(int r);
/* Is this error "hpcmeterd is not on the bus"? */
bool ctl_bus_error_not_running(const sd_bus_error *error);
