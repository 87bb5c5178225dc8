#!/bin/bash
# hpcmeterctl --help is complete and in step with each command's --help, the man page source
# (docs/hpcmeterctl.1.md) and the bash completion: every command listed in --help answers
# "COMMAND --help" with exit 0, its usage and the exit codes; hpcmeterctl(1) describes every
# command and option; the completion offers every command. No daemon needed.
. "$(dirname "$0")/../lib.sh"
echo "TAP version 13"

MAN=$TOP/docs/hpcmeterctl.1.md
"$HPCMETERCTL" --help >"$T/help"
check "--help exits 0" test $? = 0
verbs=$(awk '/^Commands:/{s=1;next} /^[A-Z]/{s=0} s&&/^  [a-z]/{print $1}' "$T/help" | sort -u)
diag "commands: $(echo $verbs)"
check "--help lists the commands" test "$(echo "$verbs" | wc -l)" -ge 14
for code in 0 1 2 3 4 5; do
	check "--help documents exit status $code" grep -Eq "^  $code  " "$T/help"
	check "hpcmeterctl(1) documents exit status $code" grep -q "^\`$code\`" "$MAN"
done

for v in $verbs; do
	"$HPCMETERCTL" "$v" --help >"$T/v.out" 2>"$T/v.err"
	rc=$?
	check "$v --help exits 0" test "$rc" = 0 -a ! -s "$T/v.err"
	check "$v --help starts with its usage" grep -q "^Usage: hpcmeterctl $v\b" "$T/v.out"
	check "$v --help lists the exit status" grep -q "^  5  unknown id" "$T/v.out"
	check "hpcmeterctl(1) describes $v" grep -q "^\`$v\b" "$MAN"
done
# sub-commands answer too
for v in "license check" "license explain" "job start" "report verify" "report public-key" \
	"ledger verify"; do
	# shellcheck disable=SC2086 # command and sub-command
	check "$v --help exits 0" sh -c "'$HPCMETERCTL' $v --help | grep -q '^Usage: hpcmeterctl ${v%% *}'"
done
# every option of --help is in the man page
for o in $(grep -o -- '--[a-z][a-z-]*' "$T/help" | sort -u); do
	check "hpcmeterctl(1) documents $o" grep -q -- "\`$o" "$MAN"
done
# each command's options are real: the command accepts them (usage errors exit 2)
for v in status violations usage jobs licenses; do
	for o in $("$HPCMETERCTL" "$v" --help | sed -n '/^Options:/,/^$/p' | grep -o -- '^  --[a-z-]*'); do
		case $o in --address | --no-pager | --json | --no-legend | --output | --columns) continue ;; esac
		val=1
		[ "$o" = --by ] && val=job
		[ "$o" = --since ] || [ "$o" = --until ] && val=now
		"$HPCMETERCTL" "$v" "$o=$val" --address="unix:path=$T/none" >/dev/null 2>&1
		check "$v accepts $o (not a usage error)" test $? != 2
	done
done

BC=/usr/share/bash-completion/bash_completion
if [ -r "$BC" ]; then
	comp=$(PATH=$BUILD:$PATH bash -c '. "$1"; . "$2"
		COMP_WORDS=(hpcmeterctl ""); COMP_CWORD=1; COMP_LINE="hpcmeterctl "; COMP_POINT=12
		_hpcmeterctl hpcmeterctl "" hpcmeterctl; printf "%s\n" "${COMPREPLY[@]}"' _ "$BC" \
		"$TOP/completion/hpcmeterctl.bash" | sort -u)
	for v in $verbs; do
		check "the completion offers $v" grep -qx "$v" <<<"$comp"
	done
else
	ok "the completion # SKIP bash-completion is not installed"
fi
tap_done
