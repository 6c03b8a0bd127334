package usptest_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"maps"
	"slices"
	"time"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/usp/usptest"
)

// Start a controller and a fake agent on an in-process network, and ask
// the agent for values. In a test, usptest.NewPair(t) does the same and
// closes both when the test ends.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p, err := usptest.StartPair(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close(ctx)

	vals, err := p.Agent.GetValues(ctx, "Device.WiFi.SSID.*.SSID")
	if err != nil {
		log.Fatal(err)
	}
	for _, path := range slices.Sorted(maps.Keys(vals)) {
		fmt.Println(path, "=", vals[path])
	}
	// Output:
	// Device.WiFi.SSID.1.SSID = usptest
	// Device.WiFi.SSID.2.SSID = usptest-5G
}

// Make the next Set fail, as a device short of memory would, and check
// that nothing changed.
func ExampleFaults() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p, err := usptest.StartPair(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close(ctx)

	p.Fake.Faults().FailNext(uspmsg.Header_SET, msg.CodeResourcesExceeded)
	ssid := map[string]string{"SSID": "guest"}
	_, err = p.Agent.SetValues(ctx, "Device.WiFi.SSID.1.", ssid)
	fmt.Println(errors.Is(err, msg.ErrResourcesExceeded))
	v, _ := p.Fake.Model().Get("Device.WiFi.SSID.1.SSID")
	fmt.Println("SSID", v)

	_, err = p.Agent.SetValues(ctx, "Device.WiFi.SSID.1.", ssid) // the fault is used up
	fmt.Println(err)
	v, _ = p.Fake.Model().Get("Device.WiFi.SSID.1.SSID")
	fmt.Println("SSID", v)
	// Output:
	// true
	// SSID usptest
	// <nil>
	// SSID guest
}

// Give the agent a vendor object and a command of its own.
func ExampleModel_Define() {
	m := usptest.DefaultModel()
	err := m.Define(`
Device.X_EXAMPLE-COM_Fan.
  Speed      unsignedInt  rw  = 1200
  Mode       string       rw  enum=Auto,Manual = Auto
  Boost()    sync   in=Seconds  out=Speed
`)
	if err != nil {
		log.Fatal(err)
	}
	err = m.HandleCommand("Device.X_EXAMPLE-COM_Fan.Boost()", func(ctx context.Context, path string, args map[string]string) (map[string]string, error) {
		return map[string]string{"Speed": "3000"}, m.Set("Device.X_EXAMPLE-COM_Fan.Speed", "3000")
	})
	if err != nil {
		log.Fatal(err)
	}
	err = m.Set("Device.X_EXAMPLE-COM_Fan.Mode", "Turbo")
	fmt.Println(msg.CodeOf(err) == msg.CodeInvalidValue)
	mode, _ := m.Get("Device.X_EXAMPLE-COM_Fan.Mode")
	fmt.Println(mode)
	// Output:
	// true
	// Auto
}
