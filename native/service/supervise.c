/* supervise.c — runs pwsync.exe under the service host: start, stop gracefully, restart with backoff.
 * The stop signal is the end of the agent's stdin (`pwsync run --until-stdin-closes`): the host closes its end
 * of the pipe, the agent finishes in-flight commits and exits. Only when it does not within PWS_STOP_TIMEOUT_MS is
 * it terminated (the outbox is crash-safe, so even then nothing acknowledged is lost). */

#include "host.h"
#include <stdarg.h>
#include <stdio.h>
#include <wchar.h>

void pws_exe_dir(WCHAR *out, DWORD cap)
{
    WCHAR *slash;
    DWORD n = GetModuleFileNameW(NULL, out, cap);
    if (n == 0 || n >= cap) { out[0] = 0; return; }
    slash = wcsrchr(out, L'\\');
    if (slash) *slash = 0;
}

/* One timestamped line of the host's own into the agent's output log (never anything the agent sent). */
static void host_log(const WCHAR *logFile, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void host_log(const WCHAR *logFile, const char *fmt, ...)
{
    char line[256];
    SYSTEMTIME t;
    DWORD written;
    va_list ap;
    int n, m;
    HANDLE h = CreateFileW(logFile, FILE_APPEND_DATA, FILE_SHARE_READ | FILE_SHARE_WRITE, NULL, OPEN_ALWAYS,
                           FILE_ATTRIBUTE_NORMAL, NULL);
    if (h == INVALID_HANDLE_VALUE) return;
    GetSystemTime(&t);
    n = snprintf(line, sizeof line, "%04u-%02u-%02uT%02u:%02u:%02uZ pwsync-service: ", t.wYear, t.wMonth, t.wDay, t.wHour,
                 t.wMinute, t.wSecond);
    va_start(ap, fmt);
    m = n > 0 && n < (int)sizeof line ? vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap) : -1;
    va_end(ap);
    if (m > 0 && n + m < (int)sizeof line - 2) {
        n += m;
        line[n++] = '\r';
        line[n++] = '\n';
        WriteFile(h, line, (DWORD)n, &written, NULL);
    }
    CloseHandle(h);
}

typedef struct {
    HANDLE process;
    HANDLE stdinWrite;
} Child;

static BOOL start_child(const WCHAR *config, const WCHAR *logFile, Child *c)
{
    WCHAR dir[MAX_PATH], exe[MAX_PATH], cmd[3 * MAX_PATH];
    SECURITY_ATTRIBUTES sa = { sizeof sa, NULL, TRUE };
    STARTUPINFOW si;
    PROCESS_INFORMATION pi;
    HANDLE rd = NULL, wr = NULL, log;
    BOOL ok;

    pws_exe_dir(dir, MAX_PATH);
    if (!dir[0] || _snwprintf(exe, MAX_PATH, L"%ls\\pwsync.exe", dir) < 0) return FALSE;
    exe[MAX_PATH - 1] = 0;
    if (_snwprintf(cmd, 3 * MAX_PATH, L"\"%ls\" run --config \"%ls\" --until-stdin-closes", exe, config) < 0) return FALSE;
    cmd[3 * MAX_PATH - 1] = 0;
    if (!CreatePipe(&rd, &wr, &sa, 0)) return FALSE;
    SetHandleInformation(wr, HANDLE_FLAG_INHERIT, 0); /* only the read end goes to the child */
    /* Node needs stdout/stderr to be a file (a pipe fails under Wine, and nobody would drain it anyway). */
    log = CreateFileW(logFile, FILE_APPEND_DATA, FILE_SHARE_READ | FILE_SHARE_WRITE, &sa, OPEN_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
    if (log == INVALID_HANDLE_VALUE) { CloseHandle(rd); CloseHandle(wr); return FALSE; }
    ZeroMemory(&si, sizeof si);
    si.cb = sizeof si;
    si.dwFlags = STARTF_USESTDHANDLES;
    si.hStdInput = rd;
    si.hStdOutput = log;
    si.hStdError = log;
    ok = CreateProcessW(exe, cmd, NULL, NULL, TRUE, CREATE_NO_WINDOW, NULL, dir, &si, &pi);
    CloseHandle(rd);
    CloseHandle(log);
    if (!ok) { CloseHandle(wr); return FALSE; }
    CloseHandle(pi.hThread);
    c->process = pi.hProcess;
    c->stdinWrite = wr;
    return TRUE;
}

int pws_supervise(const WCHAR *config, const WCHAR *logFile, HANDLE stopEvent, PwsStatusFn report)
{
    DWORD backoff = 1000;
    for (;;) {
        Child c;
        ULONGLONG started;
        HANDLE waits[2];
        DWORD r, code = 0;
        if (!start_child(config, logFile, &c)) {
            host_log(logFile, "cannot start pwsync.exe (error %lu); retrying in %lu ms", (unsigned long)GetLastError(), (unsigned long)backoff);
        } else {
            started = GetTickCount64();
            host_log(logFile, "agent started (pid %lu)", (unsigned long)GetProcessId(c.process));
            report(SERVICE_RUNNING, 0);
            waits[0] = stopEvent;
            waits[1] = c.process;
            r = WaitForMultipleObjects(2, waits, FALSE, INFINITE);
            if (r == WAIT_OBJECT_0) {
                report(SERVICE_STOP_PENDING, PWS_STOP_TIMEOUT_MS + 5000);
                CloseHandle(c.stdinWrite); /* EOF on the agent's stdin: finish in-flight work and exit */
                if (WaitForSingleObject(c.process, PWS_STOP_TIMEOUT_MS) == WAIT_TIMEOUT) {
                    host_log(logFile, "agent did not stop within %lu ms: terminating it", (unsigned long)PWS_STOP_TIMEOUT_MS);
                    TerminateProcess(c.process, 1);
                    WaitForSingleObject(c.process, 5000);
                }
                GetExitCodeProcess(c.process, &code);
                host_log(logFile, "agent stopped (exit code %lu)", (unsigned long)code);
                CloseHandle(c.process);
                return 0;
            }
            GetExitCodeProcess(c.process, &code);
            CloseHandle(c.stdinWrite);
            CloseHandle(c.process);
            if (GetTickCount64() - started > 60000) backoff = 1000; /* it ran a while: not a crash loop */
            host_log(logFile, "agent exited on its own (exit code %lu); restarting in %lu ms", (unsigned long)code, (unsigned long)backoff);
        }
        report(SERVICE_RUNNING, 0);
        if (WaitForSingleObject(stopEvent, backoff) == WAIT_OBJECT_0) return 0;
        backoff = backoff >= 30000 ? 60000 : backoff * 2;
    }
}
