/*
 * journal.h - how far each mail got, so that a retry never repeats.
 *
 * One entry per message key (its Message-ID, or its digest when it has
 * none) and product, in [journal] dir: a small key file rewritten
 * atomically (temporary file, fsync, rename, fsync of the folder) at
 * every stage boundary.  A lock file beside it (flock) lets one delivery
 * of a mail work while other deliveries of the same mail wait; the lock
 * is released when the process ends, even by kill -9.
 *
 * Stages, in order:
 *   NEW         nothing done
 *   UPLOADING   some uploads done; their keys are recorded one by one
 *   UPLOADED    every upload done
 *   SUBMITTING  Add was sent; no answer recorded yet (if the process
 *               dies now, the next run looks the ticket up first)
 *   CREATED     the ticket exists; its ID is recorded
 *   REPLYING    the reply is being handed to sendmail (if the process
 *               dies now, the reply may have gone: it is not sent
 *               again, since a mail gets at most one reply)
 *   DONE        the reply was sent, or is not wanted
 */
#ifndef M2T_JOURNAL_H
#define M2T_JOURNAL_H

#include <glib.h>

typedef enum {
	JOURNAL_NEW,
	JOURNAL_UPLOADING,
	JOURNAL_UPLOADED,
	JOURNAL_SUBMITTING,
	JOURNAL_CREATED,
	JOURNAL_REPLYING,
	JOURNAL_DONE,
} JournalStage;

typedef struct {
	char *path;		/* the entry file */
	int lock_fd;
	char *key;		/* message key, as given */
	char *product;		/* product label, as given */
	char *digest;		/* the mail's digest, NULL until saved */
	JournalStage stage;
	GHashTable *uploads;	/* file index (as string) -> object key */
	char *ticket_id;	/* NULL until CREATED */
	gint64 submitted;	/* Unix ms of the first Add, 0 if none */
	gint64 last_submitted;	/* Unix ms of the latest Add, 0 if none */
	guint submissions;	/* how many times Add was sent */
	gint64 created;		/* Unix seconds the entry was made */
} Journal;

/*
 * Open (creating DIR and the entry as needed) and lock the entry for
 * KEY and PRODUCT, waiting up to LOCK_WAIT seconds for another delivery
 * of the same mail.  A busy lock or a journal that cannot be written is
 * M2T_ERROR_TEMPFAIL.
 */
Journal *journal_open(const char *dir, const char *key, const char *product,
		      guint lock_wait, GError **error);

/* Write the entry durably; M2T_ERROR_TEMPFAIL when it cannot. */
gboolean journal_save(Journal *journal, GError **error);

/* The object key recorded for file INDEX, or NULL (borrowed). */
const char *journal_upload(const Journal *journal, guint index);

/* Record KEY as the upload of file INDEX (call journal_save after). */
void journal_set_upload(Journal *journal, guint index, const char *key);

/* The stage's name, as written in the entry ("created"). */
const char *journal_stage_name(JournalStage stage);

/*
 * TRUE when ticket ID is recorded in DIR as the ticket of some mail
 * (journal_save records it when the entry has a ticket, and refuses a
 * ticket already recorded for another mail).
 */
gboolean journal_ticket_taken(const char *dir, const char *id);

/* Release the lock and free. */
void journal_close(Journal *journal);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Journal, journal_close)

/*
 * Remove entries older than MAX_AGE days; does the work at most once an
 * hour (a stamp file in DIR says when it last ran).  Returns how many
 * entries were removed.
 */
guint journal_prune(const char *dir, guint max_age);

#endif
