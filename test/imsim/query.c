/*
 * query.c - the query-string checks every imsim API shares (checks 1-13
 * of README.md, in the service's order): SDKAppID, identifier, UserSig,
 * random, contenttype, App admin.  They run when the headers arrive; the
 * rest of a call is apicall.c's.
 */
#include "imsim.h"

#include <string.h>
#include <time.h>

/* A query parameter (URL-decoded, the first when repeated); 0 if absent. */
static int
lookup_arg(struct MHD_Connection *conn, const char *name, const char **v,
		   size_t *len)
{
	*v = NULL;
	*len = 0;
	if (MHD_lookup_connection_value_n(conn, MHD_GET_ARGUMENT_KIND, name,
									  strlen(name), v, len) != MHD_YES ||
		*v == NULL)
	{
		*v = NULL;
		return 0;
	}
	return 1;
}

/* The query-string checks, in the service's order; sets rc->fail_*. */
void
check_query(struct MHD_Connection *conn, req_ctx *rc)
{
	const char *v,
			   *ident,
			   *sig;
	size_t		len,
				ident_len,
				sig_len;
	uint64_t	appid,
				rnd;
	usersig_status s;

	if (!lookup_arg(conn, "sdkappid", &v, &len) || len == 0)
	{
		rc->fail_code = 60012;
		rc->fail_info = "SDKAppID is missing in the request URL";
		return;
	}
	if (!parse_u64(v, len, &appid) || appid != fixed.sdkappid)
	{
		rc->fail_code = 70020;
		rc->fail_info = "SDKAppID not found";
		return;
	}
	if (!lookup_arg(conn, "identifier", &ident, &ident_len) || ident_len == 0)
	{
		rc->fail_code = 60004;
		rc->fail_info = "identifier is missing in the request URL";
		return;
	}
	if (!lookup_arg(conn, "usersig", &sig, &sig_len) || sig_len == 0)
	{
		rc->fail_code = 70002;
		rc->fail_info = "UserSig is empty";
		return;
	}
	s = verify_usersig(sig, sig_len, ident, ident_len, appid, (int64_t) time(NULL));
	switch (s)
	{
		case USERSIG_OK:
			break;
		case USERSIG_EMPTY:
			rc->fail_code = 70002;
			rc->fail_info = "UserSig is empty";
			return;
		case USERSIG_IDENTIFIER_MISMATCH:
			rc->fail_code = 70013;
			rc->fail_info = "identifier in the request URL does not match the UserSig";
			return;
		case USERSIG_SDKAPPID_MISMATCH:
			rc->fail_code = 70014;
			rc->fail_info = "SDKAppID in the request URL does not match the UserSig";
			return;
		case USERSIG_EXPIRED:
			rc->fail_code = 70001;
			rc->fail_info = "UserSig has expired";
			return;
		case USERSIG_BAD_SIGNATURE:
			rc->fail_code = 70009;
			rc->fail_info = "UserSig verification failed: the signature does not match the secret key";
			return;
		case USERSIG_NO_MEMORY:
			rc->fail_code = 70500;
			rc->fail_info = "Internal server error. Try again later.";
			return;
		default:				/* undecodable */
			rc->fail_code = 70003;
			rc->fail_info = "UserSig check failed: it cannot be decoded";
			return;
	}
	if (!lookup_arg(conn, "random", &v, &len) || !parse_u64(v, len, &rnd) ||
		rnd > UINT32_MAX)
	{
		rc->fail_code = 60002;
		rc->fail_info = "random must be an integer in 0..4294967295";
		return;
	}
	if (!lookup_arg(conn, "contenttype", &v, &len) || len != 4 ||
		memcmp(v, "json", 4) != 0)
	{
		rc->fail_code = 60002;
		rc->fail_info = "contenttype must be json";
		return;
	}
	if (ident_len != fixed.identifier_len ||
		memcmp(ident, fixed.identifier, ident_len) != 0)
	{
		rc->fail_code = 70403;
		rc->fail_info = error_info_for(70403);
		return;
	}
}
