// Boost.Interprocess side of the message queue rows.
// Usage: mq [row-name substring]
//
// How each row is measured (the shmkit side, bench/src/mq.rs, mirrors this exactly)
// ==================================================================================
// Common rules
//   * The queue: a named `bip::message_queue` (Boost 1.74: offset_ptr flavour, a pthread mutex and
//     two pthread condition variables in a shared memory object), created with create_only under
//     a pid-unique name "shmkit_xbench_mq_<pid>_<n>", removed before creation and after the row.
//     It is created once per row, in the parent, before any fork; the forked child uses the
//     inherited handle (the mapping is shared). Creation and removal are never timed.
//   * Clock: std::chrono::steady_clock (CLOCK_MONOTONIC), system-wide, so times taken in
//     different processes are comparable.
//   * Samples (bench::median_ns_self_timed): one untimed warm-up sample, then S = 7 samples; the
//     row is the median. Every sample forks one child anew (real processes, never threads). A
//     shared block in anonymous shared memory holds the start line (bench::StartGate) and the
//     child's end time. The child passes the start line; the parent waits for it, reads the clock
//     (t0) and opens the line. Fork and process start-up are outside the timing. A child that
//     sees a wrong message exits non-zero and the program exits 1.
//   * Receive buffers are max_msg_size bytes (Boost requires it).
//
// 1. "mq: 64 B messages, 1 producer -> 1 consumer process, capacity 1024"
//    Queue of 1024 x 64 B. N = 200,000 messages per sample. Parent = producer: N x
//    send(buf, 64, 0), where the first 8 bytes of buf hold the message number i (the rest is
//    fixed filler). Child = consumer: N x receive into a 64-byte buffer, checks the size (64) and
//    that the first 8 bytes equal i, then records end_ns = clock and exits. Sample =
//    (end_ns - t0) / N, in ns per message.
// 2. "mq: 4 KiB messages, same"
//    As 1 with a queue of 1024 x 4096 B, 4096-byte messages, N = 50,000.
// 3. "mq: 8 B request/response ping-pong, 2 processes, round trip"
//    Two queues of 16 x 8 B: requests and responses. R = 2,000 round trips per sample.
//    Parent = A, R times: send(i, 8 B) on requests; receive on responses; check it is i.
//    Child = B, R times: receive on requests; send the same 8 bytes on responses.
//    A reads the clock (t1) after its last receive. Sample = (t1 - t0) / R.
// 4. "mq: 64 B messages with 8 random priorities"
//    As 1, with message i sent at priority x & 7, where x is the i-th output of the 32-bit
//    xorshift generator (x ^= x << 13; x ^= x >> 17; x ^= x << 5) seeded with 2463534242 at
//    the start of every sample. The consumer checks sizes and that the message numbers it sees
//    are all distinct and below N (a bitmap), not their order.
// 5. "mq: zero-copy 4 KiB messages"
//    Boost has no zero-copy interface, so this is its copying queue doing the same work: a
//    queue of 1024 x 4096 B, N = 50,000. The producer produces each message whole: the 4096
//    bytes set to (i & 0xff) (memset), then i written into the first and the last 8 bytes;
//    here into a local buffer, then send(buf, 4096, 0) copies it into the queue. The consumer
//    receives it (a copy into a local buffer) and checks the size and the first and last 8
//    bytes. (shmkit produces the message directly in a reserved slot and commits it; its
//    consumer checks the same 16 bytes where the message lies and releases the slot.)
//
// Boost 1.74's message_queue on Linux/glibc: interprocess_mutex = pthread_mutex_t (robust
// when the platform supports it), interprocess_condition = pthread_cond_t, both
// PTHREAD_PROCESS_SHARED; every operation locks the mutex; a blocked sender or receiver waits
// on its condition (counted in m_blocked_senders/receivers, notified only if non-zero).
#include "common.hpp"

