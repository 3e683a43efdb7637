// test_cxx_noexceptions.cpp — keel.hpp built with -fno-exceptions -fno-rtti:
// create returns nullptr when keel has no memory, destroy finds the whole
// object of a polymorphic type without RTTI, and the KEEL_OVERRIDE_NEW
// forms compile without try/throw (their nothrow forms still return nullptr).
#define KEEL_OVERRIDE_NEW
#include "keel/keel.hpp"

#include <cstddef>
#include <cstdint>
#include <new>

#include "check.h"

#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
#error "test_cxx_noexceptions must be compiled with -fno-exceptions"
#endif

namespace {

const std::size_t kHugeBytes = sizeof(void*) >= 8 ? SIZE_MAX / 16 + 1 : SIZE_MAX / 2 - 4095;
int g_constructed, g_destroyed;
struct Huge {
    unsigned char bytes[kHugeBytes];
    Huge() { ++g_constructed; }
};
struct alignas(64) HugeAligned {
    unsigned char bytes[kHugeBytes];
    HugeAligned() { ++g_constructed; }
};

struct Pad {
    virtual ~Pad() {}
    long long pad[2];
};
struct Base {
    virtual ~Base() {}
    int value = 1;
};
struct Derived : Pad, Base {
    ~Derived() override { ++g_destroyed; }
};

// 1 EiB on 64-bit: impossible, and below the sizes where a new-expression
// throws bad_array_new_length (here: aborts) before calling operator new[].
volatile std::size_t g_impossible = sizeof(void*) >= 8 ? SIZE_MAX / 16 + 1 : SIZE_MAX - 65535;
// Escaping results keep the compiler from eliding the allocations.
void* volatile g_sink;

}  // namespace

int main() {
    keel_stats start = keel_get_stats();
    Huge* huge = keel::create<Huge>();
    HugeAligned* huge_aligned = keel::create<HugeAligned>();
    if (sizeof(void*) >= 8) {
        CHECK(huge == nullptr && huge_aligned == nullptr);
        CHECK(g_constructed == 0);
    }
    keel::destroy(huge);
    keel::destroy(huge_aligned);

    Derived* d = keel::create<Derived>();
    Base* b = d;
    CHECK(d != nullptr && static_cast<void*>(b) != static_cast<void*>(d));
    keel::destroy(b);
    CHECK(g_destroyed == 1);

    std::size_t n = g_impossible;
    g_sink = ::operator new(n, std::nothrow);
    CHECK(g_sink == nullptr);
    g_sink = new (std::nothrow) char[n];
    CHECK(g_sink == nullptr);
    int* one = new int(4);
    CHECK(keel_usable_size(one) >= sizeof(int));
    delete one;

    keel_stats end = keel_get_stats();
    CHECK(end.num_live_blocks == start.num_live_blocks && end.num_bytes_allocated == start.num_bytes_allocated);
    return check_done("test_cxx_noexceptions");
}
