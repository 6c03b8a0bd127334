package usptest

import (
	"sync"
	"testing"
	"time"

	"github.com/gousp/gousp/internal/brokertest"
	"github.com/gousp/gousp/internal/embedbroker"
	"github.com/gousp/gousp/mtp/mqtt"
)

// TestBulkMQTTContentType: an MQTT bulk data report goes out with its
// encoding's media type as the PUBLISH's Content Type (R-BULK.8a), at the
// profile's PublishQoS and PublishRetain, not as a USP record (usp.msg).
func TestBulkMQTTContentType(t *testing.T) {
	for _, tc := range []struct {
		encoding, want string
	}{
		{"CSV", "text/csv; charset=UTF-8; header=present"},
		{"JSON", "application/json; charset=UTF-8"},
	} {
		t.Run(tc.encoding, func(t *testing.T) {
			var mu sync.Mutex
			var pubs []embedbroker.Packet
			b := brokertest.NewEmbedded(t, brokertest.EmbeddedConfig{Interceptor: embedbroker.InterceptorFuncs{In: func(_ embedbroker.Client, p *embedbroker.Packet) bool {
				if p.Type == embedbroker.PacketPublish && p.Topic == "bulk/reports" {
					mu.Lock()
					pubs = append(pubs, *p)
					mu.Unlock()
				}
				return true
			}}})
			tr, err := mqtt.New(b.URL(), agentID, mqtt.WithTopic("usp/agent"))
			if err != nil {
				t.Fatal(err)
			}
			a, _ := newTestAgent(t, WithTransport(tr), WithBulkDataSecond(10*time.Millisecond))
			m := a.Model()
			if _, err := m.AddInstance("Device.BulkData.Profile.", map[string]string{"Protocol": "MQTT", "EncodingType": tc.encoding,
				"ReportingInterval": "1", "MQTT.Reference": "Device.MQTT.Client.1", "MQTT.PublishTopic": "bulk/reports",
				"MQTT.PublishQoS": "1", "MQTT.PublishRetain": "true", "Enable": "true"}); err != nil {
				t.Fatal(err)
			}
			if err := m.Set("Device.BulkData.Enable", "true"); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(5 * time.Second)
			var got []embedbroker.Packet
			for len(got) == 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
				mu.Lock()
				got = append(got, pubs...)
				mu.Unlock()
			}
			if len(got) == 0 {
				t.Fatal("no report published on bulk/reports")
			}
			p := got[0]
			if p.Props == nil || p.Props.ContentType != tc.want || p.Props.ResponseTopic != "" {
				t.Errorf("PUBLISH properties %+v, want Content Type %q and no Response Topic", p.Props, tc.want)
			}
			if p.QoS != 1 || !p.Retain {
				t.Errorf("PUBLISH QoS %d retain %v, want the profile's 1 and true", p.QoS, p.Retain)
			}
		})
	}
}
