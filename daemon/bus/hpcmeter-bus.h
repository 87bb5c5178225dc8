/* SPDX-License-Identifier: GPL-2.0-only */
/* The D-Bus contract in C: names and signatures of daemon/org.hpcmeter1.xml, one copy for the
 * daemon and its clients. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define HPCMETER_BUS_NAME "org.hpcmeter1"
#define HPCMETER_OBJECT_PATH "/org/hpcmeter1"
/* Three interfaces on the one object: what is metered, the licences, and the violations. */
#define HPCMETER_METER_IFACE "org.hpcmeter1.Meter"
#define HPCMETER_LICENSES_IFACE "org.hpcmeter1.Licenses"
#define HPCMETER_VIOLATIONS_IFACE "org.hpcmeter1.Violations"

/* Errors of the daemon's own (argument and type errors are org.freedesktop.DBus.Error.InvalidArgs,
 * callers not allowed org.freedesktop.DBus.Error.AccessDenied). */
#define HPCMETER_ERROR_NO_SUCH_VIOLATION "org.hpcmeter1.Error.NoSuchViolation"
#define HPCMETER_ERROR_NO_SUCH_LICENSE "org.hpcmeter1.Error.NoSuchLicense"
#define HPCMETER_ERROR_ALREADY_ACKNOWLEDGED "org.hpcmeter1.Error.AlreadyAcknowledged"
#define HPCMETER_ERROR_REPORT_FAILED "org.hpcmeter1.Error.ReportFailed"

/* The interface of a method, signal or property (member names are unique over the three
 * interfaces); NULL when there is none. The clients call hpcmeter_iface("GetStatus"). */
static inline const char *hpcmeter_iface(const char *member)
{
	static const struct {
		const char *member, *iface;
	} map[] = {
		{ "GetStatus", HPCMETER_METER_IFACE },
		{ "GetUsage", HPCMETER_METER_IFACE },
		{ "GetUsageBetween", HPCMETER_METER_IFACE },
		{ "GetUsageFiltered", HPCMETER_METER_IFACE },
		{ "GetGpuUsage", HPCMETER_METER_IFACE },
		{ "GetInventory", HPCMETER_METER_IFACE },
		{ "ListGaps", HPCMETER_METER_IFACE },
		{ "GetMetrics", HPCMETER_METER_IFACE },
		{ "ListJobs", HPCMETER_METER_IFACE },
		{ "JobStarted", HPCMETER_METER_IFACE },
		{ "JobEnded", HPCMETER_METER_IFACE },
		{ "MeteringGap", HPCMETER_METER_IFACE },
		{ "MeterStateChanged", HPCMETER_METER_IFACE },
		{ "Version", HPCMETER_METER_IFACE },
		{ "IntervalUSec", HPCMETER_METER_IFACE },
		{ "LastCollectUSec", HPCMETER_METER_IFACE },
		{ "MeterStates", HPCMETER_METER_IFACE },
		{ "LedgerState", HPCMETER_METER_IFACE },
		{ "LastGapId", HPCMETER_METER_IFACE },
		{ "ListLicenses", HPCMETER_LICENSES_IFACE },
		{ "ExplainLicense", HPCMETER_LICENSES_IFACE },
		{ "Reload", HPCMETER_LICENSES_IFACE },
		{ "GetReport", HPCMETER_LICENSES_IFACE },
		{ "RecordReport", HPCMETER_LICENSES_IFACE },
		{ "LicenseErrors", HPCMETER_LICENSES_IFACE },
		{ "LicensesActive", HPCMETER_LICENSES_IFACE },
		{ "ListViolations", HPCMETER_VIOLATIONS_IFACE },
		{ "ListClearedViolations", HPCMETER_VIOLATIONS_IFACE },
		{ "ListThresholdEvents", HPCMETER_VIOLATIONS_IFACE },
		{ "ListAcknowledgements", HPCMETER_VIOLATIONS_IFACE },
		{ "AcknowledgeViolation", HPCMETER_VIOLATIONS_IFACE },
		{ "ViolationRaised", HPCMETER_VIOLATIONS_IFACE },
		{ "ViolationCleared", HPCMETER_VIOLATIONS_IFACE },
		{ "ThresholdApproaching", HPCMETER_VIOLATIONS_IFACE },
		{ "ViolationAcknowledged", HPCMETER_VIOLATIONS_IFACE },
		{ "LastViolationSeq", HPCMETER_VIOLATIONS_IFACE },
		{ "ActiveViolations", HPCMETER_VIOLATIONS_IFACE },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(map[i].member, member) == 0)
			return map[i].iface;
	return NULL;
}

#define HPCMETER_SIG_LICENSE "(sssstt)"
#define HPCMETER_SIG_VIOLATION_FIELDS "ttssuusssss"
#define HPCMETER_SIG_VIOLATION "(" HPCMETER_SIG_VIOLATION_FIELDS ")"
#define HPCMETER_SIG_USAGE "(ssusttt)"
/* (id, cause, start_usec, end_usec, boot_id, detail, bound_cpu_ns, bound_devices, bound, policy) */
#define HPCMETER_SIG_GAP_FIELDS "tsttsstuss"
#define HPCMETER_SIG_GAP "(" HPCMETER_SIG_GAP_FIELDS ")"
/* job, scheduler, user, uid, account, partition, wckey, comment, gpus, nodes, start, end */
#define HPCMETER_SIG_JOB "(sssusssssstt)"
/* GetGpuUsage: cgroup, job, uid, user, gpu_ns, tpp_seconds, ops_upper, ops_lower, launches,
 * threads_launched, graph_launches, bytes_alloc, bytes_h2d, dev_opens, first_usec, last_usec */
#define HPCMETER_SIG_GPU_USAGE "(ssustdddtttttttt)"
/* GetInventory: bus_id, vendor_id, device_id, class, vendor, model, uuid, driver, tpp, app,
 * utilization (percent, -1 unknown), peaks {precision: TOPS}, sources */
#define HPCMETER_SIG_INVENTORY "(suuussssddia{sd}s)"
/* ViolationCleared: seq of the raised violation, time, its dedup key. */
#define HPCMETER_SIG_CLEARED_FIELDS "tts"
#define HPCMETER_SIG_CLEARED "(" HPCMETER_SIG_CLEARED_FIELDS ")"
/* ThresholdApproaching / ListThresholdEvents: seq, time_usec, license_id, term, subject,
 * level (80 or 95), measured, limit, detail. */
#define HPCMETER_SIG_THRESHOLD_FIELDS "ttsssudds"
#define HPCMETER_SIG_THRESHOLD "(" HPCMETER_SIG_THRESHOLD_FIELDS ")"
/* ExplainLicense: term, state, text. */
#define HPCMETER_SIG_TERM "(sss)"
/* MeterStateChanged: seq (of this daemon's run), time_usec, meter, state. */
#define HPCMETER_SIG_METER_STATE_FIELDS "ttss"
/* ViolationAcknowledged / ListAcknowledgements: violation seq, time_usec, uid, note. */
#define HPCMETER_SIG_ACK_FIELDS "ttus"
#define HPCMETER_SIG_ACK "(" HPCMETER_SIG_ACK_FIELDS ")"
