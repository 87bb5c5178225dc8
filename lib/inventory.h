/* SPDX-License-Identifier: GPL-2.0-only */
/* The node's accelerators: PCI devices from sysfs, matched against a versioned data file of
 * models (peak dense operations per precision, TPP, APP, sources), and NVML utilisation when
 * libnvidia-ml.so.1 is present (loaded at run time, never a build dependency). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum accel_precision {
	PREC_FP64,
	PREC_FP64_TENSOR,
	PREC_FP32,
	PREC_TF32,
	PREC_BF16,
	PREC_FP16,
	PREC_FP8,
	PREC_INT8,
	PREC_MAX,
};

struct accel_model {
	char *name;
	uint32_t vendor_id;
	uint32_t device_ids[16];
	size_t n_device_ids;
	double peak_tops[PREC_MAX]; /* dense, 10^12 operations per second; 0 = not given */
	double tpp; /* Total Processing Performance: max over precisions of TOPS x bit length */
	double app; /* Adjusted Peak Performance, weighted TeraFLOPS (0.3 x 64-bit peak) */
	char *sources; /* "; "-joined */
	bool checked; /* figures compared against the sources by a person */
};

struct accel_db {
	char *file;
	char *version;
	struct accel_model *models;
	size_t n_models;
};

struct accel_device {
	char bus_id[32]; /* PCI address, e.g. 0000:3b:00.0 */
	uint32_t vendor_id, device_id, class_code;
	char uuid[80]; /* "" when the driver does not expose one */
	char driver[64]; /* "" when unbound */
	const struct accel_model *model; /* NULL when the data file has no entry */
	int utilization; /* NVML GPU utilisation in percent at the last sample, -1 if unknown */
};

struct inventory {
	struct accel_device *devices;
	size_t n_devices;
	struct accel_db *db; /* may be NULL when the data file could not be read */
	char nvml[128]; /* "absent (...)" or "present, N devices" */
	void *nvml_handle;
};

const char *accel_precision_name(enum accel_precision p);
unsigned accel_precision_bits(enum accel_precision p);

/* Parse the data file. On a content error returns -EINVAL with "FILE:LINE:COL: FIELD: message"
 * in err. */
int accel_db_load(const char *path, struct accel_db **ret, char *err, size_t err_size);
void accel_db_free(struct accel_db *db);
const struct accel_model *accel_db_find(const struct accel_db *db, uint32_t vendor,
					uint32_t device);

/* Read the PCI devices of class display, 3D controller, processing accelerator or
 * co-processor under pci_dir (/sys/bus/pci/devices); NVIDIA UUIDs come from nvidia_proc_dir
 * (/proc/driver/nvidia/gpus). db may be NULL. */
int inventory_scan(const char *pci_dir, const char *nvidia_proc_dir, struct accel_db *db,
		   struct inventory **ret);
void inventory_free(struct inventory *inv);

/* Sample NVML utilisation into the devices (no-op when NVML is absent). */
void inventory_sample_nvml(struct inventory *inv);

/* The node-wide figures applied to one device-second: the highest TPP and dense peak of the
 * accelerators present (an upper bound when models are mixed). 0 when none is known. */
double inventory_tpp(const struct inventory *inv);
double inventory_peak_ops(const struct inventory *inv); /* operations per second */
