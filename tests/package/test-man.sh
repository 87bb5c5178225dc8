#!/bin/bash
# The man pages built from docs/*.[1-8].md are what Debian's tools expect: mandoc -Tlint finds
# nothing (but the one message explained below), groff run as lintian runs it warns of nothing,
# lexgrog reads each NAME line (whatis, apropos, lintian's bad-whatis-entry), and at 80 columns
# only literal lines of code blocks (commands, output, files) are wider than the terminal.
. "$(dirname "$0")/../lib.sh"
echo "TAP version 13"

for b in mandoc lexgrog man python3; do
	command -v "$b" >/dev/null || skip_all "needs $b (scripts/install-deps.sh)"
done

for md in "$TOP"/docs/*.[1-8].md; do
	page=$BUILD/man/$(basename "$md" .md)
	p=${page##*/}
	if ! check "$p is built" test -s "$page"; then
		continue
	fi

	# STYLE "input text line longer than 80 bytes": go-md2man keeps the markdown's line breaks
	# (100 columns) in the roff it writes; the source's line length changes nothing in the
	# rendered page, so it is the one message left, and only it.
	out=$(mandoc -Tlint "$page" 2>&1 | grep -v 'STYLE: input text line longer than 80 bytes')
	check "$p: mandoc -Tlint finds nothing else" test -z "$out"
	[ -z "$out" ] || diag "$out"

	# lintian's groff-message check: the same command and environment, and like lintian it
	# passes over a word longer than the line (a JSON literal) that cannot be adjusted.
	out=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z "$page" \
		2>&1 >/dev/null | grep -v -e 'cannot adjust line' -e "can't break line")
	check "$p: groff warns of nothing" test -z "$out"
	[ -z "$out" ] || diag "$out"

	name=$(basename "$md" .md)
	name=${name%.*}
	check "$p: lexgrog reads its NAME line ($name - ...)" \
		sh -c "lexgrog '$page' | grep -q ': \"$name - '"

	# Wider than 80 columns: only a line that is a literal line of a code block in the source.
	MANWIDTH=80 man -l "$page" 2>/dev/null >"$T/$p.txt"
	wide=$(python3 - "$md" "$T/$p.txt" <<-'EOF'
		import sys
		md, txt = sys.argv[1], sys.argv[2]
		code, inside = set(), False
		for line in open(md, encoding="utf-8"):
		    if line.startswith("```"):
		        inside = not inside
		    elif inside:
		        code.add(line.strip())
		literal = 0
		for n, line in enumerate(open(txt, encoding="utf-8"), 1):
		    line = line.rstrip("\n")
		    if len(line) <= 80:
		        continue
		    if line.strip() in code:
		        literal += 1
		    else:
		        print(f"{n}: {line}")
		print(f"# {txt.rsplit('/', 1)[1][:-4]}: {literal} literal lines of code blocks are wider than 80 columns", file=sys.stderr)
	EOF
	)
	check "$p: nothing but code is wider than 80 columns (tables, paragraphs)" test -z "$wide"
	[ -z "$wide" ] || diag "$wide"
done
tap_done
