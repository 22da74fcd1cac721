/* pwsync-samba-hook — the program `samba-tool user syncpasswords --script` runs once per changed object
 * (docs/operations-samba.md#the-hook). It hands the object's LDIF, unparsed, to the pwsync agent in one frame over
 * the agent's Unix socket and prints the agent's `DONE-EXIT: ` line only after the agent committed the change.
 * It never prints, logs or keeps the LDIF (it holds the cleartext password) and never decides anything itself:
 * parsing, skips, refusals and the reply line are the agent's (src/capture/samba-forward.ts).
 *
 * Contract with syncpasswords (samba/netcmd/user.py run_sync_command): no arguments, the LDIF on stdin then EOF,
 * stdout and stderr merged; success only when the output STARTS with "DONE-EXIT: ". Every failure here prints one
 * line starting with "pwsync-samba-hook: " and exits non-zero, so syncpasswords stops without advancing its cache
 * and hands the same object over again when it restarts: nothing is lost.
 *
 * Contract with the agent (src/intake/frame-codec.ts): request = u32 little-endian length + "PWSYNC-SAMBA-LDIF/1\n"
 * + the LDIF bytes; reply = u32 little-endian length + one line of text (no newline). Frames are at most 64 KiB.
 *
 * Environment (no secrets): PWSYNC_SOCKET — the intake socket, default /run/pwsync/intake.sock;
 * PWSYNC_HOOK_TIMEOUT_MS — the whole run's deadline, default 10000. */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_SOCKET "/run/pwsync/intake.sock"
#define DEFAULT_TIMEOUT_MS 10000L
#define MAX_FRAME_BYTES (64 * 1024) /* MAX_FRAME_BYTES in src/intake/frame-codec.ts */
#define LDIF_TAG "PWSYNC-SAMBA-LDIF/1\n"  /* SAMBA_LDIF_TAG in src/intake/frame-codec.ts */
#define LDIF_TAG_LEN (sizeof(LDIF_TAG) - 1)
#define MAX_LDIF_BYTES (MAX_FRAME_BYTES - LDIF_TAG_LEN) /* MAX_SAMBA_LDIF_BYTES in src/intake/frame-codec.ts */
#define MAX_REPLY_BYTES 4096 /* MAX_SAMBA_REPLY_BYTES in src/intake/frame-codec.ts */
#define DONE_EXIT "DONE-EXIT: "

/* The whole request: header, tag, LDIF, and one spare byte that detects input longer than the bound. Static, so
 * every exit path can wipe it (wipe_and_exit). */
static unsigned char g_frame[4 + MAX_FRAME_BYTES + 1];
static char g_reply[MAX_REPLY_BYTES + 1];
static struct timespec g_deadline;
static int g_stdin_flags = -1; /* restored on exit: stdin may be a terminal shared with a shell */

static void __attribute__((noreturn)) wipe_and_exit(int code)
{
    explicit_bzero(g_frame, sizeof(g_frame));
    if (g_stdin_flags >= 0) fcntl(STDIN_FILENO, F_SETFL, g_stdin_flags);
    exit(code);
}

/* One failure line (never carries input bytes), then exit 1. */
static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
    va_list ap;
    fputs("pwsync-samba-hook: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    wipe_and_exit(1);
}

/* Milliseconds left until the deadline (0 when it passed). */
static int ms_left(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long ms = (long long)(g_deadline.tv_sec - now.tv_sec) * 1000 + (g_deadline.tv_nsec - now.tv_nsec) / 1000000;
    return ms <= 0 ? 0 : ms > INT_MAX ? INT_MAX : (int)ms;
}

/* Waits until fd is ready for `events`; fails with `what` at the deadline. */
static void wait_ready(int fd, short events, long timeout_ms, const char *what)
{
    for (;;) {
        struct pollfd p = { .fd = fd, .events = events };
        int left = ms_left();
        if (left == 0) fail("%s within %ld ms [E_AGENT_UNAVAILABLE]", what, timeout_ms);
        int r = poll(&p, 1, left);
        if (r > 0) return; /* readable, writable, or an error/hang-up the next call reports */
        if (r < 0 && errno != EINTR) fail("%s: poll failed (%s) [E_AGENT_UNAVAILABLE]", what, strerror(errno));
    }
}

