/* transport-pipe.c — production transport: the named pipe \\.\pipe\pwsync, served by the agent.
 * Must never talk to a pipe server that is not LocalSystem (anyone may create the pipe name first). */

#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include "transport.h"

#define PWS_PIPE_NAME    L"\\\\.\\pipe\\pwsync"

/* Production transport: the named pipe \\.\pipe\pwsync, overlapped so every read and write has a deadline. */
static HANDLE g_pipe = INVALID_HANDLE_VALUE;
static HANDLE g_ioEvent;

BOOL link_is_open(void) { return g_pipe != INVALID_HANDLE_VALUE; }
void link_close(void) { if (g_pipe != INVALID_HANDLE_VALUE) CloseHandle(g_pipe); g_pipe = INVALID_HANDLE_VALUE; }

#ifdef PWSYNC_WINE_SERVER_IDENTITY
static BOOL same_user_as_self(PSID server)
{
    HANDLE token;
    BYTE buf[256];
    DWORD size = 0;
    BOOL same = FALSE;
    if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &token)) return FALSE;
    if (GetTokenInformation(token, TokenUser, buf, sizeof buf, &size))
        same = EqualSid(((TOKEN_USER *)buf)->User.Sid, server);
    CloseHandle(token);
    return same;
}
#endif

/* Anyone can create a pipe named pwsync before the agent does; only talk to one served by LocalSystem. */
static BOOL pipe_server_is_system(HANDLE pipe)
{
    ULONG pid = 0;
    HANDLE proc, token;
    BYTE buf[256];
    DWORD size = 0;
    BOOL ok = FALSE;
    if (!GetNamedPipeServerProcessId(pipe, &pid)) return FALSE;
    proc = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, pid);
    if (proc == NULL) return FALSE;
    if (OpenProcessToken(proc, TOKEN_QUERY, &token)) {
        if (GetTokenInformation(token, TokenUser, buf, sizeof buf, &size))
#ifndef PWSYNC_WINE_SERVER_IDENTITY
            ok = IsWellKnownSid(((TOKEN_USER *)buf)->User.Sid, WinLocalSystemSid);
#else
            /* pwfilt-wine.dll only (make build/pwfilt-wine.dll), for end-to-end runs under Wine, where every
             * process runs as S-1-5-21-0-0-0-1000 and none as LocalSystem: the server must run as the same user as
             * the process that loaded the filter. Never ship this build. */
            ok = same_user_as_self(((TOKEN_USER *)buf)->User.Sid);
#endif
        CloseHandle(token);
    }
    CloseHandle(proc);
    return ok;
}

BOOL link_open(void)
{
    int attempt;
    for (attempt = 0; attempt < 2; attempt++) {
        g_pipe = CreateFileW(PWS_PIPE_NAME, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING,
                             FILE_FLAG_OVERLAPPED | SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION, NULL);
        if (g_pipe != INVALID_HANDLE_VALUE) break;
        if (GetLastError() != ERROR_PIPE_BUSY || !WaitNamedPipeW(PWS_PIPE_NAME, PWS_CONNECT_MS)) return FALSE;
    }
    if (g_pipe == INVALID_HANDLE_VALUE) return FALSE;
    if (!pipe_server_is_system(g_pipe)) { link_close(); return FALSE; }
    return TRUE;
}

BOOL link_io(BOOL write, char *p, DWORD len, DWORD ms)
{
    ULONGLONG deadline = GetTickCount64() + ms;
    while (len > 0) {
        OVERLAPPED ov;
        DWORD got = 0, wait;
        ULONGLONG now = GetTickCount64();
        BOOL ok;
        if (now >= deadline) return FALSE;
        ZeroMemory(&ov, sizeof ov);
        ov.hEvent = g_ioEvent;
        ResetEvent(g_ioEvent);
        ok = write ? WriteFile(g_pipe, p, len, NULL, &ov) : ReadFile(g_pipe, p, len, NULL, &ov);
        if (!ok && GetLastError() != ERROR_IO_PENDING) return FALSE;
        wait = WaitForSingleObject(g_ioEvent, (DWORD)(deadline - now));
        if (wait != WAIT_OBJECT_0) {
            CancelIo(g_pipe);
            GetOverlappedResult(g_pipe, &ov, &got, TRUE); /* the buffer must outlive the cancelled I/O */
            return FALSE;
        }
        if (!GetOverlappedResult(g_pipe, &ov, &got, FALSE) || got == 0) return FALSE;
        p += got; len -= got;
    }
    return TRUE;
}

void link_init(void) { g_ioEvent = CreateEventW(NULL, TRUE, FALSE, NULL); }
