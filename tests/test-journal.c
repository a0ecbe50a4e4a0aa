/*
 * test-journal.c - the per-mail progress record: reload, locking
 * between processes, pruning.
 */
#include "autoconfig.h"

#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <utime.h>

#include <glib/gstdio.h>

#include "error.h"
#include "journal.h"

static char *tmpdir;

/* A fresh journal folder for one test (owned). */
static char *
fresh_dir(const char *name)
{
	return g_build_filename(tmpdir, name, NULL);
}

/* What is saved comes back, stage by stage, uploads and ticket too. */
static void
test_save_and_reload(void)
{
	g_autofree char *dir = fresh_dir("reload");
	g_autoptr(GError) error = NULL;
	Journal *j;

	j = journal_open(dir, "message-id:a@b", "product:12", 0, &error);
	g_assert_no_error(error);
	g_assert_cmpint(j->stage, ==, JOURNAL_NEW);
	journal_set_upload(j, 0, "pop_temp1/a.png");
	journal_set_upload(j, 2, "pop_temp1/c.pdf");
	j->stage = JOURNAL_UPLOADED;
	g_assert_true(journal_save(j, &error));
	journal_close(j);

	j = journal_open(dir, "message-id:a@b", "product:12", 0, &error);
	g_assert_no_error(error);
	g_assert_cmpint(j->stage, ==, JOURNAL_UPLOADED);
	g_assert_cmpstr(journal_upload(j, 0), ==, "pop_temp1/a.png");
	g_assert_null(journal_upload(j, 1));
	g_assert_cmpstr(journal_upload(j, 2), ==, "pop_temp1/c.pdf");
	j->stage = JOURNAL_SUBMITTING;
	j->submitted = 1733300000123;
	j->submissions = 1;
	g_assert_true(journal_save(j, &error));
	j->stage = JOURNAL_CREATED;
	j->ticket_id = g_strdup("8MABCDUY");
	g_assert_true(journal_save(j, &error));
	journal_close(j);

	j = journal_open(dir, "message-id:a@b", "product:12", 0, &error);
	g_assert_cmpint(j->stage, ==, JOURNAL_CREATED);
	g_assert_cmpstr(j->ticket_id, ==, "8MABCDUY");
	g_assert_cmpint(j->submitted, ==, 1733300000123);
	g_assert_cmpuint(j->submissions, ==, 1);
	j->stage = JOURNAL_REPLYING;
	j->last_submitted = 1733300000456;
	g_assert_true(journal_save(j, &error));
	journal_close(j);

	j = journal_open(dir, "message-id:a@b", "product:12", 0, &error);
	g_assert_cmpint(j->stage, ==, JOURNAL_REPLYING);
	g_assert_cmpint(j->last_submitted, ==, 1733300000456);
	journal_close(j);

	/* Another product is another entry. */
	j = journal_open(dir, "message-id:a@b", "product:13", 0, &error);
	g_assert_cmpint(j->stage, ==, JOURNAL_NEW);
	journal_close(j);
}

/* A ticket recorded for one mail cannot be recorded for another. */
static void
test_claim_is_exclusive(void)
{
	g_autofree char *dir = fresh_dir("claim");
	g_autoptr(GError) error = NULL;
	Journal *a = journal_open(dir, "message-id:a@b", "p", 0, &error);
	Journal *b = journal_open(dir, "message-id:b@b", "p", 0, &error);

	g_assert_no_error(error);
	a->stage = b->stage = JOURNAL_CREATED;
	a->ticket_id = g_strdup("T1");
	b->ticket_id = g_strdup("T1");
	g_assert_true(journal_save(a, &error));
	g_assert_true(journal_ticket_taken(dir, "T1"));
	g_assert_false(journal_save(b, &error));
	g_assert_error(error, M2T_ERROR, M2T_ERROR_TEMPFAIL);
	g_clear_error(&error);

	/* Its own claim does not stop the owner saving again. */
	a->stage = JOURNAL_DONE;
	g_assert_true(journal_save(a, &error));
	journal_close(a);
	journal_close(b);
	b = journal_open(dir, "message-id:b@b", "p", 0, &error);
	g_assert_cmpint(b->stage, ==, JOURNAL_NEW);
	journal_close(b);
}

/* A second opener waits for the lock, and gives up after lock_wait. */
static void
test_lock_busy(void)
{
	g_autofree char *dir = fresh_dir("busy");
	g_autoptr(GError) error = NULL;
	Journal *held;
	pid_t child;
	int status;

	held = journal_open(dir, "k", "p", 0, &error);
	g_assert_no_error(error);
	child = fork();
	if (child == 0) {
		GError *e = NULL;
		Journal *j = journal_open(dir, "k", "p", 1, &e);

		_exit(j == NULL &&
		      g_error_matches(e, M2T_ERROR, M2T_ERROR_TEMPFAIL) &&
		      strstr(e->message, "in progress") ? 0 : 1);
	}
	g_assert_cmpint(waitpid(child, &status, 0), ==, child);
	g_assert_true(WIFEXITED(status));
	g_assert_cmpint(WEXITSTATUS(status), ==, 0);
	journal_close(held);
}

