/*
 * usersig.c - TLSSigAPIv2 UserSig generation and decoding.
 *
 * See usersig.h for the format.  Plain C: OpenSSL for HMAC and base64,
 * zlib for deflate/inflate, json-c for the document.
 */
#include "usersig.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <zlib.h>

/* A decoded document is tiny; anything that inflates past this is hostile. */
#define USERSIG_MAX_DOCUMENT 4096

const char *
usersig_status_text(usersig_status status)
{
	switch (status)
	{
		case USERSIG_OK:
			return "ok";
		case USERSIG_EMPTY:
			return "UserSig is empty";
		case USERSIG_BAD_ENCODING:
			return "UserSig is not valid base64";
		case USERSIG_BAD_COMPRESSION:
			return "UserSig does not inflate";
		case USERSIG_BAD_DOCUMENT:
			return "UserSig document is invalid";
		case USERSIG_IDENTIFIER_MISMATCH:
			return "UserSig identifier does not match";
		case USERSIG_SDKAPPID_MISMATCH:
			return "UserSig SDKAppID does not match";
		case USERSIG_EXPIRED:
			return "UserSig has expired";
		case USERSIG_BAD_SIGNATURE:
			return "UserSig signature does not match";
		case USERSIG_NO_MEMORY:
			return "out of memory";
		case USERSIG_INVALID_ARGUMENT:
			return "invalid argument";
	}
	return "unknown status";
}

usersig_status
usersig_hmac_base64(const char *key, size_t key_len,
					const char *identifier, uint64_t sdkappid,
					int64_t time, int64_t expire,
					char out[USERSIG_HMAC_B64_LEN + 1])
{
	char		content[USERSIG_MAX_IDENTIFIER + 160];
	int			content_len;
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int digest_len = 0;

	if (key == NULL || identifier == NULL || out == NULL ||
		strlen(identifier) > USERSIG_MAX_IDENTIFIER)
		return USERSIG_INVALID_ARGUMENT;

	content_len = snprintf(content, sizeof(content),
						   "TLS.identifier:%s\nTLS.sdkappid:%" PRIu64 "\n"
						   "TLS.time:%" PRId64 "\nTLS.expire:%" PRId64 "\n",
						   identifier, sdkappid, time, expire);
	if (content_len < 0 || (size_t) content_len >= sizeof(content))
		return USERSIG_INVALID_ARGUMENT;

	if (HMAC(EVP_sha256(), key, (int) key_len,
			 (const unsigned char *) content, (size_t) content_len,
			 digest, &digest_len) == NULL || digest_len != 32)
		return USERSIG_NO_MEMORY;

	/* 32 bytes encode to exactly 44 base64 characters plus NUL */
	if (EVP_EncodeBlock((unsigned char *) out, digest, (int) digest_len) !=
		USERSIG_HMAC_B64_LEN)
		return USERSIG_NO_MEMORY;
	return USERSIG_OK;
}

