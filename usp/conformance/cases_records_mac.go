package conformance

// TP-469 3.2-3.5 check the integrity of a record's non-payload fields
// (mac_signature, sender_cert) and the agent's side of a TLS session it
// opens itself. They are registered so that reports list them with what the
// kit lacks; none of them can pass.
func init() {
	const mac = "not implemented: needs the test equipment to compute and check mac_signature over a record's non-payload fields (TR-369 secure message exchange: a MAC keyed from the TLS session, or a signature with sender_cert before the handshake completes); the kit's TLS inside records (3.6, 3.7, 3.13) carries no mac_signature, and no agent at hand sets one (OB-USP-A and usptest leave the field empty), so the kit's computation could not be shown right"
	for _, c := range []struct{ id, title, why string }{
		{"3.2", "Agent Verifies Non-Payload Field Integrity", mac},
		{"3.3", "Agent rejects invalid signature starting a session context", mac},
		{"3.4", "Using TLS for USP Record Integrity", mac},
		{"3.5", "Failure to Establish TLS", "not implemented: needs an agent that opens an E2E session with TLS payload security itself (as TLS client) and the kit answering its handshake with alerts, then timing the agent's retries against its E2ESession SessionRetry parameters; usptest only answers sessions a controller opens, and the kit plays only the TLS client"},
	} {
		register(&Case{ID: c.id, Title: c.title, Features: []Feature{FeatSecureMessage}, Run: func(t *T) { t.Skipf("%s", c.why) }})
	}
}
