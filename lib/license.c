/* SPDX-License-Identifier: GPL-2.0-only */
/* Licence terms: load a file or a directory, keep a good licence over a bad reload, and answer
 * the questions the evaluator asks. */
#include "license-internal.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "util.h"

static void closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}

static void license_freep(struct license **l)
{
	license_free(*l);
}

/* path names the file in messages; name is how to open it, relative to dir_fd. */
static int parse_file(int dir_fd, const char *name, const char *path, struct license **ret,
		      struct license_error *err, struct id_position *id_pos)
{
	_cleanup_(freep) char *buf = NULL;
	_cleanup_(lic_ynode_freep) struct ynode *root = NULL;
	_cleanup_(license_freep) struct license *l = NULL;
	size_t size = 0;
	int r;

	lic_error_init(err, path);
	r = lic_read_file(dir_fd, name, err, &buf, &size);
	if (r < 0)
		return r;
	r = lic_parse_yaml(buf, size, err, &root);
	if (r < 0)
		return r;

	l = calloc(1, sizeof(*l));
	if (!l)
		goto oom;
	l->file = strdup(path);
	if (!l->file)
		goto oom;
	r = lic_parse_license(err, root, l, id_pos);
	if (r == -ENOMEM)
		goto oom;
	if (r < 0)
		return r;

	*ret = TAKE_PTR(l);
	return 0;

oom:
	lic_error_init(err, path);
	lic_error_at(err, 0, 0, "", "out of memory");
	return -ENOMEM;
}

int license_parse_file(const char *path, struct license **ret, struct license_error *err)
{
	struct license_error scratch;
	struct id_position id_pos;

	return parse_file(AT_FDCWD, path, path, ret, err ?: &scratch, &id_pos);
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void license_free(struct license *l)
{
	if (!l)
		return;
	free(l->id);
	free(l->file);
	free(l->regime);
	free(l->authority);
	strv_free(l->conditions, l->n_conditions);
	strv_free(l->users, l->n_users);
	strv_free(l->groups, l->n_groups);
	strv_free(l->permitted_end_uses, l->n_permitted_end_uses);
	strv_free(l->prohibited_executables, l->n_prohibited_executables);
	free(l->type);
	free(l->terms_version);
	free(l->timezone);
	strv_free(l->riders, l->n_riders);
	free(l->parties.licensee);
	free(l->parties.ultimate_consignee);
	for (size_t i = 0; i < l->parties.n_end_users; i++) {
		free(l->parties.end_users[i].org);
		free(l->parties.end_users[i].country);
	}
	free(l->parties.end_users);
	strv_free(l->accounts, l->n_accounts);
	strv_free(l->remote_access.applications, l->remote_access.n_applications);
	for (size_t i = 0; i < l->remote_access.n_from; i++) {
		struct license_remote_from *f = &l->remote_access.from[i];

		for (size_t k = 0; k < f->n_networks; k++)
			free(f->networks[k].text);
		free(f->networks);
	}
	free(l->remote_access.from);
	strv_free(l->prohibited_end_uses, l->n_prohibited_end_uses);
	for (size_t i = 0; i < l->n_declarations; i++) {
		free(l->declarations[i].match);
		free(l->declarations[i].end_use);
	}
	free(l->declarations);
	strv_free(l->allowed_executables, l->n_allowed_executables);
	strv_free(l->prohibited_sha256, l->n_prohibited_sha256);
	free(l->destination.site_country);
	free(l->destination.site_facility);
	strv_free(l->destination.hostnames, l->destination.n_hostnames);
	strv_free(l->destination.machine_ids, l->destination.n_machine_ids);
	strv_free(l->destination.gpu_uuids, l->destination.n_gpu_uuids);
	strv_free(l->destination.pci_bus_ids, l->destination.n_pci_bus_ids);
	for (size_t i = 0; i < l->n_hardware; i++) {
		free(l->hardware[i].vendor);
		free(l->hardware[i].model);
		free(l->hardware[i].entry);
	}
	free(l->hardware);
	for (size_t i = 0; i < l->n_caps; i++) {
		free(l->caps[i].id);
		free(l->caps[i].metric);
		free(l->caps[i].limit_ref);
	}
	free(l->caps);
	free(l->reporting.periodic);
	free(l->reporting.recipient);
	free(l->warnings);
	free(l);
}

/* ---- a directory of licences ---- */

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n > m && strcmp(s + n - m, suffix) == 0;
}

static int strcmp_ptr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

struct name_list {
	char **names;
	size_t n, allocated;
};

static void name_list_done(struct name_list *l)
{
	strv_free(l->names, l->n);
}

static int name_list_add(struct name_list *l, const char *name)
{
	if (l->n == l->allocated) {
		size_t n = l->allocated ? l->allocated * 2 : 16;
		char **names = reallocarray(l->names, n, sizeof(*names));

		if (!names)
			return -ENOMEM;
		l->names = names;
		l->allocated = n;
	}
	l->names[l->n] = strdup(name);
	if (!l->names[l->n])
		return -ENOMEM;
	l->n++;
	return 0;
}

