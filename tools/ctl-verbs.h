/* SPDX-License-Identifier: GPL-2.0-only */
/* The verbs of hpcmeterctl, one file each (ctl-VERB.c), as hpcmeterctl.c's verbs table calls
 * them: argv[0] is the verb; bus is connected when the table says the verb needs it. Each
 * returns 0, or -errno with its error said on stderr and the exit status set (ctl-exit.h,
 * or usage_error() for exit 2). */
#pragma once

#include <systemd/sd-bus.h>

int verb_status(sd_bus *bus, int argc, char **argv);
int verb_violations(sd_bus *bus, int argc, char **argv);
int verb_usage(sd_bus *bus, int argc, char **argv);
int verb_jobs(sd_bus *bus, int argc, char **argv);
int verb_job(sd_bus *bus, int argc, char **argv);
int verb_licenses(sd_bus *bus, int argc, char **argv);
int verb_inventory(sd_bus *bus, int argc, char **argv);
int verb_license(sd_bus *bus, int argc, char **argv);
int verb_reload(sd_bus *bus, int argc, char **argv);
int verb_monitor(sd_bus *bus, int argc, char **argv);
int verb_gaps(sd_bus *bus, int argc, char **argv);
int verb_acknowledge(sd_bus *bus, int argc, char **argv);
/* These come first on the command line and read their own options from argv. */
int verb_metrics(sd_bus *bus, int argc, char **argv);
int verb_ledger(sd_bus *bus, int argc, char **argv);
int verb_report(sd_bus *bus, int argc, char **argv);
int verb_cluster(sd_bus *bus, int argc, char **argv);
