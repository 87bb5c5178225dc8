/* SPDX-License-Identifier: GPL-2.0-only */
/* hpcmeterctl: the operators' command line client of hpcmeterd (org.hpcmeter1 on the system bus):
 * main(), the global options and the one table of verbs; each verb is in ctl-VERB.c. */
#include <errno.h>
#include <getopt.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <systemd/sd-bus.h>

#include "ctl-args.h"
#include "ctl-bus.h"
#include "ctl-exit.h"
#include "ctl-help.h"
#include "ctl-pager.h"
#include "ctl-table.h"
#include "ctl-verbs.h"
#include "json-doc.h"
#include "util.h"

static void help(void)
{
	printf("%s [OPTIONS...] COMMAND [ARGS...]\n"
	       "\n"
	       "Query and control hpcmeterd, the usage meter of an export-licensed HPC node.\n"
	       "\n"
	       "Commands:\n"
	       "  status                   Show the daemon's and the meters' state and the licences\n"
	       "  violations [--since TIME] [--until TIME] [--after-seq SEQ]\n"
	       "                           List recorded licence violations\n"
	       "  usage [--since TIME] [--until TIME]\n"
	       "                           Show on-CPU and GPU usage per cgroup, job and user\n"
	       "  usage --by job|user|account|license\n"
	       "                           Totals per job, user or account (accounts come from\n"
	       "                           the jobs announced by the batch system), or per\n"
	       "                           licence over its validity\n"
	       "  jobs [--since TIME] [--until TIME]\n"
	       "                           List jobs announced by the batch system: running, or\n"
	       "                           ended after TIME\n"
	       "  job start|end [JOBID] [--slurm-env] [--set KEY=VALUE]...\n"
	       "                           Announce a job's start or end on this node (root only;\n"
	       "                           what the Slurm prolog and epilog run). --slurm-env\n"
	       "                           reads SLURM_JOB_ID, _USER, _UID, _ACCOUNT, _PARTITION,\n"
	       "                           _COMMENT, _GPUS, _NODELIST and SLURM_JOB_WCKEY; --set\n"
	       "                           sets a key: user, uid, account, partition, wckey,\n"
	       "                           comment, gpus, nodes, submit_host, scheduler\n"
	       "  inventory [kernel]       Show the accelerators, their TPP/APP, and the GPU\n"
	       "                           meter's mode, runtime libraries and probes, then what\n"
	       "                           the hpcmeter kernel module sees; \"kernel\": only that\n"
	       "  licenses                 List the licence files and their state\n"
	       "  license check FILE...    Validate licence files offline (no daemon needed);\n"
	       "                           errors as FILE:LINE:COL: error: FIELD: MESSAGE\n"
	       "  license explain ID       Each term of a loaded licence in plain words, and its\n"
	       "                           standing now\n"
	       "  license simulate FILE --since TIME\n"
	       "                           Evaluate a draft licence against the recorded ledger\n"
	       "                           (read-only, offline; exit 1 if it would be violated)\n"
	       "  reload                   Make hpcmeterd re-read its licence directory (root only)\n"
	       "  monitor [--since TIME] [--after-seq SEQ]\n"
	       "                           Print violations as they are raised, until interrupted\n"
	       "  gaps [--since TIME] [--until TIME] [--after-seq ID]\n"
	       "                           List metering gaps with their worst-case bound\n"
	       "  acknowledge SEQ NOTE     Record that violation SEQ was seen, with a note, in the\n"
	       "                           ledger (root only)\n"
	       "  metrics                  Print hpcmeterd's metrics (OpenMetrics text format;\n"
	       "                           --json: an array of samples)\n"
	       "  ledger verify            Walk the ledger's hash chain; name the first broken record\n"
	       "  report --license ID --since TIME --until TIME [--format json|csv|table]\n"
	       "         [--output FILE]\n"
	       "                           A signed usage report for a licence, from the ledger\n"
	       "  report verify FILE...    Check reports' signatures offline (public key only)\n"
	       "  report public-key        Print the node's public report key\n"
	       "                           (ledger, report: --state-dir DIR, default /var/lib/hpcmeter;\n"
	       "                           see 'hpcmeterctl report --help')\n"
	       "  cluster init|enroll|status|verify --database CONNINFO\n"
	       "                           The cluster's store in PostgreSQL: create or migrate\n"
	       "                           its schema, enrol a node and its key, show each\n"
	       "                           node's records and checkpoints, verify every chain\n"
	       "                           and signature (see 'hpcmeterctl cluster --help')\n"
	       "  cluster usage [--by SCOPE] [--since TIME] [--until TIME]\n"
	       "                           Usage across the cluster, as hpcmeterd --cluster\n"
	       "                           evaluated it, and whether it is final\n"
	       "  help                     Show this help ('COMMAND --help': one command's)\n"
	       "\n"
	       "Options:\n"
	       "  -h --help                Show this help\n"
	       "     --version             Show the package version\n"
	       "     --json[=MODE]         Print JSON (every command): short (one document per line)\n"
	       "                           or pretty; without MODE, pretty on a terminal, short\n"
	       "                           otherwise; off: tables again\n"
	       "  -o --output=FORMAT       table (the default), json (as --json) or csv: the\n"
	       "                           tables of violations, gaps, jobs, usage, licenses,\n"
	       "                           inventory, license explain, cluster status and\n"
	       "                           cluster usage as CSV (RFC 4180)\n"
	       "     --columns=NAME,...    Only these columns of tables and CSV, in this order\n"
	       "                           (the header names, in any case; see COMMAND --help)\n"
	       "     --no-legend           Do not print the header and the legend of tables\n"
	       "     --no-pager            Do not pipe the output into a pager (on a terminal,\n"
	       "                           long output goes through $HPCMETER_PAGER, $PAGER or less)\n"
	       "     --address=ADDRESS     Connect to the bus at ADDRESS, not to the system bus\n"
	       "     --since=TIME          violations, gaps, monitor, usage, jobs, license simulate:\n"
	       "                           from TIME on (usage: intervals that end after it; jobs:\n"
	       "                           running or ended after it; gaps: ending after it)\n"
	       "     --until=TIME          violations, gaps, usage, jobs: before TIME (usage: the\n"
	       "                           intervals, jobs and gaps that start before it)\n"
	       "     --after-seq=SEQ       violations, monitor: after sequence number SEQ; gaps:\n"
	       "                           after gap id SEQ\n"
	       "     --state-dir=DIR       license simulate: hpcmeterd's state directory\n"
	       "                           (default /var/lib/hpcmeter)\n"
	       "     --job=ID, --user=NAME, --account=NAME, --license=ID\n"
	       "                           usage: only the rows of that job, user, account (of\n"
	       "                           the announced jobs) or licence's validity (CPU only)\n"
	       "     --by=job|user|account|license\n"
	       "                           usage: totals per job, user, account or licence\n"
	       "     --slurm-env           job: take the job from Slurm's prolog/epilog environment\n"
	       "     --set=KEY=VALUE       job: set one key of the announcement (repeatable)\n"
	       "\n"
	       "TIME is YYYY-MM-DD, \"YYYY-MM-DD HH:MM[:SS]\", ISO 8601 with a zone\n"
	       "(2026-12-05T10:00:00+01:00, ...Z), now, today, yesterday, relative -1h, -7d,\n"
	       "-30min or \"1h ago\", or @EPOCH (seconds, optional fraction). Without a zone it is\n"
	       "local time ($TZ; TZ=UTC for UTC), except for report and cluster usage, whose\n"
	       "days are UTC.\n"
	       "\n"
	       "Environment:\n"
	       "  DBUS_SYSTEM_BUS_ADDRESS  Address of the system bus\n"
	       "                           (default unix:path=/run/dbus/system_bus_socket)\n"
	       "  HPCMETER_PAGER, PAGER    Pager on a terminal (empty or cat: none)\n"
	       "  NO_COLOR                 No colour in tables (colour only on a terminal anyway)\n"
	       "  TZ                       Time zone of TIME without a zone, and of times shown\n"
	       "\n"
	       "Tables show durations in human units (\"1h 2min 3.5s\") and sizes in IEC units\n"
	       "(\"1.5 GiB\"); JSON carries the raw numbers (nanoseconds, bytes, microseconds).\n",
	       PROGRAM);
	ctl_help_exit_status(stdout);
	printf("\nSee '" PROGRAM " COMMAND --help' and hpcmeterctl(1) for details.\n");
}

