// SPDX-License-Identifier: GPL-2.0-only
/* hpcmeterd: command line and configuration, then the manager's event loop. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/libbpf.h>

#include "bus.h"
#include "config.h"
#include "core.h"
#include "gpu.h"
#include "util.h"

static void help(void)
{
	printf("Usage: hpcmeterd [OPTIONS]\n"
	       "\n"
	       "Meter what runs on this node and check it against its export licences.\n"
	       "\n"
	       "hpcmeterd loads eBPF programs on the scheduler tracepoints and on the accelerator\n"
	       "runtimes' driver entry points, reads their counters every interval, attributes\n"
	       "on-CPU and GPU usage to cgroups, users and Slurm jobs, stores it in the ledger\n"
	       "(SQLite, hash-chained) and evaluates the licence terms. A violation is stored in\n"
	       "the ledger, logged, and sent as the D-Bus signal ViolationRaised of\n"
	       "org.hpcmeter1 on the system bus; a gap in metering (the daemon down, records\n"
	       "lost, a probe detached) likewise as MeteringGap. Runs in the foreground (systemd\n"
	       "Type=notify). On first start it creates the node's Ed25519 report key in the\n"
	       "state directory.\n"
	       "\n"
	       "Options:\n"
	       "  -c, --config FILE       configuration file (default %s;\n"
	       "                          a missing default file is not an error)\n"
	       "  -l, --licenses DIR      licence directory, *.yaml (default %s)\n"
	       "  -s, --state-dir DIR     ledger and state (default %s)\n"
	       "  -i, --interval SECONDS  seconds between readings, 1..%d (default %d)\n"
	       "  -u, --uid-min UID       principal checks apply from this uid up (default %d)\n"
	       "      --cgroup-v1 HIER    cgroup v1 hierarchy to follow beside cgroup v2, where\n"
	       "                          Slurm's cgroup/v1 plugin puts jobs: auto (freezer,\n"
	       "                          cpuacct or memory, the first mounted; none on a pure\n"
	       "                          v2 host), none, freezer, cpuacct, memory (default auto)\n"
	       "  -g, --gpu-mode MODE     GPU meter: light (default: device opens and the rare\n"
	       "                          driver calls; no probe on the launch path), detailed\n"
	       "                          (every kernel launch and host-to-device copy too,\n"
	       "                          about 1 us per launch), or off\n"
	       "      --bpf-pin-dir DIR   pin the counter maps in DIR on bpffs, so that a restarted\n"
	       "                          daemon continues from them (default %s; \"\" = off)\n"
	       "      --metrics-file FILE write metrics (Prometheus text format) to FILE after\n"
	       "                          each interval, atomically (node_exporter textfile)\n"
	       "      --cluster-database CONNINFO\n"
	       "                          ship every ledger record, and a signed checkpoint\n"
	       "                          each minute (checkpoint_interval), to the cluster's\n"
	       "                          store in PostgreSQL\n"
	       "                          (a libpq connection string; see hpcmeterctl cluster)\n"
	       "      --node-name NAME    this node's name in the store (default: host name)\n"
	       "      --cgroup-root PATH  meter only the processes in this cgroup v2 subtree\n"
	       "                          (a path below the cgroup2 mount, e.g. /batch.slice)\n"
	       "      --cluster           the cluster's evaluator, on a management node: no\n"
	       "                          meter; read the store (cluster_database), evaluate\n"
	       "                          every licence's caps across the nodes it covers\n"
	       "  -v, --verbose           log every exec and libbpf's messages\n"
	       "  -h, --help              show this help\n"
	       "      --version           show the version\n"
	       "\n"
	       "Signals: SIGTERM/SIGINT stop after writing the interval in flight;\n"
	       "SIGHUP re-reads the licence directory.\n"
	       "\n"
	       "Environment: DBUS_SYSTEM_BUS_ADDRESS selects the system bus.\n"
	       "Exit status: 0 on a clean stop, 1 on a start-up error, 2 on a usage error.\n"
	       "See also: hpcmeterctl(1), hpcmeter.license(5).\n",
	       CONFIG_DEFAULT_PATH, CONFIG_DEFAULT_LICENSES_DIR, CONFIG_DEFAULT_STATE_DIR,
	       CONFIG_MAX_INTERVAL_SEC, CONFIG_DEFAULT_INTERVAL_SEC, CONFIG_DEFAULT_UID_MIN,
	       CONFIG_DEFAULT_BPF_PIN_DIR);
}

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG && log_get_max_level() < LOG_LVL_DEBUG)
		return 0;
	if (level == LIBBPF_INFO && log_get_max_level() < LOG_LVL_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* Paths are kept absolute, as in the configuration file: logs and status then say exactly
 * which directory is meant, whatever the working directory. */
