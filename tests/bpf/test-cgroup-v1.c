// SPDX-License-Identifier: GPL-2.0-only
/* The BPF meter following a cgroup v1 hierarchy (freezer) on the real kernel: the id recorded
 * at exec, after a move while running (cgroup_attach_task), for a child born inside, and for a
 * process that ran before the meter; and the attributor resolving those ids to paths. Hybrid
 * hosts only (Slurm's cgroup/v1 layout); skips on a pure cgroup v2 host. Prints TAP. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "attribute.h"
#include "meter.h"
#include "util.h"

#include "../unit/tap.h"

#define MAX_SEEN 16

/* Records of the processes a case watches, by pid. */
static struct {
	pid_t pid;
	uint64_t exec_v1, exit_v1;
	int execs, exits;
} seen[MAX_SEEN];
static int n_seen;

static void watch(pid_t pid)
{
	if (n_seen < MAX_SEEN)
		seen[n_seen++] = (typeof(seen[0])){ .pid = pid };
}

static typeof(seen[0]) *find(uint32_t tgid)
{
	for (int i = 0; i < n_seen; i++)
		if ((uint32_t)seen[i].pid == tgid)
			return &seen[i];
	return NULL;
}

static void on_exec(const struct meter_exec *e, void *ud)
{
	typeof(seen[0]) *s = find(e->tgid);

	if (s) {
		s->execs++;
		s->exec_v1 = e->cgroup_v1_id;
	}
}

static void on_exit_rec(const struct meter_exit *e, void *ud)
{
	typeof(seen[0]) *s = find(e->tgid);

	if (s) {
		s->exits++;
		s->exit_v1 = e->cgroup_v1_id;
	}
}

static const struct meter_callbacks cbs = { .exec = on_exec, .exit = on_exit_rec };

/* burn's marker and gate files (tests/bpf/burn.c --park). */
static char rundir[] = "/tmp/hpcmeter-test-cgroup-v1.XXXXXX";

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ULL + ts.tv_nsec / 1000000;
}

/* Consume the ring buffer until pid's exit record has come, or timeout_ms have passed. */
static void drain(struct meter *m, pid_t pid, int timeout_ms)
{
	struct pollfd p = { .fd = meter_ring_fd(m), .events = POLLIN };
	uint64_t deadline = now_ms() + timeout_ms;

	do {
		typeof(seen[0]) *s = find(pid);

		poll(&p, 1, 50);
		meter_consume(m);
		if (s && s->exits)
			return;
	} while (now_ms() < deadline);
}

/* Consume the ring buffer until path exists (a marker burn --park writes). */
static bool wait_file(struct meter *m, const char *path)
{
	struct pollfd p = { .fd = meter_ring_fd(m), .events = POLLIN };
	uint64_t deadline = now_ms() + TAP_WAIT_MS;

	while (access(path, F_OK) < 0) {
		if (now_ms() >= deadline) {
			printf("# timed out after %d s waiting for %s\n", TAP_WAIT_MS / 1000, path);
			return false;
		}
		poll(&p, 1, 10);
		meter_consume(m);
	}
	return true;
}

static int move_to(const char *cg, pid_t pid)
{
	char path[PATH_MAX + 32], buf[32];
	int fd, n, r = 0;

	snprintf(path, sizeof(path), "%s/cgroup.procs", cg);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = snprintf(buf, sizeof(buf), "%d", pid);
	if (write(fd, buf, n) != n)
		r = -errno;
	close(fd);
	return r;
}

struct map_find {
	pid_t pid;
	uint64_t v1;
	int found;
};

static int map_find(uint32_t tgid, const struct hpcm_proc *p, void *ud)
{
	struct map_find *f = ud;

	if ((pid_t)tgid == f->pid) {
		f->found = 1;
		f->v1 = p->cgroup_v1_id;
	}
	return 0;
}

