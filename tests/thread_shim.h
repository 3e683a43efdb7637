/* thread_shim.h — start and join a thread on POSIX and Windows, for tests. */
#ifndef KEEL_TEST_THREAD_SHIM_H
#define KEEL_TEST_THREAD_SHIM_H

typedef void (*shim_fn)(void* arg);
typedef struct shim_start { shim_fn fn; void* arg; } shim_start;

#if defined(_WIN32)
#include <windows.h>
typedef HANDLE shim_thread;
static DWORD WINAPI shim_trampoline(LPVOID p) {
    shim_start* s = (shim_start*)p;
    s->fn(s->arg);
    return 0;
}
static inline int shim_create(shim_thread* t, shim_start* s) {
    *t = CreateThread(NULL, 0, shim_trampoline, s, 0, NULL);
    return *t != NULL;
}
static inline void shim_join(shim_thread t) {
    WaitForSingleObject(t, INFINITE);
    CloseHandle(t);
}
#else
#include <pthread.h>
typedef pthread_t shim_thread;
static void* shim_trampoline(void* p) {
    shim_start* s = (shim_start*)p;
    s->fn(s->arg);
    return NULL;
}
static inline int shim_create(shim_thread* t, shim_start* s) {
    return pthread_create(t, NULL, shim_trampoline, s) == 0;
}
static inline void shim_join(shim_thread t) { pthread_join(t, NULL); }
#endif

/* Runs fn(arg) in a thread of its own and waits for it to end; 0 when the
   thread could not be started (fn has not run). */
static inline int shim_run(shim_fn fn, void* arg) {
    shim_thread t;
    shim_start s;
    s.fn = fn;
    s.arg = arg;
    if (!shim_create(&t, &s)) return 0;
    shim_join(t);
    return 1;
}

#endif
