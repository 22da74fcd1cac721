@echo off
rem Removes pwsync (run as administrator). Keeps %ProgramData%\pwsync (undelivered changes and their key): see README.txt.
"%~dp0pwsync-service.exe" uninstall %*
exit /b %ERRORLEVEL%
