#!/usr/bin/env bash
# TCP contact for drag-and-drop (A1, B7, docs/protocol-model.md#a1): HELLO-ACK then one PORT-OFFER of
# a dynamic TCP port; the guest connects and gets its bytes echoed. The same
# for chat, notify, clipboard exchange and ask-for-permission. IPv4 and IPv6.
source "$(dirname "$0")/lib.bash"

start_host h --listen :: --tcp-port 14130,14131 --udp-port 0 --dynamic-base 22300 --lifetime 45
has "$WORK/h.log" "host: listening tcp/14130 on :: (contact)"
has "$WORK/h.log" "host: listening tcp/14131 on :: (contact)"

guest dnd 0 --host 127.0.0.1 --port 14130 --service drag-and-drop --payload 4096
has "$WORK/dnd.out" "guest: PORT-OFFER tcp/22300 service drag-and-drop address 0.0.0.0 lifetime 45"
has "$WORK/dnd.out" "guest: offer tcp/22300 service drag-and-drop -> stream ok (4096 bytes echoed)"
has "$WORK/dnd.out" "guest: OK: HELLO-ACK received, 1 offer(s), 1 of 1 stream(s) worked"
has_re "$WORK/h.log" '^host: stream tcp/22300 from 127\.0\.0\.1:[0-9]+ connected \(dynamic drag-and-drop\)$'
has_re "$WORK/h.log" '^host: stream tcp/22300 from 127\.0\.0\.1:[0-9]+: echoed 4096 bytes, closed$'

guest dnd6 0 --host ::1 --port 14131 --service drag-and-drop
has "$WORK/dnd6.out" "guest: offer tcp/22301 service drag-and-drop -> stream ok (256 bytes echoed)"
has_re "$WORK/h.log" '^host: stream tcp/22301 from \[::1\]:[0-9]+: echoed 256 bytes, closed$'

# The service numbers work as well as the names (9 = drag-and-drop).
guest num 0 --host 127.0.0.1 --port 14130 --service 9
has "$WORK/num.out" "guest: offer tcp/22302 service drag-and-drop -> stream ok (256 bytes echoed)"

p=22303
for s in chat notify clipboard-exchange ask-for-permission; do
    guest "$s" 0 --host 127.0.0.1 --port 14130 --service "$s"
    has "$WORK/$s.out" "guest: offer tcp/$p service $s -> stream ok (256 bytes echoed)"
    count_re "$WORK/$s.out" '^guest: PORT-OFFER ' 1
    p=$((p + 1))
done

# --extra-offers: N more offers for distinct dynamic TCP ports (max_expectations tests).
stop_host h
start_host x --listen 127.0.0.1 --tcp-port 14132 --udp-port 0 --dynamic-base 22350 --extra-offers 5
guest extra 0 --host 127.0.0.1 --port 14132 --service chat --wait-offers 6
count_re "$WORK/extra.out" '^guest: PORT-OFFER tcp/223(5[0-9]) service chat ' 6
count_re "$WORK/extra.out" '^guest: offer tcp/223(5[0-9]) service chat -> stream ok \(256 bytes echoed\)$' 6
has "$WORK/extra.out" "guest: OK: HELLO-ACK received, 6 offer(s), 6 of 6 stream(s) worked"
done_all
