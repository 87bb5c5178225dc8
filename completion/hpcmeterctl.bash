# bash completion for hpcmeterctl(1)                                   -*- shell-script -*-
# Commands and options are read from "hpcmeterctl --help", so a new command completes without
# a change here. Installed to $(DATADIR)/bash-completion/completions/hpcmeterctl.

_hpcmeterctl_help_words()
{
	# "  status   Show ..." lines of the Commands: section -> status; "--json[=MODE]" -> --json
	hpcmeterctl --help 2>/dev/null | awk -v what="$1" '
		/^Commands:/ { sect = "cmd"; next }
		/^Options:/ { sect = "opt"; next }
		/^[A-Z]/ { sect = "" }
		sect == "cmd" && what == "cmd" && /^  [a-z]/ { print $1 }
		sect == "opt" && what == "opt" {
			for (i = 1; i <= NF; i++)
				if ($i ~ /^--[a-z]/) { w = $i; sub(/[=[].*/, "", w); print w }
		}' | sort -u
}

_hpcmeterctl()
{
	local cur prev words cword
	_init_completion -s || return

	case $prev in
	--json)
		COMPREPLY=($(compgen -W 'short pretty off' -- "$cur"))
		return ;;
	--by)
		# cluster usage also sums per project and node
		if [[ ${words[1]-} == cluster ]]; then
			COMPREPLY=($(compgen -W 'job user account license project node' -- "$cur"))
		else
			COMPREPLY=($(compgen -W 'job user account license' -- "$cur")); fi
		return ;;
	-o | --output)
		# report's -o is the file it writes
		if [[ ${words[1]-} == report ]]; then _filedir; else
			COMPREPLY=($(compgen -W 'table json csv' -- "$cur")); fi
		return ;;
	--since | --until | --from | --to)
		# times as journalctl reads them (hpcmeterctl(1), TIMES); dates are typed
		COMPREPLY=($(compgen -W 'now today yesterday' -- "$cur"))
		return ;;
	--address | --after-seq | --since-usec | --until-usec | --set | --state-dir | --job | \
		--user | --account | --license | --columns | --database | --node | --role)
		return ;;
	esac
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$(_hpcmeterctl_help_words opt)" -- "$cur"))
		[[ ${COMPREPLY-} == *= ]] && compopt -o nospace
		return
	fi

	# the command: the first word that is not an option (or an option's argument)
	local i cmd= sub=
	for ((i = 1; i < cword; i++)); do
		case ${words[i]} in
		--address | --since | --until | --after-seq | --since-usec | --until-usec | --set | --by | \
			--state-dir | --job | --user | --account | --license | --columns | -o | --output | \
			--from | --to | --database | --node | --key | --role)
			((i++)) ;;
		-*) ;;
		*)
			if [[ -z $cmd ]]; then cmd=${words[i]}; elif [[ -z $sub ]]; then sub=${words[i]}; fi ;;
		esac
	done
	case $cmd in
	"")
		COMPREPLY=($(compgen -W "$(_hpcmeterctl_help_words cmd)" -- "$cur")) ;;
	license)
		if [[ -z $sub ]]; then
			COMPREPLY=($(compgen -W 'check explain simulate' -- "$cur"))
		else
			_filedir '@(yaml|yml)'
		fi ;;
	job)
		[[ -z $sub ]] && COMPREPLY=($(compgen -W 'start end' -- "$cur")) ;;
	report)
		[[ -z $sub ]] && COMPREPLY=($(compgen -W 'verify public-key' -- "$cur")) || _filedir ;;
	ledger)
		[[ -z $sub ]] && COMPREPLY=($(compgen -W 'verify' -- "$cur")) ;;
	cluster)
		if [[ $prev == --key ]]; then
			_filedir pem
		elif [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W '--database --node --key --role --evaluator --state-dir
				--by --since --until --from --to --json --output --columns --no-legend
				--help' -- "$cur"))
		elif [[ -z $sub ]]; then
			COMPREPLY=($(compgen -W 'init enroll status verify usage' -- "$cur"))
		fi ;;
	inventory)
		[[ -z $sub ]] && COMPREPLY=($(compgen -W 'kernel' -- "$cur")) ;;
	esac
} &&
	complete -F _hpcmeterctl hpcmeterctl
