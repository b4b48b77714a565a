// Boost.Interprocess side of the managed segment rows: named construct / find / destroy of
// 100,000 u64 objects named "obj%06d", in a 64 MiB managed_shared_memory with the default
// iset_index (the "ordered index" rows) and with iunordered_set_index (the "hashed index"
// rows), and finds by two processes at once (see concurrent_row). Usage: segment [row-name substring]
//
// Same workload as bench/src/segment.rs: the names are formatted before timing into one flat
// array of 10-byte slots (the 9 characters and a NUL; the same memory layout on both sides, so
// neither language's string representation costs a cache miss the other does not pay); each
// phase visits them in its own pseudo-random order (Fisher-Yates with xorshift64, the same
// seeds on both sides); one warm-up sample, then the median of 5 samples, each in a fresh
// segment.
#include "common.hpp"

#include <boost/interprocess/indexes/iunordered_set_index.hpp>
#include <boost/interprocess/managed_shared_memory.hpp>

namespace bip = boost::interprocess;

using OrderedSegment = bip::managed_shared_memory;  // rbtree_best_fit<mutex_family>, iset_index
using HashedSegment =
    bip::basic_managed_shared_memory<char, bip::rbtree_best_fit<bip::mutex_family>,
                                     bip::iunordered_set_index>;

static constexpr std::size_t kNames = 100000;
static constexpr std::size_t kSegment = 64u << 20;
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

static std::vector<std::size_t> permutation(std::uint64_t seed) {
    std::vector<std::size_t> p(kNames);
    for (std::size_t i = 0; i < kNames; ++i) p[i] = i;
    XorShift rng{seed};
    for (std::size_t i = kNames - 1; i > 0; --i) {
        std::size_t j = static_cast<std::size_t>(rng.next() % (i + 1));
        std::swap(p[i], p[j]);
    }
    return p;
}

template <class Segment>
static void rows(bench::Filter& want, const char* index) {
    std::string construct = std::string("segment: named construct, 100,000 names (") + index + " index)";
    std::string find = std::string("segment: named find, 100,000 names (") + index + " index)";
    std::string destroy = std::string("segment: named destroy, 100,000 names (") + index + " index)";
    if (!want(construct.c_str()) && !want(find.c_str()) && !want(destroy.c_str())) return;

    std::vector<char> flat(kNames * 10);
    for (std::size_t i = 0; i < kNames; ++i) std::snprintf(&flat[i * 10], 10, "obj%06zu", i);
    auto name_of = [&](std::size_t k) { return &flat[k * 10]; };
    const auto pc = permutation(0x9E3779B97F4A7C15ull);
    const auto pf = permutation(0xD1B54A32D192ED03ull);
    const auto pd = permutation(0x8CB92BA72F3D8DD7ull);

    std::vector<double> c_ns, f_ns, d_ns;
    std::uint64_t sum = 0;
    for (int s = -1; s < kSamples; ++s) {
        std::string name = bench::unique_name("shmkit_xbench_segment");
        bench::ShmRemover remover{name};
        Segment seg(bip::create_only, name.c_str(), kSegment);

        double t0 = bench::now_ns();
        for (std::size_t i = 0; i < kNames; ++i) {
            std::size_t k = pc[i];
            seg.template construct<std::uint64_t>(name_of(k))(k);
        }
        double t1 = bench::now_ns();
        for (std::size_t i = 0; i < kNames; ++i) {
            auto r = seg.template find<std::uint64_t>(name_of(pf[i]));
            sum += *r.first;
        }
        double t2 = bench::now_ns();
        for (std::size_t i = 0; i < kNames; ++i) {
            if (!seg.template destroy<std::uint64_t>(name_of(pd[i])))
                throw std::runtime_error("destroy failed");
        }
        double t3 = bench::now_ns();
        if (s >= 0) {
            c_ns.push_back((t1 - t0) / kNames);
            f_ns.push_back((t2 - t1) / kNames);
            d_ns.push_back((t3 - t2) / kNames);
        }
    }
    if (sum == 42) std::puts("");  // keep the finds
    if (want(construct.c_str())) bench::print_row(construct.c_str(), bench::median(c_ns));
    if (want(find.c_str())) bench::print_row(find.c_str(), bench::median(f_ns));
    if (want(destroy.c_str())) bench::print_row(destroy.c_str(), bench::median(d_ns));
}

// "2 processes at once": 10,000 names in a 16 MiB segment; two forked children each find
// every name 20 times over in their own random order, started together; the row is the time
// per find per process while both run (the median of 5 samples after a warm-up). Finds that
// serialise on a lock, or pass its cache line between the processes, show here.
static constexpr std::size_t kConcNames = 10000;
static constexpr int kConcRounds = 20;

struct ConcBlock {
    bench::StartGate gate;
    std::atomic<double> end_ns[2];
};

template <class Segment>
static void concurrent_row(bench::Filter& want, const char* index) {
    std::string row = std::string("segment: named find, 2 processes at once, 10,000 names (") + index + " index)";
    if (!want(row.c_str())) return;
    std::vector<char> flat(kConcNames * 10);
    for (std::size_t i = 0; i < kConcNames; ++i) std::snprintf(&flat[i * 10], 10, "obj%06zu", i);
    std::vector<double> ns;
    for (int s = -1; s < kSamples; ++s) {
        std::string name = bench::unique_name("shmkit_xbench_segconc");
        bench::ShmRemover remover{name};
        Segment seg(bip::create_only, name.c_str(), 16u << 20);
        for (std::size_t k = 0; k < kConcNames; ++k)
            seg.template construct<std::uint64_t>(&flat[k * 10])(k);
        ConcBlock* b = seg.template construct<ConcBlock>(bip::anonymous_instance)();
        pid_t pids[2];
        for (int c = 0; c < 2; ++c) {
            pids[c] = bench::fork_child([&, c] {
                std::vector<std::size_t> order(kConcNames);
                for (std::size_t i = 0; i < kConcNames; ++i) order[i] = i;
                XorShift rng{0x2545F4914F6CDD1Dull * (c + 1)};
                for (std::size_t i = kConcNames - 1; i > 0; --i)
                    std::swap(order[i], order[rng.next() % (i + 1)]);
                std::uint64_t sum = 0;
                b->gate.arrive_and_wait();
                for (int r = 0; r < kConcRounds; ++r)
                    for (std::size_t k : order) sum += *seg.template find<std::uint64_t>(&flat[k * 10]).first;
                b->end_ns[c].store(bench::now_ns());
                const std::uint64_t want_sum =
                    static_cast<std::uint64_t>(kConcRounds) * (kConcNames * (kConcNames - 1) / 2);
                return sum == want_sum ? 0 : 2;
            });
        }
        b->gate.wait_ready(2);
        const double t0 = bench::now_ns();
        b->gate.open();
        for (pid_t pid : pids)
            if (!bench::wait_child(pid)) throw std::runtime_error("concurrent finder failed");
        const double end = std::max(b->end_ns[0].load(), b->end_ns[1].load());
        if (s >= 0) ns.push_back((end - t0) / (static_cast<double>(kConcRounds) * kConcNames));
    }
    bench::print_row(row.c_str(), bench::median(ns));
}

int main(int argc, char** argv) {
    bench::Filter want(argc, argv);
    try {
        rows<OrderedSegment>(want, "ordered");
        rows<HashedSegment>(want, "hashed");
        concurrent_row<OrderedSegment>(want, "ordered");
        concurrent_row<HashedSegment>(want, "hashed");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "segment: %s\n", e.what());
        return 1;
    }
}
