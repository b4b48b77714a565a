// Boost.Interprocess side of the ordered map rows: 1M random u64 keys inserted into, then
// looked up in, a boost::interprocess::map<uint64_t, uint64_t> with the segment's allocator,
// in a managed_shared_memory. Usage: coll_btree [row-name substring]
//
// Same workload as bench/src/coll_btree.rs: keys from xorshift64 (seed 0x9E3779B97F4A7C15),
// generated before timing; inserts in that order, finds in the order of a second xorshift
// stream over the same keys (a Fisher-Yates shuffle, seed 0xD1B54A32D192ED03); one warm-up
// sample, then the median of 5 samples, each in a fresh 256 MiB segment.
#include "common.hpp"

#include <boost/interprocess/allocators/allocator.hpp>
#include <boost/interprocess/containers/map.hpp>
#include <boost/interprocess/managed_shared_memory.hpp>

namespace bip = boost::interprocess;

static constexpr std::size_t kKeys = 1000000;
static constexpr std::size_t kSegment = 256u << 20;
static constexpr int kSamples = 5;

struct XorShift {
    std::uint64_t s;
    std::uint64_t next() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        return s;
    }
};

using Value = std::pair<const std::uint64_t, std::uint64_t>;
using Alloc = bip::allocator<Value, bip::managed_shared_memory::segment_manager>;
using Map = bip::map<std::uint64_t, std::uint64_t, std::less<std::uint64_t>, Alloc>;

int main(int argc, char** argv) {
    bench::Filter want(argc, argv);
    const char* insert_row = "btree map insert 1M u64";
    const char* find_row = "btree map find 1M u64";
    if (!want(insert_row) && !want(find_row)) return 0;
    try {
        std::vector<std::uint64_t> keys(kKeys);
        XorShift rng{0x9E3779B97F4A7C15ull};
        for (auto& k : keys) k = rng.next();
        std::vector<std::uint64_t> probe = keys;
        XorShift shuf{0xD1B54A32D192ED03ull};
        for (std::size_t i = kKeys - 1; i > 0; --i) {
            std::size_t j = static_cast<std::size_t>(shuf.next() % (i + 1));
            std::swap(probe[i], probe[j]);
        }
        std::vector<double> ins_ns, find_ns;
        std::uint64_t sum = 0;
        for (int s = -1; s < kSamples; ++s) {
            std::string name = bench::unique_name("shmkit_xbench_btree");
            bench::ShmRemover remover{name};
            bip::managed_shared_memory seg(bip::create_only, name.c_str(), kSegment);
            Map* map = seg.construct<Map>("map")(std::less<std::uint64_t>(),
                                                 Alloc(seg.get_segment_manager()));
            double t0 = bench::now_ns();
            for (std::size_t i = 0; i < kKeys; ++i) map->insert(Value(keys[i], i));
            double t1 = bench::now_ns();
            for (std::size_t i = 0; i < kKeys; ++i) {
                auto it = map->find(probe[i]);
                sum += it->second;
            }
            double t2 = bench::now_ns();
            if (s >= 0) {
                ins_ns.push_back((t1 - t0) / kKeys);
                find_ns.push_back((t2 - t1) / kKeys);
            }
            seg.destroy_ptr(map);
        }
        if (sum == 42) std::puts("");  // keep the finds
        if (want(insert_row)) bench::print_row(insert_row, bench::median(ins_ns));
        if (want(find_row)) bench::print_row(find_row, bench::median(find_ns));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "coll_btree: %s\n", e.what());
        return 1;
    }
}
