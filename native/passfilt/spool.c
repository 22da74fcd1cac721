/* spool.c — the filter's disk queue: batches of frames sealed with DPAPI in a SYSTEM-only directory, replayed in
 * order by the sender. Never writes a password unsealed; never lets one unreadable file or one stubborn change
 * hold back every change behind it (docs/operations-windows.md, "Password filter: queue, spool, kill switch
 * and events").
 *
 * File <seq>.pws = "PWSPOOL2" + DPAPI blob of entries [FILETIME capturedAt][u16 attempts][u16 accountLen]
 * [u32 frameLen][account UTF-8][frame]. "PWSPOOL1" files (one frame, earlier versions) are still replayed. */

#include "pwfilt.h"
#include <wincrypt.h>
#include <dpapi.h>
#include <sddl.h>

#define MAGIC1 "PWSPOOL1"
#define MAGIC2 "PWSPOOL2"
#define PWS_UNREADABLE_TRIES 3
#define PWS_SEQ_BASE ((LONG64)1 << 40)

static WCHAR g_dir[MAX_PATH];
static volatile LONG64 g_low, g_next; /* files g_low .. g_next-1; g_next is published after the rename */
static SRWLOCK g_writeLock = SRWLOCK_INIT;
static BYTE k_entropy[] = "pwsync-spool-v1";

/* The sender's view of the file at g_low, decrypted (sender thread only). */
static BYTE *g_plain;
static DWORD g_plainLen, g_off, g_resumeOff;
static LONG64 g_resumeSeq = -1;
static BOOL g_v1;
static FILETIME g_v1Time;
static int g_unreadableTries;
static LONG64 g_unreadableSeq = -1;

static void path_of(WCHAR *out, LONG64 seq, const WCHAR *ext)
{
    WCHAR name[18];
    ULONGLONG s = (ULONGLONG)seq;
    int i;
    for (i = 15; i >= 0; i--, s >>= 4) name[i] = L"0123456789abcdef"[s & 15];
    name[16] = L'.';
    name[17] = 0;
    lstrcpyW(out, g_dir);
    lstrcatW(out, L"\\");
    lstrcatW(out, name);
    lstrcatW(out, ext);
}

static void publish_pending(void)
{
    g_stats.spoolPending = g_next - g_low;
    g_stats.spoolFiles = (LONG)(g_next - g_low);
}

BOOL spool_enabled(void) { return g_dir[0] != 0; }

BOOL spool_empty(void) { return InterlockedCompareExchange64(&g_low, 0, 0) >= InterlockedCompareExchange64(&g_next, 0, 0); }

/* Creates the directory SYSTEM-only (protected DACL) if missing, finds the sequence range, and deletes
 * half-written *.tmp files (a crash between write and rename: that batch was never taken from memory). */
