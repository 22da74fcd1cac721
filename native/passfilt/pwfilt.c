/* pwfilt.c — the pwsync password filter: LSA hands us each password change, we hand it to the pwsync agent.
 * It must never block LSA's thread, never fail a change, never write a password to disk unencrypted, never log one.
 *
 * Shape: PasswordChangeNotify (LSA's thread) copies the change into a fixed, preallocated ring and returns.
 * One worker thread (created in InitializeChangeNotify) turns each change into an intake frame (DESIGN.md §3.1),
 * sends it to the agent over \\.\pipe\pwsync and waits for the ack; when the agent does not answer it writes the
 * frame, encrypted with DPAPI (machine scope), to a SYSTEM-only spool directory and replays it, in order, once
 * the agent answers again. Test builds (-DPWSYNC_TEST_TRANSPORT, pwfilt-test.dll) talk TCP to 127.0.0.1 instead,
 * because a pipe inside Wine is not reachable from Linux; the production pwfilt.dll has no socket code at all. */

#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <ntsecapi.h>
#include <wincrypt.h>
#include <dpapi.h>
#include <sddl.h>
#include "transport.h"
#ifndef STATUS_SUCCESS
#define STATUS_SUCCESS ((NTSTATUS)0x00000000L)
#endif

#define PWS_EXPORT __declspec(dllexport)

#define PWS_RING_CAP     1024u   /* changes held in memory; ~1.5 MiB, allocated once */
#define PWS_NAME_MAX     256u    /* UTF-16 units; sAMAccountName is 20 in practice, 256 in the schema */
#define PWS_PW_MAX       512u    /* UTF-16 units; AD passwords are at most 256 characters */
#define PWS_FRAME_MAX    16384u  /* our frames; the contract allows 64 KiB, worst case here is ~5 KiB */
#define PWS_REPLY_MAX    4096u
#define PWS_SPOOL_MAGIC  "PWSPOOL1"
#define PWS_REG_KEY      L"SOFTWARE\\pwsync"

/* One captured change. Lives in the ring from PasswordChangeNotify until the worker copies it out and wipes it. */
typedef struct {
    ULONG rid;
    USHORT nameChars, pwChars;
    FILETIME capturedAt;
    WCHAR name[PWS_NAME_MAX];
    WCHAR pw[PWS_PW_MAX];
} PwsChange;

/* Counters; read by the test harness (test build), otherwise only useful in a debugger or dump. */
typedef struct {
    volatile LONG queued, sent, spooled, replayed, refused, filtered, disabled, skipped,
                  droppedFull, tooLong, spoolFailed, badName, corruptSpool, ring, busy, agentDown;
    volatile LONG64 spoolPending;
} PwsStats;

static PwsStats g_stats;
static PwsChange *g_ring;                  /* PWS_RING_CAP slots, VirtualAlloc'd in InitializeChangeNotify */
static ULONG g_head, g_count;              /* guarded by g_ringLock */
static SRWLOCK g_ringLock = SRWLOCK_INIT;
static HANDLE g_wake;                      /* auto-reset: "the ring has something" */
static volatile LONG g_ready;              /* 1 once the ring and worker exist */
static volatile LONG g_workerSleeps;       /* 1 while the worker is (about to be) waiting on g_wake */
static volatile LONG g_enabled = 1;        /* HKLM\SOFTWARE\pwsync\Enabled, cached by the worker */
static volatile LONG g_rejectNonAscii = 0; /* HKLM\SOFTWARE\pwsync\RejectNonAscii, cached by the worker */

/* Worker-only state (one thread touches these). */
static WCHAR g_spoolDir[MAX_PATH];
static ULONGLONG g_spoolLow, g_spoolNext;  /* spool files are g_spoolLow .. g_spoolNext-1, some may be gone */
static char g_dc[64];                      /* computer name, UTF-8, JSON-safe */
static DWORD g_ackMs = 5000, g_retryMs = 10000;
static char g_frame[PWS_FRAME_MAX];        /* holds a password while in use; wiped after every use */
static char g_utf8[PWS_PW_MAX * 3 + 4];    /* ditto */
static char g_reply[PWS_REPLY_MAX];

/* ---------------------------------------------------------------- small pure helpers (no I/O) */

/* A UNICODE_STRING as LSA gives it: Length is in bytes, may be odd (the odd byte is ignored), Buffer may be NULL.
 * Returns NULL when there is no string at all, "" for a zero-length one. */
