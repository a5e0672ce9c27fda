#!/bin/bash
# task-endpoints-net.sh setup|remove|status [PORT] - the host plumbing that
# lets containers reach the agent's task metadata and credentials server
# (127.0.0.1:PORT, default ECS_TASK_METADATA_PORT or 51679) at
# http://169.254.170.2, as ecs-init installs it on an ECS-optimised host
# (run as root; idempotent: setup twice leaves one copy of each rule, setup
# replaces a forwarding of 169.254.170.2 to another port, remove on a clean
# host is not an error):
#   - net.ipv4.conf.all.route_localnet=1: packets arriving on docker0 may be
#     routed to 127.0.0.0/8 after the DNAT below;
#   - nat PREROUTING: tcp to 169.254.170.2:80 -> DNAT 127.0.0.1:PORT (bridge
#     network containers);
#   - nat OUTPUT: tcp to 169.254.170.2:80 -> REDIRECT to PORT (host network
#     containers and the host itself);
#   - filter INPUT: drop packets to 127.0.0.0/8 from outside 127.0.0.0/8
#     unless they reached it through the DNAT (conntrack DNAT state): with
#     route_localnet on, nothing off-host reaches the credentials port
#     (skipped when ECS_SKIP_LOCALHOST_TRAFFIC_FILTER=true);
#   - filter INPUT: the introspection port 51678 only from lo and docker0
#     (skipped when ECS_ALLOW_OFFHOST_INTROSPECTION_ACCESS=true).
# remove deletes the same rules and sets route_localnet back to the value of
# net.ipv4.conf.default.route_localnet.  status prints the rules in place and
# exits 0 when every setup rule is present.
set -u
cmd=${1:-}
port=${2:-${ECS_TASK_METADATA_PORT:-51679}}
ip=169.254.170.2
intro=${ECS_INTROSPECTION_PORT:-51678}
case "$port" in ''|*[!0-9]*) echo "task-endpoints-net: bad port '$port'" >&2; exit 2 ;; esac
command -v iptables >/dev/null || { echo "task-endpoints-net: iptables not found" >&2; exit 1; }

truthy() { case "${1,,}" in true|1|yes|on) return 0 ;; *) return 1 ;; esac; }

# Each rule: table chain rule... (added with -A, or -I where order matters)
rules() {
  echo "nat PREROUTING A -p tcp -d $ip --dport 80 -j DNAT --to-destination 127.0.0.1:$port"
  echo "nat OUTPUT A -p tcp -d $ip --dport 80 -j REDIRECT --to-ports $port"
  truthy "${ECS_SKIP_LOCALHOST_TRAFFIC_FILTER:-false}" ||
    echo "filter INPUT I --dst 127.0.0.0/8 ! --src 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP"
  if ! truthy "${ECS_ALLOW_OFFHOST_INTROSPECTION_ACCESS:-false}"; then
    echo "filter INPUT I -p tcp --dport $intro ! -i lo -j DROP"
    ip link show docker0 >/dev/null 2>&1 && echo "filter INPUT I -p tcp --dport $intro -i docker0 -j ACCEPT"
  fi
}

rc=0
case "$cmd" in
  setup)
    sysctl -q -w net.ipv4.conf.all.route_localnet=1 || rc=1
    # forwarding of 169.254.170.2:80 to another port (a setup for an earlier
    # ECS_TASK_METADATA_PORT) would come first and win: it goes
    for chain in PREROUTING OUTPUT; do
      iptables -w -t nat -S "$chain" 2>/dev/null | grep -e "-d $ip/32 " | grep -e "--dport 80 " |
        grep -v -e "--to-destination 127.0.0.1:$port\$" -e "--to-ports $port\$" |
        while read -r _ rest; do
          # shellcheck disable=SC2086 # the rule is split into words on purpose
          iptables -w -t nat -D $rest || rc=1
        done
    done
    while read -r table chain how rule; do
      # shellcheck disable=SC2086 # the rule is split into words on purpose
      if ! iptables -w -t "$table" -C "$chain" $rule 2>/dev/null; then
        iptables -w -t "$table" "-$how" "$chain" $rule || rc=1
      fi
    done < <(rules)
    ;;
  remove)
    while read -r table chain how rule; do
      # shellcheck disable=SC2086
      while iptables -w -t "$table" -C "$chain" $rule 2>/dev/null; do
        iptables -w -t "$table" -D "$chain" $rule || { rc=1; break; }
      done
    done < <(ECS_SKIP_LOCALHOST_TRAFFIC_FILTER=false ECS_ALLOW_OFFHOST_INTROSPECTION_ACCESS=false rules)
    def=$(sysctl -n net.ipv4.conf.default.route_localnet 2>/dev/null || echo 0)
    sysctl -q -w net.ipv4.conf.all.route_localnet="$def" || rc=1
    ;;
  status)
    echo "route_localnet=$(sysctl -n net.ipv4.conf.all.route_localnet)"
    [ "$(sysctl -n net.ipv4.conf.all.route_localnet)" = 1 ] || rc=1
    while read -r table chain how rule; do
      # shellcheck disable=SC2086
      if iptables -w -t "$table" -C "$chain" $rule 2>/dev/null; then
        echo "present: -t $table $chain $rule"
      else
        echo "missing: -t $table $chain $rule"
        rc=1
      fi
    done < <(rules)
    ;;
  *)
    echo "usage: $0 setup|remove|status [PORT]" >&2
    exit 2
    ;;
esac
exit $rc
