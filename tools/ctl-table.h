/* SPDX-License-Identifier: GPL-2.0-only */
/* hpcmeterctl's one table printer: every table of every verb goes through it, so that how
 * tables look is decided in one place. Tables are laid out by libsmartcols (util-linux), which
 * counts widths in display cells, so that a name such as "jörg" or "田中" keeps its columns
 * aligned; -o csv prints the same cells as CSV, and --columns chooses and orders columns. */
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
	/* The names of the columns: the header row, the names --columns takes (matched without
	 * case, "USER(UID)" also as "user") and the CSV header. */
	const char *const *headers;
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
	/* a line under a row (status: a rejected licence file's error), or NULL; n_cells /
	 * n_columns of them once any is set */
	char **notes;
	size_t n_notes;
};

/* Decide once, before a pager takes standard output, whether tables are coloured: on a
 * terminal, without NO_COLOR, with a TERM that is not "dumb". */
void color_init(void);

/* A copy of s safe for a terminal: bytes that are not UTF-8 as the text \xNN (as JSON and the
 * bus carry them), control characters (C0, C1) and other characters that are not printable
 * as '?', an empty or NULL s as "-". Names (executables, cgroups) come from users and may
 * carry escapes. NULL when out of memory. */
char *sanitize(const char *s);

void table_done(struct table *t);
/* One cell, printf-style (sanitized); -ENOMEM. */
int table_add(struct table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A line printed under the last row added, with the table's indent, in a table (not in CSV);
 * printf-style (sanitized); -ENOMEM. */
int table_add_note(struct table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print on standard output: a table, or with -o csv the same cells as CSV (RFC 4180
 * quoting; a header row unless --no-legend), after an empty line when a table was printed
 * before; --columns chooses the columns (a table with none of them prints nothing). In a
 * table, with legend the header row and, when legend_noun is not NULL, the line "N
 * legend_noun listed." after a blank line. -ENOMEM. */
int table_print(const struct table *t, bool legend, const char *legend_noun);

/* Does every name of --columns name a column of one of the tables (each n_columns and
 * headers) a command prints? Otherwise a usage error naming the verb and the valid names. */
int table_check_columns(const char *verb, const struct table *const *tables, size_t n_tables);
/* The same for a command that prints one table. */
static inline int table_check_columns_of(const char *verb, const struct table *t)
{
	return table_check_columns(verb, &t, 1);
}
