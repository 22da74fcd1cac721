/* install.c — pwsync-service.exe install|uninstall: everything a DC needs, with Win32 APIs only (PowerShell is not
 * required, so this runs under Wine in CI too). Never removes another product's LSA notification package, never
 * deletes the data directory (it may hold undelivered changes and the key that opens them). */

#include "host.h"
#include <aclapi.h>
#include <sddl.h>
#include <stdio.h>
#include <stdlib.h>
#include <wchar.h>

#define LSA_KEY        L"SYSTEM\\CurrentControlSet\\Control\\Lsa"
#define LSA_VALUE      L"Notification Packages"
#define EVENTLOG_KEY   L"SYSTEM\\CurrentControlSet\\Services\\EventLog\\Application\\" PWS_EVENT_SOURCE
#define FILTER_PATH    L"%SystemRoot%\\System32\\pwfilt.dll"
/* SYSTEM and Administrators, full control, inherited by everything below; nothing inherited from above. */
#define DATA_DIR_SDDL  L"D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"

static const WCHAR *const PROGRAM_FILES[] = { L"pwsync.exe", L"pwsync-service.exe", L"uninstall.cmd", L"README.txt",
                                              L"THIRD-PARTY-NOTICES.txt", L"SHA256SUMS" };
static const WCHAR *const TEMPLATES[] = { L"config.yml", L"secret.yml" };

static int failed(const WCHAR *what, DWORD err)
{
    fwprintf(stderr, L"pwsync-service: %ls failed (error %lu)\n", what, err);
    return 1;
}

static BOOL expand(const WCHAR *in, WCHAR *out, DWORD cap)
{
    DWORD n = ExpandEnvironmentStringsW(in, out, cap);
    return n > 0 && n <= cap;
}

BOOL pws_data_dir(WCHAR *out, DWORD cap) { return expand(L"%ProgramData%\\pwsync", out, cap); }
BOOL pws_install_dir(WCHAR *out, DWORD cap) { return expand(L"%ProgramFiles%\\pwsync", out, cap); }

/* dir\name, truncated (and then simply not found) rather than overflowing. */
static void join(WCHAR *out, const WCHAR *dir, const WCHAR *name)
{
    _snwprintf(out, MAX_PATH, L"%ls\\%ls", dir, name);
    out[MAX_PATH - 1] = 0;
}

/* ------------------------------------------------------------------ data directory */

static DWORD protect_dir(const WCHAR *dir)
{
    PSECURITY_DESCRIPTOR sd = NULL;
    PACL dacl = NULL;
    BOOL present = FALSE, defaulted = FALSE;
    DWORD err;
    if (!CreateDirectoryW(dir, NULL) && GetLastError() != ERROR_ALREADY_EXISTS) return GetLastError();
    if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(DATA_DIR_SDDL, SDDL_REVISION_1, &sd, NULL)) return GetLastError();
    if (!GetSecurityDescriptorDacl(sd, &present, &dacl, &defaulted)) { err = GetLastError(); LocalFree(sd); return err; }
    /* PROTECTED: drop what C:\ProgramData grants (Users may read there); existing children inherit the new ACL. */
    err = SetNamedSecurityInfoW((LPWSTR)dir, SE_FILE_OBJECT, DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION,
                                NULL, NULL, dacl, NULL);
    LocalFree(sd);
    return err;
}

/* ------------------------------------------------------------------ registry */

static DWORD set_dword(HKEY root, const WCHAR *key, const WCHAR *name, DWORD v)
{
    return RegSetKeyValueW(root, key, name, REG_DWORD, &v, sizeof v);
}

static DWORD set_string(HKEY root, const WCHAR *key, const WCHAR *name, DWORD type, const WCHAR *v)
{
    return RegSetKeyValueW(root, key, name, type, v, (DWORD)((wcslen(v) + 1) * sizeof(WCHAR)));
}

/* Reads Notification Packages, adds or removes "pwfilt" (case-insensitive), keeps every other entry and its order.
 * *changed tells whether it wrote. */
