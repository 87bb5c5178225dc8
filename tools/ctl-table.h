/* SPDX-License-Identifier: GPL-2.0-only */
/* hpcmeterctl's one table printer: every table of every verb goes through it (columns sized to
 * their content, a header and a legend, colour on a terminal), so that how tables look is
 * decided in one place. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define ANSI_RED "\033[0;31m"
#define ANSI_GREEN "\033[0;32m"
#define ANSI_YELLOW "\033[0;33m"
#define ANSI_BOLD "\033[1m"
#define ANSI_RESET "\033[0m"

/* Filled with a designated initializer; cells are added row by row with table_add(). */
struct table {
	size_t n_columns;
	const char *const *headers; /* NULL: no header row */
	const bool *right_align;
	/* colour of a cell (an ANSI sequence), NULL for none; used on a terminal only */
	const char *(*color)(size_t column, const char *cell);
	/* Optional layout for tables whose look is fixed elsewhere (the module's inventory, the
	 * terms of a licence): the least width of each column, the text between columns (default
	 * two spaces) and before each row (default none). */
	const size_t *min_width;
	const char *separator;
	const char *indent;
	char **cells;
	size_t n_cells;
	size_t allocated;
};

/* Decide once, before a pager takes standard output, whether tables are coloured: on a
 * terminal, without NO_COLOR, with a TERM that is not "dumb". */
void color_init(void);

/* A copy of s safe for a terminal: control characters as '?', an empty or NULL s as "-".
 * Names (executables, cgroups) come from users and may carry escapes. NULL when out of memory. */
char *sanitize(const char *s);

void table_done(struct table *t);
/* One cell, printf-style (sanitized); -ENOMEM. */
int table_add(struct table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print on standard output; with legend the header row and, when legend_noun is not NULL, the
 * line "N legend_noun listed." after a blank line. -ENOMEM. */
int table_print(const struct table *t, bool legend, const char *legend_noun);