#include <boost/interprocess/anonymous_shared_memory.hpp>
#include <boost/interprocess/ipc/message_queue.hpp>
#include <boost/interprocess/mapped_region.hpp>

#include <cstdint>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

namespace bip = boost::interprocess;

namespace {

struct Block {
    bench::StartGate gate;
    std::atomic<double> end_ns{0};
};

// One Block in its own anonymous shared mapping; destroyed on scope exit.
class SharedBlock {
public:
    SharedBlock() : region_(bip::anonymous_shared_memory(sizeof(Block))) {
        block_ = new (region_.get_address()) Block();
    }
    ~SharedBlock() { block_->~Block(); }
    Block* operator->() const { return block_; }
    Block* get() const { return block_; }

private:
    bip::mapped_region region_;
    Block* block_;
};

// A named queue removed before creation and after use.
class Queue {
public:
    Queue(std::size_t max_msgs, std::size_t max_msg_size)
        : name_(bench::unique_name("shmkit_xbench_mq")) {
        bip::message_queue::remove(name_.c_str());
        mq_ = new bip::message_queue(bip::create_only, name_.c_str(), max_msgs, max_msg_size);
    }
    ~Queue() {
        delete mq_;
        bip::message_queue::remove(name_.c_str());
    }
    Queue(const Queue&) = delete;
    Queue& operator=(const Queue&) = delete;
    bip::message_queue& operator*() const { return *mq_; }

private:
    std::string name_;
    bip::message_queue* mq_;
};

std::uint32_t xorshift32(std::uint32_t& x) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return x;
}

// Rows 1, 2 and 4: one producer (the parent) and one consumer (a forked child).
double sample_stream(bip::message_queue& mq, std::size_t size, long n, bool random_priorities) {
    SharedBlock shared;
    Block* b = shared.get();
    pid_t pid = bench::fork_child([&mq, b, size, n, random_priorities] {
        std::vector<char> buf(size);
        std::vector<bool> seen(random_priorities ? n : 0);
        b->gate.arrive_and_wait();
        for (long i = 0; i < n; ++i) {
            bip::message_queue::size_type got = 0;
            unsigned int prio = 0;
            mq.receive(buf.data(), buf.size(), got, prio);
            std::uint64_t k;
            std::memcpy(&k, buf.data(), 8);
            if (got != size) return 2;
            if (random_priorities) {
                if (k >= static_cast<std::uint64_t>(n) || seen[k]) return 3;
                seen[k] = true;
            } else if (k != static_cast<std::uint64_t>(i)) {
                return 4;
            }
        }
        b->end_ns.store(bench::now_ns());
        return 0;
    });
    std::vector<char> msg(size, 'm');
    std::uint32_t x = 2463534242u;
    b->gate.wait_ready(1);
    const double t0 = bench::now_ns();
    b->gate.open();
    for (long i = 0; i < n; ++i) {
        const std::uint64_t k = static_cast<std::uint64_t>(i);
        std::memcpy(msg.data(), &k, 8);
        const unsigned prio = random_priorities ? (xorshift32(x) & 7) : 0;
        mq.send(msg.data(), size, prio);
    }
    if (!bench::wait_child(pid)) throw std::runtime_error("mq consumer child failed");
    return (b->end_ns.load() - t0) / static_cast<double>(n);
}

