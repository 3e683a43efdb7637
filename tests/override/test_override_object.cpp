// test_override_object.cpp — a C++ program that never calls malloc itself:
// only new/delete and the standard containers. Linked with keel-override.o
// it must get keel as its allocator (object_test.sh checks keel's stats at
// exit); linked with libkeel-override.a it would silently get glibc's.
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

int main() {
    std::map<std::string, std::vector<int>> index;
    for (int i = 0; i < 20000; i++) {
        std::string key = "key-" + std::to_string(i % 997) + std::string(static_cast<size_t>(i % 40), 'x');
        index[key].push_back(i);
    }
    std::vector<std::unique_ptr<long[]>> arrays;
    for (int i = 0; i < 1000; i++) {
        arrays.emplace_back(new long[static_cast<size_t>(i % 100 + 1)]());
        arrays.back()[0] = i;
    }
    long sum = 0;
    for (const auto& kv : index)
        for (int v : kv.second) sum += v;
    for (const auto& a : arrays) sum += a[0];
    std::printf("keys %zu sum %ld\n", index.size(), sum);
    return sum == 199990000L + 499500L ? 0 : 1;
}
