// SPDX-License-Identifier: GPL-2.0-only
/* hpcmeterctl VERB --help (see ctl-help.h). Keep in step with help() in hpcmeterctl.c,
 * docs/hpcmeterctl.1.md and completion/hpcmeterctl.bash; tests/cli/test-help.sh checks that
 * every command of --help answers VERB --help. */
#include <string.h>

#include "ctl-help.h"

#define JSON_OPT                                                                                \
	"  --json[=MODE]       JSON output: MODE short (one document per line), pretty, off;\n" \
	"                      without MODE, pretty on a terminal and short otherwise\n"
#define ADDRESS_OPT                                                                             \
	"  --address=ADDRESS   the bus at ADDRESS, not the system bus\n"                        \
	"  --no-pager          never through a pager (long output on a terminal goes through\n" \
	"                      $HPCMETER_PAGER, $PAGER or less)\n"
#define TABLE_OPT                                                                             \
	"  -o, --output=FORMAT table (the default), json (as --json) or csv (RFC 4180: the\n" \
	"                      table's cells, a header row unless --no-legend)\n"             \
	"  --columns=NAME,...  only these columns, in this order: the names of the header\n"  \
	"                      (any case; USER(UID) also as user)\n"                          \
	"  --no-legend         no header line and no legend under tables\n"
#define TIME_NOTE                                                                               \
	"TIME: YYYY-MM-DD, \"YYYY-MM-DD HH:MM[:SS]\", ISO 8601 with a zone\n"                   \
	"(2026-12-05T10:00:00+01:00), now, today, yesterday, -1h, -7d, -30min, \"1h ago\" or\n" \
	"@EPOCH (seconds); local time ($TZ) unless it names a zone.\n"

