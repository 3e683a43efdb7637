/* os_windows.c — the OS seam on Windows: fiber-local storage callbacks for
   thread exit (FlsAlloc), SwitchToThread, GetTickCount64, WriteFile,
   GetProcessTimes and GetProcessMemoryInfo. */
#if defined(_WIN32)
#include "os.h"

#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
#ifndef PSAPI_VERSION
#define PSAPI_VERSION 2   /* GetProcessMemoryInfo is kernel32's K32GetProcessMemoryInfo: no psapi.lib */
#endif
#include <psapi.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

int keel__os_rejoin(void* p, size_t n) {   /* pages never move on Windows: nothing is cut */
    (void)p;
    (void)n;
    return 1;
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

/* No random source without a library beyond kernel32: the performance
   counter, the process and thread ids, and addresses (ASLR). */
uint64_t keel__os_random_seed(void) {
    LARGE_INTEGER t;
    uint64_t v;
    QueryPerformanceCounter(&t);
    v = (uint64_t)t.QuadPart * 0x9E3779B97F4A7C15u;
    v ^= (uint64_t)GetCurrentProcessId() << 32 ^ (uint64_t)GetCurrentThreadId() << 16;
    v ^= (uint64_t)(uintptr_t)&v ^ (uint64_t)(uintptr_t)&keel__os_random_seed << 7;
    return v ? v : 0x6b65656c68617264u;
}

void keel__os_yield(void) { (void)SwitchToThread(); }

uint64_t keel__os_now_ms(void) { return (uint64_t)GetTickCount64(); }

uint64_t keel__os_now_ns(void) {
    LARGE_INTEGER freq, t;   /* the frequency is fixed at boot; asking is cheap */
    QueryPerformanceFrequency(&freq);
    QueryPerformanceCounter(&t);
    /* seconds and the remainder apart: no overflow for centuries of uptime */
    return (uint64_t)(t.QuadPart / freq.QuadPart) * 1000000000u +
           (uint64_t)(t.QuadPart % freq.QuadPart) * 1000000000u / (uint64_t)freq.QuadPart;
}

void keel__os_sleep_ms(unsigned ms) { Sleep(ms); }

static keel_thread_fn os_thread_fn;

static DWORD WINAPI os_thread_trampoline(LPVOID unused) {
    (void)unused;
    os_thread_fn();
    return 0;
}

int keel__os_thread_start(keel_thread_fn fn) {
    HANDLE h;
    HMODULE self;
    os_thread_fn = fn;
    /* the module keel is in (libkeel.dll, or the program) stays loaded for
       good: FreeLibrary must not unmap the code this thread runs */
    (void)GetModuleHandleExA(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_PIN,
                             (LPCSTR)&os_thread_fn, &self);
    h = CreateThread(NULL, (SIZE_T)64 << 10, os_thread_trampoline, NULL, 0, NULL);
    if (h == NULL) return 0;
    CloseHandle(h);   /* detached */
    return 1;
}

void keel__os_write_stderr(const char* text, size_t len) {
    HANDLE h = GetStdHandle(STD_ERROR_HANDLE);
    DWORD written;
    if (h == NULL || h == INVALID_HANDLE_VALUE) return;
    (void)WriteFile(h, text, (DWORD)len, &written, NULL);
}

_Noreturn void keel__os_abort(void) { abort(); }

static uint64_t os_filetime_us(FILETIME t) {
    return ((uint64_t)t.dwHighDateTime << 32 | t.dwLowDateTime) / 10u;   /* 100 ns units */
}

int keel__os_usage(keel_os_usage* u) {
    FILETIME created, exited, kernel, user;
    PROCESS_MEMORY_COUNTERS pmc;
    int ok = 0;
    memset(u, 0, sizeof *u);
    if (GetProcessTimes(GetCurrentProcess(), &created, &exited, &kernel, &user)) {
        u->user_us = os_filetime_us(user);
        u->system_us = os_filetime_us(kernel);
        ok = 1;
    }
    memset(&pmc, 0, sizeof pmc);
    pmc.cb = sizeof pmc;
    if (GetProcessMemoryInfo(GetCurrentProcess(), &pmc, sizeof pmc)) {
        u->peak_resident = (size_t)pmc.PeakWorkingSetSize;
        ok = 1;
    }
    return ok;
}

/* ---- the heap profile: not on Windows (keel_profile_dump says ENOSYS) ---- */

int keel__os_profile_supported(void) { return 0; }

void keel__os_backtrace_init(void) {}

int keel__os_backtrace(void** frames, int max, uint32_t thread_captures) {
    (void)frames;
    (void)max;
    (void)thread_captures;
    return 0;
}

int keel__os_code_range(const void* fn, uintptr_t* lo, uintptr_t* hi) {
    (void)fn;
    *lo = *hi = 0;
    return 0;
}

int keel__os_file_create(const char* path) {
    (void)path;
    errno = ENOSYS;
    return -1;
}

int keel__os_file_write(int fd, const char* data, size_t len) {
    (void)fd;
    (void)data;
    (void)len;
    errno = ENOSYS;
    return -1;
}

int keel__os_file_write_maps(int fd) {
    (void)fd;
    errno = ENOSYS;
    return -1;
}

int keel__os_file_close(int fd) {
    (void)fd;
    return 0;
}

#else
typedef int keel_os_windows_unused; /* ISO C: a translation unit needs a declaration */
#endif
