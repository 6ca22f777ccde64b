#!/usr/bin/env bash
# Fresh-seeded fuzz campaigns, apart from `./x test` (which fuzzes with fixed seeds so that
# CI reproduces exactly). Called by `./x fuzz [MINUTES] [TARGET...]`.
#
# For MINUTES (default 10) per target it runs:
#   - each forge invariant suite again and again, each time with a fresh seed, at high run
#     and depth counts;
#   - the forge fuzz tests once with a fresh seed and many runs;
#   - every cargo-fuzz target (crates/*/fuzz) with a fresh libFuzzer seed;
#   - the proptest properties with a fresh seed and many cases.
# and writes target/fuzz-campaign/report.md: seed, runs, calls and result per target. A
# failure keeps its seed (forge, proptest) or its input (libFuzzer, under
# target/fuzz-campaign/artifacts/): make it a regression test, then fix it.
#
# TARGET names limit the campaign: forge:<Suite>, forge-fuzz, cargo:<crate>/<target>,
# proptest. `./x fuzz 1 cargo:reel-net/payment_header` runs one target for a minute.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"

minutes="${1:-10}"
[ $# -gt 0 ] && shift
case "$minutes" in '' | *[!0-9]*) echo "error: MINUTES must be a whole number, not '$minutes'" >&2; exit 2 ;; esac
budget=$((minutes * 60))
wanted=("$@")

out="$root/target/fuzz-campaign"
mkdir -p "$out/logs" "$out/artifacts"
report="$out/report.md"
failures=0

fresh_seed() { od -An -N32 -tx1 /dev/urandom | tr -d ' \n' | sed 's/^/0x/'; }
fresh_u64() { od -An -N8 -tu8 /dev/urandom | tr -d ' '; }
fresh_u31() { echo $(( $(od -An -N4 -tu4 /dev/urandom | tr -d ' ') % 2147483647 )); }
step() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

