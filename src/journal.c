/*
 * journal.c - the per-mail progress record (see journal.h).
 *
 * Entry points: journal_open(), journal_save(), journal_upload(),
 * journal_set_upload(), journal_stage_name(), journal_close(),
 * journal_ticket_taken(), journal_prune().
 *
 * File names are the hex SHA-256 of "KEY\nPRODUCT", so that any
 * Message-ID, however odd, makes a safe name: NAME.entry holds the
 * record (a GKeyFile), NAME.lock is only ever locked, never written.
 * Each recorded ticket also gets HASH.claim (HASH: the SHA-256 of its
 * ID), holding the entry's name, so that the lost-answer lookup of
 * another mail never adopts it; it is made with link(2), so that only
 * one mail can ever hold it.
 *
 * Known limit: flock(2) locks are not shared over NFS on every system;
 * keep the journal on a local disk.
 */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "error.h"
#include "journal.h"
#include "log.h"
#include "spool.h"

#define GROUP "entry"
#define PRUNE_STAMP ".pruned"
#define PRUNE_INTERVAL (60 * 60)	/* seconds */

static const char *const stage_names[] = {
	[JOURNAL_NEW] = "new",
	[JOURNAL_UPLOADING] = "uploading",
	[JOURNAL_UPLOADED] = "uploaded",
	[JOURNAL_SUBMITTING] = "submitting",
	[JOURNAL_CREATED] = "created",
	[JOURNAL_REPLYING] = "replying",
	[JOURNAL_DONE] = "done",
};

/* The stage's name, as written in the entry ("created"). */
const char *
journal_stage_name(JournalStage stage)
{
	return stage_names[stage];
}

/* The stage called NAME; FALSE when there is none. */
static gboolean
stage_from_name(const char *name, JournalStage *stage)
{
	for (gsize i = 0; i < G_N_ELEMENTS(stage_names); i++)
		if (name != NULL && strcmp(name, stage_names[i]) == 0) {
			*stage = (JournalStage) i;
			return TRUE;
		}
	return FALSE;
}

/* Set ERROR to a temporary failure about the journal. */
G_GNUC_PRINTF(2, 3) static void
journal_fail(GError **error, const char *format, ...)
{
	va_list args;
	g_autofree char *what = NULL;

	va_start(args, format);
	what = g_strdup_vprintf(format, args);
	va_end(args);
	g_set_error(error, M2T_ERROR, M2T_ERROR_TEMPFAIL, "journal: %s",
		    what);
}

/* Take the lock on PATH, waiting up to WAIT seconds; -1 on failure. */
static int
lock_entry(const char *path, guint wait, GError **error)
{
	gint64 deadline = g_get_monotonic_time() + wait * G_USEC_PER_SEC;
	gulong pause = 20000;

	for (;;) {
		struct stat st;
		int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

		if (fd < 0) {
			journal_fail(error, "cannot open %s: %s", path,
				     g_strerror(errno));
			return -1;
		}
		while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
			if (errno != EWOULDBLOCK && errno != EINTR) {
				journal_fail(error, "cannot lock %s: %s", path,
					     g_strerror(errno));
				close(fd);
				return -1;
			}
			if (g_get_monotonic_time() >= deadline) {
				journal_fail(error, "another delivery of this "
					     "mail is in progress");
				close(fd);
				return -1;
			}
			g_usleep(pause);
			pause = MIN(pause * 2, 250000);
		}
		/* journal_prune() may have removed the file while we
		 * waited: a lock on a removed file protects nothing. */
		if (fstat(fd, &st) == 0 && st.st_nlink > 0)
			return fd;
		close(fd);
	}
}

