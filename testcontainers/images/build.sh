#!/usr/bin/env bash
# build.sh: build citybench's offline container images on a machine with no reachable
# container registry. Every image is tagged <name>:<version>-offline and labelled with a
# hash of what went into it; a rebuild is skipped when an image with that tag and hash
# already exists, so a second `make images` is quick.
#
#   testcontainers/images/build.sh [all|base|mosquitto|kafka|cassandra|hivemq|services]...
#
# Environment:
#   CITYBENCH_IMAGES_WORK  scratch folder for rootfs and downloads (default .cache/images)
#   DEBIAN_MIRROR          Debian mirror for debootstrap (default: the first one apt uses here)
#   CITYBENCH_IMAGES_FORCE=1 rebuilds even when the hash matches
#   CITYBENCH_SERVICES_BIN a prebuilt static citybench binary for the services image
#   CITYBENCH_SERVICES_IMAGE tag for the services image (default citybench/services:local);
#                          the containers target runs the same variable's image
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
work="${CITYBENCH_IMAGES_WORK:-$repo/.cache/images}"
mkdir -p "$work"

# Versions are the single source of truth for tags; the Go catalog (catalog.go) must agree.
SUITE=bookworm
BASE_TAG="citybench/base:${SUITE}-offline"
BASE_PACKAGES="openjdk-17-jre-headless,mosquitto,procps,netbase,ca-certificates"
KAFKA_VERSION=3.9.1
CASSANDRA_VERSION=5.0.6
HIVEMQ_VERSION=2025.5
MOSQUITTO_TAG="citybench/mosquitto:2.0-offline"
SERVICES_TAG="${CITYBENCH_SERVICES_IMAGE:-citybench/services:local}"
HASH_LABEL=org.citybench.content-hash

