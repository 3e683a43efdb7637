/* corrupt_thread_free.c — blocks of the main thread freed by another thread
   (so on a list of frees from other threads), one of whose link words is then
   overwritten: keel_validate in the main thread must abort with
   "keel: heap corruption: ...". */
#include "death_common.h"
#include "thread_shim.h"

#include <stdint.h>

enum { N = 16 };
static unsigned char* b[N];

static void free_some(void* arg) {
    (void)arg;
    keel_free(b[2]);
    keel_free(b[4]);
    keel_free(b[6]);
    keel_free(b[8]);
}

int main(void) {
    shim_thread t;
    shim_start s;
    int i;
    for (i = 0; i < N; i++) {
        b[i] = (unsigned char*)keel_alloc(80);
        if (!b[i]) { printf("FAIL keel_alloc\n"); return 1; }
    }
    s.fn = free_some;
    s.arg = NULL;
    if (!shim_create(&t, &s)) { printf("FAIL thread\n"); return 1; }
    shim_join(t);
    death_scribble(b[6], 0x41, sizeof(void*));
    printf("corrupted a block freed by another thread\n");
    fflush(stdout);
    keel_validate();
    printf("validate returned\n");
    return 3;
}
