#!/bin/sh
# Fetches Debian's Sendmail into a cache dir without installing it: sendmail-bin conflicts with
# postfix, so the .debs are downloaded (apt-get download) and unpacked with dpkg -x. libwrap0 is
# unpacked beside it (sendmail links against it; the harness sets LD_LIBRARY_PATH). Idempotent:
# does nothing once DIR/root/usr/libexec/sendmail/sendmail exists. Usage: fetch-sendmail.sh DIR
set -eu
dir=${1:?usage: fetch-sendmail.sh DIR}
[ -x "$dir/root/usr/libexec/sendmail/sendmail" ] && exit 0
mkdir -p "$dir/debs"
cd "$dir/debs"
# apt (as root) drops to the _apt user to write the files: let it into this directory.
chmod 0777 .
apt-get download -qq sendmail-bin sendmail-base sendmail-cf libwrap0 2>&1 | grep -v '^W: Download is performed unsandboxed' || true
chmod 0755 .
rm -rf ../root.tmp
for deb in *.deb; do dpkg -x "$deb" ../root.tmp; done
# Run by root with LD_LIBRARY_PATH: a setgid binary would ignore the variable.
chmod g-s ../root.tmp/usr/libexec/sendmail/sendmail
rm -rf ../root
mv ../root.tmp ../root
