/* SPDX-License-Identifier: GPL-2.0-only */
/* Unit tests for lib/license*.c: parsing, error positions, directory loading, queries (TAP). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "license.h"

#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Unix seconds computed independently of the code under test (date -u -d ... +%s). */
#define T_2026_01_01 INT64_C(1767225600)
#define T_2027_01_01 INT64_C(1798761600)
#define T_2028_01_01 INT64_C(1830297600)

static char tmpdir[] = "/tmp/test-license.XXXXXX";
static unsigned n_tests, n_failed;
static bool current_ok;

static void bail_out(const char *what)
{
	printf("Bail out! %s: %s\n", what, strerror(errno));
	exit(2);
}

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

/* Checks record the failure with its source line and carry on, so one "not ok" shows every
 * mismatch of that test at once. */
#define CHECK(cond)                                                                   \
	do {                                                                          \
		if (!(cond)) {                                                        \
			current_ok = false;                                           \
			printf("#   %s:%d: failed: %s\n", __FILE__, __LINE__, #cond); \
		}                                                                     \
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

#define CHECK_INT(got, want)                                                                     \
	do {                                                                                     \
		long long _g = (got), _w = (want);                                               \
		if (_g != _w) {                                                                  \
			current_ok = false;                                                      \
			printf("#   %s:%d: %s: got %lld, want %lld\n", __FILE__, __LINE__, #got, \
			       _g, _w);                                                          \
		}                                                                                \
	} while (0)

#define CHECK_PREFIX(got, prefix)                                                           \
	do {                                                                                \
		const char *_g = (got), *_p = (prefix);                                     \
		if (strncmp(_g, _p, strlen(_p)) != 0) {                                     \
			current_ok = false;                                                 \
			printf("#   %s:%d: %s: got \"%s\", want prefix \"%s\"\n", __FILE__, \
			       __LINE__, #got, _g, _p);                                     \
		}                                                                           \
	} while (0)

static void write_file(const char *path, const char *content)
{
	FILE *f = fopen(path, "we");

	if (!f)
		bail_out(path);
	if (fputs(content, f) < 0 || fclose(f) != 0)
		bail_out(path);
}

/* Writes a fixture into the test directory; the path lives until the next call. */
static const char *fixture(const char *name, const char *content)
{
	static char path[sizeof(tmpdir) + 256];

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	write_file(path, content);
	return path;
}

static struct license *parse_ok(const char *name, const char *yaml)
{
	const char *path = fixture(name, yaml);
	struct license_error err;
	struct license *l = NULL;
	char msg[1024];
	int r;

	r = license_parse_file(path, &l, &err);
	if (r < 0) {
		license_error_format(&err, msg, sizeof(msg));
		printf("#   unexpected error %d: %s\n", r, msg);
		current_ok = false;
		return NULL;
	}
	CHECK(l != NULL);
	return l;
}

/* Parses yaml that must fail; returns the return code and fills *err. */
static int parse_fail(const char *name, const char *yaml, struct license_error *err)
{
	const char *path = fixture(name, yaml);
	struct license *l = NULL;
	char msg[1024];
	int r;

	memset(err, 0, sizeof(*err));
	r = license_parse_file(path, &l, err);
	if (r >= 0) {
		printf("#   %s parsed although it should not\n", name);
		current_ok = false;
		license_free(l);
		return r;
	}
	CHECK(l == NULL);
	CHECK_STR(err->file, path);
	if (!current_ok) {
		license_error_format(err, msg, sizeof(msg));
		printf("#   %s -> %s\n", name, msg);
	}
	return r;
}

/* The error a single bad licence must give: code, position, field and message start. */
static void expect_error(const char *name, const char *yaml, int rc, unsigned line, unsigned column,
			 const char *field, const char *message_prefix)
{
	struct license_error err;

	begin();
	CHECK_INT(parse_fail("fixture.yaml", yaml, &err), rc);
	CHECK_INT(err.line, line);
	CHECK_INT(err.column, column);
	CHECK_STR(err.field, field);
	CHECK_PREFIX(err.message, message_prefix);
	if (!current_ok)
		printf("#   message: %s\n", err.message);
	end(name);
}

static const char good_block[] = "# A licence in block style, with the quoting styles mixed in.\n"
				 "license:\n"
				 "  id: DE-BAFA-2026-000123\n"
				 "  regime: eu-2021-821\n"
				 "  authority: 'BAFA'\n"
				 "  valid:\n"
				 "    from: 2026-01-01\n"
				 "    until: \"2027-12-31\"\n"
				 "  conditions:\n"
				 "    - For stated end use only\n"
				 "    - |\n"
				 "      Re-export requires prior\n"
				 "      authorisation.\n"
				 "  principals:\n"
				 "    users:\n"
				 "      - alice\n"
				 "      - bob\n"
				 "    groups:\n"
				 "      - hpc-eu\n"
				 "  end_use:\n"
				 "    permitted:\n"
				 "      - civil-cfd\n"
				 "    prohibited_executables:\n"
				 "      - \"*/facerec*\"\n"
				 "      - \"*/gait-id*\"\n";

static const char good_flow[] =
	"license:\n"
	"  id: DE-BAFA-2026-000123\n"
	"  regime: eu-2021-821\n"
	"  authority: BAFA\n"
	"  valid: { from: 2026-01-01, until: 2027-12-31 }\n"
	"  conditions: [\"For stated end use only\", \"Re-export requires prior\\n"
	"authorisation.\\n\"]\n"
	"  principals: { users: [alice, bob], groups: [hpc-eu] }\n"
	"  end_use:\n"
	"    permitted: [civil-cfd]\n"
	"    prohibited_executables: [\"*/facerec*\", '*/gait-id*']\n";

static void check_good_fields(const struct license *l)
{
	CHECK_STR(l->id, "DE-BAFA-2026-000123");
	CHECK_STR(l->regime, "eu-2021-821");
	CHECK_STR(l->authority, "BAFA");
	CHECK_INT(l->valid_from, T_2026_01_01);
	CHECK_INT(l->valid_until, T_2028_01_01 - 1);
	CHECK_INT(l->n_conditions, 2);
	if (l->n_conditions == 2) {
		CHECK_STR(l->conditions[0], "For stated end use only");
		CHECK_STR(l->conditions[1], "Re-export requires prior\nauthorisation.\n");
	}
	CHECK(l->principals_restricted);
	CHECK_INT(l->n_users, 2);
	if (l->n_users == 2) {
		CHECK_STR(l->users[0], "alice");
		CHECK_STR(l->users[1], "bob");
	}
	CHECK_INT(l->n_groups, 1);
	if (l->n_groups == 1)
		CHECK_STR(l->groups[0], "hpc-eu");
	CHECK_INT(l->n_permitted_end_uses, 1);
	if (l->n_permitted_end_uses == 1)
		CHECK_STR(l->permitted_end_uses[0], "civil-cfd");
	CHECK_INT(l->n_prohibited_executables, 2);
	if (l->n_prohibited_executables == 2) {
		CHECK_STR(l->prohibited_executables[0], "*/facerec*");
		CHECK_STR(l->prohibited_executables[1], "*/gait-id*");
	}
}

static void test_good_block(void)
{
	struct license *l;

	begin();
	l = parse_ok("block.yaml", good_block);
	if (l) {
		check_good_fields(l);
		CHECK_STR(l->file, fixture("block.yaml", good_block));
	}
	license_free(l);
	end("good block-style licence parses with every field");
}

static void test_good_flow(void)
{
	struct license *l;

	begin();
	l = parse_ok("flow.yaml", good_flow);
	if (l)
		check_good_fields(l);
	license_free(l);
	end("good flow-style licence parses to the same fields");
}

static void test_whole_flow_document(void)
{
	struct license *l;

	begin();
	l = parse_ok("oneline.yaml", "{license: {id: \"A.b_c:1-2\", valid: {from: '2028-02-29', "
				     "until: 2028-02-29}}}\n");
	if (l) {
		CHECK_STR(l->id, "A.b_c:1-2");
		CHECK(l->regime == NULL);
		CHECK(l->authority == NULL);
		/* a licence of one (leap) day */
		CHECK_INT(l->valid_until - l->valid_from, 86400 - 1);
		CHECK(!l->principals_restricted);
		CHECK_INT(l->n_users + l->n_groups, 0);
		CHECK_INT(l->n_conditions + l->n_prohibited_executables, 0);
	}
	license_free(l);
	end("whole document in flow style; optional keys absent; Feb 29 in a leap year");
}

static const char header[] = "license:\n"
			     "  id: X-1\n"
			     "  valid: {from: 2026-01-01, until: 2026-12-31}\n";

static char *with_header(const char *rest)
{
	static char buf[4096];

	snprintf(buf, sizeof(buf), "%s%s", header, rest);
	return buf;
}

static void test_errors(void)
{
	expect_error("typo'd key under principals points at the key",
		     with_header("  principals:\n"
				 "    users: [root]\n"
				 "    userz: [alice]\n"),
		     -EINVAL, 6, 5, "license.principals.userz", "unknown key \"userz\"");
	expect_error("a hardware count of 0 is an impossible value",
		     with_header("  hardware:\n"
				 "    - { vendor: nvidia, model: H100-SXM, count: 0 }\n"),
		     -EINVAL, 5, 49, "license.hardware[0].count", "0 is out of range (1 to 65536)");
	expect_error("principals.accounts must be a sequence",
		     with_header("  principals:\n"
				 "    accounts: proj-cfd-01\n"),
		     -EINVAL, 5, 15, "license.principals.accounts", "expected a sequence");
	expect_error("job_declaration_required needs its mapping",
		     with_header("  end_use:\n"
				 "    job_declaration_required: true\n"),
		     -EINVAL, 5, 31, "license.end_use.declarations",
		     "job_declaration_required needs end_use.declarations");
	expect_error("unknown key beside license",
		     "license: {id: A, valid: {from: 2026-01-01, until: 2026-01-02}}\nlicence: x\n",
		     -EINVAL, 2, 1, "licence", "unknown key \"licence\"");
	expect_error("bad date",
		     "license:\n"
		     "  id: X-1\n"
		     "  valid:\n"
		     "    from: 2026-01-01\n"
		     "    until: 2026-13-45\n",
		     -EINVAL, 5, 12, "license.valid.until",
		     "invalid date \"2026-13-45\", expected YYYY-MM-DD");
	expect_error("Feb 29 outside a leap year",
		     "license: {id: X, valid: {from: 2027-02-29, until: 2028-01-01}}\n", -EINVAL, 1,
		     32, "license.valid.from", "invalid date \"2027-02-29\"");
	expect_error("date not zero-padded",
		     "license: {id: X, valid: {from: 2026-1-1, until: 2028-01-01}}\n", -EINVAL, 1,
		     32, "license.valid.from", "invalid date \"2026-1-1\", expected YYYY-MM-DD");
	expect_error("until before from",
		     "license:\n"
		     "  id: X-1\n"
		     "  valid: {from: 2026-06-01, until: 2026-05-31}\n",
		     -EINVAL, 3, 36, "license.valid.until", "until 2026-05-31 is before from");
	expect_error("YAML syntax error (unclosed [) reports the line",
		     with_header("  principals:\n"
				 "    users: [root, alice\n"
				 "    groups: [hpc]\n"),
		     -EINVAL, 6, 11, "", "YAML syntax error: did not find expected ',' or ']'");
	expect_error("missing id points at the enclosing mapping",
		     "# comment\n"
		     "license:\n"
		     "  regime: ear\n"
		     "  valid: {from: 2026-01-01, until: 2026-12-31}\n",
		     -EINVAL, 3, 3, "license.id", "missing required key \"id\"");
	expect_error("missing valid.until", "license:\n  id: X\n  valid: {from: 2026-01-01}\n",
		     -EINVAL, 3, 10, "license.valid.until", "missing required key \"until\"");
	expect_error("missing license key", "{}\n", -EINVAL, 1, 1, "license",
		     "missing required key \"license\"");
	expect_error("wrong type: string where a sequence belongs",
		     with_header("  principals:\n"
				 "    users: alice\n"),
		     -EINVAL, 5, 12, "license.principals.users",
		     "expected a sequence, got a string");
	expect_error("wrong type: sequence where a mapping belongs",
		     "license:\n  id: X\n  valid: [2026-01-01, 2026-12-31]\n", -EINVAL, 3, 10,
		     "license.valid", "expected a mapping, got a sequence");
	expect_error("wrong type: mapping where a string belongs",
		     with_header("  conditions: [ok, {a: b}]\n"), -EINVAL, 4, 20,
		     "license.conditions[1]", "expected a string, got a mapping");
	expect_error("wrong type: null", with_header("  authority:\n"), -EINVAL, 4, 13,
		     "license.authority", "expected a string, got null");
	expect_error("duplicate key",
		     "license:\n"
		     "  id: A\n"
		     "  valid: {from: 2026-01-01, until: 2026-12-31}\n"
		     "  id: B\n",
		     -EINVAL, 4, 3, "license.id",
		     "duplicate key \"id\" (first at line 2, column 3)");
	expect_error("bad glob",
		     with_header("  end_use:\n"
				 "    prohibited_executables:\n"
				 "      - \"*/a*\"\n"
				 "      - /usr/bin/b\n"
				 "      - facerec\n"),
		     -EINVAL, 8, 9, "license.end_use.prohibited_executables[2]",
		     "invalid executable glob \"facerec\"");
	expect_error("user name with a space", with_header("  principals: {users: [\"al ice\"]}\n"),
		     -EINVAL, 4, 24, "license.principals.users[0]", "invalid name \"al ice\"");
	expect_error("empty group name", with_header("  principals: {groups: [\"\"]}\n"), -EINVAL,
		     4, 25, "license.principals.groups[0]", "must not be empty");
	expect_error("bad id",
		     "license: {id: \"DE 123\", valid: {from: 2026-01-01, until: 2026-12-31}}\n",
		     -EINVAL, 1, 15, "license.id", "invalid id \"DE 123\"");
	expect_error("unknown regime", with_header("  regime: itar\n"), -EINVAL, 4, 11,
		     "license.regime", "unknown regime \"itar\"");
	expect_error("empty file", "# only a comment\n", -EINVAL, 0, 0, "", "empty file");
	expect_error("multiple documents", with_header("---\nlicense: {}\n"), -EINVAL, 4, 1, "",
		     "multiple documents are not supported");
	expect_error("aliases are rejected",
		     "license:\n"
		     "  id: X\n"
		     "  valid: {from: &d 2026-01-01, until: *d}\n",
		     -EINVAL, 3, 39, "license.valid.until", "aliases are not supported");
	expect_error("NUL inside a quoted scalar",
		     "license: {id: \"A\\0B\", valid: {from: 2026-01-01, until: 2026-12-31}}\n",
		     -EINVAL, 1, 15, "license.id", "must not contain a NUL character");
	expect_error("root is not a mapping", "- license\n", -EINVAL, 1, 1, "",
		     "expected a mapping, got a sequence");
}

static void test_io_error(void)
{
	struct license_error err;
	struct license *l = NULL;
	char path[sizeof(tmpdir) + 32], msg[1024];

	begin();
	snprintf(path, sizeof(path), "%s/does-not-exist.yaml", tmpdir);
	CHECK_INT(license_parse_file(path, &l, &err), -ENOENT);
	CHECK(l == NULL);
	CHECK_STR(err.file, path);
	CHECK_INT(err.line, 0);
	CHECK_STR(err.field, "");
	CHECK(strstr(err.message, strerror(ENOENT)) != NULL);
	license_error_format(&err, msg, sizeof(msg));
	CHECK_PREFIX(msg, path);
	CHECK_STR(msg + strlen(path), ": cannot open: No such file or directory");
	end("missing file gives -ENOENT and strerror text");
}

static void test_error_format(void)
{
	struct license_error e = {
		.file = "a.yaml", .line = 3, .column = 7, .field = "license.id", .message = "bad"
	};
	char buf[256], small[8];

	begin();
	license_error_format(&e, buf, sizeof(buf));
	CHECK_STR(buf, "a.yaml:3:7: license.id: bad");
	e.field[0] = '\0';
	license_error_format(&e, buf, sizeof(buf));
	CHECK_STR(buf, "a.yaml:3:7: bad");
	e.line = 0;
	license_error_format(&e, buf, sizeof(buf));
	CHECK_STR(buf, "a.yaml: bad");
	license_error_format(&e, small, sizeof(small));
	CHECK_STR(small, "a.yaml:");
	end("license_error_format omits unknown parts and truncates safely");
}

static void make_dir(const char *name)
{
	char path[sizeof(tmpdir) + 256];

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	if (mkdir(path, 0755) < 0)
		bail_out(path);
}

static void test_set_load(void)
{
	struct license_set *s = NULL;
	char dir[sizeof(tmpdir) + 16], want[sizeof(dir) + 32];
	int r;

	begin();
	make_dir("set");
	snprintf(dir, sizeof(dir), "%s/set", tmpdir);
	/* Names chosen so that creation order, readdir order and name order can all differ. */
	fixture("set/c-broken.yaml", "license: {id: C, valid: {from: 2026-01-01, until: [}}\n");
	fixture("set/b-dup.yml",
		"license:\n  id: SAME\n  valid: {from: 2026-01-01, until: 2026-12-31}\n");
	fixture("set/a-good.yaml",
		"license: {id: SAME, valid: {from: 2026-01-01, until: 2026-12-31}}\n");
	fixture("set/.hidden.yaml", "not: loaded\n");
	fixture("set/notes.txt", "not: loaded\n");
	fixture("set/backup.yaml~", "not: loaded\n");
	make_dir("set/subdir.yaml");

	r = license_set_load(dir, &s);
	CHECK_INT(r, 0);
	if (r == 0) {
		CHECK_INT(s->n_entries, 3);
		if (s->n_entries == 3) {
			const struct license_entry *e = s->entries;

			snprintf(want, sizeof(want), "%s/a-good.yaml", dir);
			CHECK_STR(e[0].file, want);
			CHECK(e[0].license != NULL);
			if (e[0].license) {
				CHECK_STR(e[0].license->id, "SAME");
				CHECK_STR(e[0].license->file, want);
			}

			snprintf(want, sizeof(want), "%s/b-dup.yml", dir);
			CHECK_STR(e[1].file, want);
			CHECK(e[1].license == NULL);
			CHECK_STR(e[1].error.file, want);
			CHECK_STR(e[1].error.field, "license.id");
			CHECK_INT(e[1].error.line, 2);
			CHECK_INT(e[1].error.column, 7);
			CHECK_PREFIX(e[1].error.message, "duplicate licence id \"SAME\"");
			CHECK(strstr(e[1].error.message, "a-good.yaml") != NULL);

			snprintf(want, sizeof(want), "%s/c-broken.yaml", dir);
			CHECK_STR(e[2].file, want);
			CHECK(e[2].license == NULL);
			CHECK_INT(e[2].error.line, 1);
			CHECK_PREFIX(e[2].error.message, "YAML syntax error");
		}
	}
	license_set_free(s);
	end("license_set_load: sorted, skips hidden/other files, bad and duplicate-id entries");
}

static void test_set_load_order(void)
{
	static const unsigned n_files = 12;
	struct license_set *s = NULL;
	char dir[sizeof(tmpdir) + 16];
	int r;

	begin();
	make_dir("order");
	snprintf(dir, sizeof(dir), "%s/order", tmpdir);
	/* Created in name order: tmpfs lists newest first, ext4 by hash, so readdir alone
	 * would not give name order. */
	for (unsigned i = 0; i < n_files; i++) {
		char name[64], yaml[128];

		snprintf(name, sizeof(name), "order/%02u.yaml", i);
		snprintf(yaml, sizeof(yaml),
			 "license: {id: L%u, valid: {from: 2026-01-01, until: 2026-12-31}}\n", i);
		fixture(name, yaml);
	}
	r = license_set_load(dir, &s);
	CHECK_INT(r, 0);
	if (r == 0) {
		CHECK_INT(s->n_entries, n_files);
		for (size_t i = 0; i < s->n_entries; i++) {
			char want[32];

			snprintf(want, sizeof(want), "L%zu", i);
			CHECK(s->entries[i].license != NULL);
			if (s->entries[i].license)
				CHECK_STR(s->entries[i].license->id, want);
		}
	}
	license_set_free(s);
	end("license_set_load: entries in name order whatever the readdir order");
}

static void test_set_load_errors(void)
{
	static struct license_set sentinel;
	struct license_set *s = &sentinel;
	char dir[sizeof(tmpdir) + 16];

	begin();
	snprintf(dir, sizeof(dir), "%s/nope", tmpdir);
	CHECK_INT(license_set_load(dir, &s), -ENOENT);
	CHECK(s == &sentinel);

	make_dir("empty");
	snprintf(dir, sizeof(dir), "%s/empty/", tmpdir);
	s = NULL;
	CHECK_INT(license_set_load(dir, &s), 0);
	CHECK(s != NULL);
	if (s)
		CHECK_INT(s->n_entries, 0);
	license_set_free(s);
	end("license_set_load: missing directory is -ENOENT, empty directory is an empty set");
}

static void test_permits_user(void)
{
	static const char yaml[] = "license:\n"
				   "  id: P\n"
				   "  valid: {from: 2026-01-01, until: 2026-12-31}\n"
				   "  principals: {users: [root, alice], groups: [hpc-eu]}\n";
	const char *eu[] = { "users", "hpc-eu" }, *other[] = { "users", "staff" };
	struct license *l, *open_l, *nobody;

	begin();
	l = parse_ok("p.yaml", yaml);
	open_l = parse_ok("open.yaml", header);
	nobody = parse_ok("nobody.yaml", with_header("  principals: {users: [], groups: []}\n"));
	if (l && open_l && nobody) {
		CHECK(license_permits_user(l, "alice", NULL, 0));
		CHECK(license_permits_user(l, "root", other, 2));
		CHECK(license_permits_user(l, "mallory", eu, 2));
		CHECK(!license_permits_user(l, "mallory", other, 2));
		CHECK(!license_permits_user(l, "mallory", NULL, 0));
		CHECK(!license_permits_user(l, "Alice", NULL, 0));

		CHECK(!open_l->principals_restricted);
		CHECK(license_permits_user(open_l, "mallory", NULL, 0));

		CHECK(nobody->principals_restricted);
		CHECK(!license_permits_user(nobody, "root", eu, 2));
	}
	license_free(l);
	license_free(open_l);
	license_free(nobody);
	end("license_permits_user: users, groups, unrestricted, empty principals");
}

static void test_prohibits_executable(void)
{
	struct license *l;

	begin();
	l = parse_ok("x.yaml",
		     with_header(
			     "  end_use:\n"
			     "    prohibited_executables: [\"*/facerec*\", /opt/gait/bin/*]\n"));
	if (l) {
		CHECK_STR(license_prohibits_executable(l, "/tmp/x/facerec-v2"), "*/facerec*");
		CHECK_STR(license_prohibits_executable(l, "/facerec"), "*/facerec*");
		CHECK_STR(license_prohibits_executable(l, "/opt/gait/bin/sub/run"),
			  "/opt/gait/bin/*");
		CHECK(license_prohibits_executable(l, "/usr/bin/true") == NULL);
		CHECK(license_prohibits_executable(l, "facerec") == NULL);
	}
	license_free(l);
	end("license_prohibits_executable: * crosses /, returns the matching glob");
}

static void test_valid_at(void)
{
	struct license *l;

	begin();
	l = parse_ok("v.yaml", "license: {id: V, valid: {from: 2026-01-01, until: 2026-12-31}}\n");
	if (l) {
		CHECK_INT(l->valid_from, T_2026_01_01);
		CHECK_INT(l->valid_until, T_2027_01_01 - 1);
		CHECK(!license_valid_at(l, T_2026_01_01 - 1));
		CHECK(license_valid_at(l, T_2026_01_01));
		CHECK(license_valid_at(l, T_2027_01_01 - 1));
		CHECK(!license_valid_at(l, T_2027_01_01));
	}
	license_free(l);
	end("validity: first and last second inside, one second either side outside");
}

static void test_remote_from(void)
{
	const struct license_network *net = NULL;
	const struct license_remote_from *f;
	struct license_network n;
	const char *why;
	struct license *l;

	begin();
	l = parse_ok(
		"from.yaml",
		"license:\n"
		"  id: FROM\n"
		"  valid: { from: 2026-01-01, until: 2026-12-31 }\n"
		"  principals:\n"
		"    remote_access:\n"
		"      allowed: true\n"
		"      computational_access: limited\n"
		"      applications: [\"*/openfoam-*\"]\n"
		"      from:\n"
		"        - { country: NO, networks: [10.20.0.0/16, 192.0.2.7, \"2001:db8:1::/48\"] }\n"
		"        - { country: SE, networks: [198.51.100.128/25] }\n");
	if (l) {
		CHECK_INT(l->remote_access.n_from, 2);
		if (l->remote_access.n_from == 2) {
			CHECK_STR(l->remote_access.from[0].country, "NO");
			CHECK_INT(l->remote_access.from[0].n_networks, 3);
			CHECK_STR(l->remote_access.from[1].networks[0].text, "198.51.100.128/25");
		}
		f = license_remote_from_match(l, "10.20.255.1", &net);
		CHECK(f && !strcmp(f->country, "NO") && net && !strcmp(net->text, "10.20.0.0/16"));
		CHECK(!license_remote_from_match(l, "10.21.0.1", NULL));
		/* A bare address is that one host. */
		CHECK(license_remote_from_match(l, "192.0.2.7", NULL));
		CHECK(!license_remote_from_match(l, "192.0.2.8", NULL));
		/* The prefix boundary of a /25, and IPv4 as a dual-stack socket reports it. */
		f = license_remote_from_match(l, "198.51.100.128", NULL);
		CHECK(f && !strcmp(f->country, "SE"));
		CHECK(!license_remote_from_match(l, "198.51.100.127", NULL));
		CHECK(license_remote_from_match(l, "::ffff:198.51.100.200", NULL));
		CHECK(license_remote_from_match(l, "2001:db8:1:ffff::1", NULL));
		CHECK(!license_remote_from_match(l, "2001:db8:2::1", NULL));
		/* Not an address (a host name that was never resolved): never in a network. */
		CHECK(!license_remote_from_match(l, "oslo.example.no", NULL));
		CHECK(!license_remote_from_match(l, "", NULL));
	}
	license_free(l);
	CHECK_INT(license_network_parse("0.0.0.0/0", &n, &why), 0);
	CHECK_INT(n.prefix, 0);
	CHECK_INT(license_network_parse("::/0", &n, &why), 0);
	CHECK_INT(license_network_parse("10.0.0.0/08", &n, &why), -EINVAL);
	CHECK_INT(license_network_parse("10.0.0.0/", &n, &why), -EINVAL);
	CHECK_INT(license_network_parse("10.0.0.0/-1", &n, &why), -EINVAL);
	CHECK_INT(license_network_parse("/8", &n, &why), -EINVAL);
	CHECK_INT(license_network_parse("2001:db8::1/127", &n, &why), -EINVAL);
	CHECK_INT(license_network_parse("2001:db8::/127", &n, &why), 0);
	CHECK_INT(n.prefix, 127);
	end("remote_access.from: networks per country, IPv4 and IPv6, prefix boundaries");
}

/* The EU example's dates are part of its contract: it must be in force on the day it was
 * written (2026-11-26) and until the end of 2027. */
static void check_eu_example(const struct license *l)
{
	CHECK(license_valid_at(l, T_2026_01_01 + 329 * INT64_C(86400)));
	CHECK_INT(l->valid_until, T_2028_01_01 - 1);
	CHECK(license_permits_user(l, "root", NULL, 0));
	CHECK(!license_permits_user(l, "nobody", NULL, 0));
	CHECK(license_prohibits_executable(l, "/home/x/facerec-v2") != NULL);
	CHECK(license_prohibits_executable(l, "/usr/bin/true") == NULL);
	/* The rest of the language, as the example writes it. */
	CHECK_STR(l->type, "individual");
	CHECK_STR(l->timezone, "Europe/Berlin");
	CHECK_INT(l->n_riders, 1);
	CHECK_STR(l->parties.licensee, "Example HPC Systems GmbH");
	CHECK_INT(l->parties.n_end_users, 1);
	if (l->parties.n_end_users == 1)
		CHECK_STR(l->parties.end_users[0].country, "NO"); /* Norway, not false */
	CHECK_INT(l->n_accounts, 2);
	CHECK_INT(l->remote_access.mode, LICENSE_REMOTE_LIMITED);
	CHECK_INT(l->remote_access.n_applications, 3);
	CHECK_INT(l->n_prohibited_end_uses, 4);
	CHECK(l->job_declaration_required);
	CHECK_INT(l->n_declarations, 2);
	if (l->n_declarations == 2) {
		CHECK_INT(l->declarations[1].from, LICENSE_DECL_ACCOUNT);
		CHECK_STR(l->declarations[1].match, "climate-*");
		CHECK_STR(l->declarations[1].end_use, "climate-modelling");
	}
	CHECK(l->destination.declared);
	CHECK_STR(l->destination.site_country, "NO");
	CHECK(l->hardware_declared);
	CHECK_INT(l->n_hardware, 1);
	if (l->n_hardware == 1) {
		CHECK_STR(l->hardware[0].vendor, "nvidia");
		CHECK_INT(l->hardware[0].count, 8);
		CHECK(l->hardware[0].tpp == 15832);
		CHECK(l->hardware[0].app_wt < 0);
		CHECK_STR(l->hardware[0].entry, "3A090.a");
	}
	CHECK_INT(l->n_caps, 2);
	if (l->n_caps == 2) {
		CHECK_STR(l->caps[0].id, "gpu-month");
		CHECK_INT(l->caps[0].scope, LICENSE_SCOPE_ACCOUNT);
		CHECK_INT(l->caps[0].period, LICENSE_PERIOD_CALENDAR_MONTH);
		CHECK(l->caps[0].limit == 1.8e8);
		CHECK_INT(l->caps[0].action, LICENSE_ACTION_ALERT);
		CHECK_STR(l->caps[1].limit_ref, "eu-aiact-51");
		CHECK(l->caps[1].limit == 1e25);
		CHECK_INT(l->caps[1].action, LICENSE_ACTION_REPORT);
	}
	CHECK_STR(l->reporting.periodic, "yearly");
	CHECK_INT(l->reporting.threshold_within_days, 14);
	CHECK_INT(l->retention_years, 5);
	CHECK_INT(l->gap_policy, LICENSE_GAP_MAX_RATE);
	CHECK(l->dual_meter_tolerance == 0.02);
	CHECK_INT(l->n_warnings, 0);
}

/* The shipped examples must load; skipped when not run from the source tree. */
static void test_examples(void)
{
	struct license_set *s = NULL;
	int r;

	r = license_set_load("examples/licenses", &s);
	if (r == -ENOENT) {
		n_tests++;
		printf("ok %u - shipped examples load # SKIP not run from the source tree\n",
		       n_tests);
		return;
	}
	begin();
	CHECK_INT(r, 0);
	if (r == 0) {
		CHECK(s->n_entries >= 2);
		for (size_t i = 0; i < s->n_entries; i++) {
			char msg[1024];

			if (s->entries[i].license) {
				if (strcmp(s->entries[i].license->id, "DE-BAFA-2026-000123") == 0)
					check_eu_example(s->entries[i].license);
				continue;
			}
			license_error_format(&s->entries[i].error, msg, sizeof(msg));
			printf("#   %s\n", msg);
			current_ok = false;
		}
	}
	license_set_free(s);
	end("shipped examples load");
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int main(void)
{
	/* The registry of the source tree (caps of the examples name its entries). */
	setenv("HPCMETER_THRESHOLDS", "data/thresholds.yaml", 0);
	if (!mkdtemp(tmpdir))
		bail_out("mkdtemp");

	test_good_block();
	test_good_flow();
	test_whole_flow_document();
	test_errors();
	test_io_error();
	test_error_format();
	test_set_load();
	test_set_load_order();
	test_set_load_errors();
	test_permits_user();
	test_prohibits_executable();
	test_valid_at();
	test_remote_from();
	test_examples();

	if (nftw(tmpdir, remove_one, 16, FTW_DEPTH | FTW_PHYS) < 0)
		printf("# could not remove %s: %s\n", tmpdir, strerror(errno));

	printf("1..%u\n", n_tests);
	if (n_failed)
		printf("# %u of %u tests failed\n", n_failed, n_tests);
	return n_failed ? 1 : 0;
}
