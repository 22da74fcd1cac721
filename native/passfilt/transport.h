/* transport.h — the filter's one connection to the agent: open it, move exactly n bytes before a deadline, close it.
 * Implemented by transport-pipe.c (production) and transport-tcp.c (test build only). Never blocks without a deadline. */
#ifndef PWSYNC_TRANSPORT_H
#define PWSYNC_TRANSPORT_H
#include <windows.h>

#define PWS_CONNECT_MS 500u

void link_init(void);                                  /* once, on the worker thread, before any other call */
BOOL link_is_open(void);
BOOL link_open(void);                                  /* connects within PWS_CONNECT_MS; FALSE = agent not there */
void link_close(void);
BOOL link_io(BOOL write, char *p, DWORD len, DWORD ms); /* all len bytes within ms, or FALSE */

#endif