usersig_status
usersig_generate(const char *key, size_t key_len,
				 const char *identifier, uint64_t sdkappid,
				 int64_t time, int64_t expire, char **out)
{
	char		sig[USERSIG_HMAC_B64_LEN + 1];
	usersig_status status;
	json_object *doc;
	const char *doc_text;
	size_t		doc_len;
	unsigned char *compressed = NULL;
	uLongf		compressed_len;
	char	   *encoded = NULL;
	int			encoded_len;

	if (out == NULL)
		return USERSIG_INVALID_ARGUMENT;
	*out = NULL;
	/* only what usersig_decode can read back: JSON integers, non-negative */
	if (sdkappid > (uint64_t) INT64_MAX || time < 0 || expire < 0)
		return USERSIG_INVALID_ARGUMENT;
	status = usersig_hmac_base64(key, key_len, identifier, sdkappid,
								 time, expire, sig);
	if (status != USERSIG_OK)
		return status;

	/* json-c keeps insertion order, giving the documented field order */
	doc = json_object_new_object();
	if (doc == NULL)
		return USERSIG_NO_MEMORY;
	json_object_object_add(doc, "TLS.ver", json_object_new_string("2.0"));
	json_object_object_add(doc, "TLS.identifier",
						   json_object_new_string(identifier));
	json_object_object_add(doc, "TLS.sdkappid",
						   json_object_new_uint64(sdkappid));
	json_object_object_add(doc, "TLS.expire", json_object_new_int64(expire));
	json_object_object_add(doc, "TLS.time", json_object_new_int64(time));
	json_object_object_add(doc, "TLS.sig", json_object_new_string(sig));
	doc_text = json_object_to_json_string_length(doc,
												 JSON_C_TO_STRING_PLAIN |
												 JSON_C_TO_STRING_NOSLASHESCAPE,
												 &doc_len);
	if (doc_text == NULL)
	{
		json_object_put(doc);
		return USERSIG_NO_MEMORY;
	}

	compressed_len = compressBound((uLong) doc_len);
	compressed = malloc(compressed_len);
	if (compressed == NULL ||
		compress2(compressed, &compressed_len, (const Bytef *) doc_text,
				  (uLong) doc_len, Z_BEST_COMPRESSION) != Z_OK)
	{
		free(compressed);
		json_object_put(doc);
		return USERSIG_NO_MEMORY;
	}
	json_object_put(doc);

	encoded = malloc(4 * ((compressed_len + 2) / 3) + 1);
	if (encoded == NULL)
	{
		free(compressed);
		return USERSIG_NO_MEMORY;
	}
	encoded_len = EVP_EncodeBlock((unsigned char *) encoded, compressed,
								  (int) compressed_len);
	free(compressed);
	for (int i = 0; i < encoded_len; i++)
	{
		if (encoded[i] == '+')
			encoded[i] = '*';
		else if (encoded[i] == '/')
			encoded[i] = '-';
		else if (encoded[i] == '=')
			encoded[i] = '_';
	}
	*out = encoded;
	return USERSIG_OK;
}

/* Maps a url-safe UserSig character back to its standard base64 value. */
static int
base64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '*' || c == '+')
		return 62;
	if (c == '-' || c == '/')
		return 63;
	return -1;
}

/*
 * Decodes the url-safe base64 text into out (capacity at least 3/4 len).
 * Padding ('_' or '=') is accepted only at the end.  Returns the decoded
 * length or -1.
 */
static long
base64_decode_usersig(const char *text, size_t len, unsigned char *out)
{
	size_t		data_len = len;
	size_t		pad = 0;
	long		n = 0;
	uint32_t	acc = 0;
	int			bits = 0;

	while (data_len > 0 && pad < 2 &&
		   (text[data_len - 1] == '_' || text[data_len - 1] == '='))
	{
		data_len--;
		pad++;
	}
	if (data_len == 0 || (data_len + pad) % 4 == 1)
		return -1;
	if (pad > 0 && (data_len + pad) % 4 != 0)
		return -1;

	for (size_t i = 0; i < data_len; i++)
	{
		int			v = base64_value((unsigned char) text[i]);

		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t) v;
		bits += 6;
		if (bits >= 8)
		{
			bits -= 8;
			out[n++] = (unsigned char) ((acc >> bits) & 0xff);
		}
	}
	return n;
}

/* Reads a JSON integer field that may also arrive as a decimal string. */
static int
read_integer(json_object *doc, const char *name, int64_t *value)
{
	json_object *field;

	if (!json_object_object_get_ex(doc, name, &field))
		return -1;
	if (json_object_is_type(field, json_type_int))
	{
		*value = json_object_get_int64(field);
		return 0;
	}
	if (json_object_is_type(field, json_type_string))
	{
		const char *s = json_object_get_string(field);
		size_t		len = (size_t) json_object_get_string_len(field);
		int64_t		v = 0;

		/* decimal digits only, and no overflow */
		if (len == 0 || len > 18)
			return -1;
		for (size_t i = 0; i < len; i++)
		{
			if (s[i] < '0' || s[i] > '9')
				return -1;
			v = v * 10 + (s[i] - '0');
		}
		*value = v;
		return 0;
	}
	return -1;
}

