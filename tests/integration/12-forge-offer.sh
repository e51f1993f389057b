#!/usr/bin/env bash
# --forge-offer: the guest sends a PORT-OFFER (opcode 0x0031, the host's bytes)
# from its own side after the HELLO. The host logs it and ignores it; the guest
# then checks that the forged port is not reachable (nothing listens on it
# here) and still tests the real offers.
source "$(dirname "$0")/lib.bash"

forged=14219
start_host h --listen :: --tcp-port 14210 --udp-port 14211 --dynamic-base 23000
guest tcp 0 --host 127.0.0.1 --port 14210 --service chat --forge-offer $forged
has "$WORK/tcp.out" "guest: sent forged PORT-OFFER tcp/$forged from the guest side (must be ignored)"
has "$WORK/tcp.out" "guest: offer tcp/23000 service chat -> stream ok (256 bytes echoed)"
has "$WORK/tcp.out" "guest: forged offer tcp/$forged -> FAILED: connection refused (blocked, as it must be)"
has "$WORK/tcp.out" "guest: OK: HELLO-ACK received, 1 offer(s), 1 of 1 stream(s) worked"
has_re "$WORK/h.log" "^host: PORT-OFFER frame \\(tcp/$forged\\) sent by the guest 127\\.0\\.0\\.1:[0-9]+ on tcp/14210 ignored: only the host offers ports$"

guest udp 0 --host ::1 --port 14211 --legacy-udp --service intercom --forge-offer $forged
has "$WORK/udp.out" "guest: forged offer tcp/$forged -> FAILED: connection refused (blocked, as it must be)"
has_re "$WORK/h.log" "^host: PORT-OFFER frame \\(tcp/$forged\\) sent by the guest \\[::1\\]:[0-9]+ on udp/14211 ignored: only the host offers ports$"

# If the forged port is reachable, the guest fails and says so.
start_host other --listen 127.0.0.1 --tcp-port 14212 --udp-port 0 --offer-port 14218 --dynamic-base 23050
guest other 0 --host 127.0.0.1 --port 14212 --service chat
guest reach 1 --host 127.0.0.1 --port 14210 --service chat --forge-offer 14218
has "$WORK/reach.out" "guest: FAILED: the forged offer tcp/14218 was reachable"
stop_host h
has_re "$WORK/h.log" '^host: summary: .* 3 forged offers ignored, '
done_all