/* All of stdin into g_frame after the header and tag; fails when it exceeds MAX_LDIF_BYTES. */
static size_t read_ldif(long timeout_ms)
{
    unsigned char *at = g_frame + 4 + LDIF_TAG_LEN;
    size_t room = MAX_LDIF_BYTES + 1, got = 0;
    for (;;) {
        ssize_t n = read(STDIN_FILENO, at + got, room - got);
        if (n > 0) {
            got += (size_t)n;
            if (got > MAX_LDIF_BYTES) fail("the LDIF on stdin exceeds %lu bytes: refused [E_LDIF]", (unsigned long)MAX_LDIF_BYTES);
            continue;
        }
        if (n == 0) return got;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            wait_ready(STDIN_FILENO, POLLIN, timeout_ms, "syncpasswords did not finish writing the LDIF");
            continue;
        }
        fail("cannot read the LDIF on stdin (%s) [E_LDIF]", strerror(errno));
    }
}

/* The client-side check of src/capture/socket-trust.ts: the socket must belong to root, to us, or to the owner of
 * the private directory it lives in (the agent's user, e.g. /run/pwsync), and no directory on the way may let
 * another user replace it (writable by group/others, unless sticky and the entry is a trusted user's). A squatter
 * that listened first would otherwise receive the password in cleartext. */
static int trusted_uid(uid_t u) { return u == 0 || u == geteuid(); }

static void check_socket_trust(const char *sock_path)
{
    struct stat sock, st, child;
    char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
    if (lstat(sock_path, &sock) != 0) return; /* absent: connect fails with ENOENT and says so */
    if (!S_ISSOCK(sock.st_mode)) fail("%s is not a socket: refusing to send a password to it [E_SOCKET_UNTRUSTED]", sock_path);
    strcpy(dir, sock_path); /* length checked by the caller */
    char *slash = strrchr(dir, '/');
    if (slash == dir) slash[1] = '\0'; else *slash = '\0';
    if (stat(dir, &st) != 0) fail("cannot inspect %s (%s) [E_SOCKET_UNTRUSTED]", dir, strerror(errno));
    if (!trusted_uid(sock.st_uid) && !(sock.st_uid == st.st_uid && (st.st_mode & 022) == 0))
        fail("the intake socket %s belongs to uid %u, which is not the agent's user (root, uid %u, or the owner of %s): "
             "refusing to send a password to it; check who created it [E_SOCKET_UNTRUSTED]",
             sock_path, (unsigned)sock.st_uid, (unsigned)geteuid(), dir);
    child = sock;
    for (int first = 1;; first = 0) {
        if (!first && stat(dir, &st) != 0) fail("cannot inspect %s (%s) [E_SOCKET_UNTRUSTED]", dir, strerror(errno));
        int owner_ok = trusted_uid(st.st_uid) || (first && st.st_uid == sock.st_uid);
        int open_to_others = (st.st_mode & 022) != 0 && !((st.st_mode & S_ISVTX) && trusted_uid(child.st_uid));
        if (!owner_ok)
            fail("the intake socket %s is in %s, which belongs to uid %u: another user could replace the socket; "
                 "refusing to send a password [E_SOCKET_UNTRUSTED]", sock_path, dir, (unsigned)st.st_uid);
        if (open_to_others)
            fail("the intake socket %s is in %s, which other users can write: another user could replace the socket; "
                 "refusing to send a password [E_SOCKET_UNTRUSTED]", sock_path, dir);
        child = st;
        if (strcmp(dir, "/") == 0) return;
        slash = strrchr(dir, '/');
        if (slash == dir) slash[1] = '\0'; else *slash = '\0';
    }
}

static int connect_agent(const char *sock_path, long timeout_ms)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    memcpy(addr.sun_path, sock_path, strlen(sock_path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) fail("cannot create a socket (%s) [E_AGENT_UNAVAILABLE]", strerror(errno));
    for (;;) {
        if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0 || errno == EISCONN) return fd;
        if (errno == EINTR) continue;
        /* A Unix stream socket answers EAGAIN when the listener's backlog is full: try again shortly. */
        if (errno == EAGAIN && ms_left() > 0) {
            poll(NULL, 0, 5);
            continue;
        }
        if (errno == EAGAIN) fail("the agent at %s accepted no connection within %ld ms [E_AGENT_UNAVAILABLE]", sock_path, timeout_ms);
        fail("cannot reach the agent at %s (%s) [E_AGENT_UNAVAILABLE]", sock_path, strerror(errno));
    }
}

static void send_all(int fd, const unsigned char *p, size_t len, long timeout_ms)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            wait_ready(fd, POLLOUT, timeout_ms, "the agent did not take the object");
        } else {
            fail("the agent closed the connection while receiving the object (%s) [E_AGENT_UNAVAILABLE]", n < 0 ? strerror(errno) : "closed");
        }
    }
}

