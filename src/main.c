/*
 * main.c - mail2ticket: one mail on stdin becomes one support ticket.
 *
 * This file only wires the stages together (DESIGN.md, "The pipeline"):
 * read (spool.c), parse (message.c), screen (screen.c), route (rules.c),
 * upload (api.c, oss.c), submit (api.c), record (journal.c) and reply
 * (reply.c).  Every failure travels as a GError whose code decides the
 * exit status (error.c); finish() is the one place that turns it into
 * the exit status, the quarantine copy and the log line.
 *
 * Modes: deliver (default), --dry-run, --check-config, --test-rules,
 * --help-config, --version.
 */
#include "autoconfig.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <gmime/gmime.h>

#include "api.h"
#include "config.h"
#include "dryrun.h"
#include "error.h"
#include "http.h"
#include "journal.h"
#include "log.h"
#include "message.h"
#include "oss.h"
#include "reply.h"
#include "retry.h"
#include "rules.h"
#include "screen.h"
#include "spool.h"
#include "ticket.h"

/* Shown in the dry-run's reply subject, where no ticket exists yet. */
#define DRY_RUN_TICKET "TICKET-ID"

/* How far around the first Add a lost ticket is looked for (ms): room
 * for clock skew, kept small so that a ticket made by someone else is
 * not taken for ours. */
#define LOOKUP_MARGIN (60 * 1000)

/* How long after the first Add a lookup that fails defers the mail
 * (ms); after that the ticket is made again.  Several retries of the
 * mail server fit in it, and the customer does not wait for days. */
#define LOOKUP_PATIENCE (60 * 60 * 1000)

typedef struct {
	char *config_path;
	char *sender;		/* NULL: not given; "": null sender */
	char **recipients;
	char *test_rules;
	gboolean dry_run;
	gboolean check_config;
	gboolean help_config;
	gboolean version;
	gboolean verbose;
	gboolean debug;
} Options;

/* Everything one delivery knows about the mail. */
typedef struct {
	const Options *options;
	const Config *config;
	gint64 start;			/* monotonic microseconds */
	GMimeStream *spool;		/* the mail as received */
	Message *message;
	const char *sender;		/* envelope sender or NULL */
} Delivery;

/* What happened to the mail for one recipient, for the log line. */
typedef struct {
	const char *recipient;
	const char *rule;
	char *product;
	char *ticket;
	int attachments;
	const char *status;
	char *reason;
} Outcome;

static void
outcome_clear(Outcome *outcome)
{
	g_free(outcome->product);
	g_free(outcome->ticket);
	g_free(outcome->reason);
}

/* Parse the command line into OPTIONS; FALSE with ERROR on misuse. */
static gboolean
parse_options(int *argc, char ***argv, Options *options, GError **error)
{
	const GOptionEntry entries[] = {
		{ "config", 'c', 0, G_OPTION_ARG_FILENAME,
		  &options->config_path, "configuration file", "FILE" },
		{ "sender", 0, 0, G_OPTION_ARG_STRING, &options->sender,
		  "envelope sender (empty: the null sender)", "ADDRESS" },
		{ "dry-run", 'n', 0, G_OPTION_ARG_NONE, &options->dry_run,
		  "do everything but the network and the reply; print JSON",
		  NULL },
		{ "check-config", 0, 0, G_OPTION_ARG_NONE,
		  &options->check_config,
		  "check the configuration file and exit", NULL },
		{ "test-rules", 0, 0, G_OPTION_ARG_STRING,
		  &options->test_rules,
		  "show which rule and product ADDRESS maps to", "ADDRESS" },
		{ "help-config", 0, 0, G_OPTION_ARG_NONE,
		  &options->help_config,
		  "print every configuration key with its default", NULL },
		{ "verbose", 'v', 0, G_OPTION_ARG_NONE, &options->verbose,
		  "log to stderr as well as to syslog", NULL },
		{ "debug", 0, 0, G_OPTION_ARG_NONE, &options->debug,
		  "log debug lines too", NULL },
		{ "version", 'V', 0, G_OPTION_ARG_NONE, &options->version,
		  "print the version and exit", NULL },
		{ G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_STRING_ARRAY,
		  &options->recipients, NULL, NULL },
		{ NULL, 0, 0, 0, NULL, NULL, NULL },
	};
	g_autoptr(GOptionContext) context =
		g_option_context_new("[RECIPIENT...] < message");

	g_option_context_set_summary(context,
		"Turn the mail on stdin into an Alibaba Cloud support ticket "
		"and\nreply to its sender with the ticket ID.");
	g_option_context_set_description(context,
		"Exit status: 0 delivered, 75 try again later, 65 unusable "
		"mail,\n69 no rule for the recipient, 77 sender refused, "
		"78 bad configuration\n(--check-config), 70 internal "
		"error.  See mail2ticket(1).");
	g_option_context_add_main_entries(context, entries, NULL);
	return g_option_context_parse(context, argc, argv, error);
}

