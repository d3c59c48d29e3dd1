/* SPDX-License-Identifier: ISC */
/* The writer every netdiag command prints through: rows of named columns as
 * a table fitted to the terminal, a JSON array of objects, or CSV (owned by
 * output.c). */
#ifndef NETDIAG_OUTPUT_H
#define NETDIAG_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum output_format {
    OUTPUT_TABLE,
    OUTPUT_JSON,
    OUTPUT_CSV,
};

/* "table" | "json" | "csv"; -1 when unknown. */
int output_format_from_name(const char *name);
const char *output_format_name(enum output_format format);

/* How table mode lays rows out; JSON and CSV are the same for both. */
enum output_layout {
    OUTPUT_LIST,   /* one line per row, columns side by side, cut to fit */
    OUTPUT_RECORD, /* one "name  value" line per column, long values wrapped */
};

/* Column flags (table mode only). */
#define OUTPUT_COL_KEEP  0x1u /* cut only when cutting the others is not enough */
#define OUTPUT_COL_RIGHT 0x2u /* right-aligned (numbers): never cut, as WHOLE */
#define OUTPUT_COL_HIDE  0x4u /* never in a table: JSON and CSV only (raw ms times) */
#define OUTPUT_COL_WHOLE 0x8u /* never cut (times): the line overflows first */

struct output_column {
    const char *name; /* JSON key and CSV header; table header in upper case */
    unsigned flags;
    /* Table mode, list layout, without --wide: when the rows are wider than
     * the width, columns with a drop rank are left out, highest rank first,
     * before any cell is cut. 0: never left out. */
    unsigned drop;
    const char *header; /* table header; NULL: the name in upper case */
    /* Streamed tables (output_stream()): the width the column gets before
     * any row is known. 0: its header's. */
    unsigned width;
};

struct output;

/* Start an output of `ncols` columns on fp. width_cols is the table width
 * (see output_width()); wide = never cut a table cell. `cols` must outlive
 * the output. Never NULL: out of memory exits 1 with a message. */
struct output *output_new(FILE *fp, enum output_format format, enum output_layout layout,
                          const struct output_column *cols, size_t ncols, int width_cols,
                          bool wide);

/* One call per column, in column order, then output_end_row(). */
void output_str(struct output *o, const char *s); /* NULL: null */
void output_int(struct output *o, int64_t v);
void output_bool(struct output *o, bool v);
void output_list(struct output *o, const char *const *items, size_t n);
/* A value whose table text differs from its JSON/CSV form ("1.2ms" for
 * 1234): `shown` is what a table prints (NULL: "-"). */
void output_str_shown(struct output *o, const char *s, const char *shown);
void output_int_shown(struct output *o, int64_t v, const char *shown);
/* A number with `decimals` digits after the point in JSON and CSV; NaN is
 * null (empty in CSV). shown: the table text, NULL: the same digits. */
void output_double(struct output *o, double v, int decimals, const char *shown);
/* A time as two columns: ms since the epoch, then its ISO text, which a
 * table shows as `shown` (NULL: "11-24 11:00:00", local or UTC). */
void output_time(struct output *o, int64_t ms, bool utc, const char *shown);
/* A missing value: null in JSON, empty in CSV, "-" in a table. */
void output_null(struct output *o);
void output_end_row(struct output *o);

/* Rows are written as they come, for output that follows new data: JSON
 * becomes one object per line (no enclosing array), a table is laid out
 * at its first output_flush() (the rows then known and the columns'
 * widths) and keeps those widths. Call before the first row. */
void output_stream(struct output *o);
/* Write the rows so far and flush; 0, or -1 with errno set. */
int output_flush(struct output *o);

/* A table without rows prints `text` (one line; NULL: nothing) instead of
 * its header: an empty result in words. JSON stays [], CSV its header. */
void output_set_empty(struct output *o, const char *text);

/* Write what is buffered, flush, free. Returns 0, or -1 with errno set
 * when writing failed. */
int output_finish(struct output *o);

/* The width tables fit: $COLUMNS when set, else the terminal's width when fp
 * is a terminal, else 0: output to a pipe or a file is never cut (as
 * systemctl and journalctl do). */
int output_width(FILE *fp);

/* Word-wrap s into lines of `width` columns and end with a newline; the
 * first line continues where the cursor is, the others start with `indent`
 * spaces. A newline in s starts a new line; words longer than a line are
 * split. */
void output_wrap(FILE *fp, const char *s, size_t width, size_t indent);

/* s as a terminal may show it: control bytes and bytes that are not UTF-8
 * as \xNN, tabs and newlines as spaces. Cut to fit len. */
void output_escape(const char *s, char *buf, size_t len);

/* Display width of UTF-8 text, counted in code points (the texts printed
 * here are Latin text, dashes and ellipses, all one column wide). */
size_t output_text_width(const char *s);

#endif
