package promusp_test

import (
	"context"
	"log"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gousp/gousp/contrib/promusp"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/usp"
)

// The metrics are hooks for the controller and a collector for the
// registry; Watch adds the figures read at scrape time.
func ExampleNew() {
	var transport mtp.Transport // e.g. from mtp/mqtt
	m, err := promusp.New()
	if err != nil {
		log.Fatal(err)
	}
	c, err := usp.NewController("proto::my-controller", usp.WithTransport(transport), usp.WithHooks(m))
	if err != nil {
		log.Fatal(err)
	}
	m.Watch(c)
	reg := prometheus.NewRegistry()
	reg.MustRegister(m)
	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	_ = c.Start(context.Background())
}
