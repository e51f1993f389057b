#!/usr/bin/env bash
# --json: the guest prints one JSON object at the end on stdout (its event
# lines go to stderr); the host prints one JSON object per event (JSON Lines).
source "$(dirname "$0")/lib.bash"

start_host h --listen :: --tcp-port 14190 --udp-port 14191 --dynamic-base 22900 --lifetime 20 --json

run_json() {  # run_json NAME EXPECTED-RC ARGS...: stdout in NAME.json, stderr in NAME.out
    local name=$1 want=$2 rc
    shift 2
    echo "run: tbsim guest $* --json"
    "$TBSIM" guest "$@" --json >"$WORK/$name.json" 2>"$WORK/$name.out"
    rc=$?
    sed 's/^/    | /' "$WORK/$name.json"
    [[ $rc == "$want" ]] || fail "guest $name exited $rc, expected $want"
    python3 -m json.tool "$WORK/$name.json" >/dev/null || fail "$name.json is not JSON"
    pass "$name.json parses (python3 -m json.tool), exit $rc"
}
# jcheck NAME PYTHON-EXPRESSION over j (the parsed object)
jcheck() {
    python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' \
        "$WORK/$1.json" "$2" || fail "$1.json: $2 is false"
    pass "$1.json: $2"
}

run_json ic 0 --host 127.0.0.1 --port 14191 --legacy-udp --service intercom
jcheck ic 'j["ok"] is True'
jcheck ic 'j["contact"] == {"transport": "udp", "host": "127.0.0.1", "port": 14191, "local": j["contact"]["local"]}'
jcheck ic 'j["hello_ack"]["host_name"] == "tbsim-host" and j["hello_ack"]["embedded_host_address"] == "127.0.0.1" and j["hello_ack"]["service"] == "intercom"'
jcheck ic '[(o["transport"], o["port"], o["address"], o["service"], o["lifetime"]) for o in j["offers"]] == [("udp", 22900, "0.0.0.0", "intercom", 20), ("tcp", 22901, "0.0.0.0", "intercom", 20)]'
jcheck ic '[(s["transport"], s["address"], s["port"], s["ok"], s["bytes"], s["error"]) for s in j["streams"]] == [("udp", "127.0.0.1", 22900, True, 256, None), ("tcp", "127.0.0.1", 22901, True, 256, None)]'
has "$WORK/ic.out" "guest: offer udp/22900 service intercom -> stream ok (256 bytes echoed)"

run_json sf 0 --host ::1 --port 14190 --service send-files
jcheck sf 'j["ok"] and j["offers"] == [] and j["streams"] == [] and j["service_data"]["ok"] and j["service_data"]["bytes"] == 90'
jcheck sf 'j["contact"]["host"] == "::1" and j["contact"]["transport"] == "tcp" and j["hello_ack"]["embedded_host_address"] == "0.0.0.0"'

# A failing run still prints valid JSON with ok false and the errors.
run_json bad 1 --host 127.0.0.1 --port 14199 --service chat --timeout 2
jcheck bad 'j["ok"] is False and j["hello_ack"] is None and len(j["problems"]) == 1'
has "$WORK/bad.out" "guest: FAILED: contact tcp 127.0.0.1:14199 failed: connection refused"

if command -v jq >/dev/null; then
    [[ $(jq -r '.streams[0].port' "$WORK/ic.json") == 22900 ]] || fail "jq .streams[0].port"
    pass "jq reads .streams[0].port"
fi

stop_host h
python3 - "$WORK/h.log" <<'PY' || fail "host JSON lines"
import json, sys
events = [json.loads(line) for line in open(sys.argv[1])]
kinds = [e["event"] for e in events]
assert kinds[0] == "listening" and "ready" in kinds and kinds[-1] == "summary", kinds
hello = [e for e in events if e["event"] == "hello"]
assert any(e["service"] == "intercom" and e["embedded_guest_address"] == "127.0.0.1" for e in hello), hello
offers = [e for e in events if e["event"] == "offer"]
assert {(e["transport"], e["port"]) for e in offers} == {("udp", 22900), ("tcp", 22901)}, offers
assert all(e["listening"] for e in offers)
summary = events[-1]
assert summary["hellos"] == 2 and summary["exit_code"] == 0, summary
print(f"host: {len(events)} JSON lines, events {sorted(set(kinds))}")
PY
pass "every host line is a JSON object with the expected events"
done_all
