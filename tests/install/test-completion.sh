#!/bin/bash
# The bash completion of hpcmeterctl, run through bash-completion's own framework: commands
# and options come from the built hpcmeterctl's --help.
. "$(dirname "$0")/../lib.sh"
echo "TAP version 13"

BC=/usr/share/bash-completion/bash_completion
[ -r "$BC" ] || skip_all "bash-completion is not installed"

# complete WORDS...: the candidates for the last word, one per line, sorted
complete_words() {
	PATH=$BUILD:$PATH bash -c '
		. "$1"; . "$2"; shift 2
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
		_hpcmeterctl hpcmeterctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
		printf "%s\n" "${COMPREPLY[@]}" | sort' _ "$BC" "$TOP/completion/hpcmeterctl.bash" "$@"
}

out=$(complete_words hpcmeterctl "")
for c in status violations usage licenses license reload monitor help; do
	check "the command '$c' completes" grep -qx "$c" <<<"$out"
done
check "every command of --help completes, nothing else" \
	test "$(echo "$out" | wc -l)" = "$("$HPCMETERCTL" --help | awk '/^Commands:/{s=1;next} /^[A-Z]/{s=0} s&&/^  [a-z]/{print $1}' | sort -u | wc -l)"
check "'vio' completes to violations" test "$(complete_words hpcmeterctl vio)" = violations
check "'--no-l' completes to --no-legend" test "$(complete_words hpcmeterctl --no-l)" = --no-legend
check "--json takes short, pretty or off" \
	test "$(complete_words hpcmeterctl --json "" | tr '\n' ' ')" = "off pretty short "
check "license completes its subcommands" \
	sh -c "echo '$(complete_words hpcmeterctl license "")' | grep -qx check"
mkdir -p "$T/lic" && touch "$T/lic/a.yaml" "$T/lic/b.txt"
out=$(cd "$T/lic" && complete_words hpcmeterctl license check "")
check "license check completes licence files (*.yaml), not others" \
	sh -c "echo '$out' | grep -qx a.yaml && ! echo '$out' | grep -qx b.txt"
check "report completes verify and public-key" \
	test "$(complete_words hpcmeterctl report "" | tr '\n' ' ')" = "public-key verify "
check "ledger completes verify" test "$(complete_words hpcmeterctl ledger "")" = verify
check "inventory completes kernel" test "$(complete_words hpcmeterctl inventory "")" = kernel
check "--until-usec takes a value: nothing is offered" \
	test -z "$(complete_words hpcmeterctl usage --until-usec "")"
check "--since offers now, today and yesterday" \
	test "$(complete_words hpcmeterctl violations --since "" | tr '\n' ' ')" = "now today yesterday "
check "--after-seq takes a value: nothing is offered" \
	test -z "$(complete_words hpcmeterctl violations --after-seq "")"
check "-o takes table, json or csv" \
	test "$(complete_words hpcmeterctl violations -o "" | tr '\n' ' ')" = "csv json table "
check "--output too" test "$(complete_words hpcmeterctl --output c)" = csv
check "after -o and its format, the command still completes" \
	test "$(complete_words hpcmeterctl -o csv vio)" = violations
check "after --since and its time, the command still completes" \
	test "$(complete_words hpcmeterctl --since yesterday vio)" = violations
check "cluster completes usage among its subcommands" \
	sh -c "echo '$(complete_words hpcmeterctl cluster "")' | grep -qx usage"
check "cluster usage --since offers now, today and yesterday" \
	test "$(complete_words hpcmeterctl cluster usage --since "" | tr '\n' ' ')" = "now today yesterday "
check "cluster usage --by offers project and node too" \
	sh -c "echo '$(complete_words hpcmeterctl cluster usage --by "")' | grep -qx node"
check "cluster usage -o takes table, json or csv" \
	test "$(complete_words hpcmeterctl cluster usage -o "" | tr '\n' ' ')" = "csv json table "
check "cluster usage --co completes to --columns" \
	test "$(complete_words hpcmeterctl cluster usage --co)" = --columns
check "after an option and its argument, the command still completes" \
	test "$(complete_words hpcmeterctl --address unix:path=/x sta)" = status
tap_done
