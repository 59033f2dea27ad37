#!/usr/bin/env bash
# netseg's benchmarks: generated clusters, netseg end to end against the parse floor, peak memory against input
# size, `can` latency, and the side by side with network-config-analyzer.
#
#   bench/run.sh                 # tiers s-real, m and l, JSON and YAML
#   bench/run.sh xl adversarial  # any tiers (s-real, m, l, xl, adversarial)
#   bench/run.sh nca             # netseg and network-config-analyzer on the same 500- and 1,000-pod clusters
#
# Environment: RUNS (hyperfine runs per command, default 3), FORMATS (default "json yaml"), BENCH_DIR (generated
# inputs and raw results, default target/bench), NCA (the nca executable, default /work/nca-venv/bin/nca).
# Needs hyperfine (apt-get install hyperfine) and GNU time (/usr/bin/time). Prints Markdown rows for
# docs/benchmarks.md; raw hyperfine JSON stays in BENCH_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v hyperfine > /dev/null || { echo "bench: needs hyperfine (apt-get install hyperfine)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "bench: needs GNU time at /usr/bin/time (apt-get install time)" >&2; exit 2; }
cargo build --release --locked -p netseg -p netseg-gen >&2
bin=target/release
dir=${BENCH_DIR:-target/bench}
runs=${RUNS:-3}
formats=${FORMATS:-json yaml}
mkdir -p "$dir"

# Peak resident set size of one run, in KiB.
peak_rss() { /usr/bin/time -f %M -o "$dir/rss.txt" "$@" > /dev/null 2>&1 || true; cat "$dir/rss.txt"; }

# The engine phase of `--timings`, in seconds.
engine_seconds() {
  { "$@" 2>&1 > /dev/null || true; } | sed -n 's/^timings: .*engine \([0-9.]*\)s.*/\1/p'
}

tier_rows() {
  local tier=$1
  for format in $formats; do
    local file="$dir/$tier.$format"
    [ -f "$file" ] || "$bin/netseg-gen" --tier "$tier" --format "$format" -o "$file" >&2
    local audit=("$bin/netseg" audit --fail-on none -o json "$file")
    local reach=("$bin/netseg" reach -o json "$file")
    hyperfine --runs "$runs" -N -i --style basic --export-json "$dir/$tier.$format.json" \
      -n floor "$bin/parse-floor $file" -n reach "${reach[*]}" -n audit "${audit[*]}" >&2
    local rss engine
    rss=$(peak_rss "${audit[@]}")
    engine=$(engine_seconds "$bin/netseg" --timings audit --fail-on none -o json "$file")
    python3 - "$dir/$tier.$format.json" "$tier" "$format" "$file" "$rss" "$engine" <<'EOF'
import json, os, sys
results, tier, fmt, path, rss_kib, engine = sys.argv[1:]
r = {x["command"]: x for x in json.load(open(results))["results"]}
size = os.path.getsize(path) / 2**20
def wall(name): return r[name]["median"]
def cpu(name): return r[name]["user"] + r[name]["system"]
floor, reach, audit = (wall(n) for n in ("floor", "reach", "audit"))
engine = float(engine or "nan")
rss = int(rss_kib) / 1024
print(f"| {tier} | {fmt} | {size:.0f} | {floor:.2f} | {reach:.2f} | {audit:.2f} | {audit / floor:.1f}× "
      f"({cpu('audit') / cpu('floor'):.1f}× CPU) | {engine:.2f} ({engine / floor:.1f}×) | {rss:.0f} | {rss / size:.1f}× |")
EOF
  done
}

can_row() {
  local file="$dir/$1.json"
  [ -f "$file" ] || "$bin/netseg-gen" --tier "$1" -o "$file" >&2
  echo "- \`can\` on $1: $("$bin/can-latency" "$file" | tr '\n' ' ')"
}

# netseg and network-config-analyzer on one cluster: pods as they are (no controllers, so that nca makes up no
# extra pods), one pod per workload, YAML; both at pod granularity. Also checks that both list the same pod pairs.
nca_rows() {
  local nca=${NCA:-/work/nca-venv/bin/nca}
  [ -x "$nca" ] || { echo "bench: no nca at $nca (python3 -m venv /work/nca-venv && /work/nca-venv/bin/pip install network-config-analyzer==2.1.0)" >&2; exit 2; }
  echo "| pods | policies | nca wall s | nca CPU s | netseg wall s | netseg CPU s | speed-up (wall) | same pod pairs |"
  echo "|---|---|---|---|---|---|---|---|"
  for size in 500:10:50 1000:20:100; do
    IFS=: read -r pods namespaces policies <<< "$size"
    local file="$dir/nca-$pods.yaml"
    [ -f "$file" ] || "$bin/netseg-gen" --pods "$pods" --namespaces "$namespaces" --policies "$policies" --replicas 1 \
      --form pods --format yaml -o "$file" >&2
    /usr/bin/time -f "%e %U %S" -o "$dir/nca-$pods.time" \
      "$nca" --connectivity "$file" -r "$file" --output_endpoints pods -o txt_no_fw_rules > "$dir/nca-$pods.out" 2> /dev/null
    local netseg=("$bin/netseg" reach --granularity pod --group never -o json "$file")
    hyperfine --runs 10 -N --style basic --export-json "$dir/nca-$pods.json" -n netseg "${netseg[*]}" >&2
    "${netseg[@]}" > "$dir/nca-$pods.netseg.json" 2> /dev/null
    python3 - "$dir" "$pods" "$policies" <<'EOF'
import json, sys
d, pods, policies = sys.argv[1:]
wall, user, system = map(float, open(f"{d}/nca-{pods}.time").read().split())
r = json.load(open(f"{d}/nca-{pods}.json"))["results"][0]
nca_pairs = set()
for line in open(f"{d}/nca-{pods}.out"):
    if " => " in line:
        src, rest = line.split(" => ", 1)
        dst = rest.split(" : ", 1)[0]
        if "/" in src and "/" in dst and not src[0].isdigit() and not dst[0].isdigit():
            nca_pairs.add((src.strip(), dst.strip()))
ours = json.load(open(f"{d}/nca-{pods}.netseg.json"))
netseg_pairs = {(c["src"].split("[")[0], c["dst"].split("[")[0]) for c in ours["connections"]
                if c["src"].endswith("[Pod]") and c["dst"].endswith("[Pod]")}
same = "yes" if nca_pairs == netseg_pairs else f"no ({len(nca_pairs ^ netseg_pairs)} differ)"
ncpu = r["user"] + r["system"]
print(f"| {pods} | {policies} | {wall:.2f} | {user + system:.2f} | {r['median']:.3f} | {ncpu:.3f} | "
      f"{wall / r['median']:.0f}× | {same} ({len(netseg_pairs)}) |")
EOF
  done
}

echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(free -g | awk '/^Mem:/ {print $2}') GiB; load $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%F)"
if [ "${1:-}" = nca ]; then
  nca_rows
  exit 0
fi
echo "| tier | format | input MiB | floor s | reach s | audit s | audit / floor | engine s (/ floor) | audit peak RSS MiB | RSS / input |"
echo "|---|---|---|---|---|---|---|---|---|---|"
tiers=("$@")
[ ${#tiers[@]} -gt 0 ] || tiers=(s-real m l)
for tier in "${tiers[@]}"; do
  tier_rows "$tier"
done
for tier in "${tiers[@]}"; do
  can_row "$tier"
done
