#!/bin/bash
# The layers point one way (docs/architecture.md): hpcmeterd.c -> daemon/bus/ -> daemon/core/
# -> lib/. The include paths enforce most of it (make builds each folder with its own); this
# checks the rest: only daemon/bus/ (and the clients in tools/ and tests/) speak sd-bus, and
# struct manager is seen inside daemon/core/ (and its unit tests) only. Run by make format-check.
set -u
cd "$(dirname "$0")/.."
bad=0
fail() { echo "check-layers: $*" >&2; bad=1; }

for f in $(git ls-files 'lib/*.[ch]' 'daemon/core/*.[ch]' daemon/hpcmeterd.c); do
	grep -nE 'sd_bus_|systemd/sd-bus\.h' "$f" | sed "s|^|$f:|" | while read -r l; do
		echo "check-layers: $l: sd-bus outside daemon/bus/" >&2
	done
	grep -qE 'sd_bus_|systemd/sd-bus\.h' "$f" && bad=1
done
for f in $(git ls-files '*.[ch]' | grep -vE '^(daemon/core|tests)/'); do
	if grep -nE '#include "(manager|notify|kmeter)\.h"' "$f" >/dev/null; then
		fail "$f includes a header private to daemon/core/ (use core.h)"
	fi
done
[ $bad = 0 ] && echo "check-layers: the layers point one way"
exit $bad
