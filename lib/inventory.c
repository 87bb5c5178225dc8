// SPDX-License-Identifier: GPL-2.0-only
/* Accelerator inventory: sysfs PCI devices, the models data file (libyaml), NVML by dlopen. */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "inventory.h"
#include "util.h"

static const struct {
	const char *name;
	unsigned bits;
} precisions[PREC_MAX] = {
	[PREC_FP64] = { "fp64", 64 }, [PREC_FP64_TENSOR] = { "fp64_tensor", 64 },
	[PREC_FP32] = { "fp32", 32 }, [PREC_TF32] = { "tf32", 32 },
	[PREC_BF16] = { "bf16", 16 }, [PREC_FP16] = { "fp16", 16 },
	[PREC_FP8] = { "fp8", 8 },    [PREC_INT8] = { "int8", 8 },
};

const char *accel_precision_name(enum accel_precision p)
{
	return p < PREC_MAX ? precisions[p].name : "?";
}

unsigned accel_precision_bits(enum accel_precision p)
{
	return p < PREC_MAX ? precisions[p].bits : 0;
}

/* ---- the data file ---- */

struct parse {
	const char *file;
	yaml_document_t *doc;
	char *err;
	size_t err_size;
};

static int fail(struct parse *p, const yaml_node_t *n, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(struct parse *p, const yaml_node_t *n, const char *field, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(p->err, p->err_size, "%s:%zu:%zu: %s: %s", p->file, n ? n->start_mark.line + 1 : 0,
		 n ? n->start_mark.column + 1 : 0, field, msg);
	return -EINVAL;
}

static const char *scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int get_u32(struct parse *p, const yaml_node_t *n, const char *field, uint32_t *ret)
{
	const char *s = scalar(n);
	char *end;
	unsigned long v;

	if (!s || !*s)
		return fail(p, n, field, "expected a number (0x... for PCI ids)");
	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || *end || v > 0xffff)
		return fail(p, n, field, "\"%s\" is not a 16-bit PCI id", s);
	*ret = (uint32_t)v;
	return 0;
}

static int get_double(struct parse *p, const yaml_node_t *n, const char *field, double *ret)
{
	const char *s = scalar(n);
	char *end;
	double v;

	if (!s || !*s)
		return fail(p, n, field, "expected a number");
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !isfinite(v) || v < 0)
		return fail(p, n, field, "\"%s\" is not a non-negative number", s);
	*ret = v;
	return 0;
}

static int get_bool(struct parse *p, const yaml_node_t *n, const char *field, bool *ret)
{
	const char *s = scalar(n);

	if (s && (streq(s, "true") || streq(s, "yes")))
		*ret = true;
	else if (s && (streq(s, "false") || streq(s, "no")))
		*ret = false;
	else
		return fail(p, n, field, "expected true or false");
	return 0;
}

