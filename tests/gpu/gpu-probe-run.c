// SPDX-License-Identifier: GPL-2.0-only
/* The GPU meter around one command, for the check on a real GPU machine (tests/gpu/run.sh):
 * loads the meter (the daemon's own gpu.c), attaches to the libraries named with --lib and to
 * any runtime library a process opens, runs the command, and prints JSON: the counters of every
 * process with GPU activity during the run, their sum, the libraries and probe hits.
 * Linked statically (make gpu-check) so that it runs on a machine without our packages.
 * usage: gpu-probe-run [--mode none|light|detailed] [--lib PATH]... [--inventory DATA_FILE]
 *                      [-o FILE] -- COMMAND [ARGS...] */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gpu.h"
#include "inventory.h"
#include "util.h"

struct sum {
	FILE *f;
	uint64_t since_ns;
	struct hpcm_gpu_proc total;
	unsigned n;
};

static int print_proc(uint32_t tgid, const struct hpcm_gpu_proc *p, void *userdata)
{
	struct sum *s = userdata;

	if (p->first_ns < s->since_ns)
		return 0;
	fprintf(s->f,
		"%s    {\"pid\": %u, \"launches\": %llu, \"threads\": %llu, \"graph_launches\": %llu,"
		" \"allocs\": %llu, \"bytes_alloc\": %llu, \"h2d_copies\": %llu, \"bytes_h2d\": %llu,"
		" \"ctx_calls\": %llu, \"module_loads\": %llu, \"dev_opens\": %llu,"
		" \"dev_mask\": %llu, \"kinds\": %u, \"gpu_seconds\": %.6f}",
		s->n ? ",\n" : "", tgid, (unsigned long long)p->launches,
		(unsigned long long)p->threads, (unsigned long long)p->graph_launches,
		(unsigned long long)p->allocs, (unsigned long long)p->bytes_alloc,
		(unsigned long long)p->h2d_copies, (unsigned long long)p->bytes_h2d,
		(unsigned long long)p->ctx_calls, (unsigned long long)p->module_loads,
		(unsigned long long)p->dev_opens, (unsigned long long)p->dev_mask, p->kinds,
		p->exit_ns > p->first_ns ? (double)(p->exit_ns - p->first_ns) / 1e9 : 0.0);
	s->n++;
	s->total.launches += p->launches;
	s->total.threads += p->threads;
	s->total.graph_launches += p->graph_launches;
	s->total.allocs += p->allocs;
	s->total.bytes_alloc += p->bytes_alloc;
	s->total.h2d_copies += p->h2d_copies;
	s->total.bytes_h2d += p->bytes_h2d;
	s->total.ctx_calls += p->ctx_calls;
	s->total.module_loads += p->module_loads;
	s->total.dev_opens += p->dev_opens;
	return 0;
}