/* Read the entry at JOURNAL->path, if there is one. */
static gboolean
load_entry(Journal *journal, GError **error)
{
	g_autoptr(GKeyFile) file = g_key_file_new();
	g_autoptr(GError) local = NULL;
	g_auto(GStrv) keys = NULL;
	g_autofree char *stage = NULL;

	if (!g_key_file_load_from_file(file, journal->path, G_KEY_FILE_NONE,
				       &local)) {
		if (g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
			return TRUE;
		g_set_error(error, M2T_ERROR, M2T_ERROR_OPERATOR,
			    "journal entry %s is damaged (%s): inspect it",
			    journal->path, local->message);
		return FALSE;
	}
	stage = g_key_file_get_string(file, GROUP, "stage", NULL);
	if (!stage_from_name(stage, &journal->stage)) {
		g_set_error(error, M2T_ERROR, M2T_ERROR_OPERATOR,
			    "journal entry %s has no valid stage: inspect it",
			    journal->path);
		return FALSE;
	}
	journal->digest = g_key_file_get_string(file, GROUP, "digest", NULL);
	journal->ticket_id = g_key_file_get_string(file, GROUP, "ticket",
						   NULL);
	journal->submitted = g_key_file_get_int64(file, GROUP, "submitted",
						  NULL);
	journal->last_submitted = g_key_file_get_int64(file, GROUP,
						       "last_submitted", NULL);
	journal->submissions = g_key_file_get_integer(file, GROUP,
						      "submissions", NULL);
	journal->created = g_key_file_get_int64(file, GROUP, "created", NULL);

	keys = g_key_file_get_keys(file, GROUP, NULL, NULL);
	for (char **k = keys; k != NULL && *k != NULL; k++) {
		if (!g_str_has_prefix(*k, "upload."))
			continue;
		g_hash_table_insert(journal->uploads,
				    g_strdup(*k + strlen("upload.")),
				    g_key_file_get_string(file, GROUP, *k,
							  NULL));
	}
	return TRUE;
}

/* Open and lock the entry for KEY and PRODUCT; see journal.h. */
Journal *
journal_open(const char *dir, const char *key, const char *product,
	     guint lock_wait, GError **error)
{
	g_autoptr(Journal) journal = g_new0(Journal, 1);
	g_autofree char *joined = g_strdup_printf("%s\n%s", key, product);
	g_autofree char *name = g_compute_checksum_for_string(
		G_CHECKSUM_SHA256, joined, -1);
	g_autofree char *lock_name = g_strconcat(name, ".lock", NULL);
	g_autofree char *entry_name = g_strconcat(name, ".entry", NULL);
	g_autofree char *lock_path = g_build_filename(dir, lock_name, NULL);

	journal->lock_fd = -1;
	journal->key = g_strdup(key);
	journal->product = g_strdup(product);
	journal->path = g_build_filename(dir, entry_name, NULL);
	journal->uploads = g_hash_table_new_full(g_str_hash, g_str_equal,
						 g_free, g_free);

	if (g_mkdir_with_parents(dir, 0700) != 0) {
		journal_fail(error, "cannot create %s: %s", dir,
			     g_strerror(errno));
		return NULL;
	}
	journal->lock_fd = lock_entry(lock_path, lock_wait, error);
	if (journal->lock_fd < 0)
		return NULL;
	if (!load_entry(journal, error))
		return NULL;
	if (journal->created == 0)
		journal->created = g_get_real_time() / G_USEC_PER_SEC;
	return g_steal_pointer(&journal);
}

/* fsync the folder DIR, so that a rename or link in it survives a
 * crash. */
static gboolean
sync_dir(const char *dir, GError **error)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	gboolean ok = fd >= 0 && fsync(fd) == 0;

	if (!ok)
		journal_fail(error, "cannot sync %s: %s", dir,
			     g_strerror(errno));
	if (fd >= 0)
		close(fd);
	return ok;
}

/* Write DATA to the new file PATH and fsync it. */
static gboolean
write_synced(const char *path, const char *data, gsize len, GError **error)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0) {
		journal_fail(error, "cannot write %s: %s", path,
			     g_strerror(errno));
		return FALSE;
	}
	if (!spool_write_all(fd, data, len) || fsync(fd) != 0) {
		journal_fail(error, "cannot write %s: %s", path,
			     g_strerror(errno));
		close(fd);
		g_unlink(path);
		return FALSE;
	}
	close(fd);
	return TRUE;
}