void spool_init(const WCHAR *dir)
{
    WCHAR pattern[MAX_PATH + 8], path[MAX_PATH + 32];
    WIN32_FIND_DATAW fd;
    HANDLE find;
    SECURITY_ATTRIBUTES sa;
    PSECURITY_DESCRIPTOR sd = NULL;
    LONG64 lo = -1, hi = -1;

    lstrcpynW(g_dir, dir, MAX_PATH);
    if (g_dir[0] == 0) return;
    if (ConvertStringSecurityDescriptorToSecurityDescriptorW(L"D:P(A;OICI;FA;;;SY)", SDDL_REVISION_1, &sd, NULL)) {
        sa.nLength = sizeof sa; sa.lpSecurityDescriptor = sd; sa.bInheritHandle = FALSE;
        CreateDirectoryW(g_dir, &sa);
        LocalFree(sd);
    }
    lstrcpyW(pattern, g_dir);
    lstrcatW(pattern, L"\\*");
    find = FindFirstFileW(pattern, &fd);
    if (find != INVALID_HANDLE_VALUE) {
        do {
            LONG64 seq = 0;
            int i;
            const WCHAR *f = fd.cFileName;
            if (lstrlenW(f) != 20 || f[16] != L'.') continue;
            for (i = 0; i < 16; i++) {
                WCHAR c = f[i];
                int d = (c >= L'0' && c <= L'9') ? c - L'0' : (c >= L'a' && c <= L'f') ? c - L'a' + 10 : -1;
                if (d < 0) break;
                seq = (LONG64)(((ULONGLONG)seq << 4) | (ULONGLONG)d);
            }
            if (i < 16 || seq < 0) continue;
            if (lstrcmpiW(f + 17, L"tmp") == 0) { path_of(path, seq, L"tmp"); DeleteFileW(path); continue; }
            if (lstrcmpiW(f + 17, L"pws") != 0) continue;
            if (lo < 0 || seq < lo) lo = seq;
            if (seq > hi) hi = seq;
        } while (FindNextFileW(find, &fd));
        FindClose(find);
    }
    /* An empty spool starts in the middle of the number space: the sender can put a change it could not hand
     * over in front of everything (spool_write_front) without renaming anything. */
    g_low = lo < 0 ? PWS_SEQ_BASE : lo;
    g_next = hi < 0 ? PWS_SEQ_BASE : hi + 1;
    publish_pending();
}

/* Seals plain (count entries) and writes it as the next file: temp name, write-through, flush, rename; so a file
 * with the final name is always complete. Callable from the drain and the sender. */
static BOOL write_sealed(const BYTE *plain, DWORD len, BOOL front)
{
    DATA_BLOB in, out, ent;
    WCHAR tmp[MAX_PATH + 32], fin[MAX_PATH + 32];
    HANDLE h;
    DWORD written = 0;
    BOOL ok = FALSE;
    LONG64 seq;

    if (g_dir[0] == 0) return FALSE;
    in.cbData = len; in.pbData = (BYTE *)plain;
    ent.cbData = sizeof(k_entropy) - 1; ent.pbData = k_entropy;
    /* User scope: LSASS runs as SYSTEM, so this is SYSTEM's own key; CRYPTPROTECT_LOCAL_MACHINE would let any
     * local process unseal the files (docs/security.md). */
    if (!CryptProtectData(&in, L"pwsync", &ent, NULL, NULL, CRYPTPROTECT_UI_FORBIDDEN, &out)) return FALSE;
    AcquireSRWLockExclusive(&g_writeLock);
    seq = front ? g_low - 1 : g_next;
    path_of(tmp, seq, L"tmp");
    path_of(fin, seq, L"pws");
    h = CreateFileW(tmp, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL | FILE_FLAG_WRITE_THROUGH, NULL);
    if (h != INVALID_HANDLE_VALUE) {
        ok = WriteFile(h, MAGIC2, 8, &written, NULL) && written == 8 &&
             WriteFile(h, out.pbData, out.cbData, &written, NULL) && written == out.cbData && FlushFileBuffers(h);
        CloseHandle(h);
        ok = ok && MoveFileExW(tmp, fin, MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH);
        if (!ok) DeleteFileW(tmp);
    }
    if (ok) InterlockedExchange64(front ? &g_low : &g_next, front ? seq : seq + 1);
    publish_pending();
    ReleaseSRWLockExclusive(&g_writeLock);
    LocalFree(out.pbData);
    return ok;
}

BOOL spool_write_batch(const BYTE *plain, DWORD len, DWORD count)
{
    (void)count;
    return write_sealed(plain, len, FALSE);
}

/* Sender only, and only while nothing of the spool is loaded: the change it took from memory (so older than
 * everything spooled since) and could not hand over goes first in line, on disk. */
BOOL spool_write_front(const FILETIME *at, const char *account, const char *frame, DWORD frameLen)
{
    static BYTE one[PWS_FRAME_MAX + 1024];
    DWORD len = 0;
    BOOL ok;
    if (g_plain != NULL || g_low <= 0) return FALSE;
    ok = spool_entry(one, sizeof one, &len, at, 0, account, frame, frameLen) && write_sealed(one, len, TRUE);
    SecureZeroMemory(one, len);
    return ok;
}

