/* transport-tcp.c — test transport of pwfilt-test.dll: Winsock TCP to 127.0.0.1:%PWSYNC_TEST_PORT%, because a pipe
 * inside Wine cannot be reached from Linux. Never linked into the production pwfilt.dll (make check-imports). */

#define WIN32_LEAN_AND_MEAN
#include <winsock2.h>
#include <windows.h>
#include <stdlib.h>
#include "transport.h"

/* Test transport: Winsock TCP to 127.0.0.1:%PWSYNC_TEST_PORT%. Compiled only into pwfilt-test.dll. */
static SOCKET g_sock = INVALID_SOCKET;

BOOL link_is_open(void) { return g_sock != INVALID_SOCKET; }
void link_close(void) { if (g_sock != INVALID_SOCKET) closesocket(g_sock); g_sock = INVALID_SOCKET; }

/* Winsock reports a refused non-blocking connect in the except set, not the write set. */
BOOL link_wait(BOOL write, DWORD ms)
{
    fd_set set, err;
    struct timeval tv;
    FD_ZERO(&set);
    FD_SET(g_sock, &set);
    FD_ZERO(&err);
    FD_SET(g_sock, &err);
    tv.tv_sec = (long)(ms / 1000); tv.tv_usec = (long)((ms % 1000) * 1000);
    if (select(0, write ? NULL : &set, write ? &set : NULL, &err, &tv) <= 0) return FALSE;
    return !FD_ISSET(g_sock, &err);
}

BOOL link_open(void)
{
    struct sockaddr_in a;
    char port[16];
    u_long nb = 1;
    int err = 0, errLen = sizeof(err), one = 1;
    if (!GetEnvironmentVariableA("PWSYNC_TEST_PORT", port, sizeof port)) return FALSE;
    g_sock = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    if (g_sock == INVALID_SOCKET) return FALSE;
    ioctlsocket(g_sock, FIONBIO, &nb);
    ZeroMemory(&a, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((u_short)atoi(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(g_sock, (struct sockaddr *)&a, sizeof a) != 0 &&
        (WSAGetLastError() != WSAEWOULDBLOCK || !link_wait(TRUE, PWS_CONNECT_MS) ||
         getsockopt(g_sock, SOL_SOCKET, SO_ERROR, (char *)&err, &errLen) != 0 || err != 0)) {
        link_close();
        return FALSE;
    }
    setsockopt(g_sock, IPPROTO_TCP, TCP_NODELAY, (const char *)&one, sizeof one);
    return TRUE;
}

/* Moves exactly len bytes or fails; the whole transfer shares one deadline. */
BOOL link_io(BOOL write, char *p, DWORD len, DWORD ms)
{
    ULONGLONG deadline = GetTickCount64() + ms;
    while (len > 0) {
        ULONGLONG now = GetTickCount64();
        int r;
        if (now >= deadline || !link_wait(write, (DWORD)(deadline - now))) return FALSE;
        r = write ? send(g_sock, p, (int)len, 0) : recv(g_sock, p, (int)len, 0);
        if (r <= 0) {
            if (r < 0 && WSAGetLastError() == WSAEWOULDBLOCK) continue;
            return FALSE;
        }
        p += r; len -= (DWORD)r;
    }
    return TRUE;
}

void link_init(void)
{
    WSADATA w;
    WSAStartup(MAKEWORD(2, 2), &w);
}
