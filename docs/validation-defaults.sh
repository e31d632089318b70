#!/bin/bash
# The validation runs behind lorashear's default step budget
# (docs/VALIDATION-defaults.md), and the table of their results.
#
#   docs/validation-defaults.sh cut DIR          # the splits into DIR
#   docs/validation-defaults.sh run DIR NAME TARGET [FLAGS…]   # one run → DIR/NAME.json
#   docs/validation-defaults.sh table DIR        # the markdown table of every DIR/*.json
#
# The splits of ../shared/data/tinystories-dev.txt: test = the first 10%
# (what --data evaluates on by default), validation = the next 10%, each
# cut at the next paragraph boundary ("\n\n") as internal/protocol's cutAfter
# cuts; train = the rest. Instructions quoting test or validation text
# (≥ 20 characters, the rule of internal/app's quotes) are left out.
set -euo pipefail
shared=${SHARED:-../shared}
shear=${SHEAR:-shear}
cmd=$1 dir=$2
shift 2
case $cmd in
cut)
	mkdir -p "$dir"
	python3 - "$shared/data" "$dir" <<'EOF'
import json, sys
src, out = sys.argv[1], sys.argv[2]
t = open(src + '/tinystories-dev.txt', 'rb').read()
def cut(frac):
    c = int(len(t) * frac)
    i = t.find(b'\n\n', c)
    return c if i < 0 else i + 2
a, b = cut(0.1), cut(0.2)
open(out + '/val.txt', 'wb').write(t[a:b])
open(out + '/train.txt', 'wb').write(t[b:])
held = (t[:a] + t[a:b]).decode()
keep = drop = 0
with open(out + '/instruct.jsonl', 'w') as f:
    for line in open(src + '/tinystories-instruct-dev.jsonl'):
        d = json.loads(line)
        if any(len(s.strip()) >= 20 and s.strip() in held for s in (d.get('input', ''), d.get('output', ''))):
            drop += 1
            continue
        keep += 1
        f.write(line)
print(f'test {a} bytes, validation {b-a}, train {len(t)-b}; instructions kept {keep}, dropped {drop}')
EOF
	;;
run)
	name=$1 target=$2
	shift 2
	start=$(date +%s)
	"$shear" lorashear -m "$shared/models/stories260K.gguf" --target "$target" --data "$dir/train.txt" \
		--eval "$dir/val.txt" --instruct "$dir/instruct.jsonl" --mc "$shared/data/cloze-dev.jsonl" \
		-o "$dir/$name.gguf" --json "$@" >"$dir/$name.json" 2>"$dir/$name.err"
	jq -n --arg name "$name" --arg target "$target" --arg flags "$*" --argjson wall $(($(date +%s) - start)) \
		--arg load "$(cut -d' ' -f1-3 /proc/loadavg)" '$ARGS.named' >"$dir/$name.meta.json"
	;;
table)
	echo "| run | target | flags beyond the defaults | LHSPG steps | recovery steps (stage 1 ran) | recovery lr | dense ppl | pruned ppl | ratio | dense acc | pruned acc | acc margin kept | acc_norm | wall (load at end) |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
	for m in "$dir"/*.meta.json; do
		n=${m%.meta.json}
		jq -r -s '.[0] as $m | .[1] as $r | .[2] as $rep |
			$rep.budget as $b | $rep.recovery.stage1 as $s1 |
			(if $s1.stopped_early then "stopped at \($s1.stopped_early), kept \($s1.best_step)" else "all" end) as $ran |
			(if $b then "\($b.lhspg_warmup) + \($b.periods)×\($b.period_steps)" else "(flags)" end) as $lh |
			(if $b then "\($b.recover_steps) + \($b.instruct_steps)" else "(flags)" end) as $rs |
			(if $b then $b.recover_lr else "(flags)" end) as $lr |
			"| \($m.name) | \($m.target) | `\($m.flags)` | \($lh) | \($rs) (\($ran)) | \($lr) | \($r.dense.ppl*1000|round/1000) | \($r.pruned.ppl*1000|round/1000) | **\($r.pruned.ppl/$r.dense.ppl*1000|round/1000)×** | \($r.dense.acc) | \($r.pruned.acc) | \((($r.pruned.acc-0.25)/($r.dense.acc-0.25))*100|round)% | \($r.dense.acc_norm) → \($r.pruned.acc_norm) | \($m.wall) s (\($m.load)) |"' \
			"$m" "$n.json" "$n-report/report.json"
	done
	;;
*)
	echo "usage: $0 cut|run|table DIR …" >&2
	exit 2
	;;
esac
