/*
 * protocol_extra.c - see protocol_extra.h.
 */
#include "protocol_extra.h"

void
protocol_buffer_reset(protocol_buffer *buf)
{
	buf->len = 0;
	if (buf->data)
		buf->data[0] = '\0';
}

const char *
protocol_outcome_text(protocol_outcome outcome)
{
	switch (outcome)
	{
		case PROTOCOL_OK:
			return "ok";
		case PROTOCOL_FAIL:
			return "the service answered FAIL";
		case PROTOCOL_MALFORMED:
			return "the response is not a valid answer of the API";
		case PROTOCOL_MISMATCH:
			return "the response does not answer exactly the UserIDs asked";
		case PROTOCOL_NO_MEMORY:
			return "out of memory";
	}
	return "unknown outcome";
}
