#!/usr/bin/env bash
# with-cassandra.sh CMD...: start a throwaway Cassandra container from the offline
# image, wait until CQL answers, run CMD with CITYBENCH_CASSANDRA_HOSTS pointing at
# it, then remove the container whatever CMD did. Used by `make test TAGS=containers`
# so the Cassandra store's conformance suite runs against the real database.
set -euo pipefail
image="${CITYBENCH_CASSANDRA_IMAGE:-citybench/cassandra:5.0.6-offline}"
wait_s="${CITYBENCH_CASSANDRA_WAIT:-240}"

docker image inspect "$image" >/dev/null 2>&1 || { echo "with-cassandra: image $image missing — run \`make images\`" >&2; exit 1; }
id=$(docker run -d --label org.citybench=store-tests -p 127.0.0.1::9042 \
	-e MAX_HEAP_SIZE=512M -e HEAP_NEWSIZE=96M "$image")
trap 'docker rm -f "$id" >/dev/null 2>&1 || true' EXIT
port=$(docker port "$id" 9042/tcp | head -1 | sed 's/.*://')
echo "with-cassandra: container ${id:0:12} on 127.0.0.1:$port; waiting for CQL (≤ ${wait_s}s)" >&2
deadline=$((SECONDS + wait_s))
until docker logs "$id" 2>&1 | grep -q "Startup complete"; do
	if ! docker inspect -f '{{.State.Running}}' "$id" | grep -q true; then
		docker logs "$id" 2>&1 | tail -20 >&2
		echo "with-cassandra: Cassandra exited during start-up" >&2
		exit 1
	fi
	if [ $SECONDS -ge $deadline ]; then
		echo "with-cassandra: Cassandra not ready after ${wait_s}s" >&2
		exit 1
	fi
	sleep 2
done
echo "with-cassandra: ready after $((SECONDS))s" >&2
CITYBENCH_CASSANDRA_HOSTS="127.0.0.1:$port" "$@"
