package peerconn_test

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/gousp/gousp/internal/peerconn"
	"github.com/gousp/gousp/mtp"
)

func TestOptionSetters(t *testing.T) {
	check := func([]byte) error { return nil }
	tests := []struct {
		name    string
		set     func(o *peerconn.Options) error
		wantErr string // "" if the value is valid
		applied func(o *peerconn.Options) bool
	}{
		{"logger", func(o *peerconn.Options) error { return o.SetLogger(discard) }, "",
			func(o *peerconn.Options) bool { return o.Log == discard }},
		{"nil logger", func(o *peerconn.Options) error { return o.SetLogger(nil) }, "uds: nil logger", nil},
		{"handshake timeout", func(o *peerconn.Options) error { return o.SetHandshakeTimeout(time.Second) }, "",
			func(o *peerconn.Options) bool { return o.HandshakeTimeout == time.Second }},
		{"zero handshake timeout", func(o *peerconn.Options) error { return o.SetHandshakeTimeout(0) },
			"uds: handshake timeout 0s, want > 0", nil},
		{"write timeout", func(o *peerconn.Options) error { return o.SetWriteTimeout(time.Minute) }, "",
			func(o *peerconn.Options) bool { return o.WriteTimeout == time.Minute }},
		{"negative write timeout", func(o *peerconn.Options) error { return o.SetWriteTimeout(-time.Second) },
			"uds: write timeout -1s, want > 0", nil},
		{"max record size", func(o *peerconn.Options) error { return o.SetMaxRecordSize(1) }, "",
			func(o *peerconn.Options) bool { return o.MaxRecordSize == 1 }},
		{"zero max record size", func(o *peerconn.Options) error { return o.SetMaxRecordSize(0) },
			"uds: max record size 0, want at least 1", nil},
		{"record check", func(o *peerconn.Options) error { return o.SetRecordCheck(check) }, "",
			func(o *peerconn.Options) bool { return o.RecordCheck != nil }},
		{"range", func(o *peerconn.Options) error { return o.CheckRange("retry interval", time.Second, time.Second) }, "", nil},
		{"range upside down", func(o *peerconn.Options) error { return o.CheckRange("retry interval", 2*time.Second, time.Second) },
			"uds: retry interval 2s to 1s, want 0 < min <= max", nil},
		{"range from zero", func(o *peerconn.Options) error { return o.CheckRange("backoff", 0, time.Second) },
			"uds: backoff 0s to 1s, want 0 < min <= max", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := peerconn.Options{Kind: mtp.UDS, Log: slog.Default()}
			err := tt.set(&o)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("error %v for a valid value", err)
			case tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr):
				t.Fatalf("error = %v, want %q", err, tt.wantErr)
			}
			if tt.applied != nil && !tt.applied(&o) {
				t.Errorf("value not applied: %+v", o)
			}
		})
	}
}

func TestOptionRoles(t *testing.T) {
	var o peerconn.Options
	o.Kind = mtp.WebSocket
	if err := errors.Join(o.Check(peerconn.ServerRole), o.Check(peerconn.ClientRole)); err != nil {
		t.Errorf("no role-specific option, yet %v", err)
	}
	o.Only("WithBackoff", peerconn.ClientRole)
	if err := o.Check(peerconn.ClientRole); err != nil {
		t.Errorf("client option on a client: %v", err)
	}
	err := o.Check(peerconn.ServerRole)
	if err == nil || err.Error() != "websocket: option WithBackoff does not apply to a server" {
		t.Errorf("client option on a server: %v", err)
	}
}
