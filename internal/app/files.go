package app

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/onair-video/onair/internal/ivs"
)

// writeFileAtomic writes a file through a temp file and a rename, so a
// reader (a test harness, the aws CLI) never sees half of it.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// writeCredentials writes DATA_DIR/credentials in the AWS shared-credentials
// format under the profile "onair". Mode 0600: it holds the secret key.
func writeCredentials(dir string, a ivs.Account, region string) (string, error) {
	path := filepath.Join(dir, "credentials")
	body := fmt.Sprintf("[onair]\naws_access_key_id = %s\naws_secret_access_key = %s\nregion = %s\n",
		a.AccessKeyID, a.SecretAccessKey.Reveal(), region)
	if err := writeFileAtomic(path, []byte(body), 0o600); err != nil {
		return "", fmt.Errorf("app: write credentials: %w", err)
	}
	return path, nil
}

// writeListeners writes DATA_DIR/listeners.json with the bound addresses.
func writeListeners(dir string, addrs map[string]string) error {
	b, err := json.MarshalIndent(addrs, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(dir, "listeners.json"), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("app: write listeners.json: %w", err)
	}
	return nil
}
