#!/usr/bin/python3
"""corpus-compare.py - compare mail2ticket's parse of a practice corpus with the
results another helpdesk (Zammad) expects; run by tests/corpus.sh.

    corpus-compare.py M2T CONFIG CORPUS_DIR

For every mailNNN.box in CORPUS_DIR with a mailNNN.yml beside it, runs
"M2T --config=CONFIG --dry-run corpus@corpus.test < mail" and compares
the JSON it prints with the .yml.  Prints, as TAP comments, the agreement
per field (percent and n/N) and one line per disagreement (mail, field,
expected and got, shortened); then TAP lines: no crash, title and content
valid UTF-8, and each field at or above THRESHOLD percent.

What is compared, and how it is made fair:

- run: the program exits 0 and prints one JSON object.  Anything else
  (a signal, another status, no JSON) is a crash for this test.
- utf-8: the title and content bytes printed are valid UTF-8 (checked
  on the raw output, before any JSON decoding could hide a bad byte).
- subject: ticket.title against the expected subject.  Both sides have
  white space collapsed and reply/forward prefixes (Re:, Fwd:, AW:,
  回复： ...) removed, as the title does on purpose, and the expected
  one is cut at the configured title length.  An expected subject that
  is empty is compared with "" (the title then comes from the body, so
  this shows as a disagreement).
- sender: ticket.email (Reply-To, else From) against the expected
  reply-to address, else from_email; case is ignored.
- names, types, sizes: the attachments of the JSON against the expected
  ones, each as a sorted list (so order does not matter).  Left out of
  the expected list: Zammad's "message.html" (its copy of the HTML
  body, not a file of the mail) and PGP/S-MIME signatures (the bridge
  never treats a signature as an attachment).  Size is the length of
  the decoded data; an attached message (message/*) is counted with LF
  line ends on both sides, as a mail server hands mail over (Zammad
  keeps CRLF in some of these and not in others, and 38 of the mails
  are stored with CRLF).  Names are compared after Unicode NFC.  A name the
  mail does not give (Python's email package reads the names the mail
  gives, raw 8-bit ones tried as UTF-8, GB18030 and windows-1252) is
  made up by each side after its own rule (Zammad: "file" or the
  Content-ID; the bridge: from the type), so it is compared as
  "(no name)".  Zammad renames a repeated name by putting a number
  before the first dot ("a1.png" for the second "a.png"); such a name
  is taken back to the name the mail gives.
- body: the expected body (Zammad's sanitised HTML reduced to text with
  a small HTML parser, or its plain text) against ticket.content
  without the bridge's own note about attachments left out.  Both are
  normalised: NFC; URLs and <address> forms removed (the bridge writes a
  link's address after its text, Zammad keeps it in the href); quote
  markers (">") at line starts, list bullets and table separators
  removed; every run of white space (no-break and zero-width spaces
  included) made one space.  Zammad's "no visible content" counts as
  an empty body, which the bridge's placeholder (its note for a mail
  without text, or the title repeated) matches.  They agree when equal,
  or when their word sequences are at least BODY_SIMILARITY alike
  (difflib), so that an image's alt text or a stray line break does not
  count as a different text.  When the mail offers its text both as
  text/plain and as HTML, the bridge takes the plain text on purpose
  (issue 3: text and HTML that disagree, prefer the text) where Zammad
  takes the HTML; such a body also agrees when it matches the mail's
  text/plain alternative (read by Python's email package).  The summary
  says how many bodies agreed that way.
- uuencode: issue 3 asks for uuencoded blocks in a text part to become
  attachments; Zammad leaves them in the text.  The expected result is
  moved the same way: each block leaves the expected body and its file
  (name, type guessed from the name, decoded size) joins the expected
  attachments.
- everywhere, a U+FFFD in the expected value (a character the other
  helpdesk could not decode) matches any one character.
- DELIBERATE gives the reason of each disagreement judged on purpose;
  they are counted and printed like any other, and every field must
  reach THRESHOLD.  A disagreement without a reason is marked "new".
"""

import base64
import binascii
import mimetypes
import email
import email.policy
import difflib
import glob
import html.parser
import json
import os
import re
import subprocess
import sys
import unicodedata

import yaml

THRESHOLD = 97.0
BODY_SIMILARITY = 0.90
TITLE_MAX = 128
FIELDS = ["subject", "sender", "names", "types", "sizes", "body"]
NOTE = "\n\n--\nAttachments of the mail that are not on this ticket:"
NO_TEXT = "(The mail has no text; see its attachments.)"
SIGNATURES = {"application/pgp-signature", "application/pkcs7-signature",
              "application/x-pkcs7-signature"}
PREFIX = re.compile(r"^\s*((re|fwd?|fw|aw|wg|sv|vs|回复|答复|转发|回覆|轉寄)"
                    r"(\[\d+\]|\(\d+\))?\s*[:：]\s*)+", re.I)


