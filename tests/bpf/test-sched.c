// SPDX-License-Identifier: GPL-2.0-only
/* BPF CPU meter on the real kernel: a child burns a known amount of CPU in its own cgroup v2;
 * the meter's on-CPU time must be within 5 % of the kernel's rusage for it, and its exec and
 * exit records must arrive with the right cgroup, uid and executable path. A process moved
 * between cgroups must be seen moving, with its CPU time (all threads) at each move. Prints
 * TAP. */
#include <pthread.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include "attribute.h"
#include "meter.h"
#include "util.h"

#include "../unit/tap.h"

struct seen {
	pid_t pid;
	int execs, exits, moves, tails;
	struct meter_exec exec;
	struct meter_exit exit;
	struct meter_move move[4];
	struct meter_tail tail;
};

/* The case in progress: the meter's callbacks record into it. */
static struct seen *cur;

static void on_exec(const struct meter_exec *e, void *ud)
{
	struct seen *s = cur;

	(void)ud;
	if (s && (pid_t)e->tgid == s->pid) {
		s->execs++;
		s->exec = *e;
	}
}

static void on_exit_rec(const struct meter_exit *e, void *ud)
{
	struct seen *s = cur;

	(void)ud;
	if (s && (pid_t)e->tgid == s->pid) {
		s->exits++;
		s->exit = *e;
	}
}

static void on_move_rec(const struct meter_move *e, void *ud)
{
	struct seen *s = cur;

	(void)ud;
	if (s && (pid_t)e->tgid == s->pid) {
		if (s->moves < 4)
			s->move[s->moves] = *e;
		s->moves++;
	}
}

static void on_tail_rec(const struct meter_tail *e, void *ud)
{
	struct seen *s = cur;

	(void)ud;
	if (s && (pid_t)e->tgid == s->pid) {
		s->tails++;
		s->tail = *e;
	}
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ULL + ts.tv_nsec / 1000000;
}

static int drain_until_exit(struct meter *m, struct seen *s, int timeout_ms)
{
	struct pollfd p = { .fd = meter_ring_fd(m), .events = POLLIN };
	uint64_t deadline = now_ms() + timeout_ms;

	while (s->exits == 0 && now_ms() < deadline) {
		poll(&p, 1, 100);
		if (meter_consume(m) < 0)
			return -1;
	}
	return s->exits ? 0 : -ETIMEDOUT;
}

/* Consume the ring buffer for ms milliseconds (of the clock: records may wake it sooner). */
static void drain_for(struct meter *m, int ms)
{
	struct pollfd p = { .fd = meter_ring_fd(m), .events = POLLIN };
	uint64_t deadline = now_ms() + ms;

	do {
		poll(&p, 1, 10);
		meter_consume(m);
	} while (now_ms() < deadline);
}

struct find {
	pid_t pid;
	uint64_t cpu_ns;
	int found;
};

static int find_proc(uint32_t tgid, const struct hpcm_proc *p, void *ud)
{
	struct find *f = ud;

	if ((pid_t)tgid == f->pid) {
		f->found = 1;
		f->cpu_ns = p->cpu_ns;
	}
	return 0;
}

/* A directory for burn's marker and gate files, writable by the unprivileged case too. */
static char rundir[] = "/tmp/hpcmeter-test-sched.XXXXXX";

/* Wait for a file that a child creates, consuming the ring buffer meanwhile (as the daemon
 * does: it sees every exec of the node, and other tests may be spawning processes). */
static bool wait_file(struct meter *m, const char *path)
{
	uint64_t deadline = now_ms() + TAP_WAIT_MS;

	while (now_ms() < deadline) {
		if (access(path, F_OK) == 0)
			return true;
		drain_for(m, 10);
	}
	printf("# timed out after %d s waiting for %s\n", TAP_WAIT_MS / 1000, path);
	return false;
}

