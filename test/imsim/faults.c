/*
 * faults.c - the faults imsim can inject into accepted API calls: their
 * names (as --fault and /_imsim/config give them), the per-call draw, and
 * the ErrorInfo texts of injected ErrorCodes.  What each fault does to the
 * answer is apicall.c's business (with each API's answer builder).
 */
#include "imsim.h"

#include <inttypes.h>
#include <string.h>

/* Parses a fault kind name; 0 on success. */
int
fault_parse_name(const char *name, fault *f)
{
	static const struct
	{
		const char *name;
		fault_kind	kind;
	}			kinds[] = {
		{"http502", FK_HTTP502},
		{"reset", FK_RESET},
		{"stall", FK_STALL},
		{"malformed", FK_MALFORMED},
		{"truncated", FK_TRUNCATED},
		{"missing_item", FK_MISSING_ITEM},
		{"extra_item", FK_EXTRA_ITEM},
	};

	memset(f, 0, sizeof(*f));
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(name, kinds[i].name) == 0)
		{
			f->kind = kinds[i].kind;
			snprintf(f->name, sizeof(f->name), "%s", name);
			return 0;
		}
	if (strncmp(name, "code", 4) == 0)
	{
		uint64_t	code;

		if (!parse_u64(name + 4, strlen(name + 4), &code) || code == 0 ||
			code > INT32_MAX || name[4] == '0')
			return -1;
		f->kind = FK_CODE;
		f->code = (int32_t) code;
		snprintf(f->name, sizeof(f->name), "code%" PRIu64, code);
		return 0;
	}
	return -1;
}

/* Adds or replaces a fault in an array; 0, or -1 when full. */
int
fault_set(fault *arr, int *n, const fault *f)
{
	for (int i = 0; i < *n; i++)
		if (strcmp(arr[i].name, f->name) == 0)
		{
			arr[i].prob = f->prob;
			return 0;
		}
	if (*n >= MAX_FAULTS)
		return -1;
	arr[(*n)++] = *f;
	return 0;
}

/*
 * Draws the fault of one accepted call (caller holds runtime.lock).  Every
 * call takes exactly one number from the fault generator, faulted or not,
 * so that the sequence depends only on the seed and the number of accepted
 * calls; the budget is spent only by a fault actually applied.
 */
fault
fault_draw(void)
{
	fault		none = {.kind = FK_NONE};
	double		u = rng_unit(&runtime.rng_fault);
	double		acc = 0.0;

	for (int i = 0; i < runtime.nfaults; i++)
	{
		acc += runtime.faults[i].prob;
		if (u < acc)
		{
			if (runtime.fault_budget == 0)
				return none;
			if (runtime.fault_budget > 0)
				runtime.fault_budget--;
			return runtime.faults[i];
		}
	}
	return none;
}

/* ErrorInfo texts for the codes a test is likely to inject */
const char *
error_info_for(int32_t code)
{
	switch (code)
	{
		case 60007:
			return "REST API call frequency exceeds the limit. Reduce the call frequency.";
		case 60008:
			return "Service request timed out or HTTP request format error. Try again later.";
		case 60014:
			return "Server busy. Try again later.";
		case 70169:
		case 70202:
			return "Server timeout. Try again later.";
		case 60017:
			return "The request is disabled.";
		case 60025:
			return "The domain name does not match the data center of the SDKAppID.";
		case 60026:
			return "The SDKAppID does not match the data center of the domain name.";
		case 60028:
			return "The daily request volume of the trial edition has reached the limit.";
		case 70050:
			return "UserSig verification failed too many times. Try again later.";
		case 70398:
			return "The number of accounts exceeds the limit. Upgrade the app to create more accounts.";
		case 70402:
			return "Invalid parameters. Make sure that the required fields are all entered and the parameter settings meet the protocol requirements.";
		case 70403:
			return "Request failed. App admin permissions are required to perform this operation.";
		case 70500:
			return "Internal server error. Try again later.";
		default:
			return "imsim injected error";
	}
}
