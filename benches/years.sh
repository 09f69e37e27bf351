#!/usr/bin/env bash
# Peak memory flat with history (issue 19's target: three simulated years end within 1.2x of one year's peak).
#
# Simulates three county years (seed 11, 60,000 disputes over 1,095 days from 2026-01-01), ingests them year by
# year into one store (each year its own `yujing ingest`, as an operator's yearly load would be), then ingests
# the third year alone into a fresh store, and prints each run's peak resident memory and the ratio of the
# third year on its history to the third year alone. Files are a year's by the year in their name; the few
# dated after the third year (reports filed after its end) go with it.
#
#   bash benches/years.sh [YUJING_BINARY] [WORK_DIR]
#
# The binary defaults to target/release/yujing (build it with `cargo build --release -p yujing`); the work
# directory to a fresh temporary one (the simulation is kept there and reused when given again). Needs GNU
# time (/usr/bin/time). Figures: docs/PERFORMANCE.md.
set -euo pipefail

bin=$(realpath "${1:-target/release/yujing}")
work=${2:-$(mktemp -d)}
mkdir -p "$work"
sim=$work/sim
if [ ! -d "$sim/feeds" ]; then
    "$bin" --demo simulate --seed 11 --disputes 60000 --days 1095 --out "$sim" > /dev/null
fi

# The export files of simulated year 1, 2 or 3 (2026, 2027, 2028 and later).
files_of_year() {
    local year=$1
    find "$sim/feeds" -maxdepth 1 -type f | sort | while read -r file; do
        local named
        named=$(basename "$file" | grep -oE '20[0-9]{2}' | head -1)
        case $year in
            1) [ "$named" = 2026 ] && echo "$file" ;;
            2) [ "$named" = 2027 ] && echo "$file" ;;
            3) [ "$named" -ge 2028 ] && echo "$file" ;;
        esac
    done
}

# Ingests year $2 into the store $1; prints the peak resident memory in MB.
ingest() {
    local store=$1 year=$2
    mapfile -t files < <(files_of_year "$year")
    RUST_LOG=error /usr/bin/time -o "$work/time" -f %M \
        "$bin" --demo --data-dir "$store" ingest "${files[@]}" > /dev/null 2>&1
    echo "$(( $(cat "$work/time") / 1024 ))"
}

rm -rf "$work/history" "$work/alone"
year1=$(ingest "$work/history" 1)
year2=$(ingest "$work/history" 2)
year3=$(ingest "$work/history" 3)
alone=$(ingest "$work/alone" 3)
echo "peak resident MB: year 1 $year1, year 2 $year2, year 3 on two years $year3, year 3 alone $alone"
python3 -c "print(f'year 3 on its history / year 3 alone: {$year3 / $alone:.3f}x (target: at most 1.2x)')"