int main(int argc, char **argv)
{
	char mnt[PATH_MAX], a[PATH_MAX + 64], b[PATH_MAX + 64];
	struct stat sa, sb;
	struct meter *m = NULL;
	int r;

	if (argc != 2) {
		fprintf(stderr, "usage: test-cgroup-v1 PATH-TO-burn\n");
		return 2;
	}
	printf("TAP version 13\n");
	if (geteuid() != 0) {
		printf("1..0 # SKIP needs root to load BPF\n");
		return 0;
	}
	log_set_max_level(LOG_LVL_WARNING);
	if (cgroup_v1_mount_find(HPCM_V1_FREEZER, mnt, sizeof(mnt)) < 0) {
		printf("1..0 # SKIP no cgroup v1 freezer hierarchy (a pure cgroup v2 host)\n");
		return 0;
	}
	if (!mkdtemp(rundir)) {
		printf("Bail out! cannot create %s: %m\n", rundir);
		return 1;
	}
	snprintf(a, sizeof(a), "%s/hpcmeter-test-v1-%d-a", mnt, getpid());
	snprintf(b, sizeof(b), "%s/hpcmeter-test-v1-%d-b", mnt, getpid());
	if (mkdir(a, 0755) < 0 || mkdir(b, 0755) < 0 || stat(a, &sa) < 0 || stat(b, &sb) < 0) {
		printf("Bail out! cannot create v1 cgroups under %s: %m\n", mnt);
		rmdir(a);
		return 1;
	}

	/* A process that runs before the meter is loaded, already in cgroup a. */
	pid_t early = fork();
	if (early == 0) {
		/* wakes every 50 ms until killed */
		execl("/bin/sh", "sh", "-c", "while sleep 0.05; do :; done", (char *)NULL);
		_exit(127);
	}
	move_to(a, early);

	for (int mode = METER_ATTACH_AUTO; mode <= METER_ATTACH_RAW_TP; mode++) {
		int go[2];
		char c = 'x';

		n_seen = 0;
		r = meter_open_v1(&cbs, mode, HPCM_V1_FREEZER, &m);
		if (r < 0) {
			printf("Bail out! meter_open_v1: %s\n", strerror(-r));
			break;
		}
		printf("# attach mode %s; freezer cgroups a=%llu b=%llu\n", meter_attach_mode(m),
		       (unsigned long long)sa.st_ino, (unsigned long long)sb.st_ino);

		/* Moved into a between fork and exec (as slurmstepd does), moved to b while
		 * it runs: burn parks after 300 ms in a until the test has moved it. */
		char marker[PATH_MAX + 80], gate[PATH_MAX + 80];

		snprintf(marker, sizeof(marker), "%s/parked-%d", rundir, mode);
		snprintf(gate, sizeof(gate), "%s/go-%d", rundir, mode);
		if (pipe(go) < 0)
			abort();
		pid_t pid = fork();
		if (pid == 0) {
			close(go[1]);
			if (read(go[0], &c, 1) != 1)
				_exit(126);
			execl(argv[1], argv[1], "--park", marker, gate, "300", "300", (char *)NULL);
			_exit(127);
		}
		close(go[0]);
		watch(pid);
		TAP_CHECK(move_to(a, pid) == 0, "child %d moved into freezer cgroup a before exec",
			  pid);
		if (write(go[1], &c, 1) != 1)
			abort();
		close(go[1]);
		wait_file(m, marker);
		TAP_CHECK(move_to(b, pid) == 0, "moved to b while it runs");
		close(open(gate, O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
		drain(m, pid, TAP_WAIT_MS);
		waitpid(pid, NULL, 0);
		drain(m, pid, TAP_WAIT_MS);
		TAP_CHECK(find(pid)->execs == 1 && find(pid)->exec_v1 == (uint64_t)sa.st_ino,
			  "exec record carries cgroup a (%llu)",
			  (unsigned long long)find(pid)->exec_v1);
		TAP_CHECK(find(pid)->exits == 1 && find(pid)->exit_v1 == (uint64_t)sb.st_ino,
			  "exit record carries cgroup b after the move (%llu)",
			  (unsigned long long)find(pid)->exit_v1);

		/* A short-lived child born inside a: fork, exec and exit within a few ms. */
		pid = fork();
		if (pid == 0) {
			if (move_to(a, getpid()) < 0)
				_exit(125);
			execl("/bin/true", "true", (char *)NULL);
			_exit(127);
		}
		watch(pid);
		waitpid(pid, NULL, 0);
		drain(m, pid, TAP_WAIT_MS);
		TAP_CHECK(find(pid)->exits == 1 && find(pid)->exit_v1 == (uint64_t)sa.st_ino &&
				  find(pid)->exec_v1 == (uint64_t)sa.st_ino,
			  "a short-lived process in a is attributed to a (exec %llu, exit %llu)",
			  (unsigned long long)find(pid)->exec_v1,
			  (unsigned long long)find(pid)->exit_v1);

		/* The process older than the meter: its entry is made at its first switch (it
		 * wakes every 50 ms). */
		struct map_find f = { .pid = early };

		for (uint64_t deadline = now_ms() + TAP_WAIT_MS; !f.found && now_ms() < deadline;) {
			usleep(50 * 1000);
			meter_foreach_proc(m, map_find, &f);
		}
		TAP_CHECK(f.found && f.v1 == (uint64_t)sa.st_ino,
			  "a process running before the meter is found in a (%llu)",
			  (unsigned long long)f.v1);
		meter_free(m);
		m = NULL;
	}
	kill(early, SIGKILL);
	waitpid(early, NULL, 0);

	/* The attributor resolves v1 ids to paths below the hierarchy's mount. */
	struct attributor *at = NULL;
	enum hpcm_v1_controller ctl;
	const char *path = NULL;
	char want[PATH_MAX];

	snprintf(want, sizeof(want), "/hpcmeter-test-v1-%d-b", getpid());
	TAP_CHECK(attributor_new(&at) == 0 && attributor_follow_v1(at, "auto", &ctl) == 0 &&
			  ctl == HPCM_V1_FREEZER,
		  "auto follows the freezer hierarchy (%s)", cgroup_v1_controller_name(ctl));
	TAP_CHECK(attributor_cgroup_v1_path(at, sb.st_ino, &path) == 0 && streq(path, want),
		  "v1 id %llu resolves to %s", (unsigned long long)sb.st_ino, path ? path : "?");
	TAP_CHECK(attributor_follow_v1(at, "none", &ctl) == 0 && ctl == HPCM_V1_NONE &&
			  attributor_cgroup_v1_path(at, sb.st_ino, &path) == -ENOENT,
		  "none follows nothing");
	TAP_CHECK(attributor_follow_v1(at, "bogus", &ctl) == -EINVAL,
		  "an unknown controller is refused");
	attributor_free(at);
	rmdir(a);
	rmdir(b);
	for (int mode = METER_ATTACH_AUTO; mode <= METER_ATTACH_RAW_TP; mode++) {
		char path[PATH_MAX + 80];

		snprintf(path, sizeof(path), "%s/parked-%d", rundir, mode);
		unlink(path);
		snprintf(path, sizeof(path), "%s/go-%d", rundir, mode);
		unlink(path);
	}
	rmdir(rundir);
	return tap_done();
}
