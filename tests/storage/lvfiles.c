/*
 * lvfiles: each LV of a VG as a regular file, for a kernel without
 * device-mapper (LVs cannot be activated, so /dev/VG/LV never exists).
 *
 *     lvfiles [fuse options] MAPFILE MOUNTPOINT
 *
 * MAPFILE has one line per LV: its name, then one "DEVICE OFFSET LENGTH"
 * triplet (bytes) per segment, in LV order. MOUNTPOINT/NAME then reads and
 * writes those byte ranges of the PV devices with pread/pwrite, as
 * device-mapper's linear target would. Files have a fixed size (the LV's),
 * cannot be created or removed, and are served with direct_io so a read
 * always reaches the PV (another host may have written it). Compiled at
 * test time against libfuse3: see tests/storage/lvfiles.py.
 */
#define FUSE_USE_VERSION 31
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_LVS 512
#define MAX_SEGS 64
#define MAX_DEVS 16

struct seg { int fd; off_t offset; off_t length; };
struct lv { char name[NAME_MAX + 1]; off_t size; int nsegs; struct seg segs[MAX_SEGS]; };

struct table { int nlvs; struct lv lvs[MAX_LVS]; };

static struct table *current;       /* replaced whole under the lock */
static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;
static char devpaths[MAX_DEVS][PATH_MAX];
static int devfds[MAX_DEVS];
static int ndevs;

static int device_fd(const char *path)
{
    for (int i = 0; i < ndevs; i++)
        if (strcmp(devpaths[i], path) == 0)
            return devfds[i];
    if (ndevs == MAX_DEVS)
        return -1;
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd == -1) {
        perror(path);
        return -1;
    }
    snprintf(devpaths[ndevs], PATH_MAX, "%s", path);
    devfds[ndevs++] = fd;
    return fd;
}

/* Parse MAPFILE into a new table; NULL on a bad map (the old one stays). */
static struct table *load(const char *mapfile)
{
    struct table *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    FILE *f = fopen(mapfile, "r");
    if (!f) {
        perror(mapfile);
        free(t);
        return NULL;
    }
    char line[16384];
    while (fgets(line, sizeof line, f)) {
        char *save, *tok = strtok_r(line, " \t\n", &save);
        if (!tok)
            continue;
        if (t->nlvs == MAX_LVS || strlen(tok) > NAME_MAX || strchr(tok, '/'))
            goto bad;
        struct lv *lv = &t->lvs[t->nlvs++];
        snprintf(lv->name, sizeof lv->name, "%s", tok);
        while ((tok = strtok_r(NULL, " \t\n", &save))) {
            char *off = strtok_r(NULL, " \t\n", &save);
            char *len = strtok_r(NULL, " \t\n", &save);
            if (!off || !len || lv->nsegs == MAX_SEGS)
                goto bad;
            struct seg *s = &lv->segs[lv->nsegs++];
            if ((s->fd = device_fd(tok)) == -1)
                goto bad;
            s->offset = strtoll(off, NULL, 10);
            s->length = strtoll(len, NULL, 10);
            if (s->offset < 0 || s->length <= 0)
                goto bad;
            lv->size += s->length;
        }
    }
    fclose(f);
    return t;
bad:
    fprintf(stderr, "%s: bad line for LV %d\n", mapfile, t->nlvs);
    fclose(f);
    free(t);
    return NULL;
}

/* The LV named by path in the current table; call with the lock held. */
static struct lv *find(const char *path)
{
    if (!path || path[0] != '/')
        return NULL;
    for (int i = 0; i < current->nlvs; i++)
        if (strcmp(current->lvs[i].name, path + 1) == 0)
            return &current->lvs[i];
    return NULL;
}

static void *watch(void *arg)
{
    const char *mapfile = arg;
    struct stat last;
    if (stat(mapfile, &last) == -1)
        memset(&last, 0, sizeof last);
    const struct timespec tick = {0, 50 * 1000 * 1000};
    for (;;) {
        nanosleep(&tick, NULL);
        struct stat st;
        if (stat(mapfile, &st) == -1)
            continue;
        if (st.st_ino == last.st_ino && st.st_mtim.tv_sec == last.st_mtim.tv_sec
                && st.st_mtim.tv_nsec == last.st_mtim.tv_nsec)
            continue;
        last = st;
        struct table *t = load(mapfile);
        if (!t)
            continue;
        pthread_rwlock_wrlock(&lock);
        struct table *old = current;
        current = t;
        pthread_rwlock_unlock(&lock);
        free(old);
    }
    return NULL;
}

