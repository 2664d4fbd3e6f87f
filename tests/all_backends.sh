#!/usr/bin/env bash
# Runs the whole test suite once per Keras backend (the backend is fixed per
# process), then prints one closing line with the totals. Extra arguments go to
# pytest. KERAS_RK_BACKENDS narrows the list, e.g. KERAS_RK_BACKENDS=jax.
set -u
backends=${KERAS_RK_BACKENDS:-"tensorflow jax torch"}
passed=0; failed=0; status=0
for backend in $backends; do
  echo "=== KERAS_BACKEND=$backend"
  log=$(mktemp)
  KERAS_BACKEND=$backend python -m pytest -q -p no:cacheprovider "$@" 2>&1 | tee "$log"
  code=${PIPESTATUS[0]}
  [ "$code" -eq 0 ] || status=1
  summary=$(tail -n 1 "$log")
  p=$(grep -oE '[0-9]+ passed' <<<"$summary" | awk '{s+=$1} END {print s+0}')
  f=$(grep -oE '[0-9]+ (failed|errors?)' <<<"$summary" | awk '{s+=$1} END {print s+0}')
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
  [ "$code" -ne 0 ] && [ "${f:-0}" -eq 0 ] && failed=$((failed + 1))
  rm -f "$log"
done
echo "total: $passed passed, $failed failed"
exit $status
