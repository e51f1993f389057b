#!/usr/bin/env bash
# TCP contact (5.2 and later, B7, docs/protocol-model.md#b7) for intercom: HELLO-ACK then one
# PORT-OFFER of a dynamic UDP port on the framed contact stream; the guest
# sends datagrams there and gets them back. IPv4 and IPv6, offer address
# 0.0.0.0 (default) and `self`.
source "$(dirname "$0")/lib.bash"

start_host h --listen :: --tcp-port 14120 --udp-port 0 --dynamic-base 22200 --name "tcp host"
guest v4 0 --host 127.0.0.1 --port 14120 --service intercom --address-in-hello 198.51.100.7
has "$WORK/v4.out" 'guest: HELLO-ACK from host "tcp host" embedded-host-address 127.0.0.1 service intercom'
has "$WORK/v4.out" "guest: PORT-OFFER udp/22200 service intercom address 0.0.0.0 lifetime 0"
has "$WORK/v4.out" "guest: offer udp/22200 service intercom -> stream ok (256 bytes echoed)"
has "$WORK/v4.out" "guest: OK: HELLO-ACK received, 1 offer(s), 1 of 1 stream(s) worked"
has_re "$WORK/h.log" '^host: HELLO from 127\.0\.0\.1:[0-9]+ service intercom embedded-guest-address 198\.51\.100\.7$'
has_re "$WORK/h.log" '^host: offer udp/22200 service intercom address 0\.0\.0\.0 lifetime 0 to 127\.0\.0\.1:[0-9]+ \(listening\)$'
has_re "$WORK/h.log" '^host: stream udp/22200 from 127\.0\.0\.1:[0-9]+: echoed 256 bytes \(dynamic intercom\)$'
has_re "$WORK/h.log" '^host: contact from 127\.0\.0\.1:[0-9]+ on tcp/14120 closed \(service intercom: closed by the guest\)$'

guest v6 0 --host ::1 --port 14120 --service intercom
has "$WORK/v6.out" 'guest: HELLO-ACK from host "tcp host" embedded-host-address 0.0.0.0 service intercom'
has "$WORK/v6.out" "guest: offer udp/22201 service intercom -> stream ok (256 bytes echoed)"
has_re "$WORK/h.log" '^host: stream udp/22201 from \[::1\]:[0-9]+: echoed 256 bytes'
lacks_re "$WORK/h.log" 'udp/14120|listening udp'
stop_host h

# --offer-address self: the host's own address of the contact connection (IPv4);
# on IPv6 the field must stay 0.0.0.0 (B5, docs/protocol-model.md#b5).
start_host s --listen :: --tcp-port 14121 --udp-port 0 --dynamic-base 22220 --offer-address self
guest self4 0 --host 127.0.0.1 --port 14121 --service intercom
has "$WORK/self4.out" "guest: PORT-OFFER udp/22220 service intercom address 127.0.0.1 lifetime 0"
has "$WORK/self4.out" "guest: offer udp/22220 service intercom -> stream ok (256 bytes echoed)"
guest self6 0 --host ::1 --port 14121 --service intercom
has "$WORK/self6.out" "guest: PORT-OFFER udp/22221 service intercom address 0.0.0.0 lifetime 0"
stop_host s

# An explicit third-party address is placed as given; the guest goes there
# (nobody listens on 127.0.0.2 here, so that stream fails).
start_host t --listen 127.0.0.1 --tcp-port 14122 --udp-port 0 --dynamic-base 22240 --offer-address 127.0.0.2
guest third 1 --host 127.0.0.1 --port 14122 --service intercom
has "$WORK/third.out" "guest: PORT-OFFER udp/22240 service intercom address 127.0.0.2 lifetime 0"
has_re "$WORK/third.out" '^guest: offer udp/22240 service intercom -> FAILED: '
done_all