static DWORD edit_packages(BOOL add, BOOL *changed)
{
    HKEY key;
    DWORD type = 0, size = 0, err, outLen = 0;
    WCHAR *in = NULL, *out = NULL, *p;
    BOOL found = FALSE;
    *changed = FALSE;
    err = RegOpenKeyExW(HKEY_LOCAL_MACHINE, LSA_KEY, 0, KEY_QUERY_VALUE | KEY_SET_VALUE, &key);
    if (err != ERROR_SUCCESS) return err;
    err = RegQueryValueExW(key, LSA_VALUE, NULL, &type, NULL, &size);
    if (err == ERROR_FILE_NOT_FOUND) { size = 0; err = ERROR_SUCCESS; }
    else if (err == ERROR_SUCCESS && type != REG_MULTI_SZ) err = ERROR_INVALID_DATA; /* not ours to repair */
    if (err != ERROR_SUCCESS) { RegCloseKey(key); return err; }
    in = (WCHAR *)calloc(size / sizeof(WCHAR) + 2, sizeof(WCHAR));
    out = (WCHAR *)calloc(size / sizeof(WCHAR) + wcslen(PWS_FILTER_NAME) + 3, sizeof(WCHAR));
    if (!in || !out) { free(in); free(out); RegCloseKey(key); return ERROR_OUTOFMEMORY; }
    if (size && (err = RegQueryValueExW(key, LSA_VALUE, NULL, &type, (BYTE *)in, &size)) != ERROR_SUCCESS) goto done;
    for (p = in; *p; p += wcslen(p) + 1) {
        if (_wcsicmp(p, PWS_FILTER_NAME) == 0) {
            found = TRUE;
            if (!add) continue; /* uninstall: drop ours, keep the rest */
        }
        wcscpy(out + outLen, p);
        outLen += (DWORD)wcslen(p) + 1;
    }
    if (add && !found) {
        wcscpy(out + outLen, PWS_FILTER_NAME);
        outLen += (DWORD)wcslen(PWS_FILTER_NAME) + 1;
    }
    if (add != found) {
        out[outLen++] = 0;
        err = RegSetValueExW(key, LSA_VALUE, 0, REG_MULTI_SZ, (const BYTE *)out, outLen * (DWORD)sizeof(WCHAR));
        *changed = err == ERROR_SUCCESS;
    }
done:
    free(in);
    free(out);
    RegCloseKey(key);
    return err;
}

/* ------------------------------------------------------------------ service */

static DWORD stop_service(SC_HANDLE svc, BOOL *wasRunning)
{
    SERVICE_STATUS st;
    ULONGLONG deadline = GetTickCount64() + PWS_STOP_TIMEOUT_MS + 10000;
    *wasRunning = FALSE;
    if (!QueryServiceStatus(svc, &st)) return GetLastError();
    if (st.dwCurrentState == SERVICE_STOPPED) return ERROR_SUCCESS;
    *wasRunning = TRUE;
    if (!ControlService(svc, SERVICE_CONTROL_STOP, &st) && GetLastError() != ERROR_SERVICE_NOT_ACTIVE) return GetLastError();
    while (QueryServiceStatus(svc, &st) && st.dwCurrentState != SERVICE_STOPPED) {
        if (GetTickCount64() > deadline) return ERROR_SERVICE_REQUEST_TIMEOUT;
        Sleep(200);
    }
    return ERROR_SUCCESS;
}

static DWORD configure_service(SC_HANDLE scm, const WCHAR *binPath, SC_HANDLE *out)
{
    SC_HANDLE svc = OpenServiceW(scm, PWS_SERVICE_NAME, SERVICE_ALL_ACCESS);
    SERVICE_DESCRIPTIONW desc = { (LPWSTR)L"Carries Active Directory password changes captured by pwfilt.dll to IIJ ID / SCIM targets." };
    SC_ACTION actions[3] = { { SC_ACTION_RESTART, 5000 }, { SC_ACTION_RESTART, 30000 }, { SC_ACTION_RESTART, 60000 } };
    SERVICE_FAILURE_ACTIONSW fa = { 86400, NULL, NULL, 3, actions };
    SERVICE_FAILURE_ACTIONS_FLAG flag = { TRUE };
    if (svc) {
        if (!ChangeServiceConfigW(svc, SERVICE_WIN32_OWN_PROCESS, SERVICE_AUTO_START, SERVICE_ERROR_NORMAL, binPath, NULL,
                                  NULL, NULL, L"LocalSystem", NULL, PWS_DISPLAY_NAME)) {
            DWORD e = GetLastError();
            CloseServiceHandle(svc);
            return e;
        }
    } else {
        svc = CreateServiceW(scm, PWS_SERVICE_NAME, PWS_DISPLAY_NAME, SERVICE_ALL_ACCESS, SERVICE_WIN32_OWN_PROCESS,
                             SERVICE_AUTO_START, SERVICE_ERROR_NORMAL, binPath, NULL, NULL, NULL, NULL, NULL);
        if (!svc) return GetLastError();
    }
    /* Restart on failure (the host restarts the agent itself; these cover the host). */
    if (!ChangeServiceConfig2W(svc, SERVICE_CONFIG_DESCRIPTION, &desc) ||
        !ChangeServiceConfig2W(svc, SERVICE_CONFIG_FAILURE_ACTIONS, &fa)) {
        DWORD e = GetLastError();
        CloseServiceHandle(svc);
        return e;
    }
    if (!ChangeServiceConfig2W(svc, SERVICE_CONFIG_FAILURE_ACTIONS_FLAG, &flag))
        fwprintf(stderr, L"pwsync-service: warning: restart on a non-crash failure not set (error %lu)\n", GetLastError());
    *out = svc;
    return ERROR_SUCCESS;
}

