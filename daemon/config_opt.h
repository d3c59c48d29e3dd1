/* SPDX-License-Identifier: ISC */
/* The table of netdiag.ini keys and the parsers of their values (owned by
 * config_opt.c), and how errors are printed (config_run.c), shared by the
 * config*.c files only. */
#ifndef NETDIAG_CONFIG_OPT_H
#define NETDIAG_CONFIG_OPT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"

#define CONFIG_DAY_MS (24LL * 3600 * 1000)

enum opt_section {
    SEC_DAEMON,
    SEC_ALERT,
    SEC_PATH,
    SEC_EXPORT,
    SEC_TARGET, /* [target NAME], [defaults] and the include list file */
};

enum opt_type {
    OT_STRING,   /* char *; empty: NULL, or an error when min is 1 */
    OT_DURATION, /* int64_t ms in [min, max]; int32_t in struct target */
    OT_INT,      /* int64_t in [min, max]; int32_t in struct target */
    OT_PORT,     /* uint16_t in [1, 65535] */
    OT_DOUBLE,   /* double in [min, max] */
    OT_LOGLEVEL, /* int, enum log_level */
    OT_ENUM,     /* an int-sized enum, value = index in names[] */
    OT_CODES,    /* int16_t[CONFIG_MAX_CODES] at offset, uint8_t count at offset2 */
    OT_HOST,     /* char *: a host name or an address literal */
    OT_QNAME,    /* char *: a DNS name */
    OT_QTYPE,    /* uint16_t */
    OT_SOURCE,   /* struct target: source, source_len, source_str */
    OT_SERVER,   /* struct target: server_system, server, server_len, server_str */
    OT_BYTES,    /* unsigned char * at offset, size_t at offset2, NUL-terminated */
    OT_HEX,      /* as OT_BYTES, written in hex */
    OT_LISTEN,   /* char *: "addr:port", or a bare port on 127.0.0.1 */
    OT_URL,      /* char *: http[s]://HOST[:PORT][/PATH], one or several */
    OT_WEBURL,   /* char *: one http[s]:// URL, no trailing slash */
    OT_LABELS,   /* char *: "name=value,..." (names checked, trimmed) */
    OT_SEVERITY, /* char *: "KEY=LEVEL,..." (config_severity_find()) */
    OT_CAFILE,   /* char *: an absolute path to PEM certificates */
    OT_SECRET,   /* char *: the Authorization header made from the file (min: enum alert_am_auth) */
    OT_EXEC,     /* char *: an absolute program path, then words (no shell) */
    OT_CHURL,    /* char *: http://HOST:PORT[/] (export_parse_url) */
};

#define K_CONNECT (1u << KIND_CONNECT)
#define K_RESOLVE (1u << KIND_RESOLVE)
#define K_SEND    (1u << KIND_SEND)
#define K_PING    (1u << KIND_PING)
#define K_ALL     (K_CONNECT | K_RESOLVE | K_SEND | K_PING)

/* One key (Redis standardConfig). Target keys say which kinds take them
 * (kinds), which kinds need them (required), and keys that exclude each
 * other share a group (payload / payload_hex). */
struct config_option {
    enum opt_section section;
    const char *key;
    enum opt_type type;
    int64_t min, max;
    const char *def; /* built-in default, parsed like a written value */
    size_t offset;
    size_t offset2;
    const char *const *names; /* OT_ENUM */
    unsigned kinds;
    unsigned required;
    int group;
};

/* Rows in config_options (checked by a static assertion in config_opt.c). */
#define CONFIG_NOPTS 75
extern const struct config_option config_options[CONFIG_NOPTS];

/* The row of `key` in section `sec`; NULL when there is none. */
const struct config_option *config_opt_find(enum opt_section sec, const char *key);
size_t config_opt_index(const struct config_option *o);

/* Parse one value into base (a struct config, or a struct target for
 * SEC_TARGET) at the option's offset. Returns 0, or -1 with a message in
 * err; on error the field keeps its value. */
int config_opt_parse(const struct config_option *o, void *base, const char *v, char *err,
                     size_t errlen);

/* config_run.c: print one error to errs (nothing when NULL) as
 * "file:line: message" ("file: message" when line is 0), one line whatever
 * the values hold: control bytes as C escapes (\n, \x1b), bytes that are
 * not UTF-8 as \xNN. */
void config_verror(FILE *errs, const char *file, int line, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

#endif
