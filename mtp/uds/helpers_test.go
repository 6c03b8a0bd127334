package uds_test

import (
	"os"
	"path/filepath"
	"testing"
)

// sockPath returns a socket path short enough for sun_path.
func sockPath(t testing.TB) string {
	dir, err := os.MkdirTemp("", "uds")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "s")
}