/* The key that identifies the mail in the journal. */
static char *
message_key(const Message *message)
{
	if (message->message_id != NULL && *message->message_id != '\0')
		return g_strdup_printf("message-id:%s", message->message_id);
	return g_strdup_printf("digest:%s", message->digest);
}

/*
 * The journal entry of the mail for PRODUCT, locked.  The key is its
 * Message-ID; when the entry under that key was made by another mail
 * (another digest: a mailer that reuses IDs), this mail is keyed by its
 * digest too, so that it is not taken for a redelivery and lost.
 */
static Journal *
open_entry(const Delivery *d, const char *product, GError **error)
{
	const Message *message = d->message;
	g_autofree char *key = message_key(message);
	g_autofree char *own_key = NULL;
	Journal *journal;

	journal = journal_open(d->config->journal_dir, key, product,
			       d->config->journal_lock_wait, error);
	if (journal != NULL && journal->digest != NULL &&
	    strcmp(journal->digest, message->digest) != 0) {
		log_warning("the Message-ID <%s> was used by another mail "
			    "before: this one gets its own ticket",
			    message->message_id);
		journal_close(journal);
		own_key = g_strdup_printf("%s digest:%s", key,
					  message->digest);
		journal = journal_open(d->config->journal_dir, own_key,
				       product, d->config->journal_lock_wait,
				       error);
	}
	if (journal != NULL && journal->digest == NULL)
		journal->digest = g_strdup(message->digest);
	return journal;
}

/* Keep a copy of the mail and a note of why; the copy's path (owned). */
static char *
quarantine(const Delivery *d, const char *recipient, const GError *why,
	   GError **error)
{
	const char *dir = d->config->quarantine_dir;
	g_autoptr(GDateTime) now = g_date_time_new_now_utc();
	g_autofree char *stamp = g_date_time_format(now, "%Y%m%dT%H%M%SZ");
	g_autofree char *name = g_strdup_printf("%s-%d-%08x.eml", stamp,
						(int) getpid(),
						g_random_int());
	g_autofree char *path = g_build_filename(dir, name, NULL);
	g_autofree char *note_path = g_strconcat(path, ".why", NULL);
	g_autofree char *note = NULL;
	const Message *m = d->message;

	if (g_mkdir_with_parents(dir, 0700) != 0) {
		g_set_error(error, M2T_ERROR, M2T_ERROR_TEMPFAIL,
			    "cannot create quarantine folder %s", dir);
		return NULL;
	}
	if (d->spool == NULL || !spool_save(d->spool, path, error))
		return NULL;
	note = g_strdup_printf("reason: %s\nexit-status: %d\n"
			       "recipient: %s\nsender: %s\nmessage-id: %s\n",
			       why->message, error_exit_status(why),
			       recipient ? recipient : "",
			       d->sender ? d->sender : "",
			       m && m->message_id ? m->message_id : "");
	if (!g_file_set_contents_full(note_path, note, -1,
				      G_FILE_SET_CONTENTS_CONSISTENT, 0600,
				      error))
		return NULL;
	return g_steal_pointer(&path);
}

