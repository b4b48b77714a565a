// Timing helpers shared by the Boost side of the benchmark (see bench/compare.sh).
// Every program prints one `ROW\t<name>\t<median ns>` line per row.
#pragma once

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>
#include <csignal>
#include <sched.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/prctl.h>
#endif

#include <boost/interprocess/shared_memory_object.hpp>

namespace bench {

inline double now_ns() {
    using namespace std::chrono;
    return static_cast<double>(
        duration_cast<nanoseconds>(steady_clock::now().time_since_epoch()).count());
}

inline double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

// One untimed warm-up sample, then `samples` samples of `iters` calls of f each;
// returns the median over samples of elapsed_ns / iters.
template <class F>
double median_ns_per_op(int samples, long iters, F f) {
    std::vector<double> per_op;
    for (int s = -1; s < samples; ++s) {
        double t0 = now_ns();
        for (long i = 0; i < iters; ++i) f();
        double dt = now_ns() - t0;
        if (s >= 0) per_op.push_back(dt / static_cast<double>(iters));
    }
    return median(per_op);
}

// Like median_ns_per_op, but `f` times itself: it returns the ns of the part
// that counts (setup and teardown stay outside). One warm-up sample, too.
template <class F>
double median_ns_self_timed(int samples, F f) {
    std::vector<double> v;
    for (int s = -1; s < samples; ++s) {
        double ns = f();
        if (s >= 0) v.push_back(ns);
    }
    return median(v);
}

inline void print_row(const char* name, double ns) {
    std::printf("ROW\t%s\t%.1f\n", name, ns);
    std::fflush(stdout);
}

// Row filter: argv[1] is an optional substring of the row names to run.
struct Filter {
    const char* sub = nullptr;
    Filter(int argc, char** argv) : sub(argc > 1 ? argv[1] : nullptr) {}
    bool operator()(const char* name) const { return !sub || std::strstr(name, sub); }
};

// A name unique to this process and call: "<prefix>_<pid>_<counter>".
inline std::string unique_name(const char* prefix) {
    static unsigned long counter = 0;
    return std::string(prefix) + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
}

// Removes the shared memory object `name` when it goes out of scope: declare it before the
// segment that maps the object, so the segment is unmapped first and the name goes even when a
// row throws.
struct ShmRemover {
    const std::string& name;
    ~ShmRemover() { boost::interprocess::shared_memory_object::remove(name.c_str()); }
};

// --- Helpers for rows that fork real processes --------------------------------------------

// Spin-wait hint (x86 `pause`); a no-op elsewhere.
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

// Spins until pred() is true; yields the CPU every 1024 polls so that spinners do not starve
// the process they are waiting for on a small (2-core) machine.
template <class P>
inline void spin_until(P pred) {
    for (unsigned n = 1; !pred(); ++n) {
        if (n % 1024 == 0) ::sched_yield();
        else cpu_relax();
    }
}

// A start line for forked processes; lives in shared memory (zero-initialised, or constructed
// with placement new before fork). Children call arrive_and_wait(); the parent calls
// wait_ready(n), takes its start time, then open().
struct StartGate {
    std::atomic<std::uint32_t> ready{0};
    std::atomic<std::uint32_t> go{0};

    void arrive_and_wait() {
        ready.fetch_add(1, std::memory_order_acq_rel);
        spin_until([&] { return go.load(std::memory_order_acquire) != 0; });
    }
    void wait_ready(std::uint32_t n) {
        spin_until([&] { return ready.load(std::memory_order_acquire) >= n; });
    }
    void open() { go.store(1, std::memory_order_release); }
};
static_assert(std::atomic<std::uint32_t>::is_always_lock_free,
              "StartGate needs address-free (lock-free) atomics to work across processes");

// Forks a child process that runs f() (returning its exit status) and then _exit()s: the child
// never returns into the caller's frames, runs no atexit handlers and flushes no stdio buffers
// (they are flushed before the fork). On Linux the child is SIGKILLed if the parent dies, so a
// failed or killed benchmark never leaves processes behind. Throws if fork fails.
template <class F>
pid_t fork_child(F f) {
    const pid_t parent = ::getpid();
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
#if defined(__linux__)
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(125);  // parent already gone
#else
        (void)parent;
#endif
        int rc = 1;
        try {
            rc = f();
        } catch (const std::exception& e) {
            std::fprintf(stderr, "child %d: %s\n", static_cast<int>(::getpid()), e.what());
        } catch (...) {
            std::fprintf(stderr, "child %d: unknown exception\n", static_cast<int>(::getpid()));
        }
        ::_exit(rc);
    }
    return pid;
}

// Reaps a child from fork_child; true iff it exited normally with status 0.
inline bool wait_child(pid_t pid) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return false;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return true;
    if (WIFSIGNALED(status))
        std::fprintf(stderr, "child %d killed by signal %d\n", static_cast<int>(pid), WTERMSIG(status));
    else if (WIFEXITED(status))
        std::fprintf(stderr, "child %d exited with status %d\n", static_cast<int>(pid), WEXITSTATUS(status));
    return false;
}

}  // namespace bench
