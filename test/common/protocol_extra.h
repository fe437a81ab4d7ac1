/*
 * protocol_extra.h - what the unit tests and the fuzzers use of the
 * protocol beyond what the extension does (src/protocol.h).
 */
#ifndef IMCHECK_PROTOCOL_EXTRA_H
#define IMCHECK_PROTOCOL_EXTRA_H

#include "../../src/protocol.h"

/* len = 0, keeps memory */
void		protocol_buffer_reset(protocol_buffer *buf);

/* A short English description of an outcome. */
const char *protocol_outcome_text(protocol_outcome outcome);

#endif							/* IMCHECK_PROTOCOL_EXTRA_H */
