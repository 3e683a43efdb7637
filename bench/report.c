/* report.c — the report of `make bench`: reads what bench/run.sh left in
   build/bench/ (runs.csv, workloads.tsv, meta.txt, fastpath.csv,
   callgrind.csv, memret_curve.csv) and writes results.csv (the median of
   each workload and allocator), report.md (tables, ratios, geometric
   means, the DESIGN.md section 9 bar and where keel misses it) and the
   data and scripts of report.png (report_time.dat, report_rss.dat,
   report.gp) and memret_curve.png (memret_curve.dat, memret_curve.gp).
   Usage: report DIR */
#define _GNU_SOURCE
#include <math.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RP_MAX_WL 64
#define RP_MAX_KEYS 32
#define RP_MAX_REPS 64
#define RP_NAME 64

/* The five allocators in the order of every table, then the arena half of
   bump, which is a column of bump and not an allocator, keel with the
   heap profile on (profile_sample 524288), which is a cost of keel's, the
   hardened override (libkeel-override-hardened.so, DESIGN.md section 10),
   another cost of keel's, and the two heap-destroy rows that drop the
   structure through an API (keel_heap_destroy, mimalloc's
   mi_heap_destroy), not through free; last keel with guarded sampling on
   (guarded_sample_rate 1000), a third cost of keel's. */
static const char* const rp_alloc[] = {"keel",       "glibc",     "mimalloc",  "jemalloc",  "tcmalloc",
                                       "keel_arena", "keel_prof", "keel_hard", "keel_heap", "mi_heap",
                                       "keel_guard"};
#define RP_ALLOCS 5
#define RP_ARENA 5
#define RP_PROF 6
#define RP_HARD 7
#define RP_KHEAP 8
#define RP_MIHEAP 9
#define RP_GUARD 10
#define RP_LAST 10
#define RP_KEEL 0
#define RP_GLIBC 1
#define RP_MIMALLOC 2
#define RP_JEMALLOC 3
#define RP_TCMALLOC 4

/* Keys of the runner's line: the first four are known, the others come from
   the workloads' BENCH lines, in the order they first appear. */
enum { K_WALL, K_RSS, K_USER, K_SYS, K_MINFLT, K_EXTRA };
static char rp_key[RP_MAX_KEYS][RP_NAME] = {"wall_s", "peak_rss_kb", "user_s", "sys_s", "minflt"};
static int rp_keys = K_EXTRA;

typedef struct rp_cell {
    double v[RP_MAX_KEYS][RP_MAX_REPS];
    unsigned char has[RP_MAX_KEYS][RP_MAX_REPS];
    unsigned char seen[RP_MAX_REPS];
    unsigned char failed[RP_MAX_REPS];
    /* filled by rp_medians */
    int ok;                    /* successful runs */
    int bad;                   /* failed runs */
    double med[RP_MAX_KEYS];   /* NAN where none */
    double wall_min, wall_max;
    double instr_per_pair;     /* fastpath.csv, st-fixed and st-mixed */
    double callgrind;          /* callgrind.csv */
} rp_cell;

typedef struct rp_workload {
    char name[RP_NAME];
    char desc[256];
    int used;                  /* has runs */
    rp_cell cell[RP_LAST + 1];
} rp_workload;

static rp_workload rp_wl[RP_MAX_WL];
static int rp_wls;
static int rp_present[RP_LAST + 1];  /* allocator (or column) has at least one run */
static char rp_meta[32][2][512];
static int rp_metas;
/* fixed32, mixed, batch100, geomean; then the same with one live block of
   every size kept (bench/fastpath.sh's -live patterns) */
static double rp_fast[RP_ALLOCS][8];
static int rp_fast_have[RP_ALLOCS];
static double rp_cg_scale[RP_MAX_WL];

static const char* rp_dir;

static void rp_die(const char* what, const char* arg) {
    fprintf(stderr, "report: %s%s\n", what, arg ? arg : "");
    exit(1);
}

static FILE* rp_open(const char* name, const char* mode) {
    char path[4096];
    FILE* f;
    snprintf(path, sizeof path, "%s/%s", rp_dir, name);
    f = fopen(path, mode);
    if (!f && mode[0] == 'w') rp_die("cannot write ", path);
    return f;
}

static void rp_chomp(char* s) {
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r')) s[--n] = '\0';
}

static int rp_find_alloc(const char* name) {
    int i;
    for (i = 0; i <= RP_LAST; i++) if (strcmp(rp_alloc[i], name) == 0) return i;
    return -1;
}

static int rp_find_wl(const char* name, int add) {
    int i;
    for (i = 0; i < rp_wls; i++) if (strcmp(rp_wl[i].name, name) == 0) return i;
    if (!add || rp_wls == RP_MAX_WL) return -1;
    snprintf(rp_wl[rp_wls].name, RP_NAME, "%s", name);
    return rp_wls++;
}

static int rp_find_key(const char* name) {
    int i;
    for (i = 0; i < rp_keys; i++) if (strcmp(rp_key[i], name) == 0) return i;
    if (rp_keys == RP_MAX_KEYS) return -1;
    snprintf(rp_key[rp_keys], RP_NAME, "%s", name);
    return rp_keys++;
}

static const char* rp_meta_get(const char* key) {
    int i;
    for (i = 0; i < rp_metas; i++) if (strcmp(rp_meta[i][0], key) == 0) return rp_meta[i][1];
    return "unknown";
}

/* ---- input ---- */

static void rp_read_workloads(void) {
    char line[512];
    FILE* f = rp_open("workloads.tsv", "r");
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        char* tab;
        int w;
        rp_chomp(line);
        tab = strchr(line, '\t');
        if (!tab) continue;
        *tab = '\0';
        w = rp_find_wl(line, 1);
        if (w >= 0) snprintf(rp_wl[w].desc, sizeof rp_wl[w].desc, "%s", tab + 1);
    }
    fclose(f);
}

static void rp_read_runs(void) {
    char line[512];
    FILE* f = rp_open("runs.csv", "r");
    if (!f) rp_die("no runs.csv in ", rp_dir);
    while (fgets(line, sizeof line, f)) {
        char* field[5];
        char* save = NULL;
        int n = 0, w, a, rep, k;
        rp_cell* c;
        rp_chomp(line);
        for (field[n] = strtok_r(line, ",", &save); field[n] && n < 4; field[++n] = strtok_r(NULL, ",", &save)) {}
        if (n < 4 || !field[4]) continue;
        w = rp_find_wl(field[0], 1);
        a = rp_find_alloc(field[1]);
        rep = atoi(field[2]);
        if (w < 0 || a < 0 || rep < 1 || rep >= RP_MAX_REPS) continue;
        c = &rp_wl[w].cell[a];
        rp_wl[w].used = 1;
        rp_present[a] = 1;
        c->seen[rep] = 1;
        if (strcmp(field[3], "failed") == 0) { c->failed[rep] = 1; continue; }
        if (strcmp(field[3], "exit") == 0) continue;
        k = rp_find_key(field[3]);
        if (k < 0) continue;
        c->v[k][rep] = strtod(field[4], NULL);  /* a later value of the same run replaces it */
        c->has[k][rep] = 1;
    }
    fclose(f);
}

static void rp_read_meta(void) {
    char line[512];
    FILE* f = rp_open("meta.txt", "r");
    if (!f) return;
    while (fgets(line, sizeof line, f) && rp_metas < 32) {
        char* eq;
        rp_chomp(line);
        eq = strchr(line, '=');
        if (!eq) continue;
        *eq = '\0';
        snprintf(rp_meta[rp_metas][0], 512, "%s", line);
        snprintf(rp_meta[rp_metas][1], 512, "%s", eq + 1);
        rp_metas++;
    }
    fclose(f);
}

