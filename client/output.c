/* SPDX-License-Identifier: ISC */
/* The table/JSON/CSV writer shared by every netdiag command: JSON and CSV
 * stream row by row, tables are buffered so column widths can be fitted. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "fmt.h"
#include "json.h"
#include "output.h"
#include "util.h"

#define OUTPUT_ELLIPSIS "\xe2\x80\xa6" /* U+2026, one column wide */
#define OUTPUT_GAP      2              /* spaces between table columns */
#define OUTPUT_FLEX_MIN 8              /* a cut column keeps at least this */
#define OUTPUT_NAME_MIN 5              /* a cut name (kept column) keeps at least this */
#define OUTPUT_DROP_MIN 16             /* columns are dropped until free text gets this much */

struct output {
    FILE *fp;
    enum output_format format;
    enum output_layout layout;
    const struct output_column *cols;
    size_t ncols;
    int width_cols;
    bool wide;
    size_t cell;  /* next column of the current row */
    size_t nrows; /* rows ended so far */
    char **cells; /* table mode: nrows * ncols sanitized texts */
    size_t ncells, cells_cap;
    char *empty;    /* output_set_empty() */
    bool has_empty; /* output_set_empty() was called */
    bool stream;    /* output_stream() */
    bool laid;      /* a streamed table's widths are fixed (w, visible) */
    size_t *w;      /* streamed table: column widths */
    bool *visible;  /* streamed table: columns shown */
};

int output_format_from_name(const char *name)
{
    static const enum output_format all[] = {OUTPUT_TABLE, OUTPUT_JSON, OUTPUT_CSV};
    for (size_t i = 0; i < ND_ARRAY_LEN(all); i++)
        if (strcmp(name, output_format_name(all[i])) == 0)
            return (int)all[i];
    return -1;
}

const char *output_format_name(enum output_format format)
{
    switch (format) {
    case OUTPUT_TABLE:
        return "table";
    case OUTPUT_JSON:
        return "json";
    case OUTPUT_CSV:
        return "csv";
    }
    return "?";
}

static void *output_zalloc(size_t size)
{
    return memset(fmt_alloc(NULL, size), 0, size ? size : 1);
}

size_t output_text_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80) /* not a UTF-8 continuation byte */
            w++;
    return w;
}

/* The escaping of output_escape(); newlines kept when keep_nl. */
static void output_escape_nl(const char *s, char *buf, size_t len, bool keep_nl)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0;

    if (len == 0)
        return;
    while (*p && o + 7 < len) {
        size_t n = json_utf8_len(p);
        if (*p == '\n' && keep_nl) {
            buf[o++] = '\n';
            p++;
        } else if (*p == '\t' || *p == '\n' || *p == '\r') {
            buf[o++] = ' ';
            p++;
        } else if (n == 0 || *p < 0x20 || *p == 0x7f) {
            o += (size_t)snprintf(buf + o, len - o, "\\x%02x", *p);
            p++;
        } else if (n == 2 && p[0] == 0xc2 && p[1] < 0xa0) { /* C1 controls, U+0080-009F */
            o += (size_t)snprintf(buf + o, len - o, "\\u%04x", p[1]);
            p += 2;
        } else {
            memcpy(buf + o, p, n);
            o += n;
            p += n;
        }
    }
    buf[o] = '\0';
}

void output_escape(const char *s, char *buf, size_t len)
{
    output_escape_nl(s, buf, len, false);
}

/* Bytes of the first `cols` code points of s. */
static size_t output_prefix_bytes(const char *s, size_t cols)
{
    const char *p = s;
    while (*p && cols > 0) {
        p++;
        while (((unsigned char)*p & 0xc0) == 0x80)
            p++;
        cols--;
    }
    return (size_t)(p - s);
}

