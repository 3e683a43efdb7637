/* test_stats_print.c — keel_stats_print (DESIGN.md section 12): every line
   of the report, in human units, through a callback; the size-class rows
   of blocks this program holds and the large-block row; coherent numbers;
   the sampled peak of live bytes; threads seen; out NULL writing to fd 2
   (and nothing, without crashing, when fd 2 is closed); and KEEL_SHOW_STATS=1
   printing the report at exit of a program linked with libkeel.a
   (argv[1]: stats_exit_child). POSIX-only parts are marked. */
#define _DEFAULT_SOURCE
#include "keel/keel.h"
#include "check.h"
#include "heap_test.h"
#include "thread_shim.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#if !defined(_WIN32)
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

#define NAME "test_stats_print"

/* ---- capturing the report ---- */

typedef struct capture { char text[64 << 10]; size_t len; int calls, bad_lines; } capture;
static capture cap;

static void to_buffer(const char* line, void* user_data) {
    capture* c = (capture*)user_data;
    size_t n = strlen(line);
    c->calls++;
    if (strncmp(line, "keel: ", 6) != 0 || n == 0 || line[n - 1] != '\n' || memchr(line, '\n', n - 1)) c->bad_lines++;
    if (c->len + n < sizeof c->text) {
        memcpy(c->text + c->len, line, n + 1);
        c->len += n;
    }
}

static const char* report(void) {
    cap.len = 0;
    cap.text[0] = '\0';
    cap.calls = cap.bad_lines = 0;
    keel_stats_print(to_buffer, &cap);
    return cap.text;
}

/* The line that starts with prefix ("keel: live "), or NULL. */
static const char* line_of(const char* text, const char* prefix) {
    const char* at = text;
    size_t n = strlen(prefix);
    while (at && *at) {
        if (strncmp(at, prefix, n) == 0) return at;
        at = strchr(at, '\n');
        if (at) at++;
    }
    return NULL;
}

/* "12.5 MiB" -> bytes; -1 when it is not a size. */
static double unit_bytes(double v, const char* unit) {
    if (strcmp(unit, "B") == 0) return v;
    if (strcmp(unit, "KiB") == 0) return v * 1024.0;
    if (strcmp(unit, "MiB") == 0) return v * 1048576.0;
    if (strcmp(unit, "GiB") == 0) return v * 1073741824.0;
    return -1;
}

/* The size right after prefix on its line ("keel: live " -> live bytes). */
static double size_after(const char* line, const char* prefix) {
    const char* p = line ? strstr(line, prefix) : NULL;
    double v;
    char unit[8];
    if (!p || sscanf(p + strlen(prefix), "%lf %7[A-Za-z]", &v, unit) != 2) return -1;
    return unit_bytes(v, unit);
}

/* one row of the size-class table */
typedef struct row { unsigned long cls; double block, bytes, committed, use; unsigned long blocks, pages; } row;

static int parse_row(const char* line, row* r) {
    char u1[8], u2[8], u3[8];
    double b1, b2, b3;
    if (sscanf(line, "keel: %lu %lf %7s %lu %lf %7s %lu %lf %7s %lf%%", &r->cls, &b1, u1, &r->blocks, &b2, u2,
               &r->pages, &b3, u3, &r->use) != 10)
        return 0;
    r->block = unit_bytes(b1, u1);
    r->bytes = unit_bytes(b2, u2);
    r->committed = unit_bytes(b3, u3);
    return r->block > 0 && r->bytes >= 0 && r->committed >= 0;
}

/* The class row whose block size is usable (rounded as printed), or 0. */
/* The row of the class of blocks whose usable size is usable: that block
   size (as the report rounds it); in the hardened build the smallest class
   with room for an 8-byte canary too (src/harden.h: classes are at most
   12.5% apart). */
static int find_row(const char* text, size_t usable, row* r) {
    const char* at = text;
    double lo = (double)usable * 0.95, hi = (double)usable * 1.05;
    if (KEEL_HARDENED) {
        lo = (double)(usable + 8) * 0.95;
        hi = (double)(usable + 8) * 1.15 + 16;
    }
    while ((at = line_of(at, "keel: ")) != NULL) {
        if (parse_row(at, r) && r->block >= lo && r->block <= hi) return 1;
        at = strchr(at, '\n');
        if (!at) break;
        at++;
    }
    return 0;
}

