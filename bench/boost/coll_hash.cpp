// Boost.Interprocess side of the hash map rows: boost::unordered_map<uint64_t, uint64_t,
// boost::hash, std::equal_to, boost::interprocess::allocator<...>> in a 256 MiB
// managed_shared_memory (rbtree_best_fit, the default). Usage: coll_hash [row-name substring]
//
// Same workload as bench/src/coll_hash.rs: 1,000,000 random u64 keys (xorshift64, the same
// seed on both sides, generated before timing) are inserted into an empty map (key i -> i, no
// reserve); then every key is found, in a second order (a Fisher-Yates shuffle with its own
// xorshift seed). One warm-up sample, then the median of 5 samples, each in a fresh segment.
// The bytes row prints, in the value column, the segment's size minus its free memory once the
// 1M entries are in (the same in every sample).
#include "common.hpp"

#include <boost/functional/hash.hpp>
#include <boost/interprocess/allocators/allocator.hpp>
#include <boost/interprocess/managed_shared_memory.hpp>
#include <boost/unordered_map.hpp>

namespace bip = boost::interprocess;

static constexpr std::size_t kKeys = 1000000;
static constexpr std::size_t kSegment = 256u << 20;
static constexpr int kSamples = 5;

using Value = std::pair<const std::uint64_t, std::uint64_t>;
using Alloc = bip::allocator<Value, bip::managed_shared_memory::segment_manager>;
using Map = boost::unordered_map<std::uint64_t, std::uint64_t, boost::hash<std::uint64_t>,
                                 std::equal_to<std::uint64_t>, Alloc>;

struct XorShift {
    std::uint64_t s;
    std::uint64_t next() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        return s;
    }
};

int main(int argc, char** argv) {
    bench::Filter want(argc, argv);
    const char* insert_row = "hash map insert 1M u64";
    const char* find_row = "hash map find 1M u64";
    const char* bytes_row = "hash map bytes 1M u64";
    if (!want(insert_row) && !want(find_row) && !want(bytes_row)) return 0;
    try {
        std::vector<std::uint64_t> keys(kKeys);
        XorShift rng{0x9E3779B97F4A7C15ull};
        for (auto& k : keys) k = rng.next();
        std::vector<std::uint64_t> order = keys;
        XorShift shuffle{0xD1B54A32D192ED03ull};
        for (std::size_t i = kKeys - 1; i > 0; --i) {
            std::size_t j = static_cast<std::size_t>(shuffle.next() % (i + 1));
            std::swap(order[i], order[j]);
        }

        std::vector<double> ins_ns, find_ns, bytes;
        std::uint64_t sum = 0;
        for (int s = -1; s < kSamples; ++s) {
            std::string name = bench::unique_name("shmkit_xbench_coll_hash");
            bench::ShmRemover remover{name};
            bip::managed_shared_memory seg(bip::create_only, name.c_str(), kSegment);
            Map* m = seg.construct<Map>("map")(0, boost::hash<std::uint64_t>(),
                                               std::equal_to<std::uint64_t>(),
                                               Alloc(seg.get_segment_manager()));
            double t0 = bench::now_ns();
            for (std::size_t i = 0; i < kKeys; ++i) m->emplace(keys[i], i);
            double t1 = bench::now_ns();
            for (std::size_t i = 0; i < kKeys; ++i) {
                auto it = m->find(order[i]);
                sum += it->second;
            }
            double t2 = bench::now_ns();
            if (m->size() != kKeys) throw std::runtime_error("duplicate keys");
            double used = static_cast<double>(seg.get_size() - seg.get_free_memory());
            seg.destroy<Map>("map");
            if (s >= 0) {
                ins_ns.push_back((t1 - t0) / kKeys);
                find_ns.push_back((t2 - t1) / kKeys);
                bytes.push_back(used);
            }
        }
        if (sum == 42) std::puts("");  // keep the finds
        if (want(insert_row)) bench::print_row(insert_row, bench::median(ins_ns));
        if (want(find_row)) bench::print_row(find_row, bench::median(find_ns));
        if (want(bytes_row)) bench::print_row(bytes_row, bench::median(bytes));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "coll_hash: %s\n", e.what());
        return 1;
    }
}
