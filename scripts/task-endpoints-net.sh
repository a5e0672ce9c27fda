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
#   - net.ipv6.conf.docker0.accept_ra=0 (as ecs-init does; a missing key is
#     not an error);
#   - on an IPv6-only host (no IPv4 default route): the route
#     169.254.170.2/32 dev lo scope link, so that the address is routable;
#   - nat PREROUTING: tcp to 169.254.170.2:80 -> DNAT 127.0.0.1:PORT (bridge
#     network containers);
#   - nat OUTPUT: tcp to 169.254.170.2:80 -> REDIRECT to PORT (host network
#     containers and the host itself);
#   - filter INPUT: drop packets to 127.0.0.0/8 from outside 127.0.0.0/8
#     unless they reached it through the DNAT (conntrack DNAT state): with
#     route_localnet on, nothing off-host reaches the credentials port
#     (skipped when ECS_SKIP_LOCALHOST_TRAFFIC_FILTER=true);
#   - filter INPUT: the introspection port 51678 only from lo and docker0
#     (skipped when ECS_ALLOW_OFFHOST_INTROSPECTION_ACCESS=true); these two
#     are repeated with ip6tables when /proc/sys/net/ipv6 exists and
#     ip6tables is on PATH.
# remove deletes the same rules (with iptables and ip6tables; a missing rule
# is not an error) and the lo route, and sets route_localnet back to the
# value of net.ipv4.conf.default.route_localnet.  status prints the rules in
# place and exits 0 when every setup rule is present.
set -u
cmd=${1:-}
port=${2:-${ECS_TASK_METADATA_PORT:-51679}}
ip=169.254.170.2
intro=${ECS_INTROSPECTION_PORT:-51678}
case "$port" in ''|*[!0-9]*) echo "task-endpoints-net: bad port '$port'" >&2; exit 2 ;; esac
command -v iptables >/dev/null || { echo "task-endpoints-net: iptables not found" >&2; exit 1; }

truthy() { case "${1,,}" in true|1|yes|on) return 0 ;; *) return 1 ;; esac; }

# the filter tools a rule goes to: iptables, and ip6tables too for a rule
# marked 46 when the host has IPv6 and the tool
tools() {
  echo iptables
  if [ "$1" = 46 ] && [ -d /proc/sys/net/ipv6 ] && command -v ip6tables >/dev/null; then
    echo ip6tables
  fi
}

# Each rule: families table chain rule... (added with -A, or -I where order
# matters), one line per tool it goes to
rules() {
  {
    echo "4 nat PREROUTING A -p tcp -d $ip --dport 80 -j DNAT --to-destination 127.0.0.1:$port"
    echo "4 nat OUTPUT A -p tcp -d $ip --dport 80 -j REDIRECT --to-ports $port"
    truthy "${ECS_SKIP_LOCALHOST_TRAFFIC_FILTER:-false}" ||
      echo "4 filter INPUT I --dst 127.0.0.0/8 ! --src 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP"
    if ! truthy "${ECS_ALLOW_OFFHOST_INTROSPECTION_ACCESS:-false}"; then
      echo "46 filter INPUT I -p tcp --dport $intro ! -i lo -j DROP"
      ip link show docker0 >/dev/null 2>&1 && echo "46 filter INPUT I -p tcp --dport $intro -i docker0 -j ACCEPT"
    fi
  } | while read -r fam rest; do
    for tool in $(tools "$fam"); do echo "$tool $rest"; done
  done
}

# an IPv6-only host has no IPv4 default route
ipv6_only() { [ -z "$(ip -4 route show default 2>/dev/null)" ]; }
lo_route="$ip/32 dev lo scope link"

rc=0
case "$cmd" in
  setup)
    sysctl -q -w net.ipv4.conf.all.route_localnet=1 || rc=1
    sysctl -q -e -w net.ipv6.conf.docker0.accept_ra=0 >/dev/null 2>&1 || true
    if ipv6_only && [ -z "$(ip route show $lo_route 2>/dev/null)" ]; then
      # shellcheck disable=SC2086
      out=$(ip route add $lo_route 2>&1) || case "$out" in *"File exists"*) ;; *) echo "$out" >&2; rc=1 ;; esac
    fi
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
    while read -r tool table chain how rule; do
      # shellcheck disable=SC2086 # the rule is split into words on purpose
      if ! "$tool" -w -t "$table" -C "$chain" $rule 2>/dev/null; then
        "$tool" -w -t "$table" "-$how" "$chain" $rule || rc=1
      fi
    done < <(rules)
    ;;
  remove)
    while read -r tool table chain how rule; do
      # shellcheck disable=SC2086
      while "$tool" -w -t "$table" -C "$chain" $rule 2>/dev/null; do
        "$tool" -w -t "$table" -D "$chain" $rule 2>/dev/null || break
      done
    done < <(ECS_SKIP_LOCALHOST_TRAFFIC_FILTER=false ECS_ALLOW_OFFHOST_INTROSPECTION_ACCESS=false rules)
    # shellcheck disable=SC2086
    ip route del $lo_route 2>/dev/null || true
    def=$(sysctl -n net.ipv4.conf.default.route_localnet 2>/dev/null || echo 0)
    sysctl -q -w net.ipv4.conf.all.route_localnet="$def" || rc=1
    ;;
  status)
    echo "route_localnet=$(sysctl -n net.ipv4.conf.all.route_localnet)"
    [ "$(sysctl -n net.ipv4.conf.all.route_localnet)" = 1 ] || rc=1
    while read -r tool table chain how rule; do
      # shellcheck disable=SC2086
      if "$tool" -w -t "$table" -C "$chain" $rule 2>/dev/null; then
        echo "present: $tool -t $table $chain $rule"
      else
        echo "missing: $tool -t $table $chain $rule"
        rc=1
      fi
    done < <(rules)
    if ipv6_only; then
      # shellcheck disable=SC2086
      if [ -n "$(ip route show $lo_route 2>/dev/null)" ]; then echo "present: route $lo_route"
      else echo "missing: route $lo_route"; rc=1; fi
    fi
    ;;
  *)
    echo "usage: $0 setup|remove|status [PORT]" >&2
    exit 2
    ;;
esac
exit $rc
