/* harness.c — loads a pwsync filter DLL and calls its exports the way LSA does, under Wine, for the e2e test.
 * Prints one JSON object per line; test passwords are literals here and must never appear in files the DLL wrote.
 * usage: harness.exe <dll> smoke|spool|replay|after-replay|filter|toggle|disabled|refuse|bench <label> <n> <paceUs> */

#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <ntsecapi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef BOOLEAN(NTAPI *InitFn)(void);
typedef BOOLEAN(NTAPI *FilterFn)(PUNICODE_STRING, PUNICODE_STRING, PUNICODE_STRING, BOOLEAN);
typedef NTSTATUS(NTAPI *NotifyFn)(PUNICODE_STRING, ULONG, PUNICODE_STRING);

/* Must match PwsStats in pwfilt.c. */
typedef struct {
    volatile LONG queued, sent, spooled, replayed, refused, filtered, disabled, skipped,
                  droppedFull, tooLong, spoolFailed, badName, corruptSpool, ring, busy, agentDown;
    volatile LONG64 spoolPending;
} PwsStats;
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
           "\"spoolFailed\":%ld,\"badName\":%ld,\"corruptSpool\":%ld,\"spoolPending\":%lld,\"agentDown\":%ld,"
           "\"badStatus\":%ld}}\n",
           s.queued, s.sent, s.spooled, s.replayed, s.refused, s.filtered, s.disabled, s.skipped, s.droppedFull,
           s.tooLong, s.spoolFailed, s.badName, s.corruptSpool, (long long)s.spoolPending, s.agentDown, g_badStatus);
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
        if (s.ring == 0 && s.busy == 0 && (s.spoolPending == 0 || s.agentDown)) {
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
static void bench(const char *label, int n, int paceUs)
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
        p = us(pw);
        QueryPerformanceCounter(&t0);
        if (pNotify(&name, 3000, &p) != 0) g_badStatus++;
        QueryPerformanceCounter(&t1);
        all[i] = t1.QuadPart - t0.QuadPart;
        if (pStats) pStats(&s);
        if (s.droppedFull == dropped) queued[nq++] = all[i];
        dropped = s.droppedFull;
        do { SwitchToThread(); QueryPerformanceCounter(&t); } while ((double)(t.QuadPart - t0.QuadPart) * us1 < paceUs);
    }
    printf("{\"bench\":\"%s\",\"calls\":%d,\"paceUs\":%d,\"droppedFull\":%ld", label, n, paceUs, (long)dropped);
    pct("all", all, n, us1);
    pct("queued", queued, nq, us1);
    printf("}\n");
    fflush(stdout);
    free(all);
    free(queued);
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
    } else if (strcmp(mode, "disabled") == 0) {
        notify(L"zed", 1300, L"Disabled-Pw-1!");
    } else if (strcmp(mode, "refuse") == 0) {
        notify(L"refuse-me", 1400, L"Refuse-Pw-1!");
        notify(L"busy-me", 1401, L"Busy-Pw-1!");
    } else if (strcmp(mode, "bench") == 0 && argc >= 6) {
        bench(argv[3], atoi(argv[4]), atoi(argv[5]));
        print_stats();
        fflush(stdout);
        ExitProcess(0); /* do not wait for the worker: the spool of a bench run is thrown away */
    } else { fprintf(stderr, "unknown mode %s\n", mode); return 2; }

    printf("{\"idle\":%s}\n", wait_idle(30000) ? "true" : "false");
    print_stats();
    fflush(stdout);
    ExitProcess(0);
}
