/*
 * config.c - imsim's settings that can change at run time: their state
 * (runtime, set first from the command line by options.c), and
 * GET/POST /_imsim/config, which shows them and changes them.
 */
#include "imsim.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <json-c/json.h>

runtime_settings runtime = {.lock = PTHREAD_MUTEX_INITIALIZER};

/*
 * Restarts both generators from seed (caller holds runtime.lock, or no
 * other thread runs yet).  They differ so that jitter and the other aux
 * draws do not disturb the sequence of fault draws.
 */
void
reseed(uint64_t seed)
{
	runtime.seed = seed;
	runtime.rng_fault = seed ^ 0x6a09e667f3bcc908ULL;
	runtime.rng_aux = seed ^ 0xbb67ae8584caa73bULL;
}

/* The answer of GET and POST /_imsim/config: fixed and run-time settings. */
void
config_json(protocol_buffer *b)
{
	char		tmp[512];
	/* read before runtime.lock: no lock is taken inside another */
	size_t		by_api = accounts_imported_by_api();
	const char *fault_api;

	pthread_mutex_lock(&runtime.lock);
	snprintf(tmp, sizeof(tmp), "{\"sdkappid\":%" PRIu64 ",\"identifier\":",
			 fixed.sdkappid);
	protocol_buffer_append(b, tmp, strlen(tmp));
	protocol_buffer_append_json_string(b, fixed.identifier,
									   fixed.identifier_len);
	snprintf(tmp, sizeof(tmp),
			 ",\"rule\":\"%s\",\"imported\":%zu,\"imported_by_api\":%zu"
			 ",\"max_body\":%zu,\"faults\":{",
			 fixed.rule_even ? "even" : "none", fixed.imported.count, by_api,
			 fixed.max_body);
	protocol_buffer_append(b, tmp, strlen(tmp));
	for (int i = 0; i < runtime.nfaults; i++)
	{
		if (i)
			protocol_buffer_append(b, ",", 1);
		protocol_buffer_append_json_string(b, runtime.faults[i].name,
										   strlen(runtime.faults[i].name));
		snprintf(tmp, sizeof(tmp), ":%.17g", runtime.faults[i].prob);
		protocol_buffer_append(b, tmp, strlen(tmp));
	}
	fault_api = api_name((int) runtime.fault_api);
	snprintf(tmp, sizeof(tmp),
			 "},\"fault_budget\":%" PRId64 ",\"fault_api\":\"%s\""
			 ",\"rate_limit\":%" PRId64 ",\"import_rate_limit\":%" PRId64
			 ",\"online_rate_limit\":%" PRId64 ",\"account_limit\":%" PRId64
			 ",\"latency_ms\":%" PRId64 ",\"jitter_ms\":%" PRId64
			 ",\"seed\":%" PRIu64 ",\"stall_ms\":%" PRId64 "}",
			 runtime.fault_budget, fault_api,
			 runtime.rate_limit[API_ACCOUNT_CHECK],
			 runtime.rate_limit[API_IMPORT], runtime.rate_limit[API_ONLINE],
			 runtime.account_limit, runtime.latency_ms, runtime.jitter_ms,
			 runtime.seed, runtime.stall_ms);
	protocol_buffer_append(b, tmp, strlen(tmp));
	pthread_mutex_unlock(&runtime.lock);
}

/* An integer JSON value in min..max into *out; else 0. */
static int
json_get_int(struct json_object *v, int64_t min, int64_t max, int64_t *out)
{
	int64_t		x;

	if (!json_object_is_type(v, json_type_int))
		return 0;
	errno = 0;
	x = json_object_get_int64(v);
	if (errno != 0 || x < min || x > max)
		return 0;
	*out = x;
	return 1;
}

/*
 * The settings a POST /_imsim/config body may hold (README.md lists them).
 * The command line takes the same ranges (options.c).
 */
typedef enum setting_kind
{
	SETTING_INT,				/* an integer in min..max, stored in *field */
	SETTING_SEED,				/* an integer in min..max, given to reseed() */
	SETTING_FAULTS,				/* {"kind": probability, ...}: a whole set */
	SETTING_API					/* "" or an API's name, stored as -1 or its id */
} setting_kind;

typedef struct setting
{
	const char *name;
	setting_kind kind;
	int64_t    *field;			/* SETTING_INT, SETTING_API: where it goes */
	int64_t		min;			/* SETTING_INT, SETTING_SEED */
	int64_t		max;
} setting;

static const setting settings[] = {
	{"faults", SETTING_FAULTS, NULL, 0, 0},
	{"fault_budget", SETTING_INT, &runtime.fault_budget, -1, INT64_MAX},
	{"fault_api", SETTING_API, &runtime.fault_api, 0, 0},
	{"rate_limit", SETTING_INT, &runtime.rate_limit[API_ACCOUNT_CHECK], 0, MAX_RATE_LIMIT},
	{"import_rate_limit", SETTING_INT, &runtime.rate_limit[API_IMPORT], 0, MAX_RATE_LIMIT},
	{"online_rate_limit", SETTING_INT, &runtime.rate_limit[API_ONLINE], 0, MAX_RATE_LIMIT},
	{"account_limit", SETTING_INT, &runtime.account_limit, 0, MAX_ACCOUNT_LIMIT},
	{"latency_ms", SETTING_INT, &runtime.latency_ms, 0, MAX_DELAY_MS},
	{"jitter_ms", SETTING_INT, &runtime.jitter_ms, 0, MAX_DELAY_MS},
	{"stall_ms", SETTING_INT, &runtime.stall_ms, 0, MAX_DELAY_MS},
	{"seed", SETTING_SEED, NULL, 0, INT64_MAX},
};

