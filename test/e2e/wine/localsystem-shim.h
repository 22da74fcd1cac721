/* localsystem-shim.h — Wine-only test build of pwfilt.dll (force-included with gcc -include): under Wine no process
 * runs as LocalSystem, so the filter's "is the pipe server LocalSystem?" check can never pass. This swaps that one
 * question: "LocalSystem" means "the account this process (the harness standing in for LSASS) runs as", which is
 * the account Wine runs the pwsync service as. Every other IsWellKnownSid question goes to Windows unchanged.
 * Never used for a shipped DLL: the package's pwfilt.dll is built without it. */
#ifndef PWSYNC_LOCALSYSTEM_SHIM_H
#define PWSYNC_LOCALSYSTEM_SHIM_H
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>

static inline BOOL pws_wine_is_well_known_sid(PSID sid, WELL_KNOWN_SID_TYPE type)
{
    HANDLE token;
    BYTE buf[256];
    DWORD size = 0;
    BOOL same = FALSE;
    if (type != WinLocalSystemSid) return IsWellKnownSid(sid, type);
    if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &token)) return FALSE;
    if (GetTokenInformation(token, TokenUser, buf, sizeof buf, &size)) same = EqualSid(sid, ((TOKEN_USER *)buf)->User.Sid);
    CloseHandle(token);
    return same;
}
#define IsWellKnownSid pws_wine_is_well_known_sid
#endif
