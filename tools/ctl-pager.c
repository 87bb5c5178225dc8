// SPDX-License-Identifier: GPL-2.0-only
/* Output through a pager on a terminal. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl-pager.h"

static pid_t pager_pid;

void pager_open(bool no_pager)
{
	const char *pager = getenv("HPCMETER_PAGER");
	int fds[2];
	pid_t pid;

	if (no_pager || pager_pid || !isatty(STDOUT_FILENO))
		return;
	if (!pager)
		pager = getenv("PAGER");
	if (pager && (!*pager || strcmp(pager, "cat") == 0))
		return;
	if (pipe(fds) < 0)
		return;
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return;
	}
	if (pid == 0) {
		dup2(fds[0], STDIN_FILENO);
		close(fds[0]);
		close(fds[1]);
		/* quit if one screen, pass colours, chop long lines, leave the screen as it was */
		setenv("LESS", "FRSXK", 0);
		if (pager)
			execl("/bin/sh", "sh", "-c", pager, (char *)NULL);
		else
			execlp("less", "less", (char *)NULL);
		/* no pager: copy through, as if there were none */
		execlp("cat", "cat", (char *)NULL);
		_exit(127);
	}
	if (dup2(fds[1], STDOUT_FILENO) < 0) {
		close(fds[0]);
		close(fds[1]);
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
		return;
	}
	close(fds[0]);
	close(fds[1]);
	pager_pid = pid;
}

void pager_close(void)
{
	if (!pager_pid)
		return;
	fflush(stdout);
	/* the pager sees the end of the output once our end of the pipe is closed */
	close(STDOUT_FILENO);
	while (waitpid(pager_pid, NULL, 0) < 0 && errno == EINTR)
		;
	pager_pid = 0;
}
