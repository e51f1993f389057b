#!/usr/bin/env bash
# TCP contact for services 1 to 4 (B7, docs/protocol-model.md#b7): HELLO-ACK, then unframed service
# data on the same stream and no offer. Send files uses the opcodes of A8, docs/protocol-model.md#a8
# (0xFF, 0xFB header, 0xF8 + u16 + data, 0xFE end); the guest decodes them,
# then proves the stream carries data both ways (echo).
source "$(dirname "$0")/lib.bash"

start_host h --listen :: --tcp-port 14140 --udp-port 0 --dynamic-base 22400 --extra-offers 3 --second-offer-after 1

guest sf 0 --host 127.0.0.1 --port 14140 --service send-files
has "$WORK/sf.out" 'guest: HELLO-ACK from host "tbsim-host" embedded-host-address 127.0.0.1 service send-files'
has "$WORK/sf.out" 'guest: service data 90 bytes (send files: file "tbsim.txt" TEXT/ttxt, 1 data block(s), 58 bytes, end)'
has "$WORK/sf.out" "guest: service stream send-files -> ok (256 bytes echoed)"
has "$WORK/sf.out" "guest: OK: HELLO-ACK received, 0 offer(s), 0 of 0 stream(s) worked, service data ok"
count_re "$WORK/sf.out" 'PORT-OFFER' 0
has_re "$WORK/h.log" '^host: sent 90 bytes of send-files service data to 127\.0\.0\.1:[0-9]+ \(unframed from here, no offers\)$'
has_re "$WORK/h.log" '^host: contact from 127\.0\.0\.1:[0-9]+ on tcp/14140 closed \(service send-files, 256 bytes of service data echoed\)$'

guest sf6 0 --host ::1 --port 14140 --service send-files
has "$WORK/sf6.out" "guest: service stream send-files -> ok (256 bytes echoed)"

for s in control observe exchange-files; do
    guest "$s" 0 --host 127.0.0.1 --port 14140 --service "$s"
    has "$WORK/$s.out" "guest: service data 64 bytes (64 bytes of $s data)"
    has "$WORK/$s.out" "guest: service stream $s -> ok (256 bytes echoed)"
    count_re "$WORK/$s.out" 'PORT-OFFER' 0
done
# Even with --extra-offers and --second-offer-after the unframed streams carry no offer.
lacks_re "$WORK/h.log" '^host: (offer|second round)'
done_all