/* Eight processes on one entry: each sees the previous one's work. */
static void
test_concurrent_processes(void)
{
	g_autofree char *dir = fresh_dir("concurrent");
	g_autoptr(GError) error = NULL;
	pid_t children[8];
	Journal *j;

	for (int i = 0; i < 8; i++) {
		children[i] = fork();
		if (children[i] == 0) {
			GError *e = NULL;
			Journal *mine = journal_open(dir, "k", "p", 30, &e);

			if (mine == NULL)
				_exit(2);
			/* read, think, write: lost updates would show */
			g_usleep(20000);
			mine->submissions++;
			if (!journal_save(mine, &e))
				_exit(3);
			journal_close(mine);
			_exit(0);
		}
	}
	for (int i = 0; i < 8; i++) {
		int status;

		g_assert_cmpint(waitpid(children[i], &status, 0), ==,
				children[i]);
		g_assert_true(WIFEXITED(status));
		g_assert_cmpint(WEXITSTATUS(status), ==, 0);
	}
	j = journal_open(dir, "k", "p", 0, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(j->submissions, ==, 8);
	journal_close(j);
}

/* A killed holder releases the lock. */
static void
test_kill_releases_lock(void)
{
	g_autofree char *dir = fresh_dir("kill");
	g_autoptr(GError) error = NULL;
	int ready[2];
	char byte;
	pid_t child;
	Journal *j;

	g_assert_cmpint(pipe(ready), ==, 0);
	child = fork();
	if (child == 0) {
		Journal *mine = journal_open(dir, "k", "p", 0, NULL);

		(void) !write(ready[1], mine ? "y" : "n", 1);
		pause();
		_exit(0);
	}
	g_assert_cmpint(read(ready[0], &byte, 1), ==, 1);
	g_assert_cmpint(byte, ==, 'y');
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	j = journal_open(dir, "k", "p", 2, &error);
	g_assert_no_error(error);
	journal_close(j);
	close(ready[0]);
	close(ready[1]);
}

/* A damaged entry is the operator's to inspect, never a fresh start. */
static void
test_damaged_entry(void)
{
	g_autofree char *dir = fresh_dir("damaged");
	g_autoptr(GError) error = NULL;
	Journal *j = journal_open(dir, "k", "p", 0, &error);
	g_autofree char *path = g_strdup(j->path);

	j->stage = JOURNAL_CREATED;
	j->ticket_id = g_strdup("T1");
	g_assert_true(journal_save(j, &error));
	journal_close(j);
	g_assert_true(g_file_set_contents(path, "[entry]\nstage=fishy\n", -1,
					  NULL));
	j = journal_open(dir, "k", "p", 0, &error);
	g_assert_null(j);
	g_assert_error(error, M2T_ERROR, M2T_ERROR_OPERATOR);
}

/* Old entries go, young ones stay; pruning runs at most hourly. */
static void
test_prune(void)
{
	g_autofree char *dir = fresh_dir("prune");
	g_autoptr(GError) error = NULL;
	g_autofree char *old_path = NULL;
	g_autofree char *stamp = g_build_filename(dir, ".pruned", NULL);
	struct utimbuf long_ago = { .actime = 1000000, .modtime = 1000000 };
	Journal *j;

	j = journal_open(dir, "old", "p", 0, &error);
	j->stage = JOURNAL_DONE;
	g_assert_true(journal_save(j, &error));
	old_path = g_strdup(j->path);
	journal_close(j);
	j = journal_open(dir, "young", "p", 0, &error);
	j->stage = JOURNAL_DONE;
	g_assert_true(journal_save(j, &error));
	journal_close(j);
	g_assert_cmpint(utime(old_path, &long_ago), ==, 0);

	g_assert_cmpuint(journal_prune(dir, 30), ==, 1);
	g_assert_false(g_file_test(old_path, G_FILE_TEST_EXISTS));
	j = journal_open(dir, "young", "p", 0, &error);
	g_assert_cmpint(j->stage, ==, JOURNAL_DONE);
	journal_close(j);

	/* within the hour: nothing is even looked at */
	j = journal_open(dir, "old", "p", 0, &error);
	g_assert_true(journal_save(j, &error));
	g_assert_cmpint(utime(j->path, &long_ago), ==, 0);
	journal_close(j);
	g_assert_cmpuint(journal_prune(dir, 30), ==, 0);
	g_assert_cmpint(utime(stamp, &long_ago), ==, 0);
	g_assert_cmpuint(journal_prune(dir, 30), ==, 1);
}

int
main(int argc, char **argv)
{
	g_autofree char *cmd = NULL;
	int status;

	g_test_init(&argc, &argv, NULL);
	tmpdir = g_dir_make_tmp("m2t-journal-XXXXXX", NULL);
	g_test_add_func("/journal/save-and-reload", test_save_and_reload);
	g_test_add_func("/journal/claim-is-exclusive",
			test_claim_is_exclusive);
	g_test_add_func("/journal/lock-busy", test_lock_busy);
	g_test_add_func("/journal/concurrent-processes",
			test_concurrent_processes);
	g_test_add_func("/journal/kill-releases-lock",
			test_kill_releases_lock);
	g_test_add_func("/journal/damaged-entry", test_damaged_entry);
	g_test_add_func("/journal/prune", test_prune);
	status = g_test_run();
	cmd = g_strdup_printf("rm -rf '%s'", tmpdir);
	(void) !system(cmd);
	g_free(tmpdir);
	return status;
}
