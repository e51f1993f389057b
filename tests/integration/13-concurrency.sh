#!/usr/bin/env bash
# Several guests at once against one host (threads, bounded); --sessions N
# exits 0 after N sessions; --timeout exits 1 when idle; a silent TCP contact
# does not block others.
source "$(dirname "$0")/lib.bash"

start_host h --listen :: --tcp-port 14220 --udp-port 14221 --dynamic-base 23100 --sessions 20
# A contact that never sends anything must not hold up the others.
exec 3<>/dev/tcp/127.0.0.1/14220 || fail "cannot open a silent contact"
pids=()
for i in $(seq 10); do
    "$TBSIM" guest --host 127.0.0.1 --port 14220 --service intercom >"$WORK/c$i.out" 2>&1 &
    pids+=($!)
    "$TBSIM" guest --host ::1 --port 14221 --legacy-udp --service drag-and-drop >"$WORK/u$i.out" 2>&1 &
    pids+=($!)
done
failed=0
for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
((failed == 0)) || fail "$failed of 20 concurrent guests failed"
pass "20 concurrent guests (10 TCP, 10 legacy UDP) all exited 0"
for i in $(seq 10); do
    has_re "$WORK/c$i.out" '^guest: offer udp/231[0-9]{2} service intercom -> stream ok \(256 bytes echoed\)$'
    has_re "$WORK/u$i.out" '^guest: offer tcp/231[0-9]{2} service drag-and-drop -> stream ok \(256 bytes echoed\)$'
done
# 20 distinct dynamic ports were offered.
n=$(grep -hoE '^guest: PORT-OFFER [a-z]+/[0-9]+' "$WORK"/c*.out "$WORK"/u*.out | sort -u | wc -l)
[[ $n == 20 ]] || fail "$n distinct offered ports, expected 20"
pass "20 distinct dynamic ports offered"
wait_host h 15
[[ $HOST_RC == 0 ]] || fail "host exited $HOST_RC after 20 sessions"
pass "host exited 0 after --sessions 20"
has "$WORK/h.log" "host: served 20 session(s), exiting"
exec 3>&-

# --timeout: exit 1 when idle that long.
start_host idle --listen 127.0.0.1 --tcp-port 14222 --udp-port 0 --timeout 1
wait_host idle 5
[[ $HOST_RC == 1 ]] || fail "idle host exited $HOST_RC, expected 1"
pass "idle host exited 1"
has "$WORK/idle.log" "host: idle for 1 s, exiting"
done_all
