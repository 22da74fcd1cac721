@echo off
rem Installs or upgrades pwsync from this folder (run as administrator). All the work is done by
rem pwsync-service.exe install: see README.txt and docs/operations-windows.md.
"%~dp0pwsync-service.exe" install %*
exit /b %ERRORLEVEL%