selected() {
  [ ${#wanted[@]} -eq 0 ] && return 0
  local w
  for w in "${wanted[@]}"; do [ "$w" = "$1" ] && return 0; done
  return 1
}

row() { printf '| %s | %s | %s | %s | %s | %s |\n' "$@" >> "$report"; }

{
  echo "# Fuzz campaign $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "$minutes min per target on $(nproc) cores ($(uname -m)), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')."
  echo
  echo "| target | seed | runs | calls / execs | wall | result |"
  echo "|---|---|---|---|---|---|"
} > "$report"

forge() { "$root/node_modules/.bin/forge" "$@"; }

# ---------------------------------------------------------------- forge invariant suites
# Runs × depth of each campaign run; forge's defaults in `./x test` are 64 × 64.
INV_RUNS="${REEL_FUZZ_INVARIANT_RUNS:-128}"
INV_DEPTH="${REEL_FUZZ_INVARIANT_DEPTH:-256}"
forge build >/dev/null 2>&1 || { echo "error: forge build failed; run ./x test first" >&2; exit 1; }
for suite in $(grep -l "function invariant_" contracts/test/invariant/*.t.sol | xargs -n1 basename | sed 's/\.t\.sol$/Test/'); do
  selected "forge:$suite" || continue
  step "forge $suite: $minutes min of fresh seeds ($INV_RUNS runs × depth $INV_DEPTH)"
  start=$SECONDS
  while [ $((SECONDS - start)) -lt "$budget" ]; do
    seed="$(fresh_seed)"
    log="$out/logs/forge-$suite-$seed.log"
    t0=$SECONDS
    FOUNDRY_INVARIANT_RUNS="$INV_RUNS" FOUNDRY_INVARIANT_DEPTH="$INV_DEPTH" \
      FOUNDRY_INVARIANT_FAILURE_PERSIST_DIR="$out/forge-invariant" \
      forge test --match-contract "^$suite\$" --fuzz-seed "$seed" > "$log" 2>&1
    rc=$?
    line="$(grep -E '^\[(PASS|FAIL)' "$log" | head -1)"
    runs="$(sed -nE 's/.*runs: ([0-9]+).*/\1/p' <<< "$line")"
    calls="$(sed -nE 's/.*calls: ([0-9]+).*/\1/p' <<< "$line")"
    if [ $rc -eq 0 ]; then result=ok; else result="**FAIL** (log: ${log#"$root"/})"; failures=$((failures + 1)); fi
    row "forge $suite" "\`$seed\`" "${runs:-?}" "${calls:-?}" "$((SECONDS - t0)) s" "$result"
    [ $rc -eq 0 ] || break
  done
done

# ---------------------------------------------------------------- forge fuzz tests
if selected forge-fuzz; then
  seed="$(fresh_seed)"
  runs="${REEL_FUZZ_FORGE_RUNS:-20000}"
  step "forge fuzz tests: $runs runs each, seed $seed"
  log="$out/logs/forge-fuzz-$seed.log"
  t0=$SECONDS
  FOUNDRY_FUZZ_RUNS="$runs" FOUNDRY_FUZZ_FAILURE_PERSIST_DIR="$out/forge-fuzz" \
    timeout "$budget" "$root/node_modules/.bin/forge" test --no-match-path 'contracts/test/invariant/*' \
    --fuzz-seed "$seed" > "$log" 2>&1
  rc=$?
  n="$(grep -cE '^\[PASS\].*runs:' "$log")"
  if [ $rc -eq 0 ]; then result="ok ($n fuzz tests)"
  elif [ $rc -eq 124 ]; then result="stopped at the time budget ($n fuzz tests done)"
  else result="**FAIL** (log: ${log#"$root"/})"; failures=$((failures + 1)); fi
  row "forge fuzz tests" "\`$seed\`" "$runs each" "-" "$((SECONDS - t0)) s" "$result"
fi

# ---------------------------------------------------------------- cargo-fuzz targets
fuzz_dirs=(crates/*/fuzz)
have_cargo_fuzz() { cargo fuzz --version >/dev/null 2>&1; }
if [ ${#fuzz_dirs[@]} -gt 0 ] && ! have_cargo_fuzz; then
  step "installing cargo-fuzz"
  cargo install cargo-fuzz --locked >/dev/null 2>&1 || { echo "error: cargo install cargo-fuzz failed" >&2; exit 1; }
fi
for dir in "${fuzz_dirs[@]}"; do
  crate="$(basename "$(dirname "$dir")")"
  for t in $(ls "$dir/fuzz_targets" | sed 's/\.rs$//'); do
    selected "cargo:$crate/$t" || continue
    seed="$(fresh_u31)"
    step "cargo fuzz $crate/$t: $minutes min, seed $seed"
    corpus="$out/corpus/$crate/$t"
    artifacts="$out/artifacts/$crate/$t/"
    mkdir -p "$corpus" "$artifacts"
    log="$out/logs/cargo-$crate-$t-$seed.log"
    t0=$SECONDS
    # cargo-fuzz's instrumentation flags are nightly-only; the stable toolchain takes them
    # with RUSTC_BOOTSTRAP (the only toolchain this machine can have).
    (cd "$dir/.." && RUSTC_BOOTSTRAP=1 cargo fuzz run "$t" "$corpus" -- \
      -max_total_time="$budget" -seed="$seed" -print_final_stats=1 \
      -artifact_prefix="$artifacts" -rss_limit_mb=4096 -max_len=1048576) > "$log" 2>&1
    rc=$?
    execs="$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log" | tail -1)"
    if [ $rc -eq 0 ]; then result=ok
    else result="**FAIL** (input under ${artifacts#"$root"/}, log: ${log#"$root"/})"; failures=$((failures + 1)); fi
    row "cargo-fuzz $crate/$t" "\`$seed\`" "-" "${execs:-?}" "$((SECONDS - t0)) s" "$result"
  done
done

# ---------------------------------------------------------------- proptest
if selected proptest; then
  seed="$(fresh_u64)"
  cases="${REEL_FUZZ_PROPTEST_CASES:-20000}"
  step "proptest: $cases cases per property, seed $seed"
  log="$out/logs/proptest-$seed.log"
  t0=$SECONDS
  # The properties live in these test targets; [env] in .cargo/config.toml fixes the seed
  # for `./x test`, and an environment variable set here wins over it.
  PROPTEST_RNG_SEED="$seed" PROPTEST_CASES="$cases" timeout "$budget" \
    cargo test --locked -p reel-types -p reel-net -p reel-pm --lib --tests > "$log" 2>&1
  rc=$?
  if [ $rc -eq 0 ]; then result=ok
  elif [ $rc -eq 124 ]; then result="stopped at the time budget"
  else result="**FAIL** (log: ${log#"$root"/})"; failures=$((failures + 1)); fi
  row "proptest (reel-types, reel-net, reel-pm)" "\`$seed\`" "$cases per property" "-" "$((SECONDS - t0)) s" "$result"
fi

echo >> "$report"
echo "Failures: $failures." >> "$report"
cat "$report"
[ "$failures" -eq 0 ]
