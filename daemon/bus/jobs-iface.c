// SPDX-License-Identifier: GPL-2.0-only
/* JobStarted(s job, a{sv} info) and JobEnded(s job, a{sv} info) of org.hpcmeter1.Meter: the
 * batch system's prolog and epilog announce a job (root only). The a{sv} is read by
 * job-info.c, all or nothing; the core takes the announcement. */
#include <errno.h>
#include <string.h>

#include "bus.h"
#include "job-info.h"
#include "util.h"

static int method_job(sd_bus_message *msg, struct bus *b, sd_bus_error *error, bool start)
{
	const struct job_info empty = { .uid = UINT32_MAX }, *base;
	struct job_info upd;
	const char *id;
	int r;

	r = sd_bus_message_read(msg, "s", &id);
	if (r < 0)
		return r;
	if (!job_id_valid(id))
		return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
					 "Invalid job id '%s': expected 1 to %d decimal digits", id,
					 JOB_ID_MAX);
	base = manager_job_base(b->m, id, start);
	r = job_info_read_bus(msg, base ? base : &empty, &upd, error);
	if (r < 0) {
		upd.row = 0;
		job_info_clear(&upd);
		return r;
	}
	r = manager_job_announce(b->m, id, start, &upd);
	if (r < 0)
		return sd_bus_error_set_errnof(error, -r, "Cannot record job %s in the ledger: %s",
					       id, strerror(-r));
	return sd_bus_reply_method_return(msg, NULL);
}

int bus_method_job_started(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	return method_job(msg, userdata, error, true);
}

int bus_method_job_ended(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	return method_job(msg, userdata, error, false);
}
