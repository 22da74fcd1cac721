/* agent.c — one request/ack exchange with the pwsync agent over the transport (transport.h), and what the reply
 * means for the frame. Sender thread only. Never retries on its own beyond one reconnect; never logs a frame. */

#include "pwfilt.h"
#include "transport.h"

static char g_reply[PWS_REPLY_MAX];

/* Finds "key" and returns a pointer just past the following ':' (and blanks), or NULL. Enough for the flat
 * replies of the intake frame contract (docs/architecture.md#intake-frame); anything unexpected is treated as no answer. */
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

/* ok:true → ACK_OK. ok:false with a code saying "not now" → ACK_RETRY: spool, try later. These are the codes the
 * agent's intake answers for a failure of its own (src/errors.ts; test/unit/error-codes.test.ts keeps the list in
 * step): E_STORAGE (the outbox could not commit), E_DB_CORRUPT, E_INTERNAL (anything unexpected). Any other
 * ok:false is final (E_REFUSED, E_BAD_FRAME, E_INVALID_UTF16, …): the agent answered and journaled why; retrying a
 * refused change forever would also hold every later spooled change behind it. A reply we cannot read counts as no
 * answer. */
static int reply_classify(const char *j, DWORD n)
{
    static const char *const retry[] = { "\"E_STORAGE\"", "\"E_DB_CORRUPT\"", "\"E_INTERNAL\"" };
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
int agent_exchange(char *frame, DWORD len, DWORD ackMs)
{
    int attempt, result = ACK_NONE;
    for (attempt = 0; attempt < 2; attempt++) {
        BOOL reused = link_is_open();
        DWORD replyLen;
        if (!reused && !link_open()) return ACK_NONE;
        if (link_io(TRUE, frame, len, ackMs) && link_io(FALSE, g_reply, 4, ackMs)) {
            replyLen = (DWORD)(unsigned char)g_reply[0] | ((DWORD)(unsigned char)g_reply[1] << 8) |
                       ((DWORD)(unsigned char)g_reply[2] << 16) | ((DWORD)(unsigned char)g_reply[3] << 24);
            if (replyLen > 0 && replyLen <= sizeof(g_reply) && link_io(FALSE, g_reply, replyLen, ackMs)) {
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
