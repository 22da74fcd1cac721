/* harness.c — loads a pwsync filter DLL and calls its exports the way LSA does, under Wine, for the e2e test.
 * Prints one JSON object per line; test passwords are literals here and must never appear in files the DLL wrote.
 * usage: harness.exe <dll> smoke|spool|replay|after-replay|filter|toggle|disabled|refuse|killswitch|messages|version
 *        | bench <label> <n> <paceUs> [burst]
 *        harness.exe <dll> stdin     one change per stdin line "name<TAB>rid<TAB>password" (UTF-8, so no password is
 *                                    ever a process argument); stays alive, like LSASS, until stdin closes */

#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <ntsecapi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

typedef BOOLEAN(NTAPI *InitFn)(void);
typedef BOOLEAN(NTAPI *FilterFn)(PUNICODE_STRING, PUNICODE_STRING, PUNICODE_STRING, BOOLEAN);
typedef NTSTATUS(NTAPI *NotifyFn)(PUNICODE_STRING, ULONG, PUNICODE_STRING);

#include "pwfilt.h" /* PwsStats */
typedef void (*StatsFn)(PwsStats *);

static InitFn pInit;
static FilterFn pFilter;
static NotifyFn pNotify;
static StatsFn pStats;
static LONG g_badStatus; /* PasswordChangeNotify must always return STATUS_SUCCESS */

static UNICODE_STRING us(const WCHAR *s)
{
    UNICODE_STRING u;
    size_t n = wcslen(s) * sizeof(WCHAR);
    u.Length = (USHORT)n;
    u.MaximumLength = (USHORT)n;
    u.Buffer = (PWSTR)s;
    return u;
}

static void notify(const WCHAR *name, ULONG rid, const WCHAR *pw)
{
    UNICODE_STRING n = us(name), p = us(pw);
    if (pNotify(&n, rid, &p) != 0) InterlockedIncrement(&g_badStatus);
}

static void notify_raw(PUNICODE_STRING n, ULONG rid, PUNICODE_STRING p)
{
    if (pNotify(n, rid, p) != 0) InterlockedIncrement(&g_badStatus);
}

static void print_stats(void)
{
    PwsStats s;
    memset(&s, 0, sizeof s);
    if (pStats) pStats(&s);
    printf("{\"stats\":{\"queued\":%ld,\"sent\":%ld,\"spooled\":%ld,\"replayed\":%ld,\"refused\":%ld,"
           "\"filtered\":%ld,\"disabled\":%ld,\"skipped\":%ld,\"droppedFull\":%ld,\"tooLong\":%ld,"
           "\"spoolWriteFailed\":%ld,\"badName\":%ld,\"corruptSpool\":%ld,\"spoolPending\":%lld,\"agentDown\":%ld,"
           "\"expired\":%ld,\"setAside\":%ld,\"skipFramesSent\":%ld,\"eventsWritten\":%ld,\"held\":%ld,"
           "\"enabled\":%ld,\"badStatus\":%ld}}\n",
           s.queued, s.sent, s.spooled, s.replayed, s.refused, s.filtered, s.disabled, s.skipped, s.droppedFull,
           s.tooLong, s.spoolWriteFailed, s.badName, s.corruptSpool, (long long)s.spoolPending, s.agentDown,
           s.expired, s.setAside, s.skipFramesSent, s.eventsWritten, s.held, s.enabled, g_badStatus);
    fflush(stdout);
}

/* Idle: ring empty, worker not busy, and the spool empty or the agent known to be down. */
static BOOL wait_idle(DWORD ms)
{
    ULONGLONG deadline = GetTickCount64() + ms;
    int calm = 0;
    if (!pStats) { Sleep(ms); return TRUE; }
    while (GetTickCount64() < deadline) {
        PwsStats s;
        pStats(&s);
        if (s.ring == 0 && s.busy == 0 && ((s.spoolPending == 0 && s.held == 0) || s.agentDown)) {
            if (++calm >= 3) return TRUE;
        } else calm = 0;
        Sleep(10);
    }
    return FALSE;
}

static DWORD WINAPI thread_main(LPVOID arg)
{
    int t = (int)(INT_PTR)arg, i;
    HANDLE go = OpenEventW(SYNCHRONIZE, FALSE, L"pwsync-harness-go");
    if (go) { WaitForSingleObject(go, 5000); CloseHandle(go); }
    for (i = 0; i < 100; i++) {
        WCHAR name[32], pw[32];
        swprintf(name, 32, L"t%du%d", t, i);
        swprintf(pw, 32, L"Thr%d-%d-Pw\x00e9!", t, i);
        notify(name, (ULONG)(5000 + t * 100 + i), pw);
    }
    return 0;
}

