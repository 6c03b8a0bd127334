package mtp_test

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/websocket"
)

// countingTransport counts the records sent through the transport it
// wraps. It implements only mtp.Transport, by embedding, and Unwrap: the
// optional interfaces of the transport inside stay reachable through
// mtp.As.
type countingTransport struct {
	mtp.Transport
	sent atomic.Int64
}

func (c *countingTransport) Send(ctx context.Context, to mtp.Address, data []byte) error {
	c.sent.Add(1)
	return c.Transport.Send(ctx, to, data)
}

func (c *countingTransport) Unwrap() mtp.Transport { return c.Transport }

func ExampleAs() {
	srv, err := websocket.NewServer(websocket.WithEndpointID("proto::controller"))
	if err != nil {
		panic(err)
	}
	var t mtp.Transport = &countingTransport{Transport: srv}

	_, direct := t.(mtp.Rejecter)
	rj, found := mtp.As[mtp.Rejecter](t)
	id, _ := mtp.As[mtp.Identified](t)
	fmt.Println(direct, found, rj != nil, id.LocalEndpointID())
	// Output: false true true proto::controller
}
