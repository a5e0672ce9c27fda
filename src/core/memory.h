/* core/memory.h - handing the kernel back memory the agent no longer needs.
 *
 * Contract:
 *  - memory_release_heap() returns glibc's free heap pages (malloc_trim).
 *  - memory_release_code() asks the kernel to drop this process's resident
 *    pages of the program's own read-only segments (code and constants)
 *    with MADV_PAGEOUT.  Start-up (TLS and configuration set-up, checkpoint
 *    load, registration) and a launch burst run code the idle loop never
 *    runs again; the pages stay resident only because nothing claims them.
 *    What the loop does run faults back in (from the page cache, or from
 *    the file), so this is safe at any time and costs a few page faults.
 *    Shared libraries are left alone (other processes share their pages).
 *    Returns the bytes advised, 0 when the kernel has no MADV_PAGEOUT
 *    (before Linux 5.4) or nothing applies.
 */
#ifndef CORE_MEMORY_H
#define CORE_MEMORY_H

#include <stddef.h>

void memory_release_heap (void);
size_t memory_release_code (void);

#endif