#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

static const setting *
setting_find(const char *name)
{
	for (size_t i = 0; i < NSETTINGS; i++)
		if (strcmp(settings[i].name, name) == 0)
			return &settings[i];
	return NULL;
}

/*
 * The error answer for a value that is not an integer in a setting's
 * range, worded from the range so that the two cannot disagree.
 */
static void
setting_range_error(const setting *s, char *err, size_t errlen)
{
	if (s->max != INT64_MAX)
		snprintf(err, errlen, "%s must be an integer in %" PRId64 "..%" PRId64,
				 s->name, s->min, s->max);
	else if (s->min == 0)
		snprintf(err, errlen, "%s must be a non-negative integer", s->name);
	else
		snprintf(err, errlen, "%s must be an integer >= %" PRId64,
				 s->name, s->min);
}

/*
 * Adds the kinds of a "faults" value to nf[0..*nnf); 0, or -1 with *err
 * set.  Not a table entry like the others: its value is an object whose
 * keys are fault names and whose values are probabilities, each checked.
 */
static int
parse_faults(struct json_object *v, fault *nf, int *nnf, char *err,
			 size_t errlen)
{
	if (!json_object_is_type(v, json_type_object))
	{
		snprintf(err, errlen, "faults must be an object");
		return -1;
	}
	{
		json_object_object_foreach(v, fk, fv)
		{
			fault		f;
			double		p;

			if (fault_parse_name(fk, &f) != 0)
			{
				snprintf(err, errlen, "unknown fault kind \"%.40s\"", fk);
				return -1;
			}
			if (!json_object_is_type(fv, json_type_double) &&
				!json_object_is_type(fv, json_type_int))
			{
				snprintf(err, errlen, "probability of %s must be a number", fk);
				return -1;
			}
			p = json_object_get_double(fv);
			if (!(p >= 0.0 && p <= 1.0))
			{
				snprintf(err, errlen, "probability of %s must be in 0..1", fk);
				return -1;
			}
			f.prob = p;
			if (fault_set(nf, nnf, &f) != 0)
			{
				snprintf(err, errlen, "too many fault kinds");
				return -1;
			}
		}
	}
	return 0;
}

/*
 * Applies a POST /_imsim/config body.  All or nothing: on error nothing
 * changes and *err says why.  Every value is checked first; the given
 * ones are then stored under one lock.
 */
int
config_apply(const char *body, size_t len, char *err, size_t errlen)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *obj;
	fault		nf[MAX_FAULTS];
	int			nnf = 0;
	int64_t		value[NSETTINGS] = {0};
	int			given[NSETTINGS] = {0};
	int			ok = 0;

	if (tok == NULL)
	{
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	obj = json_tokener_parse_ex(tok, body, (int) len);
	if (obj != NULL)
	{
		size_t		end = json_tokener_get_parse_end(tok);

		while (end < len && (body[end] == ' ' || body[end] == '\t' ||
							 body[end] == '\n' || body[end] == '\r'))
			end++;
		if (end != len)
		{
			json_object_put(obj);
			obj = NULL;
		}
	}
	if (obj == NULL || !json_object_is_type(obj, json_type_object))
	{
		snprintf(err, errlen, "body must be a JSON object");
		goto out;
	}
	{
		json_object_object_foreach(obj, k, v)
		{
			const setting *s = setting_find(k);
			size_t		i;

			if (s == NULL)
			{
				snprintf(err, errlen, "unknown setting \"%.40s\"", k);
				goto out;
			}
			i = (size_t) (s - settings);
			if (s->kind == SETTING_FAULTS)
			{
				if (parse_faults(v, nf, &nnf, err, errlen) != 0)
					goto out;
			}
			else if (s->kind == SETTING_API)
			{
				const char *name = json_object_is_type(v, json_type_string) ?
					json_object_get_string(v) : NULL;
				int			api = name != NULL && name[0] != '\0' ?
					api_find_name(name) : -1;

				value[i] = api;
				if (name == NULL || (name[0] != '\0' && api < 0))
				{
					snprintf(err, errlen, "%s must be \"\", \"%s\", \"%s\" or \"%s\"",
							 s->name, api_name(0), api_name(1), api_name(2));
					goto out;
				}
			}
			else if (!json_get_int(v, s->min, s->max, &value[i]))
			{
				setting_range_error(s, err, errlen);
				goto out;
			}
			given[i] = 1;
		}
	}

	pthread_mutex_lock(&runtime.lock);
	for (size_t i = 0; i < NSETTINGS; i++)
	{
		if (!given[i])
			continue;
		switch (settings[i].kind)
		{
			case SETTING_INT:
			case SETTING_API:
				*settings[i].field = value[i];
				break;
			case SETTING_SEED:
				/* restarts the generators, also when the seed is the same */
				reseed((uint64_t) value[i]);
				break;
			case SETTING_FAULTS:
				memcpy(runtime.faults, nf, sizeof(fault) * (size_t) nnf);
				runtime.nfaults = nnf;
				break;
		}
	}
	pthread_mutex_unlock(&runtime.lock);
	ok = 1;

out:
	if (obj)
		json_object_put(obj);
	json_tokener_free(tok);
	return ok ? 0 : -1;
}