static int parse_model(struct parse *p, const yaml_node_t *n, size_t idx, struct accel_model *m)
{
	char field[160];
	bool seen_vendor = false, seen_tpp = false, seen_app = false;
	double tpp = 0, app = 0;
	int r;

	snprintf(field, sizeof(field), "models[%zu]", idx);
	if (n->type != YAML_MAPPING_NODE)
		return fail(p, n, field, "expected a mapping");
	for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top;
	     pr++) {
		yaml_node_t *k = yaml_document_get_node(p->doc, pr->key);
		yaml_node_t *v = yaml_document_get_node(p->doc, pr->value);
		const char *key = scalar(k);

		if (!key)
			return fail(p, k, field, "expected a key");
		snprintf(field, sizeof(field), "models[%zu].%s", idx, key);
		if (streq(key, "name")) {
			if (!scalar(v) || !*scalar(v))
				return fail(p, v, field, "expected a name");
			free(m->name);
			m->name = strdup(scalar(v));
			if (!m->name)
				return -ENOMEM;
		} else if (streq(key, "vendor_id")) {
			r = get_u32(p, v, field, &m->vendor_id);
			if (r < 0)
				return r;
			seen_vendor = true;
		} else if (streq(key, "device_ids")) {
			if (v->type != YAML_SEQUENCE_NODE)
				return fail(p, v, field, "expected a list of PCI device ids");
			for (yaml_node_item_t *it = v->data.sequence.items.start;
			     it < v->data.sequence.items.top; it++) {
				if (m->n_device_ids == ARRAY_SIZE(m->device_ids))
					return fail(p, v, field, "more than %zu ids",
						    ARRAY_SIZE(m->device_ids));
				r = get_u32(p, yaml_document_get_node(p->doc, *it), field,
					    &m->device_ids[m->n_device_ids++]);
				if (r < 0)
					return r;
			}
		} else if (streq(key, "peak_dense_tops")) {
			if (v->type != YAML_MAPPING_NODE)
				return fail(p, v, field, "expected precision: TOPS pairs");
			for (yaml_node_pair_t *q = v->data.mapping.pairs.start;
			     q < v->data.mapping.pairs.top; q++) {
				yaml_node_t *pk = yaml_document_get_node(p->doc, q->key);
				const char *pn = scalar(pk);
				int i;

				for (i = 0; i < PREC_MAX; i++)
					if (pn && streq(pn, precisions[i].name))
						break;
				if (i == PREC_MAX)
					return fail(p, pk, field,
						    "unknown precision \"%s\" (fp64, fp64_tensor, "
						    "fp32, tf32, bf16, fp16, fp8, int8)",
						    pn ? pn : "");
				snprintf(field, sizeof(field), "models[%zu].peak_dense_tops.%s",
					 idx, pn);
				r = get_double(p, yaml_document_get_node(p->doc, q->value), field,
					       &m->peak_tops[i]);
				if (r < 0)
					return r;
			}
		} else if (streq(key, "tpp")) {
			r = get_double(p, v, field, &tpp);
			if (r < 0)
				return r;
			seen_tpp = true;
		} else if (streq(key, "app")) {
			r = get_double(p, v, field, &app);
			if (r < 0)
				return r;
			seen_app = true;
		} else if (streq(key, "checked")) {
			r = get_bool(p, v, field, &m->checked);
			if (r < 0)
				return r;
		} else if (streq(key, "sources")) {
			size_t len = 0;

			if (v->type != YAML_SEQUENCE_NODE ||
			    v->data.sequence.items.start == v->data.sequence.items.top)
				return fail(p, v, field, "expected a non-empty list of sources");
			free(m->sources);
			m->sources = NULL;
			for (yaml_node_item_t *it = v->data.sequence.items.start;
			     it < v->data.sequence.items.top; it++) {
				const char *s = scalar(yaml_document_get_node(p->doc, *it));
				size_t l = s ? strlen(s) : 0;
				char *n2;

				if (!s || !*s)
					return fail(p, v, field, "a source must be a string");
				n2 = realloc(m->sources, len + l + 3);
				if (!n2)
					return -ENOMEM;
				m->sources = n2;
				snprintf(m->sources + len, l + 3, "%s%s", len ? "; " : "", s);
				len = strlen(m->sources);
			}
		} else {
			return fail(p, k, field, "unknown key");
		}
	}
	snprintf(field, sizeof(field), "models[%zu]", idx);
	if (!m->name || !seen_vendor || !m->n_device_ids || !m->sources)
		return fail(p, n, field, "name, vendor_id, device_ids and sources are required");

	/* TPP and APP follow from the peaks; a stated figure must agree (1 %). */
	for (int i = 0; i < PREC_MAX; i++)
		m->tpp = fmax(m->tpp, m->peak_tops[i] * precisions[i].bits);
	m->app = 0.3 * fmax(m->peak_tops[PREC_FP64], m->peak_tops[PREC_FP64_TENSOR]);
	if (m->tpp == 0)
		return fail(p, n, field, "peak_dense_tops gives no precision");
	snprintf(field, sizeof(field), "models[%zu].tpp", idx);
	if (seen_tpp && fabs(tpp - m->tpp) > 0.01 * m->tpp)
		return fail(p, n, field, "%g disagrees with the peaks (max TOPS x bits = %g)", tpp,
			    m->tpp);
	snprintf(field, sizeof(field), "models[%zu].app", idx);
	if (seen_app && fabs(app - m->app) > 0.01 * fmax(m->app, 0.01))
		return fail(p, n, field, "%g disagrees with the peaks (0.3 x fp64 = %g)", app,
			    m->app);
	return 0;
}