static int verb_help(sd_bus *bus, int argc, char **argv)
{
	(void)bus;
	(void)argc;
	(void)argv;

	help();
	return 0;
}

enum verb_flags {
	VERB_BUS = 1 << 0, /* needs a bus connection */
	VERB_SEQ = 1 << 1, /* takes --after-seq (and, as before, --since SEQ) */
	VERB_SINCE = 1 << 2, /* takes --since TIME */
	VERB_UNTIL = 1 << 3, /* takes --until TIME */
	VERB_BY = 1 << 4, /* takes --by */
	VERB_JOB = 1 << 5, /* takes --slurm-env and --set */
	VERB_PAGER = 1 << 6, /* output may be long: through the pager on a terminal */
	/* comes first on the command line and reads its own options (no global ones) */
	VERB_OWN_OPTIONS = 1 << 7,
	VERB_TABLE = 1 << 8, /* prints tables: takes -o csv and --columns */
};

static const struct verb {
	const char *name;
	int min_args, max_args; /* including the verb itself; -1: no limit */
	unsigned flags;
	int (*dispatch)(sd_bus *bus, int argc, char **argv);
} verbs[] = {
	{ "status", 1, 1, VERB_BUS | VERB_PAGER, verb_status },
	{ "violations", 1, 1,
	  VERB_BUS | VERB_SEQ | VERB_SINCE | VERB_UNTIL | VERB_PAGER | VERB_TABLE,
	  verb_violations },
	{ "usage", 1, 1, VERB_BUS | VERB_SINCE | VERB_UNTIL | VERB_BY | VERB_PAGER | VERB_TABLE,
	  verb_usage },
	{ "jobs", 1, 1, VERB_BUS | VERB_SINCE | VERB_UNTIL | VERB_PAGER | VERB_TABLE, verb_jobs },
	{ "job", 2, 3, VERB_JOB, verb_job },
	{ "licenses", 1, 1, VERB_BUS | VERB_PAGER | VERB_TABLE, verb_licenses },
	{ "inventory", 1, 2, VERB_PAGER | VERB_TABLE, verb_inventory },
	{ "license", 2, -1, VERB_SINCE | VERB_TABLE, verb_license },
	{ "reload", 1, 1, VERB_BUS, verb_reload },
	{ "monitor", 1, 1, VERB_BUS | VERB_SEQ | VERB_SINCE, verb_monitor },
	{ "gaps", 1, 1, VERB_BUS | VERB_SEQ | VERB_SINCE | VERB_UNTIL | VERB_PAGER | VERB_TABLE,
	  verb_gaps },
	{ "acknowledge", 3, 3, VERB_BUS, verb_acknowledge },
	{ "metrics", 1, -1, VERB_OWN_OPTIONS, verb_metrics },
	{ "ledger", 1, -1, VERB_OWN_OPTIONS, verb_ledger },
	{ "report", 1, -1, VERB_OWN_OPTIONS, verb_report },
	{ "cluster", 1, -1, VERB_OWN_OPTIONS, verb_cluster },
	{ "help", 1, 1, 0, verb_help },
};