static int list_licence_files(DIR *d, struct name_list *list)
{
	for (;;) {
		struct dirent *de;
		struct stat st;
		int r;

		errno = 0;
		de = readdir(d);
		if (!de)
			return errno ? -errno : 0;
		if (de->d_name[0] == '.')
			continue;
		if (!has_suffix(de->d_name, ".yaml") && !has_suffix(de->d_name, ".yml"))
			continue;
		/* Follow symlinks (packaging links licences into place). One that cannot be
		 * stat'ed is kept, so its error shows instead of the licence vanishing. */
		if (fstatat(dirfd(d), de->d_name, &st, 0) == 0 && !S_ISREG(st.st_mode))
			continue;
		r = name_list_add(list, de->d_name);
		if (r < 0)
			return r;
	}
}

void license_set_free(struct license_set *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_entries; i++) {
		free(s->entries[i].file);
		license_free(s->entries[i].license);
	}
	free(s->entries);
	free(s);
}

static void license_set_freep(struct license_set **s)
{
	license_set_free(*s);
}

static const struct license_entry *find_id(const struct license_set *s, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (s->entries[i].license && strcmp(s->entries[i].license->id, id) == 0)
			return &s->entries[i];
	return NULL;
}

int license_set_load(const char *dir, struct license_set **ret)
{
	_cleanup_(closedirp) DIR *d = NULL;
	_cleanup_(name_list_done) struct name_list list = {};
	_cleanup_(license_set_freep) struct license_set *s = NULL;
	const char *sep;
	int r;

	d = opendir(dir);
	if (!d)
		return -errno;
	r = list_licence_files(d, &list);
	if (r < 0)
		return r;
	/* strcmp, not the locale's collation: the order must not change with $LANG. */
	if (list.n > 1)
		qsort(list.names, list.n, sizeof(char *), strcmp_ptr);

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	if (list.n > 0) {
		s->entries = calloc(list.n, sizeof(*s->entries));
		if (!s->entries)
			return -ENOMEM;
	}

	sep = has_suffix(dir, "/") || !*dir ? "" : "/";
	for (size_t i = 0; i < list.n; i++) {
		struct license_entry *e = &s->entries[i];
		struct id_position id_pos = {};
		const struct license_entry *other;
		struct license *l = NULL;

		if (asprintf(&e->file, "%s%s%s", dir, sep, list.names[i]) < 0) {
			e->file = NULL;
			return -ENOMEM;
		}
		s->n_entries = i + 1;

		/* Through the directory opened above: a directory replaced meanwhile (a symlink
		 * renamed over) cannot mix its files into this set. */
		r = parse_file(dirfd(d), list.names[i], e->file, &l, &e->error, &id_pos);
		if (r == -ENOMEM)
			return r;
		if (r < 0)
			continue;

		/* The first file in name order keeps the id, so the outcome is deterministic. */
		other = find_id(s, i, l->id);
		if (other) {
			lic_error_at(&e->error, id_pos.line, id_pos.column, "license.id",
				     "duplicate licence id \"%s\", already defined in %s", l->id,
				     other->file);
			license_free(l);
			continue;
		}
		e->license = l;
	}

	*ret = TAKE_PTR(s);
	return 0;
}

size_t license_set_keep_previous(struct license_set *next, struct license_set *prev)
{
	size_t kept = 0;

	for (size_t i = 0; next && prev && i < next->n_entries; i++) {
		struct license_entry *e = &next->entries[i];

		if (e->license)
			continue;
		for (size_t j = 0; j < prev->n_entries; j++) {
			struct license_entry *o = &prev->entries[j];

			if (!o->license || !streq(o->file, e->file))
				continue;
			/* Not if the good id has meanwhile been taken by another file. */
			if (find_id(next, next->n_entries, o->license->id))
				break;
			e->license = TAKE_PTR(o->license);
			e->kept_previous = true;
			kept++;
			break;
		}
	}
	return kept;
}

/* ---- questions the evaluator asks ---- */

bool license_id_valid(const char *s)
{
	size_t len = strnlen(s, LICENSE_ID_MAX + 1);

	return len > 0 && len <= LICENSE_ID_MAX &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-") ==
		       len;
}

bool license_valid_at(const struct license *l, int64_t now_sec)
{
	return l->valid_from <= now_sec && now_sec <= l->valid_until;
}