static int near_or_above(double got, double want) { return got >= want * 0.95 - 1; }

/* ---- the report's content ---- */

static void test_report(void) {
    enum { N48 = 100, N1K = 50, N20K = 20 };
    static void* a[N48];
    static void* b[N1K];
    static void* c[N20K];
    void* large = keel_alloc(2 * HT_MIB);   /* past the big classes: a large block */
    const char* text;
    const char* ln;
    char note[200];
    unsigned long pid = 0, allocs = 0, frees = 0, blocks = 0, seen = 0, alive = 0, segs = 0;
    double live, peak_live, committed, peak_committed, reserved, cached;
    row r;
    size_t i;
    for (i = 0; i < N48; i++) a[i] = keel_alloc(48);
    for (i = 0; i < N1K; i++) b[i] = keel_alloc(1000);
    for (i = 0; i < N20K; i++) c[i] = keel_alloc(20000);
    CHECK(large != NULL && a[N48 - 1] && b[N1K - 1] && c[N20K - 1]);

    text = report();
    CHECK_NOTE(cap.calls >= 10 && cap.bad_lines == 0, text);   /* one "keel: ...\n" line per call */

    ln = line_of(text, "keel: stats (pid ");
    CHECK_NOTE(ln && sscanf(ln, "keel: stats (pid %lu)", &pid) == 1, text);
#if !defined(_WIN32)
    CHECK(pid == (unsigned long)getpid());
#endif
    CHECK_NOTE(text == ln, "the title comes first");

    ln = line_of(text, "keel: live ");
    live = size_after(ln, "keel: live ");
    peak_live = size_after(ln, "(peak ");
    CHECK_NOTE(ln && sscanf(strstr(ln, " in ") ? strstr(ln, " in ") : "", " in %lu blocks", &blocks) == 1, text);
    CHECK_NOTE(ln && strstr(ln, ", sampled)") != NULL, ln);
    CHECK_NOTE(live >= (double)(N48 * 48 + N1K * 1000 + N20K * 20000 + 2 * HT_MIB) * 0.95, ln);
    CHECK_NOTE(peak_live >= live, ln);

    ln = line_of(text, "keel: committed ");
    committed = size_after(ln, "keel: committed ");
    peak_committed = size_after(ln, "(peak ");
    reserved = size_after(ln, "reserved ");
    cached = size_after(ln, "cached ");
    CHECK_NOTE(committed > 0 && peak_committed > 0 && reserved > 0 && cached >= 0, ln ? ln : text);
    CHECK_NOTE(live <= committed && committed <= peak_committed && committed <= reserved && cached <= committed, text);

    ln = line_of(text, "keel: process RSS ");
    CHECK_NOTE(ln != NULL, text);
#if defined(__linux__)
    CHECK_NOTE(size_after(ln, "RSS ") > 0 && size_after(ln, "(peak ") >= size_after(ln, "RSS "), ln ? ln : text);
#endif

    ln = line_of(text, "keel: allocs ");
    CHECK_NOTE(ln && sscanf(ln, "keel: allocs %lu, frees %lu", &allocs, &frees) == 2, text);
    CHECK(allocs >= N48 + N1K + N20K + 1 && allocs - frees == blocks);

    ln = line_of(text, "keel: threads seen ");
    CHECK_NOTE(ln && sscanf(ln, "keel: threads seen %lu, heaps alive %lu, segments %lu", &seen, &alive, &segs) == 3,
               text);
    CHECK(seen >= 1 && alive >= 1 && seen >= alive && segs >= 2);

    ln = line_of(text, "keel: elapsed ");
    {
        double el = -1, cpu = -1, us = -1, sy = -1;
        CHECK_NOTE(ln && sscanf(ln, "keel: elapsed %lf s, CPU %lf s (user %lf s, system %lf s)", &el, &cpu, &us, &sy) == 4,
                   text);
        CHECK(el >= 0 && cpu >= 0 && us >= 0 && sy >= 0 && cpu >= us && cpu >= sy);
    }
    CHECK_NOTE(line_of(text, "keel: class  block size  live blocks  live bytes  pages   committed   use %") != NULL, text);

    /* a row per class in use, with at least this program's blocks */
    {
        static const size_t sizes[3] = {48, 1000, 20000};
        static const size_t counts[3] = {N48, N1K, N20K};
        void* const firsts[3] = {a[0], b[0], c[0]};
        int k;
        for (k = 0; k < 3; k++) {
            size_t usable = keel_usable_size(firsts[k]);
            snprintf(note, sizeof note, "the row of %lu-byte blocks (usable %lu)", (unsigned long)sizes[k],
                     (unsigned long)usable);
            if (!CHECK_NOTE(find_row(text, usable, &r), note)) continue;
            CHECK_NOTE(r.blocks >= counts[k] && r.pages >= 1, note);
            CHECK_NOTE(near_or_above(r.bytes, (double)(counts[k] * usable)), note);
            CHECK_NOTE(r.committed >= r.bytes && r.use > 0 && r.use <= 100.0, note);
        }
    }
    ln = line_of(text, "keel: large ");
    {
        unsigned long lb = 0, lp = 0;
        double v1, v2;
        char u1[8], u2[8];
        CHECK_NOTE(ln && sscanf(ln, "keel: large - %lu %lf %7s %lu %lf %7s", &lb, &v1, u1, &lp, &v2, u2) == 6, text);
        CHECK_NOTE(lb >= 1 && lp >= 1 && unit_bytes(v1, u1) >= (double)(2 * HT_MIB) && unit_bytes(v2, u2) >= unit_bytes(v1, u1),
                   ln ? ln : text);
        CHECK_NOTE(ln && strchr(ln, '\n') && strchr(ln, '\n')[1] == '\0', "the large row comes last");
    }

    for (i = 0; i < N48; i++) keel_free(a[i]);
    for (i = 0; i < N1K; i++) keel_free(b[i]);
    for (i = 0; i < N20K; i++) keel_free(c[i]);
    keel_free(large);
}

