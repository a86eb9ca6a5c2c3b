/* CGI floor: the work no upload handler can avoid, and nothing else.
 * Reads CONTENT_LENGTH bytes of body from stdin, writes them to a new file
 * in $FLOOR_DIR (created exclusively), fsyncs it, renames it into place,
 * fsyncs the directory (without that the rename is not durable, and upspool's
 * default makes an answered upload durable), and prints a small CGI answer.
 *
 * `cgi_floor record` also keeps a record of the upload the way any handler
 * that remembers the client's file name must: a second small file, created
 * and written before the data is fsynced (both files' metadata then goes out
 * in the first fsync, the cheaper order), fsynced, and renamed beside the
 * data before the directory fsync. Built statically by bench/run. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    const char *len_s = getenv("CONTENT_LENGTH");
    const char *dir = getenv("FLOOR_DIR");
    int keep_record = argc > 1 && strcmp(argv[1], "record") == 0;
    long len = len_s ? atol(len_s) : 0;
    char tmp[4096], dst[4096];
    if (!dir) dir = "/tmp";
    long tag = (long)getpid() * 100000 + random() % 100000;
    snprintf(tmp, sizeof tmp, "%s/tmp-%ld", dir, tag);
    snprintf(dst, sizeof dst, "%s/file-%ld", dir, tag);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0) { fputs("Status: 500 Internal Server Error\r\n\r\n", stdout); return 0; }
    static char buf[256 * 1024];
    while (len > 0) {
        ssize_t n = read(0, buf, len < (long)sizeof buf ? (size_t)len : sizeof buf);
        if (n <= 0) break;
        if (write(fd, buf, (size_t)n) != n) break;
        len -= n;
    }
    char rtmp[4096], rdst[4096];
    int rfd = -1;
    if (keep_record) {
        char rec[256];
        int n = snprintf(rec, sizeof rec, "{\"id\":\"file-%ld\",\"name\":\"a.bin\",\"size\":%s,\"complete\":true}",
                         tag, len_s ? len_s : "0");
        snprintf(rtmp, sizeof rtmp, "%s/tmp-%ld.json", dir, tag);
        snprintf(rdst, sizeof rdst, "%s/file-%ld.json", dir, tag);
        rfd = open(rtmp, O_WRONLY | O_CREAT | O_EXCL, 0644);
        if (rfd >= 0 && write(rfd, rec, (size_t)n) != n) { close(rfd); rfd = -1; }
    }
    fsync(fd);
    close(fd);
    if (rfd >= 0) {
        fsync(rfd);
        close(rfd);
    }
    rename(tmp, dst);
    if (rfd >= 0) rename(rtmp, rdst);
    int d = open(dir, O_RDONLY | O_DIRECTORY);
    if (d >= 0) { fsync(d); close(d); }
    fputs("Status: 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{\"success\":true}", stdout);
    return 0;
}
