/* runner.c — one measured run of one workload under one allocator: starts
   the program with the allocator preloaded, waits for it with wait4, and
   prints one line of key=value pairs on stdout:
     wall_s=  peak_rss_kb=  user_s=  sys_s=  minflt= (minor page faults)  exit=
   and then the program's own `BENCH key=value` lines (bench.h), which add
   columns or replace wall_s and peak_rss_kb (a script that measures the
   process that matters itself).
   peak_rss_kb is ru_maxrss of the child: the largest resident set of the
   child and of the descendants it waited for (cc1 under gcc).

   Usage: runner [--preload LIB] [--preload-var NAME] [--stdin FILE]
                 [--log FILE] [--timeout SECONDS] -- PROGRAM ARGS...
     --preload LIB       set NAME=LIB in the child's environment (empty: unset)
     --preload-var NAME  the variable, LD_PRELOAD by default; a script that
                         preloads one of its own children (redis.sh) takes
                         another name and passes it on itself
     --log FILE          the child's stdout and stderr (default /dev/null)
     --timeout SECONDS   kill the child's process group after this long (600)
   Exit status: 0 when the program exited 0, 1 otherwise (the line is still
   printed, with exit= saying what happened: a code, or sig<N>, or timeout). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t runner_timed_out;

static void runner_alarm(int sig) {
    (void)sig;
    runner_timed_out = 1;
}

static double runner_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int runner_usage(void) {
    fputs("usage: runner [--preload LIB] [--preload-var NAME] [--stdin FILE] [--log FILE] "
          "[--timeout SECONDS] -- PROGRAM ARGS...\n", stderr);
    return 2;
}

/* A key of a BENCH line: lower-case letters, digits and underscores. */
static int runner_key_ok(const char* s, size_t n) {
    size_t i;
    if (n == 0) return 0;
    for (i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_')) return 0;
    return 1;
}

/* The program's BENCH lines from its log, as " key=value" pairs. */
static void runner_bench_lines(const char* log, char* out, size_t cap) {
    char line[1024];
    FILE* f = fopen(log, "r");
    size_t len = strlen(out);
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        char* tok;
        char* save = NULL;
        if (strncmp(line, "BENCH ", 6) != 0) continue;
        for (tok = strtok_r(line + 6, " \t\r\n", &save); tok; tok = strtok_r(NULL, " \t\r\n", &save)) {
            char* eq = strchr(tok, '=');
            int n;
            if (!eq || !runner_key_ok(tok, (size_t)(eq - tok)) || eq[1] == '\0' || strchr(eq + 1, ',')) continue;
            n = snprintf(out + len, cap - len, " %s", tok);
            if (n < 0 || (size_t)n >= cap - len) { out[len] = '\0'; fclose(f); return; }
            len += (size_t)n;
        }
    }
    fclose(f);
}

int main(int argc, char** argv) {
    const char* preload = NULL;
    const char* var = "LD_PRELOAD";
    const char* in = "/dev/null";
    const char* log = "/dev/null";
    double timeout = 600, t0, wall;
    struct rusage ru;
    struct sigaction sa;
    struct itimerval it;
    char status_word[32], extra[4096] = "";
    int i, status = 0;
    pid_t pid;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) { i++; break; }
        if (i + 1 >= argc) return runner_usage();
        if (strcmp(argv[i], "--preload") == 0) preload = argv[++i];
        else if (strcmp(argv[i], "--preload-var") == 0) var = argv[++i];
        else if (strcmp(argv[i], "--stdin") == 0) in = argv[++i];
        else if (strcmp(argv[i], "--log") == 0) log = argv[++i];
        else if (strcmp(argv[i], "--timeout") == 0) timeout = strtod(argv[++i], NULL);
        else return runner_usage();
    }
    if (i >= argc || !(timeout > 0)) return runner_usage();

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = runner_alarm;  /* no SA_RESTART: wait4 returns EINTR */
    sigaction(SIGALRM, &sa, NULL);

    t0 = runner_now();
    pid = fork();
    if (pid < 0) { perror("runner: fork"); return 1; }
    if (pid == 0) {
        int fd_in = open(in, O_RDONLY), fd_out = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd_in < 0 || fd_out < 0) { perror("runner: open"); _exit(127); }
        setpgid(0, 0);  /* one group: a timeout kills its servers too */
        dup2(fd_in, 0);
        dup2(fd_out, 1);
        dup2(fd_out, 2);
        close(fd_in);
        close(fd_out);
        if (preload && *preload) setenv(var, preload, 1);
        else unsetenv(var);
        if (strcmp(var, "LD_PRELOAD") != 0) unsetenv("LD_PRELOAD");
        execvp(argv[i], &argv[i]);
        fprintf(stderr, "runner: cannot run %s: %s\n", argv[i], strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid);

    memset(&it, 0, sizeof it);
    it.it_value.tv_sec = (time_t)timeout;
    it.it_value.tv_usec = (suseconds_t)((timeout - (double)(time_t)timeout) * 1e6);
    setitimer(ITIMER_REAL, &it, NULL);
    for (;;) {
        pid_t w = wait4(pid, &status, 0, &ru);
        if (w == pid) break;
        if (w < 0 && errno == EINTR && runner_timed_out) {
            kill(-pid, SIGKILL);
            continue;
        }
        if (w < 0 && errno != EINTR) { perror("runner: wait4"); return 1; }
    }
    wall = runner_now() - t0;
    memset(&it, 0, sizeof it);
    setitimer(ITIMER_REAL, &it, NULL);
    kill(-pid, SIGKILL);  /* whatever the program left running */

    if (runner_timed_out) snprintf(status_word, sizeof status_word, "timeout");
    else if (WIFEXITED(status)) snprintf(status_word, sizeof status_word, "%d", WEXITSTATUS(status));
    else snprintf(status_word, sizeof status_word, "sig%d", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    runner_bench_lines(log, extra, sizeof extra);
    printf("wall_s=%.6f peak_rss_kb=%ld user_s=%.6f sys_s=%.6f minflt=%ld exit=%s%s\n", wall, ru.ru_maxrss,
           (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6,
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6, ru.ru_minflt, status_word, extra);
    return !runner_timed_out && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
