#!/bin/bash
# hpcmeterctl pages long output on a terminal only: through $HPCMETER_PAGER when set, never
# with --no-pager, never into a pipe or a file. The terminal is a pty made by script(1).
. "$(dirname "$0")/../lib.sh"
command -v script >/dev/null || skip_all "needs script (util-linux)"
echo "TAP version 13"

start_bus
mkdir -p "$T/licenses"
start_daemon --licenses "$T/licenses" --interval 5
export HPCMETER_PAGER="sed 's/^/PAGED:/'"
on_tty() { script -qec "$*" /dev/null </dev/null; }

out=$(on_tty "$HPCMETERCTL" status)
check "on a terminal, status goes through the pager" grep -q "^PAGED: *Version:" <<<"$out"
out=$(on_tty "$HPCMETERCTL" --no-pager status)
check "--no-pager prints directly" sh -c "! grep -q PAGED <<'EOO'
$out
EOO"
check "... and still prints it all" grep -q "Version:" <<<"$out"
out=$("$HPCMETERCTL" status)
check "into a pipe there is no pager" sh -c "! grep -q PAGED <<'EOO'
$out
EOO"
out=$(HPCMETER_PAGER=cat on_tty "$HPCMETERCTL" violations)
check "HPCMETER_PAGER=cat means no pager" sh -c "! grep -q PAGED <<'EOO'
$out
EOO"

# Colour: on a terminal only, and never with NO_COLOR.
printf 'license:\n  id: COLOR-1\n  regime: internal\n  valid: { from: 2020-01-01, until: 2099-12-31 }\n' \
	>"$T/licenses/color.yaml"
"$HPCMETERCTL" reload
out=$(TERM=xterm on_tty "$HPCMETERCTL" --no-pager licenses)
check "on a terminal an active licence's state is green" grep -q $'\e\[0;32mactive' <<<"$out"
no_escape() { [ "${1//$'\e'/}" = "$1" ]; }
colored=$(TERM=xterm on_tty "$HPCMETERCTL" --no-pager licenses)
if no_escape "$colored"; then not_ok "the escape check sees a terminal's colours"; else
	ok "the escape check sees a terminal's colours"; fi
out=$(TERM=xterm NO_COLOR=1 on_tty "$HPCMETERCTL" --no-pager licenses)
check "NO_COLOR turns colour off" no_escape "$out"
out=$("$HPCMETERCTL" licenses)
check "into a pipe there is no colour" no_escape "$out"
tap_done