static int parse_root(struct parse *p, yaml_node_t *root, struct accel_db *db)
{
	bool seen_format = false;

	if (!root || root->type != YAML_MAPPING_NODE)
		return fail(p, root, "(document)",
			    "expected a mapping with format, version, models");
	for (yaml_node_pair_t *pr = root->data.mapping.pairs.start;
	     pr < root->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = yaml_document_get_node(p->doc, pr->key);
		yaml_node_t *v = yaml_document_get_node(p->doc, pr->value);
		const char *key = scalar(k);

		if (!key)
			return fail(p, k, "(document)", "expected a key");
		if (streq(key, "format")) {
			if (!scalar(v) || !streq(scalar(v), "1"))
				return fail(p, v, key, "only format 1 is known");
			seen_format = true;
		} else if (streq(key, "version")) {
			if (!scalar(v) || !*scalar(v))
				return fail(p, v, key, "expected a version string");
			free(db->version);
			db->version = strdup(scalar(v));
			if (!db->version)
				return -ENOMEM;
		} else if (streq(key, "models")) {
			size_t n;

			if (v->type != YAML_SEQUENCE_NODE)
				return fail(p, v, key, "expected a list");
			n = v->data.sequence.items.top - v->data.sequence.items.start;
			db->models = calloc(n ? n : 1, sizeof(*db->models));
			if (!db->models)
				return -ENOMEM;
			for (size_t i = 0; i < n; i++) {
				int r = parse_model(
					p,
					yaml_document_get_node(p->doc,
							       v->data.sequence.items.start[i]),
					i, &db->models[i]);

				db->n_models = i + 1;
				if (r < 0)
					return r;
			}
		} else {
			return fail(p, k, key, "unknown key");
		}
	}
	if (!seen_format || !db->version || !db->models)
		return fail(p, root, "(document)", "format, version and models are required");
	return 0;
}

int accel_db_load(const char *path, struct accel_db **ret, char *err, size_t err_size)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	struct parse p = { .file = path, .err = err, .err_size = err_size };
	yaml_parser_t parser;
	yaml_document_t doc;
	struct accel_db *db;
	int r;

	if (!f) {
		snprintf(err, err_size, "%s: %s", path, strerror(errno));
		return -errno;
	}
	db = calloc(1, sizeof(*db));
	if (!db || !(db->file = strdup(path))) {
		free(db);
		return -ENOMEM;
	}
	if (!yaml_parser_initialize(&parser)) {
		accel_db_free(db);
		return -ENOMEM;
	}
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &doc)) {
		snprintf(err, err_size, "%s:%zu:%zu: (document): %s", path,
			 parser.problem_mark.line + 1, parser.problem_mark.column + 1,
			 parser.problem ? parser.problem : "YAML error");
		yaml_parser_delete(&parser);
		accel_db_free(db);
		return -EINVAL;
	}
	p.doc = &doc;
	r = parse_root(&p, yaml_document_get_root_node(&doc), db);
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	if (r < 0) {
		accel_db_free(db);
		return r;
	}
	*ret = db;
	return 0;
}

void accel_db_free(struct accel_db *db)
{
	if (!db)
		return;
	for (size_t i = 0; i < db->n_models; i++) {
		free(db->models[i].name);
		free(db->models[i].sources);
	}
	free(db->models);
	free(db->version);
	free(db->file);
	free(db);
}

const struct accel_model *accel_db_find(const struct accel_db *db, uint32_t vendor, uint32_t device)
{
	for (size_t i = 0; db && i < db->n_models; i++) {
		const struct accel_model *m = &db->models[i];

		if (m->vendor_id != vendor)
			continue;
		for (size_t d = 0; d < m->n_device_ids; d++)
			if (m->device_ids[d] == device)
				return m;
	}
	return NULL;
}

/* ---- sysfs ---- */