static const struct verb *verb_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(verbs); i++)
		if (streq(verbs[i].name, name))
			return &verbs[i];
	return NULL;
}

enum {
	ARG_VERSION = 0x100,
	ARG_JSON,
	ARG_NO_LEGEND,
	ARG_NO_PAGER,
	ARG_ADDRESS,
	ARG_SINCE,
	ARG_UNTIL,
	ARG_AFTER_SEQ,
	ARG_SINCE_USEC,
	ARG_UNTIL_USEC,
	ARG_FILTER_JOB,
	ARG_FILTER_USER,
	ARG_FILTER_ACCOUNT,
	ARG_FILTER_LICENSE,
	ARG_BY,
	ARG_SLURM_ENV,
	ARG_SET,
	ARG_STATE_DIR,
	ARG_COLUMNS,
};

/* Returns 1 to go on, 0 to exit successfully, negative on a usage error. */
static int parse_argv(int argc, char **argv)
{
	static const struct option options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, ARG_VERSION },
		{ "json", optional_argument, NULL, ARG_JSON },
		{ "output", required_argument, NULL, 'o' },
		{ "columns", required_argument, NULL, ARG_COLUMNS },
		{ "no-legend", no_argument, NULL, ARG_NO_LEGEND },
		{ "no-pager", no_argument, NULL, ARG_NO_PAGER },
		{ "address", required_argument, NULL, ARG_ADDRESS },
		{ "since", required_argument, NULL, ARG_SINCE },
		{ "until", required_argument, NULL, ARG_UNTIL },
		{ "after-seq", required_argument, NULL, ARG_AFTER_SEQ },
		/* deprecated: --since @SECONDS.USEC says the same */
		{ "since-usec", required_argument, NULL, ARG_SINCE_USEC },
		{ "until-usec", required_argument, NULL, ARG_UNTIL_USEC },
		{ "job", required_argument, NULL, ARG_FILTER_JOB },
		{ "user", required_argument, NULL, ARG_FILTER_USER },
		{ "account", required_argument, NULL, ARG_FILTER_ACCOUNT },
		{ "license", required_argument, NULL, ARG_FILTER_LICENSE },
		{ "by", required_argument, NULL, ARG_BY },
		{ "slurm-env", no_argument, NULL, ARG_SLURM_ENV },
		{ "set", required_argument, NULL, ARG_SET },
		{ "state-dir", required_argument, NULL, ARG_STATE_DIR },
		{}
	};
	bool want_help = false;
	int c;

	/* options may come before or after the command: getopt permutes */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "ho:", options, NULL)) >= 0) {
		switch (c) {
		case 'h':
			want_help = true;
			break;
		case ARG_VERSION:
			printf(PROGRAM " " HPCMETER_VERSION "\n");
			return 0;
		case ARG_JSON:
			/* pretty for a person at a terminal, one line per document otherwise */
			if (json_mode_from_arg(optarg, STDOUT_FILENO, &arg_json) < 0)
				return usage_error(
					"unknown JSON mode '%s' (expected short, pretty or off)",
					optarg);
			arg_csv = false;
			break;
		case 'o':
			/* as systemd's -o json; --json=MODE says how */
			arg_csv = streq(optarg, "csv");
			if (streq(optarg, "json"))
				json_mode_from_arg(NULL, STDOUT_FILENO, &arg_json);
			else if (streq(optarg, "table") || arg_csv)
				arg_json = JSON_OFF;
			else
				return usage_error(
					"unknown output format '%s' (expected table, json or "
					"csv)",
					optarg);
			break;
		case ARG_COLUMNS:
			if (isempty(optarg) || optarg[strspn(optarg, ",")] == '\0' ||
			    strstr(optarg, ",,") || optarg[strlen(optarg) - 1] == ',')
				return usage_error(
					"--columns needs column names, separated by commas");
			arg_columns = optarg;
			break;
		case ARG_NO_PAGER:
			arg_no_pager = true;
			break;
		case ARG_NO_LEGEND:
			arg_legend = false;
			break;
		case ARG_ADDRESS:
			if (isempty(optarg))
				return usage_error("--address needs a bus address");
			arg_address = optarg;
			break;
		case ARG_SINCE:
			/* read by dispatch_verb(), which knows the command */
			arg_since_str = optarg;
			arg_since_set = true;
			break;
		case ARG_UNTIL:
			arg_until_str = optarg;
			arg_until_set = true;
			break;
		case ARG_AFTER_SEQ:
			if (parse_uint64(optarg, &arg_after_seq) < 0)
				return usage_error("invalid sequence number for --after-seq: '%s'",
						   optarg);
			arg_after_seq_set = true;
			break;
		case ARG_STATE_DIR:
			if (isempty(optarg))
				return usage_error("--state-dir needs a directory");
			arg_state_dir = optarg;
			break;
		case ARG_SINCE_USEC:
			if (parse_uint64(optarg, &arg_since_usec) < 0)
				return usage_error(
					"invalid time for --since-usec: '%s' (microseconds since the epoch)",
					optarg);
			arg_since_str = NULL;
			arg_since_set = true;
			break;
		case ARG_FILTER_JOB:
		case ARG_FILTER_USER:
		case ARG_FILTER_ACCOUNT:
		case ARG_FILTER_LICENSE:
			if (isempty(optarg))
				return usage_error("%s needs a value", argv[optind - 1]);
			*(c == ARG_FILTER_JOB	  ? &arg_filter_job :
			  c == ARG_FILTER_USER	  ? &arg_filter_user :
			  c == ARG_FILTER_ACCOUNT ? &arg_filter_account :
						    &arg_filter_license) = optarg;
			break;
		case ARG_UNTIL_USEC:
			if (parse_uint64(optarg, &arg_until_usec) < 0 || arg_until_usec == 0)
				return usage_error(
					"invalid time for --until-usec: '%s' (microseconds since the epoch)",
					optarg);
			arg_until_str = NULL;
			arg_until_set = true;
			break;
		case ARG_BY:
			if (!streq(optarg, "job") && !streq(optarg, "user") &&
			    !streq(optarg, "account") && !streq(optarg, "license"))
				return usage_error(
					"invalid --by '%s' (expected job, user, account or license)",
					optarg);
			arg_by = optarg;
			break;
		case ARG_SLURM_ENV:
			arg_slurm_env = true;
			break;
		case ARG_SET: {
			char **n = realloc(arg_set, (arg_n_set + 1) * sizeof(*n));

			if (!n)
				return usage_error("out of memory");
			arg_set = n;
			arg_set[arg_n_set++] = optarg;
			break;
		}
		case '?':
			if (optopt && optopt < 0x100 && argv[optind - 1][1] != '-')
				return usage_error("invalid option -- '%c'", optopt);
			if (optopt && strchr(argv[optind - 1], '='))
				return usage_error("option '%s' does not take an argument",
						   argv[optind - 1]);
			if (optopt)
				return usage_error("option '%s' requires an argument",
						   argv[optind - 1]);
			return usage_error("unrecognized option '%s'", argv[optind - 1]);
		default:
			return usage_error("cannot parse the options");
		}
	}
	if (want_help) {
		/* COMMAND --help: that command's own; --help alone: the summary */
		if (optind >= argc || !ctl_verb_help(argv[optind]))
			help();
		return 0;
	}
	return 1;
}

