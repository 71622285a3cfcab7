/*
 * Per-filter timing for ffmpeg 5.1 (libavfilter 8), loaded with
 * LD_PRELOAD by the SXML corpus bench (tests/benches/sxml_corpus.rs).
 * ffmpeg 5.1 has no per-filter timing of its own, and its `bench` filter
 * measures queue waits as well as work (lavfi runs filters one at a time
 * from a ready list, so frames wait between filters).
 *
 * Every filter's callbacks that do the work — `activate`, and on its
 * pads `filter_frame` and `request_frame` — are replaced in libavfilter's
 * own tables by wrappers that time each call (wall clock, exclusive of
 * nested calls) and add it to the filter's total. At exit the totals go
 * to $DRAKE_FILTER_PROFILE/<pid>.prof, one line per filter:
 * `name calls seconds`, and a line `wall seconds` for the process.
 *
 * The structures below are libavfilter 8's private layouts (FFmpeg 5.1's
 * libavfilter/avfilter.h and internal.h); they are checked against the
 * public pad count API before anything is replaced, and on a mismatch
 * nothing is replaced and the file says `unavailable: …`.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

typedef struct Link Link;
typedef struct Ctx Ctx;
typedef int (*frame_fn)(Link *, void *);
typedef int (*request_fn)(Link *);
typedef int (*activate_fn)(Ctx *);

/* AVFilterPad (internal.h). */
typedef struct Pad {
    const char *name;
    int type;
    int flags;
    void *get_buffer;
    frame_fn filter_frame;
    request_fn request_frame;
    void *config_props;
} Pad;

/* AVFilter: public part, then the private one. */
typedef struct Filter {
    const char *name;
    const char *description;
    Pad *inputs;
    Pad *outputs;
    const void *priv_class;
    int flags;
    uint8_t nb_inputs;
    uint8_t nb_outputs;
    uint8_t formats_state;
    void *preinit, *init, *init_dict, *uninit;
    void *formats;
    int priv_size;
    int flags_internal;
    void *process_command;
    activate_fn activate;
} Filter;

/* AVFilterContext and AVFilterLink: their first, public fields. */
struct Ctx {
    const void *av_class;
    const Filter *filter;
};
struct Link {
    Ctx *src;
    Pad *srcpad;
    Ctx *dst;
    Pad *dstpad;
};

#define MAX_FILTERS 1024
#define MAX_PADS 4096

static struct Stat {
    const Filter *filter;
    activate_fn activate;
    unsigned long long calls;
    double seconds;
} stats[MAX_FILTERS];
static int nstats;

static struct Orig {
    const Pad *pad;
    frame_fn filter_frame;
    request_fn request_frame;
} origs[MAX_PADS];
static int norigs;

static double started;
static char unavailable[200];

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static struct Stat *stat_of(const Filter *f)
{
    int lo = 0, hi = nstats;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (stats[mid].filter < f)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < nstats && stats[lo].filter == f ? &stats[lo] : NULL;
}

static struct Orig *orig_of(const Pad *p)
{
    int lo = 0, hi = norigs;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (origs[mid].pad < p)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < norigs && origs[lo].pad == p ? &origs[lo] : NULL;
}

/* A pad copied at run time from a filter's first (template) pad, as
 * filters with dynamic pads make them, calls what the template did. */
static struct Orig *orig_pad(const Pad *pad, const Pad *first)
{
    struct Orig *o = orig_of(pad);
    if (!o && first)
        o = orig_of(first);
    if (!o) {
        fprintf(stderr, "filterprof: a pad it does not know\n");
        abort();
    }
    return o;
}

/* Time spent in calls nested inside the current one, so that each
 * filter is charged its own time only. */
static double nested;

#define TIMED(filter, call)                                                \
    double outer = nested;                                                 \
    nested = 0;                                                            \
    double t0 = now();                                                     \
    int r = call;                                                          \
    double spent = now() - t0;                                             \
    struct Stat *st = stat_of(filter);                                     \
    if (st) {                                                              \
        st->calls++;                                                       \
        st->seconds += spent - nested;                                     \
    }                                                                      \
    nested = outer + spent;                                                \
    return r;

static int timed_activate(Ctx *ctx)
{
    activate_fn f = stat_of(ctx->filter)->activate;
    TIMED(ctx->filter, f(ctx))
}

static int timed_filter_frame(Link *link, void *frame)
{
    const Filter *f = link->dst->filter;
    frame_fn call = orig_pad(link->dstpad, f->nb_inputs ? f->inputs : NULL)->filter_frame;
    TIMED(f, call(link, frame))
}

static int timed_request_frame(Link *link)
{
    const Filter *f = link->src->filter;
    request_fn call = orig_pad(link->srcpad, f->nb_outputs ? f->outputs : NULL)->request_frame;
    TIMED(f, call(link))
}

