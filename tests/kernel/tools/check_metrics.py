#!/usr/bin/python3
# Reads `tbhelperctl metrics` output (file argument) with the Prometheus
# project's own parser of the text format (Debian's python3-prometheus-client),
# then checks what the caller asks for. A line the parser rejects, a counter
# without _total, a family without HELP, or a failed check: exit 1.
#
#   check_metrics.py FILE [NAME OP VALUE]...   OP: == >= <=  (value of the
#   family's one sample, or the sample with label queue=Q for NAME{queue=Q})
#   check_metrics.py FILE --absent NAME
# Run with /usr/bin/python3: the module is the Debian package's.
import re
import sys

from prometheus_client.parser import text_string_to_metric_families


def main():
    path, args = sys.argv[1], sys.argv[2:]
    text = open(path, encoding="utf-8").read()
    fams = {}
    try:
        for fam in text_string_to_metric_families(text):
            fams[fam.name] = fam
    except Exception as e:  # the parser's own complaint
        print(f"FAIL: the text format parser rejected the output: {e}")
        return 1
    bad = 0
    # Every family has HELP text; counters are named _total on the wire.
    helps = set(re.findall(r"^# HELP (\S+) \S", text, re.M))
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    for name, kind in types.items():
        if name not in helps:
            print(f"FAIL: {name} has no HELP line"); bad += 1
        if kind == "counter" and not name.endswith("_total"):
            print(f"FAIL: counter {name} does not end in _total"); bad += 1
        if not name.startswith("tbhelper_"):
            print(f"FAIL: {name} lacks the tbhelper_ prefix"); bad += 1
    print(f"parsed {len(fams)} families, {sum(len(f.samples) for f in fams.values())} samples")
    i = 0
    while i < len(args):
        if args[i] == "--absent":
            name = args[i + 1]
            if name in types:
                print(f"FAIL: {name} present"); bad += 1
            else:
                print(f"ok: {name} absent")
            i += 2
            continue
        name, op, want = args[i], args[i + 1], float(args[i + 2])
        i += 3
        m = re.match(r"^(\w+)(?:\{queue=(\d+)\})?$", name)
        sample_name, queue = m.group(1), m.group(2)
        samples = [s for f in fams.values() for s in f.samples
                   if s.name == sample_name and (queue is None or s.labels.get("queue") == queue)]
        if len(samples) != 1:
            print(f"FAIL: {name}: {len(samples)} samples"); bad += 1
            continue
        v = samples[0].value
        ok = {"==": v == want, ">=": v >= want, "<=": v <= want}[op]
        print(f"{'ok' if ok else 'FAIL'}: {name} = {v:g} ({op} {want:g})")
        bad += 0 if ok else 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
