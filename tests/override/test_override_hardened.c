/* test_override_hardened.c — under LD_PRELOAD of the hardened override
   (src/harden.h): the sizes a program may legitimately give a sized free
   are never flagged (the size asked; an aligned size that libstdc++'s
   aligned new rounded up to its alignment; new(0), which asks for 1; a
   block realloc resized; calloc's product), through C23's free_sized and
   free_aligned_sized and C++'s sized and aligned operator delete; the
   usable size is the size asked; a freed block is not handed out again
   at once (the quarantine). The misuse itself: tests/heap/death/hardened_*. */
#include "check.h"
#include "ovr.h"

#include <dlfcn.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME "test_override_hardened"

typedef void (*sized_fn)(void*, size_t);
typedef void (*aligned_sized_fn)(void*, size_t, size_t);

int main(void) {
    sized_fn free_sized_p, delete_sized, delete_array_sized;
    aligned_sized_fn free_aligned_sized_p, delete_sized_aligned;
    int wide = sizeof(size_t) == 8;
    size_t n;
    *(void**)&free_sized_p = dlsym(RTLD_DEFAULT, "free_sized");
    *(void**)&free_aligned_sized_p = dlsym(RTLD_DEFAULT, "free_aligned_sized");
    *(void**)&delete_sized = dlsym(RTLD_DEFAULT, wide ? "_ZdlPvm" : "_ZdlPvj");
    *(void**)&delete_array_sized = dlsym(RTLD_DEFAULT, wide ? "_ZdaPvm" : "_ZdaPvj");
    *(void**)&delete_sized_aligned = dlsym(RTLD_DEFAULT, wide ? "_ZdlPvmSt11align_val_t" : "_ZdlPvjSt11align_val_t");
    if (!CHECK_NOTE(free_sized_p && free_aligned_sized_p && delete_sized && delete_array_sized && delete_sized_aligned,
                    "the hardened override's sized frees are not all exported"))
        return check_done(NAME);

    /* the size asked, for every size up to 3000 and some larger */
    for (n = 0; n <= 3000; n++) {
        char* p = (char*)malloc(n);
        CHECK(p != NULL && malloc_usable_size(p) == (n ? n : 1));
        if (p) memset(p, 0x5a, n);
        if (n % 3 == 0) free_sized_p(p, n);
        else if (n % 3 == 1) delete_sized(p, n);
        else delete_array_sized(p, n);
    }
    for (n = 4096; n <= (4u << 20); n *= 2) {
        char* p = (char*)malloc(n + 5);
        CHECK(p != NULL && malloc_usable_size(p) >= n + 5);
        free_sized_p(p, n + 5);
    }
    /* new(0) asks malloc for 1 byte; sized delete says 0 */
    delete_sized(malloc(1), 0);
    /* libstdc++'s aligned new rounds the size up to the alignment */
    {
        size_t a;
        for (a = 32; a <= 8192; a *= 2) {
            void* p = aligned_alloc(a, (100 + a - 1) & ~(a - 1));
            CHECK(p != NULL && ((size_t)p & (a - 1)) == 0);
            delete_sized_aligned(p, 100, a);
            p = aligned_alloc(a, 3 * a);
            free_aligned_sized_p(p, a, 3 * a);
        }
    }
    /* realloc and calloc */
    {
        char* p = (char*)malloc(40);
        p = (char*)realloc(p, 33);
        CHECK(p != NULL && malloc_usable_size(p) == 33);
        p = (char*)realloc(p, 7000);
        CHECK(p != NULL && malloc_usable_size(p) == 7000);
        free_sized_p(p, 7000);
        p = (char*)calloc(12, 11);
        CHECK(p != NULL && malloc_usable_size(p) == 132);
        free_sized_p(p, 132);
    }
    /* the quarantine: a freed block does not come straight back */
    {
        void* p = malloc(96);
        void* q;
        free(p);
        q = malloc(96);
        CHECK_NOTE(q != p, "a freed block was handed out again at once");
        free(q);
    }
    return check_done(NAME);
}
