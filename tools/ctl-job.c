// SPDX-License-Identifier: GPL-2.0-only
/* hpcmeterctl job start|end [JOBID]: announce a job to hpcmeterd (JobStarted, JobEnded), what
 * a batch system's prolog and epilog run (root only). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>

#include "ctl-args.h"
#include "ctl-bus.h"
#include "ctl-verbs.h"
#include "hpcmeter-bus.h"
#include "jobs.h"
#include "json-doc.h"
#include "util.h"

/* job start|end [JOBID]: what a batch system's prolog and epilog run (root only). */
static int append_job_kv(sd_bus_message *m, const char *key, const char *value)
{
	if (streq(key, "uid")) {
		uint64_t uid;
		char *end;

		errno = 0;
		uid = strtoull(value, &end, 10);
		if (errno || *end || isempty(value) || uid >= UINT32_MAX)
			return usage_error("invalid uid '%s'", value);
		return sd_bus_message_append(m, "{sv}", key, "u", (uint32_t)uid);
	}
	return sd_bus_message_append(m, "{sv}", key, "s", value);
}

static const struct {
	const char *env, *key;
} slurm_env[] = {
	{ "SLURM_JOB_USER", "user" },	    { "SLURM_JOB_UID", "uid" },
	{ "SLURM_JOB_ACCOUNT", "account" }, { "SLURM_JOB_PARTITION", "partition" },
	{ "SLURM_JOB_WCKEY", "wckey" },	    { "SLURM_WCKEY", "wckey" },
	{ "SLURM_JOB_COMMENT", "comment" }, { "SLURM_JOB_GPUS", "gpus" },
	{ "SLURM_JOB_NODELIST", "nodes" },  { "SLURM_NODELIST", "nodes" },
};

int verb_job(sd_bus *bus, int argc, char **argv)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = NULL, *reply = NULL;
	_cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *b = NULL;
	const char *id = argc > 2 ? argv[2] : NULL, *member;
	bool seen[ARRAY_SIZE(slurm_env)] = { false };
	int r;

	if (streq(argv[1], "start"))
		member = "JobStarted";
	else if (streq(argv[1], "end"))
		member = "JobEnded";
	else
		return usage_error("job: unknown action '%s' (expected start or end)", argv[1]);
	if (!id && arg_slurm_env)
		id = getenv("SLURM_JOB_ID");
	if (isempty(id))
		return usage_error("job %s: missing job id (give JOBID, or --slurm-env with "
				   "SLURM_JOB_ID set)",
				   argv[1]);
	if (!job_id_valid(id))
		return usage_error("job %s: invalid job id '%s' (expected decimal digits)", argv[1],
				   id);
	(void)bus; /* connected here, after the arguments are known to be good */
	r = bus_connect(&b);
	if (r < 0)
		return r;
	r = sd_bus_message_new_method_call(b, &msg, HPCMETER_BUS_NAME, HPCMETER_OBJECT_PATH,
					   hpcmeter_iface(member), member);
	if (r < 0 || (r = sd_bus_message_append(msg, "s", id)) < 0 ||
	    (r = sd_bus_message_open_container(msg, 'a', "{sv}")) < 0)
		goto fail;
	if (arg_slurm_env)
		for (size_t i = 0; i < ARRAY_SIZE(slurm_env); i++) {
			const char *v = getenv(slurm_env[i].env);
			bool dup = false;

			/* the first of two variables naming the same key wins */
			for (size_t k = 0; k < i; k++)
				dup |= seen[k] && streq(slurm_env[k].key, slurm_env[i].key);
			if (isempty(v) || dup)
				continue;
			seen[i] = true;
			r = append_job_kv(msg, slurm_env[i].key, v);
			if (r < 0)
				return r;
		}
	for (size_t i = 0; i < arg_n_set; i++) {
		char *eq = strchr(arg_set[i], '=');

		if (!eq || eq == arg_set[i])
			return usage_error("--set expects KEY=VALUE, got '%s'", arg_set[i]);
		*eq = '\0';
		r = append_job_kv(msg, arg_set[i], eq + 1);
		*eq = '=';
		if (r < 0)
			return r;
	}
	if ((r = sd_bus_message_close_container(msg)) < 0)
		goto fail;
	r = sd_bus_call(b, msg, 0, &error, &reply);
	if (r < 0) {
		log_bus_call_error(member, &error, r);
		return r;
	}
	if (arg_json) {
		_cleanup_json_ struct json_object *o = json_object_new_object();

		if (!o || json_add_string(o, "job", id) < 0 ||
		    json_add_string(o, "announced", argv[1]) < 0)
			return log_oom();
		return json_dump(stdout, o, arg_json);
	}
	return 0;
fail:
	log_error("cannot build the %s call: %s", member, strerror(-r));
	return r;
}
