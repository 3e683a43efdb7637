// test_override_cxx.cpp — C++ new/delete under the preloaded override reach
// keel (through libstdc++'s malloc or direct exports): plain, array,
// aligned and nothrow forms, containers grown and moved between threads,
// std::bad_alloc for a size no machine could back.
#include "check.h"
#include "ovr.h"

#include <cstdint>
#include <map>
#include <new>
#include <string>
#include <thread>
#include <vector>

namespace {

bool owned(const void* p, size_t n) { return p && ovr.usable_size(p) >= n; }

struct alignas(256) Wide {
    unsigned char bytes[300];
};

void test_new_delete() {
    keel_stats s0 = ovr.get_stats();
    int* one = new int(42);
    keel_stats s1 = ovr.get_stats();
    CHECK(s1.num_allocs > s0.num_allocs);
    CHECK(owned(one, sizeof(int)));
    delete one;
    CHECK(ovr.get_stats().num_frees > s1.num_frees);

    char* arr = new char[10000];
    CHECK(owned(arr, 10000));
    delete[] arr;

    Wide* w = new Wide();
    CHECK(w && reinterpret_cast<std::uintptr_t>(w) % 256 == 0);
    CHECK(owned(w, sizeof(Wide)));
    delete w;
    Wide* wa = new Wide[5];
    CHECK(wa && reinterpret_cast<std::uintptr_t>(wa) % 256 == 0);
    CHECK(owned(wa, 5 * sizeof(Wide)));
    delete[] wa;

    double* nt = new (std::nothrow) double[100];
    CHECK(owned(nt, 800));
    delete[] nt;

    volatile std::size_t huge = std::size_t(1) << 46;   // 64 TiB
    char* none = new (std::nothrow) char[huge];
    CHECK(none == nullptr);
    bool threw = false;
    try {
        char* p = new char[huge];
        ovr_launder_ptr(p);   // not elided: the allocation is observed
        delete[] p;
    } catch (const std::bad_alloc&) {
        threw = true;
    }
    CHECK(threw);
}

void test_containers_across_threads() {
    std::vector<std::vector<std::string>> made(4);
    std::vector<std::thread> makers;
    for (int t = 0; t < 4; t++) {
        makers.emplace_back([t, &made] {
            std::vector<std::string> v;
            for (int i = 0; i < 20000; i++) v.push_back(std::string(static_cast<size_t>(i % 90 + 20), static_cast<char>('a' + t)));
            made[static_cast<size_t>(t)] = std::move(v);
        });
    }
    for (auto& m : makers) m.join();
    CHECK(owned(made[0].data(), made[0].size() * sizeof(std::string)));
    CHECK(owned(made[1][500].data(), 71));   // 70 characters: on the heap
    // other threads destroy them
    std::size_t total = 0;
    std::vector<std::thread> eaters;
    std::vector<std::size_t> sums(4);
    for (int t = 0; t < 4; t++) {
        std::vector<std::string> v = std::move(made[static_cast<size_t>((t + 1) % 4)]);
        eaters.emplace_back([&sums, t](std::vector<std::string> mine) {
            std::map<std::size_t, std::size_t> lengths;
            for (auto& s : mine) lengths[s.size()]++;
            std::size_t sum = 0;
            for (auto& kv : lengths) sum += kv.first * kv.second;
            sums[static_cast<size_t>(t)] = sum;
        }, std::move(v));
    }
    for (auto& e : eaters) e.join();
    for (auto s : sums) total += s;
    std::size_t want = 0;
    for (int i = 0; i < 20000; i++) want += static_cast<std::size_t>(i % 90 + 20);
    CHECK(total == 4 * want);
}

}  // namespace

int main() {
    if (!CHECK_NOTE(ovr_resolve(), "keel_* not found: run under LD_PRELOAD=libkeel-override.so"))
        return check_done("test_override_cxx");
    test_new_delete();
    test_containers_across_threads();
    ovr.validate();
    std::printf("ALLOCS %zu\n", ovr.get_stats().num_allocs);
    return check_done("test_override_cxx");
}
