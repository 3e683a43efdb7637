/* os_windows.c — the OS seam on Windows: fiber-local storage callbacks for
   thread exit (FlsAlloc), SwitchToThread, GetTickCount64, WriteFile. */
#if defined(_WIN32)
#include "os.h"

#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
#include <stdlib.h>

static DWORD os_fls_index = FLS_OUT_OF_INDEXES;
static keel_thread_exit_fn os_on_exit;

static void WINAPI os_fls_callback(void* value) {
    if (value && os_on_exit) os_on_exit(value);
}

void keel__os_init(keel_thread_exit_fn on_thread_exit, keel_fork_fn prepare,
                   keel_fork_fn parent, keel_fork_fn child) {
    (void)prepare; (void)parent; (void)child;   /* no fork on Windows */
    os_on_exit = on_thread_exit;
    os_fls_index = FlsAlloc(os_fls_callback);
    if (os_fls_index == FLS_OUT_OF_INDEXES)
        KEEL_OS_SAY("keel: FlsAlloc failed; thread heaps will not be handed over at exit\n");
}

void keel__os_thread_exit_arm(void* value) {
    if (os_fls_index != FLS_OUT_OF_INDEXES) (void)FlsSetValue(os_fls_index, value);
}

size_t keel__os_memory_limit(void) {
    static _Atomic(size_t) a_limit;
    size_t limit = atomic_load_explicit(&a_limit, memory_order_relaxed);
    if (limit == 0) {
        MEMORYSTATUSEX ms;
        ms.dwLength = sizeof ms;
        limit = GlobalMemoryStatusEx(&ms) && ms.ullTotalPageFile > 0 ? (size_t)ms.ullTotalPageFile : SIZE_MAX;
        atomic_store_explicit(&a_limit, limit, memory_order_relaxed);
    }
    return limit;
}

size_t keel__os_readable_bytes(const void* p, size_t max) {
    const char* at = (const char*)p;
    const char* want = max > (size_t)-1 - (size_t)(uintptr_t)at ? (const char*)(uintptr_t)-1 : at + max;
    MEMORY_BASIC_INFORMATION mbi;
    while (at < want && VirtualQuery(at, &mbi, sizeof mbi) != 0) {
        DWORD prot = mbi.Protect & 0xFF;
        if (mbi.State != MEM_COMMIT || (mbi.Protect & PAGE_GUARD) || prot == PAGE_NOACCESS || prot == PAGE_EXECUTE) break;
        at = (const char*)mbi.BaseAddress + mbi.RegionSize;
    }
    if (at > want) at = want;
    return at > (const char*)p ? (size_t)(at - (const char*)p) : 0;
}

int keel__os_address_space_limited(void) {
#if defined(_WIN64)
    return 0;
#else
    return 1;
#endif
}

char* const* keel__os_environ(void) { return _environ; }

unsigned long long keel__os_pid(void) { return (unsigned long long)GetCurrentProcessId(); }

void keel__os_yield(void) { (void)SwitchToThread(); }

uint64_t keel__os_now_ms(void) { return (uint64_t)GetTickCount64(); }

void keel__os_write_stderr(const char* text, size_t len) {
    HANDLE h = GetStdHandle(STD_ERROR_HANDLE);
    DWORD written;
    if (h == NULL || h == INVALID_HANDLE_VALUE) return;
    (void)WriteFile(h, text, (DWORD)len, &written, NULL);
}

_Noreturn void keel__os_abort(void) { abort(); }

#else
typedef int keel_os_windows_unused; /* ISO C: a translation unit needs a declaration */
#endif
