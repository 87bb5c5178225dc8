// SPDX-License-Identifier: GPL-2.0-only
/* Where a login session came from (lib/session-origin.c): the parsers, and the lookup against
 * real processes of this host. A child starts an audit session of its own (as pam_loginuid
 * does at a login) and accepts a TCP connection from 127.0.0.5 (as sshd does), then forks the
 * session's "shell": the session's origin must be that address, found from the shell, from
 * the login process when the shell is gone, and by a scan of /proc when both named processes
 * are gone. A session without a connection takes its remote host from a utmp file the test
 * writes; one without either is local. Needs root (CAP_AUDIT_CONTROL) for the sessions. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <utmpx.h>

#include "session-origin.h"
#include "tap.h"

static void test_parsers(void)
{
	struct tcp_entry e;
	char buf[64];
	static const uint8_t mapped[16] = { [10] = 0xff, [11] = 0xff, 192, 0, 2, 1 };

	TAP_CHECK(origin_parse_tcp_line("  sl  local_address rem_address   st tx_queue rx_queue tr "
					"tm->when retrnsmt   uid  timeout inode",
					AF_INET, &e) == -EINVAL,
		  "the header of /proc/net/tcp is not an entry");
	TAP_CHECK(origin_parse_tcp_line("   2: 076433C6:08AE 057100CB:BFE1 01 00000000:00000000 "
					"02:000AFA2F 00000000     0        0 1048338 3 "
					"0000000069a21486 21 4 28 18 -1",
					AF_INET, &e) == 0,
		  "an established IPv4 entry parses");
	origin_address_text(AF_INET, e.local, buf, sizeof(buf));
	TAP_CHECK(strcmp(buf, "198.51.100.7") == 0 && e.local_port == 2222, "local %s:%u", buf,
		  e.local_port);
	origin_address_text(AF_INET, e.remote, buf, sizeof(buf));
	TAP_CHECK(strcmp(buf, "203.0.113.5") == 0 && e.remote_port == 49121 && e.state == 1 &&
			  e.inode == 1048338,
		  "remote %s:%u, state %u, inode %llu", buf, e.remote_port, e.state,
		  (unsigned long long)e.inode);
	TAP_CHECK(
		origin_parse_tcp_line("   0: 00000000000000000000000001000000:0016 "
				      "0000000000000000FFFF00000100007F:D2F0 01 00000000:00000000 "
				      "00:00000000 00000000     0        0 4242 1 0 20 4 30 10 -1",
				      AF_INET6, &e) == 0,
		"an IPv6 entry parses");
	origin_address_text(AF_INET6, e.local, buf, sizeof(buf));
	TAP_CHECK(strcmp(buf, "::1") == 0 && e.local_port == 22, "IPv6 local %s:%u", buf,
		  e.local_port);
	origin_address_text(AF_INET6, e.remote, buf, sizeof(buf));
	TAP_CHECK(strcmp(buf, "127.0.0.1") == 0, "an IPv4-mapped peer is IPv4: %s", buf);
	origin_address_text(AF_INET6, mapped, buf, sizeof(buf));
	TAP_CHECK(strcmp(buf, "192.0.2.1") == 0, "::ffff:192.0.2.1 is %s", buf);
	TAP_CHECK(origin_parse_tcp_line("   1: 0100007F:0016 0100007F:D2F0 01 00000000:00000000",
					AF_INET, &e) == -EINVAL,
		  "a truncated line is refused");
	TAP_CHECK(origin_parse_tcp_line("   1: 0100007:0016 0100007F:D2F0 01 00000000:00000000 "
					"00:00000000 00000000 0 0 1 1",
					AF_INET, &e) == -EINVAL,
		  "an address of the wrong length is refused");

	TAP_CHECK(origin_host_copy("login1.example.org", 256, buf, sizeof(buf)) &&
			  strcmp(buf, "login1.example.org") == 0,
		  "a host name is a remote host");
	TAP_CHECK(origin_host_copy("2001:db8::5%eth0", 256, buf, sizeof(buf)), "an IPv6 address");
	TAP_CHECK(!origin_host_copy(":0", 256, buf, sizeof(buf)) &&
			  !origin_host_copy(":pts/1:S.0", 256, buf, sizeof(buf)),
		  "an X display or a screen session is this host");
	TAP_CHECK(!origin_host_copy("", 256, buf, sizeof(buf)) &&
			  !origin_host_copy("a b", 256, buf, sizeof(buf)) &&
			  !origin_host_copy("x\n", 256, buf, sizeof(buf)) &&
			  !origin_host_copy("-oProxy", 256, buf, sizeof(buf)),
		  "empty, spaces, control characters and a leading dash are not hosts");
	TAP_CHECK(origin_host_copy("host1", 3, buf, sizeof(buf)) && strcmp(buf, "hos") == 0,
		  "an unterminated field is cut at its size");
}

static int new_session(void)
{
	FILE *f = fopen("/proc/self/loginuid", "we");
	int ok;

	if (!f)
		return -1;
	ok = fprintf(f, "%u", 4321) > 0;
	return fclose(f) == 0 && ok ? 0 : -1;
}

/* Whether a child may start a session (root, an audit kernel, loginuid not immutable). */
static int new_session_possible(void)
{
	int status;
	pid_t pid = fork();

	if (pid == 0)
		_exit(new_session() < 0);
	return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
			       WEXITSTATUS(status) == 0 ?
		       0 :
		       -1;
}

