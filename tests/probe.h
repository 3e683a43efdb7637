/* probe.h — does touching an address fault? POSIX: a forked child touches it
   and the parent reads its fate; Windows: VirtualQuery says what the page
   allows. Answers 1 (faults), 0 (does not), -1 (could not tell). */
#ifndef KEEL_TEST_PROBE_H
#define KEEL_TEST_PROBE_H

#if defined(_WIN32)
#include <windows.h>

static inline int probe_faults(void* p, int write) {
    MEMORY_BASIC_INFORMATION mbi;
    DWORD prot;
    if (VirtualQuery(p, &mbi, sizeof mbi) == 0) return -1;
    if (mbi.State != MEM_COMMIT) return 1;
    prot = mbi.Protect & 0xFF;
    if (mbi.Protect & PAGE_GUARD) return 1;
    if (prot == PAGE_NOACCESS) return 1;
    if (!write) return 0;
    return (prot == PAGE_READWRITE || prot == PAGE_WRITECOPY || prot == PAGE_EXECUTE_READWRITE ||
            prot == PAGE_EXECUTE_WRITECOPY) ? 0 : 1;
}

#else
#include <fcntl.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static inline int probe_faults(void* p, int write) {
    int status;
    pid_t pid;
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        /* default actions, so sanitizers' handlers don't turn the fault into an exit */
        signal(SIGSEGV, SIG_DFL);
        signal(SIGBUS, SIG_DFL);
        {   /* the expected crash is not news: keep emulators' reports off stderr */
            int devnull = open("/dev/null", O_WRONLY);
            if (devnull >= 0) dup2(devnull, 2);
        }
        if (write) *(volatile char*)p = 1;
        else (void)*(volatile char*)p;
        _exit(0);
    }
    if (waitpid(pid, &status, 0) != pid) return -1;
    if (WIFSIGNALED(status) && (WTERMSIG(status) == SIGSEGV || WTERMSIG(status) == SIGBUS)) return 1;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 0;
    return -1;
}
#endif

/* Released address space: no longer mapped at all. Asked of the kernel
   directly, not through a forked child, because a runtime in the child (TSan)
   may map its own memory into the hole that the release just left. */
#if defined(_WIN32)
static inline int probe_unmapped(void* p) {
    MEMORY_BASIC_INFORMATION mbi;
    if (VirtualQuery(p, &mbi, sizeof mbi) == 0) return -1;
    return mbi.State == MEM_FREE;
}
#else
#include <errno.h>
#include <sys/mman.h>
static inline int probe_unmapped(void* p) {
    long page = sysconf(_SC_PAGESIZE);
    void* start = (void*)((unsigned long)p & ~(unsigned long)(page - 1));
    if (msync(start, (size_t)page, MS_ASYNC) == 0) return 0;
    return errno == ENOMEM ? 1 : -1;
}
#endif

/* 0 where an address released is not seen as unmapped: a 32-bit program
   under qemu-user (qemu-i386), whose whole address space qemu keeps mapped
   (tests/CMakeLists.txt sets KEELTEST_QEMU_RESERVED); the checks that rest
   on it are left out there, with a note. */
#include <stdlib.h>
static inline int probe_unmapped_seen(void) { return getenv("KEELTEST_QEMU_RESERVED") == NULL; }

static inline int probe_read_faults(void* p) { return probe_faults(p, 0); }
static inline int probe_write_faults(void* p) { return probe_faults(p, 1); }

#endif