/* ------------------------------------------------------------------ files */

/* Copies; when the target is in use (an upgrade while LSASS has pwfilt.dll loaded), renames it aside first and
 * deletes the old copy at the next reboot. */
static DWORD replace_file(const WCHAR *src, const WCHAR *dst, BOOL *deferred)
{
    WCHAR aside[MAX_PATH];
    *deferred = FALSE;
    if (CopyFileW(src, dst, FALSE)) return ERROR_SUCCESS;
    if (GetLastError() != ERROR_SHARING_VIOLATION && GetLastError() != ERROR_ACCESS_DENIED) return GetLastError();
    _snwprintf(aside, MAX_PATH, L"%ls.old-%llu", dst, (unsigned long long)GetTickCount64());
    aside[MAX_PATH - 1] = 0;
    if (!MoveFileExW(dst, aside, MOVEFILE_REPLACE_EXISTING)) return GetLastError();
    MoveFileExW(aside, NULL, MOVEFILE_DELAY_UNTIL_REBOOT);
    *deferred = TRUE;
    return CopyFileW(src, dst, FALSE) ? ERROR_SUCCESS : GetLastError();
}

static BOOL same_dir(const WCHAR *a, const WCHAR *b)
{
    WCHAR fa[MAX_PATH], fb[MAX_PATH];
    return GetFullPathNameW(a, MAX_PATH, fa, NULL) && GetFullPathNameW(b, MAX_PATH, fb, NULL) && _wcsicmp(fa, fb) == 0;
}

/* ------------------------------------------------------------------ install */