static uint32_t session_of(pid_t pid)
{
	char path[64];
	unsigned v = 0xffffffffu;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/sessionid", (int)pid);
	f = fopen(path, "re");
	if (f) {
		if (fscanf(f, "%u", &v) != 1)
			v = 0xffffffffu;
		fclose(f);
	}
	return v;
}

/* A login process in a session of its own that accepts one connection on lfd and forks a
 * shell; the shell's pid comes back on report. Both wait to be killed. */
static pid_t start_login(int lfd, int report)
{
	pid_t pid = fork();

	if (pid == 0) {
		pid_t shell;
		int c;

		if (new_session() < 0)
			_exit(3);
		c = lfd >= 0 ? accept(lfd, NULL, NULL) : -1;
		if (lfd >= 0 && c < 0)
			_exit(4);
		if (lfd >= 0)
			close(lfd);
		shell = fork();
		if (shell == 0) {
			if (c >= 0)
				close(c); /* the shell holds no socket: its login process does */
			pause();
			_exit(0);
		}
		if (write(report, &shell, sizeof(shell)) != sizeof(shell))
			_exit(5);
		pause();
		_exit(0);
	}
	return pid;
}

/* Kill pid; reap it when it is this test's child. */
static void stop(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static void test_sessions(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	struct session_origin o;
	struct origin_paths paths = origin_default_paths;
	char utmp_path[] = "/tmp/test-origin-utmp.XXXXXX";
	pid_t login, shell = 0;
	int lfd, cfd, rep[2];
	uint32_t sid;

	paths.logind = NULL; /* this host has no logind; the other sources are under test */
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lfd, 1) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &len) < 0 || pipe(rep) < 0) {
		printf("Bail out! socket: %m\n");
		exit(2);
	}
	login = start_login(lfd, rep[1]);
	/* The client: from 127.0.0.5, any address of 127/8 is this host's. */
	struct sockaddr_in from = { .sin_family = AF_INET };
	from.sin_addr.s_addr = htonl(0x7f000005);
	cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (cfd < 0 || bind(cfd, (struct sockaddr *)&from, sizeof(from)) < 0 ||
	    connect(cfd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    read(rep[0], &shell, sizeof(shell)) != sizeof(shell)) {
		printf("Bail out! connection: %m\n");
		exit(2);
	}
	sid = session_of(shell);
	TAP_CHECK(sid != 0xffffffffu && sid == session_of(login) && sid != session_of(getpid()),
		  "the login process and its shell share a session of their own (%u)", sid);

	TAP_CHECK(session_origin_find(&paths, shell, login, sid, &o) == 0 &&
			  o.source == ORIGIN_SOURCE_SOCKET && strcmp(o.host, "127.0.0.5") == 0 &&
			  strcmp(o.address, "127.0.0.5") == 0,
		  "from the shell: the login process's accepted connection, from %s (%s)", o.host,
		  origin_source_name(o.source));
	TAP_CHECK(o.leader == (uint32_t)login && strcmp(o.service, "test-origin") == 0 &&
			  session_leader_alive(&paths, o.leader, o.leader_start),
		  "its login process is pid %u (%s), alive", o.leader, o.service);
	TAP_CHECK(session_origin_find(&paths, 999999999, login, sid, &o) == 0 &&
			  o.source == ORIGIN_SOURCE_SOCKET && strcmp(o.host, "127.0.0.5") == 0,
		  "a process gone already: from its parent");
	TAP_CHECK(session_origin_find(&paths, 999999999, 999999998, sid, &o) == 0 &&
			  o.source == ORIGIN_SOURCE_SOCKET && o.leader == (uint32_t)login,
		  "both gone: the session's oldest process, found in /proc (pid %u)", o.leader);
	/* A process of the session that was not its login process's descendant any more. */
	TAP_CHECK(session_origin_find(&paths, getpid(), 0, sid, &o) == 0 &&
			  o.source == ORIGIN_SOURCE_SOCKET,
		  "a pid outside the session is not taken for it");
	stop(shell);
	stop(login);
	/* The shell is the login process's child: init reaps it, a moment later. */
	for (int i = 0; i < 100 && session_of(shell) == sid; i++)
		usleep(50000);
	TAP_CHECK(!session_leader_alive(&paths, o.leader, o.leader_start),
		  "a login process that ended is not alive");
	TAP_CHECK(session_origin_find(&paths, shell, login, sid, &o) == 0 &&
			  o.source == ORIGIN_SOURCE_GONE && !o.host[0],
		  "a session with no process left: gone, no host");
	close(cfd);

	/* A login without a connection: local, unless the login records name a host. */
	login = start_login(-1, rep[1]);
	if (read(rep[0], &shell, sizeof(shell)) != sizeof(shell)) {
		printf("Bail out! no shell\n");
		exit(2);
	}
	sid = session_of(shell);
	TAP_CHECK(session_origin_find(&paths, shell, login, sid, &o) == 0 &&
			  o.source == ORIGIN_SOURCE_NONE && !o.host[0] &&
			  o.leader == (uint32_t)login,
		  "a session without a connection or a login record is local");
	int ufd = mkstemp(utmp_path);
	struct utmpx u = { .ut_type = USER_PROCESS, .ut_pid = shell };
	snprintf(u.ut_line, sizeof(u.ut_line), "pts/99");
	snprintf(u.ut_user, sizeof(u.ut_user), "root");
	snprintf(u.ut_host, sizeof(u.ut_host), "login.example.org");
	inet_pton(AF_INET, "192.0.2.9", &u.ut_addr_v6[0]);
	if (ufd < 0 || utmpxname(utmp_path) < 0) {
		printf("Bail out! utmp file: %m\n");
		exit(2);
	}
	close(ufd);
	setutxent();
	TAP_CHECK(pututxline(&u) != NULL, "a login record written to %s", utmp_path);
	endutxent();
	paths.utmp = utmp_path;
	TAP_CHECK(session_origin_find(&paths, shell, login, sid, &o) == 0 &&
			  o.source == ORIGIN_SOURCE_UTMP &&
			  strcmp(o.host, "login.example.org") == 0 &&
			  strcmp(o.address, "192.0.2.9") == 0,
		  "the login record of the session's process: host %s, address %s (%s)", o.host,
		  o.address, origin_source_name(o.source));
	stop(shell);
	stop(login);
	unlink(utmp_path);
	close(lfd);
}

int main(void)
{
	printf("TAP version 13\n");
	test_parsers();
	if (geteuid() != 0 || new_session_possible() < 0)
		printf("# SKIP sessions: needs root with CAP_AUDIT_CONTROL\n");
	else
		test_sessions();
	return tap_done();
}
