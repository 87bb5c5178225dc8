// SPDX-License-Identifier: GPL-2.0-only
/* The accelerator inventory: the shipped models data file parses and its TPP/APP agree with the
 * peaks; broken data files are refused with file:line:col and field; a sysfs PCI tree built in a
 * temporary directory (this machine has no GPU) is read and matched; NVML is reported as absent
 * or present, never crashes. usage: test-inventory DATA_FILE */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "inventory.h"
#include "tap.h"

static char dir[] = "/tmp/hpcm-inv-XXXXXX";

static void put(const char *rel, const char *content)
{
	char path[512], cmd[600];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s')\"", path);
	if (system(cmd) != 0)
		exit(2);
	f = fopen(path, "w");
	if (!f || fputs(content, f) < 0 || fclose(f) != 0)
		exit(2);
}

static int load_text(const char *text, struct accel_db **db, char *err, size_t size)
{
	char path[512];

	put("bad.yaml", text);
	snprintf(path, sizeof(path), "%s/bad.yaml", dir);
	return accel_db_load(path, db, err, size);
}

#define MODEL_HEAD                                                                 \
	"format: 1\nversion: \"t\"\nmodels:\n  - name: X\n    vendor_id: 0x10de\n" \
	"    device_ids: [0x2330]\n    sources: [\"a datasheet\"]\n"

