#!/usr/bin/env bash
# Legacy contact for intercom (A2, B7, docs/protocol-model.md#a2): one datagram with HELLO-ACK and two
# offers, a dynamic UDP port and a dynamic TCP port; the guest opens both. The
# embedded guest address is logged by the host as received (NAT tests rely on
# this line). --sessions makes the host exit 0 once the sessions are served.
source "$(dirname "$0")/lib.bash"

start_host h --listen :: --tcp-port 14110 --udp-port 14111 --dynamic-base 22100 --lifetime 30 --sessions 2

guest v4 0 --host 127.0.0.1 --port 14111 --legacy-udp --service intercom --address-in-hello 203.0.113.1
has "$WORK/v4.out" 'guest: HELLO-ACK from host "tbsim-host" embedded-host-address 127.0.0.1 service intercom'
has "$WORK/v4.out" "guest: PORT-OFFER udp/22100 service intercom address 0.0.0.0 lifetime 30"
has "$WORK/v4.out" "guest: PORT-OFFER tcp/22101 service intercom address 0.0.0.0 lifetime 30"
has "$WORK/v4.out" "guest: offer udp/22100 service intercom -> stream ok (256 bytes echoed)"
has "$WORK/v4.out" "guest: offer tcp/22101 service intercom -> stream ok (256 bytes echoed)"
has "$WORK/v4.out" "guest: OK: HELLO-ACK received, 2 offer(s), 2 of 2 stream(s) worked"
has_re "$WORK/h.log" '^host: HELLO from 127\.0\.0\.1:[0-9]+ service intercom embedded-guest-address 203\.0\.113\.1$'
has_re "$WORK/h.log" '^host: stream udp/22100 from 127\.0\.0\.1:[0-9]+: echoed 256 bytes \(dynamic intercom\)$'

guest v6 0 --host ::1 --port 14111 --legacy-udp --service intercom --payload 1000
has "$WORK/v6.out" "guest: sent HELLO service intercom embedded-guest-address 0.0.0.0"
has "$WORK/v6.out" "guest: offer udp/22102 service intercom -> stream ok (1000 bytes echoed)"
has "$WORK/v6.out" "guest: offer tcp/22103 service intercom -> stream ok (1000 bytes echoed)"
has_re "$WORK/h.log" '^host: HELLO from \[::1\]:[0-9]+ service intercom embedded-guest-address 0\.0\.0\.0$'

wait_host h 10
[[ $HOST_RC == 0 ]] || fail "host exited $HOST_RC after --sessions 2"
pass "host exited 0 after 2 sessions"
has "$WORK/h.log" "host: served 2 session(s), exiting"

# Other services over legacy UDP: one dynamic TCP port; a probe gets none.
start_host h2 --listen 127.0.0.1 --tcp-port 14112 --udp-port 14113 --dynamic-base 22150
for s in chat notify clipboard-exchange drag-and-drop ask-for-permission invite; do
    guest "u-$s" 0 --host 127.0.0.1 --port 14113 --legacy-udp --service "$s"
    has_re "$WORK/u-$s.out" "^guest: offer tcp/221[5-9][0-9] service $s -> stream ok \\(256 bytes echoed\\)$"
    count_re "$WORK/u-$s.out" '^guest: PORT-OFFER ' 1
done
guest u-probe 0 --host 127.0.0.1 --port 14113 --legacy-udp --service none
count_re "$WORK/u-probe.out" '^guest: PORT-OFFER ' 0
has "$WORK/u-probe.out" "guest: OK: HELLO-ACK received, 0 offer(s), 0 of 0 stream(s) worked"
done_all
