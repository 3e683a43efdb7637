// test_cxx_std20.cpp — keel.hpp (create/destroy and KEEL_OVERRIDE_NEW) as C++20.
#include "cxx_std_body.hpp"

static_assert(__cplusplus > 201703L, "test_cxx_std20 must be compiled as C++20");

int main() { return cxx_std::run("test_cxx_std20"); }