static void smoke(void)
{
    static WCHAR name256[257], name257[258], pw512[513], pw513[514];
    UNICODE_STRING a, b, nullBuf = { 10, 10, NULL }, empty = { 0, 0, NULL };
    HANDLE threads[8], go;
    int i;

    /* the ones that must arrive */
    notify(L"alice", 1102, L"N\x00e9wPassw0rd!");
    notify(L"bob", 1103, L"p\x00e4ss\xD83D\xDE00w\"o\\rd\t\n\x01");
    notify(L"carol", 1104, L"ab\xD800" L"cd-Unpaired1");
    notify(L"dave", 1105, L"\xDC00" L"x-Unpaired2");
    for (i = 0; i < 256; i++) name256[i] = L'u';
    notify(name256, 1106, L"Long-Name-Pw-1!");
    a = us(L"oddname"); a.Length += 1; /* odd byte count: the odd byte is ignored */
    b = us(L"Odd-Pw-7!"); b.Length += 1;
    notify_raw(&a, 1107, &b);
    a = us(L"frank");
    notify_raw(&a, 1108, &empty); /* an empty password is still a change */
    for (i = 0; i < 512; i++) pw512[i] = L'x';
    notify(L"longpw", 1109, pw512);

    /* the ones that must never travel */
    notify(L"krbtgt", 502, L"Krbtgt-Secret-502!");
    notify(L"KRBTGT", 502, L"Krbtgt-Secret-UP!");
    notify(L"krbtgt_123", 1500, L"Krbtgt-Secret-123!");
    notify(L"HOST$", 1000, L"Host-Secret-1!");
    for (i = 0; i < 257; i++) name257[i] = L'v';
    notify(name257, 1110, L"Too-Long-Name-Pw!");
    for (i = 0; i < 513; i++) pw513[i] = L'y';
    notify(L"toolongpw", 1111, pw513);

    /* garbage LSA never sends, but we must survive */
    a = us(L"erin");
    notify_raw(NULL, 1, NULL);
    notify_raw(&a, 1112, NULL);
    notify_raw(NULL, 1113, &a);
    notify_raw(&nullBuf, 1114, &nullBuf);
    notify_raw(&a, 1115, &nullBuf);
    notify_raw(&empty, 1116, &a);
    printf("{\"filterNull\":[%d,%d,%d]}\n", pFilter(NULL, NULL, NULL, TRUE), pFilter(&nullBuf, &nullBuf, &nullBuf, FALSE),
           pFilter(&empty, &empty, &empty, TRUE));

    /* many threads at once */
    go = CreateEventW(NULL, TRUE, FALSE, L"pwsync-harness-go");
    for (i = 0; i < 8; i++) threads[i] = CreateThread(NULL, 0, thread_main, (LPVOID)(INT_PTR)i, 0, NULL);
    Sleep(20);
    SetEvent(go);
    WaitForMultipleObjects(8, threads, TRUE, 10000);
    for (i = 0; i < 8; i++) CloseHandle(threads[i]);
    CloseHandle(go);
}

static int cmp_ll(const void *x, const void *y)
{
    LONGLONG a = *(const LONGLONG *)x, b = *(const LONGLONG *)y;
    return a < b ? -1 : a > b;
}

static void pct(const char *key, LONGLONG *d, int n, double us1)
{
    if (n == 0) { printf(",\"%s\":null", key); return; }
    qsort(d, (size_t)n, sizeof(LONGLONG), cmp_ll);
    printf(",\"%s\":{\"n\":%d,\"p50us\":%.2f,\"p99us\":%.2f,\"maxUs\":%.2f}", key, n, (double)d[n / 2] * us1,
           (double)d[(n * 99) / 100] * us1, (double)d[n - 1] * us1);
}

/* Wall time of PasswordChangeNotify per call, QueryPerformanceCounter; paceUs spaces the calls (yielding, so the
 * pacing loop does not starve the worker). Calls the DLL dropped because its ring was full are also reported
 * apart: that path is cheaper and would flatter the numbers. */
