package usptest

import (
	"errors"
	"testing"
)

// TestWithRecordIntegrityNeedsCertificate: the option is refused at
// construction without a signing certificate and roots.
func TestWithRecordIntegrityNeedsCertificate(t *testing.T) {
	if _, err := NewAgent("proto::integrity", WithRecordIntegrity(RecordIntegrity{Require: true})); !errors.Is(err, ErrInvalidOption) {
		t.Fatalf("NewAgent: %v, want ErrInvalidOption", err)
	}
}