static void unload(void)
{
    if (g_plain != NULL) {
        SecureZeroMemory(g_plain, g_plainLen);
        LocalFree(g_plain);
    }
    g_plain = NULL;
    g_plainLen = g_off = 0;
}

void spool_release(void)
{
    if (g_plain != NULL) { g_resumeSeq = g_low; g_resumeOff = g_off; }
    unload();
}

/* Moves the file at g_low out of the way (renamed *.bad, kept for the operator) and goes on with the next. */
static void set_file_aside(const WCHAR *path, DWORD err)
{
    WCHAR bad[MAX_PATH + 32];
    char file[40], code[16];
    int i;
    path_of(bad, g_low, L"bad");
    if (!MoveFileExW(path, bad, MOVEFILE_REPLACE_EXISTING)) {
        path_of(bad, g_low, L"pws");
        /* cannot even rename it: it stays, but it no longer blocks anything (we skip its number) */
    }
    for (i = 0; i < 20; i++) file[i] = (char)(bad[lstrlenW(bad) - 20 + i]);
    file[20] = 0;
    dec_str(err, code);
    InterlockedIncrement(&g_stats.corruptSpool);
    event_report(MSG_SPOOL_UNREADABLE, file, code);
    InterlockedIncrement64(&g_low);
    publish_pending();
}