/* --since, --until and --after-seq for verb: do they apply, and what times do they say. */
static int dispatch_times(const struct verb *verb)
{
	char err[512];

	if (arg_after_seq_set && !(verb->flags & VERB_SEQ))
		return usage_error("--after-seq does not apply to '%s'", verb->name);
	if (arg_since_set && !(verb->flags & VERB_SINCE))
		return usage_error("--since does not apply to '%s'", verb->name);
	if (arg_until_set && !(verb->flags & VERB_UNTIL))
		return usage_error("--until does not apply to '%s'", verb->name);
	/* "--since 40" meant a sequence number before --since took a time; a bare number is not
	 * a time, so it still means what it did */
	if (arg_since_str && (verb->flags & VERB_SEQ) && !arg_after_seq_set &&
	    parse_uint64(arg_since_str, &arg_after_seq) == 0) {
		log_warning(
			"--since %s is read as --after-seq %s (a sequence number); --since takes "
			"a time",
			arg_since_str, arg_since_str);
		arg_after_seq_set = true;
		arg_since_set = false;
		arg_since_str = NULL;
	}
	if (arg_since_str &&
	    parse_time_arg("--since", arg_since_str, 0, &arg_since_usec, err, sizeof(err)) < 0)
		return usage_error("%s: %s", verb->name, err);
	if (arg_until_str &&
	    parse_time_arg("--until", arg_until_str, 0, &arg_until_usec, err, sizeof(err)) < 0)
		return usage_error("%s: %s", verb->name, err);
	if (arg_since_set && arg_until_set && arg_until_usec <= arg_since_usec)
		return usage_error("%s: --until must be after --since", verb->name);
	return 0;
}