static const WCHAR *us_view(const UNICODE_STRING *s, ULONG *chars)
{
    *chars = 0;
    if (s == NULL) return NULL;
    if (s->Length == 0) return L"";
    if (s->Buffer == NULL) return NULL;
    *chars = s->Length / sizeof(WCHAR);
    return s->Buffer;
}

static BOOL ascii_prefix_ci(const WCHAR *s, ULONG n, const char *p)
{
    ULONG i;
    for (i = 0; p[i]; i++) {
        WCHAR c;
        if (i >= n) return FALSE;
        c = s[i];
        if (c >= L'A' && c <= L'Z') c = (WCHAR)(c + 32);
        if (c != (WCHAR)(unsigned char)p[i]) return FALSE;
    }
    return TRUE;
}

/* DESIGN.md §4.4: krbtgt, krbtgt_NNNNN (RODC) and computer/trust accounts (…$) never travel. */
static BOOL never_forwarded(const WCHAR *name, ULONG n)
{
    if (n == 0) return TRUE;
    if (name[n - 1] == L'$') return TRUE;
    if (n == 6 && ascii_prefix_ci(name, n, "krbtgt")) return TRUE;
    if (n >= 7 && ascii_prefix_ci(name, n, "krbtgt_")) return TRUE;
    return FALSE;
}

/* ---------------------------------------------------------------- the LSA exports */

/* DllMain — LSA loads us at boot under the loader lock. Does nothing: no threads, no registry, no allocation. */
BOOL WINAPI DllMain(HINSTANCE inst, DWORD reason, LPVOID reserved)
{
    (void)inst; (void)reason; (void)reserved;
    return TRUE;
}

static DWORD WINAPI worker_main(LPVOID unused);
static void config_refresh(void);

/* InitializeChangeNotify — called once by LSA after loading the notification packages, on an LSA thread, at boot.
 * Blocks: one registry read (Enabled, RejectNonAscii) and two allocations. Allocates the ring and starts the
 * worker. Returns TRUE even when that fails: FALSE would only stop LSA from calling us, and a change we cannot
 * forward must still succeed — PasswordChangeNotify then simply does nothing (g_ready stays 0). */
PWS_EXPORT BOOLEAN NTAPI InitializeChangeNotify(void)
{
    HANDLE t;
    if (InterlockedCompareExchange(&g_ready, 0, 0)) return TRUE; /* LSA calls once; a harness may not */
    config_refresh();
    g_ring = (PwsChange *)VirtualAlloc(NULL, sizeof(PwsChange) * PWS_RING_CAP, MEM_RESERVE | MEM_COMMIT,
                                       PAGE_READWRITE);
    g_wake = CreateEventW(NULL, FALSE, FALSE, NULL);
    if (g_ring == NULL || g_wake == NULL) return TRUE;
    g_stats.busy = 1; /* until the worker has scanned the spool */
    t = CreateThread(NULL, 0, worker_main, NULL, 0, NULL);
    if (t == NULL) return TRUE;
    CloseHandle(t);
    InterlockedExchange(&g_ready, 1);
    return TRUE;
}

/* PasswordFilter — called by LSA on the thread doing the change, before it is committed (SetOperation TRUE for
 * an admin reset, FALSE for a user change). FALSE vetoes the change. Blocks: nothing; reads two cached flags.
 * Keeps no copy of the password, so there is nothing to zero. Vetoes only when RejectNonAscii=1 (off by default)
 * and the password has a character above U+007F; krbtgt and computer accounts are never vetoed. */
PWS_EXPORT BOOLEAN NTAPI PasswordFilter(PUNICODE_STRING AccountName, PUNICODE_STRING FullName,
                                        PUNICODE_STRING Password, BOOLEAN SetOperation)
{
    ULONG n, i;
    const WCHAR *name, *pw;
    (void)FullName; (void)SetOperation;
    name = us_view(AccountName, &n);
    if (name != NULL && n > 0 && never_forwarded(name, n)) return TRUE;
    if (!g_enabled || !g_rejectNonAscii) return TRUE;
    pw = us_view(Password, &n);
    if (pw == NULL) return TRUE;
    for (i = 0; i < n; i++)
        if (pw[i] > 0x7F) return FALSE;
    return TRUE;
}

