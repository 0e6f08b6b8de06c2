package testcontainers

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
)

// mosquittoPasswordLine returns one line of a Mosquitto password_file in its
// PBKDF2-SHA512 format ($7$), so no mosquitto_passwd run is needed inside the container.
func mosquittoPasswordLine(user, password string) (string, error) {
	const iterations = 101 // mosquitto_passwd's default
	salt := make([]byte, 12)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("salt: %w", err)
	}
	hash, err := pbkdf2.Key(sha512.New, password, salt, iterations, sha512.Size)
	if err != nil {
		return "", fmt.Errorf("pbkdf2: %w", err)
	}
	return fmt.Sprintf("%s:$7$%d$%s$%s\n", user, iterations,
		base64.StdEncoding.EncodeToString(salt), base64.StdEncoding.EncodeToString(hash)), nil
}