// Row 3.
double sample_pingpong(bip::message_queue& req, bip::message_queue& resp, long rounds) {
    SharedBlock shared;
    Block* b = shared.get();
    pid_t pid = bench::fork_child([&req, &resp, b, rounds] {
        char buf[8];
        b->gate.arrive_and_wait();
        for (long i = 0; i < rounds; ++i) {
            bip::message_queue::size_type got = 0;
            unsigned int prio = 0;
            req.receive(buf, sizeof buf, got, prio);
            if (got != 8) return 2;
            resp.send(buf, 8, 0);
        }
        return 0;
    });
    b->gate.wait_ready(1);
    const double t0 = bench::now_ns();
    b->gate.open();
    char buf[8];
    for (long i = 0; i < rounds; ++i) {
        const std::uint64_t k = static_cast<std::uint64_t>(i);
        req.send(&k, 8, 0);
        bip::message_queue::size_type got = 0;
        unsigned int prio = 0;
        resp.receive(buf, sizeof buf, got, prio);
        std::uint64_t back;
        std::memcpy(&back, buf, 8);
        if (got != 8 || back != k) throw std::runtime_error("ping-pong: wrong response");
    }
    const double t1 = bench::now_ns();
    if (!bench::wait_child(pid)) throw std::runtime_error("ping-pong child failed");
    return (t1 - t0) / static_cast<double>(rounds);
}

// Row 5.
double sample_produced(bip::message_queue& mq, long n) {
    constexpr std::size_t kSize = 4096;
    SharedBlock shared;
    Block* b = shared.get();
    pid_t pid = bench::fork_child([&mq, b, n] {
        std::vector<char> buf(kSize);
        b->gate.arrive_and_wait();
        for (long i = 0; i < n; ++i) {
            bip::message_queue::size_type got = 0;
            unsigned int prio = 0;
            mq.receive(buf.data(), buf.size(), got, prio);
            std::uint64_t head, tail;
            std::memcpy(&head, buf.data(), 8);
            std::memcpy(&tail, buf.data() + kSize - 8, 8);
            const std::uint64_t k = static_cast<std::uint64_t>(i);
            if (got != kSize || head != k || tail != k) return 2;
        }
        b->end_ns.store(bench::now_ns());
        return 0;
    });
    std::vector<char> msg(kSize);
    b->gate.wait_ready(1);
    const double t0 = bench::now_ns();
    b->gate.open();
    for (long i = 0; i < n; ++i) {
        const std::uint64_t k = static_cast<std::uint64_t>(i);
        std::memset(msg.data(), static_cast<int>(i & 0xff), kSize);
        std::memcpy(msg.data(), &k, 8);
        std::memcpy(msg.data() + kSize - 8, &k, 8);
        mq.send(msg.data(), kSize, 0);
    }
    if (!bench::wait_child(pid)) throw std::runtime_error("produced-message consumer failed");
    return (b->end_ns.load() - t0) / static_cast<double>(n);
}

}  // namespace

int main(int argc, char** argv) {
    bench::Filter want(argc, argv);
    // Watchdog: a lost wake-up or a dead child would otherwise hang the run forever.
    ::alarm(600);
    try {
        if (const char* r = "mq: 64 B messages, 1 producer -> 1 consumer process, capacity 1024";
            want(r)) {
            Queue q(1024, 64);
            bench::print_row(r, bench::median_ns_self_timed(
                                    7, [&] { return sample_stream(*q, 64, 200000, false); }));
        }
        if (const char* r = "mq: 4 KiB messages, same"; want(r)) {
            Queue q(1024, 4096);
            bench::print_row(r, bench::median_ns_self_timed(
                                    7, [&] { return sample_stream(*q, 4096, 50000, false); }));
        }
        if (const char* r = "mq: 8 B request/response ping-pong, 2 processes, round trip"; want(r)) {
            Queue req(16, 8), resp(16, 8);
            bench::print_row(
                r, bench::median_ns_self_timed(7, [&] { return sample_pingpong(*req, *resp, 2000); }));
        }
        if (const char* r = "mq: 64 B messages with 8 random priorities"; want(r)) {
            Queue q(1024, 64);
            bench::print_row(r, bench::median_ns_self_timed(
                                    7, [&] { return sample_stream(*q, 64, 200000, true); }));
        }
        if (const char* r = "mq: zero-copy 4 KiB messages"; want(r)) {
            Queue q(1024, 4096);
            bench::print_row(
                r, bench::median_ns_self_timed(7, [&] { return sample_produced(*q, 50000); }));
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "mq: %s\n", e.what());
        return 1;
    }
}
