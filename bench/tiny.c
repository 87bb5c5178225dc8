// SPDX-License-Identifier: GPL-2.0-only
/* The smallest program: exec and exit, nothing else (linked statically by make bench). */
int main(void)
{
	return 0;
}
