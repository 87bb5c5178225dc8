// SPDX-License-Identifier: GPL-2.0-only
/* utf8_escape_invalid() and utf8_valid(): what reaches the ledger and the bus is valid UTF-8, and valid text is
 * left exactly as it was. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "util.h"

static void expect(const char *in, const char *want, const char *what)
{
	char *out = utf8_escape_invalid(in);

	TAP_CHECK(out && strcmp(out, want) == 0, "%s: \"%s\"", what, out ? out : "(null)");
	free(out);
}

int main(void)
{
	printf("TAP version 13\n");
	expect("", "", "empty string");
	expect("/usr/bin/true", "/usr/bin/true", "ASCII unchanged");
	expect("/opt/caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac/\xf0\x9f\x92\xbb",
	       "/opt/caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac/\xf0\x9f\x92\xbb",
	       "valid 2-, 3- and 4-byte sequences unchanged");
	expect("a\xff"
	       "b",
	       "a\\xffb", "a byte that never starts a sequence");
	expect("\x80x", "\\x80x", "a lone continuation byte");
	expect("\xc0\x80", "\\xc0\\x80", "overlong NUL");
	expect("\xe0\x80\xaf", "\\xe0\\x80\\xaf", "overlong 3-byte form");
	expect("\xed\xa0\x80", "\\xed\\xa0\\x80", "UTF-16 surrogate");
	expect("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80", "above U+10FFFF");
	expect("end\xe6\x97", "end\\xe6\\x97", "a sequence cut by the end of the string");
	expect("\xe6\x97x", "\\xe6\\x97x", "a sequence cut by an ASCII byte");
	expect("\xff\xff\xff\xff", "\\xff\\xff\\xff\\xff", "worst case: four times as long");
	TAP_CHECK(utf8_valid("") && utf8_valid("/opt/caf\xc3\xa9/\xf0\x9f\x92\xbb"),
		  "utf8_valid: ASCII and valid sequences");
	TAP_CHECK(!utf8_valid("caf\xc3") && !utf8_valid("\xed\xa0\x80") &&
			  !utf8_valid("a\xff"
				      "b"),
		  "utf8_valid: a cut sequence, a surrogate, a stray byte");
	return tap_done();
}
