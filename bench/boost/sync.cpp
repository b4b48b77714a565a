// Boost.Interprocess side of the synchronization rows.
// Usage: sync [row-name substring]
//
// How each row is measured (the shmkit side must mirror this exactly)
// ====================================================================
// Common rules
//   * Every primitive lives in shared memory: a `bip::anonymous_shared_memory(size)` region
//     (MAP_SHARED | MAP_ANONYMOUS), the objects constructed in it with placement new, and
//     destroyed explicitly (their destructors run) when the row is done. Region creation and
//     object construction/destruction are never timed.
//   * Clock: std::chrono::steady_clock (CLOCK_MONOTONIC), which is system-wide, so times
//     taken in different processes are comparable.
//   * "per_op" rows (bench::median_ns_per_op): one untimed warm-up sample, then S timed
//     samples of N back-to-back iterations; each sample's value is elapsed_ns / N; the row is
//     the median of the S values. A compiler barrier (`asm volatile("" ::: "memory")`) follows
//     each iteration's calls (the lock calls are opaque anyway).
//   * "self-timed" rows (bench::median_ns_self_timed): one untimed warm-up sample, then S
//     samples, each computing its own ns figure; the row is the median of the S values.
//   * Cross-process rows use fork(): real processes, never threads. Every sample creates a
//     fresh region, constructs the objects, then forks its child(ren), which inherit the
//     mapping. Children end with _exit(status) and never return through main; a child that
//     fails (exception, wrong result) exits non-zero and the whole program exits 1.
//   * Start line (bench::StartGate, two std::atomic<uint32_t> in the shared region): each child
//     increments `ready` and spins until `go` != 0; the parent spins until `ready` equals the
//     number of children, reads the clock (t0), then stores go = 1. Fork and process start-up
//     costs are therefore outside the timing.
//
// 1. "mutex: lock+unlock, uncontended"
//    interprocess_mutex in shm, one process. per_op, S = 15, N = 1,000,000;
//    one iteration = m.lock(); m.unlock();
// 2. "mutex: 2 processes x 1M increments (ns/op)"
//    Shared block { StartGate; interprocess_mutex m; uint64_t counter = 0; double end_ns[2]; }.
//    Self-timed, S = 7 (plus the warm-up sample); every sample forks two children anew. Each
//    child: pass the start line, then 1,000,000 x { m.lock(); ++counter; m.unlock(); }, then
//    end_ns[k] = clock, _exit(0). Parent (not a participant): t0 as in the start line, then
//    waitpid both. Sample = (max(end_ns[0], end_ns[1]) - t0) / 2,000,000. The parent checks
//    counter == 2,000,000 after both exited (else the program exits 1).
// 3. "condvar: ping-pong round trip, 2 processes"
//    Shared block { StartGate; interprocess_mutex m; interprocess_condition cv; uint32_t turn = 0; }
//    (one condition variable shared by both directions; only the peer can be waiting on it).
//    Self-timed, S = 7, R = 2,000 round trips per sample, one child forked anew per sample.
//    Parent = A, child = B. After the start line (B passes it, A takes t0 and opens it):
//      A, R times:  lock m; turn = 1; cv.notify_one(); while (turn != 0) cv.wait(m); unlock m;
//      B, R times:  lock m; while (turn != 1) cv.wait(m); turn = 0; cv.notify_one(); unlock m;
//    (notify_one is called while holding the mutex, as above.) A reads the clock (t1) right
//    after its last unlock, then waitpids B. Sample = (t1 - t0) / R.
// 4. "semaphore: ping-pong round trip, 2 processes"
//    Shared block { StartGate; interprocess_semaphore ping(0), pong(0); }. Same sampling as 3
//    (S = 7, R = 2,000, parent = A, one forked child = B, same start line and t0/t1).
//      A, R times:  ping.post(); pong.wait();
//      B, R times:  ping.wait(); pong.post();
//    Sample = (t1 - t0) / R.
// 5. "rwlock: read lock+unlock, uncontended"
//    interprocess_sharable_mutex in shm, one process. per_op, S = 15, N = 1,000,000;
//    one iteration = lock_sharable(); unlock_sharable();
// 6. "rwlock: write lock+unlock, uncontended"
//    The same kind of object (a fresh one), per_op, S = 15, N = 1,000,000;
//    one iteration = lock(); unlock();
// 7. "upgradable: upgradable lock -> write -> unlock, uncontended"
//    interprocess_upgradable_mutex in shm, one process. per_op, S = 15, N = 200,000;
//    one iteration = lock_upgradable(); unlock_upgradable_and_lock(); unlock();
// 8. "recursive mutex: lock+lock+unlock+unlock, uncontended"
//    interprocess_recursive_mutex in shm, one process. per_op, S = 15, N = 500,000;
//    one iteration = lock(); lock(); unlock(); unlock();
// 9. "named mutex: lock+unlock, uncontended"
//    named_mutex(create_only, "shmkit_xbench_nmutex_<pid>_<n>"); named_mutex::remove(name)
//    before creating and again after closing it. One process. per_op, S = 15, N = 1,000,000;
//    one iteration = lock(); unlock();  Open/create/close/remove are not timed.
//
// What Boost 1.74 uses on Linux/glibc (detail/workaround.hpp defines
// BOOST_INTERPROCESS_POSIX_PROCESS_SHARED, BOOST_INTERPROCESS_POSIX_UNNAMED_SEMAPHORES,
// BOOST_INTERPROCESS_POSIX_RECURSIVE_MUTEXES and BOOST_INTERPROCESS_NAMED_MUTEX_USES_POSIX_SEMAPHORES):
//   interprocess_mutex            pthread_mutex_t, PTHREAD_PROCESS_SHARED, default type, not robust
//   interprocess_recursive_mutex  pthread_mutex_t, PTHREAD_PROCESS_SHARED + PTHREAD_MUTEX_RECURSIVE
//   interprocess_condition        pthread_cond_t, PTHREAD_PROCESS_SHARED
//   interprocess_semaphore        sem_t, sem_init(pshared = 1)
//   interprocess_sharable_mutex   interprocess_mutex + 2 interprocess_condition + control word
//   interprocess_upgradable_mutex interprocess_mutex + 2 interprocess_condition + control word
//   named_mutex                   POSIX named semaphore: sem_open("/<name>") (/dev/shm/sem.<name>)
// All of these block in the kernel through glibc's futexes (shared, not FUTEX_PRIVATE).
#include "common.hpp"

