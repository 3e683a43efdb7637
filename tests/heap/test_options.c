/* test_options.c — the run-time options (DESIGN.md section 12): the API
   (keel_option_set/get, their errors), the environment read at start-up
   (spellings, suffixes, warnings for bad values and unknown names, the list
   under KEEL_VERBOSE=1; POSIX: the program runs itself as a child with a
   chosen environment), and that the options change what the heap does
   (purge_delay 0 gives empty memory back at once, large_cache_count,
   arena_clear_keep). Argument "child": print every option's value. */
#define _POSIX_C_SOURCE 200809L
#include "check.h"
#include "heap_test.h"

#include "keel/arena.h"
#include "keel/keel.h"

#include <errno.h>
#include <stdint.h>

#if !defined(_WIN32)
#include <sys/wait.h>
#include <unistd.h>
#endif

#define NAME "test_options"
/* large_cache_count's default (src/config.h): 64 where address space is
   plentiful, 16 on 32-bit */
#define LARGE_CACHE_COUNT (UINTPTR_MAX > 0xFFFFFFFFu ? 64 : 16)

static const char* const names[] = {
    "show_stats", "verbose", "purge_delay", "purge_thread", "limit", "profile_sample", "guarded_sample_rate", "heap_empty_cache", "segment_cache_count",
    "segment_cache_bytes", "abandoned_empty_max", "large_cache_count", "large_cache_bytes", "large_headroom",
    "arena_clear_keep", "arena_commit_min",
};
enum { NUM_NAMES = sizeof names / sizeof names[0] };

static int child(void) {
    int i;
    for (i = 0; i < NUM_NAMES; i++) printf("%s %lld\n", names[i], keel_option_get(names[i]));
    return 0;
}

/* ---- the API ---- */

static void test_api(void) {
    long long d = keel_option_get("purge_delay");
    int i;
    CHECK_NOTE(d == 500, "purge_delay's default is not 500 ms");
    CHECK(keel_option_get("large_cache_bytes") == (32ll << 20));
    CHECK(keel_option_get("show_stats") == 0 && keel_option_get("verbose") == 0);
    for (i = 0; i < NUM_NAMES; i++) {
        errno = 0;
        CHECK_NOTE(keel_option_get(names[i]) >= -1 && errno == 0, names[i]);
    }
    errno = 0;
    CHECK(!keel_option_set("no_such_option", 1) && errno == EINVAL);
    errno = 0;
    CHECK(!keel_option_set(NULL, 1) && errno == EINVAL);
    errno = 0;
    CHECK(keel_option_get("no_such_option") == -1 && errno == EINVAL);
    errno = 0;
    CHECK(keel_option_get("") == -1 && errno == EINVAL);
    /* out of range: refused, nothing changes */
    errno = 0;
    CHECK(!keel_option_set("purge_delay", -2) && errno == EINVAL);
    CHECK(keel_option_get("purge_delay") == 500);
    errno = 0;
    CHECK(!keel_option_set("verbose", 2) && errno == EINVAL);
    CHECK(keel_option_get("verbose") == 0);
    errno = 0;
    CHECK(!keel_option_set("arena_commit_min", 0) && errno == EINVAL);
    CHECK(!keel_option_set("segment_cache_count", 1ll << 40));
    /* -1 is a value of purge_delay: errno tells it from an error */
    CHECK(keel_option_set("purge_delay", -1));
    errno = 0;
    CHECK(keel_option_get("purge_delay") == -1 && errno == 0);
    /* names in any case */
    CHECK(keel_option_set("PURGE_DELAY", 250));
    CHECK(keel_option_get("purge_delay") == 250);
    CHECK(keel_option_set("purge_delay", d));
}

/* ---- the options change what the heap does ---- */

static size_t committed(void) { return keel_get_stats().virtual_memory_size; }

