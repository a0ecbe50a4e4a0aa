/*
 * spool.h - reading the message from the mail server.
 *
 * The message arrives on a pipe, which GMime cannot seek in.  It is
 * copied into an unlinked temporary file, bounded by a maximum size, so
 * that the parser can leave part contents on disk instead of in memory.
 */
#ifndef M2T_SPOOL_H
#define M2T_SPOOL_H

#include <gmime/gmime.h>

/*
 * Copy everything readable from FD into an unlinked file in TMPDIR
 * (NULL: $TMPDIR, else /tmp) and return it as a seekable stream at
 * offset 0.  More than MAX_SIZE bytes fails with M2T_ERROR_DATAERR,
 * after the whole input was consumed (the stream then holds the first
 * MAX_SIZE bytes, for the quarantine copy, in *TRUNCATED).  A write
 * failure (disk full) is M2T_ERROR_TEMPFAIL.
 */
GMimeStream *spool_read(int fd, gsize max_size, const char *tmpdir,
			GMimeStream **truncated, GError **error);

/*
 * Write all LEN bytes of BUF to FD, going on after EINTR and short
 * writes; FALSE with errno set when it cannot.
 */
gboolean spool_write_all(int fd, const char *buf, gsize len);

/* Copy the whole of STREAM to PATH (mode 0600); for the quarantine. */
gboolean spool_save(GMimeStream *stream, const char *path, GError **error);

#endif
