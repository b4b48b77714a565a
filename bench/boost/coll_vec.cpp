// Boost.Interprocess side of the collection rows: a
// boost::interprocess::vector<int, allocator<int, segment_manager>> constructed in a fresh
// 256 MiB managed_shared_memory, filled with push_back(i) for i in 0..10,000,000 (no reserve:
// the vector grows as it goes), then summed (into a 64-bit total). Usage: coll_vec [row-name
// substring]
//
// Same workload as bench/src/coll_vec.rs: one warm-up sample, then the median of 5 samples,
// each in a fresh segment; the figure is ns per element.
#include "common.hpp"

#include <boost/interprocess/allocators/allocator.hpp>
#include <boost/interprocess/containers/vector.hpp>
#include <boost/interprocess/managed_shared_memory.hpp>

namespace bip = boost::interprocess;

using Alloc = bip::allocator<int, bip::managed_shared_memory::segment_manager>;
using Vector = bip::vector<int, Alloc>;

static constexpr long kElems = 10000000;
static constexpr std::size_t kSegment = 256u << 20;
static constexpr int kSamples = 5;

int main(int argc, char** argv) {
    bench::Filter want(argc, argv);
    const char* push = "vec push 10M i32";
    const char* sum = "vec sum 10M i32";
    if (!want(push) && !want(sum)) return 0;
    try {
        std::vector<double> push_ns, sum_ns;
        std::int64_t total = 0;
        for (int s = -1; s < kSamples; ++s) {
            std::string name = bench::unique_name("shmkit_xbench_coll_vec");
            bench::ShmRemover remover{name};
            bip::managed_shared_memory seg(bip::create_only, name.c_str(), kSegment);
            Vector* v = seg.construct<Vector>("v")(seg.get_segment_manager());

            double t0 = bench::now_ns();
            for (long i = 0; i < kElems; ++i) v->push_back(static_cast<int>(i));
            double t1 = bench::now_ns();
            std::int64_t acc = 0;
            for (int x : *v) acc += x;
            double t2 = bench::now_ns();
            total += acc;
            if (s >= 0) {
                push_ns.push_back((t1 - t0) / kElems);
                sum_ns.push_back((t2 - t1) / kElems);
            }
        }
        if (total == 42) std::puts("");  // keep the sums
        if (want(push)) bench::print_row(push, bench::median(push_ns));
        if (want(sum)) bench::print_row(sum, bench::median(sum_ns));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "coll_vec: %s\n", e.what());
        return 1;
    }
}