/* PasswordChangeNotify — called by LSA after a change is committed, on LSA's thread, possibly on many threads at
 * once. Must return at once and its result is ignored, so it never fails: STATUS_SUCCESS always.
 * Blocks: only g_ringLock, held for one bounded copy (≤ 1.5 KiB); no I/O, no registry, no allocation, no waiting.
 * Zeroing: the ring slot holding the password is wiped by the worker (SecureZeroMemory) as soon as it takes it.
 * Ring full (the worker is behind by PWS_RING_CAP changes, i.e. even the spool disk is slower than the change
 * rate): the change is dropped and counted — waiting would block LSA, and dropping an older queued change instead
 * would silently lose another user's change. The worker never waits on the agent while changes queue up: after
 * one failed send it spools everything until the next probe, so the ring drains at disk speed. */
PWS_EXPORT NTSTATUS NTAPI PasswordChangeNotify(PUNICODE_STRING UserName, ULONG RelativeId,
                                               PUNICODE_STRING NewPassword)
{
    ULONG nameChars, pwChars;
    const WCHAR *name, *pw;
    FILETIME now;
    PwsChange *slot;

    if (!InterlockedCompareExchange(&g_ready, 0, 0)) return STATUS_SUCCESS;
    if (!g_enabled) { InterlockedIncrement(&g_stats.disabled); return STATUS_SUCCESS; }
    name = us_view(UserName, &nameChars);
    if (name == NULL || nameChars == 0) { InterlockedIncrement(&g_stats.skipped); return STATUS_SUCCESS; }
    if (never_forwarded(name, nameChars)) { InterlockedIncrement(&g_stats.filtered); return STATUS_SUCCESS; }
    pw = us_view(NewPassword, &pwChars);
    if (pw == NULL) { InterlockedIncrement(&g_stats.skipped); return STATUS_SUCCESS; }
    if (nameChars > PWS_NAME_MAX || pwChars > PWS_PW_MAX) {
        InterlockedIncrement(&g_stats.tooLong);
        return STATUS_SUCCESS;
    }
    GetSystemTimeAsFileTime(&now);

    AcquireSRWLockExclusive(&g_ringLock);
    if (g_count == PWS_RING_CAP) {
        ReleaseSRWLockExclusive(&g_ringLock);
        InterlockedIncrement(&g_stats.droppedFull);
        return STATUS_SUCCESS;
    }
    slot = &g_ring[(g_head + g_count) % PWS_RING_CAP];
    slot->rid = RelativeId;
    slot->capturedAt = now;
    slot->nameChars = (USHORT)nameChars;
    slot->pwChars = (USHORT)pwChars;
    CopyMemory(slot->name, name, nameChars * sizeof(WCHAR));
    CopyMemory(slot->pw, pw, pwChars * sizeof(WCHAR));
    g_count++;
    g_stats.ring = (LONG)g_count;
    ReleaseSRWLockExclusive(&g_ringLock);

    InterlockedIncrement(&g_stats.queued);
    /* Wake the worker only if it sleeps: a burst costs one SetEvent, not one per change (under Wine every
     * SetEvent is a wineserver round trip, on Windows a system call). */
    if (InterlockedExchange(&g_workerSleeps, 0)) SetEvent(g_wake);
    return STATUS_SUCCESS;
}

/* ---------------------------------------------------------------- worker: configuration */

static DWORD reg_dword(HKEY key, const WCHAR *name, DWORD dflt)
{
    DWORD v = 0, size = sizeof(v);
    if (RegGetValueW(key, NULL, name, RRF_RT_REG_DWORD, NULL, &v, &size) != ERROR_SUCCESS) return dflt;
    return v;
}

/* Re-read at most once per second by the worker (and once in InitializeChangeNotify): LSA's thread only ever
 * reads the cached flags. Missing key or value = defaults (enabled, no veto). */
static void config_refresh(void)
{
    HKEY key;
    LONG enabled = 1, reject = 0;
    if (RegOpenKeyExW(HKEY_LOCAL_MACHINE, PWS_REG_KEY, 0, KEY_READ, &key) == ERROR_SUCCESS) {
        enabled = reg_dword(key, L"Enabled", 1) != 0;
        reject = reg_dword(key, L"RejectNonAscii", 0) == 1;
        RegCloseKey(key);
    }
    InterlockedExchange(&g_enabled, enabled);
    InterlockedExchange(&g_rejectNonAscii, reject);
}