/* Write DATA to PATH durably: temporary file, fsync, rename, fsync. */
static gboolean
write_durably(const char *path, const char *data, gsize len,
	      GError **error)
{
	g_autofree char *tmp = g_strdup_printf("%s.%d.tmp", path,
					       (int) getpid());
	g_autofree char *dir = g_path_get_dirname(path);

	if (!write_synced(tmp, data, len, error))
		return FALSE;
	if (rename(tmp, path) != 0) {
		journal_fail(error, "cannot rename %s: %s", tmp,
			     g_strerror(errno));
		g_unlink(tmp);
		return FALSE;
	}
	return sync_dir(dir, error);
}

/* The claim file of ticket ID in DIR (owned). */
static char *
claim_path(const char *dir, const char *id)
{
	g_autofree char *hash =
		g_compute_checksum_for_string(G_CHECKSUM_SHA256, id, -1);
	g_autofree char *name = g_strconcat(hash, ".claim", NULL);

	return g_build_filename(dir, name, NULL);
}

/* Refuse the claim at PATH on ID unless OWNER holds it. */
static gboolean
check_claim(const char *path, const char *id, const char *owner,
	    GError **error)
{
	g_autofree char *holder = NULL;

	if (!g_file_get_contents(path, &holder, NULL, NULL)) {
		journal_fail(error, "cannot read the claim on ticket %s", id);
		return FALSE;
	}
	if (strcmp(holder, owner) != 0) {
		journal_fail(error, "ticket %s is recorded for another mail",
			     id);
		return FALSE;
	}
	return TRUE;
}

/*
 * Record that JOURNAL's ticket belongs to its mail.  link(2) creates
 * the claim only if there is none, so that of two lost-answer lookups
 * that picked the same ticket at once, one wins and the other fails.
 */
static gboolean
claim_ticket(const Journal *journal, GError **error)
{
	g_autofree char *dir = g_path_get_dirname(journal->path);
	g_autofree char *path = claim_path(dir, journal->ticket_id);
	g_autofree char *owner = g_path_get_basename(journal->path);
	g_autofree char *tmp = g_strdup_printf("%s.%d.tmp", path,
					       (int) getpid());
	int link_errno;

	if (g_file_test(path, G_FILE_TEST_EXISTS))
		return check_claim(path, journal->ticket_id, owner, error);
	if (!write_synced(tmp, owner, strlen(owner), error))
		return FALSE;
	link_errno = link(tmp, path) == 0 ? 0 : errno;
	g_unlink(tmp);
	if (link_errno == EEXIST)
		return check_claim(path, journal->ticket_id, owner, error);
	if (link_errno != 0) {
		journal_fail(error, "cannot write %s: %s", path,
			     g_strerror(link_errno));
		return FALSE;
	}
	return sync_dir(dir, error);
}

/* TRUE when ticket ID is recorded in DIR as the ticket of some mail. */
gboolean
journal_ticket_taken(const char *dir, const char *id)
{
	g_autofree char *path = claim_path(dir, id);

	return g_file_test(path, G_FILE_TEST_EXISTS);
}

/* Write the entry durably; M2T_ERROR_TEMPFAIL when it cannot. */
gboolean
journal_save(Journal *journal, GError **error)
{
	g_autoptr(GKeyFile) file = g_key_file_new();
	g_autofree char *data = NULL;
	GHashTableIter iter;
	gpointer index, key;
	gsize len;

	g_key_file_set_string(file, GROUP, "key", journal->key);
	g_key_file_set_string(file, GROUP, "product", journal->product);
	if (journal->digest != NULL)
		g_key_file_set_string(file, GROUP, "digest", journal->digest);
	g_key_file_set_string(file, GROUP, "stage",
			      journal_stage_name(journal->stage));
	g_key_file_set_int64(file, GROUP, "created", journal->created);
	g_key_file_set_int64(file, GROUP, "updated",
			     g_get_real_time() / G_USEC_PER_SEC);
	if (journal->ticket_id != NULL)
		g_key_file_set_string(file, GROUP, "ticket",
				      journal->ticket_id);
	if (journal->submitted != 0)
		g_key_file_set_int64(file, GROUP, "submitted",
				     journal->submitted);
	if (journal->last_submitted != 0)
		g_key_file_set_int64(file, GROUP, "last_submitted",
				     journal->last_submitted);
	if (journal->submissions != 0)
		g_key_file_set_integer(file, GROUP, "submissions",
				       journal->submissions);
	g_hash_table_iter_init(&iter, journal->uploads);
	while (g_hash_table_iter_next(&iter, &index, &key)) {
		g_autofree char *name = g_strdup_printf("upload.%s",
							(char *) index);

		g_key_file_set_string(file, GROUP, name, key);
	}

	/* The claim first: a ticket recorded without it could be
	 * adopted by another mail's lookup. */
	if (journal->ticket_id != NULL && !claim_ticket(journal, error))
		return FALSE;
	data = g_key_file_to_data(file, &len, NULL);
	return write_durably(journal->path, data, len, error);
}

