package peerconn

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/gousp/gousp/mtp"
)

// Role is the side of a connection a transport takes.
type Role int

// Roles.
const (
	ServerRole Role = iota + 1
	ClientRole
)

func (r Role) String() string {
	if r == ServerRole {
		return "server"
	}
	return "client"
}

// Options holds the settings that both roles of every binding with direct
// connections take. A binding's configuration embeds it, and the
// binding's With* functions call its setters, which check the values as
// the functional options must. Errors name the binding: Kind must be set.
type Options struct {
	Kind             mtp.Kind
	Log              *slog.Logger
	HandshakeTimeout time.Duration
	WriteTimeout     time.Duration // bounds a send whose context has none
	MaxRecordSize    int
	RecordCheck      func(record []byte) error // vets received records; nil accepts all
	// MaxSessions and MaxSessionsPerAddr are a server's limits (see
	// [Gate]); NewOptions-style defaults are the binding's to set.
	MaxSessions        int
	MaxSessionsPerAddr int

	only map[string]Role // options that fit one role, by name
}

func (o *Options) errorf(format string, args ...any) error {
	return fmt.Errorf(string(o.Kind)+": "+format, args...)
}

// SetLogger sets the logger; nil is refused.
func (o *Options) SetLogger(l *slog.Logger) error {
	if l == nil {
		return o.errorf("nil logger")
	}
	o.Log = l
	return nil
}

// SetHandshakeTimeout sets the handshake timeout, which must be positive.
func (o *Options) SetHandshakeTimeout(d time.Duration) error {
	if d <= 0 {
		return o.errorf("handshake timeout %v, want > 0", d)
	}
	o.HandshakeTimeout = d
	return nil
}

// SetWriteTimeout sets the write timeout, which must be positive.
func (o *Options) SetWriteTimeout(d time.Duration) error {
	if d <= 0 {
		return o.errorf("write timeout %v, want > 0", d)
	}
	o.WriteTimeout = d
	return nil
}

// SetMaxRecordSize sets the record size limit, which must be at least 1.
func (o *Options) SetMaxRecordSize(n int) error {
	if n < 1 {
		return o.errorf("max record size %d, want at least 1", n)
	}
	o.MaxRecordSize = n
	return nil
}

// SetSessionLimits sets a server's limits on connections, in total and
// per remote address; both must be positive.
func (o *Options) SetSessionLimits(total, perAddr int) error {
	if total < 1 || perAddr < 1 {
		return o.errorf("session limits %d in total, %d per address; want at least 1", total, perAddr)
	}
	o.MaxSessions, o.MaxSessionsPerAddr = total, perAddr
	return nil
}

// SetRecordCheck sets the record check; nil removes it.
func (o *Options) SetRecordCheck(f func(record []byte) error) error {
	o.RecordCheck = f
	return nil
}

// Only notes that the option called name fits role r alone; [Options.Check]
// then refuses it for the other role.
func (o *Options) Only(name string, r Role) {
	if o.only == nil {
		o.only = make(map[string]Role)
	}
	o.only[name] = r
}

// Check reports an option that does not fit role r, for the constructor
// of r to return.
func (o *Options) Check(r Role) error {
	for name, want := range o.only {
		if want != r {
			return o.errorf("option %s does not apply to a %v", name, r)
		}
	}
	return nil
}

// CheckRange checks a range of durations such as a retry interval: what
// names it in errors.
func (o *Options) CheckRange(what string, lo, hi time.Duration) error {
	if lo <= 0 || hi < lo {
		return o.errorf("%s %v to %v, want 0 < min <= max", what, lo, hi)
	}
	return nil
}
