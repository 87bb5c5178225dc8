/* SPDX-License-Identifier: GPL-2.0-only */
/* Licence terms: parse one YAML licence file, load a directory, and answer the questions the
 * evaluator asks (is this user a principal, is this executable prohibited, is it valid now). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define LICENSE_ERROR_MAX 512

/* A parse or validation error: where it is and what is wrong. */
struct license_error {
	char file[256];
	unsigned line; /* 1-based; 0 when not tied to a position */
	unsigned column; /* 1-based */
	char field[128]; /* dotted field path, e.g. "license.valid.until"; "" if none */
	char message[LICENSE_ERROR_MAX];
};

struct license_party {
	char *org;
	char *country; /* ISO 3166-1 alpha-2 */
};

struct license_parties {
	char *licensee;
	char *ultimate_consignee;
	struct license_party *end_users;
	size_t n_end_users;
};

enum license_remote_access_mode {
	LICENSE_REMOTE_UNRESTRICTED, /* no remote_access block */
	LICENSE_REMOTE_NONE, /* allowed: false */
	LICENSE_REMOTE_FULL,
	LICENSE_REMOTE_LIMITED, /* only the applications listed */
};

/* A network of remote_access.from, as an address and a prefix length. */
struct license_network {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16]; /* network byte order; the first 4 bytes for AF_INET */
	unsigned prefix;
	char *text; /* as the licence writes it */
};

/* One entry of remote_access.from: the networks remote access may come from in a country. */
struct license_remote_from {
	char country[3]; /* ISO 3166-1 alpha-2 */
	struct license_network *networks;
	size_t n_networks;
};

struct license_remote_access {
	enum license_remote_access_mode mode;
	char **applications; /* executable globs, for LICENSE_REMOTE_LIMITED */
	size_t n_applications;
	/* Where remote access may come from (allowed: true only); none: from anywhere. */
	struct license_remote_from *from;
	size_t n_from;
};

/* Where the end-use code of a job is read from. */
enum license_declaration_source {
	LICENSE_DECL_ACCOUNT,
	LICENSE_DECL_WCKEY,
	LICENSE_DECL_COMMENT,
};

/* "A job whose <from> is <match> declares end use <end_use>." */
struct license_declaration {
	enum license_declaration_source from;
	char *match; /* fnmatch glob over the account, wckey or comment */
	char *end_use;
};

struct license_destination {
	bool declared;
	char *site_country;
	char *site_facility;
	char **hostnames;
	size_t n_hostnames;
	char **machine_ids;
	size_t n_machine_ids;
	char **gpu_uuids;
	size_t n_gpu_uuids;
	char **pci_bus_ids; /* "dddd:bb:dd.f", lower case */
	size_t n_pci_bus_ids;
};

struct license_hardware {
	char *vendor; /* nvidia | amd | intel | other */
	char *model;
	char *entry; /* control list entry, e.g. 3A090.a; may be NULL */
	unsigned count;
	double tpp; /* < 0 when not given */
	double app_wt; /* < 0 when not given */
};

enum license_cap_scope {
	LICENSE_SCOPE_JOB,
	LICENSE_SCOPE_USER,
	LICENSE_SCOPE_ACCOUNT,
	LICENSE_SCOPE_LICENSE,
	/* A training project spanning jobs: a job's Slurm wckey, else "project=NAME" at the start
	 * of its comment (license_job_project()). */
	LICENSE_SCOPE_PROJECT,
};

/* The project a job declares: its wckey when set, else NAME of a comment that starts with
 * "project=NAME" (up to a blank or a comma); "" when none. */
void license_job_project(const char *wckey, const char *comment, char *buf, size_t size);

enum license_cap_period {
	LICENSE_PERIOD_RUN,
	LICENSE_PERIOD_DAY,
	LICENSE_PERIOD_CALENDAR_MONTH,
	LICENSE_PERIOD_CALENDAR_YEAR,
	LICENSE_PERIOD_VALIDITY,
};

