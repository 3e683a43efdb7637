/* profile_sites.c — allocates from three call sites in known proportions
   of live bytes (1 : 2 : 5, mixed small sizes, 256 MiB live, as much again
   allocated and freed), samples at profile_sample = 524288 and writes the
   heap profile to argv[1]. check_profile.sh reads it with google-pprof and
   checks each site's share. Run alone it only checks that the dump works. */
#include "check.h"

#include <errno.h>
#include <keel/keel.h>

#define UNIT ((size_t)32 << 20)   /* live bytes of the smallest site */

static void** keep[3];
static size_t kept[3], live[3];

/* sizes 16..1024, in a fixed pseudo-random order */
static size_t next_size(unsigned* state) {
    *state = *state * 1103515245u + 12345u;
    return 16 + ((*state >> 8) % 64) * 16;
}

__attribute__((noinline)) static void* profile_site_alpha(size_t n) {
    void* p = keel_alloc(n);
    __asm__ volatile("" : : "r"(p) : "memory");   /* no tail call: this frame stays */
    return p;
}

__attribute__((noinline)) static void* profile_site_beta(size_t n) {
    void* p = keel_alloc(n);
    __asm__ volatile("" : : "r"(p) : "memory");
    return p;
}

__attribute__((noinline)) static void* profile_site_gamma(size_t n) {
    void* p = keel_alloc(n);
    __asm__ volatile("" : : "r"(p) : "memory");
    return p;
}

static void* site(int i, size_t n) {
    return i == 0 ? profile_site_alpha(n) : i == 1 ? profile_site_beta(n) : profile_site_gamma(n);
}

int main(int argc, char** argv) {
    static const size_t share[3] = {1, 2, 5};
    unsigned state = 12345u;
    size_t i, cap;
    size_t made = 0;
    int s, done = 0;
    for (s = 0; s < 3; s++) {
        cap = share[s] * UNIT / 16 + 1;
        keep[s] = (void**)keel_alloc(cap * sizeof(void*));
        CHECK(keep[s] != NULL);
        if (!keep[s]) return check_done("profile_sites");
    }
    /* on at run time, after the arrays (they are no site's): the heap
       notices on its next slow path */
    CHECK(keel_option_set("profile_sample", 524288));
    /* round robin, so the sites share the sampler's draws evenly; every
       other block is freed at once (allocated, not live) */
    while (done < 3) {
        done = 0;
        for (s = 0; s < 3; s++) {
            size_t n = next_size(&state);
            void* p;
            if (live[s] >= share[s] * UNIT) { done++; continue; }
            for (i = 0; i < share[s]; i++) {
                p = site(s, n);
                if (!p) { CHECK(p != NULL); return check_done("profile_sites"); }
                if (++made % 2 == 0) keel_free(p);
                else { keep[s][kept[s]++] = p; live[s] += n; }
            }
        }
    }
    if (argc > 1) {
        bool ok = keel_profile_dump(argv[1]);
        CHECK_NOTE(ok, strerror(errno));
    }
    for (s = 0; s < 3; s++) {
        for (i = 0; i < kept[s]; i++) keel_free(keep[s][i]);
        keel_free(keep[s]);
    }
    return check_done("profile_sites");
}
