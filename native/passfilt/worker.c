/* worker.c — the filter's two threads. The drain moves queued changes to the sealed spool whenever the agent is
 * down, slow or hung, and re-reads the configuration; it never waits on the agent. The sender hands changes to the
 * agent oldest first: the change it holds, then the spool, then the in-memory queue. Neither runs on LSA's thread.
 * Order: the sender takes from memory only when nothing older is on disk or on its way there (queue.c). */

#include "pwfilt.h"
#include "transport.h"
#include <stddef.h>
#include <stdlib.h>

#define PWS_CONFIG_MS        500u   /* Enabled=0 is seen within this (docs/operations-windows.md, kill switch) */
#define PWS_STALL_MS         100u   /* a send taking longer than this: the drain spools what queues up behind it */
#define PWS_RETRY_ATTEMPTS   3      /* retryable answers before a spooled change is moved behind the others */
#define PWS_LINGER_MS        2000u  /* after the last change the sender polls this long before it sleeps ... */
#define PWS_POLL_MS          5u     /* ... every 5 ms: while changes keep coming LSA's thread never wakes anyone */
#define PWS_STARTUP_EVENT_MS (10u * 60u * 1000u) /* keep trying to log "started" while the Event Log starts */

static DWORD g_ackMs = 5000, g_retryMs = 10000;
static ULONGLONG g_maxAgeMs = (ULONGLONG)PWS_MAX_AGE_S * 1000u;
static WCHAR g_spoolDir[MAX_PATH];
static volatile LONG g_agentDown, g_backoff; /* g_backoff: the sender waits for its next try */
static volatile LONG g_drainBusy = 1, g_senderBusy = 1; /* 1 until each thread has started and looked once */
static volatile LONG64 g_sendStarted; /* GetTickCount64 when the current exchange began; 0 when none */
static LONG g_disabledAtOff;          /* g_stats.disabled when the switch went off */

/* ---------------------------------------------------------------- configuration */

static DWORD reg_dword(HKEY key, const WCHAR *name, DWORD dflt)
{
    DWORD v = 0, size = sizeof(v);
    if (RegGetValueW(key, NULL, name, RRF_RT_REG_DWORD, NULL, &v, &size) != ERROR_SUCCESS) return dflt;
    return v;
}

/* Missing key or value = defaults (enabled, no veto). LSA's thread only ever reads the cached flags. */
void config_refresh(void)
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
    g_stats.enabled = enabled;
}

/* The drain's periodic re-read, with an event on every flip of the kill switch. */
static void config_tick(void)
{
    LONG before = g_enabled;
    config_refresh();
    if (before && !g_enabled) {
        g_disabledAtOff = g_stats.disabled;
        event_report(MSG_SWITCHED_OFF, "", "");
    } else if (!before && g_enabled) {
        char n[16];
        events_flush(TRUE);
        dec_str((unsigned long)(g_stats.disabled - g_disabledAtOff), n);
        event_report(MSG_SWITCHED_ON, n, "");
    }
}

static void config_worker_init(void)
{
    HKEY key;
    DWORD size, n;
    WCHAR raw[MAX_PATH];
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
        if (GetEnvironmentVariableA("PWSYNC_TEST_MAX_AGE_S", v, sizeof v)) g_maxAgeMs = (ULONGLONG)atoi(v) * 1000u;
    }
#endif
    n = ExpandEnvironmentStringsW(raw, g_spoolDir, MAX_PATH);
    if (n == 0 || n > MAX_PATH) g_spoolDir[0] = 0;
}

static void utf8_of(const WCHAR *w, char *out, int cap)
{
    int n = WideCharToMultiByte(CP_UTF8, 0, w, -1, out, cap, NULL, NULL);
    if (n <= 0) out[0] = 0;
}

/* ---------------------------------------------------------------- counters for admins */

/* HKLM\SOFTWARE\pwsync\Counters: REG_DWORD values since LSASS started, written at most once a second when they
 * changed, so an admin reads them with regedit or `reg query` (docs/operations-windows.md). */