/* fastpath.csv: keel measured through the override (as the peers are, by
   LD_PRELOAD) when there is such a row, through its API otherwise. */
static void rp_read_fastpath(void) {
    static const char* const pat[] = {"fixed32",      "mixed",      "batch100",      "geomean",
                                      "fixed32-live", "mixed-live", "batch100-live", "geomean-live"};
    char line[256];
    int through_override = 0;
    FILE* f = rp_open("fastpath.csv", "r");
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        char name[64], p[64];
        double v;
        int a, i;
        rp_chomp(line);
        if (sscanf(line, "%63[^,],%63[^,],%lf", name, p, &v) != 3) continue;
        if (strcmp(name, "keel-override") == 0) {
            if (!through_override) memset(rp_fast[RP_KEEL], 0, sizeof rp_fast[RP_KEEL]);
            through_override = 1;
            a = RP_KEEL;
        } else if (strcmp(name, "keel") == 0) {
            if (through_override) continue;
            a = RP_KEEL;
        } else {
            a = rp_find_alloc(name);
        }
        if (a < 0 || a >= RP_ALLOCS) continue;
        for (i = 0; i < 8; i++) if (strcmp(p, pat[i]) == 0) rp_fast[a][i] = v;
        rp_fast_have[a] = 1;
    }
    fclose(f);
}

/* memret_curve.csv (bench/run.sh's "memory given back over time"):
   setting,rep,t_ms,rss_kb, a line every 10 ms or so for two seconds after
   memret's last free, for each allocator and keel's purge settings. */
#define RP_CURVE_SETTINGS 16
#define RP_CURVE_REPS 8
#define RP_CURVE_POINTS 512
typedef struct rp_curve {
    char name[RP_NAME];
    int reps;                                        /* highest rep seen */
    int n[RP_CURVE_REPS];                            /* points of each rep */
    double t[RP_CURVE_REPS][RP_CURVE_POINTS], kb[RP_CURVE_REPS][RP_CURVE_POINTS];
} rp_curve;
static rp_curve rp_curves[RP_CURVE_SETTINGS];
static int rp_ncurves;

static void rp_read_curve(void) {
    char line[256];
    FILE* f = rp_open("memret_curve.csv", "r");
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        char name[RP_NAME];
        int rep, i;
        double t, kb;
        rp_chomp(line);
        if (sscanf(line, "%63[^,],%d,%lf,%lf", name, &rep, &t, &kb) != 4 || rep < 1 || rep > RP_CURVE_REPS) continue;
        for (i = 0; i < rp_ncurves; i++) if (strcmp(rp_curves[i].name, name) == 0) break;
        if (i == rp_ncurves) {
            if (rp_ncurves == RP_CURVE_SETTINGS) continue;
            snprintf(rp_curves[rp_ncurves++].name, RP_NAME, "%s", name);
        }
        {
            rp_curve* c = &rp_curves[i];
            int* n = &c->n[rep - 1];
            if (*n == RP_CURVE_POINTS) continue;
            c->t[rep - 1][*n] = t;
            c->kb[rep - 1][(*n)++] = kb;
            if (rep > c->reps) c->reps = rep;
        }
    }
    fclose(f);
}

static int rp_dbl_cmp(const void* x, const void* y) {
    double a = *(const double*)x, b = *(const double*)y;
    return a < b ? -1 : a > b;
}

/* A setting's RSS at ms milliseconds after the free: in each run the first
   reading at or after ms (none: the run ended before), the median over the
   runs; NAN when no run reached ms. */
static double rp_curve_at(const rp_curve* c, double ms) {
    double v[RP_CURVE_REPS];
    int r, i, m = 0;
    for (r = 0; r < c->reps; r++)
        for (i = 0; i < c->n[r]; i++)
            if (c->t[r][i] >= ms) { v[m++] = c->kb[r][i]; break; }
    if (m == 0) return NAN;
    qsort(v, (size_t)m, sizeof v[0], rp_dbl_cmp);
    return m % 2 ? v[m / 2] : (v[m / 2 - 1] + v[m / 2]) / 2;
}

/* The first point of time at which the median curve is under kb (ms, a
   10 ms grid); NAN when it never is. */
static double rp_curve_under(const rp_curve* c, double kb) {
    double ms;
    for (ms = 0; ms <= 60000; ms += 10) {
        double v = rp_curve_at(c, ms);
        if (isnan(v)) return NAN;
        if (v < kb) return ms;
    }
    return NAN;
}

static const rp_curve* rp_curve_find(const char* name) {
    int i;
    for (i = 0; i < rp_ncurves; i++) if (strcmp(rp_curves[i].name, name) == 0) return &rp_curves[i];
    return NULL;
}

static void rp_read_callgrind(void) {
    char line[256];
    FILE* f = rp_open("callgrind.csv", "r");
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        char wl[64], name[64];
        double scale, ir;
        int w, a;
        if (sscanf(line, "%63[^,],%63[^,],%lf,%lf", wl, name, &scale, &ir) != 4) continue;
        w = rp_find_wl(wl, 0);
        a = rp_find_alloc(name);
        if (w < 0 || a < 0 || a == RP_ARENA || a >= RP_KHEAP) continue;
        rp_wl[w].cell[a].callgrind = ir;
        rp_cg_scale[w] = scale;
    }
    fclose(f);
}

/* ---- medians ---- */

static int rp_cmp(const void* x, const void* y) {
    double a = *(const double*)x, b = *(const double*)y;
    return a < b ? -1 : a > b;
}

static void rp_medians(void) {
    int w, a, k, r;
    for (w = 0; w < rp_wls; w++) {
        for (a = 0; a <= RP_LAST; a++) {
            rp_cell* c = &rp_wl[w].cell[a];
            c->ok = c->bad = 0;
            for (r = 0; r < RP_MAX_REPS; r++) {
                if (!c->seen[r]) continue;
                if (c->failed[r]) c->bad++; else c->ok++;
            }
            c->wall_min = c->wall_max = NAN;
            if (!c->instr_per_pair) c->instr_per_pair = NAN;
            if (!c->callgrind) c->callgrind = NAN;
            for (k = 0; k < rp_keys; k++) {
                double v[RP_MAX_REPS];
                int n = 0;
                for (r = 0; r < RP_MAX_REPS; r++)
                    if (c->seen[r] && !c->failed[r] && c->has[k][r]) v[n++] = c->v[k][r];
                if (n == 0) { c->med[k] = NAN; continue; }
                qsort(v, (size_t)n, sizeof v[0], rp_cmp);
                c->med[k] = n & 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
                if (k == K_WALL) { c->wall_min = v[0]; c->wall_max = v[n - 1]; }
            }
        }
        for (a = 0; a < RP_ALLOCS; a++) {
            if (!rp_fast_have[a]) continue;
            if (strcmp(rp_wl[w].name, "st-fixed") == 0) rp_wl[w].cell[a].instr_per_pair = rp_fast[a][0];
            if (strcmp(rp_wl[w].name, "st-mixed") == 0) rp_wl[w].cell[a].instr_per_pair = rp_fast[a][1];
        }
    }
}

static double rp_val(int w, int a, int k) {
    return rp_present[a] ? rp_wl[w].cell[a].med[k] : NAN;
}

/* ---- output helpers ---- */

static void rp_num(FILE* f, double v, const char* fmt) {
    if (isnan(v)) fputs("", f);
    else fprintf(f, fmt, v);
}