static void bench(const char *label, int n, int paceUs, int burst)
{
    LARGE_INTEGER f, t0, t1, t;
    LONGLONG *all = (LONGLONG *)calloc((size_t)n, sizeof(LONGLONG));
    LONGLONG *queued = (LONGLONG *)calloc((size_t)n, sizeof(LONGLONG));
    WCHAR pw[32];
    UNICODE_STRING name = us(L"benchuser"), p;
    PwsStats s;
    LONG dropped = 0;
    int i, nq = 0;
    double us1;
    QueryPerformanceFrequency(&f);
    us1 = 1e6 / (double)f.QuadPart;
    memset(&s, 0, sizeof s);
    for (i = 0; i < n; i++) {
        swprintf(pw, 32, L"Bench-Pw-%06d!", i);
        if (burst > 0 && i % burst == 0 && i > 0) Sleep((DWORD)paceUs / 1000u); /* bursts of `burst` back to back */
        p = us(pw);
        QueryPerformanceCounter(&t0);
        if (pNotify(&name, 3000, &p) != 0) g_badStatus++;
        QueryPerformanceCounter(&t1);
        all[i] = t1.QuadPart - t0.QuadPart;
        if (pStats) pStats(&s);
        if (s.droppedFull == dropped) queued[nq++] = all[i];
        dropped = s.droppedFull;
        if (burst == 0)
            do { SwitchToThread(); QueryPerformanceCounter(&t); } while ((double)(t.QuadPart - t0.QuadPart) * us1 < paceUs);
    }
    (void)t;
    printf("{\"bench\":\"%s\",\"calls\":%d,\"paceUs\":%d,\"burst\":%d,\"droppedFull\":%ld", label, n, paceUs, burst,
           (long)dropped);
    pct("all", all, n, us1);
    pct("queued", queued, nq, us1);
    printf("}\n");
    fflush(stdout);
    free(all);
    free(queued);
}

/* The kill switch while the sender is stuck on a hung agent (5 s ack): how long until Enabled=0 is in force. */
static void killswitch(void)
{
    DWORD zero = 0, one = 1;
    PwsStats s;
    LARGE_INTEGER f, t0, t1;
    int i;
    QueryPerformanceFrequency(&f);
    for (i = 0; i < 200; i++) {
        WCHAR name[32];
        swprintf(name, 32, L"ks%d", i);
        notify(name, (ULONG)(1600 + i), L"Kill-Pw-1!");
    }
    /* the sender is inside its 5 s wait for the hung agent's ack once agentDown is still 0 and busy is 1 */
    Sleep(300);
    pStats(&s);
    printf("{\"beforeOff\":{\"agentDown\":%ld,\"busy\":%ld}}\n", s.agentDown, s.busy);
    QueryPerformanceCounter(&t0);
    RegSetKeyValueW(HKEY_LOCAL_MACHINE, L"SOFTWARE\\pwsync", L"Enabled", REG_DWORD, &zero, sizeof zero);
    for (;;) {
        pStats(&s);
        QueryPerformanceCounter(&t1);
        if (s.enabled == 0 || (t1.QuadPart - t0.QuadPart) / f.QuadPart > 10) break;
        Sleep(5);
    }
    printf("{\"offSeenMs\":%.1f,\"enabled\":%ld}\n", (double)(t1.QuadPart - t0.QuadPart) * 1000.0 / (double)f.QuadPart,
           s.enabled);
    notify(L"while-off", 1700, L"Kill-Pw-Off!");
    RegSetKeyValueW(HKEY_LOCAL_MACHINE, L"SOFTWARE\\pwsync", L"Enabled", REG_DWORD, &one, sizeof one);
    fflush(stdout);
}

/* Formats every message of the DLL's message table (IDs 6000-6099, any severity), one JSON line each. */
static void messages(const char *dll)
{
    HMODULE m = LoadLibraryExA(dll, NULL, LOAD_LIBRARY_AS_DATAFILE);
    DWORD id, sev;
    for (id = 6000; id < 6100; id++)
        for (sev = 0; sev < 4; sev++) {
            char text[1024];
            DWORD n = FormatMessageA(FORMAT_MESSAGE_FROM_HMODULE | FORMAT_MESSAGE_IGNORE_INSERTS, m, (sev << 30) | id,
                                     MAKELANGID(LANG_ENGLISH, SUBLANG_ENGLISH_US), text, sizeof text, NULL);
            char *p;
            if (n == 0) continue;
            for (p = text; *p; p++) if (*p == '\r' || *p == '\n') { *p = 0; break; }
            printf("{\"message\":%lu,\"severity\":%lu,\"text\":\"", id, sev);
            for (p = text; *p; p++) printf(*p == '"' || *p == '\\' ? "\\%c" : "%c", *p);
            printf("\"}\n");
        }
    fflush(stdout);
}

