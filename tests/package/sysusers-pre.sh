#!/bin/bash
# The %pre script that RHEL's %sysusers_create_compat makes of a sysusers.d(5) file (Fedora's
# sysusers.generate-pre.sh), for the one kind of line hpcmeter uses: g, a system group. Any
# other line is an error, so that the test notices a file it does not understand.
# usage: sysusers-pre.sh FILE...
set -euo pipefail
for f in "$@"; do
	while read -r type name id _; do
		case $type in
		'' | '#'*) ;;
		g)
			opt=
			[[ $id =~ ^[0-9]+$ ]] && opt=" -g '$id'"
			echo "getent group '$name' >/dev/null || groupadd -r$opt '$name'"
			;;
		*)
			echo "$f: sysusers.d line '$type $name' is not handled here" >&2
			exit 1
			;;
		esac
	done <"$f"
done
