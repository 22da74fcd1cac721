<#
.SYNOPSIS
  Installs pwsync on a writable domain controller: the password filter DLL, its LSA registration, the data and
  spool directories, and the agent as a Windows service. Idempotent: run it again to upgrade.
  Never removes or reorders other LSA notification packages; never prints or stores a password.

.DESCRIPTION
  1. Data directory (config.yml, secret.yml, outbox) — SYSTEM and Administrators only, inheritance removed.
     Spool directory (DPAPI-sealed changes the filter could not hand over) — SYSTEM only.
  2. HKLM\SOFTWARE\pwsync: Enabled (DWORD 1, only if absent), SpoolDir.
  3. pwfilt.dll → %SystemRoot%\System32. A loaded older copy is renamed aside (LSASS keeps it open) and the new
     one takes effect at the next reboot.
  4. "pwfilt" appended to HKLM\SYSTEM\CurrentControlSet\Control\Lsa\Notification Packages (REG_MULTI_SZ).
     LSA reads this list at boot only: the first install needs one reboot.
  5. The agent as service "pwsync" (LocalSystem, automatic start, restart on failure):
     node.exe <InstallDir>\dist\src\cli\main.js run --config <DataDir>\config.yml
     node.exe does not speak the service control protocol, so it runs under a service wrapper (WinSW,
     https://github.com/winsw/winsw, one signed .exe): pass its path with -ServiceWrapper.

.EXAMPLE
  .\Install-Pwsync.ps1 -DllPath .\pwfilt.dll -InstallDir 'C:\Program Files\pwsync' -ServiceWrapper .\WinSW-x64.exe
#>
[CmdletBinding(SupportsShouldProcess = $true)]
param(
  [string] $DllPath = (Join-Path $PSScriptRoot 'pwfilt.dll'),
  [string] $InstallDir = (Join-Path $env:ProgramFiles 'pwsync'),
  [string] $DataDir = (Join-Path $env:ProgramData 'pwsync'),
  [string] $NodePath = '',
  [string] $ServiceWrapper = '',
  [string] $ServiceName = 'pwsync',
  [switch] $SkipService
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

$LsaKey = 'HKLM:\SYSTEM\CurrentControlSet\Control\Lsa'
$PackagesValue = 'Notification Packages'
$PwsyncKey = 'HKLM:\SOFTWARE\pwsync'
$FilterName = 'pwfilt'
$SystemSid = '*S-1-5-18'
$AdminsSid = '*S-1-5-32-544'

function Assert-Ready {
  $id = [Security.Principal.WindowsIdentity]::GetCurrent()
  if (-not ([Security.Principal.WindowsPrincipal]$id).IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
    throw 'Run this script in an elevated PowerShell (Run as administrator).'
  }
  # A 32-bit PowerShell would see SysWOW64 as System32 and the 32-bit registry view.
  if (-not [Environment]::Is64BitProcess) { throw 'Run this script in 64-bit PowerShell.' }
  if (-not (Test-Path -LiteralPath $DllPath -PathType Leaf)) { throw "pwfilt.dll not found at $DllPath (-DllPath)." }
}

function Invoke-Native([string] $exe, [string[]] $arguments) {
  & $exe @arguments | Out-Host
  if ($LASTEXITCODE -ne 0) { throw "$exe $($arguments -join ' ') failed with exit code $LASTEXITCODE" }
}

# Directories: protected ACLs (no inherited entries), granted to well-known SIDs so localized names do not matter.
function New-ProtectedDirectory([string] $path, [string[]] $sids) {
  if (-not (Test-Path -LiteralPath $path)) { New-Item -ItemType Directory -Path $path | Out-Null }
  $grants = @()
  foreach ($sid in $sids) { $grants += "${sid}:(OI)(CI)F" }
  Invoke-Native 'icacls.exe' (@($path, '/inheritance:r', '/grant:r') + $grants + @('/Q'))
  # Remove anything else that may have been granted explicitly before (e.g. CREATOR OWNER, Users).
  $acl = Get-Acl -LiteralPath $path
  foreach ($rule in @($acl.Access)) {
    $sid = $rule.IdentityReference.Translate([Security.Principal.SecurityIdentifier]).Value
    if (-not ($sids -contains "*$sid")) { $acl.RemoveAccessRuleAll($rule) | Out-Null }
  }
  Set-Acl -LiteralPath $path -AclObject $acl
}

function Install-Directories {
  New-ProtectedDirectory $DataDir @($SystemSid, $AdminsSid)
  New-ProtectedDirectory (Join-Path $DataDir 'logs') @($SystemSid, $AdminsSid)
  # Only SYSTEM (LSASS) reads the spool: DPAPI machine scope lets any local process decrypt, so the ACL is what
  # keeps other local accounts out. An administrator can still take ownership (takeown) — by design.
  New-ProtectedDirectory (Join-Path $DataDir 'spool') @($SystemSid)
}

function Install-Registry {
  if (-not (Test-Path $PwsyncKey)) { New-Item -Path $PwsyncKey | Out-Null }
  $props = Get-ItemProperty -Path $PwsyncKey
  if ($null -eq $props.PSObject.Properties['Enabled']) {
    New-ItemProperty -Path $PwsyncKey -Name 'Enabled' -PropertyType DWord -Value 1 | Out-Null
  }
  New-ItemProperty -Path $PwsyncKey -Name 'SpoolDir' -PropertyType String -Value (Join-Path $DataDir 'spool') -Force | Out-Null
}

# Returns $true when the DLL in System32 changed (a reboot is needed for LSASS to load the new one).
function Install-Dll {
  $target = Join-Path $env:SystemRoot "System32\$FilterName.dll"
  if (Test-Path -LiteralPath $target) {
    if ((Get-FileHash -LiteralPath $target).Hash -eq (Get-FileHash -LiteralPath $DllPath).Hash) { return $false }
    # LSASS holds the loaded copy open; a loaded DLL can be renamed, not overwritten.
    $aside = Join-Path $env:SystemRoot ("System32\$FilterName.{0:yyyyMMddHHmmss}.old" -f (Get-Date))
    Rename-Item -LiteralPath $target -NewName (Split-Path $aside -Leaf)
    Write-Host "Previous $FilterName.dll renamed to $aside (delete it after the next reboot)."
  }
  Copy-Item -LiteralPath $DllPath -Destination $target
  return $true
}

# Appends pwfilt to Notification Packages, keeping every other entry and its order. $true when added.
function Install-NotificationPackage {
  $current = @((Get-ItemProperty -Path $LsaKey -Name $PackagesValue -ErrorAction SilentlyContinue).$PackagesValue)
  $current = @($current | Where-Object { $null -ne $_ })
  if ($current | Where-Object { $_ -ieq $FilterName }) { return $false }
  $updated = [string[]]($current + $FilterName)
  New-ItemProperty -Path $LsaKey -Name $PackagesValue -PropertyType MultiString -Value $updated -Force | Out-Null
  Write-Host ("Notification Packages: " + ($updated -join ', '))
  return $true
}

function Install-AgentService {
  if ($SkipService) { return }
  if (-not $NodePath) {
    $cmd = Get-Command node.exe -ErrorAction SilentlyContinue
    if (-not $cmd) { throw 'node.exe not found on PATH; pass -NodePath.' }
    $NodePath = $cmd.Source
  }
  $main = Join-Path $InstallDir 'dist\src\cli\main.js'
  if (-not (Test-Path -LiteralPath $main)) { throw "Agent not found at $main (copy the built pwsync to -InstallDir first)." }
  if (-not $ServiceWrapper -or -not (Test-Path -LiteralPath $ServiceWrapper)) {
    throw 'node.exe cannot run as a Windows service by itself: pass -ServiceWrapper <path to WinSW-x64.exe>, or -SkipService.'
  }
  $config = Join-Path $DataDir 'config.yml'
  $wrapper = Join-Path $InstallDir "$ServiceName-service.exe"
  $xml = Join-Path $InstallDir "$ServiceName-service.xml"
  $existing = Get-Service -Name $ServiceName -ErrorAction SilentlyContinue
  if ($existing -and $existing.Status -ne 'Stopped') { Stop-Service -Name $ServiceName -Force }
  Copy-Item -LiteralPath $ServiceWrapper -Destination $wrapper -Force
  $esc = [Security.SecurityElement]
  @"
<service>
  <id>$($esc::Escape($ServiceName))</id>
  <name>pwsync password sync agent</name>
  <description>Carries Active Directory password changes to IIJ ID Service (SCIM). Receives them from pwfilt.dll over \\.\pipe\pwsync.</description>
  <executable>$($esc::Escape($NodePath))</executable>
  <arguments>"$($esc::Escape($main))" run --config "$($esc::Escape($config))"</arguments>
  <workingdirectory>$($esc::Escape($InstallDir))</workingdirectory>
  <startmode>Automatic</startmode>
  <stoptimeout>20 sec</stoptimeout>
  <onfailure action="restart" delay="5 sec"/>
  <onfailure action="restart" delay="10 sec"/>
  <onfailure action="restart" delay="60 sec"/>
  <resetfailure>1 day</resetfailure>
  <logpath>$($esc::Escape((Join-Path $DataDir 'logs')))</logpath>
  <log mode="roll-by-size"><sizeThreshold>10240</sizeThreshold><keepFiles>5</keepFiles></log>
</service>
"@ | Set-Content -LiteralPath $xml -Encoding UTF8
  if (-not $existing) { Invoke-Native $wrapper @('install') }
  else { Invoke-Native 'sc.exe' @('config', $ServiceName, 'start=', 'auto', 'obj=', 'LocalSystem') }
  # Restart on failure at the SCM level too (also when the wrapper itself dies), and count non-zero exits.
  Invoke-Native 'sc.exe' @('failure', $ServiceName, 'reset=', '86400', 'actions=', 'restart/5000/restart/10000/restart/60000')
  Invoke-Native 'sc.exe' @('failureflag', $ServiceName, '1')
  Start-Service -Name $ServiceName
}

Assert-Ready
Install-Directories
Install-Registry
$dllChanged = Install-Dll
$packageAdded = Install-NotificationPackage
Install-AgentService

if ($packageAdded) {
  Write-Warning 'pwfilt was added to the LSA notification packages: reboot this domain controller once to load it.'
} elseif ($dllChanged) {
  Write-Warning 'A new pwfilt.dll was installed; the running LSASS keeps the old one until the next reboot.'
} else {
  Write-Host 'pwfilt.dll unchanged; no reboot needed.'
}
if (-not (Test-Path -LiteralPath (Join-Path $DataDir 'config.yml'))) {
  Write-Warning "Create $(Join-Path $DataDir 'config.yml') and secret.yml (see docs/configuration.md), then: Restart-Service $ServiceName"
}
