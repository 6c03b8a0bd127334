package conformance

import (
	"testing"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/record"
)

// FuzzParseConfig: a configuration file never panics the kit, and what it
// accepts has only TP-469 feature numbers.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{"response_timeout":"2s","features":{"24":true},"skip":{"1.5":"lab"}}`))
	f.Add([]byte(`{"quiet_period":3,"max_slow":"1m","async_command_args":{"Host":"x"}}`))
	f.Add([]byte(`{"features":{"x":true}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseConfig(b)
		if err != nil {
			return
		}
		_ = c.responseTimeout() + c.notifyTimeout() + c.quietPeriod() + c.rebootTimeout()
	})
}

// FuzzDescribe: whatever an agent sends, the trace decodes it or says why
// not, without panicking.
func FuzzDescribe(f *testing.F) {
	good, err := record.EncodeMsg("1.3", "a", "b", msg.Get{Paths: []string{"Device."}}.Build("1"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte{0x0a, 0x03, '1', '.', '3', 0x3a, 0x7f, 0x01})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		e := describe(Received, mtp.Address{MTP: mtp.Memory, To: "x"}, b)
		if e.Size != len(b) {
			t.Fatalf("size %d of %d bytes", e.Size, len(b))
		}
		_ = e.Summary()
	})
}

// FuzzParseAnswer: the WebSocket observer reads whatever the server wrote
// first on a hijacked connection; it never panics.
func FuzzParseAnswer(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		status, _ := parseAnswer(b)
		if status < 0 {
			t.Fatalf("status %d", status)
		}
	})
}
