#!/bin/bash
# Run HiveMQ CE in the foreground with its home in /opt/hivemq, as the upstream image does.
set -euo pipefail
# shellcheck disable=SC2086 # JAVA_OPTS is an option list
exec java ${JAVA_OPTS:-} \
	-Dhivemq.home=/opt/hivemq \
	-Djava.net.preferIPv4Stack=true \
	--add-opens java.base/java.lang=ALL-UNNAMED \
	--add-opens java.base/java.nio=ALL-UNNAMED \
	--add-opens java.base/sun.nio.ch=ALL-UNNAMED \
	--add-opens jdk.management/com.sun.management.internal=ALL-UNNAMED \
	--add-exports java.base/jdk.internal.misc=ALL-UNNAMED \
	-cp "/opt/hivemq/lib/*" com.hivemq.HiveMQServer