static const struct {
	const char *verb, *text;
} helps[] = {
	{ "status",
	  "Usage: hpcmeterctl status [--json[=MODE]]\n"
	  "\n"
	  "Show the daemon's and the meters' state (GetStatus) and the licence files\n"
	  "(ListLicenses). Exit 0 whenever the daemon answered; 3 when it is not running.\n"
	  "\n"
	  "Options:\n" JSON_OPT ADDRESS_OPT "\n"
	  "Example:\n"
	  "  hpcmeterctl status --json | jq .violations\n" },
	{ "violations",
	  "Usage: hpcmeterctl violations [--since TIME] [--until TIME] [--after-seq SEQ]\n"
	  "                              [--json[=MODE]] [--no-legend]\n"
	  "\n"
	  "List the recorded licence violations, oldest first: SEQ TIME KIND LICENSE UID\n"
	  "USER PID EXECUTABLE JOB.\n"
	  "\n"
	  "Options:\n"
	  "  --since=TIME        only violations raised at or after TIME\n"
	  "  --until=TIME        only violations raised before TIME\n"
	  "  --after-seq=SEQ     only violations with a sequence number above SEQ (default 0;\n"
	  "                      \"--since SEQ\", a bare number, still means this)\n" JSON_OPT
		  TABLE_OPT ADDRESS_OPT "\n" TIME_NOTE "\n"
	  "Example:\n"
	  "  hpcmeterctl violations --since yesterday --json | jq '.[].executable'\n" },
	{ "usage",
	  "Usage: hpcmeterctl usage [--by job|user|account|license] [--since TIME]\n"
	  "                         [--until TIME] [--job ID] [--user NAME]\n"
	  "                         [--account NAME] [--license ID] [--json[=MODE]] [--no-legend]\n"
	  "\n"
	  "On-CPU (and GPU) usage per cgroup, job and user, or summed with --by: per job,\n"
	  "user, account (from the jobs the batch system announced), or per licence over\n"
	  "its validity. Tables show durations in human units (\"1h 2min 3.5s\") and sizes\n"
	  "in IEC units (\"1.5 GiB\"); JSON has the raw numbers (cpu_ns, bytes_alloc, ...).\n"
	  "\n"
	  "Options:\n"
	  "  --by=KEY            totals per job, user, account or license\n"
	  "  --since=TIME        only intervals that end after TIME\n"
	  "  --until=TIME        only intervals that start before TIME (CPU usage; GPU\n"
	  "                      metrics are summed from --since on)\n"
	  "  --job=ID            only the usage of job ID\n"
	  "  --user=NAME         only the usage of user NAME\n"
	  "  --account=NAME      only the jobs announced with account NAME\n"
	  "  --license=ID        only the validity of the loaded licence ID (exit 5 when it is\n"
	  "                      not loaded)\n"
	  "                      (filters: GetUsageFiltered, CPU usage only; they combine)\n" JSON_OPT
		  TABLE_OPT ADDRESS_OPT "\n" TIME_NOTE "\n"
	  "Example:\n"
	  "  hpcmeterctl usage --by account --since -30d\n" },
	{ "jobs",
	  "Usage: hpcmeterctl jobs [--since TIME] [--until TIME] [--json[=MODE]] [--no-legend]\n"
	  "\n"
	  "List the jobs the batch system announced: those running, and those that ended\n"
	  "after TIME (default: all): JOB USER(UID) ACCOUNT PARTITION END-USE GPUS START END.\n"
	  "\n"
	  "Options:\n"
	  "  --since=TIME        jobs running or ended after TIME\n"
	  "  --until=TIME        jobs that started before TIME\n" JSON_OPT TABLE_OPT ADDRESS_OPT
	  "\n" TIME_NOTE "\n"
	  "Example:\n"
	  "  hpcmeterctl jobs --no-legend\n" },
	{ "job",
	  "Usage: hpcmeterctl job start|end [JOBID] [--slurm-env] [--set KEY=VALUE]...\n"
	  "                       [--json[=MODE]]\n"
	  "\n"
	  "Announce a job's start on, or end of, this node (JobStarted, JobEnded). Root\n"
	  "only: what the Slurm prolog and epilog run. JOBID is decimal digits.\n"
	  "\n"
	  "Options:\n"
	  "  --slurm-env         take the job from SLURM_JOB_ID (without JOBID), SLURM_JOB_USER,\n"
	  "                      _UID, _ACCOUNT, _PARTITION, _WCKEY (or SLURM_WCKEY), _COMMENT,\n"
	  "                      _GPUS, _NODELIST (or SLURM_NODELIST)\n"
	  "  --set=KEY=VALUE     set one key (repeatable, after --slurm-env): scheduler, user,\n"
	  "                      uid, account, partition, wckey, comment, gpus, nodes,\n"
	  "                      submit_host\n"
	  "  --json[=MODE]       print {\"job\": JOBID, \"announced\": \"start\"|\"end\"}\n"
	  "  --address=ADDRESS   the bus at ADDRESS, not the system bus\n"
	  "\n"
	  "Example:\n"
	  "  hpcmeterctl job start 4711 --set user=alice --set account=physics --set gpus=0,1\n" },
	{ "licenses",
	  "Usage: hpcmeterctl licenses [--json[=MODE]] [--no-legend]\n"
	  "\n"
	  "List the licence files hpcmeterd loaded and their state (active, not-yet-valid,\n"
	  "expired, invalid): FILE ID STATE VALID-FROM VALID-UNTIL ERROR, then the next\n"
	  "expiry.\n"
	  "\n"
	  "Options:\n" JSON_OPT TABLE_OPT ADDRESS_OPT "\n"
	  "Example:\n"
	  "  hpcmeterctl licenses --json | jq -r '.[] | select(.state != \"active\") | .file'\n" },
	{ "license",
	  "Usage: hpcmeterctl license check FILE... [--json[=MODE]]\n"
	  "       hpcmeterctl license explain ID [--json[=MODE]]\n"
	  "       hpcmeterctl license simulate FILE --since TIME [--state-dir DIR] [--json[=MODE]]\n"
	  "\n"
	  "check: validate licence files offline (no daemon); errors on standard error as\n"
	  "FILE:LINE:COL: error: FIELD: MESSAGE; exit 1 when a file is bad.\n"
	  "explain: each term of the loaded licence ID in plain words and its standing now;\n"
	  "exit 5 when no licence ID is loaded.\n"
	  "simulate: evaluate a draft licence against the recorded ledger (read-only,\n"
	  "offline); exit 1 when it would have been violated.\n"
	  "\n"
	  "Options:\n"
	  "  --since=TIME        simulate: from TIME on (2026-01-01: local midnight)\n"
	  "  --state-dir=DIR     simulate: hpcmeterd's state directory (default\n"
	  "                      /var/lib/hpcmeter)\n" JSON_OPT
	  "  -o, --output=FORMAT explain: table, json or csv (columns TERM STATE TEXT)\n"
	  "  --columns=NAME,...  explain: only these columns, in this order\n"
	  "  --address=ADDRESS   explain: the bus at ADDRESS, not the system bus\n"
	  "\n" TIME_NOTE "\n"
	  "Example:\n"
	  "  hpcmeterctl license check /etc/hpcmeter/licenses.d/*.yaml\n" },
	{ "inventory",
	  "Usage: hpcmeterctl inventory [kernel] [--json[=MODE]] [--no-legend]\n"
	  "\n"
	  "The node's accelerators (GetInventory) with TPP, APP and utilisation, the GPU\n"
	  "meter's mode and probes, then what the hpcmeter kernel module sees. \"kernel\":\n"
	  "only the module's view, asked over generic netlink (no daemon needed; exit 1\n"
	  "when the module is not loaded).\n"
	  "\n"
	  "Options:\n" JSON_OPT TABLE_OPT ADDRESS_OPT "\n"
	  "Example:\n"
	  "  hpcmeterctl inventory kernel --json\n" },
	{ "reload",
	  "Usage: hpcmeterctl reload [--json[=MODE]]\n"
	  "\n"
	  "Make hpcmeterd re-read its licence directory (Reload). Root only. Prints\n"
	  "nothing; with --json, the licences as loaded afterwards (as licenses --json).\n"
	  "\n"
	  "Options:\n" JSON_OPT "  --address=ADDRESS   the bus at ADDRESS, not the system bus\n"
	  "\n"
	  "Example:\n"
	  "  hpcmeterctl reload && hpcmeterctl licenses\n" },
	{ "monitor",
	  "Usage: hpcmeterctl monitor [--since TIME] [--after-seq SEQ] [--json[=MODE]]\n"
	  "\n"
	  "Print violations as hpcmeterd raises them, one per line (flushed), until SIGINT\n"
	  "or SIGTERM (exit 0). With --after-seq, first those recorded above SEQ; with\n"
	  "--since, first those raised from TIME on (and none before it). Outlives\n"
	  "restarts of hpcmeterd and of the dbus-daemon: it reconnects (with back-off from\n"
	  "100 ms to 5 s), subscribes again and back-fills by sequence number from the\n"
	  "last violation it printed; every violation is printed once.\n"
	  "\n"
	  "Options:\n"
	  "  --after-seq=SEQ     back-fill the violations above SEQ first (\"--since SEQ\", a\n"
	  "                      bare number, still means this)\n"
	  "  --since=TIME        back-fill the violations raised from TIME on first\n" JSON_OPT
	  "  --address=ADDRESS   the bus at ADDRESS, not the system bus\n"
	  "\n" TIME_NOTE "\n"
	  "Example:\n"
	  "  hpcmeterctl monitor --json --after-seq \"$(cat last-seq)\" | while read -r v; do ...; done\n" },
	{ "gaps",
	  "Usage: hpcmeterctl gaps [--since TIME] [--until TIME] [--after-seq ID]\n"
	  "                        [--json[=MODE]] [--no-legend]\n"
	  "\n"
	  "List the metering gaps hpcmeterd recorded (ListGaps): spans in which metering was\n"
	  "incomplete (daemon down, reboot, ring-buffer losses, a probe or the kernel module\n"
	  "gone), each with its worst-case bound and how licences count it: ID CAUSE START\n"
	  "DURATION CPU-BOUND GPUS POLICY (\"open\" while it lasts).\n"
	  "\n"
	  "Options:\n"
	  "  --since=TIME        only gaps that end after TIME (or are still open)\n"
	  "  --until=TIME        only gaps that start before TIME\n"
	  "  --after-seq=ID      only gaps with an id above ID (default 0: all; \"--since ID\",\n"
	  "                      a bare number, still means this)\n" JSON_OPT TABLE_OPT ADDRESS_OPT
	  "\n" TIME_NOTE "\n"
	  "Example:\n"
	  "  hpcmeterctl gaps --json | jq '[.[] | .bound_cpu_ns] | add'\n" },
	{ "acknowledge",
	  "Usage: hpcmeterctl acknowledge SEQ NOTE [--json[=MODE]]\n"
	  "\n"
	  "Record in the ledger that an operator has seen violation SEQ, with NOTE (at most\n"
	  "4096 bytes, no control characters but tab) and the caller's uid\n"
	  "(AcknowledgeViolation). Root only. An acknowledgement does not clear the\n"
	  "violation. Exit 5 when there is no violation SEQ, 1 when it was acknowledged\n"
	  "before.\n"
	  "\n"
	  "Options:\n"
	  "  --json[=MODE]       print {\"seq\": SEQ, \"note\": NOTE, \"acknowledged\": true}\n"
	  "  --address=ADDRESS   the bus at ADDRESS, not the system bus\n"
	  "\n"
	  "Example:\n"
	  "  hpcmeterctl acknowledge 42 \"ticket OPS-1234: test binary, removed\"\n" },
	{ "help", "Usage: hpcmeterctl help\n"
		  "       hpcmeterctl COMMAND --help\n"
		  "\n"
		  "Show the summary of every command, or one command's usage.\n" },
};

void ctl_help_exit_status(FILE *f)
{
	fputs("\nExit status:\n"
	      "  0  success\n"
	      "  1  failure: a D-Bus error, a bad licence file, a broken ledger, output not\n"
	      "     written\n"
	      "  2  bad argument: unknown command or option, missing or malformed value\n"
	      "  3  hpcmeterd is not running (nobody owns org.hpcmeter1, or no bus)\n"
	      "  4  access denied by the bus policy (reading needs root or group hpcmeter;\n"
	      "     reload and job announcements need root)\n"
	      "  5  unknown id: no such licence (license explain, report --license) or\n"
	      "     violation (acknowledge)\n",
	      f);
}

bool ctl_verb_help(const char *verb)
{
	for (size_t i = 0; i < sizeof(helps) / sizeof(helps[0]); i++)
		if (strcmp(helps[i].verb, verb) == 0) {
			fputs(helps[i].text, stdout);
			ctl_help_exit_status(stdout);
			printf("\nSee hpcmeterctl(1).\n");
			return true;
		}
	return false;
}
