#!/usr/bin/env bash
# tests/install/user_project_test.sh BUILD_DIR SOURCE_DIR
#
# taskrt as a library, end to end, as a team adopting it would do it:
#  1. `cmake --install BUILD_DIR --prefix TMP/prefix`;
#  2. configure and build examples/user_project (find_package(taskrt)) against
#     that prefix only;
#  3. start a head from the user's binary (`app start --head`, one local
#     worker) on the test Postgres ($TASKRT_TEST_DSN, a fresh schema), submit
#     user.hello and check its result; check the worker processes are the
#     user's binary re-executed (not `taskrt`) and that the binary found the
#     installed embedded-Postgres helper (PREFIX/libexec/taskrt/pg);
#     run user.fetch, whose own exception hierarchy (team::ConnectionReset :
#     team::TransientError) is matched by retry_on, through a real retry;
#  4. stop it, start the head again with no local workers, join the user's
#     binary as a worker node (`app start --address`) and run user.hello
#     there (the journal names that node).
# Exits 0 when all of it worked; otherwise prints what failed and the logs.
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
: "${TASKRT_TEST_DSN:?set TASKRT_TEST_DSN (scripts/pg start DIR prints one)}"

work=$(mktemp -d /tmp/taskrt-install-test.XXXXXX)
schema="install_test_$$"
pids=()
step() { echo "user_project_test: $*"; }
fail() {
  echo "user_project_test: FAILED: $*" >&2
  for f in "$work"/*.log "$work"/head/*.log; do
    [ -f "$f" ] && { echo "--- $f" >&2; tail -n 40 "$f" >&2; }
  done
  exit 1
}
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
  psql -X -q "$TASKRT_TEST_DSN" -c "SET client_min_messages = warning; DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# Waits up to $2 seconds for the command in $1 to succeed.
wait_for() {
  for _ in $(seq 1 $(( $2 * 10 ))); do
    if eval "$1"; then return 0; fi
    sleep 0.1
  done
  return 1
}

step "install into $work/prefix"
cmake --install "$build" --prefix "$work/prefix" >"$work/install.log" 2>&1 || fail "cmake --install"
for f in bin/taskrt libexec/taskrt/pg include/taskrt/taskrt.hpp lib/cmake/taskrt/taskrtConfig.cmake; do
  [ -e "$work/prefix/$f" ] || fail "the install has no $f"
done
# Internal headers stay internal.
[ ! -e "$work/prefix/include/taskrt/persistence" ] || fail "persistence headers were installed"

step "build examples/user_project against the install"
launcher=()
if command -v ccache >/dev/null 2>&1; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  export CCACHE_BASEDIR=$work
fi
cmake -S "$src/examples/user_project" -B "$work/build" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$work/prefix" "${launcher[@]}" >"$work/configure.log" 2>&1 \
  || fail "configure of the user project"
cmake --build "$work/build" -j 2 >"$work/build.log" 2>&1 || fail "build of the user project"
app=$work/build/app
[ -x "$app" ] || fail "no $app"

psql -X -q "$TASKRT_TEST_DSN" -c "SET client_min_messages = warning; DROP SCHEMA IF EXISTS $schema CASCADE; CREATE SCHEMA $schema" >/dev/null \
  || fail "cannot create schema $schema"
case "$TASKRT_TEST_DSN" in
  postgres*://*\?*) dsn="$TASKRT_TEST_DSN&options=-csearch_path%3D$schema" ;;
  postgres*://*) dsn="$TASKRT_TEST_DSN?options=-csearch_path%3D$schema" ;;
  *) dsn="$TASKRT_TEST_DSN options='-csearch_path=$schema'" ;;
esac
export HOME=$work/home # nothing of the user's taskrt state is read or written
unset TASKRT_PG_SCRIPT TASKRT_DATABASE_URL TASKRT_ADDRESS TASKRT_DATA_DIR TASKRT_TLS_DIR
mkdir -p "$HOME"

start_head() { # $1: local workers
  rm -f "$work/head/head.json"
  "$app" start --head --db "$dsn" --data-dir "$work/head" --workers "$1" --node-id user-head --port 0 \
    >>"$work/head.log" 2>&1 &
  head_pid=$!
  pids+=("$head_pid")
  wait_for "[ -s '$work/head/head.json' ]" 60 || fail "the head wrote no state file"
}

step "a head from the user's binary runs user.hello"
start_head 1
out=$("$app" submit user.hello --args '{"name":"install-test"}' --wait -o json --data-dir "$work/head") \
  || fail "submit user.hello: $out"
echo "  $out"
[ "$(jq -r .state <<<"$out")" = SUCCEEDED ] || fail "user.hello did not succeed: $out"
[ "$(jq -c .result <<<"$out")" = '{"attempt":1,"hello":"install-test"}' ] \
  || fail "unexpected result: $out"
id1=$(jq -r .id <<<"$out")

# Worker processes are the user's binary re-executed as `worker-process`.
workers=0
for child in $(pgrep -P "$head_pid"); do
  if tr '\0' ' ' <"/proc/$child/cmdline" | grep -q worker-process; then
    [ "$(readlink -f "/proc/$child/exe")" = "$(readlink -f "$app")" ] \
      || fail "worker process $child runs $(readlink -f "/proc/$child/exe"), not $app"
    workers=$((workers + 1))
  fi
done
[ "$workers" -ge 1 ] || fail "no worker-process child of the head found"
echo "  $workers worker process(es) re-execute $app"
# The embedded-Postgres helper run() chose (the default of --pg-script; the
# binary no longer exports it to its environment): the installed one, not
# the source tree's.
helper=$("$app" start --help | sed -n 's/.*--pg-script TEXT=\([^ ]*\).*/\1/p')
[ "$helper" = "$work/prefix/libexec/taskrt/pg" ] \
  || fail "the user's binary would start the embedded Postgres with '$helper'"

step "a team's own exception hierarchy: retry_on matches the base class"
# user.fetch throws team::ConnectionReset (: team::TransientError) twice;
# its policy retries team::TransientError only.
out=$("$app" submit user.fetch --args '{"resets":2}' --wait -o json --data-dir "$work/head") \
  || fail "user.fetch with 2 resets did not succeed: $out"
echo "  $out"
[ "$(jq -c .result <<<"$out")" = '{"fetched_on_attempt":3}' ] || fail "unexpected result: $out"
fetch=$(jq -r .id <<<"$out")
desc=$("$app" tasks describe "$fetch" -o json --db "$dsn") || fail "tasks describe $fetch"
first=$(jq -c '.attempts[0]' <<<"$desc")
[ "$(jq -r .error_kind <<<"$first")" = team::ConnectionReset ] || fail "attempt 1: $first"
[ "$(jq -r .retry_decision.decision <<<"$first")" = retry ] || fail "attempt 1 not retried: $first"
jq -e '.retry_decision.inputs.error_ancestors == ["team::TransientError","std::runtime_error","std::exception"]' \
  <<<"$first" >/dev/null || fail "attempt 1 ancestors: $first"
# A plain std::runtime_error is not a TransientError: no retry.
out=$("$app" submit user.fetch --args '{"plain":true}' --wait -o json --data-dir "$work/head") \
  && fail "user.fetch plain should have failed: $out"
[ "$(jq -r .state <<<"$out")" = FAILED ] && [ "$(jq -r .attempt <<<"$out")" = 1 ] \
  || fail "user.fetch plain: expected FAILED after 1 attempt: $out"
echo "  ConnectionReset retried twice via retry_on team::TransientError; runtime_error given up"

"$app" stop --data-dir "$work/head" >>"$work/head.log" 2>&1 || fail "app stop"
wait_for "! kill -0 $head_pid 2>/dev/null" 60 || fail "the head did not exit after stop"

step "the user's binary joins as a worker node and runs user.hello there"
start_head 0
addr=$(jq -r '"\(.host):\(.port)"' "$work/head/head.json")
"$app" start --address "$addr" --node-id user-node --workers 1 >"$work/node.log" 2>&1 &
pids+=("$!")
wait_for "'$app' nodes --data-dir '$work/head' -o json 2>/dev/null | jq -e 'map(select(.id == \"user-node\" and .state == \"ALIVE\")) | length == 1' >/dev/null" 60 \
  || fail "user-node did not become ALIVE"
out=$("$app" submit user.hello --args '{"name":"node"}' --wait -o json --data-dir "$work/head") \
  || fail "submit user.hello to the node: $out"
echo "  $out"
[ "$(jq -c .result <<<"$out")" = '{"attempt":1,"hello":"node"}' ] || fail "unexpected result: $out"
id2=$(jq -r .id <<<"$out")
desc=$("$app" tasks describe "$id2" -o json --db "$dsn") || fail "tasks describe $id2"
[ "$(jq -r '.task.node // .node' <<<"$desc")" = user-node ] \
  || fail "task $id2 did not run on user-node: $(jq -c '.task // .' <<<"$desc" | head -c 400)"
desc1=$("$app" tasks describe "$id1" -o json --db "$dsn") || fail "tasks describe $id1"
[ "$(jq -r '.task.node // .node' <<<"$desc1")" = user-head ] || fail "task $id1 did not run on the head"

step "the help of the user's binary names it, not taskrt"
help=$("$app" submit --help) || fail "app submit --help"
grep -q '^  app submit ' <<<"$help" || fail "app submit --help: no example says 'app submit': $help"
if grep -qE '^  taskrt ' <<<"$help"; then fail "app submit --help: an example says taskrt: $help"; fi
grep -q '^  app start --head' <<<"$("$app" start --help)" || fail "app start --help names taskrt"
echo "  app submit --help: $(grep -m1 '^  app submit ' <<<"$help")"

step "ok"
