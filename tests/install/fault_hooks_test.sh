#!/usr/bin/env bash
# Whether compiled code holds fault injection points (runtime/fault.hpp):
#   fault_hooks_test.sh absent FILE...   none of the fault names, nor the
#                                         "fault injection" messages, nor
#                                         TASKRT_FAULT, is in any FILE
#   fault_hooks_test.sh present FILE...  every fault name is in some FILE
#                                         (a build with hooks: proves the
#                                         search finds what it looks for)
# A shipped binary (the image's, the packages', `cmake --install`'s) must
# pass `absent`: tests/install/CMakeLists.txt runs it on build/bin/taskrt
# when the build has no hooks, and on objects compiled without them.
set -euo pipefail
mode=$1
shift
names=(exit_after_dispatch exit_before_cancel_delivery no_lock_watch exit_after_release
       exit_after_dispatch_batch exit_mid_node_report node_exit_before_report
       stop_in_commit TASKRT_FAULT_VERSION)
pattern='exit_after_dispatch|exit_before_cancel_delivery|no_lock_watch|exit_after_release|exit_mid_node_report|node_exit_before_report|stop_in_commit|fault injection|TASKRT_FAULT'
[ $# -gt 0 ] || { echo "usage: $0 absent|present FILE..." >&2; exit 2; }
for f in "$@"; do
  [ -s "$f" ] || { echo "fault hooks: $f is missing or empty" >&2; exit 2; }
done
case $mode in
  absent)
    status=0
    for f in "$@"; do
      if found=$(grep -a -o -E "$pattern" "$f" | sort -u | tr '\n' ' '); [ -n "$found" ]; then
        echo "fault hooks: $f holds: $found"
        status=1
      fi
    done
    [ $status -eq 0 ] && echo "fault hooks: none in $# file(s)"
    exit $status
    ;;
  present)
    for n in "${names[@]}"; do
      if ! grep -a -q -F "$n" "$@"; then
        echo "fault hooks: '$n' is in none of: $*"
        exit 1
      fi
    done
    echo "fault hooks: all ${#names[@]} fault names found"
    ;;
  *)
    echo "usage: $0 absent|present FILE..." >&2
    exit 2
    ;;
esac