#include <boost/interprocess/anonymous_shared_memory.hpp>
#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/sync/interprocess_condition.hpp>
#include <boost/interprocess/sync/interprocess_mutex.hpp>
#include <boost/interprocess/sync/interprocess_recursive_mutex.hpp>
#include <boost/interprocess/sync/interprocess_semaphore.hpp>
#include <boost/interprocess/sync/interprocess_sharable_mutex.hpp>
#include <boost/interprocess/sync/interprocess_upgradable_mutex.hpp>
#include <boost/interprocess/sync/named_mutex.hpp>
#include <boost/interprocess/sync/scoped_lock.hpp>

#include <cstdint>
#include <cstdlib>
#include <new>
#include <stdexcept>
#include <string>
#include <utility>

namespace bip = boost::interprocess;

namespace {

inline void clobber() { asm volatile("" : : : "memory"); }

// One object of type T constructed in its own anonymous shared mapping; destroyed on scope exit.
template <class T>
class InShm {
public:
    template <class... A>
    explicit InShm(A&&... args) : region_(bip::anonymous_shared_memory(sizeof(T))) {
        obj_ = new (region_.get_address()) T(std::forward<A>(args)...);
    }
    ~InShm() { obj_->~T(); }
    InShm(const InShm&) = delete;
    InShm& operator=(const InShm&) = delete;
    T* operator->() const { return obj_; }
    T& operator*() const { return *obj_; }

private:
    bip::mapped_region region_;
    T* obj_;
};

// --- single-process rows --------------------------------------------------------------------

void row_mutex_uncontended(const char* row) {
    InShm<bip::interprocess_mutex> m;
    double ns = bench::median_ns_per_op(15, 1000000, [&] {
        m->lock();
        m->unlock();
        clobber();
    });
    bench::print_row(row, ns);
}

void row_rwlock_read(const char* row) {
    InShm<bip::interprocess_sharable_mutex> m;
    double ns = bench::median_ns_per_op(15, 1000000, [&] {
        m->lock_sharable();
        m->unlock_sharable();
        clobber();
    });
    bench::print_row(row, ns);
}

void row_rwlock_write(const char* row) {
    InShm<bip::interprocess_sharable_mutex> m;
    double ns = bench::median_ns_per_op(15, 1000000, [&] {
        m->lock();
        m->unlock();
        clobber();
    });
    bench::print_row(row, ns);
}

void row_upgradable(const char* row) {
    InShm<bip::interprocess_upgradable_mutex> m;
    double ns = bench::median_ns_per_op(15, 200000, [&] {
        m->lock_upgradable();
        m->unlock_upgradable_and_lock();
        m->unlock();
        clobber();
    });
    bench::print_row(row, ns);
}

void row_recursive(const char* row) {
    InShm<bip::interprocess_recursive_mutex> m;
    double ns = bench::median_ns_per_op(15, 500000, [&] {
        m->lock();
        m->lock();
        m->unlock();
        m->unlock();
        clobber();
    });
    bench::print_row(row, ns);
}

struct NamedMutexRemover {
    std::string name;
    ~NamedMutexRemover() { bip::named_mutex::remove(name.c_str()); }
};

void row_named_mutex(const char* row) {
    NamedMutexRemover guard{bench::unique_name("shmkit_xbench_nmutex")};
    bip::named_mutex::remove(guard.name.c_str());
    double ns;
    {
        bip::named_mutex m(bip::create_only, guard.name.c_str());
        ns = bench::median_ns_per_op(15, 1000000, [&] {
            m.lock();
            m.unlock();
            clobber();
        });
    }  // sem_close here; the guard removes the name afterwards (also on exceptions)
    bench::print_row(row, ns);
}

// --- cross-process rows ---------------------------------------------------------------------

constexpr long kIncrements = 1000000;  // per process (row 2)
constexpr long kRoundTrips = 2000;     // per sample (rows 3 and 4)

struct ContendedBlock {
    bench::StartGate gate;
    bip::interprocess_mutex m;
    std::uint64_t counter = 0;
    double end_ns[2] = {0, 0};
};

double sample_mutex_contended() {
    InShm<ContendedBlock> s;
    ContendedBlock* p = &*s;
    pid_t pids[2];
    for (int k = 0; k < 2; ++k) {
        pids[k] = bench::fork_child([p, k] {
            p->gate.arrive_and_wait();
            for (long i = 0; i < kIncrements; ++i) {
                p->m.lock();
                ++p->counter;
                p->m.unlock();
            }
            p->end_ns[k] = bench::now_ns();
            return 0;
        });
    }
    p->gate.wait_ready(2);
    const double t0 = bench::now_ns();
    p->gate.open();
    const bool ok0 = bench::wait_child(pids[0]);
    const bool ok1 = bench::wait_child(pids[1]);
    if (!ok0 || !ok1) throw std::runtime_error("mutex increment child failed");
    if (p->counter != 2 * static_cast<std::uint64_t>(kIncrements))
        throw std::runtime_error("mutex increments: counter is " + std::to_string(p->counter) +
                                 ", expected " + std::to_string(2 * kIncrements));
    const double t1 = std::max(p->end_ns[0], p->end_ns[1]);
    return (t1 - t0) / static_cast<double>(2 * kIncrements);
}

struct CondvarBlock {
    bench::StartGate gate;
    bip::interprocess_mutex m;
    bip::interprocess_condition cv;
    std::uint32_t turn = 0;
};

double sample_condvar_pingpong() {
    InShm<CondvarBlock> s;
    CondvarBlock* p = &*s;
    using Lock = bip::scoped_lock<bip::interprocess_mutex>;
    pid_t pid = bench::fork_child([p] {  // B
        p->gate.arrive_and_wait();
        for (long i = 0; i < kRoundTrips; ++i) {
            Lock lk(p->m);
            while (p->turn != 1) p->cv.wait(lk);
            p->turn = 0;
            p->cv.notify_one();
        }
        return 0;
    });
    p->gate.wait_ready(1);
    const double t0 = bench::now_ns();
    p->gate.open();
    for (long i = 0; i < kRoundTrips; ++i) {  // A
        Lock lk(p->m);
        p->turn = 1;
        p->cv.notify_one();
        while (p->turn != 0) p->cv.wait(lk);
    }
    const double t1 = bench::now_ns();
    if (!bench::wait_child(pid)) throw std::runtime_error("condvar ping-pong child failed");
    return (t1 - t0) / static_cast<double>(kRoundTrips);
}

struct SemBlock {
    bench::StartGate gate;
    bip::interprocess_semaphore ping{0};
    bip::interprocess_semaphore pong{0};
};

double sample_semaphore_pingpong() {
    InShm<SemBlock> s;
    SemBlock* p = &*s;
    pid_t pid = bench::fork_child([p] {  // B
        p->gate.arrive_and_wait();
        for (long i = 0; i < kRoundTrips; ++i) {
            p->ping.wait();
            p->pong.post();
        }
        return 0;
    });
    p->gate.wait_ready(1);
    const double t0 = bench::now_ns();
    p->gate.open();
    for (long i = 0; i < kRoundTrips; ++i) {  // A
        p->ping.post();
        p->pong.wait();
    }
    const double t1 = bench::now_ns();
    if (!bench::wait_child(pid)) throw std::runtime_error("semaphore ping-pong child failed");
    return (t1 - t0) / static_cast<double>(kRoundTrips);
}

}  // namespace

