#!/bin/bash
# valgrind.sh - a full agent lifecycle under valgrind memcheck: start against
# the local control plane, register, connect ACS, run a task, stop it, run a
# short task whose essential container exits, SIGTERM.  Passes when valgrind
# reports 0 bytes definitely and indirectly lost and 0 errors.
#   tests/reliability/valgrind.sh [AGENT_BIN]   (default: builds out/rel)
# Slow (the agent runs ~20x slower): not part of `make test`.
set -eu
cd "$(dirname "$0")/../.."
bin=${1:-}
if [ -z "$bin" ]; then
  make -s -j"$(nproc)" O=out/rel build
  bin=out/rel/amazon-ecs-agent
fi
bin=$(readlink -f "$bin")
work=$(mktemp -d /tmp/ecs-valgrind.XXXXXX)
vglog=$work/valgrind.log
cat >"$work/agent-under-valgrind" <<EOS
#!/bin/sh
exec valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite,indirect \
  --errors-for-leak-kinds=definite,indirect --track-origins=yes --num-callers=30 \
  --log-file=$vglog "$bin" "\$@"
EOS
chmod +x "$work/agent-under-valgrind"
AGENT_BIN=$work/agent-under-valgrind VG_WORK=$work /usr/bin/python3 - <<'EOPY'
import os, sys, time
sys.path.insert(0, "tests/reliability")
import harness
rig = harness.Rig(workdir=os.environ["VG_WORK"], agent_env={"ECS_LOGLEVEL": "info"}, keep=True)
ok = False
try:
    rig.register_families()
    rig.start_agent(timeout=300)
    a = rig.run_task("long")
    harness.wait_for(lambda: rig.cp_tasks()[a]["lastStatus"] == "RUNNING", 300, what="task RUNNING")
    rig.stop_task(a)
    harness.wait_for(lambda: rig.cp_tasks()[a]["lastStatus"] == "STOPPED", 300, what="task STOPPED")
    s = rig.run_task("short", 0)
    harness.wait_for(lambda: rig.cp_tasks()[s]["lastStatus"] == "STOPPED", 300, what="short task STOPPED")
    rig.agent.introspect("/v1/tasks")
    rc = rig.agent.stop(timeout=300)
    print("agent exit code under valgrind: %s" % rc)
    ok = rc == 0
finally:
    rig.close()
sys.exit(0 if ok else 1)
EOPY
prc=$?
echo "valgrind log: $vglog"
grep -E "in use at exit|total heap usage|All heap blocks|definitely lost|indirectly lost|possibly lost|still reachable|ERROR SUMMARY" "$vglog" | sed 's/^==[0-9]*== *//'
def=$(grep -Eo 'definitely lost: [0-9,]+ bytes' "$vglog" | grep -Eo '[0-9,]+' | tr -d , | tail -1)
ind=$(grep -Eo 'indirectly lost: [0-9,]+ bytes' "$vglog" | grep -Eo '[0-9,]+' | tr -d , | tail -1)
errs=$(grep -Eo 'ERROR SUMMARY: [0-9,]+ errors' "$vglog" | grep -Eo '[0-9,]+' | tr -d , | tail -1)
if [ "$prc" -eq 0 ] && [ "${def:-0}" = 0 ] && [ "${ind:-0}" = 0 ] && [ "${errs:-1}" = 0 ]; then
  echo "valgrind: PASS (0 definitely, 0 indirectly lost, 0 errors)"
  exit 0
fi
echo "valgrind: FAIL (lifecycle rc=$prc definitely=${def:-?} indirectly=${ind:-?} errors=${errs:-?})"
grep -q "definitely lost: 0 bytes" "$vglog" || sed -n '/blocks are definitely lost/,/^==[0-9]*== $/p' "$vglog" | head -120
exit 1
