#!/usr/bin/env bash
# Fetches the demo model's training text from Debian's package archive (no other network):
# the King James Version of the Bible, packages `bible-kjv-text` (the text, compressed) and
# `bible-kjv` (the program that decodes it). The KJV translation (1611) is in the public
# domain (see the packages' copyright files; in the United Kingdom the Crown's letters
# patent still restrict printing it). Writes target/demo-data/kjv.txt: one verse per line,
# verse references removed (~4.3 MB of ASCII).
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/demo-data
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download bible-kjv bible-kjv-text >/dev/null 2>&1)
for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$work/root"; done
cp "$work/root/usr/share/doc/bible-kjv-text/copyright" "$out/COPYRIGHT.bible-kjv-text"
"$work/root/usr/bin/bible" -p "$work/root/usr/lib" -f Gen1:1-Rev22:21 \
  | sed -E 's/^[0-9]?[A-Za-z]+[0-9]+:[0-9]+ //' > "$out/kjv.txt"
echo "wrote $(wc -c < "$out/kjv.txt") bytes to $out/kjv.txt"
