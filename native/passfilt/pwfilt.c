/* pwfilt.c — the pwsync password filter's LSA entry points: LSA hands us each password change, we queue it for
 * the pwsync agent. They must never block LSA's thread, never fail a change, never write or log a password.
 *
 * Shape (docs/operations-windows.md, "Password filter: queue, spool, kill switch and events"):
 * PasswordChangeNotify copies the change into an in-memory queue (queue.c)
 * and returns. Two threads started by InitializeChangeNotify (worker.c) do the rest: the drain seals queued
 * changes into the spool (spool.c, DPAPI, SYSTEM-only directory) whenever the agent is down, slow or hung, and
 * never waits on it; the sender hands changes to the agent (agent.c over transport.h: \\.\pipe\pwsync; TCP in
 * the test build), oldest first. What is not handed over leaves a Windows Event Log entry (events.c) and a skip
 * frame for the agent's journal. The exports below are thin: each documents the contract LSA holds us to. */

#include "pwfilt.h"
#include <ntsecapi.h>

#ifndef STATUS_SUCCESS
#define STATUS_SUCCESS ((NTSTATUS)0x00000000L)
#endif

#define PWS_EXPORT __declspec(dllexport)

PwsStats g_stats;
volatile LONG g_enabled = 1;
volatile LONG g_rejectNonAscii = 0;
static volatile LONG g_ready; /* 1 once the queue and the threads exist */

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

/* Invariant 4 (docs/architecture.md#invariants): krbtgt, krbtgt_NNNNN (RODC) and computer/trust accounts (…$) never travel. */
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

/* InitializeChangeNotify — called once by LSA after loading the notification packages, on an LSA thread, at boot.
 * Blocks: one registry read (Enabled, RejectNonAscii) and one allocation; starts the drain thread, which does the
 * slower start-up (spool scan, Event Log) itself. Returns TRUE even when that fails: FALSE would only stop LSA
 * from calling us, and a change we cannot forward must still succeed; the failure is written to the Event Log
 * (6002) and PasswordChangeNotify then does nothing. */
PWS_EXPORT BOOLEAN NTAPI InitializeChangeNotify(void)
{
    const char *failed = NULL;
    if (InterlockedCompareExchange(&g_ready, 0, 0)) return TRUE; /* LSA calls once; a harness may not */
    config_refresh();
    if (!queue_init()) failed = "VirtualAlloc (queue)";
    else if (!worker_start()) failed = "CreateThread (drain)";
    if (failed != NULL) {
        char code[16];
        dec_str(GetLastError(), code);
        events_init();
        event_report(MSG_START_FAILED, failed, code);
        return TRUE;
    }
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
 * Blocks: only the queue's lock, held for one bounded copy (≤ 1.6 KiB); no I/O, no registry, no allocation, no
 * kernel object (a sleeping worker is woken through a condition variable). The capture time (capturedAt) is taken
 * here, so a change replayed from the spool days later still says when it happened.
 * Not handed over: krbtgt, krbtgt_NNNNN and computer/trust accounts (…$), by design and silently. Everything else
 * that cannot be queued (switched off, too long, no name, queue full) is queued as a skip notice or counted, and
 * the drain turns it into an Event Log entry and a skip frame: never a silent drop. */
PWS_EXPORT NTSTATUS NTAPI PasswordChangeNotify(PUNICODE_STRING UserName, ULONG RelativeId,
                                               PUNICODE_STRING NewPassword)
{
    ULONG nameChars, pwChars;
    const WCHAR *name, *pw;

    if (!InterlockedCompareExchange(&g_ready, 0, 0)) return STATUS_SUCCESS; /* start failed: event 6002 */
    name = us_view(UserName, &nameChars);
    if (name == NULL || nameChars == 0) {
        InterlockedIncrement(&g_stats.skipped);
        queue_put(NULL, 0, RelativeId, NULL, 0, PWS_SKIP_NO_ACCOUNT);
        return STATUS_SUCCESS;
    }
    if (never_forwarded(name, nameChars)) { InterlockedIncrement(&g_stats.filtered); return STATUS_SUCCESS; }
    if (nameChars > PWS_NAME_MAX) {
        InterlockedIncrement(&g_stats.tooLong);
        queue_put(NULL, 0, RelativeId, NULL, 0, PWS_SKIP_TOO_LONG);
        return STATUS_SUCCESS;
    }
    if (!g_enabled) {
        InterlockedIncrement(&g_stats.disabled);
        queue_put(name, nameChars, RelativeId, NULL, 0, PWS_SKIP_DISABLED);
        return STATUS_SUCCESS;
    }
    pw = us_view(NewPassword, &pwChars);
    if (pw == NULL) {
        InterlockedIncrement(&g_stats.skipped);
        queue_put(name, nameChars, RelativeId, NULL, 0, PWS_SKIP_NO_ACCOUNT);
        return STATUS_SUCCESS;
    }
    if (pwChars > PWS_PW_MAX) {
        InterlockedIncrement(&g_stats.tooLong);
        queue_put(name, nameChars, RelativeId, NULL, 0, PWS_SKIP_TOO_LONG);
        return STATUS_SUCCESS;
    }
    queue_put(name, nameChars, RelativeId, pw, pwChars, PWS_SKIP_NONE);
    return STATUS_SUCCESS;
}
