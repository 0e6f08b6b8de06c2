#!/bin/bash
# Start a Kafka broker configured the way the apache/kafka image is: every KAFKA_*
# environment variable that is not a JVM/tooling option becomes a server.properties
# key (KAFKA_A_B → a.b, __ → _, ___ → -). With none given, a single-node KRaft
# combined broker/controller listens on 9092.
#
# TLS as apache/kafka does it: KAFKA_SSL_KEYSTORE_FILENAME, KAFKA_SSL_TRUSTSTORE_FILENAME
# name stores in /etc/kafka/secrets, and KAFKA_SSL_KEYSTORE_CREDENTIALS,
# KAFKA_SSL_KEY_CREDENTIALS, KAFKA_SSL_TRUSTSTORE_CREDENTIALS files there hold their
# passwords. CITYBENCH_KAFKA_SCRAM (not in apache/kafka), e.g.
# 'SCRAM-SHA-512=[name=u,password=p]', creates a SCRAM user when the storage is
# formatted, so SASL/SCRAM works from the first start, inter-broker traffic included.
set -euo pipefail

props=/opt/kafka/config/server.properties
: >"$props"

secrets=/etc/kafka/secrets
secret() { # secret FILE: the file's content, failing loudly when it is missing
	[ -r "$secrets/$1" ] || {
		echo "kafka: $secrets/$1 missing (named by a KAFKA_SSL_*_CREDENTIALS variable)" >&2
		exit 1
	}
	cat "$secrets/$1"
}
[ -n "${KAFKA_SSL_KEYSTORE_FILENAME:-}" ] && export KAFKA_SSL_KEYSTORE_LOCATION="$secrets/$KAFKA_SSL_KEYSTORE_FILENAME"
[ -n "${KAFKA_SSL_TRUSTSTORE_FILENAME:-}" ] && export KAFKA_SSL_TRUSTSTORE_LOCATION="$secrets/$KAFKA_SSL_TRUSTSTORE_FILENAME"
if [ -n "${KAFKA_SSL_KEYSTORE_CREDENTIALS:-}" ]; then
	KAFKA_SSL_KEYSTORE_PASSWORD="$(secret "$KAFKA_SSL_KEYSTORE_CREDENTIALS")"
	export KAFKA_SSL_KEYSTORE_PASSWORD
fi
if [ -n "${KAFKA_SSL_KEY_CREDENTIALS:-}" ]; then
	KAFKA_SSL_KEY_PASSWORD="$(secret "$KAFKA_SSL_KEY_CREDENTIALS")"
	export KAFKA_SSL_KEY_PASSWORD
fi
if [ -n "${KAFKA_SSL_TRUSTSTORE_CREDENTIALS:-}" ]; then
	KAFKA_SSL_TRUSTSTORE_PASSWORD="$(secret "$KAFKA_SSL_TRUSTSTORE_CREDENTIALS")"
	export KAFKA_SSL_TRUSTSTORE_PASSWORD
fi

skip=" KAFKA_VERSION KAFKA_HEAP_OPTS KAFKA_LOG4J_OPTS KAFKA_OPTS KAFKA_JMX_OPTS KAFKA_JVM_PERFORMANCE_OPTS KAFKA_GC_LOG_OPTS KAFKA_LOG4J_ROOT_LOGLEVEL KAFKA_LOG4J_LOGGERS KAFKA_TOOLS_LOG4J_LOGLEVEL KAFKA_JMX_HOSTNAME KAFKA_JMX_PORT KAFKA_SSL_KEYSTORE_FILENAME KAFKA_SSL_TRUSTSTORE_FILENAME KAFKA_SSL_KEYSTORE_CREDENTIALS KAFKA_SSL_KEY_CREDENTIALS KAFKA_SSL_TRUSTSTORE_CREDENTIALS "
given=0
while IFS='=' read -r name value; do
	case "$skip" in *" $name "*) continue ;; esac
	key="${name#KAFKA_}"
	key="$(printf '%s' "$key" | tr '[:upper:]' '[:lower:]' | sed -e 's/___/-/g' -e 's/__/@/g' -e 's/_/./g' -e 's/@/_/g')"
	printf '%s=%s\n' "$key" "$value" >>"$props"
	given=1
done < <(env | grep -E '^KAFKA_[A-Z0-9_]+=' | sort)

if [ "$given" = 0 ]; then
	cat >"$props" <<'PROPS'
node.id=1
process.roles=broker,controller
listeners=PLAINTEXT://:9092,CONTROLLER://:9093
advertised.listeners=PLAINTEXT://localhost:9092
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
controller.quorum.voters=1@localhost:9093
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
PROPS
fi
grep -q '^log.dirs=' "$props" || echo 'log.dirs=/tmp/kraft-combined-logs' >>"$props"

cp="/opt/kafka/libs/*"
log4j="${KAFKA_LOG4J_OPTS:--Dlog4j.configuration=file:/opt/kafka/config/log4j.properties}"
perf="${KAFKA_JVM_PERFORMANCE_OPTS:--server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true}"

# The same cluster id on every broker of a cluster is what lets them form one quorum.
scram=()
[ -n "${CITYBENCH_KAFKA_SCRAM:-}" ] && scram=(--add-scram "$CITYBENCH_KAFKA_SCRAM")
java $log4j -Xmx128m -cp "$cp" kafka.tools.StorageTool format \
	-t "${CLUSTER_ID:-4L6g3nShT-eMCtK--X86sw}" -c "$props" --ignore-formatted "${scram[@]}"

# shellcheck disable=SC2086 # option strings are word-split on purpose
exec java ${KAFKA_HEAP_OPTS:-} $perf $log4j ${KAFKA_OPTS:-} -cp "$cp" kafka.Kafka "$props"