/*
 * The end of a delivery for one recipient: the exit status for ERROR
 * (NULL: success), a quarantine copy before any bounce, the log line.
 */
static int
finish(const Delivery *d, Outcome *outcome, GError *error)
{
	const Message *m = d->message;
	g_autofree char *kept = NULL;
	g_autoptr(GError) keep_error = NULL;
	int status = error_exit_status(error);
	LogMail entry = {
		.message_id = m ? m->message_id : NULL,
		.from = d->sender && *d->sender ? d->sender
			: (m ? m->from_addr : NULL),
		.to = outcome->recipient,
		.rule = outcome->rule,
		.product = outcome->product,
		.ticket = outcome->ticket,
		.attachments = outcome->attachments,
		.status = outcome->status,
		.reason = outcome->reason,
		.start = d->start,
	};

	if (error != NULL) {
		entry.reason = error->message;
		entry.status = error_is_permanent(error) ? "bounced"
							  : "deferred";
	}

	/* A mail that bounces is kept first; if it cannot be kept, it
	 * stays with the mail server instead. */
	if (error_is_permanent(error) && !d->options->dry_run) {
		kept = quarantine(d, outcome->recipient, error, &keep_error);
		if (kept == NULL) {
			log_error("cannot keep a copy of the mail before "
				  "bouncing it (%s): deferring instead",
				  keep_error->message);
			status = EX_TEMPFAIL;
			entry.status = "deferred";
		}
		entry.quarantine = kept;
	}

	log_mail(&entry, error != NULL &&
		 error->domain == M2T_ERROR &&
		 (error->code == M2T_ERROR_OPERATOR ||
		  error->code == M2T_ERROR_SOFTWARE));
	if (keep_error != NULL)
		fprintf(stderr, "mail2ticket: deferred, the quarantine cannot "
			"keep a copy (%s): %s\n", keep_error->message,
			error->message);
	else if (error != NULL)
		fprintf(stderr, "mail2ticket: %s\n", error->message);
	g_clear_error(&error);
	return status;
}

/* Make sure AUTH is a fresh upload authorisation. */
static gboolean
ensure_oss_auth(Api *api, OssAuth *auth, Retry *retry, GError **error)
{
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;

	/* Renew a little early: an upload started just before the
	 * expiry fails on arrival. */
	if (auth->policy != NULL && (auth->expire == 0 ||
				     auth->expire > now + 10))
		return TRUE;
	oss_auth_clear(auth);
	for (;;) {
		g_autoptr(GError) local = NULL;

		if (api_get_oss_auth(api, auth, &local))
			return TRUE;
		if (!retry_again(retry, "getOSSTempAuthor", local)) {
			g_propagate_error(error, g_steal_pointer(&local));
			return FALSE;
		}
	}
}

/* Upload one file, renewing an expired authorisation; its key (owned). */
static char *
upload_one(const Delivery *d, Api *api, OssAuth *auth, Retry *retry,
	   const TicketFile *file, GError **error)
{
	g_autoptr(GBytes) data = NULL;
	gboolean renewed = FALSE;

	data = message_attachment_data(file->attachment, error);
	if (data == NULL)
		return NULL;
	for (;;) {
		g_autoptr(GError) local = NULL;
		g_autofree char *key = NULL;

		if (!ensure_oss_auth(api, auth, retry, error))
			return NULL;
		key = oss_object_key(auth, file->name);
		if (oss_upload(auth, key, file->attachment->content_type, data,
			       d->config->timeout, &local))
			return g_steal_pointer(&key);

		/* The authorisation lasts about two minutes: renew it once
		 * at once, whatever the retry budget. */
		if (g_error_matches(local, M2T_ERROR, M2T_ERROR_EXPIRED)) {
			oss_auth_clear(auth);
			if (!renewed) {
				renewed = TRUE;
				log_warning("upload authorisation expired; "
					    "renewing it for %s", file->name);
				continue;
			}
		}
		if (!retry_again(retry, "upload", local)) {
			g_propagate_error(error, g_steal_pointer(&local));
			return NULL;
		}
	}
}