int main(int argc, char **argv)
{
	struct accel_db *db = NULL, *bad = NULL;
	struct inventory *inv = NULL;
	const struct accel_model *h100;
	char err[1024], path[600], cmd[700];
	int r;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DATA_FILE\n", argv[0]);
		return 2;
	}
	if (!mkdtemp(dir))
		return 2;
	printf("TAP version 13\n");

	r = accel_db_load(argv[1], &db, err, sizeof(err));
	TAP_CHECK(r == 0, "the shipped data file parses (%s)", r ? err : argv[1]);
	if (r < 0)
		return tap_done();
	TAP_CHECK(db->version && db->n_models >= 5, "it has a version (%s) and %zu models",
		  db->version, db->n_models);
	h100 = accel_db_find(db, 0x10de, 0x2330);
	TAP_CHECK(h100 && fabs(h100->tpp - 15831.2) < 1,
		  "H100 SXM (10de:2330): TPP %.1f = 1978.9 TOPS fp8 x 8", h100 ? h100->tpp : 0);
	TAP_CHECK(h100 && fabs(h100->app - 20.1) < 0.01, "H100 SXM: APP %.2f = 0.3 x 67 (fp64)",
		  h100 ? h100->app : 0);
	TAP_CHECK(accel_db_find(db, 0x10de, 0x20b2) &&
			  fabs(accel_db_find(db, 0x10de, 0x20b2)->tpp - 4992) < 1,
		  "A100 SXM 80GB: TPP 4992");
	TAP_CHECK(!accel_db_find(db, 0x10de, 0xffff), "an unknown device id matches nothing");
	for (size_t i = 0; i < db->n_models; i++)
		TAP_CHECK(db->models[i].sources && *db->models[i].sources, "%s names its sources",
			  db->models[i].name);

	r = load_text(MODEL_HEAD "    peak_dense_tops: {fp16: 100}\n    tpp: 2000\n", &bad, err,
		      sizeof(err));
	TAP_CHECK(r == -EINVAL && strstr(err, "bad.yaml:4:5: models[0].tpp: 2000 disagrees"),
		  "a stated TPP that disagrees with the peaks is refused: %s", err);
	r = load_text(MODEL_HEAD "    peak_dense_tops: {fp7: 100}\n", &bad, err, sizeof(err));
	TAP_CHECK(r == -EINVAL &&
			  strstr(err, ":8:23: models[0].peak_dense_tops: unknown precision"),
		  "an unknown precision is refused with its position: %s", err);
	r = load_text(MODEL_HEAD "    peak_dense_tops: {fp16: -3}\n", &bad, err, sizeof(err));
	TAP_CHECK(r == -EINVAL && strstr(err, "models[0].peak_dense_tops.fp16"),
		  "a negative peak is refused: %s", err);
	r = load_text(MODEL_HEAD "    peak_dense_tops: {fp16: 1}\n    colour: red\n", &bad, err,
		      sizeof(err));
	TAP_CHECK(r == -EINVAL && strstr(err, ":9:5: models[0].colour: unknown key"),
		  "an unknown key is refused: %s", err);
	r = load_text("format: 1\nversion: x\nmodels:\n  - name: [\n", &bad, err, sizeof(err));
	TAP_CHECK(r == -EINVAL && strstr(err, "bad.yaml:"), "a YAML syntax error says where: %s",
		  err);
	r = load_text("format: 2\nversion: x\nmodels: []\n", &bad, err, sizeof(err));
	TAP_CHECK(r == -EINVAL && strstr(err, ":1:9: format: only format 1"),
		  "an unknown format is refused: %s", err);

	/* A sysfs PCI tree: an H100 bound to nvidia with its UUID in the driver's proc file, an
	 * AMD device with unique_id, an unknown 3D controller, and a NIC that is no accelerator. */
	put("pci/0000:3b:00.0/class", "0x030200\n");
	put("pci/0000:3b:00.0/vendor", "0x10de\n");
	put("pci/0000:3b:00.0/device", "0x2330\n");
	put("nv/0000:3b:00.0/information",
	    "Model: \t\t NVIDIA H100 80GB HBM3\nGPU UUID: \t GPU-1234abcd-0000-1111-2222-333344445555\n");
	put("pci/0000:c1:00.0/class", "0x120000\n");
	put("pci/0000:c1:00.0/vendor", "0x1002\n");
	put("pci/0000:c1:00.0/device", "0x74a1\n");
	put("pci/0000:c1:00.0/unique_id", "9ab1c2d3e4f50617\n");
	put("pci/0000:05:00.0/class", "0x030200\n");
	put("pci/0000:05:00.0/vendor", "0x10de\n");
	put("pci/0000:05:00.0/device", "0x9999\n");
	put("pci/0000:01:00.0/class", "0x020000\n");
	put("pci/0000:01:00.0/vendor", "0x8086\n");
	put("pci/0000:01:00.0/device", "0x1572\n");
	put("drivers/nvidia/.keep", "");
	snprintf(path, sizeof(path), "%s/pci/0000:3b:00.0/driver", dir);
	snprintf(cmd, sizeof(cmd), "%s/drivers/nvidia", dir);
	if (symlink(cmd, path) < 0)
		return 2;

	snprintf(path, sizeof(path), "%s/pci", dir);
	snprintf(cmd, sizeof(cmd), "%s/nv", dir);
	r = inventory_scan(path, cmd, db, &inv);
	TAP_CHECK(r == 0 && inv->n_devices == 3, "3 accelerators found, the NIC left out (%zu)",
		  inv ? inv->n_devices : 0);
	if (r == 0 && inv->n_devices == 3) {
		const struct accel_device *a = &inv->devices[0], *b = &inv->devices[1],
					  *c = &inv->devices[2];

		TAP_CHECK(strcmp(a->bus_id, "0000:05:00.0") == 0 && !a->model,
			  "unknown model listed without a match");
		TAP_CHECK(strcmp(b->bus_id, "0000:3b:00.0") == 0 && b->model == h100 &&
				  strcmp(b->driver, "nvidia") == 0 &&
				  strcmp(b->uuid, "GPU-1234abcd-0000-1111-2222-333344445555") == 0,
			  "H100: model, driver and UUID (%s)", b->uuid);
		TAP_CHECK(c->model && strstr(c->model->name, "MI300X") &&
				  strcmp(c->uuid, "9ab1c2d3e4f50617") == 0,
			  "MI300X: model and unique_id");
		TAP_CHECK(fabs(inventory_tpp(inv) - 20919.2) < 1,
			  "node TPP is the highest present (%.1f)", inventory_tpp(inv));
		TAP_CHECK(inventory_peak_ops(inv) >= 2614.9e12,
			  "node peak is the highest dense rate");
	}
	inventory_sample_nvml(inv);
	TAP_CHECK(strncmp(inv->nvml, "absent", 6) == 0 || strncmp(inv->nvml, "present", 7) == 0,
		  "NVML state: %s", inv->nvml);
	inventory_free(inv);

	r = inventory_scan("/nonexistent/pci", "/nonexistent", NULL, &inv);
	TAP_CHECK(r == 0 && inv->n_devices == 0, "no PCI bus: no accelerators, no error");
	inventory_free(inv);
	accel_db_free(db);

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 2;
	return tap_done();
}
