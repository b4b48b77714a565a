#!/usr/bin/env bash
# Side-by-side benchmark: Boost.Interprocess (bench/boost/*.cpp) vs shmkit (shmkit-xbench).
#
# Usage: bench/compare.sh [row-name substring]
#
# Every program prints `ROW\t<row name>\t<median ns>` lines; rows are joined by name
# into one Markdown table on stdout (progress and build output go to stderr).
#
# Environment:
#   SHMKIT_XBENCH=/path/to/binary  use this binary as the shmkit side instead of
#                                  `cargo build --release -p shmkit-bench` and
#                                  target/release/shmkit-xbench (handy for testing).
#   CARGO_TARGET_DIR               honoured when locating the cargo-built binary.
#   ROUNDS=N                       run both sides N times, alternating (Boost, then shmkit,
#                                  N times over); each side's median is then the median of its
#                                  N medians, and the ratio the median of the N per-round
#                                  ratios, with their range in an extra column. Rows whose
#                                  figures depend on where the host places the two vCPUs
#                                  (cross-process streams) move 2-5x over minutes; rounds
#                                  measure both sides close together, many times.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
FILTER=("${@:1:1}")   # optional row-name filter, passed through to every benchmark binary
OUT=target/boost-bench

log() { printf '%s\n' "$*" >&2; }

# --- Boost (header-only) --------------------------------------------------------------
if [[ ! -d /usr/include/boost/interprocess ]]; then
    SUDO=()
    if [[ $(id -u) -ne 0 ]] && command -v sudo >/dev/null; then SUDO=(sudo); fi
    log "Installing libboost-dev..."
    "${SUDO[@]}" apt-get update -qq
    "${SUDO[@]}" apt-get install -y -qq libboost-dev >&2
fi

# --- Build everything before running anything ------------------------------------------
mkdir -p "$OUT"
BOOST_BINS=()
for src in bench/boost/*.cpp; do
    [[ -e $src ]] || continue
    bin=$OUT/$(basename "$src" .cpp)
    log "g++ $src -> $bin"
    g++ -O2 -std=c++17 -DNDEBUG -Wall -Wextra -o "$bin" "$src" -lrt -pthread
    BOOST_BINS+=("$bin")
done

if [[ -n ${SHMKIT_XBENCH:-} ]]; then
    XBENCH=$SHMKIT_XBENCH
else
    log "cargo build --release -p shmkit-bench"
    if ! cargo build --release -p shmkit-bench >&2; then
        log "error: cargo build --release -p shmkit-bench failed (see above)"
        exit 1
    fi
    XBENCH=${CARGO_TARGET_DIR:-target}/release/shmkit-xbench
fi
if [[ ! -x $XBENCH ]]; then
    log "error: shmkit benchmark binary not found or not executable: $XBENCH"
    exit 1
fi

# --- Run ------------------------------------------------------------------------------
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# run_rows <binary> <output file>: keep only the ROW lines, as "name<TAB>ns".
run_rows() {
    log "running $1 ${FILTER[*]}"
    "$1" "${FILTER[@]}" >"$TMP/raw" || { rc=$?; log "error: $1 exited with status $rc"; exit "$rc"; }
    awk -F'\t' '$1 == "ROW" && NF == 3 { print $2 "\t" $3 }' "$TMP/raw" >>"$2"
}

: >"$TMP/rows"
ROUNDS=${ROUNDS:-1}
if ! [[ $ROUNDS =~ ^[1-9][0-9]*$ ]]; then
    log "error: ROUNDS must be a positive integer, not '$ROUNDS'"
    exit 2
fi
for ((round = 1; round <= ROUNDS; round++)); do
    [[ $ROUNDS -gt 1 ]] && log "round $round of $ROUNDS"
    : >"$TMP/boost"
    : >"$TMP/shmkit"
    for bin in "${BOOST_BINS[@]}"; do run_rows "$bin" "$TMP/boost"; done
    run_rows "$XBENCH" "$TMP/shmkit"
    awk -v r="$round" -F'\t' '{ print "boost\t" r "\t" $1 "\t" $2 }' "$TMP/boost" >>"$TMP/rows"
    awk -v r="$round" -F'\t' '{ print "shmkit\t" r "\t" $1 "\t" $2 }' "$TMP/shmkit" >>"$TMP/rows"
done

# --- Report ---------------------------------------------------------------------------
cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
boost=$(awk '/^#define BOOST_VERSION / { v = $3; printf "%d.%d.%d", v / 100000, v / 100 % 1000, v % 100 }' \
    /usr/include/boost/version.hpp)
rustc=$(rustc --version 2>/dev/null || echo "rustc n/a")
echo "$(date '+%Y-%m-%d %H:%M:%S %Z') · nproc $(nproc) · ${cpu:-unknown CPU} · Boost ${boost:-?} · $rustc"
echo

awk -F'\t' -v rounds="$ROUNDS" '
function fmt(ns, name,    s) {
    if (ns == "") return "—"
    ns += 0
    # Count rows print a count, not a time, in the ns column.
    if (name ~ /allocations that fit in/) return sprintf("%d", ns)
    # Byte rows print bytes, not a time.
    if (name ~ / bytes /) return sprintf("%.1f MiB", ns / 1048576)
    if (ns < 1e4)      s = sprintf("%.1f ns", ns)
    else if (ns < 1e7) s = sprintf("%.2f µs", ns / 1e3)
    else               s = sprintf("%.2f ms", ns / 1e6)
    # 64 MiB in ns -> bytes/ns == GB/s
    if (name ~ /64 MiB/ && name ~ /first-touch/ && ns > 0)
        s = s sprintf(" (%.2f GB/s)", 64 * 1048576 / ns)
    return s
}
function add(name) { if (!(name in seen)) { seen[name] = 1; order[++n] = name } }
# Median of the space-separated numbers in `list`.
function median(list,    a, m, i, j, t) {
    m = split(list, a, " ")
    for (i = 2; i <= m; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
    if (m == 0) return ""
    return (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
}
{
    add($3)
    if ($1 == "boost") { b[$3] = b[$3] " " $4; bv[$3, $2] = $4 }
    else               { s[$3] = s[$3] " " $4; sv[$3, $2] = $4 }
}
END {
    if (rounds > 1) {
        print "| workload | Boost median | shmkit median | ratio shmkit/Boost (median of " rounds " rounds) | per-round range |"
        print "|---|---:|---:|---:|---:|"
    } else {
        print "| workload | Boost median | shmkit median | ratio shmkit/Boost |"
        print "|---|---:|---:|---:|"
    }
    for (i = 1; i <= n; i++) {
        k = order[i]
        bm = (k in b) ? median(b[k]) : ""
        sm = (k in s) ? median(s[k]) : ""
        ratios = ""; lo = ""; hi = ""
        for (r = 1; r <= rounds; r++) {
            if (((k, r) in bv) && ((k, r) in sv) && bv[k, r] + 0 > 0) {
                q = sv[k, r] / bv[k, r]
                ratios = ratios " " q
                if (lo == "" || q < lo) lo = q
                if (hi == "" || q > hi) hi = q
            }
        }
        ratio = (ratios != "") ? sprintf("%.2f", median(ratios)) : "—"
        if (rounds > 1)
            printf "| %s | %s | %s | %s | %s |\n", k, fmt(bm, k), fmt(sm, k), ratio, (lo == "") ? "—" : sprintf("%.2f-%.2f", lo, hi)
        else
            printf "| %s | %s | %s | %s |\n", k, fmt(bm, k), fmt(sm, k), ratio
    }
}' "$TMP/rows"