/* Upload every file the ticket takes, recording each key at once;
 * transient failures are retried within RETRY. */
static gboolean
upload_files(const Delivery *d, Api *api, Journal *journal,
	     const Ticket *ticket, Retry *retry, GError **error)
{
	OssAuth auth = { 0 };
	gboolean ok = TRUE;

	if (journal->stage >= JOURNAL_UPLOADED)
		return TRUE;
	for (guint i = 0; i < ticket->files->len && ok; i++) {
		const TicketFile *file = ticket->files->pdata[i];
		g_autofree char *key = NULL;

		if (!file->upload || journal_upload(journal, i) != NULL)
			continue;
		key = upload_one(d, api, &auth, retry, file, error);
		if (key == NULL) {
			ok = FALSE;
			break;
		}
		journal_set_upload(journal, i, key);
		journal->stage = JOURNAL_UPLOADING;
		ok = journal_save(journal, error);
	}
	oss_auth_clear(&auth);
	if (!ok)
		return FALSE;
	journal->stage = JOURNAL_UPLOADED;
	return journal_save(journal, error);
}

/* The recorded object keys, in file order, joined by "," (or NULL). */
static char *
attachment_keys(const Journal *journal, const Ticket *ticket)
{
	g_autoptr(GString) keys = g_string_new(NULL);

	for (guint i = 0; i < ticket->files->len; i++) {
		const char *key = journal_upload(journal, i);

		if (key == NULL)
			continue;
		if (keys->len > 0)
			g_string_append_c(keys, ',');
		g_string_append(keys, key);
	}
	return keys->len ? g_strdup(keys->str) : NULL;
}

/* ApiTicketTaken over the journal in DIR. */
static gboolean
ticket_taken(const char *id, gpointer dir)
{
	return journal_ticket_taken(dir, id);
}

/*
 * After an Add whose answer was lost: look for the ticket it made.
 * TRUE when that is decided: *FOUND is the ticket (owned), or NULL when
 * there is none and the ticket is to be made.  A lookup that fails
 * defers the mail (FALSE with ERROR): the next delivery can still tell,
 * while making the ticket now could make it twice.  Only once the first
 * Add is LOOKUP_PATIENCE old is the ticket made without knowing, since
 * a duplicate is better than a lost mail.
 */
static gboolean
find_lost_ticket(Api *api, const Journal *journal, const Ticket *ticket,
		 const char *journal_dir, char **found, GError **error)
{
	g_autoptr(GError) local = NULL;
	gint64 now = g_get_real_time() / 1000;
	gint64 near = journal->last_submitted ? journal->last_submitted
					      : journal->submitted;

	/* Tickets the journal records for other mails are never adopted,
	 * even when their title is the same. */
	*found = NULL;
	if (api_find_ticket(api, ticket, journal->submitted - LOOKUP_MARGIN,
			    now + LOOKUP_MARGIN, near, ticket_taken,
			    (gpointer) journal_dir, found, &local)) {
		if (*found != NULL)
			log_info("the earlier Add made ticket %s: adopting "
				 "it", *found);
		else
			log_info("the earlier Add made no ticket: creating "
				 "it");
		return TRUE;
	}
	if (now - journal->submitted >= LOOKUP_PATIENCE) {
		log_warning("cannot tell whether the earlier Add made a "
			    "ticket (%s), %d minutes on: creating it, a "
			    "duplicate is possible", local->message,
			    (int) ((now - journal->submitted) / 60000));
		return TRUE;
	}
	g_propagate_prefixed_error(error, g_steal_pointer(&local),
				   "cannot tell yet whether the earlier Add "
				   "made a ticket: ");
	return FALSE;
}

/* Create the ticket, once; its ID (owned).  *ADOPTED: found, not made.
 * Transient failures are retried within RETRY. */
