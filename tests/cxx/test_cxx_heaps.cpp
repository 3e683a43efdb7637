// test_cxx_heaps.cpp — keel.hpp's allocators and first-class heap owner
// (DESIGN.md section 11): keel::allocator, keel::heap_allocator and
// keel::unique_heap with std::vector, std::map, std::unordered_map and
// std::basic_string; every block where its allocator says, containers
// carrying their heap on copy, move and swap, a heap thrown away whole with
// the containers in it.
#include "keel/keel.hpp"

#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "check.h"

#define NAME "test_cxx_heaps"

template<class T> using hvec = std::vector<T, keel::heap_allocator<T>>;
template<class K, class V>
using hmap = std::map<K, V, std::less<K>, keel::heap_allocator<std::pair<const K, V>>>;
template<class K, class V>
using humap = std::unordered_map<K, V, std::hash<K>, std::equal_to<K>, keel::heap_allocator<std::pair<const K, V>>>;
typedef std::basic_string<char, std::char_traits<char>, keel::heap_allocator<char>> hstring;

struct alignas(64) wide {
    unsigned char bytes[64];
};

static void test_default_allocator() {
    std::vector<int, keel::allocator<int>> v;
    for (int i = 0; i < 10000; i++) v.push_back(i);
    CHECK(v.size() == 10000 && v[9999] == 9999);
    CHECK(keel_usable_size(v.data()) >= v.capacity() * sizeof(int));   // a keel block
    CHECK(keel_heap_of(v.data()) == nullptr);                          // of the default heap
    std::vector<wide, keel::allocator<wide>> w(5);
    CHECK(reinterpret_cast<std::uintptr_t>(w.data()) % 64 == 0);
    CHECK(keel::allocator<int>() == keel::allocator<double>());
    std::map<int, int, std::less<int>, keel::allocator<std::pair<const int, int>>> m;
    for (int i = 0; i < 1000; i++) m[i] = -i;
    CHECK(m.size() == 1000 && m[500] == -500);
}

static void test_heap_allocator() {
    keel::unique_heap heap;
    keel::unique_heap other;
    CHECK(heap.get() != nullptr && other.get() != nullptr);
    keel::heap_allocator<int> a(heap.get());
    keel::heap_allocator<double> b(a);   // converted: the same heap
    CHECK(a == b && b.heap() == heap.get());
    CHECK(a != keel::heap_allocator<int>(other.get()));
    CHECK(keel::heap_allocator<int>() == keel::heap_allocator<long>(nullptr));

    hvec<int> v(a);
    for (int i = 0; i < 100000; i++) v.push_back(i * 3);
    CHECK(keel_heap_of(v.data()) == heap.get());
    CHECK(v[12345] == 12345 * 3);

    hmap<int, std::string> m{keel::heap_allocator<std::pair<const int, std::string>>(heap.get())};
    for (int i = 0; i < 2000; i++) m.emplace(i, std::string(static_cast<std::size_t>(i % 50), 'x'));
    CHECK(m.size() == 2000 && m[49].size() == 49);
    CHECK(keel_heap_of(&*m.begin()) == heap.get());   // its nodes: the rebound allocator

    humap<std::uint64_t, int> u{16, std::hash<std::uint64_t>(), std::equal_to<std::uint64_t>(),
                                keel::heap_allocator<std::pair<const std::uint64_t, int>>(heap.get())};
    for (std::uint64_t i = 0; i < 5000; i++) u[i * 7919] = static_cast<int>(i);
    CHECK(u.size() == 5000 && u[7919 * 4999ULL] == 4999);
    CHECK(keel_heap_of(&*u.begin()) == heap.get());

    hstring s(keel::heap_allocator<char>(heap.get()));
    for (int i = 0; i < 1000; i++) s += "keel";
    CHECK(s.size() == 4000 && s.compare(0, 8, "keelkeel") == 0);
    CHECK(keel_heap_of(s.data()) == heap.get());

    // copies, moves and swaps carry the heap
    hvec<int> w(keel::heap_allocator<int>(other.get()));
    w.push_back(1);
    w = v;   // propagate_on_container_copy_assignment
    CHECK(w.get_allocator().heap() == heap.get() && keel_heap_of(w.data()) == heap.get() && w[7] == 21);
    hvec<int> x(keel::heap_allocator<int>(other.get()));
    x.push_back(5);
    x.swap(w);
    CHECK(x.get_allocator().heap() == heap.get() && w.get_allocator().heap() == other.get());
    CHECK(keel_heap_of(w.data()) == other.get() && w[0] == 5);
    hvec<int> y(std::move(x));
    CHECK(y.get_allocator().heap() == heap.get() && y.size() == 100000);

    keel_stats st = keel_heap_get_stats(heap.get());
    CHECK(st.num_live_blocks > 2000);
    // containers go before the heaps (declared after them)
}

// A heap thrown away whole: the containers in it are never destroyed.
static void test_throw_away() {
    keel_stats before = keel_get_stats();
    {
        keel::unique_heap heap;
        typedef hmap<int, hvec<int>> nested;
        keel::heap_allocator<nested> alloc(heap.get());
        nested* m = new (keel_heap_alloc(heap.get(), sizeof(nested))) nested(alloc);
        for (int i = 0; i < 3000; i++) {
            hvec<int> row(alloc);
            row.assign(static_cast<std::size_t>(i % 40 + 1), i);
            m->emplace(i, std::move(row));
        }
        CHECK(m->size() == 3000 && (*m)[2999].size() == 2999 % 40 + 1);
        CHECK(keel_get_stats().num_live_blocks > before.num_live_blocks + 6000);
        // no destructor for *m: the heap takes every block with it
    }
    keel_stats after = keel_get_stats();
    CHECK(after.num_live_blocks == before.num_live_blocks);
    CHECK(after.num_bytes_allocated == before.num_bytes_allocated);
    keel_validate();
}

static void test_unique_heap_moves() {
    keel::unique_heap a;
    keel_heap* h = a.get();
    keel::unique_heap b(std::move(a));
    CHECK(a.get() == nullptr && b.get() == h);
    keel::unique_heap c;
    c = std::move(b);   // c's own heap is destroyed
    CHECK(c.get() == h && b.get() == nullptr);
    keel_heap* raw = c.release();
    CHECK(raw == h && c.get() == nullptr);
    c.reset(raw);   // adopted again, destroyed by c's destructor
    CHECK(c.get() == h);
    keel::unique_heap none(nullptr);   // owns nothing: destroying it does nothing
    CHECK(none.get() == nullptr);
}

#if KEEL_HPP_EXCEPTIONS
static void test_bad_alloc() {
    keel::unique_heap heap;
    bool threw = false;
    CHECK(keel_heap_set_limit(heap.get(), std::size_t(1) << 20));
    try {
        hvec<char> v(keel::heap_allocator<char>(heap.get()));
        v.resize(std::size_t(4) << 20);
    } catch (const std::bad_alloc&) {
        threw = true;
    }
    CHECK(threw);   // the heap's cap, as std::bad_alloc
    threw = false;
    try {
        keel::heap_allocator<std::uint64_t> a(heap.get());
        (void)a.allocate(static_cast<std::size_t>(-1) / 4);   // n * sizeof(T) overflows
    } catch (const std::bad_alloc&) {
        threw = true;
    }
    CHECK(threw);
}
#endif

int main() {
    test_default_allocator();
    test_heap_allocator();
    test_throw_away();
    test_unique_heap_moves();
#if KEEL_HPP_EXCEPTIONS
    test_bad_alloc();
#endif
    return check_done(NAME);
}