static int dispatch_verb(int argc, char **argv)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	const struct verb *verb = NULL;
	int r;

	if (argc < 1)
		return usage_error("missing command");
	verb = verb_find(argv[0]);
	if (verb && verb->flags & VERB_OWN_OPTIONS)
		return usage_error("'%s' comes first and takes its options after it, e.g. "
				   "'" PROGRAM " %s --help'",
				   argv[0], argv[0]);
	if (!verb)
		return usage_error("unknown command '%s'", argv[0]);
	if (argc < verb->min_args)
		return usage_error("%s: missing argument", verb->name);
	if (verb->max_args >= 0 && argc > verb->max_args)
		return usage_error("%s: too many arguments", verb->name);
	r = dispatch_times(verb);
	if (r < 0)
		return r;
	if (usage_filtered() && !(verb->flags & VERB_BY))
		return usage_error("--job, --user, --account and --license apply to 'usage' only");
	if (usage_filtered() && arg_by && streq(arg_by, "license"))
		return usage_error("--by license sums per licence: it takes no filter");
	if (arg_by && !(verb->flags & VERB_BY))
		return usage_error("--by does not apply to '%s'", verb->name);
	if ((arg_slurm_env || arg_n_set) && !(verb->flags & VERB_JOB))
		return usage_error("--slurm-env and --set apply to 'job' only");
	if ((arg_csv || arg_columns) && !(verb->flags & VERB_TABLE))
		return usage_error("%s does not apply to '%s' (it prints no table)",
				   arg_csv ? "-o csv" : "--columns", verb->name);
	if (arg_columns && arg_json)
		return usage_error("--columns chooses the columns of tables and CSV, not of JSON");

	if (verb->flags & VERB_BUS) {
		r = bus_connect(&bus);
		if (r < 0)
			return r;
	}
	if (verb->flags & VERB_PAGER)
		pager_open(arg_no_pager);
	return verb->dispatch(bus, argc, argv);
}