int pws_install(int argc, WCHAR **argv)
{
    WCHAR src[MAX_PATH], inst[MAX_PATH], data[MAX_PATH], sys[MAX_PATH], a[MAX_PATH], b[MAX_PATH], bin[4 * MAX_PATH];
    BOOL start = argc > 2 && wcscmp(argv[2], L"--start") == 0, wasRunning = FALSE, deferred = FALSE, changed = FALSE;
    SC_HANDLE scm, svc = NULL;
    DWORD err;
    size_t i;

    pws_exe_dir(src, MAX_PATH);
    if (!src[0] || !pws_install_dir(inst, MAX_PATH) || !pws_data_dir(data, MAX_PATH) || !GetSystemDirectoryW(sys, MAX_PATH))
        return failed(L"finding the install, data and system directories", GetLastError());
    join(a, src, L"pwfilt.dll");
    if (GetFileAttributesW(a) == INVALID_FILE_ATTRIBUTES) {
        fwprintf(stderr, L"pwsync-service: run install from the unpacked package (pwfilt.dll not found in %ls)\n", src);
        return 2;
    }
    scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_ALL_ACCESS);
    if (!scm) {
        fwprintf(stderr, L"pwsync-service: cannot open the service control manager (error %lu): run install from an elevated "
                         L"command prompt (Run as administrator)\n", GetLastError());
        return 2;
    }
    /* An upgrade: the running agent finishes its in-flight work before its files are replaced. */
    svc = OpenServiceW(scm, PWS_SERVICE_NAME, SERVICE_ALL_ACCESS);
    if (svc) {
        if ((err = stop_service(svc, &wasRunning)) != ERROR_SUCCESS) return failed(L"stopping the running pwsync service", err);
        if (wasRunning) wprintf(L"stopped the running service for the upgrade\n");
        CloseServiceHandle(svc);
        svc = NULL;
    }

    /* 1. program files */
    if (!same_dir(src, inst)) {
        if (!CreateDirectoryW(inst, NULL) && GetLastError() != ERROR_ALREADY_EXISTS) return failed(L"creating the install directory", GetLastError());
        for (i = 0; i < sizeof PROGRAM_FILES / sizeof *PROGRAM_FILES; i++) {
            join(a, src, PROGRAM_FILES[i]);
            join(b, inst, PROGRAM_FILES[i]);
            if ((err = replace_file(a, b, &deferred)) != ERROR_SUCCESS) return failed(b, err);
        }
        wprintf(L"program files: %ls\n", inst);
    }

    /* 2. data directory: SYSTEM and Administrators only; templates copied only when absent (never overwritten) */
    if ((err = protect_dir(data)) != ERROR_SUCCESS) return failed(L"creating and protecting the data directory", err);
    for (i = 0; i < sizeof TEMPLATES / sizeof *TEMPLATES; i++) {
        join(a, src, TEMPLATES[i]);
        join(b, data, TEMPLATES[i]);
        if (CopyFileW(a, b, TRUE)) wprintf(L"template: %ls (edit it before starting the service)\n", b);
        else if (GetLastError() != ERROR_FILE_EXISTS) return failed(b, GetLastError());
    }
    wprintf(L"data directory: %ls (SYSTEM and Administrators only)\n", data);

    /* 3. the filter DLL, enabled, registered with LSA and as an event source */
    join(a, src, L"pwfilt.dll");
    join(b, sys, L"pwfilt.dll");
    if ((err = replace_file(a, b, &deferred)) != ERROR_SUCCESS) return failed(L"copying pwfilt.dll to the system directory", err);
    wprintf(L"filter: %ls%ls\n", b, deferred ? L" (the loaded copy is replaced at the next reboot)" : L"");
    if ((err = set_dword(HKEY_LOCAL_MACHINE, PWS_REG_KEY, L"Enabled", 1)) != ERROR_SUCCESS ||
        (err = set_string(HKEY_LOCAL_MACHINE, PWS_REG_KEY, L"InstallDir", REG_SZ, inst)) != ERROR_SUCCESS ||
        (err = set_string(HKEY_LOCAL_MACHINE, PWS_REG_KEY, L"DataDir", REG_SZ, data)) != ERROR_SUCCESS)
        return failed(L"writing HKLM\\SOFTWARE\\pwsync", err);
    if ((err = edit_packages(TRUE, &changed)) != ERROR_SUCCESS) return failed(L"adding pwfilt to LSA Notification Packages", err);
    wprintf(L"LSA Notification Packages: %ls\n", changed ? L"pwfilt added (takes effect at the next reboot)" : L"pwfilt already listed");
    if ((err = set_string(HKEY_LOCAL_MACHINE, EVENTLOG_KEY, L"EventMessageFile", REG_EXPAND_SZ, FILTER_PATH)) != ERROR_SUCCESS ||
        (err = set_dword(HKEY_LOCAL_MACHINE, EVENTLOG_KEY, L"TypesSupported", 7)) != ERROR_SUCCESS)
        return failed(L"registering the pwsync-filter event source", err);

    /* 4. the service */
    join(a, inst, L"pwsync-service.exe");
    join(b, data, L"config.yml");
    _snwprintf(bin, 4 * MAX_PATH, L"\"%ls\" service --config \"%ls\"", a, b);
    bin[4 * MAX_PATH - 1] = 0;
    if ((err = configure_service(scm, bin, &svc)) != ERROR_SUCCESS) return failed(L"registering the pwsync service", err);
    wprintf(L"service: pwsync (automatic start, LocalSystem, restarts on failure)\n");
    if (start || wasRunning) {
        if (!StartServiceW(svc, 0, NULL)) return failed(L"starting the pwsync service", GetLastError());
        wprintf(L"service started\n");
    } else {
        wprintf(L"\nNext: edit %ls\\config.yml and secret.yml, run\n  \"%ls\\pwsync.exe\" check --config \"%ls\\config.yml\"\n"
                L"then reboot (LSA loads the filter at boot only); the service starts with Windows.\n", data, inst, data);
    }
    CloseServiceHandle(svc);
    CloseServiceHandle(scm);
    return 0;
}