log() { printf '[images %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# have_image TAG HASH succeeds when TAG exists and carries HASH.
have_image() {
	[ "${CITYBENCH_IMAGES_FORCE:-0}" = 1 ] && return 1
	local got
	got="$(docker image inspect --format "{{ index .Config.Labels \"$HASH_LABEL\" }}" "$1" 2>/dev/null)" || return 1
	[ "$got" = "$2" ]
}

# hash_of PATHS... prints a short sha256 over the contents of the files under PATHS (in a
# stable order) and any extra words in $HASH_EXTRA.
hash_of() {
	{
		printf '%s\n' "${HASH_EXTRA:-}"
		find "$@" -type f -print0 | sort -z | xargs -0 cat
	} | sha256sum | cut -c1-16
}

base_image_id() { docker image inspect --format '{{.Id}}' "$BASE_TAG"; }

debian_mirror() {
	if [ -n "${DEBIAN_MIRROR:-}" ]; then
		echo "$DEBIAN_MIRROR"
		return
	fi
	# Reuse whatever mirror apt is configured with, so the script works wherever apt does.
	local m
	m="$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -n1 || true)"
	if [ -z "$m" ]; then
		m="$(grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | head -n1 || true)"
	fi
	[ -n "$m" ] || {
		log "no Debian mirror found; set DEBIAN_MIRROR"
		exit 1
	}
	echo "$m"
}

# ensure_debootstrap installs Debian's debootstrap when it is missing, as docker-engine.sh does
# for the engine: a brand-new machine must build the images with nothing installed by hand.
ensure_debootstrap() {
	command -v debootstrap >/dev/null && return 0
	log "debootstrap missing; installing Debian's debootstrap"
	local sudo=""
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	local i
	for i in 1 2 3 4 5 6; do
		if $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q >"$work/apt.log" 2>&1 &&
			$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >>"$work/apt.log" 2>&1; then
			return 0
		fi
		log "apt-get failed (attempt $i; another apt may hold the lock); retrying in 10 s"
		sleep 10
	done
	log "could not install debootstrap; see $work/apt.log"
	tail -n 20 "$work/apt.log" >&2
	exit 1
}

build_base() {
	local h
	# The suite and package list define the rootfs; hashing only them keeps the base (the slowest
	# image) from being rebuilt when unrelated parts of this script change.
	h="$(printf '%s %s' "$SUITE" "$BASE_PACKAGES" | sha256sum | cut -c1-16)"
	if have_image "$BASE_TAG" "$h"; then
		log "base: $BASE_TAG up to date ($h)"
		return
	fi
	ensure_debootstrap
	local rootfs="$work/rootfs-$SUITE"
	rm -rf "$rootfs"
	log "base: debootstrap $SUITE into $rootfs"
	debootstrap --variant=minbase --include="$BASE_PACKAGES" "$SUITE" "$rootfs" "$(debian_mirror)" >"$work/debootstrap.log" 2>&1 || {
		log "debootstrap failed; see $work/debootstrap.log"
		tail -n 20 "$work/debootstrap.log" >&2
		exit 1
	}
	# Slim the rootfs: apt lists, caches and docs are of no use in a runtime image.
	rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/*
	log "base: importing as $BASE_TAG"
	tar -C "$rootfs" -c . | docker import \
		--change "LABEL $HASH_LABEL=$h" \
		--change "LABEL org.citybench.flavour=offline" \
		--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		--change 'ENV LANG=C.UTF-8' \
		- "$BASE_TAG" >/dev/null
	rm -rf "$rootfs"
}

# fetch_jars DEST COORD... copies the runtime closure of Maven coordinates
# (group:artifact:version) into DEST, through a generated pom. Results are cached per
# coordinate set so a rebuild does not resolve again.
fetch_jars() {
	local dest="$1"
	shift
	local key
	key="$(printf '%s\n' "$@" | sha256sum | cut -c1-16)"
	local cache="$work/jars/$key"
	if [ ! -f "$cache/.done" ]; then
		rm -rf "$cache"
		mkdir -p "$cache/lib"
		{
			echo '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
			echo '<groupId>org.citybench.images</groupId><artifactId>jars</artifactId><version>1</version><dependencies>'
			local c g a v
			for c in "$@"; do
				IFS=: read -r g a v <<<"$c"
				echo "<dependency><groupId>$g</groupId><artifactId>$a</artifactId><version>$v</version></dependency>"
			done
			echo '</dependencies></project>'
		} >"$cache/pom.xml"
		log "maven: resolving $*"
		mvn -B -q -f "$cache/pom.xml" dependency:copy-dependencies \
			-DoutputDirectory="$cache/lib" -DincludeScope=runtime >"$cache/mvn.log" 2>&1 || {
			log "maven failed; see $cache/mvn.log"
			tail -n 20 "$cache/mvn.log" >&2
			exit 1
		}
		touch "$cache/.done"
	fi
	mkdir -p "$dest"
	cp -a "$cache/lib/." "$dest/"
}

# build_java NAME TAG VERSION COORD... builds images/NAME with the jars of COORD in lib/.
build_java() {
	local name="$1" tag="$2" version="$3"
	shift 3
	local h
	h="$(HASH_EXTRA="$version $* $(base_image_id)" hash_of "$here/$name")"
	if have_image "$tag" "$h"; then
		log "$name: $tag up to date ($h)"
		return
	fi
	local ctx="$work/ctx/$name"
	rm -rf "$ctx"
	mkdir -p "$ctx"
	cp -a "$here/$name/." "$ctx/"
	fetch_jars "$ctx/lib" "$@"
	if [ -x "$here/$name/prepare.sh" ]; then
		"$here/$name/prepare.sh" "$ctx" >"$work/$name-prepare.log" 2>&1 || {
			log "$name: prepare failed; see $work/$name-prepare.log"
			tail -n 20 "$work/$name-prepare.log" >&2
			exit 1
		}
	fi
	log "$name: building $tag"
	DOCKER_BUILDKIT=0 docker build -q --build-arg BASE="$BASE_TAG" --build-arg VERSION="$version" \
		--label "$HASH_LABEL=$h" --label org.citybench.flavour=offline -t "$tag" "$ctx" >/dev/null
	rm -rf "$ctx"
}

build_kafka() {
	# Kafka 3.9 logs through SLF4J 1.7; reload4j is the binding its own distribution ships.
	build_java kafka "citybench/kafka:${KAFKA_VERSION}-offline" "$KAFKA_VERSION" \
		"org.apache.kafka:kafka_2.13:$KAFKA_VERSION" \
		org.slf4j:slf4j-reload4j:1.7.36 ch.qos.reload4j:reload4j:1.2.25
}

build_cassandra() {
	build_java cassandra "citybench/cassandra:${CASSANDRA_VERSION}-offline" "$CASSANDRA_VERSION" \
		"org.apache.cassandra:cassandra-all:$CASSANDRA_VERSION"
}

build_hivemq() {
	build_java hivemq "citybench/hivemq-ce:${HIVEMQ_VERSION}-offline" "$HIVEMQ_VERSION" \
		"com.hivemq:hivemq-community-edition-embedded:$HIVEMQ_VERSION"
}

build_mosquitto() {
	local h
	h="$(HASH_EXTRA="$(base_image_id)" hash_of "$here/mosquitto")"
	if have_image "$MOSQUITTO_TAG" "$h"; then
		log "mosquitto: $MOSQUITTO_TAG up to date ($h)"
		return
	fi
	log "mosquitto: building $MOSQUITTO_TAG"
	DOCKER_BUILDKIT=0 docker build -q --build-arg BASE="$BASE_TAG" \
		--label "$HASH_LABEL=$h" --label org.citybench.flavour=offline -t "$MOSQUITTO_TAG" "$here/mosquitto" >/dev/null
}

build_services() {
	local ctx="$work/ctx/services"
	rm -rf "$ctx"
	mkdir -p "$ctx"
	cp -a "$here/services/." "$ctx/"
	# -trimpath and no VCS stamp make the binary a function of the source, so its hash decides
	# whether the image is stale.
	if [ -n "${CITYBENCH_SERVICES_BIN:-}" ]; then
		# A prebuilt static binary (e.g. from CI's build step) instead of building here.
		cp "$CITYBENCH_SERVICES_BIN" "$ctx/citybench"
	else
		(cd "$repo" && CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags='-s -w' -o "$ctx/citybench" ./cmd/citybench)
	fi
	# The image is useless without the services subcommand; say so now rather than
	# when a bridge container exits at the start of a run.
	if ! "$ctx/citybench" pipeline serve --help >/dev/null 2>&1; then
		log "services: the citybench binary has no \`pipeline serve\` command (is it wired into the root command?)"
		exit 1
	fi
	local h
	h="$(hash_of "$ctx/Dockerfile" "$ctx/citybench")"
	if have_image "$SERVICES_TAG" "$h"; then
		log "services: $SERVICES_TAG up to date ($h)"
	else
		log "services: building $SERVICES_TAG"
		DOCKER_BUILDKIT=0 docker build -q --label "$HASH_LABEL=$h" --label org.citybench.flavour=offline \
			-t "$SERVICES_TAG" "$ctx" >/dev/null
	fi
	rm -rf "$ctx"
}

main() {
	local targets=("$@")
	[ ${#targets[@]} -gt 0 ] || targets=(all)
	for t in "${targets[@]}"; do
		case "$t" in
		all)
			build_base
			build_mosquitto
			build_kafka
			build_cassandra
			build_hivemq
			build_services
			;;
		base) build_base ;;
		mosquitto) build_mosquitto ;;
		kafka) build_kafka ;;
		cassandra) build_cassandra ;;
		hivemq) build_hivemq ;;
		services) build_services ;;
		*)
			log "unknown image $t"
			exit 2
			;;
		esac
	done
}

main "$@"