/* The peak of live bytes between readings: sampled as committed memory
   grows, so a burst that no reading saw still shows. */
static void test_sampled_peak(void) {
    enum { N = 1024 };
    static void* blocks[N];
    size_t i, want = (size_t)N * 32 * HT_KIB;   /* 32 MiB */
    double peak;
    const char* ln;
    (void)keel_get_stats();   /* a reading: sampling starts from here */
    for (i = 0; i < N; i++) blocks[i] = keel_alloc(32 * HT_KIB);
    for (i = 0; i < N; i++) keel_free(blocks[i]);
    ln = line_of(report(), "keel: live ");
    peak = size_after(ln, "(peak ");
    CHECK_NOTE(peak >= (double)want * 0.75, ln ? ln : cap.text);   /* a sample at least every 12.5% of growth */
}

static void thread_body(void* arg) { keel_free(keel_alloc((size_t)(uintptr_t)arg)); }

static unsigned long threads_seen(void) {
    unsigned long seen = 0;
    const char* ln = line_of(report(), "keel: threads seen ");
    if (!ln || sscanf(ln, "keel: threads seen %lu", &seen) != 1) return 0;
    return seen;
}

static void test_threads_seen(void) {
    unsigned long before = threads_seen();
    shim_thread t;
    shim_start s = {thread_body, (void*)(uintptr_t)100};
    if (!CHECK(shim_create(&t, &s))) return;
    shim_join(t);
    CHECK(before >= 1 && threads_seen() >= before + 1);
}

#if !defined(_WIN32)
/* Reads a file into buf (NUL-terminated). */
static size_t read_file(int fd, char* buf, size_t cap_bytes) {
    size_t len = 0;
    ssize_t n;
    lseek(fd, 0, SEEK_SET);
    while (len < cap_bytes - 1 && (n = read(fd, buf + len, cap_bytes - 1 - len)) > 0) len += (size_t)n;
    buf[len] = '\0';
    return len;
}

static int temp_file(void) {
    char path[] = "/tmp/keel-stats-print-XXXXXX";
    int fd = mkstemp(path);
    if (fd >= 0) unlink(path);
    return fd;
}