/* A ratio for a table: "0.93", or "-" when either side is missing. */
static const char* rp_ratio(double a, double b) {
    static char buf[8][32];
    static int i;
    char* s = buf[i++ & 7];
    if (isnan(a) || isnan(b) || b <= 0) return "-";
    snprintf(s, 32, "%.2f", a / b);
    return s;
}

static const char* rp_fmt(double v, const char* fmt) {
    static char buf[16][48];
    static int i;
    char* s = buf[i++ & 15];
    if (isnan(v)) return "-";
    snprintf(s, 48, fmt, v);
    return s;
}

/* A time with three significant decimals at least to the millisecond. */
static const char* rp_time(double v) {
    return rp_fmt(v, v < 10 ? "%.3f" : "%.2f");
}

static const char* rp_mib(double kb) {
    return rp_fmt(kb / 1024, kb < 10240 ? "%.2f" : "%.1f");
}

/* Geometric mean over the workloads of num's key ÷ den's key; den -1: the
   smallest value among the peers (every allocator but keel). *count gets
   the number of workloads that had both. */
static double rp_geomean(int num, int den, int key, int only_real, int* count) {
    double s = 0;
    int n = 0, w;
    for (w = 0; w < rp_wls; w++) {
        double x, y = NAN;
        int a;
        if (!rp_wl[w].used) continue;
        if (only_real >= 0) {
            int real = !strcmp(rp_wl[w].name, "gcc") || !strcmp(rp_wl[w].name, "python") ||
                       !strcmp(rp_wl[w].name, "sqlite") || !strcmp(rp_wl[w].name, "redis");
            if (real != only_real) continue;
        }
        x = rp_val(w, num, key);
        if (den >= 0) y = rp_val(w, den, key);
        else
            for (a = 1; a < RP_ALLOCS; a++) {
                double v = rp_val(w, a, key);
                if (!isnan(v) && (isnan(y) || v < y)) y = v;
            }
        if (isnan(x) || isnan(y) || x <= 0 || y <= 0) continue;
        s += log(x / y);
        n++;
    }
    if (count) *count = n;
    return n ? exp(s / n) : NAN;
}

static int rp_is_real(const char* name) {
    return !strcmp(name, "gcc") || !strcmp(name, "python") || !strcmp(name, "sqlite") || !strcmp(name, "redis");
}

/* ---- results.csv ---- */

static void rp_write_csv(void) {
    FILE* f = rp_open("results.csv", "w");
    int w, a, k, have_arena = 0, have_ipp = 0, have_cg = 0;
    for (w = 0; w < rp_wls; w++) {
        if (rp_wl[w].cell[RP_ARENA].ok) have_arena = 1;
        for (a = 0; a < RP_ALLOCS; a++) {
            if (!isnan(rp_wl[w].cell[a].instr_per_pair)) have_ipp = 1;
            if (!isnan(rp_wl[w].cell[a].callgrind)) have_cg = 1;
        }
    }
    fputs("workload,allocator,wall_s,peak_rss_kb,user_s,sys_s,minflt,wall_min_s,wall_max_s,runs,failed_runs", f);
    for (k = K_EXTRA; k < rp_keys; k++) fprintf(f, ",%s", rp_key[k]);
    if (have_arena) fputs(",keel_arena_s", f);
    if (have_ipp) fputs(",instr_per_pair", f);
    if (have_cg) fputs(",callgrind_instr", f);
    fputc('\n', f);
    for (w = 0; w < rp_wls; w++) {
        if (!rp_wl[w].used) continue;
        for (a = 0; a <= RP_MIHEAP; a++) {
            rp_cell* c = &rp_wl[w].cell[a];
            if (a == RP_ALLOCS) a = RP_KHEAP;   /* the heap-destroy rows: rows of their own */
            c = &rp_wl[w].cell[a];
            if (!rp_present[a] || (c->ok + c->bad) == 0) continue;
            fprintf(f, "%s,%s,", rp_wl[w].name, rp_alloc[a]);
            rp_num(f, c->med[K_WALL], "%.4f");
            fputc(',', f);
            rp_num(f, c->med[K_RSS], "%.0f");
            fputc(',', f);
            rp_num(f, c->med[K_USER], "%.4f");
            fputc(',', f);
            rp_num(f, c->med[K_SYS], "%.4f");
            fputc(',', f);
            rp_num(f, c->med[K_MINFLT], "%.0f");
            fputc(',', f);
            rp_num(f, c->wall_min, "%.4f");
            fputc(',', f);
            rp_num(f, c->wall_max, "%.4f");
            fprintf(f, ",%d,%d", c->ok, c->bad);
            for (k = K_EXTRA; k < rp_keys; k++) {
                fputc(',', f);
                rp_num(f, c->med[k], "%.6g");
            }
            if (have_arena) {
                fputc(',', f);
                rp_num(f, rp_wl[w].cell[RP_ARENA].ok ? rp_wl[w].cell[RP_ARENA].med[K_WALL] : NAN, "%.4f");
            }
            if (have_ipp) {
                fputc(',', f);
                rp_num(f, c->instr_per_pair, "%.1f");
            }
            if (have_cg) {
                fputc(',', f);
                rp_num(f, c->callgrind, "%.0f");
            }
            fputc('\n', f);
        }
    }
    fclose(f);
}

/* ---- report.md ---- */

static void rp_alloc_header(FILE* f, const char* first, const char* tail) {
    int a;
    fprintf(f, "| %s |", first);
    for (a = 0; a < RP_ALLOCS; a++) if (rp_present[a]) fprintf(f, " %s |", rp_alloc[a]);
    fprintf(f, "%s\n|---|", tail);
    for (a = 0; a < RP_ALLOCS; a++) if (rp_present[a]) fputs("---:|", f);
    for (a = 0; tail[a]; a++) if (tail[a] == '|') fputs("---:|", f);
    fputc('\n', f);
}

/* The overview table of one key (time or RSS), with keel's ratios. */
/* The bar row of one of keel's costs in time (column a ÷ keel, geometric
   mean over the workloads), and its line in short_of (sl bytes written of
   cap) when it is over the bar; returns the new sl. */
static size_t rp_cost_bar(FILE* f, int a, const char* row, const char* what, double bar, char* short_of, size_t sl,
                          size_t cap) {
    int n;
    double g = rp_geomean(a, RP_KEEL, K_WALL, -1, &n);
    fprintf(f, "| time with %s ÷ keel, geometric mean over %d workloads | %s | ≤ %.2f | %s |\n", row, n,
            rp_fmt(g, "%.3f"), bar, isnan(g) ? "-" : g <= bar ? "**met**" : "**not met**");
    if (!isnan(g) && g > bar)
        sl += (size_t)snprintf(short_of + sl, cap - sl,
                               "- %s it costs %.1f%% of keel's time on the geometric mean (bar %.0f%%; see its section).\n",
                               what, (g - 1) * 100, (bar - 1) * 100);
    return sl;
}

/* A section of one of keel's costs: column a (a variant of keel) against
   keel, per workload, in time, peak RSS and callgrind instructions. */