static char *
submit_ticket(const Delivery *d, Api *api, Journal *journal,
	      const Ticket *ticket, Retry *retry, gboolean *adopted,
	      GError **error)
{
	g_autofree char *keys = attachment_keys(journal, ticket);

	for (;;) {
		g_autoptr(GError) local = NULL;
		char *id = NULL;

		/* An earlier Add may have made the ticket: look first. */
		if (journal->stage == JOURNAL_SUBMITTING) {
			if (!find_lost_ticket(api, journal, ticket,
					      d->config->journal_dir, &id,
					      &local)) {
				if (retry_again(retry, "QuestionList",
						local))
					continue;
				g_propagate_error(error,
						  g_steal_pointer(&local));
				return NULL;
			}
			if (id != NULL) {
				*adopted = TRUE;
				return id;
			}
		}

		/* Record the attempt before it leaves, so that a crash
		 * while it is on its way is looked up next time. */
		journal->stage = JOURNAL_SUBMITTING;
		journal->last_submitted = g_get_real_time() / 1000;
		if (journal->submitted == 0)
			journal->submitted = journal->last_submitted;
		journal->submissions++;
		if (!journal_save(journal, error))
			return NULL;

		id = api_add(api, ticket, keys, &local);
		if (id != NULL)
			return id;

		/* An answer that says no means no ticket was made: there
		 * is nothing to look up next time. */
		if (!g_error_matches(local, M2T_ERROR, M2T_ERROR_UNCERTAIN)) {
			journal->stage = JOURNAL_UPLOADED;
			if (!journal_save(journal, error))
				return NULL;
		}
		if (!retry_again(retry, "Add", local)) {
			g_propagate_error(error, g_steal_pointer(&local));
			return NULL;
		}
	}
}

/* Send the reply, unless it is not wanted; a permanent refusal is
 * logged and counts as done (the ticket exists). */
static gboolean
send_reply(const Delivery *d, const Rule *rule, const Screening *screening,
	   const char *reply_from, const char *ticket_id,
	   const char *product, GError **error)
{
	ReplyFields fields = {
		.ticket = ticket_id,
		.subject = d->message->subject,
		.rule = rule->name,
		.product = product,
	};
	const char *template = rule->template ? rule->template
					      : d->config->reply_template;
	g_autoptr(GMimeMessage) reply = NULL;
	g_autoptr(GError) local = NULL;

	if (screening->reply_to == NULL) {
		log_debug("no reply: %s", screening->no_reply_reason);
		return TRUE;
	}
	reply = reply_build(d->config, d->message, reply_from,
			    screening->reply_to, template, &fields, error);
	if (reply == NULL)
		return FALSE;
	if (reply_send(d->config, reply, screening->reply_to, &local))
		return TRUE;
	if (error_is_permanent(local)) {
		log_warning("the reply to %s was refused for good: %s",
			    screening->reply_to, local->message);
		return TRUE;
	}
	g_propagate_error(error, g_steal_pointer(&local));
	return FALSE;
}

/*
 * Send the reply, recording first that it is on its way, so that a
 * delivery stopped while sendmail has it does not send a second one.
 * A reply that certainly did not go is left to the next delivery.
 */
static gboolean
reply_once(const Delivery *d, Journal *journal, const Rule *rule,
	   const Screening *screening, const char *reply_from,
	   const char *product, GError **error)
{
	g_autoptr(GError) local = NULL;
	g_autoptr(GError) save_error = NULL;

	if (screening->reply_to != NULL) {
		journal->stage = JOURNAL_REPLYING;
		if (!journal_save(journal, error))
			return FALSE;
	}
	if (send_reply(d, rule, screening, reply_from, journal->ticket_id,
		       product, &local))
		return TRUE;

	/* sendmail did not finish: it may have sent it, so the journal
	 * stays at "replying" and the next delivery sends nothing. */
	if (g_error_matches(local, M2T_ERROR, M2T_ERROR_UNCERTAIN)) {
		g_propagate_error(error, g_steal_pointer(&local));
		return FALSE;
	}

	/* sendmail refused it for now, or never started: nothing went. */
	journal->stage = JOURNAL_CREATED;
	if (!journal_save(journal, &save_error))
		log_error("the reply to ticket %s will not be tried again: "
			  "%s", journal->ticket_id, save_error->message);
	g_propagate_error(error, g_steal_pointer(&local));
	return FALSE;
}

