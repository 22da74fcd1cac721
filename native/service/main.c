/* main.c — pwsync-service.exe: the Windows service host of the pwsync agent, written against the SCM protocol
 * directly (no third-party wrapper), plus its installer. It supervises pwsync.exe; it never reads config secrets.
 *
 *   pwsync-service.exe install [--start]          install or upgrade from the unpacked package (elevated)
 *   pwsync-service.exe uninstall                  remove everything install added; keeps the data directory
 *   pwsync-service.exe service --config FILE      the service itself (started by the SCM only)
 *   pwsync-service.exe console --config FILE      the same supervision in a console, Ctrl+C stops it */

#include "host.h"
#include <stdio.h>
#include <wchar.h>

static SERVICE_STATUS_HANDLE g_status;
static SERVICE_STATUS g_st;
static HANDLE g_stop;
static WCHAR g_config[MAX_PATH];
static WCHAR g_log[MAX_PATH];

static void scm_report(DWORD state, DWORD waitHintMs)
{
    static DWORD checkpoint = 1;
    g_st.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
    g_st.dwCurrentState = state;
    g_st.dwWaitHint = waitHintMs;
    g_st.dwControlsAccepted = state == SERVICE_RUNNING ? SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN : 0;
    g_st.dwCheckPoint = (state == SERVICE_RUNNING || state == SERVICE_STOPPED) ? 0 : checkpoint++;
    SetServiceStatus(g_status, &g_st);
}

static DWORD WINAPI scm_handler(DWORD control, DWORD type, LPVOID data, LPVOID ctx)
{
    (void)type; (void)data; (void)ctx;
    switch (control) {
    case SERVICE_CONTROL_STOP:
    case SERVICE_CONTROL_SHUTDOWN:
        scm_report(SERVICE_STOP_PENDING, PWS_STOP_TIMEOUT_MS + 5000);
        SetEvent(g_stop);
        return NO_ERROR;
    case SERVICE_CONTROL_INTERROGATE:
        return NO_ERROR;
    default:
        return ERROR_CALL_NOT_IMPLEMENTED;
    }
}

static void WINAPI service_main(DWORD argc, LPWSTR *argv)
{
    int rc;
    (void)argc; (void)argv;
    g_status = RegisterServiceCtrlHandlerExW(PWS_SERVICE_NAME, scm_handler, NULL);
    if (!g_status) return;
    scm_report(SERVICE_START_PENDING, 10000);
    rc = pws_supervise(g_config, g_log, g_stop, scm_report);
    g_st.dwWin32ExitCode = rc == 0 ? NO_ERROR : ERROR_SERVICE_SPECIFIC_ERROR;
    g_st.dwServiceSpecificExitCode = (DWORD)rc;
    scm_report(SERVICE_STOPPED, 0);
}

static void console_report(DWORD state, DWORD waitHintMs)
{
    (void)waitHintMs;
    fwprintf(stderr, L"pwsync-service: %ls\n", state == SERVICE_RUNNING ? L"agent running"
                     : state == SERVICE_STOP_PENDING ? L"stopping the agent" : state == SERVICE_START_PENDING ? L"starting" : L"stopped");
    fflush(stderr);
}

static BOOL WINAPI console_ctrl(DWORD type)
{
    (void)type;
    SetEvent(g_stop);
    return TRUE;
}

/* --config FILE, made absolute; the log goes next to it (the data directory). */
static BOOL parse_config(int argc, WCHAR **argv)
{
    int i;
    WCHAR *slash;
    for (i = 2; i + 1 < argc; i++) {
        if (wcscmp(argv[i], L"--config") == 0) {
            if (!GetFullPathNameW(argv[i + 1], MAX_PATH, g_config, NULL)) return FALSE;
            lstrcpynW(g_log, g_config, MAX_PATH);
            slash = wcsrchr(g_log, L'\\');
            if (!slash || (size_t)(slash - g_log) + 16 >= MAX_PATH) return FALSE;
            lstrcpyW(slash + 1, L"agent-output.log");
            return TRUE;
        }
    }
    return FALSE;
}

static int usage(void)
{
    fwprintf(stderr, L"usage: pwsync-service.exe install [--start] | uninstall | service --config FILE | console --config FILE\n");
    return 2;
}

int wmain(int argc, WCHAR **argv)
{
    if (argc < 2) return usage();
    if (wcscmp(argv[1], L"install") == 0) return pws_install(argc, argv);
    if (wcscmp(argv[1], L"uninstall") == 0) return pws_uninstall(argc, argv);
    if (wcscmp(argv[1], L"service") != 0 && wcscmp(argv[1], L"console") != 0) return usage();
    if (!parse_config(argc, argv)) {
        fwprintf(stderr, L"pwsync-service: --config FILE is required\n");
        return 2;
    }
    g_stop = CreateEventW(NULL, TRUE, FALSE, NULL);
    if (!g_stop) return 1;
    if (wcscmp(argv[1], L"console") == 0) {
        SetConsoleCtrlHandler(console_ctrl, TRUE);
        return pws_supervise(g_config, g_log, g_stop, console_report);
    } else {
        SERVICE_TABLE_ENTRYW table[] = { { (LPWSTR)PWS_SERVICE_NAME, service_main }, { NULL, NULL } };
        if (!StartServiceCtrlDispatcherW(table)) {
            DWORD e = GetLastError();
            fwprintf(stderr, L"pwsync-service: not started by the service control manager (error %lu); use \"console\" to run it by hand\n", e);
            return 1;
        }
        return 0;
    }
}