static void rp_cost_section(FILE* f, int a, const char* title, const char* label) {
    int w;
    fprintf(f, "## %s\n\n"
               "| workload | keel (s) | %s (s) | time ratio | keel RSS (MiB) | %s RSS (MiB) | RSS ratio | callgrind instructions ratio |\n"
               "|---|---:|---:|---:|---:|---:|---:|---:|\n", title, label, label);
    for (w = 0; w < rp_wls; w++) {
        const rp_cell* k = &rp_wl[w].cell[RP_KEEL];
        const rp_cell* h = &rp_wl[w].cell[a];
        if (!rp_wl[w].used) continue;
        if (!h->ok) {
            if (h->bad) fprintf(f, "| %s | %s | failed (%d run%s) | | | | | |\n", rp_wl[w].name, rp_time(k->med[K_WALL]),
                                h->bad, h->bad > 1 ? "s" : "");
            continue;
        }
        fprintf(f, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", rp_wl[w].name, rp_time(k->med[K_WALL]),
                rp_time(h->med[K_WALL]), rp_fmt(h->med[K_WALL] / k->med[K_WALL], "%.3f"), rp_mib(k->med[K_RSS]),
                rp_mib(h->med[K_RSS]), rp_fmt(h->med[K_RSS] / k->med[K_RSS], "%.3f"),
                rp_fmt(h->callgrind / k->callgrind, "%.3f"));
    }
    fputc('\n', f);
}

static void rp_overview(FILE* f, int key) {
    int w, a, b;
    const char* tail = key == K_WALL ? " keel ÷ mimalloc | keel ÷ glibc | keel ÷ fastest peer | fastest peer |"
                                     : " keel ÷ mimalloc | keel ÷ glibc | keel ÷ smallest peer | smallest peer |";
    rp_alloc_header(f, "workload", tail);
    for (w = 0; w < rp_wls; w++) {
        double best = NAN;
        int best_a = -1;
        if (!rp_wl[w].used) continue;
        fprintf(f, "| %s |", rp_wl[w].name);
        for (a = 0; a < RP_ALLOCS; a++) {
            double v;
            if (!rp_present[a]) continue;
            v = rp_val(w, a, key);
            if (rp_wl[w].cell[a].bad && isnan(v)) fputs(" failed |", f);
            else fprintf(f, " %s |", key == K_WALL ? rp_time(v) : rp_mib(v));
            if (a != RP_KEEL && !isnan(v) && (isnan(best) || v < best)) { best = v; best_a = a; }
        }
        fprintf(f, " %s | %s | %s | %s |\n", rp_ratio(rp_val(w, RP_KEEL, key), rp_val(w, RP_MIMALLOC, key)),
                rp_ratio(rp_val(w, RP_KEEL, key), rp_val(w, RP_GLIBC, key)),
                rp_ratio(rp_val(w, RP_KEEL, key), best), best_a >= 0 ? rp_alloc[best_a] : "-");
    }
    for (b = RP_GLIBC; b <= RP_MIMALLOC; b++) {
        fprintf(f, "| **geometric mean ÷ %s** |", rp_alloc[b]);
        for (a = 0; a < RP_ALLOCS; a++) {
            if (!rp_present[a]) continue;
            fprintf(f, " %s |", rp_fmt(rp_geomean(a, b, key, -1, NULL), "%.2f"));
        }
        fputs(" | | | |\n", f);
    }
    fputc('\n', f);
}

static void rp_workload_table(FILE* f, int w) {
    int a, k;
    rp_workload* x = &rp_wl[w];
    int have_arena = x->cell[RP_ARENA].ok > 0, have_ipp = 0, have_cg = 0;
    for (a = 0; a < RP_ALLOCS; a++) {
        if (!isnan(x->cell[a].instr_per_pair)) have_ipp = 1;
        if (!isnan(x->cell[a].callgrind)) have_cg = 1;
    }
    fprintf(f, "### %s\n\n%s\n\n", x->name, x->desc);
    fputs("| allocator | time s | ÷ mimalloc | ÷ glibc | min..max s | user s | sys s | page faults | peak RSS MiB | ÷ mimalloc | ÷ glibc |", f);
    for (k = K_EXTRA; k < rp_keys; k++) {
        int any = 0;
        size_t len = strlen(rp_key[k]);
        for (a = 0; a < RP_ALLOCS; a++) if (!isnan(rp_val(w, a, k))) any = 1;
        if (!any) continue;
        if (len > 3 && strcmp(rp_key[k] + len - 3, "_kb") == 0) fprintf(f, " %.*s MiB |", (int)(len - 3), rp_key[k]);
        else fprintf(f, " %s |", rp_key[k]);
    }
    if (have_ipp) fputs(" instr/pair (fastpath) |", f);
    if (have_cg) fputs(" callgrind Minstr |", f);
    fputs("\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|", f);
    for (k = K_EXTRA; k < rp_keys; k++) {
        int any = 0;
        for (a = 0; a < RP_ALLOCS; a++) if (!isnan(rp_val(w, a, k))) any = 1;
        if (any) fputs("---:|", f);
    }
    if (have_ipp) fputs("---:|", f);
    if (have_cg) fputs("---:|", f);
    fputc('\n', f);
    for (a = 0; a <= RP_MIHEAP; a++) {
        rp_cell* c;
        double t, m;
        if (a == RP_ALLOCS) a = RP_KHEAP;   /* then the heap-destroy rows, in italics */
        c = &x->cell[a];
        t = rp_val(w, a, K_WALL);
        m = rp_val(w, a, K_RSS);
        if (!rp_present[a] || (a >= RP_KHEAP && c->ok + c->bad == 0)) continue;
        fprintf(f, a >= RP_KHEAP ? "| *%s* |" : "| %s |", rp_alloc[a]);
        if (c->ok == 0) {
            fprintf(f, " failed (%d run%s) | | | | | | | | | |", c->bad, c->bad > 1 ? "s" : "");
        } else {
            fprintf(f, " %s | %s | %s | %s..%s | %s | %s | %s | %s | %s | %s |", rp_time(t),
                    rp_ratio(t, rp_val(w, RP_MIMALLOC, K_WALL)), rp_ratio(t, rp_val(w, RP_GLIBC, K_WALL)),
                    rp_time(c->wall_min), rp_time(c->wall_max), rp_time(c->med[K_USER]), rp_time(c->med[K_SYS]),
                    rp_fmt(c->med[K_MINFLT], "%.0f"), rp_mib(m), rp_ratio(m, rp_val(w, RP_MIMALLOC, K_RSS)), rp_ratio(m, rp_val(w, RP_GLIBC, K_RSS)));
        }
        for (k = K_EXTRA; k < rp_keys; k++) {
            int any = 0, b;
            for (b = 0; b < RP_ALLOCS; b++) if (!isnan(rp_val(w, b, k))) any = 1;
            if (!any) continue;
            if (strstr(rp_key[k], "_kb")) fprintf(f, " %s |", rp_mib(rp_val(w, a, k)));
            else fprintf(f, " %s |", rp_fmt(rp_val(w, a, k), "%.6g"));
        }
        if (have_ipp) fprintf(f, " %s |", rp_fmt(c->instr_per_pair, "%.1f"));
        if (have_cg) fprintf(f, " %s |", rp_fmt(c->callgrind / 1e6, "%.1f"));
        if (c->bad && c->ok) fprintf(f, " (%d failed run%s)", c->bad, c->bad > 1 ? "s" : "");
        fputc('\n', f);
    }
    if (have_arena)
        fprintf(f, "| *keel_arena* | %s | %s | %s | | | | | | | |\n", rp_time(x->cell[RP_ARENA].med[K_WALL]),
                rp_ratio(x->cell[RP_ARENA].med[K_WALL], rp_val(w, RP_MIMALLOC, K_WALL)),
                rp_ratio(x->cell[RP_ARENA].med[K_WALL], rp_val(w, RP_GLIBC, K_WALL)));
    if (have_cg) fprintf(f, "\ncallgrind: instructions of the whole program at scale %g (the same work for each allocator).\n",
                         rp_cg_scale[w]);
    fputc('\n', f);
}

typedef struct rp_gap { int w; double r; int peer; } rp_gap;