int output_width(FILE *fp)
{
    const char *env = getenv("COLUMNS");
    struct winsize ws;
    int64_t v;
    char err[128];

    if (env != NULL && util_parse_int(env, 20, 10000, &v, err, sizeof(err)) == 0)
        return (int)v;
    if (isatty(fileno(fp)) && ioctl(fileno(fp), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 0;
}

struct output *output_new(FILE *fp, enum output_format format, enum output_layout layout,
                          const struct output_column *cols, size_t ncols, int width_cols, bool wide)
{
    struct output *o = output_zalloc(sizeof(*o));

    if (ncols == 0) {
        fputs("netdiag: internal error: an output without columns\n", stderr);
        abort();
    }
    o->fp = fp;
    o->format = format;
    o->layout = layout;
    o->cols = cols;
    o->ncols = ncols;
    o->width_cols = width_cols;
    o->wide = wide;
    if (format == OUTPUT_CSV) {
        /* The header comes first even when no row follows, so an empty
         * result still says what its columns are. */
        for (size_t i = 0; i < ncols; i++)
            fprintf(fp, "%s%s", i ? "," : "", cols[i].name);
        fputc('\n', fp);
    }
    return o;
}

static void output_json_put(const char *p, size_t n, void *arg)
{
    fwrite(p, 1, n, arg);
}

/* s as a JSON string that is always valid (common/json.c): the text
 * someone else wrote into the database may hold anything. */
static void output_json_string(FILE *fp, const char *s)
{
    json_write(s, output_json_put, fp);
}

/* s with bytes that are not UTF-8 written as U+FFFD: CSV is text. */
static void output_csv_text(FILE *fp, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    while (*p) {
        size_t n = json_utf8_len(p);
        if (n == 0) {
            fputs("\xef\xbf\xbd", fp);
            p++;
            continue;
        }
        if (*p == '"')
            fputc('"', fp);
        fwrite(p, 1, n, fp);
        p += n;
    }
}

/* RFC 4180: quote a field holding a comma, a quote or a line break, and
 * double the quotes inside. */
static void output_csv_field(FILE *fp, const char *s)
{
    bool quote = strpbrk(s, ",\"\r\n") != NULL;

    if (quote)
        fputc('"', fp);
    output_csv_text(fp, s);
    if (quote)
        fputc('"', fp);
}

/* Table cells never carry control characters or broken UTF-8 to the
 * terminal: they show as \xNN (output_escape()); tabs and carriage
 * returns become spaces, newlines stay (record layout breaks lines there,
 * list layout prints a space). */
static void output_table_push(struct output *o, const char *s)
{
    size_t len = strlen(s) * 6 + 8;
    char *t = fmt_alloc(NULL, len);

    output_escape_nl(s, t, len, true);
    FMT_RESERVE(o->cells, o->cells_cap, o->ncells + 1);
    o->cells[o->ncells++] = t;
}

/* Opens the next cell; returns false in table mode, where the caller
 * buffers the text instead of writing it. */
static bool output_cell_begin(struct output *o)
{
    if (o->cell >= o->ncols) {
        fprintf(stderr, "netdiag: internal error: row has more than %zu cells\n", o->ncols);
        abort();
    }
    switch (o->format) {
    case OUTPUT_TABLE:
        o->cell++;
        return false;
    case OUTPUT_JSON:
        if (o->cell == 0 && o->stream)
            fputc('{', o->fp);
        else if (o->cell == 0)
            fputs(o->nrows == 0 ? "[\n{" : ",\n{", o->fp);
        else
            fputc(',', o->fp);
        output_json_string(o->fp, o->cols[o->cell].name);
        fputc(':', o->fp);
        break;
    case OUTPUT_CSV:
        if (o->cell > 0)
            fputc(',', o->fp);
        break;
    }
    o->cell++;
    return true;
}

void output_str(struct output *o, const char *s)
{
    if (!output_cell_begin(o)) {
        output_table_push(o, s != NULL ? s : "-");
        return;
    }
    if (o->format == OUTPUT_JSON) {
        if (s == NULL)
            fputs("null", o->fp);
        else
            output_json_string(o->fp, s);
    } else if (s != NULL) {
        output_csv_field(o->fp, s);
    }
}

void output_int(struct output *o, int64_t v)
{
    char buf[32];

    snprintf(buf, sizeof(buf), "%lld", (long long)v);
    if (!output_cell_begin(o))
        output_table_push(o, buf);
    else
        fputs(buf, o->fp);
}

void output_str_shown(struct output *o, const char *s, const char *shown)
{
    if (o->format == OUTPUT_TABLE)
        output_str(o, shown);
    else
        output_str(o, s);
}

void output_int_shown(struct output *o, int64_t v, const char *shown)
{
    if (o->format == OUTPUT_TABLE)
        output_str(o, shown);
    else
        output_int(o, v);
}

void output_double(struct output *o, double v, int decimals, const char *shown)
{
    char buf[64];

    if (!isfinite(v)) { /* JSON has no NaN or infinity */
        output_null(o);
        return;
    }
    snprintf(buf, sizeof(buf), "%.*f", decimals, v);
    if (!output_cell_begin(o))
        output_table_push(o, shown != NULL ? shown : buf);
    else
        fputs(buf, o->fp);
}

void output_null(struct output *o)
{
    output_str(o, NULL);
}

void output_time(struct output *o, int64_t ms, bool utc, const char *shown)
{
    char iso[64], short_text[64];

    fmt_time(ms, utc, FMT_TIME_ISO, iso, sizeof(iso));
    if (shown == NULL) {
        fmt_time(ms, utc, FMT_TIME_SHORT, short_text, sizeof(short_text));
        shown = short_text;
    }
    output_int(o, ms);
    output_str_shown(o, iso, shown);
}

void output_bool(struct output *o, bool v)
{
    if (!output_cell_begin(o))
        output_table_push(o, v ? "yes" : "no");
    else
        fputs(v ? "true" : "false", o->fp);
}

void output_list(struct output *o, const char *const *items, size_t n)
{
    const char *sep = o->format == OUTPUT_TABLE ? ", " : " ";
    size_t len = 1;
    char *joined;

    if (output_cell_begin(o) && o->format == OUTPUT_JSON) {
        fputc('[', o->fp);
        for (size_t i = 0; i < n; i++) {
            if (i)
                fputc(',', o->fp);
            output_json_string(o->fp, items[i]);
        }
        fputc(']', o->fp);
        return;
    }
    /* Table and CSV show the items joined in one field. */
    for (size_t i = 0; i < n; i++)
        len += strlen(items[i]) + strlen(sep);
    joined = fmt_alloc(NULL, len);
    joined[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (i)
            strcat(joined, sep);
        strcat(joined, items[i]);
    }
    if (o->format == OUTPUT_TABLE)
        output_table_push(o, n > 0 ? joined : "-");
    else
        output_csv_field(o->fp, joined);
    free(joined);
}

void output_end_row(struct output *o)
{
    if (o->cell != o->ncols) {
        fprintf(stderr, "netdiag: internal error: row has %zu of %zu cells\n", o->cell, o->ncols);
        abort();
    }
    if (o->format == OUTPUT_JSON)
        fputs(o->stream ? "}\n" : "}", o->fp);
    else if (o->format == OUTPUT_CSV)
        fputc('\n', o->fp);
    o->cell = 0;
    o->nrows++;
}

static void output_spaces(FILE *fp, size_t n)
{
    while (n-- > 0)
        fputc(' ', fp);
}

/* Print s in `width` columns, cut with an ellipsis when longer. Blanks
 * (alignment, gaps) are owed in *pending and written only before text that
 * follows them, so no line ends in blanks. Newlines print as spaces. */
static void output_put_cell(FILE *fp, const char *s, size_t width, bool right, size_t *pending)
{
    size_t w = output_text_width(s), nbytes = strlen(s);
    bool cut = w > width;

    if (cut) {
        nbytes = width > 0 ? output_prefix_bytes(s, width - 1) : 0;
        w = width;
    }
    if (right)
        *pending += width - w;
    if (w > 0) {
        output_spaces(fp, *pending);
        *pending = 0;
    }
    for (size_t i = 0; i < nbytes; i++)
        fputc(s[i] == '\n' ? ' ' : s[i], fp);
    if (cut && width > 0)
        fputs(OUTPUT_ELLIPSIS, fp);
    if (!right)
        *pending += width - w;
}

/* Take columns away, one at a time from the widest eligible column, until
 * the row fits or every eligible column is at its floor. */
static void output_shrink(size_t *w, const size_t *min_w, const bool *eligible, size_t n,
                          size_t *total, size_t avail)
{
    while (*total > avail) {
        size_t best = n;
        for (size_t i = 0; i < n; i++)
            if (eligible[i] && w[i] > min_w[i] && (best == n || w[i] > w[best]))
                best = i;
        if (best == n)
            return;
        w[best]--;
        (*total)--;
    }
}

/* What a visible column needs before others are dropped for it: free
 * text a readable part, names, times and numbers their whole width. */
static size_t output_floor(const struct output_column *c, size_t w)
{
    if (c->flags & (OUTPUT_COL_KEEP | OUTPUT_COL_WHOLE | OUTPUT_COL_RIGHT))
        return w;
    return w < OUTPUT_DROP_MIN ? w : OUTPUT_DROP_MIN;
}

/* Leave out droppable columns, highest rank first, until the visible ones
 * fit `avail` with free text at its floor, or none is left to drop. */
static void output_drop(const struct output *o, const size_t *w, bool *visible, size_t avail)
{
    size_t total = 0, nvisible = 0;

    for (size_t i = 0; i < o->ncols; i++)
        if (visible[i])
            total += output_floor(&o->cols[i], w[i]) + (nvisible++ > 0 ? OUTPUT_GAP : 0);
    while (total > avail) {
        size_t best = o->ncols;
        for (size_t i = 0; i < o->ncols; i++)
            if (visible[i] && o->cols[i].drop > 0 &&
                (best == o->ncols || o->cols[i].drop > o->cols[best].drop))
                best = i;
        if (best == o->ncols)
            return;
        visible[best] = false;
        total -= output_floor(&o->cols[best], w[best]) + OUTPUT_GAP;
    }
}

/* A column whose cells are never cut: times and numbers. */
static bool output_whole(const struct output_column *c)
{
    return (c->flags & (OUTPUT_COL_WHOLE | OUTPUT_COL_RIGHT)) != 0;
}

/* Lay out the buffered rows as lines. A streamed table is fitted once, at
 * its first call, from the rows then known and the columns' own widths,
 * and keeps those widths (its kept columns overflow rather than cut). */
static void output_table_list(struct output *o)
{
    size_t n = o->ncols, total = 0, nvisible = 0;
    size_t *w = output_zalloc(n * sizeof(*w)), *min_w = output_zalloc(n * sizeof(*w));
    bool *eligible = output_zalloc(n * sizeof(*eligible));
    bool *visible = output_zalloc(n * sizeof(*visible));
    char **headers = output_zalloc(n * sizeof(*headers));
    bool header = !o->laid;

    for (size_t i = 0; i < n; i++) {
        headers[i] = fmt_strdup(o->cols[i].header ? o->cols[i].header : o->cols[i].name);
        for (char *p = headers[i]; *p && !o->cols[i].header; p++)
            *p = (char)toupper((unsigned char)*p);
        visible[i] = !(o->cols[i].flags & OUTPUT_COL_HIDE);
        if (!visible[i] || o->laid)
            continue;
        w[i] = output_text_width(headers[i]);
        if (o->stream && o->cols[i].width > w[i])
            w[i] = o->cols[i].width;
        for (size_t r = 0; r < o->nrows; r++) {
            size_t cw = output_text_width(o->cells[r * n + i]);
            if (cw > w[i])
                w[i] = cw;
        }
        total += w[i] + (nvisible > 0 ? OUTPUT_GAP : 0);
        nvisible++;
    }
    if (o->laid) {
        memcpy(w, o->w, n * sizeof(*w));
        memcpy(visible, o->visible, n * sizeof(*visible));
    } else if (!o->wide && o->width_cols > 0 && nvisible > 0) {
        size_t avail = (size_t)o->width_cols;
        output_drop(o, w, visible, avail);
        total = 0;
        nvisible = 0;
        for (size_t i = 0; i < n; i++)
            if (visible[i])
                total += w[i] + (nvisible++ > 0 ? OUTPUT_GAP : 0);
        /* First the free-text columns give way, down to a readable floor;
         * only then the kept ones (names, numbers), down to one column. */
        for (size_t i = 0; i < n; i++) {
            eligible[i] =
                visible[i] && !(o->cols[i].flags & OUTPUT_COL_KEEP) && !output_whole(&o->cols[i]);
            min_w[i] = w[i] < OUTPUT_FLEX_MIN ? w[i] : OUTPUT_FLEX_MIN;
        }
        output_shrink(w, min_w, eligible, n, &total, avail);
        /* Then names, down to a few columns; times and numbers never: a
         * line that still does not fit overflows (a terminal wraps it). */
        for (size_t i = 0; i < n; i++) {
            eligible[i] = visible[i] && !output_whole(&o->cols[i]);
            min_w[i] = w[i] < OUTPUT_NAME_MIN ? w[i] : OUTPUT_NAME_MIN;
        }
        output_shrink(w, min_w, eligible, n, &total, avail);
    }
    if (o->stream && !o->laid) {
        o->w = fmt_alloc(NULL, n * sizeof(*o->w));
        o->visible = fmt_alloc(NULL, n * sizeof(*o->visible));
        memcpy(o->w, w, n * sizeof(*w));
        memcpy(o->visible, visible, n * sizeof(*visible));
        o->laid = true;
    }
    for (size_t r = header ? 0 : 1; r <= o->nrows; r++) {
        size_t pending = 0;
        bool first = true;
        for (size_t i = 0; i < n; i++) {
            const char *s = r == 0 ? headers[i] : o->cells[(r - 1) * n + i];
            size_t width = w[i];
            if (!visible[i])
                continue;
            if (!first)
                pending += OUTPUT_GAP;
            first = false;
            if (o->stream && output_whole(&o->cols[i]) && output_text_width(s) > width)
                width = output_text_width(s); /* a later row's wider number: not cut */
            output_put_cell(o->fp, s, width, o->cols[i].flags & OUTPUT_COL_RIGHT, &pending);
        }
        fputc('\n', o->fp);
    }
    for (size_t i = 0; i < n; i++)
        free(headers[i]);
    free(headers);
    free(visible);
    free(eligible);
    free(min_w);
    free(w);
}

static void output_free_cells(struct output *o)
{
    for (size_t i = 0; i < o->ncells; i++)
        free(o->cells[i]);
    o->ncells = 0;
}

void output_set_empty(struct output *o, const char *text)
{
    free(o->empty);
    o->empty = text != NULL ? fmt_strdup(text) : NULL;
    o->has_empty = true;
}

void output_stream(struct output *o)
{
    o->stream = true;
}

int output_flush(struct output *o)
{
    if (o->format == OUTPUT_TABLE && o->layout == OUTPUT_LIST && (o->nrows > 0 || !o->laid)) {
        output_table_list(o);
        output_free_cells(o);
        o->nrows = 0;
    }
    if (fflush(o->fp) != 0 || ferror(o->fp)) {
        if (errno == 0)
            errno = EIO;
        return -1;
    }
    return 0;
}

void output_wrap(FILE *fp, const char *s, size_t width, size_t indent)
{
    size_t col = 0;
    bool indent_due = false; /* the indent is written with the next word */

    while (*s) {
        size_t nbytes, ww;
        if (*s == '\n' || *s == ' ') {
            if (*s == '\n' && s[1] != '\0') {
                fputc('\n', fp);
                indent_due = true;
                col = 0;
            }
            s++;
            continue;
        }
        nbytes = strcspn(s, " \n");
        ww = output_text_width(s) - output_text_width(s + nbytes);
        if (col > 0 && col + 1 + ww > width) {
            fputc('\n', fp);
            indent_due = true;
            col = 0;
        } else if (col > 0) {
            fputc(' ', fp);
            col++;
        }
        if (indent_due) {
            output_spaces(fp, indent);
            indent_due = false;
        }
        while (ww > width) { /* a word longer than the line: split it */
            size_t part = output_prefix_bytes(s, width);
            fwrite(s, 1, part, fp);
            fputc('\n', fp);
            output_spaces(fp, indent);
            s += part;
            nbytes -= part;
            ww -= width;
        }
        fwrite(s, 1, nbytes, fp);
        col += ww;
        s += nbytes;
    }
    fputc('\n', fp);
}

/* A record's label: the header when it has one (as written), else the
 * name. */
static const char *output_label(const struct output_column *c)
{
    return c->header != NULL ? c->header : c->name;
}

static void output_table_record(struct output *o)
{
    size_t n = o->ncols, label_w = 0, width;

    for (size_t i = 0; i < n; i++)
        if (!(o->cols[i].flags & OUTPUT_COL_HIDE) && strlen(output_label(&o->cols[i])) > label_w)
            label_w = strlen(output_label(&o->cols[i]));
    label_w += OUTPUT_GAP;
    /* A pipe (width 0) or --wide gets each value on one line; a very narrow
     * terminal still gets readable lines; they overflow. */
    if (o->wide || o->width_cols <= 0)
        width = SIZE_MAX;
    else
        width = o->width_cols > (int)label_w + 20 ? (size_t)o->width_cols - label_w : 20;
    for (size_t r = 0; r < o->nrows; r++) {
        if (r > 0)
            fputc('\n', o->fp);
        for (size_t i = 0; i < n; i++) {
            const char *v = o->cells[r * n + i];
            if (o->cols[i].flags & OUTPUT_COL_HIDE)
                continue;
            fputs(output_label(&o->cols[i]), o->fp);
            if (*v == '\0') {
                fputc('\n', o->fp);
                continue;
            }
            output_spaces(o->fp, label_w - strlen(output_label(&o->cols[i])));
            output_wrap(o->fp, v, width, label_w);
        }
    }
}

int output_finish(struct output *o)
{
    int rc = 0, saved;

    if (o->cell != 0) {
        fprintf(stderr, "netdiag: internal error: unfinished row\n");
        abort();
    }
    if (o->format == OUTPUT_JSON && !o->stream)
        fputs(o->nrows == 0 ? "[]\n" : "\n]\n", o->fp);
    else if (o->format == OUTPUT_TABLE && o->nrows == 0 && !o->laid && o->has_empty) {
        if (o->empty != NULL)
            fprintf(o->fp, "%s\n", o->empty);
    } else if (o->format == OUTPUT_TABLE && o->layout == OUTPUT_LIST &&
               (!o->stream || o->nrows > 0))
        output_table_list(o);
    else if (o->format == OUTPUT_TABLE)
        output_table_record(o);
    if (fflush(o->fp) != 0 || ferror(o->fp)) {
        rc = -1;
        if (errno == 0)
            errno = EIO;
    }
    saved = errno;
    output_free_cells(o);
    free(o->cells);
    free(o->w);
    free(o->visible);
    free(o->empty);
    free(o);
    errno = saved;
    return rc;
}
