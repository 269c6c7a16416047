#!/usr/bin/env bash
# Decode speed and peak memory of `tern generate` on one model in its storage variants, run in
# turn (A B C A B C ...) so that each round sees the same machine load; prints the median
# tokens/s and the peak RSS of each, and the ratios to the first variant.
#
#   bench/decode_table.sh TERN ROUNDS TOKENS 'label|dir|flags' ...
#   bench/decode_table.sh build/tools/cli/tern 3 100 'fp32|g124/checkpoint|' 'packed|g124/phase4|' \
#       'packed + int8 lm_head|g124/phase4|--lm-head int8'
set -euo pipefail
TERN=$1 ROUNDS=$2 TOKENS=$3
shift 3
declare -a labels dirs flags
for v in "$@"; do
  IFS='|' read -r l d f <<<"$v"
  labels+=("$l") dirs+=("$d") flags+=("$f")
done
declare -A speeds rss
for ((r = 0; r < ROUNDS; r++)); do
  for i in "${!labels[@]}"; do
    # shellcheck disable=SC2086  # flags split on spaces
    out=$(/usr/bin/time -f 'maxrss %M' "$TERN" generate "${dirs[$i]}" -n "$TOKENS" --temperature 0 ${flags[$i]} \
      2>&1 >/dev/null)
    speeds[$i]+="$(sed -n 's/.*decode \([0-9.]*\) tokens\/s.*/\1/p' <<<"$out") "
    rss[$i]+="$(sed -n 's/^maxrss \([0-9]*\)/\1/p' <<<"$out") "
  done
done
median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
maxof() { tr ' ' '\n' | sed '/^$/d' | sort -g | tail -1; }
printf '%-28s %12s %9s %14s %9s\n' variant tokens/s ratio "peak RSS MB" ratio
base_s=$(median <<<"${speeds[0]}") base_m=$(maxof <<<"${rss[0]}")
for i in "${!labels[@]}"; do
  s=$(median <<<"${speeds[$i]}") m=$(maxof <<<"${rss[$i]}")
  printf '%-28s %12.1f %9.2f %14.0f %9.2f\n' "${labels[$i]}" "$s" "$(echo "$s / $base_s" | bc -l)" \
    "$(echo "$m / 1024" | bc -l)" "$(echo "$m / $base_m" | bc -l)"
done
