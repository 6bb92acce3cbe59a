#!/usr/bin/env bash
# macOS: zips dist/relay.app (built by scripts/package.sh) as dist/relay-<version>-macos.zip, with
# the LaunchAgent template and the install notes beside it.
set -euo pipefail
cd "$(dirname "$0")/../.."
app=dist/relay.app
if [ ! -d "$app" ]; then
  echo "make-zip: no $app; build it first with scripts/package.sh" >&2
  exit 1
fi
version=$("$app/Contents/MacOS/relay" --version | awk '{print $2}')
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
ditto "$app" "$stage/relay.app"
cp packaging/macos/org.relay.agent.plist "$stage/"
cp packaging/macos/README.md "$stage/INSTALL.md"
zip=dist/relay-$version-macos.zip
rm -f "$zip"
ditto -c -k --sequesterRsrc "$stage" "$zip"
echo "wrote $zip ($(($(wc -c <"$zip") / 1048576)) MB)"
