/* test_heap_trim.c — memory goes back (DESIGN.md section 4): after freeing
   hundreds of MiB of small blocks the process RSS falls within a second with
   no further call (Linux), and keel_trim gives back what is left at once, in
   the calling thread's heap and in segments of exited threads. */
#define _DEFAULT_SOURCE
#include "keel/keel.h"
#include "keel/vmem.h"
#include "check.h"
#include "heap_test.h"
#include "thread_shim.h"

#include <stdint.h>

#define NAME "test_heap_trim"

#if HT_64BIT
#  define TOTAL (256 * HT_MIB)
#else
#  define TOTAL (128 * HT_MIB)
#endif

typedef struct many {
    void** p;
    size_t n;
    size_t bytes;
} many;

/* Small blocks of 64..1008 bytes up to `total` bytes, every byte written. */
static int fill_small(many* m, size_t total) {
    size_t cap = total / 64 + 1, i = 0;
    unsigned rng = 2024;
    m->p = (void**)malloc(cap * sizeof(void*));   /* the C heap, so keel's figures are only the blocks */
    m->n = 0;
    m->bytes = 0;
    if (!m->p) return 0;
    while (m->bytes < total && i < cap) {
        size_t size = 64 + (ht_rand(&rng) % 60) * 16;
        void* b = keel_alloc(size);
        if (!b) break;
        memset(b, (int)(i & 0xff) | 1, size);
        m->p[i++] = b;
        m->bytes += size;
    }
    m->n = i;
    return m->bytes >= total;
}

static void free_small(many* m) {
    size_t i;
    for (i = 0; i < m->n; i++) keel_free(m->p[i]);
    free(m->p);
    m->p = NULL;
    m->n = 0;
}

/* The promise without any call: RSS back under 64 MiB above where it was,
   one second after the frees. */
static void test_rss_falls_by_itself(void) {
#if defined(__linux__)
    many m;
    size_t rss0, rss_full, rss_after;
    keel_free(keel_alloc(100));
    rss0 = vmem_get_usage_summary().process_resident_bytes;
    CHECK(fill_small(&m, TOTAL));
    rss_full = vmem_get_usage_summary().process_resident_bytes;
    free_small(&m);
    ht_sleep_ms(1000);
    rss_after = vmem_get_usage_summary().process_resident_bytes;
    printf(NAME ": RSS %.1f MiB before, %.1f MiB with %.0f MiB of small blocks, %.1f MiB 1 s after freeing them\n",
           ht_mib(rss0), ht_mib(rss_full), ht_mib(TOTAL), ht_mib(rss_after));
    CHECK(rss0 > 0);
    if (rss_full < rss0 + TOTAL / 2)
        printf(NAME ": note: RSS did not show the blocks (%.1f MiB); the check below proves little here\n",
               ht_mib(rss_full));
    if (HT_SANITIZED)   /* their shadow memory of the freed blocks stays resident */
        printf(NAME ": note: RSS not checked under ASan/TSan\n");
    else
        CHECK_NOTE(rss_after <= rss0 + 64 * HT_MIB, "RSS did not fall under 64 MiB within 1 s of freeing");
#else
    printf(NAME ": note: the RSS check runs on Linux only\n");
#endif
}

static void test_trim_now(void) {
    many m;
    keel_stats before, full, freed, after;
    size_t given;
    (void)keel_trim();
    before = keel_get_stats();
    CHECK(fill_small(&m, TOTAL));
    full = keel_get_stats();
    free_small(&m);
    freed = keel_get_stats();
    given = keel_trim();
    after = keel_get_stats();
    ht_print_stats(NAME, "before", before);
    ht_print_stats(NAME, "full", full);
    ht_print_stats(NAME, "freed", freed);
    ht_print_stats(NAME, "trimmed", after);
    printf(NAME ": keel_trim gave back %.1f MiB\n", ht_mib(given));
    CHECK(full.virtual_memory_size >= before.virtual_memory_size + TOTAL);
    CHECK_NOTE(given > 0, "keel_trim gave nothing back after freeing everything");
    CHECK_NOTE(after.virtual_memory_size <= before.virtual_memory_size + 16 * HT_MIB,
               "virtual memory not back within 16 MiB of the start after trim");
    CHECK_NOTE(after.cached_bytes == 0, "empty memory still cached after keel_trim");
    CHECK(after.num_bytes_allocated == before.num_bytes_allocated);
    CHECK(after.peak_virtual_memory_size >= full.virtual_memory_size);
#if defined(__linux__)
    printf(NAME ": RSS after trim %.1f MiB\n", ht_mib(vmem_get_usage_summary().process_resident_bytes));
#endif
}

/* A thread fills its heap and exits; main frees the blocks; trim from main
   gives back the exited thread's segments too. */
static many orphaned;
static int orphaned_ok;

static void fill_and_exit(void* arg) {
    (void)arg;
    orphaned_ok = fill_small(&orphaned, TOTAL / 4);
}

static void test_trim_exited_thread(void) {
    keel_stats before, after;
    shim_thread t;
    shim_start s;
    size_t given;
    (void)keel_trim();
    before = keel_get_stats();
    s.fn = fill_and_exit;
    s.arg = NULL;
    if (!shim_create(&t, &s)) {
        CHECK(!"thread created");
        return;
    }
    shim_join(t);
    CHECK(orphaned_ok);
    free_small(&orphaned);
    given = keel_trim();
    after = keel_get_stats();
    printf(NAME ": exited thread: %.0f MiB freed by main, keel_trim gave back %.1f MiB; virtual %.1f -> %.1f MiB\n",
           ht_mib(TOTAL / 4), ht_mib(given), ht_mib(before.virtual_memory_size), ht_mib(after.virtual_memory_size));
    CHECK(given > 0);
    CHECK_NOTE(after.virtual_memory_size <= before.virtual_memory_size + 16 * HT_MIB,
               "the exited thread's memory was not given back");
    CHECK(after.num_bytes_allocated == before.num_bytes_allocated);
}

int main(void) {
    keel_stats s0 = keel_get_stats(), s1;
    ht_unbuffered();
    test_rss_falls_by_itself();
    test_trim_now();
    test_trim_exited_thread();
    keel_validate();
    s1 = keel_get_stats();
    CHECK(s1.num_bytes_allocated == s0.num_bytes_allocated);
    CHECK(s1.num_live_blocks == s0.num_live_blocks);
    return check_done(NAME);
}
