/*
 * freezefs: a pass-through FUSE file system whose storage a test can
 * "lose" at will, for the domain-monitoring tests.
 *
 *     freezefs -f BACKING_DIR MOUNTPOINT
 *
 * Every call is forwarded to BACKING_DIR. Stopping the daemon with
 * SIGSTOP makes every new access to MOUNTPOINT wait, like a dead NFS
 * server (the waits stay killable while the daemon has not read the
 * request); SIGCONT lets them go on. Compiled at test time against
 * libfuse3 (libfuse3-dev): see tests/storage/fusefs.py.
 */
#define FUSE_USE_VERSION 31
#define _GNU_SOURCE

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <unistd.h>

static char backing[PATH_MAX];

static void real(char *out, const char *path)
{
    snprintf(out, PATH_MAX, "%s%s", backing, path);
}

#define REAL(var, path) char var[PATH_MAX]; real(var, path)
#define CHECK(expr) do { if ((expr) == -1) return -errno; } while (0)

static int ffs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
    if (fi)
        CHECK(fstat(fi->fh, st));
    else {
        REAL(p, path);
        CHECK(lstat(p, st));
    }
    return 0;
}

static int ffs_readlink(const char *path, char *buf, size_t size)
{
    REAL(p, path);
    ssize_t n = readlink(p, buf, size - 1);
    CHECK(n);
    buf[n] = '\0';
    return 0;
}

static int ffs_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
                       struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
    REAL(p, path);
    DIR *dir = opendir(p);
    if (!dir)
        return -errno;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        struct stat st = {.st_ino = e->d_ino, .st_mode = e->d_type << 12};
        if (fill(buf, e->d_name, &st, 0, 0))
            break;
    }
    closedir(dir);
    return 0;
}

static int ffs_mkdir(const char *path, mode_t mode)
{
    REAL(p, path);
    CHECK(mkdir(p, mode));
    return 0;
}

static int ffs_unlink(const char *path)
{
    REAL(p, path);
    CHECK(unlink(p));
    return 0;
}

static int ffs_rmdir(const char *path)
{
    REAL(p, path);
    CHECK(rmdir(p));
    return 0;
}

static int ffs_symlink(const char *target, const char *path)
{
    REAL(p, path);
    CHECK(symlink(target, p));
    return 0;
}

static int ffs_rename(const char *from, const char *to, unsigned int flags)
{
    REAL(a, from);
    REAL(b, to);
    if (flags)
        return -EINVAL;
    CHECK(rename(a, b));
    return 0;
}

static int ffs_link(const char *from, const char *to)
{
    REAL(a, from);
    REAL(b, to);
    CHECK(link(a, b));
    return 0;
}

static int ffs_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
    if (fi)
        CHECK(fchmod(fi->fh, mode));
    else {
        REAL(p, path);
        CHECK(chmod(p, mode));
    }
    return 0;
}

static int ffs_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
    REAL(p, path);
    CHECK(lchown(p, uid, gid));
    return 0;
}

static int ffs_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
    if (fi)
        CHECK(ftruncate(fi->fh, size));
    else {
        REAL(p, path);
        CHECK(truncate(p, size));
    }
    return 0;
}

static int ffs_utimens(const char *path, const struct timespec tv[2],
                       struct fuse_file_info *fi)
{
    REAL(p, path);
    CHECK(utimensat(AT_FDCWD, p, tv, AT_SYMLINK_NOFOLLOW));
    return 0;
}

static int ffs_open(const char *path, struct fuse_file_info *fi)
{
    REAL(p, path);
    int fd = open(p, fi->flags & ~O_DIRECT);
    CHECK(fd);
    fi->fh = fd;
    return 0;
}

static int ffs_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
    REAL(p, path);
    int fd = open(p, (fi->flags & ~O_DIRECT) | O_CREAT, mode);
    CHECK(fd);
    fi->fh = fd;
    return 0;
}

static int ffs_read(const char *path, char *buf, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
    ssize_t n = pread(fi->fh, buf, size, off);
    CHECK(n);
    return n;
}

static int ffs_write(const char *path, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi)
{
    ssize_t n = pwrite(fi->fh, buf, size, off);
    CHECK(n);
    return n;
}

static int ffs_statfs(const char *path, struct statvfs *st)
{
    REAL(p, path);
    CHECK(statvfs(p, st));
    return 0;
}

static int ffs_release(const char *path, struct fuse_file_info *fi)
{
    close(fi->fh);
    return 0;
}

static int ffs_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
    CHECK(datasync ? fdatasync(fi->fh) : fsync(fi->fh));
    return 0;
}

static int ffs_access(const char *path, int mask)
{
    REAL(p, path);
    CHECK(access(p, mask));
    return 0;
}

static int ffs_fallocate(const char *path, int mode, off_t off, off_t len,
                         struct fuse_file_info *fi)
{
    if (mode)
        return -EOPNOTSUPP;
    return -posix_fallocate(fi->fh, off, len);
}

static const struct fuse_operations ops = {
    .getattr = ffs_getattr, .readlink = ffs_readlink, .readdir = ffs_readdir,
    .mkdir = ffs_mkdir, .unlink = ffs_unlink, .rmdir = ffs_rmdir,
    .symlink = ffs_symlink, .rename = ffs_rename, .link = ffs_link,
    .chmod = ffs_chmod, .chown = ffs_chown, .truncate = ffs_truncate,
    .utimens = ffs_utimens, .open = ffs_open, .create = ffs_create,
    .read = ffs_read, .write = ffs_write, .statfs = ffs_statfs,
    .release = ffs_release, .fsync = ffs_fsync, .access = ffs_access,
    .fallocate = ffs_fallocate,
};

int main(int argc, char *argv[])
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s [fuse options] BACKING_DIR MOUNTPOINT\n", argv[0]);
        return 2;
    }
    if (!realpath(argv[argc - 2], backing)) {
        perror(argv[argc - 2]);
        return 2;
    }
    argv[argc - 2] = argv[argc - 1];
    umask(0);
    return fuse_main(argc - 1, argv, &ops, NULL);
}
