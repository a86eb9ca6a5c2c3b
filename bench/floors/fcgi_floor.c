/* FastCGI floor: the CGI floor's work as a libfcgi responder (Debian's
 * libfcgi-dev), for the same nginx. Each process serves one request at a
 * time; bench/run starts as many processes as upspool has workers.
 *
 * With an `Upload-Offset` request header it is the chunked-transfer floor
 * instead: the body is written at that offset of one file ($FLOOR_DIR/chunked)
 * and fdatasynced before the answer, the least a server that stores each
 * part durably can do per part (FilePond PATCH without any bookkeeping). */
#include <fcgi_stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

int main(void) {
    static char buf[256 * 1024];
    long counter = 0;
    while (FCGI_Accept() >= 0) {
        const char *len_s = getenv("CONTENT_LENGTH");
        const char *dir = getenv("FLOOR_DIR");
        long len = len_s ? atol(len_s) : 0;
        char tmp[4096], dst[4096];
        if (!dir) dir = "/tmp";
        counter++;
        const char *offset_s = getenv("HTTP_UPLOAD_OFFSET");
        if (offset_s) {
            snprintf(dst, sizeof dst, "%s/chunked", dir);
            int fd = open(dst, O_WRONLY | O_CREAT, 0644);
            off_t at = atoll(offset_s);
            while (len > 0) {
                size_t want = len < (long)sizeof buf ? (size_t)len : sizeof buf;
                size_t n = fread(buf, 1, want, stdin);
                if (n == 0) break;
                if (fd >= 0 && pwrite(fd, buf, n, at) != (ssize_t)n) break;
                at += (off_t)n;
                len -= (long)n;
            }
            if (fd >= 0) {
                fdatasync(fd);
                close(fd);
            }
            printf("Status: 204 No Content\r\n\r\n");
            continue;
        }
        snprintf(tmp, sizeof tmp, "%s/tmp-%d-%ld", dir, getpid(), counter);
        snprintf(dst, sizeof dst, "%s/file-%d-%ld", dir, getpid(), counter);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0644);
        while (len > 0) {
            size_t want = len < (long)sizeof buf ? (size_t)len : sizeof buf;
            size_t n = fread(buf, 1, want, stdin);
            if (n == 0) break;
            if (fd >= 0) write(fd, buf, n);
            len -= (long)n;
        }
        if (fd >= 0) {
            fsync(fd);
            close(fd);
            rename(tmp, dst);
            int d = open(dir, O_RDONLY | O_DIRECTORY); /* the rename made durable */
            if (d >= 0) { fsync(d); close(d); }
        }
        printf("Status: 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{\"success\":true}");
    }
    return 0;
}