static void test_purge_delay(void) {
    size_t big = 8 * HT_MIB, before, kept, given;
    void* p;
    (void)keel_trim();
    /* default: a freed large block stays committed in the cache */
    p = keel_alloc(big);
    CHECK(p != NULL);
    if (p) memset(p, 1, big);
    before = committed();
    keel_free(p);
    kept = committed();
    printf(NAME ": purge_delay 500: %zu KiB committed before the free of 8 MiB, %zu KiB after\n", before >> 10, kept >> 10);
    CHECK_NOTE(kept + HT_MIB > before, "with the default purge_delay a freed 8 MiB block was not cached");
    (void)keel_trim();
    /* purge_delay 0: it goes back at once */
    CHECK(keel_option_set("purge_delay", 0));
    p = keel_alloc(big);
    CHECK(p != NULL);
    if (p) memset(p, 1, big);
    before = committed();
    keel_free(p);
    given = committed();
    printf(NAME ": purge_delay 0: %zu KiB before, %zu KiB after\n", before >> 10, given >> 10);
    CHECK_NOTE(given + big <= before + HT_MIB / 4, "with purge_delay 0 a freed 8 MiB block stayed committed");
    /* small blocks: emptied pages are not kept either */
    {
        enum { N = 40000 };
        static void* b[N];
        size_t i, full, after;
        for (i = 0; i < N; i++) {
            b[i] = keel_alloc(96);
            if (b[i]) memset(b[i], 2, 96);
        }
        full = committed();
        for (i = 0; i < N; i++) keel_free(b[i]);
        after = committed();
        printf(NAME ": purge_delay 0: %d blocks of 96 bytes: %zu KiB committed, %zu KiB after freeing them\n", N,
               full >> 10, after >> 10);
        CHECK_NOTE(after + 3 * HT_MIB <= full, "with purge_delay 0 emptied pages stayed committed");
    }
    CHECK(keel_option_set("purge_delay", 500));
    keel_validate();
}

static void test_large_cache_count(void) {
    keel_stats s0, s1;
    void* p;
    (void)keel_trim();
    CHECK(keel_option_set("large_cache_count", 0));
    s0 = keel_get_stats();
    p = keel_alloc(3 * HT_MIB);
    CHECK(p != NULL);
    keel_free(p);
    s1 = keel_get_stats();
    CHECK_NOTE(s1.num_segments == s0.num_segments, "large_cache_count 0 kept a freed large block's segment");
    CHECK(keel_option_set("large_cache_count", 16));
    p = keel_alloc(3 * HT_MIB);
    keel_free(p);
    s1 = keel_get_stats();
    CHECK_NOTE(s1.num_segments == s0.num_segments + 1, "large_cache_count 16 did not keep the freed block's segment");
    (void)keel_trim();
}

static void test_arena_options(void) {
    keel_arena a;
    CHECK(keel_option_set("arena_clear_keep", 0));
    CHECK(keel_arena_init(&a, 64 * HT_MIB));
    CHECK(a.keep_on_clear == 0);
    CHECK(keel_arena_push(&a, HT_MIB, 16) != NULL);
    keel_arena_clear(&a);
    CHECK_NOTE(a.committed == 0, "arena_clear_keep 0: keel_arena_clear kept memory committed");
    keel_arena_release(&a);
    CHECK(keel_option_set("arena_clear_keep", 1 << 20));
}

/* ---- the environment (POSIX: a child with a chosen environment) ---- */

#if !defined(_WIN32)
static char self[4096];

typedef struct run { char out[8192]; char err[8192]; int status; } run;

static void read_all(int fd, char* buf, size_t cap) {
    size_t n = 0;
    ssize_t r;
    while (n + 1 < cap && (r = read(fd, buf + n, cap - 1 - n)) > 0) n += (size_t)r;
    buf[n] = '\0';
}

