// SPDX-License-Identifier: GPL-2.0-only
/* Parser of hpcmeterd.conf. Unknown keys are errors: a typo must not silently change the meter. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "gpu-mode.h"
#include "util.h"

void config_defaults(struct config *c)
{
	*c = (struct config){
		.interval_sec = CONFIG_DEFAULT_INTERVAL_SEC,
		.uid_min = CONFIG_DEFAULT_UID_MIN,
		.kmeter_enabled = true,
		.kmeter_tolerance_pct = CONFIG_DEFAULT_KMETER_TOLERANCE_PCT,
		.kmeter_floor_ms = CONFIG_DEFAULT_KMETER_FLOOR_MS,
		.kmeter_window = CONFIG_DEFAULT_KMETER_WINDOW,
		.retention_days = CONFIG_DEFAULT_RETENTION_DAYS,
		.metrics_series_grace_sec = CONFIG_DEFAULT_METRICS_SERIES_GRACE_SEC,
		.checkpoint_interval_sec = CONFIG_DEFAULT_CHECKPOINT_INTERVAL_SEC,
	};
	snprintf(c->bpf_pin_dir, sizeof(c->bpf_pin_dir), "%s", CONFIG_DEFAULT_BPF_PIN_DIR);
	snprintf(c->licenses_dir, sizeof(c->licenses_dir), "%s", CONFIG_DEFAULT_LICENSES_DIR);
	snprintf(c->state_dir, sizeof(c->state_dir), "%s", CONFIG_DEFAULT_STATE_DIR);
	c->gpu_mode = GPU_MODE_LIGHT;
	snprintf(c->accelerators_file, sizeof(c->accelerators_file), "%s",
		 CONFIG_DEFAULT_ACCELERATORS_FILE);
	snprintf(c->cgroup_v1, sizeof(c->cgroup_v1), "auto");
}

int config_parse_cgroup_v1(const char *s, char *buf, size_t size)
{
	static const char *const ok[] = { "auto", "none", "freezer", "cpuacct", "memory" };

	for (size_t i = 0; i < ARRAY_SIZE(ok); i++)
		if (streq(s, ok[i]) && strlen(s) < size) {
			strcpy(buf, s);
			return 0;
		}
	return -EINVAL;
}

int config_parse_node_name(const char *s, char *buf, size_t size)
{
	size_t n = strlen(s);

	if (n == 0 || n > 63 || n >= size || !isalnum((unsigned char)s[0]))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i]))
			return -EINVAL;
	strcpy(buf, s);
	return 0;
}

int config_parse_cgroup_root(const char *s, char *buf, size_t size)
{
	size_t n = strlen(s);

	if (s[0] != '/' || n >= size || strstr(s, "//") || strstr(s, "/./") || strstr(s, "/../") ||
	    (n >= 2 && streq(s + n - 2, "/.")) || (n >= 3 && streq(s + n - 3, "/..")))
		return -EINVAL;
	strcpy(buf, s);
	/* "/x/" is "/x"; "/" alone is everything, kept as "". */
	while (n > 1 && buf[n - 1] == '/')
		buf[--n] = '\0';
	if (streq(buf, "/"))
		buf[0] = '\0';
	return 0;
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -ERANGE;
	*ret = v;
	return 0;
}

int config_parse_interval(const char *s, uint64_t *ret)
{
	return parse_u64(s, 1, CONFIG_MAX_INTERVAL_SEC, ret);
}

static int parse_bool(const char *s, bool *ret)
{
	if (streq(s, "yes") || streq(s, "true") || streq(s, "1") || streq(s, "on"))
		*ret = true;
	else if (streq(s, "no") || streq(s, "false") || streq(s, "0") || streq(s, "off"))
		*ret = false;
	else
		return -EINVAL;
	return 0;
}