static void counters_write(void)
{
    static PwsStats last;
    static HKEY key;
    static const struct { const WCHAR *name; size_t off; } k_values[] = {
#define V(n, f) { L##n, offsetof(PwsStats, f) }
        V("Queued", queued), V("Sent", sent), V("Spooled", spooled), V("Replayed", replayed), V("Refused", refused),
        V("DroppedQueueFull", droppedFull), V("NotCapturedTooLong", tooLong), V("NotCapturedDisabled", disabled),
        V("NotCapturedNoAccount", skipped), V("Expired", expired), V("SetAside", setAside),
        V("SpoolUnreadable", corruptSpool), V("SpoolWriteFailed", spoolWriteFailed), V("SpoolFiles", spoolFiles),
        V("AgentDown", agentDown), V("Enabled", enabled), V("SkipFramesSent", skipFramesSent),
#undef V
    };
    PwsStats now;
    size_t i;
    CopyMemory(&now, (const void *)&g_stats, sizeof now);
    now.ring = now.busy = 0;
    now.spoolPending = 0;
    now.eventsWritten = 0;
    if (memcmp(&now, &last, sizeof now) == 0) return;
    if (key == NULL && RegCreateKeyExW(HKEY_LOCAL_MACHINE, PWS_REG_KEY L"\\Counters", 0, NULL, REG_OPTION_VOLATILE,
                                       KEY_SET_VALUE, NULL, &key, NULL) != ERROR_SUCCESS) {
        key = NULL;
        return;
    }
    for (i = 0; i < sizeof k_values / sizeof k_values[0]; i++) {
        DWORD v = (DWORD)*(const LONG *)((const BYTE *)&now + k_values[i].off);
        RegSetValueExW(key, k_values[i].name, 0, REG_DWORD, (const BYTE *)&v, sizeof v);
    }
    last = now;
}

/* ---------------------------------------------------------------- turning records into frames */

/* Builds the frame for one record (change or skip notice) and writes the events a skip needs. account gets the
 * account name (UTF-8) for the caller's own events. Returns the frame length (0: nothing to send). */
static DWORD record_frame(const PwsRecord *r, char *frame, char *account, DWORD accountCap)
{
    static const DWORD k_event[PWS_SKIP_COUNT] = {
        0, MSG_RING_FULL, MSG_TOO_LONG, MSG_NOT_CAPTURED_DISABLED, MSG_NO_ACCOUNT, MSG_NO_ACCOUNT, 0, 0,
    };
    PwsSkip why = (PwsSkip)r->kind;
    DWORD len;
    account[0] = 0;
    if (why == PWS_SKIP_NONE) {
        len = frame_change(r, frame, PWS_FRAME_MAX, account, accountCap);
        if (len > 0) return len;
        why = PWS_SKIP_INVALID_NAME;
        InterlockedIncrement(&g_stats.skipped);
    } else if (r->nameChars > 0) {
        int n = utf16_to_utf8((const WCHAR *)(r + 1), r->nameChars, account, (int)accountCap - 1);
        account[n > 0 ? n : 0] = 0;
    }
    if (why < PWS_SKIP_COUNT && k_event[why]) event_count(k_event[why], account);
    return frame_skip(why, account, frame, PWS_FRAME_MAX);
}

/* ---------------------------------------------------------------- the drain: memory → disk */

static BOOL drain_should_spool(ULONGLONG now)
{
    LONG64 started = g_sendStarted;
    if (!spool_enabled() || queue_records() == 0) return FALSE;
    return g_agentDown || g_backoff || (started != 0 && now - (ULONGLONG)started > PWS_STALL_MS) ||
           queue_used() > PWS_RING_BYTES / 8;
}