static void print_inventory(FILE *f, const char *data_file)
{
	struct accel_db *db = NULL;
	struct inventory *inv = NULL;
	char err[1024] = "";

	if (accel_db_load(data_file, &db, err, sizeof(err)) < 0)
		fprintf(stderr, "gpu-probe-run: %s\n", err);
	if (inventory_scan("/sys/bus/pci/devices", "/proc/driver/nvidia/gpus", db, &inv) < 0) {
		accel_db_free(db);
		return;
	}
	inventory_sample_nvml(inv);
	fprintf(f, "  \"nvml\": \"%s\",\n  \"accelerators\": [", inv->nvml);
	for (size_t i = 0; i < inv->n_devices; i++) {
		const struct accel_device *d = &inv->devices[i];

		fprintf(f,
			"%s\n    {\"bus_id\": \"%s\", \"pci_id\": \"%04x:%04x\", \"class\": \"%06x\","
			" \"driver\": \"%s\", \"uuid\": \"%s\", \"model\": \"%s\", \"tpp\": %.1f,"
			" \"utilization\": %d}",
			i ? "," : "", d->bus_id, d->vendor_id, d->device_id, d->class_code,
			d->driver, d->uuid, d->model ? d->model->name : "",
			d->model ? d->model->tpp : 0.0, d->utilization);
	}
	fprintf(f, "\n  ],\n");
	inventory_free(inv);
	accel_db_free(db);
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "mode", required_argument, NULL, 'm' },
		{ "lib", required_argument, NULL, 'l' },
		{ "inventory", required_argument, NULL, 'i' },
		{ "output", required_argument, NULL, 'o' },
		{},
	};
	const char *libs[16], *inventory = NULL, *out = NULL;
	size_t n_libs = 0;
	enum gpu_mode mode = GPU_MODE_DETAILED;
	bool none = false;
	struct gpu *g = NULL;
	struct sum s = { 0 };
	int go[2], c, status = 0, r;
	pid_t child;
	double t0, t1;

	while ((c = getopt_long(argc, argv, "+m:l:i:o:", options, NULL)) >= 0) {
		switch (c) {
		case 'm':
			none = streq(optarg, "none");
			if (!none && gpu_mode_parse(optarg, &mode) < 0)
				return 2;
			break;
		case 'l':
			if (n_libs < ARRAY_SIZE(libs))
				libs[n_libs++] = optarg;
			break;
		case 'i':
			inventory = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		default:
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr,
			"usage: %s [--mode none|light|detailed] [--lib PATH]... "
			"[--inventory DATA] [-o FILE] -- COMMAND...\n",
			argv[0]);
		return 2;
	}
	s.f = out ? fopen(out, "w") : stdout;
	if (!s.f)
		return 1;
	if (!none) {
		r = gpu_open(mode, &g);
		if (r < 0) {
			fprintf(stderr, "gpu-probe-run: cannot load the GPU meter: %s\n",
				strerror(-r));
			return 1;
		}
		for (size_t i = 0; i < n_libs; i++) {
			r = gpu_consider_path(g, (uint32_t)getpid(), libs[i]);
			if (r < 0)
				fprintf(stderr, "gpu-probe-run: %s: %s\n", libs[i], strerror(-r));
		}
		gpu_scan_all(g);
	}
	s.since_ns = now_boottime_nsec();
	if (pipe(go) < 0)
		return 1;
	t0 = (double)now_boottime_nsec();
	child = fork();
	if (child < 0)
		return 1;
	if (child == 0) {
		char b;

		close(go[1]);
		if (read(go[0], &b, 1) != 1)
			_exit(127);
		execvp(argv[optind], argv + optind);
		_exit(127);
	}
	close(go[0]);
	if (write(go[1], "g", 1) != 1)
		return 1;
	close(go[1]);
	/* Attach to libraries as they are opened while the command runs. */
	for (;;) {
		pid_t w = waitpid(child, &status, WNOHANG);

		if (w == child)
			break;
		if (g) {
			struct pollfd p = { .fd = gpu_ring_fd(g), .events = POLLIN };

			poll(&p, 1, 20);
			gpu_consume(g);
		} else {
			usleep(20000);
		}
	}
	t1 = (double)now_boottime_nsec();
	fprintf(s.f, "{\n  \"mode\": \"%s\",\n  \"exit_status\": %d,\n  \"wall_seconds\": %.3f,\n",
		none ? "none" : gpu_mode_name(mode), WIFEXITED(status) ? WEXITSTATUS(status) : -1,
		(t1 - t0) / 1e9);
	if (inventory)
		print_inventory(s.f, inventory);
	if (g) {
		struct gpu_stats st;
		unsigned launch, all = gpu_probes_attached(g, &launch);

		fprintf(s.f, "  \"probes_attached\": %u,\n  \"launch_probes\": %u,\n", all, launch);
		fprintf(s.f, "  \"libraries\": [");
		for (size_t i = 0; i < gpu_n_libs(g); i++) {
			const struct gpu_lib *l = gpu_lib_get(g, i);

			fprintf(s.f,
				"%s\n    {\"runtime\": \"%s\", \"path\": \"%s\", \"probes\": %u,"
				" \"error\": %d}",
				i ? "," : "", gpu_runtime_name(l->runtime), l->path, l->probes,
				l->error);
		}
		fprintf(s.f, "\n  ],\n  \"probe_hits\": {");
		for (size_t i = 0, n = 0; i < gpu_n_probes(); i++) {
			struct gpu_probe_info pi;

			if (gpu_probe_get(g, i, &pi) == 0 && pi.attached)
				fprintf(s.f, "%s\n    \"%s\": %llu", n++ ? "," : "", pi.symbol,
					(unsigned long long)pi.hits);
		}
		fprintf(s.f, "\n  },\n");
		if (gpu_read_stats(g, &st) == 0)
			fprintf(s.f, "  \"arg_faults\": %llu,\n  \"procs_full\": %llu,\n",
				(unsigned long long)st.counter[HPCM_GSTAT_ARG_FAULT],
				(unsigned long long)st.counter[HPCM_GSTAT_PROCS_FULL]);
		fprintf(s.f, "  \"processes\": [\n");
		gpu_foreach_proc(g, print_proc, &s);
		fprintf(s.f,
			"\n  ],\n  \"total\": {\"processes\": %u, \"launches\": %llu, \"threads\": %llu,"
			" \"graph_launches\": %llu, \"allocs\": %llu, \"bytes_alloc\": %llu,"
			" \"h2d_copies\": %llu, \"bytes_h2d\": %llu, \"ctx_calls\": %llu,"
			" \"module_loads\": %llu, \"dev_opens\": %llu}\n",
			s.n, (unsigned long long)s.total.launches,
			(unsigned long long)s.total.threads,
			(unsigned long long)s.total.graph_launches,
			(unsigned long long)s.total.allocs, (unsigned long long)s.total.bytes_alloc,
			(unsigned long long)s.total.h2d_copies,
			(unsigned long long)s.total.bytes_h2d,
			(unsigned long long)s.total.ctx_calls,
			(unsigned long long)s.total.module_loads,
			(unsigned long long)s.total.dev_opens);
	} else {
		fprintf(s.f, "  \"total\": null\n");
	}
	fprintf(s.f, "}\n");
	gpu_free(g);
	if (out)
		fclose(s.f);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
