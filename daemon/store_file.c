/* SPDX-License-Identifier: ISC */
/* The database file itself, before SQLite opens it: where it really is,
 * whether its directory and the files in it can be trusted (no symbolic
 * link followed, no file of another user adopted), free space, and the
 * lock that keeps a second netdiagd off a database one already writes. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "store.h"
#include "store_int.h"
#include "util.h"

/* Refuse to open with less free space than this: SQLite maps the -shm
 * file, and a full file system makes growing it fail or, where the file
 * is sparse, turns a touch of a mapped page into SIGBUS. */
#define STORE_MIN_FREE_BYTES (1024 * 1024LL)
/* How long a daemon refused by the lock waits for the runs table to name
 * the holder (it may be reading it while the holder commits its row). */
#define STORE_HOLDER_BUSY_MS 1000

/* The files SQLite keeps beside the database, by name. */
static const char *const store_side_suffix[] = {"-wal", "-shm", "-journal"};

/* The lock: one byte, far beyond the bytes SQLite locks itself (at 1 GiB,
 * 0x40000000 to 0x400001ff, with POSIX locks), as an open file description
 * lock: it belongs to this descriptor, not to the process, so SQLite
 * closing its own descriptors of the same file never drops it (a POSIX
 * lock would be), and it goes with the process however it ends. */
static void store_lock_range(struct flock *fl, short type)
{
    memset(fl, 0, sizeof(*fl));
    fl->l_type = type;
    fl->l_whence = SEEK_SET;
    fl->l_start = STORE_LOCK_OFFSET;
    fl->l_len = 1;
}

int store_lock_held(int fd)
{
    struct flock fl;

    store_lock_range(&fl, F_WRLCK);
    if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
        return -1;
    return fl.l_type != F_UNLCK;
}

/* "uid 1000 (alice)" */
static void store_uid_name(uid_t uid, char *buf, size_t len)
{
    struct passwd pw, *res = NULL;
    char pwbuf[1024];

    if (getpwuid_r(uid, &pw, pwbuf, sizeof(pwbuf), &res) == 0 && res != NULL)
        snprintf(buf, len, "uid %ld (%.32s)", (long)uid, res->pw_name);
    else
        snprintf(buf, len, "uid %ld", (long)uid);
}

static void store_hostname(char *buf, size_t len)
{
    if (gethostname(buf, len - 1) < 0)
        buf[0] = '\0';
    buf[len - 1] = '\0';
}

/* Splits path into its directory, resolved (symbolic links in the
 * directory part are the administrator's and are followed), and the file
 * name: f->dir and f->cpath = f->dir + "/" + name, what SQLite opens. */
static int store_file_resolve(const char *path, struct store_file *f, char *err, size_t errlen)
{
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    char dir[PATH_MAX];

    if (name[0] == '\0' || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
        store_err(err, errlen, path, "not a file name");
        return -1;
    }
    if (slash == NULL)
        util_strlcpy(dir, ".", sizeof(dir));
    else if (slash == path)
        util_strlcpy(dir, "/", sizeof(dir));
    else
        snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
    if (realpath(dir, f->dir) == NULL) {
        store_err(err, errlen, path, "directory %s: %s", dir, strerror(errno));
        return -1;
    }
    if ((size_t)snprintf(f->cpath, sizeof(f->cpath), "%s/%s", strcmp(f->dir, "/") ? f->dir : "",
                         name) >= sizeof(f->cpath)) {
        store_err(err, errlen, path, "path too long");
        return -1;
    }
    return 0;
}

/* A directory where another user may create or rename files is no place
 * for the database: SQLite creates the -wal, -shm and -journal files
 * beside it by name, and whoever can write the directory can put a file
 * or a link of theirs there first, or swap one in later. The directory
 * must belong to this user or to root and not be writable by others. */