/* The object key recorded for file INDEX, or NULL (borrowed). */
const char *
journal_upload(const Journal *journal, guint index)
{
	g_autofree char *name = g_strdup_printf("%u", index);

	return g_hash_table_lookup(journal->uploads, name);
}

/* Record KEY as the upload of file INDEX (call journal_save after). */
void
journal_set_upload(Journal *journal, guint index, const char *key)
{
	g_hash_table_insert(journal->uploads, g_strdup_printf("%u", index),
			    g_strdup(key));
}

/* Release the lock and free. */
void
journal_close(Journal *journal)
{
	if (journal == NULL)
		return;
	if (journal->lock_fd >= 0)
		close(journal->lock_fd);	/* releases the flock */
	g_free(journal->path);
	g_free(journal->key);
	g_free(journal->product);
	g_free(journal->digest);
	g_free(journal->ticket_id);
	if (journal->uploads != NULL)
		g_hash_table_unref(journal->uploads);
	g_free(journal);
}

/* TRUE when the prune stamp in DIR is older than PRUNE_INTERVAL. */
static gboolean
prune_due(const char *dir)
{
	g_autofree char *stamp = g_build_filename(dir, PRUNE_STAMP, NULL);
	struct stat st;
	int fd;

	if (stat(stamp, &st) == 0 && time(NULL) - st.st_mtime < PRUNE_INTERVAL)
		return FALSE;
	fd = open(stamp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return FALSE;
	close(fd);
	return TRUE;
}

/* Remove the entry NAME.entry and its lock if nobody holds the lock. */
static gboolean
remove_entry(const char *dir, const char *entry_name)
{
	gsize stem = strlen(entry_name) - strlen(".entry");
	g_autofree char *base = g_strndup(entry_name, stem);
	g_autofree char *lock_name = g_strconcat(base, ".lock", NULL);
	g_autofree char *lock = g_build_filename(dir, lock_name, NULL);
	g_autofree char *entry = g_build_filename(dir, entry_name, NULL);
	int fd = open(lock, O_RDWR | O_CLOEXEC);
	gboolean removed = FALSE;

	if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) != 0) {
		close(fd);	/* a delivery is using it: leave it */
		return FALSE;
	}
	removed = g_unlink(entry) == 0;
	if (fd >= 0) {
		g_unlink(lock);
		close(fd);
	}
	return removed;
}

/* Remove entries older than MAX_AGE days; see journal.h. */
guint
journal_prune(const char *dir, guint max_age)
{
	g_autoptr(GDir) folder = NULL;
	time_t cutoff = time(NULL) - (time_t) max_age * 24 * 60 * 60;
	const char *name;
	guint removed = 0;

	if (!prune_due(dir))
		return 0;
	folder = g_dir_open(dir, 0, NULL);
	if (folder == NULL)
		return 0;
	while ((name = g_dir_read_name(folder)) != NULL) {
		g_autofree char *path = g_build_filename(dir, name, NULL);
		struct stat st;

		if (stat(path, &st) != 0 || st.st_mtime >= cutoff)
			continue;
		if (g_str_has_suffix(name, ".entry"))
			removed += remove_entry(dir, name);
		else if (g_str_has_suffix(name, ".claim") ||
			 g_str_has_suffix(name, ".tmp"))
			g_unlink(path);	/* an old claim, or left by a crash */
	}
	if (removed > 0)
		log_info("journal: removed %u entries older than %u days",
			 removed, max_age);
	return removed;
}