/* The version resource as Explorer shows it. */
static void version(const char *dll)
{
    DWORD h = 0, size = GetFileVersionInfoSizeA(dll, &h);
    BYTE *buf = (BYTE *)malloc(size ? size : 1);
    VS_FIXEDFILEINFO *fi = NULL;
    UINT len = 0;
    char *fv = NULL, *pv = NULL;
    if (size && GetFileVersionInfoA(dll, 0, size, buf) && VerQueryValueA(buf, "\\", (void **)&fi, &len)) {
        VerQueryValueA(buf, "\\StringFileInfo\\040904b0\\FileVersion", (void **)&fv, &len);
        VerQueryValueA(buf, "\\StringFileInfo\\040904b0\\ProductVersion", (void **)&pv, &len);
        printf("{\"version\":{\"file\":\"%lu.%lu.%lu.%lu\",\"product\":\"%lu.%lu.%lu.%lu\",\"fileString\":\"%s\","
               "\"productString\":\"%s\"}}\n",
               fi->dwFileVersionMS >> 16, fi->dwFileVersionMS & 0xFFFF, fi->dwFileVersionLS >> 16,
               fi->dwFileVersionLS & 0xFFFF, fi->dwProductVersionMS >> 16, fi->dwProductVersionMS & 0xFFFF,
               fi->dwProductVersionLS >> 16, fi->dwProductVersionLS & 0xFFFF, fv ? fv : "", pv ? pv : "");
    } else printf("{\"version\":null}\n");
    fflush(stdout);
    free(buf);
}

/* Lines "name\trid\tpassword\n" (UTF-8) from stdin, each through PasswordFilter then PasswordChangeNotify; after
 * each line prints {"notified":n}. Returns at EOF: the DLL's worker keeps running meanwhile, as in LSASS, so the
 * production DLL (no stats export) is observed from the agent's side, not from here. */
