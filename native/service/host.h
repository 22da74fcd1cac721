/* host.h — shared declarations of the pwsync service host: supervision of pwsync.exe (supervise.c), the SCM
 * entry points (main.c) and the installer (install.c). Nothing here ever sees a password. */
#ifndef PWSYNC_HOST_H
#define PWSYNC_HOST_H

#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#define PWS_SERVICE_NAME    L"pwsync"
#define PWS_DISPLAY_NAME    L"pwsync password synchronisation agent"
#define PWS_FILTER_NAME     L"pwfilt"
#define PWS_EVENT_SOURCE    L"pwsync-filter"
#define PWS_REG_KEY         L"SOFTWARE\\pwsync"
/* How long a stopping agent may take to finish in-flight commits before it is terminated. */
#define PWS_STOP_TIMEOUT_MS 30000u

/* Reports state changes of the supervised agent (the SCM in service mode, stderr in console mode). */
typedef void (*PwsStatusFn)(DWORD state, DWORD waitHintMs);

/* Runs pwsync.exe run --config <config> until *stop is signalled, restarting it with backoff when it exits on its
 * own. Returns 0 after a clean stop. Output of the agent goes to <logFile> (appended). */
int pws_supervise(const WCHAR *config, const WCHAR *logFile, HANDLE stopEvent, PwsStatusFn report);

/* The directory of this executable, without a trailing backslash. */
void pws_exe_dir(WCHAR *out, DWORD cap);

int pws_install(int argc, WCHAR **argv);
int pws_uninstall(int argc, WCHAR **argv);

/* %ProgramData%\pwsync and %ProgramFiles%\pwsync (expanded). */
BOOL pws_data_dir(WCHAR *out, DWORD cap);
BOOL pws_install_dir(WCHAR *out, DWORD cap);

#endif
