# The tally the shell checks share (sourced, not run): `pass WHAT` and `fail WHAT` print one
# line per check, and `tally NAME` prints `NAME: N passed, M failed` (the summary run.sh
# reads) and is false if any check failed, so it ends a check script with its exit status.
passed=0
failed=0
pass() { passed=$((passed + 1)); echo "ok    $*"; }
fail() { failed=$((failed + 1)); echo "FAIL  $*"; }
tally() {
    echo "$1: $passed passed, $failed failed"
    ((failed == 0))
}
