// test_cxx_std11.cpp — keel.hpp (create/destroy and KEEL_OVERRIDE_NEW) as C++11.
#include "cxx_std_body.hpp"

static_assert(__cplusplus == 201103L, "test_cxx_std11 must be compiled as C++11");

int main() { return cxx_std::run("test_cxx_std11"); }