static int absolute_path(const char *path, char *buf, size_t size)
{
	char cwd[PATH_MAX];
	int n;

	if (path[0] == '/')
		n = snprintf(buf, size, "%s", path);
	else if (getcwd(cwd, sizeof(cwd)))
		n = snprintf(buf, size, "%s/%s", cwd, path);
	else
		return -errno;
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "hpcmeterd: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'hpcmeterd --help'.\n");
	return 2;
}

int main(int argc, char **argv)
{
	enum {
		OPT_VERSION = 0x100,
		OPT_CGROUP_V1,
		OPT_PIN_DIR,
		OPT_METRICS_FILE,
		OPT_CLUSTER_DATABASE,
		OPT_NODE_NAME,
		OPT_CGROUP_ROOT,
		OPT_CLUSTER,
	};
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "licenses", required_argument, NULL, 'l' },
		{ "state-dir", required_argument, NULL, 's' },
		{ "interval", required_argument, NULL, 'i' },
		{ "uid-min", required_argument, NULL, 'u' },
		{ "cgroup-v1", required_argument, NULL, OPT_CGROUP_V1 },
		{ "gpu-mode", required_argument, NULL, 'g' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "bpf-pin-dir", required_argument, NULL, OPT_PIN_DIR },
		{ "metrics-file", required_argument, NULL, OPT_METRICS_FILE },
		{ "cluster-database", required_argument, NULL, OPT_CLUSTER_DATABASE },
		{ "node-name", required_argument, NULL, OPT_NODE_NAME },
		{ "cgroup-root", required_argument, NULL, OPT_CGROUP_ROOT },
		{ "cluster", no_argument, NULL, OPT_CLUSTER },
		{}
	};
	const char *config_path = NULL, *licenses = NULL, *state_dir = NULL, *cgroup_v1 = NULL,
		   *pin_dir = NULL, *metrics_file = NULL, *cluster_database = NULL;
	char node_name[64] = "", cgroup_root[4096] = "";
	bool cgroup_root_set = false, cluster_mode = false;
	uint64_t interval = 0;
	long uid_min = -1;
	bool verbose = false;
	int gpu_mode = -1;
	struct config cfg;
	struct manager *m = NULL;
	struct bus *b = NULL;
	char err[8192];
	int c, r;

	while ((c = getopt_long(argc, argv, "c:l:s:i:u:g:vh", options, NULL)) >= 0) {
		switch (c) {
		case 'c':
			config_path = optarg;
			break;
		case 'l':
			licenses = optarg;
			break;
		case 's':
			state_dir = optarg;
			break;
		case 'i':
			if (config_parse_interval(optarg, &interval) < 0)
				return usage_error(
					"invalid --interval \"%s\": expected whole seconds from 1 to 3600",
					optarg);
			break;
		case 'u': {
			char *end;

			errno = 0;
			uid_min = strtol(optarg, &end, 10);
			if (errno || *end || uid_min < 0 || uid_min >= (long)UINT32_MAX)
				return usage_error("invalid --uid-min \"%s\"", optarg);
			break;
		}
		case OPT_CGROUP_V1: {
			char buf[16];

			if (config_parse_cgroup_v1(optarg, buf, sizeof(buf)) < 0)
				return usage_error(
					"invalid --cgroup-v1 \"%s\": expected auto, none, "
					"freezer, cpuacct or memory",
					optarg);
			cgroup_v1 = optarg;
			break;
		}
		case 'g': {
			enum gpu_mode mode;

			if (gpu_mode_parse(optarg, &mode) < 0)
				return usage_error(
					"invalid --gpu-mode \"%s\": expected light, detailed or off",
					optarg);
			gpu_mode = mode;
			break;
		}
		case 'v':
			verbose = true;
			break;
		case 'h':
			help();
			return 0;
		case OPT_PIN_DIR:
			pin_dir = optarg;
			break;
		case OPT_METRICS_FILE:
			metrics_file = optarg;
			break;
		case OPT_CLUSTER_DATABASE:
			if (strlen(optarg) >= sizeof(cfg.cluster_database))
				return usage_error("--cluster-database is too long (%s)", optarg);
			cluster_database = optarg;
			break;
		case OPT_NODE_NAME:
			if (config_parse_node_name(optarg, node_name, sizeof(node_name)) < 0)
				return usage_error("invalid --node-name \"%s\": expected letters, "
						   "digits, '.', '_' or '-' (at most 63)",
						   optarg);
			break;
		case OPT_CLUSTER:
			cluster_mode = true;
			break;
		case OPT_CGROUP_ROOT:
			if (config_parse_cgroup_root(optarg, cgroup_root, sizeof(cgroup_root)) < 0)
				return usage_error("invalid --cgroup-root \"%s\": expected an "
						   "absolute cgroup v2 path",
						   optarg);
			cgroup_root_set = true;
			break;
		case OPT_VERSION:
			printf("hpcmeterd %s\n", HPCMETER_VERSION);
			return 0;
		default:
			fprintf(stderr, "Try 'hpcmeterd --help'.\n");
			return 2;
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument \"%s\"", argv[optind]);

	config_defaults(&cfg);
	r = config_load(&cfg, config_path ? config_path : CONFIG_DEFAULT_PATH, err, sizeof(err));
	if (r < 0 && !(r == -ENOENT && !config_path)) {
		log_error("%s", err);
		return 1;
	}
	if (licenses && absolute_path(licenses, cfg.licenses_dir, sizeof(cfg.licenses_dir)) < 0)
		return usage_error("--licenses path too long: %s", licenses);
	if (state_dir && absolute_path(state_dir, cfg.state_dir, sizeof(cfg.state_dir)) < 0)
		return usage_error("--state-dir path too long: %s", state_dir);
	if (pin_dir && !pin_dir[0])
		cfg.bpf_pin_dir[0] = '\0';
	else if (pin_dir && absolute_path(pin_dir, cfg.bpf_pin_dir, sizeof(cfg.bpf_pin_dir)) < 0)
		return usage_error("--bpf-pin-dir path too long: %s", pin_dir);
	if (metrics_file &&
	    absolute_path(metrics_file, cfg.metrics_file, sizeof(cfg.metrics_file)) < 0)
		return usage_error("--metrics-file path too long: %s", metrics_file);
	if (interval)
		cfg.interval_sec = interval;
	if (uid_min >= 0)
		cfg.uid_min = (uid_t)uid_min;
	if (cgroup_v1)
		config_parse_cgroup_v1(cgroup_v1, cfg.cgroup_v1, sizeof(cfg.cgroup_v1));
	if (verbose)
		cfg.verbose = true;
	if (gpu_mode >= 0)
		cfg.gpu_mode = gpu_mode;
	if (cluster_database)
		snprintf(cfg.cluster_database, sizeof(cfg.cluster_database), "%s",
			 cluster_database);
	if (node_name[0])
		snprintf(cfg.node_name, sizeof(cfg.node_name), "%s", node_name);
	if (cgroup_root_set)
		snprintf(cfg.cgroup_root, sizeof(cfg.cgroup_root), "%s", cgroup_root);
	cfg.cluster_mode = cluster_mode;
	log_set_max_level(cfg.verbose ? LOG_LVL_DEBUG : LOG_LVL_INFO);
	libbpf_set_print(libbpf_log);

	log_info("hpcmeterd %s starting: licences %s, state %s, interval %llus, GPU mode %s",
		 HPCMETER_VERSION, cfg.licenses_dir, cfg.state_dir,
		 (unsigned long long)cfg.interval_sec, gpu_mode_name(cfg.gpu_mode));
	r = manager_new(&cfg, &m);
	if (r < 0) {
		log_error("cannot start: %s", strerror(-r));
		return 1;
	}
	/* The bus follows the manager's notifications from the start; it connects once the
	 * meters run (what happens before is told then, from the ledger). */
	r = bus_new(m, &b);
	if (r == 0)
		r = manager_start(m);
	if (r == 0)
		r = bus_start(b);
	if (r == 0)
		r = manager_run(m);
	bus_free(b);
	manager_free(m);
	if (r < 0)
		return 1;
	log_info("stopped");
	return 0;
}