enum license_cap_action {
	LICENSE_ACTION_ALERT,
	LICENSE_ACTION_REPORT,
};

struct license_cap {
	char *id; /* "caps[N]" unless the licence names it */
	char *metric; /* a name from license_metrics[] */
	enum license_cap_scope scope;
	enum license_cap_period period;
	double limit; /* > 0, in the metric's unit */
	char *limit_ref; /* threshold registry id the limit came from; may be NULL */
	enum license_cap_action action;
	unsigned line, column; /* where the cap is written, for explain */
};

struct license_reporting {
	char *periodic; /* monthly | quarterly | yearly; may be NULL */
	char *recipient;
	unsigned threshold_within_days; /* 0 = not required */
};

enum license_gap_policy {
	LICENSE_GAP_MAX_RATE, /* count a metering gap as usage at the maximum rate */
	LICENSE_GAP_VIOLATION, /* a metering gap is itself a violation */
};

/* The metrics a cap can name. Where the figures come from is the evaluator's business. */
struct license_metric {
	const char *name;
	const char *unit;
	const char *description;
};
extern const struct license_metric license_metrics[];
extern const size_t license_n_metrics;
const struct license_metric *license_metric_find(const char *name);

const char *license_scope_name(enum license_cap_scope s);
const char *license_period_name(enum license_cap_period p);
const char *license_declaration_source_name(enum license_declaration_source s);

/* ---- the threshold registry (data/thresholds.yaml) ---- */

enum threshold_status {
	THRESHOLD_IN_FORCE,
	THRESHOLD_PROPOSED,
	THRESHOLD_REVOKED,
};

struct threshold {
	char *id;
	char *regime;
	char *metric;
	double value;
	enum threshold_status status;
	int64_t effective; /* unix seconds, 0 if unknown */
	int64_t expires; /* unix seconds, 0 if none */
	char *source;
	char *note; /* may be NULL */
};

struct threshold_registry {
	char *file;
	char *version;
	struct threshold *entries;
	size_t n_entries;
};

/* The registry file: $HPCMETER_THRESHOLDS, else the one installed with hpcmeter. */
const char *threshold_registry_path(void);
int threshold_registry_load(const char *path, struct threshold_registry **ret,
			    struct license_error *err);
void threshold_registry_free(struct threshold_registry *r);
const struct threshold *threshold_find(const struct threshold_registry *r, const char *id);
const char *threshold_status_name(enum threshold_status s);

struct license {
	char *id;
	char *file; /* path it was loaded from */
	char *regime; /* may be NULL */
	char *authority; /* may be NULL */
	int64_t valid_from; /* unix seconds, 00:00:00 UTC of the "from" day */
	int64_t valid_until; /* unix seconds, 23:59:59 UTC of the "until" day (inclusive) */
	char **conditions;
	size_t n_conditions;
	/* principals: restricted is false when the licence has no "principals" block at all */
	bool principals_restricted;
	char **users;
	size_t n_users;
	char **groups;
	size_t n_groups;
	char **permitted_end_uses;
	size_t n_permitted_end_uses;
	char **prohibited_executables;
	size_t n_prohibited_executables; /* fnmatch globs */

	/* ---- the rest of the licence language (hpcmeter.license(5)) ---- */
	char *type; /* individual | global | general | internal-policy; may be NULL */
	char *terms_version; /* may be NULL */
	char *timezone; /* IANA name for calendar periods; NULL means UTC */
	char **riders;
	size_t n_riders;
	struct license_parties parties;
	char **accounts; /* scheduler accounts; restrict only when principals_restricted */
	size_t n_accounts;
	struct license_remote_access remote_access;
	char **prohibited_end_uses;
	size_t n_prohibited_end_uses;
	bool job_declaration_required;
	struct license_declaration *declarations;
	size_t n_declarations;
	char **allowed_executables; /* fnmatch globs; none = every executable allowed */
	size_t n_allowed_executables;
	char **prohibited_sha256; /* 64 lowercase hex digits each: SHA-256 of a prohibited file */
	size_t n_prohibited_sha256;
	struct license_destination destination;
	struct license_hardware *hardware;
	size_t n_hardware;
	bool hardware_declared; /* a "hardware" key was present (possibly empty: no accelerator) */
	struct license_cap *caps;
	size_t n_caps;
	struct license_reporting reporting;
	unsigned retention_years; /* default 5 */
	enum license_gap_policy gap_policy;
	double dual_meter_tolerance; /* fraction, default 0.02 */
	bool dual_meter_tolerance_given; /* the licence states it (the kernel meter uses it then) */
	/* Non-fatal findings ("revoked threshold referenced"), formatted like errors. */
	struct license_error *warnings;
	size_t n_warnings;
};

