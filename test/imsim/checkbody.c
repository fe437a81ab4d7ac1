/*
 * checkbody.c - strict, allocation-free parser of account_check request
 * bodies (see checkbody.h for the rules).
 *
 * One pass: the whole document is validated; the value of a top-level
 * "CheckItem" member is walked as it is met (a later CheckItem member
 * replaces the findings of an earlier one), and each item's last "UserID"
 * string is taken as is when it has no escapes, else decoded in place.
 */
#include "checkbody.h"

#include "../../src/jsonscan.h"

#include <string.h>

/* What the (last) CheckItem member held. */
typedef struct checkitem
{
	int			present;
	int			is_array;
	size_t		count;			/* elements */
	size_t		bad;			/* first bad element among the first 100 */
	const char **ids;
	size_t	   *lens;
} checkitem;

/*
 * One element of CheckItem, an object: validates it and finds its (last)
 * UserID member.  Returns -1 on invalid JSON; *has_uid says whether a
 * string UserID was found, *uid is that string.
 */
static int
scan_item(jsonscan_cursor *c, int *has_uid, jsonscan_string *uid)
{
	int			state = 0;
	int			more;
	jsonscan_string key;

	*has_uid = 0;
	while ((more = jsonscan_object_next(c, &state, &key)) > 0)
	{
		if (jsonscan_string_equals(&key, "UserID", 6))
		{
			if (c->p < c->end && *c->p == '"')
			{
				if (jsonscan_string_scan(c, uid) != 0)
					return -1;
				*has_uid = 1;
				continue;
			}
			*has_uid = 0;
		}
		if (jsonscan_value(c, 2) != 0)
			return -1;
	}
	return more;
}

/* The value of a top-level CheckItem member. */
static int
scan_checkitem(jsonscan_cursor *c, checkitem *ci)
{
	int			state = 0;
	int			more;

	ci->present = 1;
	ci->count = 0;
	ci->bad = SIZE_MAX;
	ci->is_array = c->p < c->end && *c->p == '[';
	if (!ci->is_array)
		return jsonscan_value(c, 1);
	while ((more = jsonscan_array_next(c, &state)) > 0)
	{
		if (ci->count < CHECKBODY_MAX_ITEMS && ci->bad == SIZE_MAX &&
			*c->p == '{')
		{
			jsonscan_string uid;
			int			has_uid;

			if (scan_item(c, &has_uid, &uid) != 0)
				return -1;
			if (!has_uid)
				ci->bad = ci->count;
			else
			{
				/* decoded in place: the object is behind us now */
				ci->ids[ci->count] = uid.start;
				ci->lens[ci->count] = jsonscan_string_decode(&uid, (char *) uid.start,
															 SIZE_MAX);
			}
		}
		else
		{
			if (ci->count < CHECKBODY_MAX_ITEMS && ci->bad == SIZE_MAX)
				ci->bad = ci->count;	/* not an object */
			if (jsonscan_value(c, 2) != 0)
				return -1;
		}
		ci->count++;
	}
	return more;
}

checkbody_result
checkbody_parse(char *body, size_t len,
				const char *ids[CHECKBODY_MAX_ITEMS],
				size_t lens[CHECKBODY_MAX_ITEMS],
				size_t *n, size_t *bad_index)
{
	jsonscan_cursor c = {body, body + len};
	checkitem	ci = {0, 0, 0, SIZE_MAX, ids, lens};

	*n = 0;
	*bad_index = 0;

	jsonscan_skip_ws(&c);
	if (c.p >= c.end)
		return CHECKBODY_NOT_JSON;
	if (*c.p != '{')
	{
		if (jsonscan_value(&c, 0) != 0)
			return CHECKBODY_NOT_JSON;
	}
	else
	{
		/* the top-level object: CheckItem is handled on the fly */
		int			state = 0;
		int			more;
		jsonscan_string key;

		while ((more = jsonscan_object_next(&c, &state, &key)) > 0)
		{
			int			rc = jsonscan_string_equals(&key, "CheckItem", 9) ?
				scan_checkitem(&c, &ci) : jsonscan_value(&c, 1);

			if (rc != 0)
				return CHECKBODY_NOT_JSON;
		}
		if (more < 0)
			return CHECKBODY_NOT_JSON;
	}
	jsonscan_skip_ws(&c);
	if (c.p != c.end)
		return CHECKBODY_NOT_JSON;

	if (!ci.present)
		return CHECKBODY_NO_CHECKITEM;
	if (!ci.is_array)
		return CHECKBODY_NOT_ARRAY;
	if (ci.count == 0)
		return CHECKBODY_EMPTY;
	if (ci.count > CHECKBODY_MAX_ITEMS)
		return CHECKBODY_TOO_MANY;
	if (ci.bad != SIZE_MAX)
	{
		*bad_index = ci.bad;
		return CHECKBODY_BAD_ITEM;
	}
	*n = ci.count;
	return CHECKBODY_OK;
}
