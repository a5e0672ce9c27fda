/* core/memory.c - see memory.h. */
#include "core/memory.h"

#include <link.h>
#include <malloc.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

void
memory_release_heap (void)
{
  malloc_trim (0);
}

/* dl_iterate_phdr visits the program first (empty name), then the shared
   objects; only the program's read-only PT_LOAD segments are advised. */
static int
memory_pageout_phdr_cb (struct dl_phdr_info *info, size_t size, void *data)
{
  size_t *advised = data;
  (void) size;
  if (info->dlpi_name && info->dlpi_name[0] != '\0')
    return 1; /* the first shared object: the program is done */
  uintptr_t page = (uintptr_t) sysconf (_SC_PAGESIZE);
  for (int i = 0; i < info->dlpi_phnum; i++)
    {
      const ElfW (Phdr) *ph = &info->dlpi_phdr[i];
      if (ph->p_type != PT_LOAD || (ph->p_flags & PF_W))
        continue;
      uintptr_t start = (uintptr_t) info->dlpi_addr + ph->p_vaddr;
      uintptr_t end = start + ph->p_memsz;
      start &= ~(page - 1);
      end = (end + page - 1) & ~(page - 1);
      /* no readahead when these pages fault back in: each fault would
         otherwise read (and map) its neighbours too, and the few code paths
         of the idle loop would bring most of the segment back */
      (void) madvise ((void *) start, end - start, MADV_RANDOM);
      if (madvise ((void *) start, end - start, MADV_PAGEOUT) == 0)
        *advised += end - start;
    }
  return 1;
}

size_t
memory_release_code (void)
{
  size_t advised = 0;
  dl_iterate_phdr (memory_pageout_phdr_cb, &advised);
  return advised;
}