/* Runs this program as "child" with exactly env (NULL-terminated). */
static void run_child(char* const env[], run* r) {
    int out[2], err[2];
    pid_t pid;
    r->out[0] = r->err[0] = '\0';
    r->status = -1;
    if (pipe(out) != 0 || pipe(err) != 0) return;
    pid = fork();
    if (pid == 0) {
        char* argv[] = {self, (char*)"child", NULL};
        dup2(out[1], 1);
        dup2(err[1], 2);
        close(out[0]), close(err[0]);
        execve(self, argv, env);
        _exit(127);
    }
    close(out[1]), close(err[1]);
    /* stderr is small: read stdout first, then stderr */
    read_all(out[0], r->out, sizeof r->out);
    read_all(err[0], r->err, sizeof r->err);
    close(out[0]), close(err[0]);
    waitpid(pid, &r->status, 0);
}

static long long value_in(const run* r, const char* name) {
    char key[64];
    const char* at;
    snprintf(key, sizeof key, "%s ", name);
    for (at = r->out; (at = strstr(at, key)) != NULL; at++)
        if (at == r->out || at[-1] == '\n') return strtoll(at + strlen(key), NULL, 10);
    return -12345;
}

static int keel_lines(const char* text) {
    int n = 0;
    const char* at;
    for (at = text; (at = strstr(at, "keel: ")) != NULL; at++)
        if (at == text || at[-1] == '\n') n++;
    return n;
}

