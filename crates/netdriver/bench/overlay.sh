#!/usr/bin/env bash
# Shoal overlay benchmark (issue 7): TCP throughput (iperf3) and round-trip
# latency (ping) between two machines, in one run, four ways:
#   1. host to host on the lab bridge (the underlay),
#   2. container to container over the engines' own overlay (VXLAN, with
#      the etcd cluster store that Docker < 23 had),
#   3. container to container over Shoal's overlay (`shoal net-agent`,
#      driver and IPAM `shoal`, VXLAN programmed from etcd),
#   4. the same with `-o encrypted` (VXLAN sealed by the agents' userspace
#      tunnel: TUN, ChaCha20-Poly1305, UDP between the hosts).
# Numbers are printed as ratios to host to host. iperf3 comes from Debian
# and is put into a local image with its libraries (no registry here).
#
#   usage: crates/netdriver/bench/overlay.sh [SECONDS_PER_TCP_RUN]  (default 5)
set -euo pipefail
cd "$(dirname "$0")/../../.."
DUR=${1:-5}
command -v iperf3 >/dev/null || { apt-get update -q && apt-get install -y -q --no-install-recommends iperf3; }
SHOAL=${SHOAL:-}
if [ -z "$SHOAL" ]; then
  # the data path is the kernel's: a debug build measures the same
  cargo build -q -p shoal; SHOAL=$PWD/target/debug/shoal
fi
export SHOAL_MACHINE_STORAGE_PATH=$(mktemp -d /tmp/shoal-netbench.XXXXXX)
ROOTFS=$(mktemp -d /tmp/shoal-netbench-rootfs.XXXXXX)
unset DOCKER_HOST
AGENTS=()
cleanup() {
  local rc=$?
  if [ "$rc" != 0 ]; then tail -n 20 "$SHOAL_MACHINE_STORAGE_PATH"/machines.log "$SHOAL_MACHINE_STORAGE_PATH"/agent-*.log >&2 || true; fi
  for pid in "${AGENTS[@]}"; do kill "$pid" 2>/dev/null || true; done
  "$SHOAL" machine rm -f nb-a nb-b nb-ks >/dev/null 2>&1 || true
  rm -rf "$SHOAL_MACHINE_STORAGE_PATH" "$ROOTFS"
}
trap cleanup EXIT

"$SHOAL" machine create --keystore etcd nb-ks >/dev/null 2>>"$SHOAL_MACHINE_STORAGE_PATH/machines.log"
KS=$("$SHOAL" machine ip nb-ks)
for m in nb-a nb-b; do
  "$SHOAL" machine create --engine-opt "cluster-store=etcd://$KS:2379" --engine-opt cluster-advertise=eth0:2376 "$m" >/dev/null 2>>"$SHOAL_MACHINE_STORAGE_PATH/machines.log"
done
A=$("$SHOAL" machine ip nb-a); B=$("$SHOAL" machine ip nb-b)
for m in nb-a nb-b; do
  "$SHOAL" machine ssh "$m" -- "$SHOAL" net-agent --store "etcd://$KS:2379" --prefix /shoal-bench \
    >"$SHOAL_MACHINE_STORAGE_PATH/agent-$m.log" 2>&1 </dev/null &
  AGENTS+=($!)
done
for m in nb-a nb-b; do
  for _ in $(seq 50); do "$SHOAL" machine ssh "$m" -- test -S /run/docker/plugins/shoal.sock && break; sleep 0.2; done
done

# an image with busybox, iperf3 and the libraries it links
mkdir -p "$ROOTFS/bin" "$ROOTFS/usr/bin" "$ROOTFS/tmp"
cp /bin/busybox "$ROOTFS/bin/"; for a in sh ping sleep cat; do ln -s busybox "$ROOTFS/bin/$a"; done
cp "$(command -v iperf3)" "$ROOTFS/usr/bin/"
for lib in $(ldd "$(command -v iperf3)" | grep -o '/[^ ]*'); do mkdir -p "$ROOTFS$(dirname "$lib")"; cp -L "$lib" "$ROOTFS$lib"; done
DA="docker -H tcp://$A:2376"; DB="docker -H tcp://$B:2376"
for d in "$DA" "$DB"; do tar -C "$ROOTFS" -c . | $d import --change 'CMD ["sh"]' - iperf3:local >/dev/null; done