static void config_worker_init(void)
{
    HKEY key;
    DWORD size, n;
    WCHAR raw[MAX_PATH], dc[32];
    lstrcpyW(raw, L"%ProgramData%\\pwsync\\spool");
    if (RegOpenKeyExW(HKEY_LOCAL_MACHINE, PWS_REG_KEY, 0, KEY_READ, &key) == ERROR_SUCCESS) {
        size = sizeof(raw);
        if (RegGetValueW(key, NULL, L"SpoolDir", RRF_RT_REG_SZ | RRF_RT_REG_EXPAND_SZ | RRF_NOEXPAND, NULL, raw,
                         &size) != ERROR_SUCCESS)
            lstrcpyW(raw, L"%ProgramData%\\pwsync\\spool");
        RegCloseKey(key);
    }
#ifdef PWSYNC_TEST_TRANSPORT
    {
        char v[32];
        if (GetEnvironmentVariableW(L"PWSYNC_TEST_SPOOL", raw, MAX_PATH) == 0) raw[0] = 0;
        if (GetEnvironmentVariableA("PWSYNC_TEST_ACK_MS", v, sizeof v)) g_ackMs = (DWORD)atoi(v);
        if (GetEnvironmentVariableA("PWSYNC_TEST_RETRY_MS", v, sizeof v)) g_retryMs = (DWORD)atoi(v);
    }
#endif
    n = ExpandEnvironmentStringsW(raw, g_spoolDir, MAX_PATH);
    if (n == 0 || n > MAX_PATH) g_spoolDir[0] = 0;

    /* dc: the NetBIOS computer name — letters, digits and '-' only, so it is JSON-safe as is. */
    size = 32;
    if (!GetComputerNameW(dc, &size)) size = 0;
    n = (DWORD)WideCharToMultiByte(CP_UTF8, 0, dc, (int)size, g_dc, sizeof(g_dc) - 1, NULL, NULL);
    g_dc[n] = 0;
    for (n = 0; g_dc[n]; n++)
        if (g_dc[n] == '"' || g_dc[n] == '\\' || (unsigned char)g_dc[n] < 0x20) g_dc[n] = '_';
}

/* ---------------------------------------------------------------- worker: the intake frame */

typedef struct { char *p; DWORD len, cap; BOOL overflow; } PwsBuf;

static void buf_put(PwsBuf *b, const char *s, DWORD n)
{
    if (b->overflow || n > b->cap - b->len) { b->overflow = TRUE; return; }
    CopyMemory(b->p + b->len, s, n);
    b->len += n;
}
static void buf_str(PwsBuf *b, const char *s) { buf_put(b, s, (DWORD)lstrlenA(s)); }

/* JSON string body: escapes '"', '\\' and every control character (RFC 8259 §7). */
static void buf_json(PwsBuf *b, const char *s, DWORD n)
{
    static const char hex[] = "0123456789abcdef";
    DWORD i;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[6];
        if (c == '"' || c == '\\') { esc[0] = '\\'; esc[1] = (char)c; buf_put(b, esc, 2); }
        else if (c == '\n') buf_put(b, "\\n", 2);
        else if (c == '\r') buf_put(b, "\\r", 2);
        else if (c == '\t') buf_put(b, "\\t", 2);
        else if (c < 0x20) {
            esc[0] = '\\'; esc[1] = 'u'; esc[2] = '0'; esc[3] = '0'; esc[4] = hex[c >> 4]; esc[5] = hex[c & 15];
            buf_put(b, esc, 6);
        } else buf_put(b, (const char *)&c, 1);
    }
}

/* Decimal, zero-padded to at least width digits (user32's wsprintf would drag user32 into LSASS). */
static char *put_dec(char *p, unsigned long v, int width)
{
    char tmp[16];
    int n = 0;
    do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v > 0 && n < 16);
    while (n < width && n < 16) tmp[n++] = '0';
    while (n > 0) *p++ = tmp[--n];
    return p;
}

/* UTF-16 → UTF-8, refusing unpaired surrogates (WC_ERR_INVALID_CHARS) instead of mangling them to U+FFFD.
 * Returns the byte count, or -1 when the input is not valid UTF-16. */