static int rp_gap_cmp(const void* x, const void* y) {
    double a = ((const rp_gap*)x)->r, b = ((const rp_gap*)y)->r;
    return a < b ? 1 : a > b ? -1 : 0;
}

/* Workloads where keel is worse than the best peer by more than `slack`,
   largest gap first. */
static int rp_gaps(int key, double slack, rp_gap* out) {
    int w, a, n = 0;
    for (w = 0; w < rp_wls; w++) {
        double k = rp_val(w, RP_KEEL, key), best = NAN;
        int best_a = -1;
        if (!rp_wl[w].used || isnan(k)) continue;
        for (a = 1; a < RP_ALLOCS; a++) {
            double v = rp_val(w, a, key);
            if (!isnan(v) && (isnan(best) || v < best)) { best = v; best_a = a; }
        }
        if (best_a < 0 || best <= 0 || k / best <= slack) continue;
        out[n].w = w;
        out[n].r = k / best;
        out[n].peer = best_a;
        n++;
    }
    qsort(out, (size_t)n, sizeof *out, rp_gap_cmp);
    return n;
}

/* The bar of DESIGN.md section 9. */
#define BAR_TIME 0.95          /* geometric mean of keel ÷ each peer            */
#define BAR_RSS 1.05           /* geometric mean of keel ÷ the smallest peer    */
#define BAR_ONE 1.25           /* any workload ÷ the fastest / smallest peer    */
#define BAR_REAL_PEER 1.02     /* a real program ÷ the fastest peer             */
#define BAR_PAIR 30.0          /* instructions per malloc+free pair, each pattern */
#define BAR_GUARD 1.01         /* keel with guarded_sample_rate 1000 ÷ keel (section 12) */
#define BAR_PROF 1.02          /* keel with the heap profile at 512 KiB ÷ keel (section 12) */
#define BAR_HARD_TIME 1.35     /* the hardened override ÷ keel, time (section 10)       */
#define BAR_HARD_RSS 1.25      /* the hardened override ÷ keel, peak RSS (section 10)   */

