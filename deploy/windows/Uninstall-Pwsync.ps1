<#
.SYNOPSIS
  Removes pwsync from a domain controller: the agent service, "pwfilt" from the LSA notification packages, and the
  DLL (deleted at the next reboot — LSASS keeps it loaded until then). Removes only our own entry: every other
  notification package stays, in its order.

.DESCRIPTION
  Enabled is set to 0 first, so the loaded filter stops capturing at once (it re-reads the value at most once a
  second), without a reboot. The data directory (outbox, config) and the spool are kept unless -RemoveData; the
  script warns when the spool still holds changes that never reached the agent.
#>
[CmdletBinding(SupportsShouldProcess = $true)]
param(
  [string] $InstallDir = (Join-Path $env:ProgramFiles 'pwsync'),
  [string] $DataDir = (Join-Path $env:ProgramData 'pwsync'),
  [string] $ServiceName = 'pwsync',
  [switch] $RemoveData
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

$LsaKey = 'HKLM:\SYSTEM\CurrentControlSet\Control\Lsa'
$PackagesValue = 'Notification Packages'
$PwsyncKey = 'HKLM:\SOFTWARE\pwsync'
$FilterName = 'pwfilt'

$id = [Security.Principal.WindowsIdentity]::GetCurrent()
if (-not ([Security.Principal.WindowsPrincipal]$id).IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
  throw 'Run this script in an elevated PowerShell (Run as administrator).'
}
if (-not [Environment]::Is64BitProcess) { throw 'Run this script in 64-bit PowerShell.' }

Add-Type -Namespace Pwsync -Name Native -MemberDefinition @'
[DllImport("kernel32.dll", SetLastError = true, CharSet = CharSet.Unicode)]
public static extern bool MoveFileEx(string existing, string replacement, int flags);
'@
$MOVEFILE_DELAY_UNTIL_REBOOT = 0x4

# 1. Stop capturing now.
if (-not (Test-Path $PwsyncKey)) { New-Item -Path $PwsyncKey | Out-Null }
New-ItemProperty -Path $PwsyncKey -Name 'Enabled' -PropertyType DWord -Value 0 -Force | Out-Null

# 2. The agent service.
$svc = Get-Service -Name $ServiceName -ErrorAction SilentlyContinue
if ($svc) {
  if ($svc.Status -ne 'Stopped') { Stop-Service -Name $ServiceName -Force }
  $wrapper = Join-Path $InstallDir "$ServiceName-service.exe"
  if (Test-Path -LiteralPath $wrapper) { & $wrapper uninstall | Out-Host }
  if (Get-Service -Name $ServiceName -ErrorAction SilentlyContinue) { & sc.exe delete $ServiceName | Out-Host }
}

# 3. Our entry in Notification Packages, and nothing else.
$current = @((Get-ItemProperty -Path $LsaKey -Name $PackagesValue -ErrorAction SilentlyContinue).$PackagesValue)
$current = @($current | Where-Object { $null -ne $_ })
if ($current | Where-Object { $_ -ieq $FilterName }) {
  $kept = [string[]]@($current | Where-Object { $_ -ine $FilterName })
  New-ItemProperty -Path $LsaKey -Name $PackagesValue -PropertyType MultiString -Value $kept -Force | Out-Null
  Write-Host ("Notification Packages: " + ($kept -join ', '))
}

# 4. The DLL: loaded by LSASS until the next reboot, so rename it aside and delete it then.
$dll = Join-Path $env:SystemRoot "System32\$FilterName.dll"
foreach ($file in @(Get-ChildItem -LiteralPath (Join-Path $env:SystemRoot 'System32') -Filter "$FilterName*" -ErrorAction SilentlyContinue)) {
  if ($file.Name -ine "$FilterName.dll" -and $file.Name -notlike "$FilterName.*.old" -and $file.Name -ine "$FilterName.dll.uninstalled") { continue }
  try {
    Remove-Item -LiteralPath $file.FullName
  } catch {
    $path = $file.FullName
    if ($path -ieq $dll) {
      $aside = "$dll.uninstalled"
      Rename-Item -LiteralPath $dll -NewName (Split-Path $aside -Leaf)
      $path = $aside
    }
    [void][Pwsync.Native]::MoveFileEx($path, $null, $MOVEFILE_DELAY_UNTIL_REBOOT)
    Write-Host "$path is in use by LSASS; it will be deleted at the next reboot."
  }
}

# 5. Data. The spool holds changes the agent never received (sealed with DPAPI, readable by SYSTEM only).
$spool = Join-Path $DataDir 'spool'
$pending = 0
if (Test-Path -LiteralPath $spool) {
  try { $pending = @(Get-ChildItem -LiteralPath $spool -Filter '*.pws' -ErrorAction Stop).Count } catch { $pending = -1 }
}
if ($pending -gt 0) { Write-Warning "$pending captured change(s) in $spool were never delivered." }
elseif ($pending -lt 0) { Write-Warning "Could not look into $spool (SYSTEM only); it may hold undelivered changes." }
if ($RemoveData) {
  if (Test-Path -LiteralPath $DataDir) {
    & takeown.exe /F $DataDir /R /D Y | Out-Null
    & icacls.exe $DataDir /grant:r '*S-1-5-32-544:(OI)(CI)F' /T /Q | Out-Null
    Remove-Item -LiteralPath $DataDir -Recurse -Force
  }
  # HKLM\SOFTWARE\pwsync stays until the reboot: without it the still-loaded filter would default to Enabled.
  Write-Host "Data removed. Delete HKLM\SOFTWARE\pwsync after the reboot."
}
Write-Warning 'Reboot this domain controller to unload pwfilt.dll (it captures nothing meanwhile: Enabled=0).'