/* One batch: up to PWS_BATCH_MAX of the oldest records, sealed into one file, then removed from memory. */
static void drain_batch(void)
{
    static BYTE batch[PWS_BATCH_MAX];
    static BYTE rec[PWS_REC_MAX];
    static char frame[PWS_FRAME_MAX], account[800];
    ULONG pos = 0, n = 0;
    DWORD len = 0, count = 0;
    queue_spool_begin();
    while (len + PWS_FRAME_MAX + 1024 <= sizeof batch && queue_peek(&pos, &n, (PwsRecord *)rec)) {
        PwsRecord *r = (PwsRecord *)rec;
        DWORD flen = record_frame(r, frame, account, sizeof account);
        if (flen > 0 && spool_entry(batch, sizeof batch, &len, &r->capturedAt, 0, account, frame, flen)) count++;
        SecureZeroMemory(frame, sizeof frame);
        SecureZeroMemory(rec, r->size < sizeof rec ? r->size : sizeof rec);
    }
    if (n > 0) {
        if (count == 0 || spool_write_batch(batch, len, count)) {
            queue_commit(n);
            InterlockedExchangeAdd(&g_stats.spooled, (LONG)count);
        } else {
            /* Nothing is lost: the records stay queued; the sender takes them if the agent answers. */
            InterlockedIncrement(&g_stats.spoolWriteFailed);
            event_count(MSG_SPOOL_FAILED, "");
        }
    }
    SecureZeroMemory(batch, len);
    queue_spool_end();
}

static DWORD WINAPI sender_main(LPVOID unused);

/* Also does the slow part of the start (spool directory scan, Event Log source) off LSA's init thread, then starts
 * the sender: until then changes only queue up. */
static DWORD WINAPI drain_main(LPVOID unused)
{
    ULONGLONG nextConfig = 0, nextCounters = 0, spoolRetry = 0, startupUntil;
    LONG reportedFull = 0;
    BOOL startupLogged = FALSE;
    HANDLE sender;
    (void)unused;
    config_worker_init();
    frame_init();
    events_init();
    spool_init(g_spoolDir);
    sender = CreateThread(NULL, 0, sender_main, NULL, 0, NULL);
    if (sender == NULL) {
        char code[16];
        dec_str(GetLastError(), code);
        event_report(MSG_START_FAILED, "CreateThread (sender)", code);
        return 1;
    }
    CloseHandle(sender);
    startupUntil = GetTickCount64() + PWS_STARTUP_EVENT_MS;
    for (;;) {
        ULONGLONG now = GetTickCount64();
        DWORD wait;
        g_drainBusy = 1;
        if (now >= nextConfig) { config_tick(); nextConfig = now + PWS_CONFIG_MS; }
        if (!startupLogged && now < startupUntil) {
            char dir[MAX_PATH * 3];
            LONG before = g_stats.eventsWritten;
            utf8_of(g_spoolDir, dir, sizeof dir);
            event_report(g_enabled ? MSG_STARTED : MSG_STARTED_DISABLED, PWSYNC_VERSION_STR, g_enabled ? dir : "");
            startupLogged = g_stats.eventsWritten != before;
            if (!startupLogged) events_init(); /* the Event Log service may start after LSA: try again */
        }
        /* Every change the ring had no room for gets its skip notice as soon as there is room again. */
        while (reportedFull < g_stats.droppedFull) {
            FILETIME ft;
            GetSystemTimeAsFileTime(&ft);
            if (!queue_put_rec(NULL, 0, 0, NULL, 0, PWS_SKIP_RING_FULL, &ft)) break;
            reportedFull++;
        }
        if (drain_should_spool(now) && now >= spoolRetry) {
            LONG failed = g_stats.spoolWriteFailed;
            drain_batch();
            if (g_stats.spoolWriteFailed != failed) spoolRetry = now + 1000;
            g_drainBusy = 0;
            continue;
        }
        events_flush(FALSE);
        if (now >= nextCounters) { counters_write(); nextCounters = now + 1000; }
        g_drainBusy = 0;
        now = GetTickCount64();
        wait = nextConfig > now ? (DWORD)(nextConfig - now) : 0;
        if (queue_records() > 0 && wait > 20) wait = 20;
        if (wait > 0) queue_wait(wait, FALSE);
    }
    return 0;
}

/* ---------------------------------------------------------------- the sender: → agent */

