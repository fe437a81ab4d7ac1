/*
 * input.h - a statement's input, checked before any call is made: the
 * user_ids array and the arrays that line up with it, and the distinct
 * UserIDs among its elements (input.c).
 */
#ifndef IMCHECK_INPUT_H
#define IMCHECK_INPUT_H

#include "utils/array.h"

#include "job.h"

/*
 * Which distinct UserID each input element is.  A first occurrence's
 * distinct index is the number of first occurrences before it, so only the
 * repeats need to remember theirs: one bit per element says it repeats an
 * earlier one, and the repeats' distinct indexes follow in input order.
 */
typedef struct element_map
{
	uint8	   *is_repeat;
	uint32	   *repeat_of;
	uint32		n_repeats;
	uint32		repeats_cap;
} element_map;

/*
 * Checks argument arg of fcinfo (user_ids, which the caller has found not
 * null) and its elements: one dimension, not too many, none null or too
 * long.  Returns its number of elements, and *array.  function names the
 * SQL function in errors.
 */
extern int	input_user_ids(FunctionCallInfo fcinfo, int arg, const char *function,
						   ArrayType **array);

/* Raises an ERROR when argument arg (name: its name) is null. */
extern void input_not_null(FunctionCallInfo fcinfo, int arg, const char *name);

/*
 * Finds the distinct UserIDs of array (checked by input_user_ids, nitems
 * elements): sets job->n, job->array_data and job->offsets, and fills map.
 */
extern void input_find_distinct(ArrayType *array, int nitems, imcheck_job *job,
								element_map *map);

/*
 * For an optional text[] argument that lines up with user_ids by position
 * (NULL when the argument is null): each distinct UserID's value, the one
 * of its first element (varlena, or NULL for a null element).  Raises an
 * ERROR when its length is not nitems or an element is too long.
 */
extern const char **input_aligned_texts(FunctionCallInfo fcinfo, int arg, const char *name,
										int nitems, const element_map *map, uint32 n_distinct);

/* Walks the input elements in order: the distinct index of each. */
typedef struct element_walk
{
	const element_map *map;
	uint32		next_first;
	uint32		next_repeat;
} element_walk;

static inline uint32
input_next_distinct(element_walk *walk, int element)
{
	const element_map *map = walk->map;

	return (map->is_repeat[element / 8] & (1 << (element % 8)))
		? map->repeat_of[walk->next_repeat++] : walk->next_first++;
}

#endif							/* IMCHECK_INPUT_H */