static void rp_write_md(void) {
    FILE* f = rp_open("report.md", "w");
    int w, a, n, i, k_after = -1, memret = rp_find_wl("memret", 0), any_real = 0;
    double g;
    rp_gap gaps[RP_MAX_WL];
    const char* yes = "**met**";
    const char* no = "**not met**";
    char short_of[4096] = "";
    size_t sl = 0;

    for (i = K_EXTRA; i < rp_keys; i++) if (strcmp(rp_key[i], "rss_after_kb") == 0) k_after = i;

    fputs("# keel benchmark report\n\n", f);
    if (strncmp(rp_meta_get("load"), "busy: ", 6) == 0)
        fprintf(f, "**The machine was busy during this run:** %s.\n\n", rp_meta_get("load") + 6);
    fprintf(f, "- date: %s\n- machine: %s, %s; %s\n- command: `%s`, %s\n- keel: %s\n- glibc %s; mimalloc %s; jemalloc %s; tcmalloc %s\n- real programs: %s\n- machine check: %s\n- machine load: %s\n- run time of the suite: %s\n\n",
            rp_meta_get("date"), rp_meta_get("cpu"), rp_meta_get("memory"), rp_meta_get("os"), rp_meta_get("command"),
            rp_meta_get("settings"), rp_meta_get("keel"), rp_meta_get("glibc"), rp_meta_get("mimalloc"), rp_meta_get("jemalloc"),
            rp_meta_get("tcmalloc"), rp_meta_get("programs"), rp_meta_get("parallelism"), rp_meta_get("load"), rp_meta_get("elapsed"));
    fputs("Every time is the wall time of a fixed amount of work (lower is better), the median of the runs; "
          "peak RSS is the child's ru_maxrss (for redis: the server's VmHWM). Ratios are keel's value ÷ the other's.\n\n", f);

    /* the bar */
    fputs("## Against the bar (DESIGN.md section 9)\n\n| measure | value | bar | |\n|---|---:|---:|---|\n", f);
    for (a = 1; a < RP_ALLOCS; a++) {
        if (!rp_present[a]) continue;
        g = rp_geomean(RP_KEEL, a, K_WALL, -1, &n);
        fprintf(f, "| time, keel ÷ %s, geometric mean over %d workloads | %s | ≤ %.2f | %s |\n", rp_alloc[a], n,
                rp_fmt(g, "%.3f"), BAR_TIME, isnan(g) ? "-" : g <= BAR_TIME ? yes : no);
        if (!isnan(g) && g > BAR_TIME)
            sl += (size_t)snprintf(short_of + sl, sizeof short_of - sl,
                                   "- time: keel's geometric mean is %.3f× %s's (bar %.2f).\n", g, rp_alloc[a], BAR_TIME);
    }
    g = rp_geomean(RP_KEEL, -1, K_RSS, -1, &n);
    fprintf(f, "| peak RSS, keel ÷ the smallest peer's, geometric mean over %d workloads | %s | ≤ %.2f | %s |\n", n,
            rp_fmt(g, "%.3f"), BAR_RSS, isnan(g) ? "-" : g <= BAR_RSS ? yes : no);
    if (!isnan(g) && g > BAR_RSS)
        sl += (size_t)snprintf(short_of + sl, sizeof short_of - sl,
                               "- memory: keel's peak RSS is %.2f× the smallest peer's on the geometric mean (bar %.2f).\n", g, BAR_RSS);
    {
        int nt = rp_gaps(K_WALL, BAR_ONE, gaps), nr = rp_gaps(K_RSS, BAR_ONE, gaps);
        fprintf(f, "| workloads slower than %.2f× the fastest peer | %d | 0 | %s |\n", BAR_ONE, nt, nt == 0 ? yes : no);
        fprintf(f, "| workloads with a peak RSS above %.2f× the smallest peer's | %d | 0 | %s |\n", BAR_ONE, nr, nr == 0 ? yes : no);
        if (nt) sl += (size_t)snprintf(short_of + sl, sizeof short_of - sl,
                                       "- %d workload(s) slower than %.2f× the fastest peer (listed below).\n", nt, BAR_ONE);
        if (nr) sl += (size_t)snprintf(short_of + sl, sizeof short_of - sl,
                                       "- %d workload(s) with a peak RSS above %.2f× the smallest peer's (listed below).\n", nr, BAR_ONE);
    }
    if (memret >= 0 && k_after >= 0 && rp_wl[memret].used) {
        double v = rp_val(memret, RP_KEEL, k_after);
        fprintf(f, "| RSS 1 s after freeing %s of small blocks (memret) | %s MiB | < 64 MiB | %s |\n",
                strstr(rp_meta_get("command"), "QUICK") ? "256 MiB (QUICK)" : "1 GiB", rp_mib(v),
                isnan(v) ? "-" : v < 64 * 1024 ? yes : no);
        if (!isnan(v) && v >= 64 * 1024)
            sl += (size_t)snprintf(short_of + sl, sizeof short_of - sl,
                                   "- memory return: keel still holds %.0f MiB one second after the free (bar: under 64 MiB).\n", v / 1024);
    }
    {   /* the same with purge_delay=0, from memret's curve */
        const rp_curve* c = rp_curve_find("keel purge_delay=0");
        if (c) {
            double v = rp_curve_at(c, 1000);
            fprintf(f, "| RSS 1 s after freeing %s of small blocks with purge_delay=0 (memret's curve) | %s MiB | < 16 MiB | %s |\n",
                    strstr(rp_meta_get("command"), "QUICK") ? "256 MiB (QUICK)" : "1 GiB", rp_mib(v),
                    isnan(v) ? "-" : v < 16 * 1024 ? yes : no);
            if (!isnan(v) && v >= 16 * 1024)
                sl += (size_t)snprintf(short_of + sl, sizeof short_of - sl,
                                       "- memory return with purge_delay=0: keel still holds %.0f MiB one second after the free (bar: under 16 MiB).\n",
                                       v / 1024);
        }
    }
    for (w = 0; w < rp_wls; w++) {
        double r;
        if (!rp_wl[w].used || !rp_is_real(rp_wl[w].name)) continue;
        any_real = 1;
        r = rp_val(w, RP_KEEL, K_WALL) / rp_val(w, RP_GLIBC, K_WALL);
        fprintf(f, "| real program %s: time, keel ÷ glibc | %s | ≤ 1.00 | %s |\n", rp_wl[w].name, rp_fmt(r, "%.3f"),
                isnan(r) ? "-" : r <= 1.0 ? yes : no);
        if (!isnan(r) && r > 1.0)
            sl += (size_t)snprintf(short_of + sl, sizeof short_of - sl,
                                   "- real program %s: keel is %.1f%% slower than glibc.\n", rp_wl[w].name, (r - 1) * 100);
        {
            double best = NAN;
            int b = -1;
            for (a = 1; a < RP_ALLOCS; a++) {
                double v = rp_val(w, a, K_WALL);
                if (!isnan(v) && (isnan(best) || v < best)) best = v, b = a;
            }
            r = b < 0 ? NAN : rp_val(w, RP_KEEL, K_WALL) / best;
            fprintf(f, "| real program %s: time, keel ÷ the fastest peer (%s) | %s | ≤ %.2f | %s |\n", rp_wl[w].name,
                    b < 0 ? "-" : rp_alloc[b], rp_fmt(r, "%.3f"), BAR_REAL_PEER, isnan(r) ? "-" : r <= BAR_REAL_PEER ? yes : no);
            if (!isnan(r) && r > BAR_REAL_PEER)
                sl += (size_t)snprintf(short_of + sl, sizeof short_of - sl,
                                       "- real program %s: keel is %.1f%% slower than %s (bar: within %.0f%%).\n", rp_wl[w].name,
                                       (r - 1) * 100, rp_alloc[b], (BAR_REAL_PEER - 1) * 100);
        }
    }
    if (!any_real) fputs("| real programs | not run | | |\n", f);
    if (rp_present[RP_PROF])
        sl = rp_cost_bar(f, RP_PROF, "the heap profile on (profile_sample 524288)", "heap profile: on at 512 KiB", BAR_PROF,
                         short_of, sl, sizeof short_of);
    if (rp_present[RP_GUARD])
        sl = rp_cost_bar(f, RP_GUARD, "guarded sampling on (guarded_sample_rate 1000)", "guarded sampling: on at 1 in 1000",
                         BAR_GUARD, short_of, sl, sizeof short_of);
    if (rp_present[RP_HARD]) {
        static const int keys[2] = {K_WALL, K_RSS};
        static const double bars[2] = {BAR_HARD_TIME, BAR_HARD_RSS};
        int k;
        for (k = 0; k < 2; k++) {
            g = rp_geomean(RP_HARD, RP_KEEL, keys[k], -1, &n);
            fprintf(f, "| %s, the hardened override ÷ keel, geometric mean over %d workloads | %s | ≤ %.2f | %s |\n",
                    k == 0 ? "time" : "peak RSS", n, rp_fmt(g, "%.3f"), bars[k], isnan(g) ? "-" : g <= bars[k] ? yes : no);
            if (!isnan(g) && g > bars[k])
                sl += (size_t)snprintf(short_of + sl, sizeof short_of - sl,
                                       "- hardened build: %s %.3f× the default build's on the geometric mean (bar %.2f; see its section).\n",
                                       k == 0 ? "its time is" : "its peak RSS is", g, bars[k]);
        }
    }
    if (rp_fast_have[RP_KEEL] && rp_fast_have[RP_MIMALLOC]) {
        double r = rp_fast[RP_KEEL][3] / rp_fast[RP_MIMALLOC][3];
        static const char* const pattern[6] = {"fixed 32 B", "mixed 8..255 B", "batches of 100", "fixed 32 B, live blocks kept",
                                               "mixed 8..255 B, live blocks kept", "batches of 100, live blocks kept"};
        int p;
        for (p = 0; p < 6; p++) {
            int i = p < 3 ? p : p + 1;   /* the -live values follow the first geomean */
            double k = rp_fast[RP_KEEL][i], m = rp_fast[RP_MIMALLOC][i];
            bool met = k <= BAR_PAIR && k <= m;
            if (k == 0 || m == 0) continue;   /* an older fastpath.csv: no -live rows */
            fprintf(f, "| instructions per malloc+free pair, %s (callgrind; mimalloc %.1f) | %.1f | ≤ %.0f and ≤ mimalloc | %s |\n",
                    pattern[p], m, k, BAR_PAIR, met ? yes : no);
            if (!met)
                sl += (size_t)snprintf(short_of + sl, sizeof short_of - sl,
                                       "- fast path, %s: %.1f instructions per malloc+free pair (bar: at most %.0f and mimalloc's %.1f).\n",
                                       pattern[p], k, BAR_PAIR, m);
        }
        fprintf(f, "| instructions per malloc+free pair, keel ÷ mimalloc (callgrind, geometric mean of 3 patterns) | %.3f | ≤ 1.00 | %s |\n",
                r, r <= 1.0 ? yes : no);
        if (r > 1.0)
            sl += (size_t)snprintf(short_of + sl, sizeof short_of - sl,
                                   "- fast path: keel runs %.1f instructions per malloc+free pair against mimalloc's %.1f.\n",
                                   rp_fast[RP_KEEL][3], rp_fast[RP_MIMALLOC][3]);
    } else {
        fputs("| instructions per malloc+free pair | not measured (valgrind or a peer missing) | | |\n", f);
    }
    fputc('\n', f);
    fputs("### Where keel falls short\n\n", f);
    fputs(sl ? short_of : "keel meets every bar measured in this run.\n", f);
    n = rp_gaps(K_WALL, 1.05, gaps);
    if (n) {
        fputs("- slower than the fastest peer by more than 5%:", f);
        for (i = 0; i < n; i++)
            fprintf(f, "%s %s %.2f× (%s)", i ? "," : "", rp_wl[gaps[i].w].name, gaps[i].r, rp_alloc[gaps[i].peer]);
        fputs(".\n", f);
    }
    n = rp_gaps(K_RSS, 1.10, gaps);
    if (n) {
        fputs("- peak RSS above the smallest peer's by more than 10%:", f);
        for (i = 0; i < n; i++)
            fprintf(f, "%s %s %.2f× (%s)", i ? "," : "", rp_wl[gaps[i].w].name, gaps[i].r, rp_alloc[gaps[i].peer]);
        fputs(".\n", f);
    }
    fputc('\n', f);

    if (rp_present[RP_PROF]) {
        fputs("## Heap profile cost (keel with profile_sample 524288 ÷ keel)\n\n"
              "| workload | keel (s) | with the profile (s) | time ratio | callgrind instructions ratio |\n|---|---:|---:|---:|---:|\n", f);
        for (w = 0; w < rp_wls; w++) {
            const rp_cell* k = &rp_wl[w].cell[RP_KEEL];
            const rp_cell* p = &rp_wl[w].cell[RP_PROF];
            if (!rp_wl[w].used || !p->ok) continue;
            fprintf(f, "| %s | %s | %s | %s | %s |\n", rp_wl[w].name, rp_time(k->med[K_WALL]), rp_time(p->med[K_WALL]),
                    rp_fmt(p->med[K_WALL] / k->med[K_WALL], "%.3f"), rp_fmt(p->callgrind / k->callgrind, "%.3f"));
        }
        fputc('\n', f);
    }
    if (rp_present[RP_GUARD])
        rp_cost_section(f, RP_GUARD, "Guarded sampling cost (keel with guarded_sample_rate 1000 ÷ keel)", "guarded");
    if (rp_present[RP_HARD])
        rp_cost_section(f, RP_HARD, "Hardened build cost (libkeel-override-hardened.so ÷ libkeel-override.so)", "hardened");
    {   /* first-class heaps (DESIGN.md section 11): the heap-destroy tree dropped whole or block by block */
        int hd = rp_find_wl("heap-destroy", 0), k_drop = -1;
        for (i = K_EXTRA; i < rp_keys; i++) if (strcmp(rp_key[i], "drop_s") == 0) k_drop = i;
        if (hd >= 0 && k_drop >= 0 && rp_wl[hd].used && rp_wl[hd].cell[RP_KHEAP].ok) {
            static const int rows[] = {RP_KHEAP, RP_MIHEAP, RP_KEEL, RP_GLIBC, RP_MIMALLOC, RP_JEMALLOC, RP_TCMALLOC};
            double kd = rp_wl[hd].cell[RP_KHEAP].med[k_drop];
            fputs("## First-class heaps: a structure dropped whole (heap-destroy)\n\n"
                  "| how the tree is dropped | drop s | keel_heap_destroy ÷ this | whole run s | peak RSS MiB |\n"
                  "|---|---:|---:|---:|---:|\n", f);
            for (i = 0; i < (int)(sizeof rows / sizeof rows[0]); i++) {
                const rp_cell* c = &rp_wl[hd].cell[rows[i]];
                if (!c->ok) continue;
                fprintf(f, "| %s%s | %s | %s | %s | %s |\n",
                        rows[i] == RP_KHEAP ? "keel_heap_destroy" : rows[i] == RP_MIHEAP ? "mi_heap_destroy (mimalloc)" : "free of each block, ",
                        rows[i] >= RP_KHEAP ? "" : rp_alloc[rows[i]], rp_fmt(c->med[k_drop], "%.4f"),
                        rp_fmt(kd / c->med[k_drop], "%.3f"), rp_time(c->med[K_WALL]), rp_mib(c->med[K_RSS]));
            }
            fputc('\n', f);
        }
    }
    if (rp_ncurves) {   /* memret's curve (bench/run.sh) */
        static const double at[] = {0, 100, 200, 300, 500, 750, 1000, 1500, 2000};
        int j;
        fprintf(f, "## Memory given back over time (memret's curve)\n\n"
                   "RSS in MiB at each point of time after memret frees its %s of small blocks (the median of the runs; "
                   "each run idles two seconds, one malloc+free of 64 bytes every 10 ms), then when it first falls under "
                   "64 and 16 MiB. keel's purge_delay is 500 ms unless the row says otherwise; the purge thread gives "
                   "back what waited that long (README, Options). Chart: memret_curve.png.\n\n| allocator |",
                strstr(rp_meta_get("command"), "QUICK") ? "256 MiB (QUICK)" : "1 GiB");
        for (j = 0; j < (int)(sizeof at / sizeof at[0]); j++) fprintf(f, " %.0f ms |", at[j]);
        fputs(" under 64 MiB at | under 16 MiB at |\n|---|", f);
        for (j = 0; j < (int)(sizeof at / sizeof at[0]) + 2; j++) fputs("---:|", f);
        fputc('\n', f);
        for (i = 0; i < rp_ncurves; i++) {
            const rp_curve* c = &rp_curves[i];
            double u64 = rp_curve_under(c, 64 * 1024), u16 = rp_curve_under(c, 16 * 1024);
            fprintf(f, "| %s |", c->name);
            for (j = 0; j < (int)(sizeof at / sizeof at[0]); j++) fprintf(f, " %s |", rp_mib(rp_curve_at(c, at[j])));
            fprintf(f, " %s |", isnan(u64) ? "not within the run" : rp_fmt(u64, "%.0f ms"));
            fprintf(f, " %s |\n", isnan(u16) ? "not within the run" : rp_fmt(u16, "%.0f ms"));
        }
        fprintf(f, "\n%d run(s) of each.\n\n", rp_curves[0].reps);
    }
    fputs("## Time (seconds, lower is better)\n\n", f);
    rp_overview(f, K_WALL);
    fputs("## Peak RSS (MiB, lower is better)\n\n", f);
    rp_overview(f, K_RSS);
    fputs("![time and peak RSS normalised to glibc](report.png)\n\n", f);

    if (rp_fast_have[RP_KEEL] || rp_fast_have[RP_GLIBC]) {
        fputs("## Fast path: instructions per malloc+free pair (callgrind, bench/fastpath.sh)\n\n"
              "| allocator | fixed 32 B | mixed 8..255 B | batches of 100 | geometric mean | ÷ mimalloc |\n|---|---:|---:|---:|---:|---:|\n", f);
        for (a = 0; a < RP_ALLOCS; a++) {
            if (!rp_fast_have[a]) continue;
            fprintf(f, "| %s | %.1f | %.1f | %.1f | %.1f | %s |\n", rp_alloc[a], rp_fast[a][0], rp_fast[a][1], rp_fast[a][2],
                    rp_fast[a][3], rp_fast_have[RP_MIMALLOC] ? rp_ratio(rp_fast[a][3], rp_fast[RP_MIMALLOC][3]) : "-");
        }
        fputs("\nkeel through libkeel-override.so, like the peers (LD_PRELOAD); the harness's own instructions left out.\n\n", f);
        if (rp_fast[RP_KEEL][7] > 0) {
            fputs("The same with one live block of every size 8..255 kept, so that no page the patterns use ever "
                  "becomes empty:\n\n"
                  "| allocator | fixed 32 B | mixed 8..255 B | batches of 100 | geometric mean | ÷ mimalloc |\n"
                  "|---|---:|---:|---:|---:|---:|\n", f);
            for (a = 0; a < RP_ALLOCS; a++) {
                if (!rp_fast_have[a] || rp_fast[a][7] == 0) continue;
                fprintf(f, "| %s | %.1f | %.1f | %.1f | %.1f | %s |\n", rp_alloc[a], rp_fast[a][4], rp_fast[a][5],
                        rp_fast[a][6], rp_fast[a][7],
                        rp_fast[RP_MIMALLOC][7] > 0 ? rp_ratio(rp_fast[a][7], rp_fast[RP_MIMALLOC][7]) : "-");
            }
            fputc('\n', f);
        }
    }

    fputs("## Per workload\n\n", f);
    for (w = 0; w < rp_wls; w++) if (rp_wl[w].used) rp_workload_table(f, w);

    fputs("## Method\n\n"
          "- Each workload is a program on plain malloc/free (bench/*.c, bench/real/); glibc runs it as is, the others by "
          "LD_PRELOAD (keel: build/libkeel-override.so). redis-server links jemalloc in Debian, so only the server is "
          "preloaded, and its glibc run preloads libc.so.6 to put glibc's malloc first.\n"
          "- Within a repetition every allocator runs once, the order rotated by one each repetition; the median of the "
          "repetitions is kept (results.csv also has the fastest and slowest). Real programs get one uncounted run first.\n"
          "- Wall time and peak RSS come from wait4 on the child (bench/runner.c); memret times only its allocate+free "
          "phase (the idle second is left out), redis times redis-benchmark and reads the server's VmHWM.\n"
          "- Every workload does a fixed amount of work, so lower is better everywhere. Page faults are the child's "
          "ru_minflt: memory given back to the OS and touched again shows there first.\n"
          "- On a shared virtual machine the cores are not always all there (the machine check above: two CPU-bound "
          "processes side by side against one alone); multi-threaded workloads vary most, see their min..max.\n"
          "- Geometric means are over the workloads where both sides have a result.\n\n", f);
    fclose(f);
}