static void agent_failed(ULONGLONG *nextProbe)
{
    if (!g_agentDown) {
        char dir[MAX_PATH * 3];
        utf8_of(g_spoolDir, dir, sizeof dir);
        event_report(MSG_AGENT_DOWN, dir, "");
    }
    g_agentDown = 1;
    g_backoff = 1;
    g_stats.agentDown = 1;
    *nextProbe = GetTickCount64() + g_retryMs;
    queue_wake_drain(); /* the drain spools from now on */
}

static void agent_answered(void)
{
    if (g_agentDown) event_report(MSG_AGENT_BACK, "", "");
    g_agentDown = 0;
    g_stats.agentDown = 0;
}

/* The agent answered "not now" (E_STORAGE, E_DB_CORRUPT, E_INTERNAL): wait for the next try, spooling meanwhile. */
static void agent_busy(ULONGLONG *nextProbe)
{
    agent_answered();
    g_backoff = 1;
    *nextProbe = GetTickCount64() + g_retryMs;
    queue_wake_drain();
}

static int send_frame(char *frame, DWORD len)
{
    int r;
    g_sendStarted = (LONG64)GetTickCount64();
    r = agent_exchange(frame, len, g_ackMs);
    g_sendStarted = 0;
    return r;
}

static BOOL is_skip(const char *frame, DWORD len)
{
    return len > 24 && memcmp(frame + 4, "{\"v\":1,\"type\":\"skip\"", 20) == 0;
}

static ULONGLONG filetime_ms(const FILETIME *ft)
{
    return (((ULONGLONG)ft->dwHighDateTime << 32) | ft->dwLowDateTime) / 10000u;
}

