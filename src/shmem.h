/*
 * shmem.h - imcheck's shared memory (shmem.c).
 */
#ifndef IMCHECK_SHMEM_H
#define IMCHECK_SHMEM_H

/*
 * From _PG_init while shared_preload_libraries is processed: asks for the
 * segment that holds the rate limit's call log and the statistics.
 */
extern void imcheck_shmem_request_segment(void);

#endif							/* IMCHECK_SHMEM_H */