static int utf16_to_utf8(const WCHAR *s, ULONG n, char *out, int cap)
{
    int r;
    if (n == 0) return 0;
    r = WideCharToMultiByte(CP_UTF8, WC_ERR_INVALID_CHARS, s, (int)n, out, cap, NULL, NULL);
    return r > 0 ? r : -1;
}

/* Builds length prefix + JSON into g_frame. Returns the total byte count, 0 if the change cannot be framed.
 * Caller wipes g_frame. g_utf8 is wiped here. */
static DWORD frame_build(const PwsChange *c)
{
    PwsBuf b = { g_frame, 0, sizeof(g_frame), FALSE };
    char num[32], ts[40], *p;
    SYSTEMTIME st;
    int n;

    buf_put(&b, "\0\0\0\0", 4);
    buf_str(&b, "{\"v\":1,\"type\":\"change\",\"source\":\"passfilt\",\"dc\":\"");
    buf_str(&b, g_dc);
    buf_str(&b, "\",\"account\":\"");
    n = utf16_to_utf8(c->name, c->nameChars, g_utf8, sizeof(g_utf8));
    if (n < 0) { InterlockedIncrement(&g_stats.badName); return 0; }
    buf_json(&b, g_utf8, (DWORD)n);
    *put_dec(num, c->rid, 1) = 0;
    buf_str(&b, "\",\"rid\":");
    buf_str(&b, num);
    FileTimeToSystemTime(&c->capturedAt, &st);
    p = put_dec(ts, st.wYear, 4); *p++ = '-'; p = put_dec(p, st.wMonth, 2); *p++ = '-';
    p = put_dec(p, st.wDay, 2); *p++ = 'T'; p = put_dec(p, st.wHour, 2); *p++ = ':';
    p = put_dec(p, st.wMinute, 2); *p++ = ':'; p = put_dec(p, st.wSecond, 2); *p++ = '.';
    p = put_dec(p, st.wMilliseconds, 3); *p++ = 'Z'; *p = 0;
    buf_str(&b, ",\"capturedAt\":\"");
    buf_str(&b, ts);
    n = utf16_to_utf8(c->pw, c->pwChars, g_utf8, sizeof(g_utf8));
    if (n < 0) {
        /* Not valid UTF-16 (an unpaired surrogate): send no password, say why; the agent rejects it loudly. */
        buf_str(&b, "\",\"passwordInvalidUtf16\":true}");
    } else {
        buf_str(&b, "\",\"password\":\"");
        buf_json(&b, g_utf8, (DWORD)n);
        buf_str(&b, "\"}");
    }
    SecureZeroMemory(g_utf8, sizeof(g_utf8));
    if (b.overflow) { SecureZeroMemory(g_frame, sizeof(g_frame)); return 0; }
    n = (int)(b.len - 4);
    g_frame[0] = (char)(n & 0xFF); g_frame[1] = (char)((n >> 8) & 0xFF);
    g_frame[2] = (char)((n >> 16) & 0xFF); g_frame[3] = 0;
    return b.len;
}

/* ---------------------------------------------------------------- worker: the agent's reply (transport: transport.h) */

enum { ACK_OK, ACK_REFUSED, ACK_RETRY, ACK_NONE };

/* Finds "key" and returns a pointer just past the following ':' (and blanks), or NULL. Enough for the flat
 * replies of §3.1; anything unexpected is treated as no answer. */
static const char *json_after_key(const char *j, DWORD n, const char *key)
{
    DWORD k = (DWORD)lstrlenA(key), i;
    for (i = 0; i + k + 2 < n; i++) {
        if (j[i] == '"' && i + k + 1 < n && j[i + k + 1] == '"' && memcmp(j + i + 1, key, k) == 0) {
            i += k + 2;
            while (i < n && (j[i] == ' ' || j[i] == '\t' || j[i] == '\r' || j[i] == '\n' || j[i] == ':')) i++;
            return i < n ? j + i : NULL;
        }
    }
    return NULL;
}

/* ok:true → ACK_OK. ok:false with a code saying "not now" (E_STORAGE, E_BUSY, E_DB_CORRUPT, E_INTERNAL) →
 * ACK_RETRY: spool, try later. Any other ok:false is final (E_REFUSED*, E_BAD_FRAME, E_INVALID_UTF16, …): the
 * agent answered and journaled why; retrying a refused change forever would also hold every later spooled change
 * behind it. A reply we cannot read counts as no answer. */
