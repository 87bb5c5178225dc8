// SPDX-License-Identifier: GPL-2.0-only
/* hpcmeterctl's exit status from the failure (see ctl-exit.h). */
#include <errno.h>
#include <string.h>

#include "ctl-exit.h"

int ctl_exit_status = CTL_EXIT_FAILURE;

bool ctl_bus_error_not_running(const sd_bus_error *error)
{
	return error && sd_bus_error_has_names(error, SD_BUS_ERROR_SERVICE_UNKNOWN,
					       SD_BUS_ERROR_NAME_HAS_NO_OWNER);
}

int ctl_exit_from_bus_error(const sd_bus_error *error, int r)
{
	int status = CTL_EXIT_FAILURE;

	if (ctl_bus_error_not_running(error))
		status = CTL_EXIT_NOT_RUNNING;
	else if ((error && sd_bus_error_has_name(error, SD_BUS_ERROR_ACCESS_DENIED)) ||
		 (!(error && sd_bus_error_is_set(error)) && (r == -EACCES || r == -EPERM)))
		status = CTL_EXIT_ACCESS;
	else if (error && error->name &&
		 strncmp(error->name, "org.hpcmeter1.Error.NoSuch", 26) == 0)
		status = CTL_EXIT_UNKNOWN_ID;
	ctl_exit_status = status;
	return status;
}

int ctl_exit_from_connect_error(int r)
{
	/* no socket, nobody listening: the bus (and so hpcmeterd) is not running */
	if (r == -ENOENT || r == -ECONNREFUSED)
		ctl_exit_status = CTL_EXIT_NOT_RUNNING;
	else if (r == -EACCES || r == -EPERM)
		ctl_exit_status = CTL_EXIT_ACCESS;
	else
		ctl_exit_status = CTL_EXIT_FAILURE;
	return ctl_exit_status;
}
