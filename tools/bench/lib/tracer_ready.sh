# Sourced by the benchmark scripts. wait_until_tracing PID ERRFILE: returns once the maptrail
# started as PID, its stderr going to ERRFILE, says it is tracing; exits the script with what
# maptrail said if it stops first or says nothing within 30 s.
wait_until_tracing() {
  local pid=$1 err=$2
  for _ in $(seq 300); do
    grep -q tracing "$err" && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "${0##*/}: maptrail did not start tracing: $(cat "$err")" >&2
  exit 1
}
