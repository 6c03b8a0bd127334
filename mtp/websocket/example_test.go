package websocket_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"

	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/websocket"
)

func Example() {
	ctx := context.Background()

	// The controller listens; agents dial it.
	controller, _ := websocket.NewServer(websocket.WithListenAddr("127.0.0.1:0"), websocket.WithEndpointID("proto::controller"))
	fromAgents := make(chan mtp.Inbound, 1)
	agentUp := make(chan string, 1)
	_ = controller.Start(ctx, mtp.HandlerFuncs{
		Record: func(in mtp.Inbound) { fromAgents <- in },
		Event: func(ev mtp.Event) {
			if ev.Kind == mtp.PeerUp {
				agentUp <- ev.PeerID
			}
		},
	})
	defer controller.Close(ctx)

	// The agent dials the controller and echoes what it receives.
	agent, _ := websocket.NewClient(controller.URL(), "proto::agent", websocket.WithPeerID("proto::controller"))
	_ = agent.Start(ctx, mtp.HandlerFuncs{Record: func(in mtp.Inbound) {
		_ = agent.Send(ctx, in.ReplyTo, append([]byte("echo: "), in.Data...))
	}})
	defer agent.Close(ctx)

	// The controller learns of the agent's session from its PeerUp event.
	id := <-agentUp
	_ = controller.Send(ctx, mtp.Address{MTP: mtp.WebSocket, To: id}, []byte("hello"))
	in := <-fromAgents
	fmt.Printf("%s from %s\n", in.Data, in.PeerID)
	// Output: echo: hello from proto::agent
}

// A controller dials an agent's WebSocket server whose certificate names
// the agent only by its endpoint ID, as TR-369 has it.
func ExampleWithServerCertificate() {
	agentRoots := x509.NewCertPool() // the CA that issues the agents' certificates
	c, err := websocket.NewClient("wss://192.0.2.10:8443/usp", "proto::controller",
		websocket.WithServerCertificate(agentRoots),
		websocket.WithPeerID("os::012345-SERIAL01"))
	fmt.Println(c.URL(), err)
	// Output: wss://192.0.2.10:8443/usp?eid=proto%3A%3Acontroller <nil>
}

// A controller admits only agents whose certificate names the endpoint
// they dial in as.
func ExampleWithClientCertificates() {
	var serverCert tls.Certificate // the controller's own certificate
	agentRoots := x509.NewCertPool()
	_, err := websocket.NewServer(websocket.WithListenAddr(":8443"),
		websocket.WithTLS(&tls.Config{Certificates: []tls.Certificate{serverCert}}),
		websocket.WithClientCertificates(agentRoots))
	fmt.Println(err)
	// Output: <nil>
}
