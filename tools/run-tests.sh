#!/bin/sh
# tools/run-tests.sh [--asan] [meson test args...]: set this machine up, build with warnings as
# errors, and run the whole suite against the real dockerd. Prints "N passed, N failed" last.
#   --asan   build in build-asan with AddressSanitizer + UndefinedBehaviorSanitizer
set -eu
cd "$(dirname "$0")/.."
src=$(pwd)

asan=0
if [ "${1:-}" = "--asan" ]; then asan=1; shift; fi

tools/setup.sh

if [ $asan = 1 ]; then
  builddir=${ECSA_BUILDDIR:-build-asan}
  opts="-Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug"
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:fast_unwind_on_malloc=0:detect_stack_use_after_return=0"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  export LSAN_OPTIONS="suppressions=$src/tests/data/lsan.supp:print_suppressions=0"
else
  builddir=${ECSA_BUILDDIR:-build}
  opts=""
fi

if [ ! -f "$builddir/build.ninja" ]; then
  # shellcheck disable=SC2086
  meson setup "$builddir" -Dwerror=true $opts
else
  # shellcheck disable=SC2086
  meson configure "$builddir" -Dwerror=true $opts >/dev/null
fi
if ! meson compile -C "$builddir"; then
  echo "0 passed, 1 failed (the build failed)"
  exit 1
fi

rc=0
rm -f "$builddir/meson-logs/testlog.json"
meson test -C "$builddir" --print-errorlogs "$@" || rc=$?
if [ ! -s "$builddir/meson-logs/testlog.json" ]; then
  echo "0 passed, 1 failed (meson test wrote no results)"
  exit 1
fi

# One closing line CI can count.
python3 - "$builddir/meson-logs/testlog.json" <<'PY' || true
import json, sys
passed = failed = skipped = 0
for line in open(sys.argv[1]):
    r = json.loads(line).get("result", "")
    if r in ("OK", "EXPECTEDFAIL"):
        passed += 1
    elif r == "SKIP":
        skipped += 1
    else:
        failed += 1
extra = f" ({skipped} skipped)" if skipped else ""
print(f"{passed} passed, {failed} failed{extra}")
PY
exit $rc
