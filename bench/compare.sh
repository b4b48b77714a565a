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

: >"$TMP/boost"
: >"$TMP/shmkit"
for bin in "${BOOST_BINS[@]}"; do run_rows "$bin" "$TMP/boost"; done
run_rows "$XBENCH" "$TMP/shmkit"

# --- Report ---------------------------------------------------------------------------
cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
boost=$(awk '/^#define BOOST_VERSION / { v = $3; printf "%d.%d.%d", v / 100000, v / 100 % 1000, v % 100 }' \
    /usr/include/boost/version.hpp)
rustc=$(rustc --version 2>/dev/null || echo "rustc n/a")
echo "$(date '+%Y-%m-%d %H:%M:%S %Z') · nproc $(nproc) · ${cpu:-unknown CPU} · Boost ${boost:-?} · $rustc"
echo

awk -F'\t' '
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
FILENAME == ARGV[1] { add($1); boost[$1] = $2; next }
                    { add($1); shm[$1] = $2 }
END {
    print "| workload | Boost median | shmkit median | ratio shmkit/Boost |"
    print "|---|---:|---:|---:|"
    for (i = 1; i <= n; i++) {
        k = order[i]
        b = (k in boost) ? boost[k] : ""
        r = (k in shm) ? shm[k] : ""
        ratio = (b != "" && r != "" && b + 0 > 0) ? sprintf("%.2f", r / b) : "—"
        printf "| %s | %s | %s | %s |\n", k, fmt(b, k), fmt(r, k), ratio
    }
}' "$TMP/boost" "$TMP/shmkit"
