// Boost.Interprocess side of the memory algorithm rows: managed_shared_memory with its default
// rbtree_best_fit, raw allocate/deallocate. Usage: alloc [row-name substring]
//
// Same workloads as bench/src/alloc.rs: a 64 MiB segment, the same loop counts, random sizes
// from the same xorshift64 sequence. Boost's allocate locks the segment's mutex inside every
// call, so its figure is also printed under the shmkit row that adds a lock around each call.
#include "common.hpp"

#include <boost/interprocess/managed_shared_memory.hpp>

namespace bip = boost::interprocess;

static constexpr std::size_t kSegment = 64u << 20;
static constexpr std::size_t kLive = 10000;
static constexpr std::uint64_t kSeed = 0x9E3779B97F4A7C15ull;

struct XorShift {
    std::uint64_t s;
    std::uint64_t next() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        return s;
    }
    std::size_t size() { return 16 + static_cast<std::size_t>(next() % 4081); }  // 16..=4096
};

// A fresh 64 MiB managed segment, removed on scope exit.
struct Segment {
    std::string name = bench::unique_name("shmkit_xbench_alloc");
    bench::ShmRemover remover{name};
    bip::managed_shared_memory seg{bip::create_only, name.c_str(), kSegment};
};

static void row_pair(bench::Filter& want) {
    const char* row = "alloc: allocate+deallocate 64 B pair";
    const char* locked = "alloc: allocate+deallocate 64 B pair, each call under a RawMutex";
    if (!want(row) && !want(locked)) return;
    Segment s;
    double ns = bench::median_ns_per_op(15, 1000000, [&] {
        void* p = s.seg.allocate(64);
        asm volatile("" : : "r"(p) : "memory");
        s.seg.deallocate(p);
    });
    if (want(row)) bench::print_row(row, ns);
    if (want(locked)) bench::print_row(locked, ns);
}

static void row_random(bench::Filter& want) {
    const char* row = "alloc: random 16-4096 B, 10,000 live blocks";
    if (!want(row)) return;
    Segment s;
    XorShift rng{kSeed};
    std::vector<void*> live;
    live.reserve(kLive);
    for (std::size_t i = 0; i < kLive; ++i) live.push_back(s.seg.allocate(rng.size()));
    double ns = bench::median_ns_per_op(15, 200000, [&] {
        std::size_t i = static_cast<std::size_t>(rng.next() % kLive);
        s.seg.deallocate(live[i]);
        live[i] = s.seg.allocate(rng.size());
    });
    bench::print_row(row, ns);
}

// Not a time: the count is printed in the ns column.
static void row_count(bench::Filter& want) {
    const char* row = "alloc: 64 B allocations that fit in 64 MiB";
    if (!want(row)) return;
    Segment s;
    std::uint64_t n = 0;
    while (s.seg.allocate(64, std::nothrow)) ++n;
    bench::print_row(row, static_cast<double>(n));
}

int main(int argc, char** argv) {
    bench::Filter want(argc, argv);
    try {
        row_pair(want);
        row_random(want);
        row_count(want);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "alloc: %s\n", e.what());
        return 1;
    }
}
