#!/usr/bin/env bash
# --expect-blocked: success means every offered stream FAILED (a firewall
# without the helper). Proven here with offers of a port nobody listens on
# (--offer-port P --no-listen): TCP gets "connection refused", UDP gets no echo
# or port unreachable. The opposite cases fail with a clear summary.
source "$(dirname "$0")/lib.bash"

closed=14179  # nothing listens here
start_host h --listen :: --tcp-port 14170 --udp-port 14171 --dynamic-base 22700 --offer-port $closed --no-listen
has_re "$WORK/h.log" '^host: ready .*offer port 14179\)$'

guest blk 0 --host 127.0.0.1 --port 14170 --service drag-and-drop --expect-blocked --stream-timeout 1
has "$WORK/blk.out" "guest: PORT-OFFER tcp/$closed service drag-and-drop address 0.0.0.0 lifetime 0"
has "$WORK/blk.out" "guest: offer tcp/$closed service drag-and-drop -> FAILED: connection refused (blocked, as expected)"
has "$WORK/blk.out" "guest: OK: HELLO-ACK received, 1 offer(s), all 1 stream(s) blocked as expected"
has_re "$WORK/h.log" "^host: offer tcp/$closed service drag-and-drop address 0\\.0\\.0\\.0 lifetime 0 to 127\\.0\\.0\\.1:[0-9]+ \\(not listening\\)$"

guest blku 0 --host ::1 --port 14171 --legacy-udp --service intercom --expect-blocked --stream-timeout 1
has_re "$WORK/blku.out" "^guest: offer udp/$closed service intercom -> FAILED: .* \\(blocked, as expected\\)$"
has_re "$WORK/blku.out" "^guest: offer tcp/$closed service intercom -> FAILED: connection refused \\(blocked, as expected\\)$"
has "$WORK/blku.out" "guest: OK: HELLO-ACK received, 2 offer(s), all 2 stream(s) blocked as expected"

# The same offer without --expect-blocked is a failure.
guest open 1 --host 127.0.0.1 --port 14170 --service chat --stream-timeout 1
has "$WORK/open.out" "guest: offer tcp/$closed service chat -> FAILED: connection refused"
has "$WORK/open.out" "guest: FAILED: 1 of 1 stream(s) failed (tcp/$closed: connection refused)"

# A probe has no stream that could be blocked: --expect-blocked cannot succeed.
guest none 1 --host 127.0.0.1 --port 14170 --service none --expect-blocked
has "$WORK/none.out" "guest: FAILED: --expect-blocked: the host offered no stream that could be blocked"
stop_host h

# --expect-blocked against streams that work: exit 1.
start_host ok --listen 127.0.0.1 --tcp-port 14172 --udp-port 0 --dynamic-base 22750
guest works 1 --host 127.0.0.1 --port 14172 --service chat --expect-blocked
has "$WORK/works.out" "guest: offer tcp/22750 service chat -> stream ok (256 bytes echoed) (NOT blocked)"
has "$WORK/works.out" "guest: FAILED: 1 of 1 stream(s) connected although blocking was expected (tcp/22750: connected)"

# --offer-port without --no-listen: the host listens on the forced port.
start_host f --listen 127.0.0.1 --tcp-port 14173 --udp-port 0 --dynamic-base 22760 --offer-port 14178
guest forced 0 --host 127.0.0.1 --port 14173 --service chat
has "$WORK/forced.out" "guest: offer tcp/14178 service chat -> stream ok (256 bytes echoed)"
done_all
