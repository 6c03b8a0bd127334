package conformance

import (
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// maxBulkBody bounds one recorded request body (after decompression).
const maxBulkBody = 4 << 20

// BulkTransfer is one HTTP request a bulk data receiver got.
type BulkTransfer struct {
	Seq    int         `json:"seq"`
	Time   time.Time   `json:"time"`
	Method string      `json:"method"`
	Path   string      `json:"path"`
	Query  url.Values  `json:"query"`
	Header http.Header `json:"header"`
	// Body is the request body, decompressed when the agent sent it
	// with Content-Encoding gzip.
	Body []byte `json:"body"`
	// Status is what the receiver answered.
	Status int  `json:"status"`
	TLS    bool `json:"tls"`
	// Err says why the body could not be read whole.
	Err string `json:"error,omitempty"`
}

// BulkReceiver is the test equipment's bulk data collector for section
// 10: an HTTP or HTTPS server on a loopback (or given) address that
// records every request, with its URI query parameters, headers and body,
// and answers 200 OK, or the status a case sets with [BulkReceiver.Fail]
// (10.7's disabled collector). Each case posts to a path of its own, so
// that reports of one case never count for another. An HTTPS receiver
// serves a certificate for 127.0.0.1, ::1 and localhost from a [TestCA]
// of its own, which the agent must trust ([BulkReceiver.CertPool],
// [BulkReceiver.CertPEM]).
type BulkReceiver struct {
	ln      net.Listener
	srv     *http.Server
	secure  bool
	certPEM []byte
	pool    *x509.CertPool

	mu      sync.Mutex
	got     []BulkTransfer
	fail    map[string]int // path -> status to answer
	changed chan struct{}  // closed and replaced on every request
	paths   int
}

// StartBulkReceiver listens on addr ("127.0.0.1:0" for any free port)
// and serves HTTP, or HTTPS when secure is true. The agent reaches it at
// that address, so it should be one the agent can reach, not a wildcard.
func StartBulkReceiver(addr string, secure bool) (*BulkReceiver, error) {
	return startBulkReceiver(addr, secure, nil)
}

// StartBulkReceiverTLS is StartBulkReceiver serving HTTPS with cert, e.g.
// one the agent under test already trusts, instead of one of its own CA.
func StartBulkReceiverTLS(addr string, cert tls.Certificate) (*BulkReceiver, error) {
	if len(cert.Certificate) == 0 {
		return nil, fmt.Errorf("%w: bulk data receiver certificate is empty", ErrInvalidOption)
	}
	return startBulkReceiver(addr, true, &cert)
}

func startBulkReceiver(addr string, secure bool, given *tls.Certificate) (*BulkReceiver, error) {
	r := &BulkReceiver{secure: secure, fail: map[string]int{}, changed: make(chan struct{})}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("conformance: bulk data receiver: %w", err)
	}
	r.srv = &http.Server{Handler: http.HandlerFunc(r.serve), ReadHeaderTimeout: 10 * time.Second}
	if secure {
		var cert tls.Certificate
		if given != nil {
			cert = *given
			r.certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]})
		} else if cert, r.certPEM, err = bulkCertificate(ln.Addr()); err != nil {
			_ = ln.Close()
			return nil, err
		}
		r.pool = x509.NewCertPool()
		r.pool.AppendCertsFromPEM(r.certPEM)
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	}
	r.ln = ln
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

// bulkCertificate makes a CA of its own and a certificate it signs for
// the loopback names and the address the receiver listens on, valid for a
// day, and returns the certificate and the CA's, PEM encoded.
func bulkCertificate(addr net.Addr) (tls.Certificate, []byte, error) {
	ca, err := newCA(pkix.Name{CommonName: "gousp TP-469 bulk data receiver CA"}, 24*time.Hour)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if ta, ok := addr.(*net.TCPAddr); ok && !ta.IP.IsLoopback() && !ta.IP.IsUnspecified() {
		hosts = append(hosts, ta.IP.String())
	}
	now := time.Now()
	cert, err := ca.ServerCertFor(now.Add(-time.Hour), now.Add(24*time.Hour), hosts...)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("conformance: bulk data receiver certificate: %w", err)
	}
	return cert, ca.CertPEM(), nil
}