/* Copy src into dst, cut at size - 1 bytes. */
static void copy_cut(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

static int read_line(const char *dir, const char *name, char *buf, size_t size)
{
	char path[PATH_MAX];
	_cleanup_fclose_ FILE *f = NULL;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "re");
	if (!f || !fgets(buf, (int)size, f))
		return -ENOENT;
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

static int read_hex(const char *dir, const char *name, uint32_t *ret)
{
	char buf[32], *end;
	unsigned long v;

	if (read_line(dir, name, buf, sizeof(buf)) < 0)
		return -ENOENT;
	errno = 0;
	v = strtoul(buf, &end, 16);
	if (errno || *end || v > UINT32_MAX)
		return -EINVAL;
	*ret = (uint32_t)v;
	return 0;
}

static bool accelerator_class(uint32_t class_code)
{
	uint32_t base = class_code >> 16, sub = (class_code >> 8) & 0xff;

	return base == 0x03 || base == 0x12 || (base == 0x0b && sub == 0x40);
}

static void read_uuid(struct accel_device *d, const char *dev_dir, const char *nvidia_proc_dir)
{
	char path[PATH_MAX], line[256];
	_cleanup_fclose_ FILE *f = NULL;

	/* AMD exposes a unique id in sysfs; NVIDIA in its proc file. */
	if (read_line(dev_dir, "unique_id", line, sizeof(line)) == 0 && line[0]) {
		copy_cut(d->uuid, sizeof(d->uuid), line);
		return;
	}
	snprintf(path, sizeof(path), "%s/%s/information", nvidia_proc_dir, d->bus_id);
	f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f)) {
		char *v;

		if (strncmp(line, "GPU UUID:", 9) != 0)
			continue;
		v = line + 9;
		v += strspn(v, " \t");
		v[strcspn(v, "\n")] = '\0';
		copy_cut(d->uuid, sizeof(d->uuid), v);
		return;
	}
}

static int bus_id_cmp(const void *a, const void *b)
{
	return strcmp(((const struct accel_device *)a)->bus_id,
		      ((const struct accel_device *)b)->bus_id);
}

int inventory_scan(const char *pci_dir, const char *nvidia_proc_dir, struct accel_db *db,
		   struct inventory **ret)
{
	struct inventory *inv = calloc(1, sizeof(*inv));
	DIR *d;
	struct dirent *de;
	size_t cap = 0;

	if (!inv)
		return -ENOMEM;
	inv->db = db;
	snprintf(inv->nvml, sizeof(inv->nvml), "not sampled");
	d = opendir(pci_dir);
	if (!d) {
		/* No PCI bus (a VM without one): no accelerators, not an error. */
		*ret = inv;
		return errno == ENOENT ? 0 : 0;
	}
	while ((de = readdir(d))) {
		char dir[PATH_MAX], link[PATH_MAX + 16], target[PATH_MAX];
		struct accel_device dev = { .utilization = -1 };
		ssize_t n;

		if (de->d_name[0] == '.' || strlen(de->d_name) >= sizeof(dev.bus_id))
			continue;
		snprintf(dir, sizeof(dir), "%s/%s", pci_dir, de->d_name);
		if (read_hex(dir, "class", &dev.class_code) < 0 ||
		    !accelerator_class(dev.class_code) ||
		    read_hex(dir, "vendor", &dev.vendor_id) < 0 ||
		    read_hex(dir, "device", &dev.device_id) < 0)
			continue;
		copy_cut(dev.bus_id, sizeof(dev.bus_id), de->d_name);
		snprintf(link, sizeof(link), "%s/driver", dir);
		n = readlink(link, target, sizeof(target) - 1);
		if (n > 0) {
			target[n] = '\0';
			copy_cut(dev.driver, sizeof(dev.driver),
				 strrchr(target, '/') ? strrchr(target, '/') + 1 : target);
		}
		read_uuid(&dev, dir, nvidia_proc_dir);
		dev.model = accel_db_find(db, dev.vendor_id, dev.device_id);
		if (inv->n_devices == cap) {
			size_t c = cap ? cap * 2 : 8;
			struct accel_device *nd = realloc(inv->devices, c * sizeof(*nd));

			if (!nd) {
				closedir(d);
				inventory_free(inv);
				return -ENOMEM;
			}
			inv->devices = nd;
			cap = c;
		}
		inv->devices[inv->n_devices++] = dev;
	}
	closedir(d);
	if (inv->n_devices)
		qsort(inv->devices, inv->n_devices, sizeof(*inv->devices), bus_id_cmp);
	*ret = inv;
	return 0;
}

