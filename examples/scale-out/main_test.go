package main

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/gousp/gousp/internal/brokertest"
)

func TestMain(m *testing.M) { brokertest.Main(m) }

// TestScaleOut runs the example with everything embedded and checks that
// each process served its share: every call and operation, and the events
// of the first process's subscriptions handled there, some forwarded by
// the others.
func TestScaleOut(t *testing.T) {
	checkScaleOut(t, binding{})
}

// TestScaleOutSTOMP runs it over STOMP on a RabbitMQ node (the shared one
// of this test binary; the three-node cluster is tested in
// usp/store/pgstore): competing consumers on one queue, a /topic/ reply
// destination per process.
func TestScaleOutSTOMP(t *testing.T) {
	if testing.Short() {
		t.Skip("starts RabbitMQ")
	}
	addr := brokertest.StartRabbitMQ(t)
	checkScaleOut(t, binding{stompNodes: []string{addr}})
}

func checkScaleOut(t *testing.T, b binding) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, &out, b, 3, 6); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{
		`every process reached every agent`,
		`18 operations completed on the process that started them`,
		`6 events reached p1, which subscribed`,
	} {
		if !regexp.MustCompile(want).Match(out.Bytes()) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	rows := regexp.MustCompile(`(?m)^(p\d)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$`).FindAllStringSubmatch(out.String(), -1)
	if len(rows) != 3 {
		t.Fatalf("table has %d rows:\n%s", len(rows), out.String())
	}
	for _, r := range rows {
		if r[2] != "6" || r[3] != "6" {
			t.Errorf("%s made %s calls and %s operations, want 6 each", r[1], r[2], r[3])
		}
	}
	if p1, _ := strconv.Atoi(rows[0][4]); p1 < 6 {
		t.Errorf("p1 handled %d notifications, fewer than the 6 events of its subscriptions", p1)
	}
	t.Log("\n" + out.String())
}
