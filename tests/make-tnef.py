#!/usr/bin/env python3
"""make-tnef.py - writes the winmail.dat test mail (tests/data/kinds).

Outlook sends rich-text mail as one application/ms-tnef part, named
winmail.dat, that holds the body and the attached files.  This script
builds such a part from the public description of the TNEF format and
prints a whole mail around it:

    python3 tests/make-tnef.py > tests/data/kinds/winmail.eml
    python3 tests/make-tnef.py --raw > winmail.dat

A TNEF stream is a signature (0x223E9F78), a 16-bit key, then
attributes.  Each attribute is a level byte (1: the message, 2: the
current attachment), a 32-bit id (its type in the high word, its
number in the low word), a 32-bit length, the data, and a 16-bit
checksum: the sum of the data bytes modulo 65536.  All numbers are
little-endian.  An attachment starts with attAttachRendData.
"""
import base64
import struct
import sys

SIGNATURE = 0x223E9F78
LVL_MESSAGE = 1
LVL_ATTACHMENT = 2

# Attribute ids: type << 16 | number.
ATP_STRING, ATP_TEXT, ATP_BYTE, ATP_WORD, ATP_DWORD = 1, 2, 6, 7, 8
ATT_TNEF_VERSION = ATP_DWORD << 16 | 0x9006
ATT_OEM_CODEPAGE = ATP_BYTE << 16 | 0x9007
ATT_MESSAGE_CLASS = ATP_WORD << 16 | 0x8008
ATT_SUBJECT = ATP_STRING << 16 | 0x8004
ATT_BODY = ATP_TEXT << 16 | 0x800C
ATT_ATTACH_REND_DATA = ATP_BYTE << 16 | 0x9002
ATT_ATTACH_TITLE = ATP_STRING << 16 | 0x8010
ATT_ATTACH_DATA = ATP_BYTE << 16 | 0x800F

SUBJECT = "Backup server reboots"
BODY = ("The backup server reboots every night at 02:00.\r\n"
        "The log is attached.\r\n")
FILE_NAME = "backup.log"
FILE_DATA = b"02:00 reboot\n02:05 up again\n"


def attribute(level, att_id, data):
    """One attribute with its checksum."""
    checksum = sum(data) % 65536
    return (struct.pack("<BII", level, att_id, len(data)) + data +
            struct.pack("<H", checksum))


def cstring(text):
    """TEXT as the NUL-terminated Windows-1252 string TNEF stores."""
    return text.encode("cp1252") + b"\0"


def tnef():
    """The winmail.dat bytes: a body and one file."""
    out = struct.pack("<IH", SIGNATURE, 0x0001)
    out += attribute(LVL_MESSAGE, ATT_TNEF_VERSION,
                     struct.pack("<I", 0x00010000))
    out += attribute(LVL_MESSAGE, ATT_OEM_CODEPAGE,
                     struct.pack("<II", 1252, 0))
    out += attribute(LVL_MESSAGE, ATT_MESSAGE_CLASS,
                     cstring("IPM.Microsoft Mail.Note"))
    out += attribute(LVL_MESSAGE, ATT_SUBJECT, cstring(SUBJECT))
    out += attribute(LVL_MESSAGE, ATT_BODY, cstring(BODY))
    # Rendering: a file (type 1), no position, no size, no flags.
    out += attribute(LVL_ATTACHMENT, ATT_ATTACH_REND_DATA,
                     struct.pack("<HIHHI", 1, 0xFFFFFFFF, 0, 0, 0))
    out += attribute(LVL_ATTACHMENT, ATT_ATTACH_TITLE, cstring(FILE_NAME))
    out += attribute(LVL_ATTACHMENT, ATT_ATTACH_DATA, FILE_DATA)
    return out


def mail(data):
    """A mail whose only part is winmail.dat, as Exchange sends it."""
    encoded = base64.encodebytes(data).decode("ascii")
    return ("From: Karl Meier <karl.meier@customer.test>\n"
            "To: support@support.test\n"
            "Subject: " + SUBJECT + "\n"
            "Message-ID: <tnef-1@customer.test>\n"
            "MIME-Version: 1.0\n"
            "Content-Type: multipart/mixed; boundary=\"tnef\"\n"
            "\n"
            "--tnef\n"
            "Content-Type: application/ms-tnef; name=\"winmail.dat\"\n"
            "Content-Transfer-Encoding: base64\n"
            "Content-Disposition: attachment; filename=\"winmail.dat\"\n"
            "\n" + encoded +
            "--tnef--\n")


def main():
    data = tnef()
    if sys.argv[1:] == ["--raw"]:
        sys.stdout.buffer.write(data)
    else:
        sys.stdout.write(mail(data))


if __name__ == "__main__":
    main()