# Disagreements judged deliberate (see the report of issue 3): the
# bridge is right, or follows a rule of its own on purpose.  They are
# counted and listed like the others; this only gives their reason.
DELIBERATE = {
    ("mail023", "subject"): "the header block is broken by a blank line, "
                            "so the title comes from the body",
    ("mail044", "sender"): "the trailing dot of a broken address is "
                           "dropped",
    ("mail076", "sender"): "the stray '>' of a broken From is not kept",
    ("mail087", "sender"): "the address is taken out of a broken From",
    ("mail060", "body"): "UTF-8 and Latin-1 bytes mixed in one part: "
                         "garbled on both sides, differently",
    ("mail087", "body"): "a part without Content-Type is text/plain "
                         "(RFC 2045) and is the body, not a file",
    ("mail087", "names"): "a part without Content-Type is the body",
    ("mail087", "types"): "a part without Content-Type is the body",
    ("mail087", "sizes"): "a part without Content-Type is the body",
    ("mail064", "names"): "the windows-1258 name is decoded with its "
                          "combining accents; Zammad used windows-1252",
    ("mail085", "names"): "the text alternative is the body; the HTML "
                          "alternative's second HTML part is not a file",
    ("mail085", "types"): "the HTML alternative's second part is not a "
                          "file",
    ("mail085", "sizes"): "the HTML alternative's second part is not a "
                          "file",
    ("mail062", "sizes"): "base64 cut short: GMime drops an incomplete "
                          "last group, Zammad decodes it",
}


class Loader(yaml.SafeLoader):
    """PyYAML loader that reads Ruby-tagged maps as plain maps."""


def _ruby(loader, _suffix, node):
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)


Loader.add_multi_constructor("!ruby/", _ruby)
Loader.add_constructor(
    "!binary", lambda l, n: base64.b64decode(l.construct_scalar(n)))


