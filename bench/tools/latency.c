// Memory latency on this machine, for reading the segment rows of BENCHMARKS.md.
//
// Usage: latency MIB [shm]
//   Builds a random cyclic chain of 64-byte lines over MIB MiB (POSIX shared memory with 4 KiB
//   pages when "shm" is given, private anonymous memory otherwise), then times
//   - dependent reads: each address comes from the previous read (what a lookup that walks
//     from an index to an object pays per step), and
//   - independent reads of the same lines in the same random order (what the core overlaps).
// Build: gcc -O2 -o latency bench/tools/latency.c -lrt
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

int main(int argc, char** argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s MIB [shm]\n", argv[0]);
        return 2;
    }
    const size_t bytes = (size_t)atoi(argv[1]) << 20;
    const int shm = argc > 2;
    char* p;
    if (shm) {
        char name[64];
        snprintf(name, sizeof name, "/shmkit-latency-%d", (int)getpid());
        int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
        shm_unlink(name);
        if (fd < 0 || ftruncate(fd, (off_t)bytes) != 0) return perror("shm"), 1;
        p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    } else {
        p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    }
    if (p == MAP_FAILED) return perror("mmap"), 1;
    const size_t lines = bytes / 64;
    size_t* order = malloc(lines * sizeof *order);
    for (size_t i = 0; i < lines; ++i) order[i] = i;
    uint64_t s = 88172645463325252ull;
    for (size_t i = lines - 1; i > 0; --i) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        size_t j = s % (i + 1), t = order[i];
        order[i] = order[j], order[j] = t;
    }
    for (size_t i = 0; i < lines; ++i) *(size_t*)(p + order[i] * 64) = order[(i + 1) % lines] * 64;
    const long n = 2000000;
    size_t at = order[0] * 64;
    double t0 = now_ns();
    for (long i = 0; i < n; ++i) at = *(volatile size_t*)(p + at);
    double t1 = now_ns();
    uint64_t sum = 0;
    for (long i = 0; i < n; ++i) sum += *(volatile size_t*)(p + order[i % lines] * 64);
    double t2 = now_ns();
    printf("%zu MiB %s: dependent read %.1f ns, independent read %.1f ns (%zu %llu)\n",
           bytes >> 20, shm ? "shm" : "anon", (t1 - t0) / n, (t2 - t1) / n, at,
           (unsigned long long)sum);
    return 0;
}
