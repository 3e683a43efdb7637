// cxx_std_body.hpp — the body of test_cxx_std11 / test_cxx_std20: keel.hpp,
// with KEEL_OVERRIDE_NEW, compiled under another language standard (the
// including file checks which), calling keel::create/destroy and new/delete.
#ifndef KEEL_TEST_CXX_STD_BODY_HPP
#define KEEL_TEST_CXX_STD_BODY_HPP

#define KEEL_OVERRIDE_NEW
#include "keel/keel.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "check.h"

namespace cxx_std {

struct alignas(32) Pair {
    std::unique_ptr<int> first;
    std::string second;
    Pair(std::unique_ptr<int> f, const char* s) : first(std::move(f)), second(s) {}
};

inline bool balanced(const keel_stats& start) {
    keel_stats now = keel_get_stats();
    return now.num_live_blocks == start.num_live_blocks && now.num_bytes_allocated == start.num_bytes_allocated;
}

inline int run(const char* name) {
    keel_stats start = keel_get_stats();
    Pair* pair = keel::create<Pair>(std::unique_ptr<int>(new int(3)), "a string longer than the small buffer");
    CHECK(reinterpret_cast<std::uintptr_t>(pair) % 32 == 0);
    CHECK(*pair->first == 3 && pair->second.size() > 30);
    CHECK(keel_usable_size(pair) >= sizeof(Pair));
    CHECK(keel_usable_size(pair->first.get()) >= sizeof(int));  // new on keel too
    keel::destroy(pair);
    keel::destroy(static_cast<Pair*>(nullptr));
    CHECK(balanced(start));

    {
        std::vector<std::string> strings(100, std::string(50, 'v'));
        keel_stats now = keel_get_stats();
        CHECK(now.num_allocs - start.num_allocs >= 101);
        CHECK(now.num_live_blocks >= start.num_live_blocks + 101);
        CHECK(keel_usable_size(strings.data()) >= 100 * sizeof(std::string));
    }
    CHECK(balanced(start));
    return check_done(name);
}

}  // namespace cxx_std

#endif