/* ------------------------------------------------------------------ uninstall */

int pws_uninstall(int argc, WCHAR **argv)
{
    WCHAR inst[MAX_PATH], data[MAX_PATH], sys[MAX_PATH], a[MAX_PATH], self[MAX_PATH];
    BOOL wasRunning = FALSE, changed = FALSE, later = FALSE;
    SC_HANDLE scm, svc;
    DWORD err;
    size_t i;
    (void)argc; (void)argv;

    if (!pws_install_dir(inst, MAX_PATH) || !pws_data_dir(data, MAX_PATH) || !GetSystemDirectoryW(sys, MAX_PATH))
        return failed(L"finding the install, data and system directories", GetLastError());
    scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_ALL_ACCESS);
    if (!scm) {
        fwprintf(stderr, L"pwsync-service: cannot open the service control manager (error %lu): run uninstall from an elevated "
                         L"command prompt (Run as administrator)\n", GetLastError());
        return 2;
    }
    svc = OpenServiceW(scm, PWS_SERVICE_NAME, SERVICE_ALL_ACCESS);
    if (svc) {
        if ((err = stop_service(svc, &wasRunning)) != ERROR_SUCCESS) return failed(L"stopping the pwsync service", err);
        if (!DeleteService(svc)) return failed(L"deleting the pwsync service", GetLastError());
        CloseServiceHandle(svc);
        wprintf(L"service pwsync: stopped and removed\n");
    }
    CloseServiceHandle(scm);

    /* The filter: off now (LSASS keeps the DLL loaded until the reboot), unlisted, its file gone. */
    if ((err = set_dword(HKEY_LOCAL_MACHINE, PWS_REG_KEY, L"Enabled", 0)) != ERROR_SUCCESS) return failed(L"disabling the filter", err);
    if ((err = edit_packages(FALSE, &changed)) != ERROR_SUCCESS) return failed(L"removing pwfilt from LSA Notification Packages", err);
    wprintf(L"LSA Notification Packages: %ls\n", changed ? L"pwfilt removed (other packages kept)" : L"pwfilt was not listed");
    err = RegDeleteKeyW(HKEY_LOCAL_MACHINE, EVENTLOG_KEY);
    if (err != ERROR_SUCCESS && err != ERROR_FILE_NOT_FOUND) return failed(L"removing the pwsync-filter event source", err);
    join(a, sys, L"pwfilt.dll");
    if (!DeleteFileW(a) && GetLastError() != ERROR_FILE_NOT_FOUND) {
        MoveFileExW(a, NULL, MOVEFILE_DELAY_UNTIL_REBOOT);
        later = TRUE;
    }
    wprintf(L"filter: %ls %ls\n", a, later ? L"is loaded by LSASS: deleted at the next reboot" : L"removed");

    /* Program files; this executable may be one of them (uninstall.cmd runs it from there). */
    GetModuleFileNameW(NULL, self, MAX_PATH);
    for (i = 0; i < sizeof PROGRAM_FILES / sizeof *PROGRAM_FILES; i++) {
        join(a, inst, PROGRAM_FILES[i]);
        if (!DeleteFileW(a) && GetLastError() != ERROR_FILE_NOT_FOUND) MoveFileExW(a, NULL, MOVEFILE_DELAY_UNTIL_REBOOT);
    }
    if (!RemoveDirectoryW(inst) && GetLastError() != ERROR_FILE_NOT_FOUND) MoveFileExW(inst, NULL, MOVEFILE_DELAY_UNTIL_REBOOT);
    wprintf(L"program files: %ls removed\n", inst);
    wprintf(L"\nKept, on purpose:\n"
            L"  %ls: config.yml, secret.yml, agent.key, the outbox and the filter's spool. The outbox and spool may\n"
            L"    hold password changes not yet delivered, and agent.key is the only way to open them. Delete the folder\n"
            L"    once you no longer need them (after `pwsync.exe status` showed an empty queue).\n"
            L"  HKLM\\SOFTWARE\\pwsync with Enabled=0: the filter stays loaded in LSASS until the reboot and reads it, so it\n"
            L"    captures nothing more from now on; a reinstall sets Enabled=1 again.\n"
            L"Reboot to unload pwfilt.dll from LSASS.\n", data);
    return 0;
}
