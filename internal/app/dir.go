package app

import (
	"fmt"
	"os"
)

// ensureDir creates the data dir, private to the user: it holds the
// database with stream keys, the credentials and the TLS key.
func ensureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("app: create data dir %s: %w", dir, err)
	}
	return nil
}
