/* queue.c — the in-memory queue between LSA's threads and the filter's two worker threads: one byte ring of
 * variable-size records, allocated once. Putting never waits (a full ring drops and counts); it never signals a
 * kernel object either: consumers sleep on a condition variable, woken only when one is asleep. */

#include "pwfilt.h"

#define WRAP 0xFFFFFFFFu

static BYTE *g_buf;
static ULONG g_head, g_tail, g_used, g_records; /* bytes / records; guarded by g_lock */
static LONG g_senderSleeps;                     /* the sender is in SleepConditionVariableSRW; guarded by g_lock */
static LONG g_spoolInFlight;                    /* > 0 while the drain moves a batch from here to disk */
static SRWLOCK g_lock = SRWLOCK_INIT;
static CONDITION_VARIABLE g_senderCv = CONDITION_VARIABLE_INIT; /* woken by queue_put, only when the sender sleeps */
static CONDITION_VARIABLE g_drainCv = CONDITION_VARIABLE_INIT;  /* woken by the sender only (queue_wake_drain) */

static ULONG rec_size(ULONG nameChars, ULONG pwChars)
{
    return (ULONG)((sizeof(PwsRecord) + (nameChars + pwChars) * sizeof(WCHAR) + 7u) & ~7u);
}

BOOL queue_init(void)
{
    g_buf = (BYTE *)VirtualAlloc(NULL, PWS_RING_BYTES, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    return g_buf != NULL;
}

/* LSA's thread (and the drain, for skip notices). Bounded: one lock, one copy of at most ~1.6 KiB, one wake-up
 * only if a consumer sleeps (a user-mode futex-style wake, no event object). */
BOOL queue_put_rec(const WCHAR *name, ULONG nameChars, ULONG rid, const WCHAR *pw, ULONG pwChars, PwsSkip kind,
                   const FILETIME *at)
{
    ULONG need = rec_size(nameChars, pwChars), contig;
    PwsRecord *r;
    LONG sleepers;

    AcquireSRWLockExclusive(&g_lock);
    contig = PWS_RING_BYTES - g_tail;
    if (g_used + need + (contig < need ? contig : 0) > PWS_RING_BYTES) {
        ReleaseSRWLockExclusive(&g_lock);
        return FALSE;
    }
    if (contig < need) { /* no room before the end: mark the rest unused and start over at 0 */
        ((PwsRecord *)(g_buf + g_tail))->size = WRAP;
        g_used += contig;
        g_tail = 0;
    }
    r = (PwsRecord *)(g_buf + g_tail);
    r->size = need;
    r->rid = rid;
    r->capturedAt = *at;
    r->nameChars = (USHORT)nameChars;
    r->pwChars = (USHORT)pwChars;
    r->kind = (USHORT)kind;
    r->pad = 0;
    if (nameChars) CopyMemory(r + 1, name, nameChars * sizeof(WCHAR));
    if (pwChars) CopyMemory((WCHAR *)(r + 1) + nameChars, pw, pwChars * sizeof(WCHAR));
    g_tail += need;
    if (g_tail == PWS_RING_BYTES) g_tail = 0;
    g_used += need;
    g_records++;
    g_stats.ring = (LONG)g_records;
    sleepers = g_senderSleeps;
    ReleaseSRWLockExclusive(&g_lock);
    /* Only the sender is woken from here; the drain looks on its own timer (20 ms while anything is queued). */
    if (sleepers) WakeConditionVariable(&g_senderCv);
    return TRUE;
}

void queue_put(const WCHAR *name, ULONG nameChars, ULONG rid, const WCHAR *pw, ULONG pwChars, PwsSkip kind)
{
    FILETIME now;
    GetSystemTimeAsFileTime(&now); /* capturedAt: when LSA called us (src/intake/frame.ts) */
    if (!queue_put_rec(name, nameChars, rid, pw, pwChars, kind, &now)) InterlockedIncrement(&g_stats.droppedFull);
    else if (kind == PWS_SKIP_NONE) InterlockedIncrement(&g_stats.queued);
}

/* Under g_lock: the oldest record, past a wrap marker. */
static PwsRecord *head_rec(void)
{
    PwsRecord *r = (PwsRecord *)(g_buf + g_head);
    if (r->size == WRAP) {
        g_used -= PWS_RING_BYTES - g_head;
        g_head = 0;
        r = (PwsRecord *)g_buf;
    }
    return r;
}

static void take_locked(PwsRecord *out)
{
    PwsRecord *r = head_rec();
    ULONG size = r->size;
    CopyMemory(out, r, size);
    SecureZeroMemory(r, size);
    g_head += size;
    if (g_head == PWS_RING_BYTES) g_head = 0;
    g_used -= size;
    g_records--;
    if (g_used == 0) g_head = g_tail = 0;
    g_stats.ring = (LONG)g_records;
}

BOOL queue_take(PwsRecord *out, BOOL forSender)
{
    BOOL got = FALSE;
    AcquireSRWLockExclusive(&g_lock);
    /* The sender takes from here only when nothing older is on disk or on its way there (order, see worker.c). */
    if (g_records > 0 && (!forSender || (g_spoolInFlight == 0 && spool_empty()))) {
        take_locked(out);
        got = TRUE;
    }
    ReleaseSRWLockExclusive(&g_lock);
    return got;
}

ULONG queue_used(void)
{
    ULONG n;
    AcquireSRWLockShared(&g_lock);
    n = g_used;
    ReleaseSRWLockShared(&g_lock);
    return n;
}

ULONG queue_records(void)
{
    return (ULONG)InterlockedCompareExchange((volatile LONG *)&g_stats.ring, 0, 0);
}

void queue_spool_begin(void)
{
    AcquireSRWLockExclusive(&g_lock);
    g_spoolInFlight++;
    ReleaseSRWLockExclusive(&g_lock);
}

void queue_spool_end(void)
{
    LONG sleepers;
    AcquireSRWLockExclusive(&g_lock);
    g_spoolInFlight--;
    sleepers = g_senderSleeps;
    ReleaseSRWLockExclusive(&g_lock);
    if (sleepers) WakeConditionVariable(&g_senderCv);
}

/* Sleeps up to ms unless something is queued (and, for the sender, takeable). Spurious wake-ups are fine. */
void queue_wait(DWORD ms, BOOL isSender)
{
    AcquireSRWLockExclusive(&g_lock);
    if (!isSender) SleepConditionVariableSRW(&g_drainCv, &g_lock, ms, 0);
    else if (g_records == 0 || g_spoolInFlight > 0 || !spool_empty()) {
        g_senderSleeps = 1;
        SleepConditionVariableSRW(&g_senderCv, &g_lock, ms, 0);
        g_senderSleeps = 0;
    }
    ReleaseSRWLockExclusive(&g_lock);
}

void queue_wake_drain(void)
{
    WakeConditionVariable(&g_drainCv);
}

/* The drain's two-step take: copy records out from the head without removing them (pos/n start at 0), write them
 * to disk, and only then remove them (queue_commit). A failed disk write loses nothing. Only the drain removes
 * records while a spool batch is in flight, so the head does not move under it. */
BOOL queue_peek(ULONG *pos, ULONG *n, PwsRecord *out)
{
    PwsRecord *r;
    BOOL got = FALSE;
    AcquireSRWLockExclusive(&g_lock);
    if (*n == 0) *pos = g_head;
    if (*n < g_records) {
        r = (PwsRecord *)(g_buf + *pos);
        if (r->size == WRAP) r = (PwsRecord *)g_buf;
        CopyMemory(out, r, r->size);
        *pos = (ULONG)((BYTE *)r - g_buf) + r->size;
        if (*pos == PWS_RING_BYTES) *pos = 0;
        (*n)++;
        got = TRUE;
    }
    ReleaseSRWLockExclusive(&g_lock);
    return got;
}

void queue_commit(ULONG n)
{
    static BYTE sink[PWS_REC_MAX];
    AcquireSRWLockExclusive(&g_lock);
    while (n-- > 0 && g_records > 0) take_locked((PwsRecord *)sink);
    SecureZeroMemory(sink, sizeof sink);
    ReleaseSRWLockExclusive(&g_lock);
}
