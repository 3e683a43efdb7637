// test_cxx_override_new.cpp — KEEL_OVERRIDE_NEW (keel/keel.hpp): every global
// operator new/delete form, new-expressions and the standard containers
// allocate from keel. Seen through keel_get_stats() (num_allocs and
// num_live_blocks grow; num_bytes_allocated and num_live_blocks come back
// exactly after the deletes) and keel_usable_size() (keel owns the block).
// Out of memory: the new_handler loop, std::bad_alloc, nullptr from the
// nothrow forms.
#define KEEL_OVERRIDE_NEW
#include "keel/keel.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "check.h"

namespace {

// More than any machine can back; volatile so the compiler neither folds
// it nor warns about it. New-expressions get 1 EiB: compilers throw
// bad_array_new_length themselves, without calling operator new[], for
// sizes near PTRDIFF_MAX (g++ 12 does for new (std::nothrow) int[SIZE_MAX/8]).
volatile std::size_t g_impossible = sizeof(void*) >= 8 ? SIZE_MAX / 2 : SIZE_MAX - 65535;
volatile std::size_t g_impossible_array = sizeof(void*) >= 8 ? SIZE_MAX / 16 + 1 : SIZE_MAX / 2 - 65535;
std::size_t impossible() { return g_impossible; }
std::size_t impossible_array() { return g_impossible_array; }

// Results of new-expressions go here: a pointer that escapes keeps the
// compiler from eliding the allocation (clang -O2 removes an unused
// new/delete pair, and folds "new (std::nothrow) ... == nullptr" to false).
void* volatile g_sink;
template<class T>
T* keep(T* p) {
    g_sink = p;
    return p;
}

bool aligned_to(const void* p, std::size_t alignment) {
    return reinterpret_cast<std::uintptr_t>(p) % alignment == 0;
}

bool balanced(const keel_stats& start) {
    keel_stats now = keel_get_stats();
    return now.num_live_blocks == start.num_live_blocks && now.num_bytes_allocated == start.num_bytes_allocated;
}

std::size_t allocs_since(const keel_stats& start) {
    return keel_get_stats().num_allocs - start.num_allocs;
}

// Blocks live now that were not at start (signed: fewer would be a bug too).
long long live_since(const keel_stats& start) {
    return static_cast<long long>(keel_get_stats().num_live_blocks) - static_cast<long long>(start.num_live_blocks);
}

struct Thrown {};
struct ThrowsInCtor {
    int value;
    ThrowsInCtor() : value(0) { throw Thrown(); }
};

void test_new_expressions() {
    keel_stats start = keel_get_stats();

    int* one = new int(5);
    CHECK(allocs_since(start) == 1);
    CHECK(live_since(start) == 1);
    CHECK(keel_usable_size(one) >= sizeof(int));  // a keel block (and it escapes)
    CHECK(*one == 5);
    delete one;
    CHECK(balanced(start));

    int* ten = new int[10]();
    CHECK(allocs_since(start) == 2);
    CHECK(live_since(start) == 1);
    CHECK(keel_usable_size(ten) >= 10 * sizeof(int));
    CHECK(ten[9] == 0);
    delete[] ten;
    CHECK(balanced(start));

    std::string* text = new (std::nothrow) std::string("nothrow");
    CHECK(text != nullptr && *text == "nothrow");
    CHECK(keel_usable_size(text) >= sizeof(std::string));
    delete text;
    CHECK(balanced(start));

    // Zero bytes: unique pointers.
    char* empty_a = new char[0];
    char* empty_b = new char[0];
    void* zero = ::operator new(0);
    CHECK(empty_a && empty_b && zero && empty_a != empty_b && static_cast<void*>(empty_a) != zero);
    delete[] empty_a;
    delete[] empty_b;
    ::operator delete(zero);
    CHECK(balanced(start));

    // A constructor that throws: the runtime calls the matching delete.
    bool caught = false;
    try {
        ThrowsInCtor* t = keep(new ThrowsInCtor);
        delete t;
    } catch (const Thrown&) {
        caught = true;
    }
    CHECK(caught);
    caught = false;
    try {
        ThrowsInCtor* t = keep(new (std::nothrow) ThrowsInCtor);  // nothrow delete
        delete t;
    } catch (const Thrown&) {
        caught = true;
    }
    CHECK(caught);
    CHECK(allocs_since(start) >= 7);
    CHECK(balanced(start));
}

// Every non-aligned form, called directly.
void test_operator_forms() {
    keel_stats start = keel_get_stats();
    void* a = ::operator new(100);
    void* b = ::operator new[](200);
    void* c = ::operator new(300, std::nothrow);
    void* d = ::operator new[](400, std::nothrow);
    CHECK(a && b && c && d);
    CHECK(allocs_since(start) == 4);
    CHECK(live_since(start) == 4);
    CHECK(keel_usable_size(a) >= 100 && keel_usable_size(b) >= 200);
    CHECK(keel_usable_size(c) >= 300 && keel_usable_size(d) >= 400);
    CHECK(aligned_to(a, 16) && aligned_to(b, 16) && aligned_to(c, 16) && aligned_to(d, 16));
    ::operator delete(a);
    ::operator delete[](b);
    ::operator delete(c, std::nothrow);
    ::operator delete[](d, std::nothrow);
    CHECK(balanced(start));

#if __cplusplus >= 201402L
    void* e = ::operator new(1000);
    void* f = ::operator new[](2000);
    ::operator delete(e, 1000);    // sized
    ::operator delete[](f, 2000);  // sized array
    CHECK(balanced(start));
#endif
    keel_stats end = keel_get_stats();
    CHECK(end.num_frees - start.num_frees == end.num_allocs - start.num_allocs);
}

#ifdef __cpp_aligned_new
struct alignas(256) Over256 {
    unsigned char bytes[300];
    Over256() : bytes() { bytes[299] = 1; }
};
struct alignas(128) AlignedThrowsInCtor {
    int value;
    AlignedThrowsInCtor() : value(0) { throw Thrown(); }
};

void test_aligned() {
    keel_stats start = keel_get_stats();

    Over256* one = new Over256;
    CHECK(aligned_to(one, 256) && one->bytes[299] == 1);
    CHECK(keel_usable_size(one) >= sizeof(Over256));
    delete one;  // sized aligned delete where sized deallocation is on
    Over256* three = new Over256[3];
    CHECK(aligned_to(three, 256) && aligned_to(&three[1], 256));
    CHECK(keel_usable_size(three) >= 3 * sizeof(Over256));
    delete[] three;
    Over256* quiet = new (std::nothrow) Over256;
    CHECK(quiet && aligned_to(quiet, 256));
    delete quiet;
    CHECK(allocs_since(start) == 3);
    CHECK(balanced(start));

    bool caught = false;
    try {
        AlignedThrowsInCtor* t = keep(new AlignedThrowsInCtor);
        delete t;
    } catch (const Thrown&) {
        caught = true;
    }
    CHECK(caught);
    caught = false;
    try {
        AlignedThrowsInCtor* t = keep(new (std::nothrow) AlignedThrowsInCtor);  // aligned nothrow delete
        delete t;
    } catch (const Thrown&) {
        caught = true;
    }
    CHECK(caught);
    CHECK(balanced(start));

    // Every aligned form, called directly; a page and 64 KiB too.
    const std::align_val_t page = std::align_val_t(4096);
    const std::align_val_t big = std::align_val_t(65536);
    void* a = ::operator new(100, page);
    void* b = ::operator new[](200, big);
    void* c = ::operator new(300, page, std::nothrow);
    void* d = ::operator new[](400, big, std::nothrow);
    void* e = ::operator new(500, page);
    void* f = ::operator new[](600, page);
    void* z = ::operator new(0, page);
    CHECK(a && b && c && d && e && f && z);
    CHECK(aligned_to(a, 4096) && aligned_to(b, 65536) && aligned_to(c, 4096) && aligned_to(d, 65536));
    CHECK(aligned_to(e, 4096) && aligned_to(f, 4096) && aligned_to(z, 4096));
    CHECK(keel_usable_size(a) >= 100 && keel_usable_size(d) >= 400 && keel_usable_size(f) >= 600);
    ::operator delete(a, page);
    ::operator delete[](b, big);
    ::operator delete(c, page, std::nothrow);
    ::operator delete[](d, big, std::nothrow);
    ::operator delete(e, 500, page);    // sized aligned
    ::operator delete[](f, 600, page);  // sized aligned array
    ::operator delete(z, page);
    CHECK(balanced(start));

    // Out of memory.
    std::set_new_handler(nullptr);
    caught = false;
    try {
        void* p = keep(::operator new(impossible(), page));
        ::operator delete(p, page);
    } catch (const std::bad_alloc&) {
        caught = true;
    }
    CHECK(caught);
    CHECK(keep(::operator new(impossible(), page, std::nothrow)) == nullptr);
    CHECK(keep(::operator new[](impossible(), big, std::nothrow)) == nullptr);
    CHECK(balanced(start));
}
#endif

void test_containers() {
    keel_stats start = keel_get_stats();
    {
        std::vector<std::string> strings;
        for (int i = 0; i < 1000; i++) {
            strings.push_back(std::string(40, static_cast<char>('a' + i % 26)));  // past the SSO buffer
        }
        // 1000 string buffers plus the vector's growth.
        CHECK(allocs_since(start) >= 1000 + 10);
        CHECK(live_since(start) >= 1000 + 1);
        CHECK(keel_usable_size(strings.data()) >= strings.size() * sizeof(std::string));
        CHECK(keel_usable_size(strings[999].data()) >= 41);
        CHECK(strings[27] == std::string(40, 'b'));
    }
    CHECK(balanced(start));

    {
        std::string grown;
        for (int i = 0; i < 5000; i++) grown += static_cast<char>('0' + i % 10);  // grows inside the library
        CHECK(keel_usable_size(grown.data()) > grown.size());
        CHECK(grown.size() == 5000 && grown[4999] == '9');
    }
    CHECK(balanced(start));

    {
        keel_stats before = keel_get_stats();
        std::map<int, std::string> map;
        for (int i = 0; i < 200; i++) map[i] = std::string(32, 'm');
        CHECK(allocs_since(before) >= 400);  // a node and a buffer each
        CHECK(live_since(before) >= 400);
        CHECK(map.size() == 200 && map[150] == std::string(32, 'm'));
        map.erase(map.begin(), map.find(100));
        CHECK(map.size() == 100);
    }
    CHECK(balanced(start));

    {
        keel_stats before = keel_get_stats();
        std::shared_ptr<std::string> shared = std::make_shared<std::string>(50, 's');
        std::unique_ptr<long[]> array(new long[64]());
        CHECK(allocs_since(before) >= 3);
        CHECK(live_since(before) >= 3);
        CHECK(keel_usable_size(array.get()) >= 64 * sizeof(long));
        CHECK(shared->size() == 50 && array[63] == 0);
    }
    CHECK(balanced(start));
}

int g_handler_calls;
// Gives up after three calls by uninstalling itself, as the standard allows.
void handler_gives_up_after_three() {
    if (++g_handler_calls == 3) std::set_new_handler(nullptr);
}
void handler_throws() {
    ++g_handler_calls;
    throw std::bad_alloc();
}

void test_out_of_memory() {
    keel_stats start = keel_get_stats();
    std::set_new_handler(nullptr);

    bool caught = false;
    try {
        void* p = keep(::operator new(impossible()));
        ::operator delete(p);
    } catch (const std::bad_alloc&) {
        caught = true;
    }
    CHECK(caught);
    CHECK(keep(::operator new(impossible(), std::nothrow)) == nullptr);
    CHECK(keep(::operator new[](impossible(), std::nothrow)) == nullptr);

    // new char[n]: the new-expression reaches operator new[] (the handler
    // count shows it), which retries after each handler call.
    g_handler_calls = 0;
    std::set_new_handler(handler_gives_up_after_three);
    caught = false;
    try {
        char* p = keep(new char[impossible_array()]);
        delete[] p;
    } catch (const std::bad_alloc&) {
        caught = true;
    }
    CHECK(caught);
    CHECK(g_handler_calls == 3);
    CHECK(std::get_new_handler() == nullptr);

    // The nothrow forms run the handler loop too, then return nullptr.
    g_handler_calls = 0;
    std::set_new_handler(handler_gives_up_after_three);
    CHECK(keep(::operator new(impossible(), std::nothrow)) == nullptr);
    CHECK(g_handler_calls == 3);

    // A handler that throws bad_alloc: it propagates from the throwing form,
    // and the nothrow form turns it into nullptr.
    g_handler_calls = 0;
    std::set_new_handler(handler_throws);
    caught = false;
    try {
        void* p = keep(::operator new[](impossible()));
        ::operator delete[](p);
    } catch (const std::bad_alloc&) {
        caught = true;
    }
    CHECK(caught);
    CHECK(g_handler_calls == 1);
    char* none = keep(new (std::nothrow) char[impossible_array()]);
    CHECK(none == nullptr);
    CHECK(g_handler_calls == 2);
    std::set_new_handler(nullptr);

    CHECK(balanced(start));
}

}  // namespace

int main() {
    test_new_expressions();
    test_operator_forms();
#ifdef __cpp_aligned_new
    test_aligned();
#endif
    test_containers();
    test_out_of_memory();
    return check_done("test_cxx_override_new");
}