/* ---- the chart ---- */

static void rp_write_plot(void) {
    static const char* const file[2] = {"report_time.dat", "report_rss.dat"};
    FILE* g;
    int p, w, a;
    for (p = 0; p < 2; p++) {
        FILE* f = rp_open(file[p], "w");
        int key = p ? K_RSS : K_WALL;
        fputs("workload", f);
        for (a = 0; a < RP_ALLOCS; a++) if (rp_present[a]) fprintf(f, " %s", rp_alloc[a]);
        fputc('\n', f);
        for (w = 0; w < rp_wls; w++) {
            double base;
            if (!rp_wl[w].used) continue;
            base = rp_val(w, RP_GLIBC, key);
            fprintf(f, "%s", rp_wl[w].name);
            for (a = 0; a < RP_ALLOCS; a++) {
                double v;
                if (!rp_present[a]) continue;
                v = rp_val(w, a, key);
                if (isnan(v) || isnan(base) || base <= 0 || v <= 0) fputs(" ?", f);
                else fprintf(f, " %.4f", v / base);
            }
            fputc('\n', f);
        }
        fclose(f);
    }
    g = rp_open("report.gp", "w");
    fprintf(g,
            "# gnuplot script of report.png, written by bench/report.c\n"
            "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) { set terminal pngcairo size 1600,1000 font ',10' } else { set terminal png size 1600,1000 }\n"
            "set output 'report.png'\n"
            "set datafile missing '?'\n"
            "set style data histogram\n"
            "set style histogram clustered gap 1\n"
            "set style fill solid 0.85 border -1\n"
            "set boxwidth 0.9\n"
            "set logscale y 2\n"
            "set grid ytics\n"
            "set key outside right top vertical\n"
            "set xtics rotate by -35 scale 0\n"
            "set arrow 1 from graph 0, first 1 to graph 1, first 1 nohead lw 1.5 dt 2\n"
            "set multiplot layout 2,1 title 'keel vs peers, %s, %s (lower is better)'\n"
            "set ylabel 'time / glibc (log scale)'\n"
            "plot for [i=2:%d] 'report_time.dat' using i:xtic(1) title columnheader(i)\n"
            "set ylabel 'peak RSS / glibc (log scale)'\n"
            "plot for [i=2:%d] 'report_rss.dat' using i:xtic(1) title columnheader(i)\n"
            "unset multiplot\n",
            rp_meta_get("date"), rp_meta_get("command"), 1 + rp_present[0] + rp_present[1] + rp_present[2] + rp_present[3] + rp_present[4],
            1 + rp_present[0] + rp_present[1] + rp_present[2] + rp_present[3] + rp_present[4]);
    fclose(g);
    if (rp_ncurves) {   /* memret_curve.png: the median curves on a 10 ms grid */
        FILE* f = rp_open("memret_curve.dat", "w");
        double ms;
        int i;
        fputs("t_ms", f);
        for (i = 0; i < rp_ncurves; i++) fprintf(f, " \"%s\"", rp_curves[i].name);
        fputc('\n', f);
        for (ms = 0; ms <= 2000; ms += 10) {
            fprintf(f, "%.0f", ms);
            for (i = 0; i < rp_ncurves; i++) {
                double v = rp_curve_at(&rp_curves[i], ms);
                if (isnan(v) || v <= 0) fputs(" ?", f);
                else fprintf(f, " %.2f", v / 1024);
            }
            fputc('\n', f);
        }
        fclose(f);
        g = rp_open("memret_curve.gp", "w");
        fprintf(g,
                "# gnuplot script of memret_curve.png, written by bench/report.c\n"
                "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) { set terminal pngcairo size 1200,700 font ',10' } else { set terminal png size 1200,700 }\n"
                "set output 'memret_curve.png'\n"
                "set datafile missing '?'\n"
                "set termoption noenhanced\n"
                "set linetype 9 lc rgb '#8c564b'\nset linetype 10 lc rgb '#e377c2'\nset linetype 11 lc rgb '#7f7f7f'\n"
                "set linetype 12 lc rgb '#bcbd22'\nset linetype 13 lc rgb '#17becf'\nset linetype 14 lc rgb '#ff7f0e'\n"
                "set linetype 15 lc rgb '#2ca02c'\nset linetype 16 lc rgb '#d62728'\n"
                "set title 'RSS after memret frees its blocks, %s, %s'\n"
                "set xlabel 'ms after the last free'\n"
                "set ylabel 'RSS MiB (log scale)'\n"
                "set logscale y 2\n"
                "set grid\n"
                "set key outside right top vertical\n"
                "set arrow 1 from graph 0, first 64 to graph 1, first 64 nohead lw 1 dt 2\n"
                "set arrow 2 from graph 0, first 16 to graph 1, first 16 nohead lw 1 dt 3\n"
                "plot for [i=2:%d] 'memret_curve.dat' using 1:i with lines lw 2 lt (i - 1) title columnheader(i)\n",
                rp_meta_get("date"), rp_meta_get("command"), 1 + rp_ncurves);
        fclose(g);
    }
}

