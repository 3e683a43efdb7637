/* errors.c — fatal errors, corruption and invalid-pointer reports (raw
   writes, no allocation), and the out-of-memory policy: flush caches and
   retry, then ask the user's handler. */
#include "internal.h"

static void say(const char* s) {
    size_t n = 0;
    while (s[n]) n++;
    keel__os_write_stderr(s, n);
}

void keel__fatal(const char* what) {
    say("keel: ");
    say(what);
    say("\n");
    keel__os_abort();
}

void keel__corruption(const char* what) {
    say("keel: heap corruption: ");
    say(what);
    say("\n");
    keel__os_abort();
}

/* "keel: free of invalid pointer 0x7ffd..." in one write, as %p prints it. */
void keel__report_invalid(const char* op, const void* p) {
    char line[96];
    char digits[2 * sizeof(uintptr_t)];
    size_t n = 0, d = 0;
    uintptr_t v = (uintptr_t)p;
    const char* parts[3];
    size_t k;
    parts[0] = "keel: ";
    parts[1] = op;
    parts[2] = " of invalid pointer 0x";
    for (k = 0; k < 3; k++) {
        const char* s = parts[k];
        while (*s && n < sizeof line - 2) line[n++] = *s++;
    }
    do {
        digits[d++] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    while (d > 0 && n < sizeof line - 2) line[n++] = digits[--d];
    line[n++] = '\n';
    keel__os_write_stderr(line, n);
}

static keel_lock oom_lock = KEEL_LOCK_INIT;
static keel_oom_handler oom_handler;
static void* oom_user_data;

void keel_set_out_of_memory_handler(keel_oom_handler handler, void* user_data) {
    keel__lock(&oom_lock);
    oom_handler = handler;
    oom_user_data = user_data;
    keel__unlock(&oom_lock);
}

/* Gives back what keel holds cached: reservations are unmapped, since
   decommitting does not help under ulimit -v. */
static void flush_everything(void) {
    keel_heap* heap = keel__tls_heap;
    if (heap != &keel__heap_empty) (void)keel__segment_purge_heap(heap, true);
    (void)keel__segment_flush_caches();
    (void)keel__large_cache_flush(true);
}

/* Called after attempt number `attempt` (0-based) failed for lack of
   memory: true means try again. The first retry follows a flush of the
   caches; later ones are the handler's to grant, each after another flush. */
bool keel__oom_retry(size_t size, unsigned attempt) {
    keel_oom_handler handler;
    void* user_data;
    if (attempt == 0) {
        flush_everything();
        return true;
    }
    keel__lock(&oom_lock);
    handler = oom_handler;
    user_data = oom_user_data;
    keel__unlock(&oom_lock);
    if (!handler || !handler(size, user_data)) return false;   /* called outside any lock */
    flush_everything();
    return true;
}
