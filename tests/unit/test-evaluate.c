/* SPDX-License-Identifier: GPL-2.0-only */
/* Unit tests for lib/evaluate.c: every term type against plain inputs, caps against a real
 * SQLite ledger filled by the test, period boundaries, and the violation lifecycle (TAP). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "evaluate.h"

#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hpcmeter-bus.h"
#include "ledger-query.h"
#include "ledger.h"

/* Unix seconds computed independently of the code under test (date -u -d ... +%s). */
#define T_2026_06_15_1200 INT64_C(1781524800)
#define T_2026_09_30_2200 INT64_C(1790805600)
#define T_2026_10_01_0000 INT64_C(1790812800)
#define T_2026_10_31_1200 INT64_C(1793448000)
#define T_2026_10_31_2230 INT64_C(1793485800)
#define T_2026_10_31_2300 INT64_C(1793487600) /* 2026-11-01 00:00 CET */
#define T_2026_10_31_2315 INT64_C(1793488500)
#define T_2026_10_31_2330 INT64_C(1793489400)
#define USEC INT64_C(1000000)

static char tmpdir[] = "/tmp/test-evaluate.XXXXXX";
static unsigned n_tests, n_failed;
static bool current_ok;

#define CHECK(cond)                                                                   \
	do {                                                                          \
		if (!(cond)) {                                                        \
			current_ok = false;                                           \
			printf("#   %s:%d: failed: %s\n", __FILE__, __LINE__, #cond); \
		}                                                                     \
	} while (0)

#define CHECK_INT(got, want)                                                                     \
	do {                                                                                     \
		long long _g = (got), _w = (want);                                               \
		if (_g != _w) {                                                                  \
			current_ok = false;                                                      \
			printf("#   %s:%d: %s: got %lld, want %lld\n", __FILE__, __LINE__, #got, \
			       _g, _w);                                                          \
		}                                                                                \
	} while (0)

#define CHECK_STR(got, want)                                                                   \
	do {                                                                                   \
		const char *_g = (got), *_w = (want);                                          \
		if (!_g || !_w || strcmp(_g, _w) != 0) {                                       \
			current_ok = false;                                                    \
			printf("#   %s:%d: %s: got \"%s\", want \"%s\"\n", __FILE__, __LINE__, \
			       #got, _g ?: "(null)", _w ?: "(null)");                          \
		}                                                                              \
	} while (0)

static void begin(void)
{
	current_ok = true;
}

static void end(const char *name)
{
	n_tests++;
	if (!current_ok)
		n_failed++;
	printf("%sok %u - %s\n", current_ok ? "" : "not ", n_tests, name);
}

static void bail_out(const char *what)
{
	printf("Bail out! %s: %s\n", what, strerror(errno));
	exit(2);
}

static struct license *load(const char *yaml)
{
	char path[sizeof(tmpdir) + 32], msg[1024];
	struct license_error err;
	struct license *l = NULL;
	FILE *f;

	snprintf(path, sizeof(path), "%s/l.yaml", tmpdir);
	f = fopen(path, "we");
	if (!f || fputs(yaml, f) < 0 || fclose(f) != 0)
		bail_out(path);
	if (license_parse_file(path, &l, &err) < 0) {
		license_error_format(&err, msg, sizeof(msg));
		printf("#   licence does not parse: %s\n", msg);
		current_ok = false;
		return NULL;
	}
	return l;
}

/* "kind|subject" of each violation (level 0), joined by ", ", in order. */
static const char *kinds(const struct eval_result *res, unsigned level)
{
	static char buf[2048];
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < res->n_findings && len < sizeof(buf); i++)
		if (res->findings[i].level == level)
			len += snprintf(buf + len, sizeof(buf) - len, "%s%s|%s", len ? ", " : "",
					res->findings[i].kind, res->findings[i].subject);
	return buf;
}

static const struct eval_term *term(const struct eval_result *res, const char *name)
{
	for (size_t i = 0; i < res->n_terms; i++)
		if (strcmp(res->terms[i].term, name) == 0)
			return &res->terms[i];
	return NULL;
}

#define HEADER                 \
	"license:\n"           \
	"  id: T-1\n"          \
	"  regime: internal\n" \
	"  valid: { from: 2026-01-01, until: 2026-12-31 }\n"

/* ---- process terms ---- */

static void test_process_terms(void)
{
	const char *groups[] = { "hpc-eu" };
	struct license *l;
	struct eval_result res = {};
	struct eval_process p = { .pid = 10, .uid = 1001, .user = "mallory", .exe = "/usr/bin/x" };

	begin();
	l = load(HEADER "  principals: { users: [alice], groups: [hpc-eu] }\n"
			"  end_use:\n"
			"    prohibited_executables: [\"*/facerec*\"]\n"
			"    allowed_executables: [\"/usr/bin/*\", \"/opt/app/*\"]\n");
	if (!l) {
		end("process terms");
		return;
	}
	CHECK_INT(evaluate_process(l, &p, &res), 0);
	CHECK_STR(kinds(&res, 0), "unpermitted-user|mallory");
	eval_result_done(&res);

	p.user = "alice";
	evaluate_process(l, &p, &res);
	CHECK_STR(kinds(&res, 0), "");
	eval_result_done(&res);

	p.user = "bob";
	p.groups = groups;
	p.n_groups = 1;
	evaluate_process(l, &p, &res);
	CHECK_STR(kinds(&res, 0), "");
	eval_result_done(&res);

	p.exe = "/opt/app/facerec-2";
	evaluate_process(l, &p, &res);
	CHECK_STR(kinds(&res, 0), "prohibited-executable|bob");
	eval_result_done(&res);

	p.exe = "/home/bob/miner";
	evaluate_process(l, &p, &res);
	CHECK_STR(kinds(&res, 0), "unlisted-executable|bob");
	eval_result_done(&res);

	/* Run through a symlink in an allowed place: allowed by the name it was run by. */
	p.filename = "/opt/app/miner";
	evaluate_process(l, &p, &res);
	CHECK_STR(kinds(&res, 0), "");
	eval_result_done(&res);

	/* System accounts are exempt from principals, not from executables. */
	p.filename = NULL;
	p.user = "daemon";
	p.n_groups = 0;
	p.exempt = true;
	evaluate_process(l, &p, &res);
	CHECK_STR(kinds(&res, 0), "unlisted-executable|daemon");
	eval_result_done(&res);
	license_free(l);
	end("process terms: principals, prohibited and allowed executables, exempt accounts");
}

/* A digest catches the content whatever the name; a script's digest is its own, not its
 * interpreter's. The licence's digest may be upper-case. */
static void test_process_digests(void)
{
	static const char sha[] =
		"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
	struct eval_process p = {
		.pid = 7, .uid = 0, .user = "root", .exe = "/tmp/innocent", .exempt = true
	};
	struct eval_result res = {};
	struct license *l;

	begin();
	l = load(HEADER
		 "  end_use:\n"
		 "    prohibited_executable_sha256:\n"
		 "      - 9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08\n");
	if (!l) {
		end("process digests");
		return;
	}
	evaluate_process(l, &p, &res);
	CHECK_STR(kinds(&res, 0), "");
	eval_result_done(&res);

	p.exe_sha256 = sha;
	evaluate_process(l, &p, &res);
	CHECK_STR(kinds(&res, 0), "prohibited-executable|root");
	CHECK_STR(res.n_findings ? res.findings[0].term : "",
		  "end_use.prohibited_executable_sha256");
	eval_result_done(&res);

	p.exe = "/usr/bin/python3";
	p.exe_sha256 = "0000000000000000000000000000000000000000000000000000000000000000";
	p.filename = "/tmp/x/innocent.py";
	p.run_sha256 = sha;
	evaluate_process(l, &p, &res);
	CHECK_STR(kinds(&res, 0), "prohibited-executable|root");
	CHECK_INT(res.n_findings && strstr(res.findings[0].detail, "the script it runs") != NULL,
		  1);
	eval_result_done(&res);
	license_free(l);
	end("process terms: prohibited SHA-256 of the executable and of a script");
}

/* The detail of the one finding of res ("" when not exactly one). */
static const char *detail(const struct eval_result *res)
{
	return res->n_findings == 1 ? res->findings[0].detail : "";
}

static void test_remote_access(void)
{
	struct eval_origin ssh = { .host = "192.0.2.10",
				   .address = "192.0.2.10",
				   .address_state = EVAL_ADDRESS_KNOWN,
				   .via = "sshd session 7" };
	struct eval_process p = { .pid = 1, .uid = 1000, .user = "a", .exe = "/opt/of/simpleFoam" };
	struct eval_result res = {};
	struct license *l;

	begin();
	l = load(HEADER "  principals:\n"
			"    users: [a]\n"
			"    remote_access: { allowed: true, computational_access: limited,"
			" applications: [\"*/simpleFoam\", \"*/run-*.sh\"] }\n");
	if (l) {
		evaluate_process(l, &p, &res);
		CHECK_STR(kinds(&res, 0), ""); /* local */
		eval_result_done(&res);
		p.origin = &ssh;
		evaluate_process(l, &p, &res);
		CHECK_STR(kinds(&res, 0), ""); /* a listed application */
		eval_result_done(&res);
		p.exe = "/usr/bin/python3";
		evaluate_process(l, &p, &res);
		CHECK_STR(kinds(&res, 0), "remote-access|a");
		CHECK_STR(detail(&res), "remote access is limited to the listed applications; "
					"/usr/bin/python3 is not one (user a from 192.0.2.10, "
					"sshd session 7)");
		eval_result_done(&res);
		/* A script run by a listed name: its executable is the interpreter. */
		p.exe = "/usr/bin/bash";
		p.filename = "/opt/of/run-case.sh";
		evaluate_process(l, &p, &res);
		CHECK_STR(kinds(&res, 0), "");
		eval_result_done(&res);
		p.filename = NULL;
		license_free(l);
	}
	p.exe = "/usr/bin/python3";
	l = load(HEADER "  principals: { users: [a], remote_access: { allowed: false } }\n");
	if (l) {
		evaluate_process(l, &p, &res);
		CHECK_STR(kinds(&res, 0), "remote-access|a");
		CHECK_STR(detail(&res), "remote access is not allowed by the licence: user a from "
					"192.0.2.10, sshd session 7");
		eval_result_done(&res);
		/* A system account (root) that logs in remotely is remote access all the same. */
		p.exempt = true;
		evaluate_process(l, &p, &res);
		CHECK_STR(kinds(&res, 0), "remote-access|a");
		eval_result_done(&res);
		p.exempt = false;
		p.origin = NULL;
		evaluate_process(l, &p, &res);
		CHECK_STR(kinds(&res, 0), "");
		eval_result_done(&res);
		license_free(l);
	}
	end("remote access: none, and limited to listed applications (or the script run by one)");
}

static void test_remote_from(void)
{
	struct eval_origin o = { .host = "login.example.no", .via = "sshd session 3" };
	struct eval_process p = {
		.pid = 1, .uid = 1000, .user = "a", .exe = "/opt/of/simpleFoam", .origin = &o
	};
	struct eval_result res = {};
	struct license *l;

	begin();
	l = load(HEADER "  principals:\n"
			"    users: [a]\n"
			"    remote_access:\n"
			"      allowed: true\n"
			"      computational_access: limited\n"
			"      applications: [\"*/simpleFoam\"]\n"
			"      from:\n"
			"        - { country: NO, networks: [10.20.0.0/16, \"2001:db8::/32\"] }\n");
	if (!l) {
		end("remote access: from networks");
		return;
	}
	o.address = "10.20.3.4";
	o.address_state = EVAL_ADDRESS_KNOWN;
	evaluate_process(l, &p, &res);
	CHECK_STR(kinds(&res, 0), "");
	eval_result_done(&res);
	o.address = "2001:db8::99";
	evaluate_process(l, &p, &res);
	CHECK_STR(kinds(&res, 0), "");
	eval_result_done(&res);
	o.address = "10.21.0.1";
	evaluate_process(l, &p, &res);
	CHECK_STR(kinds(&res, 0), "remote-access|a");
	CHECK_STR(detail(&res), "remote access from 10.21.0.1 is not from a network the licence "
				"lists (user a from login.example.no (10.21.0.1), sshd session 3)");
	eval_result_done(&res);
	/* A name being resolved is not judged yet; one that did not resolve is never allowed. */
	o.address = NULL;
	o.address_state = EVAL_ADDRESS_PENDING;
	evaluate_process(l, &p, &res);
	CHECK_STR(kinds(&res, 0), "");
	eval_result_done(&res);
	o.address_state = EVAL_ADDRESS_UNRESOLVED;
	evaluate_process(l, &p, &res);
	CHECK_STR(kinds(&res, 0), "remote-access|a");
	CHECK_STR(detail(&res), "remote host login.example.no did not resolve: unresolved, not "
				"from a network the licence lists (user a from login.example.no "
				"(unresolved), sshd session 3)");
	eval_result_done(&res);
	/* Both wrong: an unlisted program from an unlisted network, two violations. */
	p.exe = "/usr/bin/python3";
	o.address = "198.51.100.1";
	o.address_state = EVAL_ADDRESS_KNOWN;
	evaluate_process(l, &p, &res);
	CHECK_STR(kinds(&res, 0), "remote-access|a, remote-access|a");
	CHECK(res.n_findings == 2 && strcmp(res.findings[0].key, res.findings[1].key) != 0);
	CHECK(res.n_findings == 2 && strstr(res.findings[0].key, "login.example.no"));
	eval_result_done(&res);

	/* The term's standing: the processes of now, and "not evaluated" where sessions are not
	 * identified. */
	struct eval_process procs[] = { p, { .pid = 2, .uid = 1000, .user = "a", .exe = "/x" } };
	struct eval_input in = {
		.now = T_2026_06_15_1200, .hostname = "n", .procs = procs, .n_procs = 2
	};
	evaluate_license(l, &in, &res);
	CHECK(term(&res, "principals.remote_access") &&
	      term(&res, "principals.remote_access")->state == EVAL_VIOLATED);
	CHECK(term(&res, "principals.remote_access") &&
	      strstr(term(&res, "principals.remote_access")->text,
		     "limited to 1 listed application(s), from networks in NO") &&
	      strstr(term(&res, "principals.remote_access")->text, "now 1 remote process(es)"));
	eval_result_done(&res);
	o.address = "10.20.0.1";
	procs[0].exe = "/opt/of/simpleFoam";
	evaluate_license(l, &in, &res);
	CHECK(term(&res, "principals.remote_access") &&
	      term(&res, "principals.remote_access")->state == EVAL_OK);
	eval_result_done(&res);
	in.sessions_unknown = "the kernel has no audit sessions";
	evaluate_license(l, &in, &res);
	CHECK(term(&res, "principals.remote_access") &&
	      term(&res, "principals.remote_access")->state == EVAL_NOT_EVALUATED);
	eval_result_done(&res);
	license_free(l);
	end("remote access: from networks (IPv4, IPv6, unresolved, pending) and the term's "
	    "standing");
}

/* ---- validity ---- */

static void test_validity(void)
{
	struct eval_input in = { .hostname = "n1" };
	struct eval_result res = {};
	struct license *l;

	begin();
	l = load(HEADER);
	if (!l) {
		end("validity");
		return;
	}
	in.now = l->valid_until;
	evaluate_license(l, &in, &res);
	CHECK_STR(kinds(&res, 0), "");
	CHECK(term(&res, "valid") && term(&res, "valid")->state == EVAL_OK);
	eval_result_done(&res);

	in.now = l->valid_until + 1; /* one second after expiry */
	evaluate_license(l, &in, &res);
	CHECK_STR(kinds(&res, 0), "license-not-valid|");
	CHECK(term(&res, "valid") && term(&res, "valid")->state == EVAL_VIOLATED);
	eval_result_done(&res);

	in.now = l->valid_from - 1;
	evaluate_license(l, &in, &res);
	CHECK_STR(kinds(&res, 0), "license-not-valid|");
	eval_result_done(&res);
	in.now = l->valid_from;
	evaluate_license(l, &in, &res);
	CHECK_STR(kinds(&res, 0), "");
	eval_result_done(&res);
	license_free(l);
	end("validity: in force through the last second, violated one second after expiry");
}

/* ---- destination and hardware ---- */

static void test_node(void)
{
	struct eval_accelerator accels[] = {
		{ "nvidia", "2330", "0000:17:00.0", "GPU-11111111-2222-3333-4444-555555555555" },
		{ "nvidia", "2330", "0000:18:00.0", NULL },
	};
	struct eval_input in = { .now = T_2026_06_15_1200,
				 .hostname = "gpu01",
				 .machine_id = "0123456789abcdef0123456789abcdef",
				 .inventory_known = true,
				 .accels = accels,
				 .n_accels = 1 };
	struct eval_result res = {};
	struct license *l;

	begin();
	l = load(HEADER "  destination:\n"
			"    hostnames: [gpu01, gpu02]\n"
			"    machine_ids: [0123456789abcdef0123456789abcdef]\n"
			"    pci_bus_ids: [\"0000:17:00.0\"]\n"
			"  hardware:\n"
			"    - { vendor: nvidia, model: H100, count: 1 }\n");
	if (!l) {
		end("node");
		return;
	}
	evaluate_license(l, &in, &res);
	CHECK_STR(kinds(&res, 0), "");
	eval_result_done(&res);

	in.hostname = "elsewhere";
	in.machine_id = "ffffffffffffffffffffffffffffffff";
	evaluate_license(l, &in, &res);
	CHECK_STR(kinds(&res, 0), "node-binding|, node-binding|");
	eval_result_done(&res);

	/* A second GPU appears: undeclared hardware and outside the bus-id binding. */
	in.hostname = "gpu02";
	in.machine_id = "0123456789abcdef0123456789abcdef";
	in.n_accels = 2;
	evaluate_license(l, &in, &res);
	CHECK_STR(kinds(&res, 0), "node-binding|, hardware-undeclared|");
	CHECK(term(&res, "hardware") && term(&res, "hardware")->state == EVAL_VIOLATED);
	eval_result_done(&res);

	/* A GPU gone is not a violation. */
	in.n_accels = 0;
	evaluate_license(l, &in, &res);
	CHECK_STR(kinds(&res, 0), "");
	eval_result_done(&res);

	/* No inventory: the hardware term says it cannot be evaluated. */
	in.inventory_known = false;
	evaluate_license(l, &in, &res);
	CHECK(term(&res, "hardware") && term(&res, "hardware")->state == EVAL_NOT_EVALUATED);
	eval_result_done(&res);
	license_free(l);
	end("destination and hardware: host, machine id, bus id, an added GPU");
}

static void test_jobs(void)
{
	struct eval_process procs[] = {
		{ .pid = 1, .uid = 1000, .user = "a", .exe = "/x", .job = "101" },
		{ .pid = 2, .uid = 1000, .user = "a", .exe = "/x", .job = "101" },
		{ .pid = 3, .uid = 1000, .user = "a", .exe = "/x", .job = "102" },
		{ .pid = 4, .uid = 1000, .user = "a", .exe = "/x", .job = "103" },
		{ .pid = 5, .uid = 1000, .user = "a", .exe = "/x", .job = "104" },
	};
	struct eval_origin login = { .host = "login-7.example.org",
				     .address_state = EVAL_ADDRESS_PENDING };
	struct eval_job jobs[] = {
		{ "101", "cfd-1", NULL, NULL, NULL }, /* fine */
		{ "102", "other", NULL, NULL, &login }, /* not a permitted account */
		{ "103", "cfd-2", NULL, "train llm", NULL }, /* declares a prohibited use */
		{ "104", "cfd-3", "x", NULL, NULL },
	};
	struct eval_input in = {
		.now = T_2026_06_15_1200, .hostname = "n", .procs = procs, .n_procs = 5
	};
	struct eval_result res = {};
	struct license *l;

	begin();
	l = load(HEADER "  principals: { users: [a], accounts: [cfd-1, cfd-2, cfd-3] }\n"
			"  end_use:\n"
			"    permitted: [civil-cfd]\n"
			"    prohibited: [ai-training]\n"
			"    job_declaration_required: true\n"
			"    declarations:\n"
			"      - { from: comment, match: \"*llm*\", end_use: ai-training }\n"
			"      - { from: account, match: \"cfd-[12]\", end_use: civil-cfd }\n");
	if (!l) {
		end("jobs");
		return;
	}
	evaluate_license(l, &in, &res);
	CHECK_STR(kinds(&res, 0), "");
	CHECK(term(&res, "jobs") && term(&res, "jobs")->state == EVAL_NOT_EVALUATED);
	eval_result_done(&res);

	in.jobs_known = true;
	in.jobs = jobs;
	in.n_jobs = 4;
	evaluate_license(l, &in, &res);
	CHECK_STR(kinds(&res, 0),
		  "unpermitted-account|102, undeclared-end-use|102, prohibited-end-use|103, "
		  "undeclared-end-use|104");
	CHECK(res.n_findings > 0 &&
	      strstr(res.findings[0].detail, " (submitted from login-7.example.org)"));
	eval_result_done(&res);
	license_free(l);
	end("jobs: accounts and declared end use, and 'not evaluated' without job information");
}

/* ---- caps over a real ledger ---- */

static struct ledger *ledger;
static sqlite3 *db;

static void add_usage(int64_t start, int64_t end_sec, const char *job, uint32_t uid,
		      const char *user, uint64_t cpu_ns)
{
	int64_t id;

	if (ledger_add_interval(ledger, start * USEC, end_sec * USEC, &id) < 0 ||
	    ledger_add_usage(ledger, id, "/x", 1, job, uid, user, cpu_ns) < 0 ||
	    ledger_commit(ledger) < 0)
		bail_out("ledger");
}

/* What a cap observer was told, as "cap:subject=value" and "cap:N subjects, highest H". */
static char observed[2048];

static void observe(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void observe(const char *fmt, ...)
{
	size_t n = strlen(observed);
	va_list ap;

	if (n)
		n += snprintf(observed + n, sizeof(observed) - n, "; ");
	va_start(ap, fmt);
	vsnprintf(observed + n, sizeof(observed) - n, fmt, ap);
	va_end(ap);
}

static void observe_subject(void *ud, const struct license *l, const struct license_cap *c,
			    const char *subject, double value)
{
	observe("%s:%s=%.12g", c->id, subject, value);
}

static void observe_evaluated(void *ud, const struct license *l, const struct license_cap *c,
			      unsigned n_subjects, double highest)
{
	observe("%s:%u subjects, highest %.12g", c->id, n_subjects, highest);
}

static const struct eval_cap_observer observer = { observe_subject, observe_evaluated };

static void eval_caps(const struct license *l, int64_t now, struct eval_result *res)
{
	struct eval_input in = { .now = now,
				 .hostname = "n",
				 .usage = ledger_query_usage,
				 .usage_userdata = db,
				 .cap_observer = &observer };

	memset(res, 0, sizeof(*res));
	observed[0] = '\0';
	CHECK_INT(evaluate_license(l, &in, res), 0);
}

static void test_caps(void)
{
	struct eval_result res;
	struct license *l;
	char path[sizeof(tmpdir) + 32], err[256];

	begin();
	snprintf(path, sizeof(path), "%s/state", tmpdir);
	if (ledger_open(path, &ledger, err, sizeof(err)) < 0)
		bail_out(err);
	snprintf(path, sizeof(path), "%s/state/ledger.sqlite", tmpdir);
	if (ledger_query_open_readonly(path, &db) < 0)
		bail_out("open read-only");

	/* alice: exactly 100 s in job 7; bob: 60 s + 40.000000001 s in job 8 and none. */
	add_usage(T_2026_06_15_1200 - 20, T_2026_06_15_1200 - 10, "7", 1000, "alice",
		  UINT64_C(100000000000));
	add_usage(T_2026_06_15_1200 - 10, T_2026_06_15_1200 - 5, "8", 1001, "bob",
		  UINT64_C(60000000000));
	add_usage(T_2026_06_15_1200 - 5, T_2026_06_15_1200, "", 1001, "bob", UINT64_C(40000000001));
	/* The batch system announced job 7 under account physics and job 8 under chemistry. */
	for (int i = 0; i < 2; i++) {
		struct job_info ji = { .uid = UINT32_MAX,
				       .start_usec = (uint64_t)(T_2026_06_15_1200 - 30) * USEC };
		const char *why;

		strcpy(ji.id, i ? "8" : "7");
		if (job_info_set(&ji, "account", i ? "chemistry" : "physics", 0, &why) < 0 ||
		    ledger_store_job(ledger, &ji) < 0)
			bail_out("job announcement");
		job_info_clear(&ji);
	}

	l = load(
		HEADER
		"  caps:\n"
		"    - { id: u, metric: cpu_seconds, scope: user, period: validity, limit: 100 }\n"
		"    - { id: j, metric: cpu_seconds, scope: job, period: run, limit: 120 }\n"
		"    - { id: all, metric: cpu_seconds, scope: license, period: day, limit: 250 }\n"
		"    - { id: acct, metric: cpu_seconds, scope: account, period: day, limit: 110 }\n"
		"    - { id: gpu, metric: gpu_seconds, scope: user, period: day, limit: 1 }\n");
	if (!l) {
		end("caps");
		return;
	}
	eval_caps(l, T_2026_06_15_1200, &res);
	/* alice at exactly the cap: approaching 95 %, no violation; bob 1 ns over: violated. */
	CHECK_STR(kinds(&res, 0), "cap-exceeded|bob (uid 1001)");
	CHECK_STR(kinds(&res, 95),
		  "cap-approaching|alice (uid 1000), cap-approaching|bob (uid 1001)");
	/* job 7 at 100 of 120 s, the licence at 200 of 250 s, account physics at 100 of 110 s */
	CHECK_STR(kinds(&res, 80), "cap-approaching|7, cap-approaching|, cap-approaching|physics");
	CHECK(term(&res, "caps.u") && term(&res, "caps.u")->state == EVAL_VIOLATED);
	CHECK(term(&res, "caps.j") && term(&res, "caps.j")->state == EVAL_APPROACHING);
	CHECK(term(&res, "caps.acct") && term(&res, "caps.acct")->state == EVAL_APPROACHING);
	/* The ledger has the GPU meter's table (empty so far): the GPU cap is evaluated. */
	CHECK(term(&res, "caps.gpu") && term(&res, "caps.gpu")->state == EVAL_OK);
	/* The uid in a per-user subject, for the daemon's metrics. */
	uint32_t uid = 0;
	CHECK(usage_subject_uid("alice (uid 1000)", &uid) == 0 && uid == 1000);
	CHECK(usage_subject_uid("odd (uid 5) name (uid 7)", &uid) == 0 && uid == 7);
	CHECK(usage_subject_uid("alice", &uid) == -EINVAL);
	CHECK(usage_subject_uid("alice (uid 10x)", &uid) == -EINVAL);
	CHECK(usage_subject_uid("alice (uid 99999999999)", &uid) == -EINVAL);
	/* An observer (the daemon's metrics) is told every subject's figure, below 80 % too,
	 * and each cap's count and highest value. */
	CHECK_STR(observed, "u:alice (uid 1000)=100; u:bob (uid 1001)=100.000000001; "
			    "u:2 subjects, highest 100.000000001; j:7=100; j:8=60; "
			    "j:2 subjects, highest 100; all:=200.000000001; "
			    "all:1 subjects, highest 200.000000001; acct:chemistry=60; "
			    "acct:physics=100; acct:2 subjects, highest 100; "
			    "gpu:0 subjects, highest 0");
	for (size_t i = 0; i < res.n_findings; i++)
		if (res.findings[i].level == 0) {
			CHECK(fabs(res.findings[i].measured - 100.000000001) < 1e-6);
			CHECK(res.findings[i].limit == 100);
		}
	eval_result_done(&res);

	/* GPU usage in the GPU meter's table: the GPU cap sees it. */
	{
		char sql[256];
		sqlite3 *rw;
		int64_t id;

		if (ledger_add_interval(ledger, (T_2026_06_15_1200 - 3) * USEC,
					(T_2026_06_15_1200 - 2) * USEC, &id) < 0 ||
		    ledger_commit(ledger) < 0)
			bail_out("interval");
		snprintf(
			sql, sizeof(sql),
			"INSERT INTO gpu_usage VALUES (%lld, '/x', 1, '7', 1000, 'alice', 2000000000,"
			" 31664, 1.9e15, 0, 10, 1000, 0, 0, 0, 1)",
			(long long)id);
		snprintf(path, sizeof(path), "%s/state/ledger.sqlite", tmpdir);
		if (sqlite3_open(path, &rw) != SQLITE_OK ||
		    sqlite3_exec(rw, sql, NULL, NULL, NULL) != SQLITE_OK)
			bail_out("gpu_usage");
		sqlite3_close(rw);
	}
	eval_caps(l, T_2026_06_15_1200, &res);
	CHECK(term(&res, "caps.gpu") && term(&res, "caps.gpu")->state == EVAL_VIOLATED);
	for (size_t i = 0; i < res.n_findings; i++)
		if (res.findings[i].level == 0 && strcmp(res.findings[i].term, "caps.gpu") == 0) {
			CHECK_STR(res.findings[i].subject, "alice (uid 1000)");
			CHECK(res.findings[i].measured == 2.0);
		}
	eval_result_done(&res);

	/* The next day: the day cap starts again from nothing. */
	eval_caps(l, T_2026_06_15_1200 + 86400, &res);
	CHECK_STR(kinds(&res, 80), "cap-approaching|7");
	eval_result_done(&res);
	license_free(l);
	end("caps: exactly at the cap is within it, above raises; scopes user, job, license, "
	    "account (from announced jobs), GPU metrics");
}

static void test_period_timezone(void)
{
	struct eval_result res;
	struct license *l;

	begin();
	/* DST ends in Berlin on 2026-10-25: October starts at +02:00, November at +01:00. */
	CHECK_INT(eval_period_start(LICENSE_PERIOD_CALENDAR_MONTH, "Europe/Berlin",
				    T_2026_10_31_1200),
		  T_2026_09_30_2200);
	CHECK_INT(eval_period_start(LICENSE_PERIOD_CALENDAR_MONTH, "Europe/Berlin",
				    T_2026_10_31_2330),
		  T_2026_10_31_2300);
	CHECK_INT(eval_period_start(LICENSE_PERIOD_CALENDAR_MONTH, NULL, T_2026_10_31_2330),
		  T_2026_10_01_0000);
	CHECK_INT(eval_period_start(LICENSE_PERIOD_DAY, "Europe/Berlin", T_2026_10_31_2330),
		  T_2026_10_31_2300);
	CHECK(getenv("TZ") == NULL || strcmp(getenv("TZ"), "Europe/Berlin") != 0);

	/* 30 s used in Berlin's October (22:30Z), 10 s in Berlin's November (23:15Z). */
	add_usage(T_2026_10_31_2230 - 10, T_2026_10_31_2230, "", 2000, "carol",
		  UINT64_C(30000000000));
	add_usage(T_2026_10_31_2315 - 10, T_2026_10_31_2315, "", 2000, "carol",
		  UINT64_C(10000000000));
	l = load(HEADER
		 "  timezone: Europe/Berlin\n"
		 "  caps: [{ id: m, metric: cpu_seconds, scope: user, period: calendar-month,"
		 " limit: 35 }]\n");
	if (l) {
		eval_caps(l, T_2026_10_31_2330, &res);
		CHECK_STR(kinds(&res, 0), ""); /* only November's 10 s count */
		CHECK_STR(kinds(&res, 80), "");
		eval_result_done(&res);
		eval_caps(l, T_2026_10_31_2230 + 60, &res); /* still October in Berlin */
		CHECK_STR(kinds(&res, 80), "cap-approaching|carol (uid 2000)");
		eval_result_done(&res);
		license_free(l);
	}
	l = load(HEADER
		 "  caps: [{ id: m, metric: cpu_seconds, scope: user, period: calendar-month,"
		 " limit: 35 }]\n");
	if (l) {
		eval_caps(l, T_2026_10_31_2330, &res); /* in UTC both are October */
		CHECK_STR(kinds(&res, 0), "cap-exceeded|carol (uid 2000)");
		eval_result_done(&res);
		license_free(l);
	}
	end("calendar-month rollover in the licence's time zone across a DST change");
}

struct sums {
	char text[1024];
	size_t len;
};

static int collect(const char *subject, double value, void *ud)
{
	struct sums *s = ud;

	s->len += snprintf(s->text + s->len, sizeof(s->text) - s->len, "%s=%.9g;", subject, value);
	return 0;
}

/* The incremental cache must give what a full scan gives, call after call, as intervals are
 * added, when the period changes and when asked about an earlier moment. */
static void test_usage_cache(void)
{
	static const enum license_cap_scope scopes[] = { LICENSE_SCOPE_JOB, LICENSE_SCOPE_USER,
							 LICENSE_SCOPE_LICENSE };
	struct usage_cache *cache;
	const int64_t t0 = T_2026_06_15_1200 + 7 * 86400;
	const int64_t asks[][2] = { { 0, t0 + 30 },	  { 0, t0 + 60 },  { 0, t0 + 61 },
				    { t0 + 40, t0 + 90 }, { 0, t0 + 120 }, { 0, t0 + 50 } };

	begin();
	CHECK_INT(usage_cache_new(db, &cache), 0);
	for (size_t a = 0; a < sizeof(asks) / sizeof(asks[0]); a++) {
		/* New usage before each question, one interval with an end in the future. */
		add_usage(t0 + 10 * (int64_t)a, t0 + 10 * (int64_t)a + 10, a % 2 ? "9" : "10",
			  3000 + a % 3, "dave", UINT64_C(1500000000) * (a + 1));
		if (a == 2)
			add_usage(t0 + 500, t0 + 1000, "11", 3000, "dave", UINT64_C(7000000000));
		for (size_t k = 0; k < 3; k++) {
			struct sums full = {}, inc = {};
			uint64_t from = (uint64_t)asks[a][0] * USEC,
				 to = (uint64_t)asks[a][1] * USEC;

			CHECK_INT(ledger_query_usage(db, "cpu_seconds", scopes[k], from, to,
						     collect, &full),
				  0);
			CHECK_INT(usage_cache_query(cache, "cpu_seconds", scopes[k], from, to,
						    collect, &inc),
				  0);
			CHECK_STR(inc.text, full.text);
		}
	}
	CHECK_INT(usage_cache_query(cache, "no_such_metric", LICENSE_SCOPE_JOB, 0, 1, collect,
				    NULL),
		  -EOPNOTSUPP);
	/* accounts come from the jobs_announced table, which this ledger has */
	CHECK_INT(usage_cache_query(cache, "cpu_seconds", LICENSE_SCOPE_ACCOUNT, 0, 1, collect,
				    NULL),
		  0);
	usage_cache_free(cache);
	end("usage cache: incremental sums equal a full scan as intervals arrive");
}

/* scope project: a job's wckey, else "project=NAME" at the start of its comment; the jobs of
 * one project summed across jobs; usage of jobs without a project counts for none. */
static void test_project_scope(void)
{
	struct job_info j = { .scheduler = (char *)"slurm", .user = (char *)"erin", .uid = 4000 };
	const int64_t t0 = T_2026_06_15_1200 + 30 * 86400;
	struct eval_result res;
	struct license *l;
	char buf[64];

	begin();
	license_job_project("llm-7b", "project=other", buf, sizeof(buf));
	CHECK_STR(buf, "llm-7b");
	license_job_project("", "project=llm-70b, run 3", buf, sizeof(buf));
	CHECK_STR(buf, "llm-70b");
	license_job_project(NULL, "training for project=x", buf, sizeof(buf));
	CHECK_STR(buf, "");
	/* jobs 501 and 502 of project llm-a (wckey, comment), 503 of none */
	snprintf(j.id, sizeof(j.id), "501");
	j.wckey = (char *)"llm-a";
	j.comment = (char *)"";
	j.account = (char *)"a";
	j.partition = j.gpus = j.nodes = (char *)"";
	j.start_usec = (uint64_t)(t0 - 100) * USEC;
	CHECK_INT(ledger_store_job(ledger, &j), 0);
	snprintf(j.id, sizeof(j.id), "502");
	j.row = 0;
	j.wckey = (char *)"";
	j.comment = (char *)"project=llm-a";
	CHECK_INT(ledger_store_job(ledger, &j), 0);
	snprintf(j.id, sizeof(j.id), "503");
	j.row = 0;
	j.comment = (char *)"no project here";
	CHECK_INT(ledger_store_job(ledger, &j), 0);
	add_usage(t0, t0 + 10, "501", 4000, "erin", UINT64_C(2000000000));
	add_usage(t0 + 10, t0 + 20, "502", 4000, "erin", UINT64_C(2000000000));
	add_usage(t0 + 20, t0 + 30, "503", 4000, "erin", UINT64_C(9000000000));
	l = load(HEADER "  caps: [{ id: p, metric: cpu_seconds, scope: project, period: validity,"
			" limit: 3.5 }]\n");
	if (l) {
		eval_caps(l, t0 + 40, &res);
		CHECK_STR(kinds(&res, 0), "cap-exceeded|llm-a");
		eval_result_done(&res);
		license_free(l);
	}
	end("scope project: wckey or comment, summed across the project's jobs");
}

/* ---- lifecycle ---- */

struct calls {
	char log[2048];
	size_t len;
	uint64_t next_seq;
};

static uint64_t t_raise(const struct eval_finding *f, void *ud)
{
	struct calls *c = ud;

	c->len += snprintf(c->log + c->len, sizeof(c->log) - c->len, "raise %s#%llu;", f->kind,
			   (unsigned long long)++c->next_seq);
	return c->next_seq;
}

static void t_clear(uint64_t seq, const char *key, void *ud)
{
	struct calls *c = ud;

	c->len += snprintf(c->log + c->len, sizeof(c->log) - c->len, "clear #%llu;",
			   (unsigned long long)seq);
}

static void t_approach(const struct eval_finding *f, void *ud)
{
	struct calls *c = ud;

	c->len += snprintf(c->log + c->len, sizeof(c->log) - c->len, "approach %u;", f->level);
}

static const struct eval_tracker_ops t_ops = { t_raise, t_clear, t_approach };

static void set_findings(struct eval_result *res, size_t n, const char *const *keys,
			 const unsigned *levels)
{
	static struct eval_finding f[8];

	memset(res, 0, sizeof(*res));
	for (size_t i = 0; i < n; i++) {
		memset(&f[i], 0, sizeof(f[i]));
		snprintf(f[i].key, sizeof(f[i].key), "%s", keys[i]);
		snprintf(f[i].kind, sizeof(f[i].kind), "k");
		f[i].level = levels[i];
	}
	res->findings = f;
	res->n_findings = n;
}

static void test_lifecycle(void)
{
	const char *keys[] = { "cap|a", "cap|a", "x|b" };
	unsigned lv80[] = { 80 }, lv95[] = { 95 }, exceeded[] = { 95, 0, 0 };
	struct eval_tracker *t;
	struct eval_result res;
	struct calls c = {};

	begin();
	CHECK_INT(eval_tracker_new(&t), 0);
	set_findings(&res, 1, keys, lv80);
	eval_tracker_update(t, &res, &t_ops, &c);
	eval_tracker_update(t, &res, &t_ops, &c); /* again: nothing new */
	set_findings(&res, 1, keys, lv95);
	eval_tracker_update(t, &res, &t_ops, &c);
	set_findings(&res, 3, keys, exceeded);
	eval_tracker_update(t, &res, &t_ops, &c);
	eval_tracker_update(t, &res, &t_ops, &c); /* deduplicated */
	CHECK_INT(eval_tracker_open(t), 2);
	set_findings(&res, 1, keys + 2, exceeded + 2); /* the cap's condition ended */
	eval_tracker_update(t, &res, &t_ops, &c);
	set_findings(&res, 0, keys, exceeded);
	eval_tracker_update(t, &res, &t_ops, &c);
	CHECK_INT(eval_tracker_open(t), 0);
	CHECK_STR(c.log, "approach 80;approach 95;raise k#1;raise k#2;clear #1;clear #2;");

	/* A jump from nothing to over the cap announces both levels, then the violation. */
	c = (struct calls){};
	set_findings(&res, 2, keys, exceeded);
	eval_tracker_update(t, &res, &t_ops, &c);
	CHECK_STR(c.log, "approach 80;approach 95;raise k#1;");

	/* A violation adopted from the ledger after a restart is not raised again. */
	eval_tracker_free(t);
	c = (struct calls){};
	CHECK_INT(eval_tracker_new(&t), 0);
	CHECK_INT(eval_tracker_adopt(t, "x|b", 41), 0);
	set_findings(&res, 1, keys + 2, exceeded + 2);
	eval_tracker_update(t, &res, &t_ops, &c);
	set_findings(&res, 0, keys, exceeded);
	eval_tracker_update(t, &res, &t_ops, &c);
	CHECK_STR(c.log, "clear #41;");
	eval_tracker_free(t);
	end("lifecycle: raised once, cleared when the condition ends, approach levels in order");
}

/* ---- registry ---- */

static void test_registry(void)
{
	struct threshold_registry *r = NULL;
	struct license_error err;
	struct license *l;

	begin();
	CHECK_INT(threshold_registry_load("data/thresholds.yaml", &r, &err), 0);
	if (r) {
		const struct threshold *t = threshold_find(r, "eu-aiact-51");

		CHECK(t && t->value == 1e25 && t->status == THRESHOLD_IN_FORCE);
		t = threshold_find(r, "us-eo14110-model");
		CHECK(t && t->status == THRESHOLD_REVOKED);
		threshold_registry_free(r);
	}
	l = load(
		HEADER
		"  caps:\n"
		"    - { metric: ops_upper, scope: job, period: run, limit_ref: eu-aiact-51 }\n"
		"    - { metric: ops_upper, scope: job, period: run, limit_ref: us-eo14110-model }\n");
	if (l) {
		CHECK(l->n_caps == 2 && l->caps[0].limit == 1e25 && l->caps[1].limit == 1e26);
		CHECK_INT(l->n_warnings, 1);
		if (l->n_warnings == 1) {
			CHECK_INT(l->warnings[0].line, 7);
			CHECK_STR(l->warnings[0].field, "license.caps[1].limit_ref");
			CHECK(strstr(l->warnings[0].message, "is revoked") != NULL);
		}
		license_free(l);
	}
	end("threshold registry: entries, a cap by reference, a revoked entry warns");
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	return remove(path);
}

/* Calendar periods where midnight does not exist or the day's first hour repeats, and the
 * daemon's own time zone (TZ, /etc/localtime) changed while it runs: it never matters, the
 * licence's zone (or UTC) does; validity dates are UTC days. */
static void test_period_dst_edges(void)
{
	struct license *l;

	begin();
	/* Santiago springs forward at 24:00 on 2024-09-07: 2024-09-08 begins at 01:00 -03. */
	CHECK_INT(eval_period_start(LICENSE_PERIOD_DAY, "America/Santiago", 1725768000),
		  1725768000); /* 04:00Z, the day's first second */
	CHECK_INT(eval_period_start(LICENSE_PERIOD_DAY, "America/Santiago", 1725767999),
		  1725681600); /* a second before: still the 7th, begun 04:00Z (-04) */
	/* It falls back at 24:00 -03 on 2024-04-06: 23:00-24:00 repeats; the 7th begins at
	 * 04:00Z, and 03:30Z (23:30 -04, the repeated hour) is still the 6th (begun -03). */
	CHECK_INT(eval_period_start(LICENSE_PERIOD_DAY, "America/Santiago", 1712491200),
		  1712462400);
	CHECK_INT(eval_period_start(LICENSE_PERIOD_DAY, "America/Santiago", 1712460600),
		  1712372400);
	/* Beirut springs forward at 00:00 on 2024-03-31: the day begins at 01:00 EEST. */
	CHECK_INT(eval_period_start(LICENSE_PERIOD_DAY, "Asia/Beirut", 1711886400), 1711836000);
	CHECK_INT(eval_period_start(LICENSE_PERIOD_DAY, "Asia/Beirut", 1711835999), 1711749600);
	/* The daemon's own zone changes under it: TZ set to another zone, then unset (glibc
	 * then reads /etc/localtime). A licence without a zone counts UTC days all the same,
	 * and the daemon's TZ is left as it was. */
	setenv("TZ", "Pacific/Kiritimati", 1);
	tzset();
	CHECK_INT(eval_period_start(LICENSE_PERIOD_DAY, NULL, 1712460600), 1712448000);
	CHECK(getenv("TZ") && strcmp(getenv("TZ"), "Pacific/Kiritimati") == 0);
	l = load(HEADER);
	if (l) {
		CHECK_INT(l->valid_from, 1767225600); /* 2026-01-01T00:00:00Z */
		CHECK_INT(l->valid_until, 1798761599); /* 2026-12-31T23:59:59Z */
		license_free(l);
	}
	unsetenv("TZ");
	tzset();
	CHECK_INT(eval_period_start(LICENSE_PERIOD_DAY, NULL, 1712460600), 1712448000);
	CHECK(getenv("TZ") == NULL);
	end("periods at DST edges (midnight skipped, hour repeated); the daemon's own TZ never "
	    "counts; validity dates are UTC days");
}

int main(void)
{
	setenv("HPCMETER_THRESHOLDS", "data/thresholds.yaml", 0);
	if (!mkdtemp(tmpdir))
		bail_out("mkdtemp");
	test_process_terms();
	test_process_digests();
	test_remote_access();
	test_remote_from();
	test_validity();
	test_node();
	test_jobs();
	test_caps();
	test_period_timezone();
	test_period_dst_edges();
	test_usage_cache();
	test_project_scope();
	test_lifecycle();
	test_registry();
	sqlite3_close(db);
	ledger_close(ledger);
	nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	printf("1..%u\n", n_tests);
	if (n_failed)
		printf("# %u of %u tests failed\n", n_failed, n_tests);
	return n_failed ? 1 : 0;
}
