#!/usr/bin/env bash
# Legacy contact (B7, docs/protocol-model.md#b7): HELLO in a UDP datagram to the UDP contact ports
# (407 and 1419, here 14101 and 14102); the host answers with one datagram,
# HELLO-ACK + PORT-OFFER of the fixed legacy control port TCP 1417 (A2, docs/protocol-model.md#a2),
# on which it listens (--legacy-ports). IPv4 and IPv6.
source "$(dirname "$0")/lib.bash"
need_root "1417-1420"

start_host h --listen :: --tcp-port 14100 --udp-port 14101,14102 --legacy-ports --dynamic-base 22000 --name legacy-host

for addr in 127.0.0.1 ::1; do
    for port in 14101 14102; do
        n=ctl-$port-${addr//[:.]/}
        guest "$n" 0 --host "$addr" --port "$port" --legacy-udp --service control
        has "$WORK/$n.out" "guest: PORT-OFFER tcp/1417 service control address 0.0.0.0 lifetime 0"
        has "$WORK/$n.out" "guest: offer tcp/1417 service control -> stream ok (256 bytes echoed)"
        has "$WORK/$n.out" "guest: OK: HELLO-ACK received, 1 offer(s), 1 of 1 stream(s) worked"
    done
done
has "$WORK/ctl-14101-127001.out" 'guest: HELLO-ACK from host "legacy-host" embedded-host-address 127.0.0.1 service control'
has "$WORK/ctl-14101-1.out" 'guest: HELLO-ACK from host "legacy-host" embedded-host-address 0.0.0.0 service control'

# The other fixed legacy ports.
for s in observe:1418 send-files:1419 exchange-files:1420; do
    guest "${s%%:*}" 0 --host 127.0.0.1 --port 14101 --legacy-udp --service "${s%%:*}"
    has "$WORK/${s%%:*}.out" "guest: offer tcp/${s##*:} service ${s%%:*} -> stream ok (256 bytes echoed)"
done

# Attended access: every service on a dynamic port (A2, docs/protocol-model.md#a2).
guest attended 0 --host 127.0.0.1 --port 14101 --legacy-udp --service control --attended
has_re "$WORK/attended.out" '^guest: offer tcp/220[0-9][0-9] service control -> stream ok \(256 bytes echoed\)$'

has_re "$WORK/h.log" '^host: HELLO from 127\.0\.0\.1:[0-9]+ service control embedded-guest-address 127\.0\.0\.1$'
has_re "$WORK/h.log" '^host: HELLO from \[::1\]:[0-9]+ service control embedded-guest-address 0\.0\.0\.0$'
has_re "$WORK/h.log" '^host: HELLO-ACK to 127\.0\.0\.1:[0-9]+ service control embedded-host-address 127\.0\.0\.1 name "legacy-host" \(one datagram, 1 offer\(s\)\)$'
has_re "$WORK/h.log" '^host: stream tcp/1417 from 127\.0\.0\.1:[0-9]+: echoed 256 bytes, closed$'
has_re "$WORK/h.log" '^host: stream tcp/1417 from \[::1\]:[0-9]+: echoed 256 bytes, closed$'
has_re "$WORK/h.log" '^host: legacy session udp/14102 from .* service control done \(every offered stream was used\)$'

stop_host h
[[ $HOST_RC == 0 ]] || fail "host exited $HOST_RC on SIGTERM"
pass "host exits 0 on SIGTERM"
has_re "$WORK/h.log" '^host: summary: [0-9]+ contacts, 8 HELLOs, 8 sessions, 8 offers, 8 streams, 0 malformed'

# Without --legacy-ports nobody listens on 1417: the stream fails, the guest says so.
start_host h2 --listen 127.0.0.1 --tcp-port 14103 --udp-port 14104 --dynamic-base 22050
guest nolisten 1 --host 127.0.0.1 --port 14104 --legacy-udp --service control --stream-timeout 1
has "$WORK/nolisten.out" "guest: offer tcp/1417 service control -> FAILED: connection refused"
has "$WORK/nolisten.out" "guest: FAILED: 1 of 1 stream(s) failed (tcp/1417: connection refused)"
has_re "$WORK/h2.log" '^host: offer tcp/1417 service control address 0\.0\.0\.0 lifetime 0 to 127\.0\.0\.1:[0-9]+ \(not listening\)$'
done_all