static int
copy_string_field(json_object *doc, const char *name, char *dest, size_t cap)
{
	json_object *field;
	size_t		len;

	if (!json_object_object_get_ex(doc, name, &field) ||
		!json_object_is_type(field, json_type_string))
		return -1;
	len = (size_t) json_object_get_string_len(field);
	if (len >= cap)
		return -1;
	memcpy(dest, json_object_get_string(field), len);
	dest[len] = '\0';
	/* an embedded NUL would make any comparison of it lie */
	return strlen(dest) == len ? 0 : -1;
}

usersig_status
usersig_decode(const char *usersig, size_t len, usersig_document *doc)
{
	unsigned char *compressed;
	long		compressed_len;
	unsigned char document[USERSIG_MAX_DOCUMENT + 1];
	z_stream	zs;
	int			zrc;
	json_tokener *tok;
	json_object *root;
	int64_t		sdkappid;

	if (doc == NULL)
		return USERSIG_INVALID_ARGUMENT;
	memset(doc, 0, sizeof(*doc));
	if (usersig == NULL || len == 0)
		return USERSIG_EMPTY;
	if (len > USERSIG_MAX_ENCODED)
		return USERSIG_BAD_ENCODING;

	compressed = malloc(len);
	if (compressed == NULL)
		return USERSIG_NO_MEMORY;
	compressed_len = base64_decode_usersig(usersig, len, compressed);
	if (compressed_len <= 0)
	{
		free(compressed);
		return USERSIG_BAD_ENCODING;
	}

	memset(&zs, 0, sizeof(zs));
	if (inflateInit(&zs) != Z_OK)
	{
		free(compressed);
		return USERSIG_NO_MEMORY;
	}
	zs.next_in = compressed;
	zs.avail_in = (uInt) compressed_len;
	zs.next_out = document;
	zs.avail_out = USERSIG_MAX_DOCUMENT;
	zrc = inflate(&zs, Z_FINISH);
	inflateEnd(&zs);
	free(compressed);
	/* one complete zlib stream and nothing after it */
	if (zrc != Z_STREAM_END || zs.avail_in != 0)
		return USERSIG_BAD_COMPRESSION;
	document[zs.total_out] = '\0';

	tok = json_tokener_new();
	if (tok == NULL)
		return USERSIG_NO_MEMORY;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	root = json_tokener_parse_ex(tok, (const char *) document,
								 (int) zs.total_out);
	if (root == NULL || json_tokener_get_error(tok) != json_tokener_success ||
		json_tokener_get_parse_end(tok) != zs.total_out ||
		!json_object_is_type(root, json_type_object))
	{
		json_object_put(root);
		json_tokener_free(tok);
		return USERSIG_BAD_DOCUMENT;
	}
	json_tokener_free(tok);

	if (copy_string_field(root, "TLS.ver", doc->version,
						  sizeof(doc->version)) != 0 ||
		copy_string_field(root, "TLS.identifier", doc->identifier,
						  sizeof(doc->identifier)) != 0 ||
		copy_string_field(root, "TLS.sig", doc->sig, sizeof(doc->sig)) != 0 ||
		read_integer(root, "TLS.sdkappid", &sdkappid) != 0 ||
		read_integer(root, "TLS.time", &doc->time) != 0 ||
		read_integer(root, "TLS.expire", &doc->expire) != 0 ||
		sdkappid < 0 || doc->time < 0 || doc->expire < 0 ||
		strcmp(doc->version, "2.0") != 0)
	{
		json_object_put(root);
		return USERSIG_BAD_DOCUMENT;
	}
	doc->sdkappid = (uint64_t) sdkappid;
	json_object_put(root);
	return USERSIG_OK;
}
