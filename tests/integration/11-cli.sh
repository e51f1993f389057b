#!/usr/bin/env bash
# The command line: --help lists every option; usage errors exit 2.
source "$(dirname "$0")/lib.bash"

"$TBSIM" --help >"$WORK/help.out" || fail "tbsim --help failed"
has_re "$WORK/help.out" '^  host '
has_re "$WORK/help.out" '^  guest '
"$TBSIM" host --help >"$WORK/host-help.out" || fail "tbsim host --help failed"
for o in --listen --tcp-port --udp-port --legacy-ports --dynamic-base --offer-address --offer-port --no-listen \
    --extra-offers --second-offer-after --lifetime --sessions --timeout --stream-linger --session-linger \
    --contact-idle --name --max-threads --json --verbose; do
    has_re "$WORK/host-help.out" "^ +(-[a-z], *)?$o\\b"
done
"$TBSIM" guest --help >"$WORK/guest-help.out" || fail "tbsim guest --help failed"
for o in --host --port --service --legacy-udp --address-in-hello --attended --expect-blocked --wait-offers --linger \
    --forge-offer --malformed --malformed-after-hello --flood --timeout --stream-timeout --payload --name --json; do
    has_re "$WORK/guest-help.out" "^ +(-[a-z], *)?$o\\b"
done

usage() {  # usage DESCRIPTION ARGS...: must exit 2
    local what=$1 rc
    shift
    "$TBSIM" "$@" >"$WORK/usage.out" 2>&1
    rc=$?
    [[ $rc == 2 ]] || { cat "$WORK/usage.out"; fail "$what: exit $rc, expected 2"; }
    pass "$what: exit 2 ($(head -n 1 "$WORK/usage.out"))"
}
usage "no subcommand"
usage "unknown subcommand" bogus
usage "guest without --host" guest --service chat
usage "guest without --service" guest --host 127.0.0.1
usage "unknown service" guest --host 127.0.0.1 --service teleport
usage "bad --address-in-hello" guest --host 127.0.0.1 --service chat --address-in-hello 1.2.3
usage "IPv6 --address-in-hello" guest --host 127.0.0.1 --service chat --address-in-hello ::1
usage "bad --malformed kind" guest --host 127.0.0.1 --service chat --malformed nonsense
usage "--malformed-after-hello alone" guest --host 127.0.0.1 --service chat --malformed-after-hello
usage "port out of range" guest --host 127.0.0.1 --service chat --port 70000
usage "unresolvable host" guest --host no.such.host.invalid --service chat
usage "bad --offer-address" host --offer-address somewhere
usage "bad --listen" host --listen 300.1.1.1
usage "unknown host option" host --frobnicate
"$TBSIM" --version | grep -qE '^tbsim [0-9]' || fail "--version"
pass "--version prints tbsim VERSION"

# A port that cannot be bound is a startup failure with one clear line, exit 1.
start_host h --listen 127.0.0.1 --tcp-port 14200 --udp-port 0
"$TBSIM" host --listen 127.0.0.1 --tcp-port 14200 --udp-port 0 >"$WORK/busy.out" 2>&1
rc=$?
[[ $rc == 1 ]] || fail "second host on a busy port exited $rc, expected 1"
has "$WORK/busy.out" "host: cannot listen for TCP contact: bind tcp/127.0.0.1:14200: address already in use"
done_all