/* ---- the summary on stdout ---- */

static void rp_print_summary(void) {
    int w, a, n;
    printf("\n%-14s", "time s");
    for (a = 0; a < RP_ALLOCS; a++) if (rp_present[a]) printf(" %10s", rp_alloc[a]);
    printf("   %-9s", "peak MiB");
    for (a = 0; a < RP_ALLOCS; a++) if (rp_present[a]) printf(" %9s", rp_alloc[a]);
    putchar('\n');
    for (w = 0; w < rp_wls; w++) {
        if (!rp_wl[w].used) continue;
        printf("%-14s", rp_wl[w].name);
        for (a = 0; a < RP_ALLOCS; a++) if (rp_present[a]) printf(" %10s", rp_time(rp_val(w, a, K_WALL)));
        printf("   %-9s", "");
        for (a = 0; a < RP_ALLOCS; a++) if (rp_present[a]) printf(" %9s", rp_mib(rp_val(w, a, K_RSS)));
        putchar('\n');
    }
    printf("\ngeometric means, keel ÷ peer:");
    for (a = 1; a < RP_ALLOCS; a++)
        if (rp_present[a]) printf("  %s time %s", rp_alloc[a], rp_fmt(rp_geomean(RP_KEEL, a, K_WALL, -1, &n), "%.3f"));
    printf("\npeak RSS, keel ÷ smallest peer: %s (bar %.2f)\n", rp_fmt(rp_geomean(RP_KEEL, -1, K_RSS, -1, &n), "%.3f"), BAR_RSS);
}

int main(int argc, char** argv) {
    if (argc != 2) {
        fputs("usage: report DIR   (DIR: build/bench, as bench/run.sh leaves it)\n", stderr);
        return 2;
    }
    rp_dir = argv[1];
    rp_read_workloads();
    rp_read_runs();
    rp_read_meta();
    rp_read_fastpath();
    rp_read_callgrind();
    rp_read_curve();
    rp_medians();
    rp_write_csv();
    rp_write_md();
    rp_write_plot();
    rp_print_summary();
    return 0;
}
