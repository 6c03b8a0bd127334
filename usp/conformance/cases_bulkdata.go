package conformance

// Section 10: Bulk Data Collection. The cases are registered so that a run
// lists them, but none is implemented yet: each reports why. An agent
// without Device.BulkData. (TR-181's BulkDataColl:1 profile) is told that
// the case does not apply; for one with it, the reason names what the kit
// still lacks.
func init() {
	const (
		http = "not implemented yet: needs the kit's HTTP bulk data receiver (a server the agent pushes reports to, which records each request's URI parameters and decodes its JSON or CSV body), which the kit does not have"
		tls  = "not implemented yet: needs the kit's HTTPS bulk data receiver, with a certificate the agent trusts, which the kit does not have"
		push = "not implemented yet: the kit receives the profile's Push! events, but the checks of their Data (a JSON or CSV report holding the configured parameters under their TR-181 report names) are not written, and usptest has no Device.BulkData. to test them against"
		mqtt = "not implemented yet: needs a Device.MQTT.Client. entry on the kit's MQTT broker for the profile's MQTT.Reference, and the kit watching the profile's PublishTopic there"
	)
	for _, c := range []struct{ id, title, why string }{
		{"10.1", "Use BulkData collection using HTTP and JSON", http},
		{"10.2", "Use BulkData collection using HTTPS and JSON", tls},
		{"10.3", "Use BulkData collection using HTTP and CSV", http},
		{"10.4", "Use BulkData collection using HTTPS and CSV", tls},
		{"10.5", "Use BulkData collection using HTTP with URI Parameters", http},
		{"10.6", "Use BulkData collection using HTTPS with URI Parameters", tls},
		{"10.7", "BulkData collection retry mechanism over HTTP", http},
		{"10.8", "Use BulkData collection using HTTP with wildcard parameter", http},
		{"10.9", "Use BulkData collection using HTTP with Object Path", http},
		{"10.10", "Use BulkData collection Push event", push},
		{"10.11", "Use BulkData collection Push event with Wildcard path", push},
		{"10.12", "Use BulkData collection Push event with Object path", push},
		{"10.13", "Use BulkData collection over MQTT", mqtt},
	} {
		register(&Case{ID: c.id, Title: c.title, Run: func(t *T) {
			if t.env.Objects != nil {
				if _, ok := t.env.Object("Device.BulkData."); !ok {
					t.Skipf("the agent does not support BulkDataColl:1: its data model has no Device.BulkData.")
				}
			}
			t.Skipf("%s", c.why)
		}})
	}
}
