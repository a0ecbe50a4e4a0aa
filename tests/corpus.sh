#!/bin/bash
# corpus.sh - the parse of a practice corpus against its expected results.
#
#   tests/corpus.sh [CORPUS_DIR]      (or M2T_CORPUS=CORPUS_DIR)
#
# The corpus is a folder of mailNNN.box mails, each with a mailNNN.yml
# that another helpdesk (Zammad) expects from it; by default
# ../shared/corpus/zammad beside the project.  The corpus is read in
# place, never copied.  Every mail goes through `mail2ticket --dry-run` with a
# catch-all rule; tests/corpus-compare.py compares subject, sender, attachment
# names, types and sizes and the body text, prints the agreement per
# field and every disagreement as TAP comments, then TAP lines: no
# crash, title and content valid UTF-8, and each field at 97% or more.
# How each field is normalised, and why, is in corpus-compare.py's header.
# Skips, saying so, when the corpus or PyYAML is absent.

. "$(dirname "$0")/lib/common.sh"

corpus=${1:-${M2T_CORPUS:-$top_srcdir/../shared/corpus/zammad}}
[ -d "$corpus" ] || tap_skip_all "corpus absent ($corpus)"
"$PYTHON3" -c 'import yaml' 2>/dev/null ||
	tap_skip_all "python3-yaml missing"

dir=$(mktemp -d "${TMPDIR:-/tmp}/m2t-corpus.XXXXXX")
trap 'rm -rf "$dir"' EXIT
write_config "$dir" "
[rule:corpus]
recipients = corpus@corpus.test
product_id = 99"

"$PYTHON3" "$top_srcdir/tests/corpus-compare.py" "$M2T" "$dir/mail2ticket.conf" \
	"$corpus"