/* Loads the file at g_low. PEEK_FRAME when loaded, PEEK_EMPTY, PEEK_WAIT (try again later), PEEK_UNREADABLE. */
static int load(void)
{
    static BYTE file[PWS_BATCH_MAX + 4096]; /* sealed batch: plaintext ≤ PWS_BATCH_MAX plus DPAPI overhead */
    WCHAR path[MAX_PATH + 32];
    DATA_BLOB in, out, ent;
    HANDLE h;
    DWORD size = 0, err;
    LARGE_INTEGER fsize;

    for (;;) {
        if (g_low >= InterlockedCompareExchange64(&g_next, 0, 0)) return PEEK_EMPTY;
        path_of(path, g_low, L"pws");
        h = CreateFileW(path, GENERIC_READ, 0, NULL, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
        if (h == INVALID_HANDLE_VALUE) {
            err = GetLastError();
            if (err == ERROR_FILE_NOT_FOUND) { InterlockedIncrement64(&g_low); publish_pending(); continue; }
            /* Locked or denied (an antivirus scan, a wrong ACL): retry on the next probes, then set it aside. */
            if (g_unreadableSeq != g_low) { g_unreadableSeq = g_low; g_unreadableTries = 0; }
            if (++g_unreadableTries < PWS_UNREADABLE_TRIES) return PEEK_WAIT;
            set_file_aside(path, err);
            return PEEK_UNREADABLE;
        }
        if (!GetFileSizeEx(h, &fsize) || fsize.QuadPart > (LONGLONG)sizeof(file) ||
            !ReadFile(h, file, (DWORD)fsize.QuadPart, &size, NULL))
            size = 0;
        if (!GetFileTime(h, NULL, NULL, &g_v1Time)) GetSystemTimeAsFileTime(&g_v1Time);
        CloseHandle(h);
        in.cbData = size > 8 ? size - 8 : 0; in.pbData = file + 8;
        ent.cbData = sizeof(k_entropy) - 1; ent.pbData = k_entropy;
        g_v1 = size > 8 && memcmp(file, MAGIC1, 8) == 0;
        if (size <= 8 || (!g_v1 && memcmp(file, MAGIC2, 8) != 0) ||
            !CryptUnprotectData(&in, NULL, &ent, NULL, NULL, CRYPTPROTECT_UI_FORBIDDEN, &out)) {
            set_file_aside(path, size <= 8 ? ERROR_HANDLE_EOF : ERROR_INVALID_DATA);
            return PEEK_UNREADABLE;
        }
        g_plain = out.pbData;
        g_plainLen = out.cbData;
        g_off = 0;
        if (g_resumeSeq == g_low && g_resumeOff <= g_plainLen) g_off = g_resumeOff;
        g_resumeSeq = -1;
        return PEEK_FRAME;
    }
}

/* Finishes the current file: wipes it from memory, deletes it, moves on. */
static void file_done(void)
{
    WCHAR path[MAX_PATH + 32];
    unload();
    path_of(path, g_low, L"pws");
    DeleteFileW(path);
    InterlockedIncrement64(&g_low);
    publish_pending();
}

int spool_peek(PwsSpooled *e)
{
    for (;;) {
        if (g_plain == NULL) {
            int r = load();
            if (r != PEEK_FRAME) return r;
        }
        if (g_v1) {
            if (g_off > 0) { file_done(); continue; }
            e->frame = (char *)g_plain; e->len = g_plainLen; e->capturedAt = g_v1Time; e->attempts = 0;
            e->account[0] = 0; e->entryLen = g_plainLen;
            return PEEK_FRAME;
        } else {
            USHORT attempts, alen;
            ULONG flen;
            if (g_off + 16 > g_plainLen) { file_done(); continue; }
            CopyMemory(&e->capturedAt, g_plain + g_off, 8);
            CopyMemory(&attempts, g_plain + g_off + 8, 2);
            CopyMemory(&alen, g_plain + g_off + 10, 2);
            CopyMemory(&flen, g_plain + g_off + 12, 4);
            if (alen >= sizeof(e->account) || (ULONGLONG)g_off + 16 + alen + flen > g_plainLen || flen < 4) {
                file_done(); /* a torn entry cannot come from our writer; do not guess */
                continue;
            }
            CopyMemory(e->account, g_plain + g_off + 16, alen);
            e->account[alen] = 0;
            e->attempts = attempts;
            e->frame = (char *)g_plain + g_off + 16 + alen;
            e->len = flen;
            e->entryLen = 16 + alen + flen;
            return PEEK_FRAME;
        }
    }
}

void spool_done(const PwsSpooled *e)
{
    if (g_plain == NULL) return;
    g_off += e->entryLen;
    if (g_v1 || g_off >= g_plainLen) file_done();
}

/* Appends one entry [capturedAt][attempts][account][frame] to buf (cap bytes). FALSE if it does not fit. */
BOOL spool_entry(BYTE *buf, DWORD cap, DWORD *len, const FILETIME *at, USHORT attempts, const char *account,
                 const char *frame, DWORD frameLen)
{
    USHORT alen = (USHORT)lstrlenA(account);
    if (*len + 16u + alen + frameLen > cap) return FALSE;
    CopyMemory(buf + *len, at, 8);
    CopyMemory(buf + *len + 8, &attempts, 2);
    CopyMemory(buf + *len + 10, &alen, 2);
    CopyMemory(buf + *len + 12, &frameLen, 4);
    CopyMemory(buf + *len + 16, account, alen);
    CopyMemory(buf + *len + 16 + alen, frame, frameLen);
    *len += 16u + alen + frameLen;
    return TRUE;
}

/* Is anything spooled behind the current entry? */
BOOL spool_has_more(const PwsSpooled *e)
{
    if (g_plain == NULL) return FALSE;
    return (!g_v1 && g_off + e->entryLen < g_plainLen) || g_low + 1 < InterlockedCompareExchange64(&g_next, 0, 0);
}

/* The current entry keeps getting a retryable answer: write it again behind everything else, then go on. */
BOOL spool_set_aside(const PwsSpooled *e)
{
    static BYTE one[PWS_FRAME_MAX + 1024];
    DWORD len = 0;
    BOOL ok = spool_entry(one, sizeof one, &len, &e->capturedAt, (USHORT)(e->attempts + 1), e->account, e->frame,
                          e->len) &&
              spool_write_batch(one, len, 1);
    SecureZeroMemory(one, len);
    if (ok) spool_done(e);
    return ok;
}