class TextOf(html.parser.HTMLParser):
    """The text of an HTML document: block elements become line breaks."""
    BLOCKS = {"p", "div", "br", "li", "tr", "td", "th", "table", "h1",
              "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "hr",
              "ul", "ol", "dl", "dt", "dd"}
    SKIP = {"style", "script", "head", "title"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.skip += 1
        elif tag in self.BLOCKS:
            self.out.append("\n")
        elif tag == "img":
            self.out.append(" " + (dict(attrs).get("alt") or "") + " ")

    def handle_endtag(self, tag):
        if tag in self.SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag in self.BLOCKS:
            self.out.append("\n")

    def handle_data(self, data):
        if not self.skip:
            self.out.append(data)


def html_text(text):
    parser = TextOf()
    parser.feed(text)
    parser.close()
    return "".join(parser.out)


def squash(text):
    """White space runs made one space, trimmed."""
    return re.sub(r"[\s\u00a0\u200b\u200c\u200d\ufeff\u3000]+", " ",
                  text or "").strip()


def normal_body(text):
    text = unicodedata.normalize("NFC", text or "")
    text = text.replace("\u00ad", "")
    text = re.sub(r"<?(https?|ftp|mailto|file|cid):[^\s<>\"]*>?", " ", text,
                  flags=re.I)
    text = re.sub(r"[<\[]?[\w.+-]+@[\w-]+(\.[\w-]+)+[>\]]?", " ", text)
    text = re.sub(r"(?m)^[ \t]*(>[ \t]?)+", "", text)
    text = re.sub(r"(?m)^[ \t]*([-*•·]|\d+\.)[ \t]+", "", text)
    text = re.sub(r"[|]", " ", text)
    return squash(text)


def normal_subject(text, cut):
    text = squash(unicodedata.normalize("NFC", text or ""))
    text = PREFIX.sub("", text)
    return (text[:cut] if cut else text).strip()


def address(text):
    match = re.search(r"<([^<>]+)>", text or "")
    value = match.group(1) if match else (text or "")
    return value.strip().strip('"').lower()


UUENCODED = re.compile(r"(?ms)^begin [0-7]{3,4} (\S[^\n]*?)\s*\n(.*?)^end\s*$")


def uuencoded_files(body):
    """BODY without its uuencoded blocks, and the files they hold as
    (name, type, size): the bridge makes them attachments (issue 3),
    Zammad leaves them in the text."""
    files = []

    def cut(match):
        data = b""
        for line in match.group(2).splitlines():
            if line.strip():
                try:
                    data += binascii.a2b_uu(line)
                except binascii.Error:
                    pass
        name = match.group(1)
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        files.append((name, kind, len(data)))
        return ""

    return UUENCODED.sub(cut, body), files


def expected_of(path):
    with open(path, "rb") as f:
        data = yaml.load(f, Loader=Loader)
    body = data.get("body") or ""
    if data.get("content_type") == "text/html":
        body = html_text(body)
    if body.strip() == "no visible content":
        body = ""
    body, files = uuencoded_files(body)
    for a in data.get("attachments") or []:
        prefs = a.get("preferences") or {}
        mime = (prefs.get("Mime-Type") or "").lower()
        if prefs.get("original-format") or mime in SIGNATURES:
            continue
        raw = a.get("data") or b""
        raw = raw.encode("utf-8") if isinstance(raw, str) else raw
        if mime.startswith("message/"):
            raw = raw.replace(b"\r\n", b"\n")
        size = len(raw)
        files.append((a.get("filename") or "", mime, size))
    sender = address(data.get("reply-to")) or (data.get("from_email") or "")
    return {
        "subject": normal_subject(data.get("subject"), TITLE_MAX),
        "sender": sender.lower(),
        "files": files,
        "body": normal_body(body),
    }


def mail_facts(box):
    """What Python's email package reads in the mail: the file names it
    gives, how many parts have none (leaves that are not a text body),
    and its text/plain body when it also has an HTML one (else None)."""
    with open(box, "rb") as f:
        msg = email.message_from_binary_file(f, policy=email.policy.default)
    given, nameless = set(), 0
    for part in msg.walk():
        try:
            name = part.get_filename()
        except Exception:       # a header Python cannot read
            name = None
        if not name:
            kind = part.get_content_type()
            body_like = kind in ("text/plain", "text/html")
            # Python reads message/* parts as containers; for the
            # bridge they are files like any other.
            leaf = not part.is_multipart() or kind.startswith("message/")
            if leaf and not body_like:
                nameless += 1
            continue
        given.add(unicodedata.normalize("NFC", name))
        raw = name.encode("utf-8", "surrogateescape")
        for charset in ("utf-8", "gb18030", "windows-1252"):
            try:
                given.add(unicodedata.normalize("NFC", raw.decode(charset)))
            except UnicodeDecodeError:
                pass
    plain = None
    try:
        text = msg.get_body(preferencelist=("plain",))
        rich = msg.get_body(preferencelist=("html",))
        if text is not None and rich is not None:
            plain = text.get_content()
    except Exception:           # a part Python cannot decode
        plain = None
    return given, nameless, plain


def repeat_undone(name, known):
    """NAME, or the name in KNOWN that Zammad renamed into it by putting
    a number before the first dot ("a1.png" for a second "a.png")."""
    dot = name.find(".")
    end = dot if dot >= 0 else len(name)
    for k in (1, 2, 3):
        if end - k >= 0 and name[end - k:end].isdigit():
            candidate = name[:end - k] + name[end:]
            if candidate in known:
                return candidate
    return name


def names_given(names, given, nameless):
    """NAMES with Zammad's renamed repeats taken back, and up to NAMELESS
    names the mail does not give made "(no name)"."""
    out = []
    known = given | set(names)
    for name in names:
        if name not in given:
            name = repeat_undone(name, known)
        if name not in given and nameless > 0:
            name = "(no name)"
            nameless -= 1
        out.append(name)
    return sorted(out)


def valid_utf8(raw, key):
    """Decode the JSON string value of KEY in RAW bytes strictly."""
    match = re.search(rb'"' + key + rb'":"((?:[^"\\]|\\.)*)"', raw)
    if match is None:
        return True
    try:
        match.group(1).decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def run_one(m2t, config, box):
    with open(box, "rb") as mail:
        try:
            proc = subprocess.run(
                [m2t, "--config=" + config, "--dry-run",
                 "corpus@corpus.test"],
                stdin=mail, capture_output=True, timeout=60)
        except subprocess.TimeoutExpired:
            return None, "timeout", True
    if proc.returncode != 0 or not proc.stdout.strip():
        why = "exit %d: %s" % (proc.returncode,
                               proc.stderr.decode("utf-8", "replace")[:200])
        return None, why, True
    raw = proc.stdout.splitlines()[0]
    good = valid_utf8(raw, b"title") and valid_utf8(raw, b"content")
    try:
        out = json.loads(raw.decode("utf-8", "replace"))
    except ValueError as e:
        return None, "bad JSON: %s" % e, True
    return out, good, False


def got_of(out):
    ticket = out.get("ticket") or {}
    content = ticket.get("content") or ""
    content = content.split(NOTE)[0]
    title = ticket.get("title") or ""
    placeholder = content.strip() in (NO_TEXT, title.strip())
    files = [(unicodedata.normalize("NFC", a.get("name") or ""),
              (a.get("content_type") or "").lower(), a.get("size"))
             for a in out.get("attachments") or []]
    return {
        "subject": normal_subject(title, TITLE_MAX),
        "sender": (ticket.get("email") or "").lower(),
        "files": files,
        "body": normal_body(content),
        "placeholder": placeholder,
    }


def field(values, name):
    files = values["files"]
    if name == "names":
        return sorted(unicodedata.normalize("NFC", f[0]) for f in files)
    if name == "types":
        return sorted(f[1] for f in files)
    if name == "sizes":
        return sorted(f[2] for f in files)
    return values[name]


def same_but_unknown(want, got):
    """Equal, where a U+FFFD in WANT (a character the other helpdesk
    could not decode) stands for any one character."""
    if not isinstance(want, str) or not isinstance(got, str) or \
            len(want) != len(got) or "\ufffd" not in want:
        return False
    return all(w == g or w == "\ufffd" for w, g in zip(want, got))


def agree(name, want, got):
    if want == got:
        return True
    if isinstance(want, str) and same_but_unknown(want, got):
        return True
    if isinstance(want, list) and len(want) == len(got) and all(
            w == g or same_but_unknown(w, g) for w, g in zip(want, got)):
        return True
    if name != "body" or not want or not got:
        return False
    a, b = want.split(" "), got.split(" ")
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    if matcher.real_quick_ratio() < BODY_SIMILARITY:
        return False
    return matcher.ratio() >= BODY_SIMILARITY


def around_difference(want, got):
    """Long texts from a little before where they first differ."""
    if not isinstance(want, str) or not isinstance(got, str):
        return want, got
    i = 0
    while i < min(len(want), len(got)) and want[i] == got[i]:
        i += 1
    start = max(0, i - 20) if i > 40 else 0
    mark = "..." if start else ""
    return mark + want[start:], mark + got[start:]


def short(value, width=90):
    text = value if isinstance(value, str) else json.dumps(
        value, ensure_ascii=False)
    return text if len(text) <= width else text[:width - 3] + "..."


def main():
    m2t, config, corpus = sys.argv[1:4]
    boxes = sorted(glob.glob(os.path.join(corpus, "mail*.box")))
    counts = {f: 0 for f in FIELDS}
    total = 0
    crashes, bad_utf8, report = [], [], []
    surprises = {}
    by_text = 0
    for box in boxes:
        yml = box[:-4] + ".yml"
        if not os.path.exists(yml):
            continue
        name = os.path.basename(box)[:-4]
        total += 1
        want = expected_of(yml)
        given, nameless, plain = mail_facts(box)
        out, good, crashed = run_one(m2t, config, box)
        if crashed:
            crashes.append("%s: %s" % (name, good))
            continue
        if not good:
            bad_utf8.append(name)
        got = got_of(out)
        for f in FIELDS:
            w, g = field(want, f), field(got, f)
            if f == "names":
                w = names_given(w, given, nameless)
                g = names_given(g, given, nameless)
            if agree(f, w, g) or (f == "body" and not w and
                                  got["placeholder"]):
                counts[f] += 1
            elif f == "body" and plain is not None and \
                    agree(f, normal_body(plain), g):
                counts[f] += 1
                by_text += 1
            else:
                w, g = around_difference(w, g)
                why = DELIBERATE.get((name, f))
                if why is None:
                    surprises.setdefault(f, []).append(name)
                report.append("%s %s: want %s | got %s [%s]"
                              % (name, f, short(w), short(g),
                                 "deliberate: " + why if why else "new"))
    print("# corpus: %s, %d mails" % (corpus, total))
    for f in FIELDS:
        pct = 100.0 * counts[f] / total if total else 0.0
        print("# %-8s %5.1f%% (%d/%d)" % (f, pct, counts[f], total))
    print("# body: %d of the agreeing bodies match the mail's text/plain "
          "alternative where Zammad took the HTML" % by_text)
    for line in report:
        print("# " + line.replace("\n", " "))
    for line in crashes:
        print("# crash: " + line.replace("\n", " "))
    n = 0
    failed = 0
    n += 1
    failed += bool(crashes)
    print("%sok %d - no crash (%d/%d ran)"
          % ("not " if crashes else "", n, total - len(crashes), total))
    n += 1
    failed += bool(bad_utf8)
    print("%sok %d - title and content valid UTF-8%s"
          % ("not " if bad_utf8 else "", n,
             (": " + " ".join(bad_utf8)) if bad_utf8 else ""))
    for f in FIELDS:
        n += 1
        pct = 100.0 * counts[f] / total if total else 0.0
        bad = pct < THRESHOLD
        failed += bad
        print("%sok %d - %s agrees on %.1f%% (>= %.0f%%)%s"
              % ("not " if bad else "", n, f, pct, THRESHOLD,
                 (" (new: %s)" % " ".join(surprises[f]))
                 if f in surprises else ""))
    print("# disagreements marked [deliberate] are explained in "
          "DELIBERATE (corpus-compare.py)")
    print("1..%d" % n)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