static int store_file_check_dir(const char *path, const struct store_file *f, char *err,
                                size_t errlen)
{
    struct stat sb;
    struct statvfs vfs;
    long long avail;
    char who[96];

    if (stat(f->dir, &sb) < 0) {
        store_err(err, errlen, path, "directory %s: %s", f->dir, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(sb.st_mode)) {
        store_err(err, errlen, path, "%s is not a directory", f->dir);
        return -1;
    }
    if (sb.st_mode & S_IWOTH) {
        store_err(err, errlen, path,
                  "directory %s is writable by every user (mode %04o): another user could put "
                  "their own database, -wal or -shm file or a symbolic link there; use a "
                  "directory of netdiagd's own (e.g. /var/lib/netdiag)",
                  f->dir, (unsigned)(sb.st_mode & 07777));
        return -1;
    }
    if (sb.st_uid != geteuid() && sb.st_uid != 0) {
        store_uid_name(sb.st_uid, who, sizeof(who));
        store_err(err, errlen, path,
                  "directory %s belongs to %s, neither this user (uid %ld) nor root: its owner "
                  "could replace the database under netdiagd",
                  f->dir, who, (long)geteuid());
        return -1;
    }
    if (statvfs(f->dir, &vfs) < 0) {
        store_err(err, errlen, path, "cannot check free space in %s: %s", f->dir, strerror(errno));
        return -1;
    }
    avail = (long long)vfs.f_bavail * (long long)vfs.f_frsize;
    if (avail < STORE_MIN_FREE_BYTES) {
        store_err(err, errlen, path,
                  "only %lld KiB free in %s; refusing to open (need at least %lld KiB)",
                  avail / 1024, f->dir, STORE_MIN_FREE_BYTES / 1024);
        return -1;
    }
    return 0;
}

/* What lstat() says of a file of the database (file; NULL: the database
 * itself): a regular file, never a link, a FIFO or a device. */
static int store_file_check_kind(const char *path, const char *file, const struct stat *sb,
                                 char *err, size_t errlen)
{
    if (S_ISLNK(sb->st_mode) && file == NULL) {
        store_err(err, errlen, path,
                  "is a symbolic link; netdiagd follows no link to its database (set database "
                  "to the file itself); left unchanged");
        return -1;
    }
    if (S_ISLNK(sb->st_mode)) {
        store_err(err, errlen, path,
                  "%s is a symbolic link; netdiagd follows no link for its database files "
                  "(remove it, or find who put it there); left unchanged",
                  file);
        return -1;
    }
    if (!S_ISREG(sb->st_mode)) {
        store_err(err, errlen, path, "%s%snot a regular file", file ? file : "",
                  file ? " is " : "");
        return -1;
    }
    return 0;
}

/* The file belongs to this user: another user's file (an empty one put
 * there first, say) is never adopted. */
static int store_file_check_uid(const char *path, const char *file, const struct stat *sb,
                                char *err, size_t errlen)
{
    char who[96];

    if (sb->st_uid == geteuid())
        return 0;
    store_uid_name(sb->st_uid, who, sizeof(who));
    store_err(err, errlen, path,
              "%s%sbelongs to %s, not to this user (uid %ld); netdiagd does not adopt another "
              "user's file (chown it, or remove it); left unchanged",
              file ? file : "", file ? " " : "", who, (long)geteuid());
    return -1;
}

/* The -wal, -shm and -journal files, where they exist. SQLite itself
 * opens them with O_NOFOLLOW; this check names the file and the reason. */
static int store_file_check_sides(const char *path, const struct store_file *f, char *err,
                                  size_t errlen)
{
    char side[PATH_MAX + 16];
    struct stat sb;

    for (size_t i = 0; i < ND_ARRAY_LEN(store_side_suffix); i++) {
        snprintf(side, sizeof(side), "%s%s", f->cpath, store_side_suffix[i]);
        if (lstat(side, &sb) < 0) {
            if (errno == ENOENT)
                continue;
            store_err(err, errlen, path, "%s: %s", side, strerror(errno));
            return -1;
        }
        if (store_file_check_kind(path, side, &sb, err, errlen) < 0 ||
            store_file_check_uid(path, side, &sb, err, errlen) < 0)
            return -1;
    }
    return 0;
}

/* Without a -wal file, SQLite must create one (and the -shm) in the
 * directory: say so now rather than fail later with a vaguer message.
 * Effective IDs, as the kernel will check them. */
static int store_file_check_dir_writable(const char *path, const struct store_file *f, char *err,
                                         size_t errlen)
{
    char side[PATH_MAX + 16];
    struct stat sb;

    snprintf(side, sizeof(side), "%s-wal", f->cpath);
    if (lstat(side, &sb) == 0)
        return 0;
    if (faccessat(AT_FDCWD, f->dir, W_OK | X_OK, AT_EACCESS) < 0) {
        store_err(err, errlen, path,
                  "directory %s not writable by this user (uid %ld): %s (SQLite creates the "
                  "-wal and -shm files there); left unchanged",
                  f->dir, (long)geteuid(), strerror(errno));
        return -1;
    }
    return 0;
}

/* The holder of the lock, from the newest row of runs that has not
 * stopped, through a read-only connection (it writes nothing). */
static void store_file_holder(const char *path, const struct store_file *f, char *err,
                              size_t errlen)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    char host[256] = "", me[256], when[64] = "";
    int64_t pid = 0, started = 0;
    bool found = false;

    if (sqlite3_open_v2(f->cpath, &db,
                        SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW,
                        NULL) == SQLITE_OK) {
        sqlite3_busy_timeout(db, STORE_HOLDER_BUSY_MS);
        if (sqlite3_prepare_v2(db,
                               "SELECT pid, hostname, started FROM runs WHERE stopped IS NULL "
                               "ORDER BY id DESC LIMIT 1",
                               -1, &s, NULL) == SQLITE_OK &&
            sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) == SQLITE_INTEGER) {
            const unsigned char *h = sqlite3_column_text(s, 1);
            pid = sqlite3_column_int64(s, 0);
            started = sqlite3_column_int64(s, 2);
            util_strlcpy(host, h ? (const char *)h : "", sizeof(host));
            found = pid > 0;
        }
        sqlite3_finalize(s);
    }
    sqlite3_close(db);
    store_hostname(me, sizeof(me));
    if (found) {
        /* on this host, a row whose pid is gone is a killed daemon's, not
         * the holder's (which has not committed its own row yet) */
        if (strcmp(host, me) == 0 && kill((pid_t)pid, 0) < 0 && errno == ESRCH)
            found = false;
    }
    if (!found) {
        snprintf(err, errlen,
                 "database %s is in use by another netdiagd (it holds the lock; its pid is not "
                 "recorded yet: it is starting, or migrating the database)",
                 path);
        return;
    }
    {
        time_t secs = (time_t)(started / 1000);
        struct tm tm;
        if (localtime_r(&secs, &tm) != NULL)
            strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S %z", &tm);
    }
    {
        if (strcmp(host, me) == 0)
            snprintf(err, errlen, "database %s is in use by netdiagd pid %" PRId64 " (started %s)",
                     path, pid, when);
        else
            snprintf(err, errlen,
                     "database %s is in use by netdiagd pid %" PRId64 " on host %.64s (started %s)",
                     path, pid, host, when);
    }
}

