/* SPDX-License-Identifier: GPL-2.0-only */
/* libFuzzer target: the licence parser and the threshold-registry parser on arbitrary bytes.
 * Any crash, sanitizer report or leak fails; every input must parse or give an error with a
 * message. Built with clang -fsanitize=fuzzer,address,undefined (make fuzz, make check). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "license.h"

static int fd = -1;
static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* Caps may name registry entries: the tree's registry (run from the source tree). */
	setenv("HPCMETER_THRESHOLDS", "data/thresholds.yaml", 0);
	fd = memfd_create("fuzz-license", MFD_CLOEXEC);
	if (fd < 0) {
		perror("memfd_create");
		abort();
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return 0;
}

static void check_error(const struct license_error *err)
{
	char buf[1024];

	/* An error always says something, and formatting it stays in bounds. */
	if (!err->message[0])
		abort();
	license_error_format(err, buf, sizeof(buf));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct threshold_registry *reg = NULL;
	struct license_error err;
	struct license *l = NULL;

	if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	if (license_parse_file(path, &l, &err) < 0)
		check_error(&err);
	else if (!l || !l->id || l->valid_until < l->valid_from)
		abort();
	license_free(l);
	if (threshold_registry_load(path, &reg, &err) < 0)
		check_error(&err);
	threshold_registry_free(reg);
	return 0;
}
