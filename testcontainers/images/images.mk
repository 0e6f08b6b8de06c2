# images.mk: the container engine, offline images and container tests. The top-level
# Makefile includes it (`include testcontainers/images/images.mk`).

.PHONY: docker docker-engine docker-engine-stop images images-rebuild images-from-nothing test-containers containers-prune

# Start a Docker engine if none answers (installs Debian's docker.io when missing).
docker-engine: ## start a Docker engine if none answers (installs docker.io if missing)
	scripts/docker-engine.sh start

# `make docker` is the name CI and the README use.
docker: docker-engine ## same as docker-engine

docker-engine-stop: ## stop the engine docker-engine started (by its pid)
	scripts/docker-engine.sh stop

# Build the offline images; images whose inputs did not change are skipped.
images: docker-engine ## build the offline images; unchanged ones are skipped
	testcontainers/images/build.sh all

images-rebuild: docker-engine ## rebuild every offline image
	CITYBENCH_IMAGES_FORCE=1 testcontainers/images/build.sh all

# What a brand-new machine does: no debootstrap, no citybench image, no Maven cache of ours.
# CI runs this so a missing install step cannot hide behind what an earlier run left behind.
images-from-nothing: docker-engine ## remove debootstrap and every citybench image, then build them all
	-DEBIAN_FRONTEND=noninteractive apt-get remove -y -q debootstrap >/dev/null
	@# Every image of ours carries the content-hash label, untagged leftovers of earlier
	@# builds included; children before parents (a parent with children cannot be
	@# removed), so repeat until none is left.
	@for pass in 1 2 3 4 5 6 7 8 9 10; do \
		ids=$$(docker image ls -aq --filter label=org.citybench.content-hash | sort -u); \
		[ -z "$$ids" ] && break; \
		docker image rm -f $$ids >/dev/null 2>&1 || true; \
	done; \
	left=$$(docker image ls -aq --filter label=org.citybench.content-hash; docker image ls -q --filter reference='citybench/*'); \
	[ -z "$$left" ] || { echo "citybench images still present: $$left"; exit 1; }
	rm -rf .cache/images
	@! command -v debootstrap >/dev/null || { echo "debootstrap is still installed"; exit 1; }
	testcontainers/images/build.sh all

# Integration tests against real containers (Mosquitto, HiveMQ CE, Kafka x3, Cassandra,
# bridge/sink/API). The test binary sets the testcontainers environment this machine needs.
test-containers: images ## container integration tests (testcontainers/...)
	go test -tags containers -count=1 -timeout 30m ./testcontainers/...

# Remove containers and networks left by runs that died before tearing down.
containers-prune: ## remove citybench containers and networks left by dead runs
	-docker ps -aq --filter label=org.citybench | xargs -r docker rm -f
	-docker network ls -q --filter label=org.citybench | xargs -r docker network rm
