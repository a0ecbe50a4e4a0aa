/*
 * html.h - HTML turned into readable plain text.
 *
 * Uses libxml2's forgiving HTML parser.  Tags go, entities are decoded,
 * <style>, <script>, <head> and comments (Outlook's conditional comments
 * included) are dropped; block elements, <br> and list items become
 * line breaks, paragraphs a blank line; links keep their text, and their
 * address in brackets when it differs from the text.
 */
#ifndef M2T_HTML_H
#define M2T_HTML_H

#include <glib.h>

/* The text of HTML (LEN bytes of UTF-8); always valid UTF-8, owned. */
char *html_to_text(const char *html, gsize len);

#endif
