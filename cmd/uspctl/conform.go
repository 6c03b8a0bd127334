package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/usp/conformance"
)

const conformLong = `Run the Broadband Forum's agent test plan TP-469 against one agent, with
uspctl as the test equipment, and report each case in the plan's numbering:
pass, fail (with the criterion that failed and the records exchanged), skip
(with the reason: a feature the agent's data model does not have, a case
that would change what the kit cannot restore) or needs an operator.

The kit reads the agent's supported data model first to know which
conditional cases apply; --plan-config overrides what it finds and chooses
the elements TP-469 leaves to the test equipment (JSON, see the
usp/conformance package: response_timeout, features, async_command, skip,
allow_destructive, max_slow, ...).

The kit leaves the agent as it found it: it deletes what it added and
restores what it set, and says so in the report when it could not.

Examples:
  uspctl conform --agent os::012345-ABC --agent-topic /usp/agent/{id}
  uspctl conform --agent os::012345-ABC --cases 1.1-1.23,1.36 --junit tp469.xml --html tp469.html
  uspctl conform --agent os::012345-ABC --list
  uspctl conform --agent os::012345-ABC --cases 1.78,2.9 --second-controller proto::kit-2=/usp/controller/kit-2
  uspctl conform --agent os::012345-ABC --cases 7 --serve-ws 192.0.2.1:8080 --serve-ws-tls ./kit-ca

Exit code 0 when no case failed, 1 when one did (or could not be carried out),
2 for usage errors, 3 when the agent cannot be reached.`

// conformFlags are the conform command's own flags.
type conformFlags struct {
	cases         []string
	planConfig    string
	destructive   bool
	maxSlow       time.Duration
	list          bool
	jsonOut       string
	junitOut      string
	htmlOut       string
	textOut       string
	serveMQTT     string
	serveMQTTS    string
	kitCA         string
	serveSTOMP    string
	serveSTOMPTLS string
	serveWS       string
	serveWSTLS    string
	second        string
	serveBulk     string
	serveBulkS    string
	bulkCert      string
	bulkTLSCert   string
	bulkTLSKey    string
	// TLS payload security (3.6, 3.7, 3.13)
	e2eCert, e2eKey, e2eCA    string
	e2eWrongCert, e2eWrongKey string
	signRecords               bool
}

