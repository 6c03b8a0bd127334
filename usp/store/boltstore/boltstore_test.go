package boltstore_test

import (
	"path/filepath"
	"testing"

	"github.com/gousp/gousp/usp"
	"github.com/gousp/gousp/usp/store/boltstore"
	"github.com/gousp/gousp/usp/store/storetest"
)

func open(t *testing.T) usp.Store {
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "gousp.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestStore(t *testing.T) { storetest.Run(t, open) }

// TestReopen: what was written is there after the file is closed and
// opened again, and a second process cannot open it meanwhile.
func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gousp.db")
	s, err := boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutAgents(t.Context(), []usp.InventoryEntry{{EndpointID: "os::a", State: usp.StateOnline}}); err != nil {
		t.Fatal(err)
	}
	if _, err := boltstore.Open(path, boltstore.WithTimeout(50e6)); err == nil {
		t.Fatal("a second Open of a file in use succeeded")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	n := 0
	for e, err := range s.Agents(t.Context()) {
		if err != nil || e.EndpointID != "os::a" || e.State != usp.StateOnline {
			t.Fatalf("%+v %v", e, err)
		}
		n++
	}
	if n != 1 {
		t.Fatalf("%d agents after reopening", n)
	}
}