int main(int argc, char** argv) {
    bench::Filter want(argc, argv);
    // Watchdog: a lost wake-up or a dead child would otherwise hang the run forever. SIGALRM
    // kills this process, and the children die with it (PR_SET_PDEATHSIG in fork_child).
    ::alarm(600);
    try {
        if (const char* r = "mutex: lock+unlock, uncontended"; want(r)) row_mutex_uncontended(r);
        if (const char* r = "mutex: 2 processes x 1M increments (ns/op)"; want(r))
            bench::print_row(r, bench::median_ns_self_timed(7, sample_mutex_contended));
        if (const char* r = "condvar: ping-pong round trip, 2 processes"; want(r))
            bench::print_row(r, bench::median_ns_self_timed(7, sample_condvar_pingpong));
        if (const char* r = "semaphore: ping-pong round trip, 2 processes"; want(r))
            bench::print_row(r, bench::median_ns_self_timed(7, sample_semaphore_pingpong));
        if (const char* r = "rwlock: read lock+unlock, uncontended"; want(r)) row_rwlock_read(r);
        if (const char* r = "rwlock: write lock+unlock, uncontended"; want(r)) row_rwlock_write(r);
        if (const char* r = "upgradable: upgradable lock -> write -> unlock, uncontended"; want(r))
            row_upgradable(r);
        if (const char* r = "recursive mutex: lock+lock+unlock+unlock, uncontended"; want(r))
            row_recursive(r);
        if (const char* r = "named mutex: lock+unlock, uncontended"; want(r)) row_named_mutex(r);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "sync: %s\n", e.what());
        return 1;
    }
}
