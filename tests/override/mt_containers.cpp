// mt_containers.cpp — a multithreaded C++ program for real_programs.sh:
// producers build items of standard containers, transformers move them
// into new containers on other threads, consumers hash and destroy them, so
// most blocks are freed by a thread other than the one that allocated them.
// The output depends on the item count alone, never on scheduling:
//   mt_containers [ITEMS] [THREADS_PER_STAGE]
//   -> "mt_containers: items N strings N checksum 0xHEX"
#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace {

struct Item {
    std::uint64_t id = 0;
    std::vector<std::string> words;
    std::map<int, std::string> table;
    std::unordered_map<std::string, std::uint64_t> counts;
    std::list<std::vector<std::uint32_t>> chunks;
    std::unique_ptr<std::vector<std::uint64_t>> numbers;
    std::shared_ptr<const std::string> tag;
};

template <class T>
class Channel {
public:
    void push(T v) {
        std::unique_lock<std::mutex> lock(mutex_);
        not_full_.wait(lock, [this] { return queue_.size() < 256; });
        queue_.push_back(std::move(v));
        not_empty_.notify_one();
    }
    bool pop(T& out) {
        std::unique_lock<std::mutex> lock(mutex_);
        not_empty_.wait(lock, [this] { return !queue_.empty() || writers_ == 0; });
        if (queue_.empty()) return false;
        out = std::move(queue_.front());
        queue_.pop_front();
        not_full_.notify_one();
        return true;
    }
    void add_writers(int n) {
        std::lock_guard<std::mutex> lock(mutex_);
        writers_ += n;
    }
    void writer_done() {
        std::lock_guard<std::mutex> lock(mutex_);
        if (--writers_ == 0) not_empty_.notify_all();
    }

private:
    std::mutex mutex_;
    std::condition_variable not_empty_, not_full_;
    std::deque<T> queue_;
    int writers_ = 0;
};

std::uint64_t mix(std::uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

std::uint64_t fnv(std::uint64_t h, const void* data, std::size_t n) {
    const unsigned char* p = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

Item make_item(std::uint64_t id) {
    Item it;
    std::uint64_t r = mix(id + 1);
    std::size_t nwords = 5 + r % 40;
    for (std::size_t i = 0; i < nwords; i++) {
        r = mix(r + i);
        it.words.emplace_back(8 + r % 120, static_cast<char>('a' + r % 26));
    }
    for (int i = 0; i < static_cast<int>(r % 30); i++) it.table[i * 7] = std::to_string(mix(r + static_cast<std::uint64_t>(i)));
    for (const auto& w : it.words) it.counts[w.substr(0, 3 + w.size() % 5)]++;
    for (int c = 0; c < 3; c++) it.chunks.emplace_back(static_cast<std::size_t>(r % 500 + 1), static_cast<std::uint32_t>(c));
    it.numbers.reset(new std::vector<std::uint64_t>(r % 2000));
    for (std::size_t i = 0; i < it.numbers->size(); i++) (*it.numbers)[i] = mix(r ^ i);
    it.tag = std::make_shared<const std::string>("item-" + std::to_string(id));
    it.id = id;
    return it;
}

// moves everything into fresh containers built on this thread
Item transform(Item in) {
    Item out;
    out.id = in.id;
    std::sort(in.words.begin(), in.words.end());
    for (auto& w : in.words) {
        w += "!";
        out.words.push_back(std::move(w));
    }
    for (auto& kv : in.table)
        if (kv.first % 2 == 0) out.table.emplace(kv.first / 2, std::move(kv.second));
    out.counts = std::move(in.counts);
    out.counts["transformed"] = in.id;
    out.chunks.splice(out.chunks.end(), in.chunks);
    out.chunks.emplace_back(64, 0xABCDu);
    out.numbers = std::move(in.numbers);
    out.numbers->resize(out.numbers->size() + 100, in.id);
    out.tag = in.tag;
    return out;
}

std::uint64_t digest(const Item& it, std::uint64_t* strings) {
    std::uint64_t h = fnv(0xcbf29ce484222325ULL, &it.id, sizeof it.id);
    for (const auto& w : it.words) h = fnv(h, w.data(), w.size());
    for (const auto& kv : it.table) {
        h = fnv(h, &kv.first, sizeof kv.first);
        h = fnv(h, kv.second.data(), kv.second.size());
    }
    std::vector<std::pair<std::string, std::uint64_t>> sorted(it.counts.begin(), it.counts.end());
    std::sort(sorted.begin(), sorted.end());
    for (const auto& kv : sorted) {
        h = fnv(h, kv.first.data(), kv.first.size());
        h = fnv(h, &kv.second, sizeof kv.second);
    }
    for (const auto& c : it.chunks) h = fnv(h, c.data(), c.size() * sizeof c[0]);
    h = fnv(h, it.numbers->data(), it.numbers->size() * sizeof(std::uint64_t));
    h = fnv(h, it.tag->data(), it.tag->size());
    *strings += it.words.size() + it.table.size() + it.counts.size();
    return h;
}

}  // namespace

int main(int argc, char** argv) {
    const std::uint64_t items = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 20000;
    const int per_stage = argc > 2 ? std::atoi(argv[2]) : 3;
    Channel<Item> made, transformed;
    std::vector<std::uint64_t> hashes(items);
    std::vector<std::uint64_t> strings(static_cast<std::size_t>(per_stage), 0);
    std::vector<std::thread> threads;

    made.add_writers(per_stage);
    transformed.add_writers(per_stage);
    for (int t = 0; t < per_stage; t++) {
        threads.emplace_back([&, t] {
            for (std::uint64_t id = static_cast<std::uint64_t>(t); id < items; id += static_cast<std::uint64_t>(per_stage))
                made.push(make_item(id));
            made.writer_done();
        });
        threads.emplace_back([&] {
            Item it;
            while (made.pop(it)) transformed.push(transform(std::move(it)));
            transformed.writer_done();
        });
        threads.emplace_back([&, t] {
            Item it;
            while (transformed.pop(it)) {
                hashes[it.id] = digest(it, &strings[static_cast<std::size_t>(t)]);
                it = Item();   // destroyed here, allocated elsewhere
            }
        });
    }
    for (auto& th : threads) th.join();

    std::uint64_t total = 0, nstrings = 0;
    for (std::uint64_t h : hashes) total = fnv(total ^ 0x9e3779b97f4a7c15ULL, &h, sizeof h);
    for (std::uint64_t s : strings) nstrings += s;
    std::printf("mt_containers: items %llu strings %llu checksum 0x%016llx\n",
                static_cast<unsigned long long>(items), static_cast<unsigned long long>(nstrings),
                static_cast<unsigned long long>(total));
    return 0;
}
