#!/usr/bin/env bash
# docker-engine.sh: make sure a Docker engine answers on this machine, starting one
# if needed. Idempotent: a second call with a running engine does nothing.
#
#   scripts/docker-engine.sh start   install docker.io if missing, start dockerd, wait for `docker info`
#   scripts/docker-engine.sh stop    stop the dockerd this script started (by the pid it recorded)
#   scripts/docker-engine.sh status  exit 0 when the engine answers
#
# Environment: CITYBENCH_DOCKER_STATE (default .cache/docker-engine) holds dockerd.pid and dockerd.log;
# CITYBENCH_DOCKER_WAIT (default 60) bounds the wait for the engine, in seconds.
set -euo pipefail

state_dir="${CITYBENCH_DOCKER_STATE:-$(cd "$(dirname "$0")/.." && pwd)/.cache/docker-engine}"
wait_s="${CITYBENCH_DOCKER_WAIT:-60}"
pidfile="$state_dir/dockerd.pid"
logfile="$state_dir/dockerd.log"

log() { printf 'docker-engine: %s\n' "$*" >&2; }

answers() { timeout 10 docker info >/dev/null 2>&1; }

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

install_engine() {
	if command -v dockerd >/dev/null 2>&1; then return 0; fi
	log "dockerd not found; installing Debian's docker.io"
	# Another process may hold the dpkg lock (e.g. a parallel apt run): retry for a bounded time.
	local i
	for i in $(seq 1 30); do
		if as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q &&
			as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io; then
			return 0
		fi
		log "apt-get failed (attempt $i); retrying in 10 s"
		sleep 10
	done
	log "could not install docker.io"
	return 1
}

start() {
	if answers; then
		log "engine already answers"
		return 0
	fi
	install_engine
	mkdir -p "$state_dir"
	local launcher=""
	if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
		log "dockerd (pid $(cat "$pidfile")) is running but not answering yet; waiting"
	else
		log "starting dockerd (log: $logfile)"
		rm -f "$pidfile"
		# setsid detaches dockerd from this shell so it outlives the script. dockerd writes its
		# own pid to the pidfile (the background job's pid would be a wrapper's), so `stop`
		# ends exactly that process and nothing else.
		as_root setsid dockerd --pidfile "$pidfile" >"$logfile" 2>&1 </dev/null &
		launcher=$!
	fi
	local deadline=$((SECONDS + wait_s))
	while [ "$SECONDS" -lt "$deadline" ]; do
		if answers; then
			log "engine answers after $((SECONDS))s: $(docker version --format '{{.Server.Version}}' 2>/dev/null)"
			return 0
		fi
		if [ -n "${launcher:-}" ] && ! kill -0 "$launcher" 2>/dev/null; then
			log "dockerd exited; last log lines:"
			tail -n 20 "$logfile" >&2 || true
			return 1
		fi
		sleep 1
	done
	log "engine did not answer within ${wait_s}s; last log lines:"
	tail -n 20 "$logfile" >&2 || true
	return 1
}

stop() {
	if [ ! -f "$pidfile" ]; then
		log "no pidfile; nothing this script started is running"
		return 0
	fi
	local pid
	pid="$(cat "$pidfile")"
	if kill -0 "$pid" 2>/dev/null; then
		log "stopping dockerd pid $pid"
		as_root kill -TERM "$pid"
		local i
		for i in $(seq 1 30); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 1
		done
	fi
	rm -f "$pidfile"
}

case "${1:-start}" in
start) start ;;
stop) stop ;;
status) answers ;;
*)
	echo "usage: $0 start|stop|status" >&2
	exit 2
	;;
esac
