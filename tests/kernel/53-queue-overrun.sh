#!/bin/bash
# 53: the kernel cannot deliver queued packets to a daemon that does not read
# (stopped with SIGSTOP while a guest sends 3000 datagrams of 8000 bytes to
# UDP 407: far more than the daemon's 16 MiB socket buffer holds, and fewer
# than the queue's 4096 places, so the socket fills first). The queue is
# fail-open: the kernel lets those packets pass unexamined and counts them in
# neither of its queue counters, so ENOBUFS on the daemon's socket is the only
# sign (docs/metrics.md#what-the-kernels-queue-counters-cannot-show):
#   - after SIGCONT the daemon logs its overrun warning (once for the episode,
#     through the log's rate limit: not one line per lost packet);
#   - the status counter overruns and `tbhelperctl metrics`'
#     tbhelper_overruns_total are at least 1;
#   - the daemon goes on working: a TCP intercom session afterwards gets its
#     expectation and its stream passes.
. "$(dirname "$0")/lib.sh"
kt_begin "queue overrun: the daemon warns and counts what the kernel let pass"
kt_need tbhelperd tbhelperctl tbsim
kt_topo routed
kt_daemon_start
kt_rules_apply
kt_host main --dynamic-base 40000

before=$(kt_counter overruns)
assert_eq "overruns before" 0 "$before"

kt_step "daemon stopped (SIGSTOP); 3000 datagrams of 8000 bytes to UDP 407"
kill -STOP "$KT_DAEMON_PID"
ip netns exec "$TB_NS_GUEST" /usr/bin/python3 - "$TB_TARGET_ADDR" >"$KT_WORK/flood.txt" 2>&1 <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
payload = bytes(8000)
sent = 0
for i in range(3000):
    try:
        s.sendto(payload, (sys.argv[1], 407))
        sent += 1
    except OSError:
        pass
print(f"sent {sent} datagrams")
PY
kt_indent < "$KT_WORK/flood.txt"
assert_grep "the guest sent them" '^sent [0-9]{4} datagrams' "$KT_WORK/flood.txt"
in_fw cat /proc/net/netfilter/nfnetlink_queue > "$KT_WORK/queue-proc.txt" 2>&1
kt_say "the kernel's queue line while the daemon is stopped:"; kt_indent < "$KT_WORK/queue-proc.txt"
kill -CONT "$KT_DAEMON_PID"

kt_step "daemon resumed: the warning, the counters"
kt_wait_for 20 grep -q "socket overrun" "$KT_WORK/tbhelperd.log" || true
assert_grep "the overrun warning" 'warning.*queue 407: the kernel could not deliver some packets \(socket overrun\); they passed unexamined \(fail-open\)' \
    "$KT_WORK/tbhelperd.log"
n=$(grep -c "socket overrun" "$KT_WORK/tbhelperd.log")
if [ "$n" -ge 1 ] && [ "$n" -le 5 ]; then kt_pass "warned $n time(s) for one episode, not once per packet"; else kt_fail "overrun warnings: $n"; fi
kt_wait_counter overruns 1 10 || true
assert_ge "status: overruns" 1 "$(kt_counter overruns)"
in_fw "$TBCTL" metrics > "$KT_WORK/metrics.txt" 2>&1
m=$(awk '$1 == "tbhelper_overruns_total" { print $2 }' "$KT_WORK/metrics.txt")
assert_ge "metrics: tbhelper_overruns_total" 1 "${m%.*}"

kt_step "the daemon goes on: an intercom session afterwards"
kt_guest after --host "$TB_TARGET_ADDR" --service intercom --timeout 20 --stream-timeout 5
assert_guest_ok "intercom after the overrun"
assert_streams "its UDP stream crossed the firewall" udp True 1
kt_finish