static int lf_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
    memset(st, 0, sizeof *st);
    if (strcmp(path, "/") == 0) {
        st->st_mode = S_IFDIR | 0755;
        st->st_nlink = 2;
        return 0;
    }
    pthread_rwlock_rdlock(&lock);
    struct lv *lv = find(path);
    if (lv) {
        st->st_mode = S_IFREG | 0600;
        st->st_nlink = 1;
        st->st_size = lv->size;
        st->st_blksize = 512;
        st->st_blocks = lv->size / 512;
    }
    pthread_rwlock_unlock(&lock);
    return lv ? 0 : -ENOENT;
}

static int lf_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
                      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
    if (strcmp(path, "/") != 0)
        return -ENOTDIR;
    fill(buf, ".", NULL, 0, 0);
    fill(buf, "..", NULL, 0, 0);
    pthread_rwlock_rdlock(&lock);
    for (int i = 0; i < current->nlvs; i++)
        fill(buf, current->lvs[i].name, NULL, 0, 0);
    pthread_rwlock_unlock(&lock);
    return 0;
}

static int lf_open(const char *path, struct fuse_file_info *fi)
{
    pthread_rwlock_rdlock(&lock);
    struct lv *lv = find(path);
    pthread_rwlock_unlock(&lock);
    if (!lv)
        return -ENOENT;
    fi->direct_io = 1;
    return 0;
}

/* Read or write [off, off+size) of an LV, segment by segment. */
static int io(struct lv *lv, char *buf, size_t size, off_t off, int writing)
{
    size_t done = 0;
    off_t base = 0;
    for (int i = 0; i < lv->nsegs && done < size; i++) {
        struct seg *s = &lv->segs[i];
        off_t pos = off + done;
        if (pos < base + s->length) {
            off_t in = pos - base;
            size_t n = size - done;
            if ((off_t)n > s->length - in)
                n = s->length - in;
            ssize_t r = writing ? pwrite(s->fd, buf + done, n, s->offset + in)
                                : pread(s->fd, buf + done, n, s->offset + in);
            if (r == -1)
                return -errno;
            done += r;
            if ((size_t)r < n)
                break;
        }
        base += s->length;
    }
    return done;
}

/* An LV removed while open reads and writes as a vanished device: EIO. */
static int lf_read(const char *path, char *buf, size_t size, off_t off,
                   struct fuse_file_info *fi)
{
    pthread_rwlock_rdlock(&lock);
    struct lv *lv = find(path);
    int r = lv ? io(lv, buf, size, off, 0) : -EIO;
    pthread_rwlock_unlock(&lock);
    return r;
}

static int lf_write(const char *path, const char *buf, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
    pthread_rwlock_rdlock(&lock);
    struct lv *lv = find(path);
    int r = !lv ? -EIO : off >= lv->size ? -ENOSPC : io(lv, (char *)buf, size, off, 1);
    pthread_rwlock_unlock(&lock);
    return r;
}

static int lf_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
    pthread_rwlock_rdlock(&lock);
    struct lv *lv = find(path);
    /* Like a block device, the size never changes: qemu-img, which sees a
     * file and truncates it before writing a qcow2 header, may "shrink" it
     * (a no-op); growing it is refused. */
    int r = !lv ? -ENOENT : size <= lv->size ? 0 : -EPERM;
    pthread_rwlock_unlock(&lock);
    return r;
}

static int lf_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
    return -EPERM;      /* LVs are made with lvcreate, then refresh() */
}

static int lf_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
    for (int i = 0; i < ndevs; i++)
        if (fdatasync(devfds[i]) == -1)
            return -errno;
    return 0;
}

static const struct fuse_operations ops = {
    .getattr = lf_getattr, .readdir = lf_readdir, .open = lf_open,
    .read = lf_read, .write = lf_write, .truncate = lf_truncate,
    .create = lf_create, .fsync = lf_fsync,
};

int main(int argc, char *argv[])
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s [fuse options] MAPFILE MOUNTPOINT\n", argv[0]);
        return 2;
    }
    const char *mapfile = argv[argc - 2];
    if (!(current = load(mapfile)))
        return 2;
    pthread_t watcher;
    if (pthread_create(&watcher, NULL, watch, (void *)mapfile) != 0)
        return 2;
    argv[argc - 2] = argv[argc - 1];
    return fuse_main(argc - 1, argv, &ops, NULL);
}
