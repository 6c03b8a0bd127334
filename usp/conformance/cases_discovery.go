package conformance

// Section 8: Discovery. The plan's discovery cases need the test equipment
// on the agent's own network segment: a DHCP server that the agent asks
// for its address (8.1-8.3), and multicast DNS between the two (8.4-8.7).
// The kit reaches the agent through an MTP only, so it reports each case
// as not applicable, with that reason, rather than guessing.
func init() {
	const dhcp = "not applicable: the kit does not run the agent's DHCP server (TP-469 8.1-8.3 need the test equipment to answer the agent's DHCP requests on its network segment)"
	const mdns = "not applicable: the kit does not take part in multicast DNS on the agent's network segment (TP-469 8.4-8.7 need mDNS queries and advertisements between the agent and the test equipment)"
	for _, c := range []struct{ id, title, why string }{
		{"8.1", "DHCP Discovery - Agent Request Requirements", dhcp},
		{"8.2", "DHCP Discovery - Agent handling of received options", dhcp},
		{"8.3", "DHCP Discovery - FQDN Leads to DNS Query", dhcp},
		{"8.4", "mDNS", mdns},
		{"8.5", "mDNS and Message Transfer Protocols", mdns},
		{"8.6", "DNS - DNS Record Requirements", mdns},
		{"8.7", "mDNS request response", mdns},
	} {
		register(&Case{ID: c.id, Title: c.title, Run: func(t *T) { t.Skipf("%s", c.why) }})
	}
}
