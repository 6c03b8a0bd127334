package otelusp_test

import (
	"log"

	"go.opentelemetry.io/otel"

	"github.com/gousp/gousp/contrib/otelusp"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/usp"
)

// One span per request and the usp.* metrics, through the providers
// given (here the global ones).
func ExampleNew() {
	var transport mtp.Transport // e.g. from mtp/mqtt
	h, err := otelusp.New(otelusp.WithTracerProvider(otel.GetTracerProvider()),
		otelusp.WithMeterProvider(otel.GetMeterProvider()))
	if err != nil {
		log.Fatal(err)
	}
	c, err := usp.NewController("proto::my-controller", usp.WithTransport(transport), usp.WithHooks(h))
	if err != nil {
		log.Fatal(err)
	}
	unregister, err := h.Observe(c)
	if err != nil {
		log.Fatal(err)
	}
	defer unregister()
}
