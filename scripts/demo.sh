#!/bin/bash
# demo.sh - the main job: build the agent, start the local control plane
# (ECS API + ACS websocket + fake instance metadata), start the agent
# against it, register a task definition for a small web service built
# locally (busybox httpd), run it, show it RUNNING through the AWS CLI and
# answering on its port, then keep everything running until Ctrl-C.
#   DEMO_EXIT=1  stop and clean up after the check instead of waiting.
#   DEMO_PORT    control-plane port (default 5080); web host port 8000.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
port=${DEMO_PORT:-5080}
webport=${DEMO_WEB_PORT:-8000}
work=$root/out/demo
export AWS_ACCESS_KEY_ID=AKIDLOCALDEMO AWS_SECRET_ACCESS_KEY=localdemosecret/0123456789
export AWS_DEFAULT_REGION=us-west-2 AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_PAGER=""
ecs() { /usr/bin/aws --endpoint-url "http://127.0.0.1:$port" --output json ecs "$@"; }

make -s build
scripts/ensure-docker.sh
image=$(tests/lib/test-image.sh | tail -1)
rm -rf "$work"
mkdir -p "$work/data" "$work/log" "$work/cp"

cleanup() {
  echo "stopping..."
  [ -n "${task:-}" ] && ecs stop-task --cluster demo --task "$task" >/dev/null 2>&1 && sleep 3
  [ -n "${agent_pid:-}" ] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
  [ -n "${cp_pid:-}" ] && kill "$cp_pid" 2>/dev/null && wait "$cp_pid" 2>/dev/null
  ids=$(docker ps -aq --filter label=com.amazonaws.ecs.cluster=demo)
  [ -n "$ids" ] && docker rm -fv $ids >/dev/null
  true
}
trap cleanup EXIT INT TERM

/usr/bin/python3 -m controlplane --listen "127.0.0.1:$port" --imds-listen 127.0.0.1:0 \
  --region us-west-2 --access-key "$AWS_ACCESS_KEY_ID" --secret-key "$AWS_SECRET_ACCESS_KEY" \
  --state-dir "$work/cp" >"$work/cp.addr" 2>"$work/controlplane.log" &
cp_pid=$!
for _ in $(seq 50); do [ -s "$work/cp.addr" ] && break; sleep 0.1; done
imds=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["imds"])' "$work/cp.addr")
echo "control plane on http://127.0.0.1:$port (instance metadata on http://$imds)"
ecs create-cluster --cluster-name demo --query 'cluster.clusterArn'

ECS_CLUSTER=demo ECS_BACKEND_HOST="http://127.0.0.1:$port" ECS_DATADIR="$work/data" \
  ECS_LOGFILE="$work/log/ecs-agent.log" AWS_EC2_METADATA_SERVICE_ENDPOINT="http://$imds" \
  ECS_INTROSPECTION_LISTEN_ADDR=127.0.0.1 ECS_AGENT_CONFIG_FILE_PATH=/nonexistent \
  out/amazon-ecs-agent >"$work/agent.out" 2>&1 &
agent_pid=$!
echo "agent started (pid $agent_pid, log $work/log/ecs-agent.log)"

for _ in $(seq 100); do
  n=$(ecs list-container-instances --cluster demo --query 'length(containerInstanceArns)' 2>/dev/null || echo 0)
  [ "$n" = "1" ] && break; sleep 0.2
done
ecs list-container-instances --cluster demo

cat >"$work/taskdef.json" <<JSON
{"family":"web","containerDefinitions":[{"name":"httpd","image":"$image","cpu":64,"memory":32,
 "essential":true,"entryPoint":["/bin/sh","-c"],
 "command":["mkdir -p /www && echo 'hello from the C ECS agent' > /www/index.html && exec httpd -f -p 8080 -h /www"],
 "portMappings":[{"containerPort":8080,"hostPort":$webport,"protocol":"tcp"}]}]}
JSON
ecs register-task-definition --cli-input-json "file://$work/taskdef.json" --query 'taskDefinition.taskDefinitionArn'
task=$(ecs run-task --cluster demo --task-definition web --query 'tasks[0].taskArn' --output text)
echo "run-task: $task"
for _ in $(seq 300); do
  st=$(ecs describe-tasks --cluster demo --tasks "$task" --query 'tasks[0].lastStatus' --output text)
  [ "$st" = "RUNNING" ] && break; sleep 0.2
done
ecs describe-tasks --cluster demo --tasks "$task" \
  --query 'tasks[0].{lastStatus:lastStatus,containers:containers[].{name:name,lastStatus:lastStatus,networkBindings:networkBindings}}'
echo "GET http://127.0.0.1:$webport/ ->"
curl -sf "http://127.0.0.1:$webport/"
[ "$st" = "RUNNING" ] || { echo "task did not reach RUNNING"; exit 1; }

cat <<TXT

The agent is running task $task.  Go on with the AWS CLI:
  export AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY AWS_DEFAULT_REGION=us-west-2
  aws --endpoint-url http://127.0.0.1:$port ecs list-tasks --cluster demo
  aws --endpoint-url http://127.0.0.1:$port ecs stop-task --cluster demo --task $task
  curl http://127.0.0.1:51678/v1/tasks        # the agent's introspection API
Ctrl-C stops the agent and the control plane and removes the demo containers.
TXT
if [ "${DEMO_EXIT:-0}" = "1" ]; then exit 0; fi
wait "$agent_pid"
