// Boost.Interprocess side of the shared memory / mapped region rows.
// Usage: regions [row-name substring]
#include "common.hpp"

#include <boost/interprocess/file_mapping.hpp>
#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/shared_memory_object.hpp>

#include <cerrno>
#include <cstdlib>
#include <stdexcept>
#include <fcntl.h>
#include <sys/stat.h>

namespace bip = boost::interprocess;

static constexpr std::size_t MiB = 1024 * 1024;

// Removes the named shm object on scope exit (also on exceptions).
struct ShmGuard {
    std::string name;
    ~ShmGuard() { bip::shared_memory_object::remove(name.c_str()); }
};

// Boost's truncate never reserves memory: the same code is the reference for shmkit's reserving
// `set_len` and for its `set_len_sparse` (printed under both names).
static void row_create_map_remove(const char* row) {
    double ns = bench::median_ns_per_op(15, 200, [] {
        std::string name = bench::unique_name("shmkit_xbench_region");
        {
            bip::shared_memory_object shm(bip::create_only, name.c_str(), bip::read_write);
            shm.truncate(MiB);
            bip::mapped_region region(shm, bip::read_write);
        }  // unmap + close
        bip::shared_memory_object::remove(name.c_str());
    });
    bench::print_row(row, ns);
}

static void row_first_touch() {
    const std::size_t len = 64 * MiB;
    double ns = bench::median_ns_self_timed(9, [&] {
        ShmGuard g{bench::unique_name("shmkit_xbench_touch")};
        bip::shared_memory_object shm(bip::create_only, g.name.c_str(), bip::read_write);
        shm.truncate(len);
        bip::mapped_region region(shm, bip::read_write);
        void* addr = region.get_address();
        double t0 = bench::now_ns();
        std::memset(addr, 0xAB, len);
        asm volatile("" : : "r"(addr) : "memory");
        return bench::now_ns() - t0;
    });
    bench::print_row("region: first-touch write 64 MiB", ns);
}

// The same first touch, timed together with sizing and mapping: shmkit reserves the pages at
// set_len (so a full /dev/shm is an error, not a SIGBUS), Boost 1.74's truncate does not, so the
// cost moves between the two phases; this row compares the whole.
static void row_size_and_first_touch() {
    const std::size_t len = 64 * MiB;
    double ns = bench::median_ns_self_timed(9, [&] {
        ShmGuard g{bench::unique_name("shmkit_xbench_touch")};
        bip::shared_memory_object shm(bip::create_only, g.name.c_str(), bip::read_write);
        double t0 = bench::now_ns();
        shm.truncate(len);
        bip::mapped_region region(shm, bip::read_write);
        void* addr = region.get_address();
        std::memset(addr, 0xAB, len);
        asm volatile("" : : "r"(addr) : "memory");
        return bench::now_ns() - t0;
    });
    bench::print_row("region: set_len+map+first-touch write 64 MiB", ns);
}

static void row_flush_file() {
    const char* tmp = std::getenv("TMPDIR");
    std::string path = std::string(tmp && *tmp ? tmp : "/tmp") + "/" +
                       bench::unique_name("shmkit_xbench_flush") + ".bin";
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0) throw std::runtime_error("open " + path + ": " + std::strerror(errno));
    struct Unlink {
        std::string p;
        ~Unlink() { ::unlink(p.c_str()); }
    } unlink_at_exit{path};
    int err = ::ftruncate(fd, MiB) == 0 ? 0 : errno;
    ::close(fd);
    if (err) throw std::runtime_error("ftruncate " + path + ": " + std::strerror(err));

    bip::file_mapping file(path.c_str(), bip::read_write);
    bip::mapped_region region(file, bip::read_write);
    volatile unsigned char* p = static_cast<unsigned char*>(region.get_address());
    unsigned char v = 0;
    bool ok = true;
    double ns = bench::median_ns_per_op(15, 100, [&] {
        *p = ++v;
        ok &= region.flush(0, 4096, /*async=*/false);  // msync(MS_SYNC)
    });
    if (!ok) throw std::runtime_error("mapped_region::flush failed");
    bench::print_row("region: flush 4 KiB of a file mapping", ns);
}

int main(int argc, char** argv) {
    bench::Filter want(argc, argv);
    try {
        for (const char* row : {"region: create+set_len+map+unmap+remove 1 MiB",
                                "region: create+set_len_sparse+map+unmap+remove 1 MiB"})
            if (want(row)) row_create_map_remove(row);
        if (want("region: first-touch write 64 MiB")) row_first_touch();
        if (want("region: set_len+map+first-touch write 64 MiB")) row_size_and_first_touch();
        if (want("region: flush 4 KiB of a file mapping")) row_flush_file();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "regions: %s\n", e.what());
        return 1;
    }
}
