package mqtt_test

import (
	"context"
	"testing"

	"github.com/gousp/gousp/internal/brokertest"
	"github.com/gousp/gousp/mtp/mqtt"
)

// TestPublishProperties: Publish puts the caller's Content Type, QoS and
// retain flag on the PUBLISH and no Response Topic, where Send puts
// usp.msg and our reply topic.
func TestPublishProperties(t *testing.T) {
	hook := &wireLog{}
	b := brokertest.NewEmbedded(t, hook.config())
	tr, _, _ := start(t, b.URL(), "proto::bulk", mqtt.WithTopic("ctl"), mqtt.WithQoS(0))
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := tr.Publish(ctx, "bulk/report", []byte("a,b\n1,2\n"), mqtt.Publication{ContentType: "text/csv; charset=UTF-8", QoS: 2, Retain: true}); err != nil {
		t.Fatal(err)
	}
	hook.mu.Lock()
	defer hook.mu.Unlock()
	if len(hook.pubs) != 1 {
		t.Fatalf("%d PUBLISHes", len(hook.pubs))
	}
	p := hook.pubs[0]
	if p.Topic != "bulk/report" || p.Props == nil || p.Props.ContentType != "text/csv; charset=UTF-8" || p.Props.ResponseTopic != "" {
		t.Errorf("PUBLISH topic %q properties %+v", p.Topic, p.Props)
	}
	if p.QoS != 1 || !p.Retain {
		t.Errorf("PUBLISH QoS %d retain %v, want 1 (2 capped) and retained", p.QoS, p.Retain)
	}
}