static DWORD WINAPI sender_main(LPVOID unused)
{
    static BYTE rec[PWS_REC_MAX];
    static char held[PWS_FRAME_MAX], skip[512], account[800];
    static PwsSpooled e;
    DWORD heldLen = 0;
    ULONGLONG nextProbe = 0, lastWork = 0;
    int headRetries = 0;
    (void)unused;
    link_init();
    for (;;) {
        ULONGLONG now = GetTickCount64();
        int r;
        g_senderBusy = 1;
        if (nextProbe <= now) g_backoff = 0;
        if (nextProbe > now) {
            /* the agent failed or asked us to wait: nothing to do until the next probe (the drain spools) */
        } else if (heldLen > 0) {
            /* The one change taken from memory whose send failed: older than anything spooled since. */
            r = send_frame(held, heldLen);
            if (r == ACK_OK || r == ACK_REFUSED) {
                InterlockedIncrement(r == ACK_OK ? (is_skip(held, heldLen) ? &g_stats.skipFramesSent : &g_stats.sent)
                                                 : &g_stats.refused);
                SecureZeroMemory(held, heldLen);
                heldLen = 0;
                g_stats.held = 0;
                agent_answered();
            } else if (r == ACK_RETRY) agent_busy(&nextProbe);
            else agent_failed(&nextProbe);
            g_senderBusy = 0;
            continue;
        } else {
            int p = spool_peek(&e);
            if (p == PEEK_UNREADABLE) {
                DWORD n = frame_skip(PWS_SKIP_SPOOL_UNREADABLE, "", skip, sizeof skip);
                if (send_frame(skip, n) == ACK_OK) InterlockedIncrement(&g_stats.skipFramesSent);
                g_senderBusy = 0;
                continue;
            }
            if (p == PEEK_WAIT) { /* the oldest file cannot be opened now: try again later, spool meanwhile */
                g_backoff = 1;
                nextProbe = now + g_retryMs;
                queue_wake_drain();
                g_senderBusy = 0;
                continue;
            }
            if (p == PEEK_FRAME) {
                FILETIME ft;
                GetSystemTimeAsFileTime(&ft);
                if (!is_skip(e.frame, e.len) && filetime_ms(&ft) > filetime_ms(&e.capturedAt) + g_maxAgeMs) {
                    DWORD n = frame_skip(PWS_SKIP_EXPIRED, e.account, skip, sizeof skip);
                    InterlockedIncrement(&g_stats.expired);
                    event_count(MSG_EXPIRED, e.account);
                    spool_done(&e);
                    headRetries = 0;
                    if (send_frame(skip, n) == ACK_OK) InterlockedIncrement(&g_stats.skipFramesSent);
                    g_senderBusy = 0;
                    continue;
                }
                r = send_frame(e.frame, e.len);
                if (r == ACK_OK || r == ACK_REFUSED) {
                    InterlockedIncrement(r == ACK_REFUSED ? &g_stats.refused
                                         : is_skip(e.frame, e.len) ? &g_stats.skipFramesSent : &g_stats.replayed);
                    spool_done(&e);
                    headRetries = 0;
                    agent_answered();
                } else if (r == ACK_RETRY) {
                    /* The agent answered "not now". One change that keeps getting this must not hold back the
                     * others: after a few, it goes behind them (the agent's version check keeps an older
                     * password from overwriting a newer one: docs/operations-windows.md). */
                    agent_answered();
                    if (e.attempts + ++headRetries >= PWS_RETRY_ATTEMPTS && spool_has_more(&e) && spool_set_aside(&e)) {
                        InterlockedIncrement(&g_stats.setAside);
                        event_count(MSG_SET_ASIDE, e.account);
                        headRetries = 0;
                    } else {
                        agent_busy(&nextProbe);
                        spool_release();
                    }
                } else {
                    spool_release();
                    agent_failed(&nextProbe);
                }
                g_senderBusy = 0;
                continue;
            }
            /* Spool empty: the in-memory queue, unless a batch is on its way to disk (then it waits for it). */
            if (queue_take((PwsRecord *)rec, TRUE)) {
                FILETIME heldAt = ((PwsRecord *)rec)->capturedAt;
                DWORD len = record_frame((PwsRecord *)rec, held, account, sizeof account);
                lastWork = now;
                SecureZeroMemory(rec, sizeof rec);
                if (len > 0) {
                    r = send_frame(held, len);
                    if (r == ACK_OK || r == ACK_REFUSED) {
                        InterlockedIncrement(r == ACK_REFUSED ? &g_stats.refused
                                             : is_skip(held, len) ? &g_stats.skipFramesSent : &g_stats.sent);
                        SecureZeroMemory(held, len);
                        agent_answered();
                    } else if (spool_write_front(&heldAt, account, held, len)) {
                        /* first in line on disk: replayed before anything spooled since */
                        InterlockedIncrement(&g_stats.spooled);
                        SecureZeroMemory(held, len);
                        if (r == ACK_RETRY) agent_busy(&nextProbe);
                        else agent_failed(&nextProbe);
                    } else {
                        heldLen = len; /* no disk: kept in memory, and sent first when the agent answers */
                        g_stats.held = 1;
                        if (r == ACK_RETRY) agent_busy(&nextProbe);
                        else agent_failed(&nextProbe);
                    }
                }
                g_senderBusy = 0;
                continue;
            }
        }
        g_senderBusy = 0;
        now = GetTickCount64();
        if (nextProbe > now) Sleep((DWORD)(nextProbe - now < 1000 ? nextProbe - now : 1000));
        else if (now - lastWork < PWS_LINGER_MS) Sleep(PWS_POLL_MS); /* not registered as asleep: no wake-up */
        else queue_wait(1000, TRUE);
    }
    return 0;
}

BOOL worker_start(void)
{
    HANDLE t = CreateThread(NULL, 0, drain_main, NULL, 0, NULL);
    if (t == NULL) return FALSE;
    CloseHandle(t);
    return TRUE;
}

#ifdef PWSYNC_TEST_TRANSPORT
/* Test build only: lets the harness see counters and wait until the threads are idle. */
__declspec(dllexport) void PwsyncTestStats(PwsStats *out)
{
    CopyMemory(out, (const void *)&g_stats, sizeof *out);
    out->busy = g_drainBusy || g_senderBusy || g_sendStarted != 0;
}
#endif