func (a *app) conformCommand() *cobra.Command {
	var f conformFlags
	cmd := &cobra.Command{
		Use:   "conform",
		Short: "Check an agent against TP-469, the Broadband Forum's agent test plan",
		Long:  conformLong,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.conform(cmd.Context(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringSliceVar(&f.cases, "cases", nil, "sections, cases or ranges to run, comma-separated (1, 1.24, 1.1-1.23); default all")
	fl.StringVar(&f.planConfig, "plan-config", "", "TP-469 configuration file (JSON): features, elements, waits, cases to skip")
	fl.BoolVar(&f.destructive, "allow-destructive", false, "also run cases that reboot the agent or delete state the kit cannot fully restore")
	fl.DurationVar(&f.maxSlow, "max-slow", 0, "leave out cases that wait longer than this by design (0: run all)")
	fl.BoolVar(&f.list, "list", false, "list the implemented cases and exit")
	fl.StringVar(&f.jsonOut, "json", "", "write the full report (with record traces) as JSON to this file")
	fl.StringVar(&f.junitOut, "junit", "", "write a JUnit XML report to this file")
	fl.StringVar(&f.htmlOut, "html", "", "write a self-contained HTML report to this file")
	fl.StringVar(&f.textOut, "text", "", "write the text report to this file instead of stdout")
	fl.StringVar(&f.serveSTOMP, "serve-stomp", "", "run the kit's STOMP tap on this address (host:port), forwarding to --broker, for the agent to connect to, so the section 6 cases can observe its frames (implies --mtp stomp)")
	fl.StringVar(&f.serveSTOMPTLS, "serve-stomp-tls", "", "CERT,KEY: PEM files of a certificate (and its key) the kit's STOMP tap presents to agents that connect over TLS (plain TCP still works on the same port), for 6.11; the agent must trust its issuer")
	fl.StringVar(&f.second, "second-controller", "", "a second test equipment endpoint for the cases that need one (1.78, 2.9, 9.9): ENDPOINT-ID=TOPIC over MQTT, ENDPOINT-ID=DESTINATION over STOMP, where it receives; the agent must know it as it knows --controller-id")
	fl.StringVar(&f.serveMQTTS, "serve-mqtts", "", "like --serve-mqtt, with TLS: the broker's certificate comes from the kit's own CA (--kit-ca), which the agent must trust; for 4.1, 11.3 and 2.8")
	fl.StringVar(&f.kitCA, "kit-ca", "tp469-kit-ca.pem", "--serve-mqtts: the kit's CA certificate (PEM), for the agent's trust store, with its key in FILE.key; made when absent, reused when present")
	fl.StringVar(&f.serveWS, "serve-ws", "", "run the kit's own WebSocket server on this address (host:port) for the agent to connect to (path /usp, any path served), so the section 7 cases can observe its handshakes and frames (implies --mtp websocket)")
	fl.StringVar(&f.serveWSTLS, "serve-ws-tls", "", "with --serve-ws: make a certificate authority and a server certificate for the --serve-ws host, write the authority to DIR/ca.pem for the agent's trust store, and speak TLS (wss://) on the same port as ws:// (TP-469 7.9)")
	fl.StringVar(&f.serveMQTT, "serve-mqtt", "", "run the kit's own MQTT broker on this address (host:port) for the agent to connect to, so the section 11 cases can observe its packets (implies --mtp mqtt)")
	fl.StringVar(&f.serveBulk, "serve-bulkdata", "", "run the kit's HTTP bulk data receiver on this address (host:port, one the agent can reach) for the section 10 cases")
	fl.StringVar(&f.serveBulkS, "serve-bulkdata-tls", "", "run the kit's HTTPS bulk data receiver on this address (host:port) for 10.2, 10.4 and 10.6; the agent must trust the certificate authority it makes at start (--bulkdata-cert)")
	fl.StringVar(&f.bulkCert, "bulkdata-cert", "", "write the certificate (PEM) of the HTTPS bulk data receiver's certificate authority to this file, for the agent's trust store")
	fl.StringVar(&f.bulkTLSCert, "bulkdata-tls-cert", "", "PEM certificate for the HTTPS bulk data receiver instead of one the kit makes at start (with --bulkdata-tls-key), e.g. one the agent already trusts")
	fl.StringVar(&f.bulkTLSKey, "bulkdata-tls-key", "", "PEM private key of --bulkdata-tls-cert")
	fl.StringVar(&f.e2eCert, "e2e-tls-cert", "", "PEM certificate of the test equipment for TLS payload security in session contexts (3.6, 3.7, 3.13): ECDSA P-256, naming --controller-id as subjectAltName URI urn:bbf:usp:id:...; with --e2e-tls-key and --e2e-tls-ca")
	fl.StringVar(&f.e2eKey, "e2e-tls-key", "", "PEM private key of --e2e-tls-cert")
	fl.StringVar(&f.e2eCA, "e2e-tls-ca", "", "PEM authorities of the agent's certificate for TLS payload security")
	fl.StringVar(&f.e2eWrongCert, "e2e-tls-wrong-cert", "", "PEM certificate the agent trusts but naming another endpoint ID, for 3.7 (with --e2e-tls-wrong-key)")
	fl.StringVar(&f.e2eWrongKey, "e2e-tls-wrong-key", "", "PEM private key of --e2e-tls-wrong-cert")
	fl.BoolVar(&f.signRecords, "sign-records", false, "sign every record the test equipment sends with --e2e-tls-cert (mac_signature, sender_cert), for an agent that requires the integrity of records because its MTP gives none (3.2)")
	return cmd
}

func (a *app) conform(ctx context.Context, f conformFlags) error {
	cases, err := conformance.Select(conformance.All(), f.cases...)
	if err != nil {
		return usageErrorf("--cases: %v", err)
	}
	if f.list {
		for _, c := range cases {
			fmt.Fprintf(a.stdout, "%-6s %s [%s]\n", c.ID, c.Title, c.Tag())
		}
		return nil
	}
	agents, _, err := a.agentList()
	if err != nil {
		return err
	}
	if len(agents) != 1 {
		return usageErrorf("conform checks one agent: give exactly one --agent")
	}
	cfg := conformance.Config{}
	if f.planConfig != "" {
		if cfg, err = conformance.LoadConfig(f.planConfig); err != nil {
			return usageErrorf("--plan-config: %v", err)
		}
	}
	cfg.AllowDestructive = cfg.AllowDestructive || f.destructive
	if f.maxSlow > 0 {
		cfg.MaxSlow = conformance.Duration(f.maxSlow)
	}
	if cfg.ResponseTimeout == 0 {
		cfg.ResponseTimeout = conformance.Duration(a.s.timeout)
	}
	opts := []conformance.Option{conformance.WithResponseTimeout(time.Duration(cfg.ResponseTimeout))}
	if f.serveMQTT != "" && f.serveMQTTS != "" {
		return usageErrorf("--serve-mqtt and --serve-mqtts exclude each other")
	}
	if f.serveMQTT != "" || f.serveMQTTS != "" {
		var kb *conformance.MQTTBroker
		if f.serveMQTTS != "" {
			ca, err := kitCA(f.kitCA)
			if err != nil {
				return usageErrorf("--kit-ca: %v", err)
			}
			if kb, err = conformance.StartMQTTBrokerTLS(f.serveMQTTS, a.s.controllerID, ca); err != nil {
				return usageErrorf("--serve-mqtts: %v", err)
			}
			fmt.Fprintf(a.stderr, "the kit's broker presents a certificate of the CA in %s: the agent must trust it\n", f.kitCA)
			a.s.tlsCA = f.kitCA
		} else if kb, err = conformance.StartMQTTBroker(f.serveMQTT, a.s.controllerID); err != nil {
			return usageErrorf("--serve-mqtt: %v", err)
		}
		defer func() { _ = kb.Close() }()
		fmt.Fprintf(a.stderr, "the kit's MQTT broker listens at %s\n", kb.URL())
		a.s.mtp, a.s.broker = "mqtt", kb.URL()
		opts = append(opts, conformance.WithMQTTBroker(kb))
	}
	if f.serveSTOMP != "" {
		if f.serveMQTT != "" || f.serveMQTTS != "" {
			return usageErrorf("--serve-stomp and --serve-mqtt exclude each other")
		}
		upstream := a.s.broker
		if upstream == "" {
			upstream = defaultSTOMPBroker
		}
		tp, err := conformance.StartSTOMPTap(f.serveSTOMP, upstream, a.s.controllerID)
		if err != nil {
			return usageErrorf("--serve-stomp (forwarding to --broker): %v", err)
		}
		defer func() { _ = tp.Close() }()
		if f.serveSTOMPTLS != "" {
			certFile, keyFile, ok := strings.Cut(f.serveSTOMPTLS, ",")
			if !ok {
				return usageErrorf("--serve-stomp-tls: want CERT,KEY")
			}
			cert, err := tls.LoadX509KeyPair(certFile, keyFile)
			if err != nil {
				return usageErrorf("--serve-stomp-tls: %v", err)
			}
			tp.SetTLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		}
		fmt.Fprintf(a.stderr, "the kit's STOMP tap listens at %s, forwarding to %s\n", tp.Addr(), upstream)
		a.s.mtp, a.s.broker = "stomp", tp.Addr()
		opts = append(opts, conformance.WithSTOMPTap(tp))
	}
	var bulk [2]*conformance.BulkReceiver
	for i, addr := range []string{f.serveBulk, f.serveBulkS} {
		if addr == "" {
			continue
		}
		var r *conformance.BulkReceiver
		if i == 1 && (f.bulkTLSCert != "" || f.bulkTLSKey != "") {
			cert, cerr := tls.LoadX509KeyPair(f.bulkTLSCert, f.bulkTLSKey)
			if cerr != nil {
				return usageErrorf("--bulkdata-tls-cert, --bulkdata-tls-key: %v", cerr)
			}
			r, err = conformance.StartBulkReceiverTLS(addr, cert)
		} else {
			r, err = conformance.StartBulkReceiver(addr, i == 1)
		}
		if err != nil {
			return usageErrorf("--serve-bulkdata: %v", err)
		}
		defer func() { _ = r.Close() }()
		fmt.Fprintf(a.stderr, "the kit's bulk data receiver listens at %s\n", r.URL("/"))
		bulk[i] = r
	}
	if bulk[0] != nil || bulk[1] != nil {
		opts = append(opts, conformance.WithBulkDataReceivers(bulk[0], bulk[1]))
	}
	if f.bulkCert != "" {
		if bulk[1] == nil {
			return usageErrorf("--bulkdata-cert needs --serve-bulkdata-tls")
		}
		if err := os.WriteFile(f.bulkCert, bulk[1].CertPEM(), 0o644); err != nil {
			return usageErrorf("--bulkdata-cert: %v", err)
		}
	}
	tlsOpts, err := payloadTLSOptions(f)
	if err != nil {
		return err
	}
	opts = append(opts, tlsOpts...)
	if f.signRecords {
		if len(tlsOpts) == 0 {
			return usageErrorf("--sign-records needs --e2e-tls-cert, --e2e-tls-key and --e2e-tls-ca")
		}
		opts = append(opts, conformance.WithRecordSigning())
	}
	var b binding
	if f.serveWS != "" {
		if f.serveMQTT != "" || f.serveSTOMP != "" {
			return usageErrorf("--serve-ws excludes --serve-mqtt and --serve-stomp")
		}
		ks, err := a.serveWebSocket(f)
		if err != nil {
			return err
		}
		defer func() { _ = ks.Close() }()
		a.s.mtp = "websocket"
		opts = append(opts, conformance.WithWebSocketObserver(ks.Observer()))
		b = binding{t: ks.Transport(), describe: "the kit's WebSocket server " + ks.URL(),
			hint: "point the agent's Controller.{i}.MTP.{i}.WebSocket at " + ks.URL()}
	} else {
		if f.serveWSTLS != "" {
			return usageErrorf("--serve-ws-tls needs --serve-ws")
		}
		if b, err = a.newBinding(a); err != nil {
			return err
		}
		if addr, ok := b.address(agents[0]); ok {
			opts = append(opts, conformance.WithAgentAddress(addr))
		}
	}
	eq, err := conformance.NewEquipment(b.t, a.s.controllerID, agents[0].ID, opts...)
	if err != nil {
		_ = b.t.Close(context.WithoutCancel(ctx))
		return usageErrorf("%v", err)
	}
	sctx, cancel := context.WithTimeout(ctx, a.s.timeout)
	defer cancel()
	if err := eq.Start(sctx); err != nil {
		return connError(fmt.Errorf("cannot connect to %s: %w", b.describe, err))
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = eq.Close(cctx)
	}()
	if _, err := eq.WaitAgent(sctx); err != nil {
		return connError(fmt.Errorf("agent %s not reachable over %s (%s): %w", agents[0].ID, b.describe, b.hint, err))
	}
	a.ready()
	r := &conformance.Runner{Equipment: eq, Config: cfg, Progress: a.conformProgress()}
	if f.second != "" {
		addr, _ := eq.WaitAgent(sctx)
		second, err := a.secondEquipment(ctx, f.second, agents[0].ID, addr, time.Duration(cfg.ResponseTimeout))
		if err != nil {
			return err
		}
		defer func() {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_ = second.Close(cctx)
		}()
		r.Secondary = second
	}
	rep := r.Run(ctx, cases)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err := a.writeReports(rep, f); err != nil {
		return err
	}
	if !rep.OK() {
		return &exitError{code: exitFailed, quiet: true}
	}
	return nil
}

// serveWebSocket starts the kit's WebSocket server of --serve-ws, with
// the kit's own certificates under --serve-ws-tls.
func (a *app) serveWebSocket(f conformFlags) (*conformance.WebSocketServer, error) {
	host, _, err := net.SplitHostPort(f.serveWS)
	if err != nil {
		return nil, usageErrorf("--serve-ws: %v", err)
	}
	var tlsCfg *tls.Config
	if f.serveWSTLS != "" {
		hosts := []string{"localhost"}
		if host != "" {
			hosts = append(hosts, host)
		}
		if tlsCfg, _, err = conformance.KitCertificates(f.serveWSTLS, hosts...); err != nil {
			return nil, usageErrorf("--serve-ws-tls: %v", err)
		}
	}
	ks, err := conformance.StartWebSocketServer(f.serveWS, a.s.controllerID, tlsCfg)
	if err != nil {
		return nil, usageErrorf("--serve-ws: %v", err)
	}
	fmt.Fprintf(a.stderr, "the kit's WebSocket server listens at %s\n", ks.URL())
	if u := ks.TLSURL(); u != "" {
		fmt.Fprintf(a.stderr, "and at %s, with the certificate authority in %s\n", u, filepath.Join(f.serveWSTLS, "ca.pem"))
	}
	return ks, nil
}

// secondEquipment makes and starts the second test equipment endpoint of
// --second-controller: the same binding as the first, under another
// endpoint ID, receiving on its own topic or destination, sending to the
// agent's address the first one learnt.
func (a *app) secondEquipment(ctx context.Context, spec, agentID string, agentAddr mtp.Address, timeout time.Duration) (*conformance.Equipment, error) {
	id, where, ok := strings.Cut(spec, "=")
	if !ok || id == "" || where == "" {
		return nil, usageErrorf("--second-controller %q: want ENDPOINT-ID=TOPIC (MQTT) or ENDPOINT-ID=DESTINATION (STOMP)", spec)
	}
	if id == a.s.controllerID {
		return nil, usageErrorf("--second-controller %q: the endpoint ID must differ from --controller-id", spec)
	}
	saved := a.s
	defer func() { a.s = saved }()
	a.s.controllerID = id
	switch mtp.Kind(a.s.mtp) {
	case mtp.MQTT:
		a.s.topic = where
	case mtp.STOMP:
		a.s.destination = where
	default:
		return nil, usageErrorf("--second-controller works over mqtt or stomp, not %s", a.s.mtp)
	}
	b, err := a.newBinding(a)
	if err != nil {
		return nil, err
	}
	eq, err := conformance.NewEquipment(b.t, id, agentID, conformance.WithAgentAddress(agentAddr), conformance.WithResponseTimeout(timeout))
	if err != nil {
		_ = b.t.Close(context.WithoutCancel(ctx))
		return nil, usageErrorf("--second-controller: %v", err)
	}
	sctx, cancel := context.WithTimeout(ctx, a.s.timeout)
	defer cancel()
	if err := eq.Start(sctx); err != nil {
		return nil, connError(fmt.Errorf("second controller %s cannot connect to %s: %w", id, b.describe, err))
	}
	return eq, nil
}

// conformProgress reports each case on stderr as it ends, unless
// --no-progress.
func (a *app) conformProgress() func(done, total int, c *conformance.Case, r *conformance.Result) {
	if a.s.noProgress {
		return nil
	}
	return func(done, total int, c *conformance.Case, r *conformance.Result) {
		if r == nil {
			return
		}
		width := 30
		bar := strings.Repeat("#", done*width/total) + strings.Repeat(".", width-done*width/total)
		fmt.Fprintf(a.stderr, "[%s] %d/%d %s %s: %s\n", bar, done, total, c.ID, c.Title, r.Verdict)
	}
}

func (a *app) writeReports(rep *conformance.Report, f conformFlags) error {
	write := func(path string, fn func(io.Writer) error) error {
		if path == "" {
			return nil
		}
		file, err := os.Create(path)
		if err != nil {
			return &exitError{code: exitFailed, err: err}
		}
		err = errors.Join(fn(file), file.Close())
		if err != nil {
			return &exitError{code: exitFailed, err: fmt.Errorf("%s: %w", path, err)}
		}
		return nil
	}
	if err := errors.Join(write(f.jsonOut, rep.WriteJSON), write(f.junitOut, rep.WriteJUnit),
		write(f.htmlOut, rep.WriteHTML), write(f.textOut, rep.WriteText)); err != nil {
		return err
	}
	if f.textOut != "" {
		return nil
	}
	if a.jsonOutput() {
		return rep.WriteJSON(a.stdout)
	}
	return rep.WriteText(a.stdout)
}

// kitCA loads the kit's CA from file (its certificate) and file.key, or
// makes one and writes both when the certificate is absent.
func kitCA(file string) (*conformance.TestCA, error) {
	certPEM, err := os.ReadFile(file)
	if err == nil {
		keyPEM, err := os.ReadFile(file + ".key")
		if err != nil {
			return nil, err
		}
		return conformance.LoadTestCA(certPEM, keyPEM)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	ca, err := conformance.NewTestCA()
	if err != nil {
		return nil, err
	}
	keyPEM, err := ca.KeyPEM()
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(file+".key", keyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(file, ca.CertPEM(), 0o644); err != nil {
		return nil, err
	}
	return ca, nil
}

// payloadTLSOptions reads the --e2e-tls-* files.
func payloadTLSOptions(f conformFlags) ([]conformance.Option, error) {
	if f.e2eCert == "" && f.e2eKey == "" && f.e2eCA == "" && f.e2eWrongCert == "" && f.e2eWrongKey == "" {
		return nil, nil
	}
	if f.e2eCert == "" || f.e2eKey == "" || f.e2eCA == "" {
		return nil, usageErrorf("--e2e-tls-cert, --e2e-tls-key and --e2e-tls-ca go together")
	}
	cert, err := tls.LoadX509KeyPair(f.e2eCert, f.e2eKey)
	if err != nil {
		return nil, usageErrorf("--e2e-tls-cert, --e2e-tls-key: %v", err)
	}
	pem, err := os.ReadFile(f.e2eCA)
	if err != nil {
		return nil, usageErrorf("--e2e-tls-ca: %v", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, usageErrorf("--e2e-tls-ca: no PEM certificate in %s", f.e2eCA)
	}
	opts := []conformance.Option{conformance.WithPayloadTLS(cert, roots)}
	if f.e2eWrongCert != "" || f.e2eWrongKey != "" {
		wrong, err := tls.LoadX509KeyPair(f.e2eWrongCert, f.e2eWrongKey)
		if err != nil {
			return nil, usageErrorf("--e2e-tls-wrong-cert, --e2e-tls-wrong-key: %v", err)
		}
		opts = append(opts, conformance.WithPayloadTLSWrongID(wrong))
	}
	return opts, nil
}