static char *strip(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static int set_path(char *dst, size_t size, const char *v)
{
	if (v[0] != '/')
		return -EINVAL;
	if (strlen(v) >= size)
		return -ENAMETOOLONG;
	strcpy(dst, v);
	return 0;
}

int config_load(struct config *c, const char *path, char *err, size_t err_size)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	unsigned lineno = 0;

	if (!f) {
		snprintf(err, err_size, "%s: %s", path, strerror(errno));
		return -errno;
	}
	while (getline(&line, &cap, f) >= 0) {
		char *s = strip(line), *eq, *key, *val;
		uint64_t u;
		int r = 0;
		const char *why = NULL;

		lineno++;
		if (*s == '\0' || *s == '#')
			continue;
		eq = strchr(s, '=');
		if (!eq) {
			snprintf(err, err_size, "%s:%u: expected \"key = value\"", path, lineno);
			return -EINVAL;
		}
		*eq = '\0';
		key = strip(s);
		val = strip(eq + 1);
		if (streq(key, "interval")) {
			r = config_parse_interval(val, &u);
			why = "expected whole seconds from 1 to 3600";
			if (r == 0)
				c->interval_sec = u;
		} else if (streq(key, "licenses_dir")) {
			r = set_path(c->licenses_dir, sizeof(c->licenses_dir), val);
			why = "expected an absolute path";
		} else if (streq(key, "state_dir")) {
			r = set_path(c->state_dir, sizeof(c->state_dir), val);
			why = "expected an absolute path";
		} else if (streq(key, "uid_min")) {
			r = parse_u64(val, 0, UINT32_MAX - 1, &u);
			why = "expected a uid (0 puts every account, root included, under the principal checks)";
			if (r == 0)
				c->uid_min = (uid_t)u;
		} else if (streq(key, "kmeter")) {
			r = parse_bool(val, &c->kmeter_enabled);
			why = "expected yes or no";
		} else if (streq(key, "kmeter_tolerance")) {
			r = parse_u64(val, 1, 100, &u);
			why = "expected a percentage from 1 to 100";
			if (r == 0)
				c->kmeter_tolerance_pct = (unsigned)u;
		} else if (streq(key, "kmeter_floor_ms")) {
			r = parse_u64(val, 0, 3600000, &u);
			why = "expected milliseconds from 0 to 3600000";
			if (r == 0)
				c->kmeter_floor_ms = u;
		} else if (streq(key, "kmeter_window")) {
			r = parse_u64(val, 1, CONFIG_MAX_KMETER_WINDOW, &u);
			why = "expected a number of intervals from 1 to 60";
			if (r == 0)
				c->kmeter_window = (unsigned)u;
		} else if (streq(key, "bpf_pin_dir")) {
			r = val[0] ? set_path(c->bpf_pin_dir, sizeof(c->bpf_pin_dir), val) :
				     (c->bpf_pin_dir[0] = '\0', 0);
			why = "expected an absolute path on bpffs, or nothing (no pinning)";
		} else if (streq(key, "metrics_file")) {
			r = val[0] ? set_path(c->metrics_file, sizeof(c->metrics_file), val) :
				     (c->metrics_file[0] = '\0', 0);
			why = "expected an absolute path, or nothing";
		} else if (streq(key, "metrics_series_grace")) {
			r = parse_u64(val, 0, CONFIG_MAX_METRICS_SERIES_GRACE_SEC, &u);
			why = "expected whole seconds from 0 to 604800 (default 900)";
			if (r == 0)
				c->metrics_series_grace_sec = u;
		} else if (streq(key, "retention_days")) {
			r = parse_u64(val, CONFIG_MIN_RETENTION_DAYS, 36500, &u);
			why = "expected whole days from 1 to 36500 (default 1827, five years)";
			if (r == 0)
				c->retention_days = u;
		} else if (streq(key, "cgroup_v1")) {
			r = config_parse_cgroup_v1(val, c->cgroup_v1, sizeof(c->cgroup_v1));
			why = "expected auto, none, freezer, cpuacct or memory";
		} else if (streq(key, "gpu_mode")) {
			enum gpu_mode mode;

			r = gpu_mode_parse(val, &mode);
			why = "expected light, detailed or off";
			if (r == 0)
				c->gpu_mode = mode;
		} else if (streq(key, "accelerators_file")) {
			r = set_path(c->accelerators_file, sizeof(c->accelerators_file), val);
			why = "expected an absolute path";
		} else if (streq(key, "process_records")) {
			r = streq(val, "aggregate") || streq(val, "all") ? 0 : -EINVAL;
			why = "expected aggregate or all";
			if (r == 0)
				c->process_records_all = streq(val, "all");
		} else if (streq(key, "cluster_database")) {
			r = strlen(val) < sizeof(c->cluster_database) ? 0 : -ENAMETOOLONG;
			why = "expected a libpq connection string of at most 1023 bytes, or nothing";
			if (r == 0)
				strcpy(c->cluster_database, val);
		} else if (streq(key, "node_name")) {
			r = val[0] ? config_parse_node_name(val, c->node_name,
							    sizeof(c->node_name)) :
				     (c->node_name[0] = '\0', 0);
			why = "expected letters, digits, '.', '_' or '-' (at most 63), or nothing";
		} else if (streq(key, "checkpoint_interval")) {
			r = parse_u64(val, CONFIG_MIN_CHECKPOINT_INTERVAL_SEC,
				      CONFIG_MAX_CHECKPOINT_INTERVAL_SEC, &u);
			why = "expected whole seconds from 1 to 3600 (default 60)";
			if (r == 0)
				c->checkpoint_interval_sec = u;
		} else if (streq(key, "cgroup_root")) {
			r = val[0] ? config_parse_cgroup_root(val, c->cgroup_root,
							      sizeof(c->cgroup_root)) :
				     (c->cgroup_root[0] = '\0', 0);
			why = "expected an absolute cgroup v2 path below the cgroup2 mount, or nothing";
		} else if (streq(key, "bpf_stats")) {
			r = parse_bool(val, &c->bpf_stats);
			why = "expected yes or no";
		} else if (streq(key, "verbose")) {
			r = parse_bool(val, &c->verbose);
			why = "expected yes or no";
		} else {
			snprintf(err, err_size, "%s:%u: %s: unknown key", path, lineno, key);
			return -EINVAL;
		}
		if (r < 0) {
			snprintf(err, err_size, "%s:%u: %s: invalid value \"%s\": %s", path, lineno,
				 key, val, why);
			return -EINVAL;
		}
	}
	if (ferror(f)) {
		snprintf(err, err_size, "%s: read error", path);
		return -EIO;
	}
	return 0;
}