static int reply_classify(const char *j, DWORD n)
{
    static const char *const retry[] = { "\"E_STORAGE\"", "\"E_BUSY\"", "\"E_DB_CORRUPT\"", "\"E_INTERNAL\"" };
    const char *v = json_after_key(j, n, "ok"), *code;
    DWORD rest, i, k;
    if (v == NULL) return ACK_NONE;
    rest = (DWORD)(j + n - v);
    if (rest >= 4 && memcmp(v, "true", 4) == 0) return ACK_OK;
    if (rest < 5 || memcmp(v, "false", 5) != 0) return ACK_NONE;
    code = json_after_key(j, n, "code");
    if (code != NULL) {
        rest = (DWORD)(j + n - code);
        for (i = 0; i < sizeof(retry) / sizeof(retry[0]); i++) {
            k = (DWORD)lstrlenA(retry[i]);
            if (rest >= k && memcmp(code, retry[i], k) == 0) return ACK_RETRY;
        }
    }
    return ACK_REFUSED;
}

/* One request/ack exchange. A reused connection that fails is reopened once (the agent may have restarted);
 * the agent may then see the frame twice, which it must tolerate (at-least-once). */
static int agent_exchange(char *frame, DWORD len)
{
    int attempt, result = ACK_NONE;
    for (attempt = 0; attempt < 2; attempt++) {
        BOOL reused = link_is_open();
        DWORD replyLen;
        if (!reused && !link_open()) return ACK_NONE;
        if (link_io(TRUE, frame, len, g_ackMs) && link_io(FALSE, g_reply, 4, g_ackMs)) {
            replyLen = (DWORD)(unsigned char)g_reply[0] | ((DWORD)(unsigned char)g_reply[1] << 8) |
                       ((DWORD)(unsigned char)g_reply[2] << 16) | ((DWORD)(unsigned char)g_reply[3] << 24);
            if (replyLen > 0 && replyLen <= sizeof(g_reply) && link_io(FALSE, g_reply, replyLen, g_ackMs)) {
                result = reply_classify(g_reply, replyLen);
                if (result != ACK_OK) link_close(); /* the agent closes after an error reply anyway */
                return result;
            }
        }
        link_close();
        if (!reused) break;
    }
    return result;
}

/* ---------------------------------------------------------------- worker: the spool */

static void spool_path(WCHAR *out, ULONGLONG seq, const WCHAR *ext)
{
    WCHAR name[18];
    int i;
    for (i = 15; i >= 0; i--, seq >>= 4) name[i] = L"0123456789abcdef"[seq & 15];
    name[16] = L'.';
    name[17] = 0;
    lstrcpyW(out, g_spoolDir);
    lstrcatW(out, L"\\");
    lstrcatW(out, name);
    lstrcatW(out, ext);
}

/* Creates the spool directory SYSTEM-only (protected DACL) if missing, finds the sequence range, and deletes
 * half-written *.tmp files (a crash between write and rename: the frame was never counted as spooled). */
static void spool_init(void)
{
    WCHAR pattern[MAX_PATH + 8], path[MAX_PATH + 32];
    WIN32_FIND_DATAW fd;
    HANDLE find;
    SECURITY_ATTRIBUTES sa;
    PSECURITY_DESCRIPTOR sd = NULL;
    ULONGLONG lo = ~0ULL, hi = 0;
    BOOL any = FALSE;

    if (g_spoolDir[0] == 0) return;
    if (ConvertStringSecurityDescriptorToSecurityDescriptorW(L"D:P(A;OICI;FA;;;SY)", SDDL_REVISION_1, &sd, NULL)) {
        sa.nLength = sizeof sa; sa.lpSecurityDescriptor = sd; sa.bInheritHandle = FALSE;
        CreateDirectoryW(g_spoolDir, &sa);
        LocalFree(sd);
    }
    lstrcpyW(pattern, g_spoolDir);
    lstrcatW(pattern, L"\\*");
    find = FindFirstFileW(pattern, &fd);
    if (find != INVALID_HANDLE_VALUE) {
        do {
            ULONGLONG seq = 0;
            int i;
            const WCHAR *f = fd.cFileName;
            if (lstrlenW(f) != 20 || f[16] != L'.') continue;
            for (i = 0; i < 16; i++) {
                WCHAR c = f[i];
                int d = (c >= L'0' && c <= L'9') ? c - L'0' : (c >= L'a' && c <= L'f') ? c - L'a' + 10 : -1;
                if (d < 0) break;
                seq = (seq << 4) | (ULONGLONG)d;
            }
            if (i < 16) continue;
            if (lstrcmpiW(f + 17, L"tmp") == 0) { spool_path(path, seq, L"tmp"); DeleteFileW(path); continue; }
            if (lstrcmpiW(f + 17, L"pws") != 0) continue;
            any = TRUE;
            if (seq < lo) lo = seq;
            if (seq > hi) hi = seq;
        } while (FindNextFileW(find, &fd));
        FindClose(find);
    }
    g_spoolLow = any ? lo : 0;
    g_spoolNext = any ? hi + 1 : 0;
    g_stats.spoolPending = (LONG64)(g_spoolNext - g_spoolLow);
}