static void from_stdin(void)
{
    static char line[4096];
    static WCHAR name[300], pw[600];
    int n = 0;
    while (fgets(line, sizeof line, stdin)) {
        char *t1 = strchr(line, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL, *end;
        UNICODE_STRING un, up;
        ULONG rid;
        int nl, pl;
        if (!t1 || !t2) continue;
        *t1 = 0;
        *t2 = 0;
        end = t2 + 1 + strcspn(t2 + 1, "\r\n");
        *end = 0;
        rid = (ULONG)strtoul(t1 + 1, NULL, 10);
        nl = MultiByteToWideChar(CP_UTF8, 0, line, -1, name, 300);
        pl = MultiByteToWideChar(CP_UTF8, 0, t2 + 1, -1, pw, 600);
        SecureZeroMemory(line, sizeof line);
        if (nl <= 0 || pl <= 0) continue;
        un = us(name);
        up = us(pw);
        if (pFilter(&un, NULL, &up, TRUE)) notify(name, rid, pw);
        SecureZeroMemory(pw, sizeof pw);
        printf("{\"notified\":%d}\n", ++n);
        fflush(stdout);
    }
}

int main(int argc, char **argv)
{
    HMODULE dll;
    const char *mode;
    if (argc < 3) { fprintf(stderr, "usage: harness.exe <dll> <mode> ...\n"); return 2; }
    mode = argv[2];
    dll = LoadLibraryA(argv[1]);
    if (!dll) { fprintf(stderr, "LoadLibrary(%s) failed: %lu\n", argv[1], GetLastError()); return 3; }
    pInit = (InitFn)(void *)GetProcAddress(dll, "InitializeChangeNotify");
    pFilter = (FilterFn)(void *)GetProcAddress(dll, "PasswordFilter");
    pNotify = (NotifyFn)(void *)GetProcAddress(dll, "PasswordChangeNotify");
    pStats = (StatsFn)(void *)GetProcAddress(dll, "PwsyncTestStats");
    if (!pInit || !pFilter || !pNotify) { fprintf(stderr, "missing export\n"); return 4; }
    printf("{\"init\":%d}\n", pInit());

    if (strcmp(mode, "stdin") == 0) {
        from_stdin();
        print_stats();
        fflush(stdout);
        ExitProcess(0);
    }
    if (strcmp(mode, "smoke") == 0) smoke();
    else if (strcmp(mode, "spool") == 0) {
        notify(L"sp1", 1201, L"Spool-1-P\x00e4ssw\x00f6rd\xD83D\xDE00");
        notify(L"sp2", 1202, L"Spool-2-P\x00e4ssw\x00f6rd\xD83D\xDE00");
        notify(L"sp3", 1203, L"Spool-3-P\x00e4ssw\x00f6rd\xD83D\xDE00");
        notify(L"krbtgt", 502, L"Krbtgt-Spool-Secret!");
        notify(L"sp4", 1204, L"Spool-4-P\x00e4ssw\x00f6rd\xD83D\xDE00");
    } else if (strcmp(mode, "replay") == 0) {
        /* nothing new: the worker replays what is spooled */
    } else if (strcmp(mode, "after-replay") == 0) {
        notify(L"sp5", 1205, L"Spool-5-Newer!");
    } else if (strcmp(mode, "filter") == 0) {
        UNICODE_STRING acct = us(L"alice"), krb = us(L"krbtgt"), p1 = us(L"Plain-Ascii-1!"),
                       p2 = us(L"Caf\x00e9-Pw-1!"), p3 = us(L"Emoji-\xD83D\xDE00-1!");
        printf("{\"filter\":{\"ascii\":%d,\"latin\":%d,\"emoji\":%d,\"krbtgtLatin\":%d,\"null\":%d}}\n",
               pFilter(&acct, NULL, &p1, FALSE), pFilter(&acct, NULL, &p2, FALSE), pFilter(&acct, &acct, &p3, TRUE),
               pFilter(&krb, NULL, &p2, TRUE), pFilter(NULL, NULL, NULL, FALSE));
    } else if (strcmp(mode, "toggle") == 0) {
        /* HKLM\SOFTWARE\pwsync\Enabled flipped while the DLL runs: no reboot, no reload. */
        DWORD zero = 0, one = 1;
        notify(L"toggle1", 1310, L"Toggle-Pw-1!");
        wait_idle(5000);
        RegSetKeyValueW(HKEY_LOCAL_MACHINE, L"SOFTWARE\\pwsync", L"Enabled", REG_DWORD, &zero, sizeof zero);
        Sleep(1500);
        notify(L"toggle2", 1311, L"Toggle-Pw-2!");
        wait_idle(5000);
        RegSetKeyValueW(HKEY_LOCAL_MACHINE, L"SOFTWARE\\pwsync", L"Enabled", REG_DWORD, &one, sizeof one);
        Sleep(1500);
        notify(L"toggle3", 1312, L"Toggle-Pw-3!");
    } else if (strcmp(mode, "stuck") == 0) {
        /* one change the agent always answers E_STORAGE (retryable), two behind it: they must not wait for it forever */
        PwsStats s;
        ULONGLONG deadline = GetTickCount64() + 30000;
        notify(L"stuck-me", 1500, L"Stuck-Pw-1!");
        notify(L"behind1", 1501, L"Behind-Pw-1!");
        notify(L"behind2", 1502, L"Behind-Pw-2!");
        do { Sleep(20); pStats(&s); } while ((s.setAside == 0 || s.sent + s.replayed < 2) && GetTickCount64() < deadline);
        print_stats();
        ExitProcess(0);
    } else if (strcmp(mode, "messages") == 0) {
        messages(argv[1]);
        ExitProcess(0);
    } else if (strcmp(mode, "version") == 0) {
        version(argv[1]);
        ExitProcess(0);
    } else if (strcmp(mode, "disabled") == 0) {
        notify(L"zed", 1300, L"Disabled-Pw-1!");
    } else if (strcmp(mode, "refuse") == 0) {
        notify(L"refuse-me", 1400, L"Refuse-Pw-1!");
        notify(L"busy-me", 1401, L"Busy-Pw-1!");
    } else if (strcmp(mode, "bench") == 0 && argc >= 6) {
        bench(argv[3], atoi(argv[4]), atoi(argv[5]), argc >= 7 ? atoi(argv[6]) : 0);
        /* then wait until every change is handed over or spooled: the drop count is final only then */
        printf("{\"idle\":%s}\n", wait_idle(120000) ? "true" : "false");
        print_stats();
        fflush(stdout);
        ExitProcess(0);
    } else if (strcmp(mode, "killswitch") == 0) {
        killswitch();
    } else { fprintf(stderr, "unknown mode %s\n", mode); return 2; }

    printf("{\"idle\":%s}\n", wait_idle(30000) ? "true" : "false");
    print_stats();
    fflush(stdout);
    ExitProcess(0);
}
