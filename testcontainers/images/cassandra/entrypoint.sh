#!/bin/bash
# Render cassandra.yaml from the official image's environment variables and run
# Cassandra in the foreground. Beyond those (the official image has none for
# security): CASSANDRA_AUTHENTICATOR (e.g. PasswordAuthenticator),
# CASSANDRA_CLIENT_ENCRYPTION_KEYSTORE and CASSANDRA_CLIENT_ENCRYPTION_TRUSTSTORE
# (PEM files; see below).
set -euo pipefail

conf=/etc/cassandra
ip="$(hostname -i | awk '{print $1}')"

listen="${CASSANDRA_LISTEN_ADDRESS:-auto}"
[ "$listen" = auto ] && listen="$ip"
broadcast="${CASSANDRA_BROADCAST_ADDRESS:-$listen}"
[ "$broadcast" = auto ] && broadcast="$ip"
rpc="${CASSANDRA_RPC_ADDRESS:-0.0.0.0}"
broadcast_rpc="${CASSANDRA_BROADCAST_RPC_ADDRESS:-$broadcast}"
[ "$broadcast_rpc" = auto ] && broadcast_rpc="$ip"
seeds="${CASSANDRA_SEEDS:-$broadcast}"
snitch="${CASSANDRA_ENDPOINT_SNITCH:-SimpleSnitch}"

sed -e "s|@CLUSTER_NAME@|${CASSANDRA_CLUSTER_NAME:-Test Cluster}|" \
	-e "s|@NUM_TOKENS@|${CASSANDRA_NUM_TOKENS:-16}|" \
	-e "s|@SEEDS@|$seeds|" \
	-e "s|@LISTEN@|$listen|" \
	-e "s|@BROADCAST@|$broadcast|" \
	-e "s|@RPC@|$rpc|" \
	-e "s|@BROADCAST_RPC@|$broadcast_rpc|" \
	-e "s|@SNITCH@|$snitch|" \
	-e "s|@AUTHENTICATOR@|${CASSANDRA_AUTHENTICATOR:-AllowAllAuthenticator}|" \
	"$conf/cassandra.yaml.in" >"$conf/cassandra.yaml"
# Client encryption from PEM files (Cassandra 5's PEMBasedSslContextFactory, no
# keytool): the keystore file holds the node's private key and certificate chain;
# with a truststore, clients must present a certificate it trusts.
if [ -n "${CASSANDRA_CLIENT_ENCRYPTION_KEYSTORE:-}" ]; then
	cat >>"$conf/cassandra.yaml" <<YAML
client_encryption_options:
  enabled: true
  optional: false
  ssl_context_factory:
    class_name: org.apache.cassandra.security.PEMBasedSslContextFactory
  keystore: ${CASSANDRA_CLIENT_ENCRYPTION_KEYSTORE}
YAML
	if [ -n "${CASSANDRA_CLIENT_ENCRYPTION_TRUSTSTORE:-}" ]; then
		printf '  truststore: %s\n  require_client_auth: true\n' "$CASSANDRA_CLIENT_ENCRYPTION_TRUSTSTORE" >>"$conf/cassandra.yaml"
	fi
fi
if [ -n "${CASSANDRA_DC:-}${CASSANDRA_RACK:-}" ]; then
	printf 'dc=%s\nrack=%s\n' "${CASSANDRA_DC:-dc1}" "${CASSANDRA_RACK:-rack1}" >"$conf/cassandra-rackdc.properties"
fi

heap="${MAX_HEAP_SIZE:-768M}"
newgen="${HEAP_NEWSIZE:-128M}"
jamm="$(ls /opt/cassandra/lib/jamm-*.jar | head -n1)"

# shellcheck disable=SC2086 # JVM_OPTS and JVM_EXTRA_OPTS are option lists
exec java -Xms"$heap" -Xmx"$heap" -Xmn"$newgen" \
	@"$conf/jvm17-server.options" \
	-javaagent:"$jamm" \
	-Dcassandra.config=file://"$conf"/cassandra.yaml \
	-Dcassandra-foreground=yes \
	-Dcassandra.storagedir=/var/lib/cassandra \
	-Dcassandra.logdir=/var/log/cassandra \
	-Dlogback.configurationFile="$conf"/logback.xml \
	${JVM_OPTS:-} ${JVM_EXTRA_OPTS:-} \
	-cp "$conf:/opt/cassandra/lib/*" \
	org.apache.cassandra.service.CassandraDaemon