/* Print the dry-run object for one recipient. */
static void
print_dry_run(const Delivery *d, const char *recipient,
	      const Screening *screening, const Ticket *ticket,
	      const Rule *rule, const char *product)
{
	ReplyFields fields = {
		.ticket = DRY_RUN_TICKET,
		.subject = d->message->subject,
		.rule = rule ? rule->name : NULL,
		.product = product,
	};
	g_autofree char *subject = NULL;
	g_autofree char *json = NULL;
	DryRun run = {
		.discard = screening->discard,
		.reason = screening->discard_reason,
		.recipient = recipient,
		.sender = d->sender,
		.message = d->message,
		.ticket = ticket,
		.reply_to = screening->reply_to,
	};

	if (screening->reply_to != NULL) {
		subject = reply_subject(d->config, &fields);
		run.reply_subject = subject;
	}
	json = dryrun_json(&run);
	printf("%s\n", json);
	fflush(stdout);
}

/* Upload, submit, record and reply: the steps that change the world. */
static gboolean
create_ticket(const Delivery *d, const Rule *rule, const Ticket *ticket,
	      const Screening *screening, const char *reply_from,
	      Outcome *outcome, GError **error)
{
	g_autoptr(Journal) journal = NULL;
	g_autoptr(Api) api = NULL;
	gboolean adopted = FALSE;
	JournalStage first;
	Retry retry;

	/* A redelivery resumes where the last attempt stopped. */
	journal = open_entry(d, outcome->product, error);
	if (journal == NULL)
		return FALSE;
	journal_prune(d->config->journal_dir, d->config->journal_max_age);
	first = journal->stage;
	if (first == JOURNAL_DONE) {
		outcome->status = "duplicate";
		outcome->ticket = g_strdup(journal->ticket_id);
		outcome->reason = g_strdup("this mail was already made into "
					   "a ticket");
		return TRUE;
	}
	api = api_new(d->config);

	/* Attachments first: Add takes their object keys. */
	/* One retry budget for the whole delivery ([api] retry_budget),
	 * well inside the mail server's time limit. */
	retry_init(&retry, d->config->retry_budget);
	if (!upload_files(d, api, journal, ticket, &retry, error))
		return FALSE;

	/* The ticket, exactly once, recorded before anything else. */
	if (journal->stage < JOURNAL_CREATED) {
		g_autofree char *id = submit_ticket(d, api, journal, ticket,
						    &retry, &adopted, error);

		if (id == NULL)
			return FALSE;
		journal->ticket_id = g_steal_pointer(&id);
		journal->stage = JOURNAL_CREATED;
		if (!journal_save(journal, error))
			return FALSE;
	}
	outcome->ticket = g_strdup(journal->ticket_id);

	/* A mail gets at most one reply: one that an earlier delivery
	 * handed to sendmail before it was stopped may have gone. */
	if (first == JOURNAL_REPLYING) {
		log_warning("an earlier delivery was stopped while sendmail "
			    "had the reply for ticket %s: not sending it "
			    "again", journal->ticket_id);
		outcome->status = "duplicate";
		outcome->reason = g_strdup("the reply went to sendmail in "
					   "an earlier delivery");
		journal->stage = JOURNAL_DONE;
		return journal_save(journal, error);
	}

	/* The reply: what is left when the ticket came from an earlier
	 * attempt. */
	if (!reply_once(d, journal, rule, screening, reply_from,
			outcome->product, error))
		return FALSE;
	journal->stage = JOURNAL_DONE;
	if (!journal_save(journal, error))
		return FALSE;

	outcome->status = adopted ? "adopted"
		: first >= JOURNAL_CREATED ? "replied" : "created";
	if (screening->no_reply_reason != NULL)
		outcome->reason = g_strdup_printf("no reply: %s",
						  screening->no_reply_reason);
	return TRUE;
}

