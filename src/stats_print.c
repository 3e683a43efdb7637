/* stats_print.c — keel_stats_print: the statistics in human units, one
   line at a time, each built in a stack buffer and starting "keel: ". No
   stdio and no heap: it runs inside the allocator (malloc_stats) and at exit
   (KEEL_SHOW_STATS, whose destructor is in stats.c), maybe with fd 2 closed.
   Entry points: keel_stats_print, keel__stats_report. */
#include "guarded.h"
#include "internal.h"

#include <limits.h>
#include <string.h>

/* One output line; longer text is cut, never overflows. */
typedef struct sp_line { char text[240]; size_t len; } sp_line;

static void sp_put(sp_line* b, const char* s) {
    while (*s && b->len < sizeof b->text - 2) b->text[b->len++] = *s++;
}

/* v in decimal into d (at least 24 bytes), NUL-terminated. */
static void sp_format_uint(char* d, unsigned long long v) {
    char r[24];
    int n = 0, i = 0;
    do {
        r[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n > 0) d[i++] = r[--n];
    d[i] = '\0';
}

static void sp_uint(sp_line* b, unsigned long long v) {
    char d[24];
    sp_format_uint(d, v);
    sp_put(b, d);
}

/* s right-aligned in width columns. */
static void sp_right(sp_line* b, const char* s, size_t width) {
    size_t n = 0;
    while (s[n]) n++;
    while (n < width && b->len < sizeof b->text - 2) b->text[b->len++] = ' ', width--;
    sp_put(b, s);
}

static void sp_right_uint(sp_line* b, unsigned long long v, size_t width) {
    char d[24];
    sp_format_uint(d, v);
    sp_right(b, d, width);
}

/* whole.tenth (tenth 0..9) then the suffix, into d (at least 40 bytes). */
static void sp_format_tenths(char* d, unsigned long long whole, unsigned tenth, const char* suffix) {
    size_t i = 0;
    sp_format_uint(d, whole);
    while (d[i]) i++;
    d[i++] = '.';
    d[i++] = (char)('0' + tenth);
    while (*suffix && i < 39) d[i++] = *suffix++;
    d[i] = '\0';
}

/* Bytes in human units: "123 B", "1.5 KiB", "12.0 MiB", "3.2 GiB" (GiB
   above that too); rounded to the nearest tenth. */
static void sp_format_size(char* d, size_t bytes) {
    static const char* const units[] = {" KiB", " MiB", " GiB"};
    unsigned long long unit = 1024, whole, tenth;
    int u = 0;
    if (bytes < 1024) {
        size_t i = 0;
        sp_format_uint(d, bytes);
        while (d[i]) i++;
        d[i++] = ' ';
        d[i++] = 'B';
        d[i] = '\0';
        return;
    }
    while (u < 2 && bytes >= unit * 1024) unit *= 1024, u++;
    whole = bytes / unit;
    tenth = ((bytes % unit) * 10 + unit / 2) / unit;
    if (tenth == 10) whole++, tenth = 0;
    sp_format_tenths(d, whole, (unsigned)tenth, units[u]);
}

static void sp_size(sp_line* b, size_t bytes) {
    char d[40];
    sp_format_size(d, bytes);
    sp_put(b, d);
}

static void sp_right_size(sp_line* b, size_t bytes, size_t width) {
    char d[40];
    sp_format_size(d, bytes);
    sp_right(b, d, width);
}

/* Microseconds as seconds with millisecond precision: "1.234 s". */
static void sp_seconds(sp_line* b, uint64_t us) {
    uint64_t ms = (us + 500) / 1000;
    char d[8];
    sp_uint(b, ms / 1000);
    d[0] = '.';
    d[1] = (char)('0' + ms / 100 % 10);
    d[2] = (char)('0' + ms / 10 % 10);
    d[3] = (char)('0' + ms % 10);
    d[4] = '\0';
    sp_put(b, d);
    sp_put(b, " s");
}

/* part / whole as a percentage with one decimal, right-aligned: " 12.5%". */
static void sp_right_percent(sp_line* b, size_t part, size_t whole, size_t width) {
    char d[40];
    unsigned long long tenths, p = part, w = whole;
    if (w == 0) {
        sp_right(b, "-", width);
        return;
    }
    /* per mille, rounded; the product stays in 64 bits */
    if (p > ULLONG_MAX / 1000u) p >>= 10, w >>= 10;
    tenths = w == 0 ? 0 : (p * 1000u + w / 2) / w;
    sp_format_tenths(d, tenths / 10, (unsigned)(tenths % 10), "%");
    sp_right(b, d, width);
}

/* Where the lines go: out, or fd 2 through a buffer written in as few
   writes as it takes (one for any usual report), so that reports of
   processes exiting at once (forked children) do not interleave. */
typedef struct sp_sink {
    keel_output_fn out;
    void* user_data;
    char raw[12 << 10];
    size_t len;
} sp_sink;

static void sp_flush(sp_sink* k) {
    if (k->len) keel__os_write_stderr(k->raw, k->len);   /* fd 2 closed: nothing, silently */
    k->len = 0;
}

/* Sends the line, with its newline; b starts the next line. */
static void sp_emit(sp_line* b, sp_sink* k) {
    b->text[b->len++] = '\n';
    b->text[b->len] = '\0';
    if (k->out) {
        k->out(b->text, k->user_data);
    } else {
        if (k->len + b->len > sizeof k->raw) sp_flush(k);
        memcpy(k->raw + k->len, b->text, b->len);
        k->len += b->len;
    }
    b->len = 0;
    sp_put(b, "keel: ");
}

/* The table's columns and their widths. */
static void sp_header(sp_line* b) {
    sp_right(b, "class", 5);
    sp_right(b, "block size", 12);
    sp_right(b, "live blocks", 13);
    sp_right(b, "live bytes", 12);
    sp_right(b, "pages", 7);
    sp_right(b, "committed", 12);
    sp_right(b, "use %", 8);
}

static void sp_row(sp_line* b, const char* cls, const char* bsize, const keel_class_usage* u) {
    sp_right(b, cls, 5);
    sp_right(b, bsize, 12);
    sp_right_uint(b, u->blocks, 13);
    sp_right_size(b, u->bytes, 12);
    sp_right_uint(b, u->pages, 7);
    sp_right_size(b, u->committed, 12);
    sp_right_percent(b, u->bytes, u->committed, 8);
}

void keel__stats_report(keel_output_fn out, void* user_data, const char* title) {
    keel_class_usage classes[KEEL_CLASS_COUNT];
    keel_stats st;
    vmem_usage vm;
    keel_os_usage os;
    sp_line b;
    sp_sink sink;
    size_t i, peak_live;
    /* every number first (the walk holds keel's locks; out may allocate) */
    for (i = 0; i < KEEL_CLASS_COUNT; i++) classes[i].pages = classes[i].blocks = classes[i].bytes = classes[i].committed = 0;
    st = keel__stats_read(classes);
    peak_live = keel__stat_peak_live();
    if (peak_live < st.num_bytes_allocated) peak_live = st.num_bytes_allocated;
    vm = vmem_get_usage_summary();
    (void)keel__os_usage(&os);
    /* the OS updates its high-water mark lazily: it may trail the RSS just read */
    if (os.peak_resident && os.peak_resident < vm.process_resident_bytes) os.peak_resident = vm.process_resident_bytes;

    sink.out = out;
    sink.user_data = user_data;
    sink.len = 0;
    b.len = 0;
    sp_put(&b, "keel: ");
    sp_put(&b, title);
    sp_put(&b, " (pid ");
    sp_uint(&b, keel__os_pid());
    sp_put(&b, ")");
    sp_emit(&b, &sink);

    sp_put(&b, "live ");
    sp_size(&b, st.num_bytes_allocated);
    sp_put(&b, " in ");
    sp_uint(&b, st.num_live_blocks);
    sp_put(&b, " blocks (peak ");
    sp_size(&b, peak_live);
    sp_put(&b, ", sampled)");
    sp_emit(&b, &sink);

    sp_put(&b, "committed ");
    sp_size(&b, st.virtual_memory_size);
    sp_put(&b, " (peak ");
    sp_size(&b, st.peak_virtual_memory_size);
    sp_put(&b, "), reserved ");
    sp_size(&b, st.reserved_bytes);
    sp_put(&b, ", cached ");
    sp_size(&b, st.cached_bytes);
    sp_emit(&b, &sink);

    sp_put(&b, "process RSS ");
    if (vm.process_resident_bytes) sp_size(&b, vm.process_resident_bytes);
    else sp_put(&b, "unknown");
    sp_put(&b, " (peak ");
    if (os.peak_resident) sp_size(&b, os.peak_resident);
    else sp_put(&b, "unknown");
    sp_put(&b, ")");
    sp_emit(&b, &sink);

    /* a plain number: scripts read allocations from this line */
    sp_put(&b, "allocs ");
    sp_uint(&b, st.num_allocs);
    sp_put(&b, ", frees ");
    sp_uint(&b, st.num_frees);
    sp_emit(&b, &sink);

    sp_put(&b, "threads seen ");
    sp_uint(&b, keel__stat_heaps_created());
    sp_put(&b, ", heaps alive ");
    sp_uint(&b, st.num_heaps);
    sp_put(&b, ", segments ");
    sp_uint(&b, st.num_segments);
    sp_emit(&b, &sink);

    {   /* guarded sampling (guarded.h), once it has guarded a block */
        size_t taken, skipped, skipped_cost, live_blocks, live_bytes;
        keel__guarded_counts(&taken, &skipped, &skipped_cost);
        if (taken || skipped || skipped_cost) {
            keel__guarded_live(&live_blocks, &live_bytes);
            sp_put(&b, "guarded ");
            sp_uint(&b, taken);
            sp_put(&b, " blocks, ");
            sp_uint(&b, live_blocks);
            sp_put(&b, " live (");
            sp_size(&b, live_bytes);
            sp_put(&b, "); ");
            sp_uint(&b, skipped);
            sp_put(&b, " samples skipped, the pool full; ");
            sp_uint(&b, skipped_cost);
            sp_put(&b, " skipped, the cost cap");
            sp_emit(&b, &sink);
        }
    }

    sp_put(&b, "elapsed ");
    sp_seconds(&b, keel__stat_elapsed_ms() * 1000u);
    sp_put(&b, ", CPU ");
    sp_seconds(&b, os.user_us + os.system_us);
    sp_put(&b, " (user ");
    sp_seconds(&b, os.user_us);
    sp_put(&b, ", system ");
    sp_seconds(&b, os.system_us);
    sp_put(&b, ")");
    sp_emit(&b, &sink);

    sp_header(&b);
    sp_emit(&b, &sink);
    for (i = 1; i < KEEL_CLASS_COUNT; i++) {
        char cls[24], bsize[40];
        if (classes[i].pages == 0) continue;
        sp_format_uint(cls, i);
        sp_format_size(bsize, keel__class_size[i]);
        sp_row(&b, cls, bsize, &classes[i]);
        sp_emit(&b, &sink);
    }
    sp_row(&b, "large", "-", &classes[0]);
    sp_emit(&b, &sink);
    sp_flush(&sink);
}

void keel_stats_print(keel_output_fn out, void* user_data) {
    keel__stats_report(out, user_data, "stats");
}