static int writable(const void *p, size_t n)
{
    long page = sysconf(_SC_PAGESIZE);
    uintptr_t a = (uintptr_t)p & ~(uintptr_t)(page - 1);
    uintptr_t b = (uintptr_t)p + n;
    return mprotect((void *)a, b - a, PROT_READ | PROT_WRITE) == 0;
}

static int by_pad(const void *a, const void *b)
{
    const Pad *x = ((const struct Orig *)a)->pad, *y = ((const struct Orig *)b)->pad;
    return x < y ? -1 : x > y;
}

static int by_filter(const void *a, const void *b)
{
    const Filter *x = ((const struct Stat *)a)->filter, *y = ((const struct Stat *)b)->filter;
    return x < y ? -1 : x > y;
}

static void add_pads(const Pad *pads, int n)
{
    for (int i = 0; i < n && norigs < MAX_PADS; i++) {
        if (orig_of(&pads[i]))
            continue; /* pads shared by several filters */
        origs[norigs].pad = &pads[i];
        origs[norigs].filter_frame = pads[i].filter_frame;
        origs[norigs].request_frame = pads[i].request_frame;
        norigs++;
        qsort(origs, norigs, sizeof origs[0], by_pad);
    }
}

static void hook_pads(Pad *pads, int n)
{
    for (int i = 0; i < n; i++) {
        if (pads[i].filter_frame && pads[i].filter_frame != (frame_fn)timed_filter_frame)
            pads[i].filter_frame = (frame_fn)timed_filter_frame;
        if (pads[i].request_frame && pads[i].request_frame != timed_request_frame)
            pads[i].request_frame = timed_request_frame;
    }
}

__attribute__((constructor)) static void start(void)
{
    started = now();
    void *lib = dlopen("libavfilter.so.8", RTLD_NOW);
    const Filter *(*iterate)(void **) = lib ? dlsym(lib, "av_filter_iterate") : NULL;
    unsigned (*pad_count)(const Filter *, int) =
        lib ? dlsym(lib, "avfilter_filter_pad_count") : NULL;
    if (!iterate || !pad_count) {
        snprintf(unavailable, sizeof unavailable, "libavfilter.so.8 not found");
        return;
    }
    const Filter *all[MAX_FILTERS];
    int n = 0;
    void *it = NULL;
    for (const Filter *f; n < MAX_FILTERS && (f = iterate(&it));)
        all[n++] = f;
    /* The layout check: the private pad counts match the public API's,
     * and every input pad of a filter that has inputs is named. */
    for (int i = 0; i < n; i++) {
        const Filter *f = all[i];
        if (f->nb_inputs != pad_count(f, 0) || f->nb_outputs != pad_count(f, 1) ||
            (f->nb_inputs && (!f->inputs || !f->inputs[0].name))) {
            snprintf(unavailable, sizeof unavailable,
                     "libavfilter's layout is not ffmpeg 5.1's (filter %s)", f->name);
            return;
        }
    }
    for (int i = 0; i < n; i++) {
        add_pads(all[i]->inputs, all[i]->nb_inputs);
        add_pads(all[i]->outputs, all[i]->nb_outputs);
        stats[nstats].filter = all[i];
        stats[nstats].activate = all[i]->activate;
        nstats++;
    }
    qsort(stats, nstats, sizeof stats[0], by_filter);
    for (int i = 0; i < n; i++) {
        Filter *f = (Filter *)all[i];
        if (!writable(f, sizeof *f) ||
            (f->nb_inputs && !writable(f->inputs, f->nb_inputs * sizeof(Pad))) ||
            (f->nb_outputs && !writable(f->outputs, f->nb_outputs * sizeof(Pad)))) {
            snprintf(unavailable, sizeof unavailable, "mprotect failed");
            return;
        }
        /* The sinks check that their activate is theirs (and do no work). */
        if (f->activate && strcmp(f->name, "buffersink") && strcmp(f->name, "abuffersink"))
            f->activate = timed_activate;
        hook_pads(f->inputs, f->nb_inputs);
        hook_pads(f->outputs, f->nb_outputs);
    }
}

__attribute__((destructor)) static void report(void)
{
    const char *dir = getenv("DRAKE_FILTER_PROFILE");
    if (!dir)
        return;
    char path[4096];
    snprintf(path, sizeof path, "%s/%d.prof", dir, (int)getpid());
    FILE *out = fopen(path, "w");
    if (!out)
        return;
    if (unavailable[0])
        fprintf(out, "unavailable: %s\n", unavailable);
    for (int i = 0; i < nstats; i++)
        if (stats[i].calls)
            fprintf(out, "%s %llu %.6f\n", stats[i].filter->name, stats[i].calls,
                    stats[i].seconds);
    fprintf(out, "wall %.6f\n", now() - started);
    fclose(out);
}
