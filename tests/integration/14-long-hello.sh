#!/usr/bin/env bash
# --long-hello (A11, B3, docs/protocol-model.md#a11): the guest sends the exploit's 176-byte HELLO
# body with the embedded guest address again at offsets 160-163; the host
# reads both copies and says whether they agree. Over TCP and legacy UDP,
# with the auto address and a given one, IPv4 and IPv6 (0.0.0.0 there); a
# normal HELLO carries no second copy. No NAT here: both copies arrive as sent.
source "$(dirname "$0")/lib.bash"

start_host h --listen :: --tcp-port 14180 --udp-port 14180 --dynamic-base 22800
guest tcp 0 --host 127.0.0.1 --port 14180 --service intercom --long-hello
has "$WORK/tcp.out" "guest: sent HELLO service intercom embedded-guest-address 127.0.0.1 second-guest-address 127.0.0.1 (176-byte body)"
guest udp 0 --host 127.0.0.1 --port 14180 --legacy-udp --service chat --long-hello --address-in-hello 192.0.2.7
has "$WORK/udp.out" "guest: sent HELLO service chat embedded-guest-address 192.0.2.7 second-guest-address 192.0.2.7 (176-byte body)"
guest v6 0 --host ::1 --port 14180 --service chat --long-hello
guest plain 0 --host 127.0.0.1 --port 14180 --service chat
# the name must end before offset 160
guest longname 2 --host 127.0.0.1 --port 14180 --service chat --long-hello --name "$(printf 'n%.0s' {1..144})"
has_re "$WORK/longname.out" 'needs a --name of at most 143 bytes'
stop_host h

has_re "$WORK/h.log" '^host: HELLO from 127\.0\.0\.1:[0-9]+ service intercom embedded-guest-address 127\.0\.0\.1 second-guest-address 127\.0\.0\.1 \(copies agree\)$'
has_re "$WORK/h.log" '^host: HELLO from 127\.0\.0\.1:[0-9]+ service chat embedded-guest-address 192\.0\.2\.7 second-guest-address 192\.0\.2\.7 \(copies agree\)$'
has_re "$WORK/h.log" '^host: HELLO from \[::1\]:[0-9]+ service chat embedded-guest-address 0\.0\.0\.0 second-guest-address 0\.0\.0\.0 \(copies agree\)$'
has_re "$WORK/h.log" '^host: HELLO from 127\.0\.0\.1:[0-9]+ service chat embedded-guest-address 127\.0\.0\.1$'
count_re "$WORK/h.log" 'second-guest-address' 3

# JSON events carry both copies
start_host j --listen 127.0.0.1 --tcp-port 14181 --udp-port 0 --dynamic-base 22850 --json
guest jt 0 --host 127.0.0.1 --port 14181 --service chat --long-hello
stop_host j
has_re "$WORK/j.log" '"second_guest_address":"127\.0\.0\.1"'
has_re "$WORK/j.log" '"guest_address_copies_agree":true'
done_all
