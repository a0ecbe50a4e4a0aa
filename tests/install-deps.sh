#!/bin/sh
# Install, from Debian's packages, everything mail2ticket needs to build,
# to run its demo and to run its whole test suite.  Uses sudo when not
# run as root.  Postfix is installed with "No configuration": the tests
# run their own private instance and the machine's mail set-up is left
# as it is.
set -e

PACKAGES="build-essential autoconf automake pkgconf ca-certificates
  libgmime-3.0-dev libglib2.0-dev libcurl4-openssl-dev libcjson-dev
  libxml2-dev libytnef0-dev
  python3 python3-yaml curl postfix procmail valgrind clang libclang-rt-14-dev"

if [ "$(id -u)" -eq 0 ]; then
	SUDO=
else
	SUDO=sudo
fi

echo "postfix postfix/main_mailer_type select No configuration" |
	$SUDO debconf-set-selections
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO env DEBIAN_FRONTEND=noninteractive \
	apt-get install -y -q --no-install-recommends $PACKAGES
