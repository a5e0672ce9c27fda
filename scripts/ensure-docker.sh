#!/bin/bash
# ensure-docker.sh - make sure a responsive Docker Engine answers on
# /var/run/docker.sock.  The machine normally starts one; if it is missing,
# or wedged (it answers /_ping but not /info within 20 s), (re)start it with
# the machine's own configuration (/etc/docker/daemon.json).
set -u
sock=/var/run/docker.sock
responsive() {
  timeout 20 curl -sf -o /dev/null --unix-socket "$sock" http://d/info 2>/dev/null
}
if responsive; then
  exit 0
fi
echo "ensure-docker: the Docker Engine does not answer /info; (re)starting it" >&2
if pgrep -x dockerd >/dev/null; then
  pkill -TERM -x dockerd
  for _ in $(seq 60); do pgrep -x dockerd >/dev/null || break; sleep 0.5; done
  pkill -KILL -x dockerd 2>/dev/null
  pkill -KILL -x containerd 2>/dev/null
  sleep 1
fi
command -v dockerd >/dev/null || { echo "ensure-docker: dockerd is not installed" >&2; exit 1; }
setsid nohup dockerd >>/var/log/dockerd.log 2>&1 </dev/null &
for _ in $(seq 120); do
  responsive && { echo "ensure-docker: Docker Engine is up" >&2; exit 0; }
  sleep 0.5
done
echo "ensure-docker: the Docker Engine did not come up" >&2
exit 1
