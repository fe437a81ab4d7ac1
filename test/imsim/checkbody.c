/*
 * checkbody.c - strict, allocation-free parser of imsim's request bodies
 * (see checkbody.h for the rules).
 *
 * One pass: the whole document is validated; the value of a top-level list
 * member is walked as it is met (a later member of the same name, or of an
 * alternative that comes first in the spec, replaces the findings of an
 * earlier one), and each element's UserID string is taken as is when it
 * has no escapes, else decoded in place.
 */
#include "checkbody.h"

#include "../../src/jsonscan.h"

#include <string.h>

/* What the (last, winning) list member held. */
typedef struct found_list
{
	int			list;			/* index in spec->lists; -1: none yet */
	int			is_array;
	size_t		count;			/* elements */
	size_t		bad;			/* first bad element among the first max */
} found_list;

static int
key_is(const jsonscan_string *key, const char *name)
{
	return name != NULL && jsonscan_string_equals(key, name, strlen(name));
}

/*
 * One element of an OBJECTS list: validates it, finds its (last) id_key
 * member and checks the (last) optional members.  Returns -1 on invalid
 * JSON; *ok says whether the element is good, *uid is its UserID then.
 */
static int
scan_item(jsonscan_cursor *c, const checkbody_list *l, int *ok,
		  jsonscan_string *uid)
{
	int			state = 0;
	int			more;
	int			has_uid = 0;
	int			opt_bad[CHECKBODY_MAX_OPT_KEYS] = {0};
	jsonscan_string key;

	while ((more = jsonscan_object_next(c, &state, &key)) > 0)
	{
		int			is_id = key_is(&key, l->id_key);
		int			opt = -1;

		for (int i = 0; !is_id && i < CHECKBODY_MAX_OPT_KEYS; i++)
			if (key_is(&key, l->opt_keys[i]))
				opt = i;
		if (is_id || opt >= 0)
		{
			int			is_string = c->p < c->end && *c->p == '"';
			jsonscan_string s;

			/* the last occurrence of a member decides */
			if (is_id)
				has_uid = is_string;
			else
				opt_bad[opt] = !is_string;
			if (is_string)
			{
				if (jsonscan_string_scan(c, is_id ? uid : &s) != 0)
					return -1;
				continue;
			}
		}
		if (jsonscan_value(c, 2) != 0)
			return -1;
	}
	*ok = has_uid;
	for (int i = 0; i < CHECKBODY_MAX_OPT_KEYS; i++)
		if (opt_bad[i])
			*ok = 0;
	return more;
}

/* The value of a top-level list member, spec->lists[li]. */
static int
scan_list(jsonscan_cursor *c, const checkbody_spec *spec, int li,
		  found_list *fl, checkbody_out *out)
{
	const checkbody_list *l = &spec->lists[li];
	int			state = 0;
	int			more;

	fl->list = li;
	fl->count = 0;
	fl->bad = SIZE_MAX;
	fl->is_array = c->p < c->end && *c->p == '[';
	if (!fl->is_array)
		return jsonscan_value(c, 1);
	while ((more = jsonscan_array_next(c, &state)) > 0)
	{
		/* only the first max elements are looked at, up to a bad one */
		int			wanted = fl->count < spec->max_items && fl->bad == SIZE_MAX;
		char		want_ch = l->kind == CHECKBODY_OBJECTS ? '{' : '"';

		if (wanted && *c->p == want_ch)
		{
			jsonscan_string uid = {NULL, NULL, 0};
			int			ok = 1;

			if (l->kind == CHECKBODY_OBJECTS)
			{
				if (scan_item(c, l, &ok, &uid) != 0)
					return -1;
			}
			else if (jsonscan_string_scan(c, &uid) != 0)
				return -1;
			if (!ok)
				fl->bad = fl->count;
			else
			{
				/* decoded in place: the string is behind us now */
				out->ids[fl->count] = uid.start;
				out->lens[fl->count] = jsonscan_string_decode(&uid, (char *) uid.start,
															  SIZE_MAX);
			}
		}
		else
		{
			if (wanted)
				fl->bad = fl->count;	/* not an object / not a string */
			if (jsonscan_value(c, 2) != 0)
				return -1;
		}
		fl->count++;
	}
	return more;
}

checkbody_result
checkbody_parse(char *body, size_t len, const checkbody_spec *spec,
				checkbody_out *out)
{
	jsonscan_cursor c = {body, body + len};
	found_list	fl = {-1, 0, 0, SIZE_MAX};
	int			int_state = 0;	/* int_key: 0 absent, 1 good, 2 bad */

	out->n = 0;
	out->list = -1;
	out->bad = 0;
	out->int_present = 0;
	out->int_value = 0;

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
		/* the top-level object: the members we want are handled on the fly */
		int			state = 0;
		int			more;
		jsonscan_string key;

		while ((more = jsonscan_object_next(&c, &state, &key)) > 0)
		{
			int			li = -1;
			int			rc;

			for (int i = 0; i < CHECKBODY_MAX_LISTS && spec->lists[i].name; i++)
				if (key_is(&key, spec->lists[i].name))
					li = i;
			/* an alternative that comes later in the spec loses */
			if (li >= 0 && (fl.list < 0 || li <= fl.list))
				rc = scan_list(&c, spec, li, &fl, out);
			else if (li < 0 && key_is(&key, spec->int_key))
			{
				int64_t		v = 0;

				rc = jsonscan_integer(&c, spec->int_min, spec->int_max, &v);
				if (rc >= 0)
				{
					int_state = rc == 0 ? 1 : 2;
					out->int_value = rc == 0 ? v : 0;
					rc = 0;
				}
			}
			else
				rc = jsonscan_value(&c, 1);
			if (rc != 0)
				return CHECKBODY_NOT_JSON;
		}
		if (more < 0)
			return CHECKBODY_NOT_JSON;
	}
	jsonscan_skip_ws(&c);
	if (c.p != c.end)
		return CHECKBODY_NOT_JSON;

	out->list = fl.list;
	if (fl.list < 0)
		return CHECKBODY_NO_LIST;
	if (!fl.is_array)
		return CHECKBODY_NOT_ARRAY;
	if (fl.count == 0)
		return CHECKBODY_EMPTY;
	if (fl.count > spec->max_items)
		return CHECKBODY_TOO_MANY;
	if (fl.bad != SIZE_MAX)
	{
		out->bad = fl.bad;
		return CHECKBODY_BAD_ITEM;
	}
	if (int_state == 2)
		return CHECKBODY_BAD_INT;
	out->int_present = int_state == 1;
	out->n = fl.count;
	return CHECKBODY_OK;
}