/* Opens the database file without following a link, creating it (mode
 * 0640) when it does not exist; checks what it is and whose it is. */
static int store_file_open_fd(const char *path, struct store_file *f, char *err, size_t errlen)
{
    struct stat lsb, sb;
    int fd = -1;

    for (int attempt = 0; attempt < 2 && fd < 0; attempt++) {
        if (lstat(f->cpath, &lsb) < 0) {
            if (errno != ENOENT) {
                store_err(err, errlen, path, "%s", strerror(errno));
                return -1;
            }
            /* created here so the mode is 0640 (less the umask): the WAL
             * and -shm files SQLite makes beside it copy this mode */
            fd = open(f->cpath, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
            if (fd < 0 && errno == EEXIST)
                continue; /* someone else was quicker: look again */
            if (fd < 0) {
                store_err(err, errlen, path, "cannot create: %s", strerror(errno));
                return -1;
            }
            f->created = true;
            break;
        }
        /* a link, a FIFO or a device is refused before it is opened */
        if (store_file_check_kind(path, NULL, &lsb, err, errlen) < 0)
            return -1;
        fd = open(f->cpath, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (fd < 0) {
            if (errno == EROFS)
                store_err(err, errlen, path,
                          "on a read-only file system (netdiagd writes its database); left "
                          "unchanged");
            else if (errno == EACCES || errno == EPERM)
                store_err(err, errlen, path,
                          "not writable by this user (uid %ld): %s; left unchanged",
                          (long)geteuid(), strerror(errno));
            else if (errno == ELOOP)
                store_err(err, errlen, path,
                          "is a symbolic link; netdiagd follows no link to its database (set "
                          "database to the file itself); left unchanged");
            else
                store_err(err, errlen, path, "cannot open: %s", strerror(errno));
            return -1;
        }
    }
    if (fd < 0) {
        store_err(err, errlen, path, "created and removed while opening; try again");
        return -1;
    }
    /* what was opened is what was checked (or what this call created);
     * writable by this user, and its own */
    if (fstat(fd, &sb) < 0 ||
        (!f->created && (sb.st_dev != lsb.st_dev || sb.st_ino != lsb.st_ino)) ||
        store_file_check_kind(path, NULL, &sb, err, errlen) < 0 ||
        store_file_check_uid(path, NULL, &sb, err, errlen) < 0) {
        if (err[0] == '\0')
            store_err(err, errlen, path, "changed while opening; left unchanged");
        close(fd);
        return -1;
    }
    f->fd = fd;
    f->dev = sb.st_dev;
    f->ino = sb.st_ino;
    return 0;
}

int store_file_open(const char *path, struct store_file *f, char *err, size_t errlen)
{
    struct flock fl;

    memset(f, 0, sizeof(*f));
    f->fd = -1;
    err[0] = '\0';
    if (store_file_resolve(path, f, err, errlen) < 0 ||
        store_file_check_dir(path, f, err, errlen) < 0 ||
        store_file_open_fd(path, f, err, errlen) < 0)
        return -1;
    store_lock_range(&fl, F_WRLCK);
    if (fcntl(f->fd, F_OFD_SETLK, &fl) < 0) {
        if (errno == EAGAIN || errno == EACCES)
            store_file_holder(path, f, err, errlen);
        else
            store_err(err, errlen, path, "cannot lock: %s", strerror(errno));
        /* a file this call created but another daemon locked first is
         * that daemon's now: never removed here */
        f->created = false;
        store_file_close(f);
        return -1;
    }
    if (store_file_check_sides(path, f, err, errlen) < 0 ||
        (!f->created && store_file_check_dir_writable(path, f, err, errlen) < 0)) {
        store_file_remove(f);
        store_file_close(f);
        return -1;
    }
    return 0;
}

int store_file_changed(const struct store_file *f)
{
    struct stat sb;

    if (lstat(f->cpath, &sb) < 0)
        return errno == ENOENT ? ENOENT : -1;
    return sb.st_dev == f->dev && sb.st_ino == f->ino ? 0 : -1;
}

void store_file_remove(struct store_file *f)
{
    char side[PATH_MAX + 16];

    if (!f->created || f->fd < 0)
        return;
    /* only what this call made: an empty file and its WAL; the lock is
     * still held, so no other daemon has taken it meanwhile */
    unlink(f->cpath);
    snprintf(side, sizeof(side), "%s-wal", f->cpath);
    unlink(side);
    snprintf(side, sizeof(side), "%s-shm", f->cpath);
    unlink(side);
    f->created = false;
}

void store_file_close(struct store_file *f)
{
    if (f->fd >= 0)
        close(f->fd); /* and with it the lock */
    f->fd = -1;
}