static void test_environment(void) {
    static run r;
    char* good[] = {(char*)"KEEL_LARGE_CACHE_BYTES=64M", (char*)"KEEL_VERBOSE=off", (char*)"KEEL_SHOW_STATS=No",
                    (char*)"KEEL_PURGE_DELAY=2s", (char*)"KEEL_SEGMENT_CACHE_COUNT=7",
                    (char*)"KEEL_HEAP_EMPTY_CACHE=512KiB", (char*)"KEEL_LARGE_HEADROOM=1g",
                    (char*)"KEEL_ARENA_CLEAR_KEEP=4096", (char*)"KEELTEST_IGNORED=1", NULL};
    char* bad[] = {(char*)"KEEL_PURGE_DELAY=soon", (char*)"KEEL_LARGE_CACHE_BYTES=12Q",
                   (char*)"KEEL_SEGMENT_CACHE_COUNT=-3", (char*)"KEEL_SHOW_STAT=1", (char*)"KEEL_VERBOSE=maybe",
                   (char*)"KEEL_HEAP_EMPTY_CACHE=99999999999999999999", (char*)"KEEL_PURGE_DELAY2=1", NULL};
    char* verbose[] = {(char*)"KEEL_VERBOSE=TRUE", (char*)"KEEL_PURGE_DELAY=-1", NULL};
    char* bools[] = {(char*)"KEEL_SHOW_STATS=0", (char*)"KEEL_VERBOSE=0", (char*)"KEEL_PROFILE=", NULL};
    char line[256];
    int n;
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) {
        CHECK_NOTE(0, "cannot find this program (/proc/self/exe)");
        return;
    }
    self[len] = '\0';

    run_child(good, &r);
    CHECK(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
    CHECK_NOTE(keel_lines(r.err) == 0, r.err);
    CHECK(value_in(&r, "large_cache_bytes") == (64ll << 20));
    CHECK(value_in(&r, "verbose") == 0 && value_in(&r, "show_stats") == 0);
    CHECK(value_in(&r, "purge_delay") == 2000);
    CHECK(value_in(&r, "segment_cache_count") == 7);
    CHECK(value_in(&r, "heap_empty_cache") == 512 * 1024);
    CHECK(value_in(&r, "large_headroom") == (1ll << 30));
    CHECK(value_in(&r, "arena_clear_keep") == 4096);

    run_child(bad, &r);
    CHECK(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
    printf(NAME ": bad environment, keel says:\n%s", r.err);
    CHECK_NOTE(check_contains(r.err, "keel: KEEL_PURGE_DELAY=soon: not a number of milliseconds (or seconds with s) "
                                     "from -1 to 2147483647; purge_delay stays 500\n"), r.err);
    CHECK_NOTE(check_contains(r.err, "keel: KEEL_LARGE_CACHE_BYTES=12Q: not a number of bytes (K, M, G, T suffixes) "
                                     "from 0 to 1099511627776; large_cache_bytes stays 33554432\n"), r.err);
    CHECK_NOTE(check_contains(r.err, "keel: KEEL_SEGMENT_CACHE_COUNT=-3: not a number from 0 to 1048576; "
                                     "segment_cache_count stays 4\n"), r.err);
    CHECK_NOTE(check_contains(r.err, "keel: KEEL_VERBOSE=maybe: not 1/0, yes/no, true/false or on/off; "
                                     "verbose stays 0\n"), r.err);
    CHECK_NOTE(check_contains(r.err, "keel: KEEL_HEAP_EMPTY_CACHE=99999999999999999999: not"), r.err);
    CHECK_NOTE(check_contains(r.err, "keel: unknown option KEEL_SHOW_STAT in the environment ignored "
                                     "(KEEL_VERBOSE=1 lists the options)\n"), r.err);
    CHECK_NOTE(check_contains(r.err, "keel: unknown option KEEL_PURGE_DELAY2 in the environment"), r.err);
    CHECK_NOTE(keel_lines(r.err) == 7, "want one line per bad variable");
    CHECK(value_in(&r, "purge_delay") == 500 && value_in(&r, "large_cache_bytes") == (32ll << 20));
    CHECK(value_in(&r, "segment_cache_count") == 4 && value_in(&r, "verbose") == 0);

    run_child(verbose, &r);
    CHECK(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
    snprintf(line, sizeof line, "keel: active (pid ");
    CHECK_NOTE(strncmp(r.err, line, strlen(line)) == 0, "the first line is not 'keel: active (pid N), version V'");
    snprintf(line, sizeof line, "), version %s\n", keel_version());
    CHECK_NOTE(check_contains(r.err, line), r.err);
    CHECK(check_contains(r.err, "\nkeel: option verbose = 1 (from KEEL_VERBOSE)\n"));
    CHECK(check_contains(r.err, "\nkeel: option purge_delay = -1 (from KEEL_PURGE_DELAY)\n"));
    snprintf(line, sizeof line, "\nkeel: option large_cache_count = %d (default)\n", LARGE_CACHE_COUNT);
    CHECK_NOTE(check_contains(r.err, line), r.err);
    n = 0;
    {
        const char* at;
        for (at = r.err; (at = strstr(at, "\nkeel: option ")) != NULL; at++) n++;
    }
    CHECK_NOTE(n == NUM_NAMES, "KEEL_VERBOSE=1 does not list every option once");
    CHECK(value_in(&r, "purge_delay") == -1);

    run_child(bools, &r);
    CHECK(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
    CHECK_NOTE(keel_lines(r.err) == 0, r.err);
}
#endif

/* "envcheck": run by ctest with KEEL_LARGE_CACHE_BYTES=64M
   KEEL_PURGE_DELAY=2s KEEL_VERBOSE=off (every target, Windows included). */
static int envcheck(void) {
    CHECK(keel_option_get("large_cache_bytes") == (64ll << 20));
    CHECK(keel_option_get("purge_delay") == 2000);
    CHECK(keel_option_get("verbose") == 0);
    CHECK(keel_option_get("large_cache_count") == LARGE_CACHE_COUNT);
    return check_done(NAME " (environment)");
}

int main(int argc, char** argv) {
    if (argc > 1 && strcmp(argv[1], "child") == 0) return child();
    if (argc > 1 && strcmp(argv[1], "envcheck") == 0) return envcheck();
    ht_unbuffered();
    test_api();
    test_purge_delay();
    test_large_cache_count();
    test_arena_options();
#if !defined(_WIN32)
    /* qemu-user cannot exec a binary of its own target (no binfmt here):
       test_options_environment covers the environment there */
    if (ht_under_qemu()) printf(NAME ": note: the environment children are not run under qemu\n");
    else test_environment();
#endif
    return check_done(NAME);
}