static bool strv_contains(char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

bool license_permits_user(const struct license *l, const char *user, const char *const *groups,
			  size_t n_groups)
{
	if (!l->principals_restricted)
		return true;
	if (user && strv_contains(l->users, l->n_users, user))
		return true;
	for (size_t i = 0; i < n_groups; i++)
		if (groups[i] && strv_contains(l->groups, l->n_groups, groups[i]))
			return true;
	return false;
}

bool license_allows_executable(const struct license *l, const char *exe_path)
{
	if (l->n_allowed_executables == 0)
		return true;
	if (!exe_path)
		return false;
	for (size_t i = 0; i < l->n_allowed_executables; i++)
		if (fnmatch(l->allowed_executables[i], exe_path, 0) == 0)
			return true;
	return false;
}

const char *license_prohibits_executable(const struct license *l, const char *exe_path)
{
	if (!exe_path)
		return NULL;
	/* No FNM_PATHNAME: a leading "*" must cross "/" so a glob catches the tool wherever it
	 * was copied to. */
	for (size_t i = 0; i < l->n_prohibited_executables; i++)
		if (fnmatch(l->prohibited_executables[i], exe_path, 0) == 0)
			return l->prohibited_executables[i];
	return NULL;
}

bool license_prohibits_sha256(const struct license *l, const char *sha256_hex)
{
	for (size_t i = 0; sha256_hex && i < l->n_prohibited_sha256; i++)
		if (streq(l->prohibited_sha256[i], sha256_hex))
			return true;
	return false;
}

int license_address_parse(const char *s, int *ret_family, uint8_t ret_addr[16])
{
	static const uint8_t v4_mapped[12] = { [10] = 0xff, [11] = 0xff };
	uint8_t a[16] = { 0 };

	if (!s)
		return -EINVAL;
	if (inet_pton(AF_INET, s, a) == 1) {
		*ret_family = AF_INET;
	} else if (inet_pton(AF_INET6, s, a) == 1) {
		*ret_family = AF_INET6;
		/* What a dual-stack socket reports for an IPv4 peer. */
		if (memcmp(a, v4_mapped, sizeof(v4_mapped)) == 0) {
			memmove(a, a + 12, 4);
			memset(a + 4, 0, 12);
			*ret_family = AF_INET;
		}
	} else {
		return -EINVAL;
	}
	memcpy(ret_addr, a, 16);
	return 0;
}

int license_network_parse(const char *s, struct license_network *ret, const char **why)
{
	struct license_network n = { 0 };
	char addr[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	size_t len = slash ? (size_t)(slash - s) : strlen(s);
	unsigned max;

	*why = "expected an address with a prefix length, such as 192.0.2.0/24 or 2001:db8::/32";
	if (len == 0 || len >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, s, len);
	addr[len] = '\0';
	/* Written as the licence means it: an IPv4-mapped IPv6 network is refused, not mapped. */
	if (inet_pton(AF_INET, addr, n.addr) == 1)
		n.family = AF_INET;
	else if (inet_pton(AF_INET6, addr, n.addr) == 1)
		n.family = AF_INET6;
	else
		return -EINVAL;
	max = n.family == AF_INET ? 32 : 128;
	n.prefix = max;
	if (slash) {
		const char *p = slash + 1;
		unsigned v = 0;

		if (!*p || strlen(p) > 3 || strspn(p, "0123456789") != strlen(p) ||
		    (p[0] == '0' && p[1]))
			return -EINVAL;
		for (; *p; p++)
			v = v * 10 + (unsigned)(*p - '0');
		if (v > max) {
			*why = n.family == AF_INET ? "prefix length longer than 32 for IPv4" :
						     "prefix length longer than 128 for IPv6";
			return -EINVAL;
		}
		n.prefix = v;
	}
	/* 10.0.0.1/8 is most likely a typo for 10.0.0.0/8 or 10.0.0.1/32: refused either way. */
	for (unsigned bit = n.prefix; bit < max; bit++)
		if (n.addr[bit / 8] & (0x80 >> (bit % 8))) {
			*why = "address bits set beyond the prefix length (write the network "
			       "address, or /32 or /128 for one host)";
			return -EINVAL;
		}
	*ret = n;
	return 0;
}

bool license_network_contains(const struct license_network *n, int family, const uint8_t *addr)
{
	unsigned full = n->prefix / 8, rest = n->prefix % 8;

	if (n->family != family)
		return false;
	if (memcmp(n->addr, addr, full) != 0)
		return false;
	return !rest || ((n->addr[full] ^ addr[full]) & (0xff00 >> rest) & 0xff) == 0;
}

const struct license_remote_from *license_remote_from_match(const struct license *l,
							    const char *address,
							    const struct license_network **ret_net)
{
	uint8_t a[16];
	int family;

	if (license_address_parse(address, &family, a) < 0)
		return NULL;
	for (size_t i = 0; i < l->remote_access.n_from; i++) {
		const struct license_remote_from *f = &l->remote_access.from[i];

		for (size_t k = 0; k < f->n_networks; k++)
			if (license_network_contains(&f->networks[k], family, a)) {
				if (ret_net)
					*ret_net = &f->networks[k];
				return f;
			}
	}
	return NULL;
}