/* Deliver the mail to RECIPIENT under RULE (NULL: none matches). */
static int
deliver_to(const Delivery *d, const char *recipient, const Rule *rule)
{
	const Options *options = d->options;
	const char *reply_from = d->config->reply_from ? d->config->reply_from
							: recipient;
	Outcome outcome = { .recipient = recipient, .attachments = -1 };
	g_auto(Screening) screening = { 0 };
	g_autoptr(Ticket) ticket = NULL;
	GError *error = NULL;
	int status;

	/* Loops are cut before anything else. */
	screen_message(d->message, d->sender, reply_from, d->config,
		       &screening);
	if (screening.discard) {
		if (options->dry_run)
			print_dry_run(d, recipient, &screening, NULL, NULL,
				      NULL);
		outcome.status = "discarded";
		outcome.reason = g_strdup(screening.discard_reason);
		status = finish(d, &outcome, NULL);
		outcome_clear(&outcome);
		return status;
	}

	if (rule == NULL) {
		g_set_error(&error, M2T_ERROR, M2T_ERROR_UNAVAILABLE,
			    "no rule for recipient %s",
			    recipient ? recipient : "(none found)");
	} else if (message_is_empty(d->message)) {
		outcome.rule = rule->name;
		g_set_error(&error, M2T_ERROR, M2T_ERROR_DATAERR,
			    "the mail has no subject, no text and no "
			    "attachment");
	} else {
		outcome.rule = rule->name;
		ticket = ticket_build(d->message, rule, d->config);
		outcome.product = ticket_product_label(ticket);
		outcome.attachments = ticket_upload_count(ticket);
		if (options->dry_run) {
			print_dry_run(d, recipient, &screening, ticket, rule,
				      outcome.product);
			outcome.status = "dry-run";
		} else {
			create_ticket(d, rule, ticket, &screening, reply_from,
				      &outcome, &error);
		}
	}
	status = finish(d, &outcome, error);
	outcome_clear(&outcome);
	return status;
}

/* The worse of two exit statuses: retry beats bounce beats success. */
static int
worse_status(int a, int b)
{
	if (a == EX_TEMPFAIL || b == EX_TEMPFAIL)
		return EX_TEMPFAIL;
	return a != EX_OK ? a : b;
}

/* Route the mail: every recipient given, else the first header address
 * that a rule matches. */
static int
route_and_deliver(const Delivery *d)
{
	const GPtrArray *rules = d->config->rules;
	const GPtrArray *candidates = d->message->header_recipients;
	int status = EX_OK;

	if (d->options->recipients != NULL &&
	    d->options->recipients[0] != NULL) {
		for (char **r = d->options->recipients; *r != NULL; r++)
			status = worse_status(status,
					      deliver_to(d, *r,
							 rules_match(rules,
								     *r)));
		return status;
	}
	for (guint i = 0; i < candidates->len; i++) {
		const char *address = candidates->pdata[i];
		const Rule *rule = rules_match(rules, address);

		if (rule != NULL)
			return deliver_to(d, address, rule);
	}
	return deliver_to(d, candidates->len ? candidates->pdata[0] : NULL,
			  NULL);
}

/* Read, parse and deliver the mail on stdin. */
static int
deliver(const Options *options, const Config *config, gint64 start)
{
	Delivery d = { .options = options, .config = config, .start = start };
	g_autoptr(GMimeStream) truncated = NULL;
	MessageOptions parse_options = {
		.fallback_charsets = (const char **) config->fallback_charsets,
		.title_max_length = config->title_max_length,
	};
	Outcome outcome = { .attachments = -1 };
	GError *error = NULL;
	int status;

	d.spool = spool_read(STDIN_FILENO, config->max_size, config->tmpdir,
			     &truncated, &error);
	if (d.spool == NULL) {
		d.spool = g_steal_pointer(&truncated);
		status = finish(&d, &outcome, error);
		g_clear_object(&d.spool);
		return status;
	}
	d.message = message_parse(d.spool, &parse_options, &error);
	if (d.message == NULL) {
		status = finish(&d, &outcome, error);
		g_clear_object(&d.spool);
		return status;
	}
	for (guint i = 0; i < d.message->warnings->len; i++)
		log_debug("parser: %s", (char *) d.message->warnings->pdata[i]);

	d.sender = options->sender ? options->sender
				   : d.message->return_path;
	status = route_and_deliver(&d);
	message_free(d.message);
	g_clear_object(&d.spool);
	return status;
}