/* Another process's CPU time so far (all its threads), by its CPU clock; 0 if unknown. */
static uint64_t process_cpu_ns(pid_t pid)
{
	struct timespec ts;
	clockid_t cid;

	if (clock_getcpuclockid(pid, &cid) != 0 || clock_gettime(cid, &ts) < 0)
		return 0;
	return ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

static uint64_t read_ns(const char *path)
{
	unsigned long long ns = 0;
	FILE *f = fopen(path, "re");

	if (f && fscanf(f, "%llu", &ns) != 1)
		ns = 0;
	if (f)
		fclose(f);
	return ns;
}

/* Run burn (ms of CPU in each of threads) as uid in cgroup cg and check what the meter saw.
 * burn parks half way (--park) until the test has taken a reading, so that the reading is
 * known to fall while it runs, at a known CPU total. */
static void run_case(struct meter *m, const char *burn, const char *cg, uint64_t cg_id, int ms,
		     int threads, uid_t uid)
{
	char arg_before[16], arg_after[16], arg_t[16], procs[PATH_MAX + 128], pidbuf[32];
	char marker[sizeof(rundir) + 32], gate[sizeof(rundir) + 32];
	struct seen s = { 0 };
	struct rusage ru;
	int go[2], report[2], status, fd;
	/* The child's audit session as it reports it: loginuid, sessionid, and whether it
	 * started one of its own (as pam_loginuid does at a login). */
	uint32_t session[3] = { 0 };
	char resolved[2 * PATH_MAX];
	pid_t pid;

	snprintf(arg_before, sizeof(arg_before), "%d", ms / 2);
	snprintf(arg_after, sizeof(arg_after), "%d", ms - ms / 2);
	snprintf(arg_t, sizeof(arg_t), "%d", threads);
	snprintf(marker, sizeof(marker), "%s/parked-%d-%u", rundir, ms, (unsigned)uid);
	snprintf(gate, sizeof(gate), "%s/go-%d-%u", rundir, ms, (unsigned)uid);
	if (pipe(go) < 0 || pipe(report) < 0)
		abort();
	pid = fork();
	if (pid == 0) {
		uint32_t mine[3] = { HPCM_AUDIT_UNSET, HPCM_AUDIT_UNSET, 0 };
		char c, buf[32];
		FILE *f;

		close(go[1]);
		close(report[0]);
		/* A new audit session for this child, as a login gets (root may set an unset
		 * loginuid once unless loginuid_immutable). */
		f = fopen("/proc/self/loginuid", "we");
		if (f) {
			mine[2] = fprintf(f, "%u", 4000 + (unsigned)uid % 1000) > 0;
			mine[2] = fclose(f) == 0 && mine[2];
		}
		if ((f = fopen("/proc/self/loginuid", "re"))) {
			if (fgets(buf, sizeof(buf), f))
				mine[0] = strtoul(buf, NULL, 10);
			fclose(f);
		}
		if ((f = fopen("/proc/self/sessionid", "re"))) {
			if (fgets(buf, sizeof(buf), f))
				mine[1] = strtoul(buf, NULL, 10);
			fclose(f);
		}
		if (write(report[1], mine, sizeof(mine)) != sizeof(mine))
			_exit(124);
		close(report[1]);
		if (read(go[0], &c, 1) != 1)
			_exit(126);
		if (uid && (setgid(65534) < 0 || setuid(uid) < 0))
			_exit(125);
		execl(burn, burn, "--park", marker, gate, arg_before, arg_after, arg_t,
		      (char *)NULL);
		fprintf(stderr, "# exec %s: %m\n", burn);
		_exit(127);
	}
	close(go[0]);
	close(report[1]);
	if (read(report[0], session, sizeof(session)) != sizeof(session))
		abort();
	close(report[0]);
	s.pid = pid;
	cur = &s;

	snprintf(procs, sizeof(procs), "%s/cgroup.procs", cg);
	snprintf(pidbuf, sizeof(pidbuf), "%d", pid);
	fd = open(procs, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, pidbuf, strlen(pidbuf)) < 0)
		fprintf(stderr, "# cannot move %d into %s: %m\n", pid, procs);
	if (fd >= 0)
		close(fd);
	/* Let the meter see the child in the cgroup, then release it. */
	if (write(go[1], "x", 1) != 1)
		abort();
	close(go[1]);

	/* Take a reading while it runs (parked half way): the counter must be live, not only at
	 * exit, and hold what the process has burned so far: what its CPU clock says just before
	 * and just after the reading. */
	struct find f = { .pid = pid };
	uint64_t parked_ns = 0, clock_before = 0, clock_after = 0;

	if (wait_file(m, marker)) {
		parked_ns = read_ns(marker);
		clock_before = process_cpu_ns(pid);
		meter_foreach_proc(m, find_proc, &f);
		clock_after = process_cpu_ns(pid);
	}
	fd = open(gate, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0)
		close(fd);

	pid_t w;
	while ((w = wait4(pid, &status, WNOHANG, &ru)) == 0)
		drain_for(m, 20);
	if (w != pid)
		abort();
	TAP_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "burn %d ms x %d threads (uid %u) exited 0 (status %#x)", ms, threads,
		  (unsigned)uid, status);

	TAP_CHECK(drain_until_exit(m, &s, TAP_WAIT_MS) == 0, "exit record seen for pid %d", pid);
	TAP_CHECK(s.execs == 1, "exactly one exec record for pid %d (got %d)", pid, s.execs);
	/* A thread that is on a CPU when the clock is read (looking for its gate) has its time
	 * since the scheduler last folded it into se.sum_exec_runtime counted by the clock but not
	 * yet by the reading: at most a tick per thread (10 ms allows HZ=100). */
	uint64_t unfolded_ns = (uint64_t)threads * 10000 * NSEC_PER_USEC;

	TAP_CHECK(f.found && parked_ns > 0 && clock_before >= parked_ns &&
			  f.cpu_ns + unfolded_ns >= clock_before && f.cpu_ns <= clock_after,
		  "a reading mid-run held a live counter (%.4f s; the process clock said %.4f s "
		  "before it, %.4f s after, %.4f s when the process parked)",
		  f.cpu_ns / 1e9, clock_before / 1e9, clock_after / 1e9, parked_ns / 1e9);

	uint64_t ru_ns = ((uint64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * NSEC_PER_SEC +
			 ((uint64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * NSEC_PER_USEC;
	/* What it ran after its exit record (tearing its memory down: tens of ms under ASan)
	 * comes in a tail record after its parent reaped it, when it is HPCM_TAIL_MIN_NS or
	 * more: rusage says whether there is one to wait for. */
	for (uint64_t deadline = now_ms() + TAP_WAIT_MS;
	     s.exits && !s.tails && ru_ns > s.exit.cpu_ns + 10 * HPCM_TAIL_MIN_NS &&
	     now_ms() < deadline;)
		drain_for(m, 20);
	uint64_t meter_ns = s.exit.cpu_ns + (s.tails ? s.tail.cpu_ns : 0);
	double ratio = ru_ns ? (double)meter_ns / ru_ns : 0;
	TAP_CHECK(ratio > 0.95 && ratio < 1.05,
		  "meter %.4f s (exit record) + %.4f s (tail) vs rusage %.4f s (ratio %.4f, within "
		  "5%%)",
		  s.exit.cpu_ns / 1e9, s.tails ? s.tail.cpu_ns / 1e9 : 0, ru_ns / 1e9, ratio);
	TAP_CHECK(ru_ns >= (uint64_t)ms * threads * 1000000ULL * 95 / 100,
		  "the workload really burned its CPU (%.3f s)", ru_ns / 1e9);
	TAP_CHECK(s.exec.cgroup_id == cg_id, "exec record cgroup id %llu == cgroup inode %llu",
		  (unsigned long long)s.exec.cgroup_id, (unsigned long long)cg_id);
	TAP_CHECK(s.exit.cgroup_id == cg_id, "exit record cgroup id %llu == cgroup inode %llu",
		  (unsigned long long)s.exit.cgroup_id, (unsigned long long)cg_id);
	TAP_CHECK(s.exec.uid == uid && s.exit.uid == uid,
		  "uid %u in exec and exit records (%u, %u)", (unsigned)uid, s.exec.uid,
		  s.exit.uid);
	/* The kernel walks the path to the root of the mount namespace: a test run inside a
	 * chroot is told the chroot's own path (HPCMETER_TEST_PATH_PREFIX). */
	const char *prefix = getenv("HPCMETER_TEST_PATH_PREFIX");
	char rp[PATH_MAX];

	if (!realpath(burn, rp))
		rp[0] = '\0';
	snprintf(resolved, sizeof(resolved), "%s%s", prefix ? prefix : "", rp);
	TAP_CHECK(streq(s.exec.path, resolved), "exec path \"%s\" == \"%s\"", s.exec.path,
		  resolved);
	TAP_CHECK(s.exec.ppid == (uint32_t)getpid(), "exec ppid %u is the test", s.exec.ppid);
	TAP_CHECK(s.exec.loginuid == session[0] && s.exec.sessionid == session[1] &&
			  (!session[2] || (session[0] == 4000 + (unsigned)uid % 1000 &&
					   session[1] != HPCM_AUDIT_UNSET)),
		  "exec record carries the audit session: loginuid %u sessionid %u (the child's "
		  "%u %u, a session of its own: %s)",
		  s.exec.loginuid, s.exec.sessionid, session[0], session[1],
		  session[2] ? "yes" : "no");
	unlink(marker);
	unlink(gate);
	TAP_CHECK(s.exit.start_ns == s.exec.start_ns && s.exit.start_ns > 0,
		  "exit and exec records carry the same start time");
	cur = NULL;
}

/* A program whose link goes away (here: its only file descriptor closed) is noticed by the
 * per-interval check that opens a probe-detached gap. */
static void check_detach(struct meter *m)
{
	unsigned missing = 99;
	int fd = -1;
	DIR *d = opendir("/proc/self/fdinfo");
	struct dirent *de;

	TAP_CHECK(meter_check_attached(m, &missing) == 0 && missing == 0,
		  "every program of the meter is attached (%u missing)", missing);
	while (d && fd < 0 && (de = readdir(d))) {
		char path[300], line[128];
		FILE *f;

		snprintf(path, sizeof(path), "/proc/self/fdinfo/%s", de->d_name);
		f = fopen(path, "re");
		/* A tracepoint's link (the task iterator may have two: the skeleton's and the
		 * reading's). */
		while (f && fgets(line, sizeof(line), f))
			if (strncmp(line, "link_type:", 10) == 0 && !strstr(line, "iter"))
				fd = atoi(de->d_name);
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	/* The skeleton closes it again at meter_free(): EBADF, nothing else opened meanwhile. */
	if (fd >= 0)
		close(fd);
	/* The kernel may free a link a moment after its last reference goes (RCU). */
	for (int i = 0; fd >= 0 && i < TAP_WAIT_MS / 50; i++) {
		missing = 99;
		if (meter_check_attached(m, &missing) < 0 || missing == 1)
			break;
		usleep(50000);
	}
	TAP_CHECK(fd >= 0 && missing == 1, "a program whose link is gone is noticed (%u missing)",
		  missing);
}

static const struct meter_callbacks cbs = { .exec = on_exec,
					    .exit = on_exit_rec,
					    .move = on_move_rec,
					    .tail = on_tail_rec };

/* Burns arg milliseconds of this thread's CPU from now: a thread that already ran (the child's
 * main thread, which forked and joined threads, slower under ASan) burns the full amount on top. */
static void *burn_thread(void *arg)
{
	struct timespec ts;
	volatile unsigned long x = 0;
	long start_ns, want_ns = (long)(intptr_t)arg * 1000000L;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	start_ns = ts.tv_sec * 1000000000L + ts.tv_nsec;
	for (;;) {
		for (int i = 0; i < 100000; i++)
			x += i;
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
		if (ts.tv_sec * 1000000000L + ts.tv_nsec - start_ns >= want_ns)
			return NULL;
	}
}

static int move_to(const char *cg, pid_t pid)
{
	char procs[PATH_MAX + 32], buf[32];
	int fd, r = 0;

	snprintf(procs, sizeof(procs), "%s/cgroup.procs", cg);
	snprintf(buf, sizeof(buf), "%d", pid);
	fd = open(procs, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, buf, strlen(buf)) < 0)
		r = -errno;
	if (fd >= 0)
		close(fd);
	return r;
}

/* The last thread of its process: it ends the process with _exit(), not by returning (an exit()
 * would run the sanitizers' leak check in a child of the test). */
static void *burn_and_exit(void *arg)
{
	burn_thread(arg);
	_exit(0);
}

/* What a process runs after its exit record reaches the meter once its parent reaped it (a
 * tail record): a child that holds as many pipes as its descriptor limit allows, released after
 * the exit tracepoint; and
 * a child whose main thread burns 200 ms and leaves with pthread_exit() while a second thread
 * burns 100 ms: the leader's time is folded into the process's total only at its release, so
 * the exit record (written by the last thread) lacks it. The exit and tail records together
 * must match the parent's rusage of the child within 2 %. */
static void run_tail_case(struct meter *m, bool leader_first)
{
	struct seen s = { 0 };
	struct rusage ru;
	int status;
	pid_t pid;

	pid = fork();
	if (pid == 0) {
		if (leader_first) {
			pthread_t t;

			burn_thread((void *)(intptr_t)200);
			if (pthread_create(&t, NULL, burn_and_exit, (void *)(intptr_t)100) != 0)
				_exit(125);
			pthread_exit(NULL);
		} else {
			struct rlimit rl;
			int p[2];

			/* As many pipes as the descriptor limit allows (up to 100,000). */
			if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
				_exit(124);
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
			for (rlim_t i = 0; i + 2 < rl.rlim_cur - 64 && i < 200000; i += 2)
				if (pipe2(p, O_CLOEXEC) < 0)
					_exit(123);
			_exit(0);
		}
	}
	s.pid = pid;
	cur = &s;
	pid_t w;
	while ((w = wait4(pid, &status, WNOHANG, &ru)) == 0)
		drain_for(m, 20);
	TAP_CHECK(w == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "%s: the child ran to its end (status %d)",
		  leader_first ? "leader first" : "pipes held at exit", status);
	/* The tail comes at the leader's release, after an RCU grace period. */
	for (uint64_t deadline = now_ms() + TAP_WAIT_MS;
	     (!s.exits || !s.tails) && now_ms() < deadline;)
		drain_for(m, 20);
	uint64_t ru_ns = ((uint64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * NSEC_PER_SEC +
			 ((uint64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * NSEC_PER_USEC;
	TAP_CHECK(s.exits == 1 && s.tails == 1, "an exit and a tail record (%d, %d)", s.exits,
		  s.tails);
	if (s.tails != 1) {
		/* Which way it was lost: never written, the ring full, or never followed. */
		struct meter_stats st;

		if (meter_read_stats(m, &st) == 0)
			printf("# meter stats: tails written %llu, lost (ring full) %llu, exits not "
			       "followed (map full) %llu\n",
			       (unsigned long long)st.counter[HPCM_STAT_TAIL],
			       (unsigned long long)st.counter[HPCM_STAT_DROP_TAIL],
			       (unsigned long long)st.counter[HPCM_STAT_EXITING_FULL]);
	}
	TAP_CHECK(s.tail.start_ns == s.exit.start_ns && s.tail.cgroup_id == s.exit.cgroup_id &&
			  s.tail.uid == s.exit.uid,
		  "the tail names the process, cgroup and uid of its exit record");
	if (leader_first)
		TAP_CHECK(s.tail.cpu_ns > 190 * 1000000ull && s.exit.cpu_ns < 180 * 1000000ull,
			  "the leader's 0.2 s is in the tail (%.4f s), not in the exit record "
			  "(%.4f s)",
			  s.tail.cpu_ns / 1e9, s.exit.cpu_ns / 1e9);
	double ratio = ru_ns ? (double)(s.exit.cpu_ns + s.tail.cpu_ns) / ru_ns : 0;
	TAP_CHECK(ratio > 0.98 && ratio < 1.02,
		  "exit %.4f s + tail %.4f s vs rusage %.4f s (ratio %.4f, within 2 %%)",
		  s.exit.cpu_ns / 1e9, s.tail.cpu_ns / 1e9, ru_ns / 1e9, ratio);
	cur = NULL;
}

/* The cgroup v2 id of this process (the parent of the children below). */
static uint64_t own_cgroup_id(const char *mnt)
{
	char line[PATH_MAX], path[2 * PATH_MAX];
	struct stat st;
	uint64_t id = 0;
	FILE *f = fopen("/proc/self/cgroup", "re");

	while (f && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "0::", 3) != 0)
			continue;
		line[strcspn(line, "\n")] = '\0';
		snprintf(path, sizeof(path), "%s%s", mnt, line + 3);
		if (stat(path, &st) == 0)
			id = st.st_ino;
	}
	if (f)
		fclose(f);
	return id;
}

/* A forked child (no exec) moved into A by its parent, where two of its threads burn 150 ms
 * each; then moved into B, where it burns 100 ms more and exits. The move records must name
 * the cgroup moved to, the parent's cgroup, and the whole process's CPU time at the move: the
 * time before the move belongs to the cgroup left. */
static void run_move_case(struct meter *m, const char *mnt, const char *a, uint64_t a_id,
			  const char *b, uint64_t b_id)
{
	int go[2], back[2], status;
	struct seen s = { 0 };
	struct timespec ts;
	uint64_t cpu_before_b = 0;
	pid_t pid;
	char c;

	if (pipe(go) < 0 || pipe(back) < 0)
		abort();
	pid = fork();
	if (pid == 0) {
		pthread_t t[2];

		close(go[1]);
		close(back[0]);
		if (read(go[0], &c, 1) != 1) /* in A */
			_exit(126);
		for (int i = 0; i < 2; i++)
			if (pthread_create(&t[i], NULL, burn_thread, (void *)(intptr_t)150) != 0)
				_exit(125);
		for (int i = 0; i < 2; i++)
			pthread_join(t[i], NULL);
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
		if (write(back[1], &ts, sizeof(ts)) != sizeof(ts))
			_exit(124);
		if (read(go[0], &c, 1) != 1) /* in B */
			_exit(123);
		burn_thread((void *)(intptr_t)100); /* 100 ms on top of what it ran in A */
		_exit(0);
	}
	close(go[0]);
	close(back[1]);
	s.pid = pid;
	cur = &s;
	TAP_CHECK(move_to(a, pid) == 0, "moved pid %d into A", pid);
	if (write(go[1], "x", 1) != 1)
		abort();
	if (read(back[0], &ts, sizeof(ts)) == sizeof(ts))
		cpu_before_b = ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
	TAP_CHECK(move_to(b, pid) == 0, "moved pid %d into B after %.3f s of its CPU", pid,
		  cpu_before_b / 1e9);
	if (write(go[1], "x", 1) != 1)
		abort();
	while (waitpid(pid, &status, WNOHANG) == 0)
		drain_for(m, 20);
	TAP_CHECK(drain_until_exit(m, &s, TAP_WAIT_MS) == 0 && WIFEXITED(status) &&
			  WEXITSTATUS(status) == 0,
		  "the child ran to its end (status %d)", status);
	TAP_CHECK(s.moves == 2, "two move records for pid %d (got %d)", pid, s.moves);
	if (s.moves < 2) {
		cur = NULL;
		return;
	}
	TAP_CHECK(s.move[0].cgroup_id == a_id && s.move[1].cgroup_id == b_id,
		  "they name the cgroups moved to, in order (%llu, %llu)",
		  (unsigned long long)s.move[0].cgroup_id, (unsigned long long)s.move[1].cgroup_id);
	uint64_t own = own_cgroup_id(mnt);
	TAP_CHECK(own && s.move[0].parent_cgroup_id == own,
		  "and the parent's cgroup, where fork put the child (%llu == %llu)",
		  (unsigned long long)s.move[0].parent_cgroup_id, (unsigned long long)own);
	TAP_CHECK(s.move[0].cpu_ns < 50 * 1000000ull,
		  "the first move carries the little time before it (%.4f s)",
		  s.move[0].cpu_ns / 1e9);
	double ratio = cpu_before_b ? (double)s.move[1].cpu_ns / cpu_before_b : 0;
	TAP_CHECK(ratio > 0.98 && ratio < 1.05 && !s.move[1].partial,
		  "the second carries the time of both threads burned in A: %.4f s, the process "
		  "clock said %.4f s (ratio %.4f)",
		  s.move[1].cpu_ns / 1e9, cpu_before_b / 1e9, ratio);
	TAP_CHECK(s.move[0].start_ns == s.exit.start_ns && s.move[1].uid == getuid(),
		  "start time and uid as in the exit record");
	TAP_CHECK(s.exit.cgroup_id == b_id && s.exit.cpu_ns >= s.move[1].cpu_ns + 90 * 1000000ull,
		  "it exits in B with the 0.1 s it burned there on top (%.4f s, %.4f s more than "
		  "at the move)",
		  s.exit.cpu_ns / 1e9, ((double)s.exit.cpu_ns - (double)s.move[1].cpu_ns) / 1e9);
	cur = NULL;
}

static int count_entries(uint32_t tgid, const struct hpcm_proc *p, void *ud)
{
	(void)tgid;
	(void)p;
	(*(int *)ud)++;
	return 0;
}

int main(int argc, char **argv)
{
	char mnt[PATH_MAX], cg[PATH_MAX + 64], cgb[PATH_MAX + 64];
	struct meter *m = NULL;
	struct stat st, stb;
	int r;

	if (argc != 2) {
		fprintf(stderr, "usage: test-sched PATH-TO-burn\n");
		return 2;
	}
	printf("TAP version 13\n");
	if (geteuid() != 0) {
		printf("1..0 # SKIP needs root to load BPF\n");
		return 0;
	}
	log_set_max_level(LOG_LVL_WARNING);
	/* burn writes its marker there also when it runs as nobody */
	if (!mkdtemp(rundir) || chmod(rundir, 0777) < 0) {
		printf("Bail out! cannot create %s: %m\n", rundir);
		return 1;
	}
	r = cgroup2_mount_find(mnt, sizeof(mnt));
	if (r < 0) {
		printf("Bail out! no cgroup2 mount: %s\n", strerror(-r));
		return 1;
	}
	snprintf(cg, sizeof(cg), "%s/hpcmeter-test-%d", mnt, getpid());
	snprintf(cgb, sizeof(cgb), "%s/hpcmeter-test-%d-b", mnt, getpid());
	if (mkdir(cg, 0755) < 0 || stat(cg, &st) < 0 || mkdir(cgb, 0755) < 0 ||
	    stat(cgb, &stb) < 0) {
		printf("Bail out! cannot create cgroups %s and %s: %m\n", cg, cgb);
		rmdir(cg);
		return 1;
	}
	/* Both program sets: tp_btf (what this kernel gets) and raw_tp (the fallback that older
	 * kernels get), through the same loader. */
	for (int mode = METER_ATTACH_AUTO; mode <= METER_ATTACH_RAW_TP; mode++) {
		r = meter_open(&cbs, mode, &m);
		if (r < 0) {
			printf("Bail out! meter_open: %s\n", strerror(-r));
			rmdir(cg);
			rmdir(cgb);
			return 1;
		}
		printf("# attach mode %s, cgroup %s (id %llu)\n", meter_attach_mode(m), cg,
		       (unsigned long long)st.st_ino);
		TAP_CHECK(streq(meter_attach_mode(m),
				mode == METER_ATTACH_AUTO ? "tp_btf" : "raw_tp"),
			  "attached with %s", meter_attach_mode(m));

		run_case(m, argv[1], cg, st.st_ino, 1000, 1, 0);
		run_case(m, argv[1], cg, st.st_ino, 400, 2, 65534);
		run_move_case(m, mnt, cg, st.st_ino, cgb, stb.st_ino);
		run_tail_case(m, false);
		run_tail_case(m, true);

		int n = 0;
		meter_foreach_proc(m, count_entries, &n);
		TAP_CHECK(n > 0, "a reading finds the living processes (%d)", n);
		struct meter_stats stats;
		TAP_CHECK(
			meter_read_stats(m, &stats) == 0 && stats.counter[HPCM_STAT_EXEC] >= 2 &&
				stats.counter[HPCM_STAT_EXIT] >= 2 &&
				stats.counter[HPCM_STAT_MOVE] >= 2,
			"stats count execs (%llu), exits (%llu) and moves (%llu); drops exec %llu "
			"exit %llu",
			(unsigned long long)stats.counter[HPCM_STAT_EXEC],
			(unsigned long long)stats.counter[HPCM_STAT_EXIT],
			(unsigned long long)stats.counter[HPCM_STAT_MOVE],
			(unsigned long long)stats.counter[HPCM_STAT_DROP_EXEC],
			(unsigned long long)stats.counter[HPCM_STAT_DROP_EXIT]);
		TAP_CHECK(stats.bad_records == 0, "no malformed ring-buffer records");
		check_detach(m);
		meter_free(m);
		m = NULL;
	}
	/* Attribution of the cgroup id, and the ageing of its cache. */
	struct attributor *a = NULL;
	const char *path = NULL;
	char want[PATH_MAX + 64];

	snprintf(want, sizeof(want), "/hpcmeter-test-%d", getpid());
	TAP_CHECK(attributor_new(&a) == 0 && attributor_cgroup_path(a, st.st_ino, &path) == 0 &&
			  streq(path, want),
		  "cgroup id %llu resolves to %s", (unsigned long long)st.st_ino,
		  path ? path : "?");
	attributor_age(a);
	TAP_CHECK(attributor_cgroups_cached(a) == 1,
		  "a path used in the last generation stays cached");
	attributor_age(a);
	TAP_CHECK(attributor_cgroups_cached(a) == 0,
		  "a path unused for a whole generation is dropped");
	path = NULL;
	TAP_CHECK(attributor_cgroup_path(a, st.st_ino, &path) == 0 && path && streq(path, want),
		  "and is resolved again when asked for");
	rmdir(cg);
	rmdir(cgb);
	attributor_age(a);
	attributor_age(a);
	TAP_CHECK(attributor_cgroup_path(a, st.st_ino, &path) == -ESTALE,
		  "a removed cgroup no longer resolves (-ESTALE)");
	attributor_free(a);
	rmdir(rundir);
	return tap_done();
}