/* Seals one frame with DPAPI (machine scope) and writes it as the next sequence number: temp name, flush,
 * rename, so a file with the final name is always complete. The DPAPI plaintext is the caller's g_frame. */
static BOOL spool_write(char *frame, DWORD len)
{
    static BYTE entropy[] = "pwsync-spool-v1";
    DATA_BLOB in, out, ent;
    WCHAR tmp[MAX_PATH + 32], fin[MAX_PATH + 32];
    HANDLE h;
    DWORD written = 0;
    BOOL ok = FALSE;

    if (g_spoolDir[0] == 0) return FALSE;
    in.cbData = len; in.pbData = (BYTE *)frame;
    ent.cbData = sizeof(entropy) - 1; ent.pbData = entropy;
    if (!CryptProtectData(&in, L"pwsync", &ent, NULL, NULL, CRYPTPROTECT_LOCAL_MACHINE | CRYPTPROTECT_UI_FORBIDDEN,
                          &out))
        return FALSE;
    spool_path(tmp, g_spoolNext, L"tmp");
    spool_path(fin, g_spoolNext, L"pws");
    h = CreateFileW(tmp, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL | FILE_FLAG_WRITE_THROUGH, NULL);
    if (h != INVALID_HANDLE_VALUE) {
        ok = WriteFile(h, PWS_SPOOL_MAGIC, 8, &written, NULL) && written == 8 &&
             WriteFile(h, out.pbData, out.cbData, &written, NULL) && written == out.cbData && FlushFileBuffers(h);
        CloseHandle(h);
        ok = ok && MoveFileExW(tmp, fin, MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH);
        if (!ok) DeleteFileW(tmp);
    }
    LocalFree(out.pbData);
    if (!ok) return FALSE;
    g_spoolNext++;
    g_stats.spoolPending = (LONG64)(g_spoolNext - g_spoolLow);
    return TRUE;
}

