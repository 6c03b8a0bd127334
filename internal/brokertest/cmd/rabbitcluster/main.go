// Command rabbitcluster starts a RabbitMQ cluster on loopback, the one the
// scale-out tests use (see brokertest.NewRabbitMQCluster), for trying
// examples/scale-out by hand:
//
//	go run ./internal/brokertest/cmd/rabbitcluster -nodes 3
//	# prints: stomp 127.0.0.1:41231,127.0.0.1:38817,127.0.0.1:45103
//	go run ./examples/scale-out -stomp 127.0.0.1:41231,127.0.0.1:38817,127.0.0.1:45103
//
// It needs Debian's rabbitmq-server package (the system service may stay
// stopped: each node runs as a child of this command, with its data in a
// temporary directory). Interrupt it to stop the nodes; they also stop if
// it is killed.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/gousp/gousp/internal/brokertest"
)

func main() {
	nodes := flag.Int("nodes", 3, "cluster nodes")
	flag.Parse()
	dir, err := os.MkdirTemp("", "gousp-rabbitcluster-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "rabbitcluster:", err)
		os.Exit(1)
	}
	defer os.RemoveAll(dir)
	fmt.Fprintf(os.Stderr, "starting %d RabbitMQ nodes in %s ...\n", *nodes, dir)
	c, err := brokertest.StartRabbitMQCluster(dir, *nodes)
	if err != nil {
		fmt.Fprintln(os.Stderr, "rabbitcluster:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	for _, r := range c.Nodes {
		fmt.Fprintf(os.Stderr, "node %s: STOMP %s (guest/guest, virtual host /)\n", r.Name(), r.StompAddr())
	}
	fmt.Printf("stomp %s\n", strings.Join(c.StompAddrs(), ","))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	fmt.Fprintln(os.Stderr, "stopping")
	c.Close()
}
