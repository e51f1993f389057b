#!/usr/bin/env bash
# TCP contact with service 0 (the public probe of A7, docs/protocol-model.md#a7 is such a HELLO),
# invite (11) and an unknown code (42): HELLO-ACK only, no offer.
source "$(dirname "$0")/lib.bash"

start_host h --listen :: --tcp-port 14150 --udp-port 0 --dynamic-base 22500
for s in none invite 42 service-200; do
    n=${s//-/}
    guest "$n" 0 --host 127.0.0.1 --port 14150 --service "$s"
    count_re "$WORK/$n.out" 'PORT-OFFER' 0
    has "$WORK/$n.out" "guest: OK: HELLO-ACK received, 0 offer(s), 0 of 0 stream(s) worked"
done
has "$WORK/none.out" 'guest: HELLO-ACK from host "tbsim-host" embedded-host-address 127.0.0.1 service none'
has "$WORK/invite.out" 'guest: HELLO-ACK from host "tbsim-host" embedded-host-address 127.0.0.1 service invite'
has "$WORK/42.out" 'guest: HELLO-ACK from host "tbsim-host" embedded-host-address 127.0.0.1 service service-42'
has_re "$WORK/h.log" '^host: HELLO from 127\.0\.0\.1:[0-9]+ service service-200 embedded-guest-address 127\.0\.0\.1$'
guest probe6 0 --host ::1 --port 14150 --service none
has "$WORK/probe6.out" 'guest: HELLO-ACK from host "tbsim-host" embedded-host-address 0.0.0.0 service none'
lacks_re "$WORK/h.log" '^host: offer '
done_all
