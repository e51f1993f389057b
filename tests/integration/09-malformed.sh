#!/usr/bin/env bash
# Malformed input from a guest: the host logs it, closes that contact (TCP) or
# ignores the datagram (UDP) and keeps serving: a good session afterwards works.
source "$(dirname "$0")/lib.bash"

start_host h --listen :: --tcp-port 14180 --udp-port 14181 --dynamic-base 22800

good() {  # a normal session must still work
    guest "good-$1" 0 --host 127.0.0.1 --port 14180 --service chat
    has "$WORK/good-$1.out" "guest: OK: HELLO-ACK received, 1 offer(s), 1 of 1 stream(s) worked"
}

for k in bad-class huge-length short-hello truncated-datagram garbage; do
    guest "tcp-$k" 0 --host 127.0.0.1 --port 14180 --service chat --malformed "$k"
    has "$WORK/tcp-$k.out" "guest: malformed $k: the host closed the contact"
    guest "udp-$k" 0 --host ::1 --port 14181 --legacy-udp --service chat --malformed "$k"
    has "$WORK/udp-$k.out" "guest: malformed $k: no answer (the host ignored it)"
    good "$k"
done
has_re "$WORK/h.log" '^host: malformed contact from 127\.0\.0\.1:[0-9]+ on tcp/14180: frame class 0x0202 is not Timbuktu contact traffic; closing contact$'
has_re "$WORK/h.log" '^host: malformed contact from 127\.0\.0\.1:[0-9]+ on tcp/14180: frame body length 1048576 exceeds the maximum of 65535; closing contact$'
has_re "$WORK/h.log" '^host: malformed HELLO from 127\.0\.0\.1:[0-9]+ on tcp/14180: HELLO body is 10 bytes, at least 16 required; closing contact$'
has_re "$WORK/h.log" '^host: malformed contact from 127\.0\.0\.1:[0-9]+ on tcp/14180: connection closed inside a frame \(22 of 70 bytes received\); closing contact$'
has_re "$WORK/h.log" '^host: malformed contact from 127\.0\.0\.1:[0-9]+ on tcp/14180: frame class 0xdead is not Timbuktu contact traffic; closing contact$'
has_re "$WORK/h.log" '^host: malformed datagram from \[::1\]:[0-9]+ on udp/14181: frame at offset 0 declares 64 body bytes but the datagram holds 16; ignored$'
has_re "$WORK/h.log" '^host: malformed HELLO from \[::1\]:[0-9]+ on udp/14181: HELLO body is 10 bytes, at least 16 required; ignored$'

# A malformed frame after a valid HELLO on a framed stream: the host closes the contact.
guest after 0 --host 127.0.0.1 --port 14180 --service intercom --malformed bad-class --malformed-after-hello
has "$WORK/after.out" "guest: sent malformed bad-class (34 bytes) after the HELLO: the host closed the contact"
has_re "$WORK/h.log" '^host: malformed frame from 127\.0\.0\.1:[0-9]+ on tcp/14180 after the HELLO: frame class 0x0202 is not Timbuktu contact traffic; closing contact$'

# Floods: many malformed frames, one connection / socket each; the host stays up.
guest flood-tcp 0 --host 127.0.0.1 --port 14180 --service chat --flood 200
has "$WORK/flood-tcp.out" "guest: flood: sent 200 of 200 malformed frame(s) (bad-class,huge-length,short-hello,truncated-datagram,garbage) to tcp 127.0.0.1:14180, one connection each"
guest flood-udp 0 --host 127.0.0.1 --port 14181 --legacy-udp --service chat --flood 200 --malformed garbage
has "$WORK/flood-udp.out" "guest: flood: sent 200 of 200 malformed frame(s) (garbage) to udp 127.0.0.1:14181, one socket each"
good after-flood
guest good-udp 0 --host 127.0.0.1 --port 14181 --legacy-udp --service intercom
has "$WORK/good-udp.out" "guest: OK: HELLO-ACK received, 2 offer(s), 2 of 2 stream(s) worked"
kill -0 "${HOST_PID[h]}" || fail "host died"
pass "host still running"
# Every TCP flood connection was logged and closed (bounded wait: they are handled in parallel).
for i in $(seq 50); do
    [[ $(grep -cE '^host: malformed (contact|HELLO) from 127\.0\.0\.1:[0-9]+ on tcp/14180' "$WORK/h.log") -ge 205 ]] && break
    sleep 0.1
done
n=$(grep -cE '^host: malformed (contact|HELLO) from 127\.0\.0\.1:[0-9]+ on tcp/14180' "$WORK/h.log")
((n >= 205)) || fail "only $n malformed TCP contacts logged, expected at least 205"
pass "$n malformed TCP contacts logged"
stop_host h
has_re "$WORK/h.log" '^host: summary: [0-9]+ contacts, 8 HELLOs, 8 sessions, 9 offers, 8 streams, 411 malformed, '
done_all
