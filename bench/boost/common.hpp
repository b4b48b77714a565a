// Timing helpers shared by the Boost side of the benchmark (see bench/compare.sh).
// Every program prints one `ROW\t<name>\t<median ns>` line per row.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>
#include <unistd.h>

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

}  // namespace bench