/* Replays spooled frames oldest first. Returns FALSE at the first one the agent does not take (it stays). */
static BOOL spool_replay(void)
{
    static BYTE entropy[] = "pwsync-spool-v1";
    static BYTE file[PWS_FRAME_MAX + 1024];
    WCHAR path[MAX_PATH + 32], bad[MAX_PATH + 32];
    while (g_spoolLow < g_spoolNext) {
        HANDLE h;
        DWORD size = 0;
        DATA_BLOB in, out, ent;
        int r;
        spool_path(path, g_spoolLow, L"pws");
        h = CreateFileW(path, GENERIC_READ, 0, NULL, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
        if (h == INVALID_HANDLE_VALUE) {
            if (GetLastError() != ERROR_FILE_NOT_FOUND) return FALSE;
            g_spoolLow++;
            continue;
        }
        if (!ReadFile(h, file, sizeof file, &size, NULL)) size = 0;
        CloseHandle(h);
        in.cbData = size > 8 ? size - 8 : 0; in.pbData = file + 8;
        ent.cbData = sizeof(entropy) - 1; ent.pbData = entropy;
        if (size <= 8 || memcmp(file, PWS_SPOOL_MAGIC, 8) != 0 ||
            !CryptUnprotectData(&in, NULL, &ent, NULL, NULL, CRYPTPROTECT_UI_FORBIDDEN, &out)) {
            spool_path(bad, g_spoolLow, L"bad"); /* keep it for the operator, out of the way */
            MoveFileExW(path, bad, MOVEFILE_REPLACE_EXISTING);
            InterlockedIncrement(&g_stats.corruptSpool);
            g_spoolLow++;
            continue;
        }
        r = agent_exchange((char *)out.pbData, out.cbData);
        SecureZeroMemory(out.pbData, out.cbData);
        LocalFree(out.pbData);
        if (r == ACK_RETRY || r == ACK_NONE) return FALSE;
        InterlockedIncrement(r == ACK_OK ? &g_stats.replayed : &g_stats.refused);
        DeleteFileW(path);
        g_spoolLow++;
        g_stats.spoolPending = (LONG64)(g_spoolNext - g_spoolLow);
    }
    g_stats.spoolPending = 0;
    return TRUE;
}

/* ---------------------------------------------------------------- worker: the loop */

static BOOL ring_take(PwsChange *out)
{
    BOOL got = FALSE;
    AcquireSRWLockExclusive(&g_ringLock);
    if (g_count > 0) {
        PwsChange *slot = &g_ring[g_head];
        CopyMemory(out, slot, sizeof *out);
        SecureZeroMemory(slot, sizeof *slot);
        g_head = (g_head + 1) % PWS_RING_CAP;
        g_count--;
        got = TRUE;
    } else {
        g_stats.busy = 0; /* set under the lock so "ring empty and not busy" is a consistent idle test */
    }
    g_stats.ring = (LONG)g_count;
    ReleaseSRWLockExclusive(&g_ringLock);
    return got;
}

static DWORD WINAPI worker_main(LPVOID unused)
{
    static PwsChange c;
    ULONGLONG nextConfig = 0, nextProbe = 0;
    (void)unused;
    config_worker_init();
    link_init();
    spool_init();
    for (;;) {
        ULONGLONG now = GetTickCount64();
        DWORD wait = 1000;
        g_stats.busy = 1;
        if (now >= nextConfig) { config_refresh(); nextConfig = now + 1000; }
        if (g_spoolLow < g_spoolNext && now >= nextProbe) {
            if (spool_replay()) g_stats.agentDown = 0;
            else { g_stats.agentDown = 1; nextProbe = GetTickCount64() + g_retryMs; }
        }
        while (ring_take(&c)) {
            DWORD len = frame_build(&c);
            SecureZeroMemory(&c, sizeof c);
            if (len == 0) continue;
            /* Order: while anything is spooled, or the agent failed and the next probe is not due, new changes
             * go behind it in the spool; the worker never waits on a dead agent while changes queue up. */
            if (g_spoolLow == g_spoolNext && (!g_stats.agentDown || GetTickCount64() >= nextProbe)) {
                int r = agent_exchange(g_frame, len);
                if (r == ACK_OK) { InterlockedIncrement(&g_stats.sent); g_stats.agentDown = 0; }
                else if (r == ACK_REFUSED) { InterlockedIncrement(&g_stats.refused); g_stats.agentDown = 0; }
                else {
                    g_stats.agentDown = 1;
                    nextProbe = GetTickCount64() + g_retryMs;
                    InterlockedIncrement(spool_write(g_frame, len) ? &g_stats.spooled : &g_stats.spoolFailed);
                }
            } else {
                InterlockedIncrement(spool_write(g_frame, len) ? &g_stats.spooled : &g_stats.spoolFailed);
            }
            SecureZeroMemory(g_frame, len);
        }
        now = GetTickCount64();
        if (g_spoolLow < g_spoolNext && nextProbe > now && nextProbe - now < wait) wait = (DWORD)(nextProbe - now);
        if (g_spoolLow < g_spoolNext && nextProbe <= now) wait = 0;
        /* Announce the sleep, then look once more: a change queued before the announcement is seen here, one
         * queued after it finds g_workerSleeps == 1 and sets g_wake. */
        InterlockedExchange(&g_workerSleeps, 1);
        AcquireSRWLockShared(&g_ringLock);
        if (g_count > 0) wait = 0;
        ReleaseSRWLockShared(&g_ringLock);
        if (wait > 0) WaitForSingleObject(g_wake, wait);
        InterlockedExchange(&g_workerSleeps, 0);
    }
    return 0;
}

#ifdef PWSYNC_TEST_TRANSPORT
/* Test build only: lets the harness see counters and wait until the worker is idle. */
PWS_EXPORT void PwsyncTestStats(PwsStats *out)
{
    AcquireSRWLockExclusive(&g_ringLock);
    CopyMemory(out, (const void *)&g_stats, sizeof *out);
    ReleaseSRWLockExclusive(&g_ringLock);
}
#endif
