// SPDX-License-Identifier: GPL-2.0-only
/* hpcmeterd.conf parser: defaults, every key, and errors that name file, line and key. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "util.h"
#include "gpu-mode.h"
#include "tap.h"

static char dir[] = "/tmp/hpcmeter-config.XXXXXX";

static const char *write_file(const char *name, const char *text)
{
	static char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
		perror(path);
		exit(2);
	}
	return path;
}

static int load(const char *text, struct config *c, char *err, size_t size)
{
	config_defaults(c);
	err[0] = '\0';
	return config_load(c, write_file("t.conf", text), err, size);
}

int main(void)
{
	struct config c;
	char err[1024];
	int r;

	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 2;
	}
	printf("TAP version 13\n");

	config_defaults(&c);
	TAP_CHECK(c.interval_sec == 10 && c.uid_min == 1000 &&
			  strcmp(c.licenses_dir, "/etc/hpcmeter/licenses.d") == 0 &&
			  strcmp(c.state_dir, "/var/lib/hpcmeter") == 0 && !c.verbose &&
			  strcmp(c.cgroup_v1, "auto") == 0,
		  "defaults match the documented ones");

	r = load("# comment\n\ninterval = 30\n  licenses_dir=/srv/lic \nstate_dir = /srv/state\n"
		 "uid_min = 500\nverbose = yes\n",
		 &c, err, sizeof(err));
	TAP_CHECK(r == 0, "every key parses (%s)", err);
	TAP_CHECK(c.interval_sec == 30 && c.uid_min == 500 && c.verbose &&
			  strcmp(c.licenses_dir, "/srv/lic") == 0 &&
			  strcmp(c.state_dir, "/srv/state") == 0,
		  "values are taken, whitespace stripped");

	r = load("interval = 5\nintervall = 7\n", &c, err, sizeof(err));
	TAP_CHECK(r == -EINVAL && strstr(err, "t.conf:2: intervall: unknown key"),
		  "unknown key names file, line and key: %s", err);

	r = load("interval = 0\n", &c, err, sizeof(err));
	TAP_CHECK(r == -EINVAL && strstr(err, "t.conf:1: interval: invalid value \"0\""),
		  "interval 0 refused: %s", err);
	r = load("interval = 3601\n", &c, err, sizeof(err));
	TAP_CHECK(r == -EINVAL, "interval above 3600 refused: %s", err);
	r = load("interval = 10s\n", &c, err, sizeof(err));
	TAP_CHECK(r == -EINVAL, "interval with a unit refused: %s", err);
	r = load("interval = -1\n", &c, err, sizeof(err));
	TAP_CHECK(r == -EINVAL, "negative interval refused: %s", err);
	r = load("state_dir = relative/path\n", &c, err, sizeof(err));
	TAP_CHECK(r == -EINVAL && strstr(err, "state_dir"), "relative state_dir refused: %s", err);
	r = load("verbose = maybe\n", &c, err, sizeof(err));
	TAP_CHECK(r == -EINVAL && strstr(err, "verbose"), "bad boolean refused: %s", err);
	r = load("just a line\n", &c, err, sizeof(err));
	TAP_CHECK(r == -EINVAL && strstr(err, "t.conf:1: expected"), "line without '=' refused: %s",
		  err);
	r = load("uid_min = 4294967295\n", &c, err, sizeof(err));
	TAP_CHECK(r == -EINVAL, "uid_min (uid_t)-1 refused: %s", err);
	r = load("cgroup_v1 = cpuacct\n", &c, err, sizeof(err));
	TAP_CHECK(r == 0 && strcmp(c.cgroup_v1, "cpuacct") == 0, "cgroup_v1 = cpuacct taken");
	r = load("cgroup_v1 = cpu\n", &c, err, sizeof(err));
	TAP_CHECK(r == -EINVAL && strstr(err, "t.conf:1: cgroup_v1: invalid value \"cpu\""),
		  "cgroup_v1 = cpu refused: %s", err);

	config_defaults(&c);
	TAP_CHECK(c.gpu_mode == GPU_MODE_LIGHT, "gpu_mode defaults to light");
	r = load("gpu_mode = detailed\naccelerators_file = /srv/acc.yaml\n", &c, err, sizeof(err));
	TAP_CHECK(r == 0 && c.gpu_mode == GPU_MODE_DETAILED &&
			  strcmp(c.accelerators_file, "/srv/acc.yaml") == 0,
		  "gpu_mode and accelerators_file are taken (%s)", err);
	r = load("gpu_mode = off\n", &c, err, sizeof(err));
	TAP_CHECK(r == 0 && c.gpu_mode == GPU_MODE_OFF, "gpu_mode off");
	TAP_CHECK(!c.process_records_all, "process_records defaults to aggregate");
	r = load("process_records = all\n", &c, err, sizeof(err));
	TAP_CHECK(r == 0 && c.process_records_all, "process_records = all is taken (%s)", err);
	r = load("process_records = aggregate\n", &c, err, sizeof(err));
	TAP_CHECK(r == 0 && !c.process_records_all, "process_records = aggregate is taken");
	r = load("process_records = some\n", &c, err, sizeof(err));
	TAP_CHECK(r == -EINVAL &&
			  strstr(err, "t.conf:1: process_records: invalid value \"some\": expected "
				      "aggregate or all"),
		  "an unknown process_records is refused: %s", err);
	/* The cluster's keys (issue 19). */
	config_defaults(&c);
	TAP_CHECK(!c.cluster_database[0] && !c.node_name[0] && !c.cgroup_root[0],
		  "cluster_database, node_name and cgroup_root default to nothing");
	r = load("cluster_database = host=db dbname=hpcm sslmode=verify-full\n"
		 "node_name = n001.cluster-a\ncgroup_root = /batch.slice/\n",
		 &c, err, sizeof(err));
	TAP_CHECK(r == 0 && streq(c.cluster_database, "host=db dbname=hpcm sslmode=verify-full") &&
			  streq(c.node_name, "n001.cluster-a") &&
			  streq(c.cgroup_root, "/batch.slice"),
		  "cluster_database, node_name, cgroup_root are taken (%s)", err);
	r = load("node_name = -n1\n", &c, err, sizeof(err));
	TAP_CHECK(r == -EINVAL && strstr(err, "t.conf:1: node_name: invalid value \"-n1\""),
		  "a node name that is not a host name is refused: %s", err);
	r = load("cgroup_root = batch\n", &c, err, sizeof(err));
	TAP_CHECK(r == -EINVAL && strstr(err, "t.conf:1: cgroup_root"),
		  "a relative cgroup_root is refused: %s", err);
	r = load("cgroup_root = /a/../b\n", &c, err, sizeof(err));
	TAP_CHECK(r == -EINVAL, "a cgroup_root with .. is refused: %s", err);
	r = load("cgroup_root = /\n", &c, err, sizeof(err));
	TAP_CHECK(r == 0 && !c.cgroup_root[0], "cgroup_root = / is every process");

	r = load("gpu_mode = heavy\n", &c, err, sizeof(err));
	TAP_CHECK(r == -EINVAL && strstr(err, "t.conf:1: gpu_mode: invalid value \"heavy\""),
		  "unknown gpu_mode refused: %s", err);

	/* The kernel meter's keys (kmeter.c). */
	config_defaults(&c);
	TAP_CHECK(c.kmeter_enabled && c.kmeter_tolerance_pct == 10 && c.kmeter_floor_ms == 100 &&
			  c.kmeter_window == 3,
		  "kernel meter defaults: on, 10 %%, 100 ms, 3 intervals");
	r = load("kmeter = no\nkmeter_tolerance = 25\nkmeter_floor_ms = 0\nkmeter_window = 60\n",
		 &c, err, sizeof(err));
	TAP_CHECK(r == 0 && !c.kmeter_enabled && c.kmeter_tolerance_pct == 25 &&
			  c.kmeter_floor_ms == 0 && c.kmeter_window == 60,
		  "kmeter, kmeter_tolerance, kmeter_floor_ms, kmeter_window parse (%s)", err);
	r = load("kmeter_window = 0\n", &c, err, sizeof(err));
	TAP_CHECK(r == -EINVAL && strstr(err, "t.conf:1: kmeter_window"),
		  "kmeter_window 0 refused: %s", err);
	r = load("kmeter_window = 61\n", &c, err, sizeof(err));
	TAP_CHECK(r == -EINVAL && strstr(err, "kmeter_window") && strstr(err, "1 to 60"),
		  "kmeter_window above 60 refused, the range named: %s", err);
	r = load("kmeter_tolerance = 0\n", &c, err, sizeof(err));
	TAP_CHECK(r == -EINVAL && strstr(err, "t.conf:1: kmeter_tolerance"),
		  "kmeter_tolerance 0 refused: %s", err);
	r = load("\nkmeter_tolerance = 101\n", &c, err, sizeof(err));
	TAP_CHECK(r == -EINVAL && strstr(err, "t.conf:2: kmeter_tolerance"),
		  "kmeter_tolerance above 100 refused: %s", err);
	r = load("kmeter_floor_ms = 1s\n", &c, err, sizeof(err));
	TAP_CHECK(r == -EINVAL && strstr(err, "kmeter_floor_ms"),
		  "kmeter_floor_ms with a unit refused: %s", err);
	r = load("kmeter = sometimes\n", &c, err, sizeof(err));
	TAP_CHECK(r == -EINVAL && strstr(err, "kmeter"), "kmeter not a boolean refused: %s", err);

	config_defaults(&c);
	TAP_CHECK(c.checkpoint_interval_sec == 60, "checkpoint_interval defaults to 60 s");
	r = load("checkpoint_interval = 5\n", &c, err, sizeof(err));
	TAP_CHECK(r == 0 && c.checkpoint_interval_sec == 5, "checkpoint_interval = 5 is taken");
	r = load("\ncheckpoint_interval = 0\n", &c, err, sizeof(err));
	TAP_CHECK(r == -EINVAL &&
			  strstr(err, "t.conf:2: checkpoint_interval: invalid value \"0\"") &&
			  strstr(err, "1 to 3600"),
		  "checkpoint_interval 0 refused, file, line and range named: %s", err);
	r = load("checkpoint_interval = 1m\n", &c, err, sizeof(err));
	TAP_CHECK(r == -EINVAL && strstr(err, "checkpoint_interval"),
		  "checkpoint_interval with a unit refused: %s", err);

	config_defaults(&c);
	TAP_CHECK(c.metrics_series_grace_sec == 900, "metrics_series_grace defaults to 900 s");
	r = load("metrics_series_grace = 0\n", &c, err, sizeof(err));
	TAP_CHECK(r == 0 && c.metrics_series_grace_sec == 0, "metrics_series_grace = 0 is taken");
	r = load("metrics_series_grace = 604800\n", &c, err, sizeof(err));
	TAP_CHECK(r == 0 && c.metrics_series_grace_sec == 604800,
		  "metrics_series_grace = 604800 (a week) is taken");
	r = load("metrics_series_grace = 604801\n", &c, err, sizeof(err));
	TAP_CHECK(r == -EINVAL && strstr(err, "t.conf:1: metrics_series_grace") &&
			  strstr(err, "0 to 604800"),
		  "metrics_series_grace above a week refused, the range named: %s", err);
	r = load("metrics_series_grace = 15min\n", &c, err, sizeof(err));
	TAP_CHECK(r == -EINVAL, "metrics_series_grace with a unit refused: %s", err);

	config_defaults(&c);
	r = config_load(&c, "/nonexistent/hpcmeterd.conf", err, sizeof(err));
	TAP_CHECK(r == -ENOENT && strstr(err, "/nonexistent/hpcmeterd.conf"),
		  "missing file is -ENOENT with its name: %s", err);

	unlink(write_file("t.conf", ""));
	rmdir(dir);
	return tap_done();
}