/* Parse one licence file. On success returns 0 and stores a new licence in *ret.
 * On failure returns a negative errno (-EINVAL for content errors, -errno for I/O) and fills
 * *err (file, line, column, field, message). */
int license_parse_file(const char *path, struct license **ret, struct license_error *err);

void license_free(struct license *l);

/* One file of a licence directory: either a licence or the error that kept it out. */
struct license_entry {
	char *file;
	struct license *license; /* NULL when the file failed */
	struct license_error error; /* valid when license == NULL or kept_previous */
	bool kept_previous; /* the file failed; license is the good one loaded before */
};

struct license_set {
	struct license_entry *entries;
	size_t n_entries;
};

/* Load every "*.yaml" and "*.yml" file of dir (sorted by name). A bad file becomes an entry
 * with its error; a duplicate id is an error for the second file. Returns 0, or a negative
 * errno when the directory itself cannot be read (then *ret is untouched). */
int license_set_load(const char *dir, struct license_set **ret);
void license_set_free(struct license_set *s);

/* A reload must never trade a good licence for a bad file: each entry of next that failed
 * takes over the licence prev loaded from the same file (kept_previous, error kept).
 * Returns how many were kept. */
size_t license_set_keep_previous(struct license_set *next, struct license_set *prev);

/* Is the executable allowed by end_use.allowed_executables? True when none are listed. */
bool license_allows_executable(const struct license *l, const char *exe_path);

/* Is "now" within [valid_from, valid_until]? */
bool license_valid_at(const struct license *l, int64_t now_sec);

/* Is the user (by name, with the names of all its groups) a permitted principal?
 * True when principals are not restricted. */
bool license_permits_user(const struct license *l, const char *user, const char *const *groups,
			  size_t n_groups);

/* Returns the glob that matches exe_path, or NULL when none does. */
/* An id a licence can have: 1 to 128 characters of A-Z a-z 0-9 . _ : - */
bool license_id_valid(const char *s);

const char *license_prohibits_executable(const struct license *l, const char *exe_path);
/* Is a file with this SHA-256 (hex) prohibited by end_use.prohibited_executable_sha256? */
bool license_prohibits_sha256(const struct license *l, const char *sha256_hex);

/* An IP address as text into its family (AF_INET, AF_INET6) and bytes; an IPv4-mapped IPv6
 * address (::ffff:192.0.2.1) is IPv4. Returns 0 or -EINVAL. */
int license_address_parse(const char *s, int *ret_family, uint8_t ret_addr[16]);
/* A network of remote_access.from: "ADDRESS/PREFIX" or an address alone (one host). Returns
 * -EINVAL with the reason in *why (no host bits may be set: 10.0.0.1/8 is refused), 0 and
 * ret (text not set) otherwise. */
int license_network_parse(const char *s, struct license_network *ret, const char **why);
/* Is the address (family, bytes) in the network? */
bool license_network_contains(const struct license_network *n, int family, const uint8_t *addr);
/* The remote_access.from entry whose networks hold the address (text), and in *ret_net the
 * network; NULL when none does or address is not an address. */
const struct license_remote_from *license_remote_from_match(const struct license *l,
							    const char *address,
							    const struct license_network **ret_net);

/* "file:line:column: field: message" (parts omitted when unknown) into buf. */
void license_error_format(const struct license_error *e, char *buf, size_t size);
