// SPDX-License-Identifier: GPL-2.0-only
/* The a{sv} of JobStarted/JobEnded read off the bus into a struct job_info (jobs-iface.c calls
 * it; tests/fuzz/fuzz-bus.c fuzzes it). */
#include <errno.h>
#include <systemd/sd-bus.h>

#include "job-info.h"
#include "util.h"

/* Read a job announcement's a{sv} into j, all or nothing: an unknown key, a wrong type or a
 * bad value rejects the call with InvalidArgs naming the key, and j is left as it was. */
int job_info_read_bus(sd_bus_message *msg, const struct job_info *base, struct job_info *j,
		      sd_bus_error *error)
{
	const char *why = NULL;
	int r;

	*j = *base;
	/* Deep copy of the strings, so that a rejected call leaves base untouched. */
	j->scheduler = j->user = j->account = j->partition = j->wckey = j->comment = j->gpus =
		j->nodes = j->submit_host = NULL;
	for (size_t i = 0; i < n_job_keys; i++) {
		const char *v = job_info_get(base, job_keys[i].name);

		if (job_keys[i].type == 's' && v &&
		    job_info_set(j, job_keys[i].name, v, 0, &why) < 0)
			return -ENOMEM;
	}
	r = sd_bus_message_enter_container(msg, 'a', "{sv}");
	if (r < 0)
		return r;
	while ((r = sd_bus_message_enter_container(msg, 'e', "sv")) > 0) {
		const struct job_key *k = NULL;
		const char *key, *sv = NULL;
		uint32_t uv = 0;
		char type[2] = "";

		r = sd_bus_message_read(msg, "s", &key);
		if (r < 0)
			return r;
		for (size_t i = 0; i < n_job_keys; i++)
			if (streq(job_keys[i].name, key))
				k = &job_keys[i];
		if (!k)
			return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
						 "Unknown job key '%s'", key);
		type[0] = k->type;
		r = sd_bus_message_enter_container(msg, 'v', type);
		if (r < 0)
			return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
						 "Job key '%s' must be of type '%s'", key, type);
		r = k->type == 'u' ? sd_bus_message_read(msg, "u", &uv) :
				     sd_bus_message_read(msg, "s", &sv);
		if (r < 0)
			return r;
		r = job_info_set(j, key, sv, uv, &why);
		if (r == -EINVAL)
			return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
						 "Job key '%s': %s", key, why);
		if (r < 0)
			return r;
		if ((r = sd_bus_message_exit_container(msg)) < 0 ||
		    (r = sd_bus_message_exit_container(msg)) < 0)
			return r;
	}
	if (r < 0)
		return r;
	return sd_bus_message_exit_container(msg);
}