# the engines' overlay (made once, seen by both through the cluster store)
$DA network create -d overlay --subnet 10.124.0.0/24 engine-net >/dev/null
for _ in $(seq 20); do $DB network ls | grep -q engine-net && break; sleep 0.5; done
# Shoal's overlay (made on each engine: no cluster store needed)
for d in "$DA" "$DB"; do
  $d network create -d shoal --ipam-driver shoal --subnet 10.125.0.0/24 -o vni=125 shoal-net >/dev/null
  $d network create -d shoal --ipam-driver shoal --subnet 10.126.0.0/24 -o vni=126 -o encrypted shoal-enc >/dev/null
done

gbps() { python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.2f" % (d["end"]["sum_received"]["bits_per_second"]/1e9))'; }
# median round trip in ms (resists a busy neighbour on a shared machine)
rtt() { python3 -c 'import re,sys,statistics as s; v=[float(x) for x in re.findall(r"time=([0-9.]+) ms", sys.stdin.read())]; print("%.3f" % s.median(v))'; }

# 1. host to host
"$SHOAL" machine ssh nb-a -- iperf3 -s -D -1 >/dev/null
sleep 0.5
HOST_GBPS=$("$SHOAL" machine ssh nb-b -- iperf3 -c "$A" -t "$DUR" -J | gbps)
HOST_RTT=$("$SHOAL" machine ssh nb-b -- busybox ping -c 200 -i 0.01 "$A" | rtt)

# 2. and 3. container to container: server on A, client on B
measure() { # NETWORK -> "GBPS RTT"
  local net=$1
  $DA run -d --name "srv-$net" --net "$net" iperf3:local iperf3 -s >/dev/null
  local ip; ip=$($DA inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "srv-$net")
  $DB run -d --name "cli-$net" --net "$net" iperf3:local sleep 3600 >/dev/null
  for _ in $(seq 50); do $DB exec "cli-$net" ping -c 1 -W 1 "$ip" >/dev/null 2>&1 && break; sleep 0.2; done
  local g r
  g=$($DB exec "cli-$net" iperf3 -c "$ip" -t "$DUR" -J | gbps)
  r=$($DB exec "cli-$net" ping -c 200 -i 0.01 "$ip" | rtt)
  $DA rm -f "srv-$net" >/dev/null; $DB rm -f "cli-$net" >/dev/null
  echo "$g $r"
}
read -r ENG_GBPS ENG_RTT < <(measure engine-net)
read -r SH_GBPS SH_RTT < <(measure shoal-net)
read -r ENC_GBPS ENC_RTT < <(measure shoal-enc)
MTU=$($DB run --rm --net shoal-net iperf3:local cat /sys/class/net/eth0/mtu)
ENC_MTU=$($DB run --rm --net shoal-enc iperf3:local cat /sys/class/net/eth0/mtu)

python3 - "$HOST_GBPS" "$ENG_GBPS" "$SH_GBPS" "$ENC_GBPS" "$HOST_RTT" "$ENG_RTT" "$SH_RTT" "$ENC_RTT" "$DUR" "$MTU" "$ENC_MTU" <<'PY'
import sys
hg, eg, sg, xg, hr, er, sr, xr, dur = map(float, sys.argv[1:10])
mtu, xmtu = sys.argv[10], sys.argv[11]
print(f"overlay benchmark, one run: iperf3 TCP {dur:.0f} s, median of 200 pings at 10 ms")
print(f"{'path':<44}{'TCP Gbit/s':>11}{'RTT ms':>9}{'tput/host':>11}{'RTT/host':>10}")
for name, g, r in [("host to host (lab bridge)", hg, hr),
                   ("containers, engines' overlay (cluster store)", eg, er),
                   (f"containers, shoal overlay (MTU {mtu})", sg, sr),
                   (f"containers, shoal encrypted (MTU {xmtu})", xg, xr)]:
    print(f"{name:<44}{g:>11.2f}{r:>9.3f}{g/hg:>10.2f}x{r/hr:>9.2f}x")
print(f"shoal / engines' overlay: throughput {sg/eg:.2f}x, latency {sr/er:.2f}x")
print(f"shoal encrypted / shoal plain: throughput {xg/sg:.2f}x, latency {xr/sr:.2f}x")
PY