int main(int argc, char **argv)
{
	const struct verb *own = argc > 1 ? verb_find(argv[1]) : NULL;
	const char *ctype = setlocale(LC_CTYPE, "");
	int r;

	/* Names are UTF-8 (the ledger's and the bus's contract): in the C locale, read them as
	 * C.UTF-8, as Python does (PEP 538), so that tables count their display cells (in "C" a
	 * byte above 0x7f is no character at all). Only LC_CTYPE: numbers keep their C format. */
	if (!ctype || streq(ctype, "C") || streq(ctype, "POSIX"))
		setlocale(LC_CTYPE, "C.UTF-8");

	/* ledger, report and metrics take options of their own: they come first. */
	if (own && own->flags & VERB_OWN_OPTIONS)
		r = own->dispatch(NULL, argc - 1, argv + 1);
	else {
		r = parse_argv(argc, argv);
		if (r < 0)
			return CTL_EXIT_USAGE;
		if (r == 0)
			return fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
		color_init(); /* before a pager takes standard output */
		r = dispatch_verb(argc - optind, argv + optind);
	}

	if (fflush(stdout) != 0 || ferror(stdout)) {
		log_error("cannot write to standard output: %s", strerror(errno ?: EIO));
		pager_close();
		return EXIT_FAILURE;
	}
	pager_close();
	if (usage_error_seen)
		return CTL_EXIT_USAGE;
	return r < 0 ? ctl_exit_status : EXIT_SUCCESS;
}