static void recv_all(int fd, void *buf, size_t len, long timeout_ms)
{
    unsigned char *p = buf;
    while (len > 0) {
        ssize_t n = recv(fd, p, len, 0);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
        } else if (n == 0) {
            fail("the agent closed the connection without an answer [E_AGENT_UNAVAILABLE]");
        } else if (errno == EINTR) {
            continue;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            wait_ready(fd, POLLIN, timeout_ms, "the agent did not answer");
        } else {
            fail("cannot read the agent's answer (%s) [E_AGENT_UNAVAILABLE]", strerror(errno));
        }
    }
}

static void put_le32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8), p[2] = (unsigned char)(v >> 16), p[3] = (unsigned char)(v >> 24);
}

static long timeout_from_env(void)
{
    const char *s = getenv("PWSYNC_HOOK_TIMEOUT_MS");
    if (s == NULL || *s == '\0') return DEFAULT_TIMEOUT_MS;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < 1 || v > 600000)
        fail("PWSYNC_HOOK_TIMEOUT_MS must be a whole number of milliseconds from 1 to 600000 [E_CONFIG]");
    return v;
}

int main(int argc, char **argv)
{
    (void)argv;
    /* The LDIF holds a cleartext password: no core dump, no ptrace by other processes of the same user. */
    struct rlimit no_core = { 0, 0 };
    setrlimit(RLIMIT_CORE, &no_core);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    signal(SIGPIPE, SIG_IGN);

    if (argc > 1) fail("takes no arguments (samba-tool user syncpasswords runs it without any) [E_CONFIG]");
    const char *sock_path = getenv("PWSYNC_SOCKET");
    if (sock_path == NULL || *sock_path == '\0') sock_path = DEFAULT_SOCKET;
    if (sock_path[0] != '/' || strlen(sock_path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
        fail("PWSYNC_SOCKET must be an absolute path shorter than %zu bytes [E_CONFIG]", sizeof(((struct sockaddr_un *)0)->sun_path));
    long timeout_ms = timeout_from_env();
    clock_gettime(CLOCK_MONOTONIC, &g_deadline);
    g_deadline.tv_sec += timeout_ms / 1000;
    g_deadline.tv_nsec += (timeout_ms % 1000) * 1000000L;
    if (g_deadline.tv_nsec >= 1000000000L) g_deadline.tv_sec++, g_deadline.tv_nsec -= 1000000000L;

    /* Non-blocking, so a writer that never closes stdin meets the deadline too (only our end of the pipe). */
    g_stdin_flags = fcntl(STDIN_FILENO, F_GETFL);
    if (g_stdin_flags >= 0 && fcntl(STDIN_FILENO, F_SETFL, g_stdin_flags | O_NONBLOCK) != 0) g_stdin_flags = -1;
    size_t ldif_len = read_ldif(timeout_ms);
    size_t payload = LDIF_TAG_LEN + ldif_len;
    put_le32(g_frame, (uint32_t)payload);
    memcpy(g_frame + 4, LDIF_TAG, LDIF_TAG_LEN);

    check_socket_trust(sock_path);
    int fd = connect_agent(sock_path, timeout_ms);
    send_all(fd, g_frame, 4 + payload, timeout_ms);
    explicit_bzero(g_frame, sizeof(g_frame)); /* the agent has its copy; ours is no longer needed */

    unsigned char head[4];
    recv_all(fd, head, 4, timeout_ms);
    uint32_t len = (uint32_t)head[0] | (uint32_t)head[1] << 8 | (uint32_t)head[2] << 16 | (uint32_t)head[3] << 24;
    if (len == 0 || len > MAX_REPLY_BYTES) fail("the agent answered with a reply of %u bytes, expected 1 to %d [E_AGENT_UNAVAILABLE]", len, MAX_REPLY_BYTES);
    recv_all(fd, g_reply, len, timeout_ms);
    close(fd);
    g_reply[len] = '\0';
    /* One line, whatever the agent sent: syncpasswords logs it. */
    for (uint32_t i = 0; i < len; i++)
        if ((unsigned char)g_reply[i] < 0x20 || g_reply[i] == 0x7f) g_reply[i] = '?';

    if (strncmp(g_reply, DONE_EXIT, sizeof(DONE_EXIT) - 1) == 0) {
        /* The agent committed the change durably (or recorded a skip) before it answered: now syncpasswords may
         * advance its cache. Output is checked: a line lost on the way must not count as success. */
        if (printf("%s\n", g_reply) < 0 || fflush(stdout) != 0) wipe_and_exit(1);
        wipe_and_exit(0);
    }
    fail("%s", g_reply);
}
