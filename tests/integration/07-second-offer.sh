#!/usr/bin/env bash
# --second-offer-after: on a framed TCP contact the host sends a second round
# of offers for NEW dynamic ports on the same contact connection (the test of
# a daemon restart mid-session); the guest waits for both (--wait-offers 2)
# and opens every stream as its offer arrives.
source "$(dirname "$0")/lib.bash"

start_host h --listen :: --tcp-port 14160 --udp-port 0 --dynamic-base 22600 --second-offer-after 1
for v in 4 6; do
    addr=127.0.0.1
    [[ $v == 6 ]] && addr=::1
    guest "ic$v" 0 --host "$addr" --port 14160 --service intercom --wait-offers 2
    count_re "$WORK/ic$v.out" '^guest: PORT-OFFER udp/226[0-9]{2} service intercom ' 2
    count_re "$WORK/ic$v.out" '^guest: offer udp/226[0-9]{2} service intercom -> stream ok \(256 bytes echoed\)$' 2
    has "$WORK/ic$v.out" "guest: OK: HELLO-ACK received, 2 offer(s), 2 of 2 stream(s) worked"
done
has "$WORK/ic4.out" "guest: offer udp/22600 service intercom -> stream ok (256 bytes echoed)"
has "$WORK/ic4.out" "guest: offer udp/22601 service intercom -> stream ok (256 bytes echoed)"
has_re "$WORK/h.log" '^host: second round of 1 offer\(s\) to 127\.0\.0\.1:[0-9]+ after 1 s$'
has_re "$WORK/h.log" '^host: offer udp/22601 service intercom address 0\.0\.0\.0 lifetime 0 to 127\.0\.0\.1:[0-9]+ second round \(listening\)$'

guest dnd 0 --host 127.0.0.1 --port 14160 --service drag-and-drop --wait-offers 2
count_re "$WORK/dnd.out" '^guest: offer tcp/226[0-9]{2} service drag-and-drop -> stream ok' 2

# Without --wait-offers the guest stops after --linger quiet seconds: it does
# not wait for a second round (5 s away here), one offer only.
start_host late --listen 127.0.0.1 --tcp-port 14161 --udp-port 0 --dynamic-base 22650 --second-offer-after 5
start=$SECONDS
guest quick 0 --host 127.0.0.1 --port 14161 --service chat
count_re "$WORK/quick.out" '^guest: PORT-OFFER ' 1
((SECONDS - start < 5)) || fail "the guest waited for the second round"
pass "the guest did not wait for the second round"

# Waiting for more offers than come: exit 1 with a clear summary.
guest toomany 1 --host 127.0.0.1 --port 14160 --service chat --wait-offers 3 --timeout 3
has "$WORK/toomany.out" "guest: FAILED: only 2 of 3 offer(s) arrived before the timeout"
done_all
