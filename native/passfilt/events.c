/* events.c — the filter's Windows Event Log entries (source "pwsync-filter", message table from events.mc).
 * Runs on the worker threads only, never on LSA's (ReportEventW is an RPC). Never a password in an entry. */

#include "pwfilt.h"

#define PWS_EVENT_HOLD_MS 10000u /* per-change events: at most one entry per ID per 10 s, carrying the count */
#define PWS_EVENT_SLOTS   16

typedef struct { DWORD id; LONG pending; ULONGLONG last; char account[800]; } PwsEventSlot;

static HANDLE g_source;
static SRWLOCK g_lock = SRWLOCK_INIT;
static PwsEventSlot g_slots[PWS_EVENT_SLOTS];

void events_init(void)
{
    g_source = RegisterEventSourceW(NULL, L"pwsync-filter");
}

static WORD type_of(DWORD id)
{
    switch (id >> 30) {
    case 3: return EVENTLOG_ERROR_TYPE;
    case 2: return EVENTLOG_WARNING_TYPE;
    default: return EVENTLOG_INFORMATION_TYPE;
    }
}

void event_report(DWORD id, const char *s1, const char *s2)
{
    WCHAR w1[820], w2[820];
    LPCWSTR strs[2];
    if (!MultiByteToWideChar(CP_UTF8, 0, s1 ? s1 : "", -1, w1, 820)) w1[0] = 0;
    if (!MultiByteToWideChar(CP_UTF8, 0, s2 ? s2 : "", -1, w2, 820)) w2[0] = 0;
    strs[0] = w1; strs[1] = w2;
    if (g_source != NULL && ReportEventW(g_source, type_of(id), 0, id, NULL, 2, 0, strs, NULL))
        InterlockedIncrement(&g_stats.eventsWritten);
}

static void emit(PwsEventSlot *s, ULONGLONG now)
{
    char n[16];
    dec_str((unsigned long)s->pending, n);
    event_report(s->id, n, s->account);
    s->pending = 0;
    s->last = now;
}

void event_count(DWORD id, const char *account)
{
    ULONGLONG now = GetTickCount64();
    int i, free = -1;
    AcquireSRWLockExclusive(&g_lock);
    for (i = 0; i < PWS_EVENT_SLOTS; i++) {
        if (g_slots[i].id == id) break;
        if (g_slots[i].id == 0 && free < 0) free = i;
    }
    if (i == PWS_EVENT_SLOTS) {
        if (free < 0) { ReleaseSRWLockExclusive(&g_lock); event_report(id, "1", account); return; }
        i = free;
        g_slots[i].id = id;
    }
    g_slots[i].pending++;
    lstrcpynA(g_slots[i].account, account ? account : "", sizeof g_slots[i].account);
    if (g_slots[i].last == 0 || now - g_slots[i].last >= PWS_EVENT_HOLD_MS) emit(&g_slots[i], now);
    ReleaseSRWLockExclusive(&g_lock);
}

void events_flush(BOOL force)
{
    ULONGLONG now = GetTickCount64();
    int i;
    AcquireSRWLockExclusive(&g_lock);
    for (i = 0; i < PWS_EVENT_SLOTS; i++)
        if (g_slots[i].pending > 0 && (force || now - g_slots[i].last >= PWS_EVENT_HOLD_MS)) emit(&g_slots[i], now);
    ReleaseSRWLockExclusive(&g_lock);
}
