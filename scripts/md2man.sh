#!/bin/bash
# A man page from its markdown source in docs/: go-md2man, then the fixes its roff needs.
# usage: scripts/md2man.sh docs/NAME.SECTION.md VERSION > PAGE
#
# The markdown's first line "# NAME(SECTION)" becomes the .TH header, dated with the release
# (debian/changelog's newest entry, or SOURCE_DATE_EPOCH when set: reproducible builds).
# go-md2man 2.0.2 (Debian 12) writes roff that mandoc -Tlint, groff and lexgrog object to:
#  - code spans as "\fB\fC...": \fC is no font on a terminal (mandoc: invalid escape); bold
#    alone is what the page shows anyway, and what go-md2man 2.0.3 writes;
#  - a .PP right after .SH/.SS, which man(7) ignores (mandoc: skipping paragraph macro);
#  - lines of a code block or paragraph that start with "." or "'" unescaped: groff reads
#    "..." as a macro call and drops the line; they get "\&" in front;
#  - NAME as "name - text": whatis and lexgrog expect "name \- text", which is checked here so
#    that a NAME line they cannot parse fails the build.
set -euo pipefail

in=$1
version=$2
top=$(dirname "$0")/..

name=$(sed -n '1s/^# \(.*\)(\([0-9]\))$/\1/p' "$in")
sec=$(sed -n '1s/^# .*(\([0-9]\))$/\1/p' "$in")
if [ -z "$name" ] || [ -z "$sec" ]; then
	echo "$in:1: first line must be '# NAME(SECTION)'" >&2
	exit 1
fi
if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
	date=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%d)
else
	date=$(date -u -d "$(sed -n '/^ -- /{s/^ -- .*>  //p;q}' "$top/debian/changelog")" +%Y-%m-%d)
fi

sed 1d "$in" | "${MD2MAN:-go-md2man}" | awk -v src="$in" -v th=".TH \"${name^^}\" \"$sec\" \"$date\" \"hpcmeter $version\" \"hpcmeter Manual\"" '
	# go-md2man starts with .nh; the header follows it
	NR == 1 && $0 == ".nh" { print; print th; next }
	NR == 1 { print th }
	{ gsub(/\\fB\\fC/, "\\fB") }
	# text of a code block: everything between .nf and .fi
	$0 == ".fi" { nofill = 0 }
	nofill && /^[.'\'']/ { $0 = "\\&" $0 }
	$0 == ".nf" { nofill = 1 }
	$0 == ".TS" { table = 1 }
	$0 == ".TE" { table = 0 }
	# text of a paragraph: go-md2man writes only one- or two-letter requests and comments
	!nofill && !table && /^'\''/ { $0 = "\\&" $0 }
	!nofill && !table && /^\./ && !/^\.([A-Za-z][A-Za-z]?( |$)|\\")/ { $0 = "\\&" $0 }
	/^\.S[HS]( |$)/ { heading = 1; in_name = $0 == ".SH NAME"; print; next }
	heading && $0 == ".PP" { heading = 0; next }
	{ heading = 0 }
	in_name && /^[^.]/ {
		in_name = 0
		if (!sub(/^[^ ]+ (\\-|-) /, "&")) {
			printf "%s: NAME must read \"name - description\" (ASCII hyphen), not: %s\n", src, $0 > "/dev/stderr"
			err = 1
		}
		sub(/ - /, " \\- ")
	}
	{ print }
	END { exit err }
'