/* out NULL: the same report, raw, on fd 2; nothing (and no crash) when
   fd 2 is closed. */
static void test_to_fd2(void) {
    static char buf[64 << 10];
    int fd = temp_file(), saved;
    size_t len;
    void* p = keel_alloc(777);
    if (!CHECK(fd >= 0 && p != NULL)) return;
    fflush(stderr);
    saved = dup(2);
    dup2(fd, 2);
    keel_stats_print(NULL, NULL);
    close(2);   /* fd 2 closed */
    keel_stats_print(NULL, NULL);
    dup2(saved, 2);
    close(saved);
    len = read_file(fd, buf, sizeof buf);
    close(fd);
    CHECK_NOTE(len > 0 && strncmp(buf, "keel: stats (pid ", 17) == 0, buf);
    CHECK_NOTE(line_of(buf, "keel: allocs ") && line_of(buf, "keel: large ") && line_of(buf, "keel: live "), buf);
    {   /* one report only: the closed fd 2 got nothing, and every line is keel's */
        const char* at = buf;
        int titles = 0, foreign = 0;
        while (at && *at) {
            if (strncmp(at, "keel: stats (pid ", 17) == 0) titles++;
            if (strncmp(at, "keel: ", 6) != 0) foreign++;
            at = strchr(at, '\n');
            if (at) at++;
        }
        CHECK_NOTE(titles == 1 && foreign == 0, buf);
    }
    keel_free(p);
}

/* KEEL_SHOW_STATS=1: the child prints the report at exit. */
static void test_show_stats_child(const char* child) {
    static char buf[64 << 10];
    char want[64];
    int fd = temp_file(), status = 0;
    pid_t pid;
    const char* ln;
    unsigned long allocs = 0, frees = 0, live = 0;
    if (!CHECK_NOTE(child != NULL, "usage: test_stats_print PATH-TO-stats_exit_child")) return;
    if (!CHECK(fd >= 0)) return;
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid == 0) {
        char* const args[] = {(char*)child, NULL};
        dup2(fd, 1);
        dup2(fd, 2);
        setenv("KEEL_SHOW_STATS", "1", 1);
        execv(child, args);
        _exit(127);
    }
    if (!CHECK(pid > 0)) return;
    CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    read_file(fd, buf, sizeof buf);
    close(fd);
    snprintf(want, sizeof want, "keel: stats at exit (pid %lu)\n", (unsigned long)pid);
    CHECK_NOTE(strstr(buf, want) != NULL, buf);
    CHECK_NOTE(strstr(buf, "stats_exit_child: 301 passed, 0 failed") != NULL, buf);
    /* after the program's own last line: the report comes at exit */
    CHECK_NOTE(strstr(buf, want) > strstr(buf, "stats_exit_child: "), buf);
    ln = line_of(buf, "keel: allocs ");
    CHECK_NOTE(ln && sscanf(ln, "keel: allocs %lu, frees %lu", &allocs, &frees) == 2 && allocs >= 301 &&
                   allocs - frees >= 151, buf);
    ln = line_of(buf, "keel: live ");
    CHECK_NOTE(ln && strstr(ln, " in ") && sscanf(strstr(ln, " in "), " in %lu blocks", &live) == 1 &&
                   live == allocs - frees, buf);
    ln = line_of(buf, "keel: large ");
    CHECK_NOTE(ln && sscanf(ln, "keel: large - %lu", &live) == 1 && live == 1, ln ? ln : buf);
}
#endif

int main(int argc, char** argv) {
    test_report();
    test_sampled_peak();
    test_threads_seen();
#if !defined(_WIN32)
    test_to_fd2();
    /* qemu-user cannot exec a binary of its own target (no binfmt here):
       the ctest stats_exit_child covers the report at exit there */
    if (ht_under_qemu()) printf("test_stats_print: note: the KEEL_SHOW_STATS child is not run under qemu\n");
    else test_show_stats_child(argc > 1 ? argv[1] : NULL);
#else
    (void)argc;
    (void)argv;
#endif
    return check_done(NAME);
}
