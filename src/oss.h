/*
 * oss.h - uploading one attachment to OSS with a PostObject form.
 *
 * The form carries key, OSSAccessKeyId, policy, Signature (as
 * getOSSTempAuthor gave them), success_action_status, and the file last.
 * The key is the authorisation's dir joined with the safe file name
 * without a doubled "/".  "Policy expired" is M2T_ERROR_EXPIRED; HTTP
 * 5xx and network failures M2T_ERROR_TEMPFAIL; any other refusal
 * M2T_ERROR_TEMPFAIL too (an OSS failure is retried, DESIGN.md).
 */
#ifndef M2T_OSS_H
#define M2T_OSS_H

#include "api.h"

/* The object key for NAME under AUTH's dir (owned). */
char *oss_object_key(const OssAuth *auth, const char *name);

/* Upload DATA as KEY; TRUE on success. */
gboolean oss_upload(const OssAuth *auth, const char *key,
		    const char *content_type, GBytes *data, guint timeout,
		    GError **error);

#endif