func (r *BulkReceiver) serve(w http.ResponseWriter, req *http.Request) {
	tr := BulkTransfer{Time: time.Now(), Method: req.Method, Path: req.URL.Path, Query: req.URL.Query(),
		Header: req.Header.Clone(), TLS: req.TLS != nil}
	var body io.Reader = http.MaxBytesReader(w, req.Body, maxBulkBody)
	if req.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(body)
		if err != nil {
			tr.Err = "gzip: " + err.Error()
			body = nil
		} else {
			body = io.LimitReader(zr, maxBulkBody)
		}
	}
	if body != nil {
		b, err := io.ReadAll(body)
		tr.Body = b
		if err != nil {
			tr.Err = err.Error()
		}
	}
	r.mu.Lock()
	tr.Status = http.StatusOK
	if s := r.fail[tr.Path]; s != 0 {
		tr.Status = s
	}
	tr.Seq = len(r.got)
	r.got = append(r.got, tr)
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
	w.WriteHeader(tr.Status)
}

// URL returns the receiver's URL for path, which should be one of
// [BulkReceiver.NewPath]'s.
func (r *BulkReceiver) URL(path string) string {
	scheme := "http"
	if r.secure {
		scheme = "https"
	}
	return scheme + "://" + r.ln.Addr().String() + path
}

// NewPath returns a path no earlier caller got, for one case's reports.
func (r *BulkReceiver) NewPath(tag string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.paths++
	return fmt.Sprintf("/bulk/%s/%d", url.PathEscape(tag), r.paths)
}

// Secure reports whether the receiver serves HTTPS.
func (r *BulkReceiver) Secure() bool { return r.secure }

// CertPEM returns, PEM encoded, the root the agent must trust: the CA of
// an HTTPS receiver's certificate, or the certificate given to
// [StartBulkReceiverTLS].
func (r *BulkReceiver) CertPEM() []byte { return r.certPEM }

// CertPool returns a pool holding [BulkReceiver.CertPEM].
func (r *BulkReceiver) CertPool() *x509.CertPool { return r.pool }

// Fail makes the receiver answer status to the requests on path from now
// on; 0 makes it accept them again.
func (r *BulkReceiver) Fail(path string, status int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if status == 0 {
		delete(r.fail, path)
	} else {
		r.fail[path] = status
	}
}

// Transfers returns the requests received on path.
func (r *BulkReceiver) Transfers(path string) []BulkTransfer {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []BulkTransfer
	for _, t := range r.got {
		if t.Path == path {
			out = append(out, t)
		}
	}
	return out
}

// Await waits until path has received n requests, or ctx ends, and
// returns what it received.
func (r *BulkReceiver) Await(ctx context.Context, path string, n int) ([]BulkTransfer, bool) {
	for {
		r.mu.Lock()
		ch := r.changed
		r.mu.Unlock()
		got := r.Transfers(path)
		if len(got) >= n {
			return got, true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return got, false
		}
	}
}

// Close stops the receiver.
func (r *BulkReceiver) Close() error { return r.srv.Close() }

// WithBulkDataReceivers gives the section 10 cases the kit's HTTP and
// HTTPS bulk data receivers (either may be nil). The agent must reach them
// at their URLs, and trust the HTTPS one's certificate. Without them the
// HTTP cases end as needing the kit's receiver.
func WithBulkDataReceivers(plain, secure *BulkReceiver) Option {
	return func(e *Equipment) error {
		if plain != nil && plain.secure || secure != nil && !secure.secure {
			return fmt.Errorf("%w: bulk data receivers given in the wrong order", ErrInvalidOption)
		}
		e.bulkHTTP, e.bulkHTTPS = plain, secure
		return nil
	}
}