void inventory_free(struct inventory *inv)
{
	if (!inv)
		return;
	if (inv->nvml_handle)
		dlclose(inv->nvml_handle);
	free(inv->devices);
	free(inv);
}

double inventory_tpp(const struct inventory *inv)
{
	double t = 0;

	for (size_t i = 0; inv && i < inv->n_devices; i++)
		if (inv->devices[i].model)
			t = fmax(t, inv->devices[i].model->tpp);
	return t;
}

double inventory_peak_ops(const struct inventory *inv)
{
	double t = 0;

	for (size_t i = 0; inv && i < inv->n_devices; i++)
		for (int p = 0; inv->devices[i].model && p < PREC_MAX; p++)
			t = fmax(t, inv->devices[i].model->peak_tops[p] * 1e12);
	return t;
}

/* ---- NVML, loaded at run time ---- */

typedef int (*nvml_init_t)(void);
typedef int (*nvml_count_t)(unsigned *);
typedef int (*nvml_handle_t)(unsigned, void **);
typedef int (*nvml_util_t)(void *, unsigned[2]); /* nvmlUtilization_t: gpu, memory */
typedef int (*nvml_pci_t)(void *, char *);

/* nvmlPciInfo_t starts with char busIdLegacy[16], then domain, bus, device, pciDeviceId,
 * pciSubSystemId, then char busId[32]: 16 + 5 * 4 = 36 bytes in. */
#define NVML_PCI_INFO_SIZE 68
#define NVML_PCI_BUSID_OFFSET 36

void inventory_sample_nvml(struct inventory *inv)
{
	nvml_init_t init;
	nvml_count_t count;
	nvml_handle_t handle;
	nvml_util_t util;
	nvml_pci_t pci;
	unsigned n = 0;

	if (!inv->nvml_handle) {
		inv->nvml_handle = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
		if (!inv->nvml_handle) {
			snprintf(inv->nvml, sizeof(inv->nvml),
				 "absent (libnvidia-ml.so.1 not found)");
			return;
		}
		init = (nvml_init_t)dlsym(inv->nvml_handle, "nvmlInit_v2");
		if (!init || init() != 0) {
			snprintf(inv->nvml, sizeof(inv->nvml), "present, nvmlInit_v2 failed");
			return;
		}
	}
	count = (nvml_count_t)dlsym(inv->nvml_handle, "nvmlDeviceGetCount_v2");
	handle = (nvml_handle_t)dlsym(inv->nvml_handle, "nvmlDeviceGetHandleByIndex_v2");
	util = (nvml_util_t)dlsym(inv->nvml_handle, "nvmlDeviceGetUtilizationRates");
	pci = (nvml_pci_t)dlsym(inv->nvml_handle, "nvmlDeviceGetPciInfo_v3");
	if (!count || !handle || !util || !pci || count(&n) != 0) {
		snprintf(inv->nvml, sizeof(inv->nvml), "present, symbols missing");
		return;
	}
	snprintf(inv->nvml, sizeof(inv->nvml), "present, %u devices", n);
	for (unsigned i = 0; i < n; i++) {
		char info[NVML_PCI_INFO_SIZE + 64];
		unsigned rates[2];
		void *h;

		if (handle(i, &h) != 0 || util(h, rates) != 0 || pci(h, info) != 0)
			continue;
		info[NVML_PCI_BUSID_OFFSET + 31] = '\0';
		for (size_t d = 0; d < inv->n_devices; d++)
			/* NVML says 00000000:3B:00.0, sysfs 0000:3b:00.0. */
			if (strcasestr(info + NVML_PCI_BUSID_OFFSET, inv->devices[d].bus_id + 4))
				inv->devices[d].utilization = (int)rates[0];
	}
}
