package testcontainers

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
)

// reservedClusterIDs are the ids Kafka's Uuid keeps for itself (ZERO_UUID and
// ONE_UUID, the metadata topic's id); Uuid.randomUuid never returns them.
var reservedClusterIDs = [][16]byte{{}, {15: 1}}

// newClusterID makes a Kafka cluster id the way Kafka's Uuid.randomUuid does: 16
// random bytes as URL-safe base64 without padding, drawn again while the id is
// reserved or starts with '-'. A leading '-' is no cosmetic problem:
// `kafka-storage format -t -x…` reads the id as an option and exits 1, about once
// in 64 random ids.
func newClusterID(random io.Reader) (string, error) {
	// Bounded: each draw is rejected with probability < 1/64, so 64 draws all failing
	// means the source is not random.
	for range 64 {
		var b [16]byte
		if _, err := io.ReadFull(random, b[:]); err != nil {
			return "", fmt.Errorf("kafka cluster id: %w", err)
		}
		id := base64.RawURLEncoding.EncodeToString(b[:])
		if !strings.HasPrefix(id, "-") && !reservedClusterID(b) {
			return id, nil
		}
	}
	return "", fmt.Errorf("kafka cluster id: 64 draws were all reserved or started with '-'; the random source is broken")
}

func reservedClusterID(b [16]byte) bool {
	for _, r := range reservedClusterIDs {
		if bytes.Equal(b[:], r[:]) {
			return true
		}
	}
	return false
}