/* --check-config: every problem on stderr; 0 when there is none. */
static int
check_config(const char *path)
{
	g_autoptr(GPtrArray) problems = config_check(path);
	g_autoptr(Config) config = NULL;

	for (guint i = 0; i < problems->len; i++)
		fprintf(stderr, "%s\n", (char *) problems->pdata[i]);
	if (problems->len > 0)
		return EX_CONFIG;
	config = config_load(path, NULL);
	printf("%s: OK, %u rule%s, credentials from %s\n", path,
	       config->rules->len, config->rules->len == 1 ? "" : "s",
	       config->credentials_source);
	return EX_OK;
}

/* --test-rules=ADDRESS: the rule and product ADDRESS maps to. */
static int
test_rules(const Config *config, const char *address)
{
	const Rule *rule = rules_match(config->rules, address);

	if (rule == NULL) {
		printf("%s: no rule matches; a mail to it would bounce "
		       "(exit 69)\n", address);
		return EX_UNAVAILABLE;
	}
	printf("%s: rule %s, ", address, rule->name);
	if (rule->product_id > 0)
		printf("productId %" G_GINT64_FORMAT, rule->product_id);
	else
		printf("customerCommonQuestionId %" G_GINT64_FORMAT,
		       rule->question_id);
	printf(", aliUid %s\n", rule->ali_uid ? rule->ali_uid
		: config->ali_uid ? config->ali_uid : "(none)");
	return EX_OK;
}

static void
options_clear(Options *options)
{
	g_free(options->config_path);
	g_free(options->sender);
	g_strfreev(options->recipients);
	g_free(options->test_rules);
}

/* Run the mode the options ask for; its exit status. */
static int
run(const Options *options, gint64 start)
{
	const char *path = options->config_path ? options->config_path
						: config_default_path();
	g_autoptr(Config) config = NULL;
	g_autoptr(GError) error = NULL;

	if (options->version) {
		printf("mail2ticket %s\n", PACKAGE_VERSION);
		return EX_OK;
	}
	if (options->help_config) {
		config_print_reference(stdout);
		return EX_OK;
	}
	if (options->check_config)
		return check_config(path);

	/* A broken configuration is the operator's to mend: the mail
	 * waits in the queue meanwhile. */
	config = config_load(path, &error);
	if (config == NULL) {
		log_error("%s", error->message);
		fprintf(stderr, "mail2ticket: %s\n", error->message);
		return options->test_rules ? EX_CONFIG : EX_TEMPFAIL;
	}
	if (options->test_rules)
		return test_rules(config, options->test_rules);
	return deliver(options, config, start);
}

int
main(int argc, char **argv)
{
	gint64 start = g_get_monotonic_time();
	Options options = { 0 };
	g_autoptr(GError) error = NULL;
	int status;

	/* A closed stdin would be taken over by the first file opened
	 * (the configuration) and read as the mail. */
	if (fcntl(STDIN_FILENO, F_GETFD) < 0) {
		fprintf(stderr, "mail2ticket: no message: standard input is "
			"closed\n");
		return EX_TEMPFAIL;
	}
	if (!parse_options(&argc, &argv, &options, &error)) {
		/* A wrong command line in the mail server's set-up must not
		 * bounce mail: retry while it is mended. */
		fprintf(stderr, "mail2ticket: %s (see --help)\n",
			error->message);
		options_clear(&options);
		return EX_TEMPFAIL;
	}
	log_open(options.verbose || isatty(STDERR_FILENO), options.debug);
	g_mime_init();
	http_init();

	status = run(&options, start);

	http_cleanup();
	g_mime_shutdown();
	log_close();
	options_clear(&options);
	return status;
}
