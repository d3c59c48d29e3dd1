/* SPDX-License-Identifier: ISC */
/* The [alert] exec hook: runs the program, at most a few at a time, never
 * blocking the loop; logs each exit status (owned by alert_exec.c). */
#ifndef NETDIAG_ALERT_EXEC_H
#define NETDIAG_ALERT_EXEC_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct alert_notice;
struct alert_exec;

struct alert_exec *alert_exec_new(struct event_base *base);
/* command: the exec value (an absolute path, then words split on blanks). */
void alert_exec_run(struct alert_exec *ex, const char *command, int64_t timeout_ms,
                    const char *instance, const struct alert_notice *n);
size_t alert_exec_running(const struct alert_exec *ex);
/* Stops watching (running hooks are left to finish on their own). */
void alert_exec_free(struct alert_exec *ex);

#endif
