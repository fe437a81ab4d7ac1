/*
 * accounts.c - imsim's account store: which UserIDs are Imported (the
 * --imported-file list and the built-in even rule; see README.md).
 */
#include "imsim.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/*
 * The even rule: take the maximal run of trailing ASCII digits of the
 * UserID; if there is none the ID is NotImported; otherwise take the last
 * 18 digits of that run as a decimal number: Imported iff it is even.
 */
static int
rule_even_imported(const char *id, size_t len)
{
	size_t		start = len;
	uint64_t	v = 0;

	while (start > 0 && id[start - 1] >= '0' && id[start - 1] <= '9')
		start--;
	if (start == len)
		return 0;
	if (len - start > 18)
		start = len - 18;
	for (size_t i = start; i < len; i++)
		v = v * 10 + (uint64_t) (id[i] - '0');
	return v % 2 == 0;
}

/* Imported: listed in --imported-file, or so by the even rule when on. */
int
is_imported(const char *id, size_t len)
{
	if (fixed.imported.count > 0 &&
		idset_find(&fixed.imported, id, len, idset_hash(id, len)) != NULL)
		return 1;
	return fixed.rule_even && rule_even_imported(id, len);
}

/* Loads --imported-file into fixed.imported (at start-up; dies on error). */
void
load_imported_file(const char *path)
{
	FILE	   *f = fopen(path, "rb");
	char	   *line = NULL;
	size_t		cap = 0;
	ssize_t		n;

	if (f == NULL)
		die("cannot open imported file \"%s\": %s", path, strerror(errno));
	while ((n = getline(&line, &cap, f)) >= 0)
	{
		size_t		len = (size_t) n;
		int			inserted;

		if (len > 0 && line[len - 1] == '\n')
			len--;
		if (len > 0 && line[len - 1] == '\r')
			len--;
		if (len == 0)
			continue;
		if (idset_upsert(&fixed.imported, line, len, idset_hash(line, len),
						 &inserted) == NULL)
			die("out of memory");
	}
	free(line);
	if (ferror(f))
		die("cannot read imported file \"%s\"", path);
	fclose(f);
}
