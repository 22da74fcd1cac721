/* frame.c — builds the intake frames the agent reads (contract: src/intake/frame.ts): 4-byte little-endian
 * length + UTF-8 JSON. Pure: no I/O, no allocation. The caller wipes every buffer that held a password. */

#include "pwfilt.h"

static char g_dc[64]; /* computer name, UTF-8, JSON-safe */

static const char *const k_reasons[PWS_SKIP_COUNT] = {
    "", "ring-full", "too-long", "disabled", "no-account", "invalid-utf16-name", "spool-unreadable",
    "expired",
};

const char *skip_reason(PwsSkip why) { return (why > 0 && why < PWS_SKIP_COUNT) ? k_reasons[why] : "unknown"; }

void frame_init(void)
{
    WCHAR dc[32];
    DWORD size = 32, n;
    /* dc: the NetBIOS computer name — letters, digits and '-' only, so it is JSON-safe as is. */
    if (!GetComputerNameW(dc, &size)) size = 0;
    n = (DWORD)WideCharToMultiByte(CP_UTF8, 0, dc, (int)size, g_dc, sizeof(g_dc) - 1, NULL, NULL);
    g_dc[n] = 0;
    for (n = 0; g_dc[n]; n++)
        if (g_dc[n] == '"' || g_dc[n] == '\\' || (unsigned char)g_dc[n] < 0x20) g_dc[n] = '_';
}

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

void dec_str(unsigned long v, char out[16]) { *put_dec(out, v, 1) = 0; }

/* UTC, ISO-8601 with milliseconds and 'Z': what the agent's frame validation accepts for capturedAt. */
void filetime_iso(const FILETIME *ft, char out[32])
{
    SYSTEMTIME st;
    char *p;
    if (!FileTimeToSystemTime(ft, &st)) ZeroMemory(&st, sizeof st);
    p = put_dec(out, st.wYear, 4); *p++ = '-'; p = put_dec(p, st.wMonth, 2); *p++ = '-';
    p = put_dec(p, st.wDay, 2); *p++ = 'T'; p = put_dec(p, st.wHour, 2); *p++ = ':';
    p = put_dec(p, st.wMinute, 2); *p++ = ':'; p = put_dec(p, st.wSecond, 2); *p++ = '.';
    p = put_dec(p, st.wMilliseconds, 3); *p++ = 'Z'; *p = 0;
}

/* UTF-16 → UTF-8, refusing unpaired surrogates (WC_ERR_INVALID_CHARS) instead of mangling them to U+FFFD.
 * Returns the byte count, or -1 when the input is not valid UTF-16 or does not fit. */
int utf16_to_utf8(const WCHAR *s, ULONG n, char *out, int cap)
{
    int r;
    if (n == 0) return 0;
    r = WideCharToMultiByte(CP_UTF8, WC_ERR_INVALID_CHARS, s, (int)n, out, cap, NULL, NULL);
    return r > 0 ? r : -1;
}

static DWORD finish(PwsBuf *b)
{
    DWORD n;
    if (b->overflow) { SecureZeroMemory(b->p, b->cap); return 0; }
    n = b->len - 4;
    b->p[0] = (char)(n & 0xFF); b->p[1] = (char)((n >> 8) & 0xFF); b->p[2] = (char)((n >> 16) & 0xFF); b->p[3] = 0;
    return b->len;
}

/* A change frame for record r. account receives the account name as UTF-8 (NUL-terminated, for events); it is
 * empty when the name is not valid UTF-16 — then 0 is returned and the caller reports a skip instead. */
DWORD frame_change(const PwsRecord *r, char *out, DWORD cap, char *account, DWORD accountCap)
{
    char utf8[PWS_PW_MAX * 3 + 4]; /* on the worker thread's stack; wiped below */
    PwsBuf b = { out, 0, cap, FALSE };
    const WCHAR *name = (const WCHAR *)(r + 1), *pw = name + r->nameChars;
    char num[16], ts[32];
    int n;

    account[0] = 0;
    n = utf16_to_utf8(name, r->nameChars, account, (int)accountCap - 1);
    if (n < 0) { InterlockedIncrement(&g_stats.badName); return 0; }
    account[n] = 0;
    buf_put(&b, "\0\0\0\0", 4);
    buf_str(&b, "{\"v\":1,\"type\":\"change\",\"source\":\"passfilt\",\"dc\":\"");
    buf_str(&b, g_dc);
    buf_str(&b, "\",\"account\":\"");
    buf_json(&b, account, (DWORD)n);
    *put_dec(num, r->rid, 1) = 0;
    buf_str(&b, "\",\"rid\":");
    buf_str(&b, num);
    filetime_iso(&r->capturedAt, ts);
    buf_str(&b, ",\"capturedAt\":\"");
    buf_str(&b, ts);
    n = utf16_to_utf8(pw, r->pwChars, utf8, sizeof(utf8));
    if (n < 0) {
        /* Not valid UTF-16 (an unpaired surrogate): send no password, say why; the agent rejects it loudly. */
        buf_str(&b, "\",\"passwordInvalidUtf16\":true}");
    } else {
        buf_str(&b, "\",\"password\":\"");
        buf_json(&b, utf8, (DWORD)n);
        buf_str(&b, "\"}");
    }
    SecureZeroMemory(utf8, sizeof(utf8));
    return finish(&b);
}

/* A skip frame: the agent journals it (event 2007) and counts it in status, console and /metrics. */
DWORD frame_skip(PwsSkip why, const char *accountUtf8, char *out, DWORD cap)
{
    PwsBuf b = { out, 0, cap, FALSE };
    buf_put(&b, "\0\0\0\0", 4);
    buf_str(&b, "{\"v\":1,\"type\":\"skip\",\"source\":\"passfilt\",\"dc\":\"");
    buf_str(&b, g_dc);
    if (accountUtf8 != NULL && accountUtf8[0] != 0) {
        buf_str(&b, "\",\"account\":\"");
        buf_json(&b, accountUtf8, (DWORD)lstrlenA(accountUtf8));
    }
    buf_str(&b, "\",\"reason\":\"");
    buf_str(&b, skip_reason(why));
    buf_str(&b, "\"}");
    return finish(&b);
}
