/*
 * spool.c - the message from the mail server, copied to a private file.
 *
 * Entry points: spool_read() drains a file descriptor (the MTA's pipe)
 * into an unlinked temporary file and hands it back as a seekable GMime
 * stream; spool_save() copies such a stream to a named file for the
 * quarantine.
 *
 * Limits: the input is always read to its end, even past the maximum
 * size, so that the mail server never sees a broken pipe; only the
 * first max_size bytes are stored.  The temporary file lives in one
 * directory and is gone as soon as the stream is closed.
 */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "error.h"
#include "spool.h"

#define SPOOL_CHUNK 65536

/* An unlinked, private, close-on-exec file in DIR; -1 on failure. */
static int
open_unlinked(const char *dir, GError **error)
{
	g_autofree char *template = g_build_filename(dir, "m2t-XXXXXX",
						     NULL);
	int fd = g_mkstemp_full(template, O_RDWR | O_CLOEXEC, 0600);

	if (fd < 0) {
		int saved = errno;

		g_set_error(error, M2T_ERROR, M2T_ERROR_TEMPFAIL,
			    "cannot create a temporary file in %s: %s", dir,
			    g_strerror(saved));
		return -1;
	}
	/* Nobody else needs the name, and no crash can leave it behind. */
	(void) g_unlink(template);
	return fd;
}

/* Write all LEN bytes of BUF to FD; see spool.h. */
gboolean
spool_write_all(int fd, const char *buf, gsize len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return FALSE;
		if (n == 0) {
			errno = EIO;
			return FALSE;
		}
		buf += n;
		len -= (gsize) n;
	}
	return TRUE;
}

/* FD as a GMime stream that owns it, positioned at offset 0. */
static GMimeStream *
stream_at_start(int fd)
{
	GMimeStream *stream;

	(void) lseek(fd, 0, SEEK_SET);
	stream = g_mime_stream_fs_new(fd);
	g_mime_stream_fs_set_owner(GMIME_STREAM_FS(stream), TRUE);
	return stream;
}

/* Copy everything readable from FD into an unlinked temporary file. */
GMimeStream *
spool_read(int fd, gsize max_size, const char *tmpdir,
	   GMimeStream **truncated, GError **error)
{
	g_autofree char *buf = g_malloc(SPOOL_CHUNK);
	const char *dir = tmpdir;
	guint64 total = 0;
	gsize stored = 0;
	int out;

	g_return_val_if_fail(fd >= 0, NULL);

	if (truncated != NULL)
		*truncated = NULL;
	if (dir == NULL || *dir == '\0')
		dir = g_getenv("TMPDIR");
	if (dir == NULL || *dir == '\0')
		dir = "/tmp";
	out = open_unlinked(dir, error);
	if (out < 0)
		return NULL;

	/* Read to the end; store only what fits under the limit. */
	for (;;) {
		ssize_t n = read(fd, buf, SPOOL_CHUNK);
		gsize keep;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int saved = errno;

			g_set_error(error, M2T_ERROR, M2T_ERROR_TEMPFAIL,
				    "cannot read the message: %s",
				    g_strerror(saved));
			close(out);
			return NULL;
		}
		if (n == 0)
			break;
		total += (guint64) n;
		keep = MIN((gsize) n, max_size - stored);
		if (keep > 0 && !spool_write_all(out, buf, keep)) {
			int saved = errno;

			g_set_error(error, M2T_ERROR, M2T_ERROR_TEMPFAIL,
				    "cannot spool the message in %s: %s",
				    dir, g_strerror(saved));
			close(out);
			return NULL;
		}
		stored += keep;
	}

	/* Too big: a permanent failure, with the head kept for the
	 * quarantine copy. */
	if (total > max_size) {
		g_set_error(error, M2T_ERROR, M2T_ERROR_DATAERR,
			    "message too large (%" G_GUINT64_FORMAT
			    " bytes, the limit is %" G_GSIZE_FORMAT ")",
			    total, max_size);
		if (truncated != NULL)
			*truncated = stream_at_start(out);
		else
			close(out);
		return NULL;
	}
	return stream_at_start(out);
}

/* Copy STREAM, from its start, to the open file OUT. */
static gboolean
copy_stream(GMimeStream *stream, int out, const char *path,
	    GError **error)
{
	g_autofree char *buf = g_malloc(SPOOL_CHUNK);

	if (g_mime_stream_reset(stream) < 0) {
		g_set_error(error, M2T_ERROR, M2T_ERROR_TEMPFAIL,
			    "cannot rewind the spooled message");
		return FALSE;
	}
	for (;;) {
		ssize_t n = g_mime_stream_read(stream, buf, SPOOL_CHUNK);

		if (n < 0) {
			g_set_error(error, M2T_ERROR, M2T_ERROR_TEMPFAIL,
				    "cannot read the spooled message");
			return FALSE;
		}
		if (n == 0)
			break;
		if (!spool_write_all(out, buf, (gsize) n)) {
			int saved = errno;

			g_set_error(error, M2T_ERROR, M2T_ERROR_TEMPFAIL,
				    "cannot write %s: %s", path,
				    g_strerror(saved));
			return FALSE;
		}
	}
	if (fsync(out) != 0) {
		int saved = errno;

		g_set_error(error, M2T_ERROR, M2T_ERROR_TEMPFAIL,
			    "cannot write %s: %s", path, g_strerror(saved));
		return FALSE;
	}
	return TRUE;
}

/* Copy the whole of STREAM to PATH (mode 0600), atomically. */
gboolean
spool_save(GMimeStream *stream, const char *path, GError **error)
{
	g_autofree char *temp = NULL;
	int out;

	g_return_val_if_fail(GMIME_IS_STREAM(stream), FALSE);
	g_return_val_if_fail(path != NULL, FALSE);

	temp = g_strconcat(path, ".tmp-XXXXXX", NULL);
	out = g_mkstemp_full(temp, O_WRONLY | O_CLOEXEC, 0600);
	if (out < 0) {
		int saved = errno;

		g_set_error(error, M2T_ERROR, M2T_ERROR_TEMPFAIL,
			    "cannot create %s: %s", temp, g_strerror(saved));
		return FALSE;
	}
	if (!copy_stream(stream, out, path, error)) {
		close(out);
		(void) g_unlink(temp);
		return FALSE;
	}
	if (close(out) != 0 || g_rename(temp, path) != 0) {
		int saved = errno;

		g_set_error(error, M2T_ERROR, M2T_ERROR_TEMPFAIL,
			    "cannot write %s: %s", path, g_strerror(saved));
		(void) g_unlink(temp);
		return FALSE;
	}
	return TRUE;
}
