// Boost.Interprocess side of the pool rows: node_allocator, adaptive_pool and
// cached_node_allocator over a managed_shared_memory, one 64-byte node allocated and freed per
// iteration. Usage: pool [row-name substring]
//
// Same workload as bench/src/pool.rs: a 64 MiB segment, Boost's default pool shapes
// (64 nodes per block; adaptive: at most 2 free blocks kept), 1,000,000 pairs per sample.
#include "common.hpp"

#include <boost/interprocess/allocators/adaptive_pool.hpp>
#include <boost/interprocess/allocators/cached_node_allocator.hpp>
#include <boost/interprocess/allocators/node_allocator.hpp>
#include <boost/interprocess/managed_shared_memory.hpp>

namespace bip = boost::interprocess;

static constexpr std::size_t kSegment = 64u << 20;
static constexpr long kPairs = 1000000;

struct Node64 {
    char bytes[64];
};

using SegmentManager = bip::managed_shared_memory::segment_manager;

// A fresh 64 MiB managed segment, removed on scope exit.
struct Segment {
    std::string name = bench::unique_name("shmkit_xbench_pool");
    bench::ShmRemover remover{name};
    bip::managed_shared_memory seg{bip::create_only, name.c_str(), kSegment};
};

template <class Alloc>
static void row_pair(bench::Filter& want, const char* row) {
    if (!want(row)) return;
    Segment s;
    Alloc a(s.seg.get_segment_manager());
    double ns = bench::median_ns_per_op(15, kPairs, [&] {
        auto p = a.allocate(1);
        asm volatile("" : : "r"(&*p) : "memory");
        a.deallocate(p, 1);
    });
    bench::print_row(row, ns);
}

int main(int argc, char** argv) {
    bench::Filter want(argc, argv);
    try {
        row_pair<bip::node_allocator<Node64, SegmentManager>>(want, "node pool alloc+free 64 B");
        row_pair<bip::adaptive_pool<Node64, SegmentManager>>(want, "adaptive pool alloc+free 64 B");
        row_pair<bip::cached_node_allocator<Node64, SegmentManager>>(
            want, "cached node pool alloc+free 64 B");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "pool: %s\n", e.what());
        return 1;
    }
}
