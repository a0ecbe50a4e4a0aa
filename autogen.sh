#!/bin/sh
# Generate ./configure and the Makefile templates from configure.ac and
# Makefile.am.  Run once after a fresh clone.
set -e
cd "$(dirname "$0")"
autoreconf --install --force
