#!/bin/bash
# prepare.sh CTX: compile the allow-all extension against the extension SDK that
# Maven put in CTX/lib and lay it out as a HiveMQ extension folder in CTX/extensions.
set -euo pipefail
ctx="$1"
src="$(cd "$(dirname "$0")" && pwd)/allow-all"
sdk="$(ls "$ctx"/lib/hivemq-extension-sdk-*.jar | head -n1)"
out="$ctx/extensions/citybench-allow-all"
classes="$(mktemp -d)"
trap 'rm -rf "$classes"' EXIT
mkdir -p "$out" "$classes/META-INF/services"
javac --release 11 -cp "$sdk" -d "$classes" "$src"/src/org/citybench/hivemq/*.java
cp "$src/services.txt" "$classes/META-INF/services/com.hivemq.extension.sdk.api.ExtensionMain"
jar --create --file "$out/citybench-allow-all.jar" -C "$classes" .
cp "$src/hivemq-extension.xml" "$out/"
rm -rf "$ctx/allow-all" "$ctx/prepare.sh"
